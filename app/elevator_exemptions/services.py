"""无需无纸化维保电梯 (§4.6.1) — the rules.

- Application (workflows/elevator_exemption.bpmn): a use unit lists its elevators that cannot be
  maintained paperlessly, with a reason; the county bureau of the elevators' region approves (with a
  validity end date) or returns with a reason; a returned application is corrected and resubmitted,
  or withdrawn. An elevator may be in one pending application at a time and is not listed again
  while an approval covers it.
- Approved elevators are exempt from `valid_from` (the day the unit applied) to `valid_until`.
- 工单补录 (`backfill`): for an elevator exempt on the work day, its maintenance unit enters the paper
  work order (date, times, type, item results, people, scans) — stored as an elevator work order that
  is archived at once: no use-unit or quality-manager sign-off, no on-site check-in rules (there was no
  phone on site). The maintainers' T certificates must be valid on the work day (§4.6.4). Refused for
  an elevator that is not exempt on that day.
- Messages: the bureau hears of each (re)submission, the use unit of each decision, the maintenance
  unit when its elevator is flagged — in-app notifications and SMS (app/sms templates ELEVATOR_EXEMPT_*).
"""
from __future__ import annotations

import json
import re
from datetime import date, datetime, time, timedelta

from sqlalchemy import and_, false, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload
from werkzeug.datastructures import FileStorage

from ..cases.escalation import regulators_at
from ..cases.models import Case
from ..cases.widgets import option_provider
from ..core.clock import DISPLAY_TZ, as_utc, to_local, today_local, utcnow
from ..core.models import Attachment, Equipment, Organization, User
from ..core.regions import office_name
from ..core.scope import in_region
from ..core.sequences import next_value
from ..core.storage import save_upload
from ..core.tx import savepoint
from ..elevators.models import MAINT_TYPES, MaintenancePlan, WorkOrder, WorkOrderItem
from ..elevators.services import (QUALITY_WAIVERS, after_submit_many, certificate_problem, facts_of, items_for,
                                   missing_of, record_scope, validate_results)
from ..engine.services import ServiceContext, StartContext, case_facts, case_panel, case_row, service, start_hook
from ..errors import Conflict, Forbidden, NotFound, ValidationFailed
from ..extensions import db
from ..security.audit import audit
from .models import Backfill, Exemption, ExemptionItem

PROCESS_KEY = "elevator_exemption"
APPLY_ROLES = ("use_unit",)
MAINT_ROLES = ("maintenance_unit", "maintenance_quality", "elevator_maintainer")
REVIEW_ROLE = "county_supervisor"
ELEVATOR_KIND = "3000"
MAX_ELEVATORS = 200
MAX_FILES = 10
BACKFILL_PROOF = "backfill"          # elevator_work_order.checkin_proof of a back-filled order
SMS_APPLIED, SMS_DECIDED, SMS_FLAGGED = "ELEVATOR_EXEMPT_APPLIED", "ELEVATOR_EXEMPT_DECIDED", "ELEVATOR_EXEMPT_FLAGGED"
TIME_RE = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")

WorkOrder.STATUS_LABELS.setdefault("archived", "已归档")


# ---------------------------------------------------------------- scope

def exemption_scope(user: User):
    """Applications a user may read: regulators by region; the use unit its own; a maintenance unit
    those listing an elevator it maintains."""
    if user.is_regulator:
        return in_region(Exemption.region_code, user.scope_prefix)
    if user.is_enterprise and user.org_id:
        return or_(Exemption.use_org_id == user.org_id,
                   Exemption.id.in_(select(ExemptionItem.exemption_id)
                                    .where(ExemptionItem.maintenance_org_id == user.org_id)))
    return false()


def item_scope(user: User):
    """Listed elevators a user may read (on ExemptionItem joined with Exemption)."""
    if user.is_regulator:
        return in_region(Exemption.region_code, user.scope_prefix)
    if user.is_enterprise and user.org_id:
        return or_(Exemption.use_org_id == user.org_id, ExemptionItem.equipment_id.in_(
            select(Equipment.id).where(Equipment.maintenance_org_id == user.org_id)))
    return false()


