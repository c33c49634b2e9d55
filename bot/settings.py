"""The bot's configuration, read once from the environment, and log redaction.

=============================  ================================================  =======================================
variable                       meaning                                           default
=============================  ================================================  =======================================
TELEGRAM_BOT_TOKEN             the bot's token (required)                        -
TELEGRAM_API_BASE_URL          Bot API base, PTB's form (token appended)         ``https://api.telegram.org/bot``
TELEGRAM_FILE_BASE_URL         file download base, PTB's form                    ``https://api.telegram.org/file/bot``
INFERENCE_URL                  the inference service                             ``http://127.0.0.1:8090``
INFERENCE_API_KEY              bearer key for the service                        (none)
INFERENCE_TIMEOUT_S            one /v1/analyze call, seconds                     60
BOT_DB_PATH                    the SQLite file (one bot process)                 ``data/bot.sqlite3``
BOT_DATABASE_URL               PostgreSQL instead of SQLite, for several         (SQLite)
                               replicas: ``postgresql://user:pw@host:5432/db``;
                               wins over BOT_DB_PATH; also shares the Telegram
                               send-rate limit between the replicas
WEBHOOK_URL                    public URL Telegram posts to; set: webhook mode   (polling)
                               (the local server serves the URL's path)
WEBHOOK_SECRET                 secret token Telegram sends back                  random per start
WEBHOOK_LISTEN / WEBHOOK_PORT  where the webhook server listens                  ``127.0.0.1`` / 8443
BOT_JOB_CONCURRENCY            photos analysed at once (over all users)          8
BOT_JOB_MAX_ATTEMPTS           tries per photo before giving up                  10
BOT_JOB_BACKOFF_BASE_S         first retry delay (doubles each try)              2
BOT_JOB_BACKOFF_CAP_S          longest retry delay                               300
BOT_ANALYZING_NOTICE_S         "분석 중" message after this many seconds          1
BOT_REMINDER_SWEEP_S           how often due reminders are looked for            600
BOT_LOG_LEVEL                  logging level                                     INFO
=============================  ================================================  =======================================

``Settings.__repr__`` never shows the token, the service key or the database
password, and :func:`install_log_redaction` removes them from every log record
(message, arguments, traceback), whichever handler prints it.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from .storage import is_postgres_url, redact_url

__all__ = [
    "REDACTED",
    "RedactingFilter",
    "Settings",
    "SettingsError",
    "configure_logging",
    "install_log_redaction",
]

DEFAULT_API_BASE_URL = "https://api.telegram.org/bot"
DEFAULT_FILE_BASE_URL = "https://api.telegram.org/file/bot"
DEFAULT_INFERENCE_URL = "http://127.0.0.1:8090"
DEFAULT_DB_PATH = "data/bot.sqlite3"
DEFAULT_WEBHOOK_LISTEN = "127.0.0.1"
DEFAULT_WEBHOOK_PORT = 8443
WEBHOOK_SECRET_BYTES = 32
REDACTED = "[REDACTED]"
SECRET_FIELDS = frozenset({"telegram_token", "inference_api_key", "webhook_secret"})
SECRET_PLACEHOLDER = "<set>"
#: Shorter strings are not redacted (they would mangle ordinary words).
MIN_SECRET_LENGTH = 6
#: Libraries that log request URLs (which carry the token) at INFO.
NOISY_LOGGERS = ("httpx", "httpcore", "apscheduler")


def _url_passwords(url: str | None) -> tuple[str, ...]:
    """The passwords in a database URL (user-info part, ``password=`` parameter): secrets."""
    if not url:
        return ()
    parts = urlsplit(url)
    found = [parts.password] if parts.password else []
    found += parse_qs(parts.query).get("password", [])
    return tuple(found)


class SettingsError(ValueError):
    """The environment is missing something or has a malformed value."""


def _secret_field(default: Any = None) -> Any:
    return field(default=default, repr=False)


@dataclass(frozen=True)
class Settings:
    """Everything the bot reads from the environment (see the module table)."""

    telegram_token: str = field(repr=False)
    api_base_url: str = DEFAULT_API_BASE_URL
    file_base_url: str = DEFAULT_FILE_BASE_URL
    inference_url: str = DEFAULT_INFERENCE_URL
    inference_api_key: str | None = _secret_field()
    inference_timeout: float = 60.0
    db_path: Path = Path(DEFAULT_DB_PATH)
    database_url: str | None = field(default=None, repr=False)
    webhook_url: str | None = None
    webhook_secret: str | None = _secret_field()
    webhook_listen: str = DEFAULT_WEBHOOK_LISTEN
    webhook_port: int = DEFAULT_WEBHOOK_PORT
    job_concurrency: int = 8
    job_max_attempts: int = 10
    job_backoff_base: float = 2.0
    job_backoff_cap: float = 300.0
    analyzing_notice_after: float = 1.0
    reminder_sweep_interval: float = 600.0
    log_level: str = "INFO"

    def __post_init__(self) -> None:
        if not self.telegram_token:
            raise SettingsError("TELEGRAM_BOT_TOKEN is required")
        if self.job_concurrency < 1 or self.job_max_attempts < 1:
            raise SettingsError("BOT_JOB_CONCURRENCY and BOT_JOB_MAX_ATTEMPTS must be >= 1")
        if self.job_backoff_base <= 0 or self.job_backoff_cap < self.job_backoff_base:
            raise SettingsError("need 0 < BOT_JOB_BACKOFF_BASE_S <= BOT_JOB_BACKOFF_CAP_S")
        if self.database_url is not None and not is_postgres_url(self.database_url):
            raise SettingsError(
                "BOT_DATABASE_URL must be a postgresql:// URL (use BOT_DB_PATH for SQLite)"
            )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read the environment (``os.environ`` by default); ``overrides`` win."""
        e = os.environ if env is None else env

        def get(name: str) -> str | None:
            value = e.get(name)
            return value.strip() if value and value.strip() else None

        def number(name: str, kind: type, default: Any) -> Any:
            raw = get(name)
            if raw is None:
                return default
            try:
                return kind(raw)
            except ValueError:
                raise SettingsError(f"{name} must be a number, got {raw!r}") from None

        values: dict[str, Any] = {
            "telegram_token": get("TELEGRAM_BOT_TOKEN") or "",
            "api_base_url": get("TELEGRAM_API_BASE_URL") or DEFAULT_API_BASE_URL,
            "file_base_url": get("TELEGRAM_FILE_BASE_URL") or DEFAULT_FILE_BASE_URL,
            "inference_url": (get("INFERENCE_URL") or DEFAULT_INFERENCE_URL).rstrip("/"),
            "inference_api_key": get("INFERENCE_API_KEY"),
            "inference_timeout": number("INFERENCE_TIMEOUT_S", float, cls.inference_timeout),
            "db_path": Path(get("BOT_DB_PATH") or DEFAULT_DB_PATH),
            "database_url": get("BOT_DATABASE_URL"),
            "webhook_url": get("WEBHOOK_URL"),
            "webhook_secret": get("WEBHOOK_SECRET"),
            "webhook_listen": get("WEBHOOK_LISTEN") or DEFAULT_WEBHOOK_LISTEN,
            "webhook_port": number("WEBHOOK_PORT", int, DEFAULT_WEBHOOK_PORT),
            "job_concurrency": number("BOT_JOB_CONCURRENCY", int, cls.job_concurrency),
            "job_max_attempts": number("BOT_JOB_MAX_ATTEMPTS", int, cls.job_max_attempts),
            "job_backoff_base": number("BOT_JOB_BACKOFF_BASE_S", float, cls.job_backoff_base),
            "job_backoff_cap": number("BOT_JOB_BACKOFF_CAP_S", float, cls.job_backoff_cap),
            "analyzing_notice_after": number(
                "BOT_ANALYZING_NOTICE_S", float, cls.analyzing_notice_after
            ),
            "reminder_sweep_interval": number(
                "BOT_REMINDER_SWEEP_S", float, cls.reminder_sweep_interval
            ),
            "log_level": (get("BOT_LOG_LEVEL") or cls.log_level).upper(),
        }
        values.update(overrides)
        return cls(**values)

    def __repr__(self) -> str:
        """Every field; secrets only as ``'<set>'`` or None, never their value."""
        parts = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name in SECRET_FIELDS:
                value = SECRET_PLACEHOLDER if value else None
            elif f.name == "database_url" and value is not None:
                value = redact_url(value)
            parts.append(f"{f.name}={value!r}")
        return f"{type(self).__name__}({', '.join(parts)})"

    __str__ = __repr__

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)

    @property
    def database(self) -> str | Path:
        """What the storage opens: BOT_DATABASE_URL when set, else the SQLite file."""
        return self.database_url if self.database_url is not None else self.db_path

    @property
    def webhook_mode(self) -> bool:
        return self.webhook_url is not None

    @property
    def webhook_path(self) -> str:
        """The path the webhook server answers on: the path of WEBHOOK_URL ("/" if none)."""
        return urlsplit(self.webhook_url or "").path or "/"

    def effective_webhook_secret(self) -> str:
        """WEBHOOK_SECRET, or a random one (it is sent to Telegram at every start)."""
        return self.webhook_secret or secrets.token_urlsafe(WEBHOOK_SECRET_BYTES)

    def secrets(self) -> tuple[str, ...]:
        """The values that must never be logged."""
        found = (self.telegram_token, self.inference_api_key, self.webhook_secret,
                 *_url_passwords(self.database_url))
        return tuple(s for s in found if s)


