"""Paperless elevator maintenance: the rules.

- Items: TSG T5002-2017 Annex A–D seeded from reference data; cumulative by maintenance type
  (季度 = 半月 + 季度 …); an admin may edit item, requirement, photo flag (`update_item`, audited).
- Plans: generated per elevator from its contract (`generate_plans`): one visit every `cycle_days`
  (half-monthly, at most 15 days apart), the quarterly / half-yearly / yearly items falling due on top.
  Plans are calendar days; the maintenance unit may move one (`move_plan`, gap rule kept); a planned
  visit before today is overdue.
- Visits (`check_in` → `add_photo` / `save_results` → `finish`): the server refuses a check-in farther
  than 100 m from the elevator (whole metres; exactly 100 m is allowed), a maintainer without a usable
  T (电梯修理) certificate, a photo without capture time or position; the same functions run for records
  uploaded from the offline queue (`sync_batch`), each record idempotent by its client id.
- Sign-off: `finish(..., submit=True)` starts workflows/elevator_maintenance.bpmn; its service tasks
  below move the order through 待确认 → (退回) → 质量签字 → 归档 (PDF, documents.py).
"""
from __future__ import annotations

import io
import json
import re
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Callable

from sqlalchemy import func, or_, select
from werkzeug.datastructures import FileStorage

from ..cases.models import Case
from ..core import evidence, geo
from ..core.clock import as_utc, on_local_days, to_local, today_local, utcnow
from ..core.models import Attachment, Equipment, Organization, User
from ..core.params import contains, int_arg, text_arg
from ..core.scope import in_region
from ..core.sequences import reserve_values
from ..core.storage import save_upload
from ..engine.services import ServiceContext, StartContext, case_panel, service, start_hook
from ..errors import Conflict, DomainError, Forbidden, NotFound, ValidationFailed
from ..extensions import db
from ..registry.services import device_scope
from .documents import work_order_pdf
from .models import (ANNEX_OF_TYPE, ELEVATOR_TYPES, KEY_POSITIONS, MAINT_ORDER, MAINT_TYPES, RESULTS, ElevatorFacts,
                     MaintenanceContract, MaintenanceItem, MaintenancePlan, WorkOrder, WorkOrderItem, WorkPhoto)

PROCESS_KEY = "elevator_maintenance"
CHECKIN_RADIUS_M = 100
CERT_WORK_ITEM = "T"                 # TSG Z6001-2019 电梯修理 (includes maintenance)
MAX_CYCLE_DAYS = 15                  # half-monthly maintenance: at most 15 days apart (TSG T5002 第九条)
CLOCK_SKEW = timedelta(minutes=10)   # a phone's clock may run this far ahead
OFFLINE_MAX_AGE = timedelta(days=7)  # queued records older than this are refused
SIGNATURE_FILENAME = "手写签名.png"
REFERENCE_FILE = Path(__file__).parent / "data" / "maintenance_items.json"   # copy of shared/reference

# Items that need a photo by default, and the key position (机房/轿顶/底坑 …) they show on the public page.
# A platform default the administrator may change on the items page; TSG T5002 itself names no photos.
DEFAULT_PHOTO_ITEMS = {
    "A-1-01": "machine_room", "A-1-11": "car_top", "A-1-30": "pit",
    "B-1-01": "machine_room", "B-1-08": "car_top", "B-1-27": "pit",
    "C-1-01": "machine_room", "C-1-07": "car_top", "C-1-19": "pit",
    "D-1-30": "machine_room", "D-1-13": "truss", "D-1-32": "landing",
}


# ---------------------------------------------------------------- items

def seed_items() -> int:
    """Insert the Annex A–D items that are missing (by item code); never overwrites an edited item."""
    data = json.loads(REFERENCE_FILE.read_text(encoding="utf-8"))
    have = set(db.session.scalars(select(MaintenanceItem.code)))
    added = 0
    for row in data["items"]:
        if row["item_code"] in have:
            continue
        position = DEFAULT_PHOTO_ITEMS.get(row["item_code"])
        db.session.add(MaintenanceItem(code=row["item_code"], annex=row["appendix"], frequency=row["frequency"],
                                       seq=row["seq"], item=row["item"][:200], requirement=row["requirement"][:500],
                                       photo_required=position is not None, key_position=position,
                                       source=f"TSG T5002-2017 附件{row['appendix']} {row['table']} 第{row['seq']}项"))
        added += 1
    db.session.flush()
    return added


def types_up_to(maint_type: str) -> list[str]:
    """Cumulative: a quarterly visit does the half-monthly and quarterly items, and so on."""
    if maint_type not in MAINT_ORDER:
        return []
    return MAINT_ORDER[: MAINT_ORDER.index(maint_type) + 1]


# Within `reference_cache()` (a batch of uploaded records), the items of a kind of visit, an elevator's facts
# and contract, a maintainer's certificates and a decoded signature image are read once: they do not change
# while the batch runs.
_REFERENCE_CACHE: ContextVar[dict | None] = ContextVar("elevator_reference_cache", default=None)


@contextmanager
def reference_cache():
    token = _REFERENCE_CACHE.set({})
    try:
        yield
    finally:
        _REFERENCE_CACHE.reset(token)


def prime_cache(key, value) -> None:
    """Within reference_cache(): a value read in bulk by the caller (e.g. ("facts", equipment_id))."""
    cache = _REFERENCE_CACHE.get()
    if cache is not None:
        cache[key] = value


def _cached(key, load):
    cache = _REFERENCE_CACHE.get()
    if cache is None:
        return load()
    if key not in cache:
        cache[key] = load()
    return cache[key]


def items_for(elevator_type: str, maint_type: str) -> list[MaintenanceItem]:
    annex = ANNEX_OF_TYPE.get(elevator_type)
    if annex is None:
        return []
    order = {t: n for n, t in enumerate(MAINT_ORDER)}

    def load():
        rows = list(db.session.scalars(select(MaintenanceItem).where(
            MaintenanceItem.annex == annex, MaintenanceItem.active.is_(True),
            MaintenanceItem.frequency.in_(types_up_to(maint_type)))))
        return sorted(rows, key=lambda i: (order[i.frequency], i.seq))
    return list(_cached(("items", annex, maint_type), load))


def update_item(item: MaintenanceItem, values: dict, actor: User) -> None:
    from ..security.audit import audit
    errors = {}
    text = (values.get("item") or "").strip()
    requirement = (values.get("requirement") or "").strip()
    if not 2 <= len(text) <= 200:
        errors["item"] = "维保项目为 2–200 个字"
    if not 2 <= len(requirement) <= 500:
        errors["requirement"] = "基本要求为 2–500 个字"
    position = values.get("key_position") or None
    if position and position not in KEY_POSITIONS:
        errors["key_position"] = "请选择有效的关键部位"
    if errors:
        raise ValidationFailed(errors)
    before = {"item": item.item, "requirement": item.requirement, "photo_required": item.photo_required,
              "key_position": item.key_position, "active": item.active}
    item.item, item.requirement = text, requirement
    item.photo_required = bool(values.get("photo_required"))
    item.key_position = position
    item.active = bool(values.get("active", True))
    item.updated_at, item.updated_by_id = utcnow(), actor.id
    audit("record.change", f"修改维保项目 {item.code}", object_type="elevator_item", object_id=item.id,
          detail={"before": before, "after": {k: getattr(item, k) for k in before}}, actor=actor)


# ---------------------------------------------------------------- elevators and scope

def elevator_scope(user: User):
    """Elevators (Equipment rows with facts) the user may read: the registry's device scope."""
    return device_scope(user)


def elevators_query(user: User, q: str | None = None, use_org_id: int | None = None):
    stmt = (select(Equipment, ElevatorFacts).join(ElevatorFacts, ElevatorFacts.equipment_id == Equipment.id)
            .where(elevator_scope(user)))
    if q:
        like = f"%{q}%"
        stmt = stmt.where(or_(Equipment.code.like(like), Equipment.name.like(like), ElevatorFacts.rescue_code.like(like),
                              ElevatorFacts.site.like(like), Equipment.address.like(like)))
    if use_org_id:
        stmt = stmt.where(Equipment.use_org_id == use_org_id)
    return stmt.order_by(Equipment.use_org_id, ElevatorFacts.site, Equipment.code)


