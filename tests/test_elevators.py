"""Paperless elevator maintenance: items, plans, every refusal rule at its boundary (100 m exactly, a photo
without position or capture time, an expired certificate), queued records replayed and a batch with one bad
record, and the sign-off loop (return → rework → confirm → quality → archived PDF → public page)."""
from __future__ import annotations

import base64
import io
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.core import geo
from app.core.clock import today_local, utcnow
from app.core.gm import sm3_hex
from app.core.models import Attachment, Equipment
from app.elevators import services
from app.elevators.models import (ElevatorFacts, MaintenanceContract, MaintenanceItem, MaintenancePlan, WorkOrder,
                                  WorkPhoto)
from app.extensions import db

from .conftest import user


@pytest.fixture(autouse=True)
def _restore_plans(app):
    """Finishing a visit marks a seeded plan done (a changed row the cleanup does not undo): put them back."""
    saved = db.session.execute(select(MaintenancePlan.id, MaintenancePlan.status, MaintenancePlan.due_on,
                                      MaintenancePlan.done_on, MaintenancePlan.work_order_id)).all()
    db.session.rollback()
    yield
    db.session.rollback()
    for row in saved:
        db.session.execute(MaintenancePlan.__table__.update().where(MaintenancePlan.id == row.id).values(
            status=row.status, due_on=row.due_on, done_on=row.done_on, work_order_id=row.work_order_id))
    db.session.commit()


def jpeg(color=(120, 160, 200), size=(640, 480)) -> bytes:
    from PIL import Image
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def data_url(raw: bytes) -> str:
    return "data:image/jpeg;base64," + base64.b64encode(raw).decode()


def signature_png() -> str:
    from PIL import Image, ImageDraw
    im = Image.new("RGBA", (300, 100), (0, 0, 0, 0))
    ImageDraw.Draw(im).line([(10, 50), (290, 60)], fill=(0, 0, 0, 255), width=4)
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def first_lift(index: int = 0) -> tuple[Equipment, ElevatorFacts]:
    maint = user("wb_qin").org_id
    rows = db.session.execute(select(Equipment, ElevatorFacts).join(ElevatorFacts, ElevatorFacts.equipment_id ==
                                                                     Equipment.id)
                              .where(Equipment.maintenance_org_id == maint).order_by(Equipment.id)).all()
    return rows[index]


def at_distance(e: Equipment, metres: float) -> dict:
    lat, lng = geo.offset(e.lat, e.lng, north_m=metres)
    return {"lat": lat, "lng": lng}


def checkin_body(e: Equipment, metres: float = 20, **extra) -> dict:
    return {"client_id": extra.pop("client_id", None) or f"t{utcnow().timestamp():.6f}".replace(".", "x"),
            "equipment_id": e.id, "maint_type": "HALF", "face_photo": data_url(jpeg()), **at_distance(e, metres),
            **extra}


def put(client, url, **kw):
    return client.post(url, **kw)


def fill_items(a, order_id: int, e: Equipment) -> list[MaintenanceItem]:
    order = db.session.get(WorkOrder, order_id)
    items = services.order_items(order)
    resp = put(a, f"/api/v1/elevators/work-orders/{order_id}/results",
               json={"results": [{"item_id": i.id, "result": "ok"} for i in items]})
    assert resp.status_code == 200, resp.get_json()
    for n, item in enumerate(i for i in items if i.photo_required):
        resp = a.post(f"/api/v1/elevators/work-orders/{order_id}/photos",
                      data={"file": (io.BytesIO(jpeg((n * 40, 90, 90))), "p.jpg"), "item_id": str(item.id),
                            "client_id": f"ph{order_id}x{n}xxxx", "taken_at": utcnow().isoformat(),
                            **{k: str(v) for k, v in at_distance(e, 10).items()}},
                      content_type="multipart/form-data")
        assert resp.status_code == 201, resp.get_json()
    return items


def finish_body(e: Equipment, **extra) -> dict:
    return {"maintainer_signature": signature_png(), "coworker": "wb_lu", "coworker_signature": signature_png(),
            **at_distance(e, 15), **extra}


# ---------------------------------------------------------------- items and plans

