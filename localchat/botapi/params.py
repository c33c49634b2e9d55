"""Request parameters the way the Bot API accepts them, and JSON answers.

A method's parameters may come in the query string, an
``application/x-www-form-urlencoded`` body, a ``multipart/form-data`` body
(uploaded files are parts with a file name) or a JSON body. In forms every
value is a string and nested values (``reply_markup``, ``entities``,
``commands``, ``allowed_updates``...) are JSON-encoded strings, which is how
python-telegram-bot sends them; :class:`Params` converts on access.
"""

from __future__ import annotations

import base64
import functools
import json
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from aiohttp import BodyPartReader, web

from . import errors
from .errors import ApiError, bad_request
from .protocol import MAX_UPLOAD_SIZE

_dumps = functools.partial(json.dumps, ensure_ascii=False)
UPLOAD_CHUNK_SIZE = 256 * 1024
ATTACH_PREFIX = "attach://"
TRUE_STRINGS = frozenset({"true", "1", "yes", "on"})


@dataclass(frozen=True)
class Upload:
    """A file uploaded as a multipart part."""

    field: str
    filename: str
    content_type: str
    data: bytes

    def describe(self) -> dict[str, Any]:
        """JSON-safe summary for logs."""
        return {"file_name": self.filename, "mime_type": self.content_type, "size": len(self.data)}


class Params:
    """Typed access to the parameters of one request."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values

    def __contains__(self, name: str) -> bool:
        return self.values.get(name) not in (None, "")

    def raw(self, name: str) -> Any:
        """The value as received (``str``, JSON value or :class:`Upload`)."""
        return self.values.get(name)

    def text(self, name: str, default: str | None = None) -> str | None:
        """A string parameter."""
        value = self.values.get(name)
        if value is None or isinstance(value, Upload):
            return default
        return value if isinstance(value, str) else json.dumps(value)

    def integer(self, name: str, default: int | None = None) -> int | None:
        """An integer parameter (``default`` when absent or not a number)."""
        value = self.values.get(name)
        if value is None or value == "" or isinstance(value, Upload | bool):
            return default
        try:
            return int(float(value)) if isinstance(value, str) and "." in value else int(value)
        except (TypeError, ValueError):
            return default

    def number(self, name: str, default: float = 0.0) -> float:
        """A number parameter."""
        value = self.values.get(name)
        try:
            return float(value) if value not in (None, "") else default
        except (TypeError, ValueError):
            return default

    def flag(self, name: str) -> bool:
        """A boolean parameter (``true``/``false`` in forms)."""
        value = self.values.get(name)
        if isinstance(value, str):
            return value.strip().lower() in TRUE_STRINGS
        return bool(value)

    def decoded(self, name: str, error: str) -> Any:
        """A nested JSON parameter, decoded when sent as a string; 400 ``error`` if bad."""
        value = self.values.get(name)
        if not isinstance(value, str):
            return value
        if value == "":
            return None
        try:
            return json.loads(value)
        except ValueError:
            raise bad_request(error) from None

    def file(self, name: str) -> Upload | str | None:
        """A file parameter: an :class:`Upload` (also via ``attach://``) or a file_id/URL."""
        value = self.values.get(name)
        if isinstance(value, str):
            return self.file_reference(value)
        return value if isinstance(value, Upload) else None

    def file_reference(self, reference: str) -> Upload | str | None:
        """Resolve ``attach://name`` to its upload; other strings are file_ids."""
        if not reference.startswith(ATTACH_PREFIX):
            return reference or None
        value = self.values.get(reference.removeprefix(ATTACH_PREFIX))
        return value if isinstance(value, Upload) else None

    def loggable(self) -> dict[str, Any]:
        """JSON-safe copy for the call log."""
        return {
            key: value.describe() if isinstance(value, Upload) else value
            for key, value in self.values.items()
        }


async def read_params(request: web.Request) -> Params:
    """All parameters of ``request``: query string merged with the body."""
    values: dict[str, Any] = dict(request.query)
    if request.method == "POST" and request.body_exists:
        content_type = request.content_type
        if content_type == "application/json":
            values.update(await _read_json(request))
        elif content_type == "multipart/form-data":
            values.update(await _read_multipart(request))
        else:
            values.update(await request.post())
    return Params(values)


async def _read_json(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise bad_request(errors.BAD_JSON_BODY) from None
    if not isinstance(body, dict):
        raise bad_request(errors.JSON_BODY_NOT_OBJECT)
    if isinstance(body.get("file_base64"), str):
        body["file"] = Upload(
            "file",
            body.get("file_name") or "file",
            body.get("mime_type") or "application/octet-stream",
            base64.b64decode(body.pop("file_base64")),
        )
    return body


async def _read_multipart(request: web.Request) -> dict[str, Any]:
    values: dict[str, Any] = {}
    total = 0
    reader = await request.multipart()
    async for part in reader:
        if not isinstance(part, BodyPartReader) or part.name is None:
            continue
        if part.filename is None:
            values[part.name] = await part.text()
            continue
        chunks = []
        while chunk := await part.read_chunk(UPLOAD_CHUNK_SIZE):
            total += len(chunk)
            if total > MAX_UPLOAD_SIZE:
                raise ApiError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, errors.REQUEST_ENTITY_TOO_LARGE)
            chunks.append(chunk)
        content_type = part.headers.get("Content-Type", "application/octet-stream")
        values[part.name] = Upload(part.name, part.filename, content_type, b"".join(chunks))
    return values


def json_response(body: Any, status: int = HTTPStatus.OK) -> web.Response:
    """UTF-8 JSON without ``\\u`` escapes, as Telegram sends it."""
    return web.json_response(body, status=status, dumps=_dumps)
