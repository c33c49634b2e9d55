"""Fakes at the bot's edges: a recording Telegram ``Bot`` and an inference client that answers
from a script (the job worker's tests; the end-to-end tests use the real parts instead)."""
from __future__ import annotations

import base64
import itertools
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from bot.inference_client import AnalysisResult, InferenceClient

ANNOTATED = b"\xff\xd8\xff\xdbannotated"  # what the scripted service "drew"


@dataclass
class FakeBot:
    """Records what the worker sends; ``files`` maps file_id -> bytes."""

    files: dict[str, bytes] = field(default_factory=dict)
    sent: list[tuple[str, int, dict[str, Any]]] = field(default_factory=list)
    ids: Any = field(default_factory=lambda: itertools.count(100))

    async def get_file(self, file_id: str) -> Any:
        data = self.files[file_id]

        async def download_as_bytearray() -> bytearray:
            return bytearray(data)

        return SimpleNamespace(download_as_bytearray=download_as_bytearray)

    async def send_chat_action(self, chat_id: int, action: str) -> bool:
        return True

    def _message(self, kind: str, chat_id: int, **fields: Any) -> Any:
        message_id = next(self.ids)
        self.sent.append((kind, chat_id, {"message_id": message_id, **fields}))
        photo = [SimpleNamespace(file_id=f"sent-photo-{message_id}")] if kind == "photo" else []
        return SimpleNamespace(message_id=message_id, photo=photo)

    async def send_message(self, chat_id: int, text: str, **kw: Any) -> Any:
        return self._message("text", chat_id, text=text, **kw)

    async def send_photo(self, chat_id: int, photo: bytes, **kw: Any) -> Any:
        return self._message("photo", chat_id, photo=photo, **kw)

    async def edit_message_text(self, text: str, chat_id: int, message_id: int, **kw: Any) -> Any:
        self.sent.append(("edit", chat_id, {"message_id": message_id, "text": text}))
        return True

    async def delete_message(self, chat_id: int, message_id: int) -> bool:
        self.sent.append(("delete", chat_id, {"message_id": message_id}))
        return True

    def kinds(self, chat_id: int) -> list[str]:
        return [kind for kind, chat, _ in self.sent if chat == chat_id]


def graded(domain: str = "scalp", grade: str = "MIDDLE", could_be: tuple[str, ...] = ()) -> AnalysisResult:
    return AnalysisResult.from_json({
        "could_be": list(could_be),
        "domain": domain, "grade": grade, "confidence": 0.77,
        "quality": {"ok": True, "reasons": [], "metrics": {}},
        "regions": [], "measurements": {"exposed_scalp_ratio": 0.31, "regions": 1},
        "model_version": "scalp:test", "timings_ms": {"total": 12.0},
        "annotated_jpeg": base64.b64encode(ANNOTATED).decode(),
    })


class ScriptedInference(InferenceClient):
    """Answers from a script: each item an AnalysisResult, an exception, or an awaitable gate."""

    def __init__(self, *script: Any) -> None:
        super().__init__("http://unused")
        self.script = list(script)
        self.calls: list[tuple[bytes, str]] = []

    async def analyze(self, image: bytes, domain: str = "auto", **kw: Any) -> AnalysisResult:
        self.calls.append((image, domain))
        item = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        while callable(item):
            item = await item()
        if isinstance(item, Exception):
            raise item
        return item
