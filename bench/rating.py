"""Maintenance-unit evaluation on PostgreSQL (a database of its own, gx_rating): U maintenance units with
E elevators each, a year of half-monthly plans per elevator (about 24), one periodic inspection report
per elevator, a rescue for one elevator in ten, and two archived work orders per elevator to patrol.
Measures, p50/p95 over random units: one unit's evaluation (figures + the DMN table), the units list
API (a page of 20 evaluations), and a random patrol sample of 20 records.

    .venv/bin/python bench/rating.py [--units 40] [--elevators 250] [--samples 30]

No target is set by the issue; the evaluation reads each input by the unit's own indexes
(ix_elevator_plan_org_status, ix_rating_rescue_org, ix_elevator_contract_maint, ix_rating_patrol_item_org,
ix_elevator_wo_maint_org), so its cost follows the unit's size, not the province's.
"""
from __future__ import annotations

import argparse
import random
import time
from datetime import datetime, time as dtime, timedelta, timezone

from common import pct, use_database


def build(units: int, per_unit: int) -> None:
    from flask_migrate import upgrade
    from sqlalchemy import func, insert, select, text

    from app.cli import deploy_all
    from app.core.clock import today_local, utcnow
    from app.core.models import Equipment, Organization, User
    from app.core.validators import uscc_check_char
    from app.demo import seed
    from app.elevator_rating.models import Rescue
    from app.elevators.models import ElevatorFacts, MaintenanceContract, MaintenancePlan, WorkOrder
    from app.extensions import db
    from app.inspections.models import InspectionReport
    upgrade()
    deploy_all()
    if not db.session.scalar(select(func.count(User.id))):
        seed(iterations=1000, with_cases=False)
        db.session.commit()
    have = db.session.scalar(select(func.count(Organization.id)).where(Organization.name.like("压测维保%")))
    if have >= units:
        return
    t0 = time.perf_counter()
    today, now = today_local(), utcnow()
    start = today - timedelta(days=365)
    use_org = db.session.scalar(select(Organization).where(Organization.kind == "use_unit").order_by(Organization.id))
    agency = db.session.scalar(select(Organization).where(Organization.kind == "inspection_agency"))
    maintainer = db.session.scalar(select(User).where(User.username == "wb_qin"))
    rng = random.Random(7)
    for u in range(have, units):
        first17 = f"91450102MB{u:07d}"
        org = Organization(uscc=first17 + uscc_check_char(first17), name=f"压测维保{u:04d}电梯工程有限公司",
                           kind="maintenance_unit", region_code="450102", address="南宁市兴宁区压测路")
        db.session.add(org)
        db.session.flush()
        rows = [{"code": f"3110R{u:04d}{n:08d}", "name": f"压测电梯 {u}-{n}", "category_code": "3110", "kind_code": "3000",
                 "class_code": "3100", "use_org_id": use_org.id, "maintenance_org_id": org.id, "region_code": "450102",
                 "registered_region_code": "450102", "movable": False, "address": "南宁市兴宁区压测路", "lat": 22.8,
                 "lng": 108.3, "status": "in_use", "due_state": "no_record", "simple_pressure_vessel": False,
                 "created_at": now} for n in range(per_unit)]
        ids = list(db.session.scalars(insert(Equipment).returning(Equipment.id), rows))
        db.session.execute(insert(ElevatorFacts), [{"equipment_id": i, "elevator_type": "traction",
                                                    "rescue_code": f"R{u:04d}{n:06d}", "created_at": now}
                                                   for n, i in enumerate(ids)])
        contracts = list(db.session.scalars(insert(MaintenanceContract).returning(MaintenanceContract.id), [
            {"equipment_id": i, "maintenance_org_id": org.id, "use_org_id": use_org.id, "starts_on": start,
             "ends_on": start + timedelta(days=730), "cycle_days": 15, "quality_sign_required": False,
             "created_at": now} for i in ids]))
        plans = []
        for i, c in zip(ids, contracts):
            for k in range(24):
                due = start + timedelta(days=15 * k + 1)
                done = due + timedelta(days=rng.choice((0, 0, 0, 0, 1, 3))) if due < today else None
                plans.append({"equipment_id": i, "contract_id": c, "maintenance_org_id": org.id, "due_on": due,
                              "maint_type": "HALF", "status": "done" if done else "planned", "done_on": done})
        db.session.execute(insert(MaintenancePlan), plans)
        db.session.execute(insert(InspectionReport), [
            {"report_no": f"R{u:04d}{n:06d}", "equipment_id": i, "agency_org_id": agency.id, "region_code": "450102",
             "inspection_type": "periodic", "inspected_on": start + timedelta(days=30 + n % 300),
             "conclusion": rng.choice(("合格", "合格", "合格", "复检合格", "不合格")), "source": "import",
             "created_at": now} for n, i in enumerate(ids)])
        alarm = lambda n: datetime.combine(start + timedelta(days=20 + n % 300), dtime(2, 0), timezone.utc)  # noqa: E731
        db.session.execute(insert(Rescue), [
            {"rescue_no": f"R{u:04d}{n:06d}", "equipment_id": i, "maintenance_org_id": org.id, "region_code": "450102",
             "alarm_at": alarm(n), "arrived_at": alarm(n) + timedelta(minutes=15),
             "released_at": alarm(n) + timedelta(minutes=25 + n % 20), "trapped": n % 3, "source": "import",
             "created_at": now} for n, i in enumerate(ids) if n % 10 == 0])
        db.session.execute(insert(WorkOrder), [
            {"client_id": f"bench-rating-{u}-{n}-{k}", "order_no": f"WBR{u:04d}{n:06d}{k}", "kind": "maintenance",
             "equipment_id": i, "maintenance_org_id": org.id, "use_org_id": use_org.id, "region_code": "450102",
             "maint_type": "HALF", "maintainer_id": maintainer.id, "status": "archived",
             "checkin_at": alarm(n + 40 * k), "checkin_lat": 22.8, "checkin_lng": 108.3, "checkin_distance": 5,
             "checkin_proof": "qr", "returned_count": 0, "offline": False, "created_at": now}
            for n, i in enumerate(ids) for k in range(2)])
        db.session.commit()
    db.session.execute(text("ANALYZE"))
    db.session.commit()
    print(f"built {units - have} units × {per_unit} elevators in {time.perf_counter() - t0:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--units", type=int, default=40)
    parser.add_argument("--elevators", type=int, default=250)
    parser.add_argument("--samples", type=int, default=30)
    args = parser.parse_args()
    use_database("rating", create=True)
    from app import create_app
    from app.config import Config
    app = create_app(Config(RATELIMIT_ENABLED=False))
    with app.app_context():
        from sqlalchemy import func, select

        from app.core.models import Organization, User
        from app.elevator_rating import services
        from app.elevators.models import MaintenancePlan, WorkOrder
        from app.extensions import db
        build(args.units, args.elevators)
        orgs = list(db.session.scalars(select(Organization.id).where(Organization.name.like("压测维保%"))))
        print(f"units {len(orgs)}, plans {db.session.scalar(select(func.count(MaintenancePlan.id))):,}, "
              f"work orders {db.session.scalar(select(func.count(WorkOrder.id))):,}")
        start, end = services.default_period()
        start = end - timedelta(days=365)
        rng = random.Random(3)
        one = []
        for _ in range(args.samples):
            org_id = rng.choice(orgs)
            t = time.perf_counter()
            services.evaluate(org_id, start, end)
            one.append(time.perf_counter() - t)
            db.session.rollback()
        print(f"one unit's evaluation ({args.elevators} elevators): p50 {pct(one, 0.5):.1f} ms, p95 {pct(one, 0.95):.1f} ms")
        sup = db.session.scalar(select(User).where(User.username == "xn_supervisor"))
        client = app.test_client()
        token = client.post("/api/v1/session", json={"username": "xn_supervisor", "password": "Demo@2026"}).get_json()["token"]
        pages = []
        for n in range(max(3, args.samples // 5)):
            t = time.perf_counter()
            resp = client.get(f"/api/v1/elevator-rating/units?page={1 + n % 2}&date_from={start}&date_to={end}",
                              headers={"Authorization": f"Bearer {token}"})
            assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
            pages.append(time.perf_counter() - t)
        print(f"units list API (20 evaluations per page): p50 {pct(pages, 0.5):.0f} ms, p95 {pct(pages, 0.95):.0f} ms")
        samples = []
        for _ in range(args.samples):
            t = time.perf_counter()
            services.create_patrol(sup, {"method": "random", "size": 20, "maintenance_org_id": rng.choice(orgs)})
            samples.append(time.perf_counter() - t)
            db.session.rollback()
        print(f"random patrol sample of 20 (of {2 * args.elevators} records): p50 {pct(samples, 0.5):.1f} ms, "
              f"p95 {pct(samples, 0.95):.1f} ms")


if __name__ == "__main__":
    main()
