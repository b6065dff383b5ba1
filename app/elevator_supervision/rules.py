"""Maintenance warnings (§4.6.2.9, §4.6.9). Thresholds and levels come from the DMN table
rules/elevator_warning.dmn (decision `elevator_warning`, inputs `rule` and `maint_type`, outputs `threshold`
and `level`; level `none` switches a rule off); the process admin edits it in the browser.

Every rule is one set-based query over a set of work orders (`orders`: a condition on WorkOrder): the same
query runs for one order when it is submitted (`check_order`, registered on app/elevators' AFTER_SUBMIT)
and for the last days' orders in the nightly job (`nightly`). Where the exact test needs Python (a
distance on the sphere, a certificate valid on the local day), SQL selects a small superset of candidates
and Python decides on those only. 逾期未保 runs nightly over all elevators under contract, one query.

Each warning has a `cause_key` (rule + order, maintainer + day/month, elevator + last visit): a cause
raises one row only, open or closed, so re-running is harmless and a closed warning stays closed."""
from __future__ import annotations

import json
import logging
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import and_, case, func, or_, select

from ..core import geo
from ..core.clock import local_day_end, local_day_start, on_local_days, to_local, today_local, utcnow
from ..core.params import contains
from ..core.models import Equipment, Organization, User
from ..elevators import services as elevator_services
from ..elevators.models import (MAINT_TYPES, MaintenanceContract, MaintenanceItem, WorkOrder, WorkOrderItem,
                                WorkPhoto)
from ..engine import decisions
from ..errors import Forbidden, NotFound, ValidationFailed
from ..extensions import db
from . import summary
from .models import RULES, ElevatorWarning
from .summary import DONE

log = logging.getLogger(__name__)

DECISION = "elevator_warning"
NIGHTLY_DAYS = 8          # orders checked in during the last 8 days (offline records may arrive 7 days late)
CLOSERS = ("maintenance_unit", "maintenance_quality")   # besides regulators in scope
MAINT_SIDE = ("maintenance_unit", "maintenance_quality", "elevator_maintainer")
METRES_PER_DEGREE = 111_320.0


@dataclass(frozen=True)
class Threshold:
    value: float
    level: str

    @property
    def enabled(self) -> bool:
        return self.level not in ("", "none", None)


_CACHE: dict[tuple, Threshold] = {}


def threshold(rule: str, maint_type: str = "") -> Threshold:
    """The DMN row for a rule (and maintenance type); cached per deployed version of the table."""
    key = (decisions.version_key(DECISION), rule, maint_type)
    found = _CACHE.get(key)
    if found is None:
        out = decisions.evaluate(DECISION, rule=rule, maint_type=maint_type or "")
        if out.get("threshold") is None:
            found = Threshold(0, "none")
        else:
            found = Threshold(float(out["threshold"]), str(out.get("level") or "none"))
        if len(_CACHE) > 500:
            _CACHE.clear()
        _CACHE[key] = found
    return found


def thresholds() -> list[dict]:
    """Every rule's figures in use (the warnings page shows them)."""
    rows = []
    for rule, label in RULES.items():
        if rule == "short_duration":
            for mt, mt_label in MAINT_TYPES.items():
                t = threshold(rule, mt)
                rows.append({"rule": rule, "label": f"{label}（{mt_label}）", "threshold": t.value, "level": t.level})
        else:
            t = threshold(rule)
            rows.append({"rule": rule, "label": label, "threshold": t.value, "level": t.level})
    return rows


# ---------------------------------------------------------------- helpers

def seconds_between(later, earlier):
    """SQL: seconds from `earlier` to `later` (PostgreSQL epoch arithmetic; SQLite julian days)."""
    if db.engine.dialect.name == "postgresql":
        return func.extract("epoch", later - earlier)
    return func.round((func.julianday(later) - func.julianday(earlier)) * 86400.0, 3)   # julian-day float noise


def _iso(value) -> str | None:
    local = to_local(value)
    return local.strftime("%Y-%m-%d %H:%M:%S") if local else None


@dataclass
class Draft:
    rule: str
    cause_key: str
    level: str
    region_code: str
    maintenance_org_id: int
    summary: str
    evidence: dict
    equipment_id: int | None = None
    work_order_id: int | None = None
    maintainer_id: int | None = None


