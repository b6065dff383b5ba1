"""The `elevators` stage of `flask demo generate --scale …` (app/scale/generate.py): for every generated
elevator (种类 3000 with a maintenance unit) its elevator facts, a one-year maintenance contract that
started a year ago, the plans of that year and the next month (half-monthly, quarterly / half-yearly /
yearly on top), and for each past plan an archived maintenance work order — check-in and check-out times
and positions near the elevator, the maintainer, the use unit's sign-off — about 24 a year per elevator
(2 a month, the issue's 7 M a year at 300,000 elevators). A few recent plans are left undone (overdue).

Not generated (said so in docs/电梯无纸化维保.md): item results, photos and PDFs of the history — the
record lists and the public page read the work-order rows; a work order's detail of a generated record
shows no items. Resumable: progress is the last equipment id done."""
from __future__ import annotations

import json
import random
from datetime import datetime, time as dtime, timedelta

from sqlalchemy import text

from ..core import geo
from ..core.clock import DISPLAY_TZ, today_local, utcnow
from ..extensions import db
from ..scale.stages import register
from .demo import elevator_type_for
from .services import plan_type

CYCLE = 15


def _users_by_org() -> dict[int, int]:
    rows = db.session.execute(text("SELECT org_id, min(id) FROM user_account WHERE org_id IS NOT NULL GROUP BY org_id"))
    return {org: uid for org, uid in rows}


def _maintainer_accounts(writer) -> int:
    """Two maintainers (电梯维保人员) for every generated maintenance unit without accounts (the orgs stage gives
    use units and agencies accounts only). Same shared password hash as the other generated accounts."""
    from flask import current_app

    from ..scale.generate import _login_columns, _phone_columns, _shared_hash
    orgs = db.session.execute(text(
        "SELECT o.id, o.region_code FROM organization o WHERE o.kind = 'maintenance_unit' AND NOT EXISTS "
        "(SELECT 1 FROM user_account u WHERE u.org_id = o.id)")).all()
    if not orgs:
        return 0
    password_hash = _shared_hash(current_app.config.get("PASSWORD_ITERATIONS", 600_000))
    now = utcnow()
    rows = []
    for org_id, region in orgs:
        for k in range(2):
            rows.append({"username": f"gm{org_id}-{k + 1}", "password_hash": password_hash,
                         "display_name": f"演示维保员{org_id}-{k + 1}", "role": "elevator_maintainer",
                         "region_code": region, "org_id": org_id, "is_active": True, "created_at": now,
                         **_login_columns(now), **_phone_columns("user_account", str(17200000000 + org_id * 2 + k))})
    for r, new_id in zip(rows, writer.ids("user_account", len(rows))):
        r["id"] = new_id
    writer.write("user_account", rows)
    return len(rows)


