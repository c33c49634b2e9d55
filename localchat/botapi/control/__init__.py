"""The control API (``/_control/...``): what tests use to play the user's side.

Inject updates (text, commands, photos, documents, stickers, videos, voice
messages, edits, button presses, duplicate deliveries), read what the bot did
(messages, chat actions, commands, callback answers, the raw call log), inject
faults, and wait for any of these without sleeping: every list endpoint takes
``count`` (and ``timeout``, default ``protocol.DEFAULT_WAIT_TIMEOUT``) and then
waits until at least ``count`` items exist, answering 408 if they do not.

Bodies are JSON, or multipart when uploading bytes (part ``file``, on the
``updates/{photo,document,...}`` endpoints only); JSON bodies may carry bytes as
``file_base64``. Every body may name the bot with ``token`` (default: the first
configured token). Every call sends the control secret in ``X-Control-Secret``
(``GET /_control/secret`` hands out a random one to same-origin callers; file
downloads need none); :mod:`..guard` refuses other callers, other origins and
other body types. Answers are ``{"ok": true, ...}`` or ``{"ok": false, "error": "..."}``.

The handlers are grouped by role: :mod:`.admin` (bots, reset, users, faults),
:mod:`.inject` (the user's side), :mod:`.read` (what the bot did) and
:mod:`.feed` (one chat as a chat window shows it); :mod:`.base` holds what
they share. ``server.setup_routes`` maps them to paths.
"""

from __future__ import annotations

from . import admin, feed, inject, read
from .base import ControlError

__all__ = ["ControlError", "admin", "feed", "inject", "read"]
