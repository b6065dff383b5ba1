"""The hazards section of the device profile page."""
from __future__ import annotations

from sqlalchemy import select

from ..extensions import db
from ..registry.profile import profile_section
from .models import Hazard
from .services import hazard_scope


@profile_section("hazards", "重大事故隐患", order=30)
def hazards_section(device, user):
    rows = list(db.session.scalars(select(Hazard).where(Hazard.equipment_id == device.id, hazard_scope(user))
                                   .order_by(Hazard.created_at.desc()).limit(50)))
    return {"template": "hazards/_profile_section.html", "rows": rows}
