"""Demo data of paperless elevator maintenance (fictitious, marked （演示）): the TSG T5002 items, elevator
facts and a one-year contract for every demo lift maintained by the demo maintenance unit, plans, and
the people of the sign-off loop — three maintainers (one with an expired T certificate, for the
refusal), the unit's quality manager and the 兴宁区 use unit's safety manager. Idempotent."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from ..core.clock import today_local
from ..core.gm import hash_password
from ..core.models import Equipment, Organization, User
from ..extensions import db
from ..operators.demo import id_number
from ..operators.models import Operator, OperatorCertificate, id_number_index
from ..operators.services import add_years, certificate_expiry
from .models import ElevatorFacts, MaintenanceContract
from .services import generate_plans, seed_items

DEMO_PASSWORD = "Demo@2026"
PHONE_BASE = 17000008500

# username, display name, role, region, org ("maint" or an app/demo.py ORGS key), operator ID first 17,
# T certificate: days until expiry (negative: expired) or None (no operator record)
PEOPLE = [
    ("wb_qin", "覃维保（演示）", "elevator_maintainer", "450102", "maint", "45010219860415133", 700),
    ("wb_lu", "陆协作（演示）", "elevator_maintainer", "450102", "maint", "45010319920808121", 400),
    ("wb_mo", "莫过期（演示）", "elevator_maintainer", "450102", "maint", "45010219800101153", -20),
    ("wb_quality", "韦质量（演示）", "maintenance_quality", "450102", "maint", None, None),
    ("wy_xn", "黎物业（演示）", "property_manager", "450102", "unit_xn", None, None),
    ("wy_qx", "覃物业（演示）", "property_manager", "450103", "unit_qx", None, None),
]

TYPE_BY_CATEGORY = {"31": "traction", "32": "hydraulic", "3310": "escalator", "3320": "moving_walk",
                    "3430": "dumbwaiter"}
# Days before today each elevator's contract started (visits every 15 days from then; the demo plans start
# three days ago): 0 and 15 → a visit today, 3 → three days overdue, the others later this fortnight.
START_OFFSETS = [0, 3, 15, 8, 10, 12]


def elevator_type_for(category: str) -> str:
    return TYPE_BY_CATEGORY.get(category, TYPE_BY_CATEGORY.get(category[:2], "traction"))


def seed_elevators(orgs: dict[str, Organization], iterations: int) -> dict:
    seed_items()
    from ..registry.demo import _maintainer
    maint = _maintainer()
    today = today_local()
    for n, (username, display, role, region, org_key, first17, cert_days) in enumerate(PEOPLE):
        org = maint if org_key == "maint" else orgs[org_key]
        user = db.session.scalar(select(User).where(User.username == username))
        if user is None:
            user = User(username=username, display_name=display, role=role, region_code=region, org_id=org.id,
                        password_hash=hash_password(DEMO_PASSWORD, iterations))
            user.set_phone(str(PHONE_BASE + n))
            db.session.add(user)
            db.session.flush()
        if first17:
            number = id_number(first17)
            if db.session.scalar(select(Operator.id).where(Operator.id_number_bidx == id_number_index(number))) is None:
                op = Operator(name=display, education="高中或中专", address=org.address, user_id=user.id)
                op.set_id_number(number)
                op.set_phone(str(PHONE_BASE + 50 + n))
                db.session.add(op)
                db.session.flush()
                issue = add_years(today + timedelta(days=cert_days), -4)
                db.session.add(OperatorCertificate(operator_id=op.id, cert_no=f"GX{issue.year}T{9100 + n:04d}",
                                                   work_item="T", issue_date=issue,
                                                   expiry_date=certificate_expiry(issue),
                                                   issuing_authority="南宁市市场监督管理局"))
    lifts = list(db.session.scalars(select(Equipment).where(Equipment.kind_code == "3000",
                                                            Equipment.maintenance_org_id == maint.id)
                                    .order_by(Equipment.id)))
    made = 0
    for i, e in enumerate(lifts):
        if db.session.scalar(select(ElevatorFacts.id).where(ElevatorFacts.equipment_id == e.id)) is not None:
            continue
        kind = elevator_type_for(e.category_code)
        moving = kind in ("escalator", "moving_walk")
        db.session.add(ElevatorFacts(equipment_id=e.id, elevator_type=kind, floors=None if moving else 12 + (i % 3) * 6,
                                     speed=0.5 if moving else (1.75 if i % 2 else 2.5),
                                     rated_load=None if moving else (1000 if i % 2 else 1350),
                                     rescue_code=f"{e.region_code[:4]}{e.id:06d}",
                                     site=f"{e.use_org.name.split('有限公司')[0].replace('（演示）', '')} {i % 3 + 1}号楼"))
        starts = today - timedelta(days=START_OFFSETS[i % len(START_OFFSETS)])
        contract = MaintenanceContract(equipment_id=e.id, maintenance_org_id=maint.id, use_org_id=e.use_org_id,
                                       contract_no=f"WBHT-DEMO-{e.id:05d}", starts_on=starts,
                                       ends_on=starts + timedelta(days=364), cycle_days=15,
                                       quality_sign_required=(i % 2 == 1))
        db.session.add(contract)
        db.session.flush()
        generate_plans(contract, from_day=today - timedelta(days=3))   # no fictitious history: from 3 days ago
        made += 1
    db.session.flush()
    return {"elevators": made}


def elevator_accounts() -> list[dict]:
    rows = []
    for username, display, *_ in PEOPLE:
        user = db.session.scalar(select(User).where(User.username == username))
        if user is not None:
            rows.append({"username": username, "password": DEMO_PASSWORD, "role": user.role,
                         "role_label": user.role_label, "region": f"{user.region.name} ({user.region_code})",
                         "organization": user.org.name if user.org else None, "display_name": display})
    return rows
