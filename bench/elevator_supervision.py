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
    from app.core.bulk import Writer
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


def scale_summary(units: int, people: int) -> None:
    """Copies of the summary rows as if there were `units` × the maintenance units (org ids offset by a million)
    each with `people` × the maintainers: the statistics pages then read as many summary rows as at that scale
    (300,000 elevators: ×5 units, and about 10,000 maintainers — ×4 the generator's two per unit)."""
    from sqlalchemy import text

    from app.elevator_supervision import summary
    from app.elevator_supervision.models import ElevatorStatsDay
    from app.extensions import db
    cols = [c.name for c in ElevatorStatsDay.__table__.c if c.name not in ("id", "maintenance_org_id", "maintainer_id")]
    db.session.execute(text("DELETE FROM elevator_stats_day WHERE maintenance_org_id >= 1000000 "
                            "OR maintainer_id >= 1000000"))
    t0 = time.perf_counter()
    for k in range(units):
        for m in range(people):
            if k == 0 and m == 0:
                continue
            db.session.execute(text(
                f"INSERT INTO elevator_stats_day (maintenance_org_id, maintainer_id, {', '.join(cols)}) "
                f"SELECT maintenance_org_id + {k * 1_000_000}, CASE WHEN maintainer_id <= 0 THEN maintainer_id ELSE "
                f"maintainer_id + {m * 1_000_000} END, {', '.join(cols)} FROM elevator_stats_day "
                f"WHERE maintenance_org_id < 1000000 AND maintainer_id < 1000000 AND (maintainer_id > 0 OR {m} = 0)"))
    from datetime import date
    summary._replace_months(db.session.connection(), date(2000, 1, 1), date(2100, 1, 1))
    db.session.commit()
    db.session.execute(text("ANALYZE elevator_stats_day"))
    db.session.execute(text("ANALYZE elevator_stats_month"))
    db.session.commit()
    print(f"summary scaled ×{units} units, ×{people} maintainers per unit in {time.perf_counter() - t0:.1f} s")


