"""超期未检处置 (workflows/overdue_inspection.bpmn): every disposal path to its end state, every automatic
todo by moving the clock, 公告注销 through the local head, the city and the province to the public page and
the registration authority, the instruction letter, and the start refusals."""
from __future__ import annotations

import json

import pytest
import time_machine
from sqlalchemy import select

from app.cases.models import Case
from app.core.models import Equipment
from app.engine import runtime
from app.errors import Forbidden, ValidationFailed
from app.extensions import db
from app.overdue.models import Announcement, AuthorityMessage, OverdueAction, OverdueDisposal
from app.scheduler.jobs import run_job
from app.sms.models import SmsMessage

from .conftest import PDF, upload, user
from .registry_helpers import agency, days, make_device
from .test_scheduler import local, open_tasks



def overdue_device(late: int = 20, **facts) -> Equipment:
    e = make_device(variety="3110", org=user("unit_xn").org, next_due=days(-late), **facts)
    db.session.commit()
    return e


def start(device: Equipment, who: str = "xn_supervisor") -> Case:
    case = runtime.start_case("overdue_inspection", user(who), {"equipment_code": device.code, "note": "专项整治排查发现"})
    db.session.commit()
    return case


def do(case: Case, task_def: str, username: str, data: dict) -> None:
    runtime.complete_task(open_tasks(case)[task_def].id, user(username), data)
    db.session.commit()


def disposal(case: Case) -> OverdueDisposal:
    db.session.expire_all()
    return db.session.scalar(select(OverdueDisposal).where(OverdueDisposal.case_id == case.id))


def actions(device: Equipment) -> list[str]:
    return list(db.session.scalars(select(OverdueAction.action).where(OverdueAction.equipment_id == device.id)
                                   .order_by(OverdueAction.id)))


def report_form(**kw) -> dict:
    data = {"report_no": f"CQ-{days(0)}-{id(kw)}", "report_agency": str(agency().id), "inspection_type": "periodic",
            "inspected_on": days(-1).isoformat(), "conclusion": "合格", "next_due_date": days(364).isoformat()}
    data.update(kw)
    return data


def fire_at(day, hour=9):
    with time_machine.travel(local(day, hour), tick=False):
        run_job("timers")


def sms(device: Equipment, template: str) -> list[SmsMessage]:
    return list(db.session.scalars(select(SmsMessage).where(SmsMessage.equipment_id == device.id,
                                                            SmsMessage.template_code == template)))


# ------------------------------------------------------------------ start

def test_start_is_refused_unless_the_device_is_overdue_in_scope_and_not_under_disposal():
    fine = make_device(org=user("unit_xn").org, next_due=days(200))
    db.session.commit()
    with pytest.raises(ValidationFailed) as err:
        start(fine)
    assert "不是超期未检" in err.value.fields["equipment_code"]
    late = overdue_device()
    with pytest.raises(ValidationFailed):
        start(late, "qx_supervisor")                        # another county's device
    with pytest.raises(Forbidden):
        runtime.start_case("overdue_inspection", user("unit_xn"), {"equipment_code": late.code})
    case = start(late)
    task = open_tasks(case)["choose"]
    assert (task.candidate_role, task.candidate_region, case.region_code) == ("county_supervisor", "450102", "450102")
    with pytest.raises(ValidationFailed) as err:
        start(late)
    assert case.case_no in err.value.fields["equipment_code"]
    assert actions(late) == ["started"]


# ------------------------------------------------------------------ 责令整改 / 立案查处

def test_order_path_letter_then_the_units_report_closes_the_case(web):
    device = overdue_device()
    case = start(device)
    do(case, "choose", "xn_supervisor", {"measure": "order", "order_kind": "rectify", "opinion": "责令整改",
                                         "requirements": "立即停止使用，申报定期检验。", "rectify_deadline": days(15).isoformat()})
    d = disposal(case)
    assert d.status == "ordered" and d.letter_no.startswith("（兴宁区）市监特令〔") and d.letter_deadline == days(15)
    rectify = open_tasks(case)["rectify"]
    assert (rectify.candidate_role, rectify.candidate_org_id) == ("use_unit", user("unit_xn").org_id)
    assert len(sms(device, "DIRECTIVE_ISSUED")) == 3
    letter = web("unit_xn").get(f"/documents/overdue_letter/{d.id}").get_data(as_text=True)
    assert "特种设备安全监察指令书" in letter and d.letter_no in letter and "申报定期检验" in letter
    assert web("unit_xn").get(f"/documents/overdue_letter/{d.id}.docx").status_code == 200
    assert web("qx_supervisor").get(f"/documents/overdue_letter/{d.id}").status_code == 404
    with pytest.raises(ValidationFailed) as err:           # the report must fit the lift's vocabulary
        do(case, "rectify", "unit_xn", report_form(conclusion="符合要求", report_pdf=[upload("unit_xn", PDF, "报告.pdf")]))
    assert "conclusion" in err.value.fields
    do(case, "rectify", "unit_xn", report_form(report_pdf=[upload("unit_xn", PDF, "报告.pdf")]))
    db.session.expire_all()
    case = db.session.get(Case, case.id)
    assert (case.status, case.outcome) == ("closed", "已检验，超期消除")
    device = db.session.get(Equipment, device.id)
    assert (device.due_state, device.next_inspection_date) == ("valid", days(364))
    assert actions(device) == ["started", "measure", "letter_issued", "report_recorded", "closed"]
    assert runtime.verify_case_chain(case.id) is None


