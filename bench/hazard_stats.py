"""Hazard statistics benchmark (§4.3.3 target: every chart < 1 s on PostgreSQL at province scale).

    .venv/bin/python bench/hazard_stats.py [--hazards 200000] [--runs 3]

Builds (once; run again to reuse or grow) the database gx_hazards2 next to PG_TEST_URL: the schema by the
migrations, the reference data and demo accounts by the demo seed, then use units, devices and major
hazards spread over Guangxi's 111 counties with set-based SQL (the hazards carry minimal case rows —
the charts read the hazard ledger, not the engine state). Then it times each chart's query
(app/hazards/stats.py, the page's own functions) for the province, a city and a county: first run and
best of --runs, plus the whole statistics page's query set.
"""
from __future__ import annotations

import argparse
import time

from common import use_database

UNITS_PER_COUNTY = 40
DEVICES_PER_UNIT = 8


def build(target: int) -> None:
    from sqlalchemy import func, select, text

    from app.extensions import db
    from app.hazards.models import Hazard
    have = db.session.scalar(select(func.count(Hazard.id))) or 0
    if have >= target:
        print(f"gx_hazards2: {have:,} hazards already")
        return
    conn = db.session.connection()
    started = time.perf_counter()
    if not conn.execute(text("SELECT count(*) FROM organization WHERE uscc LIKE 'B2%'")).scalar():
        conn.execute(text("""
            INSERT INTO organization (uscc, name, kind, region_code, kinds, created_at)
            SELECT 'B2' || r.code || lpad(g::text, 10, '0'), r.name || '压测使用单位' || g, 'use_unit', r.code, '', now()
            FROM region r CROSS JOIN generate_series(1, :n) g WHERE r.level = 'county'"""), {"n": UNITS_PER_COUNTY})
        conn.execute(text("""
            INSERT INTO equipment (code, name, category_code, kind_code, class_code, use_org_id, region_code,
                                   registered_region_code, movable, status, simple_pressure_vessel, due_state, created_at)
            SELECT 'B2' || o.id || '-' || g, '压测设备' || g, c.code, substr(c.code, 1, 1) || '000', substr(c.code, 1, 2) || '00',
                   o.id, o.region_code, o.region_code, false, 'in_use', false, 'valid', now()
            FROM organization o CROSS JOIN generate_series(1, :n) g
            JOIN LATERAL (SELECT code FROM (VALUES ('3110'), ('3310'), ('1100'), ('2150'), ('4110'), ('5110'), ('6000'), ('3110'))
                          v(code) OFFSET (g % 8) LIMIT 1) c ON true
            WHERE o.uscc LIKE 'B2%'"""), {"n": DEVICES_PER_UNIT})
    pv = conn.execute(text("SELECT id FROM process_version WHERE process_key = 'major_hazard' ORDER BY version DESC LIMIT 1")).scalar()
    starter = conn.execute(text("SELECT id FROM user_account WHERE username = 'gx_province'")).scalar()
    criteria = [r[0] for r in conn.execute(text(
        "SELECT id FROM hazard_criterion WHERE NOT is_cross_reference ORDER BY id"))]
    devices = conn.execute(text("SELECT count(*) FROM equipment WHERE code LIKE 'B2%'")).scalar()
    batch = 50_000
    while have < target:
        n = min(batch, target - have)
        conn.execute(text("""
            WITH src AS (
                SELECT g, e.id AS equipment_id, e.use_org_id, e.region_code,
                       (ARRAY['reported','rectifying','extension_pending','verifying','closed','closed','closed','rejected'])[1 + (g % 8)] AS status,
                       (ARRAY['supervisor','agency','maintenance','use_unit'])[1 + (g % 4)] AS source,
                       (CAST(:criteria AS varchar[]))[1 + (g % cardinality(CAST(:criteria AS varchar[])))] AS criterion_id,
                       current_date - ((g * 7919) % 730)::int AS found_on
                FROM generate_series(CAST(:start AS bigint) + 1, CAST(:start AS bigint) + :n) g
                JOIN equipment e ON e.id = (SELECT min(id) FROM equipment WHERE code LIKE 'B2%') + ((g * 104729) % :devices)::int
            ), cases AS (
                INSERT INTO case_record (case_no, process_key, process_version_id, title, status, region_code, org_id,
                                         equipment_id, started_by_id, warning_level, timer_failures, paused_seconds, state,
                                         serializer_version, lock_version, created_at, updated_at)
                SELECT 'B2YH' || lpad(g::text, 10, '0'), 'major_hazard', :pv, '压测隐患' || g,
                       CASE WHEN status IN ('closed', 'rejected') THEN 'closed' ELSE 'running' END, region_code, use_org_id,
                       equipment_id, :starter, 'none', 0, 0, '{}', '1.5', 0, found_on::timestamptz, found_on::timestamptz
                FROM src RETURNING id, case_no
            )
            INSERT INTO hazard (case_id, hazard_no, equipment_id, use_org_id, region_code, source, reporter_id, criterion_id,
                                description, found_on, rectify_deadline, status, warning_level, extension_count, created_at)
            SELECT c.id, c.case_no, s.equipment_id, s.use_org_id, s.region_code, s.source, :starter, s.criterion_id,
                   '压测隐患描述', s.found_on, s.found_on + 30, s.status,
                   CASE WHEN s.status IN ('rectifying','extension_pending') AND s.found_on + 30 < current_date THEN 'red' ELSE 'none' END,
                   0, s.found_on::timestamptz
            FROM src s JOIN cases c ON c.case_no = 'B2YH' || lpad(s.g::text, 10, '0')"""),
            {"criteria": criteria, "start": have, "n": n, "devices": devices, "pv": pv, "starter": starter})
        db.session.commit()
        conn = db.session.connection()
        have += n
        print(f"  {have:,} hazards ({time.perf_counter() - started:.0f} s)", flush=True)
    conn.execute(text("ANALYZE hazard; ANALYZE hazard_criterion; ANALYZE equipment; ANALYZE organization"))
    db.session.commit()


