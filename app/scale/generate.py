"""`flask demo generate --scale test|city|province`: synthetic data at Guangxi scale.

Stages (each recorded in `demo_generation`; a stopped run continues where it stopped):
  base       processes deployed, reference and demo master data (the demo accounts log in);
  orgs       use units, maintenance units and inspection agencies across the 14 cities' counties,
             with the three SMS contacts of each use unit (phones SM4-encrypted) and accounts;
  equipment  devices (≈45 % elevators) and their periodic inspection reports; each device's
             next_inspection_date is the next due date of its latest passing report;
  templates  hazard cases driven through the real engine, one per distinct step (with 催办 in each
             rectification task and the BPMN 抄送 of 派单督办 to the city bureau);
  cases      clones of those templates (app.scale.clone) spread over devices, units and two years,
             urges and copies (timeline, case_copy, notification) naming the clone's own task and people;
  elevators  elevator facts, contracts, a year of plans and archived maintenance work orders
             (app/elevators/scale.py);
  finish     counters for case and notice numbers;
  escalate   one pass of the scheduler's timer job: cases whose rectification deadline has passed
             escalate to their city bureau through the engine (督办 tasks, timeline, SMS outbox);
  cylinders  gas cylinders: makers, fillers, cylinders and a year of fillings (app/cylinders/generate.py;
             city 500 k / 5 M, province 5 M / 60 M; PostgreSQL only);
  vacuum     VACUUM ANALYZE (PostgreSQL): statistics and the visibility map for index-only scans.

Everything is fictitious and marked （演示）; regions, equipment categories and GB 45067 criteria
are the real reference data. On PostgreSQL rows go in with COPY; SQLite (the `test` preset, the
tests) uses batched INSERTs.
"""
from __future__ import annotations

import io
import json
import random
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import date, datetime, time as dtime, timedelta, timezone

from flask import current_app
from sqlalchemy import func, select, text

from ..core.bulk import Writer
from ..core.clock import DISPLAY_TZ, as_utc, today_local, utcnow
from ..core.gm import hash_password
from ..core.pii import encrypt, mask_phone, phone_index
from ..core.validators import uscc_check_char
from ..extensions import db
from .models import DemoGeneration
from .stages import DOMAIN_STAGES

PRESETS = {
    # orgs, devices, cases, inspection reports (tasks and events follow from the template mix)
    "test": {"orgs": 150, "devices": 900, "cases": 240, "reports": 3_000, "chunk": 60},
    "city": {"orgs": 5_000, "devices": 50_000, "cases": 100_000, "reports": 200_000, "chunk": 2_000},
    "province": {"orgs": 50_000, "devices": 500_000, "cases": 1_000_000, "reports": 2_000_000, "chunk": 2_000},
    # The province's registry (units, devices, reports) with few cases: the registry and overdue-campaign
    # benchmarks (bench/registry.py) need no case load.
    "registry": {"orgs": 50_000, "devices": 500_000, "cases": 2_000, "reports": 2_000_000, "chunk": 2_000},
}
STAGES = ("base", "orgs", "equipment", "templates", "cases", "elevators", "finish", "escalate", "cylinders", "vacuum")

# Share of each city in organisations and devices (rough economic weight; synthetic).
CITY_WEIGHT = {"450100": 20, "450200": 12, "450300": 11, "450400": 5, "450500": 5, "450600": 3,
               "450700": 5, "450800": 6, "450900": 8, "451000": 6, "451100": 3, "451200": 5,
               "451300": 3, "451400": 3}
# Device mix by 《特种设备目录》 variety (≈45 % elevators); periodic inspection interval in years
# (docs/参考数据.md, /work/shared/reference/DOMAIN.md §3.3; synthetic data, not a rule engine).
DEVICE_MIX = [
    ("3110", 30.0, 1), ("3120", 5.0, 1), ("3310", 5.5, 1), ("3320", 0.5, 1), ("3430", 4.0, 1),
    ("1100", 2.5, 1), ("1200", 1.5, 1),
    ("2150", 10.0, 3), ("2170", 5.0, 3), ("2130", 3.0, 3), ("2220", 1.0, 1),
    ("4110", 4.0, 2), ("4170", 3.0, 2), ("4210", 2.0, 2), ("4310", 1.0, 1), ("4860", 1.5, 1),
    ("4410", 0.5, 1), ("4D00", 2.0, 2),
    ("5110", 17.0, 1),
]
NAME_WORDS = list("华盛鑫源恒泰嘉和宏达锦隆兴昌荣丰瑞祥安康永福鸿运邦德信诚汇通")
INDUSTRIES = ["物业服务有限公司", "商业管理有限公司", "酒店管理有限公司", "机械制造有限公司", "物流有限公司",
              "房地产开发有限公司", "化工有限公司", "建材有限公司", "食品有限公司", "纸业有限公司",
              "糖业有限公司", "港务有限公司", "医院", "职业技术学校", "燃气有限公司", "供热有限公司"]
PASSWORD = "Demo@2026"


# ---------------------------------------------------------------- progress and bulk writes

