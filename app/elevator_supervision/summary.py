"""The daily statistics summary (elevator_stats_day: day × county × maintenance unit × maintainer), kept exact:

- every ORM change of a maintenance record or a warning (check-out, offline sync, third-party platform,
  back-fill, a warning raised or closed — whatever the path) marks its (local day, unit) pairs, old and new
  values; after the flush those pairs are recomputed from the raw rows in the same transaction, so a late
  record updates its own day, not today's;
- bulk writes outside the ORM (the warning rules' batch INSERT calls `refresh` itself; generators and imports
  do not) are caught by `rebuild`, the set-based recompute of a date range (nightly job for the last
  REBUILD_DAYS days, `flask elevator-stats rebuild` for any range): a DELETE and one INSERT … SELECT per chunk,
  idempotent.

On PostgreSQL concurrent recomputes of the same pair are serialised with advisory transaction locks
(a shared lock per day and an exclusive one per (unit, day); `rebuild` takes the day's lock exclusively)."""
from __future__ import annotations

import logging
from datetime import date, timedelta

from sqlalchemy import and_, case, delete, event, func, insert, inspect, literal, select, text, union_all
from sqlalchemy.orm import Session

from ..core.clock import local_day_start, to_local
from ..elevators.models import WorkOrder
from ..extensions import db
from .models import TYPE_COLUMNS, WARNING_COLUMNS, ElevatorStatsDay, ElevatorWarning

log = logging.getLogger(__name__)

DONE = ("finished", "submitted", "returned", "quality", "confirmed", "archived")   # a visit that took place
REBUILD_DAYS = 40            # the nightly recompute: the last days (late records are caught by the ORM hook)
DAY_LOCK = 0x53544154000000  # bigint advisory-lock space of the days ("STAT" << 24)
ORDER_FIELDS = ("kind", "status", "checkin_at", "checkout_at", "region_code", "maintenance_org_id", "maintainer_id",
                "maint_type")
WARNING_FIELDS = ("status", "opened_at", "region_code", "maintenance_org_id", "maintainer_id", "rule")


# ---------------------------------------------------------------- the SELECT that computes the rows

def _local_day(column, dialect: str):
    if dialect == "postgresql":
        return func.date(func.timezone("Asia/Shanghai", column))
    return func.date(column, "+8 hours")          # SQLite stores UTC; Guangxi has no daylight saving


def _seconds(later, earlier, dialect: str):
    if dialect == "postgresql":
        return func.extract("epoch", later - earlier)
    return func.round((func.julianday(later) - func.julianday(earlier)) * 86400.0, 3)


SUM_COLUMNS = ["records", "timed", "seconds", *TYPE_COLUMNS.values(), "warnings", "warnings_closed",
               *WARNING_COLUMNS.values()]


def _computed(dialect: str, day_from: date, day_to: date, org_ids=None):
    """SELECT (day, region_code, maintenance_org_id, maintainer_id, *SUM_COLUMNS) from the raw rows, grouped."""
    start, end = local_day_start(day_from), local_day_start(day_to + timedelta(days=1))
    zero = literal(0)

    def cols(values: dict):
        return [values.get(name, zero).label(name) for name in SUM_COLUMNS]
    w = WorkOrder
    timed = w.checkout_at.is_not(None)
    orders = select(_local_day(w.checkin_at, dialect).label("day"), w.region_code.label("region_code"),
                    w.maintenance_org_id.label("maintenance_org_id"), w.maintainer_id.label("maintainer_id"),
                    *cols({"records": literal(1), "timed": case((timed, 1), else_=0),
                           "seconds": func.coalesce(_seconds(w.checkout_at, w.checkin_at, dialect), 0),
                           **{col: case((w.maint_type == t, 1), else_=0) for t, col in TYPE_COLUMNS.items()}})
                    ).where(w.kind == "maintenance", w.status.in_(DONE), w.checkin_at >= start, w.checkin_at < end)
    e = ElevatorWarning
    warns = select(_local_day(e.opened_at, dialect).label("day"), e.region_code.label("region_code"),
                   e.maintenance_org_id.label("maintenance_org_id"),
                   func.coalesce(e.maintainer_id, 0).label("maintainer_id"),
                   *cols({"warnings": literal(1), "warnings_closed": case((e.status == "closed", 1), else_=0),
                          **{col: case((e.rule == r, 1), else_=0) for r, col in WARNING_COLUMNS.items()}})
                   ).where(e.opened_at >= start, e.opened_at < end)
    if org_ids is not None:
        orders = orders.where(w.maintenance_org_id.in_(org_ids))
        warns = warns.where(e.maintenance_org_id.in_(org_ids))
    raw = union_all(orders, warns).subquery()
    keys = [raw.c.day, raw.c.region_code, raw.c.maintenance_org_id, raw.c.maintainer_id]
    return select(*keys, *[func.sum(raw.c[name]) for name in SUM_COLUMNS]).group_by(*keys)


def _replace(conn, day_from: date, day_to: date, org_ids=None) -> int:
    """Delete the summary rows of the days (and units) and insert them again from the raw rows."""
    t = ElevatorStatsDay.__table__
    gone = delete(t).where(t.c.day >= day_from, t.c.day <= day_to)
    if org_ids is not None:
        gone = gone.where(t.c.maintenance_org_id.in_(org_ids))
    conn.execute(gone)
    names = ["day", "region_code", "maintenance_org_id", "maintainer_id", *SUM_COLUMNS]
    result = conn.execute(insert(t).from_select(names, _computed(conn.dialect.name, day_from, day_to, org_ids)))
    return result.rowcount or 0


