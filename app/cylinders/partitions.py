"""The rolling window of monthly partitions of cylinder_filling on PostgreSQL (migration 0018_cylinders
defines `cylinder_filling_add_month`); the scheduler's daily `cylinder_partitions` job and
`flask cylinders add-partitions` keep months ahead of today. SQLite has one plain table."""
from __future__ import annotations

from datetime import date

from sqlalchemy import text

from ..core.clock import today_local
from ..extensions import db


def add_months(ahead: int = 3) -> list[str]:
    """Create the monthly partitions of cylinder_filling up to `ahead` months after this one (PostgreSQL)."""
    if db.engine.dialect.name != "postgresql":
        return []
    first = today_local().replace(day=1)
    names = []
    for m in range(ahead + 1):
        y, mo = divmod(first.month - 1 + m, 12)
        names.append(db.session.execute(text("SELECT cylinder_filling_add_month(:d)"),
                                        {"d": date(first.year + y, mo + 1, 1)}).scalar())
    db.session.commit()
    return names
