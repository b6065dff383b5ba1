"""Recording inspection reports and deriving each device's inspection facts from them.

A device's next inspection date is the next due date of its latest *passing* report (a failing report
leaves the previous date, which then runs out: 检验不合格的不得继续使用). `record_report` keeps the device
consistent as each report arrives; `recompute_from_history` derives it again from the whole history
(误报纠正). Other domains learn of new reports through `on_report_recorded` listeners.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Callable

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from ..core.clock import today_local, utcnow
from ..core.models import Attachment, Equipment, Organization, User
from ..core.tx import savepoint
from ..errors import ValidationFailed
from ..extensions import db
from ..registry import due
from . import conclusions
from .models import InspectionReport

_LISTENERS: list[Callable[[InspectionReport, User | None], None]] = []


def on_report_recorded(fn):
    """Register fn(report, actor), called in the same transaction after a report is stored."""
    _LISTENERS.append(fn)
    return fn


@dataclass
class ReportInput:
    report_no: str
    inspected_on: date
    conclusion: str
    next_due_date: date | None = None
    inspection_type: str = "periodic"
    nonconformities: str | None = None
    pdf_attachment_id: int | None = None


def validate(device: Equipment, data: ReportInput, agency: Organization | None) -> dict[str, str]:
    """Per-field Chinese errors of one report for one device (empty: valid)."""
    errors: dict[str, str] = {}
    no = (data.report_no or "").strip()
    if not no:
        errors["report_no"] = "此项为必填项"
    elif len(no) > 40:
        errors["report_no"] = "报告编号最多 40 个字符"
    if agency is None or agency.kind != "inspection_agency":
        errors["agency"] = "检验机构不存在或不是检验检测机构"
    if data.inspection_type not in InspectionReport.TYPE_LABELS:
        errors["inspection_type"] = "检验类别只能是定期检验、监督检验或首次检验"
    allowed = conclusions.for_kind(device.kind_code)
    if data.conclusion not in allowed:
        errors["conclusion"] = f"{device.category.name if device.category else '该设备'}的检验结论只能是：{'、'.join(allowed)}"
    if data.inspected_on is None:
        errors["inspected_on"] = "此项为必填项"
    elif data.inspected_on > today_local():
        errors["inspected_on"] = "检验日期不能晚于今天"
    if "conclusion" not in errors and conclusions.is_passing(data.conclusion):
        if data.next_due_date is None:
            errors["next_due_date"] = "检验结论为合格类时必须填写下次检验日期"
        elif data.inspected_on and data.next_due_date <= data.inspected_on:
            errors["next_due_date"] = "下次检验日期应晚于检验日期"
    elif "conclusion" not in errors and data.next_due_date is not None:
        errors["next_due_date"] = "检验结论为不合格类时不填写下次检验日期（复检合格后另行录入）"
    if data.nonconformities and len(data.nonconformities) > 4000:
        errors["nonconformities"] = "不符合项最多 4000 个字"
    return errors


def record_report(device: Equipment, agency: Organization, data: ReportInput, *, actor: User | None = None,
                  source: str = "system") -> InspectionReport:
    """Store a validated report and bring the device's inspection facts up to date (flush, no commit)."""
    errors = validate(device, data, agency)
    if data.pdf_attachment_id is not None:
        att = db.session.get(Attachment, data.pdf_attachment_id)
        if att is None or att.mime != "application/pdf" or (actor is not None and att.uploaded_by_id != actor.id
                                                             and att.case_id is None):
            errors["pdf"] = "报告 PDF 不存在、不是 PDF 文件或不是您上传的"
    if errors:
        raise ValidationFailed(errors)
    report = InspectionReport(report_no=data.report_no.strip(), equipment_id=device.id, agency_org_id=agency.id,
                              region_code=device.region_code, inspection_type=data.inspection_type,
                              inspected_on=data.inspected_on, conclusion=data.conclusion,
                              nonconformities=(data.nonconformities or "").strip() or None,
                              next_due_date=data.next_due_date if conclusions.is_passing(data.conclusion) else None,
                              pdf_attachment_id=data.pdf_attachment_id, source=source,
                              created_by_id=actor.id if actor else None, created_at=utcnow())
    try:
        with savepoint():
            db.session.add(report)
    except IntegrityError as err:
        raise ValidationFailed({"report_no": f"报告编号 {report.report_no} 已存在"}) from err
    apply_report(device, report)
    if not conclusions.is_passing(report.conclusion):
        _warn_failing(device, report)
    for listener in _LISTENERS:
        listener(report, actor)
    db.session.flush()
    return report


