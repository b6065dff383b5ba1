"""Maintenance-unit rating: quality patrols (§4.6.2.11), the evaluation of a unit over a period (§4.6.6)
with its score from the DMN table rules/elevator_evaluation.dmn, 96111 rescue records, and the
star-rating loop (§4.6.7, workflows/elevator_star_rating.bpmn).

Scope: regulators see the maintenance units registered in their region and the records of their
region; a maintenance unit (maintenance_unit, maintenance_quality) sees its own unit only."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from sqlalchemy import and_, case, false, func, or_, select

from ..cases.models import Case
from ..cases.widgets import option_provider
from ..core.clock import as_utc, local_day_end, local_day_start, today_local, to_local, utcnow
from ..core.lookups import lookup
from ..core.models import Equipment, Organization, User
from ..core.scope import in_region
from ..core.sequences import next_value
from ..elevators.models import ElevatorFacts, MaintenanceContract, MaintenancePlan, WorkOrder
from ..elevators.services import certificate_problem
from ..engine import decisions
from ..engine.services import ServiceContext, StartContext, case_panel, case_row, service, start_hook
from ..errors import Forbidden, NotFound, ValidationFailed
from ..extensions import db
from ..inspections.models import InspectionReport
from ..security.audit import audit
from ..taskops.services import notify
from .models import GRADES, PATROL_CHECKS, PATROL_GRADES, Patrol, PatrolItem, Rescue, StarRating

PROCESS_KEY = "elevator_star_rating"
DECISION_ID = "elevator_evaluation"
UNIT_ROLES = ("maintenance_unit", "maintenance_quality")
PATROL_MAX = 100
# Guangxi credit grades by score (shared/reference/guangxi_elevator_maintenance_credit.json "grades":
# A >= 90, B >= 80, C >= 60, D below 60 or any veto). Applied to the evaluation score as a suggestion;
# the province bureau decides the grade.
GRADE_FLOORS = (("A", 90), ("B", 80), ("C", 60))


def grade_for(score: float | None) -> str | None:
    if score is None:
        return None
    return next((g for g, floor in GRADE_FLOORS if score >= floor), "D")


# ---------------------------------------------------------------- scope

def is_unit_user(user: User) -> bool:
    return user.role in UNIT_ROLES and bool(user.org_id)


def unit_scope(user: User):
    """Maintenance units the user may evaluate."""
    if user.is_regulator:
        return and_(Organization.kind == "maintenance_unit", in_region(Organization.region_code, user.scope_prefix))
    if is_unit_user(user):
        return Organization.id == user.org_id
    return false()


def visible_unit(user: User, org_id: int) -> Organization:
    org = db.session.scalar(select(Organization).where(Organization.id == org_id, unit_scope(user)))
    if org is None:
        raise NotFound("维保单位不存在或不在您的查看范围内")
    return org


def units_query(user: User, q: str | None = None):
    stmt = select(Organization).where(unit_scope(user))
    if q:
        stmt = stmt.where(or_(Organization.name.contains(q, autoescape=True), Organization.uscc == q.upper()))
    return stmt.order_by(Organization.region_code, Organization.name)


def require_rating_reader(user: User) -> None:
    if not (user.is_regulator or is_unit_user(user)):
        raise Forbidden("只有监管人员和维保单位可以查看维保单位评价")


# ---------------------------------------------------------------- quality patrol (§4.6.2.11)

def patrol_scope(user: User):
    if user.is_regulator:
        return and_(Patrol.by_regulator.is_(True), in_region(Patrol.region_code, user.scope_prefix))
    if is_unit_user(user):
        # the unit's own patrols, and regulators' patrols that sampled its records
        return or_(Patrol.maintenance_org_id == user.org_id,
                   Patrol.id.in_(select(PatrolItem.patrol_id).where(PatrolItem.maintenance_org_id == user.org_id)))
    return false()


def patrol_item_scope(user: User):
    if user.is_regulator:
        return PatrolItem.patrol_id.in_(select(Patrol.id).where(patrol_scope(user)))
    if is_unit_user(user):
        return PatrolItem.maintenance_org_id == user.org_id
    return false()


def visible_patrol(user: User, patrol_id: int) -> Patrol:
    patrol = db.session.scalar(select(Patrol).where(Patrol.id == patrol_id, patrol_scope(user)))
    if patrol is None:
        raise NotFound("巡检不存在或不在您的查看范围内")
    return patrol


def can_patrol(user: User) -> bool:
    return user.is_regulator or (user.role == "maintenance_quality" and bool(user.org_id))


def can_grade(user: User, patrol: Patrol) -> bool:
    if patrol.by_regulator:
        return user.is_regulator and patrol.region_code.startswith(user.scope_prefix)
    return user.role == "maintenance_quality" and user.org_id == patrol.maintenance_org_id


def sample_pool(user: User, *, maintenance_org_id: int | None = None, date_from: date | None = None,
                date_to: date | None = None):
    """Archived maintenance records a patroller may sample."""
    stmt = select(WorkOrder.id).where(WorkOrder.kind == "maintenance", WorkOrder.status == "archived")
    if user.is_regulator:
        stmt = stmt.where(in_region(WorkOrder.region_code, user.scope_prefix))
        if maintenance_org_id:
            stmt = stmt.where(WorkOrder.maintenance_org_id == maintenance_org_id)
    else:
        stmt = stmt.where(WorkOrder.maintenance_org_id == user.org_id)
    if date_from:
        stmt = stmt.where(WorkOrder.checkin_at >= local_day_start(date_from))
    if date_to:
        stmt = stmt.where(WorkOrder.checkin_at <= local_day_end(date_to))
    return stmt


def _day(value, field: str, errors: dict) -> date | None:
    if value in (None, ""):
        return None
    try:
        return value if isinstance(value, date) else date.fromisoformat(str(value))
    except ValueError:
        errors[field] = "日期格式应为 YYYY-MM-DD"
        return None


def create_patrol(user: User, values: dict) -> Patrol:
    """Sample archived records: `method` random (N of the filter) or pick (listed work-order ids)."""
    if not can_patrol(user):
        raise Forbidden("只有监管人员和维保单位质量负责人可以发起维保质量巡检")
    errors: dict[str, str] = {}
    method = values.get("method") or "random"
    if method not in Patrol.METHOD_LABELS:
        errors["method"] = "抽查方式只能是 random（随机抽查）或 pick（指定抽查）"
    org_id = None
    raw_org = values.get("maintenance_org_id")
    if user.is_regulator and raw_org not in (None, ""):
        try:
            org_id = visible_unit(user, int(raw_org)).id
        except (TypeError, ValueError, NotFound):
            errors["maintenance_org_id"] = "维保单位不存在或不在您的辖区内"
    elif not user.is_regulator:
        org_id = user.org_id
    date_from = _day(values.get("date_from"), "date_from", errors)
    date_to = _day(values.get("date_to"), "date_to", errors)
    if date_from and date_to and date_from > date_to:
        errors["date_to"] = "结束日期不能早于开始日期"
    title = str(values.get("title") or "").strip()[:120] or None
    if errors:
        raise ValidationFailed(errors)
    pool = sample_pool(user, maintenance_org_id=org_id, date_from=date_from, date_to=date_to)
    if method == "random":
        try:
            size = int(values.get("size") or 0)
        except (TypeError, ValueError):
            size = 0
        if not 1 <= size <= PATROL_MAX:
            raise ValidationFailed({"size": f"抽查数量应为 1–{PATROL_MAX} 条"})
        available = db.session.scalar(select(func.count()).select_from(pool.subquery()))
        if not available:
            raise ValidationFailed({"size": "所选范围内没有已归档的维保记录"})
        ids = list(db.session.scalars(pool.order_by(func.random()).limit(size)))
    else:
        raw = values.get("work_order_ids") or []
        if isinstance(raw, str):
            raw = [p for p in raw.replace("，", ",").split(",") if p.strip()]
        try:
            wanted = sorted({int(v) for v in raw})
        except (TypeError, ValueError):
            raise ValidationFailed({"work_order_ids": "请勾选要抽查的维保记录"}) from None
        if not 1 <= len(wanted) <= PATROL_MAX:
            raise ValidationFailed({"work_order_ids": f"请勾选 1–{PATROL_MAX} 条维保记录"})
        ids = list(db.session.scalars(pool.where(WorkOrder.id.in_(wanted))))
        if len(ids) != len(wanted):
            raise ValidationFailed({"work_order_ids": "所选记录不存在、未归档或不在您的抽查范围内"})
    orders = {o.id: o for o in db.session.scalars(select(WorkOrder).where(WorkOrder.id.in_(ids)))}
    year = today_local().year
    patrol = Patrol(patrol_no=f"XJ{year}{next_value('rating_patrol', str(year)):05d}", created_by_id=user.id,
                    by_regulator=user.is_regulator, region_code=user.region_code if user.is_regulator
                    else db.session.get(Organization, user.org_id).region_code,
                    maintenance_org_id=org_id, method=method, sample_size=len(ids), title=title,
                    criteria={"date_from": date_from.isoformat() if date_from else None,
                              "date_to": date_to.isoformat() if date_to else None, "maintenance_org_id": org_id})
    db.session.add(patrol)
    db.session.flush()
    for order_id in sorted(ids, key=lambda i: orders[i].checkin_at):
        db.session.add(PatrolItem(patrol_id=patrol.id, work_order_id=order_id,
                                  maintenance_org_id=orders[order_id].maintenance_org_id))
    db.session.flush()
    audit("record.change", f"发起维保质量巡检 {patrol.patrol_no}（{patrol.method_label} {len(ids)} 条）",
          object_type="rating_patrol", object_id=patrol.id, detail={"criteria": patrol.criteria}, actor=user)
    return patrol


def grade_item(user: User, item: PatrolItem, values: dict) -> PatrolItem:
    if not can_grade(user, item.patrol):
        raise Forbidden("只有发起巡检的监管部门或维保单位质量负责人可以评定")
    errors: dict[str, str] = {}
    grade = values.get("grade")
    if grade not in PATROL_GRADES:
        errors["grade"] = "请选择评定结果：合格、基本合格或不合格"
    checks_in = values.get("checks") or {}
    if not isinstance(checks_in, dict):
        checks_in = {}
    checks = {}
    for key, label in PATROL_CHECKS.items():
        value = checks_in.get(key, values.get(f"check_{key}"))
        if value not in ("ok", "fail"):
            errors[f"check_{key}"] = f"请选择“{label}”是否符合"
        else:
            checks[key] = value
    remark = str(values.get("remark") or "").strip()
    if len(remark) > 1000:
        errors["remark"] = "最多 1000 个字"
    if grade in ("basic", "fail") and len(remark) < 2:
        errors["remark"] = "评为基本合格或不合格时须写明问题"
    if grade == "pass" and "fail" in checks.values():
        errors["grade"] = "有不符合的检查项时不能评为合格"
    if errors:
        raise ValidationFailed(errors)
    before = item.grade
    item.grade, item.checks, item.remark = grade, checks, remark or None
    item.graded_by_id, item.graded_at = user.id, utcnow()
    order = db.session.get(WorkOrder, item.work_order_id)
    audit("record.change", f"巡检评定 {order.order_no}：{PATROL_GRADES[grade]}", object_type="rating_patrol_item",
          object_id=item.id, detail={"before": before, "grade": grade, "checks": checks}, actor=user)
    if grade != "pass":
        _notify_unit(item.maintenance_org_id, f"维保质量巡检：工单 {order.order_no} 评定为{PATROL_GRADES[grade]}",
                     remark, user)
    return item


def _notify_unit(org_id: int, title: str, body: str | None, sender: User | None, case: Case | None = None) -> int:
    users = db.session.scalars(select(User).where(User.org_id == org_id, User.role.in_(UNIT_ROLES),
                                                  User.is_active_flag.is_(True)))
    count = 0
    for u in users:
        if sender is not None and u.id == sender.id:
            continue
        notify(u.id, "decision", title, case=case, body=body, sender=sender)
        count += 1
    return count


def patrol_counts(patrol_ids: list[int]) -> dict[int, dict[str, int]]:
    counts: dict[int, dict[str, int]] = {pid: {"graded": 0, "pass": 0, "basic": 0, "fail": 0} for pid in patrol_ids}
    if not patrol_ids:
        return counts
    for pid, grade, n in db.session.execute(select(PatrolItem.patrol_id, PatrolItem.grade, func.count())
                                            .where(PatrolItem.patrol_id.in_(patrol_ids))
                                            .group_by(PatrolItem.patrol_id, PatrolItem.grade)):
        if grade:
            counts[pid][grade] += n
            counts[pid]["graded"] += n
    return counts


# ---------------------------------------------------------------- rescue records (96111)

TIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M")
BEIJING = timezone(timedelta(hours=8))
RESCUE_FIELDS = {"rescue_no": "救援单号", "rescue_code": "96111救援码", "equipment_code": "设备代码",
                 "alarm_at": "报警时间", "arrived_at": "到达时间", "released_at": "解救时间", "trapped": "被困人数",
                 "cause": "困人原因"}


def parse_time(value) -> datetime | None:
    """A time from the rescue platform: ISO 8601 (with offset, or Beijing time without), or an Excel
    date-time cell, or 'YYYY-MM-DD HH:MM[:SS]' in Beijing time — as an aware UTC datetime (SQLite keeps
    no offset). Raises ValueError when unreadable."""
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return as_utc(value.replace(tzinfo=BEIJING) if value.tzinfo is None else value)
    text = str(value).strip()
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        parsed = None
        for fmt in TIME_FORMATS:
            try:
                parsed = datetime.strptime(text, fmt)
                break
            except ValueError:
                continue
        if parsed is None:
            raise ValueError(text) from None
    return as_utc(parsed.replace(tzinfo=BEIJING) if parsed.tzinfo is None else parsed)


def rescue_scope(user: User):
    if user.is_regulator:
        return in_region(Rescue.region_code, user.scope_prefix)
    if is_unit_user(user):
        return Rescue.maintenance_org_id == user.org_id
    return false()


def can_record_rescues(user: User) -> bool:
    return user.is_regulator


def check_rescue(user: User, record: dict, cache: dict) -> tuple[dict, dict[str, str]]:
    """Validate one rescue record (from an Excel row or the API) → (clean values, {field: reason})."""
    errors: dict[str, str] = {}
    clean: dict = {}
    rescue_no = str(record.get("rescue_no") or "").strip()
    if not rescue_no:
        errors["rescue_no"] = "此项为必填项"
    elif len(rescue_no) > 40:
        errors["rescue_no"] = "最多 40 个字符"
    clean["rescue_no"] = rescue_no
    times = {}
    for key in ("alarm_at", "arrived_at", "released_at"):
        try:
            times[key] = parse_time(record.get(key))
        except (ValueError, TypeError):
            errors[key] = "时间格式应为 YYYY-MM-DD HH:MM 或 ISO 8601"
            times[key] = None
    if times["alarm_at"] is None and "alarm_at" not in errors:
        errors["alarm_at"] = "此项为必填项"
    now = utcnow() + timedelta(minutes=10)
    for key, value in times.items():
        if value is not None and value > now:
            errors.setdefault(key, "时间不能晚于当前时间")
    if times["alarm_at"] and times["arrived_at"] and times["arrived_at"] < times["alarm_at"]:
        errors.setdefault("arrived_at", "到达时间不能早于报警时间")
    if times["alarm_at"] and times["released_at"] and times["released_at"] < times["alarm_at"]:
        errors.setdefault("released_at", "解救时间不能早于报警时间")
    if times["arrived_at"] and times["released_at"] and times["released_at"] < times["arrived_at"]:
        errors.setdefault("released_at", "解救时间不能早于到达时间")
    clean.update(times)
    trapped = record.get("trapped")
    try:
        clean["trapped"] = int(trapped) if trapped not in (None, "") else 0
        if float(trapped or 0) != clean["trapped"] or not 0 <= clean["trapped"] <= 100:
            raise ValueError
    except (TypeError, ValueError):
        errors["trapped"] = "被困人数应为 0–100 的整数"
    cause = str(record.get("cause") or "").strip()
    if len(cause) > 200:
        errors["cause"] = "最多 200 个字符"
    clean["cause"] = cause or None
    rescue_code = str(record.get("rescue_code") or "").strip()
    equipment_code = str(record.get("equipment_code") or "").strip()
    equipment = None
    if not rescue_code and not equipment_code:
        errors["rescue_code"] = "请填写96111救援码或设备代码"
    else:
        key = ("rc", rescue_code) if rescue_code else ("eq", equipment_code)
        if key not in cache:
            stmt = select(Equipment).join(ElevatorFacts, ElevatorFacts.equipment_id == Equipment.id)
            stmt = stmt.where(ElevatorFacts.rescue_code == rescue_code) if rescue_code \
                else stmt.where(Equipment.code == equipment_code)
            if user.is_regulator:
                stmt = stmt.where(in_region(Equipment.region_code, user.scope_prefix))
            cache[key] = db.session.scalar(stmt)
        equipment = cache[key]
        if equipment is None:
            errors["rescue_code" if rescue_code else "equipment_code"] = "电梯不存在或不在您的管辖范围内"
    if equipment is not None and times.get("alarm_at") is not None:
        day = to_local(times["alarm_at"]).date()
        org_id = db.session.scalar(select(MaintenanceContract.maintenance_org_id).where(
            MaintenanceContract.equipment_id == equipment.id, MaintenanceContract.starts_on <= day,
            MaintenanceContract.ends_on >= day).order_by(MaintenanceContract.starts_on.desc()).limit(1)) \
            or equipment.maintenance_org_id
        if org_id is None:
            errors.setdefault("alarm_at", "报警时该电梯没有维保合同，无法归属维保单位")
        clean["maintenance_org_id"] = org_id
        clean["equipment"] = equipment
    return clean, errors


def _rescue_row(clean: dict, user: User | None, source: str) -> Rescue:
    e = clean["equipment"]
    return Rescue(rescue_no=clean["rescue_no"], equipment_id=e.id, maintenance_org_id=clean["maintenance_org_id"],
                  region_code=e.region_code, alarm_at=clean["alarm_at"], arrived_at=clean.get("arrived_at"),
                  released_at=clean.get("released_at"), trapped=clean["trapped"], cause=clean.get("cause"),
                  source=source, created_by_id=user.id if user else None)


def same_rescue(stored: Rescue, clean: dict) -> bool:
    def eq(a, b):
        return (a is None and b is None) or (a is not None and b is not None
                                             and abs((as_utc(a) - as_utc(b)).total_seconds()) < 1)
    return (stored.equipment_id == clean["equipment"].id and eq(stored.alarm_at, clean["alarm_at"])
            and eq(stored.arrived_at, clean.get("arrived_at")) and eq(stored.released_at, clean.get("released_at"))
            and stored.trapped == clean["trapped"] and stored.cause == clean.get("cause"))


def ingest_rescues(user: User, records, source: str) -> list[dict]:
    """Store a batch of rescue records (API push or platform pull): one savepoint per record, a result
    per record — created / unchanged / refused with the reasons; refused records change nothing."""
    if not can_record_rescues(user):
        raise Forbidden("只有监管人员可以录入96111救援记录")
    if not isinstance(records, list) or not records:
        raise ValidationFailed({"records": "请提供至少 1 条救援记录"})
    if len(records) > 500:
        raise ValidationFailed({"records": "每批最多 500 条"})
    cache: dict = {}
    results = []
    created = 0
    for n, record in enumerate(records):
        if not isinstance(record, dict):
            results.append({"index": n, "status": "refused", "errors": {"record": "每条记录应为对象"}})
            continue
        clean, errors = check_rescue(user, record, cache)
        if errors:
            results.append({"index": n, "rescue_no": clean.get("rescue_no"), "status": "refused", "errors": errors})
            continue
        stored = db.session.scalar(select(Rescue).where(Rescue.rescue_no == clean["rescue_no"]))
        if stored is not None:
            if same_rescue(stored, clean):
                results.append({"index": n, "rescue_no": clean["rescue_no"], "status": "unchanged", "id": stored.id})
            else:
                results.append({"index": n, "rescue_no": clean["rescue_no"], "status": "refused",
                                "errors": {"rescue_no": "救援单号已存在且内容不同"}})
            continue
        with db.session.begin_nested():
            row = _rescue_row(clean, user, source)
            db.session.add(row)
        created += 1
        results.append({"index": n, "rescue_no": clean["rescue_no"], "status": "created", "id": row.id})
    refused = sum(1 for r in results if r["status"] == "refused")
    audit("record.change", f"96111救援记录（{'接口' if source == 'api' else '平台拉取'}）：新增 {created} 条，"
          f"拒收 {refused} 条", object_type="rating_rescue", object_id=None,
          detail={"source": source, "created": created, "refused": refused, "total": len(records)}, actor=user)
    return results


def rescues_query(user: User, *, q: str | None = None, org_id: int | None = None, date_from: date | None = None,
                  date_to: date | None = None):
    stmt = select(Rescue).where(rescue_scope(user))
    if org_id:
        stmt = stmt.where(Rescue.maintenance_org_id == org_id)
    if date_from:
        stmt = stmt.where(Rescue.alarm_at >= local_day_start(date_from))
    if date_to:
        stmt = stmt.where(Rescue.alarm_at <= local_day_end(date_to))
    if q:
        stmt = stmt.where(or_(Rescue.rescue_no.contains(q, autoescape=True), Rescue.equipment_id.in_(
            select(Equipment.id).where(or_(Equipment.code.contains(q, autoescape=True),
                                           Equipment.name.contains(q, autoescape=True))))))
    return stmt.order_by(Rescue.alarm_at.desc(), Rescue.id.desc())


def rescue_json(r: Rescue) -> dict:
    from ..core.clock import local_iso
    return {"id": r.id, "rescue_no": r.rescue_no, "equipment_id": r.equipment_id, "equipment_code": r.equipment.code,
            "equipment_name": r.equipment.name, "maintenance_org_id": r.maintenance_org_id,
            "maintenance_org": r.maintenance_org.name, "region_code": r.region_code,
            "alarm_at": local_iso(r.alarm_at), "arrived_at": local_iso(r.arrived_at),
            "released_at": local_iso(r.released_at), "trapped": r.trapped, "cause": r.cause,
            "arrival_minutes": r.arrival_minutes, "release_minutes": r.release_minutes, "source": r.source}


# ---------------------------------------------------------------- evaluation (§4.6.6)

def default_period(day: date | None = None) -> tuple[date, date]:
    """The current year to date."""
    day = day or today_local()
    return date(day.year, 1, 1), day


def _rate(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def figures(org_id: int, date_from: date, date_to: date) -> dict:
    """The facts of one maintenance unit over a period — the inputs of the evaluation table."""
    return figures_of([org_id], date_from, date_to)[org_id]


def figures_of(org_ids: list[int], date_from: date, date_to: date) -> dict[int, dict]:
    """The facts of several units at once (a list page): one grouped query per input, each read by the
    units' own indexes."""
    today = today_local()
    ids = list(dict.fromkeys(org_ids))
    if not ids:
        return {}
    contract = MaintenanceContract
    elevators = dict(db.session.execute(
        select(contract.maintenance_org_id, func.count(func.distinct(contract.equipment_id)))
        .where(contract.maintenance_org_id.in_(ids), contract.starts_on <= date_to, contract.ends_on >= date_from)
        .group_by(contract.maintenance_org_id)).all())
    # plans due in the period that are done, or whose day has passed; on time: done no later than due
    plan = MaintenancePlan
    on_time_case = case((and_(plan.status == "done", plan.done_on.is_not(None), plan.done_on <= plan.due_on), 1), else_=0)
    plans = {org: (n, int(ok or 0)) for org, n, ok in db.session.execute(
        select(plan.maintenance_org_id, func.count(), func.sum(on_time_case))
        .where(plan.maintenance_org_id.in_(ids), plan.due_on >= date_from, plan.due_on <= date_to,
               or_(plan.status == "done", plan.due_on < today))
        .group_by(plan.maintenance_org_id))}
    rescues: dict[int, list[Rescue]] = {org: [] for org in ids}
    for r in db.session.scalars(select(Rescue).where(Rescue.maintenance_org_id.in_(ids),
                                                     Rescue.alarm_at >= local_day_start(date_from),
                                                     Rescue.alarm_at <= local_day_end(date_to))):
        rescues[r.maintenance_org_id].append(r)
    # periodic inspections of elevators a unit maintained on the day of the inspection: from the units'
    # contracts (ix_elevator_contract_maint) to each elevator's reports (ix_inspection_report_equipment_date)
    inspections: dict[int, list[str]] = {org: [] for org in ids}
    for org, _report_id, conclusion in db.session.execute(
            select(contract.maintenance_org_id, InspectionReport.id, InspectionReport.conclusion).select_from(contract)
            .join(InspectionReport, and_(InspectionReport.equipment_id == contract.equipment_id,
                                         InspectionReport.inspected_on >= contract.starts_on,
                                         InspectionReport.inspected_on <= contract.ends_on))
            .where(contract.maintenance_org_id.in_(ids), InspectionReport.inspection_type == "periodic",
                   InspectionReport.inspected_on >= date_from, InspectionReport.inspected_on <= date_to)
            .distinct()):
        inspections[org].append(conclusion)
    patrols = {org: dict.fromkeys(PATROL_GRADES, 0) for org in ids}
    for org, grade, n in db.session.execute(
            select(PatrolItem.maintenance_org_id, PatrolItem.grade, func.count())
            .where(PatrolItem.maintenance_org_id.in_(ids), PatrolItem.grade.is_not(None),
                   PatrolItem.graded_at >= local_day_start(date_from), PatrolItem.graded_at <= local_day_end(date_to))
            .group_by(PatrolItem.maintenance_org_id, PatrolItem.grade)):
        patrols[org][grade] = n
    qualified = qualified_maintainers_of(ids)
    out = {}
    for org in ids:
        count = elevators.get(org, 0)
        plans_due, on_time = plans.get(org, (0, 0))
        rows = rescues[org]
        trapped = [r for r in rows if r.trapped > 0]
        releases = [r.release_minutes for r in trapped if r.release_minutes is not None]
        arrivals = [r.arrival_minutes for r in trapped if r.arrival_minutes is not None]
        first_pass = sum(1 for c in inspections[org] if c == "合格")
        patrol = patrols[org]
        out[org] = {
            "date_from": date_from.isoformat(), "date_to": date_to.isoformat(), "elevators": count,
            "plans_due": plans_due, "plans_on_time": on_time, "on_time_rate": _rate(on_time, plans_due),
            "rescue_count": len(rows), "trapped_rescues": len(trapped), "trapped_people": sum(r.trapped for r in trapped),
            "avg_release_minutes": round(sum(releases) / len(releases), 1) if releases else None,
            "avg_arrival_minutes": round(sum(arrivals) / len(arrivals), 1) if arrivals else None,
            "rescues_per_100": round(100.0 * len(rows) / count, 2) if count else 0.0,
            "inspections": len(inspections[org]), "inspections_first_pass": first_pass,
            "first_pass_rate": _rate(first_pass, len(inspections[org])),
            "patrol_graded": sum(patrol.values()), "patrol_pass": patrol["pass"], "patrol_basic": patrol["basic"],
            "patrol_fail": patrol["fail"], "qualified_maintainers": qualified.get(org, 0),
        }
    return out


