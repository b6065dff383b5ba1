"""Benchmark: one scheduler pass fires the due timers of 10,000 waiting hazard cases.

Target (issue 5): under 60 s on this 2-core machine with PostgreSQL.

    .venv/bin/python bench/timers.py [--cases 10000] [--pg postgresql://postgres@127.0.0.1:5432/test]

What it does, in a throw-away database:
1. migrate, deploy the processes, seed master data;
2. ten days in the past (time-machine), report a hazard and dispatch it with a 5-day
   rectification deadline through the real engine — so its "整改期限届满" timer is due today;
3. clone that case N-1 times (app.scale.clone, as `flask demo generate` does: fresh engine task
   ids, new case/task/hazard/timeline rows, new numbers, valid timeline chains), so every case
   has a due timer;
4. time one `timers` job pass (each case: lock, load state, fire the timer, run the escalation
   service: DMN lookup, timeline events, SMS outbox rows for the unit's contacts and the city
   supervisor, new 督办 task, save), then one `sms` pass with the local provider;
5. check every case escalated exactly once, print the figures, drop the database.
"""
from __future__ import annotations

import argparse
import os
import secrets
import sys
import tempfile
import time
from datetime import timedelta

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from sqlalchemy import text  # noqa: E402
os.environ.setdefault("TZ", "UTC")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--pg", default=os.environ.get("PG_TEST_URL", "postgresql://postgres@127.0.0.1:5432/test"))
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    args = parser.parse_args()

    import psycopg
    dbname = f"gx_bench_timers_{secrets.token_hex(3)}"
    with psycopg.connect(args.pg, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{dbname}"')
    os.environ["DATABASE_URL"] = args.pg.rsplit("/", 1)[0] + "/" + dbname
    os.environ["INSTANCE_DIR"] = tempfile.mkdtemp(prefix="gx-bench-")
    try:
        run(args.cases)
    finally:
        if not args.keep:
            with psycopg.connect(args.pg, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')


def run(n_cases: int) -> None:
    import time_machine
    from flask_migrate import upgrade
    from sqlalchemy import func, select

    from app import create_app
    from app.cases.models import Case, CaseEvent, Task
    from app.cli import deploy_all
    from app.config import Config
    from app.core.clock import today_local
    from app.core.models import Equipment, User
    from app.demo import seed
    from app.engine import runtime
    from app.extensions import db
    from app.scheduler.jobs import run_job
    from app.sms.models import SmsMessage

    app = create_app(Config(PASSWORD_ITERATIONS=1000))
    with app.app_context():
        t0 = time.perf_counter()
        upgrade()
        deploy_all()
        seed(iterations=1000, with_cases=False)
        db.session.commit()
        supervisor = db.session.scalar(select(User).where(User.username == "xn_supervisor"))
        unit = db.session.scalar(select(User).where(User.username == "unit_xn"))
        equipment = db.session.scalar(select(Equipment).where(Equipment.use_org_id == unit.org_id)
                                      .order_by(Equipment.id).limit(1))
        with time_machine.travel(time.time() - 10 * 86400, tick=False):
            day = today_local()
            case = runtime.start_case("major_hazard", supervisor, {
                "equipment_code": equipment.code, "criterion_id": "GB45067-4.6b",
                "description": "层门门锁安全回路被短接，电梯仍在运行。", "found_on": day.isoformat(),
                "rectify_deadline": (day + timedelta(days=5)).isoformat()})
            task = db.session.scalar(select(Task).where(Task.case_id == case.id, Task.status == "open"))
            runtime.complete_task(task.id, supervisor, {
                "dispatch_decision": "dispatch", "requirements": "立即停用并整改。",
                "rectify_deadline": (day + timedelta(days=5)).isoformat(), "opinion": "情况属实"})
            db.session.commit()
        clone(case.id, n_cases - 1, bench_orgs(max(1, n_cases // 10)))
        sms_history(max(50_000, n_cases * 5))
        setup = time.perf_counter() - t0
        due = db.session.scalar(select(func.count(Case.id)).where(Case.next_timer_at <= func.now()))
        print(f"setup: {n_cases} cases with a due timer in {setup:.1f} s (cloned from one engine-made case by app.scale.clone; "
              f"SMS table pre-filled with {max(50_000, n_cases * 5):,} historical rows)")
        assert due == n_cases, f"expected {n_cases} due timers, found {due}"

        if os.environ.get("BENCH_PHASES"):
            from collections import defaultdict

            from app.cases import escalation
            from app.engine import services as engine_services
            from app.sms import services as sms_services
            spent = defaultdict(float)

            def timed(owner, name, label, registry=None):
                original = registry[name] if registry is not None else getattr(owner, name)

                def wrapper(*a, **kw):
                    t = time.perf_counter()
                    try:
                        return original(*a, **kw)
                    finally:
                        spent[label] += time.perf_counter() - t
                if registry is not None:
                    registry[name] = wrapper
                else:
                    setattr(owner, name, wrapper)
            for fn in ("_load", "_run_engine", "_sync", "_save", "_due_timer_names", "append_event", "_bump"):
                timed(runtime, fn, fn)
            timed(None, "case.escalate", "escalate (in _run_engine)", engine_services._SERVICES)
            timed(sms_services, "enqueue", "sms.enqueue (in escalate)")
            timed(escalation, "regulators_at", "regulators_at (in escalate)")
            timed(escalation.decisions, "evaluate", "dmn evaluate")
            timed(db.session, "commit", "commit")
            run_timers = run_job("timers")
            for label, seconds in sorted(spent.items(), key=lambda kv: -kv[1]):
                print(f"  {label:32s} {seconds * 1000 / n_cases:7.2f} ms/case")
        elif os.environ.get("BENCH_SQL"):
            from collections import Counter

            from sqlalchemy import event
            seen, spent = Counter(), Counter()

            @event.listens_for(db.engine, "before_cursor_execute")
            def _start(conn, cursor, statement, params, context, executemany):
                conn.info["t0"] = time.perf_counter()

            @event.listens_for(db.engine, "after_cursor_execute")
            def _count(conn, cursor, statement, params, context, executemany):
                key = " ".join(statement.split())[:100]
                seen[key] += 1
                spent[key] += time.perf_counter() - conn.info["t0"]
            run_timers = run_job("timers")
            for statement, seconds in spent.most_common(25):
                print(f"{seen[statement]:6d} {seconds * 1000 / n_cases:7.3f} ms/case  {statement}")
            print(f"SQL total {sum(spent.values()) * 1000 / n_cases:.2f} ms/case, "
                  f"{sum(seen.values()) / n_cases:.1f} statements/case")
        elif os.environ.get("BENCH_PROFILE"):
            import cProfile
            import pstats
            profiler = cProfile.Profile()
            profiler.enable()
            run_timers = run_job("timers")
            profiler.disable()
            stats = pstats.Stats(profiler).sort_stats(os.environ.get("BENCH_SORT", "cumulative"))
            if os.environ.get("BENCH_BY_PACKAGE"):
                from collections import Counter
                by = Counter()
                for (filename, _line, _name), (_cc, _nc, tottime, _ct, _callers) in stats.stats.items():
                    parts = filename.split("site-packages/")
                    key = parts[1].split("/")[0] if len(parts) > 1 else (
                        "app/" + filename.split("/app/")[1].split("/")[0] if "/app/" in filename else filename[:40])
                    by[key] += tottime
                for key, seconds in by.most_common(20):
                    print(f"  {key:40s} {seconds * 1000 / n_cases:7.2f} ms/case")
            elif os.environ.get("BENCH_CALLEES"):
                stats.print_callees(os.environ["BENCH_CALLEES"])
            else:
                stats.print_stats(60)
        else:
            run_timers = run_job("timers")
        run_sms = run_job("sms")
        db.session.expire_all()
        escalated = db.session.scalar(select(func.count(CaseEvent.id)).where(CaseEvent.kind == "escalated"))
        supervise = db.session.scalar(select(func.count(Task.id)).where(Task.task_def == "supervise_city",
                                                                        Task.status == "open"))
        messages = db.session.scalar(select(func.count(SmsMessage.id)))
        sent = db.session.scalar(select(func.count(SmsMessage.id)).where(SmsMessage.status == "sent"))
        left = db.session.scalar(select(func.count(Case.id)).where(Case.next_timer_at <= func.now()))
        version = db.session.execute(text("SHOW server_version")).scalar()
        print(f"PostgreSQL {version}, {os.cpu_count()} CPU cores")
        print(f"timers pass: {run_timers.items} cases fired, {run_timers.failures} failures, "
              f"{run_timers.duration_ms / 1000:.1f} s = {run_timers.items / max(run_timers.duration_ms, 1) * 1000:.0f} cases/s"
              f"  (target: {n_cases} in < 60 s)")
        print(f"sms pass:    {run_sms.items} messages handled, {run_sms.failures} failed, "
              f"{run_sms.duration_ms / 1000:.1f} s")
        print(f"check: escalated events {escalated}, open 督办 tasks {supervise}, SMS rows {messages} "
              f"({sent} sent), timers still due {left}")
        ok = escalated == supervise == run_timers.items == n_cases and left == 0
        print("RESULT:", "PASS" if ok and run_timers.duration_ms < 60_000 else "FAIL")


def sms_history(rows: int) -> None:
    """A live system has months of SMS records (and statistics on them). Starting from an empty,
    freshly analysed table would let PostgreSQL cache plans made for zero rows for the whole pass —
    a cold-start artefact, not the steady state this benchmark is about."""
    from app.extensions import db
    db.session.execute(text(
        "INSERT INTO sms_message (template_code, params, content, audience, recipient_name, region_code, "
        "status, attempts, source, created_at, sent_at, phone_bidx, phone_masked) "
        "SELECT 'INSP_DUE_30D', '{}', '历史短信（压测）' || g, 'enterprise', '历史收件人', '450102', 'delivered', 1, "
        "'system', now() - (g % 90) * interval '1 day' - interval '1 day', now() - (g % 90) * interval '1 day', "
        "md5(g::text), '171****' || lpad((g % 10000)::text, 4, '0') FROM generate_series(1, :n) g"), {"n": rows})
    db.session.commit()
    db.session.execute(text("ANALYZE sms_message"))
    db.session.commit()


def bench_orgs(count: int) -> list[int]:
    """Use units for the clones (10 cases each), each with the three SMS contacts of §4.5.4, so
    that SMS dedup and rate limits see a realistic spread of phones."""
    from app.core.models import OrgContact, Organization
    from app.extensions import db
    ids = []
    for n in range(count):
        org = Organization(uscc=f"BENCH{n:013d}", name=f"压测使用单位{n}（压测）", kind="use_unit",
                           region_code="450102")
        db.session.add(org)
        db.session.flush()
        for k, duty in enumerate(("principal", "safety_director", "safety_officer")):
            contact = OrgContact(org_id=org.id, duty=duty, name=f"压测联系人{n}-{k}")
            contact.set_phone(str(17100000000 + n * 10 + k))
            db.session.add(contact)
        ids.append(org.id)
    db.session.commit()
    return ids


def clone(template_id: int, copies: int, org_ids: list[int], chunk: int = 1000) -> None:
    """Copy the template case `copies` times with app.scale.clone (the generator's cloning): every
    engine task id is replaced by a fresh one, so each clone is its own instance; clones are spread
    over `org_ids` as their use units, with their own case number and a valid timeline chain."""
    from app.cases.models import Case
    from app.core.models import Organization
    from app.extensions import db
    from app.scale.clone import CHILD_TABLES, CloneSpec, build_rows, fresh_uuids, load_template
    from app.core.bulk import Writer
    case = db.session.get(Case, template_id)
    unit = db.session.get(Organization, case.org_id)
    names = dict(db.session.execute(select_names(org_ids)).all())
    tpl = load_template("timers", template_id, [0], [0.0], [unit.name])
    identity = {key: key.split(":", 1)[1] for key in tpl.slot_keys}      # everything else stays as it is
    uuids = sorted(key[5:] for key in tpl.slot_keys if key.startswith("uuid:"))
    writer = Writer()
    for start in range(1, copies + 1, chunk):
        numbers = list(range(start, min(copies, start + chunk - 1) + 1))
        case_ids = writer.ids("case_record", len(numbers))
        pools = {t: iter(writer.ids(t, tpl.count(t) * len(numbers))) for t in CHILD_TABLES}
        batch = {t: [] for t in ("case_record",) + CHILD_TABLES}
        for n, case_id in zip(numbers, case_ids):
            org_id = org_ids[n % len(org_ids)]
            values = dict(identity)
            values.update({f"org:{unit.id}": str(org_id), f"name:{unit.name}": names[org_id],
                           f"caseno:{case.case_no}": f"BENCH{n:07d}", f"case:{template_id}": str(case_id)})
            values.update({f"uuid:{old}": new for old, new in fresh_uuids(case_id, uuids, n).items()})
            ids = {t: [next(pools[t]) for _ in range(tpl.count(t))] for t in CHILD_TABLES}
            for old, new_id in zip(tpl.template_ids["hazard"], ids["hazard"]):
                values[f"hazard:{old}"] = str(new_id)
            for old, new_id in zip(tpl.template_ids["attachment"], ids["attachment"]):
                values[f"att:{old}"] = str(new_id)
            rows = build_rows(tpl, CloneSpec(case_id=case_id, values=values, ids=ids, shift_days=0,
                                             action_starts=[0.0]))
            for table, new_rows in rows.items():
                batch[table].extend(new_rows)
        for table in ("case_record", "case_party", "hazard", "attachment", "task", "case_event"):
            writer.write(table, batch[table])
        db.session.commit()
    db.session.execute(text("ANALYZE"))
    db.session.commit()


def select_names(org_ids: list[int]):
    from sqlalchemy import select

    from app.core.models import Organization
    return select(Organization.id, Organization.name).where(Organization.id.in_(org_ids))


if __name__ == "__main__":
    main()
