"""Route classification of maintenance-unit rating for tests/test_route_scope.py: the objects are a
patrol xn_supervisor (兴宁区) made over the demo maintenance unit's archived records, one of its
items, and the demo maintenance unit itself (its evaluation)."""
from __future__ import annotations

from sqlalchemy import select

from app.extensions import db

from .conftest import user

REGULATORS = {"province_supervisor", "city_supervisor", "county_supervisor", "approver"}
READERS = REGULATORS | {"maintenance_unit", "maintenance_quality"}
PATROLLERS = REGULATORS | {"maintenance_quality"}
# Outside 兴宁区's patrol and the demo maintenance unit: other counties, a use unit, its property manager,
# an agency, an operator, an administrator.
OUTSIDERS = ("qx_supervisor", "lz_supervisor", "unit_xn", "wy_xn", "agency_gx", "op_wei", "sys_admin")


def _patrol() -> dict:
    from app.elevator_rating import services
    from app.elevator_rating.models import PatrolItem
    from .test_elevator_rating import _make_records
    orders = _make_records(2)
    patrol = services.create_patrol(user("xn_supervisor"), {"method": "pick", "work_order_ids": [o.id for o in orders]})
    db.session.commit()
    item = db.session.scalar(select(PatrolItem.id).where(PatrolItem.patrol_id == patrol.id).order_by(PatrolItem.id))
    return {"patrol": patrol.id, "item": item, "org": user("wb_unit").org_id}


def _unit() -> dict:
    return {"org": user("wb_unit").org_id}


def _grade(ids):
    from app.elevator_rating.models import PatrolItem
    return db.session.get(PatrolItem, ids["item"], populate_existing=True).grade


def _grade_form(_ids) -> dict:
    return {"grade": "fail", "checks": {k: "ok" for k in ("items", "photos", "duration", "signatures", "site")},
            "check_items": "ok", "check_photos": "ok", "check_duration": "ok", "check_signatures": "ok",
            "check_site": "ok", "remark": "越权评定"}


def routes(Public, LoginOnly, Roles, Obj) -> dict:
    base = "/api/v1/elevator-rating"
    return {
        # -- pages
        "elevator_rating.units": Roles(READERS, "/elevator-rating/units"),
        "elevator_rating.units_export": Roles(READERS, "/elevator-rating/units/export.xlsx"),
        "elevator_rating.unit": Obj(_unit, "/elevator-rating/units/{org}", "wb_unit", OUTSIDERS),
        "elevator_rating.patrols": Roles(READERS, "/elevator-rating/patrols"),
        "elevator_rating.patrols#POST": Roles(PATROLLERS, "/elevator-rating/patrols", "POST",
                                              {"method": "random", "size": "1"}, insider=False),
        "elevator_rating.patrol_pool": Roles(PATROLLERS, "/elevator-rating/patrols/pool"),
        "elevator_rating.patrols_export": Roles(READERS, "/elevator-rating/patrols/export.xlsx"),
        "elevator_rating.patrol": Obj(_patrol, "/elevator-rating/patrols/{patrol}", "xn_supervisor", OUTSIDERS),
        "elevator_rating.grade": Obj(_patrol, "/elevator-rating/patrols/{patrol}/items/{item}", "xn_supervisor",
                                     OUTSIDERS, "POST", _grade_form, _grade, view="/elevator-rating/patrols/{patrol}",
                                     also_refused=("wb_unit", "wb_quality")),
        "elevator_rating.rescues": Roles(READERS, "/elevator-rating/rescues"),
        "elevator_rating.rescues_export": Roles(READERS, "/elevator-rating/rescues/export.xlsx"),
        "elevator_rating.rescues_pull": Roles(REGULATORS, "/elevator-rating/rescues/pull", "POST",
                                              {"date_from": "2026-01-01", "date_to": "2026-01-02"}, insider=False),
        "elevator_rating.ratings": Roles(READERS, "/elevator-rating/ratings"),
        "elevator_rating.ratings_export": Roles(READERS, "/elevator-rating/ratings/export.xlsx"),
        "elevator_rating_public.public_list": Public("/public/elevator-ratings"),
        # -- API
        "elevator_rating_api.list_patrols": Roles(READERS, f"{base}/patrols"),
        "elevator_rating_api.create_patrol": Roles(PATROLLERS, f"{base}/patrols", "POST",
                                                   {"method": "random", "size": 1}, insider=False),
        "elevator_rating_api.get_patrol": Obj(_patrol, base + "/patrols/{patrol}", "xn_supervisor", OUTSIDERS),
        "elevator_rating_api.grade_item": Obj(_patrol, base + "/patrols/{patrol}/items/{item}/grade", "xn_supervisor",
                                              OUTSIDERS, "POST", _grade_form, _grade, view=base + "/patrols/{patrol}",
                                              also_refused=("wb_unit", "wb_quality")),
        "elevator_rating_api.list_units": Roles(READERS, f"{base}/units"),
        "elevator_rating_api.unit_evaluation": Obj(_unit, base + "/units/{org}/evaluation", "wb_unit", OUTSIDERS),
        "elevator_rating_api.prefill": Roles({"maintenance_unit"}, f"{base}/prefill", insider=False),
        "elevator_rating_api.list_rescues": Roles(READERS, f"{base}/rescues"),
        "elevator_rating_api.push_rescues": Roles(REGULATORS, f"{base}/rescues", "POST", {"records": []}, insider=False),
        "elevator_rating_api.pull_rescues": Roles(REGULATORS, f"{base}/rescues/pull", "POST",
                                                  {"date_from": "2026-01-01", "date_to": "2026-01-02"}, insider=False),
        "elevator_rating_api.list_ratings": Roles(READERS, f"{base}/ratings"),
        "elevator_rating_api.public_ratings": Public(f"{base}/public/ratings"),
    }