def qualified_maintainers_of(org_ids: list[int]) -> dict[int, int]:
    """Per unit: its maintainers holding a valid T (电梯修理) certificate today."""
    day = today_local()
    counts: dict[int, int] = {}
    for u in db.session.scalars(select(User).where(User.org_id.in_(org_ids), User.role == "elevator_maintainer",
                                                   User.is_active_flag.is_(True))):
        if certificate_problem(u, day) is None:
            counts[u.org_id] = counts.get(u.org_id, 0) + 1
    return counts


def evaluate(org_id: int, date_from: date, date_to: date) -> dict:
    """Figures, the score by the latest deployed evaluation table, and the credit grade it suggests."""
    return evaluate_many([org_id], date_from, date_to)[org_id]


def evaluate_many(org_ids: list[int], date_from: date, date_to: date) -> dict[int, dict]:
    from ..engine.models import DecisionVersion
    version = db.session.scalar(select(DecisionVersion.version).where(DecisionVersion.decision_id == DECISION_ID)
                                .order_by(DecisionVersion.version.desc()).limit(1))
    out = {}
    for org_id, facts in figures_of(org_ids, date_from, date_to).items():
        result = decisions.evaluate(DECISION_ID, **facts)
        score = result.get("score")
        score = round(float(score), 1) if score is not None else None
        out[org_id] = {"figures": facts, "score": score, "formula": result.get("formula"), "grade": grade_for(score),
                       "decision_version": version}
    return out


