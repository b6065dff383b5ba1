"""Cylinder demo data (fictitious, marked （演示））: a maker with a portal account, two fillers in 兴宁区
(one holding a filling licence, one without), tags, a scale, a factory batch commissioned by the
licensed filler, registered cylinders with fillings. Idempotent: creates what is missing."""
from __future__ import annotations

import hashlib
from datetime import datetime, time, timedelta, timezone

from sqlalchemy import select

from ..core.clock import DISPLAY_TZ, today_local
from ..core.gm import hash_password
from ..core.models import OrgContact, Organization, User
from ..core.validators import uscc_check_char
from ..extensions import db
from .models import Cylinder, CylinderBatch, CylinderFilling, CylinderUnit, FillingScale

ORGS = [  # key, name, region, address, contact, tags
    ("cyl_maker", "广西演示气瓶制造有限公司（演示）", "450102", "南宁市兴宁区演示工业园8号", "黎制造", ("maker",)),
    ("cyl_filler", "南宁市演示燃气充装站有限公司（演示）", "450102", "南宁市兴宁区演示燃气路3号", "罗充装", ("civil",)),
    ("cyl_filler_b", "南宁市演示工业气体有限公司（演示）", "450102", "南宁市兴宁区演示园区9号", "甘气体",
     ("industrial",)),
]
USERS = [  # username, display, role, org key
    ("cyl_maker", "黎制造（演示）", "cylinder_maker", "cyl_maker"),
    ("cyl_filler", "罗充装（演示）", "filling_unit", "cyl_filler"),
    ("cyl_filler_b", "甘气体（演示）", "filling_unit", "cyl_filler_b"),
]


def _uscc(key: str, region: str) -> str:
    body = "".join(str(int(c, 16) % 10) for c in hashlib.sha256(key.encode()).hexdigest()[:9])
    first17 = "91" + region + body
    return first17 + uscc_check_char(first17)


def seed_cylinders(iterations: int, password: str) -> None:
    from ..registry.models import UnitLicence
    today = today_local()
    orgs = {}
    for key, name, region, address, contact, tags in ORGS:
        uscc = _uscc(key, region)
        org = db.session.scalar(select(Organization).where(Organization.uscc == uscc))
        if org is None:
            org = Organization(uscc=uscc, name=name, kind="manufacturer" if key == "cyl_maker" else "filling_unit",
                               region_code=region, address=address, contact_name=contact, kinds="")
            db.session.add(org)
            db.session.flush()
            row = OrgContact(org_id=org.id, duty="principal", name=f"{contact}（演示）")
            row.set_phone(str(17000000000 + org.id * 10))
            db.session.add(row)
        orgs[key] = org
        for tag in tags:
            if db.session.scalar(select(CylinderUnit.id).where(CylinderUnit.org_id == org.id,
                                                               CylinderUnit.tag == tag)) is None:
                db.session.add(CylinderUnit(org_id=org.id, tag=tag, region_code=region))
    for username, display, role, org_key in USERS:
        if db.session.scalar(select(User.id).where(User.username == username)) is None:
            db.session.add(User(username=username, display_name=display, role=role, region_code="450102",
                                org_id=orgs[org_key].id, password_hash=hash_password(password, iterations)))
    licences = [(orgs["cyl_filler"], "filling", "TS4245001-DEMO", "液化石油气瓶充装"),
                (orgs["cyl_maker"], "production", "TS2245002-DEMO", "B3 焊接气瓶制造")]
    for org, kind, cert_no, item in licences:
        if db.session.scalar(select(UnitLicence.id).where(UnitLicence.cert_no == cert_no)) is None:
            db.session.add(UnitLicence(org_id=org.id, kind=kind, cert_no=cert_no, item=item,
                                       issued_on=today - timedelta(days=700), expiry_date=today + timedelta(days=760)))
    filler, maker = orgs["cyl_filler"], orgs["cyl_maker"]
    scale = db.session.scalar(select(FillingScale).where(FillingScale.code == "CZC-DEMO-01"))
    if scale is None:
        scale = FillingScale(org_id=filler.id, code="CZC-DEMO-01", name="1号充装秤（演示）", region_code=filler.region_code,
                             locked=False)
        db.session.add(scale)
        db.session.add(FillingScale(org_id=filler.id, code="CZC-DEMO-02", name="2号充装秤（演示，已锁定）",
                                    region_code=filler.region_code, locked=True, lock_reason="检定过期（演示）"))
    db.session.flush()
    batch = db.session.scalar(select(CylinderBatch).where(CylinderBatch.maker_org_id == maker.id,
                                                          CylinderBatch.batch_no == "PH2026-DEMO-01"))
    if batch is None:
        made = today - timedelta(days=60)
        batch = CylinderBatch(maker_org_id=maker.id, batch_no="PH2026-DEMO-01", product_name="YSP15 液化石油气钢瓶",
                              kind="civil_lpg", medium="液化石油气", volume_l=35.5, nominal_pressure_mpa=2.1,
                              manufacture_date=made, design_life_years=8, client_org_id=filler.id,
                              region_code=maker.region_code, certificate_ids="[]", note="演示批次")
        db.session.add(batch)
        db.session.flush()
        for n in range(1, 6):           # registered, in the filler's hands, with fillings
            c = Cylinder(trace_code=f"GXQP-DEMO-{n:04d}", factory_no=f"DEMO{n:05d}", maker_org_id=maker.id,
                         maker_name=maker.name, batch_id=batch.id, batch_no=batch.batch_no, kind="civil_lpg",
                         medium="液化石油气", volume_l=35.5, nominal_pressure_mpa=2.1, manufacture_date=made,
                         design_life_years=8, owner_org_id=filler.id, region_code=filler.region_code,
                         reg_state="registered", registration_no=f"瓶桂A-DEMO-{n:04d}",
                         last_inspection_date=None, next_inspection_date=made.replace(year=made.year + 4),
                         status="in_use")
            db.session.add(c)
            db.session.flush()
            for k in range(2):
                at = datetime.combine(today - timedelta(days=3 + 7 * k + n), time(9, 30), tzinfo=DISPLAY_TZ).astimezone(timezone.utc)
                db.session.add(CylinderFilling(filled_at=at, cylinder_id=c.id, trace_code=c.trace_code,
                                               filler_org_id=filler.id, region_code=filler.region_code,
                                               scale_id=scale.id, operator_name="覃充装工（演示）", pre_check="pass",
                                               medium=c.medium, weight_kg=14.8, post_check="pass", result="filled",
                                               source="web"))
        for n in range(6, 11):          # leave the factory unregistered: 代办 demo
            db.session.add(Cylinder(trace_code=f"GXQP-DEMO-{n:04d}", factory_no=f"DEMO{n:05d}", maker_org_id=maker.id,
                                    maker_name=maker.name, batch_id=batch.id, batch_no=batch.batch_no,
                                    kind="civil_lpg", medium="液化石油气", volume_l=35.5, nominal_pressure_mpa=2.1,
                                    manufacture_date=made, design_life_years=8, owner_org_id=filler.id,
                                    region_code=filler.region_code, reg_state="unregistered", status="in_use",
                                    next_inspection_date=made.replace(year=made.year + 4)))
    db.session.flush()


def demo_accounts() -> list[dict]:
    rows = []
    for username, display, role, _org in USERS:
        user = db.session.scalar(select(User).where(User.username == username))
        if user is not None:
            rows.append({"username": username, "role": role, "role_label": user.role_label,
                         "region": f"{user.region.name} ({user.region_code})",
                         "organization": user.org.name if user.org else None, "display_name": display})
    return rows



