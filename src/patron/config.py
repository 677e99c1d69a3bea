"""Settings: every knob Patron reads, from PATRON_* environment variables.

Each one is listed in docs/configuration.md.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from patron.db.database import PG_POOL_MAX, PG_POOL_MIN


def _env(name: str, default: str) -> str:
    return os.environ.get(f"PATRON_{name}", default)


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
    loyalty_token_ttl_seconds: int = 1800
    marketing_token_ttl_seconds: int = 7200
    marketing_refresh_ttl_seconds: int = 1_209_600
    rate_limit_per_minute: int = 6000
    # The loyalty engine's scheduled work (points expiry, tier renewal); 0 turns it off.
    loyalty_jobs_seconds: int = 3600
    public_url: str = ""
    access_log: bool = True
    # FastAPI's native OpenTelemetry; off, the per-request check that no provider is
    # configured (2-3% of a customer read) is skipped.
    telemetry: bool = False
    log_level: str = "info"
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            database_url=_env("DATABASE_URL", ""),
            data_dir=Path(_env("DATA_DIR", "./patron-data")),
            host=_env("HOST", "127.0.0.1"),
            port=int(_env("PORT", "8000")),
            workers=int(_env("WORKERS", "1")),
            sqlite_synchronous=_env("SQLITE_SYNCHRONOUS", "FULL").upper(),
            pg_pool_min=int(_env("PG_POOL_MIN", str(PG_POOL_MIN))),
            pg_pool_max=int(_env("PG_POOL_MAX", str(PG_POOL_MAX))),
            max_body_bytes=int(_env("MAX_BODY_BYTES", "1048576")),
            max_image_upload_bytes=int(_env("MAX_IMAGE_UPLOAD_BYTES", "10485760")),
            image_url_seconds=int(_env("IMAGE_URL_SECONDS", "3599")),
            signing_key=_env("SIGNING_KEY", ""),
            max_page_size=int(_env("MAX_PAGE_SIZE", "100")),
            credential_cache_seconds=float(_env("CREDENTIAL_CACHE_SECONDS", "30")),
            loyalty_token_ttl_seconds=int(_env("LOYALTY_TOKEN_TTL_SECONDS", "1800")),
            marketing_token_ttl_seconds=int(_env("MARKETING_TOKEN_TTL_SECONDS", "7200")),
            marketing_refresh_ttl_seconds=int(_env("MARKETING_REFRESH_TTL_SECONDS", "1209600")),
            rate_limit_per_minute=int(_env("RATE_LIMIT_PER_MINUTE", "6000")),
            loyalty_jobs_seconds=int(_env("LOYALTY_JOBS_SECONDS", "3600")),
            public_url=_env("PUBLIC_URL", "").rstrip("/"),
            access_log=_env("ACCESS_LOG", "true").lower() in ("1", "true", "yes"),
            telemetry=_env("TELEMETRY", "false").lower() in ("1", "true", "yes"),
            log_level=_env("LOG_LEVEL", "info").lower(),
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
