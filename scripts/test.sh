#!/usr/bin/env bash
# The whole test suite. .ci/run calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export YOLO_OFFLINE=1
exec .venv/bin/python -m pytest -q "$@"
