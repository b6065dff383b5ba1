"""无需无纸化维保电梯 (§4.6.1): the application loop (return → resubmit → approve, withdraw), the flag on
approved elevators, 工单补录 that goes straight to supervision without sign-off, refusals, scope, the
API-only path and the lists."""
from __future__ import annotations

import io
import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.cases.models import Case, Task
from app.core.clock import today_local
from app.core.models import Equipment
from app.elevator_exemptions import services
from app.elevator_exemptions.models import Backfill, Exemption
from app.elevators.models import ElevatorFacts, WorkOrder
from app.elevators.services import items_for
from app.engine import runtime
from app.extensions import db
from app.security.models import AuditLog
from app.sms.models import SmsMessage
from app.taskops.models import Notification

from .conftest import JPEG, user
from .test_elevators import _restore_plans  # noqa: F401 - autouse: a back-fill marks a seeded plan done
from .test_openapi import check

REASON = "电梯机房位于地下二层，无移动网络信号，无法现场扫码签到。"


def lifts(username: str = "unit_xn") -> list[Equipment]:
    """The use unit's elevators with facts (the maintenance unit has recorded them)."""
    org_id = user(username).org_id
    return list(db.session.scalars(select(Equipment).join(ElevatorFacts, ElevatorFacts.equipment_id == Equipment.id)
                                   .where(Equipment.use_org_id == org_id).order_by(Equipment.id)))


def apply(codes: list[str], username: str = "unit_xn") -> Case:
    case = runtime.start_case("elevator_exemption", user(username), {"elevator_codes": codes, "reason": REASON})
    db.session.commit()
    return case


def open_task(case: Case) -> Task:
    return db.session.scalar(select(Task).where(Task.case_id == case.id, Task.status == "open"))


def complete(case: Case, username: str, data: dict) -> Case:
    result = runtime.complete_task(open_task(case).id, user(username), data)
    db.session.commit()
    return result


def approved(e: Equipment, days: int = 365) -> Exemption:
    case = apply([e.code])
    complete(case, "xn_supervisor", {"review_decision": "approve",
                                     "valid_until": (today_local() + timedelta(days=days)).isoformat()})
    return db.session.scalar(select(Exemption).where(Exemption.case_id == case.id))


def row_of(case: Case) -> Exemption:
    db.session.expire_all()
    return db.session.scalar(select(Exemption).where(Exemption.case_id == case.id))


def results_for(e: Equipment, maint_type: str = "HALF", fail_note: bool = True) -> list[dict]:
    facts = db.session.scalar(select(ElevatorFacts).where(ElevatorFacts.equipment_id == e.id))
    items = items_for(facts.elevator_type, maint_type)
    out = [{"item_id": i.id, "result": "ok"} for i in items]
    out[0] = {"item_id": items[0].id, "result": "fail", **({"note": "导靴磨损，已更换"} if fail_note else {})}
    return out


def backfill_body(e: Equipment, **extra) -> dict:
    body = {"equipment_id": e.id, "work_date": today_local().isoformat(),
            "start_time": "09:00", "end_time": "10:10", "maint_type": "HALF", "maintainer": "wb_qin",
            "coworker": "wb_lu", "results": results_for(e), "remark": "按纸质维保记录补录"}
    body.update(extra)
    return body