def visible_elevator(user: User, equipment_id: int) -> tuple[Equipment, ElevatorFacts]:
    row = db.session.execute(select(Equipment, ElevatorFacts)
                             .join(ElevatorFacts, ElevatorFacts.equipment_id == Equipment.id)
                             .where(Equipment.id == equipment_id, elevator_scope(user))).first()
    if row is None:
        raise NotFound("电梯不存在或不在您的查看范围内")
    return row[0], row[1]


def facts_of(equipment_id: int) -> ElevatorFacts | None:
    return _cached(("facts", equipment_id), lambda: db.session.scalar(
        select(ElevatorFacts).where(ElevatorFacts.equipment_id == equipment_id)))


_URL_CODE = re.compile(r"/p/elevators/([0-9A-Za-z-]+)")


def lookup(user: User, raw: str) -> tuple[Equipment, ElevatorFacts]:
    """An elevator from any of its codes as scanned or typed: the 96111 rescue code (or the URL of its
    public page on the label), the 设备代码, the 注册代码, the 使用登记证编号 (use sign / certificate /
    report QR codes carry one of these) or the safety chip id."""
    code = (raw or "").strip()
    m = _URL_CODE.search(code)
    if m:
        code = m.group(1)
    if not code:
        raise ValidationFailed({"code": "请扫描或输入电梯的识别码"})
    base = (select(Equipment, ElevatorFacts).join(ElevatorFacts, ElevatorFacts.equipment_id == Equipment.id)
            .where(elevator_scope(user)))
    row = None
    for cond in (ElevatorFacts.rescue_code == code, Equipment.code == code, Equipment.reg_code == code,
                 Equipment.registration_no == code, ElevatorFacts.chip_id == code):
        row = db.session.execute(base.where(cond)).first()
        if row is not None:
            break
    if row is None:
        raise NotFound(f"未找到识别码为 {code[:40]} 的电梯，或该电梯不由本单位维保")
    return row[0], row[1]


SETUP_ROLES = ("maintenance_unit", "maintenance_quality", "elevator_maintainer")


def setup_elevator(user: User, equipment: Equipment, values: dict) -> MaintenanceContract:
    """The maintenance unit records an elevator it maintains (facts) and its contract; the contract's plans
    are generated from the later of its start and today. Per-field Chinese errors; nothing saved on error."""
    from ..security.audit import audit
    if user.role not in SETUP_ROLES or not user.org_id or equipment.maintenance_org_id != user.org_id:
        raise Forbidden("只有该电梯登记的维保单位可以录入电梯参数与维保合同")
    if equipment.kind_code != "3000":
        raise ValidationFailed({"code": "该设备不是电梯"})
    errors: dict[str, str] = {}

    def number(name, label, kind, lo, hi, required=False):
        raw = str(values.get(name) or "").strip()
        if not raw:
            if required:
                errors[name] = f"请填写{label}"
            return None
        try:
            v = kind(raw)
        except ValueError:
            errors[name] = f"{label}须为数字"
            return None
        if not lo <= v <= hi:
            errors[name] = f"{label}应在 {lo}–{hi} 之间"
        return v

    def day(name, label):
        try:
            return date.fromisoformat(str(values.get(name) or ""))
        except ValueError:
            errors[name] = f"{label}格式应为 YYYY-MM-DD"
            return None
    kind = values.get("elevator_type")
    if kind not in ELEVATOR_TYPES:
        errors["elevator_type"] = "请选择电梯类型"
    moving = kind in ("escalator", "moving_walk")
    floors = number("floors", "层站数", int, 2, 200, required=not moving)
    speed = number("speed", "额定速度", float, 0.1, 20, required=True)
    load = number("rated_load", "额定载重", int, 50, 50000, required=not moving)
    rescue = str(values.get("rescue_code") or "").strip()
    if not re.fullmatch(r"[0-9A-Za-z-]{4,20}", rescue):
        errors["rescue_code"] = "请填写 96111 救援识别码（4–20 位字母或数字）"
    facts = facts_of(equipment.id)
    if rescue and db.session.scalar(select(ElevatorFacts.id).where(ElevatorFacts.rescue_code == rescue,
                                                                   ElevatorFacts.equipment_id != equipment.id)):
        errors["rescue_code"] = "该救援识别码已用于另一台电梯"
    starts, ends = day("starts_on", "合同开始日期"), day("ends_on", "合同结束日期")
    if starts and ends and ends <= starts:
        errors["ends_on"] = "合同结束日期须晚于开始日期"
    if ends and ends < today_local():
        errors["ends_on"] = "合同已到期"
    cycle = number("cycle_days", "维保周期", int, 1, MAX_CYCLE_DAYS, required=True)
    if equipment.lat is None or equipment.lng is None:
        errors["position"] = "设备档案中没有位置坐标，无法现场签到；请先在设备登记中补录经纬度"
    if errors:
        raise ValidationFailed(errors)
    if facts is None:
        facts = ElevatorFacts(equipment_id=equipment.id, elevator_type=kind, rescue_code=rescue)
        db.session.add(facts)
    facts.elevator_type, facts.floors, facts.speed, facts.rated_load = kind, floors, speed, load
    facts.rescue_code, facts.updated_at = rescue, utcnow()
    facts.site = (str(values.get("site") or "").strip() or None)
    for old in db.session.scalars(select(MaintenanceContract).where(MaintenanceContract.equipment_id == equipment.id,
                                                                    MaintenanceContract.ends_on >= today_local())):
        old.ends_on = max(old.starts_on, today_local() - timedelta(days=1))    # superseded by the new contract
        db.session.execute(MaintenancePlan.__table__.delete().where(MaintenancePlan.contract_id == old.id,
                                                                    MaintenancePlan.status == "planned"))
    contract = MaintenanceContract(equipment_id=equipment.id, maintenance_org_id=user.org_id,
                                   use_org_id=equipment.use_org_id, contract_no=(str(values.get("contract_no") or "").strip()
                                                                                 or None),
                                   starts_on=starts, ends_on=ends, cycle_days=cycle,
                                   quality_sign_required=bool(values.get("quality_sign_required")))
    db.session.add(contract)
    db.session.flush()
    made = generate_plans(contract, from_day=max(starts, today_local()))
    audit("record.change", f"录入电梯 {equipment.code} 参数与维保合同（{starts}–{ends}，每 {cycle} 天，生成计划 {made} 次）",
          object_type="elevator", object_id=equipment.id, actor=user)
    return contract


CHIP_ID = re.compile(r"^[0-9A-F]{8,32}$")


def bind_chip(user: User, equipment: Equipment, facts: ElevatorFacts, raw: str | None) -> ElevatorFacts:
    """The maintenance unit binds the elevator's safety chip (安全芯, an NFC tag: its serial number in hex)
    or unbinds it (empty). A chip belongs to one elevator."""
    from ..security.audit import audit
    if user.org_id is None or user.org_id != equipment.maintenance_org_id or user.role not in (
            "elevator_maintainer", "maintenance_quality", "maintenance_unit"):
        raise Forbidden("只有该电梯的维保单位可以绑定安全芯")
    chip = re.sub(r"[\s:-]", "", raw or "").upper() or None
    if chip and not CHIP_ID.match(chip):
        raise ValidationFailed({"chip_id": "安全芯编号应为 8–32 位十六进制字符（NFC 标签序列号）"})
    if chip:
        other = db.session.scalar(select(ElevatorFacts).where(ElevatorFacts.chip_id == chip,
                                                              ElevatorFacts.id != facts.id))
        if other is not None:
            raise ValidationFailed({"chip_id": "该安全芯已绑定到另一台电梯"})
    old = facts.chip_id
    facts.chip_id, facts.updated_at = chip, utcnow()
    audit("record.change", f"电梯 {equipment.code} 安全芯 {old or '无'} → {chip or '解除绑定'}",
          object_type="elevator", object_id=equipment.id, actor=user)
    db.session.flush()
    return facts


