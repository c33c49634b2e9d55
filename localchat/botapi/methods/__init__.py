"""The Bot API methods: one coroutine per method, all listed in :data:`METHODS`.

Each handler takes a :class:`Call` and returns the ``result`` value of the
response (or a :class:`Reply` to add a ``description``), or raises
:class:`~localchat.botapi.errors.ApiError`. Results have the JSON shapes the real
server returns, so python-telegram-bot's ``de_json`` accepts them.

The handlers are grouped by what they do: :mod:`.updates` (getMe, getUpdates,
webhooks), :mod:`.messages` (text, chat actions, edits, deletes, getChat),
:mod:`.media` (photos, files, albums, getFile) and :mod:`.callbacks` (button
answers, the command menu); :mod:`.base` holds what they share.
"""

from __future__ import annotations

from . import callbacks, media, messages, updates
from .base import Call, Handler, Reply
from .media import store_photo

__all__ = ["METHODS", "METHOD_NAMES", "Call", "Handler", "Reply", "store_photo"]

METHODS: dict[str, Handler] = {
    "getMe": updates.get_me,
    "logOut": updates.log_out,
    "close": updates.close,
    "getUpdates": updates.get_updates,
    "setWebhook": updates.set_webhook,
    "deleteWebhook": updates.delete_webhook,
    "getWebhookInfo": updates.get_webhook_info,
    "setMyCommands": callbacks.set_my_commands,
    "getMyCommands": callbacks.get_my_commands,
    "deleteMyCommands": callbacks.delete_my_commands,
    "sendMessage": messages.send_message,
    "sendPhoto": media.send_photo,
    "sendDocument": media.send_document,
    "sendVideo": media.send_video,
    "sendVoice": media.send_voice,
    "sendAudio": media.send_audio,
    "sendSticker": media.send_sticker,
    "sendAnimation": media.send_animation,
    "sendVideoNote": media.send_video_note,
    "sendMediaGroup": media.send_media_group,
    "sendChatAction": messages.send_chat_action,
    "editMessageText": messages.edit_message_text,
    "editMessageCaption": messages.edit_message_caption,
    "editMessageReplyMarkup": messages.edit_message_reply_markup,
    "deleteMessage": messages.delete_message,
    "deleteMessages": messages.delete_messages,
    "answerCallbackQuery": callbacks.answer_callback_query,
    "getFile": media.get_file,
    "getChat": messages.get_chat,
}
"""Bot API method name -> handler. Lookup is case-insensitive (see METHOD_NAMES)."""

METHOD_NAMES: dict[str, str] = {name.lower(): name for name in METHODS}
"""Lower-case method name -> canonical name."""
