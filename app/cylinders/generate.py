"""Synthetic cylinder data at Guangxi scale (`flask cylinders generate`, bench/cylinders.py): makers and
fillers across the counties (tagged, 90 % of fillers licensed), cylinders and a year of fillings.

The size of a unit is skewed: filler 0 holds 4 % of the cylinders and fillings, so even at a tenth of the
province (500 k cylinders, 5 M fillings) one filler is as large as the province's average filler
(5 M / 300 ≈ 16.7 k cylinders, 60 M / 12 / 300 ≈ 16.7 k fillings a month) — the per-filler figures the
benchmark measures do not depend on the total.

PostgreSQL only (COPY; fillings route into the monthly partitions). Everything is fictitious （演示）."""
from __future__ import annotations

import random
import time
from datetime import date, datetime, timedelta, timezone

from sqlalchemy import select, text

from ..core.clock import today_local
from ..core.models import Organization, Region
from ..core.validators import uscc_check_char
from ..extensions import db
from .models import CylinderUnit

KIND_MIX = (("civil_lpg", "液化石油气", 35.5, 2.1, 8), ("industrial", "氧气", 40.0, 15.0, 30),
            ("industrial", "二氧化碳", 40.0, 15.0, 30), ("vehicle", "压缩天然气", 80.0, 20.0, 15))


def _uscc(n: int, region: str) -> str:
    first17 = "91" + region + f"{n:09d}"[-9:]
    return first17 + uscc_check_char(first17)


def _units(makers: int, fillers: int, rng: random.Random) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    counties = [r.code for r in db.session.scalars(select(Region).where(Region.level == "county"))] or ["450102"]
    found = {o.uscc: o for o in db.session.scalars(select(Organization).where(Organization.name.like("%气瓶生成%")))}
    made, fill = [], []
    for kind, count, out in (("manufacturer", makers, made), ("filling_unit", fillers, fill)):
        for n in range(count):
            region = counties[(n * 7 + (1 if kind == "manufacturer" else 3)) % len(counties)] if n else "450102"
            uscc = _uscc((700_000_000 if kind == "manufacturer" else 800_000_000) + n, region)
            org = found.get(uscc)
            if org is None:
                name = f"气瓶生成{'制造' if kind == 'manufacturer' else '充装'}单位{n:04d}（演示）"
                org = Organization(uscc=uscc, name=name, kind=kind, region_code=region, kinds="")
                db.session.add(org)
                db.session.flush()
                tag = "maker" if kind == "manufacturer" else ("civil", "industrial", "vehicle")[n % 3]
                db.session.add(CylinderUnit(org_id=org.id, tag=tag, region_code=region))
                if kind == "filling_unit" and n % 10:
                    from ..registry.models import UnitLicence
                    db.session.add(UnitLicence(org_id=org.id, kind="filling", cert_no=f"TS42GEN{n:06d}",
                                               item="气瓶充装", issued_on=date(2024, 1, 1),
                                               expiry_date=date(2028, 1, 1)))
            out.append((org.id, org.region_code))
    db.session.commit()
    return made, fill


def _pick(rng: random.Random, n: int) -> int:
    """Filler index: 4 % to filler 0, the rest spread evenly."""
    return 0 if rng.random() < 0.04 else rng.randrange(1, n)


def generate(cylinders: int, fillings: int, makers: int = 30, fillers: int = 300, seed: int = 2026,
             out=print) -> dict:
    if db.engine.dialect.name != "postgresql":
        raise RuntimeError("the cylinder generator writes with COPY: PostgreSQL only")
    rng = random.Random(seed)
    started = time.monotonic()
    made, fill = _units(makers, fillers, rng)
    today = today_local()
    first_id = (db.session.execute(text("SELECT coalesce(max(id), 0) FROM cylinder")).scalar() or 0) + 1
    raw = db.engine.raw_connection()
    owners: list[int] = []
    try:
        cur = raw.cursor()
        cols = ("id, trace_code, factory_no, maker_org_id, maker_name, batch_no, kind, medium, volume_l, "
                "nominal_pressure_mpa, manufacture_date, design_life_years, owner_org_id, region_code, reg_state, "
                "registration_no, last_inspection_date, next_inspection_date, status, created_at")
        now = datetime.now(timezone.utc)
        with cur.copy(f"COPY cylinder ({cols}) FROM STDIN") as copy:
            for i in range(cylinders):
                cid = first_id + i
                f = _pick(rng, len(fill))
                owner, region = fill[f]
                owners.append(cid)
                maker, _mr = made[rng.randrange(len(made))]
                kind, medium, vol, mpa, life = KIND_MIX[0 if rng.random() < 0.7 else rng.randrange(1, 4)]
                made_on = today - timedelta(days=rng.randrange(30, 365 * life))
                last = made_on + timedelta(days=365 * ((today - made_on).days // 365 // 4 * 4)) \
                    if (today - made_on).days > 365 * 4 else None
                nxt = (last or made_on) + timedelta(days=365 * 4)
                roll = rng.random()
                status = "in_use" if roll < 0.93 else ("stopped" if roll < 0.96 else "scrapped")
                reg = "registered" if rng.random() < 0.9 else "unregistered"
                copy.write_row((cid, f"GX{cid:012d}", f"F{cid:09d}", maker, None, f"PH{made_on:%Y%m}", kind, medium,
                                vol, mpa, made_on, life, owner, region, reg,
                                f"瓶桂{cid:09d}" if reg == "registered" else None, last, nxt, status, now))
                owners[-1] = (cid, owner, region)
        raw.commit()
        out(f"气瓶 {cylinders} 只：{time.monotonic() - started:.0f} s")
        t1 = time.monotonic()
        cols = ("filled_at, cylinder_id, trace_code, filler_org_id, region_code, scale_id, operator_name, pre_check, "
                "medium, weight_kg, pressure_mpa, post_check, result, note, source, created_at")
        start_day = datetime.combine(today - timedelta(days=365), datetime.min.time(), tzinfo=timezone.utc)
        span = 365 * 86400
        with cur.copy(f"COPY cylinder_filling ({cols}) FROM STDIN") as copy:
            for _ in range(fillings):
                # a filling is of a cylinder of filler 0 in 4 % of cases (its own cylinders), else any other
                cid, owner, region = owners[rng.randrange(len(owners))]
                at = start_day + timedelta(seconds=rng.randrange(span))
                ok = rng.random() < 0.995
                copy.write_row((at, cid, f"GX{cid:012d}", owner, region, None, "充装工（演示）", "pass" if ok else "fail",
                                "液化石油气", 14.5 if ok else None, None, "pass" if ok else None,
                                "filled" if ok else "refused", None, "exchange", at))
        raw.commit()
        out(f"充装记录 {fillings} 条：{time.monotonic() - t1:.0f} s")
    finally:
        raw.close()
    db.session.execute(text("SELECT setval(pg_get_serial_sequence('cylinder', 'id'), (SELECT max(id) FROM cylinder))"))
    db.session.commit()
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE cylinder"))
        conn.execute(text("VACUUM ANALYZE cylinder_filling"))
    return {"cylinders": cylinders, "fillings": fillings, "seconds": round(time.monotonic() - started, 1),
            "biggest_filler": fill[0][0]}