def test_items_are_seeded_from_tsg_t5002_and_cumulative(app):
    counts = dict(db.session.execute(select(MaintenanceItem.annex, func.count()).group_by(MaintenanceItem.annex)).all())
    assert counts == {"A": 76, "B": 66, "C": 52, "D": 63}
    half = services.items_for("traction", "HALF")
    year = services.items_for("traction", "YEAR")
    assert len(half) == 31 and len(year) == 76
    assert {i.code for i in half} <= {i.code for i in year}
    assert len(services.items_for("escalator", "QUARTER")) == 33 + 5
    assert any(i.photo_required and i.key_position == "pit" for i in half)


def test_plans_are_at_most_15_days_apart_with_quarterly_and_yearly_on_top(app):
    e, _f = first_lift()
    plans = list(db.session.scalars(select(MaintenancePlan).where(MaintenancePlan.equipment_id == e.id)
                                    .order_by(MaintenancePlan.due_on)))
    assert len(plans) >= 24
    gaps = {(b.due_on - a.due_on).days for a, b in zip(plans, plans[1:])}
    assert gaps == {15}
    types = [p.maint_type for p in plans]
    assert types[5] == "QUARTER" and types[11] == "HALF_YEAR" and types[23] == "YEAR" and types[0] == "HALF"
    assert services.plan_type(6, 15) == "QUARTER" and services.plan_type(7, 15) == "HALF"


def test_overdue_plan_is_flagged_and_a_move_keeps_the_15_day_rule(app, api):
    e, _f = first_lift(1)                    # its contract started 3 days ago: the first visit is overdue
    plan = db.session.scalar(select(MaintenancePlan).where(MaintenancePlan.equipment_id == e.id)
                             .order_by(MaintenancePlan.due_on))
    assert plan.overdue_on(today_local())
    a = api("wb_qin")
    body = a.get("/api/v1/elevators/plans?overdue=1").get_json()
    assert plan.id in [p["id"] for p in body["items"]] and all(p["overdue"] for p in body["items"])
    plans = db.session.scalars(select(MaintenancePlan).where(MaintenancePlan.equipment_id == e.id)
                               .order_by(MaintenancePlan.due_on)).all()
    second, third = plans[1], plans[2]
    saved = {p.id: p.due_on for p in plans}

    def patch(plan, day):
        return a.post(f"/api/v1/elevators/plans/{plan.id}/move", json={"due_on": day.isoformat()})
    too_far = patch(second, plans[0].due_on + timedelta(days=16))
    assert too_far.status_code == 422
    assert "间隔不得超过 15 天" in too_far.get_json()["error"]["fields"]["due_on"]
    assert patch(second, plans[0].due_on).status_code == 422
    ok = patch(second, plans[0].due_on + timedelta(days=15))     # exactly 15 days after the previous visit
    ok = patch(second, second.due_on - timedelta(days=2))
    assert ok.status_code == 200, ok.get_json()
    db.session.expire_all()
    assert second.due_on == saved[second.id] - timedelta(days=2)
    assert third.due_on == second.due_on + timedelta(days=15)   # later plans follow at the contract's cycle
    for p in plans:                                             # restore the seeded rows
        p.due_on = saved[p.id]
    db.session.commit()


# ---------------------------------------------------------------- refusals at their boundaries

def test_check_in_at_exactly_100_m_is_allowed_and_101_m_refused_with_the_distance(app, api):
    e, _f = first_lift()
    a = api("wb_qin")
    far = a.post("/api/v1/elevators/work-orders", json=checkin_body(e, 101))
    assert far.status_code == 422
    assert far.get_json()["error"]["fields"]["position"] == "距电梯 101 米，超出 100 米范围，禁止签到"
    far153 = a.post("/api/v1/elevators/work-orders", json=checkin_body(e, 153))
    assert far153.get_json()["error"]["message"] == "距电梯 153 米，超出 100 米范围，禁止签到"
    assert db.session.scalar(select(func.count(WorkOrder.id))) == 0
    edge = a.post("/api/v1/elevators/work-orders", json=checkin_body(e, 100))
    assert edge.status_code == 201, edge.get_json()
    assert edge.get_json()["checkin_distance"] == 100
    order = db.session.get(WorkOrder, edge.get_json()["id"])
    face = db.session.get(Attachment, order.face_attachment_id)
    assert face is not None and face.mime == "image/jpeg"       # the face photo is kept
    assert order.face_result.startswith("开发用人脸比对")


