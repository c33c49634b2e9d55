"""``python -m localchat``: the whole product on this machine, started by one command.

``scripts/start.sh`` runs it after ``scripts/setup.sh``.

Without ``TELEGRAM_BOT_TOKEN`` (local mode), nothing leaves the machine:

* the project's local Bot API server (:mod:`localchat.botapi`) with its web chat, in
  this process, on ``127.0.0.1:--port`` (8081);
* the inference service, ``python -m inference serve``, on ``--inference-port`` (8090);
* the bot, ``python -m bot``, polling the local server, with a fresh SQLite file
  (the local server keeps its chats in memory, so old results would point at
  photos it no longer has; ``--db`` keeps one).

It prints the web chat's address (``http://127.0.0.1:8081/chat/``) once the
service has loaded its models and the bot polls: open it, pick a photo, send it.
The local server answers only loopback names and its own origin, and its control
API takes a random secret made at each start that only the page (from its own
origin) and :class:`~localchat.botapi.LocalApiClient` on this machine can fetch, so
another web page open in the same browser cannot play the user
(:mod:`localchat.botapi.guard`).

With ``TELEGRAM_BOT_TOKEN`` set (Telegram mode) there is no local server: the
service and the bot start, and the bot talks to Telegram (``TELEGRAM_API_BASE_URL``
and every other variable of ``bot/settings.py`` apply as usual).

The service and the bot get a fresh random ``INFERENCE_API_KEY`` (unless one is
set). Their output is relayed line by line with a ``[inference]`` / ``[bot]``
prefix and every secret (the token, the key) replaced by ``[REDACTED]``; the
token is never printed. Ctrl+C (SIGINT) or SIGTERM stops the bot first (it
finishes what it is sending), then the service, then the local server; if one of
them exits on its own, the others are stopped too and the exit status is 1.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import os
import secrets
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bot.settings import RedactingFilter, Settings, SettingsError, bot_environment

from .botapi import RunningServer, serve
from .botapi import Settings as LocalApiSettings

__all__ = ["BOT_NAME", "LOCAL_TOKEN", "DevStack", "main", "parse_args"]

LOOPBACK = "127.0.0.1"
DEFAULT_PORT = 8081
DEFAULT_INFERENCE_PORT = 8090
LOCAL_TOKEN = "7000000001:LOCAL-dev-token-not-a-telegram-secret"
"""The bot's token on the local server (it exists nowhere else)."""
BOT_NAME = "두피·피부 셀프 체크"
BOT_USERNAME = "scalp_selfcheck_local_bot"
SERVICE_READY_TIMEOUT = 600.0
"""Seconds the inference service may take to load its models."""
BOT_READY_TIMEOUT = 120.0
STOP_TIMEOUT = 15.0
"""Seconds a child gets to exit after SIGTERM before it is killed."""
HEALTH_POLL = 0.25
EXIT_CONFIG_ERROR = 2
EXIT_FAILED = 1
PR_SET_PDEATHSIG = 1
OUTPUT_LINE_LIMIT = 1024 * 1024
"""Longest output line of a child relayed in one piece."""


class StartError(RuntimeError):
    """Something could not start; the message says what and what to do."""


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m localchat",
        description="Run the inference service, the bot and (without TELEGRAM_BOT_TOKEN) the "
                    "local Bot API server with its web chat, on this machine.",
    )
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help="local Bot API server and web chat port (0: any free port)")
    parser.add_argument("--inference-port", type=int, default=DEFAULT_INFERENCE_PORT,
                        help="inference service port (0: any free port)")
    parser.add_argument("--db", type=Path, default=None,
                        help="the bot's SQLite file (local mode default: a fresh temporary "
                             "file; Telegram mode: BOT_DB_PATH or data/bot.sqlite3)")
    parser.add_argument("--local", action="store_true",
                        help="use the local server even when TELEGRAM_BOT_TOKEN is set")
    return parser.parse_args(argv)


