"""A local Telegram Bot API server for end-to-end tests of the bot and the web chat.

It speaks the Bot API wire format as python-telegram-bot 22 uses it, keeps an
in-memory world (users, chats, messages, files, updates) and offers a control
API (``/_control/...``) to play the user's side and inspect what the bot did.

* :func:`create_app` / :func:`serve` (``server``): the aiohttp app;
* :class:`Settings`, :class:`World` (``state``): configuration, state; the records
  it holds are in ``bots``, ``chats``, ``files`` and ``faults``, the real API's limits
  and vocabulary in ``protocol``;
* ``methods/``: the Bot API methods; ``control/``: the control API;
* ``guard``: who may call: loopback ``Host`` names and the server's own ``Origin``
  only, the control secret (random unless given) and JSON bodies on ``/_control/``;
* :class:`LocalApiClient` (``client``): the control API client;
* ``python -m localchat.botapi --port 8081 --token TOKEN``: run it standalone.
"""

from .client import ControlError, LocalApiClient, WaitTimeout
from .server import RunningServer, create_app, serve
from .state import Settings, World

__all__ = [
    "ControlError",
    "LocalApiClient",
    "RunningServer",
    "Settings",
    "WaitTimeout",
    "World",
    "create_app",
    "serve",
]
