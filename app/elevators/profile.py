"""The elevator's section on the registry's device page (§4.6.13): facts, next plan, and the latest
maintenance and repair records with their start/end times and links to the work-order PDF."""
from __future__ import annotations

from sqlalchemy import select

from ..extensions import db
from ..registry.profile import profile_section
from .models import WorkOrder
from .services import facts_of, next_plan, record_scope


@profile_section("elevator_maintenance", "电梯维保", order=35)
def maintenance_section(device, user):
    facts = facts_of(device.id)
    if facts is None:
        return None
    orders = list(db.session.scalars(select(WorkOrder).where(WorkOrder.equipment_id == device.id, record_scope(user))
                                     .order_by(WorkOrder.checkin_at.desc()).limit(10)))
    return {"template": "elevators/_profile_section.html", "facts": facts, "orders": orders,
            "plan": next_plan(device.id)}
