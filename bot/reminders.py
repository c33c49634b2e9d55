"""The monthly re-check reminder (``/remind``).

Reminders live in the database (``reminders`` table: enabled, interval,
``next_due_at``), not in the scheduler, so they survive a restart by
construction. One repeating JobQueue job, :func:`sweep_reminders`, runs at
start-up and then every ``BOT_REMINDER_SWEEP_S`` seconds: it sends
``remind_ping`` to every user whose reminder is due and moves ``next_due_at``
one interval on.

Several replicas sweep the same database (PostgreSQL), so each due reminder is
*claimed* before it is sent: ``next_due_at`` is moved on with a compare-and-set
on the due time the sweep read (``bump_reminder(..., expected=...)``), and only
the sweep whose bump won sends it. A send that fails for a passing reason
(network, flood limit) moves the due time back, so a later sweep (of any
replica) tries again; a user who blocked the bot has the reminder switched off.
A process that dies between the claim and the send skips that one reminder
(at most once, never twice).
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from telegram.error import Forbidden, TelegramError

from . import texts
from .context import BotContext
from .storage import Reminder, Storage, utcnow

__all__ = ["sweep_reminders"]

log = logging.getLogger(__name__)


async def sweep_reminders(context: BotContext) -> None:
    """Send every due reminder once (across all replicas) and schedule its next one."""
    storage = context.services.storage
    now = utcnow()
    for reminder in await storage.due_reminders(now):
        await _claim_and_send(context, storage, reminder, now)


async def _claim_and_send(context: BotContext, storage: Storage, reminder: Reminder,
                          now: datetime) -> None:
    old_due = reminder.next_due_at
    if old_due is None:  # due_reminders only returns enabled reminders with a due time
        return
    new_due = now + timedelta(days=reminder.interval_days)
    if not await storage.bump_reminder(reminder.user_id, new_due, expected=old_due):
        return  # another replica claimed it, or the user changed or disabled it meanwhile
    try:
        latest = await storage.list_results(reminder.user_id, limit=1)
        text = texts.render("remind_ping", last_date=latest[0].created_at if latest else None)
        await context.bot.send_message(reminder.chat_id, text)
    except Forbidden:
        log.info("user blocked the bot; reminder switched off")
        await storage.disable_reminder(reminder.user_id)
    except TelegramError as exc:  # network, flood limit...: the next sweep tries again
        log.warning("reminder not sent (will retry): %s", exc)
        await _give_back(storage, reminder, old_due, new_due)
    except Exception:  # the database hiccupped (or a bug): do not lose the reminder either
        log.exception("reminder not sent (will retry)")
        await _give_back(storage, reminder, old_due, new_due)


async def _give_back(storage: Storage, reminder: Reminder, old_due: datetime,
                     new_due: datetime) -> None:
    """Undo the claim, only while it is still ours (a /remind meanwhile set its own due time)."""
    await storage.bump_reminder(reminder.user_id, old_due, expected=new_due)
