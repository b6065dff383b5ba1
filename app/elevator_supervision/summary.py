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

from sqlalchemy import (Integer, and_, case, delete, event, func, insert, inspect, literal, literal_column, select, text,
                        union_all)
from sqlalchemy.orm import Session

from ..core.clock import local_day_start, to_local
from ..elevators.models import WorkOrder
from ..extensions import db
from .models import TYPE_COLUMNS, WARNING_COLUMNS, ElevatorStatsDay, ElevatorStatsMonth, ElevatorWarning

log = logging.getLogger(__name__)

DONE = ("finished", "submitted", "returned", "quality", "confirmed", "archived")   # a visit that took place
REBUILD_DAYS = 40            # the nightly recompute: the last days (late records are caught by the ORM hook)
DAY_LOCK = 0x53544154000000  # bigint advisory-lock space of the days ("STAT" << 24)
UNIT = -1                    # maintainer_id of a daily row holding the unit's total (region tables read only these)
# …compared as a constant in the SQL: the partial index ix_elevator_stats_day_unit (WHERE maintainer_id = -1)
# then serves generic plans too (app/core/columns.py)
UNIT_ROWS = literal_column(str(UNIT), Integer())
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


def _replace(conn, day_from: date, day_to: date, org_ids=None) -> None:
    """Delete the summary rows of the days (and units) and insert them again from the raw rows."""
    t = ElevatorStatsDay.__table__
    gone = delete(t).where(t.c.day >= day_from, t.c.day <= day_to)
    if org_ids is not None:
        gone = gone.where(t.c.maintenance_org_id.in_(org_ids))
    conn.execute(gone)
    names = ["day", "region_code", "maintenance_org_id", "maintainer_id", *SUM_COLUMNS]
    conn.execute(insert(t).from_select(names, _computed(conn.dialect.name, day_from, day_to, org_ids)))
    keys = [t.c.day, t.c.region_code, t.c.maintenance_org_id]      # the unit's total of each day: maintainer UNIT
    total = select(*keys, literal(UNIT), *[func.sum(t.c[n]) for n in SUM_COLUMNS]) \
        .where(t.c.day >= day_from, t.c.day <= day_to, t.c.maintainer_id >= 0).group_by(*keys)
    if org_ids is not None:
        total = total.where(t.c.maintenance_org_id.in_(org_ids))
    conn.execute(insert(t).from_select(names, total))


def _month_of(column, dialect: str):
    if dialect == "postgresql":
        return func.date(func.date_trunc("month", column))
    return func.date(column, "start of month")


def _replace_months(conn, day_from: date, day_to: date, org_ids=None) -> None:
    """Recompute the monthly rows of the months holding the days (and units) from the daily rows."""
    first, last = day_from.replace(day=1), _month_end(day_to)
    t, d = ElevatorStatsMonth.__table__, ElevatorStatsDay.__table__
    gone = delete(t).where(t.c.month >= first, t.c.month <= last)
    month = _month_of(d.c.day, conn.dialect.name)
    rows = select(month, d.c.region_code, d.c.maintenance_org_id, *[func.sum(d.c[n]) for n in SUM_COLUMNS]) \
        .where(d.c.day >= first, d.c.day <= last, d.c.maintainer_id == UNIT_ROWS) \
        .group_by(month, d.c.region_code, d.c.maintenance_org_id)
    if org_ids is not None:
        gone = gone.where(t.c.maintenance_org_id.in_(org_ids))
        rows = rows.where(d.c.maintenance_org_id.in_(org_ids))
    conn.execute(gone)
    conn.execute(insert(t).from_select(["month", "region_code", "maintenance_org_id", *SUM_COLUMNS], rows))


def _month_end(day: date) -> date:
    following = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
    return following - timedelta(days=1)


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
        if pg:       # a rebuild of the day waits (and is waited for); one recompute per unit and month at a time
            conn.execute(text("SELECT pg_advisory_xact_lock_shared(:k)"), {"k": DAY_LOCK + day.toordinal()})
            for org in orgs:
                conn.execute(text("SELECT pg_advisory_xact_lock(:o, :m)"),
                             {"o": org, "m": day.replace(day=1).toordinal()})
        _replace(conn, day, day, orgs)
        _replace_months(conn, day, day, orgs)


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


def refresh_orders(_order) -> None:
    """AFTER_SUBMIT for one order: written through the ORM, so the flush above has refreshed its day already."""


def _refresh_orders_many(order_ids: list[int]) -> None:
    """AFTER_SUBMIT for many orders at once (a platform's batch is written with COPY, past the ORM's flush):
    recompute the (local day, unit) pairs they fall on."""
    rows = db.session.execute(select(WorkOrder.kind, WorkOrder.status, WorkOrder.checkin_at,
                                     WorkOrder.maintenance_org_id).where(WorkOrder.id.in_(order_ids))).mappings()
    pairs = {_order_pair(dict(r)) for r in rows}
    pairs.discard(None)
    refresh(db.session.connection(), pairs)


