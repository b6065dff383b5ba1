"""隐患管理 (a unit's own hazards, two tabs: 重大事故隐患 / 一般隐患), modify and delete a reported major
hazard before the bureau accepts it."""
from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from ..cases.forms_web import field_views, read_submission, submitted_values
from ..cases.services import paginate
from ..errors import DomainError, Forbidden, ValidationFailed
from ..extensions import db
from . import manage
from .models import Hazard
from .views import LedgerFilter, bp, ledger_query

TABS = {"major": "重大事故隐患", "general": "一般隐患"}


def may_manage(user) -> bool:
    return user.is_enterprise or user.is_regulator


@bp.route("/manage")
@login_required
def manage_page():
    if not may_manage(current_user):
        raise Forbidden("只有企业与监管人员可以使用隐患管理")
    tab = request.args.get("tab") if request.args.get("tab") in TABS else "major"
    context = {"tab": tab, "tabs": TABS}
    if tab == "major":
        f = LedgerFilter.from_args(request.args)
        items, total = paginate(ledger_query(current_user, f), f.page, f.per_page)
        refusals = {h.id: manage.change_refusal(current_user, h) for h in items}
        context.update(f=f, items=items, total=total, pages=max(1, -(-total // f.per_page)),
                       statuses=Hazard.STATUS_LABELS, refusals=refusals,
                       rectify_tasks=manage.open_rectify_tasks(current_user))
    else:
        from ..general_hazards import views as general_views
        context.update(general_views.tab_context(current_user, request.args))
    return render_template("hazards/manage.html", **context)


@bp.route("/<int:hazard_id>/edit", methods=["GET", "POST"])
@login_required
def edit(hazard_id: int):
    hazard = manage.visible_hazard(current_user, hazard_id)
    refusal = manage.change_refusal(current_user, hazard)
    if refusal is not None:
        raise refusal
    schema = manage.edit_schema(hazard.case)
    errors: dict = {}
    if request.method == "POST":
        try:
            changes = manage.edit_hazard(current_user, hazard.id,
                                         read_submission(schema, request.form, request.files, current_user))
            db.session.commit()
            flash("隐患已修改：" + "、".join(changes) if changes else "内容没有变化，未做修改", "success")
            return redirect(url_for("hazards.manage_page"))
        except ValidationFailed as err:
            db.session.rollback()
            errors = err.fields
            values = submitted_values(schema, request.form)
    else:
        values = manage.current_values(hazard)
    fields = field_views(schema, values, errors, current_user)
    return render_template("hazards/edit.html", h=hazard, fields=fields, errors=errors), (422 if errors else 200)


@bp.route("/<int:hazard_id>/delete", methods=["POST"])
@login_required
def delete(hazard_id: int):
    hazard = manage.visible_hazard(current_user, hazard_id)
    try:
        manage.delete_hazard(current_user, hazard.id, request.form.get("reason"))
        db.session.commit()
    except DomainError as err:
        db.session.rollback()
        flash("删除失败：" + (next(iter(err.fields.values()), None) if err.fields else err.message), "error")
        return redirect(url_for("hazards.manage_page"))
    flash(f"重大事故隐患 {hazard.hazard_no} 已删除", "success")
    return redirect(url_for("hazards.manage_page"))


@bp.route("/report-from/<int:report_id>")
@login_required
def report_from_inspection(report_id: int):
    """上报隐患 from an inspection report: the report form prefilled with the device, the report number,
    the inspection date and the nonconformities; the reporter chooses the item, requirements and deadline."""
    from sqlalchemy import select

    from ..core.models import Equipment
    from ..inspections.models import InspectionReport
    from ..registry.services import device_scope
    if current_user.role not in ("inspection_agency", "maintenance_unit") and not current_user.is_regulator:
        raise Forbidden("只有检验检测机构、维保单位和监管人员可以从检验报告上报隐患")
    report = db.session.scalar(select(InspectionReport).join(Equipment, InspectionReport.equipment_id == Equipment.id)
                               .where(InspectionReport.id == report_id, device_scope(current_user)))
    if report is None:
        from ..errors import NotFound
        raise NotFound("检验报告不存在或不在您的查看范围内")
    prefill = {"equipment_code": report.equipment.code, "inspection_report_no": report.report_no,
               "found_on": report.inspected_on.isoformat()}
    if report.nonconformities:
        prefill["description"] = report.nonconformities[:2000]
    return redirect(url_for("cases.start", key="major_hazard", **prefill))