def active_contract(equipment_id: int, day: date | None = None) -> MaintenanceContract | None:
    day = day or today_local()
    return _cached(("contract", equipment_id, day), lambda: db.session.scalar(select(MaintenanceContract).where(
        MaintenanceContract.equipment_id == equipment_id, MaintenanceContract.starts_on <= day,
        MaintenanceContract.ends_on >= day).order_by(MaintenanceContract.id.desc()).limit(1)))


# ---------------------------------------------------------------- plans

def plan_type(n: int, cycle_days: int) -> str:
    """The type of the n-th visit (1-based) of a contract: quarterly every ~91 days, and so on."""
    per_quarter = max(1, round(91.25 / cycle_days))
    if n % (4 * per_quarter) == 0:
        return "YEAR"
    if n % (2 * per_quarter) == 0:
        return "HALF_YEAR"
    if n % per_quarter == 0:
        return "QUARTER"
    return "HALF"


def generate_plans(contract: MaintenanceContract, *, from_day: date | None = None) -> int:
    """(Re)generate the contract's planned visits from `from_day` (default: its start): planned, not yet
    done visits from that day on are replaced; done visits stay."""
    if not 1 <= contract.cycle_days <= MAX_CYCLE_DAYS:
        raise ValidationFailed({"cycle_days": f"维保周期为 1–{MAX_CYCLE_DAYS} 天（半月维保间隔不超过 15 天）"})
    start = contract.starts_on
    from_day = max(from_day or start, start)
    db.session.execute(MaintenancePlan.__table__.delete().where(
        MaintenancePlan.contract_id == contract.id, MaintenancePlan.status == "planned",
        MaintenancePlan.due_on >= from_day))
    rows, n, day = [], 1, start
    while day <= contract.ends_on:
        if day >= from_day:
            rows.append({"equipment_id": contract.equipment_id, "contract_id": contract.id,
                         "maintenance_org_id": contract.maintenance_org_id, "due_on": day,
                         "maint_type": plan_type(n, contract.cycle_days), "status": "planned"})
        n += 1
        day = start + timedelta(days=(n - 1) * contract.cycle_days)
    if rows:
        db.session.execute(MaintenancePlan.__table__.insert(), rows)
    return len(rows)


def move_plan(plan: MaintenancePlan, new_day: date, actor: User) -> int:
    """The maintenance unit moves a planned visit: at most 15 days after the previous visit and not before
    it; the later planned visits of the contract follow at the contract's cycle from the new day, so the
    15-day rule holds all along. Returns how many later plans moved."""
    from ..security.audit import audit
    if plan.status != "planned":
        raise Conflict("已完成的计划不能调整", code="plan_done")
    before = db.session.scalar(select(func.max(MaintenancePlan.due_on)).where(
        MaintenancePlan.equipment_id == plan.equipment_id, MaintenancePlan.id != plan.id,
        MaintenancePlan.due_on <= plan.due_on))
    if before and new_day <= before:
        raise ValidationFailed({"due_on": f"不能早于或等于上一次维保（{before:%Y-%m-%d}）"})
    if before and (new_day - before).days > MAX_CYCLE_DAYS:
        raise ValidationFailed({"due_on": f"与上一次维保（{before:%Y-%m-%d}）间隔不得超过 {MAX_CYCLE_DAYS} 天"})
    contract = db.session.get(MaintenanceContract, plan.contract_id) if plan.contract_id else None
    if contract and not contract.starts_on <= new_day <= contract.ends_on:
        raise ValidationFailed({"due_on": f"须在合同期内（{contract.starts_on:%Y-%m-%d} 至 {contract.ends_on:%Y-%m-%d}）"})
    cycle = contract.cycle_days if contract else MAX_CYCLE_DAYS
    later = list(db.session.scalars(select(MaintenancePlan).where(
        MaintenancePlan.equipment_id == plan.equipment_id, MaintenancePlan.status == "planned",
        MaintenancePlan.id != plan.id, MaintenancePlan.due_on >= plan.due_on).order_by(MaintenancePlan.due_on)))
    old = plan.due_on
    plan.due_on, plan.edited_by_id, plan.edited_at = new_day, actor.id, utcnow()
    for n, row in enumerate(later, 1):
        row.due_on = new_day + timedelta(days=n * cycle)
    audit("record.change", f"调整维保计划 {old:%Y-%m-%d} → {new_day:%Y-%m-%d}（其后 {len(later)} 次计划顺延）",
          object_type="elevator_plan", object_id=plan.id, actor=actor)
    return len(later)


def plans_query(user: User, *, status: str | None = None, until: date | None = None):
    stmt = (select(MaintenancePlan).join(Equipment, Equipment.id == MaintenancePlan.equipment_id)
            .where(elevator_scope(user)))
    if status:
        stmt = stmt.where(MaintenancePlan.status == status)
    if until:
        stmt = stmt.where(MaintenancePlan.due_on <= until)
    return stmt.order_by(MaintenancePlan.due_on, MaintenancePlan.id)


def due_plans(user: User, day: date | None = None) -> list[MaintenancePlan]:
    """Today's and overdue planned visits, overdue first."""
    day = day or today_local()
    return list(db.session.scalars(plans_query(user, status="planned", until=day)))


def next_plan(equipment_id: int) -> MaintenancePlan | None:
    return db.session.scalar(select(MaintenancePlan).where(
        MaintenancePlan.equipment_id == equipment_id, MaintenancePlan.status == "planned")
        .order_by(MaintenancePlan.due_on).limit(1))


# ---------------------------------------------------------------- checks shared by online and queued records

def certificate_problem(user: User, day: date) -> str | None:
    """Why `user` may not do elevator work on `day` (None: a usable T certificate)."""
    from ..operators.models import Operator, OperatorCertificate
    certs = _cached(("certs", user.id), lambda: list(db.session.scalars(
        select(OperatorCertificate).join(Operator).where(Operator.user_id == user.id,
                                                         OperatorCertificate.work_item == CERT_WORK_ITEM))))
    return certificate_problem_of([c.expiry_date for c in certs], day)


def certificate_problem_of(expiries: list[date], day: date) -> str | None:
    """The same judgement from the expiry dates of a person's T certificates (callers that read many people at once)."""
    if not expiries:
        return "未持有电梯修理（T）作业人员证，禁止作业"
    if all(expiry < day for expiry in expiries):
        return "作业人员证书已过期"
    return None


def _position(payload: dict, field: str, what: str) -> tuple[float, float]:
    lat, lng = geo.coordinate(payload.get("lat"), "lat"), geo.coordinate(payload.get("lng"), "lng")
    if lat is None or lng is None:
        raise ValidationFailed({field: f"未获取到定位，无法{what}，请允许浏览器获取位置"})
    return lat, lng


def _instant(value, field: str, label: str, *, offline: bool) -> datetime:
    """When something happened: the server clock for live requests, the recorded time for queued ones."""
    now = utcnow()
    if not offline and value in (None, ""):
        return now
    if value in (None, ""):
        raise ValidationFailed({field: f"缺少{label}"})
    try:
        at = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise ValidationFailed({field: f"{label}格式不正确"}) from None
    if at.tzinfo is None:
        raise ValidationFailed({field: f"{label}须带时区"})
    at = as_utc(at)
    if at > now + CLOCK_SKEW:
        raise ValidationFailed({field: f"{label}晚于当前时间"})
    if at < now - OFFLINE_MAX_AGE:
        raise ValidationFailed({field: f"{label}早于 7 天前，不能补传"})
    return at if offline else now


def _on_site(facts_eq: Equipment, lat: float, lng: float, field: str, what: str) -> int:
    if facts_eq.lat is None or facts_eq.lng is None:
        raise ValidationFailed({field: "该电梯未登记位置坐标，请联系使用单位补录后再" + what})
    ok, metres = geo.within(lat, lng, facts_eq.lat, facts_eq.lng, CHECKIN_RADIUS_M)
    if not ok:
        raise ValidationFailed({field: f"距电梯 {metres} 米，超出 {CHECKIN_RADIUS_M} 米范围，禁止{what}"},
                               message=f"距电梯 {metres} 米，超出 {CHECKIN_RADIUS_M} 米范围，禁止{what}")
    return metres


