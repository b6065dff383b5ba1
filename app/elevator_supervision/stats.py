"""Supervision views over app/elevators' data: 维保计划管理 (§4.6.12: planned visits past their date without
a record, by region, by unit, then the elevators), statistics (§4.6.2.10, §4.6.10: by region, maintenance
unit, maintainer and elevator — elevators, records, average duration, overdue, warnings) and the
full-cycle trace of one elevator (§4.6.11: one row per contract, its visits).

Each table is a few grouped queries over the region prefix and date range (never a query per row);
bench/elevator_supervision.py times them at province scale."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import func, or_, select

from ..core.clock import local_day_end, local_day_start, to_local, today_local
from ..core.models import Equipment, Organization, Region, User
from ..core.regions import region_name, region_prefix
from ..core.scope import in_region
from ..elevators.models import ElevatorFacts, MaintenanceContract, MaintenancePlan, WorkOrder
from ..extensions import db
from . import summary
from .models import RULES, ElevatorWarning
from .rules import DONE, seconds_between

MAX_RANGE_DAYS = 1827        # five years: the daily summary keeps any range fast


@dataclass
class StatsFilter:
    region: str
    date_from: date
    date_to: date
    org_id: int | None = None
    q: str | None = None
    min_days: int = 1
    page: int = 1
    per_page: int = 20
    errors: dict = field(default_factory=dict)

    @classmethod
    def from_args(cls, user: User, args) -> "StatsFilter":
        from ..core.params import int_arg, text_arg
        region = (args.get("region") or "").strip()
        if not (len(region) == 6 and region.isdigit() and region.startswith(user.scope_prefix)):
            region = user.region_code
        today = today_local()
        errors = {}
        days = {}
        for name, default in (("date_from", today - timedelta(days=29)), ("date_to", today)):
            raw = args.get(name) or ""
            try:
                days[name] = date.fromisoformat(raw) if raw else default
            except ValueError:
                errors[name] = "日期格式应为 YYYY-MM-DD"
                days[name] = default
        if days["date_from"] > days["date_to"]:
            errors["date_from"] = "开始日期不能晚于结束日期"
            days["date_from"] = days["date_to"]
        if (days["date_to"] - days["date_from"]).days >= MAX_RANGE_DAYS:
            errors["date_from"] = f"统计区间不能超过 {MAX_RANGE_DAYS} 天"
            days["date_from"] = days["date_to"] - timedelta(days=MAX_RANGE_DAYS - 1)
        return cls(region=region, date_from=days["date_from"], date_to=days["date_to"],
                   org_id=int_arg(args, "org_id", 0, 0, 2**31 - 1) or None, q=text_arg(args, "q", 50),
                   min_days=int_arg(args, "min_days", 1, 1, 3650), page=int_arg(args, "page", 1, 1, 100000),
                   per_page=int_arg(args, "per_page", 20, 1, 100), errors=errors)

    @property
    def prefix(self) -> str:
        return region_prefix(self.region)

    def args(self, **override) -> dict:
        values = {"region": self.region, "date_from": self.date_from.isoformat(), "date_to": self.date_to.isoformat(),
                  "org_id": self.org_id, "q": self.q, "min_days": self.min_days if self.min_days > 1 else None,
                  **override}
        return {k: v for k, v in values.items() if v}

    def path(self) -> list[tuple[str, str]]:
        """(code, name) from the province down to the shown region (the breadcrumb)."""
        codes = [self.region[:2] + "0000", self.region[:4] + "00", self.region]
        return [(c, region_name(c)) for c in dict.fromkeys(codes) if len(region_prefix(c)) <= len(self.prefix)]


UNIT_ROLES = ("maintenance_unit", "maintenance_quality")    # see their own unit's statistics page


def unit_filter(user: User, args, org_id: int) -> StatsFilter | None:
    """The filter of a unit's statistics for `user`: a regulator's region, or — the unit's own head or quality
    manager — the whole province (the unit's elevators wherever they are). None: not allowed."""
    if user.is_regulator:
        return StatsFilter.from_args(user, args)
    if user.role in UNIT_ROLES and user.org_id == org_id:
        f = StatsFilter.from_args(user, args)
        f.region = user.region_code[:2] + "0000"
        return f
    return None


def children(region: str) -> list[tuple[str, str]]:
    """The regions directly below (a county: itself)."""
    if len(region_prefix(region)) == 6:
        return [(region, region_name(region))]
    return [(r.code, r.name) for r in db.session.scalars(select(Region).where(Region.parent_code == region)
                                                         .order_by(Region.code))]


# ---------------------------------------------------------------- the figures, grouped by a column

def _visit_where(f: StatsFilter) -> list:
    return [WorkOrder.kind == "maintenance", WorkOrder.status.in_(DONE),
            WorkOrder.checkin_at >= local_day_start(f.date_from), WorkOrder.checkin_at <= local_day_end(f.date_to),
            in_region(WorkOrder.region_code, f.prefix)]


def _used():
    return func.coalesce(seconds_between(WorkOrder.checkout_at, WorkOrder.checkin_at), 0)


def _cols(column) -> tuple:
    return column if isinstance(column, tuple) else (column,)


def _key(row, n: int):
    return tuple(row[:n]) if n > 1 else row[0]


def records_by(f: StatsFilter, column, *extra) -> dict:
    """key -> (records, total seconds of the records with a check-out, records with a check-out). `column`: one
    column or a tuple of columns (the key is then a tuple)."""
    cols = _cols(column)
    rows = db.session.execute(select(*cols, func.count(), func.sum(_used()), func.count(WorkOrder.checkout_at))
                              .where(*_visit_where(f), *extra).group_by(*cols)).all()
    n = len(cols)
    return {_key(r, n): (r[n], float(r[n + 1] or 0), r[n + 2]) for r in rows}


def _counts(rows, n: int) -> dict:
    return {_key(r, n): r[n] for r in rows}


def elevators_by(f: StatsFilter, column, *extra) -> dict:
    cols = _cols(column)
    rows = db.session.execute(select(*cols, func.count()).select_from(ElevatorFacts)
                              .join(Equipment, Equipment.id == ElevatorFacts.equipment_id)
                              .where(in_region(Equipment.region_code, f.prefix), *extra).group_by(*cols)).all()
    return _counts(rows, len(cols))


def overdue_by(f: StatsFilter, column, *extra) -> dict:
    """Elevators with a planned visit before today (not done), by `column`."""
    cols = _cols(column)
    rows = db.session.execute(select(*cols, func.count(func.distinct(MaintenancePlan.equipment_id)))
                              .join(Equipment, Equipment.id == MaintenancePlan.equipment_id)
                              .where(MaintenancePlan.status == "planned", MaintenancePlan.due_on < today_local(),
                                     in_region(Equipment.region_code, f.prefix), *extra).group_by(*cols)).all()
    return _counts(rows, len(cols))


def warnings_by(f: StatsFilter, column, *extra) -> dict:
    cols = _cols(column)
    rows = db.session.execute(select(*cols, func.count()).where(
        in_region(ElevatorWarning.region_code, f.prefix), ElevatorWarning.opened_at >= local_day_start(f.date_from),
        ElevatorWarning.opened_at <= local_day_end(f.date_to), *extra).group_by(*cols)).all()
    return _counts(rows, len(cols))


def _summary_dicts(rows, n: int) -> tuple[dict, dict]:
    records = {_key(r, n): (int(r[n]), float(r[n + 1] or 0), int(r[n + 2])) for r in rows if r[n]}
    warnings = {_key(r, n): int(r[n + 3]) for r in rows if r[n + 3]}
    return records, warnings


def summary_by_unit(f: StatsFilter) -> tuple[dict, dict]:
    """The figures of the range by (region code, maintenance unit) from the summary tables: ((region, unit) ->
    (records, seconds, timed) as `records_by`, (region, unit) -> warnings as `warnings_by`), non-zero keys only."""
    rows = summary.summed(f.date_from, f.date_to, ("region_code", "maintenance_org_id"),
                          lambda t: in_region(t.region_code, f.prefix))
    return _summary_dicts(rows, 2)


def summary_by_maintainer(f: StatsFilter, org_id: int) -> tuple[dict, dict]:
    """The same by maintainer of one unit, in the region."""
    from .models import ElevatorStatsDay
    return _summary_dicts(summary.summed_by_maintainer(f.date_from, f.date_to, org_id,
                                                       in_region(ElevatorStatsDay.region_code, f.prefix)), 1)


def _row(key, label, elevators, rec, overdue, warnings, **more) -> dict:
    n, seconds, timed = rec if rec else (0, 0.0, 0)
    return {"key": key, "label": label, "elevators": elevators or 0, "records": n,
            "avg_minutes": round(seconds / timed / 60, 1) if timed else None, "overdue": overdue,
            "warnings": warnings or 0, **more}


ELEVATOR_COUNT_SECONDS = 300.0
_ELEVATOR_COUNTS: dict[str, tuple[float, dict]] = {}


def elevator_counts(f: StatsFilter) -> dict:
    """Elevators by (region code, maintenance unit) under the region: the only figure of the overview that reads
    every elevator, and one that changes slowly — kept for five minutes per region (per process)."""
    import time
    now = time.monotonic()
    cached = _ELEVATOR_COUNTS.get(f.prefix)
    if cached is None or now - cached[0] > ELEVATOR_COUNT_SECONDS:
        cached = (now, elevators_by(f, (Equipment.region_code, Equipment.maintenance_org_id)))
        _ELEVATOR_COUNTS[f.prefix] = cached
    return cached[1]


class Overview:
    """The figures of a region by (region code, maintenance unit), each read once (one grouped query per figure);
    the region table and the unit table both fold them."""

    def __init__(self, f: StatsFilter):
        self.f = f
        rows = summary.summed(f.date_from, f.date_to, ("region_code", "maintenance_org_id"),
                              lambda t: in_region(t.region_code, f.prefix), with_rules=True)
        self.records, self.warns = _summary_dicts(rows, 2)
        self.rules = {rule: sum(int(r[6 + n] or 0) for r in rows) for n, rule in enumerate(summary.WARNING_COLUMNS)}
        self.lifts = elevator_counts(f)
        self.late = overdue_by(f, (Equipment.region_code, MaintenancePlan.maintenance_org_id))

    @staticmethod
    def _sum(d: dict, pick, width=None) -> dict:
        out: dict = defaultdict(lambda: None)
        for key, value in d.items():
            k = pick(key)
            if isinstance(value, tuple):
                prev = out[k] or (0, 0.0, 0)
                out[k] = tuple(p + (v or 0) for p, v in zip(prev, value))
            else:
                out[k] = (out[k] or 0) + (value or 0)
        return out

    def rule_counts(self) -> list[tuple[str, int]]:
        """(rule label, warnings raised in the range) of the region, as `rule_counts`."""
        return [(label, self.rules[k]) for k, label in RULES.items() if self.rules.get(k)]

    def regions(self) -> list[dict]:
        """One row per child region of the shown region (a county: the county itself)."""
        width = {2: 4, 4: 6, 6: 6}[len(self.f.prefix)]

        def child(key):
            return key[0][:width] + "0" * (6 - width)
        recs, lifts = self._sum(self.records, child), self._sum(self.lifts, child)
        late, warns = self._sum(self.late, child), self._sum(self.warns, child)
        return [_row(code, name, lifts[code], recs[code], late[code] or 0, warns[code])
                for code, name in children(self.f.region)]

    def units(self) -> list[dict]:
        """One row per maintenance unit with elevators or records in the region, most elevators first."""
        def unit(key):
            return key[1]
        recs, lifts = self._sum(self.records, unit), self._sum(self.lifts, unit)
        late, warns = self._sum(self.late, unit), self._sum(self.warns, unit)
        ids = {i for i in set(recs) | set(lifts) if i is not None}
        names = dict(db.session.execute(select(Organization.id, Organization.name)
                                        .where(Organization.id.in_(list(ids)))).all()) if ids else {}
        rows = [_row(i, names.get(i, str(i)), lifts[i], recs[i], late[i] or 0, warns[i]) for i in ids]
        return sorted(rows, key=lambda r: (-r["elevators"], -r["records"], r["label"]))


def region_rows(f: StatsFilter) -> list[dict]:
    return Overview(f).regions()


def unit_rows(f: StatsFilter) -> list[dict]:
    return Overview(f).units()


def maintainer_rows(f: StatsFilter, org_id: int) -> list[dict]:
    """One row per maintainer of the unit with records in the range (overdue belongs to the unit's plans)."""
    unit = [WorkOrder.maintenance_org_id == org_id]
    recs, warns = summary_by_maintainer(f, org_id)
    # distinct elevators do not add up over days: read from the unit's records (index by unit and date)
    lifts = dict(db.session.execute(select(WorkOrder.maintainer_id, func.count(func.distinct(WorkOrder.equipment_id)))
                                    .where(*_visit_where(f), *unit).group_by(WorkOrder.maintainer_id)).all())
    people = {u.id: u.display_name for u in db.session.scalars(
        select(User).where(or_(User.id.in_(list(recs)), User.org_id == org_id), User.role == "elevator_maintainer"))}
    rows = [_row(i, name, lifts.get(i), recs.get(i), None, warns.get(i)) for i, name in people.items()]
    return sorted(rows, key=lambda r: (-r["records"], r["label"]))


def elevator_rows(f: StatsFilter, org_id: int) -> tuple[list[dict], int]:
    """The unit's elevators in the region (a page), each with its figures over the range."""
    base = (select(Equipment.id, Equipment.code, Equipment.name, Organization.name)
            .join(ElevatorFacts, ElevatorFacts.equipment_id == Equipment.id)
            .join(Organization, Organization.id == Equipment.use_org_id)
            .where(Equipment.maintenance_org_id == org_id, in_region(Equipment.region_code, f.prefix)))
    if f.q:
        base = base.where(or_(Equipment.code.like(f"%{f.q}%"), Equipment.name.like(f"%{f.q}%")))
    total = db.session.scalar(select(func.count()).select_from(base.subquery()))
    page = db.session.execute(base.order_by(Equipment.code).limit(f.per_page).offset((f.page - 1) * f.per_page)).all()
    ids = [r[0] for r in page]
    if not ids:
        return [], total
    only = [WorkOrder.equipment_id.in_(ids)]
    recs = records_by(f, WorkOrder.equipment_id, *only)
    last = dict(db.session.execute(select(WorkOrder.equipment_id, func.max(WorkOrder.checkin_at))
                                   .where(WorkOrder.equipment_id.in_(ids), WorkOrder.kind == "maintenance",
                                          WorkOrder.status.in_(DONE)).group_by(WorkOrder.equipment_id)).all())
    late = overdue_by(f, MaintenancePlan.equipment_id, MaintenancePlan.equipment_id.in_(ids))
    warns = warnings_by(f, ElevatorWarning.equipment_id, ElevatorWarning.equipment_id.in_(ids))
    rows = [_row(i, f"{name}（{code}）", 1, recs.get(i), late.get(i, 0), warns.get(i), code=code, name=name,
                 use_org=use_org, last_visit=to_local(last[i]).date().isoformat() if last.get(i) else None)
            for i, code, name, use_org in page]
    return rows, total


def rule_counts(f: StatsFilter, org_id: int | None = None) -> list[tuple[str, int]]:
    """(rule label, warnings raised in the range) of the region (and unit), from the daily summary."""
    extra = [lambda t: t.maintenance_org_id == org_id] if org_id else []
    counts = summary.rule_sums(f.date_from, f.date_to, lambda t: in_region(t.region_code, f.prefix), *extra)
    return [(label, counts[k]) for k, label in RULES.items() if counts.get(k)]


def totals(rows: list[dict]) -> dict:
    timed = [(r["avg_minutes"], r["records"]) for r in rows if r["avg_minutes"] is not None]
    weight = sum(n for _a, n in timed)
    return {"elevators": sum(r["elevators"] for r in rows), "records": sum(r["records"] for r in rows),
            "avg_minutes": round(sum(a * n for a, n in timed) / weight, 1) if weight else None,
            "overdue": sum(r["overdue"] or 0 for r in rows), "warnings": sum(r["warnings"] for r in rows)}


# ---------------------------------------------------------------- 维保计划管理 (§4.6.12)

def _late_plans(f: StatsFilter, today: date):
    cut = today - timedelta(days=f.min_days - 1)      # min_days=1: due before today
    conds = [MaintenancePlan.status == "planned", MaintenancePlan.due_on < cut,
             in_region(Equipment.region_code, f.prefix)]
    if f.org_id:
        conds.append(MaintenancePlan.maintenance_org_id == f.org_id)
    return conds


@dataclass(frozen=True)
class Late:
    eid: int
    region_code: str
    org: int
    oldest: date
    plans: int


def late_elevators(f: StatsFilter, with_q: bool = False) -> list[Late]:
    """Every elevator of the region with a late plan (one grouped query, read once per page: the region
    summary, the unit summary and the elevator list all fold it), oldest first."""
    today = today_local()
    stmt = (select(MaintenancePlan.equipment_id, Equipment.region_code, func.min(MaintenancePlan.maintenance_org_id),
                   func.min(MaintenancePlan.due_on), func.count())
            .join(Equipment, Equipment.id == MaintenancePlan.equipment_id)
            .where(*_late_plans(f, today)).group_by(MaintenancePlan.equipment_id, Equipment.region_code))
    if with_q and f.q:
        stmt = stmt.where(or_(Equipment.code.like(f"%{f.q}%"), Equipment.name.like(f"%{f.q}%")))
    rows = [Late(*r) for r in db.session.execute(stmt)]
    return sorted(rows, key=lambda r: (r.oldest, r.eid))


def _summary(key, label, rows: list[Late], today: date) -> dict:
    oldest = min((r.oldest for r in rows), default=None)
    return {"key": key, "label": label, "elevators": len(rows), "plans": sum(r.plans for r in rows),
            "oldest": oldest.isoformat() if oldest else None, "max_days": (today - oldest).days if oldest else None}


def overdue_regions(f: StatsFilter, late: list[Late] | None = None) -> list[dict]:
    today = today_local()
    width = {2: 4, 4: 6, 6: 6}[len(f.prefix)]
    grouped = defaultdict(list)
    for r in late if late is not None else late_elevators(f):
        grouped[r.region_code[:width] + "0" * (6 - width)].append(r)
    return [_summary(code, name, grouped[code], today) for code, name in children(f.region)]


def overdue_units(f: StatsFilter, late: list[Late] | None = None) -> list[dict]:
    today = today_local()
    grouped = defaultdict(list)
    for r in late if late is not None else late_elevators(f):
        grouped[r.org].append(r)
    names = dict(db.session.execute(select(Organization.id, Organization.name)
                                    .where(Organization.id.in_(list(grouped)))).all()) if grouped else {}
    out = [_summary(org, names.get(org, str(org)), rows, today) for org, rows in grouped.items()]
    return sorted(out, key=lambda r: (-r["elevators"], r["label"]))


def overdue_elevators(f: StatsFilter, late: list[Late] | None = None) -> tuple[list[dict], int]:
    """One row per elevator with a late plan (a page): its oldest late plan, how many, the last visit.
    `late`: the rows already read for this filter (the keyword applied)."""
    rows = late if late is not None else late_elevators(f, with_q=True)
    start = (f.page - 1) * f.per_page
    return _elevator_details(rows[start:start + f.per_page], today_local()), len(rows)


def _elevator_details(page, today: date) -> list[dict]:
    ids = [r.eid for r in page]
    if not ids:
        return []
    lifts = {e.id: e for e in db.session.scalars(select(Equipment).where(Equipment.id.in_(ids)))}
    orgs = dict(db.session.execute(select(Organization.id, Organization.name).where(Organization.id.in_(
        {r.org for r in page} | {e.use_org_id for e in lifts.values()}))).all())
    last = dict(db.session.execute(select(WorkOrder.equipment_id, func.max(WorkOrder.checkin_at))
                                   .where(WorkOrder.equipment_id.in_(ids), WorkOrder.kind == "maintenance",
                                          WorkOrder.status.in_(DONE)).group_by(WorkOrder.equipment_id)).all())
    rows = []
    for r in page:
        e = lifts[r.eid]
        rows.append({"equipment_id": e.id, "code": e.code, "name": e.name, "region_code": e.region_code,
                     "region": region_name(e.region_code), "use_org": orgs.get(e.use_org_id, ""),
                     "maintenance_org_id": r.org, "maintenance_org": orgs.get(r.org, ""),
                     "oldest_due": r.oldest.isoformat(), "days": (today - r.oldest).days, "plans": r.plans,
                     "last_visit": to_local(last[e.id]).date().isoformat() if last.get(e.id) else None})
    return rows


# ---------------------------------------------------------------- full-cycle trace (§4.6.11)

def trace(equipment_id: int) -> list[dict]:
    """One entry per maintenance contract of the elevator (newest first): unit, period, visits, people,
    plans done / late; each with its visits (the unit's maintenance orders checked in during the contract)."""
    from sqlalchemy.orm import joinedload
    contracts = list(db.session.scalars(select(MaintenanceContract).options(joinedload(MaintenanceContract.maintenance_org))
                                        .where(MaintenanceContract.equipment_id == equipment_id)
                                        .order_by(MaintenanceContract.starts_on.desc(), MaintenanceContract.id.desc())))
    orders = list(db.session.scalars(select(WorkOrder).options(joinedload(WorkOrder.maintainer), joinedload(WorkOrder.coworker))
                                     .where(WorkOrder.equipment_id == equipment_id, WorkOrder.kind == "maintenance")
                                     .order_by(WorkOrder.checkin_at)))
    warned = dict(db.session.execute(select(ElevatorWarning.work_order_id, func.count())
                                     .where(ElevatorWarning.equipment_id == equipment_id,
                                            ElevatorWarning.work_order_id.is_not(None))
                                     .group_by(ElevatorWarning.work_order_id)).all())
    plans = defaultdict(lambda: {"done": 0, "planned": 0, "late": 0})
    today = today_local()
    for cid, status, due in db.session.execute(select(MaintenancePlan.contract_id, MaintenancePlan.status,
                                                      MaintenancePlan.due_on)
                                               .where(MaintenancePlan.equipment_id == equipment_id)):
        plans[cid]["done" if status == "done" else "planned"] += 1
        if status == "planned" and due < today:
            plans[cid]["late"] += 1
    out, covered = [], set()
    for c in contracts:
        visits = [o for o in orders if o.maintenance_org_id == c.maintenance_org_id
                  and c.starts_on <= to_local(o.checkin_at).date() <= c.ends_on]
        covered.update(o.id for o in visits)
        out.append(_entry(c, visits, warned, plans[c.id], c.starts_on <= today <= c.ends_on))
    outside = [o for o in orders if o.id not in covered]
    if outside:        # visits no contract covers (a unit without a recorded contract): shown, not hidden
        out.append(_entry(None, outside, warned, {"done": 0, "planned": 0, "late": 0}, False))
    return out


def _entry(contract, visits: list[WorkOrder], warned: dict, plans: dict, current: bool) -> dict:
    people = list(dict.fromkeys([o.maintainer.display_name for o in visits]
                                + [o.coworker.display_name for o in visits if o.coworker]))
    return {"contract": contract, "visits": [_visit(o, warned.get(o.id, 0)) for o in reversed(visits)],
            "count": len(visits), "people": people, "plans": plans, "current": current,
            "units": list(dict.fromkeys(o.maintenance_org.name for o in visits))}


def _visit(o: WorkOrder, warnings: int) -> dict:
    minutes = None
    if o.checkout_at is not None:
        minutes = round((to_local(o.checkout_at) - to_local(o.checkin_at)).total_seconds() / 60, 1)
    return {"order": o, "minutes": minutes, "warnings": warnings}


def trace_json(entries: list[dict]) -> list[dict]:
    from ..core.clock import local_iso
    def contract(c, e):
        if c is None:
            return {"contract_id": None, "contract_no": None, "maintenance_org_id": None,
                    "maintenance_org": "、".join(e["units"]), "starts_on": None, "ends_on": None}
        return {"contract_id": c.id, "contract_no": c.contract_no, "maintenance_org_id": c.maintenance_org_id,
                "maintenance_org": c.maintenance_org.name, "starts_on": c.starts_on.isoformat(),
                "ends_on": c.ends_on.isoformat()}
    return [{**contract(e["contract"], e), "current": e["current"], "visit_count": e["count"], "people": e["people"], "plans": e["plans"],
             "visits": [{"work_order_id": v["order"].id, "order_no": v["order"].order_no,
                         "maint_type": v["order"].maint_type, "maint_type_label": v["order"].maint_type_label,
                         "maintainer": v["order"].maintainer.display_name,
                         "coworker": v["order"].coworker.display_name if v["order"].coworker else None,
                         "checkin_at": local_iso(v["order"].checkin_at), "checkout_at": local_iso(v["order"].checkout_at),
                         "minutes": v["minutes"], "status": v["order"].status, "status_label": v["order"].status_label,
                         "warnings": v["warnings"]} for v in e["visits"]]}
            for e in entries]