def test_expired_certificate_and_missing_position_are_refused(app, api):
    e, _f = first_lift()
    body = api("wb_mo").post("/api/v1/elevators/work-orders", json=checkin_body(e, 10)).get_json()
    assert body["error"]["fields"] == {"certificate": "作业人员证书已过期"}
    no_pos = checkin_body(e, 10)
    no_pos.pop("lat")
    resp = api("wb_qin").post("/api/v1/elevators/work-orders", json=no_pos)
    assert resp.status_code == 422 and "未获取到定位" in resp.get_json()["error"]["fields"]["position"]
    assert api("wy_xn").post("/api/v1/elevators/work-orders", json=checkin_body(e, 10)).status_code == 403
    assert db.session.scalar(select(func.count(WorkOrder.id))) == 0


def test_photo_without_position_or_time_is_refused_and_a_good_one_is_watermarked(app, api):
    e, _f = first_lift()
    a = api("wb_qin")
    order_id = a.post("/api/v1/elevators/work-orders", json=checkin_body(e, 5)).get_json()["id"]
    item = next(i for i in services.order_items(db.session.get(WorkOrder, order_id)) if i.photo_required)
    original = jpeg((200, 30, 30))
    base = {"item_id": str(item.id), "taken_at": utcnow().isoformat(), **{k: str(v) for k, v in at_distance(e, 5).items()}}

    def send(**meta):
        data = {**base, **meta, "client_id": f"photo{len(meta)}{utcnow().timestamp():.0f}x",
                "file": (io.BytesIO(original), "p.jpg")}
        data = {k: v for k, v in data.items() if v is not None}
        return a.post(f"/api/v1/elevators/work-orders/{order_id}/photos", data=data, content_type="multipart/form-data")
    no_pos = send(lat=None)
    assert no_pos.status_code == 422 and no_pos.get_json()["error"]["fields"]["position"] == "照片缺少拍摄位置，不能上传"
    no_time = send(taken_at=None)
    assert no_time.get_json()["error"]["fields"]["taken_at"] == "照片缺少拍摄时间，不能上传"
    bad = a.post(f"/api/v1/elevators/work-orders/{order_id}/photos",
                 data={**base, "client_id": "notanimage1", "file": (io.BytesIO(b"\xff\xd8\xff" + b"x" * 50), "p.jpg")},
                 content_type="multipart/form-data")
    assert bad.status_code == 422 and "无法解码" in bad.get_json()["error"]["fields"]["photo"]
    assert db.session.scalar(select(func.count(WorkPhoto.id)).where(WorkPhoto.purpose == "item")) == 0
    ok = send()
    assert ok.status_code == 201, ok.get_json()
    photo = db.session.get(WorkPhoto, ok.get_json()["id"])
    assert photo.original_sm3 == sm3_hex(original)
    assert photo.attachment.sm3 != photo.original_sm3            # the stored copy carries the watermark
    from PIL import Image

    from app.core.storage import open_attachment
    with open_attachment(photo.attachment) as fh:
        stamped = Image.open(fh).convert("RGB")
    w, h = stamped.size
    bottom = stamped.crop((0, h - 20, w, h)).getcolors(100000)
    assert len(bottom) > 5                                         # text drawn over the uniform colour


# ---------------------------------------------------------------- the offline queue

def visit_record(e: Equipment, client_id: str, metres: float = 10) -> dict:
    items = services.items_for("traction", "HALF")
    taken = (utcnow() - timedelta(hours=2)).isoformat()
    pos = at_distance(e, metres)
    return {"client_id": client_id,
            "checkin": {"equipment_id": e.id, "maint_type": "HALF", "at": (utcnow() - timedelta(hours=2, minutes=5)).isoformat(),
                        "face_photo": data_url(jpeg()), **pos},
            "results": [{"item_id": i.id, "result": "ok"} for i in items],
            "photos": [{"client_id": f"{client_id}-p{i.id}", "item_id": i.id, "taken_at": taken, "data": data_url(jpeg()),
                        **pos} for i in items if i.photo_required],
            "checkout": {"at": (utcnow() - timedelta(hours=1)).isoformat(), "maintainer_signature": signature_png(),
                         "coworker": "wb_lu", "coworker_signature": signature_png(), **pos}}


