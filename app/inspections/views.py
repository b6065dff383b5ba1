"""录入检验报告 (page) and a report's PDF."""
from __future__ import annotations

from datetime import date

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from ..core.clock import today_local
from ..core.models import Organization
from ..core.storage import attachment_response, save_upload
from ..errors import Forbidden, NotFound, ValidationFailed
from ..extensions import db
from ..registry.services import device_scope, find_device
from . import conclusions, services
from .models import InspectionReport

bp = Blueprint("inspections", __name__, url_prefix="/inspections")


def may_record(user) -> bool:
    return user.is_regulator or (user.role == "inspection_agency" and user.org_id is not None)


def agency_options() -> list[tuple[int, str]]:
    return [(o.id, o.name) for o in db.session.scalars(select(Organization).where(
        Organization.kind == "inspection_agency").order_by(Organization.name))]


def parse_form(form) -> tuple[str, int | None, services.ReportInput, dict]:
    """(device code, agency id, report input, errors of parsing) from a submitted form."""
    errors = {}

    def day(name, required=False):
        raw = (form.get(name) or "").strip()
        if not raw:
            if required:
                errors[name] = "此项为必填项"
            return None
        try:
            return date.fromisoformat(raw)
        except ValueError:
            errors[name] = "日期格式应为 YYYY-MM-DD"
            return None
    agency = (form.get("agency_id") or "").strip()
    data = services.ReportInput(report_no=(form.get("report_no") or "").strip(), inspected_on=day("inspected_on", True),
                                conclusion=(form.get("conclusion") or "").strip(), next_due_date=day("next_due_date"),
                                inspection_type=(form.get("inspection_type") or "periodic").strip(),
                                nonconformities=(form.get("nonconformities") or "").strip() or None)
    return (form.get("equipment_code") or "").strip(), int(agency) if agency.isdigit() else None, data, errors


def record_for(user, code: str, agency_id: int | None, data: services.ReportInput, source: str) -> InspectionReport:
    """Shared by the page and the API: the device within the user's reach, the agency (an agency
    records as itself), then the service's validation."""
    if not may_record(user):
        raise Forbidden("只有检验检测机构和监察人员可以录入检验报告")
    device = find_device(user, code)
    errors = {}
    if device is None:
        errors["equipment_code"] = "设备不存在或不在您的管辖范围内"
    if user.role == "inspection_agency":
        agency_id = user.org_id
    agency = db.session.get(Organization, agency_id) if agency_id else None
    if agency is None or agency.kind != "inspection_agency":
        errors["agency_id"] = "请选择检验检测机构"
    if errors:
        if device is not None:
            errors.update({("agency_id" if k == "agency" else k): v
                           for k, v in services.validate(device, data, agency).items() if k != "agency"})
        raise ValidationFailed(errors)
    return services.record_report(device, agency, data, actor=user, source=source)


@bp.route("/reports/new", methods=["GET", "POST"])
@login_required
def new_report():
    if not may_record(current_user):
        raise Forbidden("只有检验检测机构和监察人员可以录入检验报告")
    errors: dict = {}
    values = {"equipment_code": request.args.get("device", ""), "inspection_type": "periodic"}
    if request.method == "POST":
        code, agency_id, data, errors = parse_form(request.form)
        values = request.form.to_dict()
        upload = request.files.get("pdf")
        try:
            if upload is not None and upload.filename:
                att = save_upload(upload, current_user, field="pdf")
                if att.mime != "application/pdf":
                    raise ValidationFailed({"pdf": "检验报告只能上传 PDF 文件"})
                data.pdf_attachment_id = att.id
            if errors:
                raise ValidationFailed(errors)
            report = record_for(current_user, code, agency_id, data, "web")
            db.session.commit()
        except ValidationFailed as err:
            db.session.rollback()
            errors = err.fields
        else:
            flash(f"检验报告 {report.report_no} 已录入，设备下次检验日期与到期状态已更新")
            if request.form.get("report_hazard"):          # 发现重大事故隐患: on to the hazard report, prefilled
                return redirect(url_for("hazards.report_from_inspection", report_id=report.id))
            return redirect(url_for("registry.device", device_id=report.equipment_id))
    return render_template("inspections/new.html", values=values, errors=errors, agencies=agency_options(),
                           types=InspectionReport.TYPE_LABELS, conclusions=conclusions.ALL,
                           today=today_local().isoformat()), (422 if errors else 200)


@bp.route("/reports/<int:report_id>/pdf")
@login_required
def report_pdf(report_id: int):
    from ..core.models import Equipment
    report = db.session.scalar(select(InspectionReport).join(Equipment, InspectionReport.equipment_id == Equipment.id)
                               .where(InspectionReport.id == report_id, device_scope(current_user)))
    if report is None or report.pdf is None:
        raise NotFound("检验报告 PDF 不存在或不在您的查看范围内")
    return attachment_response(report.pdf)
