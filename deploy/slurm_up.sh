#!/usr/bin/env bash
# A one-node SLURM cluster on this machine: munged, slurmctld and slurmd, every file of theirs
# (key, config, spool, logs, pid files) in one folder, so the cluster leaves the system's own alone.
#
#   eval "$(sudo bash deploy/slurm_up.sh [DIR])"   # DIR defaults to /var/lib/actlab/slurm
#
# Installs what is missing with apt (slurm-wlm, munge), writes DIR/slurm.conf for this machine's
# cores and memory, starts the daemons, waits until `sinfo` shows the node idle, and prints
# `export SLURM_CONF=DIR/slurm.conf` on stdout (everything else goes to stderr). Ports: 6817/6818,
# or ACTLAB_SLURMCTLD_PORT / ACTLAB_SLURMD_PORT. Stop it all with deploy/slurm_down.sh DIR.
set -euo pipefail
DIR=$(realpath -m "${1:-${ACTLAB_SLURM_DIR:-/var/lib/actlab/slurm}}")
CTLD_PORT=${ACTLAB_SLURMCTLD_PORT:-6817}
SLURMD_PORT=${ACTLAB_SLURMD_PORT:-6818}
say() { echo "slurm_up: $*" >&2; }
die() { echo "slurm_up: error: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (it starts slurmctld and slurmd, which run jobs as their users)"
# shellcheck source=deploy/apt_need.sh
source "$(dirname "$0")/apt_need.sh"
apt_need slurmctld:slurm-wlm slurmd:slurm-wlm sinfo:slurm-client munged:munge

mkdir -p "$DIR"/{spool/ctld,spool/d,log,munge}
chmod 755 "$DIR"
# munge: a key of our own in a folder of the munge user's, readable by it alone (munged checks).
M="$DIR/munge"
chown munge:munge "$M"; chmod 700 "$M"
if [ ! -s "$M/munge.key" ]; then
  dd if=/dev/urandom of="$M/munge.key" bs=1 count=1024 status=none
fi
chown munge:munge "$M/munge.key"; chmod 400 "$M/munge.key"
# The socket's folder must be reachable by every user whose jobs authenticate.
mkdir -p "$DIR/run"; chown munge:munge "$DIR/run"; chmod 755 "$DIR/run"
SOCKET="$DIR/run/munge.socket"
if ! munge -n -S "$SOCKET" 2>/dev/null | unmunge -S "$SOCKET" >/dev/null 2>&1; then
  rm -f "$SOCKET" "$SOCKET.lock"
  runuser -u munge -- munged --key-file="$M/munge.key" --socket="$SOCKET" --pid-file="$M/munged.pid" \
    --log-file="$M/munged.log" --seed-file="$M/munged.seed" \
    || die "munged did not start: see $M/munged.log"
fi

HOST=$(hostname -s)
CPUS=$(nproc)
# What slurmd itself detects, less 1 GiB for the system (slurmd refuses a node that claims more).
MEM_MB=$(awk '/MemTotal/ {print int($2 / 1024) - 1024}' /proc/meminfo)
cat > "$DIR/slurm.conf" <<CONF
# Written by deploy/slurm_up.sh: a one-node cluster for this machine ($CPUS CPUs, $MEM_MB MB).
ClusterName=actlab
SlurmctldHost=$HOST
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$SOCKET
StateSaveLocation=$DIR/spool/ctld
SlurmdSpoolDir=$DIR/spool/d
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
# No accounting daemon: sacct has nothing to read (submitit then says so and uses squeue).
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
# A job past its time limit gets SIGTERM, then SIGKILL this many seconds later.
KillWait=10
# Check time limits every 10 s, not every 30 s: a timed-out job is ended close to its limit.
InactiveLimit=0
MinJobAge=300
ReturnToService=2
NodeName=$HOST CPUs=$CPUS RealMemory=$MEM_MB State=UNKNOWN
PartitionName=cpu Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$DIR/slurm.conf"

if ! { [ -s "$DIR/slurmctld.pid" ] && kill -0 "$(cat "$DIR/slurmctld.pid")" 2>/dev/null; }; then
  slurmctld -f "$SLURM_CONF" || die "slurmctld did not start: see $DIR/log/slurmctld.log"
fi
if ! { [ -s "$DIR/slurmd.pid" ] && kill -0 "$(cat "$DIR/slurmd.pid")" 2>/dev/null; }; then
  slurmd -f "$SLURM_CONF" || die "slurmd did not start: see $DIR/log/slurmd.log"
fi
for _ in $(seq 1 60); do
  state=$(sinfo -h -N -o '%T' 2>/dev/null | head -1 || true)
  if [ "$state" = idle ] || [ "$state" = mixed ] || [ "$state" = allocated ]; then
    say "node $HOST is $state ($CPUS CPUs, $MEM_MB MB): partition cpu; logs in $DIR/log"
    echo "export SLURM_CONF=$SLURM_CONF"
    exit 0
  fi
  if [ "$state" = down ] || [ "$state" = drained ]; then
    scontrol update NodeName="$HOST" State=RESUME >/dev/null 2>&1 || true
  fi
  sleep 0.5
done
die "the node did not become idle within 30 s (sinfo says '${state:-nothing}'): see $DIR/log/"