def apply_report(device: Equipment, report: InspectionReport) -> None:
    """A new report that is the device's latest moves its inspection facts; an older one (entered late)
    only matters if it is passing and newer than the latest passing one, so the whole history decides."""
    latest = device.last_inspected_on
    if latest is None or report.inspected_on >= latest:
        device.last_inspected_on, device.last_conclusion = report.inspected_on, report.conclusion
        if conclusions.is_passing(report.conclusion):
            device.next_inspection_date = report.next_due_date
            device.extended_until = None        # an approved extension ends with the inspection it waited for
    else:
        recompute_from_history(device)
        return
    device.updated_at = utcnow()
    due.refresh(device)


def history(device_id: int) -> list[InspectionReport]:
    return list(db.session.scalars(select(InspectionReport).where(InspectionReport.equipment_id == device_id)
                                   .options(joinedload(InspectionReport.agency))
                                   .order_by(InspectionReport.inspected_on.desc(), InspectionReport.id.desc())))


def recompute_from_history(device: Equipment) -> bool:
    """Derive the device's inspection facts and due state again from all its reports; True when
    anything changed (误报纠正)."""
    return refresh_devices([device]) == 1


def refresh_devices(devices: list[Equipment]) -> int:
    """`recompute_from_history` for many devices with one read of their reports (bulk imports)."""
    if not devices:
        return 0
    rows: dict[int, list] = {}
    for r in db.session.execute(select(InspectionReport.equipment_id, InspectionReport.inspected_on,
                                       InspectionReport.conclusion, InspectionReport.next_due_date)
                                .where(InspectionReport.equipment_id.in_([d.id for d in devices]))
                                .order_by(InspectionReport.equipment_id, InspectionReport.inspected_on.desc(),
                                          InspectionReport.id.desc())):
        rows.setdefault(r.equipment_id, []).append(r)
    changed = 0
    for device in devices:
        history_rows = rows.get(device.id, [])
        before = (device.next_inspection_date, device.last_inspected_on, device.last_conclusion, device.due_state)
        if history_rows:
            next_date = next((r.next_due_date for r in history_rows if conclusions.is_passing(r.conclusion)), None)
            device.next_inspection_date = next_date
            device.last_inspected_on, device.last_conclusion = history_rows[0].inspected_on, history_rows[0].conclusion
            if device.extended_until and next_date and next_date >= device.extended_until:
                device.extended_until = None
        due.refresh(device)
        if before != (device.next_inspection_date, device.last_inspected_on, device.last_conclusion, device.due_state):
            device.updated_at = utcnow()
            changed += 1
    db.session.flush()
    return changed


def _warn_failing(device: Equipment, report: InspectionReport) -> None:
    """检验结论不合格预警 (INSPECTION_NONCONFORMING) to the use unit's SMS contacts, once per report."""
    from ..sms import services as sms
    recipients = sms.recipients_for_org(device.use_org_id)
    if not recipients:
        return
    sms.enqueue("INSPECTION_NONCONFORMING",
                {"unitName": device.use_org.name, "equipType": device.category.name, "deviceCode": device.code,
                 "inspectDate": report.inspected_on.isoformat(), "conclusion": report.conclusion},
                recipients, region_code=device.region_code, dedup_key=f"insp-fail:{report.id}",
                equipment_id=device.id)


def report_json(r: InspectionReport) -> dict:
    return {"id": r.id, "report_no": r.report_no, "equipment_id": r.equipment_id,
            "agency": {"id": r.agency.id, "name": r.agency.name} if r.agency else None,
            "inspection_type": r.inspection_type, "inspection_type_label": r.type_label,
            "inspected_on": r.inspected_on.isoformat(), "conclusion": r.conclusion,
            "passing": conclusions.is_passing(r.conclusion), "nonconformities": r.nonconformities,
            "next_due_date": r.next_due_date.isoformat() if r.next_due_date else None,
            "pdf_attachment_id": r.pdf_attachment_id, "source": r.source}
