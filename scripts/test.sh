#!/usr/bin/env bash
# Set up (scripts/bootstrap.sh) and run the fast test suite plus lint. Extra args go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
.venv/bin/ruff check .
.venv/bin/python -m pytest "$@"
