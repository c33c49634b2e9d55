"""The webhook server (bot/webhook.py) through real HTTP on loopback: the secret-token check,
updates onto the application's queue, and ``GET /healthz`` for load balancers and probes.

The first tests serve ``create_webhook_app`` for an application that is built but not started
(no network). The last ones run the whole bot in webhook mode against the local Bot API server
(localchat.botapi), on SQLite and on a real PostgreSQL (tests/fakes/postgres.py; skipped without one,
failed under CI=true).
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bot import webhook
from bot.app import build_application
from bot.context import SERVICES_KEY
from bot.settings import Settings
from bot.webhook import HEALTH_PATH, SECRET_TOKEN_HEADER, create_webhook_app
from tests.fakes.postgres import fresh_database, require_postgres
from tests.fakes.stack import bot_settings, local_telegram, running_bot

SECRET = "hook-secret-test-4d1e8a27"
TOKEN = "123456:WEBHOOK-test-token-0000"
HOOK_PATH = "/telegram/webhook"
UNUSED_INFERENCE = "http://127.0.0.1:9"  # never called: no photo is sent in these tests


@pytest.fixture(autouse=True)
def _ptb_timedelta(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[str]:
    """``app`` on a free loopback port for the block; yields its base URL."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    try:
        await web.TCPSite(runner, "127.0.0.1", port).start()
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def message_update(update_id: int) -> dict[str, Any]:
    user = {"id": 4242, "is_bot": False, "first_name": "민준"}
    return {"update_id": update_id, "message": {
        "message_id": 1, "date": 1_700_000_000, "chat": {"id": 4242, "type": "private"},
        "from": user, "text": "/help"}}


# --- the server alone (application built, not started) --------------------------------------------


@pytest.fixture
def application(tmp_path: Path) -> Any:
    settings = Settings(telegram_token=TOKEN, db_path=tmp_path / "bot.sqlite3",
                        webhook_url=f"https://bot.example.com{HOOK_PATH}", webhook_secret=SECRET)
    return build_application(settings)


async def test_only_the_right_secret_token_puts_an_update_on_the_queue(application) -> None:
    async with serving(create_webhook_app(application, HOOK_PATH, SECRET)) as base, \
            aiohttp.ClientSession() as http:
        hook = base + HOOK_PATH
        refused = [
            {},  # no header
            {SECRET_TOKEN_HEADER: ""},
            {SECRET_TOKEN_HEADER: "wrong"},
            {SECRET_TOKEN_HEADER: SECRET[:-1]},
            {SECRET_TOKEN_HEADER: SECRET + "x"},
        ]
        for headers in refused:
            async with http.post(hook, json=message_update(1), headers=headers) as r:
                assert r.status == 403, headers
        assert application.update_queue.empty()

        ok = {SECRET_TOKEN_HEADER: SECRET}
        async with http.post(hook, json=message_update(7), headers=ok) as r:
            assert r.status == 200
        update = application.update_queue.get_nowait()
        assert update.update_id == 7 and update.message.text == "/help"

        async with http.post(hook, data=b"not json", headers=ok) as r:
            assert r.status == 400
        async with http.post(hook, json=message_update(8), headers={SECRET_TOKEN_HEADER: "no"}) as r:
            assert r.status == 403  # the secret is checked before the body is even read
        async with http.get(hook) as r:
            assert r.status == 405
        # bodies that are JSON but not an update: the sender's error (4xx), never a 500
        for body in ([message_update(9)], "text", 42, None, {"message": {}}, {"update_id": "9"},
                     {"update_id": 9, "message": "not an object"}):
            async with http.post(hook, json=body, headers=ok) as r:
                assert r.status == 400, body
        assert application.update_queue.empty()


async def raw_status(base: str, request: bytes) -> int:
    """Send a raw HTTP/1.1 request (headers as bytes, as a client may) and read the status."""
    host, port = base.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(request)
        await writer.drain()
        status_line = await reader.readline()
    finally:
        writer.close()
    return int(status_line.split()[1])


async def test_a_secret_header_that_is_not_ascii_is_refused_not_an_error(application) -> None:
    body = json.dumps(message_update(1)).encode()
    async with serving(create_webhook_app(application, HOOK_PATH, SECRET)) as base:
        for secret in ("비밀".encode(), b"\xff\xfe", SECRET.encode() + "é".encode()):
            request = (f"POST {HOOK_PATH} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                       f"Content-Length: {len(body)}\r\n").encode()
            request += SECRET_TOKEN_HEADER.encode() + b": " + secret + b"\r\n\r\n" + body
            assert await raw_status(base, request) in (400, 403), secret
    assert application.update_queue.empty()


async def test_healthz_says_not_ready_before_the_bot_runs_and_shows_no_secret(application) -> None:
    async with serving(create_webhook_app(application, HOOK_PATH, SECRET)) as base, \
            aiohttp.ClientSession() as http:
        async with http.get(base + HEALTH_PATH) as r:  # no secret header needed
            assert r.status == 503
            assert r.content_type == "application/json"
            body = await r.json()
            raw = await r.text()
    assert body == {"ok": False, "mode": "webhook", "storage": "sqlite",
                    "checks": {"application": False, "worker": False, "database": False}}
    for secret in (SECRET, TOKEN, "bot.sqlite3"):
        assert secret not in raw


# --- the whole bot in webhook mode ----------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgres"])
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    if request.param == "sqlite":
        yield {}
        return
    async with fresh_database(require_postgres()) as dsn:
        yield {"database_url": dsn}


async def test_healthz_of_a_running_bot_and_its_database(
    database: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    async with local_telegram() as telegram:
        settings = bot_settings(
            telegram, UNUSED_INFERENCE, tmp_path / "bot.sqlite3",
            webhook_url=f"http://127.0.0.1:{port}/tg/hook", webhook_listen="127.0.0.1",
            webhook_port=port, webhook_secret=SECRET, **database,
        )
        health = f"http://127.0.0.1:{port}{HEALTH_PATH}"
        async with aiohttp.ClientSession() as http:
            async with running_bot(settings) as app:
                async with http.get(health) as r:
                    assert r.status == 200
                    body = await r.json()
                    raw = await r.text()
                assert body == {
                    "ok": True, "mode": "webhook",
                    "storage": "postgresql" if database else "sqlite",
                    "checks": {"application": True, "worker": True, "database": True},
                }
                for secret in (SECRET, settings.telegram_token, *database.values()):
                    assert secret not in raw

                # The database stops answering: not ready (and back once it answers again).
                storage = app.bot_data[SERVICES_KEY].storage

                async def hangs(user_id: int) -> None:
                    await asyncio.sleep(3600)

                with monkeypatch.context() as patch:
                    patch.setattr(webhook, "HEALTH_DATABASE_TIMEOUT_SECONDS", 0.2)
                    patch.setattr(storage, "get_user", hangs)
                    async with http.get(health) as r:
                        assert r.status == 503
                        body = await r.json()
                assert body["ok"] is False and body["checks"]["database"] is False
                assert body["checks"]["application"] and body["checks"]["worker"]
                async with http.get(health) as r:
                    assert r.status == 200
            # The server is closed before the application stops: nothing answers any more.
            with pytest.raises(aiohttp.ClientConnectionError):
                async with http.get(health):
                    pass
