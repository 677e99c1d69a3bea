"""Time, injectable: services ask the clock, so tests move it instead of sleeping."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta, tzinfo
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


def parse_iso(value: str, zone: tzinfo = UTC) -> int:
    """An ISO 8601 date-time as epoch milliseconds. With an offset or Z it is that instant; a
    naive one is a local time of `zone` (UTC unless given; the loyalty face gives the
    organisation's, `local_time`). A zoneinfo zone is DST-correct: a local time the clocks skip
    is read with the offset from before the change, one they repeat as its first occurrence. A
    date alone is the first instant of that UTC day whatever `zone`: the engine's days (points
    expiries, the join days shown) are UTC days."""
    dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC if _is_date(value) else zone)
    return epoch_ms(dt)


def _is_date(value: str) -> bool:
    try:
        date.fromisoformat(value.strip())
    except ValueError:
        return False
    return True


def local_time(value: str | None) -> bool:
    """Whether `value` is a date-time without an offset (a time of day, no Z): `parse_iso` reads
    it in the zone it is given, so a face asks for the organisation's only then."""
    if not value:
        return False
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return False
    return moment.tzinfo is None and not _is_date(value)


def parse_bound(value: str, *, end: bool, zone: tzinfo = UTC) -> int:
    """One end of a date range as epoch milliseconds: a (UTC) day `YYYY-MM-DD` (its first
    instant, or with `end` its last millisecond, so the day is included), or a date-time
    (`YYYY-MM-DD HH:MM:SS` or ISO 8601; naive is read in `zone`, as `parse_iso`; with `end` a
    whole second is included). ValueError when it is neither."""
    text = value.strip()
    if len(text) == 10:
        start = epoch_ms(datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC))
        return start + 86_400_000 - 1 if end else start
    ms = parse_iso(text, zone)
    return ms + 999 if end and "." not in text else ms