def test_a_letter_deadline_passing_without_a_report_makes_a_new_todo_then_a_report_closes():
    device = overdue_device()
    case = start(device)
    do(case, "choose", "xn_supervisor", {"measure": "order", "order_kind": "investigation", "opinion": "立案查处",
                                         "requirements": "停止使用并申报检验。", "rectify_deadline": days(5).isoformat()})
    fire_at(days(5), 22)                                 # the deadline day itself: nothing yet
    assert set(open_tasks(case)) == {"rectify"}
    fire_at(days(6))
    tasks = open_tasks(case)
    assert set(tasks) == {"choose"} and tasks["choose"].candidate_region == "450102"
    d = disposal(case)
    assert (d.status, d.auto_todos) == ("choosing", 1)
    assert len(sms(device, "DIRECTIVE_OVERDUE")) == 3
    assert "auto_todo" in actions(device)
    late_report = {"measure": "report", "opinion": "补录检验报告", **report_form(
        inspected_on=days(6).isoformat(), next_due_date=days(370).isoformat())}
    with time_machine.travel(local(days(7)), tick=False):
        do(case, "choose", "xn_supervisor", late_report)
    db.session.expire_all()
    assert db.session.get(Case, case.id).outcome == "已检验，超期消除"


# ------------------------------------------------------------------ 停用拆除

def test_stop_path_the_unit_registers_scrapping_and_the_device_is_scrapped():
    device = overdue_device()
    case = start(device)
    do(case, "choose", "xn_supervisor", {"measure": "stop", "stop_kind": "dismantle", "opinion": "责令拆除",
                                         "stop_evidence": [upload("xn_supervisor")]})
    d = disposal(case)
    assert (d.status, d.register_deadline) == ("stopping", days(30))
    task = open_tasks(case)["register_stop"]
    assert task.candidate_org_id == user("unit_xn").org_id and task.due_at is not None
    do(case, "register_stop", "unit_xn", {"registration": "scrapped", "registered_on": days(0).isoformat(),
                                          "stop_registration_evidence": [upload("unit_xn")]})
    db.session.expire_all()
    assert db.session.get(Case, case.id).outcome == "已办理停用/报废/注销登记"
    device = db.session.get(Equipment, device.id)
    assert (device.status, device.due_state) == ("scrapped", "exempt")


def test_stop_not_registered_within_30_days_makes_a_new_todo():
    device = overdue_device()
    case = start(device)
    do(case, "choose", "xn_supervisor", {"measure": "stop", "stop_kind": "stop", "opinion": "责令停用",
                                         "stop_evidence": [upload("xn_supervisor")]})
    fire_at(days(30), 20)
    assert set(open_tasks(case)) == {"register_stop"}
    fire_at(days(31))
    assert set(open_tasks(case)) == {"choose"}
    assert disposal(case).auto_todos == 1
    assert db.session.get(Equipment, device.id).status == "in_use"


# ------------------------------------------------------------------ 延期检验

def test_extension_ending_without_a_report_makes_a_new_todo():
    device = overdue_device()
    case = start(device)
    do(case, "choose", "xn_supervisor", {"measure": "extension", "extended_until": days(40).isoformat(),
                                         "extension_reason": "检验机构排期，已受理报检申请", "opinion": "同意延期"})
    db.session.expire_all()
    device = db.session.get(Equipment, device.id)
    assert (device.extended_until, device.due_state) == (days(40), "due_2m")
    assert open_tasks(case) == {}                          # waiting on the timer
    fire_at(days(40), 20)
    assert open_tasks(case) == {}
    fire_at(days(41))
    assert set(open_tasks(case)) == {"choose"}
    db.session.expire_all()
    device = db.session.get(Equipment, device.id)
    assert device.extended_until is None and device.due_state == "overdue"
    assert disposal(case).auto_todos == 1


