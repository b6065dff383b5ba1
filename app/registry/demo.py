"""Registry facts of the demo devices (fictitious, marked （演示）): makers, dates, coordinates, a
maintenance unit for the lifts, one inspection report per device, and the devices the overdue campaign,
the design-life page and the simple-pressure-vessel page show. Idempotent: fills what is missing."""
from __future__ import annotations

import hashlib
from datetime import date, timedelta

from sqlalchemy import select

from ..core.clock import today_local
from ..core.models import Equipment, OrgContact, Organization
from ..core.movable import is_movable_category
from ..core.validators import uscc_check_char
from ..extensions import db
from ..inspections import conclusions
from ..inspections.models import InspectionReport
from . import due, life
from .catalogue import lineage

MAINTAINER = ("南宁市演示电梯工程有限公司（演示）", "450102", "南宁市兴宁区演示工业园5号")
MAKERS = {"3": "广西演示电梯有限公司（演示）", "1": "演示锅炉制造有限公司（演示）", "2": "演示压力容器制造有限公司（演示）",
          "4": "演示起重机械有限公司（演示）", "5": "演示叉车制造有限公司（演示）"}
INTERVAL_YEARS = {"3": 1, "1": 1, "2": 3, "4": 2, "5": 1}
# Approximate positions of the demo units' districts (WGS 84), for maps.
POINTS = {"450102": (22.8192, 108.3690), "450103": (22.8135, 108.3840), "450202": (24.3120, 109.4140)}

# (org key, variety, name, next due in days from today (None: no report), commissioned (None: 8 years
# ago), declared design life, simple pressure vessel, life registration changed)
EXTRA = [
    ("unit_xn", "3110", "曳引驱动乘客电梯 7号", -40, None, None, False, False),
    ("unit_xn", "3110", "曳引驱动乘客电梯 8号", -100, None, None, False, False),
    ("unit_xn", "3120", "曳引驱动载货电梯 1号", -10, None, None, False, False),
    ("unit_xn", "3110", "曳引驱动乘客电梯 9号", 45, None, None, False, False),
    ("unit_qx", "2150", "第二类压力容器 3号", 200, date(2005, 3, 1), None, False, False),
    ("unit_qx", "2150", "第二类压力容器 4号", 400, date(2007, 6, 1), 20, False, False),
    ("unit_qx", "2150", "第二类压力容器 5号", 300, date(2004, 5, 1), 20, False, True),
    ("unit_qx", "2170", "储气罐（简单压力容器）1号", None, date(2010, 4, 1), 15, True, False),
    ("unit_qx", "2170", "储气罐（简单压力容器）2号", None, date(2020, 9, 1), 10, True, False),
]


def _maintainer() -> Organization:
    name, region, address = MAINTAINER
    first17 = "91" + region + "".join(str(int(c, 16) % 10) for c in hashlib.sha256(b"maint_xn").hexdigest()[:9])
    uscc = first17 + uscc_check_char(first17)
    org = db.session.scalar(select(Organization).where(Organization.uscc == uscc))
    if org is None:
        org = Organization(uscc=uscc, name=name, kind="maintenance_unit", region_code=region, address=address,
                           contact_name="覃维保", kinds="", lat=POINTS[region][0], lng=POINTS[region][1])
        db.session.add(org)
        db.session.flush()
        contact = OrgContact(org_id=org.id, duty="principal", name="覃维保负责人（演示）")
        contact.set_phone(str(17000000000 + org.id * 10))
        db.session.add(contact)
    return org


def seed_registry(orgs: dict, first_seq: int) -> None:
    today = today_local()
    maintainer = _maintainer()
    agency = orgs["agency"]
    for key, org in orgs.items():
        if org.lat is None and org.region_code in POINTS:
            org.lat, org.lng = POINTS[org.region_code]
    seq = first_seq
    for org_key, variety, name, next_in, commissioned, life_years, simple, changed in EXTRA:
        seq += 1
        code = f"{variety}45001{2004 + seq % 9}{seq:05d}"
        org = orgs[org_key]
        if db.session.scalar(select(Equipment.id).where(Equipment.code == code)) is None:
            e = Equipment(code=code, name=name, category_code=variety, use_org_id=org.id, region_code=org.region_code,
                          registered_region_code=org.region_code, movable=is_movable_category(variety),
                          address=org.address, status="in_use", commissioning_date=commissioned,
                          design_life_years=life_years, design_life_source="declared" if life_years else None,
                          simple_pressure_vessel=simple)
            db.session.add(e)
            db.session.flush()
            e.next_inspection_date = today + timedelta(days=next_in) if next_in is not None else None
            if changed:
                e.life_assessed_on = e.life_registration_changed_on = date(2024, 6, 1)
    db.session.flush()
    _licences(agency, maintainer, today)
    org_ids = [o.id for o in orgs.values()]
    for n, e in enumerate(db.session.scalars(select(Equipment).where(Equipment.use_org_id.in_(org_ids))
                                             .order_by(Equipment.id))):
        _fill(e, n, maintainer, agency, today)
    db.session.flush()


