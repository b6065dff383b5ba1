"""电梯维保监管 on PostgreSQL (a database of its own, gx_elevsup): N elevators spread over every Guangxi county
and N/250 maintenance units, each with a year of archived work orders (about 24 per elevator, the generator's
`elevators` stage), then:

- 维保计划管理: the overdue-plan page (province and city supervisor) and its API (summary + elevators);
- statistics: the page at province level (default 30 days and a whole year), a unit's page, the API;
- the nightly warning computation (rules.nightly: 逾期未保 over every elevator under contract, the visit
  rules over the last 8 days' orders, volume) — the first run (which raises the warnings) and a second one
  (idempotent: nothing new).

    .venv/bin/python bench/elevator_supervision.py [--elevators 30000] [--samples 20]

Targets (issue 20): list and statistics pages < 1 s at 300,000 elevators / 7 M records; nightly < 5 min.
Prints one line per measurement (server-side times of the application's own requests, milliseconds).
"""
from __future__ import annotations

import argparse
import io
import random
import time

from common import bench_app, pct, web_login

UNIT_SIZE = 250          # elevators per generated maintenance unit


def build(n: int) -> None:
    from flask_migrate import upgrade
    from sqlalchemy import func, select, text

    from app.cli import deploy_all
    from app.core.clock import utcnow
    from app.core.models import Equipment, Region
    from app.demo import seed
    from app.elevators.models import ElevatorFacts, WorkOrder
    from app.elevators.scale import _maintainer_accounts, stage_elevators
    from app.extensions import db
    from app.scale.generate import Writer
    upgrade()
    deploy_all()
    if not db.session.scalar(select(func.count(ElevatorFacts.id))):
        seed(iterations=1000, with_cases=False)
        db.session.commit()
    have = db.session.scalar(select(func.count(Equipment.id)).where(Equipment.code.like("3110S%")))
    if have < n:
        template = db.session.scalar(select(Equipment).join(ElevatorFacts, ElevatorFacts.equipment_id == Equipment.id)
                                     .order_by(Equipment.id))
        counties = list(db.session.scalars(select(Region.code).where(Region.level == "county", Region.code.like("45%"))
                                           .order_by(Region.code)))
        writer, now, rng = Writer(), utcnow(), random.Random(7)
        t0 = time.perf_counter()
        units_needed = max(1, -(-n // UNIT_SIZE))
        unit_ids = writer.ids("organization", units_needed)
        units = [{"id": i, "uscc": f"91450S{i:012d}"[:18], "name": f"压测电梯维保有限公司{k + 1:04d}",
                  "kind": "maintenance_unit", "region_code": counties[k % len(counties)], "kinds": "",
                  "created_at": now} for k, i in enumerate(unit_ids)]
        writer.write("organization", units)
        db.session.commit()
        todo, done = n - have, have
        while todo > 0:
            k = min(5000, todo)
            ids = writer.ids("equipment", k)
            rows = []
            for j, i in enumerate(ids):
                unit = units[(done + j) // UNIT_SIZE % len(units)]
                lat = 21.5 + (int(unit["region_code"]) % 397) / 100 + rng.uniform(-0.05, 0.05)
                lng = 105.5 + (int(unit["region_code"]) % 499) / 100 + rng.uniform(-0.05, 0.05)
                rows.append({"id": i, "code": f"3110S{i:013d}", "name": f"压测电梯 {i}号", "category_code": "3110",
                             "kind_code": "3000", "class_code": "3100", "use_org_id": template.use_org_id,
                             "maintenance_org_id": unit["id"], "region_code": unit["region_code"],
                             "registered_region_code": unit["region_code"], "movable": False,
                             "address": template.address, "lat": lat, "lng": lng, "status": "in_use",
                             "due_state": "no_record", "simple_pressure_vessel": False, "created_at": now})
            writer.write("equipment", rows)
            db.session.commit()
            todo -= k
            done += k
        _maintainer_accounts(writer)          # two maintainers per new unit (the stage makes them on its first run only)
        db.session.commit()
        stage_elevators("bench", {"chunk": 4000}, io.StringIO())
        db.session.execute(text("ANALYZE"))
        db.session.commit()
        print(f"built {n:,} elevators in {time.perf_counter() - t0:.1f} s")
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE elevator_work_order"))   # the visibility map: index-only statistics scans
    print(f"elevators {db.session.scalar(select(func.count(ElevatorFacts.id))):,}, "
          f"work orders {db.session.scalar(select(func.count(WorkOrder.id))):,}")


def timed(client, url: str, samples: int) -> tuple[float, float]:
    client.get(url)                                    # warm
    times = []
    for _ in range(samples):
        t0 = time.perf_counter()
        resp = client.get(url, headers=getattr(client, "bench_headers", None))
        times.append(time.perf_counter() - t0)
        assert resp.status_code == 200, (url, resp.status_code)
    return pct(times, 0.5), pct(times, 0.95)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--elevators", type=int, default=30_000)
    parser.add_argument("--samples", type=int, default=20)
    args = parser.parse_args()
    app = bench_app("elevsup")
    with app.app_context():
        build(args.elevators)
        from sqlalchemy import func, select

        from app.core.models import Equipment
        from app.extensions import db
        biggest = db.session.execute(select(Equipment.maintenance_org_id, func.count()).where(
            Equipment.code.like("3110S%")).group_by(Equipment.maintenance_org_id).order_by(func.count().desc())
            .limit(1)).first()[0]
        db.session.remove()

    province, city = web_login(app, "gx_province"), web_login(app, "nn_city")
    year = "date_from=" + time.strftime("%Y-%m-%d", time.gmtime(time.time() - 364 * 86400))
    for label, client, url in (
            ("overdue plans page, province", province, "/elevator-supervision/plans"),
            ("overdue plans page, city", city, "/elevator-supervision/plans"),
            ("overdue plans page, one unit", province, f"/elevator-supervision/plans?org_id={biggest}"),
            ("overdue plans API summary, province", province, "/api/v1/elevator-supervision/overdue-plans/summary"),
            ("overdue plans API list, province", province, "/api/v1/elevator-supervision/overdue-plans"),
            ("statistics page, province, 30 days", province, "/elevator-supervision/stats"),
            ("statistics page, province, 1 year", province, f"/elevator-supervision/stats?{year}"),
            ("statistics page, city, 30 days", city, "/elevator-supervision/stats"),
            ("statistics unit page, 30 days", province, f"/elevator-supervision/stats/units/{biggest}"),
            ("statistics unit page, 1 year", province, f"/elevator-supervision/stats/units/{biggest}?{year}"),
            ("statistics API, province, 30 days", province, "/api/v1/elevator-supervision/stats"),
            ("warnings list, province", province, "/elevator-supervision/warnings"),
    ):
        p50, p95 = timed(client, url, args.samples)
        print(f"{label}: p50 {p50:.0f} ms, p95 {p95:.0f} ms")
    with app.app_context():
        from sqlalchemy import text

        from app.elevator_supervision import rules
        from app.elevator_supervision.models import ElevatorWarning
        for run in (1, 2):
            t0 = time.perf_counter()
            counts = rules.nightly()
            print(f"nightly warnings run {run}: {time.perf_counter() - t0:.1f} s, new {counts}")
            db.session.execute(text("ANALYZE elevator_warning"))       # as autovacuum does after a large insert
            db.session.commit()
        print(f"warnings stored: {db.session.scalar(select(func.count(ElevatorWarning.id))):,}")
    p50, p95 = timed(province, "/elevator-supervision/warnings", args.samples)
    print(f"warnings list after the nightly run, province: p50 {p50:.0f} ms, p95 {p95:.0f} ms")
    p50, p95 = timed(province, "/elevator-supervision/stats", args.samples)
    print(f"statistics page after the nightly run, province, 30 days: p50 {p50:.0f} ms, p95 {p95:.0f} ms")


if __name__ == "__main__":
    main()
