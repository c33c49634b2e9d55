"""Bot API errors, with the description texts the real Telegram server uses.

Every failure of a Bot API call is raised as :class:`ApiError` and turned into
``{"ok": false, "error_code": ..., "description": ...}`` by the dispatcher.
The texts are kept as named constants so tests can compare against them.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

UNAUTHORIZED = "Unauthorized"
NOT_FOUND = "Not Found"
REQUEST_ENTITY_TOO_LARGE = "Request Entity Too Large"
INTERNAL_SERVER_ERROR = "Internal Server Error"
BAD_GATEWAY = "Bad Gateway"

# 400
BAD_REQUEST = "Bad Request"
CHAT_ID_EMPTY = "Bad Request: chat_id is empty"
CHAT_NOT_FOUND = "Bad Request: chat not found"
TEXT_EMPTY = "Bad Request: message text is empty"
MESSAGE_TOO_LONG = "Bad Request: message is too long"
CAPTION_TOO_LONG = "Bad Request: message caption is too long"
UNSUPPORTED_PARSE_MODE = "Bad Request: unsupported parse_mode"
CANT_PARSE_ENTITIES = "Bad Request: can't parse entities: {detail}"
BAD_ENTITIES_JSON = "Bad Request: can't parse entities JSON object"
BAD_REPLY_MARKUP = "Bad Request: can't parse reply keyboard markup JSON object"
BAD_INLINE_BUTTON = "Bad Request: can't parse inline keyboard button: {detail}"
BUTTON_DATA_INVALID = "Bad Request: BUTTON_DATA_INVALID"
REPLY_NOT_FOUND = "Bad Request: message to be replied not found"
MESSAGE_ID_MISSING = "Bad Request: message identifier is not specified"
MESSAGE_TO_EDIT_NOT_FOUND = "Bad Request: message to edit not found"
MESSAGE_CANT_BE_EDITED = "Bad Request: message can't be edited"
NO_TEXT_TO_EDIT = "Bad Request: there is no text in the message to edit"
NO_CAPTION_TO_EDIT = "Bad Request: there is no caption in the message to edit"
MESSAGE_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply "
    "markup are exactly the same as a current content and reply markup of the message"
)
MESSAGE_TO_DELETE_NOT_FOUND = "Bad Request: message to delete not found"
NO_FILE_IN_REQUEST = "Bad Request: there is no {field} in the request"
WRONG_FILE_ID = "Bad Request: wrong file identifier/HTTP URL specified"
WRONG_FILE_KIND = "Bad Request: can't use file of type {actual} as {expected}"
FILE_ID_MISSING = "Bad Request: file_id not specified"
INVALID_FILE_ID = "Bad Request: invalid file_id"
FILE_TOO_BIG = "Bad Request: file is too big"
IMAGE_PROCESS_FAILED = "Bad Request: IMAGE_PROCESS_FAILED"
PHOTO_INVALID_DIMENSIONS = "Bad Request: PHOTO_INVALID_DIMENSIONS"
WRONG_CHAT_ACTION = "Bad Request: wrong parameter action in request"
QUERY_ID_INVALID = (
    "Bad Request: query is too old and response timeout expired or query ID is invalid"
)
BOT_COMMAND_INVALID = "Bad Request: BOT_COMMAND_INVALID"
BOT_COMMAND_DESCRIPTION_INVALID = "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID"
BOT_COMMANDS_TOO_MUCH = "Bad Request: BOT_COMMANDS_TOO_MUCH"
MEDIA_GROUP_SIZE = "Bad Request: media group must include 2-10 items"
MEDIA_GROUP_TYPE = "Bad Request: unsupported media type {kind} in the media group"
BAD_WEBHOOK_URL = (
    "Bad Request: bad webhook: only http(s) URLs on 127.0.0.1 or localhost are "
    "accepted by the local Bot API server"
)
SECRET_TOKEN_INVALID = "Bad Request: secret token contains unallowed characters"
SECRET_TOKEN_TOO_LONG = "Bad Request: secret token is too long"
MIGRATED = "Bad Request: group chat was upgraded to a supergroup chat"
INLINE_MESSAGES_UNSUPPORTED = "Bad Request: inline messages are not supported by the local server"
BAD_REPLY_PARAMETERS = "Bad Request: can't parse reply parameters JSON object"
BAD_ALLOWED_UPDATES = "Bad Request: can't parse allowed_updates JSON array"
BAD_COMMAND_SCOPE = "Bad Request: can't parse BotCommandScope JSON object"
BAD_COMMANDS = "Bad Request: can't parse commands JSON object"
BAD_COMMAND = "Bad Request: can't parse BotCommand JSON object"
BAD_MEDIA = "Bad Request: can't parse media JSON object"
BAD_MESSAGE_IDS = "Bad Request: can't parse message_ids JSON array"
BAD_JSON_BODY = "Bad Request: can't parse JSON request body"
JSON_BODY_NOT_OBJECT = "Bad Request: JSON request body must be an object"

# 403
BOT_BLOCKED = "Forbidden: bot was blocked by the user"

# 409
CONFLICT_OTHER_GET_UPDATES = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)
CONFLICT_WEBHOOK_ACTIVE = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)
CONFLICT_SET_WEBHOOK = "Conflict: terminated by setWebhook request"

# 429
TOO_MANY_REQUESTS = "Too Many Requests: retry after {retry_after}"

DEFAULT_DESCRIPTIONS: dict[int, str] = {
    HTTPStatus.BAD_REQUEST: BAD_REQUEST,
    HTTPStatus.UNAUTHORIZED: UNAUTHORIZED,
    HTTPStatus.FORBIDDEN: BOT_BLOCKED,
    HTTPStatus.NOT_FOUND: NOT_FOUND,
    HTTPStatus.CONFLICT: CONFLICT_OTHER_GET_UPDATES,
    HTTPStatus.REQUEST_ENTITY_TOO_LARGE: REQUEST_ENTITY_TOO_LARGE,
    HTTPStatus.TOO_MANY_REQUESTS: TOO_MANY_REQUESTS,
    HTTPStatus.INTERNAL_SERVER_ERROR: INTERNAL_SERVER_ERROR,
    HTTPStatus.BAD_GATEWAY: BAD_GATEWAY,
}
"""Description used by fault injection when the caller gives none."""


class ApiError(Exception):
    """A failed Bot API call: HTTP status, description and optional ``parameters``."""

    def __init__(
        self, status: int, description: str, parameters: dict[str, Any] | None = None
    ) -> None:
        super().__init__(description)
        self.status = int(status)
        self.description = description
        self.parameters = parameters

    def to_json(self) -> dict[str, Any]:
        """The error body exactly as Telegram sends it."""
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.status,
            "description": self.description,
        }
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def bad_request(description: str) -> ApiError:
    """A 400 error with ``description``."""
    return ApiError(HTTPStatus.BAD_REQUEST, description)


def retry_after(seconds: int) -> ApiError:
    """The flood-control error: 429 with ``parameters.retry_after``."""
    return ApiError(
        HTTPStatus.TOO_MANY_REQUESTS,
        TOO_MANY_REQUESTS.format(retry_after=seconds),
        {"retry_after": seconds},
    )


def default_description(status: int, retry_after_seconds: int | None = None) -> str:
    """The usual description for ``status`` (used when a fault gives none)."""
    text = DEFAULT_DESCRIPTIONS.get(status)
    if text is None:
        try:
            text = HTTPStatus(status).phrase
        except ValueError:
            text = BAD_REQUEST
    return text.format(retry_after=retry_after_seconds or 0)
