"""Demo data of maintenance-unit rating (fictitious, marked （演示）): the demo maintenance unit's own
account (wb_unit, role maintenance_unit, who applies for a star rating), eight archived maintenance
records of the last two months to patrol, and four 96111 rescues. Idempotent."""
from __future__ import annotations

from datetime import datetime, time, timedelta

from sqlalchemy import select

from ..core.clock import as_utc, today_local
from ..core.gm import hash_password
from ..core.models import Equipment, User
from ..elevators.models import ElevatorFacts, MaintenanceContract, WorkOrder
from ..extensions import db
from .models import Rescue
from .services import BEIJING

DEMO_PASSWORD = "Demo@2026"
UNIT_USER = ("wb_unit", "覃经理（演示）", "maintenance_unit", "450102")
# (days ago, minutes to arrive, minutes to release, trapped, cause)
RESCUES = [(40, 18, 27, 2, "停电困人（演示）"), (25, 22, 41, 1, "门锁回路故障（演示）"), (12, 15, 24, 3, "层门卡阻（演示）"),
           (5, 12, None, 0, "误报警（演示）")]


def seed_rating(iterations: int) -> dict:
    from ..registry.demo import _maintainer
    maint = _maintainer()
    username, display, role, region = UNIT_USER
    if db.session.scalar(select(User.id).where(User.username == username)) is None:
        user = User(username=username, display_name=display, role=role, region_code=region, org_id=maint.id,
                    password_hash=hash_password(DEMO_PASSWORD, iterations))
        user.set_phone("17000008590")
        db.session.add(user)
        db.session.flush()
    lifts = list(db.session.execute(
        select(Equipment, MaintenanceContract).join(MaintenanceContract, MaintenanceContract.equipment_id == Equipment.id)
        .where(MaintenanceContract.maintenance_org_id == maint.id).order_by(Equipment.id)).all())
    maintainer = db.session.scalar(select(User).where(User.username == "wb_qin"))
    made = {"orders": 0, "rescues": 0}
    if not lifts or maintainer is None:
        return made
    today = today_local()
    for n in range(8):
        client_id = f"demo-rating-{n}"
        if db.session.scalar(select(WorkOrder.id).where(WorkOrder.client_id == client_id)) is not None:
            continue
        equipment, contract = lifts[n % len(lifts)]
        day = today - timedelta(days=7 + 6 * n)
        start = as_utc(datetime.combine(day, time(9 + n % 5, 10), BEIJING))
        db.session.add(WorkOrder(client_id=client_id, order_no=f"WB{day:%Y%m%d}9{n:04d}", kind="maintenance",
                                 equipment_id=equipment.id, maintenance_org_id=maint.id, use_org_id=equipment.use_org_id,
                                 region_code=equipment.region_code, maint_type="HALF", maintainer_id=maintainer.id,
                                 status="archived", checkin_at=start, checkin_lat=equipment.lat or 22.8,
                                 checkin_lng=equipment.lng or 108.3, checkin_distance=12 + n,
                                 checkout_at=start + timedelta(minutes=45 + 5 * n), checkout_lat=equipment.lat or 22.8,
                                 checkout_lng=equipment.lng or 108.3, checkout_distance=10 + n,
                                 submitted_at=start + timedelta(minutes=50 + 5 * n),
                                 archived_at=start + timedelta(hours=3), remark="演示历史维保记录"))
        made["orders"] += 1
    for n, (ago, arrive, release, trapped, cause) in enumerate(RESCUES):
        rescue_no = f"96111-DEMO-{n + 1:04d}"
        if db.session.scalar(select(Rescue.id).where(Rescue.rescue_no == rescue_no)) is not None:
            continue
        equipment, _contract = lifts[(n * 2) % len(lifts)]
        alarm = as_utc(datetime.combine(today - timedelta(days=ago), time(8 + n * 3, 5), BEIJING))
        if db.session.scalar(select(ElevatorFacts.id).where(ElevatorFacts.equipment_id == equipment.id)) is None:
            continue
        db.session.add(Rescue(rescue_no=rescue_no, equipment_id=equipment.id, maintenance_org_id=maint.id,
                              region_code=equipment.region_code, alarm_at=alarm,
                              arrived_at=alarm + timedelta(minutes=arrive),
                              released_at=alarm + timedelta(minutes=release) if release else None, trapped=trapped,
                              cause=cause, source="import"))
        made["rescues"] += 1
    db.session.flush()
    return made


def rating_accounts() -> list[dict]:
    user = db.session.scalar(select(User).where(User.username == UNIT_USER[0]))
    if user is None:
        return []
    return [{"username": user.username, "password": DEMO_PASSWORD, "role": user.role, "role_label": user.role_label,
             "region": f"{user.region.name} ({user.region_code})", "organization": user.org.name if user.org else None,
             "display_name": user.display_name}]
