"""JSON API of gas-cylinder traceability under /api/v1/cylinders (docs/接口说明.d/cylinders.md).
Registration cases start and complete through the generic /api/v1/cases and /api/v1/tasks; here are the
archive, batches, applications' cylinders, fillings, and the 准入一体化平台's signed callback.
Authentication and errors as in app/api (bearer token, or session + X-CSRFToken)."""
from __future__ import annotations

from flask import Blueprint, g, jsonify, request
from sqlalchemy import select

from ..api import _json_body, authenticated
from ..cases.services import paginate
from ..core.params import int_arg, text_arg
from ..errors import Forbidden
from ..extensions import db
from . import registration, services
from .models import CylinderApplication, CylinderBatch

bp = Blueprint("cylinders_api", __name__, url_prefix="/api/v1/cylinders")


def _page(query, f_page: int, per_page: int, convert):
    items, total = paginate(query, f_page, per_page)
    return jsonify({"items": [convert(i) for i in items], "total": total, "page": f_page, "per_page": per_page})


def _capped(query, page: int, per_page: int, convert):
    items, total, capped = services.capped_page(query, page, per_page)
    return jsonify({"items": [convert(i) for i in items], "total": total, "total_capped": capped, "page": page,
                    "per_page": per_page})


@bp.get("")
@authenticated
def list_cylinders():
    f = services.CylinderFilter.from_args(request.args)
    return _capped(services.cylinder_query(g.api_user, f), f.page, f.per_page, services.cylinder_json)


@bp.post("")
@authenticated
def create_cylinder():
    cylinder = services.add_cylinder(g.api_user, _json_body(), source="api")
    db.session.commit()
    return jsonify(services.cylinder_json(cylinder)), 201


@bp.get("/<int:cylinder_id>")
@authenticated
def get_cylinder(cylinder_id: int):
    return jsonify(services.cylinder_json(services.visible_cylinder(g.api_user, cylinder_id)))


@bp.get("/trace/<code>")
@authenticated
def trace(code: str):
    """Look a cylinder up by its trace code (扫码查询 / 登记验证)."""
    cylinder = services.find_by_trace_code(g.api_user, code[:32])
    if cylinder is None:
        from ..errors import NotFound
        raise NotFound("没有该溯源码的气瓶，或不在您的查看范围内")
    return jsonify(services.cylinder_json(cylinder))


@bp.get("/fillers")
@authenticated
def fillers():
    q = text_arg(request.args, "q", 100)
    page, per_page = int_arg(request.args, "page", 1, 1, 100000), int_arg(request.args, "per_page", 20, 5, 100)
    return _page(services.filler_units_query(g.api_user, q), page, per_page,
                 lambda o: {"id": o.id, "uscc": o.uscc, "name": o.name, "region_code": o.region_code})


@bp.get("/batches")
@authenticated
def list_batches():
    q = text_arg(request.args, "q", 40)
    page, per_page = int_arg(request.args, "page", 1, 1, 100000), int_arg(request.args, "per_page", 20, 5, 100)
    query = select(CylinderBatch).where(services.batch_scope(g.api_user))
    if q:
        query = query.where(CylinderBatch.batch_no.contains(q, autoescape=True))
    items, total = paginate(query.order_by(CylinderBatch.id.desc()), page, per_page)
    counts = services.batch_counts([b.id for b in items])
    return jsonify({"items": [services.batch_json(b, counts.get(b.id, 0)) for b in items], "total": total,
                    "page": page, "per_page": per_page})


@bp.post("/batches")
@authenticated
def create_batch():
    batch = services.create_batch(g.api_user, _json_body())
    db.session.commit()
    return jsonify(services.batch_json(batch, 0)), 201


@bp.get("/batches/<int:batch_id>")
@authenticated
def get_batch(batch_id: int):
    batch = services.visible_batch(g.api_user, batch_id)
    return jsonify(services.batch_json(batch, services.batch_counts([batch.id]).get(batch.id, 0)))


