"""Typed keys of the objects the local Bot API application keeps."""

from __future__ import annotations

from aiohttp import web

from .state import Settings, World
from .webhooks import WebhookDispatcher

SETTINGS_KEY: web.AppKey[Settings] = web.AppKey("botapi_settings", Settings)
WORLD_KEY: web.AppKey[World] = web.AppKey("botapi_world", World)
WEBHOOKS_KEY: web.AppKey[WebhookDispatcher] = web.AppKey("botapi_webhooks", WebhookDispatcher)