# --- child processes ------------------------------------------------------------------------------


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: the child gets SIGTERM if this process dies without stopping it (kill -9)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class Child:
    """One child process with its output relayed under a prefix."""

    name: str
    argv: list[str]
    env: dict[str, str]
    redactor: RedactingFilter
    out: Callable[[str], None]
    process: asyncio.subprocess.Process | None = None
    _relay: asyncio.Task[None] | None = None
    stopping: bool = False

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            *self.argv, env=self.env, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            # start_new_session: Ctrl+C reaches only us, and we stop the children in order
            limit=OUTPUT_LINE_LIMIT, start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        )
        self._relay = asyncio.create_task(self._relay_output(), name=f"relay-{self.name}")

    async def _relay_output(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        stream = self.process.stdout
        while True:
            try:
                line = await stream.readline()
            except ValueError:  # a line longer than the buffer: pass it on in pieces
                line = await stream.read(OUTPUT_LINE_LIMIT)
            if not line:
                return
            text = line.decode("utf-8", "replace").rstrip("\n")
            self.out(f"[{self.name}] {self.redactor.redact(text)}")

    @property
    def returncode(self) -> int | None:
        return None if self.process is None else self.process.returncode

    async def wait(self) -> int:
        assert self.process is not None
        code = await self.process.wait()
        if self._relay is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._relay), 5.0)
        return code

    async def stop(self, timeout: float = STOP_TIMEOUT) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout`` seconds."""
        if self.process is None:
            return None
        self.stopping = True
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), timeout)
            except TimeoutError:
                self.out(f"[{self.name}] did not stop in {timeout:.0f} s; killed")
                with contextlib.suppress(ProcessLookupError):
                    self.process.kill()
        return await self.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def check_port_free(port: int, what: str, option: str) -> None:
    with socket.socket() as s:
        try:
            s.bind((LOOPBACK, port))
        except OSError:
            raise StartError(f"port {port} ({what}) is in use: stop what uses it, or pass "
                             f"{option} with another port (0: any free port)") from None


# --- the stack ------------------------------------------------------------------------------------


@dataclass
class DevStack:
    """Everything ``python -m localchat`` runs; :meth:`run` until stopped."""

    args: argparse.Namespace
    environ: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    out: Callable[[str], None] = field(default=lambda line: print(line, flush=True))
    children: list[Child] = field(default_factory=list)
    server: RunningServer | None = None
    web_chat_url: str | None = None

    @property
    def telegram_mode(self) -> bool:
        return bool(self.environ.get("TELEGRAM_BOT_TOKEN", "").strip()) and not self.args.local

    def _python(self, *module_args: str) -> list[str]:
        return [sys.executable, *module_args]

    def _base_env(self) -> dict[str, str]:
        env = dict(self.environ)
        env.setdefault("YOLO_OFFLINE", "1")
        env.setdefault("PYTHONUNBUFFERED", "1")
        return env

    async def run(self, stop: asyncio.Event) -> int:
        """Start everything, wait for ``stop`` or a child's exit, stop everything."""
        failed: str | None = None
        async with contextlib.AsyncExitStack() as stack:
            try:
                failed = await self._start(stack, stop)
                if failed is None and not stop.is_set():
                    failed = await self._watch(stop)
            except StartError as exc:
                self.out(f"error: {exc}")
                failed = "start"
            finally:
                if self.children:
                    self.out("stopping …")
                    await self._stop_children()
        return EXIT_FAILED if failed else 0

    async def _start(self, stack: contextlib.AsyncExitStack, stop: asyncio.Event) -> str | None:
        """Start the parts; the name of a part that died while starting, else None."""
        key = self.environ.get("INFERENCE_API_KEY") or secrets.token_urlsafe(24)
        inference_port = self.args.inference_port or free_port()
        check_port_free(inference_port, "inference service", "--inference-port")
        if not self.telegram_mode:
            local_port = self.args.port
            if local_port:
                check_port_free(local_port, "local Bot API server", "--port")
            self.server = await self._start_local_server(stack, local_port)
        settings = self._bot_settings(f"http://{LOOPBACK}:{inference_port}", key, stack)
        redactor = RedactingFilter(settings.secrets())
        service_env = {k: v for k, v in self._base_env().items() if not k.startswith("TELEGRAM_")}
        # what bot_environment() sets for these settings (it starts from os.environ)
        bot_values = {k: v for k, v in bot_environment(settings).items() if os.environ.get(k) != v}
        bot_env = {**self._base_env(), **bot_values, "INFERENCE_API_KEY": key}
        if not self.telegram_mode:
            bot_env.pop("WEBHOOK_URL", None)  # the local server is polled
        self.children.append(Child(
            "inference",
            self._python("-m", "inference", "serve", "--host", LOOPBACK,
                         "--port", str(inference_port)),
            {**service_env, "INFERENCE_API_KEY": key}, redactor, self.out,
        ))
        self.children.append(Child("bot", self._python("-m", "bot"), bot_env, redactor, self.out))
        target = "Telegram" if self.server is None else self.server.url
        self.out(f"starting: inference service on http://{LOOPBACK}:{inference_port}, the bot "
                 f"against {target}")
        for child in self.children:
            await child.start()
            assert child.process is not None
            self.out(f"started {child.name} (pid {child.process.pid})")
        started = time.monotonic()
        failed = await self._until(
            stop, lambda: self._service_ready(settings.inference_url), SERVICE_READY_TIMEOUT,
            "the inference service to load its models")
        if failed or stop.is_set():
            return failed
        self.out(f"inference service ready ({time.monotonic() - started:.1f} s)")
        if not self.telegram_mode:
            failed = await self._until(stop, self._bot_polling, BOT_READY_TIMEOUT,
                                       "the bot to connect to the local server")
            if failed or stop.is_set():
                return failed
        self._print_ready(settings)
        return None

    async def _start_local_server(self, stack: contextlib.AsyncExitStack,
                                  port: int) -> RunningServer:
        try:
            server = await stack.enter_async_context(
                serve(LocalApiSettings(tokens=(LOCAL_TOKEN,)), LOOPBACK, port))
        except OSError as exc:
            raise StartError(f"the local Bot API server cannot listen on port {port}: {exc}; "
                             "pass --port with another port (0: any free port)") from None
        account = server.world.bots[LOCAL_TOKEN]
        account.user.first_name = BOT_NAME  # what BotFather would have set
        account.user.username = BOT_USERNAME
        self.web_chat_url = server.chat_url
        return server

    def _bot_settings(self, inference_url: str, key: str,
                      stack: contextlib.ExitStack | contextlib.AsyncExitStack) -> Settings:
        try:
            if self.telegram_mode:
                settings = Settings.from_env(self.environ)
                db = self.args.db or settings.db_path
            else:
                assert self.server is not None
                settings = Settings.from_env(
                    {k: v for k, v in self.environ.items() if not k.startswith("TELEGRAM_")},
                    telegram_token=LOCAL_TOKEN, api_base_url=self.server.base_url,
                    file_base_url=self.server.base_file_url, webhook_url=None,
                )
                db = self.args.db
                if db is None:
                    folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="bot-dev-"))
                    db = Path(folder) / "bot.sqlite3"
        except SettingsError as exc:
            raise StartError(f"configuration: {exc}") from None
        return settings.replace(inference_url=inference_url, inference_api_key=key,
                                db_path=Path(db))

    async def _service_ready(self, url: str) -> bool:
        try:
            async with aiohttp.ClientSession() as session, session.get(
                url + "/healthz", timeout=aiohttp.ClientTimeout(total=5)
            ) as response:
                return response.status == 200
        except (TimeoutError, aiohttp.ClientError):
            return False

    async def _bot_polling(self) -> bool:
        """The bot has a long poll open (or finished one) on the local server."""
        assert self.server is not None
        world = self.server.world
        return (world.bots[LOCAL_TOKEN].active_poll is not None
                or any(call["method"] == "getUpdates" for call in world.calls))

    async def _until(self, stop: asyncio.Event, ready: Callable[[], Any], timeout: float,
                     what: str) -> str | None:
        """Poll ``ready()`` until true; the name of a child that exited meanwhile, else None."""
        deadline = time.monotonic() + timeout
        while not stop.is_set():
            for child in self.children:
                if child.returncode is not None:
                    self.out(f"error: {child.name} exited with status {child.returncode} "
                             f"while waiting for {what}")
                    return child.name
            if await ready():
                return None
            if time.monotonic() > deadline:
                raise StartError(f"timed out after {timeout:.0f} s waiting for {what}")
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), HEALTH_POLL)
        return None

    def _print_ready(self, settings: Settings) -> None:
        lines = ["", "=" * 64]
        if self.telegram_mode:
            lines += ["  The bot runs against Telegram: open your bot in the Telegram app,",
                      "  send a photo of your scalp or /start.",
                      f"  inference service: {settings.inference_url}",
                      f"  bot database:      {settings.db_path}"]
        else:
            assert self.server is not None
            lines += [f"  웹 채팅 (web chat):  {self.web_chat_url}",
                      "  Open it in a browser, pick a photo (📎) and send it.",
                      f"  local Bot API:      {self.server.url}",
                      f"  inference service:  {settings.inference_url}"]
        lines += ["  Ctrl+C stops everything.", "=" * 64, ""]
        for line in lines:
            self.out(line)
        if self.web_chat_url:
            self.out(f"WEB_CHAT_URL={self.web_chat_url}")

    async def _watch(self, stop: asyncio.Event) -> str | None:
        """Until ``stop`` or a child exits: the name of the child that exited, else None."""
        waits = {asyncio.create_task(child.wait()): child for child in self.children}
        stopper = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait([stopper, *waits], return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        for task in waits:
            if task not in done:
                task.cancel()
        for task in done:
            if task in waits:
                child = waits[task]
                self.out(f"error: {child.name} exited with status {child.returncode}")
                return child.name
        return None

    async def _stop_children(self) -> None:
        # the bot first (it may be sending a result), then the service it calls
        for child in reversed(self.children):
            code = await child.stop()
            if code is not None:
                self.out(f"{child.name} stopped (status {code})")


async def _run(args: argparse.Namespace) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    stack = DevStack(args)
    code = await stack.run(stop)
    stack.out("stopped" if code == 0 else f"stopped (status {code})")
    return code


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return asyncio.run(_run(args))
    except KeyboardInterrupt:  # a second Ctrl+C while stopping
        return 130
