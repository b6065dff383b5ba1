"""The hazards section of the device profile page: the device's major hazards, and its failing inspection
reports with whether a hazard was reported for each (technical units and regulators report from here)."""
from __future__ import annotations

from sqlalchemy import select

from ..extensions import db
from ..registry.profile import profile_section
from .models import Hazard
from .services import hazard_scope

REPORTERS = ("inspection_agency", "maintenance_unit")


@profile_section("hazards", "重大事故隐患", order=30)
def hazards_section(device, user):
    from ..inspections.conclusions import FAILING
    from ..inspections.models import InspectionReport
    rows = list(db.session.scalars(select(Hazard).where(Hazard.equipment_id == device.id, hazard_scope(user))
                                   .order_by(Hazard.created_at.desc()).limit(50)))
    failing = list(db.session.scalars(select(InspectionReport).where(
        InspectionReport.equipment_id == device.id, InspectionReport.conclusion.in_(FAILING))
        .order_by(InspectionReport.inspected_on.desc()).limit(20)))
    reported = set(db.session.scalars(select(Hazard.inspection_report_id).where(
        Hazard.inspection_report_id.in_([r.id for r in failing]), Hazard.deleted_at.is_(None)))) if failing else set()
    may_report = user.role in REPORTERS or user.is_regulator
    return {"template": "hazards/_profile_section.html", "rows": rows, "failing": failing, "reported": reported,
            "may_report": may_report}