class Progress:
    """A bar on a TTY, a line every few seconds otherwise."""

    def __init__(self, label: str, total: int, done: int = 0, out=None):
        self.label, self.total, self.start_done = label, max(total, 1), done
        self.out = out or sys.stdout
        self.t0 = self.last = time.monotonic()
        self.tty = hasattr(self.out, "isatty") and self.out.isatty()
        self.update(done, force=True)

    def update(self, done: int, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last < (0.5 if self.tty else 10):
            return
        self.last = now
        rate = (done - self.start_done) / max(now - self.t0, 1e-6)
        eta = (self.total - done) / rate if rate > 0 else 0
        pct = min(100.0, done * 100 / self.total)
        if self.tty:
            bar = "#" * int(pct / 4)
            self.out.write(f"\r{self.label:10s} [{bar:<25s}] {pct:5.1f}% {done:,}/{self.total:,} "
                           f"{rate:,.0f}/s ETA {eta:,.0f}s   ")
        else:
            self.out.write(f"{self.label}: {done:,}/{self.total:,} ({pct:.1f}%), {rate:,.0f}/s, ETA {eta:,.0f}s\n")
        self.out.flush()

    def finish(self, done: int) -> None:
        self.update(done, force=True)
        if self.tty:
            self.out.write("\n")
        self.out.flush()


class ChunkSink:
    """Writes finished chunks and their progress in one transaction each. On PostgreSQL a writer
    thread with its own connection COPYs chunk N while the main thread builds chunk N+1 (psycopg
    releases the GIL while the server works); on SQLite the chunk is written inline."""

    threaded = True     # tests turn the writer thread off to stop a run between two chunks

    def __init__(self, writer: Writer, stage: str, order: tuple[str, ...]):
        self.writer, self.stage, self.order = writer, stage, order
        self.error: BaseException | None = None
        self.thread = None
        if writer.pg and self.threaded:
            import queue
            import threading

            import psycopg
            url = db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
            self.conn = psycopg.connect(url)
            self.conn.execute("SET synchronous_commit = off")
            self.conn.commit()
            try:
                # Foreign-key triggers fire once per row and cost the server more than the COPY
                # itself; the rows reference ids this generator just read or allocated, and the
                # finish stage checks the references of every generated row.
                self.conn.execute("SET session_replication_role = replica")
                self.conn.commit()
            except psycopg.Error:
                self.conn.rollback()      # not a superuser: keep the triggers
            self.queue = queue.Queue(maxsize=1)
            self.thread = threading.Thread(target=self._run, name="generate-writer", daemon=True)
            self.thread.start()

    def _write(self, batch: dict, done: int, info: str | None, raw) -> None:
        for table in self.order:
            self.writer.write(table, batch.get(table, []), raw)

    def _run(self) -> None:
        while True:
            item = self.queue.get()
            if item is None:
                return
            if self.error is not None:
                continue
            batch, done, info = item
            try:
                self._write(batch, done, info, self.conn)
                self.conn.execute("UPDATE demo_generation SET done = %s, info = coalesce(%s, info), updated_at = now() "
                                  "WHERE stage = %s", (done, info, self.stage))
                self.conn.commit()
            except BaseException as err:     # reported to the main thread at its next put/close
                self.conn.rollback()
                self.error = err

    def put(self, batch: dict, done: int, info: str | None = None) -> None:
        if self.thread is None:
            self._write(batch, done, info, None)
            row = db.session.get(DemoGeneration, self.stage)
            row.done, row.updated_at = done, utcnow()
            if info is not None:
                row.info = info
            db.session.commit()
            return
        if self.error is not None:
            raise self.error
        self.queue.put((batch, done, info))

    def close(self) -> None:
        if self.thread is not None:
            self.queue.put(None)
            self.thread.join()
            self.conn.close()
            db.session.expire_all()
            if self.error is not None:
                raise self.error


def _stage(name: str, scale: str) -> DemoGeneration:
    row = db.session.get(DemoGeneration, name)
    if row is None:
        row = DemoGeneration(stage=name, scale=scale, done=0, target=0, status="running", seconds=0.0,
                             updated_at=utcnow())
        db.session.add(row)
        db.session.flush()
    elif row.scale != scale:
        raise click_error(f"数据库中已有 --scale {row.scale} 的生成记录，不能继续生成 {scale}；请使用新的数据库")
    return row


def click_error(message: str):
    import click
    return click.ClickException(message)


def _rng(scale: str, stage: str, chunk: int) -> random.Random:
    return random.Random(f"{scale}:{stage}:{chunk}")


# ---------------------------------------------------------------- regions

@dataclass
class Regions:
    counties: list[tuple[str, str, str]]     # (county code, county name, city code)
    weights: list[float]
    names: dict[str, str]


def load_regions() -> Regions:
    from ..core.models import Region
    rows = list(db.session.execute(select(Region.code, Region.name, Region.parent_code, Region.level)))
    names = {r.code: r.name for r in rows}
    counties, weights = [], []
    by_city: dict[str, list] = {}
    for r in rows:
        if r.level == "county":
            by_city.setdefault(r.parent_code, []).append(r)
    for city, items in sorted(by_city.items()):
        # Districts (市辖区, codes 01–20 in GB/T 2260 practice: NN01..NN20) weigh more than counties.
        raw = [3.0 if int(r.code[4:]) <= 20 else 1.0 for r in items]
        total = sum(raw)
        for r, w in zip(items, raw):
            counties.append((r.code, r.name, city))
            weights.append(CITY_WEIGHT.get(city, 3) * w / total)
    return Regions(counties, weights, names)


# ---------------------------------------------------------------- stages

# Gas cylinders and a year of fillings per scale (the procurement's Guangxi figures at province scale).
CYLINDER_SIZES = {"city": (500_000, 5_000_000), "province": (5_000_000, 60_000_000)}


def _stage_cylinders(scale, preset, out) -> None:
    size = CYLINDER_SIZES.get(scale)
    if size is None or db.engine.dialect.name != "postgresql":
        out.write("cylinders: 该规模或 SQLite 不生成气瓶\n")
        return
    from ..cylinders.generate import generate
    result = generate(*size, out=lambda message: out.write(message + "\n"))
    row = _stage("cylinders", scale)
    row.done = row.target = result["cylinders"]

def run(scale: str, out=None, workers: int = 2) -> dict:
    """Run (or continue) every stage; returns the final counts. `workers` processes clone cases
    (PostgreSQL only)."""
    CASE_WORKERS["value"] = max(1, workers)
    if scale not in PRESETS:
        raise click_error(f"未知规模 {scale}; 可选: {', '.join(PRESETS)}")
    out = out or sys.stdout
    preset = PRESETS[scale]
    t_all = time.monotonic()
    for name in STAGES:
        row = _stage(name, scale)
        db.session.commit()
        if row.status == "done":
            out.write(f"{name}: 已完成 ({row.done:,}), 跳过\n")
            continue
        t0 = time.monotonic()
        (DOMAIN_STAGES.get(name) or globals()[f"_stage_{name}"])(scale, preset, out)
        row = db.session.get(DemoGeneration, name)
        row.status = "done"
        row.seconds = (row.seconds or 0) + time.monotonic() - t0
        row.updated_at = utcnow()
        db.session.commit()
        out.write(f"{name}: 完成, {time.monotonic() - t0:.1f} s\n")
        out.flush()
    counts = table_counts()
    out.write(f"total {time.monotonic() - t_all:.1f} s (this run)\n")
    for table, n in counts.items():
        out.write(f"  {table:20s} {n:>12,}\n")
    for table, size in table_sizes():
        out.write(f"  size {table:20s} {size}\n")
    return counts


COUNTED = ("organization", "org_contact", "user_account", "equipment", "inspection_report", "case_record",
           "task", "case_event", "case_party", "hazard", "attachment", "case_copy", "notification")


def table_counts() -> dict[str, int]:
    return {t: db.session.execute(text(f"SELECT count(*) FROM {t}")).scalar() for t in COUNTED}


def table_sizes() -> list[tuple[str, str]]:
    if db.engine.dialect.name != "postgresql":
        return []
    rows = db.session.execute(text(
        "SELECT relname, pg_size_pretty(pg_total_relation_size(c.oid)), pg_total_relation_size(c.oid) "
        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public' AND c.relkind = 'r' ORDER BY 3 DESC LIMIT 14"))
    total = db.session.execute(text("SELECT pg_size_pretty(pg_database_size(current_database()))")).scalar()
    return [(r[0], r[1]) for r in rows] + [("(database)", total)]


def _stage_base(scale, preset, out) -> None:
    from ..engine.deploy import deploy_all
    from ..demo import seed
    deploy_all()
    seed(with_cases=False)
    row = db.session.get(DemoGeneration, "base")
    row.done = row.target = 1
    db.session.commit()


def _login_columns(now) -> dict:
    """Login-control columns of a generated account (security/policy.py): no failures, no lock,
    password set now, no forced change (the shared demo password is documented)."""
    return {"failed_logins": 0, "locked_until": None, "password_changed_at": now, "must_change_password": False}


def _phone_columns(table: str, phone: str) -> dict:
    ref = uuid.uuid4().hex
    return {"phone_ref": ref, "phone_enc": encrypt(phone, table=table, column="phone", ref=ref),
            "phone_bidx": phone_index(phone), "phone_masked": mask_phone(phone)}


def _org_plan(preset) -> tuple[int, int, int]:
    total = preset["orgs"]
    agencies = max(14, total // 500)
    maintenance = total * 4 // 100
    return total - agencies - maintenance, maintenance, agencies


def _stage_orgs(scale, preset, out) -> None:
    """Organisations in chunks; each chunk with its contacts and accounts in one transaction."""
    regions = load_regions()
    units, maintenance, agencies = _org_plan(preset)
    total = units + maintenance + agencies
    chunk = max(preset["chunk"], 500)
    row = _stage("orgs", scale)
    row.target = total
    db.session.commit()
    writer = Writer()
    iterations = current_app.config.get("PASSWORD_ITERATIONS", 600_000)
    password_hash = _shared_hash(iterations)
    now = utcnow()
    progress = Progress("orgs", total, row.done, out)
    if row.done == 0:
        _regulator_accounts(writer, regions, password_hash, now)
    city_counties: dict[str, list] = {}
    for county in regions.counties:
        city_counties.setdefault(county[2], []).append(county)
    while row.done < total:
        start = row.done
        n = min(chunk, total - start)
        rng = _rng(scale, "orgs", start // chunk)
        org_ids = writer.ids("organization", n)
        orgs, contacts, users = [], [], []
        for k, org_id in enumerate(org_ids):
            index = start + k
            if index < agencies:
                # Agencies: one per city first (the province institute's branches), then spread.
                city = sorted(city_counties)[index % len(city_counties)]
                county = city_counties[city][0]
                kind = "inspection_agency"
                name = f"{regions.names[city]}{rng.choice(NAME_WORDS)}{rng.choice(NAME_WORDS)}特种设备检验检测有限公司（演示）"
            else:
                county = rng.choices(regions.counties, weights=regions.weights)[0]
                kind = "maintenance_unit" if index < agencies + maintenance else "use_unit"
                trade = "电梯工程有限公司" if kind == "maintenance_unit" else rng.choice(INDUSTRIES)
                name = (f"{regions.names[county[2]]}{county[1]}{rng.choice(NAME_WORDS)}{rng.choice(NAME_WORDS)}"
                        f"{trade}（演示）")
            first17 = f"91{county[0]}G{index:08d}"
            orgs.append({"id": org_id, "uscc": first17 + uscc_check_char(first17), "name": name, "kind": kind,
                         "region_code": county[0], "address": f"{regions.names[county[2]]}{county[1]}演示路{index % 999 + 1}号",
                         "contact_name": "联系人（演示）", "kinds": "", "lat": round(county_point(county[0])[0] + rng.uniform(-0.03, 0.03), 6),
                         "lng": round(county_point(county[0])[1] + rng.uniform(-0.03, 0.03), 6), "created_at": now,
                         "updated_at": None})
            phone_base = 17100000000 + index * 4
            if kind == "use_unit":
                for d, duty in enumerate(("principal", "safety_director", "safety_officer")):
                    contacts.append({"org_id": org_id, "duty": duty, "name": f"演示联系人{index}-{d + 1}",
                                     "receives_sms": True,
                                     **_phone_columns("org_contact", str(phone_base + d))})
            role = {"use_unit": "use_unit", "inspection_agency": "inspection_agency"}.get(kind)
            if role:
                users.append({"username": f"g{'u' if role == 'use_unit' else 'a'}{index}",
                              "password_hash": password_hash, "display_name": f"演示{'安全管理员' if role == 'use_unit' else '检验员'}{index}",
                              "role": role, "region_code": county[0], "org_id": org_id, "is_active": True,
                              "created_at": now, **_login_columns(now),
                              **_phone_columns("user_account", str(phone_base + 3))})
        for table, rows in (("org_contact", contacts), ("user_account", users)):
            for r, new_id in zip(rows, writer.ids(table, len(rows))):
                r["id"] = new_id
        writer.write("organization", orgs)
        writer.write("org_contact", contacts)
        writer.write("user_account", users)
        row.done = start + n
        row.updated_at = utcnow()
        db.session.commit()
        progress.update(row.done)
    progress.finish(row.done)


def _shared_hash(iterations: int) -> str:
    """Generated accounts share one PBKDF2-SM3 hash of the demo password (computing 50,000 of them
    at 600,000 iterations would take hours and prove nothing); their logins cost the same."""
    return hash_password(PASSWORD, iterations)


def _regulator_accounts(writer: Writer, regions: Regions, password_hash: str, now) -> None:
    users = []
    for code, name, _city in regions.counties:
        for k in (1, 2):
            users.append((f"g{code}s{k}", f"{name}监察员{k}（演示）", "county_supervisor", code))
    for city in sorted({c[2] for c in regions.counties}):
        for k in (1, 2):
            users.append((f"g{city}c{k}", f"{regions.names[city]}监察员{k}（演示）", "city_supervisor", city))
    for k in (1, 2):
        users.append((f"g450000p{k}", f"自治区监察员{k}（演示）", "province_supervisor", "450000"))
    rows = []
    for n, (username, display, role, region) in enumerate(users):
        rows.append({"username": username, "password_hash": password_hash, "display_name": display, "role": role,
                     "region_code": region, "org_id": None, "is_active": True, "created_at": now,
                     **_login_columns(now), **_phone_columns("user_account", str(17090000000 + n))})
    for r, new_id in zip(rows, writer.ids("user_account", len(rows))):
        r["id"] = new_id
    writer.write("user_account", rows)


def _generated_orgs(kind: str) -> list[tuple[int, str]]:
    from ..core.models import Organization
    return list(db.session.execute(select(Organization.id, Organization.region_code)
                                   .where(Organization.kind == kind, func.substr(Organization.uscc, 9, 1) == "G")
                                   .order_by(Organization.id)))


# Share of stopped / scrapped / cancelled / announced-cancelled devices, and of simple pressure vessels
# among first-class vessels (synthetic).
STATUS_MIX = (("in_use", 92.0), ("stopped", 4.5), ("scrapped", 2.5), ("cancelled", 0.8), ("announced_cancelled", 0.2))
SIMPLE_PV_SHARE = 0.35
DECLARED_PV_LIVES = (10, 15, 20, 25, 30)
MAKERS = {"3": ("广西演示电梯有限公司（演示）", "南方演示电梯制造有限公司（演示）"),
          "1": ("演示锅炉制造有限公司（演示）",), "2": ("演示压力容器制造有限公司（演示）", "演示化工设备有限公司（演示）"),
          "4": ("演示起重机械有限公司（演示）",), "5": ("演示叉车制造有限公司（演示）",)}
MODELS = {"3": ("TKJ1000/1.75-JXW", "TKJ1600/2.5-JXW", "FJ-1000"), "1": ("WNS4-1.25-Y", "DZL2-1.25-AII"),
          "2": ("V=2m³ P=0.8MPa", "V=10m³ P=1.6MPa", "V=0.5m³ P=0.8MPa"), "4": ("QD10t-22.5m", "LDA5t-16.5m"),
          "5": ("CPCD30", "CPD20")}


def county_point(county: str) -> tuple[float, float]:
    """A synthetic, stable point for a county inside Guangxi's bounding box (no coordinates ship with the
    divisions data; maps and nearby queries only need plausible, repeatable positions)."""
    rng = random.Random(f"county-point:{county}")
    return round(rng.uniform(21.6, 25.9), 5), round(rng.uniform(105.2, 111.6), 5)


def _stage_equipment(scale, preset, out) -> None:
    """Devices with their registry facts and inspection reports; each device's inspection facts and due
    state are those app/inspections/services.py would derive from its reports."""
    from ..core.models import EquipmentCategory
    from ..core.movable import is_movable_category
    from ..inspections import conclusions
    from ..registry import due
    from ..registry.catalogue import is_pressure_vessel, lineage
    from ..registry.life import DEFAULT_PV_LIFE_YEARS, add_years
    total = preset["devices"]
    chunk = max(preset["chunk"] * 2, 500)
    row = _stage("equipment", scale)
    row.target = total
    db.session.commit()
    known = {c: n for c, n in db.session.execute(select(EquipmentCategory.code, EquipmentCategory.name))}
    missing = [v for v, _w, _i in DEVICE_MIX if v not in known]
    if missing:
        raise click_error(f"特种设备目录中缺少品种 {missing}")
    lines = {v: lineage(v) for v, _w, _i in DEVICE_MIX}
    units = _generated_orgs("use_unit")
    agencies = _generated_orgs("inspection_agency")
    maintainers: dict[str, list[int]] = {}
    for org_id, region in _generated_orgs("maintenance_unit"):
        maintainers.setdefault(region[:4], []).append(org_id)
    agencies_by_city: dict[str, list[int]] = {}
    for org_id, region in agencies:
        agencies_by_city.setdefault(region[:4], []).append(org_id)
    all_agencies = [a for a, _r in agencies]
    all_maintainers = [m for ms in maintainers.values() for m in ms]
    # Some units (property managers, hospitals, factories) hold many devices, most a few.
    weights = [random.Random(f"{scale}:unitweight:{org_id}").lognormvariate(0, 1.1) for org_id, _r in units]
    today = today_local()
    window_years = _report_window(preset["reports"] / total, today)
    band_cache: dict[date, str] = {}

    def band(day: date) -> str:
        if day not in band_cache:
            band_cache[day] = due.band(day, today)
        return band_cache[day]

    writer = Writer()
    now = utcnow()
    progress = Progress("equipment", total, row.done, out)
    while row.done < total:
        start = row.done
        n = min(chunk, total - start)
        rng = _rng(scale, "equipment", start // chunk)
        ids = writer.ids("equipment", n)
        devices, reports = [], []
        picks = rng.choices(range(len(units)), weights=weights, k=n)
        mix = rng.choices(DEVICE_MIX, weights=[w for _v, w, _i in DEVICE_MIX], k=n)
        for k, (device_id, unit_index, (variety, _w, interval)) in enumerate(zip(ids, picks, mix)):
            index = start + k
            org_id, county = units[unit_index]
            kind, klass = lines[variety]
            year, history = _device_history(rng, today, interval, window_years)
            status = rng.choices([s for s, _w in STATUS_MIX], weights=[w for _s, w in STATUS_MIX])[0]
            simple = variety == "2170" and rng.random() < SIMPLE_PV_SHARE
            made = date(year, rng.randint(1, 6), rng.randint(1, 28))
            commissioned = min(made + timedelta(days=rng.randint(30, 360)), today)
            vocabulary = conclusions.for_kind(kind)
            passing = [c for c in vocabulary if c not in conclusions.FAILING]
            failing = [c for c in vocabulary if c in conclusions.FAILING]
            next_due = last_on = last_conclusion = None
            city_agencies = agencies_by_city.get(county[:4]) or all_agencies
            agency = rng.choice(city_agencies)
            if simple:
                history = []        # no periodic inspection within design life (§4.5.14.1)
            for h, inspected in enumerate(history):
                final = h == len(history) - 1
                conclusion = (rng.choices(passing + failing, weights=[88, 9][:len(passing)] + [3] * len(failing))[0]
                              if final else rng.choices(passing, weights=[95, 5][:len(passing)])[0])
                due_on = _add_years(inspected, interval)
                if conclusion not in conclusions.FAILING:
                    next_due = due_on
                last_on, last_conclusion = inspected, conclusion
                kind_of_report = ("supervision" if h == 0 and kind == "3000" else
                                  "first" if h == 0 and kind in ("4000", "5000") else "periodic")
                reports.append({"report_no": f"JY{inspected.year}{index:08d}{h:02d}", "equipment_id": device_id,
                                "agency_org_id": agency, "region_code": county, "inspection_type": kind_of_report,
                                "inspected_on": inspected, "conclusion": conclusion,
                                "nonconformities": "安全回路接线松动；警示标志缺失" if conclusion in conclusions.FAILING else None,
                                "next_due_date": due_on if conclusion not in conclusions.FAILING else None,
                                "pdf_attachment_id": None, "source": "system", "created_by_id": None,
                                "created_at": now})
            life_years = life_source = life_end = None
            if is_pressure_vessel(variety):
                if rng.random() < 0.5:
                    life_years, life_source = rng.choice(DECLARED_PV_LIVES), "declared"
                else:
                    life_years, life_source = DEFAULT_PV_LIFE_YEARS, "default"
                life_end = add_years(commissioned, life_years)
            changed_on = (life_end + timedelta(days=rng.randint(10, 200))
                          if life_end and life_end < today and rng.random() < 0.4 else None)
            if changed_on and changed_on > today:
                changed_on = None
            if status != "in_use" or (simple and (life_end is None or today < life_end)):
                state = "exempt"
            elif next_due is None:
                state = "no_record"
            else:
                state = band(next_due)
            lat, lng = county_point(county)
            city_maintainers = maintainers.get(county[:4]) or all_maintainers
            devices.append({
                "id": device_id, "code": f"{variety}10{index // 100000:03d}{year}{index % 100000:05d}",
                "registration_no": (f"梯{variety[1:3]}桂{county[2:4]}{index:07d}({commissioned.year % 100:02d})"
                                    if variety.startswith("3") else f"{known[variety][:2]}{county[2:4]}{index:07d}"),
                "reg_code": f"{variety}{county}{commissioned:%Y%m}{index % 10000:04d}",
                "name": f"{known[variety]} {index % 97 + 1}号", "category_code": variety, "kind_code": kind,
                "class_code": klass, "factory_no": f"F{year}{index:07d}",
                "model": rng.choice(MODELS.get(variety[0], ("—",))),
                "maker_name": rng.choice(MAKERS.get(variety[0], ("演示特种设备制造有限公司（演示）",))),
                "designer_name": "演示压力容器设计院（演示）" if variety.startswith("2") else None,
                "use_org_id": org_id,
                "maintenance_org_id": rng.choice(city_maintainers) if kind == "3000" and city_maintainers else None,
                "region_code": county, "registered_region_code": county, "movable": is_movable_category(variety),
                "address": f"{county}演示路{index % 999 + 1}号", "lat": round(lat + rng.uniform(-0.05, 0.05), 6),
                "lng": round(lng + rng.uniform(-0.05, 0.05), 6), "status": status,
                "status_changed_at": now if status != "in_use" else None, "manufacture_date": made,
                "commissioning_date": commissioned, "design_life_years": life_years, "design_life_source": life_source,
                "design_life_end": life_end, "life_assessed_on": changed_on, "life_registration_changed_on": changed_on,
                "simple_pressure_vessel": simple, "next_inspection_date": next_due, "extended_until": None,
                "last_inspected_on": last_on, "last_conclusion": last_conclusion, "due_state": state,
                "created_at": now, "updated_at": None})
        for r, new_id in zip(reports, writer.ids("inspection_report", len(reports))):
            r["id"] = new_id
        writer.write("equipment", devices)
        writer.write("inspection_report", reports)
        row.done = start + n
        row.updated_at = utcnow()
        db.session.commit()
        progress.update(row.done)
    progress.finish(row.done)


def _device_history(rng: random.Random, today: date, interval: int, window_years: float) -> tuple[int, list[date]]:
    """Commissioning year and inspection dates (oldest first) of one device: every `interval` years
    back from a recent inspection, within the window and not before commissioning; ≈3% overdue."""
    year = rng.randint(2006, today.year - 1)
    last = today - timedelta(days=rng.randint(1, max(2, int(interval * 365) - 5)))
    if rng.random() < 0.03:
        last -= timedelta(days=int(interval * 365))     # overdue for inspection
    history = []
    day = last
    commissioned = date(year, 6, 30)
    while day >= commissioned and (today - day).days <= window_years * 365:
        history.append(day)
        day = day - timedelta(days=int(interval * 365))
    history = history or [last]
    history.reverse()
    return year, history


def _report_window(per_device: float, today: date, sample: int = 10_000) -> float:
    """The history window (years) that gives `per_device` reports per device on average: devices
    commissioned recently have fewer inspections than the window allows, so a window of
    reports / devices / (inspections a year) falls short (1.83 M instead of 2 M in the province run).
    Bisection over a fixed-seed sample of the same device mix and history rule."""
    rng = random.Random("report-window")
    mix = rng.choices([i for _v, _w, i in DEVICE_MIX], weights=[w for _v, w, _i in DEVICE_MIX], k=sample)
    seeds = [rng.random() for _ in range(sample)]

    def mean_reports(window: float) -> float:
        return sum(len(_device_history(random.Random(seed), today, interval, window)[1])
                   for seed, interval in zip(seeds, mix)) / sample

    low, high = 0.5, 40.0
    for _ in range(16):
        middle = (low + high) / 2
        low, high = (middle, high) if mean_reports(middle) < per_device else (low, middle)
    return high


def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:          # 29 February
        return day.replace(year=day.year + years, day=28)


# ---------------------------------------------------------------- templates (real engine)

# family -> (unit account, county supervisor, device variety, criteria); the demo seed's accounts.
FAMILIES = {
    "elevator": ("unit_xn", "xn_supervisor", ("3110",), ("GB45067-4.6b", "GB45067-4.6c")),
    "crane": ("unit_lz", "lz_supervisor", ("4110",), ("GB45067-4.7a",)),
    "forklift": ("unit_lz", "lz_supervisor", ("5110",), ("GB45067-4.10a",)),
}
FAMILY_WEIGHT = {"elevator": 70, "crane": 12, "forklift": 18}
# Device varieties whose hazards clone each family (same 《目录》 kind as the template device).
FAMILY_VARIETIES = {"elevator": ("3110", "3120", "3310", "3320", "3430"),
                    "crane": ("4110", "4170", "4210", "4310", "4860", "4410", "4D00"),
                    "forklift": ("5110",)}

# name -> (weight, steps); steps are (day offset, action). Most hazards of a 2-year ledger are closed;
# the mix leans to long cases (extension, one or two rework rounds) so that tasks and timeline
# entries reach province volume: ≈5.3 tasks and ≈20 timeline entries per case. The county bureau
# urges (催办) the use unit once in each rectification task before its feedback or extension request:
# while it works on the hazard, again as the (extended) deadline nears, after a failed verification.
TEMPLATE_PLANS = {
    "reported": (4, [(0, "report")]),
    "reported_by_unit": (2, [(0, "report_unit")]),
    "reported_by_agency": (2, [(0, "report_agency")]),
    "rectifying": (8, [(0, "report"), (1, "dispatch")]),
    "extension_pending": (2, [(0, "report"), (1, "dispatch"), (10, "urge_progress"), (15, "request_extension")]),
    "rectifying_extended": (2, [(0, "report"), (1, "dispatch"), (10, "urge_progress"), (15, "request_extension"),
                                (17, "approve_extension")]),
    "verifying": (4, [(0, "report"), (1, "dispatch"), (17, "urge"), (20, "feedback")]),
    "verifying_agency": (2, [(0, "report_agency"), (1, "dispatch"), (17, "urge"), (20, "feedback")]),
    "closed": (8, [(0, "report"), (1, "dispatch"), (17, "urge"), (20, "feedback"), (24, "verify_pass")]),
    "closed_rework": (30, [(0, "report"), (1, "dispatch"), (10, "urge_progress"), (15, "request_extension"),
                           (17, "approve_extension"), (19, "urge_extended"), (20, "feedback"), (24, "verify_fail"),
                           (32, "urge_rework"), (35, "feedback"), (38, "verify_pass")]),
    "closed_rework_twice": (24, [(0, "report"), (1, "dispatch"), (10, "urge_progress"), (15, "request_extension"),
                                 (17, "approve_extension"), (19, "urge_extended"), (20, "feedback"),
                                 (24, "verify_fail"), (29, "urge_rework"), (32, "feedback"), (35, "verify_fail"),
                                 (41, "urge_rework"), (44, "feedback"), (47, "verify_pass")]),
    "closed_agency": (8, [(0, "report_agency"), (1, "dispatch"), (17, "urge"), (20, "feedback"),
                          (25, "verify_agency_pass")]),
    "not_confirmed": (4, [(0, "report"), (2, "dispatch_reject")]),
}
# The note of each kind of 催办 (app/taskops/services.urge_case).
URGE_NOTES = {"urge": "整改期限临近，请按期提交整改反馈。",
              "urge_progress": "请加快整改进度，确实无法按期完成的请及时申请延期。",
              "urge_extended": "延期期间请严格落实停用措施，按批准的期限提交整改反馈。",
              "urge_rework": "复核未通过，请抓紧重新整改并按期提交整改反馈。"}


def _photo_jpeg() -> bytes:
    """A small real JPEG (uploads are decoded: app/core/filecheck.py)."""
    from PIL import Image
    out = io.BytesIO()
    Image.new("RGB", (32, 24), (120, 140, 160)).save(out, "JPEG")
    return out.getvalue()


JPEG = _photo_jpeg()


def _stage_templates(scale, preset, out) -> None:
    """Drive one hazard case per (family, step) through the real engine and remember them."""
    info = {}
    for family in FAMILIES:
        for name, (_weight, steps) in TEMPLATE_PLANS.items():
            case_id, marks = _build_template(family, steps)
            info[f"{family}:{name}"] = {"case_id": case_id, "marks": marks, "offsets": [s[0] for s in steps]}
    row = _stage("templates", scale)
    row.info = json.dumps(info)
    row.done = row.target = len(info)
    db.session.commit()
    means = template_means(info)
    out.write("templates: the mix gives per case " + ", ".join(f"{t} ≈{v:.2f}" for t, v in means.items())
              + " (before escalation)\n")


def template_means(info: dict) -> dict[str, float]:
    """Expected rows per generated case of each child table, from the templates' own rows and the
    family and template weights the cases stage draws with."""
    from ..cases.models import CaseEvent, Task
    from ..taskops.models import CaseCopy, Notification
    total = sum(FAMILY_WEIGHT[f] * TEMPLATE_PLANS[name][0] for f in FAMILIES for name in TEMPLATE_PLANS)
    means = {}
    for label, model in (("task", Task), ("case_event", CaseEvent), ("case_copy", CaseCopy),
                         ("notification", Notification)):
        counts = dict(db.session.execute(select(model.case_id, func.count()).where(
            model.case_id.in_([v["case_id"] for v in info.values()])).group_by(model.case_id)).all())
        means[label] = sum(FAMILY_WEIGHT[key.split(":")[0]] * TEMPLATE_PLANS[key.split(":")[1]][0]
                           * counts.get(v["case_id"], 0) for key, v in info.items()) / total
    return means


def _build_template(family: str, steps) -> tuple[int, list[float]]:
    from werkzeug.datastructures import FileStorage

    from ..cases.models import Task
    from ..core.models import Equipment, User
    from ..core.storage import save_upload
    from ..engine import runtime
    unit_name, supervisor_name, varieties, criteria = FAMILIES[family]
    users = {u.username: u for u in db.session.scalars(select(User).where(
        User.username.in_([unit_name, supervisor_name, "agency_gx"])))}
    unit, supervisor, agency = users[unit_name], users[supervisor_name], users["agency_gx"]
    device = db.session.scalar(select(Equipment).where(Equipment.use_org_id == unit.org_id,
                                                       Equipment.category_code.in_(varieties))
                               .order_by(Equipment.id))
    today = today_local()
    found = today
    marks: list[float] = []
    case = None

    def open_task():
        return db.session.scalar(select(Task).where(Task.case_id == case.id, Task.status == "open"))

    def work(user, data):
        task = open_task()
        runtime.claim_task(task.id, user)
        runtime.complete_task(task.id, user, data)

    for _offset, action in steps:
        time.sleep(0.002)
        marks.append(time.time())
        if action.startswith("report"):
            reporter = {"report": supervisor, "report_unit": unit, "report_agency": agency}[action]
            case = runtime.start_case("major_hazard", reporter, {
                "equipment_code": device.code, "criterion_id": criteria[0],
                "description": "现场检查发现安全保护装置失效，设备仍在运行（演示）。", "found_on": found.isoformat(),
                "rectify_deadline": (found + timedelta(days=30)).isoformat()})
        elif action == "dispatch":
            work(supervisor, {"dispatch_decision": "dispatch", "requirements": "立即停止使用，按判定准则要求整改并提交证明材料。",
                              "rectify_deadline": (found + timedelta(days=30)).isoformat(),
                              "opinion": "认定属实，派单督办。"})
        elif action == "dispatch_reject":
            work(supervisor, {"dispatch_decision": "reject", "opinion": "经现场核实不构成重大事故隐患。"})
        elif action == "request_extension":
            work(unit, {"feedback_type": "extension", "requested_deadline": (found + timedelta(days=50)).isoformat(),
                        "extension_reason": "需更换整套安全部件，配件订货周期较长。"})
        elif action == "approve_extension":
            work(supervisor, {"extension_decision": "approve",
                              "approved_deadline": (found + timedelta(days=50)).isoformat(),
                              "opinion": "同意延期，期间停止使用。"})
        elif action == "feedback":
            photo = save_upload(FileStorage(io.BytesIO(JPEG), filename="整改照片.jpg"), unit, "evidence")
            db.session.flush()
            work(unit, {"feedback_type": "feedback", "measures": "已更换失效部件并经维保单位调试合格。",
                        "completed_on": today.isoformat(), "evidence": [photo.id]})   # not in the future
        elif action == "verify_pass":
            work(supervisor, {"verify_result": "pass", "opinion": "现场复核整改到位，同意销号。"})
        elif action == "verify_fail":
            work(supervisor, {"verify_result": "fail", "opinion": "复核发现整改不到位，退回继续整改。"})
        elif action == "verify_agency_pass":
            work(agency, {"verify_result": "pass", "opinion": "复检合格。"})
        elif action in URGE_NOTES:
            from ..taskops.services import urge_case
            urge_case(case.id, supervisor, URGE_NOTES[action])
        else:
            raise ValueError(action)
        db.session.commit()
    return case.id, marks


# ---------------------------------------------------------------- cases (clones)

@dataclass
class Population:
    devices: dict[str, list[tuple]]          # family -> [(id, code, name, org_id, county)]
    org_names: dict[int, str]
    unit_user: dict[int, tuple[int, str]]     # org id -> (user id, display name)
    supervisors: dict[str, list[tuple[int, str]]]   # region -> [(user id, display name)]
    agencies_by_city: dict[str, list[int]]
    agency_user: dict[int, tuple[int, str]]
    regions: Regions
    # city code -> the active city supervisors (user id, display name) in the order the BPMN copy
    # (taskops.services.role_recipients: region code, username) lists them, demo accounts included
    city_supervisors: dict[str, list[tuple[int, str]]]


def load_population() -> Population:
    from ..core.models import Equipment, Organization, User
    regions = load_regions()
    variety_family = {v: f for f, vs in FAMILY_VARIETIES.items() for v in vs}
    devices: dict[str, list[tuple]] = {f: [] for f in FAMILY_VARIETIES}
    generated = select(Organization.id).where(func.substr(Organization.uscc, 9, 1) == "G")
    for r in db.session.execute(select(Equipment.id, Equipment.code, Equipment.name, Equipment.use_org_id,
                                       Equipment.region_code, Equipment.category_code)
                                .where(Equipment.status == "in_use", Equipment.use_org_id.in_(generated))
                                .order_by(Equipment.id)):
        family = variety_family.get(r.category_code)
        if family:
            devices[family].append((r.id, r.code, r.name, r.use_org_id, r.region_code))
    org_names = {i: n for i, n in db.session.execute(select(Organization.id, Organization.name).where(Organization.id.in_(generated)))}
    unit_user, agency_user, supervisors = {}, {}, {}
    for u in db.session.execute(select(User.id, User.display_name, User.role, User.region_code, User.org_id)
                                .where(User.username.like("g%"))):
        if u.role == "use_unit" and u.org_id:
            unit_user[u.org_id] = (u.id, u.display_name)
        elif u.role == "inspection_agency" and u.org_id:
            agency_user[u.org_id] = (u.id, u.display_name)
        elif u.role in ("county_supervisor", "city_supervisor", "province_supervisor"):
            supervisors.setdefault(u.region_code, []).append((u.id, u.display_name))
    agencies_by_city: dict[str, list[int]] = {}
    for org_id, region in _generated_orgs("inspection_agency"):
        agencies_by_city.setdefault(region[:4], []).append(org_id)
    city_supervisors: dict[str, list[tuple[int, str]]] = {}
    for u in db.session.execute(select(User.id, User.display_name, User.region_code)
                                .where(User.role == "city_supervisor", User.is_active_flag.is_(True))
                                .order_by(User.region_code, User.username)):
        city_supervisors.setdefault(u.region_code, []).append((u.id, u.display_name))
    return Population(devices, org_names, unit_user, supervisors, agencies_by_city, agency_user, regions,
                      city_supervisors)


@dataclass
class TemplateContext:
    """A compiled template and the template-side names/ids its clones replace."""
    tpl: object
    family: str
    weight: int
    running: bool
    unit_org: int
    agency_org: int
    users: dict[str, int]        # role key -> template user id
    county: str
    city: str
    device: tuple                # (id, code, name)
    texts: dict[str, str]        # template literal -> role key
    uuids: list[str]
    dates: list[str]
    prefix: str


def load_templates(info: dict) -> list[TemplateContext]:
    from ..cases.models import Case
    from ..core.models import Equipment, Organization, User
    from ..core.regions import city_of, region_full_name, region_name
    from ..taskops.models import CaseCopy
    from .clone import load_template
    out = []
    agency_user = db.session.scalar(select(User).where(User.username == "agency_gx"))
    for key, item in info.items():
        family, name = key.split(":")
        unit_name, supervisor_name, _v, _c = FAMILIES[family]
        unit = db.session.scalar(select(User).where(User.username == unit_name))
        supervisor = db.session.scalar(select(User).where(User.username == supervisor_name))
        case = db.session.get(Case, item["case_id"])
        device = db.session.get(Equipment, case.equipment_id)
        county, city = case.region_code, city_of(case.region_code)
        unit_org = db.session.get(Organization, unit.org_id)
        agency_org = db.session.get(Organization, agency_user.org_id)
        texts = {unit_org.name: "unit_org", agency_org.name: "agency_org", region_full_name(county): "county_full",
                 region_name(county): "county", region_name(city): "city", device.name: "device_name",
                 device.code: "device_code", unit.display_name: "unit_user", supervisor.display_name: "supervisor",
                 agency_user.display_name: "agency_user", case.case_no: "case_no"}
        from ..hazards.models import Hazard
        hazard = db.session.scalar(select(Hazard).where(Hazard.case_id == case.id))
        if hazard is not None and hazard.notice_no:
            texts[hazard.notice_no] = "notice_no"
        # 派单督办 copies the case to the city bureau (BPMN ccRoles): its recipients are replaced whole
        copied = list(db.session.execute(select(User.id, User.display_name).join(CaseCopy, CaseCopy.user_id == User.id)
                                         .where(CaseCopy.case_id == case.id, CaseCopy.source == "bpmn")
                                         .order_by(CaseCopy.id)))
        if copied:
            texts["、".join(name for _id, name in copied)] = "copy_people"
        tpl = load_template(key, case.id, item["offsets"], item["marks"], list(texts),
                            group=tuple(user_id for user_id, _name in copied),
                            people=frozenset((supervisor.id, unit.id, agency_user.id)))
        uuids = sorted(k[5:] for k in tpl.slot_keys if k.startswith("uuid:"))
        dates = sorted(k[5:] for k in tpl.slot_keys if k.startswith("date:"))
        out.append(TemplateContext(tpl=tpl, family=family, weight=TEMPLATE_PLANS[name][0],
                                   running=case.status == "running", unit_org=unit_org.id,
                                   agency_org=agency_org.id,
                                   users={"supervisor": supervisor.id, "unit_user": unit.id, "agency_user": agency_user.id},
                                   county=county, city=city, device=(device.id, device.code, device.name),
                                   texts=texts, uuids=uuids, dates=dates, prefix=case.case_no[:-12]))
    return out


CASE_WORKERS = {"value": 2}   # set by run(); PostgreSQL only (SQLite has one writer)


def _stage_cases(scale, preset, out) -> None:
    """Clone the templates in chunks. Chunk c belongs to worker c % W; each worker records its own
    progress (stage rows cases.0 … cases.W-1) and numbers its cases k+1, k+1+W, … per day, so
    workers need no shared state and a stopped run resumes each stripe where it stopped."""
    total = preset["cases"]
    workers = CASE_WORKERS["value"] if db.engine.dialect.name == "postgresql" else 1
    row = _stage("cases", scale)
    row.target = total
    if row.info:
        workers = json.loads(row.info)["workers"]      # a resumed run keeps its stripes
    else:
        from ..core.models import Counter
        base = {f"{name}|{period}": value
                for name, period, value in db.session.execute(select(Counter.name, Counter.period, Counter.value))
                if name.startswith(("case:", "notice:"))}
        row.info = json.dumps({"workers": workers, "base": base})
    for k in range(workers):
        _stage(f"cases.{k}", scale)
    db.session.commit()
    bulk_indexes = _secondary_indexes() if db.engine.dialect.name == "postgresql" else []
    for index in bulk_indexes:
        # Maintaining a dozen indexes row by row costs the server more than the rows themselves;
        # they are built once at the end (a resumed run drops nothing more and builds them then).
        db.session.execute(text(f'DROP INDEX IF EXISTS "{index.name}"'))
    db.session.commit()
    progress = Progress("cases", total, _cases_done(workers), out)
    if workers == 1:
        _cases_worker(scale, preset, 0, 1, lambda: progress.update(_cases_done(1)))
    else:
        import multiprocessing
        app = current_app._get_current_object()
        db.session.remove()
        db.engine.dispose()
        ctx = multiprocessing.get_context("fork")
        procs = [ctx.Process(target=_cases_process, args=(app, scale, preset, k, workers), daemon=False)
                 for k in range(workers)]
        for p in procs:
            p.start()
        while any(p.is_alive() for p in procs):
            time.sleep(2)
            progress.update(_cases_done(workers))
            db.session.remove()
        for p in procs:
            p.join()
        if any(p.exitcode != 0 for p in procs):
            raise click_error("生成案件的工作进程出错（见上方错误）；再次运行同一命令可从中断处继续")
    done = _cases_done(workers)
    progress.finish(done)
    if bulk_indexes:
        t0 = time.monotonic()
        db.session.execute(text("SET maintenance_work_mem = '512MB'"))
        for index in bulk_indexes:
            index.create(db.session.connection(), checkfirst=True)
        db.session.commit()
        out.write(f"cases: {len(bulk_indexes)} indexes built in {time.monotonic() - t0:.1f} s\n")
    row = db.session.get(DemoGeneration, "cases")
    row.done = done
    for k in range(workers):
        stripe = db.session.get(DemoGeneration, f"cases.{k}")
        stripe.status, stripe.target = "done", stripe.done
    db.session.commit()


BULK_TABLES = ("case_record", "task", "case_event", "case_party", "hazard", "attachment", "case_copy", "notification")


def _secondary_indexes() -> list:
    """Non-unique indexes of the tables the cases stage fills (unique ones stay: they guard the data)."""
    return [index for name in BULK_TABLES for index in sorted(db.metadata.tables[name].indexes, key=lambda i: i.name)
            if not index.unique]


def _cases_done(workers: int) -> int:
    db.session.expire_all()
    return sum(db.session.get(DemoGeneration, f"cases.{k}").done for k in range(workers))


def _cases_process(app, scale, preset, k, workers) -> None:
    with app.app_context():
        db.engine.dispose(close=False)     # never share the parent's connections
        _cases_worker(scale, preset, k, workers, None)
        db.session.remove()


def _cases_worker(scale, preset, k, workers, on_chunk) -> None:
    from ..engine.runtime import warning_for
    from ..hazards.models import Hazard
    from .clone import LATE_ID_TABLES, CloneSpec, build_rows, fresh_uuids
    total = preset["cases"]
    chunk = preset["chunk"]
    stage = f"cases.{k}"
    row = db.session.get(DemoGeneration, stage)
    number_base = json.loads(db.session.get(DemoGeneration, "cases").info)["base"]
    # state: per-day/-year counts of this stripe; numbers are base + count * workers + k + 1
    state = json.loads(row.info) if row.info else {"next_chunk": k, "case_no": {}, "notice_no": {}}
    db.session.commit()

    def number(bucket: str, key: str) -> int:
        count = state[bucket].get(key, 0)
        state[bucket][key] = count + 1
        return number_base.get(key, 0) + count * workers + k + 1

    info = json.loads(db.session.get(DemoGeneration, "templates").info)
    templates = load_templates(info)
    pop = load_population()
    for family, devices in pop.devices.items():
        if not devices:
            raise click_error(f"没有可用于 {family} 隐患的在用设备")
    writer = Writer()
    today = today_local()
    now_ts = time.time()
    warn_cache: dict = {}
    hazard_warn_cache: dict = {}
    by_family = {f: [t for t in templates if t.family == f] for f in FAMILIES}
    from ..engine import decisions

    def warning(due):
        if due is None:
            return "none"
        due = as_utc(due)
        key = due.astimezone(DISPLAY_TZ).date()
        if key not in warn_cache:
            warn_cache[key] = warning_for(due)
        return warn_cache[key]

    def hazard_warning(deadline: date) -> str:
        days = (deadline - today).days
        if days not in hazard_warn_cache:
            hazard_warn_cache[days] = decisions.evaluate("warning_level", days_left=days).get("level") or "none"
        return hazard_warn_cache[days]

    sink = ChunkSink(writer, stage, ("case_record", "case_party", "hazard", "attachment", "task", "case_event",
                                     "case_copy", "notification"))
    done = row.done
    while state["next_chunk"] * chunk < total:
        index = state["next_chunk"]
        start = index * chunk
        n = min(chunk, total - start)
        rng = _rng(scale, "cases", index)
        families = rng.choices(list(FAMILY_WEIGHT), weights=list(FAMILY_WEIGHT.values()), k=n)
        case_ids = writer.ids("case_record", n)
        picks = []
        for family in families:
            options = by_family[family]
            picks.append(rng.choices(options, weights=[t.weight for t in options])[0])
        need = {t: sum(tc.tpl.count(t) for tc in picks) for t in ("task", "case_event", "case_party", "attachment",
                                                                   "hazard")}
        pools = {t: iter(writer.ids(t, k)) for t, k in need.items()}
        batch: dict[str, list[dict]] = {t: [] for t in ("case_record",) + tuple(need) + LATE_ID_TABLES}
        for case_id, tc in zip(case_ids, picks):
            tpl = tc.tpl
            device = rng.choice(pop.devices[tc.family])
            dev_id, dev_code, dev_name, org_id, county = device
            city = county[:4] + "00"
            agency_org = rng.choice(pop.agencies_by_city.get(county[:4]) or
                                    [a for v in pop.agencies_by_city.values() for a in v])
            supervisor = rng.choice(pop.supervisors[county])
            copy_people = pop.city_supervisors.get(city, [])
            if tpl.group and not copy_people:
                raise click_error(f"{pop.regions.names[city]}没有市局监察人员，无法生成派单督办的抄送")
            unit_user = pop.unit_user[org_id]
            agency_user = pop.agency_user[agency_org]
            # Age: running cases recent (a few overdue), closed ones over two years.
            last = tc.tpl.last_offset
            if tc.running:
                deadline_offset = (tpl.deadline_day - tpl.base_day).days if tpl.deadline_day else last + 10
                if rng.random() < 0.02:
                    age = rng.randint(deadline_offset + 1, deadline_offset + 10)
                else:
                    age = rng.randint(int(last), max(int(last), deadline_offset - 1))
            else:
                age = rng.randint(int(last) + 1, 730)
            found = today - timedelta(days=age)
            shift = (found - tpl.base_day).days
            base = datetime.combine(found, dtime(9, 0), tzinfo=DISPLAY_TZ).timestamp() + rng.randint(0, 7 * 3600)
            starts, extra = [], 0.0
            for offset in tpl.offsets:
                extra += rng.randint(0, 3 * 3600)
                starts.append(min(base + offset * 86400 + extra, now_ts - 60))
            created_local = datetime.fromtimestamp(starts[0], tz=DISPLAY_TZ)
            day_key = f"case:{tc.prefix}|{created_local:%Y%m%d}"
            case_no = f"{tc.prefix}{created_local:%Y%m%d}{number('case_no', day_key):04d}"
            values = {
                f"region:{tc.county}": county, f"region:{tc.city}": city, "region:450000": "450000",
                f"org:{tc.unit_org}": str(org_id), f"org:{tc.agency_org}": str(agency_org),
                f"user:{tc.users['supervisor']}": str(supervisor[0]), f"user:{tc.users['unit_user']}": str(unit_user[0]),
                f"user:{tc.users['agency_user']}": str(agency_user[0]),
                f"equipment:{tc.device[0]}": str(dev_id), f"eqcode:{tc.device[1]}": dev_code,
                f"case:{tpl.case_id}": str(case_id),
            }
            names = {"unit_org": pop.org_names[org_id], "agency_org": pop.org_names[agency_org],
                     "county_full": pop.regions.names[city] + pop.regions.names[county],
                     "county": pop.regions.names[county],
                     "city": pop.regions.names[city], "device_name": dev_name, "device_code": dev_code,
                     "unit_user": unit_user[1], "supervisor": supervisor[1], "agency_user": agency_user[1],
                     "case_no": case_no, "copy_people": "、".join(name for _id, name in copy_people)}
            values["group:copy"] = json.dumps([user_id for user_id, _name in copy_people])
            for hz in tpl.rows.get("hazard", []):
                values[f"caseno:{hz['hazard_no']}"] = case_no
                if hz.get("notice_no"):
                    year = datetime.fromtimestamp(starts[min(1, len(starts) - 1)], tz=DISPLAY_TZ).year
                    key = f"notice:{county}|{year}"
                    seq = number("notice_no", key)
                    names["notice_no"] = values[f"noticeno:{hz['notice_no']}"] = f"特隐整〔{year}〕{county}-{seq:04d}号"
            values[f"caseno:{tpl.rows['case_record'][0]['case_no']}"] = case_no
            for literal, role in tc.texts.items():
                values[f"name:{literal}"] = names[role]
            for d in tc.dates:
                values[f"date:{d}"] = (date.fromisoformat(d) + timedelta(days=shift)).isoformat()
            for old, new in fresh_uuids(case_id, tc.uuids, rng.getrandbits(24)).items():
                values[f"uuid:{old}"] = new
            ids = {}
            for t in need:
                ids[t] = [next(pools[t]) for _ in range(tpl.count(t))]
            for table, kind in (("hazard", "hazard"), ("attachment", "att"), ("task", "task")):
                for old, new_id in zip(tpl.template_ids.get(table, []), ids.get(table, [])):
                    values[f"{kind}:{old}"] = str(new_id)
            rows = build_rows(tpl, CloneSpec(case_id=case_id, values=values, ids=ids, shift_days=shift,
                                             action_starts=starts, group=[user_id for user_id, _n in copy_people]))
            for table in LATE_ID_TABLES:
                for r in rows[table]:
                    r["read_at"] = _read_at(rng, r["created_at"], now_ts)
            # Warning colours as of today (the scheduler keeps them current from here on).
            open_tasks = [t for t in rows["task"] if t["status"] == "open"]
            for t in open_tasks:
                t["warning_level"] = warning(t["due_at"])
            from ..cases.models import WARNING_RANK
            rows["case_record"][0]["warning_level"] = max((t["warning_level"] for t in open_tasks),
                                                          key=lambda w: WARNING_RANK.get(w, 0), default="none")
            for hz in rows.get("hazard", []):
                hz["warning_level"] = (hazard_warning(hz["rectify_deadline"])
                                       if hz["status"] in Hazard.WARNING_STATUSES else "none")
            for t, new_rows in rows.items():
                batch[t].extend(new_rows)
        for table in LATE_ID_TABLES:
            for r, new_id in zip(batch[table], writer.ids(table, len(batch[table]))):
                r["id"] = new_id
        db.session.commit()          # ends the id-allocating read transaction
        done += n
        state["next_chunk"] = index + workers
        sink.put(batch, done, json.dumps(state))
        if on_chunk:
            on_chunk()
    sink.close()


READ_AFTER_DAYS = 7       # copies and reminders older than this were mostly read (90 %)


def _read_at(rng: random.Random, created_at: datetime, now_ts: float) -> datetime | None:
    """When the recipient read a cloned copy (抄送) or reminder: most older ones a few minutes to two
    days after they arrived (never in the future), recent ones not yet."""
    created = created_at.timestamp()
    if now_ts - created < READ_AFTER_DAYS * 86400 or rng.random() >= 0.9:
        return None
    return datetime.fromtimestamp(min(created + rng.randint(300, 2 * 86400), now_ts - 60), tz=timezone.utc)


# The foreign keys of the generated rows (checked once at the end: the COPY path may run without
# per-row triggers).
REFERENCES = [("case_record", "org_id", "organization"), ("case_record", "equipment_id", "equipment"),
              ("case_record", "started_by_id", "user_account"), ("case_record", "region_code", "region"),
              ("task", "case_id", "case_record"), ("task", "candidate_org_id", "organization"),
              ("task", "assignee_id", "user_account"), ("task", "completed_by_id", "user_account"),
              ("case_event", "case_id", "case_record"), ("case_event", "actor_id", "user_account"),
              ("case_party", "case_id", "case_record"), ("case_party", "org_id", "organization"),
              ("hazard", "case_id", "case_record"), ("hazard", "equipment_id", "equipment"),
              ("hazard", "use_org_id", "organization"), ("hazard", "reporter_id", "user_account"),
              ("attachment", "case_id", "case_record"), ("attachment", "uploaded_by_id", "user_account"),
              ("case_copy", "case_id", "case_record"), ("case_copy", "user_id", "user_account"),
              ("case_copy", "task_id", "task"), ("case_copy", "sender_id", "user_account"),
              ("notification", "case_id", "case_record"), ("notification", "user_id", "user_account"),
              ("notification", "task_id", "task"), ("notification", "sender_id", "user_account"),
              ("equipment", "use_org_id", "organization"), ("inspection_report", "equipment_id", "equipment"),
              ("inspection_report", "agency_org_id", "organization"), ("org_contact", "org_id", "organization"),
              ("user_account", "org_id", "organization")]


REFERENCES += [("elevator", "equipment_id", "equipment"), ("elevator_plan", "equipment_id", "equipment"),
               ("elevator_work_order", "equipment_id", "equipment"), ("elevator_work_order", "plan_id", "elevator_plan"),
               ("elevator_work_order", "maintainer_id", "user_account")]
COUNTED += ("elevator", "elevator_plan", "elevator_work_order")


def _stage_finish(scale, preset, out) -> None:
    """Counters continue after the generated numbers; statistics for the planner."""
    from ..core.models import Counter
    cases = json.loads(db.session.get(DemoGeneration, "cases").info or "{}")
    workers, base = cases.get("workers", 0), cases.get("base", {})
    highest: dict[str, int] = {}
    for k in range(workers):
        state = json.loads(db.session.get(DemoGeneration, f"cases.{k}").info or "{}")
        for bucket in ("case_no", "notice_no"):
            for key, count in state.get(bucket, {}).items():
                last = base.get(key, 0) + (count - 1) * workers + k + 1
                highest[key] = max(highest.get(key, 0), last)
    if highest:
        for key, value in highest.items():
            name, period = key.split("|")
            counter = db.session.scalar(select(Counter).where(Counter.name == name, Counter.period == period))
            if counter is None:
                db.session.add(Counter(name=name, period=period, value=value))
            elif counter.value < value:
                counter.value = value
    orphans = {}
    for child, column, parent in REFERENCES:
        orphans[f"{child}.{column}"] = db.session.execute(text(
            f"SELECT count(*) FROM {child} x WHERE x.{column} IS NOT NULL AND NOT EXISTS "
            f"(SELECT 1 FROM {parent} p WHERE p.{'code' if parent == 'region' else 'id'} = x.{column})")).scalar()
    bad = {k: v for k, v in orphans.items() if v}
    if bad:
        raise click_error(f"生成的数据引用了不存在的记录: {bad}")
    out.write(f"finish: references checked ({len(REFERENCES)} foreign keys, no orphans)\n")
    row = _stage("finish", scale)
    row.done = row.target = 1
    db.session.commit()
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text("ANALYZE"))       # plans for the escalation pass that follows
        db.session.commit()


def _stage_escalate(scale, preset, out) -> None:
    from ..scheduler.jobs import run_job
    run = run_job("timers", "cli")
    out.write(f"timers: {run.items} cases escalated, {run.failures} failures, {run.duration_ms / 1000:.1f} s\n")
    row = _stage("escalate", scale)
    row.done = row.target = run.items
    db.session.commit()


def _stage_vacuum(scale, preset, out) -> None:
    if db.engine.dialect.name == "postgresql":
        db.session.commit()
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    row = _stage("vacuum", scale)
    row.done = row.target = 1
    db.session.commit()


def stages_report() -> list[dict]:
    return [{"stage": r.stage, "scale": r.scale, "done": r.done, "target": r.target, "status": r.status,
             "seconds": round(r.seconds or 0, 1)}
            for r in db.session.scalars(select(DemoGeneration))]


