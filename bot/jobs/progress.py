"""What the user sees while a photo is analysed: the chat action, and "분석 중" after a while."""
from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from telegram import Bot
from telegram.constants import ChatAction
from telegram.error import TelegramError

from .. import texts
from ..limits import CHAT_ACTION_REFRESH_SECONDS
from ..storage import Job, Storage, utcnow

__all__ = ["Progress"]

log = logging.getLogger(__name__)


class Progress:
    """While a job runs: the chat action (refreshed), and the "분석 중" notice when it is due.

    The notice is due ``notice_after`` seconds after the photo was *accepted*
    (a photo that waited in the queue gets it at once). On exit the refresh
    loop is cancelled; a notice already being sent is awaited, so it is
    always recorded and can be deleted when the answer goes out
    (:attr:`status_message_id`).
    """

    def __init__(self, bot: Bot, storage: Storage, job: Job, notice_after: float) -> None:
        self.bot, self.storage, self.job = bot, storage, job
        self.notice_after = notice_after
        self.status_message_id = job.status_message_id
        self._sending_notice = False
        self._tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> Progress:
        self._tasks.append(asyncio.create_task(self._actions()))
        if self.status_message_id is None:
            self._tasks.append(asyncio.create_task(self._notice()))
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        actions, *notice = self._tasks
        actions.cancel()
        for task in notice:
            if not self._sending_notice:
                task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _actions(self) -> None:
        while True:
            with contextlib.suppress(TelegramError):
                await self.bot.send_chat_action(self.job.chat_id, ChatAction.UPLOAD_PHOTO)
            await asyncio.sleep(CHAT_ACTION_REFRESH_SECONDS)

    async def _notice(self) -> None:
        due = self.job.created_at + timedelta(seconds=self.notice_after)
        await asyncio.sleep(max(0.0, (due - utcnow()).total_seconds()))
        self._sending_notice = True
        try:
            message = await self.bot.send_message(self.job.chat_id, texts.render("analyzing"))
        except TelegramError as exc:
            log.info("job %d: analyzing notice not sent: %s", self.job.job_id, exc)
            return
        self.status_message_id = message.message_id
        await self.storage.set_status_message(self.job.job_id, message.message_id)