EVAL_LABELS = [
    ("elevators", "维保电梯（台）"), ("plans_due", "应完成维保计划（次）"), ("plans_on_time", "按期完成（次）"),
    ("on_time_rate", "维保及时率（%）"), ("rescue_count", "应急救援（次）"), ("trapped_rescues", "困人救援（次）"),
    ("trapped_people", "被困人数"), ("avg_arrival_minutes", "困人救援平均到达时长（分钟）"),
    ("avg_release_minutes", "困人救援平均解救时长（分钟）"), ("rescues_per_100", "每百台救援（次）"),
    ("inspections", "定期检验（台次）"), ("inspections_first_pass", "一次检验合格（台次）"),
    ("first_pass_rate", "一次检验合格率（%）"), ("patrol_graded", "质量巡检已评定（条）"), ("patrol_pass", "巡检合格"),
    ("patrol_basic", "巡检基本合格"), ("patrol_fail", "巡检不合格"), ("qualified_maintainers", "持有效T证维保人员（人）"),
]


def period_args(args) -> tuple[date, date]:
    start, end = default_period()
    try:
        start = date.fromisoformat(args.get("date_from")) if args.get("date_from") else start
        end = date.fromisoformat(args.get("date_to")) if args.get("date_to") else end
    except ValueError:
        raise ValidationFailed({"date_from": "日期格式应为 YYYY-MM-DD"}) from None
    if start > end:
        raise ValidationFailed({"date_to": "结束日期不能早于开始日期"})
    if (end - start).days > 3 * 366:
        raise ValidationFailed({"date_to": "评价期间不能超过 3 年"})
    return start, end