def _order_draft(rule: str, t: Threshold, o, summary: str, figures: dict, suffix: str = "") -> Draft:
    """A warning about one work order `o` (a row with id, order_no, equipment_id, …)."""
    return Draft(rule=rule, cause_key=f"{rule}:{o.id}{suffix}", level=t.level, region_code=o.region_code,
                 maintenance_org_id=o.maintenance_org_id, equipment_id=o.equipment_id, work_order_id=o.id,
                 maintainer_id=o.maintainer_id, summary=summary[:300],
                 evidence={"order_no": o.order_no, "checkin_at": _iso(o.checkin_at),
                           "checkout_at": _iso(o.checkout_at), "threshold": t.value, **figures})


def _order_columns():
    return (WorkOrder.id, WorkOrder.order_no, WorkOrder.equipment_id, WorkOrder.region_code,
            WorkOrder.maintenance_org_id, WorkOrder.maintainer_id, WorkOrder.coworker_id, WorkOrder.maint_type,
            WorkOrder.checkin_at, WorkOrder.checkout_at, WorkOrder.checkin_distance, WorkOrder.checkout_distance)


def _visits(orders):
    """The maintenance visits among `orders` that took place (checked out at least)."""
    return and_(orders, WorkOrder.kind == "maintenance", WorkOrder.status.in_(DONE))


def _on_site(orders):
    """The visits whose positions were taken on site: a back-filled paper order (工单补录) carries the
    elevator's registered position with distance 0, not a measured one."""
    from ..elevator_exemptions.services import BACKFILL_PROOF
    return and_(_visits(orders), WorkOrder.checkin_proof != BACKFILL_PROOF)


# ---------------------------------------------------------------- rules over a set of orders

def short_duration(orders) -> list[Draft]:
    limits = {mt: threshold("short_duration", mt) for mt in MAINT_TYPES}
    default = threshold("short_duration", "")
    minutes = case({mt: t.value for mt, t in limits.items()}, value=WorkOrder.maint_type, else_=default.value)
    used = seconds_between(WorkOrder.checkout_at, WorkOrder.checkin_at)
    rows = db.session.execute(select(*_order_columns(), used.label("used"))
                              .where(_visits(orders), WorkOrder.checkout_at.is_not(None), used < minutes * 60)).all()
    drafts = []
    for o in rows:
        t = limits.get(o.maint_type, default)
        if not t.enabled:
            continue
        used_min = round(float(o.used) / 60, 1)
        drafts.append(_order_draft("short_duration", t, o,
                                   f"{MAINT_TYPES.get(o.maint_type, '维保')}用时 {used_min} 分钟，少于 {t.value:g} 分钟",
                                   {"minutes": used_min, "maint_type": MAINT_TYPES.get(o.maint_type, o.maint_type or "")}))
    return drafts


def position(orders) -> list[Draft]:
    t = threshold("position")
    if not t.enabled:
        return []
    rows = db.session.execute(select(*_order_columns()).where(_on_site(orders), or_(
        WorkOrder.checkin_distance > t.value, WorkOrder.checkout_distance > t.value))).all()
    return [_order_draft("position", t, o, f"签到距电梯 {o.checkin_distance} 米，签退 "
                         f"{o.checkout_distance if o.checkout_distance is not None else '—'} 米，超过 {t.value:g} 米",
                         {"checkin_distance": o.checkin_distance, "checkout_distance": o.checkout_distance})
            for o in rows]


