"""Use registration as cases against the fake 准入一体化平台: a batch from the factory record through 代办 to
registered; a rejection with its reason and the resubmission; a later decision by signed callback (and a
replayed or forged callback refused); a status poll on the timer; stop → scrap → cancel; errors leave
nothing half-done."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from app.cases.models import Case, Task
from app.core.clock import utcnow
from app.cylinders import services
from app.cylinders.models import Cylinder, CylinderApplication
from app.engine import runtime
from app.errors import DomainError, ValidationFailed
from app.extensions import db

from .conftest import open_task, user
from .cylinder_helpers import authority, documents, new_cylinder, org_of


@pytest.fixture
def fake(app, monkeypatch):
    server, fake = authority(app, monkeypatch)
    with server:
        yield fake


def make_batch(codes=("GXQP-B-0001", "GXQP-B-0002", "GXQP-B-0003"), batch_no="PH-T-01"):
    maker = user("cyl_maker")
    batch = services.create_batch(maker, {
        "batch_no": batch_no, "product_name": "YSP15 液化石油气钢瓶", "kind": "civil_lpg", "medium": "液化石油气",
        "volume_l": "35.5", "nominal_pressure_mpa": "2.1", "manufacture_date": "2026-10-01",
        "design_life_years": "8", "client_uscc": org_of("cyl_filler").uscc})
    for n, code in enumerate(codes):
        services.add_cylinder(maker, {"trace_code": code, "factory_no": f"F{n:05d}", "kind": "civil_lpg",
                                      "medium": "液化石油气", "volume_l": "35.5", "nominal_pressure_mpa": "2.1",
                                      "manufacture_date": "2026-10-01", "design_life_years": "8"}, batch=batch)
    db.session.commit()
    return batch


def start(key, username, data):
    case = runtime.start_case(key, user(username), data)
    db.session.commit()
    return case


def prepare(case, username, **extra):
    task = open_task(case)
    assert task.task_def == "prepare"
    runtime.complete_task(task.id, user(username), {"decision": "submit", **extra})
    db.session.commit()
    db.session.expire_all()
    return db.session.get(Case, case.id)


def application(case) -> CylinderApplication:
    return db.session.scalar(select(CylinderApplication).where(CylinderApplication.case_id == case.id))


def states(codes):
    return {c.trace_code: (c.reg_state, c.status) for c in
            db.session.scalars(select(Cylinder).where(Cylinder.trace_code.in_(codes)))}


CODES = ("GXQP-B-0001", "GXQP-B-0002", "GXQP-B-0003")


def test_a_batch_from_the_factory_record_through_agency_to_registered(fake):
    batch = make_batch()
    case = start("cylinder_agency_registration", "cyl_maker", {"batch_id": batch.id})
    task = open_task(case)
    maker, filler = org_of("cyl_maker"), org_of("cyl_filler")
    assert (task.candidate_role, task.candidate_org_id) == ("cylinder_maker", maker.id)
    assert case.org_id == filler.id and case.region_code == filler.region_code
    app_row = application(case)
    assert app_row.business == "register" and app_row.agent_org_id == maker.id and len(app_row.items) == 3
    with pytest.raises(ValidationFailed) as err:           # five documents are required to submit
        runtime.complete_task(task.id, user("cyl_maker"), {"decision": "submit"})
    assert set(err.value.fields) == {"doc_agreement", "doc_filler_certificate", "doc_registration_form",
                                     "doc_summary_table", "doc_uscc_proof"}
    db.session.rollback()
    assert states(CODES) == {c: ("unregistered", "in_use") for c in CODES}
    case = prepare(case, "cyl_maker", **documents("cyl_maker", agency=True))
    assert (case.status, case.outcome) == ("closed", "已办结")
    assert states(CODES) == {c: ("registered", "in_use") for c in CODES}
    assert db.session.scalar(select(Cylinder.registration_no).where(Cylinder.trace_code == CODES[0])) == f"QP{CODES[0]}"
    app_row = application(case)
    assert (app_row.status, app_row.receipt_no, app_row.certificate_no) == ("done", "ZR000001", "瓶桂A00001")
    [sent] = fake.submissions()
    assert fake.checks == [True] and sent.headers["Idempotency-Key"] == f"cylinder-application-{app_row.id}-1"
    body = sent.json
    assert body["business_type"] == "first_registration" and body["agent"]["uscc"] == maker.uscc
    assert body["use_unit"]["uscc"] == filler.uscc and body["use_unit"]["filling_licence_no"] == "TS4245001-DEMO"
    assert sorted(c["trace_code"] for c in body["cylinders"]) == list(CODES)
    assert sorted(d["type"] for d in body["documents"]) == sorted(
        ["doc_agreement", "doc_filler_certificate", "doc_registration_form", "doc_summary_table", "doc_uscc_proof"])
    assert body["callback_url"].endswith("/api/v1/cylinders/authority/callback")
    assert runtime.verify_case_chain(case.id) is None


def test_a_rejection_returns_with_its_reason_and_a_resubmission_registers(fake):
    batch = make_batch(("GXQP-R-0001",), "PH-T-02")
    case = start("cylinder_agency_registration", "cyl_maker", {"batch_id": batch.id})
    fake.mode = "reject"
    case = prepare(case, "cyl_maker", **documents("cyl_maker", agency=True))
    assert case.status == "running" and open_task(case).task_def == "prepare"
    row = application(case)
    assert (row.status, row.authority_result, row.authority_reason) == ("rejected", "rejected", fake.reason)
    assert states(["GXQP-R-0001"]) == {"GXQP-R-0001": ("unregistered", "in_use")}
    fake.mode = "accept"
    case = prepare(case, "cyl_maker", **documents("cyl_maker", agency=True))
    assert (case.status, case.outcome) == ("closed", "已办结")
    assert states(["GXQP-R-0001"]) == {"GXQP-R-0001": ("registered", "in_use")}
    assert [r.headers["Idempotency-Key"][-2:] for r in fake.submissions()] == ["-1", "-2"]
    from app.taskops.models import Notification
    notes = {(n.user_id, n.kind) for n in db.session.scalars(select(Notification).where(Notification.case_id == case.id))}
    assert {(user("cyl_maker").id, "rework"), (user("cyl_filler").id, "rework"), (user("cyl_maker").id, "closed"),
            (user("cyl_filler").id, "closed")} <= notes


def test_a_later_decision_arrives_by_signed_callback(fake, client):
    batch = make_batch(("GXQP-L-0001", "GXQP-L-0002"), "PH-T-03")
    case = start("cylinder_agency_registration", "cyl_maker", {"batch_id": batch.id})
    fake.mode = "later"
    case = prepare(case, "cyl_maker", **documents("cyl_maker", agency=True))
    row = application(case)
    assert case.status == "running" and not db.session.scalars(select(Task).where(
        Task.case_id == case.id, Task.status == "open")).all()          # waiting on the authority, no one's task
    assert row.status == "submitted" and row.receipt_no == "ZR000001"
    assert states(["GXQP-L-0001"]) == {"GXQP-L-0001": ("pending", "in_use")}
    forged = fake.callback(client, row.application_no, row.receipt_no, secret="wrong")
    assert forged.status_code == 401 and forged.get_json()["error"]["code"] == "bad_signature"
    wrong_receipt = fake.callback(client, row.application_no, "ZR999999")
    assert wrong_receipt.status_code == 422
    resp = fake.callback(client, row.application_no, row.receipt_no, nonce="nonce-once-0001")
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["woke"] is True
    db.session.expire_all()
    case = db.session.get(Case, case.id)
    assert (case.status, case.outcome) == ("closed", "已办结")
    assert states(["GXQP-L-0001", "GXQP-L-0002"]) == {c: ("registered", "in_use") for c in ("GXQP-L-0001", "GXQP-L-0002")}
    replay = fake.callback(client, row.application_no, row.receipt_no, nonce="nonce-once-0001")
    assert replay.status_code == 409 and replay.get_json()["error"]["code"] == "replayed"
    again = fake.callback(client, row.application_no, row.receipt_no)          # the same answer, a new nonce
    assert again.status_code == 200 and again.get_json()["duplicate"] is True
    contrary = fake.callback(client, row.application_no, row.receipt_no, result="rejected", reason="材料不全")
    assert contrary.status_code == 409


def test_a_later_rejection_by_callback_returns_to_the_applicant(fake, client):
    batch = make_batch(("GXQP-L-0101",), "PH-T-04")
    case = start("cylinder_agency_registration", "cyl_maker", {"batch_id": batch.id})
    fake.mode = "later"
    case = prepare(case, "cyl_maker", **documents("cyl_maker", agency=True))
    row = application(case)
    missing_reason = fake.callback(client, row.application_no, row.receipt_no, result="rejected")
    assert missing_reason.status_code == 422
    resp = fake.callback(client, row.application_no, row.receipt_no, result="rejected", reason="委托协议已过期")
    assert resp.status_code == 200
    db.session.expire_all()
    assert open_task(db.session.get(Case, case.id)).task_def == "prepare"
    row = application(case)
    assert (row.status, row.authority_reason) == ("rejected", "委托协议已过期")
    assert states(["GXQP-L-0101"]) == {"GXQP-L-0101": ("unregistered", "in_use")}


def test_the_wait_polls_the_authority_when_no_callback_comes(fake):
    import time_machine
    batch = make_batch(("GXQP-P-0001",), "PH-T-05")
    case = start("cylinder_agency_registration", "cyl_maker", {"batch_id": batch.id})
    fake.mode = "later"
    case = prepare(case, "cyl_maker", **documents("cyl_maker", agency=True))
    receipt = application(case).receipt_no
    with time_machine.travel(utcnow() + timedelta(minutes=31), tick=False):
        runtime.fire_timers(runtime.lock_case(case.id))          # still being handled: waits again
        db.session.commit()
    assert application(case).status == "submitted" and db.session.get(Case, case.id).status == "running"
    fake.status[receipt] = {"result": "registered", "receipt_no": receipt, "registration_no": "瓶桂A77777"}
    with time_machine.travel(utcnow() + timedelta(minutes=63), tick=False):
        runtime.fire_timers(runtime.lock_case(case.id))
        db.session.commit()
    db.session.expire_all()
    assert db.session.get(Case, case.id).outcome == "已办结"
    assert states(["GXQP-P-0001"]) == {"GXQP-P-0001": ("registered", "in_use")}
    assert [r.method for r in fake.received] == ["POST", "GET", "GET"]


def register_own(fake, code):
    new_cylinder("cyl_filler", code)
    case = start("cylinder_registration", "cyl_filler", {"business": "register", "trace_codes": [code]})
    assert open_task(case).candidate_org_id == org_of("cyl_filler").id
    fake.mode = "accept"
    return prepare(case, "cyl_filler", **documents("cyl_filler"))


def test_stop_scrap_cancel_and_the_code_is_never_reused(fake):
    code = "GXQP-S-0001"
    case = register_own(fake, code)
    assert case.outcome == "已办结" and states([code]) == {code: ("registered", "in_use")}
    with pytest.raises(ValidationFailed) as err:       # scrap/stop/cancel need a reason
        runtime.start_case("cylinder_registration", user("cyl_filler"), {"business": "stop", "trace_codes": [code]})
    assert "reason" in err.value.fields
    db.session.rollback()
    with pytest.raises(ValidationFailed) as err:       # a cancelled-only business cannot take an unregistered one
        new_cylinder("cyl_filler", "GXQP-S-0002")
        runtime.start_case("cylinder_registration", user("cyl_filler"),
                           {"business": "scrap", "reason": "腐蚀", "trace_codes": ["GXQP-S-0002"]})
    assert "待登记" in err.value.fields["trace_codes"]
    db.session.rollback()
    for business, status in (("stop", "stopped"), ("scrap", "scrapped"), ("cancel", "cancelled")):
        case = start("cylinder_registration", "cyl_filler", {"business": business, "reason": "到期停用报废",
                                                             "trace_codes": [code]})
        case = prepare(case, "cyl_filler", **documents("cyl_filler"))
        assert case.outcome == "已办结"
        assert states([code]) == {code: ("registered", status)}
    assert [r.json["business_type"] for r in fake.submissions()] == ["first_registration", "stop", "scrap", "cancel"]
    with pytest.raises(ValidationFailed) as err:       # the code of a cancelled cylinder is never given again
        new_cylinder("cyl_filler", code)
    assert "溯源码" in err.value.fields["trace_code"]
    db.session.rollback()
    with pytest.raises(DomainError):                   # a registered cylinder is not deleted
        services.delete_cylinder(user("cyl_filler"), db.session.scalar(select(Cylinder).where(Cylinder.trace_code == code)))
    db.session.rollback()


def test_one_cylinder_is_in_one_open_application_at_a_time(fake):
    new_cylinder("cyl_filler", "GXQP-O-0001")
    start("cylinder_registration", "cyl_filler", {"business": "register", "trace_codes": ["GXQP-O-0001"]})
    with pytest.raises(ValidationFailed) as err:
        runtime.start_case("cylinder_registration", user("cyl_filler"),
                           {"business": "register", "trace_codes": ["GXQP-O-0001"]})
    assert "另一份" in err.value.fields["trace_codes"]
    db.session.rollback()
    with pytest.raises(ValidationFailed):              # another filler's cylinder
        runtime.start_case("cylinder_registration", user("cyl_filler_b"),
                           {"business": "register", "trace_codes": ["GXQP-O-0001"]})
    db.session.rollback()


def test_an_unreachable_authority_changes_nothing(fake):
    new_cylinder("cyl_filler", "GXQP-E-0001")
    case = start("cylinder_registration", "cyl_filler", {"business": "register", "trace_codes": ["GXQP-E-0001"]})
    fake.mode = "error"
    task = open_task(case)
    with pytest.raises(DomainError) as err:
        runtime.complete_task(task.id, user("cyl_filler"), {"decision": "submit", **documents("cyl_filler")})
    assert err.value.status == 502 and "稍后再提交" in err.value.message
    db.session.rollback()
    assert open_task(db.session.get(Case, case.id)).id == task.id
    assert application(case).status == "draft"
    assert states(["GXQP-E-0001"]) == {"GXQP-E-0001": ("unregistered", "in_use")}


def test_withdrawal_releases_the_cylinders(fake):
    new_cylinder("cyl_filler", "GXQP-W-0001")
    case = start("cylinder_registration", "cyl_filler", {"business": "register", "trace_codes": ["GXQP-W-0001"]})
    runtime.complete_task(open_task(case).id, user("cyl_filler"), {"decision": "withdraw"})
    db.session.commit()
    assert db.session.get(Case, case.id).outcome == "已撤回"
    assert application(case).status == "withdrawn" and not fake.received
    start("cylinder_registration", "cyl_filler", {"business": "register", "trace_codes": ["GXQP-W-0001"]})


def test_agency_and_stop_run_through_the_api_alone(fake, api):
    """A third-party system: read the forms, start 代办 with a batch, upload the documents, complete the
    step; then the filler stops the cylinder — every step over /api/v1."""
    import io

    from .conftest import JPEG
    from .test_cylinders_registration import make_batch as _batch
    batch = _batch(("GXQP-A-0001",), "PH-T-API")
    m, f = api("cyl_maker"), api("cyl_filler")
    detail = m.get("/api/v1/processes/cylinder_agency_registration").get_json()
    assert detail["can_start"] is True and detail["start_form"]["properties"]["batch_id"]["x-lookup"].startswith(
        "/api/v1/cylinders/batches")
    assert f.get("/api/v1/processes/cylinder_agency_registration").get_json()["can_start"] is False
    lookup = m.get("/api/v1/cylinders/batches?q=PH-T-API").get_json()
    assert [b["id"] for b in lookup["items"]] == [batch.id]
    resp = m.post("/api/v1/cases", json={"process_key": "cylinder_agency_registration", "data": {"batch_id": batch.id}})
    assert resp.status_code == 201, resp.get_json()
    task_id = resp.get_json()["open_tasks"][0]["id"]
    form = m.get(f"/api/v1/tasks/{task_id}").get_json()["form"]
    assert form["properties"]["decision"]["enum"] == ["submit", "withdraw"]
    docs = {}
    for key in ("doc_agreement", "doc_filler_certificate", "doc_registration_form", "doc_summary_table",
                "doc_uscc_proof"):
        up = m.post("/api/v1/attachments", data={"file": (io.BytesIO(JPEG), f"{key}.jpg")},
                    content_type="multipart/form-data")
        docs[key] = [up.get_json()["id"]]
    done = m.post(f"/api/v1/tasks/{task_id}/complete", json={"data": {"decision": "submit", **docs}})
    assert done.status_code == 200 and done.get_json()["outcome"] == "已办结"
    cylinder = f.get("/api/v1/cylinders/trace/GXQP-A-0001").get_json()
    assert cylinder["reg_state"] == "registered" and cylinder["registration_no"] == "QPGXQP-A-0001"
    start = f.get("/api/v1/processes/cylinder_registration").get_json()["start_form"]
    assert start["properties"]["trace_codes"]["x-lookup"] == "/api/v1/cylinders?q="
    assert start["properties"]["business"]["ui:enumNames"] == ["使用登记", "停用", "报废", "注销"]
    resp = f.post("/api/v1/cases", json={"process_key": "cylinder_registration", "data": {
        "business": "stop", "reason": "暂停使用", "trace_codes": ["GXQP-A-0001"]}})
    assert resp.status_code == 201, resp.get_json()
    task_id = resp.get_json()["open_tasks"][0]["id"]
    docs.pop("doc_uscc_proof")
    for key in docs:
        docs[key] = [f.post("/api/v1/attachments", data={"file": (io.BytesIO(JPEG), f"{key}.jpg")},
                            content_type="multipart/form-data").get_json()["id"]]
    done = f.post(f"/api/v1/tasks/{task_id}/complete", json={"data": {"decision": "submit", **docs}})
    assert done.status_code == 200 and done.get_json()["outcome"] == "已办结"
    assert f.get("/api/v1/cylinders/trace/GXQP-A-0001").get_json()["status"] == "stopped"
    apps = f.get("/api/v1/cylinders/applications").get_json()["items"]
    assert {a["business_label"] for a in apps if a["status"] == "done"} >= {"使用登记（代办）", "停用"}


def test_the_development_adapter_never_says_registered_and_the_simulated_callback_decides(app, monkeypatch):
    """Without a configured authority the local adapter only records the request (accepted, pending);
    `flask cylinders authority-callback` signs a decision and delivers it through the real receiver."""
    import os

    from app.cylinders.registration import simulate_callback
    for key in ("PROVIDER", "URL", "APP_KEY", "SECRET"):
        monkeypatch.delitem(app.config, f"EXTERNAL_REGISTRATION_AUTHORITY_{key}", raising=False)
        monkeypatch.delenv(f"EXTERNAL_REGISTRATION_AUTHORITY_{key}", raising=False)
    new_cylinder("cyl_filler", "GXQP-D-0001")
    case = start("cylinder_registration", "cyl_filler", {"business": "register", "trace_codes": ["GXQP-D-0001"]})
    case = prepare(case, "cyl_filler", **documents("cyl_filler"))
    row = application(case)
    assert (case.status, row.status, row.receipt_no) == ("running", "submitted", f"LOCAL-{row.application_no}")
    assert states(["GXQP-D-0001"]) == {"GXQP-D-0001": ("pending", "in_use")}
    outbox = os.path.join(app.config["INSTANCE_DIR"], "authority_outbox.log")
    assert row.application_no in open(outbox, encoding="utf-8").read()
    result = simulate_callback(row.application_no, "registered")
    db.session.commit()
    assert result["woke"] is True and "EXTERNAL_REGISTRATION_AUTHORITY_SECRET" not in app.config
    db.session.expire_all()
    assert db.session.get(Case, case.id).outcome == "已办结"
    assert states(["GXQP-D-0001"]) == {"GXQP-D-0001": ("registered", "in_use")}
