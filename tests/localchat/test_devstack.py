"""``python -m localchat`` (what ``scripts/start.sh`` runs), as a real process.

* local mode: the local Bot API server with the web chat, the real inference service
  and the bot come up, the page address is printed, /start and a photo are answered,
  Ctrl+C (SIGINT) stops every process;
* Telegram mode (``TELEGRAM_BOT_TOKEN`` set): no local server; the bot talks to the
  Bot API it is given (here a local server standing in for api.telegram.org) and
  neither the token nor the service key is ever printed;
* a part that dies stops the rest (status 1); a port in use is a clear error.

The browser side of the web chat is ``tests/localchat/test_webchat_browser.py``.
"""
from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from inference.datasets import valid_photos
from localchat.botapi import LocalApiClient
from localchat.devstack import BOT_NAME, parse_args
from tests.fakes.stack import weights_ready
from tests.paths import ROOT, SHARED

DATASETS = SHARED / "datasets"  # the valid photos the end-to-end tests send

TOKEN = "424242:DEVSTACK-token_that_must_never_be_printed"
SERVICE_KEY = "devstack-service-key-never-printed-5f1c"
READY_TIMEOUT = 240.0
ANSWER_TIMEOUT = 120.0
STOP_TIMEOUT = 60.0

needs_weights = pytest.mark.skipif(not weights_ready(), reason="no trained weights")


