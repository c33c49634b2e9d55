#!/usr/bin/env bash
# Creates .venv with everything the project needs, from the package registries only.
# torch is pinned to the release that lies on this machine's disk (see README).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q torch==2.14.1 torchvision==0.29.1
.venv/bin/python -m pip install -q -e ".[test]"
# ultralytics pulls in opencv-python (GUI build) beside the headless one; keep only headless.
if .venv/bin/python -m pip show -q opencv-python >/dev/null 2>&1; then
    .venv/bin/python -m pip uninstall -q -y opencv-python
    .venv/bin/python -m pip install -q --force-reinstall --no-deps opencv-python-headless
fi
echo "environment ready: .venv"