# ---------------------------------------------------------------- incremental: (day, unit) pairs

def refresh(conn, pairs) -> None:
    """Recompute the summary of the given (local day, maintenance unit) pairs (in the caller's transaction)."""
    pairs = sorted(set(pairs))
    if not pairs:
        return
    pg = conn.dialect.name == "postgresql"
    by_day: dict[date, list[int]] = {}
    for day, org in pairs:
        by_day.setdefault(day, []).append(org)
    for day, orgs in by_day.items():
        if pg:
            conn.execute(text("SELECT pg_advisory_xact_lock_shared(:k)"), {"k": DAY_LOCK + day.toordinal()})
            for org in orgs:
                conn.execute(text("SELECT pg_advisory_xact_lock(:o, :d)"), {"o": org, "d": day.toordinal()})
        _replace(conn, day, day, orgs)


def _day(value) -> date | None:
    return to_local(value).date() if value is not None else None


def _states(obj, fields) -> tuple[dict, dict]:
    """(old, new) values of `fields` of a flushed object (old = before this flush)."""
    state = inspect(obj)
    old, new = {}, {}
    for name in fields:
        hist = state.attrs[name].history
        new[name] = state.dict.get(name) if state.deleted or state.was_deleted else getattr(obj, name)
        old[name] = hist.deleted[0] if hist.deleted else (hist.unchanged[0] if hist.unchanged else new[name])
    return old, new


def _order_pair(values: dict):
    if values.get("kind") == "maintenance" and values.get("status") in DONE and values.get("checkin_at") is not None:
        return _day(values["checkin_at"]), values["maintenance_org_id"]
    return None


def _warning_pair(values: dict):
    if values.get("opened_at") is not None and values.get("maintenance_org_id") is not None:
        return _day(values["opened_at"]), values["maintenance_org_id"]
    return None


def _pairs_of(session: Session) -> set:
    pairs = set()
    for obj, is_new, is_deleted in ([(o, True, False) for o in session.new]
                                    + [(o, False, False) for o in session.dirty]
                                    + [(o, False, True) for o in session.deleted]):
        if isinstance(obj, WorkOrder):
            fields, pair_of = ORDER_FIELDS, _order_pair
        elif isinstance(obj, ElevatorWarning):
            fields, pair_of = WARNING_FIELDS, _warning_pair
        else:
            continue
        old, new = _states(obj, fields)
        if not is_new and not is_deleted and old == new:
            continue
        if not is_new:
            pairs.add(pair_of(old))
        if not is_deleted:
            pairs.add(pair_of(new))
    pairs.discard(None)
    return pairs


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, _context) -> None:
    pairs = _pairs_of(session)
    if pairs:
        refresh(session.connection(), pairs)


def refresh_warnings(rows) -> None:
    """After a batch INSERT of warnings (rows with maintenance_org_id; opened now)."""
    from ..core.clock import today_local
    refresh(db.session.connection(), {(today_local(), r.maintenance_org_id) for r in rows})


# ---------------------------------------------------------------- rebuild a range

def rebuild(day_from: date, day_to: date, *, chunk_days: int = 31, progress=None) -> dict:
    """Recompute every summary row of the days (set-based, one transaction per chunk of days; idempotent).
    Returns {"days": n, "rows": rows written}."""
    rows, day = 0, day_from
    while day <= day_to:
        last = min(day_to, day + timedelta(days=chunk_days - 1))
        conn = db.session.connection()
        if conn.dialect.name == "postgresql":
            for n in range((last - day).days + 1):
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"),
                             {"k": DAY_LOCK + (day + timedelta(days=n)).toordinal()})
        rows += _replace(conn, day, last)
        db.session.commit()
        if progress:
            progress(day, last, rows)
        day = last + timedelta(days=1)
    return {"days": (day_to - day_from).days + 1, "rows": rows}


def rebuild_recent(today: date | None = None) -> dict:
    from ..core.clock import today_local
    today = today or today_local()
    return rebuild(today - timedelta(days=REBUILD_DAYS - 1), today)


# ---------------------------------------------------------------- reading

def summed(day_from: date, day_to: date, group, *where) -> list:
    """SELECT *group, sum(records), sum(seconds), sum(timed), sum(warnings) over the days, grouped."""
    s = ElevatorStatsDay
    return db.session.execute(select(*group, func.sum(s.records), func.sum(s.seconds), func.sum(s.timed),
                                     func.sum(s.warnings))
                              .where(and_(s.day >= day_from, s.day <= day_to, *where)).group_by(*group)).all()


def rule_sums(day_from: date, day_to: date, *where) -> dict:
    """Warning rule -> warnings raised over the days."""
    s = ElevatorStatsDay
    row = db.session.execute(select(*[func.sum(getattr(s, col)) for col in WARNING_COLUMNS.values()])
                             .where(s.day >= day_from, s.day <= day_to, *where)).one()
    return {rule: int(v or 0) for rule, v in zip(WARNING_COLUMNS, row)}
