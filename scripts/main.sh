#!/usr/bin/env bash
# Set up (scripts/bootstrap.sh) and run the main job: random rollouts on every family's
# held-out tasks, a table of returns and a plot in demo-output/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
.venv/bin/metabench demo --out demo-output
