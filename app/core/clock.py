"""The one clock our code reads. Tests move it with time-machine."""
from __future__ import annotations

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

DISPLAY_TZ = ZoneInfo("Asia/Shanghai")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def today_local() -> date:
    """The calendar day in Guangxi: deadlines and warning colours count in local days."""
    return utcnow().astimezone(DISPLAY_TZ).date()


def to_local(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:  # SQLite returns naive datetimes; we store UTC.
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(DISPLAY_TZ)
