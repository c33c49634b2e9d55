"""Stored files: photos in each of their sizes, documents, videos, voice notes, stickers."""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass, field
from typing import Any

from .protocol import DEFAULT_MIME_TYPES, DEFAULT_VIDEO_NOTE_LENGTH, DEFAULT_VIDEO_SIZE, compact


@dataclass
class StoredFile:
    """A file the server knows, with its bytes unless only a size was declared."""

    file_id: str
    file_unique_id: str
    kind: str
    file_path: str
    data: bytes | None
    file_size: int
    mime_type: str | None = None
    file_name: str | None = None
    width: int | None = None
    height: int | None = None
    duration: int | None = None
    emoji: str | None = None
    photo_sizes: list[dict[str, Any]] = field(default_factory=list)
    """For photos: the whole PhotoSize list this size belongs to."""

    def to_json(self) -> dict[str, Any]:
        """The Bot API object for this file (PhotoSize, Document, Video, ...)."""
        base = {"file_id": self.file_id, "file_unique_id": self.file_unique_id}
        size = {"file_size": self.file_size}
        if self.kind == "photo":
            return {**base, **size, "width": self.width, "height": self.height}
        if self.kind == "sticker":
            return compact(
                {
                    **base,
                    "type": "regular",
                    "width": self.width,
                    "height": self.height,
                    "is_animated": False,
                    "is_video": self.mime_type == "video/webm",
                    "emoji": self.emoji,
                    **size,
                }
            )
        extra: dict[str, Any] = {"file_name": self.file_name, "mime_type": self.mime_type}
        if self.kind in ("video", "animation"):
            extra.update(
                width=self.width or DEFAULT_VIDEO_SIZE[0],
                height=self.height or DEFAULT_VIDEO_SIZE[1],
                duration=self.duration or 0,
            )
        elif self.kind in ("voice", "audio"):
            extra.update(duration=self.duration or 0)
            if self.kind == "voice":
                extra.pop("file_name")
        elif self.kind == "video_note":
            length = self.width or DEFAULT_VIDEO_NOTE_LENGTH
            extra = {"length": length, "duration": self.duration or 0}
        return compact({**base, **extra, **size})

    def get_file_json(self) -> dict[str, Any]:
        """The ``File`` object returned by getFile."""
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": self.file_size,
            "file_path": self.file_path,
        }


def guess_mime(kind: str, file_name: str | None) -> str:
    """The MIME type of a file of ``kind`` named ``file_name`` (by its extension)."""
    guessed = mimetypes.guess_type(file_name)[0] if file_name else None
    return guessed or DEFAULT_MIME_TYPES.get(kind, "application/octet-stream")