def summary_figures(history_years: int) -> None:
    """The daily summary on this data: raw vs summary for the province year (must be equal), recompute time per
    day, month and year, one incremental (day, unit) refresh; then `history_years` earlier years copied into the
    summary tables (shifted by 53 weeks each: the same weekdays) so that multi-year ranges read as many rows as
    they would with real history (the raw records of those years are not generated)."""
    from datetime import timedelta

    from sqlalchemy import func, select, text

    from app.core.clock import today_local
    from app.core.models import User
    from app.elevator_supervision import stats, summary
    from app.elevator_supervision.models import ElevatorStatsDay, ElevatorStatsMonth
    from app.extensions import db
    today = today_local()
    db.session.execute(text("DELETE FROM elevator_stats_day WHERE day <= :d"), {"d": today - timedelta(days=371)})
    db.session.commit()                                   # a previous run's copied history (made again below)
    for label, a in (("one day (yesterday)", today - timedelta(days=1)), ("30 days", today - timedelta(days=29)),
                     ("one year (365 days)", today - timedelta(days=364))):
        t0 = time.perf_counter()
        result = summary.rebuild(a, today - timedelta(days=1) if "yesterday" in label else today)
        print(f"summary rebuild, {label}: {time.perf_counter() - t0:.2f} s, {result['rows']:,} daily rows")
    user = db.session.scalar(select(User).where(User.username == "gx_province"))
    f = stats.StatsFilter.from_args(user, {"date_from": (today - timedelta(days=364)).isoformat()})
    from app.elevators.models import WorkOrder
    raw = stats.records_by(f, (WorkOrder.region_code, WorkOrder.maintenance_org_id))
    summed, _w = stats.summary_by_unit(f)
    same = {k: (v[0], round(v[1]), v[2]) for k, v in raw.items()} == \
        {k: (v[0], round(v[1]), v[2]) for k, v in summed.items()}
    print(f"province year: raw {sum(v[0] for v in raw.values()):,} records in {len(raw):,} (region, unit) keys; "
          f"summary equal: {same}")
    pair = db.session.execute(select(ElevatorStatsDay.day, ElevatorStatsDay.maintenance_org_id)
                              .where(ElevatorStatsDay.day == today - timedelta(days=3)).limit(1)).first()
    if pair:
        times = []
        for _ in range(20):
            t0 = time.perf_counter()
            summary.refresh(db.session.connection(), [(pair[0], pair[1])])
            db.session.commit()
            times.append(time.perf_counter() - t0)
        print(f"incremental refresh of one (day, unit) with its month: p50 {pct(times, 0.5):.1f} ms, "
              f"p95 {pct(times, 0.95):.1f} ms")
    if history_years:
        t = ElevatorStatsDay.__table__
        cols = [c.name for c in t.c if c.name not in ("id", "day")]
        for k in range(1, history_years + 1):
            db.session.execute(text(f"INSERT INTO elevator_stats_day (day, {', '.join(cols)}) "
                                    f"SELECT day - {371 * k}, {', '.join(cols)} FROM elevator_stats_day "
                                    f"WHERE day > :a AND day <= :b"),
                               {"a": today - timedelta(days=371), "b": today})
        first = today - timedelta(days=371 * (history_years + 1))
        summary._replace_months(db.session.connection(), first, today - timedelta(days=372))
        db.session.commit()
        db.session.execute(text("ANALYZE elevator_stats_day"))
        db.session.execute(text("ANALYZE elevator_stats_month"))
        db.session.commit()
    print(f"summary rows: daily {db.session.scalar(select(func.count(ElevatorStatsDay.id))):,}, "
          f"monthly {db.session.scalar(select(func.count(ElevatorStatsMonth.id))):,}")
    db.session.remove()


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
    parser.add_argument("--database", default="elevsup", help="benchmark database gx_<name>")
    parser.add_argument("--history-years", type=int, default=4,
                        help="years of earlier history copied into the summary tables (multi-year ranges)")
    parser.add_argument("--summary-only", action="store_true", help="only the summary measurements and statistics pages")
    parser.add_argument("--pages-only", action="store_true",
                        help="with --summary-only: the pages on the summary as it is (no rebuild, no copies)")
    parser.add_argument("--summary-units", type=int, default=1, help="copies of the units in the summary tables")
    parser.add_argument("--summary-people", type=int, default=1, help="copies of each unit's maintainers there")
    args = parser.parse_args()
    app = bench_app(args.database)
    with app.app_context():
        t0 = time.perf_counter()
        build(args.elevators)
        print(f"build (with migrations; 0020_stats fills the summary of existing records): "
              f"{time.perf_counter() - t0:.1f} s")
        if not args.pages_only:
            summary_figures(args.history_years)
        if not args.pages_only and (args.summary_units > 1 or args.summary_people > 1):
            scale_summary(args.summary_units, args.summary_people)
        from sqlalchemy import func, select

        from app.core.models import Equipment
        from app.extensions import db
        biggest = db.session.execute(select(Equipment.maintenance_org_id, func.count()).where(
            Equipment.code.like("3110S%")).group_by(Equipment.maintenance_org_id).order_by(func.count().desc())
            .limit(1)).first()[0]
        db.session.remove()

    province, city = web_login(app, "gx_province"), web_login(app, "nn_city")
    year = "date_from=" + time.strftime("%Y-%m-%d", time.gmtime(time.time() - 364 * 86400))
    years3 = "date_from=" + time.strftime("%Y-%m-%d", time.gmtime(time.time() - (3 * 365 - 1) * 86400))
    years5 = "date_from=" + time.strftime("%Y-%m-%d", time.gmtime(time.time() - (5 * 365) * 86400))
    pages = [("statistics page, province, 30 days", province, "/elevator-supervision/stats"),
             ("statistics page, province, 1 year", province, f"/elevator-supervision/stats?{year}"),
             ("statistics page, province, 3 years", province, f"/elevator-supervision/stats?{years3}"),
             ("statistics page, province, 5 years", province, f"/elevator-supervision/stats?{years5}"),
             ("statistics page, city, 1 year", city, f"/elevator-supervision/stats?{year}"),
             ("statistics API, province, 1 year", province, f"/api/v1/elevator-supervision/stats?{year}"),
             ("statistics API, province, 5 years", province, f"/api/v1/elevator-supervision/stats?{years5}"),
              ("statistics unit page, 5 years", province, f"/elevator-supervision/stats/units/{biggest}?{years5}")]
    if args.summary_only or args.pages_only:
        for label, client, url in pages:
            p50, p95 = timed(client, url, args.samples)
            print(f"{label}: p50 {p50:.0f} ms, p95 {p95:.0f} ms")
        return
    for label, client, url in (*pages,
            ("overdue plans page, province", province, "/elevator-supervision/plans"),
            ("overdue plans page, city", city, "/elevator-supervision/plans"),
            ("overdue plans page, one unit", province, f"/elevator-supervision/plans?org_id={biggest}"),
            ("overdue plans API summary, province", province, "/api/v1/elevator-supervision/overdue-plans/summary"),
            ("overdue plans API list, province", province, "/api/v1/elevator-supervision/overdue-plans"),
            ("statistics page, city, 30 days", city, "/elevator-supervision/stats"),
            ("statistics unit page, 30 days", province, f"/elevator-supervision/stats/units/{biggest}"),
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
