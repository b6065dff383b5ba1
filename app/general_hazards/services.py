"""General hazards (workflows/general_hazard.bpmn): the start hook, the service functions the BPMN calls,
scope, hazard-checking plans and the check tasks the scheduler generates from them."""
from __future__ import annotations

from calendar import monthrange
from dataclasses import dataclass
from datetime import date

from sqlalchemy import false, select
from sqlalchemy.exc import IntegrityError

from ..cases.models import Case
from ..cases.widgets import option_provider
from ..core.clock import today_local, utcnow
from ..core.models import Equipment, User
from ..core.scope import in_region
from ..core.tx import savepoint
from ..engine.services import ServiceContext, StartContext, case_panel, case_row, service, start_hook
from ..errors import ValidationFailed
from ..extensions import db
from ..security.audit import audit
from .models import PERIODS, GeneralHazard, GeneralHazardCheck, GeneralHazardPlan

PROCESS_KEY = "general_hazard"
REGISTER_ROLES = ("use_unit",)


def general_scope(user: User):
    """Regulators see their region's general hazards (read only); a unit its own."""
    if user.is_regulator:
        return in_region(GeneralHazard.region_code, user.scope_prefix)
    if user.is_enterprise and user.org_id:
        return GeneralHazard.org_id == user.org_id
    return false()


def _open_check(user: User, raw) -> GeneralHazardCheck | None:
    if raw in (None, ""):
        return None
    if not str(raw).isdigit():
        return None
    return db.session.scalar(select(GeneralHazardCheck).where(GeneralHazardCheck.id == int(raw),
                                                              GeneralHazardCheck.org_id == user.org_id))


@start_hook(PROCESS_KEY)
def prepare_register(user: User, data: dict) -> StartContext:
    if not (user.is_enterprise and user.org_id):
        raise ValidationFailed({"main_problem": "只有使用单位可以登记一般隐患"})
    errors = {}
    equipment = None
    if data.get("equipment_code"):
        equipment = db.session.scalar(select(Equipment).where(Equipment.code == data["equipment_code"].strip(),
                                                              Equipment.use_org_id == user.org_id))
        if equipment is None:
            errors["equipment_code"] = "设备不存在或不是本单位的设备"
    check = _open_check(user, data.get("check_id"))
    if data.get("check_kind") == "plan":
        if check is None:
            errors["check_id"] = "请选择本单位的排查任务"
        elif check.status != "open":
            errors["check_id"] = "该排查任务已完成"
    elif data.get("check_id"):
        errors["check_id"] = "只有检查类型为“隐患排查计划”时才选择排查任务"
    if data.get("found_on") and data.get("deadline") and data["deadline"] < data["found_on"]:
        errors["deadline"] = "整改期限不能早于发现日期"
    if errors:
        raise ValidationFailed(errors)
    org = user.org
    return StartContext(
        title=f"{org.name} 一般隐患：{data['main_problem'][:40]}", region_code=org.region_code, org_id=org.id,
        equipment_id=equipment.id if equipment else None,
        extra_data={"unit_org_id": org.id, "equipment_id": equipment.id if equipment else None,
                    "plan_check_id": check.id if check else None})


def _row(ctx: ServiceContext) -> GeneralHazard:
    return case_row(GeneralHazard, ctx)


@service("general_hazard.register")
def register(ctx: ServiceContext) -> dict:
    d = ctx.task_data
    row = GeneralHazard(case_id=ctx.case.id, hazard_no=ctx.case.case_no, org_id=d["unit_org_id"],
                        region_code=ctx.case.region_code, equipment_id=d.get("equipment_id"), category=d["category"],
                        hazard_count=int(d.get("hazard_count") or 1), level=d["level"], main_problem=d["main_problem"],
                        found_at=d["found_at"], found_on=date.fromisoformat(d["found_on"]),
                        deadline=date.fromisoformat(d["deadline"]), related_source=d["related_source"],
                        inspector_name=d["inspector_name"], inspecting_unit=d["inspecting_unit"],
                        check_kind=d["check_kind"], check_id=d.get("plan_check_id"), status="rectifying")
    db.session.add(row)
    if row.check_id:
        check = db.session.get(GeneralHazardCheck, row.check_id)
        if check.status == "open":
            check.status, check.finding, check.done_at, check.done_by_id = "done", "hazards", utcnow(), ctx.actor.id
    db.session.flush()
    return {"general_hazard_id": row.id}


