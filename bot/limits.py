"""Every Bot API limit (and every limit the bot sets itself) as a named constant.

Telegram's own numbers come from :mod:`telegram.constants` where PTB has them,
so that they follow the library; the others are documented in the Bot API
reference and quoted here with their source. Nothing else in ``bot/`` writes a
bare Bot API number.
"""
from __future__ import annotations

from telegram.constants import (
    BotCommandLimit,
    CallbackQueryLimit,
    FileSizeLimit,
    FloodLimit,
    InlineKeyboardButtonLimit,
    MessageLimit,
)

# --- sizes the Bot API accepts --------------------------------------------------------------

#: getFile refuses files over 20 MB ("File is too big"): check ``file_size`` before it.
MAX_DOWNLOAD_BYTES: int = FileSizeLimit.FILESIZE_DOWNLOAD
#: sendPhoto by upload: at most 10 MB (the service keeps its JPEG under it).
MAX_PHOTO_UPLOAD_BYTES: int = FileSizeLimit.PHOTOSIZE_UPLOAD
#: Caption of a photo, in UTF-16 code units after entity parsing.
CAPTION_LIMIT: int = MessageLimit.CAPTION_LENGTH
#: Text of a message, in UTF-16 code units after entity parsing.
MESSAGE_LIMIT: int = MessageLimit.MAX_TEXT_LENGTH
#: callback_data of an inline button, in bytes.
MAX_CALLBACK_DATA_BYTES: int = InlineKeyboardButtonLimit.MAX_CALLBACK_DATA
#: answerCallbackQuery text, in characters.
MAX_CALLBACK_ANSWER_LENGTH: int = CallbackQueryLimit.ANSWER_CALLBACK_QUERY_TEXT_LENGTH
#: setMyCommands: at most this many commands.
MAX_COMMANDS: int = BotCommandLimit.MAX_COMMAND_NUMBER
#: setMyCommands: description length.
MAX_COMMAND_DESCRIPTION_LENGTH: int = BotCommandLimit.MAX_DESCRIPTION
#: getUpdates long-poll timeout used by the bot, seconds (Telegram allows more; PTB's default is 10).
POLL_TIMEOUT_SECONDS: int = 10

# --- flood limits ------------------------------------------------------------------------------

#: Messages per second over all chats (Bot FAQ: "about 30 messages per second").
OVERALL_MAX_RATE: int = FloodLimit.MESSAGES_PER_SECOND
OVERALL_TIME_PERIOD_SECONDS: float = 1.0
#: Messages per second into one chat (Bot FAQ: "avoid sending more than one message per
#: second in a particular chat").
CHAT_MAX_RATE: int = FloodLimit.MESSAGES_PER_SECOND_PER_CHAT
CHAT_TIME_PERIOD_SECONDS: float = 1.0
#: Messages that may go into one chat back to back before the 1/s pacing starts (the FAQ
#: allows "short bursts"; the number is the bot's own choice, e.g. a reply plus a chart).
CHAT_BURST: int = 3
#: Messages per minute into one group (unused by a private-chat bot, kept for completeness).
GROUP_MAX_RATE: int = FloodLimit.MESSAGES_PER_MINUTE_PER_GROUP
GROUP_TIME_PERIOD_SECONDS: float = 60.0
#: How often a request that got 429 (RetryAfter) is retried by the rate limiter.
FLOOD_MAX_RETRIES: int = 5

# --- chat actions ------------------------------------------------------------------------------

#: A chat action shows for 5 seconds or until the next message (sendChatAction docs);
#: it is refreshed a little earlier while the analysis runs.
CHAT_ACTION_SECONDS: float = 5.0
CHAT_ACTION_REFRESH_SECONDS: float = 4.0

# --- the photos the bot accepts -------------------------------------------------------------------

#: Image documents taken as photos (checked again by magic bytes after download).
IMAGE_MIME_TYPES: tuple[str, ...] = ("image/jpeg", "image/png", "image/webp")

# --- the bot's own limits ------------------------------------------------------------------------

#: The answer to a photo (its caption, the only text sent with it) in characters: about one
#: phone screen under the picture (issue 18: at most 900 characters of text in all). The
#: long tips come only when asked for.
ANSWER_TEXT_LIMIT: int = 900

#: Results per /history page (one re-open button each, plus the paging row).
HISTORY_PAGE_SIZE: int = 5
#: A trend chart needs at least this many results in a domain.
TREND_MIN_RESULTS: int = 2
#: Points drawn in a trend chart (the newest ones).
TREND_MAX_POINTS: int = 24
#: Updates processed at once (over all users; one user's updates run one at a time).
MAX_CONCURRENT_UPDATES: int = 256
#: HTTP connections from the bot to the Bot API (PTB's default for the Application).
BOT_API_CONNECTION_POOL: int = 256

#: /remind's buttons: 2, 4 and 8 weeks (a typed number of days or weeks is taken up to the most).
REMIND_CHOICES_DAYS: tuple[int, ...] = (14, 28, 56)
REMIND_MAX_DAYS: int = 180
