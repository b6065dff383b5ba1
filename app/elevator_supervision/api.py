"""JSON API of 电梯维保监管 (/api/v1/elevator-supervision): warnings (list, one, close with a reason), overdue
plans (by region and unit; the elevators), statistics (by region and unit; one unit's maintainers and
elevators) and one elevator's full-cycle trace. Same scope as the pages."""
from __future__ import annotations

from flask import Blueprint, g, jsonify, request

from ..api import _json_body, authenticated
from ..cases.services import paginate
from ..core.models import Organization
from ..elevators import services as elevator_services
from ..errors import Forbidden, NotFound, ValidationFailed
from ..extensions import db
from . import rules, stats

bp = Blueprint("elevator_supervision_api", __name__, url_prefix="/api/v1/elevator-supervision")


def _regulator():
    if not g.api_user.is_regulator:
        raise Forbidden("仅监管人员可以查看")


def _filter() -> stats.StatsFilter:
    from ..errors import ValidationFailed
    f = stats.StatsFilter.from_args(g.api_user, request.args)
    if f.errors:
        raise ValidationFailed(f.errors)
    return f


@bp.get("/warnings")
@authenticated
def list_warnings():
    if not rules.can_see(g.api_user):
        raise Forbidden("没有查看维保预警的权限")
    f = rules.WarningFilter.from_args(request.args)
    items, total = paginate(rules.warnings_query(g.api_user, f), f.page, f.per_page)
    return jsonify({"items": [rules.warning_json(w) for w in items], "total": total, "page": f.page,
                    "per_page": f.per_page})


@bp.get("/warnings/<int:warning_id>")
@authenticated
def get_warning(warning_id: int):
    return jsonify(rules.warning_json(rules.visible_warning(g.api_user, warning_id)))


@bp.post("/warnings/<int:warning_id>/close")
@authenticated
def close_warning(warning_id: int):
    w = rules.visible_warning(g.api_user, warning_id)
    rules.close(g.api_user, w, _json_body().get("reason"))
    body = rules.warning_json(w)
    db.session.commit()
    return jsonify(body)


@bp.get("/overdue-plans/summary")
@authenticated
def overdue_summary():
    _regulator()
    f = _filter()
    late = stats.late_elevators(f)
    return jsonify({"region": f.region, "regions": stats.overdue_regions(f, late), "units": stats.overdue_units(f, late)})


@bp.get("/overdue-plans")
@authenticated
def overdue_elevators():
    _regulator()
    f = _filter()
    items, total = stats.overdue_elevators(f)
    return jsonify({"items": items, "total": total, "page": f.page, "per_page": f.per_page})


def _plain(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "url"} for r in rows]


@bp.get("/stats")
@authenticated
def statistics():
    _regulator()
    f = _filter()
    overview = stats.Overview(f)
    regions = overview.regions()
    return jsonify({"region": f.region, "date_from": f.date_from.isoformat(), "date_to": f.date_to.isoformat(),
                    "totals": stats.totals(regions), "regions": _plain(regions), "units": _plain(overview.units()),
                    "warnings_by_rule": [{"rule": k, "count": n} for k, n in overview.rule_counts()]})


@bp.get("/stats/units/<int:org_id>")
@authenticated
def unit_statistics(org_id: int):
    f = stats.unit_filter(g.api_user, request.args, org_id)
    if f is None:
        raise Forbidden("仅监管人员或本维保单位负责人、质量负责人可以查看")
    if f.errors:
        raise ValidationFailed(f.errors)
    org = db.session.get(Organization, org_id)
    if org is None:
        raise NotFound("单位不存在")
    lifts, total = stats.elevator_rows(f, org.id)
    return jsonify({"org_id": org.id, "org_name": org.name, "region": f.region,
                    "date_from": f.date_from.isoformat(), "date_to": f.date_to.isoformat(),
                    "maintainers": _plain(stats.maintainer_rows(f, org.id)), "elevators": _plain(lifts),
                    "elevator_total": total, "page": f.page, "per_page": f.per_page})


@bp.get("/elevators/<int:equipment_id>/trace")
@authenticated
def trace(equipment_id: int):
    e, _facts = elevator_services.visible_elevator(g.api_user, equipment_id)
    return jsonify({"equipment_id": e.id, "code": e.code, "name": e.name, "contracts": stats.trace_json(stats.trace(e.id))})
