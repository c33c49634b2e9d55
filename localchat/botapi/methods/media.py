"""Sending media: photos (stored in Telegram's sizes), other files, albums; getFile."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

from .. import errors
from .. import media as images
from ..errors import bad_request
from ..files import StoredFile
from ..params import Params, Upload
from ..protocol import (
    MAX_DOWNLOAD_SIZE,
    MAX_MEDIA_GROUP_SIZE,
    MAX_PHOTO_ASPECT_RATIO,
    MAX_PHOTO_DIMENSIONS_SUM,
    MIN_MEDIA_GROUP_SIZE,
)
from ..state import World
from .base import (
    Call,
    Handler,
    add_bot_message,
    existing_file,
    read_caption,
    read_reply_markup,
    reply_target,
    writable_chat,
)

DEFAULT_STICKER_SIDE = 512
DECLARED_PHOTO_SIZE = (4000, 3000)
"""Dimensions of a photo injected with a declared size and no bytes."""
MEDIA_GROUP_KINDS = frozenset({"photo", "video", "document", "audio"})


async def store_photo(
    world: World,
    data: bytes | None,
    *,
    file_size: int | None = None,
    dimensions: tuple[int, int] | None = None,
) -> list[dict[str, Any]]:
    """Store a photo in all its sizes; return the ``PhotoSize`` list.

    ``data`` may be ``None`` when only a (huge) ``file_size`` is declared.
    """
    if data is None:
        width, height = dimensions or DECLARED_PHOTO_SIZE
        sizes = images.photo_variant_sizes(width, height)
        # Smaller sizes get gray placeholder JPEGs; the declared largest has no bytes.
        blobs: list[bytes | None] = [
            *await asyncio.to_thread(images.placeholder_images, sizes[:-1]),
            None,
        ]
    else:
        found = images.image_size(data)
        if found is None:
            raise bad_request(errors.IMAGE_PROCESS_FAILED)
        width, height = found
        if (
            width + height > MAX_PHOTO_DIMENSIONS_SUM
            or max(width, height) > MAX_PHOTO_ASPECT_RATIO * min(width, height)
        ):
            raise bad_request(errors.PHOTO_INVALID_DIMENSIONS)
        sizes = images.photo_variant_sizes(width, height)
        blobs = list(
            await asyncio.to_thread(
                images.render_variants, data, sizes, world.settings.resize_photos
            )
        )
    variants = [(w, h, blob) for (w, h), blob in zip(sizes, blobs, strict=True)]
    async with world.mutate():
        return world.store_photo(variants, largest_file_size=file_size)


async def _stored_media(call: Call, kind: str, source: Upload | str, meta: Params) -> StoredFile:
    """The file for a media message: a new upload or an existing file_id."""
    if not isinstance(source, Upload):
        return existing_file(call.world, source, kind)
    mime: str | None = source.content_type
    if mime == "application/octet-stream":
        mime = None
    details: dict[str, Any] = {
        "width": meta.integer("width"),
        "height": meta.integer("height"),
        "duration": meta.integer("duration"),
    }
    if kind == "sticker":
        default = (DEFAULT_STICKER_SIDE, DEFAULT_STICKER_SIDE)
        width, height = images.image_size(source.data) or default
        details.update(width=width, height=height, emoji=meta.text("emoji"))
    elif kind == "video_note":
        details["width"] = meta.integer("length")
    async with call.world.mutate():
        return call.world.store_file(
            kind, source.data, file_name=source.filename, mime_type=mime, **details
        )


async def _media_body(call: Call, kind: str, source: Upload | str, meta: Params) -> Any:
    """What a media message carries under its kind: a photo's ``PhotoSize`` list, else the file."""
    if kind == "photo":
        if isinstance(source, Upload):
            return await store_photo(call.world, source.data)
        return existing_file(call.world, source, "photo").photo_sizes
    return (await _stored_media(call, kind, source, meta)).to_json()


def _media_sender(kind: str) -> Handler:
    async def send(call: Call) -> dict[str, Any]:
        params = call.params
        caption, caption_entities = read_caption(params)
        markup = read_reply_markup(params)
        writable_chat(call)
        source = params.file(kind)
        if source is None:
            raise bad_request(errors.NO_FILE_IN_REQUEST.format(field=kind))
        body = await _media_body(call, kind, source, params)
        content = {kind: body, "caption": caption, "caption_entities": caption_entities}
        message = await add_bot_message(call, kind, content, markup)
        return message.payload

    send.__name__ = f"send_{kind}"
    send.__doc__ = f"Send a {kind}: an uploaded file or an existing file_id."
    return send


send_photo = _media_sender("photo")
send_photo.__doc__ = "Send a photo: an uploaded image (stored in several sizes) or a photo file_id."
send_document = _media_sender("document")
send_video = _media_sender("video")
send_voice = _media_sender("voice")
send_audio = _media_sender("audio")
send_sticker = _media_sender("sticker")
send_animation = _media_sender("animation")
send_video_note = _media_sender("video_note")


async def send_media_group(call: Call) -> list[dict[str, Any]]:
    """Send an album; ``media`` items point to uploads with ``attach://name`` or to file_ids."""
    params = call.params
    items = params.decoded("media", errors.BAD_MEDIA)
    count = len(items) if isinstance(items, list) else 0
    if not MIN_MEDIA_GROUP_SIZE <= count <= MAX_MEDIA_GROUP_SIZE:
        raise bad_request(errors.MEDIA_GROUP_SIZE)
    writable_chat(call)
    contents = [await _media_group_item(call, item) for item in items]
    group_id = str(secrets.randbits(62))
    async with call.world.mutate():
        chat = writable_chat(call)
        reply_to = reply_target(params, chat)
        messages = [
            call.world.add_message(
                call.bot,
                chat,
                from_bot=True,
                kind=kind,
                content={**content, "media_group_id": group_id},
                reply_to=reply_to,
            )
            for kind, content in contents
        ]
    return [message.payload for message in messages]


async def _media_group_item(call: Call, item: Any) -> tuple[str, dict[str, Any]]:
    if not isinstance(item, dict) or item.get("type") not in MEDIA_GROUP_KINDS:
        kind = item.get("type") if isinstance(item, dict) else item
        raise bad_request(errors.MEDIA_GROUP_TYPE.format(kind=kind))
    kind = item["type"]
    reference = item.get("media")
    source = call.params.file_reference(reference) if isinstance(reference, str) else None
    if source is None:
        raise bad_request(errors.WRONG_FILE_ID)
    meta = Params(item)
    caption, entities = read_caption(meta)
    body = await _media_body(call, kind, source, meta)
    return kind, {kind: body, "caption": caption, "caption_entities": entities}


async def get_file(call: Call) -> dict[str, Any]:
    """File info with ``file_path``; files over 20 MB cannot be downloaded."""
    file_id = call.params.text("file_id")
    if not file_id:
        raise bad_request(errors.FILE_ID_MISSING)
    stored = call.world.files.get(file_id)
    if stored is None:
        raise bad_request(errors.INVALID_FILE_ID)
    if stored.file_size > MAX_DOWNLOAD_SIZE:
        raise bad_request(errors.FILE_TOO_BIG)
    return stored.get_file_json()