# ---------------------------------------------------------------- star rating (§4.6.7)

def rating_years(day: date | None = None) -> list[int]:
    """The years a unit may apply for: this year and last year."""
    year = (day or today_local()).year
    return [year, year - 1]


@option_provider("rating_year")
def _year_options(user) -> list[tuple[str, str]]:
    return [(str(y), f"{y} 年度") for y in rating_years()]


def current_rating(org_id: int) -> StarRating | None:
    return db.session.scalar(select(StarRating).where(StarRating.org_id == org_id, StarRating.status == "approved")
                             .order_by(StarRating.year.desc(), StarRating.approved_at.desc()).limit(1))


def _period_of_year(year: int) -> tuple[date, date]:
    today = today_local()
    return date(year, 1, 1), min(date(year, 12, 31), today)


def prefill(org_id: int, year: int) -> dict:
    """The start form's values for a unit: its evaluation figures of the year."""
    evaluation = evaluate(org_id, *_period_of_year(year))
    f = evaluation["figures"]
    last = db.session.scalar(select(StarRating.license_no).where(StarRating.org_id == org_id,
                                                                 StarRating.license_no.is_not(None))
                             .order_by(StarRating.id.desc()).limit(1))
    values = {"year": str(year), "requested_grade": evaluation["grade"] or "D", "license_no": last or ""}
    for key in FORM_FIGURES:
        if f.get(key) is not None:
            values[key] = f[key]
    if evaluation["score"] is not None:
        values["score"] = evaluation["score"]
    return values