def visible_exemption(user: User, exemption_id: int) -> Exemption:
    row = db.session.scalar(select(Exemption).options(selectinload(Exemption.items).joinedload(ExemptionItem.equipment))
                            .where(Exemption.id == exemption_id, exemption_scope(user)))
    if row is None:
        raise NotFound("申请不存在或不在您的查看范围内")
    return row


# ---------------------------------------------------------------- exempt on a day

def valid_on_condition(day: date):
    return (Exemption.status == "approved", Exemption.valid_from <= day,
            or_(Exemption.valid_until.is_(None), Exemption.valid_until >= day))


def active_exemption(equipment_id: int, day: date | None = None) -> Exemption | None:
    day = day or today_local()
    return db.session.scalar(select(Exemption).join(ExemptionItem, ExemptionItem.exemption_id == Exemption.id)
                             .where(ExemptionItem.equipment_id == equipment_id, *valid_on_condition(day))
                             .order_by(Exemption.valid_until.desc(), Exemption.id.desc()).limit(1))


def _exempt_order(order: WorkOrder) -> bool:
    """§4.6.1.2: the records of an approved elevator go to supervision without the quality manager."""
    return active_exemption(order.equipment_id, to_local(order.checkin_at).date()) is not None


QUALITY_WAIVERS.append(_exempt_order)


def exempt_ids(equipment_ids, day: date | None = None) -> set[int]:
    ids = list(equipment_ids)
    if not ids:
        return set()
    return set(db.session.scalars(select(ExemptionItem.equipment_id)
                                  .join(Exemption, ExemptionItem.exemption_id == Exemption.id)
                                  .where(ExemptionItem.equipment_id.in_(ids), *valid_on_condition(day or today_local()))))


def _pending_elsewhere(equipment_ids: list[int], exemption_id: int | None) -> dict[int, str]:
    if not equipment_ids:
        return {}
    stmt = (select(ExemptionItem.equipment_id, Exemption.app_no).join(Exemption)
            .where(ExemptionItem.equipment_id.in_(equipment_ids), Exemption.status == "pending"))
    if exemption_id is not None:
        stmt = stmt.where(Exemption.id != exemption_id)
    return dict(db.session.execute(stmt).all())


# ---------------------------------------------------------------- the application form

def candidate_elevators(user: User) -> list[Equipment]:
    """The unit's in-use elevators that are neither exempt today nor in a pending application."""
    if user.role not in APPLY_ROLES or not user.org_id:
        return []
    busy = (select(ExemptionItem.equipment_id).join(Exemption)
            .where(or_(Exemption.status == "pending", and_(*valid_on_condition(today_local())))))
    return list(db.session.scalars(select(Equipment).where(
        Equipment.use_org_id == user.org_id, Equipment.kind_code == ELEVATOR_KIND, Equipment.status == "in_use",
        Equipment.id.not_in(busy)).order_by(Equipment.code)))


def elevator_label(e: Equipment) -> str:
    facts = facts_of(e.id)
    where = (facts.site if facts and facts.site else e.address) or ""
    return f"{e.name}（{e.code}）{('· ' + where) if where else ''}"


@option_provider("exempt_elevator")
def _elevator_widget(user) -> list[tuple[str, str]]:
    return [(e.code, elevator_label(e)) for e in candidate_elevators(user)]


def validate_elevators(user: User, codes, exemption: Exemption | None = None) -> list[Equipment]:
    if user.role not in APPLY_ROLES or not user.org_id:
        raise Forbidden("只有电梯的使用单位可以申请无需无纸化维保")
    wanted = list(dict.fromkeys(str(c).strip() for c in (codes or []) if str(c).strip()))
    if not wanted:
        raise ValidationFailed({"elevator_codes": "请选择至少一台电梯"})
    if len(wanted) > MAX_ELEVATORS:
        raise ValidationFailed({"elevator_codes": f"一次最多申请 {MAX_ELEVATORS} 台电梯"})
    found = {e.code: e for e in db.session.scalars(select(Equipment).where(Equipment.code.in_(wanted)))}
    problems, devices = [], []
    for code in wanted:
        e = found.get(code)
        if e is None or e.use_org_id != user.org_id:
            problems.append(f"设备 {code} 不存在或不是本单位的设备")
        elif e.kind_code != ELEVATOR_KIND:
            problems.append(f"设备 {code} 不是电梯")
        elif e.status != "in_use":
            problems.append(f"电梯 {code} 当前状态为{e.status_label}，只有在用电梯可以申请")
        else:
            devices.append(e)
    busy = _pending_elsewhere([e.id for e in devices], exemption.id if exemption else None)
    exempt = exempt_ids(e.id for e in devices)
    for e in devices:
        if e.id in busy:
            problems.append(f"电梯 {e.code} 已在待审核的申请 {busy[e.id]} 中")
        elif e.id in exempt:
            problems.append(f"电梯 {e.code} 已批准为无需无纸化维保电梯，无需重复申请")
    if problems:
        raise ValidationFailed({"elevator_codes": "；".join(problems)})
    regions = sorted({e.region_code for e in devices})
    if len(regions) > 1:
        raise ValidationFailed({"elevator_codes": "所选电梯属于不同的属地监管部门（"
                                + "、".join(office_name(r) for r in regions) + "），请按属地分别申请"})
    return devices


