"""Periodic-inspection reminders (§4.5.4 定期检验提醒 / 超期未检提醒).

特种设备安全法第四十条: the use unit applies for periodic inspection one month before the
inspection certificate expires. Equipment whose next inspection date falls within 30 days gets
one INSP_DUE_30D reminder per inspection cycle; overdue equipment gets INSP_OVERDUE once a week.
Each reminder's dedup key makes re-runs harmless.
"""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from ..core.clock import today_local
from ..core.models import Equipment, EquipmentCategory, Organization, Region
from ..core.regions import office_name
from ..extensions import db

DUE_WINDOW_DAYS = 30
REPORT_WITHIN_DAYS = 7
HOTLINE = "12315"     # 全国市场监管投诉举报热线
BATCH = 500


def send_inspection_reminders() -> tuple[int, int]:
    """Queue reminders for equipment in use whose inspection is due soon or overdue.
    Returns (messages queued, equipment considered)."""
    from ..sms import services as sms
    today = today_local()
    week = today.isocalendar()
    queued = considered = 0
    last_id = 0
    recipients_cache: dict[int, list] = {}
    while True:
        rows = db.session.execute(
            select(Equipment, EquipmentCategory.name, Organization.name, Region)
            .join(EquipmentCategory, Equipment.category_code == EquipmentCategory.code)
            .join(Organization, Equipment.use_org_id == Organization.id)
            .join(Region, Equipment.region_code == Region.code)
            .where(Equipment.status == "in_use", Equipment.next_inspection_date.is_not(None),
                   Equipment.next_inspection_date <= today + timedelta(days=DUE_WINDOW_DAYS),
                   Equipment.id > last_id)
            .order_by(Equipment.id).limit(BATCH)).all()
        if not rows:
            break
        for equipment, category_name, org_name, region in rows:
            last_id = equipment.id
            considered += 1
            if equipment.use_org_id not in recipients_cache:
                recipients_cache[equipment.use_org_id] = sms.recipients_for_org(equipment.use_org_id)
            recipients = recipients_cache[equipment.use_org_id]
            if not recipients:
                continue
            next_date = equipment.next_inspection_date.isoformat()
            params = {"unitName": org_name, "equipType": category_name, "deviceCode": equipment.code,
                      "certNo": equipment.registration_no or "未登记", "nextDate": next_date}
            if equipment.next_inspection_date >= today:
                code, dedup = "INSP_DUE_30D", f"insp-due:{equipment.id}:{next_date}"
            else:
                code = "INSP_OVERDUE"
                dedup = f"insp-overdue:{equipment.id}:{next_date}:{week[0]}W{week[1]:02d}"
                params.update(deadline=(today + timedelta(days=REPORT_WITHIN_DAYS)).isoformat(),
                              officeName=office_name(region.code), phone=HOTLINE)
            queued += len(sms.enqueue(code, params, recipients, region_code=equipment.region_code,
                                      dedup_key=dedup, equipment_id=equipment.id))
        db.session.commit()
    return queued, considered