# Figures the application form carries (pre-filled; the system recomputes them on submission).
FORM_FIGURES = ("elevators", "on_time_rate", "rescue_count", "trapped_rescues", "avg_release_minutes",
                "first_pass_rate", "patrol_graded", "qualified_maintainers")


@start_hook(PROCESS_KEY)
def prepare_application(user: User, data: dict) -> StartContext:
    if user.role != "maintenance_unit" or not user.org_id:
        raise ValidationFailed({"year": "只有维保单位可以申请星级评定"})
    try:
        year = int(data.get("year") or 0)
    except (TypeError, ValueError):
        year = 0
    if year not in rating_years():
        raise ValidationFailed({"year": "只能申请本年度或上一年度的星级评定"})
    org = db.session.get(Organization, user.org_id)
    if org is None or org.kind != "maintenance_unit":
        raise ValidationFailed({"year": "您所在单位不是维护保养单位"})
    pending = db.session.scalar(select(StarRating.id).where(StarRating.org_id == org.id, StarRating.year == year,
                                                            StarRating.status != "approved").limit(1))
    if pending:
        raise ValidationFailed({"year": f"{year} 年度已有办理中的星级评定申请"})
    evaluation = evaluate(org.id, *_period_of_year(year))
    if not evaluation["figures"]["elevators"]:
        raise ValidationFailed({"year": f"{year} 年度没有维保电梯，不能申请星级评定"})
    system = {k: evaluation["figures"][k] for k in FORM_FIGURES}
    return StartContext(title=f"{org.name} {year} 年度维保单位星级评定申请", region_code=org.region_code, org_id=org.id,
                        extra_data={"rating_org_id": org.id, **system, "score": evaluation["score"],
                                    "suggested_grade": evaluation["grade"] or "",
                                    "evaluation_formula": evaluation["formula"] or ""})