@start_hook(PROCESS_KEY)
def prepare_application(user: User, data: dict) -> StartContext:
    devices = validate_elevators(user, data.get("elevator_codes"))
    maint_orgs = sorted({e.maintenance_org_id for e in devices if e.maintenance_org_id})
    what = devices[0].name if len(devices) == 1 else f"{devices[0].name}等{len(devices)}台电梯"
    return StartContext(
        title=f"{user.org.name} {what}无需无纸化维保申请", region_code=devices[0].region_code, org_id=user.org_id,
        equipment_id=devices[0].id if len(devices) == 1 else None,
        parties=[(org_id, "maintenance") for org_id in maint_orgs if org_id != user.org_id],
        extra_data={"use_org_id": user.org_id, "equipment_ids": [e.id for e in devices]})


# ---------------------------------------------------------------- BPMN service tasks

def _row(ctx: ServiceContext) -> Exemption:
    return case_row(Exemption, ctx)


def _set_items(row: Exemption, devices: list[Equipment]) -> None:
    keep = {i.equipment_id: i for i in row.items}
    row.items = [keep.get(e.id) or ExemptionItem(equipment_id=e.id, maintenance_org_id=e.maintenance_org_id)
                 for e in devices]


@service("exemption.register")
def register(ctx: ServiceContext) -> dict:
    d = ctx.task_data
    devices = list(db.session.scalars(select(Equipment).where(Equipment.id.in_(d["equipment_ids"]))
                                      .order_by(Equipment.code)))
    row = Exemption(case_id=ctx.case.id, app_no=ctx.case.case_no, use_org_id=d["use_org_id"],
                    region_code=ctx.case.region_code, applicant_id=d["initiator_id"], reason=d["reason"].strip(),
                    status="pending")
    _set_items(row, devices)
    db.session.add(row)
    db.session.flush()
    _notify_bureau(ctx, row, resubmitted=False)
    return {"exemption_id": row.id}


@service("exemption.approve")
def approve(ctx: ServiceContext) -> dict:
    row = _row(ctx)
    if row.status != "pending":
        raise Conflict(f"申请 {row.app_no} {row.status_label}", code="exemption_decided")
    d = ctx.task_data
    row.status = "approved"
    row.valid_from = to_local(row.created_at).date()
    row.valid_until = date.fromisoformat(d["valid_until"])
    row.opinion = (d.get("opinion") or "").strip() or None
    row.decided_by_id, row.decided_at = (ctx.actor.id if ctx.actor else None), utcnow()
    row.updated_at = row.decided_at
    db.session.flush()
    audit("record.change", f"批准无需无纸化维保电梯 {len(row.items)} 台（{row.app_no}，有效期至 {row.valid_until}）",
          object_type="elevator_exemption", object_id=row.id, actor=ctx.actor)
    _notify_decision(ctx, row)
    _notify_maintainers(ctx, row)
    return {"status": row.status, "valid_until": row.valid_until.isoformat()}


@service("exemption.returned")
def returned(ctx: ServiceContext) -> dict:
    row = _row(ctx)
    row.status, row.returned_count = "returned", row.returned_count + 1
    row.opinion = (ctx.task_data.get("opinion") or "").strip() or None
    row.decided_by_id, row.decided_at = (ctx.actor.id if ctx.actor else None), utcnow()
    row.updated_at = row.decided_at
    audit("record.change", f"退回无需无纸化维保电梯申请 {row.app_no}：{(row.opinion or '')[:80]}",
          object_type="elevator_exemption", object_id=row.id, actor=ctx.actor)
    _notify_decision(ctx, row)
    return {"status": row.status, "returned": row.returned_count}


