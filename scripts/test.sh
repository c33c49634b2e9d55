#!/usr/bin/env bash
# The whole test suite, from a fresh clone: builds .venv (scripts/setup.sh), runs ruff and
# mypy (pyproject.toml configures both), makes sure headless Chromium is there for the web-chat
# browser test (Debian's package), starts a throwaway PostgreSQL for the storage and rate-limit
# tests, runs every test (the slow ones too), stops PostgreSQL.
# .ci/run calls exactly this. Extra arguments go to pytest (e.g. scripts/test.sh -k storage).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/mypy
if ! command -v chromium >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "installing Debian's chromium for the browser test (about 11 s)"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
    else
        echo "chromium is missing: the browser test will be skipped (it fails under CI=true)" >&2
    fi
fi
# A real PostgreSQL (scripts/postgres.sh installs the server with apt when it is missing).
PG_TEST_DIR=$(mktemp -d)
TEST_POSTGRES_DSN=$(scripts/postgres.sh start "$PG_TEST_DIR")
export TEST_POSTGRES_DSN YOLO_OFFLINE=1
trap 'scripts/postgres.sh stop "$PG_TEST_DIR" >/dev/null 2>&1 || true; rm -rf "$PG_TEST_DIR"' EXIT
.venv/bin/python -m pytest -q -m "" "$@"
