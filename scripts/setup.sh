#!/usr/bin/env bash
# Creates .venv with everything the project needs, from the package registries only.
# torch is pinned to the release that lies on this machine's disk (see README).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
# The environment takes about 6.5 GB (torch 2.14.1 is a CUDA build); pip's cache would add
# its downloads on top, so it is off, and a full disk is named before pip fails on it.
export PIP_NO_CACHE_DIR=1
free_kb=$(df -Pk . | awk 'NR == 2 {print $4}')
if [ ! -x .venv/bin/python ] && [ "${free_kb:-0}" -lt $((8 * 1024 * 1024)) ]; then
    echo "warning: $(( free_kb / 1024 )) MB free here; building .venv needs about 6.5 GB" >&2
fi
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