def test_a_queued_record_replayed_twice_makes_one_work_order_with_its_original_times(app, api):
    e, _f = first_lift(2)
    a = api("wb_qin")
    record = visit_record(e, "offline-visit-0001")
    first = a.post("/api/v1/elevators/sync", json={"records": [record]}).get_json()
    assert first["results"][0]["status"] == "created", first
    again = a.post("/api/v1/elevators/sync", json={"records": [record]}).get_json()
    assert again["results"][0]["status"] == "duplicate"
    assert again["results"][0]["work_order_id"] == first["results"][0]["work_order_id"]
    orders = db.session.scalars(select(WorkOrder).where(WorkOrder.client_id == "offline-visit-0001")).all()
    assert len(orders) == 1
    order = orders[0]
    assert order.offline and order.status == "submitted" and order.case_id
    from app.core.clock import as_utc
    assert abs((as_utc(order.checkin_at) - (utcnow() - timedelta(hours=2, minutes=5))).total_seconds()) < 60


def test_a_batch_with_one_bad_record_reports_per_record_and_keeps_the_others(app, api):
    e, _f = first_lift(3)
    e2, _f2 = first_lift(4)
    bad = visit_record(e, "offline-bad-00001", metres=150)
    no_pos_photo = visit_record(e2, "offline-bad-00002")
    del no_pos_photo["photos"][0]["lat"]
    good = visit_record(e2, "offline-good-0001")
    body = api("wb_qin").post("/api/v1/elevators/sync", json={"records": [bad, no_pos_photo, good]}).get_json()
    statuses = [r["status"] for r in body["results"]]
    assert statuses == ["refused", "refused", "created"], body
    assert body["results"][0]["message"] == "距电梯 150 米，超出 100 米范围，禁止签到"
    assert "照片缺少拍摄位置" in body["results"][1]["message"]
    assert body["accepted"] == 1 and body["refused"] == 2
    assert db.session.scalar(select(func.count(WorkOrder.id))) == 1
    assert db.session.scalar(select(func.count(WorkPhoto.id)).where(WorkPhoto.client_id.like("offline-bad-%"))) == 0


# ---------------------------------------------------------------- the sign-off loop

def _task(case_id: int, task_def: str):
    from app.cases.models import Task
    return db.session.scalar(select(Task).where(Task.case_id == case_id, Task.status == "open", Task.task_def == task_def))


