"""Demo operators (作业人员): fictitious people marked （演示）, with resident ID numbers whose
check characters are computed by the GB 11643 algorithm, certificates in different states and
one employment at the demo machinery plant in Liuzhou (unit_lz)."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from ..core.clock import today_local
from ..core.gm import hash_password
from ..core.models import Organization, Region, User
from ..core.validators import ID_CHECK, ID_WEIGHTS
from ..extensions import db
from .models import Employment, Operator, OperatorCertificate, id_number_index
from .services import add_years, certificate_expiry

DEMO_PASSWORD = "Demo@2026"
DEMO_PHONE_BASE = 17000008000      # the fictitious 170 block used by app/demo.py, a range of its own

# username, name, first 17 digits of the ID number (region, birth date, sequence), education, address
OPERATORS = [
    ("op_wei", "韦建华（演示）", "45020219850312135", "高中或中专", "柳州市城中区演示街3号宿舍"),
    ("op_lan", "蓝秀梅（演示）", "45010219900518246", "大专", "南宁市兴宁区演示路5号"),
    ("op_huang", "黄志强（演示）", "45020319780921157", "初中", "柳州市鱼峰区演示巷12号"),
    ("op_liang", "梁海燕（演示）", "45010319950203268", "本科", "南宁市青秀区演示大道20号"),
]

# username, work item, days from today to the issue date (negative = in the past),
# or ("expires_in", days) to place the expiry date relative to today; issuing authority
CERTIFICATES = [
    ("op_wei", "N1", -400, "柳州市市场监督管理局"),
    ("op_wei", "Q1", ("expires_in", 60), "柳州市市场监督管理局"),        # expiring soon
    ("op_lan", "Q2", -200, "南宁市市场监督管理局"),
    ("op_lan", "N1", -700, "南宁市市场监督管理局"),
    ("op_huang", "N1", ("expires_in", -30), "柳州市市场监督管理局"),     # expired
    ("op_huang", "Q2", -100, "柳州市市场监督管理局"),
    ("op_liang", "T", -500, "南宁市市场监督管理局"),
]

# username, organisation key (app/demo.py ORGS), work item, started (days ago), ended (days ago or None)
EMPLOYMENTS = [
    ("op_wei", "unit_lz", "N1", 380, None),        # current: the N1 forklift driver of unit_lz
    ("op_huang", "unit_lz", "N1", 1100, 60),       # former: left two months ago
]


def id_number(first17: str) -> str:
    """The GB 11643 check character from app.core.validators' weights and table."""
    return first17 + ID_CHECK[sum(int(c) * w for c, w in zip(first17, ID_WEIGHTS, strict=True)) % 11]


def cert_no(username: str, item: str, year: int) -> str:
    """Fictitious, and deliberately unlike a resident ID number: GX + year + item + holder number."""
    index = [u for u, *_ in OPERATORS].index(username) + 1
    return f"GX{year}{item}{index:04d}"


def seed_operators(iterations: int, orgs: dict[str, Organization]) -> int:
    """Idempotent: creates what is missing, changes nothing that exists. Returns operators created."""
    today = today_local()
    created = 0
    for n, (username, name, first17, education, address) in enumerate(OPERATORS):
        number = id_number(first17)
        operator = db.session.scalar(select(Operator).where(Operator.id_number_bidx == id_number_index(number)))
        if operator is None:
            user = db.session.scalar(select(User).where(User.username == username))
            if user is None:
                region = first17[:6] if db.session.get(Region, first17[:6]) else "450000"
                user = User(username=username, display_name=name, role="operator", region_code=region,
                            password_hash=hash_password(DEMO_PASSWORD, iterations))
                db.session.add(user)
                db.session.flush()
            operator = Operator(name=name, education=education, address=address, user_id=user.id)
            operator.set_id_number(number)
            operator.set_phone(str(DEMO_PHONE_BASE + n))
            db.session.add(operator)
            db.session.flush()
            created += 1
            for owner, item, when, authority in CERTIFICATES:
                if owner != username:
                    continue
                if isinstance(when, tuple):
                    issue = add_years(today + timedelta(days=when[1]), -4)
                else:
                    issue = today + timedelta(days=when)
                db.session.add(OperatorCertificate(
                    operator_id=operator.id, cert_no=cert_no(username, item, issue.year), work_item=item,
                    issue_date=issue, expiry_date=certificate_expiry(issue), issuing_authority=authority))
            for owner, org_key, item, started, ended in EMPLOYMENTS:
                if owner == username:
                    db.session.add(Employment(
                        operator_id=operator.id, org_id=orgs[org_key].id, work_item=item,
                        status="ended" if ended else "active", started_on=today - timedelta(days=started),
                        ended_on=today - timedelta(days=ended) if ended else None))
    db.session.flush()
    return created


def operator_accounts() -> list[dict]:
    rows = []
    for username, name, *_ in OPERATORS:
        user = db.session.scalar(select(User).where(User.username == username))
        if user is None:
            continue
        rows.append({"username": username, "password": DEMO_PASSWORD, "role": user.role,
                     "role_label": user.role_label, "region": f"{user.region.name} ({user.region_code})",
                     "organization": None, "display_name": name})
    return rows