@service("exemption.resubmitted")
def resubmitted(ctx: ServiceContext) -> dict:
    """修改后重新提交: the corrected list and reason, checked again (the pending rule) — a refusal is a
    field error of the use unit's form and changes nothing."""
    row = _row(ctx)
    actor = ctx.actor
    devices = validate_elevators(actor, ctx.task_data.get("elevator_codes"), row)
    regions = {e.region_code for e in devices}
    if regions != {row.region_code}:
        raise ValidationFailed({"elevator_codes": f"修改后的电梯须仍属于{office_name(row.region_code)}监管"})
    _set_items(row, devices)
    ctx.task_data["equipment_ids"] = [e.id for e in devices]
    row.reason = (ctx.task_data.get("reason") or row.reason).strip()
    row.status, row.updated_at = "pending", utcnow()
    db.session.flush()
    audit("record.change", f"重新提交无需无纸化维保电梯申请 {row.app_no}（{len(devices)} 台）",
          object_type="elevator_exemption", object_id=row.id, actor=actor)
    _notify_bureau(ctx, row, resubmitted=True)
    return {"status": row.status}


@service("exemption.withdrawn")
def withdrawn(ctx: ServiceContext) -> dict:
    row = _row(ctx)
    row.status, row.updated_at = "withdrawn", utcnow()
    audit("record.change", f"撤回无需无纸化维保电梯申请 {row.app_no}", object_type="elevator_exemption",
          object_id=row.id, actor=ctx.actor)
    return {"status": row.status}


# ---------------------------------------------------------------- messages

def _codes(row: Exemption, limit: int = 3) -> str:
    codes = [i.equipment.code for i in row.items]
    return "、".join(codes[:limit]) + (f"等{len(codes)}台" if len(codes) > limit else "")


def _notify_bureau(ctx: ServiceContext, row: Exemption, *, resubmitted: bool) -> None:
    from ..engine import runtime
    from ..sms import services as sms
    from ..taskops.services import notify
    what = "重新提交" if resubmitted else "提交"
    title = f"{row.use_org.name}{what}无需无纸化维保电梯申请（{len(row.items)} 台），请审核"
    people = regulators_at(REVIEW_ROLE, row.region_code)
    queued = 0
    for person in people:
        notify(person.id, "notice", title, case=ctx.case, sender=ctx.actor)
        queued += len(sms.enqueue(SMS_APPLIED, {"name": person.display_name, "unitName": row.use_org.name,
                                                "count": str(len(row.items)), "caseNo": row.app_no},
                                  sms.recipients_for_users([person]), region_code=row.region_code, case_id=ctx.case.id,
                                  dedup_key=f"exempt:{row.id}:{row.returned_count}:{person.id}"))
    runtime.append_event(ctx.case, None, "notified", f"已通知{office_name(row.region_code)}审核（{len(people)} 人）",
                         step_name="通知属地监管部门", data={"users": [p.id for p in people], "sms": queued})


def _notify_decision(ctx: ServiceContext, row: Exemption) -> None:
    from ..sms import services as sms
    from ..taskops.services import notify_org
    if row.status == "approved":
        result = f"已批准，有效期至{row.valid_until:%Y-%m-%d}，维保单位可直接补录维保工单"
    else:
        result = f"被退回，理由：{(row.opinion or '')[:60]}，请修改后重新提交或撤回"
    notify_org(row.use_org_id, "use_unit", "decision", f"无需无纸化维保电梯申请 {row.app_no} {result}",
               case=ctx.case, sender=ctx.actor)
    sms.enqueue(SMS_DECIDED, {"unitName": row.use_org.name, "caseNo": row.app_no, "result": result},
                sms.recipients_for_org(row.use_org_id), region_code=row.region_code, case_id=ctx.case.id,
                dedup_key=f"exempt-decided:{row.id}:{row.status}:{row.returned_count}")