def test_sign_off_loop_return_rework_confirm_quality_archive_and_public_page(app, api, client, web):
    e, f = next((e, f) for e, f in [first_lift(i) for i in range(6)]
                if services.active_contract(e.id).quality_sign_required)
    a = api("wb_qin")
    order_id = a.post("/api/v1/elevators/work-orders", json=checkin_body(e, 30)).get_json()["id"]
    fill_items(a, order_id, e)
    no_sig = a.post(f"/api/v1/elevators/work-orders/{order_id}/finish", json={**finish_body(e), "maintainer_signature": ""})
    assert no_sig.status_code == 422 and "maintainer_signature" in no_sig.get_json()["error"]["fields"]
    done = a.post(f"/api/v1/elevators/work-orders/{order_id}/finish", json=finish_body(e))
    assert done.status_code == 200, done.get_json()
    order = db.session.get(WorkOrder, order_id)
    assert order.status == "submitted" and order.case_id
    plan = db.session.get(MaintenancePlan, order.plan_id) if order.plan_id else None
    assert plan is None or plan.status == "done"
    # the safety manager returns it with a reason
    manager = api("wy_xn" if e.use_org_id == user("wy_xn").org_id else "wy_qx")
    task = _task(order.case_id, "confirm")
    refused = manager.post(f"/api/v1/tasks/{task.id}/complete", json={"data": {"confirm_decision": "return"},
                                                                      "signature": signature_png()})
    assert refused.status_code == 422 and "reason" in refused.get_json()["error"]["fields"]
    resp = manager.post(f"/api/v1/tasks/{task.id}/complete", json={"data": {"confirm_decision": "return",
                                                                           "reason": "底坑照片看不清，请补拍"},
                                                                  "signature": signature_png()})
    assert resp.status_code == 200, resp.get_json()
    db.session.expire_all()
    assert order.status == "returned" and order.return_reason == "底坑照片看不清，请补拍"
    assert a.post(f"/api/v1/elevators/work-orders/{order_id}/resubmit", json={"note": "已补拍"}).status_code == 200
    db.session.expire_all()
    assert order.status == "submitted"
    task = _task(order.case_id, "confirm")
    resp = manager.post(f"/api/v1/tasks/{task.id}/complete", json={"data": {"confirm_decision": "confirm"},
                                                                  "signature": signature_png()})
    assert resp.status_code == 200, resp.get_json()
    db.session.expire_all()
    assert order.status == "quality" and order.safety_signature_id
    task = _task(order.case_id, "quality_sign")
    resp = api("wb_quality").post(f"/api/v1/tasks/{task.id}/complete",
                                  json={"data": {"quality_decision": "approve"}, "signature": signature_png()})
    assert resp.status_code == 200, resp.get_json()
    db.session.expire_all()
    assert order.status == "archived" and order.pdf_attachment_id and order.quality_signature_id
    from app.core.storage import open_attachment
    with open_attachment(db.session.get(Attachment, order.pdf_attachment_id)) as fh:
        pdf = fh.read()
    assert pdf.startswith(b"%PDF") and pdf.count(b"/Subtype /Image") >= 4     # 3 photos, the (identical) signatures
    sup = web("xn_supervisor" if e.region_code == "450102" else "qx_supervisor")
    detail = sup.get(f"/elevators/orders/{order.id}")
    assert detail.status_code == 200 and "电子工单 PDF" in detail.get_data(as_text=True)
    assert sup.get(f"/cases/{order.case_id}").status_code == 200
    page = client.get(f"/p/elevators/{f.rescue_code}").get_data(as_text=True)
    assert "覃*" in page and "覃维保" not in page                            # masked maintainer name
    assert today_local().isoformat() in page and "关键部位照片" in page
    photo_ids = [p.id for p in order.photos if p.item and p.item.key_position]
    assert client.get(f"/p/elevators/{f.rescue_code}?photo={photo_ids[0]}").status_code == 200
    face = next(p for p in order.photos if p.purpose == "face")
    assert client.get(f"/p/elevators/{f.rescue_code}?photo={face.id}").status_code == 404


def test_the_process_starts_through_the_generic_api(app, api):
    e, _f = first_lift()
    a = api("wb_qin")
    order_id = a.post("/api/v1/elevators/work-orders", json=checkin_body(e, 30)).get_json()["id"]
    fill_items(a, order_id, e)
    resp = a.post(f"/api/v1/elevators/work-orders/{order_id}/finish", json=finish_body(e, submit=False))
    assert resp.get_json()["status"] == "finished"
    order_no = resp.get_json()["order_no"]
    listed = a.get("/api/v1/elevators/work-orders?status=finished&mine=1").get_json()
    assert order_no in [o["order_no"] for o in listed["items"]]
    started = a.post("/api/v1/cases", json={"process_key": "elevator_maintenance", "data": {"work_order_no": order_no}})
    assert started.status_code == 201, started.get_json()
    twice = a.post("/api/v1/cases", json={"process_key": "elevator_maintenance", "data": {"work_order_no": order_no}})
    assert twice.status_code == 422 and "work_order_no" in twice.get_json()["error"]["fields"]


def test_pages_answer_for_their_people(app, web):
    e, f = first_lift()
    qin = web("wb_qin")
    for url in ("/m/", "/m/elevators", f"/m/elevators/{e.id}", "/m/scan", "/m/visit", "/m/orders", "/m/queue",
                "/elevators", "/elevators/records", "/elevators/repairs", "/elevators/plans", f"/elevators/{e.id}/label",
                f"/registry/devices/{e.id}"):
        assert qin.get(url).status_code == 200, url
    assert "今日与超期维保" in qin.get("/m/").get_data(as_text=True)
    assert "<svg" in qin.get(f"/elevators/{e.id}/label").get_data(as_text=True)
    assert qin.get("/elevators/records/export.xlsx").status_code == 200
    assert web("unit_lz").get(f"/m/elevators/{e.id}").status_code in (403, 404)
    assert qin.get("/m/sw.js").headers["Content-Type"].startswith("application/javascript")
    assert web("gx_province").get("/elevators/items").status_code == 200


