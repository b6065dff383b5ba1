"""Query benchmark on the province data: inbox counts and pages, hazard ledger counts by due
state, dashboard aggregates — each timed with EXPLAIN ANALYZE for the users who see the most.

    .venv/bin/python bench/queries.py [--scale province] [--plans] [--runs 3]

Targets (issue 8): every query under 1 s, the inbox (counts and page) under 150 ms.
Prints for each statement the first run (cold cache for that plan) and the best of --runs
(planning + execution, from EXPLAIN (ANALYZE, BUFFERS)); --plans prints the plan of every
statement over 50 ms. The statements are the application's own (app.cases.services,
app.hazards.views, app.scale.queries), compiled for PostgreSQL with their parameters.
"""
from __future__ import annotations

import argparse
import json
import os

from common import use_database

INBOX_TARGET_MS = 150
ANY_TARGET_MS = 1000


def explain(statement, runs: int) -> tuple[float, float, dict]:
    from app.extensions import db
    compiled = statement.compile(dialect=db.engine.dialect, compile_kwargs={"render_postcompile": True})
    sql, params = str(compiled), compiled.params
    conn = db.session.connection()
    results = []
    for _ in range(runs):
        plan = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql, params).scalar()
        plan = plan[0] if isinstance(plan, list) else json.loads(plan)[0]
        results.append((plan["Planning Time"] + plan["Execution Time"], plan))
    return results[0][0], min(r[0] for r in results), min(results, key=lambda r: r[0])[1]


def text_plan(statement) -> str:
    from app.extensions import db
    compiled = statement.compile(dialect=db.engine.dialect, compile_kwargs={"render_postcompile": True})
    rows = db.session.connection().exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + str(compiled), compiled.params)
    return "\n".join("      " + r[0] for r in rows)


def pick_users():
    from sqlalchemy import func, select, text

    from app.cases.models import CaseParty, Task
    from app.core.models import User
    from app.extensions import db
    county = db.session.execute(select(Task.candidate_region, func.count()).where(
        Task.status == "open", Task.candidate_role == "county_supervisor")
        .group_by(Task.candidate_region).order_by(func.count().desc()).limit(1)).first()
    busiest_org = db.session.execute(select(CaseParty.org_id, func.count()).group_by(CaseParty.org_id)
                                     .order_by(func.count().desc()).limit(1)).first()
    agency_org = db.session.execute(select(Task.candidate_org_id, func.count()).where(
        Task.status == "open", Task.candidate_role == "inspection_agency")
        .group_by(Task.candidate_org_id).order_by(func.count().desc()).limit(1)).first()

    def one(query):
        return db.session.scalar(query.order_by(User.id).limit(1))
    users = {
        f"county supervisor {county[0]} ({county[1]} open county tasks)":
            one(select(User).where(User.role == "county_supervisor", User.region_code == county[0],
                                   User.username.like("g%"))),
        "city supervisor 450100 南宁市": one(select(User).where(User.username == "g450100c1")),
        "province supervisor": one(select(User).where(User.username == "g450000p1")),
        f"use unit (org {busiest_org[0]}, {busiest_org[1]} cases)":
            one(select(User).where(User.org_id == busiest_org[0], User.role == "use_unit")),
    }
    if agency_org:
        users[f"inspection agency (org {agency_org[0]})"] = one(select(User).where(
            User.org_id == agency_org[0], User.role == "inspection_agency"))
    db.session.execute(text("SELECT 1"))
    return {k: v for k, v in users.items() if v is not None}


def statements(user):
    """(group, label, statement, target ms)."""
    from sqlalchemy import func, select

    from app.cases import services
    from app.hazards.ledger import LedgerFilter, ledger_query, warning_counts_statement
    from app.scale.queries import DASHBOARD
    out = []
    for box, stmt in services.inbox_count_statements(user).items():
        out.append(("inbox", f"count {box}", stmt, INBOX_TARGET_MS))
    filters = [("todo, sort by due", {}), ("todo, 隐患 + red", {"process": "major_hazard", "warning": "red"}),
               ("todo, overdue", {"overdue": "1"}), ("todo, search 电梯", {"q": "电梯"}),
               ("todo, sort by warning", {"sort": "warning"}), ("done", {"box": "done"}),
               ("started", {"box": "started"})]
    if user.is_regulator and user.region_code.endswith("00"):
        filters.append(("todo, region filter", {"region": user.region_code[:4] + "02"}))
    for label, args in filters:
        f = services.InboxFilter.from_args(args)
        query = services.inbox_query(user, f)
        out.append(("inbox", f"page {label}", query.limit(f.per_page), INBOX_TARGET_MS))
        out.append(("inbox", f"total {label}", select(func.count()).select_from(query.order_by(None).subquery()),
                    INBOX_TARGET_MS))
    lf = LedgerFilter()
    ledger = ledger_query(user, lf)
    out.append(("ledger", "hazard counts by due state (warning level)", warning_counts_statement(user), ANY_TARGET_MS))
    out.append(("ledger", "hazard ledger page", ledger.limit(20), ANY_TARGET_MS))
    out.append(("ledger", "hazard ledger total", select(func.count()).select_from(ledger.order_by(None).subquery()),
                ANY_TARGET_MS))
    for label, build in DASHBOARD.items():
        out.append(("dashboard", label, build(user), ANY_TARGET_MS))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="province")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--plans", action="store_true")
    args = parser.parse_args()
    url = use_database(args.scale)
    from sqlalchemy import func, select, text

    from app import create_app
    from app.cases.models import Case, CaseEvent, Task
    from app.extensions import db
    app = create_app()
    with app.app_context():
        version = db.session.execute(text("SHOW server_version")).scalar()
        sizes = {m.__tablename__: db.session.scalar(select(func.count()).select_from(m)) for m in (Case, Task, CaseEvent)}
        print(f"database {url.rsplit('/', 1)[1]}: PostgreSQL {version}, {os.cpu_count()} CPU cores; "
              + ", ".join(f"{k} {v:,}" for k, v in sizes.items()))
        failures, worst = [], {}
        for who, user in pick_users().items():
            print(f"\n== {who}: {user.username}")
            for group, label, stmt, target in statements(user):
                first, best, plan = explain(stmt, args.runs)
                ok = best <= target
                worst[group] = max(worst.get(group, 0), best)
                if not ok:
                    failures.append(f"{who} / {label}: {best:.1f} ms > {target} ms")
                print(f"  {group:9s} {label:44s} first {first:8.1f} ms  best {best:8.1f} ms  "
                      f"{'ok' if ok else 'SLOW'} (≤ {target})")
                if args.plans and best > 50:
                    print(text_plan(stmt))
            db.session.rollback()
        print("\nworst per group: " + ", ".join(f"{g} {ms:.1f} ms" for g, ms in worst.items()))
        print("RESULT:", "PASS" if not failures else "FAIL")
        for line in failures:
            print("  " + line)


if __name__ == "__main__":
    main()
