"""Time, injectable: services ask the clock, so tests move it instead of sleeping."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class Clock:
    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000


class FixedClock(Clock):
    def __init__(self, now_ms: int) -> None:
        self.value = now_ms

    def now_ms(self) -> int:
        return self.value

    def advance(self, ms: int) -> None:
        self.value += ms


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)


def epoch_ms(moment: datetime) -> int:
    """An aware date-time as epoch milliseconds, exactly: `timestamp()` is a float of seconds, and
    times 1000 it lands a hair under many instants (`.205` as `.2049999`), a millisecond early
    once truncated. Sub-millisecond digits are dropped (towards the past)."""
    return (moment - EPOCH) // _MILLISECOND


def zone_named(name: str | None) -> ZoneInfo:
    """An organisation's time zone by its IANA name; UTC when it has none or an unknown one."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


_DAY_PREFIX: dict[int, str] = {}  # day number since the epoch -> "YYYY-MM-DDT"
_HOUR_MINUTE = [f"{m // 60:02d}:{m % 60:02d}:" for m in range(1440)]
_SECOND = [f"{s:02d}Z" for s in range(60)]


def iso_utc(ms: int | None) -> str | None:
    """Epoch milliseconds as ISO 8601 in UTC with seconds precision, as the faces render it,
    the year in four digits.

    A customer's answer holds several of these, so the date part is formatted once per day and
    kept (a bounded map) and the time of day comes from tables: a third of `strftime`'s cost."""
    if ms is None:
        return None
    day, second = divmod(ms // 1000, 86_400)
    prefix = _DAY_PREFIX.get(day)
    if prefix is None:
        if len(_DAY_PREFIX) >= 100_000:
            _DAY_PREFIX.clear()
        # Not strftime's %Y, which glibc leaves unpadded before the year 1000 ("1-01-01").
        date = time.gmtime(day * 86_400)
        prefix = _DAY_PREFIX[day] = f"{date.tm_year:04d}-{date.tm_mon:02d}-{date.tm_mday:02d}T"
    minute, second = divmod(second, 60)
    return prefix + _HOUR_MINUTE[minute] + _SECOND[second]


def parse_iso(value: str) -> int:
    """An ISO 8601 date-time (offset or Z; naive means UTC) as epoch milliseconds."""
    dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return epoch_ms(dt)


def parse_bound(value: str, *, end: bool) -> int:
    """One end of a date range as epoch milliseconds: a day `YYYY-MM-DD` (its first instant, or
    with `end` its last millisecond, so the day is included), or a date-time
    (`YYYY-MM-DD HH:MM:SS` or ISO 8601; naive means UTC; with `end` a whole second is included).
    ValueError when it is neither."""
    text = value.strip()
    if len(text) == 10:
        start = epoch_ms(datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC))
        return start + 86_400_000 - 1 if end else start
    ms = parse_iso(text)
    return ms + 999 if end and "." not in text else ms