@pytest.mark.parametrize("provider", ["cloud"])
def test_face_compare_cloud_adapter_signs_its_request(app, provider):
    from app.core import face
    from app.core.external import verify_request

    from .fakes import FakeServer
    seen = []

    def handler(req):
        check = verify_request(req.headers, "POST", req.path, req.body, lambda k: "s3cret" if k == "k1" else None)
        seen.append(check)
        if not check.ok:
            return 401, {"code": "bad_signature", "message": check.reason}
        return 200, {"code": "0", "match": req.json["person_ref"] == "user:1", "score": 0.93, "message": "比对通过"}
    with FakeServer({("POST", "/v1/face/compare"): handler}) as fake:
        app.config.update(EXTERNAL_FACE_COMPARE_PROVIDER=provider, EXTERNAL_FACE_COMPARE_URL=fake.url,
                          EXTERNAL_FACE_COMPARE_APP_KEY="k1", EXTERNAL_FACE_COMPARE_SECRET="s3cret")
        try:
            verdict = face.compare(jpeg(), "user:1", reference="WB1")
            assert verdict.match and verdict.score == 0.93 and seen[-1].ok
            assert fake.received[-1].json["image_base64"]
            assert not face.compare(jpeg(), "user:2").match
            app.config["EXTERNAL_FACE_COMPARE_SECRET"] = "wrong"
            from app.core.external import ExternalError
            with pytest.raises(ExternalError):
                face.compare(jpeg(), "user:1")
        finally:
            for key in ("PROVIDER", "URL", "APP_KEY", "SECRET"):
                app.config.pop(f"EXTERNAL_FACE_COMPARE_{key}", None)


def test_contract_cycle_over_15_days_is_refused(app):
    e, _f = first_lift()
    c = MaintenanceContract(equipment_id=e.id, maintenance_org_id=e.maintenance_org_id, use_org_id=e.use_org_id,
                            starts_on=today_local(), ends_on=today_local() + timedelta(days=30), cycle_days=16)
    db.session.add(c)
    db.session.flush()
    from app.errors import ValidationFailed
    with pytest.raises(ValidationFailed):
        services.generate_plans(c)
    db.session.rollback()


def test_api_responses_match_the_document(app, api):
    from .test_openapi import check
    e, f = first_lift()
    a = api("wb_qin")
    check(app, a.get("/api/v1/elevators?q=" + e.code[:8]), 200)
    check(app, a.get(f"/api/v1/elevators/{e.id}"), 200)
    check(app, a.get(f"/api/v1/elevators/lookup?code={f.rescue_code}"), 200)
    check(app, a.get("/api/v1/elevators/lookup?code=NOPE"), 404)
    check(app, a.get("/api/v1/elevators/items?elevator_type=escalator&maint_type=YEAR"), 200)
    check(app, a.get("/api/v1/elevators/items?elevator_type=rocket"), 422)
    check(app, a.get("/api/v1/elevators/item-catalogue?annex=B"), 200)
    check(app, a.get("/api/v1/elevators/plans?overdue=1"), 200)
    pack = check(app, a.get("/api/v1/elevators/today"), 200)
    assert pack["coworkers"] and pack["elevators"] and pack["items"]
    check(app, a.post("/api/v1/elevators/work-orders", json=checkin_body(e, 153)), 422)
    body = checkin_body(e, 10)
    created = check(app, a.post("/api/v1/elevators/work-orders", json=body), 201)
    again = check(app, a.post("/api/v1/elevators/work-orders", json=body), 200)
    assert again["duplicate"] and again["id"] == created["id"]
    check(app, a.get(f"/api/v1/elevators/work-orders/{created['id']}"), 200)
    check(app, a.post(f"/api/v1/elevators/work-orders/{created['id']}/results", json={"results": [{"item_id": 1}]}), 422)
    check(app, a.post(f"/api/v1/elevators/work-orders/{created['id']}/finish", json={}), 422)
    check(app, a.post(f"/api/v1/elevators/work-orders/{created['id']}/resubmit", json={}), 409)
    check(app, api("wb_lu").post(f"/api/v1/elevators/work-orders/{created['id']}/finish", json={}), 403)
    check(app, a.get("/api/v1/elevators/work-orders?mine=1"), 200)
    check(app, a.post("/api/v1/elevators/sync", json={"records": []}), 422)
    result = check(app, a.post("/api/v1/elevators/sync", json={"records": [visit_record(e, "doc-check-0001", 150)]}), 200)
    assert result["results"][0]["status"] == "refused"
    check(app, api("wy_xn").post("/api/v1/elevators/sync", json={"records": [{}]}), 403)


