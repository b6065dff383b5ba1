"""/api/v1/registry: scoped lookup of devices and units, a device's facts and change log, status changes
and design-life corrections, and the reference lists that form fields look up (catalogue, regions).
Authentication and errors as in app/api (bearer token, or session + X-CSRFToken)."""
from __future__ import annotations

from flask import Blueprint, g, jsonify, request
from sqlalchemy import select

from ..api import _json_body, authenticated
from ..cases.services import paginate
from ..core.models import Region
from ..errors import Forbidden, ValidationFailed
from ..extensions import db
from . import services
from .catalogue import catalogue

bp = Blueprint("registry_api", __name__, url_prefix="/api/v1/registry")


def _page(query, f, render):
    items, total = paginate(query, f.page, f.per_page)
    return jsonify({"items": [render(i) for i in items], "total": total, "page": f.page, "per_page": f.per_page})


@bp.get("/devices")
@authenticated
def list_devices():
    f = services.DeviceFilter.from_args(request.args)
    return _page(services.device_query(g.api_user, f), f, services.device_json)


@bp.get("/devices/<int:device_id>")
@authenticated
def get_device(device_id: int):
    return jsonify(services.device_json(services.visible_device(g.api_user, device_id), detail=True))


@bp.get("/devices/<int:device_id>/changes")
@authenticated
def device_changes(device_id: int):
    device = services.visible_device(g.api_user, device_id)
    return jsonify({"items": [services.change_json(c) for c in services.changes_of(device)]})


@bp.post("/devices/<int:device_id>/status")
@authenticated
def change_status(device_id: int):
    device = services.visible_device(g.api_user, device_id)
    body = _json_body()
    if not services.may_change_status(g.api_user, device):
        raise Forbidden("只有设备属地的监察人员可以办理停用、报废、注销登记")
    services.change_status(device, str(body.get("status") or ""), actor=g.api_user, reason=body.get("reason"),
                           source="api")
    db.session.commit()
    return jsonify(services.device_json(device, detail=True))


@bp.post("/devices/<int:device_id>/life")
@authenticated
def edit_life(device_id: int):
    device = services.visible_device(g.api_user, device_id)
    body = _json_body()
    if not services.may_edit_life(g.api_user, device):
        raise Forbidden("只有监察人员和检验人员可以修正设计使用年限与日期")
    values = {k: v for k, v in body.items() if k != "reason"}
    if not values:
        raise ValidationFailed({"_form": "请至少提供一项要修正的内容"})
    rows = services.edit_device(device, values, actor=g.api_user, reason=body.get("reason"), source="api")
    db.session.commit()
    return jsonify({"device": services.device_json(device, detail=True),
                    "changes": [services.change_json(c) for c in rows]})


@bp.get("/units")
@authenticated
def list_units():
    f = services.UnitFilter.from_args(request.args)
    return _page(services.unit_query(g.api_user, f), f, services.unit_json)


@bp.get("/units/<int:org_id>")
@authenticated
def get_unit(org_id: int):
    return jsonify(services.unit_json(services.visible_unit(g.api_user, org_id)))


@bp.get("/categories")
@authenticated
def categories():
    """《特种设备目录》: every code with its parent and level (种类 / 类别 / 品种)."""
    level = request.args.get("level")
    parent = request.args.get("parent")
    items = [{"code": code, "name": name, "parent": par, "level": lev}
             for code, (name, par, lev) in sorted(catalogue().items())
             if (not level or lev == level) and (not parent or par == parent)]
    return jsonify({"items": items})


@bp.get("/regions")
@authenticated
def regions():
    """Guangxi's divisions (GB/T 2260): the province, its cities and counties."""
    query = select(Region).order_by(Region.code)
    if request.args.get("level") in ("province", "city", "county"):
        query = query.where(Region.level == request.args["level"])
    if request.args.get("parent"):
        query = query.where(Region.parent_code == request.args["parent"])
    return jsonify({"items": [{"code": r.code, "name": r.name, "parent": r.parent_code, "level": r.level}
                              for r in db.session.scalars(query)]})


@bp.get("/design-life")
@authenticated
def design_life():
    """超设计使用年限查询: pressure vessels within 1 / 2 / 3 years of their design life, and past it."""
    from . import life
    f = life.LifeFilter.from_args(request.args)
    scope = services.device_scope(g.api_user)
    items, total = paginate(life.life_query(scope, f), f.page, f.per_page)
    return jsonify({"counts": life.band_counts(scope, f), "total": total, "page": f.page, "per_page": f.per_page,
                    "items": [{**services.device_json(e, detail=True), "life_band": life.band_of(e.design_life_end),
                               "registration_changed": life.registration_changed(e)} for e in items]})


@bp.get("/simple-vessels/stats")
@authenticated
def simple_vessel_stats():
    """简单压力容器统计: by region (one level down), running state and design-life state."""
    from .simple_vessels import statistics
    from ..core.params import region_arg
    return jsonify(statistics(g.api_user, region_arg(request.args)))
