"""The elevator pages of the phone app (/m/…, on the shared mobile blueprint): the maintainer's home card
(today's and overdue plans, returned orders), the elevator archive grouped by use unit and site, an
elevator's detail, the scan page, the visit page and the offline queue page."""
from __future__ import annotations

from itertools import groupby

from flask import render_template, request
from flask_login import current_user, login_required
from sqlalchemy import select

from ..core.clock import today_local

from ..extensions import db
from ..mobile.views import IDENTITY_CHECK_ROLES, bp, home_card, require_role
from . import services
from .models import ELEVATOR_TYPES, MAINT_TYPES, MaintenancePlan, WorkOrder

MAINTAINER = ("elevator_maintainer",)
IDENTITY_CHECK_ROLES.update(MAINTAINER)     # a maintainer's phone work starts with the face check (§4.6.5)
ELEVATOR_PEOPLE = ("elevator_maintainer", "property_manager", "maintenance_quality")


@home_card(*MAINTAINER)
def maintainer_card(user):
    today = today_local()
    plans = services.due_plans(user, today)
    returned = list(db.session.scalars(select(WorkOrder).where(WorkOrder.maintainer_id == user.id,
                                                               WorkOrder.status.in_(("returned", "in_progress")))
                                       .order_by(WorkOrder.checkin_at.desc()).limit(10)))
    upcoming = list(db.session.scalars(services.plans_query(user, status="planned")
                                       .where(MaintenancePlan.due_on > today).limit(5)))
    return {"template": "elevators/m_home_card.html", "plans": plans, "returned": returned, "upcoming": upcoming,
            "today": today}


@bp.route("/elevators")
@login_required
def elevators():
    require_role(*ELEVATOR_PEOPLE)
    q = (request.args.get("q") or "").strip()[:50] or None
    rows = db.session.execute(services.elevators_query(current_user, q).limit(300)).all()
    groups = []
    for org_name, items in groupby(rows, key=lambda r: r[0].use_org.name):
        items = list(items)
        sites = [(site or "未填位置", list(rows_)) for site, rows_ in groupby(items, key=lambda r: r[1].site)]
        groups.append((org_name, sites))
    return render_template("elevators/m_elevators.html", groups=groups, q=q or "", total=len(rows))


@bp.route("/elevators/<int:equipment_id>")
@login_required
def elevator(equipment_id: int):
    require_role(*ELEVATOR_PEOPLE)
    e, f = services.visible_elevator(current_user, equipment_id)
    plans = list(db.session.scalars(select(MaintenancePlan).where(MaintenancePlan.equipment_id == e.id,
                                                                  MaintenancePlan.status == "planned")
                                    .order_by(MaintenancePlan.due_on).limit(4)))
    orders = list(db.session.scalars(select(WorkOrder).where(WorkOrder.equipment_id == e.id,
                                                             services.record_scope(current_user))
                                     .order_by(WorkOrder.checkin_at.desc()).limit(5)))
    return render_template("elevators/m_elevator.html", e=e, f=f, plans=plans, orders=orders, today=today_local())


@bp.route("/scan")
@login_required
def scan():
    require_role(*MAINTAINER)
    return render_template("elevators/m_scan.html", kind=request.args.get("kind", "maintenance"))


@bp.route("/visit")
@login_required
def visit():
    """The visit app: works from the cached page when offline (state in IndexedDB)."""
    require_role(*MAINTAINER)
    return render_template("elevators/m_visit.html", maint_types=MAINT_TYPES, elevator_types=ELEVATOR_TYPES)


@bp.route("/orders")
@login_required
def orders():
    require_role(*MAINTAINER)
    rows = list(db.session.scalars(select(WorkOrder).where(WorkOrder.maintainer_id == current_user.id)
                                   .order_by(WorkOrder.checkin_at.desc()).limit(50)))
    return render_template("elevators/m_orders.html", rows=rows)


@bp.route("/queue")
@login_required
def queue():
    return render_template("elevators/m_queue.html")



