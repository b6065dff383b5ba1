"""一般隐患 pages (the 一般隐患 tab of 隐患管理, hazard-checking plans, check tasks) and /api/v1/general-hazards."""
from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, flash, g, jsonify, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import or_, select
from sqlalchemy.orm import joinedload

from ..cases.services import paginate
from ..core.params import contains, int_arg, text_arg
from ..errors import DomainError, Forbidden, NotFound, ValidationFailed
from ..extensions import db
from . import services
from .models import (CHECK_KINDS, PERIODS, GeneralHazard, GeneralHazardCheck, GeneralHazardPlan)

bp = Blueprint("general_hazards", __name__, url_prefix="/hazards/general")
api_bp = Blueprint("general_hazards_api", __name__, url_prefix="/api/v1/general-hazards")


@dataclass
class GeneralFilter:
    q: str | None = None
    status: str | None = None
    check_kind: str | None = None
    page: int = 1
    per_page: int = 20

    @classmethod
    def from_args(cls, args) -> "GeneralFilter":
        status = args.get("status") if args.get("status") in GeneralHazard.STATUS_LABELS else None
        kind = args.get("check_kind") if args.get("check_kind") in CHECK_KINDS else None
        return cls(q=text_arg(args, "q"), status=status, check_kind=kind, page=int_arg(args, "page", 1, 1, 100000),
                   per_page=int_arg(args, "per_page", 20, 5, 100))


def list_query(user, f: GeneralFilter):
    query = (select(GeneralHazard).where(services.general_scope(user))
             .options(joinedload(GeneralHazard.org), joinedload(GeneralHazard.equipment), joinedload(GeneralHazard.case)))
    if f.q:
        query = query.where(or_(contains(GeneralHazard.hazard_no, f.q), contains(GeneralHazard.main_problem, f.q),
                                contains(GeneralHazard.found_at, f.q)))
    if f.status:
        query = query.where(GeneralHazard.status == f.status)
    if f.check_kind:
        query = query.where(GeneralHazard.check_kind == f.check_kind)
    return query.order_by(GeneralHazard.created_at.desc(), GeneralHazard.id.desc())


def tab_context(user, args) -> dict:
    f = GeneralFilter.from_args(args)
    items, total = paginate(list_query(user, f), f.page, f.per_page)
    plans = []
    if user.is_enterprise and user.org_id:
        plans = list(db.session.scalars(select(GeneralHazardPlan).where(GeneralHazardPlan.org_id == user.org_id)
                                        .order_by(GeneralHazardPlan.created_at.desc()).limit(50)))
    return {"gf": f, "general_items": items, "general_total": total, "general_pages": max(1, -(-total // f.per_page)),
            "general_statuses": GeneralHazard.STATUS_LABELS, "check_kinds": CHECK_KINDS,
            "open_checks": services.open_checks(user), "plans": plans,
            "may_register": user.role in services.REGISTER_ROLES and user.org_id is not None}


@bp.route("/plans/new", methods=["GET", "POST"])
@login_required
def new_plan():
    if current_user.role not in services.REGISTER_ROLES or not current_user.org_id:
        raise Forbidden("只有使用单位可以制定隐患排查计划")
    errors, values = {}, {"period": "monthly"}
    if request.method == "POST":
        values = request.form.to_dict()
        try:
            plan = services.create_plan(current_user, values)
            db.session.commit()
        except ValidationFailed as err:
            db.session.rollback()
            errors = err.fields
        else:
            flash(f"隐患排查计划“{plan.name}”已制定，本期排查任务已生成", "success")
            return redirect(url_for("hazards.manage_page", tab="general"))
    return render_template("general_hazards/plan_new.html", errors=errors, values=values,
                           periods=PERIODS), (422 if errors else 200)


@bp.route("/checks/<int:check_id>/done", methods=["POST"])
@login_required
def finish_check(check_id: int):
    try:
        check = services.finish_check(current_user, check_id, request.form.get("notes"))
        db.session.commit()
    except DomainError as err:
        db.session.rollback()
        if isinstance(err, NotFound):
            raise
        flash("操作失败：" + (next(iter(err.fields.values())) if err.fields else err.message), "error")
    else:
        flash(f"排查任务“{check.plan.name}（{check.period_key}）”已完成：未发现隐患", "success")
    return redirect(url_for("hazards.manage_page", tab="general"))


# ---------------------------------------------------------------- API

from ..api import authenticated  # noqa: E402 - after the page routes: app.api imports nothing from here


@api_bp.get("")
@authenticated
def api_list():
    f = GeneralFilter.from_args(request.args)
    items, total = paginate(list_query(g.api_user, f), f.page, f.per_page)
    return jsonify({"items": [services.general_json(r) for r in items], "total": total, "page": f.page,
                    "per_page": f.per_page})


@api_bp.get("/<int:hazard_id>")
@authenticated
def api_get(hazard_id: int):
    row = db.session.scalar(select(GeneralHazard).where(GeneralHazard.id == hazard_id,
                                                        services.general_scope(g.api_user)))
    if row is None:
        raise NotFound("一般隐患不存在或不在您的查看范围内")
    return jsonify(services.general_json(row))


@api_bp.get("/checks")
@authenticated
def api_checks():
    """The caller's unit's open check tasks (the register form's x-lookup for 排查任务)."""
    items = services.open_checks(g.api_user, text_arg(request.args, "q"))
    return jsonify({"items": [services.check_json(c) for c in items], "total": len(items)})


@api_bp.post("/checks/<int:check_id>/done")
@authenticated
def api_finish_check(check_id: int):
    from ..api import _json_body
    body = _json_body()
    check = services.finish_check(g.api_user, check_id, body.get("notes"))
    out = services.check_json(check)
    db.session.commit()
    return jsonify(out)


@api_bp.post("/plans")
@authenticated
def api_create_plan():
    from ..api import _json_body
    if g.api_user.role not in services.REGISTER_ROLES or not g.api_user.org_id:
        raise Forbidden("只有使用单位可以制定隐患排查计划")
    body = _json_body()
    plan = services.create_plan(g.api_user, {k: (str(v) if v is not None else None) for k, v in body.items()})
    out = {"id": plan.id, "name": plan.name, "period": plan.period, "starts_on": plan.starts_on.isoformat(),
           "ends_on": plan.ends_on.isoformat() if plan.ends_on else None,
           "checks": [services.check_json(c) for c in db.session.scalars(
               select(GeneralHazardCheck).where(GeneralHazardCheck.plan_id == plan.id))]}
    db.session.commit()
    return jsonify(out), 201
