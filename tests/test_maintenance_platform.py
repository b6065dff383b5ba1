"""Third-party maintenance platforms: a platform signs like tests/platform_client.py (written from the
published spec). A signed batch answers per record (created / duplicate / refused with field reasons) and
loses nothing when one record fails; a bad signature, a replayed nonce, a stale timestamp and a revoked
credential refuse the whole request; more than 500 records are refused; a photo part that does not decode
is refused; credentials are issued and revoked by the regulator of the unit's region only; the records
land in the app's records list, searchable by unit, site, person, date and source, and exportable."""
from __future__ import annotations

import io
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.core.clock import utcnow
from app.core.models import Organization
from app.elevators import services as elevator_services
from app.elevators.models import MaintenancePlan, WorkOrder, WorkPhoto
from app.extensions import db
from app.maintenance_platform import services
from app.maintenance_platform.models import PlatformCredential, PlatformNonce, PlatformRecord
from app.operators.models import Operator, OperatorCertificate
from app.security.models import AuditLog

from .conftest import user
from .platform_client import FlaskTransport, HttpTransport, PlatformClient, canonical_string, hmac_sm3_hex
from .test_elevators import _restore_plans, at_distance, first_lift, jpeg  # noqa: F401 - the fixture

def signature_png() -> bytes:
    from PIL import Image, ImageDraw
    im = Image.new("RGBA", (300, 100), (0, 0, 0, 0))
    ImageDraw.Draw(im).line([(10, 50), (290, 60)], fill=(0, 0, 0, 255), width=4)
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


def cert_no(username: str) -> str:
    return db.session.scalar(select(OperatorCertificate.cert_no).join(Operator).where(
        Operator.user_id == user(username).id, OperatorCertificate.work_item == "T"))


def visit(e, key: str, metres: float = 20, maintainer: str = "wb_qin", photos: bool = True) -> tuple[dict, dict]:
    """One whole maintenance record and its parts (photos of the items that need one, the signature)."""
    facts = elevator_services.facts_of(e.id)
    items = elevator_services.items_for(facts.elevator_type, "HALF")
    now = utcnow()
    files = {f"sig-{key}": ("sign.png", signature_png(), "image/png")}
    shots = []
    if photos:
        for n, item in enumerate(i for i in items if i.photo_required):
            part = f"photo-{key}-{n}"
            files[part] = (f"{part}.jpg", jpeg((n * 50, 90, 120)), "image/jpeg")
            shots.append({"part": part, "item_code": item.code, "taken_at": (now - timedelta(minutes=30)).isoformat(),
                          **at_distance(e, 10)})
    record = {"idempotency_key": key, "elevator_code": e.code, "maintainer_cert_no": cert_no(maintainer),
              "maint_type": "HALF", "checkin": {"at": (now - timedelta(minutes=50)).isoformat(), **at_distance(e, metres)},
              "results": [{"item_code": i.code, "result": "ok"} for i in items], "photos": shots,
              "maintainer_signature": f"sig-{key}",
              "checkout": {"at": (now - timedelta(minutes=5)).isoformat(), **at_distance(e, 15)}}
    return record, files


def batch(*visits) -> tuple[list, dict]:
    records, files = [], {}
    for record, parts in visits:
        records.append(record)
        files.update(parts)
    return records, files


@pytest.fixture
def credential(app):
    maint = user("wb_qin").org_id
    cred, secret = services.issue(user("xn_supervisor"), maint, "测试维保云平台")
    db.session.commit()
    return cred.key_id, secret


@pytest.fixture
def platform(client, credential):
    return PlatformClient(*credential, FlaskTransport(client))


def orders_made() -> int:
    return db.session.scalar(select(func.count(WorkOrder.id)))


# ---------------------------------------------------------------- the batch