def _notify_maintainers(ctx: ServiceContext, row: Exemption) -> None:
    from ..sms import services as sms
    from ..taskops.services import notify_org
    by_org: dict[int, list[str]] = {}
    for item in row.items:
        org_id = item.equipment.maintenance_org_id
        if org_id:
            by_org.setdefault(org_id, []).append(item.equipment.code)
    for org_id, codes in by_org.items():
        org = db.session.get(Organization, org_id)
        shown = "、".join(codes[:3]) + (f"等{len(codes)}台" if len(codes) > 3 else "")
        title = (f"您单位维保的电梯 {shown} 经{office_name(row.region_code)}批准无需无纸化维保"
                 f"（{row.app_no}，有效期至 {row.valid_until:%Y-%m-%d}），维保工单请在“工单补录”中录入")
        for role in MAINT_ROLES:
            notify_org(org_id, role, "notice", title, case=ctx.case, sender=ctx.actor)
        sms.enqueue(SMS_FLAGGED, {"maintUnit": org.name, "count": str(len(codes)), "deviceCodes": shown,
                                  "officeName": office_name(row.region_code),
                                  "validUntil": row.valid_until.isoformat()},
                    sms.recipients_for_org(org_id), region_code=row.region_code, case_id=ctx.case.id,
                    dedup_key=f"exempt-flagged:{row.id}:{org_id}")


@case_panel(PROCESS_KEY)
def exemption_panel(case: Case) -> dict | None:
    row = db.session.scalar(select(Exemption).where(Exemption.case_id == case.id))
    if row is None:
        return None
    return {"template": "elevator_exemptions/_case_panel.html", "row": row, "facts_of": facts_of}


@case_facts(PROCESS_KEY)
def exemption_facts(case: Case) -> dict:
    row = db.session.scalar(select(Exemption).where(Exemption.case_id == case.id))
    return {"docNo": row.app_no} if row else {}


# ---------------------------------------------------------------- 工单补录

def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def backfill_elevator(user: User, raw) -> Equipment:
    """An elevator the user's unit maintains, by id or 设备代码."""
    if user.role not in MAINT_ROLES or not user.org_id:
        raise Forbidden("只有电梯的维保单位可以补录维保工单")
    value = str(raw or "").strip()
    if not value:
        raise ValidationFailed({"equipment_id": "请选择电梯"})
    cond = Equipment.id == int(value) if value.isdigit() and len(value) < 10 else Equipment.code == value
    e = db.session.scalar(select(Equipment).where(cond, Equipment.kind_code == ELEVATOR_KIND))
    if e is None or e.maintenance_org_id != user.org_id:
        raise NotFound("电梯不存在或不由本单位维保")
    return e


def _maintainer(user: User, value, field: str, label: str, required: bool) -> User | None:
    if value in (None, ""):
        if required:
            raise ValidationFailed({field: f"请选择{label}"})
        return None
    text = str(value).strip()
    cond = User.id == int(text) if text.isdigit() else User.username == text
    person = db.session.scalar(select(User).where(cond))
    if person is None or person.org_id != user.org_id or person.role != "elevator_maintainer" or not person.is_active:
        raise ValidationFailed({field: f"{label}须为本单位在岗的维保人员"})
    return person


def maintainers_of(org_id: int) -> list[User]:
    return list(db.session.scalars(select(User).where(User.org_id == org_id, User.role == "elevator_maintainer",
                                                      User.is_active_flag.is_(True)).order_by(User.id)))


