"""Builders shared by the registry, inspections, importer and overdue-campaign tests: units, devices and
reports made through the registry's own services (rows a test adds are removed by the conftest cleanup)."""
from __future__ import annotations

import io
import itertools
from datetime import date, timedelta

from openpyxl import Workbook, load_workbook
from sqlalchemy import select

from app.core.clock import today_local
from app.core.models import Equipment, Organization
from app.core.validators import uscc_check_char
from app.extensions import db

_SEQ = itertools.count(1)


def uscc(n: int, region: str = "450102") -> str:
    first17 = f"91{region}T{n:08d}"
    return first17 + uscc_check_char(first17)


def make_org(name: str = "测试单位（测试）", kind: str = "use_unit", region: str = "450102") -> Organization:
    n = next(_SEQ) + 500_000
    org = Organization(uscc=uscc(n, region), name=name, kind=kind, region_code=region, kinds="")
    db.session.add(org)
    db.session.flush()
    return org


def device_code(variety: str = "3110", year: int = 2020) -> str:
    return f"{variety}46{next(_SEQ) % 1000:03d}{year}{next(_SEQ) % 100000:05d}"


def make_device(org: Organization | None = None, variety: str = "3110", region: str | None = None,
                next_due: date | None = None, **facts) -> Equipment:
    """A device registered through the registry's derivations (kind/class, design life, due state)."""
    from app.registry import services
    org = org or db.session.scalar(select(Organization).where(Organization.kind == "use_unit").order_by(Organization.id))
    e = Equipment(code=facts.pop("code", None) or device_code(variety), name=facts.pop("name", "测试设备"),
                  category_code=variety, use_org_id=org.id, region_code=region or org.region_code,
                  registered_region_code=region or org.region_code, status=facts.pop("status", "in_use"),
                  next_inspection_date=next_due, **facts)
    db.session.add(e)
    db.session.flush()
    services.refresh_derived(e)
    db.session.flush()
    return e


def agency() -> Organization:
    return db.session.scalar(select(Organization).where(Organization.kind == "inspection_agency").order_by(Organization.id))


def xlsx(headers: list[str], rows: list[list]) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.append(headers)
    for row in rows:
        ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def read_xlsx(body: bytes, sheet: int = 0) -> list[list]:
    wb = load_workbook(io.BytesIO(body), read_only=True)
    return [list(r) for r in wb.worksheets[sheet].iter_rows(values_only=True)]


def days(n: int) -> date:
    return today_local() + timedelta(days=n)
