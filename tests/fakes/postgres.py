"""A real PostgreSQL server for the tests, and a fresh database per test.

* ``TEST_POSTGRES_DSN`` set (CI: ``.ci/run`` starts one with ``scripts/postgres.sh``): that
  server is used; its user must be allowed to create databases.
* unset: the first test that needs it starts a throwaway server with
  ``scripts/postgres.sh start`` in a temporary folder, once per test process, stopped and
  removed when the process exits (the script installs PostgreSQL with apt-get only under
  CI=true, never on a developer's machine).
* no server at all: the PostgreSQL tests are skipped, except under ``CI=true``, where they
  fail (CI must never pass by skipping them).
"""
from __future__ import annotations

import atexit
import contextlib
import functools
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = PROJECT_ROOT / "scripts" / "postgres.sh"
START_TIMEOUT_S = 300  # may include apt-get install postgresql on a fresh machine


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


@functools.lru_cache(maxsize=1)
def _server() -> tuple[str | None, str]:
    """(DSN, "") of the server to use, or (None, why not). Starts one at most once."""
    dsn = os.environ.get("TEST_POSTGRES_DSN", "").strip()
    if dsn:
        return dsn, ""
    folder = tempfile.mkdtemp(prefix="scalp-bot-pg-")
    env = {**os.environ, "PG_TEST_INSTALL": "1" if _in_ci() else "0"}
    try:
        proc = subprocess.run(
            ["bash", str(SCRIPT), "start", folder], capture_output=True, text=True,
            timeout=START_TIMEOUT_S, check=False, env=env,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        shutil.rmtree(folder, ignore_errors=True)
        return None, f"scripts/postgres.sh could not run: {exc}"
    if proc.returncode != 0 or not proc.stdout.strip():
        shutil.rmtree(folder, ignore_errors=True)
        return None, f"scripts/postgres.sh start failed: {proc.stderr.strip()[-500:]}"

    def stop() -> None:
        subprocess.run(["bash", str(SCRIPT), "stop", folder], capture_output=True,
                       timeout=120, check=False)
        shutil.rmtree(folder, ignore_errors=True)

    atexit.register(stop)
    return proc.stdout.strip().splitlines()[-1], ""


def require_postgres() -> str:
    """The server's DSN; skips the test without one (fails it under CI=true)."""
    dsn, why = _server()
    if dsn is None:
        message = f"no PostgreSQL server for the tests: {why}"
        if _in_ci():
            pytest.fail(message + " (CI=true: the PostgreSQL tests must run)", pytrace=False)
        pytest.skip(message)
    return dsn


def with_database(dsn: str, database: str) -> str:
    """The DSN with its database name replaced."""
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path=f"/{database}"))


@contextlib.asynccontextmanager
async def fresh_database(server_dsn: str) -> AsyncIterator[str]:
    """A new, empty database on the server for the block; dropped afterwards (its DSN)."""
    import asyncpg

    name = f"scalp_test_{uuid.uuid4().hex[:16]}"
    admin = await asyncpg.connect(server_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield with_database(server_dsn, name)
    finally:
        admin = await asyncpg.connect(server_dsn)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()