def test_a_signed_batch_answers_per_record_and_the_whole_request_is_refused_on_bad_signature_or_replay(app, platform):
    e, _f = first_lift()
    good, far, other = visit(e, "rec-good-0001"), visit(e, "rec-far-00002", metres=150), visit(e, "rec-good-0003")
    records, files = batch(good, far, other)
    before = orders_made()

    status, body = platform.upload(records, files, tamper=lambda h: h.update({"X-Signature": "0" * 64}))
    assert status == 401 and body["error"]["code"] == "signature_invalid", body
    assert orders_made() == before                       # the whole request refused: nothing made

    status, body = platform.upload(records, files, as_field=True)
    assert status == 200, body
    assert [r["status"] for r in body["results"]] == ["created", "refused", "created"]
    assert body["created"] == 2 and body["refused"] == 1
    refused = body["results"][1]
    assert refused["fields"] == {"checkin.position": "距电梯 150 米，超出 100 米范围，禁止签到"}
    assert orders_made() == before + 2                   # the far record lost nothing else

    status, again = platform.resend()                    # the same signed request, replayed
    assert status == 401 and again["error"]["code"] == "nonce_replayed"
    assert orders_made() == before + 2

    first_id = body["results"][0]["work_order_id"]
    status, body = platform.upload(*batch(visit(e, "rec-good-0001"), visit(e, "rec-good-0004")))
    assert [r["status"] for r in body["results"]] == ["duplicate", "created"]
    assert body["results"][0]["work_order_id"] == first_id        # the original, never a second order
    assert orders_made() == before + 3

    order = db.session.get(WorkOrder, first_id)
    assert order.status == "archived" and order.offline and order.checkin_distance <= 21
    assert order.plan_id is not None and order.maintainer.username == "wb_qin"
    photos = list(db.session.scalars(select(WorkPhoto).where(WorkPhoto.work_order_id == first_id)))
    assert photos and all(p.original_sm3 and p.attachment.size > 0 for p in photos)       # decoded, stamped, stored
    assert elevator_services.sources_of([order]) == {first_id: "platform"}
    audit = db.session.scalar(select(AuditLog).where(AuditLog.event_type == "platform.upload")
                              .order_by(AuditLog.id.desc()).limit(1))
    assert "新增 1，重复 1，拒绝 0" in audit.summary


def test_the_same_refusals_as_the_app_certificate_photo_position_and_items(app, platform):
    e, _f = first_lift()
    expired = visit(e, "rec-expired-01", maintainer="wb_mo")
    no_position, files = visit(e, "rec-nopos-001")
    del no_position["photos"][0]["lat"]
    missing_item, files2 = visit(e, "rec-missing-1")
    missing_item["results"] = missing_item["results"][1:]
    status, body = platform.upload(*batch(expired, (no_position, files), (missing_item, files2)))
    assert status == 200, body
    assert [r["status"] for r in body["results"]] == ["refused"] * 3
    assert body["results"][0]["fields"] == {"certificate": "作业人员证书已过期"}
    assert body["results"][1]["fields"]["photos.0.position"] == "照片缺少拍摄位置，不能上传"
    assert "results" in body["results"][2]["fields"]
    assert db.session.scalar(select(func.count(PlatformRecord.id))) == 0


def test_a_photo_part_that_does_not_decode_is_refused(app, platform):
    e, _f = first_lift()
    record, files = visit(e, "rec-badjpeg-1")
    part = record["photos"][0]["part"]
    files[part] = (f"{part}.jpg", b"\xff\xd8\xff\xe0 not really a jpeg" * 20, "image/jpeg")
    status, body = platform.upload([record], files)
    assert status == 200 and body["results"][0]["status"] == "refused"
    assert body["results"][0]["fields"] == {"photos.0.photo": "照片无法解码，请重新拍摄"}
    record, files = visit(e, "rec-nopart-01")
    del files[record["photos"][0]["part"]]
    status, body = platform.upload([record], files)
    assert body["results"][0]["fields"] == {"photos.0.part": f"请求中没有名为 {record['photos'][0]['part']} 的部分"}
    assert db.session.scalar(select(func.count(PlatformRecord.id))) == 0


