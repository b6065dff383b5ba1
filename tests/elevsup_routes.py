"""Route classification of 电梯维保监管 (app/elevator_supervision) for tests/test_route_scope.py: the object is a
维保用时过短 warning on the first 兴宁区 lift of the demo maintenance unit (maintained by wb_qin), and that lift's
full-cycle trace. Plans and statistics are for regulators only; warnings also for the maintenance unit's people."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from app.core.roles import REGULATOR_ROLES
from app.extensions import db

from .conftest import user

# Outside a 兴宁区 warning of the demo maintenance unit: other counties, use units, the other use unit's safety
# manager, an operator, administrators.
WARNING_OUTSIDERS = ("qx_supervisor", "lz_supervisor", "unit_xn", "unit_qx", "wy_qx", "op_wei", "sys_admin")
DEVICE_OUTSIDERS = ("qx_supervisor", "lz_supervisor", "unit_qx", "unit_lz", "op_wei", "sys_admin", "process_admin")
MAINT_SIDE = {"maintenance_unit", "maintenance_quality", "elevator_maintainer"}


def _warning() -> dict:
    from app.core.clock import utcnow
    from app.core.models import Equipment
    from app.elevator_supervision import rules
    from app.elevators.models import ElevatorFacts, WorkOrder
    lift = db.session.scalar(select(Equipment).join(ElevatorFacts, ElevatorFacts.equipment_id == Equipment.id)
                             .where(Equipment.maintenance_org_id == user("wb_qin").org_id,
                                    Equipment.region_code == "450102").order_by(Equipment.id))
    start = utcnow() - timedelta(hours=3)
    order = WorkOrder(client_id="route-scope-elevsup", order_no="WBSCOPE0000001", kind="maintenance",
                      equipment_id=lift.id, maintenance_org_id=lift.maintenance_org_id, use_org_id=lift.use_org_id,
                      region_code=lift.region_code, maint_type="HALF", maintainer_id=user("wb_qin").id,
                      status="archived", checkin_at=start, checkin_lat=lift.lat, checkin_lng=lift.lng,
                      checkin_distance=5, checkout_at=start + timedelta(minutes=5), checkout_lat=lift.lat,
                      checkout_lng=lift.lng, checkout_distance=5)
    db.session.add(order)
    db.session.flush()
    [(warning_id, _draft)] = rules.store(rules.short_duration(WorkOrder.id == order.id), "submit")
    db.session.commit()
    return {"warning": warning_id, "device": lift.id, "org": lift.maintenance_org_id}


def _warning_state(ids) -> tuple:
    from app.elevator_supervision.models import ElevatorWarning
    db.session.expire_all()
    w = db.session.get(ElevatorWarning, ids["warning"])
    return w.status, w.close_reason


def _unit() -> dict:
    return {"org": user("wb_qin").org_id}


def routes(Public, LoginOnly, Roles, Obj) -> dict:   # noqa: N803 - the classes of test_route_scope
    regulators = set(REGULATOR_ROLES)
    close = {"reason": "越权关闭尝试"}
    return {
        "elevator_supervision.warnings": Roles(regulators | MAINT_SIDE, "/elevator-supervision/warnings"),
        "elevator_supervision.warnings_export": Roles(regulators | MAINT_SIDE, "/elevator-supervision/warnings/export.xlsx"),
        "elevator_supervision.warning": Obj(_warning, "/elevator-supervision/warnings/{warning}", "xn_supervisor",
                                            WARNING_OUTSIDERS),
        "elevator_supervision.warning#POST": Obj(_warning, "/elevator-supervision/warnings/{warning}", "xn_supervisor",
                                                 WARNING_OUTSIDERS, "POST", data=lambda ids: dict(close),
                                                 state=_warning_state, also_refused=("wb_qin",)),
        "elevator_supervision.plans": Roles(regulators, "/elevator-supervision/plans"),
        "elevator_supervision.plans_export": Roles(regulators, "/elevator-supervision/plans/export.xlsx"),
        "elevator_supervision.statistics": Roles(regulators, "/elevator-supervision/stats"),
        "elevator_supervision.statistics_export": Roles(regulators, "/elevator-supervision/stats/export.xlsx"),
        # a maintenance unit's own page: redirects to its unit page (302), anyone else 403
        "elevator_supervision.my_statistics": Roles({"maintenance_unit", "maintenance_quality"},
                                                   "/elevator-supervision/stats/mine", insider=False),
        "elevator_supervision.unit_statistics": Roles(regulators, "/elevator-supervision/stats/units/{org}",
                                                      url_args=_unit),
        "elevator_supervision.trace": Obj(_warning, "/elevator-supervision/elevators/{device}/trace", "xn_supervisor",
                                          DEVICE_OUTSIDERS),
        "elevator_supervision_api.list_warnings": Roles(regulators | MAINT_SIDE, "/api/v1/elevator-supervision/warnings"),
        "elevator_supervision_api.get_warning": Obj(_warning, "/api/v1/elevator-supervision/warnings/{warning}",
                                                    "xn_supervisor", WARNING_OUTSIDERS),
        "elevator_supervision_api.close_warning": Obj(_warning, "/api/v1/elevator-supervision/warnings/{warning}/close",
                                                      "xn_supervisor", WARNING_OUTSIDERS, "POST",
                                                      data=lambda ids: dict(close), state=_warning_state,
                                                      view="/api/v1/elevator-supervision/warnings/{warning}",
                                                      also_refused=("wb_qin",)),
        "elevator_supervision_api.overdue_summary": Roles(regulators, "/api/v1/elevator-supervision/overdue-plans/summary"),
        "elevator_supervision_api.overdue_elevators": Roles(regulators, "/api/v1/elevator-supervision/overdue-plans"),
        "elevator_supervision_api.statistics": Roles(regulators, "/api/v1/elevator-supervision/stats"),
        "elevator_supervision_api.unit_statistics": Roles(regulators, "/api/v1/elevator-supervision/stats/units/{org}",
                                                          url_args=_unit),
        "elevator_supervision_api.trace": Obj(_warning, "/api/v1/elevator-supervision/elevators/{device}/trace",
                                              "xn_supervisor", DEVICE_OUTSIDERS),
    }
