"""JSON API of paperless elevator maintenance (/api/v1/elevators): elevators, items, plans, the visit
(check-in, results, photos, check-out) and the offline batch. The phone app calls the same endpoints
(session + X-CSRFToken); third-party systems use a bearer token. Starting the sign-off and working its
tasks go through the generic /api/v1/cases and /api/v1/tasks endpoints (process elevator_maintenance)."""
from __future__ import annotations

from datetime import date, timedelta

from flask import Blueprint, g, jsonify, request
from sqlalchemy import select

from ..api import _json_body, authenticated
from ..cases.services import paginate
from ..core.clock import today_local
from ..core.params import int_arg, text_arg
from ..errors import Forbidden, NotFound, ValidationFailed
from ..extensions import db
from . import services
from .models import ELEVATOR_TYPES, MAINT_TYPES, MaintenanceItem, MaintenancePlan, WorkOrder

bp = Blueprint("elevators_api", __name__, url_prefix="/api/v1/elevators")


def _page_args():
    return int_arg(request.args, "page", 1, 1, 100000), int_arg(request.args, "per_page", 20, 1, 100)


@bp.get("")
@authenticated
def list_elevators():
    page, per_page = _page_args()
    stmt = services.elevators_query(g.api_user, text_arg(request.args, "q", 50))
    total = db.session.scalar(select(db.func.count()).select_from(stmt.order_by(None).subquery()))
    rows = db.session.execute(stmt.limit(per_page).offset((page - 1) * per_page)).all()
    return jsonify({"items": [services.elevator_json(e, f, with_plans=True) for e, f in rows], "total": total,
                    "page": page, "per_page": per_page})


@bp.get("/<int:equipment_id>")
@authenticated
def get_elevator(equipment_id: int):
    e, f = services.visible_elevator(g.api_user, equipment_id)
    body = services.elevator_json(e, f, with_plans=True)
    plans = db.session.scalars(select(MaintenancePlan).where(MaintenancePlan.equipment_id == e.id)
                               .order_by(MaintenancePlan.due_on).limit(60))
    body["plans"] = [services.plan_json(p) for p in plans]
    return jsonify(body)


@bp.post("/<int:equipment_id>/chip")
@authenticated
def bind_chip(equipment_id: int):
    e, f = services.visible_elevator(g.api_user, equipment_id)
    services.bind_chip(g.api_user, e, f, str(_json_body().get("chip_id") or ""))
    body = services.elevator_json(e, f)
    db.session.commit()
    return jsonify(body)


@bp.get("/lookup")
@authenticated
def lookup():
    e, f = services.lookup(g.api_user, request.args.get("code", ""))
    return jsonify(services.elevator_json(e, f, with_plans=True))


@bp.get("/items")
@authenticated
def list_items():
    kind = request.args.get("elevator_type") or "traction"
    maint = request.args.get("maint_type") or "HALF"
    if kind not in ELEVATOR_TYPES:
        raise ValidationFailed({"elevator_type": "电梯类型不正确"})
    if maint not in MAINT_TYPES:
        raise ValidationFailed({"maint_type": "维保类型不正确"})
    return jsonify({"items": [services.item_json(i) for i in services.items_for(kind, maint)]})


@bp.get("/plans")
@authenticated
def list_plans():
    page, per_page = _page_args()
    status = request.args.get("status") if request.args.get("status") in ("planned", "done") else None
    until = None
    if request.args.get("until"):
        try:
            until = date.fromisoformat(request.args["until"])
        except ValueError:
            raise ValidationFailed({"until": "日期格式应为 YYYY-MM-DD"}) from None
    stmt = services.plans_query(g.api_user, status=status, until=until)
    if request.args.get("overdue") in ("1", "true"):
        stmt = stmt.where(MaintenancePlan.status == "planned", MaintenancePlan.due_on < today_local())
    items, total = paginate(stmt, page, per_page)
    return jsonify({"items": [services.plan_json(p) for p in items], "total": total, "page": page,
                    "per_page": per_page})


@bp.post("/plans/<int:plan_id>/move")
@authenticated
def move_plan(plan_id: int):
    user = g.api_user
    plan = db.session.scalar(services.plans_query(user).where(MaintenancePlan.id == plan_id))
    if plan is None:
        raise NotFound("维保计划不存在或不在您的查看范围内")
    if user.org_id != plan.maintenance_org_id or user.role not in ("maintenance_unit", "maintenance_quality",
                                                                   "elevator_maintainer"):
        raise Forbidden("只有维保单位可以调整维保计划")
    body = _json_body()
    try:
        day = date.fromisoformat(str(body.get("due_on")))
    except ValueError:
        raise ValidationFailed({"due_on": "日期格式应为 YYYY-MM-DD"}) from None
    services.move_plan(plan, day, user)
    result = services.plan_json(plan)
    db.session.commit()
    return jsonify(result)


