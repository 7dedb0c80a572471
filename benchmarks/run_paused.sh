#!/usr/bin/env bash
# Run a command with the background jobs listed in /tmp/metabench-repro.pids paused (SIGSTOP),
# and resume them (SIGCONT) when it ends, however it ends. Benchmarks that need both cores:
#   benchmarks/run_paused.sh .venv/bin/python -m pytest benchmarks/test_vector_env.py -s
set -u
PIDS_FILE=${METABENCH_PIDS_FILE:-/tmp/metabench-repro.pids}
pids() { [ -f "$PIDS_FILE" ] && grep -E '^[0-9]+$' "$PIDS_FILE" || true; }
paused=""
resume() { for p in $paused $(pids); do kill -CONT "$p" 2>/dev/null; done; }
trap resume EXIT
trap 'exit 130' INT TERM
for p in $(pids); do kill -STOP "$p" 2>/dev/null && paused="$paused $p"; done
"$@"
