"""/api/v1/inspections: a device's reports, one report, and recording a report (inspection agencies as
themselves, supervisors for a device in their region). Authentication and errors as in app/api."""
from __future__ import annotations

from datetime import date

from flask import Blueprint, g, jsonify, request
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from ..api import _json_body, authenticated
from ..cases.services import paginate
from ..core.models import Equipment
from ..core.params import int_arg
from ..errors import NotFound, ValidationFailed
from ..extensions import db
from ..registry.services import device_scope
from . import services
from .models import InspectionReport
from .views import record_for

bp = Blueprint("inspections_api", __name__, url_prefix="/api/v1/inspections")


def _visible_reports():
    return (select(InspectionReport).join(Equipment, InspectionReport.equipment_id == Equipment.id)
            .where(device_scope(g.api_user)).options(joinedload(InspectionReport.agency)))


@bp.get("/reports")
@authenticated
def list_reports():
    query = _visible_reports()
    device_id = int_arg(request.args, "device_id", 0, 0, 2**31 - 1)
    if device_id:
        query = query.where(InspectionReport.equipment_id == device_id)
    page, per_page = int_arg(request.args, "page", 1, 1, 100000), int_arg(request.args, "per_page", 20, 5, 100)
    items, total = paginate(query.order_by(InspectionReport.inspected_on.desc(), InspectionReport.id.desc()),
                            page, per_page)
    return jsonify({"items": [services.report_json(r) for r in items], "total": total, "page": page,
                    "per_page": per_page})


@bp.get("/reports/<int:report_id>")
@authenticated
def get_report(report_id: int):
    report = db.session.scalar(_visible_reports().where(InspectionReport.id == report_id))
    if report is None:
        raise NotFound("检验报告不存在或不在您的查看范围内")
    return jsonify(services.report_json(report))


@bp.post("/reports")
@authenticated
def create_report():
    body = _json_body()
    errors = {}

    def day(name):
        raw = body.get(name)
        if raw in (None, ""):
            return None
        try:
            return date.fromisoformat(str(raw))
        except ValueError:
            errors[name] = "日期格式应为 YYYY-MM-DD"
            return None
    data = services.ReportInput(report_no=str(body.get("report_no") or ""), inspected_on=day("inspected_on"),
                                conclusion=str(body.get("conclusion") or ""), next_due_date=day("next_due_date"),
                                inspection_type=str(body.get("inspection_type") or "periodic"),
                                nonconformities=str(body["nonconformities"]) if body.get("nonconformities") else None,
                                pdf_attachment_id=body.get("pdf_attachment_id") if isinstance(
                                    body.get("pdf_attachment_id"), int) else None)
    if errors:
        raise ValidationFailed(errors)
    agency_id = body.get("agency_id") if isinstance(body.get("agency_id"), int) else None
    report = record_for(g.api_user, str(body.get("equipment_code") or ""), agency_id, data, "api")
    db.session.commit()
    return jsonify(services.report_json(report)), 201
