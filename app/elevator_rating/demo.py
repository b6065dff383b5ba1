"""Demo data of maintenance-unit rating (fictitious, marked （演示）): the demo maintenance unit's own
account (wb_unit, role maintenance_unit, who applies for a star rating) and four 96111 rescues. No
maintenance records are invented: patrols sample the records the maintainers make. Idempotent."""
from __future__ import annotations

from datetime import datetime, time, timedelta

from sqlalchemy import select

from ..core.clock import as_utc, today_local
from ..core.gm import hash_password
from ..core.models import Equipment, User
from ..elevators.models import ElevatorFacts, MaintenanceContract
from ..extensions import db
from .models import Rescue
from .services import BEIJING

DEMO_PASSWORD = "Demo@2026"
UNIT_USER = ("wb_unit", "覃经理（演示）", "maintenance_unit", "450102")
# (days ago, minutes to arrive, minutes to release, trapped, cause)
RESCUES = [(13, 18, 27, 2, "停电困人（演示）"), (10, 22, 41, 1, "门锁回路故障（演示）"), (6, 15, 24, 3, "层门卡阻（演示）"),
           (2, 12, None, 0, "误报警（演示）")]


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
    made = {"rescues": 0}
    if not lifts:
        return made
    today = today_local()
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