def test_apply_return_resubmit_approve_flags_the_elevators_and_tells_everyone(app):
    a, b = lifts()[:2]
    case = apply([a.code])
    row = row_of(case)
    assert row.status == "pending" and [i.equipment_id for i in row.items] == [a.id]
    task = open_task(case)
    assert (task.task_def, task.candidate_role, task.candidate_region) == ("review", "county_supervisor", "450102")
    xn = user("xn_supervisor")
    assert db.session.scalar(select(Notification).where(Notification.user_id == xn.id, Notification.case_id == case.id))
    assert db.session.scalar(select(func.count()).select_from(SmsMessage).where(
        SmsMessage.case_id == case.id, SmsMessage.template_code == "ELEVATOR_EXEMPT_APPLIED")) >= 1
    # While pending the elevator is not offered again.
    assert a.code not in {e.code for e in services.candidate_elevators(user("unit_xn"))}

    # Return needs a reason; with one the use unit hears of it.
    with pytest.raises(Exception) as err:
        complete(case, "xn_supervisor", {"review_decision": "return"})
    db.session.rollback()
    assert "opinion" in getattr(err.value, "fields", {})
    complete(case, "xn_supervisor", {"review_decision": "return", "opinion": "请补充两台电梯的情况说明。"})
    row = row_of(case)
    assert row.status == "returned" and row.returned_count == 1 and row.opinion.startswith("请补充")
    unit = user("unit_xn")
    assert db.session.scalar(select(Notification).where(Notification.user_id == unit.id, Notification.case_id == case.id,
                                                        Notification.kind == "decision"))
    task = open_task(case)
    assert (task.task_def, task.candidate_role, task.candidate_org_id) == ("revise", "use_unit", unit.org_id)

    # Resubmit with a corrected list: the same review step again.
    complete(case, "unit_xn", {"revise_action": "resubmit", "elevator_codes": [a.code, b.code],
                               "reason": REASON + "另一台同在地下车库。"})
    row = row_of(case)
    assert row.status == "pending" and sorted(i.equipment_id for i in row.items) == sorted([a.id, b.id])
    assert open_task(case).task_def == "review"
    assert services.active_exemption(a.id) is None

    until = today_local() + timedelta(days=365)
    complete(case, "xn_supervisor", {"review_decision": "approve", "valid_until": until.isoformat(),
                                     "opinion": "情况属实，同意。"})
    row = row_of(case)
    assert row.status == "approved" and row.valid_until == until and row.valid_from == today_local()
    assert services.active_exemption(a.id).id == row.id and services.active_exemption(b.id).id == row.id
    assert services.active_exemption(a.id, until + timedelta(days=1)) is None
    closed = db.session.get(Case, case.id)
    assert closed.status == "closed" and closed.outcome == "已批准"
    assert runtime.verify_case_chain(case.id) is None
    # The maintenance unit is told its elevators are flagged (in-app and SMS).
    quality = user("wb_quality")
    assert db.session.scalar(select(Notification).where(Notification.user_id == quality.id,
                                                        Notification.case_id == case.id))
    assert db.session.scalar(select(func.count()).select_from(SmsMessage).where(
        SmsMessage.case_id == case.id, SmsMessage.template_code.in_(["ELEVATOR_EXEMPT_DECIDED",
                                                                     "ELEVATOR_EXEMPT_FLAGGED"]))) >= 2
    assert db.session.scalar(select(AuditLog).where(AuditLog.object_type == "elevator_exemption",
                                                    AuditLog.object_id == str(row.id)))


def test_a_returned_application_may_be_withdrawn_and_the_elevator_is_free_again(app):
    a = lifts()[0]
    case = apply([a.code])
    complete(case, "xn_supervisor", {"review_decision": "return", "opinion": "不符合条件，请核实。"})
    complete(case, "unit_xn", {"revise_action": "withdraw"})
    assert row_of(case).status == "withdrawn"
    assert db.session.scalar(select(func.count()).select_from(AuditLog).where(
        AuditLog.object_type == "elevator_exemption", AuditLog.object_id == str(row_of(case).id))) == 2
    assert db.session.get(Case, case.id).outcome == "已撤回"
    assert a.code in {e.code for e in services.candidate_elevators(user("unit_xn"))}


def test_an_application_is_refused_for_other_units_elevators_duplicates_and_approve_needs_a_date(app):
    from app.errors import ValidationFailed
    a = lifts()[0]
    other = lifts("unit_qx")[0]
    with pytest.raises(ValidationFailed) as err:
        apply([other.code])
    assert "不是本单位" in err.value.fields["elevator_codes"]
    db.session.rollback()
    not_lift = db.session.scalar(select(Equipment).where(Equipment.use_org_id == user("unit_xn").org_id,
                                                         Equipment.kind_code != "3000"))
    with pytest.raises(ValidationFailed) as err:
        apply([not_lift.code])
    assert "不是电梯" in err.value.fields["elevator_codes"]
    db.session.rollback()
    case = apply([a.code])
    with pytest.raises(ValidationFailed) as err:
        apply([a.code])
    assert "待审核的申请" in err.value.fields["elevator_codes"]
    db.session.rollback()
    with pytest.raises(ValidationFailed) as err:
        complete(case, "xn_supervisor", {"review_decision": "approve"})
    assert "valid_until" in err.value.fields
    db.session.rollback()
    with pytest.raises(ValidationFailed):
        complete(case, "xn_supervisor", {"review_decision": "approve",
                                         "valid_until": (today_local() - timedelta(days=1)).isoformat()})
    db.session.rollback()
    assert row_of(case).status == "pending"
    complete(case, "xn_supervisor", {"review_decision": "approve",
                                     "valid_until": (today_local() + timedelta(days=30)).isoformat()})
    with pytest.raises(ValidationFailed) as err:
        apply([a.code])
    assert "已批准" in err.value.fields["elevator_codes"]


