"""bot/app.py: the application is assembled in one place, the reminder sweep scheduled there too."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot import app
from bot.context import Services
from bot.reminders import sweep_reminders
from bot.settings import Settings

TOKEN = "123456:TEST-token"


async def test_post_init_schedules_the_reminder_sweep_a_second_after_start(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[object] = []

    async def start(self: Services, application: object) -> None:  # no database, no service
        started.append(application)

    monkeypatch.setattr(Services, "start", start)
    settings = Settings(telegram_token=TOKEN, db_path=tmp_path / "bot.sqlite3",
                        reminder_sweep_interval=123.0)
    application = app.build_application(settings)
    assert application.job_queue is not None
    assert application.job_queue.get_jobs_by_name(app.REMINDER_JOB_NAME) == ()
    assert application.post_init is not None
    await application.post_init(application)
    assert started == [application]
    [job] = application.job_queue.get_jobs_by_name(app.REMINDER_JOB_NAME)
    assert job.callback is sweep_reminders
    trigger = job.job.trigger
    assert trigger.interval == timedelta(seconds=123.0)
    # the first run is FIRST_REMINDER_SWEEP_SECONDS after post_init, not one interval later
    first = trigger.start_date - datetime.now(UTC)
    assert timedelta(0) < first <= timedelta(seconds=app.FIRST_REMINDER_SWEEP_SECONDS)