def _application(ctx: ServiceContext) -> StarRating:
    return case_row(StarRating, ctx)


@service("rating.open")
def open_application(ctx: ServiceContext) -> dict:
    d = ctx.task_data
    evaluation = evaluate(d["rating_org_id"], *_period_of_year(int(d["year"])))
    row = StarRating(case_id=ctx.case.id, org_id=d["rating_org_id"], region_code=ctx.case.region_code,
                     year=int(d["year"]), figures=evaluation["figures"], score=evaluation["score"],
                     suggested_grade=evaluation["grade"], requested_grade=d["requested_grade"],
                     license_no=d.get("license_no"), statement=d.get("statement"), status="city_review")
    db.session.add(row)
    db.session.flush()
    audit("record.change", f"维保单位星级评定申请 {ctx.case.case_no}（申请 {GRADES[row.requested_grade]}）",
          object_type="rating_star", object_id=row.id, actor=ctx.actor)
    return {"application_id": row.id}


@service("rating.returned")
def returned(ctx: ServiceContext, level: str) -> dict:
    row = _application(ctx)
    reason = ctx.task_data.get("opinion") or ""
    row.status, row.return_reason = "returned", reason
    who = "设区市局" if level == "city" else "自治区局"
    _notify_unit(row.org_id, f"星级评定申请被{who}退回：{reason}"[:200], reason, ctx.actor, ctx.case)
    audit("record.change", f"星级评定申请 {ctx.case.case_no} 被{who}退回", object_type="rating_star", object_id=row.id,
          detail={"reason": reason}, actor=ctx.actor)
    return {"status": "returned"}