# --------------------------------------------------------------------------------------------
# Log redaction
# --------------------------------------------------------------------------------------------


class RedactingFilter(logging.Filter):
    """Replaces every secret in a record's message, arguments and traceback.

    The record is rewritten in place (``msg`` becomes the final redacted text,
    ``args`` is emptied, the traceback is pre-formatted into ``exc_text``), so
    every handler and formatter downstream sees only the redacted text. The
    URL-encoded form of each secret (a token's ``:`` as ``%3A``) is redacted too.
    """

    def __init__(self, secrets_: Iterable[str | None]) -> None:
        super().__init__()
        variants: set[str] = set()
        for secret in secrets_:
            if secret and len(secret) >= MIN_SECRET_LENGTH:
                variants.update({secret, quote(secret, safe=""), quote(secret)})
        # Longest first, so a secret containing another one is replaced whole.
        self._secrets = tuple(sorted(variants, key=len, reverse=True))

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets or getattr(record, "_redacted", False):
            return True
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: keep the raw parts, redacted
            message = f"{record.msg!r} % {record.args!r}"
        record.msg, record.args = self.redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
            # The formatter prints exc_text; drop exc_info so nothing re-formats the raw trace.
            record.exc_info = None
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        record._redacted = True
        return True


_installed: dict[str, Any] = {}