def photo(orders) -> list[Draft]:
    """Photos without a position, or taken farther from the elevator than the threshold. SQL keeps the
    photos outside the square inscribed in the threshold circle; the exact distance is computed on those."""
    t = threshold("photo")
    if not t.enabled:
        return []
    half_side = t.value / 1.4143 / METRES_PER_DEGREE
    rows = db.session.execute(
        select(*_order_columns(), WorkPhoto.id.label("photo_id"), WorkPhoto.lat.label("plat"),
               WorkPhoto.lng.label("plng"), Equipment.lat.label("elat"), Equipment.lng.label("elng"))
        .join(WorkPhoto, WorkPhoto.work_order_id == WorkOrder.id).join(Equipment, Equipment.id == WorkOrder.equipment_id)
        .where(_on_site(orders), WorkPhoto.purpose != "face", or_(
            WorkPhoto.lat.is_(None), WorkPhoto.lng.is_(None), WorkPhoto.lat == 0,
            func.abs(WorkPhoto.lat - Equipment.lat) > half_side, func.abs(WorkPhoto.lng - Equipment.lng) > half_side))
        .order_by(WorkOrder.id, WorkPhoto.id)).all()
    bad: dict[int, list] = defaultdict(list)
    orders_by_id = {}
    for r in rows:
        if not r.plat or r.plng is None:
            bad[r.id].append({"photo_id": r.photo_id, "metres": None})
        elif r.elat is not None:
            metres = geo.distance_m(r.plat, r.plng, r.elat, r.elng)
            if metres > t.value:
                bad[r.id].append({"photo_id": r.photo_id, "metres": int(round(metres))})
        orders_by_id[r.id] = r
    drafts = []
    for order_id, photos in bad.items():
        o = orders_by_id[order_id]
        missing = sum(1 for p in photos if p["metres"] is None)
        far = [p["metres"] for p in photos if p["metres"] is not None]
        text = "；".join(x for x in (f"{missing} 张照片缺少拍摄位置" if missing else "",
                                     f"{len(far)} 张照片拍摄位置距电梯最远 {max(far)} 米，超过 {t.value:g} 米" if far else "") if x)
        drafts.append(_order_draft("photo", t, o, text, {"photos": photos, "photo_ids": [p["photo_id"] for p in photos]}))
    return drafts


def certificate(orders, until: date) -> list[Draft]:
    """The maintainer or the co-worker without a T certificate valid on the day of the visit. SQL keeps
    the orders whose people hold no T certificate valid until `until` (the window's last day)."""
    from ..operators.models import Operator, OperatorCertificate
    t = threshold("certificate")
    if not t.enabled:
        return []

    def lacks(person):
        return ~select(OperatorCertificate.id).join(Operator, Operator.id == OperatorCertificate.operator_id).where(
            Operator.user_id == person, OperatorCertificate.work_item == elevator_services.CERT_WORK_ITEM,
            OperatorCertificate.expiry_date >= until).exists()
    rows = db.session.execute(select(*_order_columns()).where(_visits(orders), or_(
        lacks(WorkOrder.maintainer_id), and_(WorkOrder.coworker_id.is_not(None), lacks(WorkOrder.coworker_id))))).all()
    if not rows:
        return []
    people = {r.maintainer_id for r in rows} | {r.coworker_id for r in rows if r.coworker_id}
    names = dict(db.session.execute(select(User.id, User.display_name).where(User.id.in_(people))).all())
    expiries = defaultdict(list)
    for person_id, expiry in db.session.execute(
            select(Operator.user_id, OperatorCertificate.expiry_date)
            .join(Operator, Operator.id == OperatorCertificate.operator_id)
            .where(Operator.user_id.in_(people), OperatorCertificate.work_item == elevator_services.CERT_WORK_ITEM)):
        expiries[person_id].append(expiry)
    drafts = []
    for o in rows:
        day = to_local(o.checkin_at).date()
        problems = []
        for role, person_id in (("维保人员", o.maintainer_id), ("协作人", o.coworker_id)):
            problem = elevator_services.certificate_problem_of(expiries[person_id], day) if person_id else None
            if problem:
                problems.append({"role": role, "user_id": person_id, "name": names.get(person_id), "problem": problem})
        if problems:
            drafts.append(_order_draft("certificate", t, o, "；".join(f"{p['role']}{p['name']}：{p['problem']}"
                                                                     for p in problems), {"people": problems}))
    return drafts


def failed_items(orders) -> list[Draft]:
    t = threshold("failed_items")
    if not t.enabled:
        return []
    counted = (select(WorkOrderItem.work_order_id, func.count().label("n"))
               .join(WorkOrder, WorkOrder.id == WorkOrderItem.work_order_id)
               .where(_visits(orders), WorkOrderItem.result == "fail")
               .group_by(WorkOrderItem.work_order_id).having(func.count() >= t.value).subquery())
    rows = db.session.execute(select(*_order_columns(), counted.c.n).join(counted, counted.c.work_order_id == WorkOrder.id)).all()
    if not rows:
        return []
    details = defaultdict(list)
    for order_id, code, item, note in db.session.execute(
            select(WorkOrderItem.work_order_id, MaintenanceItem.code, MaintenanceItem.item, WorkOrderItem.note)
            .join(MaintenanceItem, MaintenanceItem.id == WorkOrderItem.item_id)
            .where(WorkOrderItem.work_order_id.in_([r.id for r in rows]), WorkOrderItem.result == "fail")
            .order_by(WorkOrderItem.id)):
        details[order_id].append({"code": code, "item": item, "note": note})
    return [_order_draft("failed_items", t, o, f"{o.n} 个维保项目不合格：" + "、".join(
        f"{d['item']}（{d['note'] or '无说明'}）" for d in details[o.id][:3]) + ("等" if o.n > 3 else ""),
        {"failed": details[o.id], "count": o.n}) for o in rows]


