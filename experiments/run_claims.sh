#!/usr/bin/env bash
# Runs every claim experiment with the given profile (quick or full), then the report.
#   bash experiments/run_claims.sh full     # the committed results/REPORT.md (and the README's table of it)
#   bash experiments/run_claims.sh quick    # minutes, results/quick/REPORT.md
# Extra arguments go to every sweep, e.g. tracking.uri=... or hydra.launcher.n_jobs=4.
set -euo pipefail
cd "$(dirname "$0")/.."
profile=${1:-full}
PYTHON=${PYTHON:-python}
shift || true
start=$SECONDS
# The sweeps the report lists (one per claim, each with its number of workers), with $PYTHON.
mapfile -t sweeps < <("$PYTHON" -m report --profile "$profile" --commands)
for sweep in "${sweeps[@]}"; do
  read -ra words <<< "$sweep"
  echo "== ${words[4]#experiment=} ($profile)"
  sweep_start=$SECONDS
  "$PYTHON" "${words[@]:1}" "$@"
  echo "== ${words[4]#experiment=} took $((SECONDS - sweep_start)) s"  # where the profile's time goes (results/BENCHMARK.md)
done
uri_arg=()
for arg in "$@"; do
  case $arg in tracking.uri=*) uri_arg=(--uri "${arg#tracking.uri=}") ;; esac
done
"$PYTHON" -m report --profile "$profile" --wall-time-s "$((SECONDS - start))" "${uri_arg[@]}"
# The README's claims table is results/REPORT.md's summary (tests/test_docs.py keeps them equal).
if [ "$profile" = full ]; then "$PYTHON" -m actlab.reporting.readme; fi
