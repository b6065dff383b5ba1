"""The 准入一体化平台 as our contract says it answers (docs/气瓶追溯.md §5), and small builders for cylinder
tests. `FakeAuthority.mode`: "accept" (registered at once), "reject" (with a reason), "later" (accepted,
decided by a callback the test sends with `callback`), "error" (HTTP 503)."""
from __future__ import annotations

import json
from datetime import date, timedelta

from sqlalchemy import select

from app.core.external import sign_request, verify_request
from app.extensions import db

from .conftest import upload, user
from .fakes import FakeServer

APP_KEY, SECRET = "gx-tzsb", "s3cret"
CALLBACK = "/api/v1/cylinders/authority/callback"


class FakeAuthority:
    def __init__(self, server: FakeServer):
        self.server = server
        self.mode = "accept"
        self.reason = "使用登记表式样三未加盖公章"
        self.checks: list[bool] = []
        self.status: dict[str, dict] = {}     # receipt -> answer a status query gets
        self.count = 0

    @property
    def received(self):
        return self.server.received

    def submissions(self):
        return [r for r in self.server.received if r.method == "POST"]

    def handle(self, req):
        check = verify_request(req.headers, req.method, req.path, req.body,
                               lambda key: SECRET if key == APP_KEY else None)
        self.checks.append(check.ok)
        if not check.ok:
            return 401, {"code": "bad_signature", "message": check.reason}
        if self.mode == "error":
            return 503, {"code": "busy", "message": "系统繁忙"}
        self.count += 1
        body = req.json
        receipt = f"ZR{self.count:06d}"
        if self.mode == "accept":
            return 200, {"result": "registered", "receipt_no": receipt, "registration_no": f"瓶桂A{self.count:05d}",
                         "items": [{"trace_code": c["trace_code"], "registration_code": f"QP{c['trace_code']}"}
                                   for c in body["cylinders"]]}
        if self.mode == "reject":
            return 200, {"result": "rejected", "receipt_no": receipt, "reason": self.reason}
        self.status[receipt] = {"result": "accepted", "receipt_no": receipt}
        return 202, {"result": "accepted", "receipt_no": receipt, "expected_by": "2026-12-31"}

    def query(self, req):
        receipt = req.path.split("?")[0].rsplit("/", 1)[-1]
        answer = self.status.get(receipt)
        return (200, answer) if answer else (404, {"code": "not_found", "message": "无此受理编号"})

    def callback(self, client, application_no: str, receipt_no: str, result: str = "registered",
                 reason: str | None = None, secret: str = SECRET, nonce: str | None = None):
        body = {"application_no": application_no, "receipt_no": receipt_no, "result": result, "reason": reason,
                "registration_no": "瓶桂A99999" if result == "registered" else None}
        raw = json.dumps(body, ensure_ascii=False).encode("utf-8")
        headers = sign_request(APP_KEY, secret, "POST", CALLBACK, raw, nonce=nonce)
        return client.post(CALLBACK, data=raw, headers={**headers, "Content-Type": "application/json"})


def authority(app, monkeypatch):
    fake_holder = {}

    def post(req):
        return fake_holder["fake"].handle(req)

    def get(req):
        return fake_holder["fake"].query(req)
    server = FakeServer({("POST", "/v1/cylinder-registrations"): post, ("GET", "/v1/cylinder-registrations/*"): get})
    fake = FakeAuthority(server)
    fake_holder["fake"] = fake
    for key, value in (("PROVIDER", "http"), ("APP_KEY", APP_KEY), ("SECRET", SECRET), ("URL", server.url)):
        monkeypatch.setitem(app.config, f"EXTERNAL_REGISTRATION_AUTHORITY_{key}", value)
    return server, fake


def org_of(username: str):
    return user(username).org


def new_cylinder(owner: str = "cyl_filler", code: str = "GXQP-T-0001", **overrides):
    from app.cylinders import services
    raw = {"trace_code": code, "factory_no": "T" + code[-5:], "kind": "civil_lpg", "medium": "液化石油气",
           "volume_l": "35.5", "nominal_pressure_mpa": "2.1",
           "manufacture_date": (date.today() - timedelta(days=30)).isoformat(), "design_life_years": "8",
           "next_inspection_date": (date.today() + timedelta(days=3 * 365)).isoformat(), **overrides}
    c = services.add_cylinder(user(owner), raw)
    db.session.commit()
    return c


def documents(username: str, agency: bool = False) -> dict:
    keys = ["doc_agreement", "doc_filler_certificate", "doc_registration_form", "doc_summary_table"]
    if agency:
        keys.append("doc_uscc_proof")
    from .conftest import JPEG
    return {k: [upload(username, JPEG, f"{k}.jpg")] for k in keys}


def demo_batch():
    from app.cylinders.models import CylinderBatch
    return db.session.scalar(select(CylinderBatch).where(CylinderBatch.batch_no == "PH2026-DEMO-01"))
