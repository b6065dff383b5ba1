"""JSON API of maintenance-unit rating (/api/v1/elevator-rating): quality patrols (sample, grade), the
evaluation of a unit, 96111 rescue records (list, push a batch, pull from the platform) and star-rating
applications. The star-rating loop itself runs through /api/v1/cases (process elevator_star_rating)
and /api/v1/tasks; `GET …/prefill` gives a unit the values to start it with."""
from __future__ import annotations

from datetime import date

from flask import Blueprint, g, jsonify, request
from sqlalchemy import select

from ..api import _json_body, authenticated
from ..cases.services import paginate
from ..core.clock import local_iso
from ..core.params import int_arg, text_arg
from ..core.external import ExternalError
from ..errors import DomainError, Forbidden, NotFound, ValidationFailed
from ..extensions import db
from . import rescue_platform, services
from .models import PATROL_CHECKS, PATROL_GRADES, Patrol, PatrolItem

bp = Blueprint("elevator_rating_api", __name__, url_prefix="/api/v1/elevator-rating")


def _page_args():
    return int_arg(request.args, "page", 1, 1, 100000), int_arg(request.args, "per_page", 20, 1, 100)


def _strict_day(name: str) -> date | None:
    raw = request.args.get(name)
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ValidationFailed({name: "日期格式应为 YYYY-MM-DD"}) from None


def _patrol_json(p: Patrol, counts: dict, items: list[PatrolItem] | None = None) -> dict:
    body = {"id": p.id, "patrol_no": p.patrol_no, "title": p.title, "method": p.method, "by_regulator": p.by_regulator,
            "maintenance_org_id": p.maintenance_org_id,
            "maintenance_org": p.maintenance_org.name if p.maintenance_org else None, "sample_size": p.sample_size,
            "created_by": p.created_by.display_name, "created_at": local_iso(p.created_at), "criteria": p.criteria,
            "graded": counts["graded"], "pass": counts["pass"], "basic": counts["basic"], "fail": counts["fail"]}
    if items is not None:
        body["items"] = [_item_json(i) for i in items]
    return body


def _item_json(i: PatrolItem) -> dict:
    from ..elevators.models import WorkOrder
    o = db.session.get(WorkOrder, i.work_order_id)
    return {"id": i.id, "work_order_id": i.work_order_id, "order_no": o.order_no, "equipment_code": o.equipment.code,
            "equipment_name": o.equipment.name, "maintenance_org_id": i.maintenance_org_id,
            "maintenance_org": o.maintenance_org.name, "checkin_at": local_iso(o.checkin_at), "grade": i.grade,
            "grade_label": i.grade_label if i.grade else None, "checks": i.checks or {}, "remark": i.remark,
            "graded_at": local_iso(i.graded_at)}


@bp.get("/patrols")
@authenticated
def list_patrols():
    services.require_rating_reader(g.api_user)
    page, per_page = _page_args()
    stmt = select(Patrol).where(services.patrol_scope(g.api_user))
    q = text_arg(request.args, "q", 50)
    if q:
        stmt = stmt.where(Patrol.patrol_no.contains(q, autoescape=True) | Patrol.title.contains(q, autoescape=True))
    items, total = paginate(stmt.order_by(Patrol.created_at.desc(), Patrol.id.desc()), page, per_page)
    counts = services.patrol_counts([p.id for p in items])
    return jsonify({"items": [_patrol_json(p, counts[p.id]) for p in items], "total": total, "page": page,
                    "per_page": per_page, "grades": PATROL_GRADES, "checks": PATROL_CHECKS})


@bp.post("/patrols")
@authenticated
def create_patrol():
    body = _json_body()
    for key in ("title", "method", "date_from", "date_to"):
        if body.get(key) is not None and not isinstance(body.get(key), str):
            raise ValidationFailed({key: "应为文字"})
    for key in ("size", "maintenance_org_id"):
        if body.get(key) is not None and (not isinstance(body.get(key), int) or isinstance(body.get(key), bool)):
            raise ValidationFailed({key: "应为整数"})
    ids = body.get("work_order_ids")
    if ids is not None and (not isinstance(ids, list) or not all(isinstance(v, int) and not isinstance(v, bool)
                                                                 for v in ids)):
        raise ValidationFailed({"work_order_ids": "应为工单 id 的数组"})
    patrol = services.create_patrol(g.api_user, body)
    result = _patrol_json(patrol, services.patrol_counts([patrol.id])[patrol.id], list(patrol.items))
    db.session.commit()
    return jsonify(result), 201


@bp.get("/patrols/<int:patrol_id>")
@authenticated
def get_patrol(patrol_id: int):
    p = services.visible_patrol(g.api_user, patrol_id)
    items = list(db.session.scalars(select(PatrolItem).where(PatrolItem.patrol_id == p.id,
                                                             services.patrol_item_scope(g.api_user))
                                    .order_by(PatrolItem.id)))
    return jsonify(_patrol_json(p, services.patrol_counts([p.id])[p.id], items))


@bp.post("/patrols/<int:patrol_id>/items/<int:item_id>/grade")
@authenticated
def grade_item(patrol_id: int, item_id: int):
    p = services.visible_patrol(g.api_user, patrol_id)
    item = db.session.scalar(select(PatrolItem).where(PatrolItem.id == item_id, PatrolItem.patrol_id == p.id))
    if item is None:
        raise NotFound("巡检记录不存在")
    body = _json_body()
    if body.get("checks") is not None and not isinstance(body.get("checks"), dict):
        raise ValidationFailed({"checks": "应为对象：检查项 → ok / fail"})
    if body.get("remark") is not None and not isinstance(body.get("remark"), str):
        raise ValidationFailed({"remark": "应为文字"})
    services.grade_item(g.api_user, item, {"grade": body.get("grade"), "checks": body.get("checks") or {},
                                           "remark": body.get("remark")})
    result = _item_json(item)
    db.session.commit()
    return jsonify(result)


