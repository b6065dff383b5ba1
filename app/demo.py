"""Demo data for a fresh machine: every organisation and person here is fictitious and
marked （演示）; regions, equipment categories and GB 45067 criteria are the real reference data."""
from __future__ import annotations

from datetime import timedelta

from flask import current_app
from sqlalchemy import func, select

from .cases.models import Case, Task
from .core.clock import today_local
from .core.gm import hash_password
from .security.policy import ADMIN_ROLES
from .core.movable import is_movable_category
from .core.models import Equipment, OrgContact, Organization, User
from .core.validators import synthetic_uscc
from .engine import runtime
from .extensions import db

DEMO_PASSWORD = "Demo@2026"

ORGS = [
    # key, name, kind, region, address, contact
    ("unit_xn", "南宁市兴宁区演示商业广场有限公司（演示）", "use_unit", "450102", "南宁市兴宁区演示路1号", "李安全"),
    ("unit_qx", "南宁市青秀区演示酒店有限公司（演示）", "use_unit", "450103", "南宁市青秀区演示大道8号", "王保障"),
    ("unit_lz", "柳州市演示机械制造有限公司（演示）", "use_unit", "450202", "柳州市城中区演示街3号", "陈设备"),
    ("agency", "广西演示特种设备检验检测机构（演示）", "inspection_agency", "450103", "南宁市青秀区演示检验路2号", "周检验"),
]

USERS = [
    # username, display name, role, region, org key
    ("gx_province", "覃自治区（演示）", "province_supervisor", "450000", None),
    ("nn_city", "韦南宁（演示）", "city_supervisor", "450100", None),
    ("xn_supervisor", "黄兴宁（演示）", "county_supervisor", "450102", None),
    ("qx_supervisor", "蒙青秀（演示）", "county_supervisor", "450103", None),
    ("lz_supervisor", "莫城中（演示）", "county_supervisor", "450202", None),
    ("xn_head", "陆兴宁（演示）", "approver", "450102", None),
    ("unit_xn", "李安全（演示）", "use_unit", "450102", "unit_xn"),
    ("unit_qx", "王保障（演示）", "use_unit", "450103", "unit_qx"),
    ("unit_lz", "陈设备（演示）", "use_unit", "450202", "unit_lz"),
    ("agency_gx", "周检验（演示）", "inspection_agency", "450103", "agency"),
    ("process_admin", "流程管理员（演示）", "process_admin", "450000", None),
    ("sys_admin", "系统管理员（演示）", "sys_admin", "450000", None),
    ("sec_admin", "安全管理员（演示）", "sec_admin", "450000", None),
    ("audit_admin", "审计管理员（演示）", "audit_admin", "450000", None),
]

# Fictitious numbers in the 170 (virtual operator) block; the local SMS provider never sends.
DEMO_PHONE_BASE = 17000000000

# (duty, name suffix) of each demo organisation's contacts (§4.5.4 recipients)
CONTACT_DUTIES = [("principal", "负责人"), ("safety_director", "安全总监"), ("safety_officer", "安全员")]

# (org key, variety code, name, count)
EQUIPMENT = [
    ("unit_xn", "3110", "曳引驱动乘客电梯", 6), ("unit_xn", "3310", "自动扶梯", 2),
    ("unit_xn", "1100", "承压蒸汽锅炉", 1),
    ("unit_qx", "3110", "曳引驱动乘客电梯", 4), ("unit_qx", "2150", "第二类压力容器", 2),
    ("unit_lz", "4110", "通用桥式起重机", 3), ("unit_lz", "5110", "叉车", 3),
]


_uscc = synthetic_uscc