def test_a_repair_needs_a_fault_description_and_a_photo_and_lists_under_repairs(app, api, web):
    e, _f = first_lift()
    a = api("wb_qin")
    order = a.post("/api/v1/elevators/work-orders", json=checkin_body(e, 20, kind="repair")).get_json()
    assert order["kind"] == "repair" and order["order_no"].startswith("WX")
    refused = a.post(f"/api/v1/elevators/work-orders/{order['id']}/finish", json=finish_body(e)).get_json()
    assert set(refused["error"]["fields"]) >= {"fault_description", "photos"}
    resp = a.post(f"/api/v1/elevators/work-orders/{order['id']}/photos",
                  data={"file": (io.BytesIO(jpeg()), "p.jpg"), "purpose": "repair", "client_id": "repair-photo-01",
                        "taken_at": utcnow().isoformat(), **{k: str(v) for k, v in at_distance(e, 20).items()}},
                  content_type="multipart/form-data")
    assert resp.status_code == 201, resp.get_json()
    done = a.post(f"/api/v1/elevators/work-orders/{order['id']}/finish",
                  json=finish_body(e, fault_description="3层层门门锁触点接触不良，电梯停梯", parts="层门门锁触点 1 套"))
    assert done.status_code == 200, done.get_json()
    assert done.get_json()["status"] == "submitted"
    plan = db.session.scalar(select(MaintenancePlan).where(MaintenancePlan.equipment_id == e.id,
                                                           MaintenancePlan.due_on == today_local()))
    assert plan.status == "planned"                      # a repair does not count as the planned maintenance
    page = web("xn_supervisor").get("/elevators/repairs").get_data(as_text=True)
    assert order["order_no"] in page
    assert order["order_no"] not in web("xn_supervisor").get("/elevators/records").get_data(as_text=True)
    assert order["order_no"] not in web("qx_supervisor").get("/elevators/repairs").get_data(as_text=True)


def test_the_maintenance_unit_binds_a_safety_chip_and_a_scan_of_it_finds_the_elevator(app, api):
    e, f = first_lift()
    e2, _f2 = first_lift(1)
    a = api("wb_qin")
    bound = a.post(f"/api/v1/elevators/{e.id}/chip", json={"chip_id": "04:a2:3b:1c:5d:80:00"})
    assert bound.status_code == 200 and bound.get_json()["chip_id"] == "04A23B1C5D8000"
    assert a.get("/api/v1/elevators/lookup?code=04A23B1C5D8000").get_json()["id"] == e.id
    taken = a.post(f"/api/v1/elevators/{e2.id}/chip", json={"chip_id": "04A23B1C5D8000"})
    assert taken.status_code == 422 and "另一台电梯" in taken.get_json()["error"]["fields"]["chip_id"]
    assert a.post(f"/api/v1/elevators/{e.id}/chip", json={"chip_id": "xyz"}).status_code == 422
    assert api("unit_xn").post(f"/api/v1/elevators/{e.id}/chip", json={"chip_id": "04A23B1C5D8001"}).status_code == 403
    assert a.post(f"/api/v1/elevators/{e.id}/chip", json={"chip_id": ""}).get_json()["chip_id"] is None