def _client_id(value, field: str = "client_id") -> str:
    text = str(value or "").strip()
    if not re.fullmatch(r"[0-9A-Za-z_-]{8,64}", text):
        raise ValidationFailed({field: "缺少或无效的客户端编号（8–64 位字母、数字、-、_）"})
    return text


decode_data_url = evidence.decode_data_url


def require_maintainer(user: User) -> None:
    if user.role != "elevator_maintainer" or not user.org_id:
        raise Forbidden("只有维保单位的维保人员可以办理维保作业")


def _own_order(user: User, order: WorkOrder, editable: bool = True) -> WorkOrder:
    if order.maintainer_id != user.id:
        raise Forbidden("只有签到的维保人员可以修改该工单")
    if editable and order.status not in ("in_progress", "returned"):
        raise Conflict(f"工单{order.status_label}，不能修改", code="order_locked")
    return order


# ---------------------------------------------------------------- visit

def _order_no(kind: str) -> str:
    return order_numbers(kind, 1)[0]


def order_numbers(kind: str, count: int) -> list[str]:
    """`count` new work-order numbers of a kind (WB… maintenance, WX… repair), one counter step."""
    today = today_local()
    prefix = "WB" if kind == "maintenance" else "WX"
    return [f"{prefix}{today:%Y%m%d}{n:05d}"
            for n in reserve_values("elevator_order:" + prefix, today.isoformat(), count)]


@dataclass
class CheckIn:
    order: WorkOrder
    duplicate: bool


@dataclass
class Arrival:
    """A check-in that passed the rules (validate_checkin): what the work order records of it."""
    kind: str
    at: datetime
    lat: float
    lng: float
    metres: int
    maint_type: str | None           # None when the visit names a plan (plan_id): the plan's type


def validate_checkin(user: User, equipment: Equipment, payload: dict, *, offline: bool) -> Arrival:
    """The check-in rules, in the order they refuse: kind of work, time (offline: recorded, with a time
    zone, not in the future, not older than 7 days), position, a T certificate valid on the local day,
    within 100 m of the elevator, the maintenance type. Reads nothing but the maintainer's certificates
    (cached within reference_cache)."""
    kind = payload.get("kind") or "maintenance"
    if kind not in WorkOrder.KIND_LABELS:
        raise ValidationFailed({"kind": "作业类型须为维保或维修"})
    at = _instant(payload.get("at"), "at", "签到时间", offline=offline)
    lat, lng = _position(payload, "position", "签到")
    problem = certificate_problem(user, to_local(at).date())
    if problem:
        raise ValidationFailed({"certificate": problem}, message=problem)
    metres = _on_site(equipment, lat, lng, "position", "签到")
    maint_type = None
    if kind == "maintenance" and not payload.get("plan_id"):
        maint_type = payload.get("maint_type") or "HALF"
        if maint_type not in MAINT_TYPES:
            raise ValidationFailed({"maint_type": "请选择维保类型"})
    return Arrival(kind, at, lat, lng, metres, maint_type)


def plan_for_visit(plan: MaintenancePlan | None, maint_type: str, at: datetime) -> MaintenancePlan | None:
    """The elevator's next planned visit counts for this one unless it is of another type and more than
    7 days ahead."""
    if plan is not None and plan.maint_type != maint_type and plan.due_on > to_local(at).date() + timedelta(days=7):
        return None
    return plan


def checkin_proof(payload: dict) -> str:
    return payload.get("proof") if payload.get("proof") in ("qr", "code", "nfc") else "code"


def check_in(user: User, payload: dict, *, offline: bool = False, face_required: bool = True) -> CheckIn:
    """Start a visit on site. Refusals (all as per-field Chinese messages): not on site (> 100 m),
    no usable certificate, no position, no face photo, an elevator outside the unit. Records reported
    by a maintenance unit's own platform (`face_required=False`) may come without the face photo; one
    that is sent is stored and compared as in the app."""
    require_maintainer(user)
    client_id = _client_id(payload.get("client_id"))
    existing = db.session.scalar(select(WorkOrder).where(WorkOrder.client_id == client_id))
    if existing is not None:
        if existing.maintainer_id != user.id:
            raise Conflict("客户端编号已被使用", code="client_id_taken")
        return CheckIn(existing, True)
    try:
        equipment_id = int(payload.get("equipment_id"))
    except (TypeError, ValueError):
        raise ValidationFailed({"equipment_id": "请先扫码或输入电梯识别码"}) from None
    equipment, facts = visible_elevator(user, equipment_id)
    if equipment.maintenance_org_id != user.org_id:
        raise Forbidden("该电梯不由本单位维保")
    arrival = validate_checkin(user, equipment, payload, offline=offline)
    kind, at, lat, lng, metres = arrival.kind, arrival.at, arrival.lat, arrival.lng, arrival.metres
    plan, maint_type = None, arrival.maint_type
    if kind == "maintenance":
        if payload.get("plan_id"):
            plan = db.session.get(MaintenancePlan, int_or_none(payload.get("plan_id")) or 0)
            if plan is None or plan.equipment_id != equipment.id or plan.status != "planned":
                raise ValidationFailed({"plan_id": "维保计划不存在或已完成"})
            maint_type = plan.maint_type
        else:
            plan = plan_for_visit(next_plan(equipment.id), maint_type, at)
    face_bytes = (decode_data_url(payload.get("face_photo"), "face_photo")
                  if face_required or payload.get("face_photo") else None)
    contract = active_contract(equipment.id, to_local(at).date())
    order = WorkOrder(client_id=client_id, order_no=_order_no(kind), kind=kind, equipment_id=equipment.id,
                      plan_id=plan.id if plan else None, maintenance_org_id=user.org_id,
                      use_org_id=contract.use_org_id if contract else equipment.use_org_id,
                      region_code=equipment.region_code, maint_type=maint_type, maintainer_id=user.id,
                      status="in_progress", checkin_at=at, checkin_lat=lat, checkin_lng=lng, checkin_distance=metres,
                      checkin_proof=checkin_proof(payload), offline=offline)
    db.session.add(order)
    db.session.flush()
    if face_bytes is not None:
        face = _store_photo(order, user, face_bytes, at, lat, lng, purpose="face", item=None,
                            client_id=f"{client_id}-face", field="face_photo")
        from ..core import face as face_service
        verdict = face_service.compare(face_bytes, person_ref=f"user:{user.id}", reference=order.order_no)
        order.face_attachment_id = face.attachment_id
        order.face_result = verdict.message[:120]
        if not verdict.match:
            raise ValidationFailed({"face_photo": f"人脸比对不通过：{verdict.message}"})
    from ..security.audit import audit
    audit("record.change", f"电梯{order.kind_label}签到 {order.order_no}（{equipment.code}，距 {metres} 米）",
          object_type="elevator_work_order", object_id=order.id, actor=user)
    return CheckIn(order, False)