def test_the_whole_loop_through_the_api_alone(app, api):
    a, b = lifts()[:2]
    unit, bureau = api("unit_xn"), api("xn_supervisor")
    form = check(app, unit.get("/api/v1/processes/elevator_exemption"), 200)["start_form"]
    choices = form["properties"]["elevator_codes"]["items"]["enum"]
    assert a.code in choices and b.code in choices
    resp = unit.post("/api/v1/cases", json={"process_key": "elevator_exemption",
                                            "data": {"elevator_codes": [a.code], "reason": REASON}})
    case = check(app, resp, 201)
    task_id = case["open_tasks"][0]["id"]
    task = check(app, bureau.get(f"/api/v1/tasks/{task_id}"), 200)
    assert task["form"]["properties"]["review_decision"]["enum"] == ["approve", "return"]
    refused = bureau.post(f"/api/v1/tasks/{task_id}/complete", json={"data": {"review_decision": "return"}})
    assert check(app, refused, 422)["error"]["fields"]["opinion"]
    case = check(app, bureau.post(f"/api/v1/tasks/{task_id}/complete",
                                  json={"data": {"review_decision": "return", "opinion": "请补充说明。"}}), 200)
    task_id = case["open_tasks"][0]["id"]
    revise = check(app, unit.get(f"/api/v1/tasks/{task_id}"), 200)["form"]
    assert set(revise["properties"]["revise_action"]["enum"]) == {"resubmit", "withdraw"}
    assert a.code in revise["properties"]["elevator_codes"]["items"]["enum"]
    case = check(app, unit.post(f"/api/v1/tasks/{task_id}/complete", json={"data": {
        "revise_action": "resubmit", "elevator_codes": [a.code, b.code], "reason": REASON}}), 200)
    task_id = case["open_tasks"][0]["id"]
    until = (today_local() + timedelta(days=200)).isoformat()
    case = check(app, bureau.post(f"/api/v1/tasks/{task_id}/complete", json={"data": {
        "review_decision": "approve", "valid_until": until}}), 200)
    assert case["status"] == "closed" and case["outcome"] == "已批准"
    listed = check(app, unit.get("/api/v1/elevator-exemptions?status=approved"), 200)
    mine = next(i for i in listed["items"] if i["case_id"] == case["id"])
    detail = check(app, unit.get(f"/api/v1/elevator-exemptions/{mine['id']}"), 200)
    assert detail["valid_until"] == until and {e["code"] for e in detail["elevators"]} == {a.code, b.code}
    assert detail["approval_no"] == detail["app_no"]
    flagged = check(app, api("wb_quality").get("/api/v1/elevator-exemptions/elevators?valid=valid"), 200)
    assert {a.code, b.code} <= {e["code"] for e in flagged["items"]}


def test_backfill_goes_straight_to_supervision_without_sign_off(app, api):
    a = lifts()[0]
    exemption = approved(a)
    quality = api("wb_quality")
    form = check(app, quality.get(f"/api/v1/elevator-exemptions/backfill-form?equipment_id={a.id}&maint_type=HALF"), 200)
    assert a.code in {e["code"] for e in form["elevators"]} and form["items"]
    assert {"wb_qin", "wb_lu"} <= {m["username"] for m in form["maintainers"]}
    upload = check(app, quality.post("/api/v1/attachments", data={"file": (io.BytesIO(JPEG), "纸质工单.jpg")},
                                     content_type="multipart/form-data"), 201)
    body = backfill_body(a, attachment_ids=[upload["id"]], client_id="paper-0001")
    created = check(app, quality.post("/api/v1/elevator-exemptions/backfills", json=body), 201)
    assert created["status"] == "archived" and created["app_no"] == exemption.app_no
    assert created["attachment_ids"] == [upload["id"]] and created["duplicate"] is False
    order = db.session.get(WorkOrder, created["id"])
    assert order.case_id is None and order.quality_signed_by_id is None and order.safety_signed_by_id is None
    assert order.checkin_proof == "backfill" and order.archived_at is not None and len(order.results) == len(body["results"])
    # Idempotent by client id.
    again = check(app, quality.post("/api/v1/elevator-exemptions/backfills", json=body), 200)
    assert again["id"] == created["id"] and again["duplicate"] is True
    assert db.session.scalar(select(func.count()).select_from(Backfill)) == 1
    # Visible to the regulator at once, in the back-fill list and in the elevator's records.
    bureau = api("xn_supervisor")
    listed = check(app, bureau.get("/api/v1/elevator-exemptions/backfills"), 200)
    assert [i["order_no"] for i in listed["items"]] == [order.order_no]
    records = check(app, bureau.get(f"/api/v1/elevators/work-orders?equipment_id={a.id}&status=archived"), 200)
    assert order.order_no in {r["order_no"] for r in records["items"]}
    detail = check(app, bureau.get(f"/api/v1/elevator-exemptions/backfills/{order.id}"), 200)
    assert detail["results"][0]["result"] == "fail" and detail["maintainer"].startswith("覃维保")
    assert db.session.scalar(select(AuditLog).where(AuditLog.object_type == "elevator_work_order",
                                                    AuditLog.object_id == str(order.id)))
    # Another region or unit sees nothing.
    assert check(app, api("qx_supervisor").get("/api/v1/elevator-exemptions/backfills"), 200)["total"] == 0
    check(app, api("qx_supervisor").get(f"/api/v1/elevator-exemptions/backfills/{order.id}"), 404)
    check(app, api("unit_qx").get(f"/api/v1/elevator-exemptions/{exemption.id}"), 404)
    assert check(app, api("nn_city").get(f"/api/v1/elevator-exemptions/{exemption.id}"), 200)["id"] == exemption.id