def test_the_maintenance_unit_records_an_elevator_and_its_contract(app, web):
    model, _f = first_lift()
    lift = Equipment(code="311045001202699999", name="新接电梯 1号（测试）", category_code="3110", kind_code="3000",
                     class_code="3100", use_org_id=model.use_org_id, maintenance_org_id=model.maintenance_org_id,
                     region_code=model.region_code, address=model.address, lat=model.lat, lng=model.lng)
    db.session.add(lift)
    db.session.commit()
    s = web("wb_quality")
    form = {"code": lift.code, "elevator_type": "traction", "floors": "18", "speed": "x", "rated_load": "1000",
            "rescue_code": "45019999", "starts_on": today_local().isoformat(),
            "ends_on": (today_local() + timedelta(days=364)).isoformat(), "cycle_days": "16"}
    bad = s.post("/elevators/setup", data=form)
    assert bad.status_code == 422
    page = bad.get_data(as_text=True)
    assert "额定速度须为数字" in page and "维保周期应在 1–15 之间" in page
    resp = s.post("/elevators/setup", data={**form, "speed": "1.75", "cycle_days": "14"})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:500]
    db.session.expire_all()
    facts = services.facts_of(lift.id)
    assert facts.rescue_code == "45019999" and facts.floors == 18
    plans = db.session.scalars(select(MaintenancePlan).where(MaintenancePlan.equipment_id == lift.id,
                                                             MaintenancePlan.status == "planned",
                                                             MaintenancePlan.due_on >= today_local())
                               .order_by(MaintenancePlan.due_on)).all()
    assert plans[0].due_on == today_local() and {(b.due_on - a.due_on).days for a, b in zip(plans, plans[1:])} == {14}
    assert web("unit_xn").get("/elevators/setup").status_code == 403


def test_a_maintainers_phone_work_starts_with_the_face_check(app, client):
    """/m/ pages lead a maintainer to the identity check until it passes (once per login); the photo is
    kept with a watermark and the check is audited; a refusal by the provider keeps them out."""
    import base64

    from app.core import face
    from app.security.models import AuditLog
    from .conftest import PNG, csrf_from

    class Client:
        """A browser without the face check done (each request in its own app context, like WebSession)."""
        def __init__(self):
            self.c = app.test_client()

        def get(self, url):
            with app.app_context():
                return self.c.get(url)

        def post(self, url, data):
            with app.app_context():
                return self.c.post(url, data=data)

    def login(username):
        c = Client()
        token = csrf_from(c.get("/login").get_data(as_text=True))
        resp = c.post("/login", {"username": username, "password": "Demo@2026", "csrf_token": token})
        assert resp.status_code == 302
        return c

    c = login("wb_qin")
    resp = c.get("/m/elevators")
    assert resp.status_code == 302 and "/m/identity?next=/m/elevators" in resp.location
    page = c.get("/m/identity").get_data(as_text=True)
    token = csrf_from(page)
    resp = c.post("/m/identity", {"csrf_token": token, "face_photo": "data:image/png;base64,AAAA"})
    assert resp.status_code == 422 and "照片" in resp.get_data(as_text=True)
    assert c.get("/m/elevators").status_code == 302          # still gated
    photo = "data:image/png;base64," + base64.b64encode(PNG).decode()
    resp = c.post("/m/identity?next=/m/elevators", {"csrf_token": token, "face_photo": photo})
    assert resp.status_code == 302 and resp.location.endswith("/m/elevators")
    assert c.get("/m/elevators").status_code == 200
    with app.app_context():
        entry = db.session.scalars(select(AuditLog).where(AuditLog.event_type == "auth.face")
                                   .order_by(AuditLog.id.desc())).first()
        assert entry.outcome == "success" and entry.actor_name == "wb_qin" and entry.object_type == "attachment"

    # a safety manager's phone pages are not gated
    assert login("wy_xn").get("/m/").status_code == 200

    # the provider says no: refused, audited as a failure, still gated
    c = login("wb_lu")
    token = csrf_from(c.get("/m/identity").get_data(as_text=True))
    original = face.compare
    face.compare = lambda *a, **k: face.FaceVerdict(False, 0.31, "test", "比对不通过")
    try:
        resp = c.post("/m/identity", {"csrf_token": token, "face_photo": photo})
    finally:
        face.compare = original
    assert resp.status_code == 422 and "人脸比对不通过" in resp.get_data(as_text=True)
    assert c.get("/m/").status_code == 302
    with app.app_context():
        entry = db.session.scalars(select(AuditLog).where(AuditLog.event_type == "auth.face")
                                   .order_by(AuditLog.id.desc())).first()
        assert entry.outcome == "failure" and entry.actor_name == "wb_lu"
