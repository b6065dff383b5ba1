"""Complaint benchmark on PostgreSQL: the 投诉举报 list (first page and total) for a county, a city and
the province, the public progress lookup, the limit checks every public request makes, and the Excel
export of a city — the application's own queries, on a database of its own (gx_complaints).

    .venv/bin/python bench/complaints.py [--complaints 100000] [--attempts 200000] [--runs 5]

Targets: list page + total < 300 ms for any regulator, lookup and limit checks < 20 ms, export of a
city ≥ 5,000 rows/s. The rows are bulk-inserted (cases in the closed state, complaints spread over
Guangxi's counties, one complainant phone per complaint), so the figures measure the queries, not
the engine. Prints one line per measurement: first run and best of --runs, in milliseconds.
"""
from __future__ import annotations

import argparse
import random
import time
from datetime import timedelta

from common import use_database


def build(n_complaints: int, n_attempts: int) -> None:
    from flask_migrate import upgrade
    from sqlalchemy import func, insert, select, text

    from app.cases.models import Case
    from app.cli import deploy_all
    from app.complaints.models import Complaint, ComplaintAttempt
    from app.complaints.services import PROCESS_KEY, public_account
    from app.core.clock import utcnow
    from app.core.models import Region
    from app.core.pii import encrypt, mask_phone, phone_index
    from app.demo import seed
    from app.engine.registry import latest_version
    from app.extensions import db
    upgrade()
    have = db.session.scalar(select(func.count(Complaint.id)))
    if have >= n_complaints:
        return
    deploy_all()
    seed(iterations=1000, with_cases=False)
    db.session.commit()
    version = latest_version(PROCESS_KEY)
    account = public_account()
    db.session.commit()
    counties = [r for r in db.session.scalars(select(Region.code).where(Region.level == "county",
                                                                        Region.code.startswith("45")))]
    rng = random.Random(7)
    now = utcnow()
    start = db.session.scalar(select(func.coalesce(func.max(Case.id), 0))) + 1 - have
    batch = 5000
    for offset in range(have, n_complaints, batch):
        cases, complaints = [], []
        for i in range(offset, min(offset + batch, n_complaints)):
            region = counties[rng.randrange(len(counties))]
            at = now - timedelta(minutes=rng.randrange(60 * 24 * 730))
            number = f"TB{i:010d}"
            status = rng.choice(["pending", "checking", "rejected", "closed", "closed", "closed"])
            cases.append({"id": start + i, "case_no": number, "process_key": PROCESS_KEY,
                          "process_version_id": version.id, "title": f"投诉举报：压测 {i}", "status": "closed",
                          "region_code": region, "started_by_id": account.id, "state": "", "serializer_version": "1.5",
                          "lock_version": 0, "warning_level": "none", "created_at": at, "updated_at": at,
                          "timer_failures": 0, "paused_seconds": 0})
            phone = f"139{i:08d}"
            ref = f"{i:032x}"
            complaints.append({"case_id": start + i, "complaint_no": number, "channel": "web", "region_code": region,
                               "address": f"压测地址{i}号", "description": f"压测：电梯异响第{i}起，门未关好就启动。",
                               "status": status, "created_by_id": account.id, "created_at": at,
                               "phone_ref": ref, "phone_enc": encrypt(phone, table="complaint", column="phone", ref=ref),
                               "phone_bidx": phone_index(phone), "phone_masked": mask_phone(phone),
                               "check_conclusion": "general" if status == "closed" else None})
        db.session.execute(insert(Case), cases)
        db.session.execute(insert(Complaint), complaints)
        db.session.commit()
    rows = [{"kind": rng.choice(["code_sent", "code_failed", "lookup_failed"]), "phone_bidx": f"{rng.randrange(10**9):032x}",
             "ip_key": f"{rng.randrange(50000):032x}", "at": now - timedelta(minutes=rng.randrange(60 * 48))}
            for _ in range(n_attempts)]
    for offset in range(0, len(rows), 20000):
        db.session.execute(insert(ComplaintAttempt), rows[offset:offset + 20000])
    db.session.commit()
    db.session.execute(text("ANALYZE"))
    db.session.commit()


def timed(fn, runs: int) -> tuple[float, float]:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return times[0], min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--complaints", type=int, default=100_000)
    parser.add_argument("--attempts", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    use_database("complaints", create=True)
    from app import create_app
    app = create_app()
    with app.app_context():
        from sqlalchemy import select

        from app.cases.services import paginate
        from app.complaints import services
        from app.complaints.models import Complaint
        from app.complaints.views import ComplaintFilter, complaint_query
        from app.core.models import User
        from app.extensions import db
        t = time.perf_counter()
        build(args.complaints, args.attempts)
        print(f"data ready in {time.perf_counter() - t:.1f} s: "
              f"{db.session.query(Complaint).count()} complaints")

        def user(name):
            return db.session.scalar(select(User).where(User.username == name))
        f = ComplaintFilter()
        for name in ("xn_supervisor", "nn_city", "gx_province"):
            who = user(name)
            first, best = timed(lambda: paginate(complaint_query(who, f), 1, 20), args.runs)
            print(f"list page 1 + total  {name:14s} first {first:7.1f} ms  best {best:7.1f} ms")
            fq = ComplaintFilter(q="异响第12", status="closed")
            first, best = timed(lambda: paginate(complaint_query(who, fq), 1, 20), args.runs)
            print(f"list search+status   {name:14s} first {first:7.1f} ms  best {best:7.1f} ms")
        sample = db.session.scalar(select(Complaint).order_by(Complaint.id.desc()).limit(1))
        phone = services.sms.readable_phone(sample)
        first, best = timed(lambda: services.lookup(sample.complaint_no, phone, "127.0.0.1"), args.runs)
        print(f"public lookup                        first {first:7.1f} ms  best {best:7.1f} ms")
        ip = services.ip_key("127.0.0.1")
        first, best = timed(lambda: services.captcha_required(ip, services.phone_index(phone)), args.runs)
        print(f"limit check (captcha_required)       first {first:7.1f} ms  best {best:7.1f} ms")
        city = user("nn_city")
        t = time.perf_counter()
        count = 0
        for _ in db.session.scalars(complaint_query(city, f).execution_options(yield_per=500)):
            count += 1
        elapsed = time.perf_counter() - t
        print(f"export rows of 南宁市: {count} rows read in {elapsed:.2f} s ({count / max(elapsed, 1e-9):,.0f} rows/s)")


if __name__ == "__main__":
    main()
