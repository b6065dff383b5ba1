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
from .blueprint import bp
from .ledger import LedgerFilter, ledger_query

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


# ---------------------------------------------------------------- 通报

@bp.route("/bulletins")
@login_required
def bulletins():
    from sqlalchemy import select

    from . import bulletins as svc
    from .models import HazardBulletin
    if not current_user.is_regulator:
        raise Forbidden("只有监管人员可以查看隐患通报")
    rows = list(db.session.scalars(select(HazardBulletin).where(svc.bulletin_scope(current_user))
                                   .order_by(HazardBulletin.created_at.desc()).limit(200)))
    return render_template("hazards/bulletins.html", rows=rows, may_issue=svc.may_issue(current_user))


@bp.route("/bulletins/new", methods=["GET", "POST"])
@login_required
def new_bulletin():
    from datetime import timedelta

    from ..core.clock import today_local
    from . import bulletins as svc
    from .models import HazardBulletin
    if not svc.may_issue(current_user):
        raise Forbidden("只有市局、自治区局监察人员可以发起通报")
    today = today_local()
    first = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
    errors, values = {}, {"kind": "periodic", "scope_region": current_user.region_code,
                          "period_from": first.isoformat(), "period_to": (today.replace(day=1) - timedelta(days=1)).isoformat(),
                          "title": f"关于{first.year}年{first.month}月特种设备重大事故隐患排查治理情况的通报"}
    if request.method == "POST":
        values = request.form.to_dict()
        try:
            row = svc.create_bulletin(current_user, values)
            db.session.commit()
        except ValidationFailed as err:
            db.session.rollback()
            errors = err.fields
        else:
            flash(f"通报 {row.bulletin_no} 已生成，等待审核", "success")
            return redirect(url_for("hazards.bulletin", bulletin_id=row.id))
    return render_template("hazards/bulletin_new.html", errors=errors, values=values,
                           scopes=svc.scope_options(current_user), kinds=HazardBulletin.KIND_LABELS), \
        (422 if errors else 200)


@bp.route("/bulletins/<int:bulletin_id>")
@login_required
def bulletin(bulletin_id: int):
    from . import bulletins as svc
    row = svc.visible_bulletin(current_user, bulletin_id)
    if svc.mark_read(current_user, row) is not None:
        db.session.commit()
    return render_template("hazards/bulletin.html", b=row, c=svc.content_of(row),
                           refusal=svc.approval_refusal(current_user, row))


@bp.route("/bulletins/<int:bulletin_id>/decide", methods=["POST"])
@login_required
def decide_bulletin(bulletin_id: int):
    from . import bulletins as svc
    try:
        row = svc.decide(current_user, bulletin_id, request.form.get("decision"), request.form.get("opinion"))
        db.session.commit()
    except ValidationFailed as err:
        db.session.rollback()
        flash("审核未提交：" + "；".join(err.fields.values()), "error")
        return redirect(url_for("hazards.bulletin", bulletin_id=bulletin_id))
    flash(f"通报 {row.bulletin_no} {'已发布' if row.status == 'published' else '已退回拟稿人'}", "success")
    return redirect(url_for("hazards.bulletin", bulletin_id=row.id))


from ..core.regions import region_full_name as _region_full_name  # noqa: E402

bp.add_app_template_global(_region_full_name, "region_full_name")


# ---------------------------------------------------------------- 统计分析

def _region_path(region: str) -> list[tuple[str, str]]:
    from ..core.regions import city_of, province_of, region_level, region_name
    level = region_level(region)
    codes = [province_of(region)] + ([city_of(region)] if level in ("city", "county") else []) + \
        ([region] if level == "county" else [])
    return [(c, region_name(c)) for c in codes if c.startswith(current_user.scope_prefix)]


@bp.route("/stats")
@login_required
def stats():
    from . import stats as svc
    if not current_user.is_regulator:
        raise Forbidden("只有监管人员可以查看隐患统计分析")
    f = svc.StatsFilter.from_args(current_user, request.args)
    return render_template("hazards/stats.html", f=f, charts=svc.all_charts(f), totals=svc.totals(f),
                           path=_region_path(f.region))


@bp.route("/stats/<key>.xlsx")
@login_required
def stats_xlsx(key: str):
    from ..core.charts import chart_xlsx
    from ..errors import NotFound
    from . import stats as svc
    if not current_user.is_regulator:
        raise Forbidden("只有监管人员可以查看隐患统计分析")
    if key not in svc.CHARTS:
        raise NotFound("没有这个统计图")
    f = svc.StatsFilter.from_args(current_user, request.args)
    chart = svc.CHARTS[key](f)
    return chart_xlsx(chart, f"隐患统计-{chart.title}.xlsx", criteria=f.args())


# ---------------------------------------------------------------- 检验不合格报告

@bp.route("/nonconforming", methods=["GET", "POST"])
@login_required
def nonconforming():
    from . import nonconforming as svc
    from .services import criteria_options
    if not svc.may_use(current_user):
        raise Forbidden("只有监管人员和检验检测机构可以查看检验不合格报告")
    errors: dict = {}
    if request.method == "POST":
        try:
            cases = svc.batch_report(current_user, request.form.getlist("ids"), request.form.get("criterion_id"),
                                     request.form.get("rectify_deadline"), request.form.get("rectify_requirements") or None)
            db.session.commit()
        except ValidationFailed as err:
            db.session.rollback()
            errors = err.fields
            flash(err.message, "error")
        else:
            flash(f"已为 {len(cases)} 份检验报告上报重大事故隐患：" + "、".join(c.case_no for c in cases), "success")
            return redirect(url_for("hazards.nonconforming", unreported=1))
    f = svc.ReportFilter.from_args(request.args)
    rows, total = svc.page(current_user, f)
    return render_template("hazards/nonconforming.html", f=f, rows=rows, total=total,
                           pages=max(1, -(-total // f.per_page)), criteria=criteria_options(), errors=errors,
                           values=request.form), (422 if errors else 200)
