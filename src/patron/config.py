"""Settings: every knob Patron reads, from PATRON_* environment variables.

Each one is listed in docs/configuration.md.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from patron.db.database import PG_POOL_MAX, PG_POOL_MIN


class SettingError(ValueError):
    """A PATRON_* variable that cannot be read: names it and says what it takes."""


def _env(name: str, default: str) -> str:
    return os.environ.get(f"PATRON_{name}", default)


def _number(name: str, default: float, kind: type = int, least: float = 0,
            most: float | None = None) -> Any:
    raw = _env(name, str(default)).strip()
    try:
        value = kind(raw)
        if not math.isfinite(value):  # float() takes "nan" and "inf": neither is a setting
            raise ValueError(raw)
    except ValueError:
        what = "a whole number" if kind is int else "a number"
        raise SettingError(f"PATRON_{name} must be {what}, not {raw!r}") from None
    if most is not None and not least <= value <= most:
        raise SettingError(f"PATRON_{name} must be from {least} to {most}, not {raw!r}")
    if value < least:
        floor = "not be negative" if least == 0 else f"be at least {least}"
        raise SettingError(f"PATRON_{name} must {floor}, not {raw!r}")
    return value


# The words a switch takes, in any case: settings here, flags in queries (faces).
YES, NO = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def _flag(name: str, default: bool) -> bool:
    raw = _env(name, "true" if default else "false").strip().lower()
    if raw not in YES + NO:
        raise SettingError(f"PATRON_{name} must be true or false, not {raw!r}")
    return raw in YES


# SQLite's `PRAGMA synchronous` values by name, and the numbers SQLite also takes for them.
SQLITE_SYNCHRONOUS = ("OFF", "NORMAL", "FULL", "EXTRA")


def _choice(name: str, default: str, choices: tuple[str, ...], numbered: bool = False) -> str:
    """One of `choices` in any case; `numbered`: or its position in them."""
    raw = _env(name, default).strip().upper()
    if numbered and raw.isdigit() and int(raw) < len(choices):
        return choices[int(raw)]
    if raw not in choices:
        also = f" (or 0 to {len(choices) - 1})" if numbered else ""
        raise SettingError(f"PATRON_{name} must be one of {', '.join(choices)}{also}, "
                           f"not {raw!r}")
    return raw


# The ports a server can listen on (0 would make the OS pick one), and the fewest workers and
# pooled connections that can serve a request; the command-line flags are held to them too.
PORTS = (1, 65535)
LEAST_WORKERS = 1
LEAST_POOL = 1

# Uvicorn's log levels, which Patron's own loggers take too.
LOG_LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG", "TRACE")

# The URLs Patron has a driver for: asyncpg, and sqlite3 (a `sqlite:///` path is relative to
# the working directory, `sqlite:////` absolute).
DATABASE_URL_PREFIXES = ("postgresql://", "postgres://", "sqlite:///")


# What the base URL clients reach Patron at starts with: it begins the links Patron returns.
PUBLIC_URL_PREFIXES = ("http://", "https://")

# The URLs redis-py takes.
REDIS_URL_PREFIXES = ("redis://", "rediss://", "unix://")


def _url(name: str, prefixes: tuple[str, ...]) -> str:
    """A URL setting, empty or starting with one of `prefixes`."""
    url = _env(name, "").strip()
    if url and not url.startswith(prefixes):
        # Only the scheme is repeated: the rest of a URL may hold a password.
        scheme = url.split(":", 1)[0]
        allowed = ", ".join(prefixes[:-1]) + " or " + prefixes[-1]
        raise SettingError(f"PATRON_{name} must start with {allowed}, not {scheme + ':'!r}")
    return url


def _redis_url() -> str:
    """PATRON_REDIS_URL; its port must be a number, which redis-py reads only when each worker
    starts (a traceback there, and no server)."""
    url = _url("REDIS_URL", REDIS_URL_PREFIXES)
    try:
        urlsplit(url).port  # noqa: B018 - reading it checks it
    except ValueError:
        raise SettingError("PATRON_REDIS_URL must have a port from 0 to 65535 after its "
                           "host") from None
    return url


def _data_dir(database_url: str) -> Path:
    """PATRON_DATA_DIR; when the embedded database is used (no database URL), refused if it, or
    the nearest of its parents that exists, is not a directory, as it could not be created."""
    data_dir = Path(_env("DATA_DIR", "./patron-data"))
    if not database_url:
        nearest = next(p for p in (data_dir, *data_dir.absolute().parents) if p.exists())
        if not nearest.is_dir():
            raise SettingError(f"PATRON_DATA_DIR must be a directory; {str(nearest)!r} is "
                               "not one")
    return data_dir


@dataclass(frozen=True)
class Settings:
    database_url: str = ""
    data_dir: Path = Path("./patron-data")
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    sqlite_synchronous: str = "FULL"
    pg_pool_min: int = PG_POOL_MIN
    pg_pool_max: int = PG_POOL_MAX
    max_body_bytes: int = 1_048_576
    # Customer images: the largest upload request (all its files), and how long image URLs live.
    max_image_upload_bytes: int = 10_485_760
    image_url_seconds: int = 3599
    # Signs image URLs; unset, a random key kept in the database is shared by every server.
    signing_key: str = field(default="", repr=False)
    max_page_size: int = 100
    credential_cache_seconds: float = 30.0
    # How often each process looks whether a credential was revoked or rotated elsewhere.
    credential_check_seconds: float = 1.0
    loyalty_token_ttl_seconds: int = 1800
    marketing_token_ttl_seconds: int = 7200
    marketing_refresh_ttl_seconds: int = 1_209_600
    rate_limit_per_minute: int = 6000
    # Redis, where every worker and host shares the rate limit's counts; empty: per worker.
    redis_url: str = field(default="", repr=False)
    # The loyalty engine's scheduled work (points expiry, tier renewal); 0 turns it off.
    loyalty_jobs_seconds: int = 3600
    public_url: str = ""
    access_log: bool = True
    # Each customer's default details kept as rendered (customers/documents.py); off, every
    # read renders the customer.
    customer_documents: bool = True
    # Memory (MiB) each server process keeps pages of the interaction reads in
    # (engagement/pages.py); 0: every read renders its pages.
    interaction_pages_mb: int = 32
    # FastAPI's native OpenTelemetry; off, the per-request check that no provider is
    # configured (2-3% of a customer read) is skipped.
    telemetry: bool = False
    log_level: str = "info"
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls) -> Settings:
        """The settings of the PATRON_* environment; SettingError names a variable that cannot
        be read."""
        database_url = _url("DATABASE_URL", DATABASE_URL_PREFIXES)
        pg_pool_max = _number("PG_POOL_MAX", PG_POOL_MAX, least=LEAST_POOL)
        # Left unset, the smallest pool size gives way to a largest size set below it.
        pg_pool_min = _number("PG_POOL_MIN", min(PG_POOL_MIN, pg_pool_max))
        if pg_pool_min > pg_pool_max:
            raise SettingError(f"PATRON_PG_POOL_MIN must be at most PATRON_PG_POOL_MAX "
                               f"({pg_pool_max}), not {pg_pool_min}")
        return cls(
            database_url=database_url,
            data_dir=_data_dir(database_url),
            host=_env("HOST", "127.0.0.1"),
            port=_number("PORT", 8000, least=PORTS[0], most=PORTS[1]),
            workers=_number("WORKERS", 1, least=LEAST_WORKERS),
            sqlite_synchronous=_choice("SQLITE_SYNCHRONOUS", "FULL", SQLITE_SYNCHRONOUS,
                                       numbered=True),
            pg_pool_min=pg_pool_min,
            pg_pool_max=pg_pool_max,
            max_body_bytes=_number("MAX_BODY_BYTES", 1_048_576),
            max_image_upload_bytes=_number("MAX_IMAGE_UPLOAD_BYTES", 10_485_760),
            image_url_seconds=_number("IMAGE_URL_SECONDS", 3599),
            signing_key=_env("SIGNING_KEY", ""),
            max_page_size=_number("MAX_PAGE_SIZE", 100),
            credential_cache_seconds=_number("CREDENTIAL_CACHE_SECONDS", 30.0, float),
            credential_check_seconds=_number("CREDENTIAL_CHECK_SECONDS", 1.0, float),
            loyalty_token_ttl_seconds=_number("LOYALTY_TOKEN_TTL_SECONDS", 1800),
            marketing_token_ttl_seconds=_number("MARKETING_TOKEN_TTL_SECONDS", 7200),
            marketing_refresh_ttl_seconds=_number("MARKETING_REFRESH_TTL_SECONDS", 1_209_600),
            rate_limit_per_minute=_number("RATE_LIMIT_PER_MINUTE", 6000),
            redis_url=_redis_url(),
            loyalty_jobs_seconds=_number("LOYALTY_JOBS_SECONDS", 3600),
            public_url=_url("PUBLIC_URL", PUBLIC_URL_PREFIXES).rstrip("/"),
            access_log=_flag("ACCESS_LOG", True),
            customer_documents=_flag("CUSTOMER_DOCUMENTS", True),
            interaction_pages_mb=_number("INTERACTION_PAGES_MB", 32),
            telemetry=_flag("TELEMETRY", False),
            log_level=_choice("LOG_LEVEL", "info", LOG_LEVELS).lower(),
        )

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]

    @property
    def effective_database_url(self) -> str:
        """The configured URL, or the embedded SQLite file inside the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'patron.db').resolve()}"

    @property
    def is_postgres(self) -> bool:
        return self.effective_database_url.startswith(("postgresql://", "postgres://"))
