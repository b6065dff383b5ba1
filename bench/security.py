"""Benchmark: the cost of the security baseline (issue 6).

    .venv/bin/python bench/security.py [--pg postgresql://postgres@127.0.0.1:5432/test] [--cases 300]

Prints:
- password hashing per login: PBKDF2-HMAC-SM3 at the production 600,000 iterations;
- SM4-GCM field encryption / decryption and HMAC-SM3 blind-index throughput (a phone number, with AAD);
- SM2 sign / verify (checkpoints, SM2 second factor);
- audit log: entries appended per second (one transaction each, chain-head row lock) and chain
  verification speed, on PostgreSQL;
- signed-in pages (inbox, SMS records with encrypted phone columns, a case page) through the whole
  request path — server-side session check, audit hooks, security headers — p50/p95 over 200 requests
  each, in a throw-away PostgreSQL database with the demo seed plus `--cases` hazard cases.
Target: the inbox p95 stays under 150 ms.
"""
from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TZ", "UTC")


def rate(fn, seconds: float = 1.5) -> float:
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn()
        n += 1
    return n / (time.perf_counter() - start)


def pct(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def crypto_figures() -> None:
    from app.core import gm
    times = []
    for _ in range(5):
        t = time.perf_counter()
        gm.hash_password("Demo@2026", 600_000)
        times.append((time.perf_counter() - t) * 1000)
    print(f"PBKDF2-HMAC-SM3, 600,000 iterations (one login): median {statistics.median(times):.0f} ms "
          f"(min {min(times):.0f}, max {max(times):.0f}) → at most ~{1000 / statistics.median(times) * (os.cpu_count() or 1):.1f} "
          f"logins/s on {os.cpu_count()} cores")
    key = gm.SM2PrivateKey.generate()
    pub, msg = key.public_key(), b"123|" + b"ab" * 32 + b"|123|2026-11-24T00:00:00+00:00"
    sig = key.sign(msg)
    print(f"SM2 (tongsuopy): sign {rate(lambda: key.sign(msg)):,.0f}/s, verify {rate(lambda: pub.verify(sig, msg)):,.0f}/s")


def field_figures(app) -> None:
    from app.core import pii
    with app.app_context():
        blob = pii.encrypt("13800138000", table="user_account", column="phone", ref="r1")
        enc = rate(lambda: pii.encrypt("13800138000", table="user_account", column="phone", ref="r1"))
        dec = rate(lambda: pii.decrypt(blob, table="user_account", column="phone", ref="r1"))
        idx = rate(lambda: pii.phone_index("13800138000"))
    print(f"SM4-GCM phone field (AAD = table/column/row/key id): encrypt {enc:,.0f}/s, decrypt {dec:,.0f}/s; "
          f"HMAC-SM3 blind index {idx:,.0f}/s")


def audit_figures(app) -> None:
    from app.extensions import db
    from app.security.audit import audit, verify_chain
    with app.app_context():
        n = 3000
        t = time.perf_counter()
        for i in range(n):
            audit("admin.action", f"基准测试 {i}", detail={"i": i})
            db.session.commit()
        append = n / (time.perf_counter() - t)
        t = time.perf_counter()
        result = verify_chain()
        verify = result.checked / (time.perf_counter() - t)
        assert result.ok, result.problems
    print(f"audit log (PostgreSQL, one transaction per entry): append {append:,.0f} entries/s; "
          f"verify {verify:,.0f} entries/s ({result.checked:,} entries)")


def page_figures(app, n_cases: int) -> None:
    import re

    from sqlalchemy import select

    from app.cases.models import Case
    from app.core.models import Equipment, User
    from app.engine import runtime
    from app.extensions import db
    from app.core.clock import today_local
    from datetime import timedelta
    with app.app_context():
        reporter = db.session.scalar(select(User).where(User.username == "xn_supervisor"))
        unit = db.session.scalar(select(User).where(User.username == "unit_xn"))
        equipment = db.session.scalars(select(Equipment).where(Equipment.use_org_id == unit.org_id)).all()
        day = today_local()
        t = time.perf_counter()
        for i in range(n_cases):
            runtime.start_case("major_hazard", reporter, {
                "equipment_code": equipment[i % len(equipment)].code, "criterion_id": "GB45067-4.6b",
                "description": f"基准测试隐患 {i}：层门门锁安全回路被短接。", "found_on": day.isoformat(),
                "rectify_deadline": (day + timedelta(days=10 + i % 30)).isoformat()})
            if i % 50 == 49:
                db.session.commit()
        db.session.commit()
        case_id = db.session.scalar(select(Case.id).order_by(Case.id.desc()).limit(1))
        print(f"setup: {n_cases} hazard cases through the engine in {time.perf_counter() - t:.1f} s")
    client = app.test_client()
    with app.app_context():
        token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").get_data(as_text=True)).group(1)
        assert client.post("/login", data={"username": "xn_supervisor", "password": "Demo@2026",
                                           "csrf_token": token}).status_code == 302
    for label, url in [("inbox", "/inbox"), ("inbox, filtered + sorted", "/inbox?q=基准&sort=due"),
                       ("SMS records (encrypted phones, masked)", "/sms/records"), ("case page", f"/cases/{case_id}")]:
        samples = []
        for i in range(220):
            t = time.perf_counter()
            with app.app_context():
                resp = client.get(url)
            if i >= 20:                                   # warm-up
                samples.append((time.perf_counter() - t) * 1000)
            assert resp.status_code == 200, (url, resp.status_code)
        print(f"page {label:<40} p50 {pct(samples, 50):6.1f} ms   p95 {pct(samples, 95):6.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg", default=os.environ.get("PG_TEST_URL", "postgresql://postgres@127.0.0.1:5432/test"))
    parser.add_argument("--cases", type=int, default=300)
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} CPU, Python {sys.version.split()[0]}")
    crypto_figures()

    import psycopg
    dbname = f"gx_bench_security_{secrets.token_hex(3)}"
    with psycopg.connect(args.pg, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{dbname}"')
    os.environ["DATABASE_URL"] = args.pg.rsplit("/", 1)[0] + "/" + dbname
    os.environ["INSTANCE_DIR"] = tempfile.mkdtemp(prefix="gx-bench-")
    try:
        from flask_migrate import upgrade

        from app import create_app
        from app.cli import deploy_all
        from app.config import Config
        from app.demo import seed
        from app.extensions import db
        app = create_app(Config(PASSWORD_ITERATIONS=1000, RATELIMIT_ENABLED=False))
        with app.app_context():
            upgrade()
            deploy_all()
            seed(iterations=1000, with_cases=False)
            db.session.commit()
        field_figures(app)
        audit_figures(app)
        page_figures(app, args.cases)
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
    finally:
        with psycopg.connect(args.pg, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')


if __name__ == "__main__":
    main()
