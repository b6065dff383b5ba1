"""Throughput of the hazard loop through the API: N clients, each a county of its own.

    .venv/bin/python bench/journey.py [--clients 10,50,100] [--duration 60]
                                      [--worker-class sync --workers 4 --threads 1] [--login-burst 0]
    .venv/bin/python bench/journey.py --in-process 60

Each client is a pair of accounts in one county (its county supervisor and a use unit there, with a
lift): made once in the database gx_journey (next to PG_TEST_URL's), which this script creates,
migrates and seeds with the demo reference data; every account logs in once through
POST /api/v1/session (PBKDF2-HMAC-SM3 at the production work factor; reported on its own).
Then each client loops, for --duration seconds per level:

    the supervisor starts a hazard case (POST /api/v1/cases);
    for each user task of the real hazard loop — 派单督办 (supervisor), 整改反馈 with a photo
    uploaded first (use unit), 复核销号 (supervisor): list my tasks (GET /api/v1/tasks),
    get the task (GET /api/v1/tasks/{id}), submit it (POST /api/v1/tasks/{id}/complete).

It prints requests/s, task submits/s, p50/p95 per call and errors. `--in-process LOOPS` runs the
loop of one client through Flask's test client instead and prints the CPU per loop (this process and
its PostgreSQL backends) and the SQL statements of each call: figures a busy machine hardly moves. `--login-burst K` adds K
clients that log in again and again during the level (a login storm beside the loop) and prints
their login times: the loop's figures then show whether logins starve the other requests.
The server is gunicorn with the shipped gunicorn.conf.py unless --worker-class is given; rate
limits are off (RATELIMIT_ENABLED=0), everything else is the production configuration.
Targets at 50 clients: ≥ 55 submits/s, ≥ 200 requests/s, 0 errors, submit p95 ≤ 300 ms, list p95 ≤ 150 ms.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections import defaultdict
from datetime import date, timedelta

from common import PG_BASE as PG_ADMIN
from common import ROOT, pct, start_gunicorn, stop_gunicorn, use_database

PASSWORD = "Journey@2026"


def photo() -> bytes:
    """A small real JPEG (uploads are checked by decoding)."""
    import io

    from PIL import Image
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (180, 40, 40)).save(out, "JPEG", quality=80)
    return out.getvalue()


PHOTO = photo()
CALLS = ("start", "list", "get", "upload", "submit")
TARGETS = {"list": 150, "submit": 300}


def prepare(max_clients: int) -> list[tuple[str, str, str]]:
    """Accounts for up to `max_clients` counties: [(supervisor, unit, equipment code)]. Idempotent."""
    from flask_migrate import upgrade
    from sqlalchemy import select

    from app import create_app
    from app.core.gm import hash_password
    from app.core.models import Equipment, Organization, Region, User
    from app.core.validators import uscc_check_char
    from app.demo import seed
    from app.engine.deploy import deploy_all
    from app.extensions import db
    app = create_app()
    with app.app_context():
        upgrade()
        deploy_all()
        seed(with_cases=False)
        db.session.commit()
        counties = list(db.session.scalars(select(Region.code).where(Region.level == "county").order_by(Region.code)))
        if len(counties) < max_clients:
            raise SystemExit(f"only {len(counties)} counties: at most {len(counties)} clients")
        password_hash = None
        accounts = []
        for n, code in enumerate(counties[:max_clients]):
            sup, unit_name = f"jb{code}s", f"jb{code}u"
            if db.session.scalar(select(User.id).where(User.username == sup)) is None:
                password_hash = password_hash or hash_password(PASSWORD, app.config.get("PASSWORD_ITERATIONS", 600_000))
                first17 = f"91{code}J{n:08d}"
                org = Organization(uscc=first17 + uscc_check_char(first17), name=f"压测使用单位{code}（演示）",
                                   kind="use_unit", region_code=code, address=f"{code} 压测路 1 号",
                                   contact_name="压测联系人")
                db.session.add(org)
                db.session.flush()
                db.session.add_all([
                    User(username=sup, display_name=f"压测监察员{code}", role="county_supervisor",
                         region_code=code, password_hash=password_hash),
                    User(username=unit_name, display_name=f"压测安全管理员{code}", role="use_unit",
                         region_code=code, org_id=org.id, password_hash=password_hash),
                    Equipment(code=f"3110J{code}{n:05d}", name="压测乘客电梯", category_code="3110",
                              use_org_id=org.id, region_code=code, registered_region_code=code, movable=False,
                              address=org.address, status="in_use",
                              next_inspection_date=date.today() + timedelta(days=180))])
                db.session.commit()
            accounts.append((sup, unit_name, f"3110J{code}{n:05d}"))
        vacuum_if_not_automatic(db.engine)
        return accounts


def vacuum_if_not_automatic(engine) -> None:
    """Every run updates each case four times and leaves the old row versions behind; with autovacuum
    off (as on some development servers) they pile up run after run and every later run reads
    through them (here 70,000 dead case rows beside 23,000 live ones: PostgreSQL's CPU per loop 47.7 ms, 28.2
    after VACUUM). Do what autovacuum would have done before measuring."""
    from sqlalchemy import text
    with engine.connect() as conn:
        if conn.execute(text("SHOW autovacuum")).scalar() == "on":
            return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM (ANALYZE)"))


def forms(equipment_code: str) -> dict[str, dict]:
    today = date.today()
    return {
        "report": {"equipment_code": equipment_code, "criterion_id": "GB45067-4.6b",
                   "description": "层门门锁安全回路被短接，电梯仍在运行（压测）。", "found_on": today.isoformat(),
                   "rectify_deadline": (today + timedelta(days=15)).isoformat()},
        "dispatch": {"dispatch_decision": "dispatch", "requirements": "立即停用并整改门锁回路。",
                     "rectify_deadline": (today + timedelta(days=10)).isoformat(), "opinion": "情况属实，派单督办。"},
        "rectify": {"feedback_type": "feedback", "measures": "更换门锁并恢复安全回路。",
                    "completed_on": today.isoformat()},
        "verify_bureau": {"verify_result": "pass", "opinion": "现场复核整改到位。"},
    }


class Stats:
    def __init__(self):
        self.times = defaultdict(list)
        self.errors = defaultdict(int)
        self.samples: dict[str, str] = {}
        self.submits = 0

    def add(self, call: str, seconds: float, ok: bool, detail: str = "") -> None:
        self.times[call].append(seconds)
        if not ok:
            self.errors[call] += 1
            self.samples.setdefault(call, detail)


class Client:
    """One county: its supervisor's and its unit's API sessions."""

    def __init__(self, http, base: str, tokens: dict[str, str], sup: str, unit: str, code: str):
        self.http, self.base, self.sup, self.unit, self.forms = http, base, sup, unit, forms(code)
        self.headers = {name: {"Authorization": f"Bearer {tokens[name]}"} for name in (sup, unit)}

    async def call(self, stats: Stats, kind: str, who: str, method: str, path: str, expect=(200,), **kw):
        import aiohttp
        t0 = time.perf_counter()
        try:
            async with self.http.request(method, self.base + path, headers=self.headers[who], **kw) as resp:
                body = await resp.json(content_type=None)
                ok, detail = resp.status in expect, f"HTTP {resp.status} {method} {path}: {str(body)[:200]}"
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as err:
            body, ok, detail = None, False, f"{type(err).__name__} {method} {path}"
        stats.add(kind, time.perf_counter() - t0, ok, detail)
        return body if ok else None

    async def step(self, stats: Stats, who: str, case_id: int, task_def: str) -> bool:
        listing = await self.call(stats, "list", who, "GET", "/api/v1/tasks?per_page=20")
        mine = [t for t in (listing or {}).get("items", []) if t["case_id"] == case_id and t["task_def"] == task_def]
        if not mine:
            stats.add("list", 0, False, f"{who}: no {task_def} task of case {case_id} in the list")
            return False
        task = await self.call(stats, "get", who, "GET", f"/api/v1/tasks/{mine[0]['id']}")
        if task is None:
            return False
        data = dict(self.forms[task_def])
        if task_def == "rectify":
            form = __import__("aiohttp").FormData()
            form.add_field("file", PHOTO, filename="现场照片.jpg", content_type="image/jpeg")
            photo = await self.call(stats, "upload", who, "POST", "/api/v1/attachments", expect=(201,), data=form)
            if photo is None:
                return False
            data["evidence"] = [photo["id"]]
        done = await self.call(stats, "submit", who, "POST", f"/api/v1/tasks/{task['id']}/complete",
                               json={"data": data})
        stats.submits += done is not None
        return done is not None

    async def loop(self, stats: Stats, end: float) -> None:
        while time.perf_counter() < end:
            case = await self.call(stats, "start", self.sup, "POST", "/api/v1/cases", expect=(201,),
                                   json={"process_key": "major_hazard", "data": self.forms["report"]})
            if case is None:
                await asyncio.sleep(0.5)
                continue
            for who, task_def in ((self.sup, "dispatch"), (self.unit, "rectify"), (self.sup, "verify_bureau")):
                if not await self.step(stats, who, case["id"], task_def):
                    break


async def login(http, base: str, username: str, times: list) -> str | None:
    t0 = time.perf_counter()
    async with http.post(base + "/api/v1/session", json={"username": username, "password": PASSWORD}) as resp:
        body = await resp.json(content_type=None)
    times.append(time.perf_counter() - t0)
    return body.get("token") if resp.status == 201 else None


TOKENS = os.path.join(ROOT, "instance", "bench-journey", "tokens.json")


def load_tokens(names: list[str]) -> dict[str, str]:
    """Tokens of an earlier run (valid for API_TOKEN_TTL_SECONDS): a rerun need not log in 200 accounts."""
    import json
    try:
        with open(TOKENS, encoding="utf-8") as f:
            saved = json.load(f)
    except (OSError, ValueError):
        return {}
    return {n: saved[n] for n in names if n in saved}


def save_tokens(tokens: dict[str, str]) -> None:
    import json
    os.makedirs(os.path.dirname(TOKENS), exist_ok=True)
    with open(TOKENS, "w", encoding="utf-8") as f:
        json.dump(tokens, f)
    os.chmod(TOKENS, 0o600)


async def still_valid(http, base: str, tokens: dict[str, str]) -> dict[str, str]:
    async def check(name, token):
        async with http.get(base + "/api/v1/me", headers={"Authorization": f"Bearer {token}"}) as resp:
            return name, token if resp.status == 200 else None
    checked = await asyncio.gather(*(check(n, t) for n, t in tokens.items()))
    return {n: t for n, t in checked if t}


async def login_storm(http, base: str, usernames: list[str], end: float, times: list) -> None:
    i = 0
    while time.perf_counter() < end:
        await login(http, base, usernames[i % len(usernames)], times)
        i += 1


def tree_cpu(root_pid: int) -> float:
    """CPU seconds (user + system) used so far by a process and all its descendants (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    children: dict[int, list[int]] = {}
    stats: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
        stats[int(entry)] = (int(fields[11]) + int(fields[12])) / ticks
    total, todo = 0.0, [root_pid]
    while todo:
        pid = todo.pop()
        total += stats.get(pid, 0.0)
        todo += children.get(pid, [])
    return total


def database_cpu(base_url: str) -> dict[int, float]:
    """CPU seconds used so far by each PostgreSQL backend serving this benchmark's database (same machine)."""
    import psycopg
    with psycopg.connect(base_url, autocommit=True) as conn:
        pids = [r[0] for r in conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = 'gx_journey'")]
    return {pid: tree_cpu(pid) for pid in pids}


def cpu_since(start: tuple, server_pid: int) -> list[float]:
    """(server, PostgreSQL, client) CPU seconds since `start`; a backend that disconnected meanwhile
    is not counted (its share is lost), one that connected meanwhile counts whole."""
    server, backends, client = start
    now = database_cpu(PG_ADMIN)
    return [tree_cpu(server_pid) - server, sum(cpu - backends.get(pid, 0.0) for pid, cpu in now.items()),
            time.process_time() - client]


async def run(base: str, accounts, levels: list[int], duration: int, burst: int, server_pid: int) -> bool:
    import aiohttp
    connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=4)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=120)) as http:
        names = [n for sup, unit, _ in accounts[:max(levels)] for n in (sup, unit)]
        tokens = await still_valid(http, base, load_tokens(names))
        times: list[float] = []
        t0 = time.perf_counter()
        sem = asyncio.Semaphore(8)

        async def one(name):
            async with sem:
                return name, await login(http, base, name, times)
        tokens.update(await asyncio.gather(*(one(n) for n in names if n not in tokens)))
        failed = [n for n, t in tokens.items() if not t]
        if times:
            print(f"login: {len(times)} accounts in {time.perf_counter() - t0:.1f} s (8 at a time), "
                  f"p50 {pct(times, 0.5):.0f} ms, p95 {pct(times, 0.95):.0f} ms, {len(failed)} failed"
                  f"{f'; {len(names) - len(times)} tokens of an earlier run still valid' if len(times) < len(names) else ''}")
        else:
            print(f"login: the {len(names)} tokens of an earlier run are still valid (no login needed)")
        if failed:
            return False
        save_tokens(tokens)
        ok = True
        for n in levels:
            clients = [Client(http, base, tokens, sup, unit, code) for sup, unit, code in accounts[:n]]
            stats, storm = Stats(), []
            cpu0 = (tree_cpu(server_pid), database_cpu(PG_ADMIN), time.process_time())
            start = time.perf_counter()
            end = start + duration
            jobs = [c.loop(stats, end) for c in clients]
            if burst:
                jobs += [login_storm(http, base, names, end, storm) for _ in range(burst)]
            await asyncio.gather(*jobs)
            elapsed = time.perf_counter() - start
            cpu = cpu_since(cpu0, server_pid)
            total = sum(len(v) for v in stats.times.values())
            errors = sum(stats.errors.values())
            print(f"\n== {n} clients, {duration} s{f', {burst} logging in meanwhile' if burst else ''}: "
                  f"{total:,} requests, {total / elapsed:.1f} requests/s, {stats.submits / elapsed:.1f} submits/s, "
                  f"{errors} errors")
            print(f"  {'call':8s} {'count':>7s} {'p50 ms':>8s} {'p95 ms':>8s} {'p99 ms':>8s} {'errors':>7s}")
            for call in CALLS:
                values = stats.times.get(call, [])
                print(f"  {call:8s} {len(values):7d} {pct(values, 0.5):8.1f} {pct(values, 0.95):8.1f} "
                      f"{pct(values, 0.99):8.1f} {stats.errors.get(call, 0):7d}")
            if storm:
                print(f"  {'login':8s} {len(storm):7d} {pct(storm, 0.5):8.1f} {pct(storm, 0.95):8.1f} "
                      f"{pct(storm, 0.99):8.1f}")
            loops = max(len(stats.times.get("start", [])), 1)
            print(f"  CPU per loop (start + 3 steps): server {cpu[0] / loops * 1000:.1f} ms, PostgreSQL "
                  f"{cpu[1] / loops * 1000:.1f} ms, this client {cpu[2] / loops * 1000:.1f} ms; "
                  f"server {cpu[0] / elapsed:.2f} cores, PostgreSQL {cpu[1] / elapsed:.2f}, client {cpu[2] / elapsed:.2f}")
            for call, sample in stats.samples.items():
                print(f"  first error on {call}: {sample}")
            if n == 50:
                ok &= (stats.submits / elapsed >= 55 and total / elapsed >= 200 and errors == 0
                       and pct(stats.times["submit"], 0.95) <= TARGETS["submit"]
                       and pct(stats.times["list"], 0.95) <= TARGETS["list"])
            ok &= errors == 0
        return ok


