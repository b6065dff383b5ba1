"""Pages of maintenance-unit rating: 维保质量巡检 (sample, grade), 维保单位评价 (figures, score, formula),
96111 救援记录 (list, Excel import through /imports, sync from the platform), 星级评定 (applications),
and the public list of ratings (no login)."""
from __future__ import annotations

from datetime import date

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from ..cases.services import paginate
from ..core.clock import to_local, today_local
from ..core.excel import stream_xlsx
from ..core.external import ExternalError
from ..core.params import date_arg, int_arg, text_arg
from ..core.regions import region_full_name
from ..errors import DomainError, Forbidden, NotFound, ValidationFailed
from ..extensions import db
from . import rescue_platform, services
from .models import GRADES, PATROL_CHECKS, PATROL_GRADES, STARS, Patrol, PatrolItem, StarRating

bp = Blueprint("elevator_rating", __name__, url_prefix="/elevator-rating")
public_bp = Blueprint("elevator_rating_public", __name__, url_prefix="/public/elevator-ratings")


def _fmt(value) -> str:
    local = to_local(value)
    return local.strftime("%Y-%m-%d %H:%M") if local else ""


def _pages(total: int, per_page: int) -> int:
    return max(1, -(-total // per_page))


# ---------------------------------------------------------------- patrols

@bp.route("/patrols", methods=["GET", "POST"])
@login_required
def patrols():
    services.require_rating_reader(current_user)
    errors, form = {}, {}
    if request.method == "POST":
        form = request.form.to_dict()
        form["work_order_ids"] = request.form.getlist("work_order_ids") or form.get("work_order_ids")
        try:
            patrol = services.create_patrol(current_user, form)
            db.session.commit()
            flash(f"已抽取 {patrol.sample_size} 条维保记录（{patrol.patrol_no}），请逐条评定")
            return redirect(url_for("elevator_rating.patrol", patrol_id=patrol.id))
        except ValidationFailed as err:
            db.session.rollback()
            errors = err.fields
    q = text_arg(request.args, "q", 50)
    page = int_arg(request.args, "page", 1, 1, 100000)
    stmt = select(Patrol).where(services.patrol_scope(current_user))
    if q:
        stmt = stmt.where(Patrol.patrol_no.contains(q, autoescape=True) | Patrol.title.contains(q, autoescape=True))
    items, total = paginate(stmt.order_by(Patrol.created_at.desc(), Patrol.id.desc()), page, 20)
    units = list(db.session.scalars(services.units_query(current_user).limit(200))) if current_user.is_regulator else []
    return render_template("elevator_rating/patrols.html", items=items, total=total, page=page, pages=_pages(total, 20),
                           q=q or "", counts=services.patrol_counts([p.id for p in items]), units=units,
                           can_patrol=services.can_patrol(current_user), errors=errors, form=form,
                           limit=services.PATROL_MAX), (422 if errors else 200)


@bp.route("/patrols/pool")
@login_required
def patrol_pool():
    """Archived records to pick from (指定抽查)."""
    if not services.can_patrol(current_user):
        raise Forbidden("只有监管人员和维保单位质量负责人可以发起维保质量巡检")
    from ..elevators.models import WorkOrder
    org_id = int_arg(request.args, "maintenance_org_id", 0, 0, 2**31 - 1) or None
    stmt = services.sample_pool(current_user, maintenance_org_id=org_id, date_from=date_arg(request.args, "date_from"),
                                date_to=date_arg(request.args, "date_to"))
    q = text_arg(request.args, "q", 50)
    orders = select(WorkOrder).where(WorkOrder.id.in_(stmt))
    if q:
        orders = orders.where(WorkOrder.order_no.contains(q, autoescape=True))
    page = int_arg(request.args, "page", 1, 1, 100000)
    items, total = paginate(orders.order_by(WorkOrder.checkin_at.desc()), page, 30)
    units = list(db.session.scalars(services.units_query(current_user).limit(200))) if current_user.is_regulator else []
    return render_template("elevator_rating/pool.html", items=items, total=total, page=page, pages=_pages(total, 30),
                           q=q or "", units=units, org_id=org_id, limit=services.PATROL_MAX)


@bp.route("/patrols/<int:patrol_id>")
@login_required
def patrol(patrol_id: int):
    p = services.visible_patrol(current_user, patrol_id)
    items = list(db.session.scalars(select(PatrolItem).where(PatrolItem.patrol_id == p.id,
                                                             services.patrol_item_scope(current_user))
                                    .order_by(PatrolItem.id)))
    from ..elevators.models import WorkOrder
    orders = {o.id: o for o in db.session.scalars(select(WorkOrder).where(
        WorkOrder.id.in_([i.work_order_id for i in items])))} if items else {}
    return render_template("elevator_rating/patrol.html", p=p, items=items, orders=orders, checks=PATROL_CHECKS,
                           grades=PATROL_GRADES, can_grade=services.can_grade(current_user, p),
                           counts=services.patrol_counts([p.id])[p.id])


@bp.route("/patrols/<int:patrol_id>/items/<int:item_id>", methods=["POST"])
@login_required
def grade(patrol_id: int, item_id: int):
    p = services.visible_patrol(current_user, patrol_id)
    item = db.session.scalar(select(PatrolItem).where(PatrolItem.id == item_id, PatrolItem.patrol_id == p.id))
    if item is None:
        raise NotFound("巡检记录不存在")
    try:
        services.grade_item(current_user, item, request.form.to_dict())
        db.session.commit()
        flash(f"已评定：{PATROL_GRADES[item.grade]}")
    except ValidationFailed as err:
        db.session.rollback()
        flash("未保存：" + "；".join(err.fields.values()), "error")
    return redirect(url_for("elevator_rating.patrol", patrol_id=p.id) + f"#item-{item_id}")


@bp.route("/patrols/export.xlsx")
@login_required
def patrols_export():
    services.require_rating_reader(current_user)
    from ..elevators.models import WorkOrder
    stmt = (select(PatrolItem, Patrol, WorkOrder).join(Patrol, Patrol.id == PatrolItem.patrol_id)
            .join(WorkOrder, WorkOrder.id == PatrolItem.work_order_id)
            .where(services.patrol_item_scope(current_user)).order_by(Patrol.id.desc(), PatrolItem.id))

    def rows():
        for item, p, o in db.session.execute(stmt.execution_options(yield_per=500)):
            yield [p.patrol_no, p.method_label, p.created_by.display_name, _fmt(p.created_at), o.order_no,
                   o.equipment.code, o.equipment.name, o.maintenance_org.name, _fmt(o.checkin_at), item.grade_label,
                   "；".join(f"{PATROL_CHECKS[k]}：{'符合' if v == 'ok' else '不符合'}" for k, v in (item.checks or {}).items()
                            if k in PATROL_CHECKS), item.remark or "", _fmt(item.graded_at)]
    headers = ["巡检编号", "抽查方式", "巡检人", "抽查时间", "工单编号", "设备代码", "电梯", "维保单位", "维保时间", "评定结果",
               "检查项", "问题说明", "评定时间"]
    return stream_xlsx("维保质量巡检", headers, rows(), f"维保质量巡检-{today_local():%Y%m%d}.xlsx")


# ---------------------------------------------------------------- evaluation

def _evaluations(items, start: date, end: date) -> dict[int, dict]:
    return services.evaluate_many([o.id for o in items], start, end)


@bp.route("/units")
@login_required
def units():
    services.require_rating_reader(current_user)
    try:
        start, end = services.period_args(request.args)
    except ValidationFailed as err:
        flash("；".join(err.fields.values()), "error")
        start, end = services.default_period()
    q = text_arg(request.args, "q", 50)
    page = int_arg(request.args, "page", 1, 1, 100000)
    items, total = paginate(services.units_query(current_user, q), page, 20)
    return render_template("elevator_rating/units.html", items=items, total=total, page=page, pages=_pages(total, 20),
                           q=q or "", start=start, end=end, evaluations=_evaluations(items, start, end),
                           region_full_name=region_full_name, ratings={o.id: services.current_rating(o.id) for o in items})


@bp.route("/units/export.xlsx")
@login_required
def units_export():
    services.require_rating_reader(current_user)
    start, end = services.period_args(request.args)
    stmt = services.units_query(current_user, text_arg(request.args, "q", 50))

    def rows():
        orgs = list(db.session.scalars(stmt))
        for chunk in range(0, len(orgs), 200):
            part = orgs[chunk:chunk + 200]
            evaluations = services.evaluate_many([o.id for o in part], start, end)
            for org in part:
                e = evaluations[org.id]
                f = e["figures"]
                yield [org.name, org.uscc, f"{start}~{end}", *[f.get(k) for k, _ in services.EVAL_LABELS],
                       e["score"], GRADES.get(e["grade"] or "", "")]
    headers = ["维保单位", "统一社会信用代码", "评价期间", *[label for _, label in services.EVAL_LABELS], "评价得分", "建议等级"]
    return stream_xlsx("维保单位评价", headers, rows(), f"维保单位评价-{today_local():%Y%m%d}.xlsx",
                       criteria={"date_from": start.isoformat(), "date_to": end.isoformat()})


@bp.route("/units/<int:org_id>")
@login_required
def unit(org_id: int):
    services.require_rating_reader(current_user)
    org = services.visible_unit(current_user, org_id)
    try:
        start, end = services.period_args(request.args)
    except ValidationFailed as err:
        flash("；".join(err.fields.values()), "error")
        start, end = services.default_period()
    evaluation = services.evaluate(org.id, start, end)
    can_apply = current_user.role == "maintenance_unit" and current_user.org_id == org.id
    apply_args = services.prefill(org.id, end.year) if can_apply and end.year in services.rating_years() else None
    history = list(db.session.scalars(select(StarRating).where(StarRating.org_id == org.id)
                                      .order_by(StarRating.id.desc()).limit(10)))
    return render_template("elevator_rating/unit.html", org=org, start=start, end=end, e=evaluation,
                           labels=services.EVAL_LABELS, grades=GRADES, apply_args=apply_args, history=history,
                           rating=services.current_rating(org.id), stars=STARS)


# ---------------------------------------------------------------- rescues

@bp.route("/rescues")
@login_required
def rescues():
    services.require_rating_reader(current_user)
    q = text_arg(request.args, "q", 50)
    org_id = int_arg(request.args, "org_id", 0, 0, 2**31 - 1) or None
    start, end = date_arg(request.args, "date_from"), date_arg(request.args, "date_to")
    page = int_arg(request.args, "page", 1, 1, 100000)
    items, total = paginate(services.rescues_query(current_user, q=q, org_id=org_id, date_from=start, date_to=end),
                            page, 20)
    return render_template("elevator_rating/rescues.html", items=items, total=total, page=page,
                           pages=_pages(total, 20), q=q or "", org_id=org_id, start=start, end=end,
                           can_record=services.can_record_rescues(current_user))


@bp.route("/rescues/export.xlsx")
@login_required
def rescues_export():
    services.require_rating_reader(current_user)
    stmt = services.rescues_query(current_user, q=text_arg(request.args, "q", 50),
                                  org_id=int_arg(request.args, "org_id", 0, 0, 2**31 - 1) or None,
                                  date_from=date_arg(request.args, "date_from"), date_to=date_arg(request.args, "date_to"))

    def rows():
        for r in db.session.scalars(stmt.execution_options(yield_per=500)):
            yield [r.rescue_no, r.equipment.code, r.equipment.name, r.maintenance_org.name, _fmt(r.alarm_at),
                   _fmt(r.arrived_at), _fmt(r.released_at), r.arrival_minutes, r.release_minutes, r.trapped,
                   r.cause or "", r.SOURCE_LABELS.get(r.source, r.source)]
    headers = ["救援单号", "设备代码", "电梯", "维保单位", "报警时间", "到达时间", "解救时间", "到达用时(分钟)", "解救用时(分钟)",
               "被困人数", "困人原因", "来源"]
    return stream_xlsx("96111救援记录", headers, rows(), f"96111救援记录-{today_local():%Y%m%d}.xlsx")


@bp.route("/rescues/pull", methods=["POST"])
@login_required
def rescues_pull():
    if not services.can_record_rescues(current_user):
        raise Forbidden("只有监管人员可以同步96111救援记录")
    start, end = date_arg(request.form, "date_from"), date_arg(request.form, "date_to")
    if not start or not end or start > end:
        flash("请填写同步的起止日期（开始不晚于结束）", "error")
        return redirect(url_for("elevator_rating.rescues"))
    try:
        results = rescue_platform.pull(current_user, start, end)
        db.session.commit()
    except ExternalError as err:
        db.session.rollback()
        flash(f"同步失败：{err.message}", "error")
        return redirect(url_for("elevator_rating.rescues"))
    except DomainError as err:
        db.session.rollback()
        flash(err.message, "error")
        return redirect(url_for("elevator_rating.rescues"))
    created = sum(1 for r in results if r["status"] == "created")
    refused = [r for r in results if r["status"] == "refused"]
    flash(f"已从96111平台取得 {len(results)} 条：新增 {created} 条，未变化 {len(results) - created - len(refused)} 条，"
          f"拒收 {len(refused)} 条" + ("（" + "；".join(f"{r.get('rescue_no') or '#' + str(r['index'] + 1)}："
                                                  + "、".join(r['errors'].values()) for r in refused[:5]) + "）"
                                     if refused else ""), "error" if refused else "success")
    return redirect(url_for("elevator_rating.rescues"))


# ---------------------------------------------------------------- star ratings

@bp.route("/ratings")
@login_required
def ratings():
    services.require_rating_reader(current_user)
    q, status = text_arg(request.args, "q", 50), request.args.get("status")
    year = int_arg(request.args, "year", 0, 0, 9999) or None
    grade = request.args.get("grade") if request.args.get("grade") in GRADES else None
    page = int_arg(request.args, "page", 1, 1, 100000)
    items, total = paginate(services.ratings_query(current_user, q=q, status=status, year=year, grade=grade), page, 20)
    return render_template("elevator_rating/ratings.html", items=items, total=total, page=page, pages=_pages(total, 20),
                           q=q or "", status=status, year=year, grade=grade, statuses=StarRating.STATUS_LABELS,
                           grades=GRADES, can_apply=current_user.role == "maintenance_unit")


@bp.route("/ratings/export.xlsx")
@login_required
def ratings_export():
    services.require_rating_reader(current_user)
    stmt = services.ratings_query(current_user, q=text_arg(request.args, "q", 50), status=request.args.get("status"),
                                  year=int_arg(request.args, "year", 0, 0, 9999) or None, grade=request.args.get("grade"))

    def rows():
        for r in db.session.scalars(stmt):
            yield [r.org.name, r.year, r.status_label, r.score, GRADES.get(r.suggested_grade or "", ""),
                   GRADES.get(r.requested_grade, ""), GRADES.get(r.city_grade or "", ""), GRADES.get(r.grade or "", ""),
                   _fmt(r.approved_at)]
    headers = ["维保单位", "年度", "状态", "评价得分", "建议等级", "申请等级", "市局推荐等级", "评定等级", "评定时间"]
    return stream_xlsx("维保单位星级评定", headers, rows(), f"维保单位星级评定-{today_local():%Y%m%d}.xlsx")


@public_bp.route("")
def public_list():
    q = text_arg(request.args, "q", 50)
    page = int_arg(request.args, "page", 1, 1, 10000)
    items, total = paginate(services.public_ratings(q), page, 20)
    return render_template("elevator_rating/public.html", items=items, total=total, page=page,
                           pages=_pages(total, 20), q=q or "", region_full_name=region_full_name)


def unit_star_rating(org_id: int) -> StarRating | None:
    """For the registry's unit page (templates/elevator_rating/_unit_rating.html)."""
    return services.current_rating(org_id)