def photo_interval(orders) -> list[Draft]:
    """Machine-room and pit photos of one visit taken less than the threshold apart (exactly equal is fine)."""
    t = threshold("photo_interval")
    if not t.enabled:
        return []

    def first_photo(position_key):
        return (select(WorkPhoto.work_order_id.label("order_id"), func.min(WorkPhoto.taken_at).label("at"),
                       func.min(WorkPhoto.id).label("photo_id"))
                .join(MaintenanceItem, MaintenanceItem.id == WorkPhoto.item_id)
                .join(WorkOrder, WorkOrder.id == WorkPhoto.work_order_id)
                .where(_visits(orders), MaintenanceItem.key_position == position_key)
                .group_by(WorkPhoto.work_order_id).subquery())
    room, pit = first_photo("machine_room"), first_photo("pit")
    gap = seconds_between(pit.c.at, room.c.at)
    rows = db.session.execute(select(*_order_columns(), gap.label("gap"), room.c.photo_id.label("room_photo"),
                                     pit.c.photo_id.label("pit_photo"), room.c.at.label("room_at"), pit.c.at.label("pit_at"))
                              .join(room, room.c.order_id == WorkOrder.id).join(pit, pit.c.order_id == WorkOrder.id)
                              .where(func.abs(gap) < t.value * 60)).all()
    return [_order_draft("photo_interval", t, o,
                         f"机房照片（{_iso(o.room_at)[11:]}）与底坑照片（{_iso(o.pit_at)[11:]}）间隔 "
                         f"{abs(float(o.gap)) / 60:.1f} 分钟，少于 {t.value:g} 分钟",
                         {"seconds": round(abs(float(o.gap)), 1), "photo_ids": [o.room_photo, o.pit_photo]})
            for o in rows]


def volume(day: date, *, maintainer_id: int | None = None) -> list[Draft]:
    """Elevators per maintainer on `day` and in its calendar month, against the day and month limits."""
    drafts = []
    month_start = day.replace(day=1)
    month_end = (month_start + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    for rule, start, end, key, what in (("volume_day", day, day, day.isoformat(), f"{day:%Y-%m-%d}"),
                                        ("volume_month", month_start, month_end, f"{day:%Y-%m}", f"{day:%Y年%m月}")):
        t = threshold(rule)
        if not t.enabled:
            continue
        where = [WorkOrder.kind == "maintenance", WorkOrder.status.in_(DONE),
                 WorkOrder.checkin_at >= local_day_start(start), WorkOrder.checkin_at <= local_day_end(end)]
        if maintainer_id:
            where.append(WorkOrder.maintainer_id == maintainer_id)
        n = func.count(func.distinct(WorkOrder.equipment_id))
        rows = db.session.execute(select(WorkOrder.maintainer_id, n.label("n"), func.min(WorkOrder.maintenance_org_id))
                                  .where(*where).group_by(WorkOrder.maintainer_id).having(n > t.value)).all()
        if not rows:
            continue
        people = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_([r[0] for r in rows])))}
        orgs = dict(db.session.execute(select(Organization.id, Organization.region_code)
                                       .where(Organization.id.in_([r[2] for r in rows]))).all())
        for person_id, count, org_id in rows:
            person = people[person_id]
            drafts.append(Draft(rule=rule, cause_key=f"{rule}:{person_id}:{key}", level=t.level,
                                region_code=orgs.get(org_id) or person.region_code, maintenance_org_id=org_id,
                                maintainer_id=person_id, summary=f"{person.display_name} {what}维保电梯 {count} 台，超过 {t.value:g} 台",
                                evidence={"elevators": count, "threshold": t.value, "period": key,
                                          "date_from": start.isoformat(), "date_to": end.isoformat()}))
    return drafts


