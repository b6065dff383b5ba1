"""超期未检处置 as a BPMN closed loop (workflows/overdue_inspection.bpmn): the start hook, the service
functions the diagram calls, the action log (超期未检处理记录), the instruction letter and the case panel.

Measures (§4.5.2.3), each its own path in the diagram:
- order (责令整改 / 立案查处): an instruction letter (指令书) with a deadline; the use unit reports the
  inspection; a BPMN timer at the deadline hands the case back to the bureau (自动生成待办);
- stop (停用拆除): evidence; the use unit registers the stop / scrapping / cancellation within 30 days, or a
  timer hands the case back;
- announce (公告注销): reason and evidence → local head → city → province → published, device 公告注销,
  an outbound message to the registration authority;
- extension (延期检验): an approved date; when it passes a timer checks for a report, else hands back;
- report (录入检验信息): a late report closes the case.
"""
from __future__ import annotations

import json
from datetime import date, timedelta

from sqlalchemy import select

from ..cases.models import Case
from ..cases.widgets import option_provider
from ..core.clock import DISPLAY_TZ, today_local, utcnow
from ..core.models import Equipment, Organization, User
from ..core.regions import office_name, region_name
from ..core.sequences import next_value
from ..engine.services import ServiceContext, StartContext, case_facts, case_panel, case_row, service, start_hook
from ..errors import Conflict, ValidationFailed
from ..extensions import db
from ..inspections import services as inspections
from ..registry import due
from ..registry import services as registry
from .models import ORDER_KINDS, Announcement, AuthorityMessage, OverdueAction, OverdueDisposal

PROCESS_KEY = "overdue_inspection"
REGISTER_WITHIN_DAYS = 30          # §4.5.2.4: 停用拆除报废注销到30天期限仍未进行办理相应的使用登记


# ---------------------------------------------------------------- the action log

def log_action(device: Equipment, action: str, summary: str, *, actor: User | None = None, case_id: int | None = None,
               measure: str | None = None, reason: str | None = None, detail: dict | None = None) -> OverdueAction:
    row = OverdueAction(equipment_id=device.id, case_id=case_id, region_code=device.region_code,
                        use_org_id=device.use_org_id, at=utcnow(), actor_id=actor.id if actor else None, action=action,
                        measure=measure, summary=summary[:500], reason=reason,
                        detail=json.dumps(detail, ensure_ascii=False, default=str) if detail else None)
    db.session.add(row)
    return row


def open_disposal(equipment_id: int) -> OverdueDisposal | None:
    return db.session.scalar(select(OverdueDisposal).where(OverdueDisposal.equipment_id == equipment_id,
                                                           OverdueDisposal.status != "closed"))


# ---------------------------------------------------------------- start

def startable(user: User, device: Equipment | None) -> str | None:
    """Why a disposal case cannot start for this device (None: it can)."""
    if device is None:
        return "设备不存在或不在您的管辖范围内"
    if device.status != "in_use":
        return f"设备当前为{device.status_label}，不需检验"
    if due.state_for(device) != "overdue":
        return f"设备当前不是超期未检（{due.STATES.get(due.state_for(device), '')}）"
    found = open_disposal(device.id)
    if found is not None:
        return f"设备已有办理中的超期处置（{found.disposal_no}）"
    return None


@start_hook(PROCESS_KEY)
def prepare(user: User, data: dict) -> StartContext:
    device = db.session.scalar(select(Equipment).where(Equipment.code == (data.get("equipment_code") or "").strip(),
                                                       registry.device_scope(user)))
    why = startable(user, device) if user.is_regulator else "只有监察人员可以发起超期未检处置"
    if why:
        raise ValidationFailed({"equipment_code": why})
    return StartContext(
        title=f"{device.use_org.name} {device.name}（{device.code}）超期未检处置",
        region_code=device.region_code, org_id=device.use_org_id, equipment_id=device.id,
        extra_data={"equipment_id": device.id, "use_org_id": device.use_org_id,
                    "overdue_since": (device.effective_due_date or today_local()).isoformat()})


def _disposal(ctx: ServiceContext) -> OverdueDisposal:
    return case_row(OverdueDisposal, ctx)