def backfill(user: User, payload: dict, files: list[FileStorage] | None = None) -> tuple[WorkOrder, bool]:
    """Enter a paper work order of an exempt elevator. Returns (order, duplicate). All checks first,
    per-field Chinese errors; nothing is written when any fails."""
    equipment = backfill_elevator(user, payload.get("equipment_id") or payload.get("equipment_code"))
    client_id = str(payload.get("client_id") or "").strip() or None
    if client_id is not None:
        if not re.fullmatch(r"[0-9A-Za-z_-]{8,64}", client_id):
            raise ValidationFailed({"client_id": "客户端编号应为 8–64 位字母、数字、-、_"})
        existing = db.session.scalar(select(WorkOrder).where(WorkOrder.client_id == f"bf-{client_id}"))
        if existing is not None:
            if existing.maintenance_org_id != user.org_id:
                raise Conflict("客户端编号已被使用", code="client_id_taken")
            return existing, True
    errors: dict[str, str] = {}
    today = today_local()
    work_date = None
    try:
        work_date = date.fromisoformat(str(payload.get("work_date") or ""))
    except ValueError:
        errors["work_date"] = "请填写维保日期（YYYY-MM-DD）"
    if work_date and work_date > today:
        errors["work_date"] = "维保日期不能晚于今天"
    times = {}
    for field, label in (("start_time", "开始时间"), ("end_time", "结束时间")):
        text = str(payload.get(field) or "").strip()
        if not TIME_RE.match(text):
            errors[field] = f"请填写{label}（HH:MM）"
        else:
            times[field] = time.fromisoformat(text)
    if len(times) == 2 and times["end_time"] <= times["start_time"]:
        errors["end_time"] = "结束时间须晚于开始时间"
    maint_type = payload.get("maint_type")
    if maint_type not in MAINT_TYPES:
        errors["maint_type"] = "请选择维保类型"
    people = {}
    for field, label, required in (("maintainer", "维保人员", True), ("coworker", "协作人", False)):
        try:
            people[field] = _maintainer(user, payload.get(field), field, label, required)
        except ValidationFailed as err:
            errors.update(err.fields)
    if people.get("coworker") and people.get("maintainer") and people["coworker"].id == people["maintainer"].id:
        errors["coworker"] = "协作人不能与维保人员相同"
    if work_date and not errors.get("work_date"):
        for field, label in (("maintainer", "维保人员"), ("coworker", "协作人")):
            person = people.get(field)
            problem = certificate_problem(person, work_date) if person else None
            if problem:
                errors[field] = f"{label}{person.display_name}：{problem}"
    facts = facts_of(equipment.id)
    if facts is None:
        errors["equipment_id"] = "该电梯尚未录入电梯参数（电梯类型），请先在“录入电梯与合同”中录入"
    results = _check_results(payload.get("results"), facts, maint_type, errors)
    remark = str(payload.get("remark") or "").strip()[:1000] or None
    attachments = _check_attachments(user, payload.get("attachment_ids"), errors)
    exemption = None
    if work_date and not errors.get("work_date"):
        exemption = active_exemption(equipment.id, work_date)
    if exemption is None and not errors:
        raise Conflict(f"电梯 {equipment.code} 在 {work_date} 不是经属地监管部门批准的无需无纸化维保电梯"
                       "（或不在批准有效期内），不能补录工单，请用手机端现场维保", code="not_exempt")
    if errors:
        raise ValidationFailed(errors)
    for n, upload in enumerate(files or []):
        if len(attachments) >= MAX_FILES:
            raise ValidationFailed({"files": f"最多上传 {MAX_FILES} 个附件"})
        attachments.append(save_upload(upload, user, field="files"))
    start = as_utc(datetime.combine(work_date, times["start_time"], tzinfo=DISPLAY_TZ))
    end = as_utc(datetime.combine(work_date, times["end_time"], tzinfo=DISPLAY_TZ))
    now = utcnow()
    order = WorkOrder(client_id=f"bf-{client_id}" if client_id else f"bf-{user.id}-{now:%Y%m%d%H%M%S%f}",
                      order_no=f"BL{today:%Y%m%d}{next_value('elevator_order:BL', today.isoformat()):05d}",
                      kind="maintenance", equipment_id=equipment.id, maintenance_org_id=user.org_id,
                      use_org_id=equipment.use_org_id, region_code=equipment.region_code, maint_type=maint_type,
                      maintainer_id=people["maintainer"].id,
                      coworker_id=people["coworker"].id if people.get("coworker") else None,
                      status="archived", checkin_at=start, checkout_at=end,
                      # No check-in on site: the elevator's registered position, distance 0, proof "backfill".
                      checkin_lat=equipment.lat or 0.0, checkin_lng=equipment.lng or 0.0, checkin_distance=0,
                      checkin_proof=BACKFILL_PROOF, remark=remark, submitted_at=now, archived_at=now)
    order.results = [WorkOrderItem(item_id=item_id, result=result, note=note) for item_id, result, note in results]
    try:
        with savepoint():
            db.session.add(order)
    except IntegrityError as err:        # the same client id entered a moment ago by a parallel request
        raise Conflict("该客户端编号的工单正在补录，请稍后查询", code="client_id_taken") from err
    plan = _plan_of(equipment.id, work_date)
    if plan is not None:
        plan.status, plan.done_on, plan.work_order_id = "done", work_date, order.id
        order.plan_id = plan.id
    db.session.add(Backfill(work_order_id=order.id, exemption_id=exemption.id, entered_by_id=user.id, entered_at=now,
                            attachment_ids=json.dumps([a.id for a in attachments]) if attachments else None))
    db.session.flush()
    audit("record.change", f"补录电梯维保工单 {order.order_no}（{equipment.code}，{work_date} {MAINT_TYPES[maint_type]}，"
          f"依据 {exemption.app_no}，直接归档）", object_type="elevator_work_order", object_id=order.id, actor=user,
          detail={"attachments": [a.id for a in attachments], "maintainer": people["maintainer"].id})
    after_submit_many([order.id])            # the on-submission warnings (elevator_supervision)
    return order, False