@bp.post("/batches/<int:batch_id>/cylinders")
@authenticated
def add_batch_cylinder(batch_id: int):
    batch = services.visible_batch(g.api_user, batch_id)
    if not (services.is_maker(g.api_user) and batch.maker_org_id == g.api_user.org_id):
        raise Forbidden("只有制造单位本单位可以向出厂记录添加气瓶")
    cylinder = services.add_cylinder(g.api_user, _json_body(), batch=batch, source="api")
    db.session.commit()
    return jsonify(services.cylinder_json(cylinder)), 201


def application_json(a: CylinderApplication) -> dict:
    return {"id": a.id, "application_no": a.application_no, "case_id": a.case_id, "business": a.business,
            "business_label": a.business_label, "filler_org_id": a.filler_org_id, "filler_name": a.filler.name,
            "agent_org_id": a.agent_org_id, "agent_name": a.agent.name if a.agent else None, "status": a.status,
            "status_label": a.status_label, "reason": a.reason, "receipt_no": a.receipt_no,
            "authority_result": a.authority_result, "authority_reason": a.authority_reason,
            "certificate_no": a.certificate_no, "submissions": a.submissions,
            "submitted_at": services._when(a.submitted_at), "decided_at": services._when(a.decided_at),
            "cylinders": [{"item_id": i.id, "trace_code": i.cylinder.trace_code, "factory_no": i.cylinder.factory_no,
                           "registration_code": i.registration_code} for i in a.items]}


@bp.get("/applications")
@authenticated
def list_applications():
    page, per_page = int_arg(request.args, "page", 1, 1, 100000), int_arg(request.args, "per_page", 20, 5, 100)
    query = select(CylinderApplication).where(services.application_scope(g.api_user))
    status = request.args.get("status")
    if status in CylinderApplication.STATUS_LABELS:
        query = query.where(CylinderApplication.status == status)
    return _page(query.order_by(CylinderApplication.id.desc()), page, per_page, application_json)


@bp.get("/applications/<int:application_id>")
@authenticated
def get_application(application_id: int):
    return jsonify(application_json(services.visible_application(g.api_user, application_id)))


def _codes(body) -> list[str]:
    codes = body.get("trace_codes")
    if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
        from ..errors import ValidationFailed
        raise ValidationFailed({"trace_codes": "应为溯源码字符串数组"})
    return codes[:500]


@bp.post("/applications/<int:application_id>/items")
@authenticated
def add_application_items(application_id: int):
    application = services.visible_application(g.api_user, application_id)
    added = registration.add_items(g.api_user, application, _codes(_json_body()))
    db.session.commit()
    return jsonify({**application_json(application), "added": added})


@bp.post("/applications/<int:application_id>/items/remove")
@authenticated
def remove_application_items(application_id: int):
    application = services.visible_application(g.api_user, application_id)
    ids = _json_body().get("item_ids")
    if not isinstance(ids, list) or not all(isinstance(i, int) for i in ids):
        from ..errors import ValidationFailed
        raise ValidationFailed({"item_ids": "应为整数数组"})
    removed = registration.remove_items(g.api_user, application, ids)
    db.session.commit()
    return jsonify({**application_json(application), "removed": removed})


@bp.get("/fillings")
@authenticated
def list_fillings():
    f = services.FillingFilter.from_args(request.args)
    return _capped(services.filling_query(g.api_user, f), f.page, f.per_page, services.filling_json)


@bp.post("/fillings")
@authenticated
def create_filling():
    row = services.record_filling(g.api_user, _json_body(), source="api")
    db.session.commit()
    return jsonify(services.filling_json(row)), 201


@bp.get("/fillings/<int:filling_id>")
@authenticated
def get_filling(filling_id: int):
    return jsonify(services.filling_json(services.visible_filling(g.api_user, filling_id)))


@bp.post("/authority/callback")
def authority_callback():
    """The 准入一体化平台's decision on an application it accepted earlier: HMAC-SM3 signed with our shared
    secret (X-App-Key, X-Timestamp, X-Nonce, X-Signature); no user session."""
    body = request.get_data(cache=True)
    path = request.full_path.rstrip("?")
    result = registration.receive_callback(request.headers, request.method, path, body)
    db.session.commit()
    return jsonify(result)