def test_backfill_is_refused_for_an_elevator_that_is_not_exempt_and_for_bad_input(app, api):
    a, b = lifts()[:2]
    approved(a, days=30)
    quality = api("wb_quality")
    refused = check(app, quality.post("/api/v1/elevator-exemptions/backfills", json=backfill_body(b)), 409)
    assert refused["error"]["code"] == "not_exempt"
    # Before the unit applied (outside the validity) is refused the same way.
    early = backfill_body(a, work_date=(today_local() - timedelta(days=1)).isoformat())
    assert check(app, quality.post("/api/v1/elevator-exemptions/backfills", json=early), 409)["error"]["code"] == "not_exempt"
    today = backfill_body(a, work_date=today_local().isoformat())
    fields = check(app, quality.post("/api/v1/elevator-exemptions/backfills", json={
        **today, "end_time": "08:00", "maintainer": "wb_mo", "results": results_for(a, fail_note=False)[:3]}), 422)["error"]["fields"]
    assert "end_time" in fields and "证书已过期" in fields["maintainer"] and "results.0.note" in fields
    future = backfill_body(a, work_date=(today_local() + timedelta(days=1)).isoformat())
    assert "work_date" in check(app, quality.post("/api/v1/elevator-exemptions/backfills", json=future), 422)["error"]["fields"]
    assert check(app, api("unit_xn").post("/api/v1/elevator-exemptions/backfills", json=today), 403)
    other = lifts("unit_qx")[0]
    if other.maintenance_org_id != user("wb_quality").org_id:
        check(app, quality.post("/api/v1/elevator-exemptions/backfills", json=backfill_body(other)), 404)
    assert db.session.scalar(select(func.count()).select_from(Backfill)) == 0
    assert db.session.scalar(select(func.count()).select_from(WorkOrder).where(WorkOrder.checkin_proof == "backfill")) == 0


def test_the_desktop_backfill_form_checks_uploads_by_decoding(app, web):
    a = lifts()[0]
    approved(a)
    page = web("wb_quality")
    html = page.get(f"/elevators/exemptions/backfills/new?equipment_id={a.id}&maint_type=HALF").get_data(as_text=True)
    assert 'data-testid="backfill-items"' in html
    facts = db.session.scalar(select(ElevatorFacts).where(ElevatorFacts.equipment_id == a.id))
    items = items_for(facts.elevator_type, "HALF")
    form = {"equipment_id": str(a.id), "maint_type": "HALF", "work_date": today_local().isoformat(),
            "start_time": "14:00", "end_time": "15:00", "maintainer": str(user("wb_qin").id), "remark": "纸质工单补录"}
    form.update({f"r_{i.id}": "ok" for i in items})
    bad = page.post("/elevators/exemptions/backfills/new", data={**form, "files": (io.BytesIO(b"not a picture"), "scan.jpg")},
                    content_type="multipart/form-data")
    assert bad.status_code == 422
    assert db.session.scalar(select(func.count()).select_from(Backfill)) == 0
    ok = page.post("/elevators/exemptions/backfills/new", data={**form, "files": (io.BytesIO(JPEG), "scan.jpg")},
                   content_type="multipart/form-data")
    assert ok.status_code == 302, ok.get_data(as_text=True)[:2000]
    bf = db.session.scalar(select(Backfill))
    ids = json.loads(bf.attachment_ids)
    assert len(ids) == 1
    detail = page.get(ok.location).get_data(as_text=True)
    assert "已归档" in detail and "scan.jpg" in detail
    assert page.get(f"/elevators/exemptions/backfills/{bf.work_order_id}/files/{ids[0]}").status_code == 200
    assert web("qx_supervisor").get(f"/elevators/exemptions/backfills/{bf.work_order_id}/files/{ids[0]}").status_code == 404


