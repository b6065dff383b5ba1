"""The profile sections the registry itself contributes: inspection reports, cases, SMS sent about the
device and the device's change log (hazards add theirs in app/hazards/profile.py)."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from ..cases.models import Case
from ..core.scope import case_scope
from ..extensions import db
from ..inspections.models import InspectionReport
from .profile import profile_section
from .services import FIELD_LABELS, SOURCE_LABELS, changes_of

LIMIT = 50


@profile_section("reports", "检验报告", order=10)
def reports_section(device, user):
    rows = list(db.session.scalars(select(InspectionReport).where(InspectionReport.equipment_id == device.id)
                                   .options(joinedload(InspectionReport.agency))
                                   .order_by(InspectionReport.inspected_on.desc(), InspectionReport.id.desc())
                                   .limit(LIMIT)))
    return {"template": "registry/_section_reports.html", "rows": rows}


@profile_section("cases", "相关案件", order=20)
def cases_section(device, user):
    rows = list(db.session.scalars(select(Case).where(Case.equipment_id == device.id, case_scope(user))
                                   .order_by(Case.created_at.desc()).limit(LIMIT)))
    return {"template": "registry/_section_cases.html", "rows": rows}


@profile_section("sms", "短信预警记录", order=60)
def sms_section(device, user):
    from ..sms.models import SmsMessage
    from ..sms.records import message_scope
    scope = message_scope(user)
    if scope is None:
        return None
    rows = list(db.session.scalars(select(SmsMessage).where(SmsMessage.equipment_id == device.id, scope)
                                   .order_by(SmsMessage.created_at.desc(), SmsMessage.id.desc()).limit(LIMIT)))
    return {"template": "registry/_section_sms.html", "rows": rows}


@profile_section("changes", "档案变更记录", order=90)
def changes_section(device, user):
    return {"template": "registry/_section_changes.html", "rows": changes_of(device, LIMIT),
            "labels": FIELD_LABELS, "sources": SOURCE_LABELS}
