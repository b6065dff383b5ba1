"""The complaints section of the device profile page: regulators see the complaints about the device
(its use unit and maintainer never do)."""
from __future__ import annotations

from sqlalchemy import select

from ..extensions import db
from ..registry.profile import profile_section
from .models import Complaint
from .services import complaint_scope


@profile_section("complaints", "投诉举报", order=35)
def complaints_section(device, user):
    if not user.is_regulator:
        return None
    rows = list(db.session.scalars(select(Complaint).where(Complaint.equipment_id == device.id, complaint_scope(user))
                                   .order_by(Complaint.created_at.desc()).limit(50)))
    return {"template": "complaints/_profile_section.html", "rows": rows}
