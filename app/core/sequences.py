"""Gap-tolerant named counters for human-readable numbers, safe under concurrency."""
from __future__ import annotations

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from ..extensions import db
from .models import Counter


def next_value(name: str, period: str) -> int:
    """One statement: create the counter at 1 or add 1 to it, returning the value. The conflicting
    row stays locked until the transaction ends (PostgreSQL), so two writers never get one value;
    a rolled-back transaction leaves a gap, never a duplicate."""
    insert = pg_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert
    table = Counter.__table__
    statement = (insert(table).values(name=name, period=period, value=1)
                 .on_conflict_do_update(index_elements=[table.c.name, table.c.period],
                                        set_={"value": table.c.value + 1})
                 .returning(table.c.value))
    return db.session.execute(statement).scalar_one()