def test_more_than_500_records_are_refused_whole(app, platform):
    e, _f = first_lift()
    record, _files = visit(e, "rec-many-0000", photos=False)
    records = [dict(record, idempotency_key=f"rec-many-{n:04d}") for n in range(501)]
    before = orders_made()
    status, body = platform.upload_json(records)
    assert status == 422 and body["error"]["code"] == "batch_too_large"
    assert "一次最多上传 500 条记录（本次 501 条）" in body["error"]["message"]
    assert orders_made() == before


def test_stale_timestamps_bad_headers_and_unknown_keys_are_refused_with_codes(app, platform, client):
    assert platform.whoami()[0] == 200
    status, body = platform.whoami(timestamp=int(time.time()) - 301)
    assert status == 401 and body["error"]["code"] == "timestamp_invalid"
    assert "300 秒" in body["error"]["message"]
    assert platform.whoami(timestamp=int(time.time()) + 290)[0] == 200
    status, body = platform.whoami(tamper=lambda h: h.pop("X-Nonce"))
    assert status == 401 and body["error"]["code"] == "signature_missing"
    stranger = PlatformClient("gxmp_0000000000000000", "x" * 43, FlaskTransport(client))
    assert stranger.whoami()[1]["error"]["code"] == "unknown_app_key"
    # a signature over another path does not fit this one
    status, body = platform.whoami(tamper=lambda h: h.update({"X-Signature": platform.headers(
        "GET", "/api/v1/maintenance-platform/records", b"", timestamp=int(h["X-Timestamp"]),
        nonce=h["X-Nonce"])["X-Signature"]}))
    assert body["error"]["code"] == "signature_invalid"
    denied = db.session.scalar(select(func.count(AuditLog.id)).where(AuditLog.event_type == "security.denied",
                                                                     AuditLog.summary.like("维保平台请求被拒绝%")))
    assert denied >= 4


def test_nonces_are_forgotten_only_after_the_window(app, platform):
    status, _ = platform.whoami(nonce="n-window-000001")
    assert status == 200
    row = db.session.scalar(select(PlatformNonce).where(PlatformNonce.nonce == "n-window-000001"))
    left = (row.expires_at.replace(tzinfo=row.expires_at.tzinfo or utcnow().tzinfo) - utcnow()).total_seconds()
    assert 290 <= left <= 301
    assert platform.whoami(nonce="n-window-000001")[1]["error"]["code"] == "nonce_replayed"


def test_the_client_signature_agrees_with_an_independent_sm3(app):
    """The test client's HMAC-SM3 against gmssl's pure-Python SM3 (HMAC built by hand, RFC 2104)."""
    from gmssl import func as gfunc
    from gmssl import sm3

    def g_sm3(data: bytes) -> bytes:
        return bytes.fromhex(sm3.sm3_hash(gfunc.bytes_to_list(data)))

    key, text = b"secret-key-for-test", canonical_string("POST", "/api/v1/x", "1700000000", "abcdefgh", b"{}").encode()
    k = key.ljust(64, b"\0")
    inner = g_sm3(bytes(b ^ 0x36 for b in k) + text)
    assert g_sm3(bytes(b ^ 0x5C for b in k) + inner).hex() == hmac_sm3_hex(key, text)
    from app.core.external import sign_request
    assert sign_request("k", "secret-key-for-test", "POST", "/api/v1/x", b"{}", timestamp=1700000000,
                        nonce="abcdefgh")["X-Signature"] == hmac_sm3_hex(key, text)


def test_over_real_http_in_a_thread(app, credential):
    from werkzeug.serving import make_server
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        client = PlatformClient(*credential, HttpTransport(f"http://127.0.0.1:{srv.server_port}"))
        assert client.whoami()[1]["org_id"] == user("wb_qin").org_id
        e, _f = first_lift(2)
        status, body = client.upload(*batch(visit(e, "rec-http-00001")))
        assert status == 200 and body["results"][0]["status"] == "created", body
        assert client.resend()[1]["error"]["code"] == "nonce_replayed"
    finally:
        srv.shutdown()


# ---------------------------------------------------------------- credentials and scope