@bp.get("/today")
@authenticated
def today_pack():
    """What the phone caches for offline work: today's and overdue plans, their elevators, and the items
    of each (elevator type, maintenance type) needed."""
    user = g.api_user
    plans = services.due_plans(user)
    soon = list(db.session.scalars(services.plans_query(user, status="planned", until=today_local() + timedelta(days=3))))
    elevators, items = {}, {}
    for p in soon:
        if p.equipment_id not in elevators:
            e, f = services.visible_elevator(user, p.equipment_id)
            elevators[p.equipment_id] = services.elevator_json(e, f)
        key = f"{elevators[p.equipment_id]['elevator_type']}:{p.maint_type}"
        if key not in items:
            items[key] = [services.item_json(i) for i in services.items_for(*key.split(":"))]
    coworkers = []
    if user.role == "elevator_maintainer" and user.org_id:
        from ..core.models import User
        coworkers = [{"username": u.username, "name": u.display_name} for u in db.session.scalars(
            select(User).where(User.org_id == user.org_id, User.role == "elevator_maintainer", User.id != user.id,
                               User.is_active_flag.is_(True)).order_by(User.display_name))]
    return jsonify({"date": today_local().isoformat(), "plans": [services.plan_json(p) for p in soon],
                    "due": [p.id for p in plans], "elevators": list(elevators.values()), "items": items,
                    "coworkers": coworkers})


@bp.get("/work-orders")
@authenticated
def list_orders():
    f = services.RecordFilter.from_args(request.args)
    stmt = services.records_query(g.api_user, f)
    if request.args.get("mine") in ("1", "true"):
        stmt = stmt.where(WorkOrder.maintainer_id == g.api_user.id)
    items, total = paginate(stmt, f.page, f.per_page)
    sources = services.sources_of(items)
    return jsonify({"items": [{**services.order_json(o), "source": sources[o.id]} for o in items], "total": total,
                    "page": f.page, "per_page": f.per_page})


@bp.post("/work-orders")
@authenticated
def check_in():
    result = services.check_in(g.api_user, _json_body())
    body = services.order_json(result.order, detail=True)
    body["duplicate"] = result.duplicate
    db.session.commit()
    return jsonify(body), 200 if result.duplicate else 201


def _mine(order_id: int) -> WorkOrder:
    order = services.visible_order(g.api_user, order_id)
    if order.maintainer_id != g.api_user.id:
        raise Forbidden("只有签到的维保人员可以修改该工单")
    return order


@bp.get("/work-orders/<int:order_id>")
@authenticated
def get_order(order_id: int):
    return jsonify(services.order_json(services.visible_order(g.api_user, order_id), detail=True))


@bp.post("/work-orders/<int:order_id>/results")
@authenticated
def save_results(order_id: int):
    order = _mine(order_id)
    services.save_results(g.api_user, order, _json_body().get("results"))
    body = services.order_json(order, detail=True)
    db.session.commit()
    return jsonify(body)


@bp.post("/work-orders/<int:order_id>/photos")
@authenticated
def add_photo(order_id: int):
    order = _mine(order_id)
    upload = request.files.get("file")
    if upload is None:
        raise ValidationFailed({"file": "请拍摄照片后上传（表单字段 file）"})
    data = upload.read(current_max() + 1)
    if len(data) > current_max():
        raise ValidationFailed({"file": "照片超过大小上限"})
    photo, duplicate = services.add_photo(g.api_user, order, data, request.form.to_dict())
    body = {"id": photo.id, "client_id": photo.client_id, "attachment_id": photo.attachment_id,
            "item_id": photo.item_id, "original_sm3": photo.original_sm3, "duplicate": duplicate}
    db.session.commit()
    return jsonify(body), 200 if duplicate else 201


def current_max() -> int:
    from flask import current_app
    return int(current_app.config["MAX_UPLOAD_BYTES"])


@bp.post("/work-orders/<int:order_id>/finish")
@authenticated
def finish(order_id: int):
    order = _mine(order_id)
    body = _json_body()
    services.finish(g.api_user, order, body, submit=body.get("submit", True) is not False)
    result = services.order_json(order, detail=True)
    db.session.commit()
    return jsonify(result)


@bp.post("/work-orders/<int:order_id>/resubmit")
@authenticated
def resubmit(order_id: int):
    order = _mine(order_id)
    services.resubmit(g.api_user, order, str(_json_body().get("note") or ""))
    result = services.order_json(order, detail=True)
    db.session.commit()
    return jsonify(result)


@bp.post("/sync")
@authenticated
def sync():
    results = services.sync_batch(g.api_user, _json_body().get("records"))
    db.session.commit()
    return jsonify({"results": results,
                    "accepted": sum(1 for r in results if r["status"] in ("created", "duplicate")),
                    "refused": sum(1 for r in results if r["status"] == "refused")})


@bp.get("/item-catalogue")
@authenticated
def item_catalogue():
    """Every maintenance item (the admin's editable list), filterable by annex and frequency."""
    stmt = select(MaintenanceItem).order_by(MaintenanceItem.annex, MaintenanceItem.frequency, MaintenanceItem.seq)
    if request.args.get("annex") in ("A", "B", "C", "D"):
        stmt = stmt.where(MaintenanceItem.annex == request.args["annex"])
    return jsonify({"items": [services.item_json(i) for i in db.session.scalars(stmt)]})
