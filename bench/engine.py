"""Engine benchmark: task completions per second through the service layer with persistence,
against the raw SpiffWorkflow step measured in the same run on the same tasks.

    .venv/bin/python bench/engine.py [--scale province] [--tasks 400] [--statements] [--profile N]
    .venv/bin/python bench/engine.py --scale journey --prepare 400     # no province data needed

Target: one completion ≤ 5 ms server-side p50, in one process on a quiet machine. Also printed: the
raw engine step, the time spent waiting on the database, and their ratios (the earlier target
"persistence overhead ≤ 3× the raw step" is retired: the database round trips alone exceed it).

- raw engine step: deserialize the case's engine state, put the form data on the READY task,
  run it and the engine steps that follow (gateways, service tasks with our domain functions
  replaced by no-ops, the next user task), serialize the state again — no database;
- service layer: `runtime.complete_task` + commit, as a request does it — row lock, form
  validation, the same engine work with the real domain services (hazard status, notice
  numbers), the task projection, timeline entries with their SM3 chain, the state UPDATE,
  and the commit.

It works on open 派单督办 and 整改反馈 tasks of generated cases in gx_<scale> (bench/generate.py)
and completes them for real (dispatch → rectification; feedback → extension request), so every
run consumes --tasks open tasks of the data set. `--prepare N` first starts N hazard cases (half of
them dispatched) through the engine with the accounts of bench/journey.py, e.g. in gx_journey.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time
from datetime import timedelta

from common import use_database


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="province")
    parser.add_argument("--tasks", type=int, default=400)
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="also print the N functions with the most own time in the service layer (cProfile)")
    parser.add_argument("--prepare", type=int, default=0, metavar="N",
                        help="first start N hazard cases (half dispatched) with bench/journey.py's accounts")
    parser.add_argument("--statements", action="store_true",
                        help="also print each SQL statement of the first completion of each step, with its round trip")
    args = parser.parse_args()
    url = use_database(args.scale, create=bool(args.prepare))
    if args.prepare:
        prepare_cases(args.prepare)
    from uuid import UUID

    from sqlalchemy import select, text

    from app import create_app
    from app.cases.models import Case, Task
    from app.core.clock import today_local
    from app.core.models import User
    from app.engine import runtime
    from app.engine import services as engine_services
    from app.engine.registry import ensure_spec_loaded
    from app.engine.scripting import SCRIPT_ENGINE
    from app.engine.serializer import dump_workflow, load_workflow
    from app.extensions import db

    app = create_app()
    with app.app_context():
        deadline = (today_local() + timedelta(days=60)).isoformat()
        forms = {
            "dispatch": {"dispatch_decision": "dispatch", "requirements": "立即停止使用，按判定准则要求整改。",
                         "rectify_deadline": deadline, "opinion": "认定属实，派单督办。"},
            "rectify": {"feedback_type": "extension", "requested_deadline": deadline,
                        "extension_reason": "需更换整套安全部件，配件订货周期较长。"},
        }
        picked = []
        for task_def in forms:
            picked += list(db.session.execute(
                select(Task.id, Task.case_id, Task.task_def, Task.candidate_role, Task.candidate_region,
                       Task.candidate_org_id)
                .where(Task.status == "open", Task.task_def == task_def, Task.assignee_id.is_(None))
                .order_by(Task.id.desc()).limit(args.tasks // 2)))
        if not picked:
            raise SystemExit("no open tasks: run bench/generate.py first")
        users = {}
        for row in picked:
            key = (row.candidate_role, row.candidate_region, row.candidate_org_id)
            if key not in users:
                query = select(User).where(User.role == row.candidate_role)
                query = (query.where(User.org_id == row.candidate_org_id) if row.candidate_org_id
                         else query.where(User.region_code == row.candidate_region))
                users[key] = db.session.scalar(query.with_only_columns(User.id).order_by(User.id).limit(1))
        states = {c.id: (c.state, c.process_version) for c in db.session.scalars(
            select(Case).where(Case.id.in_([r.case_id for r in picked])))}
        spiff_ids = dict(db.session.execute(select(Task.id, Task.spiff_task_id).where(
            Task.id.in_([r.id for r in picked]))).all())
        print(f"database {url.rsplit('/', 1)[1]}: PostgreSQL {db.session.execute(text('SHOW server_version')).scalar()}, "
              f"{os.cpu_count()} CPU cores; {len(picked)} open tasks "
              f"({sum(r.task_def == 'dispatch' for r in picked)} 派单督办, {sum(r.task_def == 'rectify' for r in picked)} 整改反馈)")

        # ---- raw engine step (no database): domain services replaced by no-ops
        saved = dict(engine_services._SERVICES)
        for name in saved:
            engine_services._SERVICES[name] = lambda ctx, **kw: {}
        raw, parts = [], {"deserialize": [], "run": [], "serialize": []}
        try:
            for row in picked:
                state, version = states[row.case_id]
                ensure_spec_loaded(version)
                token = engine_services.CURRENT.set(engine_services.ServiceContext(case=None, actor=None, task_data={}))
                try:
                    t0 = time.perf_counter()
                    wf = load_workflow(state)
                    wf.script_engine = SCRIPT_ENGINE
                    t1 = time.perf_counter()
                    spiff_task = wf.get_task_from_id(UUID(spiff_ids[row.id]))
                    spiff_task.data.update(forms[row.task_def])
                    spiff_task.run()
                    wf.do_engine_steps()
                    t2 = time.perf_counter()
                    dump_workflow(wf)
                    t3 = time.perf_counter()
                finally:
                    engine_services.CURRENT.reset(token)
                raw.append(t3 - t0)
                parts["deserialize"].append(t1 - t0)
                parts["run"].append(t2 - t1)
                parts["serialize"].append(t3 - t2)
        finally:
            engine_services._SERVICES.clear()
            engine_services._SERVICES.update(saved)
        db.session.rollback()

        # ---- service layer with persistence
        from sqlalchemy import event
        statements = {"n": 0, "db": 0.0, "t": 0.0, "clock": False, "log": None}
        logged: dict[str, list] = {}

        def count(*_args):
            statements["n"] += 1
            statements["t"] = time.perf_counter()

        def waited(_conn, _cursor, statement, *_args):   # the round trip: sending, the server's work, the reply
            if statements["clock"]:
                statements["db"] += time.perf_counter() - statements["t"]
                if statements["log"] is not None:
                    statements["log"].append((time.perf_counter() - statements["t"], " ".join(statement.split())))
        event.listen(db.engine, "before_cursor_execute", count)
        event.listen(db.engine, "after_cursor_execute", waited)
        service, failures = [], 0
        profiler = None
        if args.profile:
            import cProfile
            profiler = cProfile.Profile()
        t_all = time.perf_counter()
        for row in picked:
            # As a request: a new session whose user the login check loaded before the service
            # runs (outside the clock); the session ends with the request.
            db.session.remove()
            user = db.session.get(User, users[(row.candidate_role, row.candidate_region, row.candidate_org_id)])
            if args.statements and row.task_def not in logged:
                statements["log"] = logged[row.task_def] = []
            t0 = time.perf_counter()
            statements["clock"] = True
            if profiler:
                profiler.enable()
            try:
                runtime.complete_task(row.id, user, forms[row.task_def])
                t_commit = time.perf_counter()
                db.session.commit()   # nothing left to flush: the COMMIT's round trip
                statements["db"] += time.perf_counter() - t_commit
                if statements["log"] is not None:
                    statements["log"].append((time.perf_counter() - t_commit, "COMMIT"))
            except Exception as err:  # noqa: BLE001 - counted and shown
                db.session.rollback()
                failures += 1
                if failures <= 3:
                    print(f"  failed task {row.id}: {err}")
                continue
            finally:
                statements["clock"], statements["log"] = False, None
                if profiler:
                    profiler.disable()
            service.append(time.perf_counter() - t0)
        wall = time.perf_counter() - t_all
        event.remove(db.engine, "before_cursor_execute", count)
        event.remove(db.engine, "after_cursor_execute", waited)
        # Counted: each completion's statements and the user reload outside the clock (one SELECT);
        # not counted: the COMMIT (no cursor). So the count per completion, COMMIT included, is n / tasks.
        per_completion = statements["n"] / len(picked)

        def ms(values):
            return statistics.mean(values) * 1000

        raw_ms, service_ms = ms(raw), ms(service)
        print(f"raw SpiffWorkflow step: {raw_ms:.2f} ms mean (deserialize {ms(parts['deserialize']):.2f} + "
              f"run task and engine steps {ms(parts['run']):.2f} + serialize {ms(parts['serialize']):.2f}), "
              f"p95 {sorted(raw)[int(len(raw) * 0.95)] * 1000:.2f} ms")
        print(f"service layer completion with persistence: {service_ms:.2f} ms mean, "
              f"p95 {sorted(service)[int(len(service) * 0.95)] * 1000:.2f} ms, "
              f"{len(service) / wall:.0f} completions/s (one process), {failures} failures, "
              f"{per_completion:.1f} SQL statements per completion (COMMIT included)")
        waited_ms = statements["db"] / max(len(service) + failures, 1) * 1000
        print(f"  of which waiting on the database (each statement's round trip and the COMMIT): {waited_ms:.2f} ms; "
              f"in Python (engine step, ORM, domain services, validation, SM3 chain): {service_ms - waited_ms:.2f} ms")
        for task_def, rows in logged.items():
            print(f"statements of one {task_def} completion ({len(rows)}; round trip ms, statement start):")
            for seconds, statement in rows:
                print(f"  {seconds * 1000:6.2f}  {statement[:150]}")
        if profiler:   # the profiler's own cost inflates the service figures of such a run
            import pstats
            print(f"profile (own time, top {args.profile}; figures above include the profiler's cost):")
            stats = pstats.Stats(profiler)
            stats.sort_stats(os.environ.get("PROFILE_SORT", "tottime")).print_stats(os.environ.get("PROFILE_FILTER", ""),
                                                                                    args.profile)
            groups: dict = {}
            for (filename, _line, _name), (_cc, calls, own, _cum, _callers) in stats.stats.items():
                group = next((g for g in ("sqlalchemy", "psycopg", "SpiffWorkflow", "/app/") if g in filename), "other")
                total = groups.setdefault(group, [0, 0.0])
                total[0] += calls
                total[1] += own
            print("own time by package, per completion:")
            for group, (calls, own) in sorted(groups.items(), key=lambda kv: -kv[1][1]):
                print(f"  {group:14} {own / len(service) * 1000:6.2f} ms  {calls / len(service):8.0f} calls")
        ratio = service_ms / raw_ms
        overhead = (service_ms - raw_ms) / raw_ms
        print(f"ratio service / raw engine step: {ratio:.2f}x; database waits alone / raw step: "
              f"{waited_ms / raw_ms:.2f}x")
        print(f"persistence overhead (service − raw) / raw step: {overhead:.2f}x")
        p50 = statistics.median(service) * 1000
        print(f"completion p50 {p50:.2f} ms (target ≤ 5 ms, one process, quiet machine; load average now "
              f"{os.getloadavg()[0]:.1f})")
        print("RESULT:", "PASS" if p50 <= 5 and not failures else "FAIL")


def prepare_cases(n: int) -> None:
    """N hazard cases in the counties of bench/journey.py's accounts, half of them dispatched."""
    from journey import forms, prepare
    from sqlalchemy import select

    from app import create_app
    from app.cases.models import Task
    from app.core.models import User
    from app.engine import runtime
    from app.extensions import db
    accounts = prepare(10)
    app = create_app()
    with app.app_context():
        for i in range(n):
            sup_name, _unit, code = accounts[i % len(accounts)]
            sup = db.session.scalar(select(User).where(User.username == sup_name))
            case = runtime.start_case("major_hazard", sup, forms(code)["report"])
            if i % 2:
                task = db.session.scalar(select(Task).where(Task.case_id == case.id, Task.status == "open"))
                runtime.complete_task(task.id, sup, forms(code)["dispatch"])
            db.session.commit()
        print(f"prepared {n} cases")


if __name__ == "__main__":
    main()