# ---------------------------------------------------------------- evaluation

def _evaluation_json(org, start: date, end: date, e: dict | None = None) -> dict:
    e = e or services.evaluate(org.id, start, end)
    rating = services.current_rating(org.id)
    return {"org_id": org.id, "org_name": org.name, "uscc": org.uscc, "region_code": org.region_code,
            "figures": e["figures"], "score": e["score"], "grade": e["grade"], "formula": e["formula"],
            "decision_version": e["decision_version"],
            "current_rating": services.rating_json(rating) if rating else None}


@bp.get("/units")
@authenticated
def list_units():
    services.require_rating_reader(g.api_user)
    start, end = services.period_args(request.args)
    page, per_page = _page_args()
    items, total = paginate(services.units_query(g.api_user, text_arg(request.args, "q", 50)), page, per_page)
    evaluations = services.evaluate_many([o.id for o in items], start, end)
    return jsonify({"items": [_evaluation_json(o, start, end, evaluations[o.id]) for o in items], "total": total,
                    "page": page, "per_page": per_page})


@bp.get("/units/<int:org_id>/evaluation")
@authenticated
def unit_evaluation(org_id: int):
    services.require_rating_reader(g.api_user)
    org = services.visible_unit(g.api_user, org_id)
    start, end = services.period_args(request.args)
    return jsonify(_evaluation_json(org, start, end))


@bp.get("/prefill")
@authenticated
def prefill():
    user = g.api_user
    if user.role != "maintenance_unit" or not user.org_id:
        raise Forbidden("只有维保单位可以申请星级评定")
    year = int_arg(request.args, "year", 0, 0, 9999) or services.rating_years()[0]
    if year not in services.rating_years():
        raise ValidationFailed({"year": "只能申请本年度或上一年度的星级评定"})
    return jsonify({"process_key": services.PROCESS_KEY, "data": services.prefill(user.org_id, year)})


# ---------------------------------------------------------------- rescues

@bp.get("/rescues")
@authenticated
def list_rescues():
    services.require_rating_reader(g.api_user)
    page, per_page = _page_args()
    stmt = services.rescues_query(g.api_user, q=text_arg(request.args, "q", 50),
                                  org_id=int_arg(request.args, "org_id", 0, 0, 2**31 - 1) or None,
                                  date_from=_strict_day("date_from"), date_to=_strict_day("date_to"))
    items, total = paginate(stmt, page, per_page)
    return jsonify({"items": [services.rescue_json(r) for r in items], "total": total, "page": page,
                    "per_page": per_page})


def _summary(results: list[dict]) -> dict:
    return {"results": results, "created": sum(1 for r in results if r["status"] == "created"),
            "unchanged": sum(1 for r in results if r["status"] == "unchanged"),
            "refused": sum(1 for r in results if r["status"] == "refused")}


@bp.post("/rescues")
@authenticated
def push_rescues():
    body = _json_body()
    results = services.ingest_rescues(g.api_user, body.get("records"), "api")
    db.session.commit()
    return jsonify(_summary(results))


@bp.post("/rescues/pull")
@authenticated
def pull_rescues():
    body = _json_body()
    errors = {}
    days = {}
    for key in ("date_from", "date_to"):
        try:
            days[key] = date.fromisoformat(str(body.get(key) or ""))
        except ValueError:
            errors[key] = "日期格式应为 YYYY-MM-DD"
    if not errors and days["date_from"] > days["date_to"]:
        errors["date_to"] = "结束日期不能早于开始日期"
    if errors:
        raise ValidationFailed(errors)
    try:
        results = rescue_platform.pull(g.api_user, days["date_from"], days["date_to"])
    except ExternalError as err:
        if err.code == "external_not_configured":      # a deployment setting, not an upstream failure
            raise DomainError(err.message, code=err.code, status=409) from None
        raise
    db.session.commit()
    return jsonify(_summary(results))


# ---------------------------------------------------------------- star ratings

@bp.get("/ratings")
@authenticated
def list_ratings():
    services.require_rating_reader(g.api_user)
    page, per_page = _page_args()
    stmt = services.ratings_query(g.api_user, q=text_arg(request.args, "q", 50), status=request.args.get("status"),
                                  year=int_arg(request.args, "year", 0, 0, 9999) or None,
                                  grade=request.args.get("grade"))
    items, total = paginate(stmt, page, per_page)
    return jsonify({"items": [services.rating_json(r) for r in items], "total": total, "page": page,
                    "per_page": per_page})


@bp.get("/public/ratings")
def public_ratings():
    """No login: the published ratings (the public page's data)."""
    page = int_arg(request.args, "page", 1, 1, 10000)
    per_page = int_arg(request.args, "per_page", 20, 1, 100)
    items, total = paginate(services.public_ratings(text_arg(request.args, "q", 50)), page, per_page)
    return jsonify({"items": [{"org_name": r.org.name, "region_code": r.org.region_code, "year": r.year,
                               "grade": r.grade, "stars": r.stars, "approved_at": local_iso(r.approved_at)}
                              for r in items], "total": total, "page": page, "per_page": per_page})