def overdue(today: date) -> list[Draft]:
    """逾期未保: elevators under a contract on `today` whose last visit (or, with none, the contract start)
    is more than the threshold days ago. Exactly the threshold is not overdue. One grouped query."""
    t = threshold("overdue")
    if not t.enabled:
        return []
    days = int(t.value)
    cut = local_day_start(today - timedelta(days=days))      # a visit before this day is > `days` days ago
    last = (select(func.max(WorkOrder.checkin_at)).where(WorkOrder.equipment_id == MaintenanceContract.equipment_id,
                                                         WorkOrder.kind == "maintenance", WorkOrder.status.in_(DONE))
            .scalar_subquery())
    stmt = (select(MaintenanceContract.equipment_id, MaintenanceContract.maintenance_org_id, MaintenanceContract.id,
                   MaintenanceContract.starts_on, Equipment.region_code, Equipment.code, Equipment.name,
                   last.label("last"))
            .join(Equipment, Equipment.id == MaintenanceContract.equipment_id)
            .where(MaintenanceContract.starts_on < today - timedelta(days=days), MaintenanceContract.ends_on >= today,
                   Equipment.status.not_in(Equipment.INACTIVE_STATUSES)))
    sub = stmt.subquery()
    rows = db.session.execute(select(sub).where(or_(sub.c.last.is_(None), sub.c.last < cut))).all()
    drafts = []
    for r in rows:
        since = to_local(r.last).date() if r.last is not None else r.starts_on
        gap = (today - since).days
        what = f"上次维保 {since:%Y-%m-%d}" if r.last is not None else f"合同 {since:%Y-%m-%d} 开始后未维保"
        drafts.append(Draft(rule="overdue", cause_key=f"overdue:{r.equipment_id}:{since.isoformat()}", level=t.level,
                            region_code=r.region_code, maintenance_org_id=r.maintenance_org_id,
                            equipment_id=r.equipment_id, summary=f"{r.name}（{r.code}）{what}，已 {gap} 天未维保，超过 {days} 天",
                            evidence={"last_visit": since.isoformat() if r.last is not None else None,
                                      "contract_id": r.id, "contract_start": r.starts_on.isoformat(),
                                      "days": gap, "threshold": t.value}))
    return drafts


ORDER_RULES = (short_duration, position, photo, failed_items, photo_interval)


def order_drafts(orders, until: date) -> list[Draft]:
    drafts = []
    for rule in ORDER_RULES:
        drafts += rule(orders)
    drafts += certificate(orders, until)
    return drafts


# ---------------------------------------------------------------- storing, messages

def store(drafts: list[Draft], source: str) -> list[tuple[int, Draft]]:
    """Insert the drafts whose cause has no row yet, in one bulk INSERT; returns (id, draft) of the new rows."""
    from sqlalchemy import insert
    unique = {d.cause_key: d for d in drafts}
    keys = list(unique)
    known = set()
    for n in range(0, len(keys), 500):
        known.update(db.session.scalars(select(ElevatorWarning.cause_key)
                                        .where(ElevatorWarning.cause_key.in_(keys[n:n + 500]))))
    new = [d for key, d in unique.items() if key not in known]
    if not new:
        return []
    now = utcnow()
    values = [{"rule": d.rule, "cause_key": d.cause_key, "level": d.level, "region_code": d.region_code,
               "maintenance_org_id": d.maintenance_org_id, "equipment_id": d.equipment_id,
               "work_order_id": d.work_order_id, "maintainer_id": d.maintainer_id, "summary": d.summary,
               "evidence": json.dumps(d.evidence, ensure_ascii=False), "source": source, "status": "open",
               "opened_at": now} for d in new]
    ids = list(db.session.scalars(insert(ElevatorWarning).returning(ElevatorWarning.id, sort_by_parameter_order=True),
                                  values))
    summary.refresh_warnings(new)          # a bulk INSERT: no ORM event marks the days
    return list(zip(ids, new))


def _notify_order(order: WorkOrder, rows: list[tuple[int, Draft]]) -> None:
    from ..sms import services as sms
    recipients = sms.recipients_for_org(order.maintenance_org_id)
    if not recipients:
        return
    sms.enqueue("ELEVATOR_MAINT_WARNING", {
        "unitName": order.maintenance_org.name, "equipName": order.equipment.name, "deviceCode": order.equipment.code,
        "orderNo": order.order_no, "ruleNames": "、".join(dict.fromkeys(RULES[d.rule] for _i, d in rows))},
        recipients, region_code=order.region_code, dedup_key=f"elevwarn:{order.id}:{len(rows)}",
        equipment_id=order.equipment_id)