@service("general_hazard.submitted")
def submitted(ctx: ServiceContext) -> dict:
    """整改完成: the rectification record goes on the hazard, the inspector accepts next."""
    row, d = _row(ctx), ctx.task_data
    row.rectified_on = date.fromisoformat(d["rectified_on"])
    row.handler, row.rectify_result = d["handler"], d["rectify_result"]
    row.status = "accepting"
    return {"status": row.status}


@service("general_hazard.returned")
def returned(ctx: ServiceContext) -> dict:
    """验收不通过: back to the responsible person, the reason kept as the evaluation."""
    row = _row(ctx)
    row.status, row.returned_count = "rectifying", row.returned_count + 1
    row.evaluation = ctx.task_data.get("opinion")
    return {"returned": row.returned_count}


@service("general_hazard.close")
def close(ctx: ServiceContext) -> dict:
    row = _row(ctx)
    row.status, row.evaluation, row.closed_at = "closed", ctx.task_data.get("opinion"), utcnow()
    return {"closed": True}


@case_panel(PROCESS_KEY)
def general_panel(case: Case) -> dict:
    return {"template": "general_hazards/_case_panel.html",
            "general": db.session.scalar(select(GeneralHazard).where(GeneralHazard.case_id == case.id))}


@option_provider("general_hazard_check")
def _check_widget(user) -> list[tuple[str, str]]:
    return [(str(c.id), c.label) for c in open_checks(user)]


def open_checks(user: User, q: str | None = None, limit: int = 100) -> list[GeneralHazardCheck]:
    if not (user.is_enterprise and user.org_id):
        return []
    query = (select(GeneralHazardCheck).join(GeneralHazardPlan)
             .where(GeneralHazardCheck.org_id == user.org_id, GeneralHazardCheck.status == "open"))
    if q:
        query = query.where(GeneralHazardPlan.name.contains(q, autoescape=True))
    return list(db.session.scalars(query.order_by(GeneralHazardCheck.due_on, GeneralHazardCheck.id).limit(limit)))


# ---------------------------------------------------------------- plans and check tasks

@dataclass(frozen=True)
class Period:
    key: str
    starts_on: date
    due_on: date


def period_of(kind: str, day: date) -> Period:
    """The plan period containing `day`: the check is due at the period's last day."""
    if kind == "yearly":
        return Period(str(day.year), date(day.year, 1, 1), date(day.year, 12, 31))
    if kind == "quarterly":
        q = (day.month - 1) // 3
        first = date(day.year, q * 3 + 1, 1)
        last_month = q * 3 + 3
        return Period(f"{day.year}Q{q + 1}", first, date(day.year, last_month, monthrange(day.year, last_month)[1]))
    if kind == "monthly":
        return Period(f"{day.year}-{day.month:02d}", date(day.year, day.month, 1),
                      date(day.year, day.month, monthrange(day.year, day.month)[1]))
    raise ValueError(f"unknown period {kind}")


def validate_plan(raw: dict) -> dict:
    errors, out = {}, {}
    name = (raw.get("name") or "").strip()
    if len(name) < 2:
        errors["name"] = "请填写计划名称（至少 2 个字）"
    elif len(name) > 100:
        errors["name"] = "计划名称不能超过 100 字"
    out["name"] = name
    if raw.get("period") not in PERIODS:
        errors["period"] = "请选择排查周期"
    out["period"] = raw.get("period")
    for key, label, required in (("starts_on", "开始日期", True), ("ends_on", "结束日期", False)):
        value = (raw.get(key) or "").strip()
        if not value:
            if required:
                errors[key] = "此项为必填项"
            out[key] = None
            continue
        try:
            out[key] = date.fromisoformat(value)
        except ValueError:
            errors[key] = "日期格式应为 YYYY-MM-DD"
    if out.get("starts_on") and out.get("ends_on") and out["ends_on"] < out["starts_on"]:
        errors["ends_on"] = "结束日期不能早于开始日期"
    content = (raw.get("content") or "").strip()
    if len(content) > 2000:
        errors["content"] = "检查内容不能超过 2000 字"
    inspector = (raw.get("inspector_name") or "").strip()
    if len(inspector) > 64:
        errors["inspector_name"] = "检查人不能超过 64 字"
    if errors:
        raise ValidationFailed(errors)
    out.update(content=content or None, inspector_name=inspector or None)
    return out