@service("overdue.register")
def register(ctx: ServiceContext) -> dict:
    device = db.session.get(Equipment, ctx.task_data["equipment_id"])
    disposal = OverdueDisposal(case_id=ctx.case.id, disposal_no=ctx.case.case_no, equipment_id=device.id,
                               use_org_id=device.use_org_id, region_code=device.region_code,
                               overdue_since=date.fromisoformat(ctx.task_data["overdue_since"]), status="choosing")
    db.session.add(disposal)
    log_action(device, "started", f"发起超期未检处置（下次检验日期 {disposal.overdue_since}）", actor=ctx.actor,
               case_id=ctx.case.id, reason=ctx.task_data.get("note"))
    db.session.flush()
    return {"disposal_id": disposal.id}


def _measure(ctx: ServiceContext, disposal: OverdueDisposal, status: str) -> None:
    data = ctx.task_data
    disposal.measure, disposal.status = data["measure"], status
    disposal.order_kind = data.get("order_kind") if data["measure"] == "order" else None
    log_action(disposal.equipment, "measure", f"选择处置措施：{disposal.measure_label}", actor=ctx.actor,
               case_id=ctx.case.id, measure=disposal.measure, reason=data.get("opinion"))


# ---------------------------------------------------------------- 责令整改 / 立案查处

@service("overdue.issue_letter")
def issue_letter(ctx: ServiceContext) -> dict:
    """特种设备安全监察指令书: a number per issuing bureau and year, the requirements and the deadline; the
    use unit's responsible people are told (DIRECTIVE_ISSUED)."""
    disposal = _disposal(ctx)
    data = ctx.task_data
    deadline = date.fromisoformat(data["rectify_deadline"])
    if deadline < today_local():
        raise ValidationFailed({"rectify_deadline": "整改期限不能早于今天"})
    _measure(ctx, disposal, "ordered")
    year = utcnow().astimezone(DISPLAY_TZ).year
    number = next_value(f"directive:{disposal.region_code}", str(year))
    disposal.letter_no = f"（{region_name(disposal.region_code)}）市监特令〔{year}〕第{number}号"
    disposal.letter_requirements = data.get("requirements")
    disposal.letter_deadline = deadline
    disposal.letter_issued_at = utcnow()
    disposal.letter_issuer_region = disposal.region_code
    device = disposal.equipment
    log_action(device, "letter_issued", f"下达指令书 {disposal.letter_no}（{ORDER_KINDS.get(disposal.order_kind, '')}），"
               f"整改期限 {deadline}", actor=ctx.actor, case_id=ctx.case.id, measure="order",
               detail={"letter_no": disposal.letter_no, "deadline": deadline})
    _sms_unit(device, "DIRECTIVE_ISSUED", {"officeName": office_name(disposal.region_code), "docNo": disposal.letter_no,
                                           "deadline": deadline.isoformat()}, f"directive-issued:{disposal.id}",
              ctx.case.id)
    db.session.flush()
    return {"letter_no": disposal.letter_no, "deadline": deadline.isoformat()}


def _report_input(data: dict) -> tuple[inspections.ReportInput, int | None]:
    def day(name):
        return date.fromisoformat(data[name]) if data.get(name) else None
    files = data.get("report_pdf") or []
    agency = str(data.get("report_agency") or "")
    return (inspections.ReportInput(report_no=(data.get("report_no") or "").strip(), inspected_on=day("inspected_on"),
                                    conclusion=data.get("conclusion") or "", next_due_date=day("next_due_date"),
                                    inspection_type=data.get("inspection_type") or "periodic",
                                    nonconformities=data.get("nonconformities"),
                                    pdf_attachment_id=int(files[0]) if files else None),
            int(agency) if agency.isdigit() else None)


def _record(ctx: ServiceContext, disposal: OverdueDisposal) -> dict:
    """Record the report a form carries; the case ends when the device is no longer overdue."""
    data = ctx.task_data
    report_input, agency_id = _report_input(data)
    agency = db.session.get(Organization, agency_id) if agency_id else None
    device = disposal.equipment
    errors = inspections.validate(device, report_input, agency)
    if errors:
        raise ValidationFailed({{"agency": "report_agency"}.get(k, k): v for k, v in errors.items()})
    report = inspections.record_report(device, agency, report_input, actor=ctx.actor, source="case")
    resolved = device.due_state != "overdue" and inspections.conclusions.is_passing(report.conclusion)
    data["resolved"] = resolved
    if not resolved:
        disposal.status = "choosing"          # the diagram returns to 选择处置措施
    log_action(device, "report_recorded", f"录入检验报告 {report.report_no}：{report.inspected_on} {report.conclusion}"
               + ("，超期消除" if resolved else "，设备仍未合格或仍超期"), actor=ctx.actor, case_id=ctx.case.id,
               measure=disposal.measure, detail={"report_id": report.id})
    db.session.flush()
    return {"resolved": resolved, "report_id": report.id}