def test_a_report_arriving_during_an_extension_closes_the_case_when_it_ends():
    from app.inspections import services as inspections
    device = overdue_device()
    case = start(device)
    do(case, "choose", "xn_supervisor", {"measure": "extension", "extended_until": days(20).isoformat(),
                                         "extension_reason": "检验机构排期，已受理报检申请", "opinion": "同意延期"})
    inspections.record_report(db.session.get(Equipment, device.id), agency(), inspections.ReportInput(
        report_no="EXT-1", inspected_on=days(0), conclusion="合格", next_due_date=days(365)), source="import")
    db.session.commit()
    assert "收到检验报告" in db.session.scalars(select(OverdueAction.summary).where(
        OverdueAction.equipment_id == device.id, OverdueAction.action == "report_recorded")).first()
    fire_at(days(21))
    db.session.expire_all()
    assert db.session.get(Case, case.id).outcome == "已检验，超期消除"


# ------------------------------------------------------------------ 录入检验信息

def test_report_path_a_failing_report_returns_to_the_choice_a_passing_one_closes():
    device = overdue_device()
    case = start(device)
    do(case, "choose", "xn_supervisor", {"measure": "report", "opinion": "补录", **report_form(
        conclusion="不合格", next_due_date=None, nonconformities="门锁回路异常")})
    assert set(open_tasks(case)) == {"choose"} and disposal(case).status == "choosing"
    do(case, "choose", "xn_supervisor", {"measure": "report", "opinion": "复检合格，补录", **report_form(
        report_no="CQ-RE-2", conclusion="复检合格")})
    db.session.expire_all()
    assert db.session.get(Case, case.id).outcome == "已检验，超期消除"


# ------------------------------------------------------------------ 公告注销

@pytest.fixture
def fake_authority(app, monkeypatch):
    """The registration authority's side of our contract: signed requests, a receipt per cancellation;
    `answer` may be replaced to refuse or fail."""
    from app.core.external import verify_request

    from .fakes import FakeServer
    state = {"answer": (201, {"receipt_no": "DJ-2026-0001"}), "checks": []}

    def cancellations(req):
        check = verify_request(req.headers, req.method, req.path, req.body, lambda key: "s3cret" if key == "gx-tzsb" else None)
        state["checks"].append(check.ok)
        return state["answer"] if check.ok else (401, {"code": "bad_signature", "message": check.reason})
    with FakeServer({("POST", "/v1/cancellations"): cancellations}) as fake:
        for key, value in (("PROVIDER", "http"), ("APP_KEY", "gx-tzsb"), ("SECRET", "s3cret"), ("URL", fake.url)):
            monkeypatch.setitem(app.config, f"EXTERNAL_REGISTRATION_AUTHORITY_{key}", value)
        fake.state = state
        yield fake


def announce(case):
    do(case, "choose", "xn_supervisor", {"measure": "announce", "cancel_reason": "unreachable", "opinion": "提请公告注销",
                                         "cancel_reason_text": "多次上门及电话均无法联系使用单位",
                                         "cancel_evidence": [upload("xn_supervisor")]})