def test_lists_are_scoped_searchable_and_export(app, web):
    a = lifts()[0]
    ex = approved(a)
    pending = apply([lifts()[1].code])
    for username, sees in (("xn_supervisor", True), ("nn_city", True), ("unit_xn", True), ("wb_quality", True),
                           ("qx_supervisor", False), ("unit_qx", False)):
        page = web(username)
        html = page.get("/elevators/exemptions").get_data(as_text=True)
        assert (ex.app_no in html) is sees, username
        html = page.get("/elevators/exemptions/elevators?valid=valid").get_data(as_text=True)
        assert (a.code in html) is sees, username
    page = web("xn_supervisor")
    html = page.get("/elevators/exemptions?status=pending").get_data(as_text=True)
    assert row_of(pending).app_no in html and ex.app_no not in html
    html = page.get(f"/elevators/exemptions?q={a.code}&region=450102").get_data(as_text=True)
    assert ex.app_no in html
    for url in ("/elevators/exemptions/export.xlsx", "/elevators/exemptions/elevators/export.xlsx",
                "/elevators/exemptions/backfills/export.xlsx"):
        resp = page.get(url)
        assert resp.status_code == 200 and resp.data[:2] == b"PK", url
    detail = page.get(f"/elevators/exemptions/{ex.id}").get_data(as_text=True)
    assert a.code in detail and "有效期" in detail
    assert web("qx_supervisor").get(f"/elevators/exemptions/{ex.id}").status_code == 404
    # The flag shows on the elevator's profile page.
    profile = page.get(f"/registry/devices/{a.id}").get_data(as_text=True)
    assert 'data-testid="exemption-flag"' in profile and "无需无纸化维保" in profile and ex.app_no in profile
    # A use unit may not open the back-fill form.
    assert web("unit_xn").get("/elevators/exemptions/backfills/new").status_code == 403


def test_an_app_visit_of_an_exempt_elevator_skips_the_quality_sign_off(app, api):
    """§4.6.1.2: even when the contract asks for the quality manager, an exempt elevator's order is
    archived after the use unit's confirmation."""
    from app.elevators import services as elevators

    from .test_elevators import _task, checkin_body, fill_items, finish_body, first_lift, signature_png
    e, _f = next((e, f) for e, f in [first_lift(i) for i in range(6)]
                  if elevators.active_contract(e.id).quality_sign_required and e.use_org_id == user("unit_xn").org_id)
    approved(e)
    a = api("wb_qin")
    order_id = check(app, a.post("/api/v1/elevators/work-orders", json=checkin_body(e, 30)), 201)["id"]
    fill_items(a, order_id, e)
    assert a.post(f"/api/v1/elevators/work-orders/{order_id}/finish", json=finish_body(e)).status_code == 200
    order = db.session.get(WorkOrder, order_id)
    task = _task(order.case_id, "confirm")
    resp = api("wy_xn").post(f"/api/v1/tasks/{task.id}/complete", json={"data": {"confirm_decision": "confirm"},
                                                                        "signature": signature_png()})
    assert resp.status_code == 200, resp.get_json()
    db.session.expire_all()
    assert order.status == "archived" and order.quality_signed_by_id is None
    assert _task(order.case_id, "quality_sign") is None


def test_the_demo_seed_makes_an_exempt_lift_with_a_backfill_and_an_application_to_review(app):
    from app.elevator_exemptions.demo import seed_exemptions
    assert seed_exemptions() == 2
    db.session.commit()
    rows = list(db.session.scalars(select(Exemption).order_by(Exemption.id)))
    assert [r.status for r in rows] == ["approved", "pending"]
    assert services.active_exemption(rows[0].items[0].equipment_id) is not None
    assert db.session.scalar(select(func.count()).select_from(Backfill)) == 1
    assert open_task(db.session.get(Case, rows[1].case_id)).candidate_region == "450102"
    assert seed_exemptions() == 0                       # idempotent


def test_the_elevator_archive_list_tags_exempt_elevators(app, web):
    a = lifts()[0]
    page = web("wb_quality")
    assert "无需无纸化维保</span>" not in page.get(f"/elevators?q={a.code}").get_data(as_text=True)
    approved(a)
    html = page.get(f"/elevators?q={a.code}").get_data(as_text=True)
    assert 'class="tag tag-ex-approved"' in html and "无需无纸化维保</span>" in html
