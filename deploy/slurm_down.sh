#!/usr/bin/env bash
# Stop what deploy/slurm_up.sh DIR started: its jobs (scancel), slurmd, slurmctld and munged, each
# by the pid in its pid file (nothing else on the machine is touched). Usage: deploy/slurm_down.sh [DIR]
set -uo pipefail
DIR=$(realpath -m "${1:-${ACTLAB_SLURM_DIR:-/var/lib/actlab/slurm}}")
[ -f "$DIR/slurm.conf" ] || { echo "slurm_down: nothing to stop in $DIR (no slurm.conf)" >&2; exit 0; }
export SLURM_CONF="$DIR/slurm.conf"

stop_pid_file() {  # stop_pid_file FILE NAME: SIGTERM, up to 20 s, then SIGKILL
  local file=$1 name=$2 pid
  [ -s "$file" ] || return 0
  pid=$(cat "$file")
  if kill -0 "$pid" 2>/dev/null && grep -q "$name" "/proc/$pid/comm" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
  fi
  rm -f "$file"
}

# The cluster's jobs first: slurmd's step daemons would outlive it otherwise.
jobs=$(squeue -h -o %i 2>/dev/null)
if [ -n "$jobs" ]; then
  # shellcheck disable=SC2086
  scancel $jobs 2>/dev/null
  for _ in $(seq 1 40); do [ -z "$(squeue -h -o %i 2>/dev/null)" ] && break; sleep 0.5; done
fi
stop_pid_file "$DIR/slurmd.pid" slurmd
stop_pid_file "$DIR/slurmctld.pid" slurmctld
stop_pid_file "$DIR/munge/munged.pid" munged
echo "slurm_down: stopped the cluster of $DIR" >&2
