"""Async helper for driving the control API from tests (aiohttp client).

::

    async with serve(Settings(tokens=(TOKEN,))) as server, LocalApiClient(server.url) as tg:
        user = await tg.create_user("민준", username="minjun")
        await tg.send_command(user["id"], "start")
        replies = await tg.wait_for_messages(user["id"], count=1)

Every method returns the decoded JSON fields of the answer; failures raise
:class:`ControlError` (``status`` and the server's ``error`` text), a wait that
runs out raises :class:`WaitTimeout` carrying what had arrived so far.

Every control call sends the server's control secret (``X-Control-Secret``): the one
passed as ``control_secret``, else the server's random one, fetched once from
``GET /_control/secret`` (which a server started with an explicit secret refuses).
"""

from __future__ import annotations

import base64
from typing import Any

import aiohttp

from .protocol import CONTROL_SECRET_HEADER, DEFAULT_WAIT_TIMEOUT

HTTP_OK = 200
HTTP_REQUEST_TIMEOUT = 408
CLIENT_TIMEOUT_MARGIN = 5.0
"""Extra seconds the HTTP client waits beyond a server-side wait."""


class ControlError(Exception):
    """The control API answered ``ok: false``."""

    def __init__(self, status: int, error: str, body: dict[str, Any]) -> None:
        super().__init__(f"{status}: {error}")
        self.status = status
        self.error = error
        self.body = body


class WaitTimeout(ControlError, TimeoutError):
    """A ``count`` wait ran out; ``items`` holds what had arrived."""

    @property
    def items(self) -> Any:
        """The items present when the wait ended."""
        return self.body.get("items")


