"""Webhook delivery: POST each queued update to the bot's webhook URL.

One task per bot with a webhook. Updates are delivered one at a time, in
order, as JSON, with the ``X-Telegram-Bot-Api-Secret-Token`` header when a
secret token was set. A 2xx answer confirms the update; anything else is
recorded in getWebhookInfo's ``last_error_*`` fields and retried after
``Settings.webhook_retry_delay`` seconds.
"""

from __future__ import annotations

import asyncio
import json

import aiohttp

from .bots import BotAccount, Webhook
from .protocol import now
from .state import World

SECRET_TOKEN_HEADER = "X-Telegram-Bot-Api-Secret-Token"
LOCAL_WEBHOOK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
WEBHOOK_SCHEMES = frozenset({"http", "https"})
IDLE_RECHECK_SECONDS = 3600.0


class WebhookDispatcher:
    """Starts and stops the delivery task of each bot's webhook."""

    def __init__(self, world: World, session: aiohttp.ClientSession) -> None:
        self.world = world
        self.session = session
        self.tasks: dict[str, asyncio.Task[None]] = {}

    def start(self, bot: BotAccount) -> None:
        """(Re)start delivery for ``bot.webhook``."""
        self.stop(bot)
        if bot.webhook is not None:
            self.tasks[bot.token] = asyncio.create_task(
                self._deliver(bot, bot.webhook), name=f"webhook:{bot.user.id}"
            )

    def stop(self, bot: BotAccount) -> None:
        """Stop delivering ``bot``'s updates."""
        task = self.tasks.pop(bot.token, None)
        if task is not None:
            task.cancel()

    async def close(self) -> None:
        """Stop every delivery task and wait for them."""
        tasks = list(self.tasks.values())
        self.tasks.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _deliver(self, bot: BotAccount, hook: Webhook) -> None:
        world = self.world
        while True:
            ready = await world.wait_until(
                lambda: bot.webhook is not hook or bool(bot.updates), IDLE_RECHECK_SECONDS
            )
            if world.closing or bot.webhook is not hook:
                return
            if not ready:
                continue
            update = bot.updates[0]
            error = await self._post(hook, update.to_json())
            async with world.mutate():
                if error is None:
                    bot.drop_update(update.update_id)
                    hook.delivered += 1
                else:
                    hook.last_error_date = now()
                    hook.last_error_message = error
            if error is not None:
                await asyncio.sleep(world.settings.webhook_retry_delay)

    async def _post(self, hook: Webhook, body: dict) -> str | None:
        """POST one update; ``None`` on success, else Telegram-style error text."""
        headers = {"Content-Type": "application/json"}
        if hook.secret_token:
            headers[SECRET_TOKEN_HEADER] = hook.secret_token
        timeout = aiohttp.ClientTimeout(total=self.world.settings.webhook_timeout)
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        try:
            async with self.session.post(
                hook.url, data=data, headers=headers, timeout=timeout
            ) as response:
                await response.read()
                if 200 <= response.status < 300:
                    return None
                return f"Wrong response from the webhook: {response.status} {response.reason}"
        except TimeoutError:
            return "Read timeout expired"
        except aiohttp.ClientConnectorError:
            return "Connection refused"
        except aiohttp.ClientError as exc:
            return f"Connection error: {exc}"
