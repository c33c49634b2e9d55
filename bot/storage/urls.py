"""Database targets: which backend a target names, and URLs safe to log."""
from __future__ import annotations

import os
import re
from urllib.parse import urlsplit, urlunsplit

__all__ = ["POSTGRES_SCHEMES", "is_postgres_url", "redact_url"]

#: URL schemes that mean PostgreSQL (libpq's and SQLAlchemy-style spellings).
POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def is_postgres_url(target: str | os.PathLike[str]) -> bool:
    """True for a ``postgresql://`` / ``postgres://`` URL (a path never is one)."""
    return isinstance(target, str) and target.strip().lower().startswith(POSTGRES_SCHEMES)


def redact_url(url: str) -> str:
    """A database URL with its password (user-info or ``password=``) replaced by ``***``."""
    url = re.sub(r"([?&]password=)[^&]*", r"\1***", url)
    parts = urlsplit(url)
    if parts.password is None:
        return url
    userinfo, host = parts.netloc.rsplit("@", 1)
    return urlunsplit(parts._replace(netloc=f"{userinfo.split(':', 1)[0]}:***@{host}"))