refresh_orders.many = _refresh_orders_many


def refresh_warnings(rows) -> None:
    """After a batch INSERT of warnings (rows with maintenance_org_id; opened now)."""
    from ..core.clock import today_local
    refresh(db.session.connection(), {(today_local(), r.maintenance_org_id) for r in rows})


# ---------------------------------------------------------------- rebuild a range

def rebuild(day_from: date, day_to: date, *, progress=None) -> dict:
    """Recompute every summary row of the days (set-based: per calendar month one DELETE and one INSERT … SELECT
    for the days, the same for the month's rollup; one transaction per month; idempotent).
    Returns {"days": n, "rows": daily rows written}."""
    rows, day = 0, day_from
    while day <= day_to:
        last = min(day_to, _month_end(day))
        conn = db.session.connection()
        if conn.dialect.name == "postgresql":          # the whole month: its rollup is rewritten
            month = day.replace(day=1)
            for n in range((_month_end(day) - month).days + 1):
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"),
                             {"k": DAY_LOCK + (month + timedelta(days=n)).toordinal()})
        _replace(conn, day, last)
        _replace_months(conn, day, last)
        rows += conn.execute(select(func.count()).select_from(ElevatorStatsDay)
                             .where(ElevatorStatsDay.day >= day, ElevatorStatsDay.day <= last)).scalar()
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

def _spans(day_from: date, day_to: date) -> tuple[list[tuple[date, date]], tuple[date, date] | None]:
    """The range as (day spans read from the daily rows, the whole months read from the monthly rows)."""
    first = day_from if day_from.day == 1 else _month_end(day_from) + timedelta(days=1)
    end = day_to if _month_end(day_to) == day_to else day_to.replace(day=1) - timedelta(days=1)
    if first > end:                                   # no whole month inside
        return [(day_from, day_to)], None
    days = [(a, b) for a, b in ((day_from, first - timedelta(days=1)), (end + timedelta(days=1), day_to)) if a <= b]
    return days, (first, end)


def _period_selects(day_from: date, day_to: date, names, cols_of, where_of) -> list:
    days, months = _spans(day_from, day_to)
    d, m = ElevatorStatsDay, ElevatorStatsMonth
    parts = [select(*cols_of(d), *[getattr(d, n).label(n) for n in names])
             .where(d.maintainer_id == UNIT_ROWS, d.day >= a, d.day <= b, *where_of(d)) for a, b in days]
    if months:
        parts.append(select(*cols_of(m), *[getattr(m, n).label(n) for n in names])
                     .where(m.month >= months[0], m.month <= months[1], *where_of(m)))
    return parts


SUMMED = ("records", "seconds", "timed", "warnings")


def summed(day_from: date, day_to: date, group: tuple[str, ...], *where, with_rules: bool = False) -> list:
    """(*group, records, seconds, timed, warnings[, warnings of each rule in WARNING_COLUMNS order]) over the days,
    grouped by the named columns (region_code, maintenance_org_id) — whole months from the monthly rows, the rest
    from the daily unit totals. `where`: functions of the table (day or month model) returning a condition."""
    def cols(t):
        return [getattr(t, g).label(g) for g in group]

    def conds(t):
        return [w(t) for w in where]
    names = [*SUMMED, *(WARNING_COLUMNS.values() if with_rules else ())]
    parts = _period_selects(day_from, day_to, names, cols, conds)
    raw = (union_all(*parts) if len(parts) > 1 else parts[0]).subquery()
    keys = [raw.c[g] for g in group]
    return db.session.execute(select(*keys, *[func.sum(raw.c[n]) for n in names]).group_by(*keys)).all()


def summed_by_maintainer(day_from: date, day_to: date, org_id: int, *where) -> list:
    """(maintainer_id, records, seconds, timed, warnings) of one unit over the days (daily rows: the unit's index)."""
    s = ElevatorStatsDay
    return db.session.execute(select(s.maintainer_id, *[func.sum(getattr(s, n)) for n in SUMMED])
                              .where(s.maintenance_org_id == org_id, s.day >= day_from, s.day <= day_to,
                                     s.maintainer_id > 0, *where).group_by(s.maintainer_id)).all()


def rule_sums(day_from: date, day_to: date, *where) -> dict:
    """Warning rule -> warnings raised over the days (`where` as in `summed`)."""
    names = list(WARNING_COLUMNS.values())
    parts = _period_selects(day_from, day_to, names, lambda t: [], lambda t: [w(t) for w in where])
    raw = (union_all(*parts) if len(parts) > 1 else parts[0]).subquery()
    row = db.session.execute(select(*[func.sum(raw.c[n]) for n in names])).one()
    return {rule: int(v or 0) for rule, v in zip(WARNING_COLUMNS, row)}