def timed(fn, runs: int) -> tuple[float, float]:
    from app.extensions import db
    times = []
    for _ in range(runs):
        db.session.expire_all()
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
        db.session.rollback()
    return times[0] * 1000, min(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hazards", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    use_database("hazards2", create=True)
    from app import create_app
    from app.config import Config
    app = create_app(Config(PASSWORD_ITERATIONS=1000))
    with app.app_context():
        from flask_migrate import upgrade
        from sqlalchemy import func, select

        from app.cli import deploy_all
        from app.core.models import User
        from app.demo import seed
        from app.extensions import db
        from app.hazards import stats
        from app.hazards.models import Hazard
        upgrade()
        deploy_all()
        seed(iterations=1000, with_cases=False)
        db.session.commit()
        build(args.hazards)
        total = db.session.scalar(select(func.count(Hazard.id)))
        print(f"\nhazards: {total:,}; charts of app/hazards/stats.py, first run / best of {args.runs} (ms)")
        province = db.session.scalar(select(User).where(User.username == "gx_province"))
        worst = 0.0
        for label, region in (("province 450000", "450000"), ("city 南宁 450100", "450100"), ("county 兴宁 450102", "450102")):
            f = stats.StatsFilter.from_args(province, {"region": region})
            print(f"  {label}")
            page_first = page_best = 0.0
            for key, fn in {**stats.CHARTS, "totals": stats.totals}.items():
                first, best = timed(lambda fn=fn: fn(f), args.runs)
                worst = max(worst, best)
                page_first += first
                page_best += best
                print(f"    {key:<12} {first:8.1f} {best:8.1f}")
            print(f"    {'whole page':<12} {page_first:8.1f} {page_best:8.1f}")
        print(f"\nslowest chart (best of runs): {worst:.1f} ms — target < 1000 ms")


if __name__ == "__main__":
    main()
