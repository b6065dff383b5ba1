"""The one clock our code reads. Tests move it with time-machine."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

DISPLAY_TZ = ZoneInfo("Asia/Shanghai")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def today_local() -> date:
    """The calendar day in Guangxi: deadlines and warning colours count in local days."""
    return utcnow().astimezone(DISPLAY_TZ).date()


def as_utc(value: datetime) -> datetime:
    """An aware UTC datetime. SQLite hands back naive datetimes (we always store UTC) and keeps
    no offset on write, so values are normalised with this before comparing or storing."""
    return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)


def local_day_start(day: date) -> datetime:
    """00:00 of a calendar day in Guangxi, as an aware UTC datetime (date-range filters)."""
    return datetime.combine(day, time(0, 0), tzinfo=DISPLAY_TZ).astimezone(timezone.utc)


def on_local_days(column, day_from: date | None, day_to: date | None) -> list:
    """Conditions: `column` (an instant) falls on the Guangxi calendar days day_from..day_to, either end open
    when None — for the date-range filters of lists (the whole last day, to the microsecond)."""
    conditions = []
    if day_from:
        conditions.append(column >= local_day_start(day_from))
    if day_to:
        conditions.append(column < local_day_start(day_to + timedelta(days=1)))
    return conditions


def local_day_end(day: date) -> datetime:
    """23:59:59 of a calendar day in Guangxi, as an aware UTC datetime (a deadline "on" that day)."""
    return datetime.combine(day, time(23, 59, 59), tzinfo=DISPLAY_TZ).astimezone(timezone.utc)


def to_local(value: datetime | None) -> datetime | None:
    return as_utc(value).astimezone(DISPLAY_TZ) if value is not None else None


def local_iso(value: datetime | None) -> str | None:
    """ISO text in Beijing time, as the API writes instants (None stays None)."""
    return to_local(value).isoformat() if value is not None else None