def _check_results(raw, facts, maint_type, errors: dict) -> list[tuple[int, str, str | None]]:
    """The paper order's item results under the app's rules (elevators.validate_results: items of this
    visit, result values, a note for a failed item; missing_of: every item answered). No photos: the
    paper order's scans stand for them."""
    if facts is None or maint_type not in MAINT_TYPES:
        return []
    items = items_for(facts.elevator_type, maint_type)
    if not isinstance(raw, list):
        errors["results"] = "请填写维保项目结果"
        return []
    try:
        checked = validate_results(items, raw)
    except ValidationFailed as err:
        errors.update(err.fields)
        return []
    lacking = missing_of("maintenance", items, {i: r for i, (r, _n) in checked.items()}, set(), False, None)
    if lacking.get("results"):
        errors["results"] = lacking["results"]
    return [(item_id, result, note) for item_id, (result, note) in checked.items()]


def _check_attachments(user: User, raw, errors: dict) -> list[Attachment]:
    if raw in (None, "", []):
        return []
    if not isinstance(raw, list) or len(raw) > MAX_FILES or not all(_int(v) for v in raw):
        errors["attachment_ids"] = f"附件须为附件编号列表（最多 {MAX_FILES} 个）"
        return []
    ids = [_int(v) for v in raw]
    rows = list(db.session.scalars(select(Attachment).where(Attachment.id.in_(ids))))
    used = set()
    for text in db.session.scalars(select(Backfill.attachment_ids).where(Backfill.attachment_ids.is_not(None),
                                                                         Backfill.entered_by_id == user.id)):
        used.update(json.loads(text))
    if len(rows) != len(set(ids)) or any(a.uploaded_by_id != user.id or a.case_id is not None or a.id in used
                                         for a in rows):
        errors["attachment_ids"] = "附件须为本人上传且未使用过的文件（先调用 POST /api/v1/attachments 上传）"
        return []
    return rows


def _plan_of(equipment_id: int, day: date) -> MaintenancePlan | None:
    """The planned visit the back-filled one stands for: the earliest still planned within 15 days
    before to 7 days after the work day."""
    return db.session.scalar(select(MaintenancePlan).where(
        MaintenancePlan.equipment_id == equipment_id, MaintenancePlan.status == "planned",
        MaintenancePlan.due_on >= day - timedelta(days=15), MaintenancePlan.due_on <= day + timedelta(days=7))
        .order_by(MaintenancePlan.due_on).limit(1))


def backfill_scope(user: User):
    return record_scope(user)


def visible_backfill(user: User, order_id: int) -> tuple[WorkOrder, Backfill]:
    row = db.session.execute(select(WorkOrder, Backfill).join(Backfill, Backfill.work_order_id == WorkOrder.id)
                             .where(WorkOrder.id == order_id, backfill_scope(user))).first()
    if row is None:
        raise NotFound("补录工单不存在或不在您的查看范围内")
    return row[0], row[1]


def backfill_attachments(bf: Backfill) -> list[Attachment]:
    ids = json.loads(bf.attachment_ids) if bf.attachment_ids else []
    return list(db.session.scalars(select(Attachment).where(Attachment.id.in_(ids)).order_by(Attachment.id))) if ids else []