def _fill(e: Equipment, n: int, maintainer: Organization, agency: Organization, today: date) -> None:
    """Facts a registered device carries; one report whose next due date is the device's."""
    kind, _klass = lineage(e.category_code)
    variety_year = int(e.code[9:13]) if e.code[9:13].isdigit() else 2015
    e.kind_code, e.class_code = lineage(e.category_code)
    e.maker_name = e.maker_name or MAKERS.get(e.category_code[0], "演示特种设备制造有限公司（演示）")
    e.factory_no = e.factory_no or f"SN{e.code[-9:]}"
    e.model = e.model or {"3": "TKJ1000/1.75-JXW", "2": "V=2m³ P=0.8MPa", "1": "WNS4-1.25-Y", "4": "QD10t-22.5m",
                          "5": "CPCD30"}.get(e.category_code[0])
    e.manufacture_date = e.manufacture_date or min(date(variety_year, 3, 1), (e.commissioning_date or today) - timedelta(days=90))
    e.commissioning_date = e.commissioning_date or min(date(variety_year, 9, 1), today - timedelta(days=365))
    if e.reg_code is None:
        e.reg_code = f"{e.category_code}{e.region_code}{e.commissioning_date:%Y%m}{n % 10000:04d}"
    if e.registration_no is None and not e.simple_pressure_vessel:
        # Simple pressure vessels are exempt from use registration; every other device is registered.
        prefix = {"1": "锅", "2": "容", "3": "梯", "4": "起", "5": "车"}.get(e.category_code[0], "设")
        e.registration_no = f"{prefix}{e.category_code[1:3]}桂A{e.id:05d}({e.commissioning_date.year % 100:02d})"
    if e.lat is None and e.region_code in POINTS:
        lat, lng = POINTS[e.region_code]
        e.lat, e.lng = round(lat + (n % 7) * 0.0013, 6), round(lng + (n % 5) * 0.0017, 6)
    if kind == "3000" and e.maintenance_org_id is None:
        e.maintenance_org_id = maintainer.id
    life.apply(e)
    has_report = db.session.scalar(select(InspectionReport.id).where(InspectionReport.equipment_id == e.id).limit(1))
    if not has_report and e.next_inspection_date is not None:
        years = INTERVAL_YEARS.get(e.category_code[0], 1)
        inspected = life.add_years(e.next_inspection_date, -years)
        if inspected > today:
            inspected = today - timedelta(days=30)
        passing = [c for c in conclusions.for_kind(kind) if c not in conclusions.FAILING][0]
        db.session.add(InspectionReport(report_no=f"JY-DEMO-{e.code}", equipment_id=e.id, agency_org_id=agency.id,
                                        region_code=e.region_code, inspection_type="periodic", inspected_on=inspected,
                                        conclusion=passing, next_due_date=e.next_inspection_date, source="system"))
        e.last_inspected_on, e.last_conclusion = inspected, passing
    due.refresh(e, today)


def _licences(agency: Organization, maintainer: Organization, today: date) -> None:
    """An agency approval and a maintenance licence nearing expiry, and an inspector's certificate (the
    expiry warnings of the SMS centre read them)."""
    from .models import InspectorCertificate, UnitLicence
    rows = [UnitLicence(org_id=agency.id, kind="agency_approval", cert_no="TS7145001-DEMO", item="电梯、起重机械定期检验",
                        issued_on=today - timedelta(days=4 * 365 - 60), expiry_date=today + timedelta(days=60)),
            UnitLicence(org_id=maintainer.id, kind="maintenance", cert_no="TS3445002-DEMO", item="曳引驱动乘客电梯维护保养",
                        issued_on=today - timedelta(days=4 * 365 - 20), expiry_date=today + timedelta(days=20)),
            InspectorCertificate(org_id=agency.id, person_name="周检验（演示）", cert_name="电梯检验员证",
                                 cert_no="DTY450000-DEMO", expiry_date=today + timedelta(days=45))]
    for row in rows:
        model = type(row)
        if db.session.scalar(select(model.id).where(model.cert_no == row.cert_no)) is None:
            db.session.add(row)