def test_announcement_through_the_local_head_city_and_province_to_the_public_page(client, fake_authority):
    device = overdue_device()
    case = start(device)
    announce(case)
    local_task = open_tasks(case)["approve_local"]
    assert (local_task.candidate_role, local_task.candidate_region) == ("approver", "450102")
    do(case, "approve_local", "xn_head", {"decision": "approve", "opinion": "同意上报"})
    city = open_tasks(case)["review_city"]
    assert (city.candidate_role, city.candidate_region) == ("city_supervisor", "450100")
    do(case, "review_city", "nn_city", {"decision": "approve", "opinion": "汇总上报"})
    province = open_tasks(case)["review_province"]
    assert (province.candidate_role, province.candidate_region) == ("province_supervisor", "450000")
    assert client.get("/public/announcements").get_data(as_text=True).count(device.code) == 0
    do(case, "review_province", "gx_province", {"decision": "approve", "opinion": "同意公告"})
    db.session.expire_all()
    case = db.session.get(Case, case.id)
    assert (case.status, case.outcome) == ("closed", "已公告注销")
    row = db.session.scalar(select(Announcement).where(Announcement.case_id == case.id))
    assert row.status == "published" and row.announcement_no.startswith("桂特公告〔")
    assert db.session.get(Equipment, device.id).status == "announced_cancelled"
    page = client.get("/public/announcements").get_data(as_text=True)       # no login
    assert device.code in page and row.announcement_no in page and "使用单位无法联系" in page
    assert row.announcement_no in client.get(f"/public/announcements?q={device.code}").get_data(as_text=True)
    assert "暂无公告" in client.get("/public/announcements?q=999999999999999999").get_data(as_text=True)
    message = db.session.scalar(select(AuthorityMessage).where(AuthorityMessage.announcement_id == row.id))
    assert message.status == "pending" and json.loads(message.payload)["device_code"] == device.code
    run_job("authority")
    db.session.expire_all()
    message = db.session.get(AuthorityMessage, message.id)
    assert (message.status, message.receipt) == ("sent", "DJ-2026-0001")
    [got] = fake_authority.received
    assert fake_authority.state["checks"] == [True] and got.headers["X-App-Key"] == "gx-tzsb"
    assert got.json["announcement_no"] == row.announcement_no and got.json["device_code"] == device.code
    assert got.headers["Idempotency-Key"] == f"authority-message-{message.id}"
    from app.core.external import ExternalCall
    assert db.session.scalar(select(ExternalCall.ok).where(ExternalCall.reference == row.announcement_no)) is True
    assert [a for a in actions(device) if a.startswith("announce")] == ["announcement", "announcement_step",
                                                                       "announcement_step", "announced"]


@pytest.mark.parametrize("level", ["approve_local", "review_city", "review_province"])
def test_a_refused_announcement_returns_to_the_choice(level):
    device = overdue_device()
    case = start(device)
    announce(case)
    people = {"approve_local": "xn_head", "review_city": "nn_city", "review_province": "gx_province"}
    for step in ("approve_local", "review_city", "review_province"):
        decision = "reject" if step == level else "approve"
        do(case, step, people[step], {"decision": decision, "opinion": "审核意见"})
        if step == level:
            break
    assert set(open_tasks(case)) == {"choose"}
    row = db.session.scalar(select(Announcement).where(Announcement.case_id == case.id))
    assert row.status == "rejected" and db.session.get(Equipment, device.id).status == "in_use"


def test_the_authority_refusing_or_failing(app, fake_authority):
    device = overdue_device()
    case = start(device)
    announce(case)
    for step, who in (("approve_local", "xn_head"), ("review_city", "nn_city"), ("review_province", "gx_province")):
        do(case, step, who, {"decision": "approve", "opinion": "同意"})
    fake_authority.state["answer"] = (422, {"code": "device_unknown", "message": "登记系统中没有该设备"})
    run_job("authority")
    message = db.session.scalar(select(AuthorityMessage).order_by(AuthorityMessage.id.desc()).limit(1))
    db.session.refresh(message)
    assert message.status == "failed" and "登记系统中没有该设备" in message.error          # a refusal: no retry
    app.config["EXTERNAL_REGISTRATION_AUTHORITY_URL"] = "http://127.0.0.1:1"      # nobody listens: retried later
    message.status, message.attempts, message.next_try_at = "pending", 0, None
    db.session.commit()
    message.next_try_at = message.created_at
    db.session.commit()
    run_job("authority")
    db.session.refresh(message)
    assert message.status == "pending" and message.attempts == 1 and message.next_try_at is not None


def test_the_case_page_shows_the_disposal_and_the_whole_process_through_the_api(app, api, web):
    from .test_openapi import check
    device = overdue_device()
    sup = api("xn_supervisor")
    body = check(app, sup.post("/api/v1/cases", json={"process_key": "overdue_inspection",
                                                      "data": {"equipment_code": device.code}}), 201)
    task_id = body["open_tasks"][0]["id"]
    form = check(app, sup.get(f"/api/v1/tasks/{task_id}"), 200)["form"]
    assert form["properties"]["report_agency"]["x-lookup"].startswith("/api/v1/registry/units")
    done = check(app, sup.post(f"/api/v1/tasks/{task_id}/complete", json={"data": {
        "measure": "order", "order_kind": "rectify", "requirements": "立即申报定期检验。", "opinion": "责令整改",
        "rectify_deadline": days(10).isoformat()}}), 200)
    assert done["open_tasks"][0]["task_def"] == "rectify"
    page = web("xn_supervisor").get(f"/cases/{body['id']}").get_data(as_text=True)
    assert "超期未检处置" in page and "指令书" in page and device.code in page