def test_credentials_are_issued_and_revoked_by_the_units_regulator_only(app, web, client):
    maint = user("wb_qin").org_id
    a = web("qx_supervisor")                             # another county
    resp = a.post("/maintenance-platform/credentials", data={"org_id": maint, "platform_name": "越权平台"})
    assert resp.status_code == 422 and "请选择本辖区的维保单位" in resp.get_data(as_text=True)
    assert db.session.scalar(select(func.count(PlatformCredential.id))) == 0

    w = web("xn_supervisor")
    assert "维保数据接入" in w.get("/maintenance-platform/credentials").get_data(as_text=True)
    resp = w.post("/maintenance-platform/credentials", data={"org_id": maint, "platform_name": "兴宁维保云"})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "密钥只显示这一次" in html and resp.headers["Cache-Control"] == "no-store"
    cred = db.session.scalar(select(PlatformCredential))
    secret = html.split('data-testid="issued-secret-value">')[1].split("<")[0]
    assert cred.secret == secret and secret.encode() not in cred.secret_enc          # stored encrypted
    assert secret not in w.get("/maintenance-platform/credentials").get_data(as_text=True)   # shown once
    assert cred.key_id in web("wb_quality").get("/maintenance-platform/credentials").get_data(as_text=True)
    assert cred.key_id not in web("unit_qx").get("/maintenance-platform/credentials").get_data(as_text=True)

    platform = PlatformClient(cred.key_id, secret, FlaskTransport(client))
    assert platform.whoami()[0] == 200
    assert a.post(f"/maintenance-platform/credentials/{cred.id}/revoke", data={"reason": "越权"}).status_code == 404
    assert web("wb_quality").post(f"/maintenance-platform/credentials/{cred.id}/revoke",
                                  data={"reason": "自行吊销"}).status_code == 403
    w.post(f"/maintenance-platform/credentials/{cred.id}/revoke", data={"reason": "平台停用"})
    db.session.expire_all()
    assert cred.revoked_at is not None and cred.revoke_reason == "平台停用"
    status, body = platform.whoami()
    assert status == 401 and body["error"]["code"] == "credential_revoked"
    events = list(db.session.scalars(select(AuditLog.summary).where(AuditLog.event_type == "platform.credential")))
    assert any("签发" in s for s in events) and any("吊销" in s and "平台停用" in s for s in events)


def test_a_credential_uploads_only_for_its_own_unit(app, client):
    other = Organization(name="青秀演示电梯维保有限公司（测试）", kind="maintenance_unit", region_code="450103",
                         uscc="91450103TESTMAIN01", address="南宁市青秀区")
    db.session.add(other)
    db.session.commit()
    cred, secret = services.issue(user("qx_supervisor"), other.id, "青秀维保云")
    db.session.commit()
    e, _f = first_lift()
    status, body = PlatformClient(cred.key_id, secret, FlaskTransport(client)).upload(*batch(visit(e, "rec-alien-001")))
    assert status == 200 and body["results"][0]["status"] == "refused"
    assert body["results"][0]["fields"] == {"maintainer_cert_no": "维保人员未在本系统登记为本单位的电梯维保人员"}


# ---------------------------------------------------------------- aggregated search

