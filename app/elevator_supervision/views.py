"""Pages of 电梯维保监管: warnings (list, evidence, close with a reason), 维保计划管理 (overdue plans by region →
unit → elevators), statistics (region → unit → maintainers and elevators, ECharts, Excel) and one elevator's
full-cycle trace. Regulators see their region; the maintenance unit's people see its warnings."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from ..cases.services import paginate
from ..core.charts import Chart
from ..core.clock import to_local
from ..core.excel import stream_xlsx
from ..core.models import Organization
from ..elevators import services as elevator_services
from ..errors import DomainError, Forbidden
from ..extensions import db
from . import rules, stats
from .models import EVIDENCE_LABELS, LEVELS, RULES, STATUSES

bp = Blueprint("elevator_supervision", __name__, url_prefix="/elevator-supervision")


def _regulator() -> None:
    if not current_user.is_regulator:
        abort(403)


def _dt(value) -> str:
    local = to_local(value)
    return local.strftime("%Y-%m-%d %H:%M") if local else ""


# ---------------------------------------------------------------- warnings

@bp.route("/warnings")
@login_required
def warnings():
    if not rules.can_see(current_user):
        abort(403)
    f = rules.WarningFilter.from_args(request.args)
    items, total = paginate(rules.warnings_query(current_user, f), f.page, f.per_page)
    return render_template("elevator_supervision/warnings.html", f=f, items=items, total=total,
                           pages=max(1, -(-total // f.per_page)), RULES=RULES, LEVELS=LEVELS, STATUSES=STATUSES,
                           thresholds=rules.thresholds())


WARNING_HEADERS = ["编号", "预警类型", "级别", "状态", "电梯", "设备代码", "维保单位", "维保人员", "工单编号", "说明",
                   "预警时间", "关闭时间", "关闭理由"]


@bp.route("/warnings/export.xlsx")
@login_required
def warnings_export():
    if not rules.can_see(current_user):
        abort(403)
    f = rules.WarningFilter.from_args(request.args)

    def rows():
        for w in db.session.scalars(rules.warnings_query(current_user, f).execution_options(yield_per=500)):
            yield [w.id, w.rule_label, w.level_label, w.status_label, w.equipment.name if w.equipment else "",
                   w.equipment.code if w.equipment else "", w.maintenance_org.name,
                   w.maintainer.display_name if w.maintainer else "", w.work_order.order_no if w.work_order else "",
                   w.summary, _dt(w.opened_at), _dt(w.closed_at), w.close_reason or ""]
    return stream_xlsx("电梯维保异常预警", WARNING_HEADERS, rows(), "电梯维保异常预警.xlsx",
                       criteria={"rule": f.rule, "status": f.status, "level": f.level, "q": f.q})


@bp.route("/warnings/<int:warning_id>", methods=["GET", "POST"])
@login_required
def warning(warning_id: int):
    w = rules.visible_warning(current_user, warning_id)
    error = None
    if request.method == "POST":
        try:
            rules.close(current_user, w, request.form.get("reason"))
            db.session.commit()
            flash("预警已关闭", "success")
            return redirect(url_for(".warning", warning_id=w.id))
        except DomainError as err:
            db.session.rollback()
            if isinstance(err, Forbidden):
                raise
            w = rules.visible_warning(current_user, warning_id)
            error = "；".join(map(str, err.fields.values())) if getattr(err, "fields", None) else err.message
    photos = []
    ids = w.facts.get("photo_ids") or []
    if ids:
        from ..elevators.models import WorkPhoto
        photos = list(db.session.scalars(select(WorkPhoto).where(WorkPhoto.id.in_(ids)).order_by(WorkPhoto.id)))
    return render_template("elevator_supervision/warning.html", w=w, photos=photos, error=error,
                           EVIDENCE_LABELS=EVIDENCE_LABELS,
                           can_close=rules.can_close(current_user, w)), (422 if error else 200)


# ---------------------------------------------------------------- 维保计划管理

@bp.route("/plans")
@login_required
def plans():
    _regulator()
    f = stats.StatsFilter.from_args(current_user, request.args)
    late = stats.late_elevators(f)
    lifts, total = stats.overdue_elevators(f, stats.late_elevators(f, with_q=True) if f.q else late)
    org = db.session.get(Organization, f.org_id) if f.org_id else None
    return render_template("elevator_supervision/plans.html", f=f, org=org,
                           regions=stats.overdue_regions(f, late) if not f.org_id else [],
                           units=stats.overdue_units(f, late) if not f.org_id else [], lifts=lifts, total=total,
                           pages=max(1, -(-total // f.per_page)))


@bp.route("/plans/export.xlsx")
@login_required
def plans_export():
    _regulator()
    f = stats.StatsFilter.from_args(current_user, request.args)
    f.page, f.per_page = 1, 100
    late = stats.late_elevators(f, with_q=True)

    def rows():
        while True:
            page, _total = stats.overdue_elevators(f, late)
            for r in page:
                yield [r["code"], r["name"], r["region"], r["use_org"], r["maintenance_org"], r["oldest_due"], r["days"],
                       r["plans"], r["last_visit"] or "无"]
            if len(page) < f.per_page:
                return
            f.page += 1
    return stream_xlsx("超期未维保电梯", ["设备代码", "电梯名称", "地区", "使用单位", "维保单位", "最早超期计划日期",
                                         "超期天数", "超期计划数", "最近维保日期"], rows(), "超期未维保电梯.xlsx",
                       criteria=f.args())


# ---------------------------------------------------------------- statistics

STAT_HEADERS = ["电梯数", "维保记录数", "平均用时(分钟)", "超期未保电梯", "异常预警"]


def _charts(f: stats.StatsFilter, regions: list[dict], units: list[dict], rule_counts: list) -> list[Chart]:
    drill = {r["label"]: url_for(".statistics", **f.args(region=r["key"])) for r in regions
             if len(f.prefix) < 6}
    top = units[:15]
    return [Chart("records", f"维保记录数（{stats.region_name(f.region)}下辖）", "bar", ["地区", "维保记录数", "超期未保电梯"],
                  [(r["label"], r["records"], r["overdue"]) for r in regions], drill=drill,
                  note="点击柱形查看下一级" if drill else None),
            Chart("duration", "平均维保用时（分钟）", "bar", ["地区", "平均用时(分钟)"],
                  [(r["label"], r["avg_minutes"] or 0) for r in regions], drill=drill),
            Chart("units", "维保单位维保记录数（前 15 名）", "hbar", ["维保单位", "维保记录数"],
                  [(u["label"], u["records"]) for u in sorted(top, key=lambda u: -u["records"])],
                  drill={u["label"]: url_for(".unit_statistics", org_id=u["key"], **f.args()) for u in top}),
            Chart("rules", "异常预警（按类型）", "pie", ["预警类型", "预警数"], rule_counts)]


@bp.route("/stats")
@login_required
def statistics():
    _regulator()
    f = stats.StatsFilter.from_args(current_user, request.args)
    overview = stats.Overview(f)
    regions, units = overview.regions(), overview.units()
    for r in regions:
        r["url"] = url_for(".statistics", **f.args(region=r["key"])) if len(f.prefix) < 6 else None
    start = (f.page - 1) * f.per_page
    for u in units[start:start + f.per_page]:          # the shown page only (a province has ~1,000 units)
        u["url"] = url_for(".unit_statistics", org_id=u["key"], **f.args())
    return render_template("elevator_supervision/stats.html", f=f, regions=regions, totals=stats.totals(regions),
                           units=units[start:start + f.per_page], unit_total=len(units),
                           pages=max(1, -(-len(units) // f.per_page)), charts=_charts(f, regions, units, overview.rule_counts()))


def _visible_unit(org_id: int) -> Organization:
    org = db.session.get(Organization, org_id)
    if org is None:
        abort(404)
    return org


def _unit_filter(org_id: int) -> stats.StatsFilter:
    f = stats.unit_filter(current_user, request.args, org_id)
    if f is None:
        abort(403)
    return f


@bp.route("/stats/mine")
@login_required
def my_statistics():
    if current_user.role not in stats.UNIT_ROLES or not current_user.org_id:
        abort(403)
    return redirect(url_for(".unit_statistics", org_id=current_user.org_id, **request.args))


@bp.route("/stats/units/<int:org_id>")
@login_required
def unit_statistics(org_id: int):
    f = _unit_filter(org_id)
    org = _visible_unit(org_id)
    people = stats.maintainer_rows(f, org.id)
    lifts, total = stats.elevator_rows(f, org.id)
    for r in lifts:
        r["url"] = url_for(".trace", equipment_id=r["key"])
    charts = [Chart("maintainers", "维保人员维保记录数", "hbar", ["维保人员", "维保记录数", "维保电梯数"],
                    [(p["label"], p["records"], p["elevators"]) for p in people]),
              Chart("unit_rules", "本单位异常预警（按类型）", "pie", ["预警类型", "预警数"],
                    stats.rule_counts(f, org.id))]
    return render_template("elevator_supervision/unit.html", f=f, org=org, people=people, lifts=lifts, total=total,
                           pages=max(1, -(-total // f.per_page)), charts=charts, own=not current_user.is_regulator)


@bp.route("/stats/export.xlsx")
@login_required
def statistics_export():
    table = request.args.get("table", "region")
    if current_user.is_regulator:
        f = stats.StatsFilter.from_args(current_user, request.args)
    elif table in ("maintainer", "elevator"):
        f = _unit_filter(stats.StatsFilter.from_args(current_user, request.args).org_id or 0)
    else:
        abort(403)
    if table == "unit":
        rows, first, name = stats.unit_rows(f), "维保单位", "按维保单位"
    elif table in ("maintainer", "elevator") and f.org_id:
        org = _visible_unit(f.org_id)
        if table == "maintainer":
            rows, first, name = stats.maintainer_rows(f, org.id), "维保人员", f"{org.name}-按维保人员"
        else:
            f.per_page, rows = 100, []
            while True:
                page, _total = stats.elevator_rows(f, org.id)
                rows += page
                if len(page) < f.per_page:
                    break
                f.page += 1
            first, name = "电梯", f"{org.name}-按电梯"
    else:
        rows, first, name = stats.region_rows(f), "地区", f"{stats.region_name(f.region)}-按地区"
    body = [[r["label"], r["elevators"], r["records"], r["avg_minutes"] if r["avg_minutes"] is not None else "",
             r["overdue"] if r["overdue"] is not None else "", r["warnings"]] for r in rows]
    return stream_xlsx(f"电梯维保统计-{name}"[:31], [first, *STAT_HEADERS], body,
                       f"电梯维保统计-{name}-{f.date_from:%Y%m%d}-{f.date_to:%Y%m%d}.xlsx",
                       criteria={**f.args(), "table": table})


# ---------------------------------------------------------------- full-cycle trace

@bp.route("/elevators/<int:equipment_id>/trace")
@login_required
def trace(equipment_id: int):
    e, facts = elevator_services.visible_elevator(current_user, equipment_id)
    return render_template("elevator_supervision/trace.html", e=e, facts=facts, entries=stats.trace(e.id))
