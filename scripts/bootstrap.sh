#!/usr/bin/env bash
# Create .venv (Python 3.11) and install metabench with the pins this image needs
# (constraints.txt: the on-disk CPU torch, the measured mujoco, pandas<3 for rliable).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3.11 -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check \
    -c constraints.txt -e ".[dev,plots,stats,ray]" 2>&1 | grep -v "is ignored: it is neither a file" || true
.venv/bin/python -c "import metabench" # fail here, clearly, if the install did not work
