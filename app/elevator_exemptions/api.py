"""/api/v1/elevator-exemptions: the lists of 无需无纸化维保 (applications, exempt elevators, back-filled
orders) and 工单补录 for third-party systems. The application itself is started and worked through the
generic /api/v1/cases and /api/v1/tasks (process key elevator_exemption)."""
from __future__ import annotations

from flask import Blueprint, g, jsonify, request
from sqlalchemy import func, select

from ..api import _json_body, authenticated
from ..cases.services import paginate
from ..core.clock import today_local
from ..core.params import text_arg
from ..elevators.models import MAINT_TYPES
from ..elevators.services import item_json
from ..errors import Forbidden, ValidationFailed
from ..extensions import db
from . import lists, services

bp = Blueprint("elevator_exemptions_api", __name__, url_prefix="/api/v1/elevator-exemptions")


def _rows(stmt, page: int, per_page: int):
    rows = db.session.execute(stmt.limit(per_page).offset((page - 1) * per_page)).unique().all()
    total = db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    return rows, total


@bp.get("")
@authenticated
def list_applications():
    f = lists.ApplicationFilter.from_args(request.args)
    items, total = paginate(lists.applications_query(g.api_user, f), f.page, f.per_page)
    return jsonify({"items": [services.exemption_json(r) for r in items], "total": total, "page": f.page,
                    "per_page": f.per_page})


@bp.get("/<int:exemption_id>")
@authenticated
def get_application(exemption_id: int):
    return jsonify(services.exemption_json(services.visible_exemption(g.api_user, exemption_id), detail=True))


@bp.get("/elevators")
@authenticated
def list_elevators():
    f = lists.ElevatorFilter.from_args(request.args)
    rows, total = _rows(lists.elevators_query(g.api_user, f), f.page, f.per_page)
    today = today_local()
    return jsonify({"items": [services.exempt_elevator_json(item.equipment, ex, today) for item, ex in rows], "total": total,
                    "page": f.page, "per_page": f.per_page})


@bp.get("/backfills")
@authenticated
def list_backfills():
    f = lists.BackfillFilter.from_args(request.args)
    rows, total = _rows(lists.backfills_query(g.api_user, f), f.page, f.per_page)
    return jsonify({"items": [services.backfill_json(o, bf) for o, bf in rows], "total": total, "page": f.page,
                    "per_page": f.per_page})


@bp.get("/backfills/<int:order_id>")
@authenticated
def get_backfill(order_id: int):
    order, bf = services.visible_backfill(g.api_user, order_id)
    return jsonify(services.backfill_json(order, bf, detail=True))


@bp.get("/backfill-form")
@authenticated
def backfill_form():
    """What a back-fill needs: the unit's exempt elevators (or, for one elevator and maintenance type, the
    items to report on) and the unit's maintainers."""
    user = g.api_user
    if user.role not in services.MAINT_ROLES or not user.org_id:
        raise Forbidden("只有电梯的维保单位可以补录维保工单")
    today = today_local()
    body = {"elevators": [services.exempt_elevator_json(e, ex, today)
                          for e, ex in services.exempt_elevators_for_backfill(user, text_arg(request.args, "q", 50))],
            "maintainers": [{"id": u.id, "username": u.username, "name": u.display_name}
                            for u in services.maintainers_of(user.org_id)],
            "maint_types": MAINT_TYPES, "items": []}
    if request.args.get("equipment_id"):
        equipment = services.backfill_elevator(user, request.args.get("equipment_id"))
        maint_type = request.args.get("maint_type") or "HALF"
        if maint_type not in MAINT_TYPES:
            raise ValidationFailed({"maint_type": "请选择有效的维保类型"})
        body["items"] = [item_json(i) for i in services.backfill_items(user, equipment, maint_type)]
    return jsonify(body)


@bp.post("/backfills")
@authenticated
def create_backfill():
    body = _json_body()
    order, duplicate = services.backfill(g.api_user, body)
    _o, bf = services.visible_backfill(g.api_user, order.id)
    out = {**services.backfill_json(order, bf, detail=True), "duplicate": duplicate}
    db.session.commit()
    return jsonify(out), (200 if duplicate else 201)