def seed(iterations: int | None = None, with_cases: bool = True) -> dict:
    """Idempotent: creates what is missing, changes nothing that exists."""
    from .core.reference_data import upsert_equipment_categories, upsert_hazard_criteria, upsert_regions
    upsert_regions()
    upsert_equipment_categories()
    upsert_hazard_criteria()
    from .sms.templates import ensure_templates
    ensure_templates()
    from .calendar.services import ensure_builtin_years
    ensure_builtin_years()      # 2026 holidays (国务院办公厅通知) and 2027 as 未发布
    iterations = iterations or current_app.config.get("PASSWORD_ITERATIONS", 600_000)
    orgs = {}
    for key, name, kind, region, address, contact in ORGS:
        uscc = _uscc(key, region)
        org = db.session.scalar(select(Organization).where(Organization.uscc == uscc))
        if org is None:
            org = Organization(uscc=uscc, name=name, kind=kind, region_code=region, address=address,
                               contact_name=contact)
            db.session.add(org)
            db.session.flush()
            for n, (duty, suffix) in enumerate(CONTACT_DUTIES):
                contact_row = OrgContact(org_id=org.id, duty=duty, name=f"{contact[0]}{suffix}（演示）")
                contact_row.set_phone(str(DEMO_PHONE_BASE + org.id * 10 + n))
                db.session.add(contact_row)
        orgs[key] = org
    for n, (username, display, role, region, org_key) in enumerate(USERS):
        if db.session.scalar(select(User).where(User.username == username)) is None:
            user = User(username=username, display_name=display, role=role, region_code=region,
                        org_id=orgs[org_key].id if org_key else None,
                        password_hash=hash_password(DEMO_PASSWORD, iterations))
            user.set_phone(str(DEMO_PHONE_BASE + 9000 + n))
            if role in ADMIN_ROLES:
                _bind_demo_totp(user)
            db.session.add(user)
    seq = 0
    for org_key, variety, name, count in EQUIPMENT:
        org = orgs[org_key]
        for i in range(1, count + 1):
            seq += 1
            code = f"{variety}45001{2015 + seq % 9}{seq:05d}"
            if db.session.scalar(select(Equipment).where(Equipment.code == code)) is None:
                db.session.add(Equipment(code=code, name=f"{name} {i}号", category_code=variety, use_org_id=org.id,
                                         registration_no=_demo_registration_no(variety, seq),
                                         region_code=org.region_code, registered_region_code=org.region_code,
                                         movable=is_movable_category(variety), address=org.address, status="in_use",
                                         next_inspection_date=today_local() + timedelta(days=30 * (seq % 12 + 1))))
    db.session.flush()
    from .registry.demo import seed_registry
    seed_registry(orgs, seq)           # registry facts, inspection reports, overdue / design-life demo devices
    from .operators.demo import seed_operators
    seed_operators(iterations, orgs)   # 作业人员 (§4.5.7): op_* accounts, certificates, employments
    from .elevators.demo import seed_elevators
    seed_elevators(orgs, iterations)   # 电梯无纸化维保 (§4.6): items, elevator facts, contracts, plans, wb_*/wy_* accounts
    from .elevator_rating.demo import seed_rating
    seed_rating(iterations)            # 维保单位评价 (§4.6.6–4.6.7): wb_unit account, archived records to patrol, 96111 rescues
    from .cylinders.demo import seed_cylinders
    seed_cylinders(iterations, DEMO_PASSWORD)   # 气瓶 (§4.4): a maker, two fillers, batch, cylinders, fillings
    from .supervision.demo import seed_supervision
    seed_supervision(iterations, orgs)  # 监督检查 checklists; 证后监督检查 expert pool, units, accounts
    from .inbox.services import seed_examples
    seed_examples()                    # shared 常用筛选: 本辖区红色预警, 本周到期 (app/inbox)
    cases = _seed_cases() if with_cases and not db.session.scalar(select(func.count(Case.id))) else 0
    # the same accounts `flask demo accounts` lists (operators' personal accounts included)
    return {"organizations": len(orgs), "users": len(accounts()), "cases_created": cases}


# 使用登记证编号 of the demo equipment: the usual "<设备类别简称>11桂A<序号>(<年>)" shape, fictitious like the rest.
_REGISTRATION_PREFIX = {"1": "锅", "2": "容", "3": "梯", "4": "起", "5": "车", "6": "游", "8": "管", "9": "索"}


def _demo_registration_no(variety: str, seq: int) -> str:
    return f"{_REGISTRATION_PREFIX.get(variety[0], '设')}11桂A{seq:05d}({15 + seq % 9:02d})"


