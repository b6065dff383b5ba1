"""Web load benchmark: 100 and 300 concurrent users on the app served by gunicorn, with
PostgreSQL holding the province data (bench/generate.py).

    .venv/bin/python bench/web_load.py [--scale province] [--levels 100,300] [--duration 60]

Each virtual user is a generated account (one county supervisor per county, then use units
with open rectification tasks) that logs in once through the login form; login cost is
reported on its own (PBKDF2-HMAC-SM3, 600,000 iterations, by design ≈0.4 s of CPU each).
Then, for --duration seconds per level, every user repeats a journey, thinking --think seconds
(uniform, default 3–10 s: reading a list, a case, filling a form) between clicks as people do;
`--think 0.5-1.5` turns the same users into robots clicking about once a second, which shows the
throughput at which the server saturates rather than what 100 people at work ask of it:
  inbox → inbox with filters → a case page → a task form → submit the form → search the ledger.
Submitting really completes the task (dispatch, extension request, extension review or
verification), so every run consumes open tasks of the data set.

Targets (issue 8), at 100 users: inbox and case pages p95 ≤ 150 ms, form submit p95 ≤ 300 ms,
zero errors; at 300 users: zero errors. Rate limits are switched off for the bench
(RATELIMIT_ENABLED=0); everything else is the production configuration.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import statistics
import sys
import time
from collections import defaultdict
from datetime import date, timedelta

from common import pct, start_gunicorn, stop_gunicorn, use_database

CSRF = re.compile(r'name="csrf-token" content="([^"]+)"')
TASK_LINK = re.compile(r'href="/tasks/(\d+)"')
CASE_LINK = re.compile(r'href="/cases/(\d+)"')
FILTERS = ["process=major_hazard&sort=warning", "overdue=1", "warning=red", "warning=yellow&sort=-created",
           "process=major_hazard&q=电梯"]
SEARCHES = ["电梯", "叉车", "起重机", "YH2026", "YH2025", "门锁"]
TARGETS = {"inbox": 150, "inbox (filters)": 150, "case page": 150, "form submit": 300}
SERVER_KEEPALIVE = 5   # seconds gunicorn keeps an idle connection (its default 2)


def form_for(task_page: str) -> dict | None:
    """The answer a person would give at this step (recognised by the form's fields)."""
    later = (date.today() + timedelta(days=45)).isoformat()
    if 'name="dispatch_decision"' in task_page:
        return {"dispatch_decision": "dispatch", "requirements": "立即停止使用，按判定准则要求整改。",
                "rectify_deadline": later, "opinion": "认定属实，派单督办。"}
    if 'name="feedback_type"' in task_page:
        return {"feedback_type": "extension", "requested_deadline": later,
                "extension_reason": "需更换整套安全部件，配件订货周期较长。"}
    if 'name="extension_decision"' in task_page:
        return {"extension_decision": "approve", "approved_deadline": later, "opinion": "同意延期。"}
    if 'name="verify_result"' in task_page:
        return {"verify_result": "pass", "opinion": "现场复核整改到位。"}
    return None


class Stats:
    def __init__(self):
        self.times = defaultdict(list)
        self.errors = defaultdict(int)
        self.samples: dict[str, str] = {}

    def add(self, page: str, seconds: float, ok: bool, detail: str = "") -> None:
        self.times[page].append(seconds)
        if not ok:
            self.errors[page] += 1
            self.samples.setdefault(page, detail)


async def request(session, stats: Stats | None, page: str, method: str, url: str, expect=(200,), **kw):
    import aiohttp
    t0 = time.perf_counter()
    try:
        async with session.request(method, url, allow_redirects=False, **kw) as resp:
            body = await resp.text()
            ok = resp.status in expect
            detail = f"HTTP {resp.status} {url}"
    except (aiohttp.ClientError, asyncio.TimeoutError) as err:
        body, ok, detail = "", False, f"{type(err).__name__} {url}"
    if stats is not None:
        stats.add(page, time.perf_counter() - t0, ok, detail)
    return body if ok else None


async def login(base: str, username: str, login_times: list, failures: list):
    import aiohttp
    # The client drops an idle connection before the server does: otherwise a request sent on a
    # connection at the instant gunicorn closes it for idleness is reset (a browser retries it; aiohttp
    # does not retry a POST). Seen once in 7,406 requests with 0.5–1.5 s thinks near the 2 s default.
    session = aiohttp.ClientSession(base_url=base, timeout=aiohttp.ClientTimeout(total=120),
                                    cookie_jar=aiohttp.CookieJar(unsafe=True),
                                    connector=aiohttp.TCPConnector(keepalive_timeout=SERVER_KEEPALIVE - 1))
    page = await request(session, None, "login", "GET", "/login")
    t0 = time.perf_counter()
    token = CSRF.search(page or "")
    ok = False
    if token:
        async with session.post("/login", data={"username": username, "password": "Demo@2026",
                                                "csrf_token": token.group(1)}, allow_redirects=False) as resp:
            ok = resp.status == 302 and "/login" not in resp.headers.get("Location", "")
    login_times.append(time.perf_counter() - t0)
    if not ok:
        failures.append(username)
    return session


async def journey(session, stats: Stats, end: float, think: tuple[float, float], rng: random.Random) -> None:
    async def pause():
        await asyncio.sleep(rng.uniform(*think))

    await asyncio.sleep(rng.uniform(0, think[1]))   # people do not all click at the same instant
    while time.perf_counter() < end:
        page = await request(session, stats, "inbox", "GET", "/inbox")
        await pause()
        filtered = await request(session, stats, "inbox (filters)", "GET", f"/inbox?{rng.choice(FILTERS)}")
        html = (filtered or "") + (page or "")
        cases, tasks = CASE_LINK.findall(html), TASK_LINK.findall(page or "")
        await pause()
        if cases:
            await request(session, stats, "case page", "GET", f"/cases/{rng.choice(cases)}")
            await pause()
        if tasks and time.perf_counter() < end:
            task_id = rng.choice(tasks)
            form_page = await request(session, stats, "task form", "GET", f"/tasks/{task_id}")
            answer = form_for(form_page or "")
            token = CSRF.search(form_page or "")
            await pause()
            if answer and token:
                await request(session, stats, "form submit", "POST", f"/tasks/{task_id}", expect=(302,),
                              data={**answer, "csrf_token": token.group(1)})
                await pause()
        await request(session, stats, "ledger search", "GET", f"/hazards?q={rng.choice(SEARCHES)}")
        await pause()


def pick_accounts(n: int) -> list[str]:
    """One county supervisor per county (the county's open tasks are theirs alone in this bench),
    then use-unit accounts whose unit has an open rectification task."""
    from sqlalchemy import func, select

    from app import create_app
    from app.cases.models import Task
    from app.core.models import User
    from app.extensions import db
    app = create_app()
    with app.app_context():
        counties = [r for r, in db.session.execute(
            select(Task.candidate_region).where(Task.status == "open", Task.candidate_role == "county_supervisor")
            .group_by(Task.candidate_region).order_by(func.count().desc()))]
        names = [f"g{code}s1" for code in counties]
        orgs = db.session.scalars(select(Task.candidate_org_id).where(
            Task.status == "open", Task.task_def == "rectify").group_by(Task.candidate_org_id)
            .order_by(func.count().desc()).limit(n))
        units = dict(db.session.execute(select(User.org_id, User.username).where(
            User.role == "use_unit", User.username.like("gu%"))).all())
        names += [units[o] for o in orgs if o in units]
        existing = set(db.session.scalars(select(User.username).where(User.username.in_(names))))
        return [u for u in names if u in existing][:n]


def start_server(port: int, workers: int, threads: int):
    return start_gunicorn(port, "--workers", str(workers), "--threads", str(threads), "--worker-class", "gthread",
                          "--timeout", "120", "--keep-alive", str(SERVER_KEEPALIVE))


async def run_levels(base: str, accounts: list[str], levels: list[int], duration: int, think) -> bool:
    login_times, failures = [], []
    t0 = time.perf_counter()
    sessions = []
    sem = asyncio.Semaphore(20)

    async def one(name):
        async with sem:
            return await login(base, name, login_times, failures)
    sessions = await asyncio.gather(*(one(a) for a in accounts))
    wall = time.perf_counter() - t0
    print(f"login: {len(accounts)} users in {wall:.1f} s (20 at a time), per login mean "
          f"{statistics.mean(login_times) * 1000:.0f} ms, p95 {pct(login_times, 0.95):.0f} ms, "
          f"{len(failures)} failed" + (f" ({failures[:3]})" if failures else ""))
    all_ok = not failures
    for users in levels:
        stats = Stats()
        end = time.perf_counter() + duration
        rngs = [random.Random(f"{users}:{i}") for i in range(users)]
        started = time.perf_counter()
        await asyncio.gather(*(journey(sessions[i], stats, end, think, rngs[i]) for i in range(users)))
        elapsed = time.perf_counter() - started
        total = sum(len(v) for v in stats.times.values())
        errors = sum(stats.errors.values())
        print(f"\n== {users} concurrent users, {duration} s, think {think[0]}–{think[1]} s: "
              f"{total:,} requests, {total / elapsed:.1f} requests/s, {errors} errors")
        print(f"  {'page':16s} {'count':>7s} {'p50 ms':>8s} {'p95 ms':>8s} {'p99 ms':>8s} {'errors':>7s}  target")
        for page in ("inbox", "inbox (filters)", "case page", "task form", "form submit", "ledger search"):
            values = stats.times.get(page, [])
            target = TARGETS.get(page)
            verdict = ""
            if users <= 100 and target:
                verdict = f"p95 ≤ {target}: {'ok' if pct(values, 0.95) <= target else 'MISSED'}"
                all_ok &= pct(values, 0.95) <= target
            print(f"  {page:16s} {len(values):7d} {pct(values, 0.5):8.1f} {pct(values, 0.95):8.1f} "
                  f"{pct(values, 0.99):8.1f} {stats.errors.get(page, 0):7d}  {verdict}")
        for page, sample in stats.samples.items():
            print(f"  first error on {page}: {sample}")
        all_ok &= errors == 0
    for s in sessions:
        await s.close()
    return all_ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="province")
    parser.add_argument("--levels", default="100,300")
    parser.add_argument("--duration", type=int, default=60)
    parser.add_argument("--think", default="3-10", help="seconds between clicks, min-max")
    parser.add_argument("--port", type=int, default=8098)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker")
    args = parser.parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    think = tuple(float(x) for x in args.think.split("-"))
    url = use_database(args.scale)
    accounts = pick_accounts(max(levels))
    print(f"database {url.rsplit('/', 1)[1]}, gunicorn {args.workers} workers × {args.threads} threads (gthread), "
          f"{os.cpu_count()} CPU cores, {len(accounts)} accounts")
    if len(accounts) < max(levels):
        print(f"only {len(accounts)} accounts with open work: levels capped")
        levels = [min(x, len(accounts)) for x in levels]
    server = start_server(args.port, args.workers, args.threads)
    try:
        ok = asyncio.run(run_levels(f"http://127.0.0.1:{args.port}", accounts, levels, args.duration, think))
    finally:
        stop_gunicorn(server)
    print("\nRESULT:", "PASS" if ok else "FAIL")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