@service("overdue.record_report")
def record_report(ctx: ServiceContext) -> dict:
    """录入检验信息 by the bureau (the `report` measure), or the use unit's feedback under a letter."""
    disposal = _disposal(ctx)
    if ctx.task_data.get("measure") == "report" and disposal.status == "choosing":
        _measure(ctx, disposal, "choosing")
    return _record(ctx, disposal)


# ---------------------------------------------------------------- 停用拆除

@service("overdue.order_stop")
def order_stop(ctx: ServiceContext) -> dict:
    disposal = _disposal(ctx)
    _measure(ctx, disposal, "stopping")
    disposal.register_deadline = today_local() + timedelta(days=REGISTER_WITHIN_DAYS)
    ctx.task_data["register_deadline"] = disposal.register_deadline.isoformat()
    kind = {"stop": "责令停止使用", "dismantle": "责令拆除"}.get(ctx.task_data.get("stop_kind"), "停用拆除")
    log_action(disposal.equipment, "stop_ordered", f"{kind}，须于 {disposal.register_deadline} 前办理停用/报废/注销登记",
               actor=ctx.actor, case_id=ctx.case.id, measure="stop",
               detail={"evidence": ctx.task_data.get("stop_evidence") or []})
    db.session.flush()
    return {"register_deadline": disposal.register_deadline.isoformat()}


@service("overdue.register_stop")
def register_stop(ctx: ServiceContext) -> dict:
    """The use unit's 停用 / 报废 / 注销 registration: the device's status changes (audited, source case)."""
    disposal = _disposal(ctx)
    data = ctx.task_data
    status = data["registration"]
    on = date.fromisoformat(data["registered_on"])
    if on > today_local():
        raise ValidationFailed({"registered_on": "登记日期不能晚于今天"})
    device = disposal.equipment
    label = Equipment.STATUS_LABELS[status]
    registry.change_status(device, status, actor=ctx.actor, reason=f"超期未检处置 {disposal.disposal_no}：办理{label}登记（{on}）",
                           source="case", case_id=ctx.case.id)
    log_action(device, "stop_registered", f"办理{label}登记（{on}）", actor=ctx.actor, case_id=ctx.case.id, measure="stop",
               detail={"evidence": data.get("stop_registration_evidence") or []})
    db.session.flush()
    return {"status": status}


# ---------------------------------------------------------------- 延期检验

@service("overdue.approve_extension")
def approve_extension(ctx: ServiceContext) -> dict:
    disposal = _disposal(ctx)
    until = date.fromisoformat(ctx.task_data["extended_until"])
    if until <= today_local():
        raise ValidationFailed({"extended_until": "延期检验日期应晚于今天"})
    _measure(ctx, disposal, "extended")
    device = disposal.equipment
    old = device.extended_until
    device.extended_until, disposal.extended_until = until, until
    registry._record(device, "extended_until", old, until, actor=ctx.actor,
                     reason=ctx.task_data.get("extension_reason"), source="case", case_id=ctx.case.id)
    due.refresh(device)
    log_action(device, "extension", f"批准延期检验至 {until}", actor=ctx.actor, case_id=ctx.case.id, measure="extension",
               reason=ctx.task_data.get("extension_reason"))
    db.session.flush()
    return {"extended_until": until.isoformat()}


# ---------------------------------------------------------------- timers: automatic todos (§4.5.2.4)

AUTO_TODO = {"rectify_overdue": "指令书整改期限届满仍未收到检验报告",
             "stop_unregistered": "停用拆除后30日内仍未办理停用/报废/注销登记",
             "extension_ended": "延期检验期限届满"}