def _bind_demo_totp(user: User) -> None:
    """Demo administrators come with a bound authenticator, so the demo works without a phone:
    `flask demo otp <username>` prints the current code. Real accounts enrol at first login."""
    import uuid

    from .core.gm import new_totp_secret
    from .core.pii import encrypt
    user.totp_ref = uuid.uuid4().hex
    user.totp_secret_enc = encrypt(new_totp_secret(), table="user_account", column="totp_secret", ref=user.totp_ref)


def _user(name: str) -> User:
    return db.session.scalar(select(User).where(User.username == name))


def _open_task(case: Case) -> Task:
    return db.session.scalar(select(Task).where(Task.case_id == case.id, Task.status == "open"))


def _seed_cases() -> int:
    """A few hazard cases at different steps, driven through the real engine."""
    today = today_local()
    xn, unit = _user("xn_supervisor"), _user("unit_xn")
    units_eq = list(db.session.scalars(select(Equipment).where(Equipment.use_org_id == unit.org_id)
                                       .order_by(Equipment.id)))

    def report(user, equipment, criterion, days, text):
        return runtime.start_case("major_hazard", user, {
            "equipment_code": equipment.code, "criterion_id": criterion, "description": text,
            "found_on": today.isoformat(), "rectify_deadline": (today + timedelta(days=days)).isoformat()})

    def dispatch(case, days):
        runtime.complete_task(_open_task(case).id, xn, {
            "dispatch_decision": "dispatch", "requirements": "立即停止使用，按判定准则要求整改并提交证明材料。",
            "rectify_deadline": (today + timedelta(days=days)).isoformat(), "opinion": "认定属实，派单督办。"})

    created = 0
    report(xn, units_eq[0], "GB45067-4.6a", 30, "该电梯定期检验结论为“不合格”，使用单位仍继续投入使用。")
    created += 1
    c2 = report(xn, units_eq[1], "GB45067-4.6c", 40, "现场检查发现限速器-安全钳联动试验失效，电梯仍在运行。")
    dispatch(c2, 5)
    c3 = report(xn, units_eq[2], "GB45067-4.6b", 40, "现场检查发现层门门锁安全回路被短接，电梯仍在运行。")
    dispatch(c3, 15)
    c4 = report(xn, units_eq[6], "GB45067-4.6d", 40, "自动扶梯下端站紧急停止开关失效，扶梯仍在运行。")
    dispatch(c4, 25)
    created += 3
    # 移动式设备交接: 柳州 unit's first forklift waits for review by 兴宁区 (xn_supervisor).
    lz_unit = _user("unit_lz")
    forklift = db.session.scalar(select(Equipment).where(Equipment.use_org_id == lz_unit.org_id,
                                                         Equipment.category_code == "5110").order_by(Equipment.id))
    if forklift is not None:
        runtime.start_case("equipment_transfer", lz_unit, {
            "equipment_codes": [forklift.code], "to_region": "450102",
            "reason": "叉车随项目调往南宁市兴宁区仓储基地作业，预计作业一年。"})
        created += 1
    from .complaints.demo import seed_complaints
    created += seed_complaints()       # 投诉举报: one from the public page, one from the hotline (accepted)
    from .general_hazards.demo import seed_hazards2
    created += seed_hazards2()         # 隐患管理: a checking plan, a general hazard to accept, a published 通报
    from .elevator_exemptions.demo import seed_exemptions
    created += seed_exemptions()       # 无需无纸化维保: an approved lift with a back-filled order, an application to review
    return created


def accounts() -> list[dict]:
    rows = []
    for username, display, role, region, org_key in USERS:
        user = db.session.scalar(select(User).where(User.username == username))
        if user is None:
            continue
        rows.append({"username": username, "password": DEMO_PASSWORD, "role": role, "role_label": user.role_label,
                     "region": f"{user.region.name} ({user.region_code})",
                     "organization": user.org.name if user.org else None, "display_name": display})
    from .operators.demo import operator_accounts
    from .elevators.demo import elevator_accounts
    from .cylinders.demo import demo_accounts as cylinder_accounts
    from .supervision.demo import supervision_accounts
    from .elevator_rating.demo import rating_accounts
    return (rows + operator_accounts() + [{**row, "password": DEMO_PASSWORD} for row in cylinder_accounts()]
            + supervision_accounts() + elevator_accounts()
            + rating_accounts())
