"""Demo data of the supervision domain: the built-in checklists (from the reference data), the 证后监督检查
undertaking unit and licensed units to draw from, the expert pool, and the accounts of the campaign
(nn_head approves, undertaker_gx assigns, expert_li / expert_wang inspect). Idempotent."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from ..core.clock import today_local
from ..core.gm import hash_password
from ..core.models import Organization, User
from ..extensions import db
from . import checklists
from .models import Expert

DEMO_PASSWORD = "Demo@2026"

UNITS = [
    # key, name, kind, region
    ("undertaker", "广西演示特种设备技术评审中心（演示）", "undertaking_unit", "450103"),
    ("mfr_xn", "南宁演示电梯制造有限公司（演示）", "manufacturer", "450102"),
    ("ins_xn", "南宁演示电梯安装维修有限公司（演示）", "installer", "450102"),
    ("mfr_qx", "南宁演示锅炉制造有限公司（演示）", "manufacturer", "450103"),
    ("fill_qx", "南宁演示气体充装有限公司（演示）", "filling_unit", "450103"),
    ("ins_jn", "南宁演示起重机械安装有限公司（演示）", "installer", "450105"),
    ("fill_jn", "南宁演示液化气充装站（演示）", "filling_unit", "450105"),
    ("mfr_xx", "南宁演示压力容器制造有限公司（演示）", "manufacturer", "450107"),
    ("ins_lz", "柳州演示起重设备安装有限公司（演示）", "installer", "450202"),
]

ACCOUNTS = [
    # username, display name, role, region, unit key
    ("nn_head", "黄南宁（演示）", "approver", "450100", None),
    ("undertaker_gx", "覃评审（演示）", "undertaking_unit", "450103", "undertaker"),
    ("expert_li", "李检查（演示）", "expert", "450100", None),
    ("expert_wang", "王检查（演示）", "expert", "450100", None),
]

EXPERTS = [
    # name, kind, region, specialty, title, cert no, username
    ("韦监察（演示）", "supervisor", "450100", "电梯", "高级工程师", "TSJC-450100-001", None),
    ("蒙监察（演示）", "supervisor", "450100", "压力容器", "工程师", "TSJC-450100-002", None),
    ("陆监察（演示）", "supervisor", "450102", "起重机械", "工程师", "TSJC-450102-003", None),
    ("李检查（演示）", "inspector", "450100", "电梯", "高级工程师", None, "expert_li"),
    ("王检查（演示）", "inspector", "450100", "锅炉压力容器", "工程师", None, "expert_wang"),
    ("周检查（演示）", "inspector", "450103", "起重机械", "工程师", None, None),
]


def seed_supervision(iterations: int, orgs: dict) -> None:
    from ..core.validators import synthetic_uscc as _uscc
    checklists.ensure_templates()
    units = {}
    for key, name, kind, region in UNITS:
        uscc = _uscc(f"sv-{key}", region)
        org = db.session.scalar(select(Organization).where(Organization.uscc == uscc))
        if org is None:
            org = Organization(uscc=uscc, name=name, kind=kind, region_code=region, address=f"{name[:6]}演示地址")
            db.session.add(org)
            db.session.flush()
        units[key] = org
    users = {}
    for username, display, role, region, unit_key in ACCOUNTS:
        account = db.session.scalar(select(User).where(User.username == username))
        if account is None:
            account = User(username=username, display_name=display, role=role, region_code=region,
                           org_id=units[unit_key].id if unit_key else None,
                           password_hash=hash_password(DEMO_PASSWORD, iterations))
            db.session.add(account)
            db.session.flush()
        users[username] = account
    for name, kind, region, specialty, title, cert_no, username in EXPERTS:
        if db.session.scalar(select(Expert.id).where(Expert.name == name)):
            continue
        db.session.add(Expert(name=name, kind=kind, region_code=region, specialty=specialty, title=title,
                              cert_no=cert_no, cert_expiry=today_local() + timedelta(days=900) if cert_no else None,
                              org_id=units["undertaker"].id if kind == "inspector" else None,
                              user_id=users[username].id if username else None, active=True))
    db.session.flush()


def supervision_accounts() -> list[dict]:
    rows = []
    for username, display, role, _region, _unit in ACCOUNTS:
        account = db.session.scalar(select(User).where(User.username == username))
        if account is None:
            continue
        rows.append({"username": username, "password": DEMO_PASSWORD, "role": role, "role_label": account.role_label,
                     "region": f"{account.region.name} ({account.region_code})",
                     "organization": account.org.name if account.org else None, "display_name": display})
    return rows
