#!/usr/bin/env bash
# Re-resolves uv.lock from pyproject.toml (after a dependency changed there) and re-installs
# .venv from it. `scripts/lock.sh --upgrade` moves every package to its newest allowed version.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/uv ] || scripts/setup.sh
.venv/bin/uv lock "$@"
scripts/setup.sh