def _notify_daily(rows: list[tuple[int, Draft]], today: date) -> int:
    """One message per maintenance unit and one per county bureau with the night's new warnings."""
    from ..core.regions import region_name
    from ..sms import services as sms
    queued = 0
    by_org, by_region = defaultdict(Counter), defaultdict(Counter)
    for _id, r in rows:
        by_org[r.maintenance_org_id][r.rule] += 1
        by_region[r.region_code][r.rule] += 1
    orgs = dict(db.session.execute(select(Organization.id, Organization.name)
                                   .where(Organization.id.in_(list(by_org)))).all()) if by_org else {}
    for org_id, counts in by_org.items():
        recipients = sms.recipients_for_org(org_id)
        if recipients:
            queued += len(sms.enqueue("ELEVATOR_MAINT_WARNING_DAILY", {
                "unitName": orgs.get(org_id, ""), "day": today.isoformat(), "count": sum(counts.values()),
                "overdue": counts.get("overdue", 0)}, recipients, region_code=None,
                dedup_key=f"elevwarn-day:{org_id}:{today.isoformat()}"))
    for region, counts in by_region.items():
        people = db.session.scalars(select(User).where(User.role == "county_supervisor", User.region_code == region,
                                                       User.is_active_flag.is_(True)))
        recipients = sms.recipients_for_users(people)
        if recipients:
            queued += len(sms.enqueue("ELEVATOR_MAINT_WARNING_BUREAU", {
                "regionName": region_name(region), "day": today.isoformat(), "count": sum(counts.values()),
                "overdue": counts.get("overdue", 0)}, recipients, region_code=region,
                dedup_key=f"elevwarn-bureau:{region}:{today.isoformat()}"))
    return queued


# ---------------------------------------------------------------- on submission, nightly

def check_order(order: WorkOrder) -> list[tuple[int, Draft]]:
    """The rules for one submitted order and its maintainer's day and month; an open 逾期未保 warning of the
    elevator is closed by the visit. Runs inside the sign-off's transaction (a savepoint: a failure here
    is logged and never stops the sign-off)."""
    from ..core.tx import savepoint
    if order.kind != "maintenance":
        return []
    try:
        with savepoint():
            day = to_local(order.checkin_at).date()
            drafts = order_drafts(WorkOrder.id == order.id, day)
            drafts += [d for d in volume(day, maintainer_id=order.maintainer_id)]
            rows = store(drafts, "submit")
            _close_overdue(order)
            if rows:
                _notify_order(order, rows)
            return rows
    except Exception:  # noqa: BLE001 - warnings must not block the maintenance record
        log.exception("warning checks of work order %s failed", order.id)
        return []


def check_orders(order_ids: list[int]) -> list[tuple[int, Draft]]:
    """check_order for many orders at once (archived without the sign-off: platform uploads, back-filled
    orders): each rule one query over all of them, 日/月维保量 once per maintainer and day, the 逾期未保
    warnings of their elevators closed in one pass. A savepoint as in check_order."""
    from ..core.tx import savepoint
    if not order_ids:
        return []
    try:
        with savepoint():
            orders = db.session.execute(
                select(WorkOrder.id, WorkOrder.order_no, WorkOrder.equipment_id, WorkOrder.maintainer_id,
                       WorkOrder.checkin_at).where(WorkOrder.id.in_(order_ids), WorkOrder.kind == "maintenance")
                .order_by(WorkOrder.checkin_at, WorkOrder.id)).all()
            if not orders:
                return []
            days = {(o.maintainer_id, to_local(o.checkin_at).date()) for o in orders}
            drafts = order_drafts(WorkOrder.id.in_([o.id for o in orders]), max(day for _p, day in days))
            for person, day in sorted(days):
                drafts += volume(day, maintainer_id=person)
            rows = store(drafts, "submit")
            latest = {o.equipment_id: o for o in orders}          # the last visit of each elevator
            for w in db.session.scalars(select(ElevatorWarning).where(
                    ElevatorWarning.equipment_id.in_(list(latest)), ElevatorWarning.rule == "overdue",
                    ElevatorWarning.status == "open")):
                _close_by(w, latest[w.equipment_id])
            by_order = defaultdict(list)
            for row in rows:
                if row[1].work_order_id:
                    by_order[row[1].work_order_id].append(row)
            for order_id, found in by_order.items():
                _notify_order(db.session.get(WorkOrder, order_id), found)
            return rows
    except Exception:  # noqa: BLE001 - warnings must not block the maintenance records
        log.exception("warning checks of %d work orders failed", len(order_ids))
        return []


