#!/usr/bin/env bash
# Creates .venv with everything the project needs (all extras: bot, service, gpu, train, dev),
# at the exact versions and hashes of uv.lock, from the package registries only.
# Refresh the lock after changing pyproject.toml's dependencies: scripts/lock.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
UV_VERSION=0.13.9  # only exports the lock to pip's hashed requirements format
# The environment takes about 6.5 GB (torch 2.14.1 is a CUDA build); pip's cache would add
# its downloads on top, so it is off, and a full disk is named before pip fails on it.
export PIP_NO_CACHE_DIR=1
free_kb=$(df -Pk . | awk 'NR == 2 {print $4}')
if [ ! -x .venv/bin/python ] && [ "${free_kb:-0}" -lt $((8 * 1024 * 1024)) ]; then
    echo "warning: $(( free_kb / 1024 )) MB free here; building .venv needs about 6.5 GB" >&2
fi
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q "uv==$UV_VERSION"
.venv/bin/uv export -q --frozen --all-extras --no-emit-project --format requirements-txt -o .venv/requirements.lock.txt
# --no-deps: the lock lists every package already (and leaves out opencv-python, which
# Ultralytics asks for: opencv-python-headless gives the same cv2, see [tool.uv] in pyproject.toml)
.venv/bin/python -m pip install -q --require-hashes --no-deps -r .venv/requirements.lock.txt
# the project itself, editable, its dependencies being the locked ones above
.venv/bin/python -m pip install -q --no-deps -e .
echo "environment ready: .venv"
