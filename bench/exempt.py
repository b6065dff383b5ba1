"""无需无纸化维保 on PostgreSQL (a database of its own, gx_exempt): with N elevators in the province and A
applications (3 elevators each, 80 % approved) and about 24 back-filled work orders a year for a third of
the exempt elevators, measures as a county and as the province regulator:

- the application list, the exempt-elevator list and the back-fill list (API, first page + total);
- the exempt check of one elevator on a day (`services.active_exemption`, run on every back-fill and on
  every app sign-off start);
- one back-fill through the API (all checks, 31 item results, archive, audit).

    .venv/bin/python bench/exempt.py [--elevators 300000] [--applications 6000] [--samples 100]

Target (GUIDE: province scale; lists < 1 s): every list p95 < 1 s, the check < 5 ms, a back-fill < 300 ms.
Prints one line per measurement in milliseconds.
"""
from __future__ import annotations

import argparse
import random
import time
from datetime import timedelta

from common import pct, use_database


def build(n: int, apps: int) -> None:
    from flask_migrate import upgrade
    from sqlalchemy import func, select, text

    from app.cases.models import Case
    from app.cli import deploy_all
    from app.core.clock import today_local, utcnow
    from app.core.models import Equipment, Region, User
    from app.demo import seed
    from app.elevator_exemptions.models import Backfill, Exemption, ExemptionItem
    from app.elevators.models import ElevatorFacts, WorkOrder
    from app.engine.registry import latest_version
    from app.extensions import db
    from app.core.bulk import Writer
    upgrade()
    deploy_all()
    if not db.session.scalar(select(func.count(ElevatorFacts.id))):
        seed(iterations=1000, with_cases=False)
        db.session.commit()
    writer, now, rng = Writer(), utcnow(), random.Random(7)
    template = db.session.scalar(select(Equipment).join(ElevatorFacts, ElevatorFacts.equipment_id == Equipment.id)
                                 .order_by(Equipment.id))
    counties = list(db.session.scalars(select(Region.code).where(Region.level == "county", Region.code.like("45%"))
                                       .order_by(Region.code)))
    have = db.session.scalar(select(func.count(Equipment.id)).where(Equipment.code.like("3110X%")))
    t0 = time.perf_counter()
    todo = n - have
    while todo > 0:
        k = min(10000, todo)
        ids = writer.ids("equipment", k)
        writer.write("equipment", [
            {"id": i, "code": f"3110X{i:013d}", "name": f"压测电梯 {i}号", "category_code": "3110", "kind_code": "3000",
             "class_code": "3100", "use_org_id": template.use_org_id, "maintenance_org_id": template.maintenance_org_id,
             "region_code": "450102" if i % 111 == 0 else counties[i % len(counties)],
             "registered_region_code": template.region_code, "movable": False, "address": f"压测地址 {i}",
             "lat": template.lat, "lng": template.lng, "status": "in_use", "due_state": "no_record",
             "simple_pressure_vessel": False, "created_at": now} for i in ids])
        db.session.commit()
        todo -= k
    if todo < 0 or have < n:
        print(f"elevators: {n:,} in {time.perf_counter() - t0:.1f} s")
    made = db.session.scalar(select(func.count(Exemption.id)))
    if made < apps:
        t0 = time.perf_counter()
        version = latest_version("elevator_exemption")
        unit = db.session.scalar(select(User).where(User.username == "unit_xn"))
        maintainer = db.session.scalar(select(User).where(User.username == "wb_qin"))
        lift_ids = list(db.session.scalars(select(Equipment.id).where(Equipment.code.like("3110X%"))
                                           .order_by(Equipment.id)))
        regions = dict(db.session.execute(select(Equipment.id, Equipment.region_code)
                                          .where(Equipment.code.like("3110X%"))).all())
        rng.shuffle(lift_ids)
        today = today_local()
        orders = 0
        for a in range(made, apps):
            chosen = lift_ids[a * 3:a * 3 + 3]
            region = regions[chosen[0]]
            approved = a % 5 != 0
            case_id = db.session.execute(Case.__table__.insert().values(
                case_no=f"MZB{a:09d}", process_key="elevator_exemption", process_version_id=version.id,
                title=f"压测申请 {a}", status="closed" if approved else "running", region_code=region,
                started_by_id=unit.id, org_id=unit.org_id, created_at=now, state="{}",
                serializer_version="bench").returning(Case.__table__.c.id)).scalar()
            ex_id = db.session.execute(Exemption.__table__.insert().values(
                case_id=case_id, app_no=f"MZB{a:09d}", use_org_id=unit.org_id, region_code=region,
                applicant_id=unit.id, reason="压测：机房无信号", status="approved" if approved else "pending",
                valid_from=today - timedelta(days=200) if approved else None,
                valid_until=today + timedelta(days=165 - a % 300) if approved else None, returned_count=0,
                created_at=now - timedelta(days=200)).returning(Exemption.__table__.c.id)).scalar()
            db.session.execute(ExemptionItem.__table__.insert(), [
                {"exemption_id": ex_id, "equipment_id": e, "maintenance_org_id": template.maintenance_org_id}
                for e in chosen])
            if approved and a % 3 == 0:
                wo_ids = writer.ids("elevator_work_order", 24)
                rows = [{"id": w, "client_id": f"bf-bench-{w}", "order_no": f"BLB{w:012d}", "kind": "maintenance",
                         "equipment_id": chosen[0], "maintenance_org_id": template.maintenance_org_id,
                         "use_org_id": unit.org_id, "region_code": region, "maint_type": "HALF",
                         "maintainer_id": maintainer.id, "status": "archived",
                         "checkin_at": now - timedelta(days=8 * k, hours=3), "checkin_lat": 0.0, "checkin_lng": 0.0,
                         "checkin_distance": 0, "checkin_proof": "backfill", "checkout_at": now - timedelta(days=8 * k, hours=2),
                         "returned_count": 0, "offline": False, "created_at": now, "archived_at": now, "submitted_at": now}
                        for k, w in enumerate(wo_ids)]
                writer.write("elevator_work_order", rows)
                db.session.execute(Backfill.__table__.insert(), [
                    {"work_order_id": w, "exemption_id": ex_id, "entered_by_id": maintainer.id, "entered_at": now}
                    for w in wo_ids])
                orders += len(wo_ids)
            if a % 500 == 499:
                db.session.commit()
        db.session.commit()
        db.session.execute(text("ANALYZE"))
        db.session.commit()
        print(f"applications: {apps - made:,} (+{orders:,} back-filled orders) in {time.perf_counter() - t0:.1f} s")
    print(f"equipment {db.session.scalar(select(func.count(Equipment.id))):,}, "
          f"applications {db.session.scalar(select(func.count(Exemption.id))):,}, "
          f"listed elevators {db.session.scalar(select(func.count(ExemptionItem.id))):,}, "
          f"work orders {db.session.scalar(select(func.count(WorkOrder.id))):,}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--elevators", type=int, default=300_000)
    parser.add_argument("--applications", type=int, default=6_000)
    parser.add_argument("--samples", type=int, default=100)
    args = parser.parse_args()
    use_database("exempt", create=True)
    from app import create_app
    from app.config import Config
    app = create_app(Config(PASSWORD_ITERATIONS=1000, RATELIMIT_ENABLED=False, PASSWORD_MAX_AGE_DAYS=0))
    with app.app_context():
        build(args.elevators, args.applications)
    client = app.test_client()
    for username in ("xn_supervisor", "gx_province"):
        resp = client.post("/api/v1/session", json={"username": username, "password": "Demo@2026"})
        if resp.status_code != 201:
            print(f"{username}: cannot log in through the API ({resp.status_code}); skipped")
            continue
        headers = {"Authorization": f"Bearer {resp.get_json()['token']}"}
        for label, url in (("applications", "/api/v1/elevator-exemptions"),
                           ("applications pending", "/api/v1/elevator-exemptions?status=pending"),
                           ("exempt elevators valid", "/api/v1/elevator-exemptions/elevators?valid=valid"),
                           ("exempt elevators search", "/api/v1/elevator-exemptions/elevators?q=3110X0000000"),
                           ("applications search", "/api/v1/elevator-exemptions?q=3110X0000001"),
                           ("back-filled search", "/api/v1/elevator-exemptions/backfills?q=3110X0000001"),
                           ("back-filled orders", "/api/v1/elevator-exemptions/backfills")):
            times, total = [], None
            for _ in range(max(5, args.samples // 10)):
                t0 = time.perf_counter()
                r = client.get(url, headers=headers)
                times.append(time.perf_counter() - t0)
                assert r.status_code == 200, (url, r.status_code)
                total = r.get_json()["total"]
            print(f"{username} {label}: p50 {pct(times, 0.5):.1f} ms, p95 {pct(times, 0.95):.1f} ms (total {total:,})")
    with app.app_context():
        from sqlalchemy import select

        from app.core.clock import today_local
        from app.elevator_exemptions import services
        from app.elevator_exemptions.models import Exemption, ExemptionItem
        from app.extensions import db
        ids = list(db.session.scalars(select(ExemptionItem.equipment_id)))
        rng = random.Random(5)
        sample = rng.sample(ids, min(args.samples, len(ids)))
        times = []
        for e in sample:
            t0 = time.perf_counter()
            services.active_exemption(e, today_local())
            times.append(time.perf_counter() - t0)
        print(f"exempt check of one elevator: p50 {pct(times, 0.5):.2f} ms, p95 {pct(times, 0.95):.2f} ms, n={len(times)}")
        lift = db.session.scalar(select(ExemptionItem.equipment_id).join(ExemptionItem.exemption)
                                 .where(Exemption.status == "approved",
                                        Exemption.valid_until > today_local()).limit(1))
        from app.core.models import Equipment
        from app.elevators.models import ElevatorFacts
        if db.session.scalar(select(ElevatorFacts.id).where(ElevatorFacts.equipment_id == lift)) is None:
            db.session.add(ElevatorFacts(equipment_id=lift, elevator_type="traction", rescue_code=f"B{lift:09d}"))
            db.session.commit()
        items = [{"item_id": i.id, "result": "ok"} for i in services.items_for("traction", "HALF")]
        code = db.session.get(Equipment, lift).code
    resp = client.post("/api/v1/session", json={"username": "wb_quality", "password": "Demo@2026"})
    headers = {"Authorization": f"Bearer {resp.get_json()['token']}"}
    times = []
    for run in range(5):
        body = {"equipment_id": code, "work_date": today_local().isoformat(), "start_time": "09:00",
                "end_time": "10:00", "maint_type": "HALF", "maintainer": "wb_qin", "results": items,
                "client_id": f"bench-{time.time_ns()}"}
        t0 = time.perf_counter()
        r = client.post("/api/v1/elevator-exemptions/backfills", json=body, headers=headers)
        times.append(time.perf_counter() - t0)
        assert r.status_code == 201, r.get_json()
    print(f"back-fill through the API ({len(items)} items): p50 {pct(times, 0.5):.0f} ms, worst {max(times) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