def _close_by(w: ElevatorWarning, order) -> None:
    w.status, w.closed_at = "closed", utcnow()
    w.close_reason = f"已维保（工单 {order.order_no}，{_iso(order.checkin_at)}），系统自动关闭"


def _close_overdue(order: WorkOrder) -> None:
    for w in db.session.scalars(select(ElevatorWarning).where(ElevatorWarning.equipment_id == order.equipment_id,
                                                              ElevatorWarning.rule == "overdue",
                                                              ElevatorWarning.status == "open")):
        _close_by(w, order)


def nightly(today: date | None = None) -> dict:
    """All rules: 逾期未保 over every elevator under contract, the order rules over the last days' visits,
    volume for yesterday and its month. Idempotent (cause keys). Commits."""
    today = today or today_local()
    counts: dict[str, int] = {}
    new_rows: list[tuple[int, Draft]] = []
    since = local_day_start(today - timedelta(days=NIGHTLY_DAYS))
    batches = [("overdue", lambda: overdue(today)),
               ("orders", lambda: order_drafts(WorkOrder.checkin_at >= since, today)),
               ("volume", lambda: volume(today - timedelta(days=1)) + volume(today - timedelta(days=2)))]
    for name, make in batches:
        rows = store(make(), "nightly")
        new_rows += rows
        counts[name] = len(rows)
        db.session.commit()
    counts["sms"] = _notify_daily(new_rows, today)
    db.session.commit()
    return counts


check_order.many = check_orders
elevator_services.AFTER_SUBMIT.append(check_order)
elevator_services.AFTER_SUBMIT.append(summary.refresh_orders)     # orders written past the ORM's flush


# ---------------------------------------------------------------- reading and closing

def warning_scope(user: User):
    """Regulators: their region; the maintenance unit's people: the unit's warnings; nobody else."""
    from sqlalchemy import false

    from ..core.scope import in_region
    if user.is_regulator:
        return in_region(ElevatorWarning.region_code, user.scope_prefix)
    if user.org_id and user.role in MAINT_SIDE:
        return ElevatorWarning.maintenance_org_id == user.org_id
    return false()


def can_see(user: User) -> bool:
    return user.is_regulator or (bool(user.org_id) and user.role in MAINT_SIDE)


@dataclass
class WarningFilter:
    rule: str | None = None
    status: str | None = "open"
    level: str | None = None
    q: str | None = None
    region: str | None = None
    org_id: int | None = None
    equipment_id: int | None = None
    date_from: date | None = None
    date_to: date | None = None
    page: int = 1
    per_page: int = 20

    @classmethod
    def from_args(cls, args) -> "WarningFilter":
        from ..core.params import int_arg, text_arg

        def day(name):
            try:
                return date.fromisoformat(args.get(name)) if args.get(name) else None
            except ValueError:
                return None
        status = args.get("status", "open")
        region = (args.get("region") or "").strip()
        return cls(rule=args.get("rule") if args.get("rule") in RULES else None,
                   status=status if status in ("open", "closed") else None,
                   level=args.get("level") if args.get("level") in ("red", "orange", "yellow", "blue") else None,
                   q=text_arg(args, "q", 50), region=region if len(region) == 6 and region.isdigit() else None,
                   org_id=int_arg(args, "org_id", 0, 0, 2**31 - 1) or None,
                   equipment_id=int_arg(args, "equipment_id", 0, 0, 2**31 - 1) or None,
                   date_from=day("date_from"), date_to=day("date_to"),
                   page=int_arg(args, "page", 1, 1, 100000), per_page=int_arg(args, "per_page", 20, 1, 100))

    @property
    def active(self) -> int:
        return sum(1 for v in (self.rule, self.level, self.q, self.region, self.org_id, self.date_from, self.date_to) if v)