@register("elevators")
def stage_elevators(scale: str, preset: dict, out) -> None:
    from ..core.bulk import Writer
    from ..scale.generate import Progress, _rng, _stage
    row = _stage("elevators", scale)
    total = db.session.scalar(text("SELECT count(*) FROM equipment WHERE kind_code = '3000' AND maintenance_org_id IS NOT NULL "
                                   "AND id NOT IN (SELECT equipment_id FROM elevator)")) + row.done
    row.target = total
    db.session.commit()
    state = json.loads(row.info or "{}")
    last_id = state.get("last_id", 0)
    writer = Writer()
    if not state.get("accounts"):
        _maintainer_accounts(writer)
        row.info = json.dumps({"last_id": last_id, "accounts": True})
        db.session.commit()
    users = _users_by_org()
    today = today_local()
    now = utcnow()
    chunk = max(200, preset["chunk"] // 2)
    progress = Progress("elevators", total, row.done, out)
    while True:
        lifts = db.session.execute(text(
            "SELECT id, category_code, region_code, use_org_id, maintenance_org_id, lat, lng FROM equipment "
            "WHERE kind_code = '3000' AND maintenance_org_id IS NOT NULL AND id > :last "
            "AND id NOT IN (SELECT equipment_id FROM elevator) ORDER BY id LIMIT :n"), {"last": last_id, "n": chunk}).all()
        if not lifts:
            break
        rng = _rng(scale, "elevators", last_id)
        facts, contracts, plans, orders = [], [], [], []
        contract_ids = writer.ids("elevator_contract", len(lifts))
        fact_ids = writer.ids("elevator", len(lifts))
        per_lift = []
        for (eid, category, region, use_org, maint_org, lat, lng), cid, fid in zip(lifts, contract_ids, fact_ids):
            kind = elevator_type_for(category)
            moving = kind in ("escalator", "moving_walk")
            facts.append({"id": fid, "equipment_id": eid, "elevator_type": kind,
                          "floors": None if moving else rng.choice((6, 11, 18, 26, 33)),
                          "speed": 0.5 if moving else rng.choice((1.0, 1.5, 1.75, 2.5)),
                          "rated_load": None if moving else rng.choice((630, 800, 1000, 1350)),
                          "rescue_code": f"{region[:4]}{eid:08d}", "site": f"{rng.randint(1, 12)}号楼",
                          "chip_id": None, "created_at": now, "updated_at": None})
            starts = today - timedelta(days=365 + rng.randint(0, CYCLE - 1))
            contracts.append({"id": cid, "equipment_id": eid, "maintenance_org_id": maint_org, "use_org_id": use_org,
                              "contract_no": f"WBHT-GEN-{eid:08d}", "starts_on": starts,
                              "ends_on": starts + timedelta(days=729), "cycle_days": CYCLE,
                              "quality_sign_required": rng.random() < 0.3, "created_at": now})
            days = []
            n, day = 1, starts
            while day <= today + timedelta(days=30):
                days.append((n, day))
                n += 1
                day = starts + timedelta(days=(n - 1) * CYCLE)
            per_lift.append((eid, region, use_org, maint_org, lat, lng, cid, days))
        plan_count = sum(len(d) for *_x, d in per_lift)
        plan_ids = iter(writer.ids("elevator_plan", plan_count))
        past = sum(1 for *_x, d in per_lift for _n, day in d if day < today - timedelta(days=2))
        order_ids = iter(writer.ids("elevator_work_order", past))
        for eid, region, use_org, maint_org, lat, lng, cid, days in per_lift:
            maintainer = users.get(maint_org)
            signer = users.get(use_org)
            for n, day in days:
                pid = next(plan_ids)
                mtype = plan_type(n, CYCLE)
                done = day < today - timedelta(days=2) and maintainer is not None and lat is not None
                skipped = done and day >= today - timedelta(days=20) and rng.random() < 0.03   # overdue now
                oid = next(order_ids) if day < today - timedelta(days=2) else None
                if done and not skipped:
                    visit = day + timedelta(days=rng.choice((0, 0, 0, 1, -1, 2)))
                    start = datetime.combine(visit, dtime(8, 30), tzinfo=DISPLAY_TZ) + timedelta(minutes=rng.randint(0, 480))
                    end = start + timedelta(minutes=rng.randint(35, 110))
                    metres = rng.uniform(3, 80)
                    clat, clng = geo.offset(lat, lng, north_m=metres * 0.6, east_m=metres * 0.8)
                    olat, olng = geo.offset(lat, lng, north_m=rng.uniform(-30, 30), east_m=rng.uniform(-30, 30))
                    orders.append({"id": oid, "client_id": f"gen-{oid}", "order_no": f"WBG{oid:011d}",
                                   "kind": "maintenance", "equipment_id": eid, "plan_id": pid,
                                   "maintenance_org_id": maint_org, "use_org_id": use_org, "region_code": region,
                                   "maint_type": mtype, "maintainer_id": maintainer, "coworker_id": None,
                                   "status": "archived", "checkin_at": start, "checkin_lat": round(clat, 6),
                                   "checkin_lng": round(clng, 6), "checkin_distance": int(round(metres)),
                                   "checkin_proof": "qr", "face_attachment_id": None, "face_result": None,
                                   "checkout_at": end, "checkout_lat": round(olat, 6), "checkout_lng": round(olng, 6),
                                   "checkout_distance": int(round(geo.distance_m(olat, olng, lat, lng))),
                                   "fault_description": None, "parts": None, "remark": None,
                                   "maintainer_signature_id": None, "coworker_signature_id": None,
                                   "safety_signature_id": None, "quality_signature_id": None,
                                   "safety_signed_by_id": signer, "safety_signed_at": end + timedelta(hours=rng.randint(1, 30)),
                                   "quality_signed_by_id": None, "quality_signed_at": None, "return_reason": None,
                                   "returned_count": 0, "case_id": None, "pdf_attachment_id": None,
                                   "submitted_at": end, "archived_at": end + timedelta(hours=rng.randint(1, 30)),
                                   "offline": rng.random() < 0.05, "created_at": start})
                    plans.append({"id": pid, "equipment_id": eid, "contract_id": cid, "maintenance_org_id": maint_org,
                                  "due_on": day, "maint_type": mtype, "status": "done", "work_order_id": oid,
                                  "done_on": visit, "edited_by_id": None, "edited_at": None})
                else:
                    plans.append({"id": pid, "equipment_id": eid, "contract_id": cid, "maintenance_org_id": maint_org,
                                  "due_on": day, "maint_type": mtype, "status": "planned", "work_order_id": None,
                                  "done_on": None, "edited_by_id": None, "edited_at": None})
        for table, rows in (("elevator", facts), ("elevator_contract", contracts), ("elevator_plan", plans),
                            ("elevator_work_order", orders)):
            writer.write(table, rows)
        last_id = lifts[-1][0]
        row = _stage("elevators", scale)
        row.done += len(lifts)
        row.info = json.dumps({"last_id": last_id, "accounts": True})
        db.session.commit()
        progress.update(row.done)
    progress.finish(row.done)
