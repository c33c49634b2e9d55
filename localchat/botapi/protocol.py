"""What the local server copies of the real Bot API, and its own defaults.

The real server's limits and vocabulary (update types, chat actions, file kinds
with their folders, ``file_id`` prefixes and MIME types), the two JSON
conventions every object follows (dates in unix seconds, absent fields
omitted) and the local server's choices (default token, first ids, the default
user, the control API's secret header and default wait).
"""

from __future__ import annotations

import time
from typing import Any

# --- Limits of the real Bot API -------------------------------------------------
MAX_MESSAGE_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_DOWNLOAD_SIZE = 20 * 1024 * 1024
"""getFile refuses files larger than this ("file is too big")."""
MAX_UPLOAD_SIZE = 50 * 1024 * 1024
"""Largest multipart upload accepted (413 above)."""
MAX_PHOTO_DIMENSIONS_SUM = 10_000
MAX_PHOTO_ASPECT_RATIO = 20
MAX_UPDATES_LIMIT = 100
MAX_LONG_POLL_TIMEOUT = 50
MAX_COMMANDS = 100
MAX_COMMAND_LENGTH = 32
MAX_COMMAND_DESCRIPTION_LENGTH = 256
MAX_SECRET_TOKEN_LENGTH = 256
MAX_CALLBACK_DATA_BYTES = 64
MIN_MEDIA_GROUP_SIZE = 2
MAX_MEDIA_GROUP_SIZE = 10

# --- Local server choices ------------------------------------------------------
DEFAULT_VIDEO_SIZE = (1280, 720)
"""Width and height reported for videos/animations sent without dimensions."""
DEFAULT_VIDEO_NOTE_LENGTH = 240
DEFAULT_TOKEN = "123456:LOCAL-test-token-for-the-local-bot-api"
MAX_CALL_LOG = 2000
USER_ID_RANGE = (100_000_000, 9_999_999_999)
"""New users get a random id in this range (9 or 10 digits, like Telegram's), not the next
number: ids are not guessable from one another."""
FIRST_UPDATE_ID = 1
FIRST_MESSAGE_ID = 1
FIRST_CALLBACK_QUERY_ID = 4_200_000_000_000_000_001
DEFAULT_USER_FIRST_NAME = "테스트"
DEFAULT_LANGUAGE_CODE = "ko"
CONTROL_SECRET_HEADER = "X-Control-Secret"
"""Header carrying the control secret (``Settings.control_secret``) on ``/_control/`` calls."""
DEFAULT_WAIT_TIMEOUT = 5.0
"""Seconds a control API read with ``count`` waits when it names no ``timeout``."""

# --- Vocabulary of the real Bot API --------------------------------------------
ALL_UPDATE_TYPES = (
    "message",
    "edited_message",
    "channel_post",
    "edited_channel_post",
    "business_connection",
    "business_message",
    "edited_business_message",
    "deleted_business_messages",
    "message_reaction",
    "message_reaction_count",
    "inline_query",
    "chosen_inline_result",
    "callback_query",
    "shipping_query",
    "pre_checkout_query",
    "purchased_paid_media",
    "poll",
    "poll_answer",
    "my_chat_member",
    "chat_member",
    "chat_join_request",
    "chat_boost",
    "removed_chat_boost",
)
DEFAULT_ALLOWED_UPDATES = frozenset(ALL_UPDATE_TYPES) - {
    "chat_member",
    "message_reaction",
    "message_reaction_count",
}
CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
FILE_FOLDERS = {
    "photo": "photos",
    "document": "documents",
    "video": "videos",
    "voice": "voice",
    "audio": "music",
    "sticker": "stickers",
    "animation": "animations",
    "video_note": "video_notes",
}
FILE_ID_PREFIXES = {
    "photo": "AgACAgIAAxk",
    "document": "BQACAgIAAxk",
    "video": "BAACAgIAAxk",
    "voice": "AwACAgIAAxk",
    "audio": "CQACAgIAAxk",
    "sticker": "CAACAgIAAxk",
    "animation": "CgACAgIAAxk",
    "video_note": "DQACAgIAAxk",
}
DEFAULT_MIME_TYPES = {
    "photo": "image/jpeg",
    "document": "application/octet-stream",
    "video": "video/mp4",
    "voice": "audio/ogg",
    "audio": "audio/mpeg",
    "sticker": "image/webp",
    "animation": "video/mp4",
    "video_note": "video/mp4",
}


def now() -> int:
    """Current time as Telegram dates it: unix seconds."""
    return int(time.time())


def compact(mapping: dict[str, Any]) -> dict[str, Any]:
    """``mapping`` without the ``None`` values (Telegram omits absent fields)."""
    return {key: value for key, value in mapping.items() if value is not None}
