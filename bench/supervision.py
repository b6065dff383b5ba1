"""Supervision benchmark on PostgreSQL (a database of its own, gx_supervision): the 证后监督检查 random draw
over a province's licensed units (candidate query + seeded sample + the recorded check), and the 监督检查
list (first page with each row's problem and hazard counts, the total, the hazard totals) for a county, a
city and the province — the application's own functions.

    .venv/bin/python bench/supervision.py [--units 50000] [--inspections 20000] [--runs 5]

Targets: a draw over every unit of the province < 1 s (the recorded re-check likewise); the list page with
its total and the hazard totals < 300 ms for any regulator. Rows are bulk-inserted (inspections spread over
Guangxi's counties, 14 findings each, one in ten with a problem, one in fifty with a hazard link), so the
figures measure the queries. Prints the first run and the best of --runs, in milliseconds.
"""
from __future__ import annotations

import argparse
import random
import time
from datetime import date, timedelta

from common import use_database

DRAW_TARGET_MS = 1000
LIST_TARGET_MS = 300


def build(n_units: int, n_inspections: int) -> None:
    from flask_migrate import upgrade
    from sqlalchemy import func, insert, select, update

    from app.cli import deploy_all
    from app.core.models import Organization, Region, User
    from app.demo import seed
    from app.extensions import db
    from app.supervision.models import ChecklistTemplate, Finding, InspectionSection, SupervisionInspection
    upgrade()
    deploy_all()
    seed(iterations=1000, with_cases=False)
    db.session.commit()
    counties = [r.code for r in db.session.scalars(select(Region).where(Region.level == "county"))]
    rng = random.Random(7)
    have = db.session.scalar(select(func.count(Organization.id)).where(Organization.name.like("基准单位%")))
    kinds = ["manufacturer", "installer", "filling_unit", "use_unit", "use_unit", "use_unit"]
    for start in range(have, n_units, 5000):
        rows = [{"uscc": f"BENCH{n:013d}", "name": f"基准单位{n}", "kind": rng.choice(kinds),
                 "region_code": rng.choice(counties), "kinds": ""} for n in range(start, min(n_units, start + 5000))]
        db.session.execute(insert(Organization), rows)
        db.session.commit()
    have = db.session.scalar(select(func.count(SupervisionInspection.id)))
    if have >= n_inspections:
        return
    orgs = list(db.session.execute(select(Organization.id, Organization.region_code)
                                   .where(Organization.name.like("基准单位%"))))
    inspector = db.session.scalar(select(User.id).where(User.username == "xn_supervisor"))
    tpl = db.session.scalar(select(ChecklistTemplate).where(ChecklistTemplate.code == "equipment_check",
                                                            ChecklistTemplate.is_current.is_(True)))
    items = [i.id for i in tpl.items]
    for start in range(have, n_inspections, 2000):
        batch = []
        for n in range(start, min(n_inspections, start + 2000)):
            org_id, region = orgs[n % len(orgs)]
            batch.append({"inspection_no": f"JCBENCH{n:08d}", "status": rng.choice(["closed", "rectifying", "qualified"]),
                          "region_code": region, "org_id": org_id, "inspector_id": inspector, "category": "常规监督检查",
                          "unit_categories": "使用", "inspected_on": date(2026, 1, 1) + timedelta(days=n % 300),
                          "inspectors": "基准、测试"})
        ids = db.session.execute(insert(SupervisionInspection).returning(SupervisionInspection.id), batch).scalars().all()
        sections = db.session.execute(insert(InspectionSection).returning(InspectionSection.id),
                                      [{"inspection_id": i, "template_id": tpl.id} for i in ids]).scalars().all()
        findings, counts = [], {}
        for inspection_id, s in zip(ids, sections):
            for k, item in enumerate(items + items[:8]):
                problem = rng.random() < 0.1
                findings.append({"section_id": s, "item_id": item, "result": "不符合" if problem else "符合",
                                 "is_problem": problem, "photo_ids": "[]"})
                counts[inspection_id] = counts.get(inspection_id, 0) + problem
        db.session.execute(insert(Finding), findings)
        db.session.execute(update(SupervisionInspection), [
            {"id": i, "n_problems": n, "n_hazards": 1 if i % 50 == 0 else 0} for i, n in counts.items()])
        db.session.commit()


def timed(fn, runs):
    t0 = time.perf_counter()
    result = fn()
    first = (time.perf_counter() - t0) * 1000
    best = first
    for _ in range(runs):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, (time.perf_counter() - t0) * 1000)
    return first, best, result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--units", type=int, default=50000)
    parser.add_argument("--inspections", type=int, default=20000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    use_database("supervision", create=True)
    from app import create_app
    from app.config import Config
    app = create_app(Config(PASSWORD_ITERATIONS=1000))
    with app.app_context():
        from sqlalchemy import select

        from app.cases.services import paginate
        from app.core.models import User
        from app.extensions import db
        from app.supervision import campaigns, services
        from app.supervision.models import Campaign
        t0 = time.perf_counter()
        build(args.units, args.inspections)
        print(f"data ready in {time.perf_counter() - t0:.1f} s")
        province = db.session.scalar(select(User).where(User.username == "gx_province"))
        ok = True
        first, best, pool = timed(lambda: campaigns.candidates(province, {}), args.runs)
        print(f"draw candidates, province ({len(pool)} units): first {first:.0f} ms, best {best:.0f} ms")
        first, best, _ = timed(lambda: campaigns.draw_sample("bench-seed", pool, 50), args.runs)
        print(f"seeded sample of 50: first {first:.1f} ms, best {best:.1f} ms")
        c = Campaign(name="bench", region_code="450000", creator_id=province.id, undertaking_org_id=pool[0],
                     draw_seed="bench-seed", draw_count=50, draw_candidates=__import__("json").dumps(pool),
                     draw_result=__import__("json").dumps(campaigns.draw_sample("bench-seed", pool, 50)))
        first, best, verified = timed(lambda: campaigns.verify_draw(c), args.runs)
        print(f"recorded draw re-check: first {first:.0f} ms, best {best:.0f} ms, verified={verified}")
        ok &= best < DRAW_TARGET_MS
        people = {"province": province,
                  "city 南宁市": db.session.scalar(select(User).where(User.username == "nn_city")),
                  "county 兴宁区": db.session.scalar(select(User).where(User.username == "xn_supervisor"))}
        for label, user in people.items():
            def page():
                items, total = paginate(services.inspection_query(user), 1, 20)
                body = [services.inspection_json(r) for r in items]
                return total, body, services.hazard_totals(user)
            first, best, (total, _, totals) = timed(page, args.runs)
            print(f"inspection list, {label} ({total} inspections, {totals['problems']} problems): "
                  f"first {first:.0f} ms, best {best:.0f} ms")
            ok &= best < LIST_TARGET_MS
        db.session.rollback()
        print("targets met" if ok else "TARGETS MISSED")


if __name__ == "__main__":
    main()
