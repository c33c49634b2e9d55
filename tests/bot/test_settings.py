"""bot/settings.py: configuration from the environment, secret-free repr, log redaction."""
from __future__ import annotations

import io
import logging
from pathlib import Path

import pytest

from bot import limits
from bot.settings import (
    REDACTED,
    RedactingFilter,
    Settings,
    SettingsError,
    install_log_redaction,
    uninstall_log_redaction,
)

TOKEN = "987654:AAH-secret_token-value-xyz"
KEY = "svc-key-3f9a1c2b7d"
WEBHOOK_SECRET = "hook-secret-0123456789"


def test_defaults_from_a_minimal_environment() -> None:
    s = Settings.from_env({"TELEGRAM_BOT_TOKEN": TOKEN})
    assert s.telegram_token == TOKEN
    assert s.api_base_url == "https://api.telegram.org/bot"
    assert s.file_base_url == "https://api.telegram.org/file/bot"
    assert s.inference_url == "http://127.0.0.1:8090"
    assert s.inference_api_key is None
    assert s.db_path == Path("data/bot.sqlite3")
    assert not s.webhook_mode


def test_every_variable_is_read() -> None:
    s = Settings.from_env({
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_BASE_URL": "http://127.0.0.1:8081/bot",
        "TELEGRAM_FILE_BASE_URL": "http://127.0.0.1:8081/file/bot",
        "INFERENCE_URL": "http://10.0.0.2:9000/",
        "INFERENCE_API_KEY": KEY,
        "INFERENCE_TIMEOUT_S": "12.5",
        "BOT_DB_PATH": "/tmp/x.sqlite3",
        "WEBHOOK_URL": "https://bot.example.com/tg/hook",
        "WEBHOOK_SECRET": WEBHOOK_SECRET,
        "WEBHOOK_PORT": "9443",
        "BOT_JOB_CONCURRENCY": "3",
        "BOT_JOB_MAX_ATTEMPTS": "4",
        "BOT_JOB_BACKOFF_BASE_S": "0.5",
        "BOT_JOB_BACKOFF_CAP_S": "8",
        "BOT_LOG_LEVEL": "debug",
    })
    assert s.api_base_url == "http://127.0.0.1:8081/bot"
    assert s.file_base_url == "http://127.0.0.1:8081/file/bot"
    assert s.inference_url == "http://10.0.0.2:9000"
    assert (s.inference_api_key, s.inference_timeout) == (KEY, 12.5)
    assert s.db_path == Path("/tmp/x.sqlite3")
    assert s.webhook_mode and s.webhook_path == "/tg/hook" and s.webhook_port == 9443
    assert s.effective_webhook_secret() == WEBHOOK_SECRET
    assert (s.job_concurrency, s.job_max_attempts) == (3, 4)
    assert (s.job_backoff_base, s.job_backoff_cap) == (0.5, 8.0)
    assert s.log_level == "DEBUG"


def test_missing_token_and_bad_numbers_are_errors() -> None:
    with pytest.raises(SettingsError, match="TELEGRAM_BOT_TOKEN"):
        Settings.from_env({})
    with pytest.raises(SettingsError, match="BOT_JOB_CONCURRENCY"):
        Settings.from_env({"TELEGRAM_BOT_TOKEN": TOKEN, "BOT_JOB_CONCURRENCY": "many"})
    with pytest.raises(SettingsError):
        Settings.from_env({"TELEGRAM_BOT_TOKEN": TOKEN, "BOT_JOB_BACKOFF_CAP_S": "0.1"})


def test_random_webhook_secret_when_none_is_set() -> None:
    s = Settings.from_env({"TELEGRAM_BOT_TOKEN": TOKEN, "WEBHOOK_URL": "https://x.example/"})
    one, two = s.effective_webhook_secret(), s.effective_webhook_secret()
    assert one != two and len(one) >= 32
    assert s.webhook_path == "/"


def test_repr_and_str_never_show_secrets() -> None:
    s = Settings.from_env({
        "TELEGRAM_BOT_TOKEN": TOKEN, "INFERENCE_API_KEY": KEY, "WEBHOOK_SECRET": WEBHOOK_SECRET,
    })
    for text in (repr(s), str(s), f"{s}", repr([s])):
        assert TOKEN not in text and KEY not in text and WEBHOOK_SECRET not in text
        assert "telegram_token='<set>'" in text and "inference_api_key='<set>'" in text
    assert "inference_api_key=None" in repr(Settings(telegram_token=TOKEN))


def _log_with(handler: logging.Handler, logger_name: str = "test.redaction") -> logging.Logger:
    logger = logging.getLogger(logger_name)
    logger.handlers[:] = [handler]
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    return logger


def test_filter_redacts_message_args_traceback_and_url_encoding() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter([TOKEN, KEY, None]))
    log = _log_with(handler)
    log.info("POST https://api.telegram.org/bot%s/getUpdates", TOKEN)
    log.warning("key=%r url-encoded=%s", KEY, TOKEN.replace(":", "%3A"))
    try:
        raise RuntimeError(f"request to /bot{TOKEN}/sendPhoto failed with {KEY}")
    except RuntimeError:
        log.exception("upload failed")
    out = stream.getvalue()
    assert TOKEN not in out and KEY not in out and TOKEN.replace(":", "%3A") not in out
    assert out.count(REDACTED) >= 5
    assert "RuntimeError" in out and "getUpdates" in out  # the rest stays readable


def test_installed_redaction_covers_handlers_added_later(caplog: pytest.LogCaptureFixture) -> None:
    install_log_redaction([TOKEN, KEY])
    try:
        stream = io.StringIO()
        log = _log_with(logging.StreamHandler(stream), "test.redaction.factory")
        log.propagate = True
        with caplog.at_level(logging.INFO):
            log.info("token %s and key %s", TOKEN, KEY)
            log.error("in the message itself: " + TOKEN)
        assert TOKEN not in stream.getvalue() and KEY not in stream.getvalue()
        assert TOKEN not in caplog.text and KEY not in caplog.text
        assert caplog.text.count(REDACTED) == 3
    finally:
        uninstall_log_redaction()


def test_short_values_are_not_treated_as_secrets() -> None:
    f = RedactingFilter(["ab", ""])
    assert f.redact("a cab ride") == "a cab ride"


def test_limits_are_telegrams() -> None:
    assert limits.CAPTION_LIMIT == 1024 and limits.MESSAGE_LIMIT == 4096
    assert limits.MAX_DOWNLOAD_BYTES == 20_000_000
    assert limits.MAX_CALLBACK_DATA_BYTES == 64
    assert limits.OVERALL_MAX_RATE == 30