def test_platform_records_are_in_the_records_list_searchable_and_exported(app, platform, web, api):
    e, f = first_lift()
    status, body = platform.upload(*batch(visit(e, "rec-search-001")))
    order_no = body["results"][0]["order_no"]
    xn = web("xn_supervisor")
    maint_name = db.session.get(Organization, user("wb_qin").org_id).name
    site = f.site.split()[0]
    from app.core.clock import to_local
    checked_in = db.session.scalar(select(WorkOrder.checkin_at).where(WorkOrder.order_no == order_no))
    today = to_local(checked_in).date().isoformat()      # the list filters by the local day of check-in
    for query in (f"source=platform", f"maintenance_org={maint_name[:6]}", f"use_org={e.use_org.name[:4]}",
                  f"site={site}", "person=覃维保", "person=wb_qin", f"q={e.code}",
                  f"date_from={today}&date_to={today}&source=platform"):
        html = xn.get(f"/elevators/records?{query}").get_data(as_text=True)
        assert order_no in html, query
    assert order_no not in xn.get("/elevators/records?source=app").get_data(as_text=True)
    assert order_no not in xn.get("/elevators/records?person=陆协作").get_data(as_text=True)
    assert order_no not in web("qx_supervisor").get("/elevators/records?source=platform").get_data(as_text=True)
    assert order_no in web("wy_xn").get("/elevators/records?source=platform").get_data(as_text=True)
    from .test_openapi import check
    listed = check(app, api("xn_supervisor").get(f"/api/v1/elevators/work-orders?source=platform&person=wb_qin"
                                                 f"&maintenance_org_id={user('wb_qin').org_id}"), 200)
    assert [(o["order_no"], o["source"]) for o in listed["items"]] == [(order_no, "platform")]
    resp = xn.get("/elevators/records/export.xlsx?source=platform")
    from openpyxl import load_workbook
    sheet = load_workbook(io.BytesIO(resp.data)).active
    rows = [[c.value for c in r] for r in sheet.iter_rows()]
    header = next(r for r in rows if "来源" in r)
    row = next(r for r in rows if r[0] == order_no)
    assert row[header.index("来源")] == "第三方平台" and row[header.index("项目/楼栋")] == f.site
    export = db.session.scalar(select(AuditLog).where(AuditLog.event_type == "data.export").order_by(AuditLog.id.desc())
                               .limit(1))
    assert "platform" in str(export.detail)


def test_the_published_example_signatures_are_right():
    """docs/维保数据接入规范.md: the worked examples (canonical string and signature) are what a platform gets."""
    from pathlib import Path
    text = (Path(__file__).resolve().parents[1] / "docs" / "维保数据接入规范.md").read_text(encoding="utf-8")
    secret = b"Zq3v9LxY0b7mJ2kR8sT4wE6uH1nC5pA0dF9gK2lQ7xM"
    post = canonical_string("POST", "/api/v1/maintenance-platform/records", "1765108800",
                            "5f1c0e7a9b3d4c2e8a6b0d1f3e5c7a9b", b'{"records":[]}')
    get = canonical_string("GET", "/api/v1/maintenance-platform/whoami", "1765108800", "0a1b2c3d4e5f6a7b", b"")
    assert "```\n" + post + "\n```" in text
    assert hmac_sm3_hex(secret, post.encode()) in text and hmac_sm3_hex(secret, get.encode()) in text
    assert get.rsplit("\n", 1)[1] in text            # the SM3 of the empty body


def test_responses_match_the_api_document(app, platform):
    from .test_openapi import check
    e, _f = first_lift()
    platform.whoami()
    check(app, platform.transport.response, 200)
    platform.upload(*batch(visit(e, "rec-doc-00001"), visit(e, "rec-doc-00002", metres=130)))
    body = check(app, platform.transport.response, 200)
    assert [r["status"] for r in body["results"]] == ["created", "refused"]
    platform.resend()
    check(app, platform.transport.response, 401)
    platform.upload_json([])
    check(app, platform.transport.response, 422)
    record, _files = visit(e, "rec-doc-00003", photos=False)
    platform.upload_json([dict(record, idempotency_key=f"rec-doc-{n:05d}") for n in range(501)])
    check(app, platform.transport.response, 422)


def test_an_address_that_keeps_failing_signatures_is_throttled(app, platform, monkeypatch):
    monkeypatch.setitem(app.config, "RATELIMIT_ENABLED", True)
    monkeypatch.setitem(app.config, "RATELIMIT_PUBLIC_PER_MINUTE", 2)
    bad = {"tamper": lambda h: h.update({"X-Signature": "1" * 64})}
    assert [platform.whoami(**bad)[0] for _ in range(3)] == [401, 401, 429]
    assert platform.whoami(**bad)[1]["error"]["code"] == "rate_limited"
    assert platform.whoami()[0] == 200                   # a correct signature is not throttled


# ---------------------------------------------------------------- the bulk way

