"""Hazard domain services: the start hook, the functions the BPMN calls, queries and documents."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import false, or_, select
from sqlalchemy.orm import joinedload

from ..cases.models import Case, CaseEvent, Task
from ..core.clock import DISPLAY_TZ, local_day_end, today_local, utcnow
from ..core.models import Equipment, User
from ..core.regions import office_name
from ..core.scope import equipment_scope, in_region
from ..core.sequences import next_value
from ..engine import decisions
from ..cases.widgets import option_provider
from ..engine.services import ServiceContext, StartContext, case_facts, case_panel, case_row, service, start_hook
from ..errors import ValidationFailed
from ..extensions import db
from ..sms import services as sms_services
from ..taskops.services import notify_org
from .models import Hazard, HazardCriterion

PROCESS_KEY = "major_hazard"
SOURCE_BY_ROLE = {"county_supervisor": "supervisor", "city_supervisor": "supervisor",
                  "province_supervisor": "supervisor", "inspection_agency": "agency",
                  "maintenance_unit": "maintenance", "use_unit": "use_unit"}
# A hazard started from inside another process's service task takes that process as its source: the
# complaint loop's 转重大事故隐患 (app/complaints) files hazards found on checking a public complaint.
SOURCE_BY_PROCESS = {"public_complaint": "complaint"}
# Technical units (§4.3.7): they set the rectification requirements and deadline themselves, and the
# use unit and the device's local bureau hear of the report at once.
TECHNICAL_SOURCES = ("agency", "maintenance")


def find_equipment_for_report(user: User, code: str) -> Equipment | None:
    """Equipment a user may report on: regulators in their region, use units their own,
    inspection agencies any registered equipment in Guangxi (they inspect across units)."""
    query = select(Equipment).where(Equipment.code == code.strip()).options(joinedload(Equipment.use_org))
    if user.role == "maintenance_unit" and user.org_id:
        query = query.where(or_(Equipment.maintenance_org_id == user.org_id, Equipment.use_org_id == user.org_id))
    elif user.role != "inspection_agency":
        query = query.where(equipment_scope(user))
    return db.session.scalar(query)


@start_hook(PROCESS_KEY)
def prepare_report(user: User, data: dict) -> StartContext:
    errors = {}
    equipment = find_equipment_for_report(user, data.get("equipment_code", ""))
    if equipment is None:
        errors["equipment_code"] = "设备不存在或不在您的管辖范围内"
    criterion = db.session.get(HazardCriterion, data.get("criterion_id", ""))
    if criterion is None or not criterion.active or criterion.is_cross_reference:
        errors["criterion_id"] = "请选择有效的隐患判定项"
    elif equipment is not None and not criterion_applies(criterion, equipment.category_code):
        errors["criterion_id"] = f"该判定项适用于{criterion.equipment_type}，与所选设备的类别不符"
    if data.get("found_on") and data.get("rectify_deadline") and data["rectify_deadline"] < data["found_on"]:
        errors["rectify_deadline"] = "整改期限不能早于发现日期"
    report = None
    if data.get("inspection_report_no") and equipment is not None:
        report = _report_of(equipment, data["inspection_report_no"])
        if report is None:
            errors["inspection_report_no"] = "该设备没有这份检验报告"
    if errors:
        raise ValidationFailed(errors)
    source = _calling_process_source() or SOURCE_BY_ROLE[user.role]
    parties = [(user.org_id, "reporter")] if user.org_id else []
    return StartContext(
        title=f"{equipment.use_org.name} {equipment.name}（{equipment.code}）重大事故隐患",
        region_code=equipment.region_code, org_id=equipment.use_org_id, equipment_id=equipment.id,
        parties=parties,
        extra_data={"equipment_id": equipment.id, "use_org_id": equipment.use_org_id,
                    "reporter_kind": source, "reporter_org_id": user.org_id,
                    "criterion_citation": criterion.citation,
                    "inspection_report_id": report.id if report is not None else None})


def _calling_process_source() -> str | None:
    from ..engine.services import CURRENT
    outer = CURRENT.get()
    return SOURCE_BY_PROCESS.get(outer.case.process_key) if outer is not None and outer.case is not None else None


def _report_of(equipment: Equipment, report_no: str):
    from ..inspections.models import InspectionReport
    return db.session.scalar(select(InspectionReport).where(InspectionReport.report_no == report_no.strip(),
                                                            InspectionReport.equipment_id == equipment.id))


def _hazard(ctx: ServiceContext, *related) -> Hazard:
    return case_row(Hazard, ctx, *related)


USE_ORG_LOAD = (joinedload(Hazard.use_org),)
# What the rectification notice and its SMS read (notice_sms_params).
NOTICE_LOADS = (joinedload(Hazard.equipment).joinedload(Equipment.category), joinedload(Hazard.use_org),
                joinedload(Hazard.criterion))


@service("hazard.register")
def register(ctx: ServiceContext) -> dict:
    data = ctx.task_data
    hazard = Hazard(case_id=ctx.case.id, hazard_no=ctx.case.case_no, equipment_id=data["equipment_id"],
                    use_org_id=data["use_org_id"], region_code=ctx.case.region_code,
                    source=data["reporter_kind"], reporter_id=data["initiator_id"],
                    reporter_org_id=data.get("reporter_org_id"), criterion_id=data["criterion_id"],
                    description=data["description"], found_on=date.fromisoformat(data["found_on"]),
                    rectify_deadline=date.fromisoformat(data["rectify_deadline"]), status="reported",
                    reporter_requirements=data.get("rectify_requirements"),
                    inspection_report_id=data.get("inspection_report_id"))
    db.session.add(hazard)
    db.session.flush()
    if hazard.source in TECHNICAL_SOURCES:
        _announce_technical_report(ctx, hazard)
    return {"hazard_id": hazard.id}


def _announce_technical_report(ctx: ServiceContext, hazard: Hazard) -> None:
    """A technical unit's report reaches the use unit (message + SMS to its contacts) and the device's
    local bureau (message + SMS to the county supervisors of the device's region)."""
    equipment, reporter = hazard.equipment, hazard.reporter_org
    reporter_name = reporter.name if reporter else "技术机构"
    clause = f"{hazard.criterion.clause} {hazard.criterion.item})"
    deadline = hazard.rectify_deadline.isoformat()
    notify_org(hazard.use_org_id, "use_unit", "notice",
               f"{reporter_name}上报您单位{equipment.name}存在重大事故隐患，要求于{deadline}前整改（{ctx.case.case_no}）",
               case=ctx.case, body=hazard.reporter_requirements, sender=ctx.actor)
    common = {"reporter": reporter_name, "equipName": equipment.name, "deviceCode": equipment.code,
              "clause": clause, "hazardNo": hazard.hazard_no, "deadline": deadline}
    sms_services.enqueue("HAZARD_REPORTED_UNIT", {"unitName": hazard.use_org.name, **common},
                         sms_services.recipients_for_org(hazard.use_org_id), region_code=hazard.region_code,
                         case_id=ctx.case.id, dedup_key=f"hz-reported-unit:{hazard.id}")
    from ..taskops.services import notify
    bureau = list(db.session.scalars(select(User).where(User.role == "county_supervisor",
                                                        User.region_code == hazard.region_code,
                                                        User.is_active_flag.is_(True))))
    for person in bureau:
        notify(person.id, "notice", f"{reporter_name}上报辖区{hazard.use_org.name}{equipment.name}重大事故隐患"
               f"（{ctx.case.case_no}），请派单督办", case=ctx.case, body=hazard.reporter_requirements,
               sender=ctx.actor)
    for recipient in sms_services.recipients_for_users(bureau):
        sms_services.enqueue("HAZARD_REPORTED_BUREAU", {"name": recipient.name, "unitName": hazard.use_org.name,
                                                        **common},
                             [recipient], region_code=hazard.region_code, case_id=ctx.case.id,
                             dedup_key=f"hz-reported-bureau:{hazard.id}:{recipient.user_id}")


@service("hazard.issue_notice")
def issue_notice(ctx: ServiceContext) -> dict:
    """派单督办: the county bureau issues the rectification notice (整改通知书)."""
    hazard = _hazard(ctx, *NOTICE_LOADS)
    data = ctx.task_data
    year = utcnow().astimezone(DISPLAY_TZ).year
    number = next_value(f"notice:{hazard.region_code}", str(year))
    hazard.notice_no = f"特隐整〔{year}〕{hazard.region_code}-{number:04d}号"
    hazard.notice_issued_at = utcnow()
    hazard.notice_requirements = data.get("requirements")
    hazard.notice_issuer_region = hazard.region_code
    hazard.rectify_deadline = date.fromisoformat(data["rectify_deadline"])
    _set_status(hazard, "rectifying")
    _tell_unit(ctx, hazard, "notice",
               f"整改通知书{hazard.notice_no}已下达，请于{hazard.rectify_deadline.isoformat()}前完成整改并反馈"
               f"（{ctx.case.case_no}）", body=hazard.notice_requirements,
               sms=("MAJOR_HAZARD_NOTICE", notice_sms_params(hazard), f"hz-notice:{hazard.id}:{hazard.notice_no}"))
    return {"notice_no": hazard.notice_no}


@service("hazard.set_status")
def set_status(ctx: ServiceContext, status: str) -> dict:
    hazard = _hazard(ctx)
    if status not in Hazard.STATUS_LABELS:
        raise ValueError(f"unknown hazard status {status}")
    rejected = hazard.status == "verifying" and status == "rectifying"     # 复核不通过: back to the unit
    _set_status(hazard, status)
    if rejected:
        _tell_unit(ctx, hazard, "rework", f"复核不通过，请继续整改（{ctx.case.case_no}）",
                   body=ctx.task_data.get("opinion"), sms_todo=True)
    return {"status": status}


@service("hazard.extension_result")
def extension_result(ctx: ServiceContext) -> dict:
    """延期审核: an approved extension moves the deadline (and the rectify task's due date);
    a rejected one leaves it. Either way the use unit continues the rectification."""
    hazard = _hazard(ctx)
    data = ctx.task_data
    approved = data.get("extension_decision") == "approve"
    if approved:
        hazard.rectify_deadline = date.fromisoformat(data["approved_deadline"])
        hazard.extension_count += 1
        data["rectify_deadline"] = hazard.rectify_deadline.isoformat()
    _set_status(hazard, "rectifying")
    deadline = hazard.rectify_deadline.isoformat()
    _tell_unit(ctx, hazard, "decision",
               f"延期申请已同意，整改期限延至{deadline}（{ctx.case.case_no}）" if approved else
               f"延期申请未获同意，请于原整改期限{deadline}前完成整改（{ctx.case.case_no}）",
               body=data.get("opinion"), sms_todo=not approved)
    return {"approved": data.get("extension_decision") == "approve",
            "rectify_deadline": hazard.rectify_deadline.isoformat()}


@service("hazard.close")
def close(ctx: ServiceContext) -> dict:
    hazard = _hazard(ctx, *USE_ORG_LOAD)
    completed_on = ctx.task_data.get("completed_on")
    hazard.rectified_on = date.fromisoformat(completed_on) if completed_on else None
    hazard.closed_at = utcnow()
    _set_status(hazard, "closed")
    _tell_unit(ctx, hazard, "closed", f"重大事故隐患已销号，案件办结（{ctx.case.case_no}）",
               sms=("CASE_CLOSED", {"unitName": hazard.use_org.name, "title": ctx.case.title,
                                    "caseNo": ctx.case.case_no}, f"hz-closed:{hazard.id}"))
    return {"closed": True}


def notice_sms_params(hazard: Hazard) -> dict:
    """The variables of the MAJOR_HAZARD_NOTICE text (automatic on issue, and the manual reminder)."""
    equipment = hazard.equipment
    return {"unitName": hazard.use_org.name, "equipType": equipment.category.name,
            "certNo": f"使用登记证编号{equipment.registration_no}" if equipment.registration_no
            else f"设备代码{equipment.code}",
            "clause": f"{hazard.criterion.clause} {hazard.criterion.item})", "docNo": hazard.notice_no,
            "deadline": hazard.rectify_deadline.isoformat()}


def _tell_unit(ctx: ServiceContext, hazard: Hazard, kind: str, title: str, *, body: str | None = None,
               sms: tuple[str, dict, str] | None = None, sms_todo: bool = False) -> None:
    """The use unit hears of what is decided about it: a message to its safety managers' accounts
    (the inbox's 消息提醒, linking to the case and its open task), and the SMS template where one
    exists — to the unit's SMS contacts (`sms`: code, variables, dedup key) or, for work sent back,
    a 待办 reminder to its accounts with a phone (`sms_todo`)."""
    notify_org(hazard.use_org_id, "use_unit", kind, title, case=ctx.case, body=body, sender=ctx.actor)
    if sms is not None:
        code, params, dedup = sms
        sms_services.enqueue(code, params, sms_services.recipients_for_org(hazard.use_org_id),
                             region_code=hazard.region_code, case_id=ctx.case.id, dedup_key=dedup)
    if sms_todo:
        users = db.session.scalars(select(User).where(User.org_id == hazard.use_org_id, User.role == "use_unit"))
        for recipient in sms_services.recipients_for_users(users):
            sms_services.enqueue("TODO_REMINDER", {"name": recipient.name, "caseNo": ctx.case.case_no,
                                                   "step": "整改反馈", "deadline": hazard.rectify_deadline.isoformat()},
                                 [recipient], region_code=hazard.region_code, case_id=ctx.case.id)


def _set_status(hazard: Hazard, status: str) -> None:
    hazard.status = status
    hazard.warning_level = hazard_warning(hazard)


def hazard_warning(hazard: Hazard) -> str:
    if hazard.status not in Hazard.WARNING_STATUSES:
        return "none"
    days_left = (hazard.rectify_deadline - today_local()).days
    return decisions.evaluate("warning_level", days_left=days_left).get("level") or "none"


def refresh_hazard_warnings() -> int:
    changed = 0
    for hazard in db.session.scalars(select(Hazard).where(Hazard.status.in_(Hazard.WARNING_STATUSES))):
        level = hazard_warning(hazard)
        if level != hazard.warning_level:
            hazard.warning_level = level
            changed += 1
    db.session.flush()
    return changed


def hazard_scope(user: User, include_deleted: bool = False):
    """Hazards `user` may see; a hazard its reporter deleted before acceptance is in no list
    (`include_deleted`: for counts that cannot include them anyway, so they read an index alone)."""
    if user.is_regulator:
        cond = in_region(Hazard.region_code, user.scope_prefix)
    elif user.is_enterprise and user.org_id:
        cond = or_(Hazard.use_org_id == user.org_id, Hazard.reporter_org_id == user.org_id)
    else:
        return false()
    return cond if include_deleted else cond & Hazard.deleted_at.is_(None)


# GB 45067-2024 groups its items by equipment type; the type's first digit in the 特种设备目录
# (1 锅炉 … 9 客运索道). 通用 items apply to every kind of equipment.
CATALOGUE_CLASS = {"锅炉": "1", "压力容器": "2", "移动式压力容器或者气瓶充装": "2", "电梯": "3", "起重机械": "4",
                   "场(厂)内专用机动车辆": "5", "场（厂）内专用机动车辆": "5", "大型游乐设施": "6", "压力管道": "8",
                   "客运索道": "9"}


def _clause_key(c: HazardCriterion) -> tuple:
    """4.1, 4.2 … 4.10 in the standard's order (not 4.1, 4.10, 4.2), then a), b) …"""
    return tuple(int(p) if p.isdigit() else p for p in c.clause.split(".")) + (c.item,)


def criterion_applies(criterion: HazardCriterion, category_code: str | None) -> bool:
    group = CATALOGUE_CLASS.get(criterion.equipment_type)
    return group is None or not category_code or category_code.startswith(group)


def _active_criteria() -> list[HazardCriterion]:
    rows = db.session.scalars(select(HazardCriterion).where(HazardCriterion.active.is_(True),
                                                            HazardCriterion.is_cross_reference.is_(False)))
    return sorted(rows, key=_clause_key)


def criteria_options() -> list[tuple[str, str]]:
    """(id, label) in the standard's clause order."""
    return [(c.id, c.label) for c in _active_criteria()]


def deadline_end(day: date) -> datetime:
    return local_day_end(day)


def notice_context(hazard: Hazard) -> dict:
    return {
        "hazard": hazard,
        "issuer_name": office_name(hazard.notice_issuer_region or hazard.region_code),
        "org": hazard.use_org,
        "equipment": hazard.equipment,
        "criterion": hazard.criterion,
        "issued_on": (hazard.notice_issued_at or utcnow()).astimezone(DISPLAY_TZ).date(),
    }


def hazard_for_case(case: Case) -> Hazard | None:
    return db.session.scalar(select(Hazard).where(Hazard.case_id == case.id))


@option_provider("hazard_criterion")
def _criterion_widget(_user) -> list[tuple[str, str, str]]:
    """With each item's equipment class: the report form offers only the chosen equipment's items
    (js/forms.js) and the start hook refuses the others."""
    return [(c.id, c.label, CATALOGUE_CLASS.get(c.equipment_type, "")) for c in _active_criteria()]


@case_facts(PROCESS_KEY)
def hazard_facts(case: Case) -> dict:
    """Facts SMS templates of escalations and reminders quote."""
    row = db.session.execute(select(Hazard.notice_no, Hazard.hazard_no, Hazard.rectify_deadline)
                             .where(Hazard.case_id == case.id)).first()
    if row is None:
        return {}
    return {"docNo": row.notice_no or row.hazard_no, "hazardNo": row.hazard_no,
            "deadline": row.rectify_deadline.isoformat()}


def escalation_of(hazard: Hazard):
    """The latest 超期督办 of the hazard's case: its (task, event) or None when never escalated."""
    event = db.session.scalar(select(CaseEvent).where(CaseEvent.case_id == hazard.case_id,
                                                      CaseEvent.kind == "escalated").order_by(CaseEvent.seq.desc())
                              .limit(1))
    if event is None:
        return None
    task = db.session.scalar(select(Task).where(Task.case_id == hazard.case_id, Task.task_def.like("supervise%"))
                             .order_by(Task.id.desc()).limit(1))
    return task, event


@case_panel(PROCESS_KEY)
def hazard_panel(case: Case) -> dict:
    hazard = hazard_for_case(case)
    return {"template": "hazards/_case_panel.html", "hazard": hazard,
            "escalated": hazard is not None and escalation_of(hazard) is not None}