@service("rating.resubmitted")
def resubmitted(ctx: ServiceContext) -> dict:
    row = _application(ctx)
    d = ctx.task_data
    evaluation = evaluate(row.org_id, *_period_of_year(row.year))   # figures as of the resubmission
    row.figures, row.score, row.suggested_grade = evaluation["figures"], evaluation["score"], evaluation["grade"]
    for key in FORM_FIGURES:
        d[key] = evaluation["figures"][key]
    d["score"], d["suggested_grade"] = evaluation["score"], evaluation["grade"] or ""
    row.requested_grade, row.license_no, row.statement = d["requested_grade"], d.get("license_no"), d.get("statement")
    row.status = "city_review"
    return {"status": "city_review"}


@service("rating.city_approved")
def city_approved(ctx: ServiceContext) -> dict:
    row = _application(ctx)
    row.status, row.city_grade = "province_review", ctx.task_data.get("recommended_grade")
    _notify_unit(row.org_id, f"星级评定申请已通过设区市局审核，报自治区局审批（{ctx.case.case_no}）", None,
                 ctx.actor, ctx.case)
    return {"status": "province_review"}


@service("rating.approve")
def approve(ctx: ServiceContext) -> dict:
    row = _application(ctx)
    d = ctx.task_data
    row.grade = d["grade"]
    row.veto = d.get("veto") == "yes"
    row.status, row.approved_by_id, row.approved_at = "approved", ctx.actor.id if ctx.actor else None, utcnow()
    row.return_reason = None
    _notify_unit(row.org_id, f"{row.year} 年度星级评定结果：{GRADES[row.grade]}（{ctx.case.case_no}）",
                 d.get("opinion"), ctx.actor, ctx.case)
    from ..sms.services import enqueue, recipients_for_org
    recipients = recipients_for_org(row.org_id)
    if recipients:      # the unit's SMS contacts: the case is closed, the result is on the platform
        enqueue("CASE_CLOSED", {"unitName": row.org.name, "caseNo": ctx.case.case_no, "title": ctx.case.title},
                recipients, region_code=row.region_code, case_id=ctx.case.id, dedup_key=f"rating-closed:{ctx.case.id}")
    audit("record.change", f"星级评定 {ctx.case.case_no}：{row.org.name} {row.year} 年度 {GRADES[row.grade]}",
          object_type="rating_star", object_id=row.id, detail={"grade": row.grade, "veto": row.veto}, actor=ctx.actor)
    return {"grade": row.grade}