def create_plan(user: User, raw: dict) -> GeneralHazardPlan:
    if not (user.is_enterprise and user.org_id):
        raise ValidationFailed({"name": "只有使用单位可以制定隐患排查计划"})
    data = validate_plan(raw)
    plan = GeneralHazardPlan(org_id=user.org_id, created_by_id=user.id, active=True, **data)
    db.session.add(plan)
    db.session.flush()
    audit("record.change", f"制定隐患排查计划：{plan.name}（{plan.period_label}）", object_type="general_hazard_plan",
          object_id=plan.id, actor=user)
    generate_checks(today_local(), plan_ids=[plan.id])
    return plan


def generate_checks(today: date | None = None, plan_ids: list[int] | None = None) -> int:
    """Make the current period's check task of every active plan (idempotent: one per plan and
    period); the unit's accounts get a message. Returns how many were made."""
    from ..taskops.services import notify
    today = today or today_local()
    query = select(GeneralHazardPlan).where(GeneralHazardPlan.active.is_(True), GeneralHazardPlan.starts_on <= today)
    if plan_ids:
        query = query.where(GeneralHazardPlan.id.in_(plan_ids))
    made = 0
    for plan in db.session.scalars(query):
        if plan.ends_on and plan.ends_on < today:
            continue
        period = period_of(plan.period, today)
        exists = db.session.scalar(select(GeneralHazardCheck.id).where(GeneralHazardCheck.plan_id == plan.id,
                                                                       GeneralHazardCheck.period_key == period.key))
        if exists:
            continue
        check = GeneralHazardCheck(plan_id=plan.id, org_id=plan.org_id, period_key=period.key,
                                   starts_on=max(period.starts_on, plan.starts_on), due_on=period.due_on,
                                   status="open")
        try:
            with savepoint():
                db.session.add(check)
                db.session.flush()
        except IntegrityError:
            continue                    # another run made it meanwhile
        for user_id in db.session.scalars(select(User.id).where(User.org_id == plan.org_id,
                                                                User.role.in_(REGISTER_ROLES),
                                                                User.is_active_flag.is_(True))):
            notify(user_id, "notice", f"隐患排查任务：{plan.name}（{period.key}），请于{period.due_on.isoformat()}前完成",
                   body=plan.content)
        made += 1
    db.session.flush()
    return made


def finish_check(user: User, check_id: int, notes) -> GeneralHazardCheck:
    """排查完成，未发现隐患 (hazards found are registered with the check chosen instead)."""
    check = db.session.scalar(select(GeneralHazardCheck).where(GeneralHazardCheck.id == check_id,
                                                               GeneralHazardCheck.org_id == (user.org_id or -1)))
    if check is None:
        from ..errors import NotFound
        raise NotFound("排查任务不存在或不属于本单位")
    if check.status != "open":
        from ..errors import Conflict
        raise Conflict("该排查任务已完成", code="check_done")
    notes = (notes or "").strip() if isinstance(notes, str) else ""
    if len(notes) > 1000:
        raise ValidationFailed({"notes": "检查情况不能超过 1000 字"})
    check.status, check.finding, check.notes = "done", "none", notes or None
    check.done_at, check.done_by_id = utcnow(), user.id
    audit("record.change", f"完成隐患排查任务 {check.plan.name}（{check.period_key}）：未发现隐患",
          object_type="general_hazard_check", object_id=check.id, actor=user)
    db.session.flush()
    return check


def general_json(row: GeneralHazard) -> dict:
    return {"id": row.id, "case_id": row.case_id, "hazard_no": row.hazard_no, "org_id": row.org_id,
            "org_name": row.org.name, "region_code": row.region_code,
            "equipment_code": row.equipment.code if row.equipment else None, "category": row.category,
            "category_label": row.category_label, "hazard_count": row.hazard_count, "level": row.level,
            "main_problem": row.main_problem, "found_at": row.found_at, "found_on": row.found_on.isoformat(),
            "deadline": row.deadline.isoformat(), "related_source": row.related_source,
            "inspector_name": row.inspector_name, "inspecting_unit": row.inspecting_unit,
            "check_kind": row.check_kind, "check_id": row.check_id, "status": row.status,
            "status_label": row.status_label, "rectified_on": row.rectified_on.isoformat() if row.rectified_on else None,
            "handler": row.handler, "rectify_result": row.rectify_result, "returned_count": row.returned_count,
            "evaluation": row.evaluation}


def check_json(check: GeneralHazardCheck) -> dict:
    return {"id": check.id, "plan_id": check.plan_id, "plan_name": check.plan.name, "period": check.plan.period,
            "period_key": check.period_key, "starts_on": check.starts_on.isoformat(),
            "due_on": check.due_on.isoformat(), "status": check.status, "finding": check.finding,
            "label": check.label}
