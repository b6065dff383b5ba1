"""Upload API of third-party maintenance platforms: ingest rate with every check and no photos, on PostgreSQL
(a database of its own, gx_platform: migrations, processes, demo seed).

Each batch is one signed multipart request (POST /api/v1/maintenance-platform/records) of up to 500
half-monthly records on the demo maintenance unit's lifts, by a maintainer with a valid T certificate,
each with all its item results, check-in and check-out within 100 m, and the maintainer's signature (one
PNG part the records share). Every record goes through the app's rule functions (certificate on the day,
100 m at check-in and check-out, item completeness, time sanity, signature decoding); the valid ones are
written together as archived work orders and the on-submission warning checks run over them. "No photos":
the bench first clears the items' photo flag (the administrator's setting), so that a record without photos
is complete.

    .venv/bin/python bench/maintenance_platform.py [--batches 4] [--size 500]

Target (issue 20): ≥ 200 records/s on this machine. Prints the rate per batch and overall.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
from datetime import timedelta

from common import ROOT, use_database

sys.path.insert(0, os.path.join(ROOT, "tests"))


def signature_png() -> bytes:
    from PIL import Image, ImageDraw
    im = Image.new("RGBA", (300, 100), (0, 0, 0, 0))
    ImageDraw.Draw(im).line([(10, 50), (290, 60)], fill=(0, 0, 0, 255), width=4)
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


def prepare():
    from flask_migrate import upgrade
    from sqlalchemy import func, select, update

    from app.cli import deploy_all
    from app.core.models import User
    from app.demo import seed
    from app.elevators.models import ElevatorFacts, MaintenanceItem
    from app.extensions import db
    from app.maintenance_platform import services
    upgrade()
    deploy_all()
    if not db.session.scalar(select(func.count(ElevatorFacts.id))):
        seed(iterations=1000, with_cases=False)
        db.session.commit()
    db.session.execute(update(MaintenanceItem).values(photo_required=False))
    regulator = db.session.scalar(select(User).where(User.username == "xn_supervisor"))
    maintainer = db.session.scalar(select(User).where(User.username == "wb_qin"))
    cred, secret = services.issue(regulator, maintainer.org_id, "压测平台")
    db.session.commit()
    return cred.key_id, secret, maintainer


def records_for(maintainer, count: int, offset: int) -> list[dict]:
    from sqlalchemy import select

    from app.core import geo
    from app.core.clock import utcnow
    from app.core.models import Equipment
    from app.elevators import services as elevators
    from app.elevators.models import ElevatorFacts
    from app.extensions import db
    from app.operators.models import Operator, OperatorCertificate
    cert = db.session.scalar(select(OperatorCertificate.cert_no).join(Operator).where(Operator.user_id == maintainer.id))
    lifts = db.session.execute(select(Equipment, ElevatorFacts).join(ElevatorFacts, ElevatorFacts.equipment_id ==
                                                                      Equipment.id)
                               .where(Equipment.maintenance_org_id == maintainer.org_id)).all()
    items = {f.elevator_type: [i.code for i in elevators.items_for(f.elevator_type, "HALF")] for _e, f in lifts}
    now = utcnow()
    out = []
    for n in range(count):
        e, f = lifts[n % len(lifts)]
        near = dict(zip(("lat", "lng"), geo.offset(e.lat, e.lng, north_m=20)))
        start = now - timedelta(hours=3, seconds=n)
        out.append({"idempotency_key": f"bench-{offset + n:08d}-{int(now.timestamp())}", "elevator_code": e.code,
                    "maintainer_cert_no": cert, "maint_type": "HALF",
                    "checkin": {"at": start.isoformat(), **near},
                    "results": [{"item_code": c, "result": "ok"} for c in items[f.elevator_type]],
                    "maintainer_signature": "sig",
                    "checkout": {"at": (start + timedelta(minutes=50)).isoformat(), **near}})
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=4)
    parser.add_argument("--size", type=int, default=500)
    args = parser.parse_args()
    use_database("platform", create=True)
    from app import create_app
    from app.config import Config
    app = create_app(Config(RATELIMIT_ENABLED=False))
    from platform_client import FlaskTransport, PlatformClient
    with app.app_context():
        key_id, secret, maintainer = prepare()
        client = PlatformClient(key_id, secret, FlaskTransport(app.test_client()))
        sig = {"sig": ("sign.png", signature_png(), "image/png")}
        total_n, total_s, total_cpu = 0, 0.0, 0.0
        for b in range(args.batches):
            records = records_for(maintainer, args.size, b * args.size)
            t0, c0 = time.perf_counter(), time.process_time()
            status, body = client.upload(records, sig)
            elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
            if status != 200 or body["created"] != len(records):
                refused = [r for r in body.get("results", []) if r["status"] != "created"][:3]
                raise SystemExit(f"batch {b}: HTTP {status} {json.dumps(refused or body, ensure_ascii=False)[:600]}")
            total_n, total_s, total_cpu = total_n + len(records), total_s + elapsed, total_cpu + cpu
            print(f"batch {b + 1}: {len(records)} records in {elapsed:.2f} s = {len(records) / elapsed:.0f} records/s "
                  f"(this process's CPU {cpu * 1000 / len(records):.1f} ms per record)", flush=True)
        print(f"overall: {total_n} records in {total_s:.2f} s = {total_n / total_s:.0f} records/s; application CPU "
              f"{total_cpu * 1000 / total_n:.1f} ms per record; load average {os.getloadavg()[0]:.1f} on "
              f"{os.cpu_count()} cores (target ≥ 200 records/s; PostgreSQL, checks on, no photos)")


if __name__ == "__main__":
    main()