def warnings_query(user: User, f: WarningFilter):
    from sqlalchemy.orm import selectinload

    from ..core.regions import region_prefix
    from ..core.scope import in_region
    # selectinload: the page query stays one table walked in opened_at order (ix_elevator_warning_status),
    # the page's 20 rows then fetch their elevators, units, orders and people by id.
    stmt = (select(ElevatorWarning).where(warning_scope(user))
            .options(selectinload(ElevatorWarning.equipment), selectinload(ElevatorWarning.maintenance_org),
                     selectinload(ElevatorWarning.work_order), selectinload(ElevatorWarning.maintainer)))
    if f.rule:
        stmt = stmt.where(ElevatorWarning.rule == f.rule)
    if f.status:
        stmt = stmt.where(ElevatorWarning.status == f.status)
    if f.level:
        stmt = stmt.where(ElevatorWarning.level == f.level)
    if f.region:
        stmt = stmt.where(in_region(ElevatorWarning.region_code, region_prefix(f.region)))
    if f.org_id:
        stmt = stmt.where(ElevatorWarning.maintenance_org_id == f.org_id)
    if f.equipment_id:
        stmt = stmt.where(ElevatorWarning.equipment_id == f.equipment_id)
    stmt = stmt.where(*on_local_days(ElevatorWarning.opened_at, f.date_from, f.date_to))
    if f.q:
        stmt = stmt.where(or_(contains(ElevatorWarning.summary, f.q), ElevatorWarning.equipment_id.in_(
            select(Equipment.id).where(or_(contains(Equipment.code, f.q), contains(Equipment.name, f.q))))))
    return stmt.order_by(ElevatorWarning.opened_at.desc(), ElevatorWarning.id.desc())


def visible_warning(user: User, warning_id: int) -> ElevatorWarning:
    w = db.session.scalar(select(ElevatorWarning).where(ElevatorWarning.id == warning_id, warning_scope(user)))
    if w is None:
        raise NotFound("预警不存在或不在您的查看范围内")
    return w


def can_close(user: User, w: ElevatorWarning) -> bool:
    return w.status == "open" and (user.is_regulator or (user.role in CLOSERS and user.org_id == w.maintenance_org_id))


def close(user: User, w: ElevatorWarning, reason) -> ElevatorWarning:
    """Close with a reason (4–500 characters), audited."""
    from ..errors import Conflict
    from ..security.audit import audit
    if not (user.is_regulator or (user.role in CLOSERS and user.org_id == w.maintenance_org_id)):
        raise Forbidden("只有辖区监管人员或该维保单位的负责人、质量负责人可以关闭预警")
    if w.status != "open":
        raise Conflict("预警已关闭", code="warning_closed")
    text = str(reason or "").strip()
    if len(text) < 4:
        raise ValidationFailed({"reason": "请填写关闭理由（至少 4 个字）"})
    if len(text) > 500:
        raise ValidationFailed({"reason": "关闭理由不能超过 500 个字"})
    w.status, w.closed_at, w.closed_by_id, w.close_reason = "closed", utcnow(), user.id, text
    audit("record.change", f"关闭电梯维保预警 #{w.id}（{w.rule_label}）：{text}", object_type="elevator_warning",
          object_id=w.id, detail={"rule": w.rule, "cause_key": w.cause_key, "reason": text}, actor=user)
    db.session.flush()
    return w


def warning_json(w: ElevatorWarning) -> dict:
    from ..core.clock import local_iso
    return {"id": w.id, "rule": w.rule, "rule_label": w.rule_label, "level": w.level, "level_label": w.level_label,
            "status": w.status, "status_label": w.status_label, "summary": w.summary, "region_code": w.region_code,
            "maintenance_org_id": w.maintenance_org_id, "maintenance_org": w.maintenance_org.name,
            "equipment_id": w.equipment_id, "equipment_code": w.equipment.code if w.equipment else None,
            "equipment_name": w.equipment.name if w.equipment else None, "work_order_id": w.work_order_id,
            "work_order_no": w.work_order.order_no if w.work_order else None,
            "maintainer": w.maintainer.display_name if w.maintainer else None, "evidence": w.facts,
            "source": w.source, "opened_at": local_iso(w.opened_at), "closed_at": local_iso(w.closed_at),
            "close_reason": w.close_reason}

