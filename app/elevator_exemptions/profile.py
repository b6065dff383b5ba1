"""The exemption section of the registry's device page: whether the elevator is exempt from paperless
maintenance (approval number, validity) and the applications that listed it."""
from __future__ import annotations

from sqlalchemy import select

from ..core.clock import today_local
from ..core.regions import office_name
from ..extensions import db
from ..registry.profile import profile_section
from .models import Exemption, ExemptionItem
from .services import ELEVATOR_KIND, exemption_scope


@profile_section("elevator_exemption", "无需无纸化维保", order=36)
def exemption_section(device, user):
    if device.kind_code != ELEVATOR_KIND:
        return None
    rows = list(db.session.scalars(select(Exemption).join(ExemptionItem, ExemptionItem.exemption_id == Exemption.id)
                                   .where(ExemptionItem.equipment_id == device.id, exemption_scope(user))
                                   .order_by(Exemption.created_at.desc()).limit(10)))
    if not rows:
        return None
    today = today_local()
    active = next((r for r in rows if r.valid_on(today)), None)
    return {"template": "elevator_exemptions/_profile_section.html", "rows": rows, "active": active,
            "office": office_name(active.region_code) if active else None}