@case_panel(PROCESS_KEY)
def application_panel(case: Case) -> dict | None:
    row = db.session.scalar(select(StarRating).where(StarRating.case_id == case.id))
    if row is None:
        return None
    return {"template": "elevator_rating/_case_panel.html", "row": row, "labels": EVAL_LABELS, "GRADES": GRADES}


def ratings_scope(user: User):
    if user.is_regulator:
        return in_region(StarRating.region_code, user.scope_prefix)
    if is_unit_user(user):
        return StarRating.org_id == user.org_id
    return false()


def ratings_query(user: User, *, q: str | None = None, status: str | None = None, year: int | None = None,
                  grade: str | None = None):
    stmt = select(StarRating).join(Organization, Organization.id == StarRating.org_id).where(ratings_scope(user))
    if q:
        stmt = stmt.where(Organization.name.contains(q, autoescape=True))
    if status in StarRating.STATUS_LABELS:
        stmt = stmt.where(StarRating.status == status)
    if year:
        stmt = stmt.where(StarRating.year == year)
    if grade in GRADES:
        stmt = stmt.where(StarRating.grade == grade)
    return stmt.order_by(StarRating.created_at.desc(), StarRating.id.desc())


def public_ratings(q: str | None = None):
    """Approved ratings, the latest per unit and year (the public list)."""
    stmt = (select(StarRating).join(Organization, Organization.id == StarRating.org_id)
            .where(StarRating.status == "approved"))
    if q:
        stmt = stmt.where(Organization.name.contains(q, autoescape=True))
    return stmt.order_by(StarRating.year.desc(), StarRating.grade, Organization.name)


def rating_json(r: StarRating) -> dict:
    from ..core.clock import local_iso
    return {"id": r.id, "case_id": r.case_id, "org_id": r.org_id, "org_name": r.org.name, "year": r.year,
            "status": r.status, "status_label": r.status_label, "score": r.score, "suggested_grade": r.suggested_grade,
            "requested_grade": r.requested_grade, "city_grade": r.city_grade, "grade": r.grade, "stars": r.stars,
            "veto": r.veto, "license_no": r.license_no, "figures": r.figures, "return_reason": r.return_reason,
            "approved_at": local_iso(r.approved_at)}


@lookup("rating_unit", "本人可查看的维保单位")
def _unit_lookup(user, q: str, limit: int):
    stmt = units_query(user, q or None)
    total = db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    items = [{"value": o.id, "label": o.name} for o in db.session.scalars(stmt.limit(limit))]
    return items, total

