"""The monthly re-check reminder (``/remind``).

Reminders live in the database (``reminders`` table: enabled, interval,
``next_due_at``), not in the scheduler, so they survive a restart by
construction. One repeating JobQueue job, :func:`sweep_reminders`, runs at
start-up and then every ``BOT_REMINDER_SWEEP_S`` seconds: it sends
``remind_ping`` to every user whose reminder is due and moves ``next_due_at``
one interval on.
"""
from __future__ import annotations

import logging
from datetime import timedelta

from telegram.error import Forbidden, TelegramError

from . import texts
from .context import BotContext
from .storage import utcnow

__all__ = ["sweep_reminders"]

log = logging.getLogger(__name__)


async def sweep_reminders(context: BotContext) -> None:
    """Send every due reminder once and schedule its next one."""
    storage = context.services.storage
    now = utcnow()
    for reminder in await storage.due_reminders(now):
        latest = await storage.list_results(reminder.user_id, limit=1)
        text = texts.render("remind_ping", last_date=latest[0].created_at if latest else None)
        try:
            await context.bot.send_message(reminder.chat_id, text)
        except Forbidden:
            log.info("user blocked the bot; reminder switched off")
            await storage.disable_reminder(reminder.user_id)
            continue
        except TelegramError as exc:  # try again at the next sweep
            log.warning("reminder not sent (will retry): %s", exc)
            continue
        await storage.bump_reminder(
            reminder.user_id, now + timedelta(days=reminder.interval_days)
        )