@service("overdue.check_wait")
def check_wait(ctx: ServiceContext, kind: str) -> dict:
    """A waiting period ended (timer). If the device is no longer overdue — a report arrived meanwhile —
    the case ends; otherwise the handling bureau gets a new todo (the diagram returns to 选择处置措施),
    and the use unit is told when a letter's deadline passed (DIRECTIVE_OVERDUE)."""
    disposal = _disposal(ctx)
    device = disposal.equipment
    due.refresh(device)
    resolved = kind != "stop_unregistered" and device.due_state != "overdue" and device.status == "in_use"
    ctx.task_data["resolved"] = resolved
    if resolved:
        log_action(device, "report_recorded", f"{AUTO_TODO[kind]}时已有新的检验信息，超期消除", case_id=ctx.case.id,
                   measure=disposal.measure)
        return {"resolved": True}
    disposal.status, disposal.auto_todos = "choosing", disposal.auto_todos + 1
    if kind == "extension_ended":
        old = device.extended_until
        device.extended_until = None
        registry._record(device, "extended_until", old, None, actor=None, reason="延期检验期限届满",
                         source="case", case_id=ctx.case.id)
        due.refresh(device)
    log_action(device, "auto_todo", f"{AUTO_TODO[kind]}，自动生成待办交经办单位继续处理", case_id=ctx.case.id,
               measure=disposal.measure, detail={"kind": kind})
    from ..engine import runtime
    runtime.append_event(ctx.case, None, "auto_todo", f"{AUTO_TODO[kind]}，已自动生成待办“选择处置措施”",
                         step_name="自动生成待办", data={"kind": kind})
    if kind == "rectify_overdue" and disposal.letter_no:
        _sms_unit(device, "DIRECTIVE_OVERDUE", {"docNo": disposal.letter_no, "deadline": disposal.letter_deadline.isoformat()},
                  f"directive-overdue:{disposal.id}:{disposal.letter_deadline}", ctx.case.id)
    db.session.flush()
    return {"resolved": False, "auto_todo": kind}


# ---------------------------------------------------------------- 公告注销

@service("overdue.submit_announcement")
def submit_announcement(ctx: ServiceContext) -> dict:
    disposal = _disposal(ctx)
    _measure(ctx, disposal, "announcing")
    data = ctx.task_data
    row = Announcement(case_id=ctx.case.id, equipment_id=disposal.equipment_id, region_code=disposal.region_code,
                       reason=data["cancel_reason"], reason_text=data.get("cancel_reason_text"),
                       evidence_ids=json.dumps(data.get("cancel_evidence") or []), status="local",
                       submitted_by_id=ctx.actor.id if ctx.actor else None, submitted_at=utcnow())
    db.session.add(row)
    db.session.flush()
    ctx.task_data["announcement_id"] = row.id
    log_action(disposal.equipment, "announcement", f"提出公告注销（{row.reason_label}），报本级负责人审核", actor=ctx.actor,
               case_id=ctx.case.id, measure="announce", reason=data.get("cancel_reason_text"))
    return {"announcement_id": row.id}


LEVELS = {"local": ("本级负责人", "city"), "city": ("市局", "province"), "province": ("自治区局", "published")}


@service("overdue.announcement_step")
def announcement_step(ctx: ServiceContext, level: str, approved: bool) -> dict:
    disposal = _disposal(ctx)
    row = db.session.get(Announcement, ctx.task_data["announcement_id"])
    who, following = LEVELS[level]
    if row.status != level:
        raise Conflict(f"公告注销申请当前为{row.status_label}", code="announcement_state")
    if approved and following != "published":
        row.status = following
        text = f"{who}审核同意，上报{LEVELS[following][0]}"
    elif approved:
        return publish(ctx, disposal, row)
    else:
        row.status = "rejected"
        disposal.status = "choosing"
        text = f"{who}审核未同意，退回经办单位重新选择处置措施"
    log_action(disposal.equipment, "announcement_step", text, actor=ctx.actor, case_id=ctx.case.id, measure="announce",
               reason=ctx.task_data.get("opinion"))
    db.session.flush()
    return {"status": row.status}