def exempt_elevators_for_backfill(user: User, q: str | None = None, limit: int = 50) -> list[tuple[Equipment, Exemption]]:
    """Elevators the user's unit maintains that are exempt today (the back-fill form's choices)."""
    if user.role not in MAINT_ROLES or not user.org_id:
        return []
    stmt = (select(Equipment, Exemption).join(ExemptionItem, ExemptionItem.equipment_id == Equipment.id)
            .join(Exemption, Exemption.id == ExemptionItem.exemption_id)
            .where(Equipment.maintenance_org_id == user.org_id, *valid_on_condition(today_local())))
    if q:
        stmt = stmt.where(or_(Equipment.code.contains(q, autoescape=True), Equipment.name.contains(q, autoescape=True)))
    seen, out = set(), []
    for e, ex in db.session.execute(stmt.order_by(Equipment.code, Exemption.valid_until.desc()).limit(limit * 2)):
        if e.id not in seen:
            seen.add(e.id)
            out.append((e, ex))
    return out[:limit]


# ---------------------------------------------------------------- JSON

def _iso(value) -> str | None:
    return value.isoformat() if value else None


def exemption_json(row: Exemption, detail: bool = False) -> dict:
    from ..core.clock import local_iso
    body = {"id": row.id, "app_no": row.app_no, "case_id": row.case_id, "status": row.status,
            "status_label": row.status_label, "use_org_id": row.use_org_id, "use_org": row.use_org.name,
            "region_code": row.region_code, "office": office_name(row.region_code), "reason": row.reason,
            "elevator_count": len(row.items), "valid_from": _iso(row.valid_from), "valid_until": _iso(row.valid_until),
            "approval_no": row.app_no if row.status == "approved" else None, "opinion": row.opinion,
            "returned_count": row.returned_count, "created_at": local_iso(row.created_at),
            "decided_at": local_iso(row.decided_at)}
    if detail:
        body["elevators"] = [{"equipment_id": i.equipment_id, "code": i.equipment.code, "name": i.equipment.name,
                              "address": i.equipment.address, "maintenance_org_id": i.equipment.maintenance_org_id}
                             for i in row.items]
    return body


def exempt_elevator_json(e: Equipment, ex: Exemption, today: date | None = None) -> dict:
    today = today or today_local()
    return {"equipment_id": e.id, "code": e.code, "name": e.name, "address": e.address, "region_code": e.region_code,
            "use_org": e.use_org.name, "maintenance_org_id": e.maintenance_org_id,
            "maintenance_org": e.maintenance_org.name if e.maintenance_org else None, "exemption_id": ex.id,
            "app_no": ex.app_no, "valid_from": _iso(ex.valid_from), "valid_until": _iso(ex.valid_until),
            "valid": ex.valid_on(today)}


def backfill_json(o: WorkOrder, bf: Backfill, detail: bool = False) -> dict:
    from ..core.clock import local_iso
    body = {"id": o.id, "order_no": o.order_no, "status": o.status, "status_label": o.status_label,
            "equipment_id": o.equipment_id, "equipment_code": o.equipment.code, "equipment_name": o.equipment.name,
            "use_org": o.use_org.name, "maintenance_org": o.maintenance_org.name, "maint_type": o.maint_type,
            "maint_type_label": o.maint_type_label, "work_date": to_local(o.checkin_at).date().isoformat(),
            "start_at": local_iso(o.checkin_at), "end_at": local_iso(o.checkout_at),
            "maintainer": o.maintainer.display_name, "coworker": o.coworker.display_name if o.coworker else None,
            "exemption_id": bf.exemption_id, "app_no": bf.exemption.app_no, "entered_by": bf.entered_by.display_name,
            "entered_at": local_iso(bf.entered_at), "remark": o.remark,
            "attachment_ids": json.loads(bf.attachment_ids) if bf.attachment_ids else []}
    if detail:
        body["results"] = [{"item_id": r.item_id, "code": r.item.code, "item": r.item.item, "result": r.result,
                            "result_label": r.result_label, "note": r.note} for r in o.results]
    return body


def backfill_items(user: User, equipment: Equipment, maint_type: str) -> list:
    facts = facts_of(equipment.id)
    return items_for(facts.elevator_type, maint_type) if facts and maint_type in MAINT_TYPES else []