def install_log_redaction(secrets_: Iterable[str | None]) -> RedactingFilter:
    """Redact ``secrets_`` from every log record created from now on, in this process.

    Wraps the log-record factory, so the redaction happens before any handler
    (including ones added later, e.g. pytest's) sees the record. Calling it
    again replaces the previous secrets.
    """
    redactor = RedactingFilter(secrets_)
    base = _installed.get("base_factory") or logging.getLogRecordFactory()
    _installed["base_factory"] = base

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = base(*args, **kwargs)
        redactor.filter(record)
        return record

    logging.setLogRecordFactory(factory)
    _installed["filter"] = redactor
    return redactor


def uninstall_log_redaction() -> None:
    """Restore the original log-record factory (tests)."""
    base = _installed.pop("base_factory", None)
    _installed.pop("filter", None)
    if base is not None:
        logging.setLogRecordFactory(base)


def configure_logging(settings: Settings) -> None:
    """Logging for ``python -m bot``: one stderr handler, secrets redacted, URL loggers quiet."""
    redactor = install_log_redaction(settings.secrets())
    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for handler in logging.getLogger().handlers:
        handler.addFilter(redactor)  # also covers records made before the factory was set
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def bot_environment(settings: Settings) -> dict[str, str]:
    """The environment that makes ``python -m bot`` use ``settings`` (for subprocess runs)."""
    env = dict(os.environ)
    env.update({
        "TELEGRAM_BOT_TOKEN": settings.telegram_token,
        "TELEGRAM_API_BASE_URL": settings.api_base_url,
        "TELEGRAM_FILE_BASE_URL": settings.file_base_url,
        "INFERENCE_URL": settings.inference_url,
        "BOT_DB_PATH": str(settings.db_path),
        "BOT_JOB_BACKOFF_BASE_S": str(settings.job_backoff_base),
        "BOT_JOB_BACKOFF_CAP_S": str(settings.job_backoff_cap),
        "BOT_JOB_MAX_ATTEMPTS": str(settings.job_max_attempts),
        "BOT_ANALYZING_NOTICE_S": str(settings.analyzing_notice_after),
        "BOT_REMINDER_SWEEP_S": str(settings.reminder_sweep_interval),
    })
    if settings.inference_api_key:
        env["INFERENCE_API_KEY"] = settings.inference_api_key
    return env