def publish(ctx: ServiceContext, disposal: OverdueDisposal, row: Announcement) -> dict:
    """Published by the province: numbered, on the public page; the device becomes 公告注销; the result goes
    to the registration authority (an outbox row the scheduler sends)."""
    year = utcnow().astimezone(DISPLAY_TZ).year
    row.announcement_no = f"桂特公告〔{year}〕{next_value('announcement:450000', str(year)):05d}号"
    row.status, row.published_at = "published", utcnow()
    device = disposal.equipment
    registry.change_status(device, "announced_cancelled", actor=ctx.actor,
                           reason=f"公告注销 {row.announcement_no}（{row.reason_label}）", source="case", case_id=ctx.case.id)
    payload = {"kind": "announced_cancelled", "announcement_no": row.announcement_no, "device_code": device.code,
               "registration_no": device.registration_no, "reg_code": device.reg_code, "use_unit": device.use_org.name,
               "use_unit_uscc": device.use_org.uscc, "region_code": device.region_code,
               "registered_region_code": device.registered_region_code, "reason": row.reason_label,
               "published_on": row.published_at.astimezone(DISPLAY_TZ).date().isoformat(), "case_no": ctx.case.case_no}
    db.session.add(AuthorityMessage(kind="announced_cancelled", equipment_id=device.id, announcement_id=row.id,
                                    payload=json.dumps(payload, ensure_ascii=False), status="pending", attempts=0,
                                    next_try_at=utcnow(), created_at=utcnow()))
    log_action(device, "announced", f"自治区局审核同意，公告注销 {row.announcement_no}，已推送使用登记机关",
               actor=ctx.actor, case_id=ctx.case.id, measure="announce", reason=ctx.task_data.get("opinion"))
    db.session.flush()
    return {"status": "published", "announcement_no": row.announcement_no}


# ---------------------------------------------------------------- close

OUTCOMES = {"inspected": "已检验，超期消除", "stopped": "已办理停用/报废/注销登记", "announced": "已公告注销"}


@service("overdue.close")
def close(ctx: ServiceContext, outcome: str) -> dict:
    disposal = _disposal(ctx)
    disposal.status, disposal.outcome, disposal.closed_at = "closed", OUTCOMES[outcome], utcnow()
    log_action(disposal.equipment, "closed", f"办结：{OUTCOMES[outcome]}", actor=ctx.actor, case_id=ctx.case.id,
               measure=disposal.measure)
    db.session.flush()
    return {"outcome": outcome}


# ---------------------------------------------------------------- SMS, facts, panel, options

def _sms_unit(device: Equipment, template: str, params: dict, dedup_key: str, case_id: int | None) -> int:
    from ..sms import services as sms
    recipients = sms.recipients_for_org(device.use_org_id)
    if not recipients:
        return 0
    return len(sms.enqueue(template, {"unitName": device.use_org.name, **params}, recipients,
                           region_code=device.region_code, case_id=case_id, dedup_key=dedup_key, equipment_id=device.id))


def disposal_for_case(case: Case) -> OverdueDisposal | None:
    return db.session.scalar(select(OverdueDisposal).where(OverdueDisposal.case_id == case.id))


@case_facts(PROCESS_KEY)
def disposal_facts(case: Case) -> dict:
    d = disposal_for_case(case)
    if d is None:
        return {}
    return {"docNo": d.letter_no or d.disposal_no, "deadline": (d.letter_deadline or d.register_deadline or
                                                                 d.extended_until or today_local()).isoformat()}


@case_panel(PROCESS_KEY)
def disposal_panel(case: Case) -> dict:
    d = disposal_for_case(case)
    announcement = db.session.scalar(select(Announcement).where(Announcement.case_id == case.id)
                                     .order_by(Announcement.id.desc()).limit(1)) if d else None
    return {"template": "overdue/_case_panel.html", "disposal": d, "announcement": announcement,
            "due_states": due.STATES}


@option_provider("inspection_agency")
def _agency_widget(_user) -> list[tuple[str, str]]:
    return [(str(i), n) for i, n in db.session.execute(select(Organization.id, Organization.name).where(
        Organization.kind == "inspection_agency").order_by(Organization.name))]


@inspections.on_report_recorded
def _report_on_open_case(report, actor) -> None:
    """A report recorded elsewhere (import, API, an agency's page) for a device under disposal is logged in
    its 超期未检处理记录; the case's next timer, or the bureau's next step, closes it."""
    disposal = open_disposal(report.equipment_id)
    if disposal is not None and report.source != "case":
        log_action(report.equipment, "report_recorded", f"收到检验报告 {report.report_no}：{report.inspected_on} "
                   f"{report.conclusion}（{report.SOURCE_LABELS.get(report.source, report.source)}）", actor=actor,
                   case_id=disposal.case_id, measure=disposal.measure, detail={"report_id": report.id})