class Running:
    """A child process; its output lines are collected as they come."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: list[str] = []
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def start(cls, *args: str, env: dict[str, str]) -> Running:
        process = await asyncio.create_subprocess_exec(
            sys.executable, *args, cwd=ROOT, env=env, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )
        return cls(process)

    async def _read(self) -> None:
        assert self.process.stdout is not None
        while line := await self.process.stdout.readline():
            self.lines.append(line.decode("utf-8", "replace").rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    async def line(self, pattern: str, timeout: float = READY_TIMEOUT) -> re.Match[str]:
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for text in list(self.lines):
                if match := regex.search(text):
                    return match
            if self.process.returncode is not None:
                break
            await asyncio.sleep(0.1)
        raise AssertionError(f"no line matching {pattern!r}:\n{self.output[-4000:]}")

    async def finish(self, timeout: float = STOP_TIMEOUT) -> int:
        try:
            code = await asyncio.wait_for(self.process.wait(), timeout)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
            raise AssertionError(f"did not exit in {timeout} s:\n{self.output[-4000:]}") from None
        await asyncio.wait_for(self._reader, 10)
        return code

    async def interrupt(self, timeout: float = STOP_TIMEOUT) -> int:
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGINT)
        return await self.finish(timeout)

    def child_pids(self) -> list[int]:
        return [int(pid) for pid in re.findall(r"started \w+ \(pid (\d+)\)", self.output)]


def env(**extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("TELEGRAM_", "WEBHOOK_", "INFERENCE_", "BOT_"))}
    return {**base, "YOLO_OFFLINE": "1", "PYTHONUNBUFFERED": "1", **extra}


def assert_gone(pids: list[int]) -> None:
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def crown_photo() -> bytes:
    return [p for p in valid_photos(DATASETS, "scalp_uze") if "Top-Down" in p.name][0].read_bytes()


async def answer(tg: LocalApiClient, chat_id: int, message_id: int, kind: str) -> dict:
    """The bot's first visible ``kind`` message after the person's message ``message_id``."""
    deadline = time.monotonic() + ANSWER_TIMEOUT
    while time.monotonic() < deadline:
        for message in await tg.messages(chat_id, after=message_id):
            if message["kind"] == kind and not message["deleted"]:
                return message
        await asyncio.sleep(0.2)
    raise AssertionError(f"no {kind} answer to message {message_id}")


def test_options():
    args = parse_args([])
    assert (args.port, args.inference_port, args.db, args.local) == (8081, 8090, None, False)
    args = parse_args(["--port", "0", "--inference-port", "0", "--db", "x.sqlite3", "--local"])
    assert (args.port, args.inference_port, args.db, args.local) == (0, 0, Path("x.sqlite3"), True)


@needs_weights
async def test_local_mode_web_chat_bot_and_service_then_ctrl_c():
    dev = await Running.start("-m", "localchat", "--port", "0", "--inference-port", "0",
                              env=env(INFERENCE_API_KEY=SERVICE_KEY))
    try:
        url = (await dev.line(r"WEB_CHAT_URL=(http://127\.0\.0\.1:\d+/chat/)")).group(1)
        assert "웹 채팅 (web chat):  " + url in dev.output
        base = url.removesuffix("/chat/")
        async with aiohttp.ClientSession() as session:
            async with session.get(url) as response:
                assert response.status == 200 and "chat.js" in await response.text()
        async with LocalApiClient(base) as tg:
            (bot,) = await tg.bots()
            assert bot["user"]["first_name"] == BOT_NAME
            user = await tg.create_user("도윤")
            sent = await tg.send_command(user["id"], "start")
            assert (await answer(tg, user["id"], sent["message_id"], "photo"))["caption"].startswith(
                "도윤님")
            assert [c["command"] for c in (await tg.commands())[0]["commands"]][0] == "start"
            photo = await tg.send_photo(user["id"], crown_photo())
            reply = await answer(tg, user["id"], photo["message_id"], "photo")
            assert reply["reply_to_message_id"] == photo["message_id"]
            assert reply["caption"].startswith("두피 점검 결과")
        pids = dev.child_pids()
        assert len(pids) == 2
    finally:
        code = await dev.interrupt()
    assert code == 0, dev.output[-3000:]
    assert_gone(pids)
    assert "bot stopped (status 0)" in dev.output and "inference stopped (status 0)" in dev.output
    assert SERVICE_KEY not in dev.output


@needs_weights
async def test_telegram_mode_uses_the_given_bot_api_and_never_prints_secrets(tmp_path):
    telegram = await Running.start("-m", "localchat.botapi", "--port", "0", "--token", TOKEN,
                                   "--quiet", env=env())
    try:
        api = (await telegram.line(r"Local Bot API server on (http://\S+)", 60)).group(1)
        dev = await Running.start(
            "-m", "localchat", "--inference-port", "0",
            env=env(TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_BASE_URL=f"{api}/bot",
                    TELEGRAM_FILE_BASE_URL=f"{api}/file/bot", INFERENCE_API_KEY=SERVICE_KEY,
                    BOT_DB_PATH=str(tmp_path / "bot.sqlite3")),
        )
        try:
            await dev.line(r"The bot runs against Telegram")
            assert "WEB_CHAT_URL" not in dev.output and "local Bot API" not in dev.output
            async with LocalApiClient(api, token=TOKEN) as tg:
                user = await tg.create_user("서준")
                sent = await tg.send_command(user["id"], "start")
                reply = await answer(tg, user["id"], sent["message_id"], "photo")
                assert reply["caption"].startswith("서준님")
                photo = await tg.send_photo(user["id"], crown_photo())
                reply = await answer(tg, user["id"], photo["message_id"], "photo")
                assert reply["reply_to_message_id"] == photo["message_id"]
            pids = dev.child_pids()
        finally:
            code = await dev.interrupt()
        assert code == 0, dev.output[-3000:]
        assert_gone(pids)
        assert (tmp_path / "bot.sqlite3").is_file()
        assert TOKEN not in dev.output and TOKEN.split(":")[1] not in dev.output
        assert SERVICE_KEY not in dev.output
    finally:
        await telegram.interrupt(10)


async def test_a_part_that_dies_stops_the_others(tmp_path):
    empty = tmp_path / "no-weights"
    empty.mkdir()
    dev = await Running.start("-m", "localchat", "--port", "0", "--inference-port", "0",
                              env=env(WEIGHTS_DIR=str(empty)))
    code = await dev.finish(STOP_TIMEOUT * 2)
    assert code == 1, dev.output[-3000:]
    assert re.search(r"error: inference exited with status [1-9]", dev.output), dev.output[-3000:]
    assert "bot stopped" in dev.output
    assert_gone(dev.child_pids())
    assert "WEB_CHAT_URL" not in dev.output


async def test_a_port_in_use_is_a_clear_error():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        dev = await Running.start("-m", "localchat", "--port", str(port), "--inference-port", "0",
                                  env=env())
        assert await dev.finish(60) == 1
    assert f"port {port} (local Bot API server) is in use" in dev.output
    assert "--port" in dev.output and "started" not in dev.output