def mixed_batch(size: int = 500) -> tuple[list, dict]:
    """`size` records on the unit's lifts, most valid (photo items answered 不适用, so no photo is needed),
    every tenth or so broken in one of many ways, some keys repeated, two records with photos."""
    from werkzeug.datastructures import FileStorage
    lifts = [first_lift(n)[0] for n in range(3)]
    templates = {e.id: visit(e, "tmpl-000000", photos=False)[0] for e in lifts}
    items = {e.id: {i.code: i for i in elevator_services.items_for(elevator_services.facts_of(e.id).elevator_type,
                                                                   "HALF")} for e in lifts}    # photos below
    png = signature_png()
    files = {"sig": FileStorage(io.BytesIO(png), filename="sign.png", content_type="image/png"),
             "blank": FileStorage(io.BytesIO(b"not a png"), filename="b.png", content_type="image/png")}
    now = utcnow()
    breakers = [
        lambda r, e: r["checkin"].update(at_distance(e, 150)),
        lambda r, e: r["checkout"].update(at_distance(e, 180)),
        lambda r, e: r.update(maintainer_cert_no=cert_no("wb_mo")),
        lambda r, e: r.update(results=r["results"][2:]),
        lambda r, e: r["results"][0].update(result="fail"),
        lambda r, e: r["results"][1].update(item_code="Z-9-99"),
        lambda r, e: r["checkin"].update(at=(now - timedelta(minutes=50)).replace(tzinfo=None).isoformat()),
        lambda r, e: r["checkin"].update(at=(now + timedelta(hours=1)).isoformat()),
        lambda r, e: r["checkout"].update(at=(now - timedelta(hours=2)).isoformat()),
        lambda r, e: r.pop("maintainer_signature"),
        lambda r, e: r.update(maintainer_signature="blank"),
        lambda r, e: r.update(maintainer_signature="nowhere"),
        lambda r, e: r.update(maintainer_cert_no="NO-SUCH-CERT"),
        lambda r, e: r.update(elevator_code="NO-SUCH-LIFT"),
        lambda r, e: r.update(idempotency_key="bad key!"),
        lambda r, e: r.update(kind="repair"),
        lambda r, e: r.update(kind="repair", fault_description="门锁故障", photos=[]),
        lambda r, e: r.update(coworker_username="xn_supervisor", coworker_signature="sig"),
        lambda r, e: r.update(kind="inspection"),
        lambda r, e: r.update(maint_type="MONTHLY"),
        lambda r, e: r.update(results="all ok"),
        lambda r, e: r["checkin"].pop("lat"),
        lambda r, e: r.update(photos="none"),
    ]
    records = []
    for n in range(size):
        e = lifts[n % len(lifts)]
        record = json_copy(templates[e.id])
        record["idempotency_key"] = f"bulk-{n:06d}"
        record["maintainer_signature"] = "sig"
        photos_not_needed(record, e)
        if n % 10 == 3:
            breakers[(n // 10) % len(breakers)](record, e)
        elif n % 50 == 7:
            record["idempotency_key"] = f"bulk-{n - 7:06d}"               # a repeat within the batch
        elif n % 97 == 5:
            record["coworker_username"], record["coworker_signature"] = "wb_lu", "sig"
        elif n % 101 == 9:
            record["remark"] = "  电梯运行正常  "
        records.append(record)
    records[60] = "not a record"
    # two records with photos of their own (the per-record way, in the same batch)
    for n in (41, 42):
        e = lifts[n % len(lifts)]
        part = f"photo-{n}"
        files[part] = FileStorage(io.BytesIO(jpeg((n, 90, 120))), filename=f"{part}.jpg", content_type="image/jpeg")
        item = next(i for i in items[e.id].values() if i.photo_required)
        records[n]["photos"] = [{"part": part, "item_code": item.code,
                                 "taken_at": (now - timedelta(minutes=30)).isoformat(), **at_distance(e, 10)}]
    return records, files


def photos_not_needed(record: dict, e) -> dict:
    """The items that need a photo answered 不适用: the record is complete without photos."""
    need = {i.code for i in elevator_services.items_for(elevator_services.facts_of(e.id).elevator_type, "HALF")
            if i.photo_required}
    for row in record["results"]:
        if row["item_code"] in need:
            row["result"] = "na"
    return record


def test_uploaded_records_get_the_on_submission_warnings(app, platform):
    from app.elevator_supervision.models import ElevatorWarning
    e, _f = first_lift()
    started = utcnow() - timedelta(minutes=50)
    records, files = [], {}
    for key, photos in (("rec-short-bulk1", False), ("rec-short-photo", True)):    # the bulk and per-record ways
        record, parts = visit(e, key, photos=photos)
        if not photos:
            photos_not_needed(record, e)
        record["checkin"]["at"] = started.isoformat()
        record["checkout"]["at"] = (started + timedelta(minutes=10)).isoformat()   # half-monthly: < 30 min
        records.append(record)
        files.update(parts)
    status, body = platform.upload(records, files)
    assert status == 200 and body["created"] == 2, body
    for result in body["results"]:
        raised = set(db.session.scalars(select(ElevatorWarning.rule).where(
            ElevatorWarning.work_order_id == result["work_order_id"])))
        assert "short_duration" in raised, result


def test_records_written_in_bulk_are_in_the_statistics_summary_of_their_day(app, platform):
    """The bulk way writes with COPY, past the ORM's flush: the summary of the visits' (earlier) day is
    recomputed all the same."""
    from app.core.clock import local_day_start, to_local, today_local
    from app.elevator_supervision.models import ElevatorStatsDay
    e, _f = first_lift()
    started = local_day_start(today_local() - timedelta(days=2)) + timedelta(hours=9)   # both visits on one local day
    records, files = [], {}
    for key in ("rec-sum-1", "rec-sum-2"):
        record, parts = visit(e, key, photos=False)
        photos_not_needed(record, e)
        files.update(parts)
        record["checkin"]["at"] = (started + timedelta(minutes=len(records) * 60)).isoformat()
        record["checkout"]["at"] = (started + timedelta(minutes=len(records) * 60 + 40)).isoformat()
        records.append(record)
    status, body = platform.upload(records, files)
    assert status == 200 and body["created"] == 2, body
    db.session.expire_all()
    recorded = db.session.scalar(select(ElevatorStatsDay.records).where(
        ElevatorStatsDay.day == to_local(started).date(), ElevatorStatsDay.maintenance_org_id == e.maintenance_org_id,
        ElevatorStatsDay.maintainer_id == -1))
    assert recorded == 2


def json_copy(value):
    import json
    return json.loads(json.dumps(value))


def comparable(results: list[dict]) -> list[tuple]:
    """The answers without the numbers of the orders made (which differ between two runs); a duplicate
    within the batch names the index of the record that made its order."""
    made = {r["work_order_id"]: r["index"] for r in results if r["status"] == "created"}
    return [(r["index"], r["idempotency_key"], r["status"], r.get("code"), r.get("message"),
             json_copy(r.get("fields")), made.get(r.get("work_order_id"), "earlier") if r["status"] == "duplicate"
             else None) for r in results]


def order_facts(results: list[dict]) -> list[tuple]:
    from app.elevators.models import WorkOrderItem
    from app.maintenance_platform.models import PlatformRecord as PR
    out = []
    for r in results:
        if r["status"] != "created":
            continue
        o = db.session.get(WorkOrder, r["work_order_id"])
        items = sorted(db.session.execute(select(WorkOrderItem.item_id, WorkOrderItem.result, WorkOrderItem.note)
                                          .where(WorkOrderItem.work_order_id == o.id)).all())
        plan = db.session.execute(select(MaintenancePlan.status, MaintenancePlan.work_order_id)
                                  .where(MaintenancePlan.id == o.plan_id)).first() if o.plan_id else None
        out.append((r["index"], o.kind, o.status, o.maint_type, o.equipment_id, o.plan_id, o.use_org_id,
                    o.maintenance_org_id, o.region_code, o.maintainer_id, o.coworker_id, o.checkin_distance,
                    o.checkout_distance, o.checkin_proof, bool(o.offline), o.remark, o.fault_description,
                    o.order_no[:10], o.maintainer_signature_id is not None, o.coworker_signature_id is not None,
                    o.archived_at is not None, tuple(items), plan and (plan.status, plan.work_order_id == o.id),
                    db.session.scalar(select(func.count(PR.id)).where(PR.work_order_id == o.id))))
    return out


def in_transaction(cred) -> None:
    """As the API does (authenticate writes before the batch): the transaction is open when the records'
    savepoints start (pysqlite begins it only at the first write)."""
    cred.last_used_at = utcnow()
    db.session.flush()


def test_a_500_record_batch_written_in_bulk_answers_exactly_as_record_by_record(app, credential):
    from app.security.audit import verify_chain
    cred = db.session.scalar(select(PlatformCredential).where(PlatformCredential.key_id == credential[0]))
    records, files = mixed_batch(500)
    before = orders_made()

    in_transaction(cred)
    slow = services.ingest(cred, json_copy(records), services.Parts(files, 10 * 1024 * 1024), bulk=False)
    slow_facts = order_facts(slow["results"])
    db.session.rollback()
    assert orders_made() == before
    in_transaction(cred)
    fast = services.ingest(cred, json_copy(records), services.Parts(files, 10 * 1024 * 1024))
    fast_facts = order_facts(fast["results"])

    assert comparable(fast["results"]) == comparable(slow["results"])
    assert fast_facts == slow_facts
    assert {k: fast[k] for k in ("created", "duplicate", "refused")} == \
        {k: slow[k] for k in ("created", "duplicate", "refused")}
    assert fast["created"] > 380 and fast["refused"] > 45 and fast["duplicate"] >= 9
    statuses = {r["status"] for r in fast["results"]}
    assert statuses == {"created", "duplicate", "refused"}
    fields = {k for r in fast["results"] if r["status"] == "refused" for k in r["fields"]}
    assert {"checkin.position", "checkout_position", "certificate", "results", "results.0.note",
            "results.1.item_code", "checkin.at", "checkout_at", "maintainer_signature", "maintainer_cert_no",
            "elevator_code", "idempotency_key", "fault_description", "photos", "coworker", "kind", "maint_type",
            "record"} <= fields
    with_photos = [db.session.get(WorkOrder, fast["results"][n]["work_order_id"]) for n in (41, 42)]
    assert all(o.photos for o in with_photos)                   # the per-record way in the same batch
    db.session.commit()
    assert orders_made() == before + fast["created"]

    # one audit entry for the batch lists the orders written together; the chain still verifies
    entry = db.session.scalar(select(AuditLog).where(AuditLog.event_type == "platform.upload")
                              .order_by(AuditLog.id.desc()).limit(1))
    import json
    listed = json.loads(entry.detail)["orders"]
    assert len(listed) == fast["created"] - 2 and set(listed) <= {r.get("order_no") for r in fast["results"]}
    assert verify_chain().ok

    # idempotent across batches: the same keys again answer duplicate with the original orders
    in_transaction(cred)
    again = services.ingest(cred, json_copy(records[:120]), services.Parts(files, 10 * 1024 * 1024))
    db.session.commit()
    for first, second in zip(fast["results"][:120], again["results"]):
        if first["status"] == "refused":
            assert second["status"] == "refused" and second["fields"] == first["fields"]
        else:
            assert second["status"] == "duplicate" and second["work_order_id"] == first["work_order_id"]
    assert orders_made() == before + fast["created"]
    assert verify_chain().ok


def test_a_failing_bulk_write_falls_back_to_record_by_record(app, credential, monkeypatch):
    from sqlalchemy.exc import IntegrityError
    cred = db.session.scalar(select(PlatformCredential).where(PlatformCredential.key_id == credential[0]))
    records, files = mixed_batch(100)

    def broken(*_a, **_k):
        raise IntegrityError("INSERT", {}, Exception("duplicate key value"))
    monkeypatch.setattr(services, "write_checked", broken)
    in_transaction(cred)
    body = services.ingest(cred, records, services.Parts(files, 10 * 1024 * 1024))
    assert body["created"] > 70 and body["created"] == sum(1 for r in body["results"] if r["status"] == "created")
    assert all(db.session.get(WorkOrder, r["work_order_id"]) for r in body["results"] if r["status"] == "created")