def int_or_none(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _watermark_lines(order: WorkOrder, user: User, at: datetime, lat: float, lng: float) -> list[str]:
    e = order.equipment
    facts = facts_of(e.id)
    local = to_local(at)
    return [f"{order.maintenance_org.name}  {user.display_name}",
            f"{e.name}  {e.code}  救援码 {facts.rescue_code if facts else '—'}",
            f"{local:%Y-%m-%d %H:%M:%S}  {lat:.6f},{lng:.6f}  {(e.address or '')[:40]}"]


def _store_photo(order: WorkOrder, user: User, data: bytes, at: datetime, lat: float, lng: float, *, purpose: str,
                 item: MaintenanceItem | None, client_id: str, field: str) -> WorkPhoto:
    stamped = evidence.stamp(data, _watermark_lines(order, user, at, lat, lng), user,
                             filename=f"{order.order_no}-{purpose}.jpg", field=field)
    if order.case_id:
        stamped.attachment.case_id = order.case_id
    photo = WorkPhoto(client_id=client_id, work_order_id=order.id, item_id=item.id if item else None, purpose=purpose,
                      attachment_id=stamped.attachment.id, original_sm3=stamped.original_sm3, taken_at=at,
                      lat=lat, lng=lng)
    db.session.add(photo)
    db.session.flush()
    return photo


def order_items(order: WorkOrder) -> list[MaintenanceItem]:
    return visit_items(order.kind, order.equipment_id, order.maint_type)


def visit_items(kind: str, equipment_id: int, maint_type: str | None) -> list[MaintenanceItem]:
    """The items a visit of this kind and type on this elevator answers (none for a repair)."""
    if kind != "maintenance":
        return []
    facts = facts_of(equipment_id)
    return items_for(facts.elevator_type if facts else "traction", maint_type or "HALF")


def add_photo(user: User, order: WorkOrder, data: bytes, meta: dict, *, offline: bool = False) -> tuple[WorkPhoto, bool]:
    """One photo taken in the page. Refused without capture time or position (§4.6.4)."""
    _own_order(user, order)
    client_id = _client_id(meta.get("client_id"))
    existing = db.session.scalar(select(WorkPhoto).where(WorkPhoto.client_id == client_id))
    if existing is not None:
        if existing.work_order_id != order.id:
            raise Conflict("客户端编号已被使用", code="client_id_taken")
        return existing, True
    errors = {}
    if meta.get("taken_at") in (None, ""):
        errors["taken_at"] = "照片缺少拍摄时间，不能上传"
    lat, lng = geo.coordinate(meta.get("lat"), "lat"), geo.coordinate(meta.get("lng"), "lng")
    if lat is None or lng is None:
        errors["position"] = "照片缺少拍摄位置，不能上传"
    if errors:
        raise ValidationFailed(errors, message="；".join(errors.values()))
    at = _instant(meta.get("taken_at"), "taken_at", "拍摄时间", offline=True)
    if at < as_utc(order.checkin_at) - timedelta(minutes=1):
        raise ValidationFailed({"taken_at": "拍摄时间早于签到时间"})
    purpose = meta.get("purpose") or ("repair" if order.kind == "repair" else "item")
    if purpose not in ("item", "repair"):
        raise ValidationFailed({"purpose": "照片用途不正确"})
    item = None
    if purpose == "item":
        item_id = int_or_none(meta.get("item_id"))
        item = next((i for i in order_items(order) if i.id == item_id), None)
        if item is None:
            raise ValidationFailed({"item_id": "该照片对应的维保项目不属于本次维保"})
    photo = _store_photo(order, user, data, at, lat, lng, purpose=purpose, item=item, client_id=client_id,
                         field="photo")
    return photo, False


def validate_results(items: list[MaintenanceItem], results) -> dict[int, tuple[str, str | None]]:
    """Item results of a visit checked against its items: item id → (result, note); a failed item needs a
    note. Per-row Chinese errors; the last row of an item wins."""
    if not isinstance(results, list):
        raise ValidationFailed({"results": "须为维保项目结果列表"})
    allowed = {i.id: i for i in items}
    checked, errors = {}, {}
    for n, row in enumerate(results):
        if not isinstance(row, dict):
            errors[f"results.{n}"] = "格式不正确"
            continue
        item_id = int_or_none(row.get("item_id"))
        if item_id not in allowed:
            errors[f"results.{n}.item_id"] = "该项目不属于本次维保"
            continue
        result = row.get("result")
        note = (row.get("note") or "").strip()[:500] or None
        if result not in RESULTS:
            errors[f"results.{n}.result"] = f"【{allowed[item_id].item}】请选择合格、不合格或不适用"
            continue
        if result == "fail" and not note:
            errors[f"results.{n}.note"] = f"【{allowed[item_id].item}】不合格须填写说明"
            continue
        checked[item_id] = (result, note)
    if errors:
        raise ValidationFailed(errors)
    return checked


def save_results(user: User, order: WorkOrder, results) -> int:
    _own_order(user, order)
    checked = validate_results(order_items(order), results)
    current = {r.item_id: r for r in order.results}
    for item_id, (result, note) in checked.items():
        if item_id in current:
            current[item_id].result, current[item_id].note = result, note
        else:
            current[item_id] = WorkOrderItem(work_order_id=order.id, item_id=item_id, result=result, note=note)
            order.results.append(current[item_id])
    db.session.flush()
    return len(results)


def missing_of(kind: str, items: list[MaintenanceItem], done: dict[int, str], photographed: set,
               repair_photo: bool, fault_description: str | None) -> dict[str, str]:
    """What a visit still lacks before it can be finished (field → Chinese message), from its item results
    (item id → result), the item ids photographed, whether a repair photo exists and the fault description."""
    errors = {}
    if kind == "maintenance":
        todo = [i for i in items if i.id not in done]
        if todo:
            errors["results"] = f"还有 {len(todo)} 个维保项目未填写结果（如【{todo[0].item}】）"
        need = [i for i in items if i.photo_required and i.id not in photographed and done.get(i.id) != "na"]
        if need:
            errors["photos"] = f"还有 {len(need)} 个项目须现场拍照（如【{need[0].item}】）"
    else:
        if not (fault_description or "").strip():
            errors["fault_description"] = "请填写故障描述"
        if not repair_photo:
            errors["photos"] = "维修须至少拍摄一张现场照片"
    return errors


def missing(order: WorkOrder) -> dict[str, str]:
    """What the order still lacks before it can be finished (field → Chinese message)."""
    return missing_of(order.kind, order_items(order), {r.item_id: r.result for r in order.results},
                      {p.item_id for p in order.photos if p.purpose == "item"},
                      any(p.purpose == "repair" for p in order.photos), order.fault_description)


def signature_png(value, field: str, label: str) -> bytes:
    """A handwritten signature (data URL) decoded and checked: PNG, not blank (taskops.decode_signature)."""
    from ..taskops.services import decode_signature
    try:
        return _cached(("signature", value), lambda: decode_signature(value)) if isinstance(value, str) \
            else decode_signature(value)
    except ValidationFailed as err:
        raise ValidationFailed({field: f"{label}：{next(iter(err.fields.values()))}"}) from None


def save_signature(png: bytes, user: User, field: str) -> Attachment:
    return save_upload(FileStorage(io.BytesIO(png), filename=SIGNATURE_FILENAME), user, field=field)


def coworker_of(user: User, value) -> User | None:
    """The co-worker named by id or username: a maintainer of the same unit, not the maintainer himself."""
    if value in (None, ""):
        return None
    cond = User.id == int(value) if str(value).isdigit() else User.username == str(value)
    other = db.session.scalar(select(User).where(cond))
    if other is None or other.org_id != user.org_id or other.role != "elevator_maintainer" or other.id == user.id:
        raise ValidationFailed({"coworker": "协作人须为本单位的其他维保人员"})
    return other


@dataclass
class Departure:
    """A check-out that passed the rules (validate_checkout)."""
    at: datetime
    lat: float
    lng: float
    metres: int
    coworker: User | None
    signatures: dict[str, bytes]     # field → decoded PNG


def validate_checkout(user: User, equipment: Equipment, checkin_at: datetime, payload: dict, *, offline: bool,
                      lacking: dict[str, str]) -> Departure:
    """The check-out rules: with what the visit still lacks (`lacking`, see missing_of), the time, the
    position within 100 m, the co-worker, the signatures (decoded, not blank) — all refusals together —
    then the check-out not before the check-in."""
    errors = dict(lacking)
    at = None
    try:
        at = _instant(payload.get("at"), "checkout_at", "签退时间", offline=offline)
        lat, lng = _position(payload, "checkout_position", "签退")
        metres = _on_site(equipment, lat, lng, "checkout_position", "签退")
    except ValidationFailed as err:
        errors.update(err.fields)
    coworker = None
    try:
        coworker = coworker_of(user, payload.get("coworker"))
    except ValidationFailed as err:
        errors.update(err.fields)
    signatures = {}
    for field, label, needed in (("maintainer_signature", "维保人员签名", True),
                                 ("coworker_signature", "协作人签名", coworker is not None)):
        if needed:
            try:
                signatures[field] = signature_png(payload.get(field), field, label)
            except ValidationFailed as err:
                errors.update(err.fields)
    if errors:
        raise ValidationFailed(errors)
    if at < as_utc(checkin_at):
        raise ValidationFailed({"checkout_at": "签退时间早于签到时间"})
    return Departure(at, lat, lng, metres, coworker, signatures)


def visit_texts(kind: str, payload: dict) -> dict[str, str | None]:
    """The texts a check-out sets: the remark; for a repair the fault description and the parts. A text
    the payload leaves out is not changed."""
    texts = {}
    limits = {"remark": 1000, **({"fault_description": 2000, "parts": 2000} if kind == "repair" else {})}
    for name in ("fault_description", "parts", "remark"):
        if name in limits and payload.get(name) is not None:
            texts[name] = str(payload.get(name)).strip()[:limits[name]] or None
    return texts


def finish(user: User, order: WorkOrder, payload: dict, *, offline: bool = False, submit: bool = True) -> WorkOrder:
    """Check-out: signatures, position and time; the plan is done; with `submit` the sign-off starts."""
    _own_order(user, order)
    for name, value in visit_texts(order.kind, payload).items():
        setattr(order, name, value)
    out = validate_checkout(user, order.equipment, order.checkin_at, payload, offline=offline, lacking=missing(order))
    signatures = {field: save_signature(png, user, field) for field, png in out.signatures.items()}
    coworker, at = out.coworker, out.at
    order.checkout_at, order.checkout_lat, order.checkout_lng, order.checkout_distance = at, out.lat, out.lng, out.metres
    order.coworker_id = coworker.id if coworker else None
    order.maintainer_signature_id = signatures["maintainer_signature"].id
    order.coworker_signature_id = signatures["coworker_signature"].id if coworker else None
    if order.status == "in_progress":
        order.status = "finished"
    if order.plan_id and order.kind == "maintenance":
        plan = db.session.get(MaintenancePlan, order.plan_id)
        if plan is not None and plan.status == "planned":
            plan.status, plan.done_on, plan.work_order_id = "done", to_local(at).date(), order.id
    db.session.flush()
    if submit and order.status == "finished":
        from ..engine import runtime
        runtime.start_case(PROCESS_KEY, user, {"work_order_no": order.order_no})
    return order


WorkOrder.STATUS_LABELS.setdefault("finished", "已签退待提交")


def resubmit(user: User, order: WorkOrder, note: str) -> WorkOrder:
    """A returned order, corrected, goes back to the use unit: completes the open rework task."""
    from ..cases.models import Task
    from ..engine import runtime
    _own_order(user, order)
    if order.status != "returned":
        raise Conflict("工单未被退回", code="order_not_returned")
    task = db.session.scalar(select(Task).where(Task.case_id == order.case_id, Task.status == "open",
                                                Task.task_def == "rework"))
    if task is None:
        raise Conflict("没有待重新提交的环节", code="no_rework_task")
    errors = missing(order)
    if errors:
        raise ValidationFailed(errors)
    runtime.complete_task(task.id, user, {"rework_note": (note or "").strip() or "已按退回意见整改"})
    return order


# ---------------------------------------------------------------- offline queue

def sync_batch(user: User, records) -> list[dict]:
    """Records queued on the phone while offline, in the order they were made. Each record is a whole
    visit (check-in, item results, photos, signatures, check-out) with its original times and positions,
    applied with the same checks as a live visit, in a savepoint of its own: a refused record changes
    nothing and the others go on. A record whose client id is already known reports `duplicate`."""
    require_maintainer(user)
    if not isinstance(records, list) or not records:
        raise ValidationFailed({"records": "须为非空的记录列表"})
    if len(records) > 50:
        raise ValidationFailed({"records": "一次最多上传 50 条记录"})
    results = []
    for n, record in enumerate(records):
        client_id = record.get("client_id") if isinstance(record, dict) else None
        try:
            with db.session.begin_nested():
                if not isinstance(record, dict):
                    raise ValidationFailed({"record": "记录格式不正确"})
                order, duplicate = _apply_visit(user, record)
            results.append({"index": n, "client_id": client_id, "status": "duplicate" if duplicate else "created",
                            "work_order_id": order.id, "order_no": order.order_no})
        except DomainError as err:
            results.append({"index": n, "client_id": client_id, "status": "refused", "code": err.code,
                            "message": err.message if not err.fields else "；".join(map(str, err.fields.values())),
                            "fields": err.fields})
    return results


def _apply_visit(user: User, record: dict) -> tuple[WorkOrder, bool]:
    checkin = dict(record.get("checkin") or {})
    checkin["client_id"] = record.get("client_id")
    started = check_in(user, checkin, offline=True)
    if started.duplicate:
        return started.order, True
    order = started.order
    if record.get("results"):
        save_results(user, order, record.get("results"))
    for n, photo in enumerate(record.get("photos") or []):
        if not isinstance(photo, dict):
            raise ValidationFailed({f"photos.{n}": "照片格式不正确"})
        data = decode_data_url(photo.get("data"), f"photos.{n}")
        try:
            add_photo(user, order, data, photo, offline=True)
        except ValidationFailed as err:
            raise ValidationFailed({f"photos.{n}.{k}": v for k, v in err.fields.items()},
                                   message="；".join(err.fields.values())) from None
    finish(user, order, dict(record.get("checkout") or {}), offline=True, submit=True)
    return order, False


# ---------------------------------------------------------------- the sign-off process

# Checks that waive the quality manager's sign-off of an order: fn(order) -> bool, registered by other
# packages (an elevator exempt from paperless maintenance, app/elevator_exemptions — §4.6.1.2).
QUALITY_WAIVERS: list = []


def order_by_no(order_no: str) -> WorkOrder | None:
    return db.session.scalar(select(WorkOrder).where(WorkOrder.order_no == (order_no or "").strip()))


@start_hook(PROCESS_KEY)
def prepare_submission(user: User, data: dict) -> StartContext:
    order = order_by_no(data.get("work_order_no"))
    if order is None or order.maintainer_id != user.id:
        raise ValidationFailed({"work_order_no": "工单不存在或不是本人签到的工单"})
    if order.status != "finished" or order.case_id:
        raise ValidationFailed({"work_order_no": f"工单{order.status_label}，不能提交确认（须已签退且未提交）"})
    contract = active_contract(order.equipment_id, to_local(order.checkin_at).date())
    quality = bool(contract.quality_sign_required) if contract else False
    quality = quality and not any(waived(order) for waived in QUALITY_WAIVERS)
    e = order.equipment
    return StartContext(
        title=f"{e.name}（{e.code}）{order.maint_type_label or order.kind_label}工单 {order.order_no}",
        region_code=order.region_code, org_id=order.maintenance_org_id, equipment_id=e.id,
        parties=[(order.use_org_id, "use_unit")],
        extra_data={"work_order_id": order.id, "use_org_id": order.use_org_id,
                    "maintenance_org_id": order.maintenance_org_id, "quality_required": quality,
                    "order_kind": order.kind})


def _order(ctx: ServiceContext) -> WorkOrder:
    order = db.session.get(WorkOrder, ctx.task_data["work_order_id"])
    if order is None:
        raise NotFound("工单不存在")
    return order


def _link_attachments(order: WorkOrder) -> None:
    ids = [p.attachment_id for p in order.photos] + [i for i in (order.maintainer_signature_id,
                                                                 order.coworker_signature_id) if i]
    if ids and order.case_id:
        db.session.execute(Attachment.__table__.update().where(Attachment.id.in_(ids), Attachment.case_id.is_(None))
                           .values(case_id=order.case_id))


def _latest_signature(actor: User | None) -> int | None:
    if actor is None:
        return None
    return db.session.scalar(select(Attachment.id).where(Attachment.uploaded_by_id == actor.id,
                                                         Attachment.filename == SIGNATURE_FILENAME)
                             .order_by(Attachment.id.desc()).limit(1))


# Called with the work order each time it is submitted for sign-off (first time and after rework), inside
# the sign-off's transaction; other packages register here (app/elevator_supervision: the warning checks).
AFTER_SUBMIT: list = []


def _after_submit(order: WorkOrder) -> None:
    for callback in AFTER_SUBMIT:
        callback(order)


def after_submit_many(order_ids: list[int]) -> None:
    """The AFTER_SUBMIT callbacks for orders archived without the sign-off process (a platform's upload,
    a back-filled paper order): a callback with a set-based variant (`callback.many(order_ids)`) runs
    once for all of them, any other once per order."""
    if not order_ids:
        return
    orders = None
    for callback in AFTER_SUBMIT:
        many = getattr(callback, "many", None)
        if many is not None:
            many(list(order_ids))
            continue
        if orders is None:
            orders = list(db.session.scalars(select(WorkOrder).where(WorkOrder.id.in_(order_ids))
                                             .order_by(WorkOrder.id)))
        for order in orders:
            callback(order)


@service("elevator.submitted")
def submitted(ctx: ServiceContext) -> dict:
    order = _order(ctx)
    order.case_id, order.status, order.submitted_at = ctx.case.id, "submitted", utcnow()
    _link_attachments(order)
    db.session.flush()
    _after_submit(order)
    return {"status": order.status}


@service("elevator.returned")
def returned(ctx: ServiceContext) -> dict:
    order = _order(ctx)
    order.status = "returned"
    order.return_reason = (ctx.task_data.get("reason") or "").strip() or None
    order.returned_count = (order.returned_count or 0) + 1
    db.session.flush()
    return {"status": order.status}


@service("elevator.resubmitted")
def resubmitted(ctx: ServiceContext) -> dict:
    order = _order(ctx)
    order.status = "submitted"
    _link_attachments(order)
    db.session.flush()
    _after_submit(order)
    return {"status": order.status}


@service("elevator.confirmed")
def confirmed(ctx: ServiceContext) -> dict:
    order = _order(ctx)
    order.safety_signed_by_id = ctx.actor.id if ctx.actor else None
    order.safety_signed_at = utcnow()
    order.safety_signature_id = _latest_signature(ctx.actor)
    order.status = "quality" if ctx.task_data.get("quality_required") else "confirmed"
    db.session.flush()
    return {"status": order.status}


@service("elevator.quality_signed")
def quality_signed(ctx: ServiceContext) -> dict:
    order = _order(ctx)
    order.quality_signed_by_id = ctx.actor.id if ctx.actor else None
    order.quality_signed_at = utcnow()
    order.quality_signature_id = _latest_signature(ctx.actor)
    db.session.flush()
    return {"status": order.status}


@service("elevator.archive")
def archive(ctx: ServiceContext) -> dict:
    order = _order(ctx)
    body = work_order_pdf(order, facts_of(order.equipment_id), order_items(order))
    att = save_upload(FileStorage(io.BytesIO(body), filename=f"{order.order_no}-电子工单.pdf"),
                      ctx.actor or order.maintainer, field="pdf")
    att.case_id = ctx.case.id
    order.pdf_attachment_id = att.id
    order.status, order.archived_at = "archived", utcnow()
    db.session.flush()
    return {"status": "archived", "pdf_attachment_id": att.id}


WorkOrder.STATUS_LABELS.setdefault("confirmed", "已确认")


@case_panel(PROCESS_KEY)
def order_panel(case: Case) -> dict | None:
    order = db.session.scalar(select(WorkOrder).where(WorkOrder.case_id == case.id))
    if order is None:
        return None
    return {"template": "elevators/_case_panel.html", **order_view(order)}


def order_view(order: WorkOrder) -> dict:
    results = {r.item_id: r for r in order.results}
    photos: dict[int | None, list[WorkPhoto]] = {}
    for p in order.photos:
        photos.setdefault(p.item_id if p.purpose == "item" else p.purpose, []).append(p)
    return {"order": order, "facts": facts_of(order.equipment_id), "items": order_items(order), "results": results,
            "photos": photos, "RESULTS": RESULTS}


# ---------------------------------------------------------------- records

# Where a work order came from besides this app's phone pages (手机端, live or offline): a package that
# creates work orders another way registers the source with its label and a function returning a
# condition on WorkOrder that holds for its orders (e.g. uploads of a unit's own platform).
RECORD_SOURCES: dict[str, tuple[str, Callable]] = {}
APP_SOURCE = ("app", "手机端")


def register_record_source(key: str, label: str, condition: Callable) -> None:
    RECORD_SOURCES[key] = (label, condition)


def record_source_labels() -> dict[str, str]:
    return {APP_SOURCE[0]: APP_SOURCE[1], **{k: label for k, (label, _c) in RECORD_SOURCES.items()}}


def sources_of(orders) -> dict[int, str]:
    """The source key of each order (one query per registered source for the whole page)."""
    ids = [o.id for o in orders]
    found = dict.fromkeys(ids, APP_SOURCE[0])
    for key, (_label, condition) in RECORD_SOURCES.items():
        if ids:
            for order_id in db.session.scalars(select(WorkOrder.id).where(WorkOrder.id.in_(ids), condition())):
                found[order_id] = key
    return found


@dataclass
class RecordFilter:
    kind: str = "maintenance"
    q: str | None = None
    status: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    equipment_id: int | None = None
    page: int = 1
    per_page: int = 20
    # aggregated search (§4.6.8): by maintenance unit, use unit, project/site, person and source
    maintenance_org: str | None = None
    use_org: str | None = None
    maintenance_org_id: int | None = None
    use_org_id: int | None = None
    site: str | None = None
    person: str | None = None
    source: str | None = None

    @classmethod
    def from_args(cls, args, kind: str | None = None) -> "RecordFilter":
        def day(name):
            try:
                return date.fromisoformat(args.get(name)) if args.get(name) else None
            except ValueError:
                return None
        status = args.get("status") if args.get("status") in WorkOrder.STATUS_LABELS else None
        return cls(kind=kind or (args.get("kind") if args.get("kind") in WorkOrder.KIND_LABELS else "maintenance"),
                   q=text_arg(args, "q", 50), status=status, date_from=day("date_from"), date_to=day("date_to"),
                   equipment_id=int_arg(args, "equipment_id", 0, 0, 2**31 - 1) or None,
                   page=int_arg(args, "page", 1, 1, 100000), per_page=int_arg(args, "per_page", 20, 1, 100),
                   maintenance_org=text_arg(args, "maintenance_org", 50), use_org=text_arg(args, "use_org", 50),
                   maintenance_org_id=int_arg(args, "maintenance_org_id", 0, 0, 2**31 - 1) or None,
                   use_org_id=int_arg(args, "use_org_id", 0, 0, 2**31 - 1) or None,
                   site=text_arg(args, "site", 50), person=text_arg(args, "person", 50),
                   source=args.get("source") if args.get("source") in record_source_labels() else None)

    @property
    def active(self) -> int:
        return sum(1 for v in (self.q, self.status, self.date_from, self.date_to, self.maintenance_org, self.use_org,
                               self.maintenance_org_id, self.use_org_id, self.site, self.person, self.source) if v)

    def criteria(self) -> dict:
        """The conditions in force, for the export's audit record."""
        return {k: (v.isoformat() if isinstance(v, date) else v) for k, v in vars(self).items()
                if v and k not in ("page", "per_page")}


def record_scope(user: User):
    """Work orders a user may read: supervisors by region, the maintenance and use units their own."""
    if user.is_regulator:
        return in_region(WorkOrder.region_code, user.scope_prefix)
    if user.is_enterprise and user.org_id:
        return or_(WorkOrder.maintenance_org_id == user.org_id, WorkOrder.use_org_id == user.org_id)
    from sqlalchemy import false
    return false()


def records_query(user: User, f: RecordFilter):
    from sqlalchemy.orm import joinedload
    if f.equipment_id and user.is_regulator:
        # One elevator's records: check the elevator is in the supervisor's region once, then read its
        # records by the (equipment_id, kind, checkin_at) index (a region condition here lets the planner
        # walk the region's index instead).
        inside = db.session.scalar(select(Equipment.id).where(Equipment.id == f.equipment_id,
                                                              in_region(Equipment.region_code, user.scope_prefix)))
        scope = WorkOrder.equipment_id == (inside or -1)
    else:
        scope = record_scope(user)
    stmt = (select(WorkOrder).where(scope, WorkOrder.kind == f.kind)
            .options(joinedload(WorkOrder.equipment), joinedload(WorkOrder.maintainer)))
    if f.equipment_id:
        stmt = stmt.where(WorkOrder.equipment_id == f.equipment_id)
    if f.status:
        stmt = stmt.where(WorkOrder.status == f.status)
    stmt = stmt.where(*on_local_days(WorkOrder.checkin_at, f.date_from, f.date_to))
    if f.q:
        stmt = stmt.where(or_(contains(WorkOrder.order_no, f.q), WorkOrder.equipment_id.in_(
            select(Equipment.id).where(or_(contains(Equipment.code, f.q), contains(Equipment.name, f.q))))))
    return _aggregate_conditions(stmt, f).order_by(WorkOrder.checkin_at.desc(), WorkOrder.id.desc())


def _aggregate_conditions(stmt, f: RecordFilter):
    """The aggregated-search conditions (§4.6.8): units by id or name, project/site (the elevator's site or
    address), person (maintainer or co-worker, by name or account), source."""
    if f.maintenance_org_id:
        stmt = stmt.where(WorkOrder.maintenance_org_id == f.maintenance_org_id)
    if f.use_org_id:
        stmt = stmt.where(WorkOrder.use_org_id == f.use_org_id)
    if f.maintenance_org:
        stmt = stmt.where(WorkOrder.maintenance_org_id.in_(
            select(Organization.id).where(Organization.name.like(f"%{f.maintenance_org}%"))))
    if f.use_org:
        stmt = stmt.where(WorkOrder.use_org_id.in_(select(Organization.id).where(Organization.name.like(f"%{f.use_org}%"))))
    if f.site:
        like = f"%{f.site}%"
        stmt = stmt.where(WorkOrder.equipment_id.in_(
            select(Equipment.id).join(ElevatorFacts, ElevatorFacts.equipment_id == Equipment.id)
            .where(or_(ElevatorFacts.site.like(like), Equipment.address.like(like)))))
    if f.person:
        people = select(User.id).where(or_(User.display_name.like(f"%{f.person}%"), User.username == f.person))
        stmt = stmt.where(or_(WorkOrder.maintainer_id.in_(people), WorkOrder.coworker_id.in_(people)))
    if f.source == APP_SOURCE[0]:
        for _label, condition in RECORD_SOURCES.values():
            stmt = stmt.where(~condition())
    elif f.source in RECORD_SOURCES:
        stmt = stmt.where(RECORD_SOURCES[f.source][1]())
    return stmt


def visible_order(user: User, order_id: int) -> WorkOrder:
    order = db.session.scalar(select(WorkOrder).where(WorkOrder.id == order_id, record_scope(user)))
    if order is None:
        raise NotFound("工单不存在或不在您的查看范围内")
    return order


def order_json(o: WorkOrder, detail: bool = False) -> dict:
    from ..core.clock import local_iso
    body = {"id": o.id, "order_no": o.order_no, "client_id": o.client_id, "kind": o.kind, "kind_label": o.kind_label,
            "maint_type": o.maint_type, "maint_type_label": o.maint_type_label, "status": o.status,
            "status_label": o.status_label, "equipment_id": o.equipment_id, "equipment_code": o.equipment.code,
            "equipment_name": o.equipment.name, "maintenance_org": o.maintenance_org.name, "use_org": o.use_org.name,
            "maintainer": o.maintainer.display_name, "coworker": o.coworker.display_name if o.coworker else None,
            "checkin_at": local_iso(o.checkin_at), "checkin_distance": o.checkin_distance,
            "checkout_at": local_iso(o.checkout_at), "case_id": o.case_id, "offline": bool(o.offline),
            "pdf_attachment_id": o.pdf_attachment_id, "return_reason": o.return_reason}
    if detail:
        body["checkin_position"] = {"lat": o.checkin_lat, "lng": o.checkin_lng}
        body["checkout_position"] = ({"lat": o.checkout_lat, "lng": o.checkout_lng} if o.checkout_lat is not None
                                     else None)
        body["fault_description"], body["parts"], body["remark"] = o.fault_description, o.parts, o.remark
        body["results"] = [{"item_id": r.item_id, "code": r.item.code, "item": r.item.item, "result": r.result,
                            "result_label": r.result_label, "note": r.note} for r in o.results]
        body["photos"] = [{"id": p.id, "client_id": p.client_id, "item_id": p.item_id, "purpose": p.purpose,
                           "attachment_id": p.attachment_id, "original_sm3": p.original_sm3,
                           "taken_at": local_iso(p.taken_at), "lat": p.lat, "lng": p.lng} for p in o.photos]
        body["missing"] = missing(o) if o.status in ("in_progress", "returned") else {}
    return body


def item_json(i: MaintenanceItem) -> dict:
    return {"id": i.id, "code": i.code, "annex": i.annex, "frequency": i.frequency,
            "frequency_label": i.frequency_label, "seq": i.seq, "item": i.item, "requirement": i.requirement,
            "photo_required": i.photo_required, "key_position": i.key_position, "active": i.active}


def elevator_json(e: Equipment, f: ElevatorFacts, with_plans: bool = False) -> dict:
    body = {"id": e.id, "code": e.code, "name": e.name, "reg_code": e.reg_code, "registration_no": e.registration_no,
            "elevator_type": f.elevator_type, "elevator_type_label": f.type_label, "floors": f.floors,
            "speed": f.speed, "rated_load": f.rated_load, "rescue_code": f.rescue_code, "site": f.site, "chip_id": f.chip_id,
            "address": e.address, "lat": e.lat, "lng": e.lng, "use_org": e.use_org.name, "use_org_id": e.use_org_id,
            "maintenance_org_id": e.maintenance_org_id, "status": e.status, "status_label": e.status_label,
            "last_inspected_on": e.last_inspected_on.isoformat() if e.last_inspected_on else None,
            "next_inspection_date": e.next_inspection_date.isoformat() if e.next_inspection_date else None}
    if with_plans:
        plan = next_plan(e.id)
        body["next_plan"] = plan_json(plan) if plan else None
    return body


def plan_json(p: MaintenancePlan, today: date | None = None) -> dict:
    today = today or today_local()
    return {"id": p.id, "equipment_id": p.equipment_id, "due_on": p.due_on.isoformat(), "maint_type": p.maint_type,
            "maint_type_label": p.maint_type_label, "status": p.status, "overdue": p.overdue_on(today),
            "work_order_id": p.work_order_id}


def types_json() -> dict:
    return {"elevator_types": ELEVATOR_TYPES, "maint_types": MAINT_TYPES, "results": RESULTS}


def last_archived(equipment_id: int, kind: str = "maintenance") -> WorkOrder | None:
    from sqlalchemy.orm import joinedload, selectinload
    return db.session.scalar(select(WorkOrder).options(joinedload(WorkOrder.maintainer), joinedload(WorkOrder.coworker),
                                                       selectinload(WorkOrder.photos).joinedload(WorkPhoto.item)).where(WorkOrder.equipment_id == equipment_id, WorkOrder.kind == kind,
                                                     WorkOrder.status == "archived")
                             .order_by(WorkOrder.checkin_at.desc()).limit(1))


def key_photos(order: WorkOrder) -> list[tuple[str, WorkPhoto]]:
    """Photos of the key positions (机房, 轿顶, 底坑 …) for the public page."""
    shown = []
    for p in order.photos:
        if p.purpose == "item" and p.item is not None and p.item.key_position:
            shown.append((KEY_POSITIONS.get(p.item.key_position, p.item.key_position), p))
    return shown


def mask_name(name: str) -> str:
    name = re.sub(r"（.*?）", "", name or "").strip()
    if len(name) <= 1:
        return name + "*"
    return name[0] + "*" * (len(name) - 1)