def in_process(accounts, loops: int, profile: str | None = None, show_sql: bool = False) -> None:
    """--in-process N: the same loop for one client through Flask's test client in this process (no
    HTTP, no other clients): the CPU one loop costs the server's Python and the database, and the SQL
    statements of each call. These hardly move with the machine's load, so code can be compared on a
    busy machine (the requests/s of the HTTP run cannot)."""
    import io
    import statistics

    from sqlalchemy import event

    os.environ["RATELIMIT_ENABLED"] = "0"
    os.environ["SCHEDULER_EMBEDDED"] = "0"
    from app import create_app
    from app.extensions import db
    app = create_app()
    http = app.test_client()
    sup, unit, code = accounts[0]
    headers = {}
    for name in (sup, unit):
        resp = http.post("/api/v1/session", json={"username": name, "password": PASSWORD})
        headers[name] = {"Authorization": f"Bearer {resp.get_json()['token']}"}
    data = forms(code)
    counted = {"statements": 0}
    shown: list[str] | None = [] if show_sql else None
    backends: set[int] = set()

    def on_connect(dbapi_connection, _record):
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            backends.add(cursor.fetchone()[0])
        dbapi_connection.rollback()        # hand the connection over outside a transaction, as the pool does

    def on_statement(_conn, _cursor, statement, *_args):
        counted["statements"] += 1
        if shown is not None:
            shown.append(" ".join(statement.split())[:160])
    with app.app_context():
        event.listen(db.engine, "connect", on_connect)
        event.listen(db.engine, "before_cursor_execute", on_statement)
        db.engine.dispose()       # from here on every connection reports its backend
    calls: dict[str, list[tuple[int, float, float]]] = defaultdict(list)

    def call(kind: str, method: str, path: str, who: str, expect: int = 200, **kw):
        n0, c0, w0 = counted["statements"], time.process_time(), time.perf_counter()
        if shown is not None:
            shown.append(f"-- {kind} {method} {path}")
        resp = http.open(path, method=method, headers=headers[who], **kw)
        calls[kind].append((counted["statements"] - n0, time.process_time() - c0, time.perf_counter() - w0))
        if resp.status_code != expect:
            raise SystemExit(f"{method} {path}: HTTP {resp.status_code} {resp.get_data(as_text=True)[:300]}")
        return resp.get_json()

    def loop():
        case_id = call("start", "POST", "/api/v1/cases", sup, 201,
                       json={"process_key": "major_hazard", "data": data["report"]})["id"]
        for who, task_def in ((sup, "dispatch"), (unit, "rectify"), (sup, "verify_bureau")):
            listing = call("list", "GET", "/api/v1/tasks?per_page=20", who)
            task = next(t for t in listing["items"] if t["case_id"] == case_id and t["task_def"] == task_def)
            call("get", "GET", f"/api/v1/tasks/{task['id']}", who)
            values = dict(data[task_def])
            if task_def == "rectify":
                photo = call("upload", "POST", "/api/v1/attachments", who, 201,
                             data={"file": (io.BytesIO(PHOTO), "现场照片.jpg", "image/jpeg")},
                             content_type="multipart/form-data")
                values["evidence"] = [photo["id"]]
            call("submit", "POST", f"/api/v1/tasks/{task['id']}/complete", who, json={"data": values})

    for _ in range(3):            # warm caches (specs, forms, prepared statements)
        if shown:
            shown.clear()
        loop()
    if shown:
        print("\n".join(shown))        # the statements of the last warm-up loop
        shown = None
    calls.clear()
    database = lambda: sum(tree_cpu(pid) for pid in backends)   # noqa: E731
    profiler = None
    if profile:
        import cProfile
        profiler = cProfile.Profile(time.process_time)     # CPU, not the waits on the database
        profiler.enable()
    cpu0, db0, wall0 = time.process_time(), database(), time.perf_counter()
    for _ in range(loops):
        loop()
    cpu, db_cpu, wall = time.process_time() - cpu0, database() - db0, time.perf_counter() - wall0
    if profiler:
        profiler.disable()
        profiler.dump_stats(profile)
    statements = sum(n for rows in calls.values() for n, _c, _w in rows)
    print(f"in process, one client, {loops} loops (load average {os.getloadavg()[0]:.1f}): per loop "
          f"{cpu / loops * 1000:.1f} ms CPU in this process (the server's Python), "
          f"{db_cpu / loops * 1000:.1f} ms CPU in PostgreSQL, {statements / loops:.1f} SQL statements, "
          f"{wall / loops * 1000:.0f} ms wall")
    print(f"  {'call':8s} {'count':>6s} {'statements':>11s} {'CPU p50 ms':>11s} {'wall p50 ms':>12s}")
    for kind in CALLS:
        rows = calls.get(kind, [])
        if rows:
            print(f"  {kind:8s} {len(rows):6d} {statistics.mean(r[0] for r in rows):11.1f} "
                  f"{statistics.median(r[1] for r in rows) * 1000:11.2f} {statistics.median(r[2] for r in rows) * 1000:12.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", default="10,50,100", help="levels, comma-separated")
    parser.add_argument("--duration", type=int, default=60, help="seconds per level")
    parser.add_argument("--worker-class", help="override the config: sync, gthread, gevent …")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--login-burst", type=int, default=0, help="clients logging in again and again meanwhile")
    parser.add_argument("--port", type=int, default=8097)
    parser.add_argument("--in-process", type=int, default=0, metavar="LOOPS",
                        help="instead: LOOPS loops of one client through the test client, CPU and SQL per call")
    parser.add_argument("--profile", metavar="FILE", help="with --in-process: cProfile the measured loops into FILE")
    parser.add_argument("--sql", action="store_true", help="with --in-process: print the SQL of one loop, call by call")
    args = parser.parse_args()
    levels = [int(x) for x in args.clients.split(",")]
    url = use_database("journey", create=True)
    if args.in_process:
        in_process(prepare(1), args.in_process, args.profile, args.sql)
        return
    accounts = prepare(max(levels))
    server = start_gunicorn(args.port, *(["--worker-class", args.worker_class, "--workers", str(args.workers),
                                          "--threads", str(args.threads)] if args.worker_class else []))
    desc = (f"{args.worker_class} × {args.workers} workers × {args.threads} threads" if args.worker_class
            else "gunicorn.conf.py")
    print(f"database {url.rsplit('/', 1)[1]}, gunicorn {desc}, {os.cpu_count()} CPU cores, "
          f"load average {os.getloadavg()[0]:.1f}")
    try:
        ok = asyncio.run(run(f"http://127.0.0.1:{args.port}", accounts, levels, args.duration, args.login_burst,
                             server.pid))
    finally:
        stop_gunicorn(server)
    print(f"\nload average after: {os.getloadavg()[0]:.1f}")
    print("RESULT:", "PASS" if ok else "FAIL")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