class LocalApiClient:
    """Control API client for one local Bot API server (and optionally one bot)."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        control_secret: str | None = None,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self._headers = {CONTROL_SECRET_HEADER: control_secret} if control_secret else {}
        self._asked_for_secret = bool(control_secret)
        self._session = session
        self._own_session = session is None

    async def __aenter__(self) -> LocalApiClient:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the HTTP session if this client created it."""
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        """The aiohttp session (created by ``async with``)."""
        if self._session is None:
            raise RuntimeError("use 'async with LocalApiClient(...)' first")
        return self._session

    # --- transport -----------------------------------------------------------------
    def _url(self, path: str) -> str:
        return f"{self.base_url}/_control/{path}"

    async def _ensure_secret(self) -> None:
        """Fetch the server's random control secret once (when none was given)."""
        if self._asked_for_secret:
            return
        timeout = aiohttp.ClientTimeout(total=CLIENT_TIMEOUT_MARGIN + DEFAULT_WAIT_TIMEOUT)
        async with self.session.get(self._url("secret"), timeout=timeout) as response:
            try:
                body = await response.json(content_type=None)
            except ValueError:
                body = {}
        self._asked_for_secret = True
        secret = body.get("secret") if response.status == HTTP_OK and isinstance(body, dict) else None
        if isinstance(secret, str) and secret:
            self._headers = {CONTROL_SECRET_HEADER: secret}

    async def control_secret(self) -> str | None:
        """The control secret this client sends (fetched from the server if need be)."""
        await self._ensure_secret()
        return self._headers.get(CONTROL_SECRET_HEADER)

    def _with_token(self, fields: dict[str, Any]) -> dict[str, Any]:
        body = {key: value for key, value in fields.items() if value is not None}
        if self.token is not None:
            body.setdefault("token", self.token)
        return body

    async def _request(
        self, method: str, path: str, *, wait: float = 0.0, **kwargs: Any
    ) -> dict[str, Any]:
        await self._ensure_secret()
        timeout = aiohttp.ClientTimeout(total=wait + CLIENT_TIMEOUT_MARGIN + DEFAULT_WAIT_TIMEOUT)
        async with self.session.request(
            method, self._url(path), headers=self._headers, timeout=timeout, **kwargs
        ) as response:
            try:
                body = await response.json(content_type=None)
            except ValueError:
                body = {"ok": False, "error": await response.text()}
        if not body.get("ok"):
            error_type = WaitTimeout if response.status == HTTP_REQUEST_TIMEOUT else ControlError
            raise error_type(response.status, body.get("error", ""), body)
        return body

    async def post(self, path: str, **fields: Any) -> dict[str, Any]:
        """POST a JSON body to ``/_control/{path}``."""
        return await self._request("POST", path, json=self._with_token(fields))

    async def upload(
        self, path: str, data: bytes, filename: str, content_type: str, /, **fields: Any
    ) -> dict[str, Any]:
        """POST ``fields`` and the bytes (part ``file``) as multipart."""
        form = aiohttp.FormData()
        for key, value in self._with_token(fields).items():
            form.add_field(key, _form_value(value))
        form.add_field("file", data, filename=filename, content_type=content_type)
        return await self._request("POST", path, data=form)

    async def get(self, path: str, **query: Any) -> dict[str, Any]:
        """GET ``/_control/{path}``; ``count``/``timeout`` make the server wait."""
        params = {key: _form_value(value) for key, value in self._with_token(query).items()}
        wait = float(query.get("timeout") or DEFAULT_WAIT_TIMEOUT) if "count" in params else 0.0
        return await self._request("GET", path, params=params, wait=wait)

    # --- world ---------------------------------------------------------------------------
    async def bots(self) -> list[dict[str, Any]]:
        """Configured bots with webhook and pending update count."""
        return (await self.get("bots"))["bots"]

    async def reset(self) -> None:
        """Forget users, chats, files, updates, webhooks, faults and calls."""
        await self.post("reset")

    async def create_user(
        self,
        first_name: str = "테스트",
        *,
        user_id: int | None = None,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "ko",
    ) -> dict[str, Any]:
        """Create a user; returns the User object (its id is also the chat id)."""
        body = await self.post(
            "users",
            first_name=first_name,
            user_id=user_id,
            last_name=last_name,
            username=username,
            language_code=language_code,
        )
        return body["user"]

    async def block(self, user_id: int, blocked: bool = True) -> None:
        """The user blocks (or unblocks) the bot: sends then fail with 403."""
        await self.post(f"users/{user_id}/block", blocked=blocked)

    # --- injecting updates --------------------------------------------------------------
    async def send_text(self, user_id: int, text: str, **fields: Any) -> dict[str, Any]:
        """The user sends ``text``; returns ``update_id``, ``update``, ``message``..."""
        return await self.post("updates/text", user_id=user_id, text=text, **fields)

    async def send_command(
        self, user_id: int, command: str, args: str = "", *, mention: bool = False
    ) -> dict[str, Any]:
        """The user sends ``/command args`` (with a bot_command entity)."""
        return await self.post(
            "updates/command", user_id=user_id, command=command, args=args, mention=mention
        )

    async def send_photo(
        self,
        user_id: int,
        data: bytes | None,
        *,
        caption: str | None = None,
        file_name: str = "photo.jpg",
        mime_type: str = "image/jpeg",
        oversize: bool = False,
        file_size: int | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """The user sends a photo; ``oversize`` declares it bigger than 20 MB."""
        fields.update(user_id=user_id, caption=caption, oversize=oversize, file_size=file_size)
        if data is None:
            return await self.post("updates/photo", **fields)
        return await self.upload("updates/photo", data, file_name, mime_type, **fields)

    async def send_file(
        self,
        kind: str,
        user_id: int,
        data: bytes | None = None,
        *,
        file_name: str | None = None,
        mime_type: str | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """The user sends a document / video / voice / audio / sticker / animation."""
        fields.update(user_id=user_id, file_name=file_name, mime_type=mime_type)
        if data is None:
            return await self.post(f"updates/{kind}", **fields)
        return await self.upload(
            f"updates/{kind}",
            data,
            file_name or f"{kind}.bin",
            mime_type or "application/octet-stream",
            **fields,
        )

    async def send_document(
        self, user_id: int, data: bytes | None, file_name: str, mime_type: str, **fields: Any
    ) -> dict[str, Any]:
        """The user sends a document."""
        return await self.send_file(
            "document", user_id, data, file_name=file_name, mime_type=mime_type, **fields
        )

    async def send_sticker(
        self, user_id: int, emoji: str = "😀", **fields: Any
    ) -> dict[str, Any]:
        """The user sends a sticker."""
        return await self.send_file("sticker", user_id, emoji=emoji, **fields)

    async def send_video(
        self, user_id: int, data: bytes | None = None, **fields: Any
    ) -> dict[str, Any]:
        """The user sends a video."""
        return await self.send_file("video", user_id, data, **fields)

    async def send_voice(
        self, user_id: int, data: bytes | None = None, **fields: Any
    ) -> dict[str, Any]:
        """The user sends a voice message."""
        return await self.send_file("voice", user_id, data, **fields)

    async def edit_message(self, user_id: int, message_id: int, text: str) -> dict[str, Any]:
        """The user edits their message: an ``edited_message`` update."""
        return await self.post("updates/edit", user_id=user_id, message_id=message_id, text=text)

    async def press_button(self, user_id: int, message_id: int, data: str) -> dict[str, Any]:
        """The user presses the inline button with ``callback_data == data``.

        Returns ``callback_query_id``, ``update_id`` and ``update``.
        """
        return await self.post(
            "updates/callback", user_id=user_id, message_id=message_id, data=data
        )

    async def duplicate_update(
        self, update_id: int, *, keep_update_id: bool = False
    ) -> dict[str, Any]:
        """Deliver an earlier update once more."""
        return await self.post(
            "updates/duplicate", update_id=update_id, keep_update_id=keep_update_id
        )

    # --- reading -----------------------------------------------------------------------
    async def pending_updates(self) -> list[dict[str, Any]]:
        """Updates the bot has not confirmed yet."""
        return (await self.get("updates"))["updates"]

    async def messages(
        self, chat_id: int, *, after: int = 0, sender: str = "bot"
    ) -> list[dict[str, Any]]:
        """Messages in the chat (the bot's by default), oldest first."""
        return (await self.get(f"chats/{chat_id}/messages", after=after, sender=sender))["messages"]

    async def wait_for_messages(
        self,
        chat_id: int,
        count: int,
        *,
        after: int = 0,
        timeout: float = DEFAULT_WAIT_TIMEOUT,
        sender: str = "bot",
    ) -> list[dict[str, Any]]:
        """Wait until the bot has sent ``count`` messages (with id > ``after``)."""
        body = await self.get(
            f"chats/{chat_id}/messages", after=after, sender=sender, count=count, timeout=timeout
        )
        return body["messages"]

    async def actions(
        self, chat_id: int, *, count: int | None = None, timeout: float = DEFAULT_WAIT_TIMEOUT
    ) -> list[dict[str, Any]]:
        """Chat actions sent to the chat (waits for ``count`` if given)."""
        return (await self.get(f"chats/{chat_id}/actions", count=count, timeout=timeout))["actions"]

    async def commands(self) -> list[dict[str, Any]]:
        """setMyCommands lists: ``[{"scope", "language_code", "commands"}]``."""
        return (await self.get("commands"))["commands"]

    async def callback_answers(
        self, *, count: int | None = None, timeout: float = DEFAULT_WAIT_TIMEOUT
    ) -> list[dict[str, Any]]:
        """answerCallbackQuery calls (waits for ``count`` if given)."""
        return (await self.get("callback_answers", count=count, timeout=timeout))["answers"]

    async def calls(
        self,
        method: str | None = None,
        *,
        count: int | None = None,
        timeout: float = DEFAULT_WAIT_TIMEOUT,
    ) -> list[dict[str, Any]]:
        """The Bot API call log, optionally for one method."""
        return (await self.get("calls", method=method, count=count, timeout=timeout))["calls"]

    async def download(self, file_id_or_url: str) -> bytes:
        """Bytes of a stored file by file_id (or a ``file_url`` from :meth:`messages`)."""
        url = file_id_or_url if "://" in file_id_or_url else self._url(f"files/{file_id_or_url}")
        await self._ensure_secret()
        async with self.session.get(url, headers=self._headers) as response:
            if response.status != 200:
                body = await response.json()
                raise ControlError(response.status, body.get("error", ""), body)
            return await response.read()

    # --- faults ---------------------------------------------------------------------------
    async def inject_fault(
        self,
        method: str,
        status: int | None,
        *,
        count: int = 1,
        retry_after: int | None = None,
        description: str | None = None,
        migrate_to_chat_id: int | None = None,
        delay: float | None = None,
    ) -> dict[str, Any]:
        """The next ``count`` calls of ``method`` (``*`` = any) answer HTTP ``status``.

        ``status=None`` with ``delay`` only slows the calls down.
        """
        body = await self.post(
            "faults",
            method=method,
            status=status,
            count=count,
            retry_after=retry_after,
            description=description,
            migrate_to_chat_id=migrate_to_chat_id,
            delay=delay,
        )
        return body["fault"]

    async def faults(self) -> list[dict[str, Any]]:
        """Faults not used up yet."""
        return (await self.get("faults"))["faults"]

    async def clear_faults(self) -> None:
        """Remove every injected fault."""
        await self._request("DELETE", "faults")


def _form_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return str(value)
