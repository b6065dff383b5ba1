"""Gap-tolerant named counters for human-readable numbers, safe under concurrency."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from .models import Counter
from .tx import savepoint


def next_value(name: str, period: str) -> int:
    for _ in range(3):
        row = db.session.scalar(select(Counter).where(Counter.name == name, Counter.period == period)
                                .with_for_update())
        if row is None:
            try:
                with savepoint():
                    row = Counter(name=name, period=period, value=0)
                    db.session.add(row)
                    db.session.flush()
            except IntegrityError:
                continue  # another transaction created it: lock it on the next round
        row.value += 1
        db.session.flush()
        return row.value
    raise RuntimeError(f"could not allocate {name}/{period}")
