"""Hazard module: a unit's 隐患管理 (modify/delete a reported major hazard until the bureau accepts it),
technical units' reports, general hazards (general_hazard.bpmn) and hazard-checking plans."""
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from app.cases.models import Case, CaseEvent, Task
from app.core.clock import today_local
from app.engine import runtime
from app.errors import Conflict, Forbidden, ValidationFailed
from app.extensions import db
from app.hazards import manage
from app.hazards.models import Hazard
from app.sms.models import SmsMessage
from app.taskops.models import Notification

from .conftest import complete, equipment_of, hazard_of, make_case, open_task, user
from .test_openapi import check


def unit_report(**overrides):
    return make_case(reporter="unit_xn", **overrides)


# ------------------------------------------------------------------ modify / delete until accepted

def test_reporter_modifies_then_bureau_claims_and_modify_is_refused():
    case = unit_report()
    hazard = hazard_of(case)
    new_deadline = (today_local() + timedelta(days=40)).isoformat()
    changed = manage.edit_hazard(user("unit_xn"), hazard.id, {
        **manage.current_values(hazard), "description": "层门门锁回路被短接，已临时停梯等待维修。",
        "rectify_deadline": new_deadline})
    db.session.commit()
    assert changed == ["隐患描述", "整改期限"]
    hazard = hazard_of(case)
    assert hazard.rectify_deadline.isoformat() == new_deadline and "临时停梯" in hazard.description
    # the bureau's open task sees the new deadline (its form prefills from it)
    assert runtime.task_data(open_task(case))["rectify_deadline"] == new_deadline
    kinds = [e.kind for e in db.session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id))]
    assert "edited" in kinds and runtime.verify_case_chain(case.id) is None
    # the county bureau claims it: accepted, no more changes
    runtime.claim_task(open_task(case).id, user("xn_supervisor"))
    db.session.commit()
    with pytest.raises(Conflict) as err:
        manage.edit_hazard(user("unit_xn"), hazard.id, manage.current_values(hazard))
    assert err.value.code == "not_editable" and "已签收受理" in err.value.message
    db.session.rollback()
    with pytest.raises(Conflict):
        manage.delete_hazard(user("unit_xn"), hazard.id, "重复上报")


def test_delete_before_acceptance_cancels_the_case_then_dispatched_hazard_refuses():
    case = unit_report()
    hazard = hazard_of(case)
    with pytest.raises(ValidationFailed) as err:
        manage.delete_hazard(user("unit_xn"), hazard.id, "")
    assert "reason" in err.value.fields
    db.session.rollback()
    manage.delete_hazard(user("unit_xn"), hazard.id, "设备代码填错，重新上报")
    db.session.commit()
    db.session.expire_all()
    case = db.session.get(Case, case.id)
    assert case.status == "cancelled" and case.outcome == "上报单位已删除" and open_task(case) is None
    assert db.session.get(Hazard, hazard.id).deleted_at is not None
    assert not db.session.scalars(select(Hazard).where(Hazard.id == hazard.id,
                                                       manage.hazard_scope(user("xn_supervisor")))).all()
    # another one, dispatched by the bureau: refused with the state as reason
    other = unit_report()
    complete(other, "xn_supervisor", {"dispatch_decision": "dispatch", "requirements": "立即停用并整改门锁回路。",
                                      "rectify_deadline": (today_local() + timedelta(days=10)).isoformat(),
                                      "opinion": "情况属实"})
    with pytest.raises(Conflict) as err:
        manage.delete_hazard(user("unit_xn"), hazard_of(other).id, "不想整改")
    assert "整改中" in err.value.message


def test_only_the_reporter_may_change():
    case = make_case()          # reported by the county bureau itself
    hazard = hazard_of(case)
    with pytest.raises(Forbidden):
        manage.edit_hazard(user("unit_xn"), hazard.id, manage.current_values(hazard))


def test_pages_show_both_tabs_and_refuse_after_acceptance(web):
    case = unit_report()
    hazard = hazard_of(case)
    s = web("unit_xn")
    page = s.get("/hazards/manage").get_data(as_text=True)
    assert 'data-testid="tab-major"' in page and 'data-testid="tab-general"' in page
    assert f'data-testid="edit-{hazard.hazard_no}"' in page
    form = s.get(f"/hazards/{hazard.id}/edit")
    assert form.status_code == 200
    bad = s.post(f"/hazards/{hazard.id}/edit", {**manage.current_values(hazard), "description": "太短"})
    assert bad.status_code == 422 and "至少" in bad.get_data(as_text=True)
    ok = s.post(f"/hazards/{hazard.id}/edit", {**manage.current_values(hazard),
                                               "description": "层门门锁回路被短接，现场已设置警示。"})
    assert ok.status_code == 302
    runtime.claim_task(open_task(case).id, user("xn_supervisor"))
    db.session.commit()
    page = s.get("/hazards/manage").get_data(as_text=True)
    assert f'data-testid="locked-{hazard.hazard_no}"' in page
    refused = s.get(f"/hazards/{hazard.id}/edit")
    assert refused.status_code == 409 and "已签收受理" in refused.get_data(as_text=True)
    assert s.get("/hazards/manage?tab=general").status_code == 200


def test_api_modify_delete_then_refused(api, app):
    client = api("unit_xn")
    case = unit_report()
    hazard = hazard_of(case)
    body = check(app, client.get(f"/api/v1/hazards/{hazard.id}"), 200)
    assert body["editable"] is True
    body = check(app, client.client.patch(f"/api/v1/hazards/{hazard.id}", headers=client.headers,
                                          json={"description": "层门门锁回路被短接，接口修改描述。"}), 200)
    assert body["changed"] == ["隐患描述"]
    bad = check(app, client.client.patch(f"/api/v1/hazards/{hazard.id}", headers=client.headers,
                                         json={"rectify_deadline": "2000-01-01"}), 422)
    assert "rectify_deadline" in bad["error"]["fields"]
    listed = check(app, client.get("/api/v1/hazards"), 200)
    assert hazard.id in [i["id"] for i in listed["items"]]
    runtime.claim_task(open_task(case).id, user("xn_supervisor"))
    db.session.commit()
    body = check(app, client.get(f"/api/v1/hazards/{hazard.id}"), 200)
    assert body["editable"] is False and "已签收" in body["not_editable_reason"]
    refused = check(app, client.client.delete(f"/api/v1/hazards/{hazard.id}", headers=client.headers,
                                              json={"reason": "重复上报"}), 409)
    assert refused["error"]["code"] == "not_editable"
    fresh = hazard_of(unit_report())
    done = check(app, client.client.delete(f"/api/v1/hazards/{fresh.id}", headers=client.headers,
                                           json={"reason": "重复上报"}), 200)
    assert done["deleted"] is True
    check(app, client.get(f"/api/v1/hazards/{fresh.id}"), 404)


def test_rectify_tasks_listed_for_the_unit():
    case = unit_report()
    complete(case, "xn_supervisor", {"dispatch_decision": "dispatch", "requirements": "立即停用并整改门锁回路。",
                                     "rectify_deadline": (today_local() + timedelta(days=10)).isoformat(),
                                     "opinion": "情况属实"})
    tasks = manage.open_rectify_tasks(user("unit_xn"))
    assert [t.case_id for t in tasks] == [case.id] and tasks[0].task_def == "rectify"


# ------------------------------------------------------------------ technical units

def test_agency_report_carries_requirements_and_report_and_notifies_unit_and_bureau():
    from app.inspections.models import InspectionReport
    device = equipment_of("unit_xn")
    report = db.session.scalar(select(InspectionReport).where(InspectionReport.equipment_id == device.id))
    deadline = (today_local() + timedelta(days=7)).isoformat()
    case = make_case(reporter="agency_gx", rectify_requirements="立即停用，修复门锁回路后报检", rectify_deadline=deadline,
                     inspection_report_no=report.report_no)
    hazard = hazard_of(case)
    assert hazard.source == "agency" and hazard.reporter_requirements == "立即停用，修复门锁回路后报检"
    assert hazard.inspection_report_id == report.id and hazard.rectify_deadline.isoformat() == deadline
    notes = db.session.scalars(select(Notification).where(Notification.case_id == case.id)).all()
    assert {n.user_id for n in notes} >= {user("unit_xn").id, user("xn_supervisor").id}
    codes = {m.template_code for m in db.session.scalars(select(SmsMessage).where(SmsMessage.case_id == case.id))}
    assert {"HAZARD_REPORTED_UNIT", "HAZARD_REPORTED_BUREAU"} <= codes
    # the bureau's dispatch form offers the agency's requirements
    task = open_task(case)
    assert runtime.task_data(task)["rectify_requirements"] == "立即停用，修复门锁回路后报检"


def test_report_number_must_belong_to_the_device():
    with pytest.raises(ValidationFailed) as err:
        make_case(reporter="agency_gx", inspection_report_no="NO-SUCH-REPORT")
    assert "inspection_report_no" in err.value.fields
    db.session.rollback()


# ------------------------------------------------------------------ general hazards

def general_data(**overrides) -> dict:
    data = {"category": "safety_device", "hazard_count": 2, "level": "medium",
            "main_problem": "电梯机房灭火器过期，应急照明不亮。", "found_at": "1号电梯机房",
            "found_on": today_local().isoformat(), "deadline": (today_local() + timedelta(days=5)).isoformat(),
            "related_source": "self_check", "inspector_name": "李检查", "inspecting_unit": "本单位安全部",
            "check_kind": "daily"}
    data.update(overrides)
    return data


def test_general_hazard_failed_acceptance_returns_to_rectification():
    from app.general_hazards.models import GeneralHazard
    case = runtime.start_case("general_hazard", user("unit_xn"), general_data())
    db.session.commit()
    row = db.session.scalar(select(GeneralHazard).where(GeneralHazard.case_id == case.id))
    assert row.status == "rectifying" and row.hazard_count == 2 and case.case_no.startswith("YB")
    task = open_task(case)
    assert (task.task_def, task.candidate_role, task.candidate_org_id) == ("rectify", "use_unit", user("unit_xn").org_id)
    rectify = {"rectified_on": today_local().isoformat(), "handler": "王整改", "rectify_result": "更换灭火器两具。"}
    complete(case, "unit_xn", rectify)
    assert open_task(case).task_def == "accept"
    complete(case, "unit_xn", {"accept_result": "fail", "opinion": "应急照明仍不亮，未整改到位"})
    db.session.expire_all()
    row = db.session.get(GeneralHazard, row.id)
    assert row.status == "rectifying" and row.returned_count == 1 and row.evaluation == "应急照明仍不亮，未整改到位"
    assert open_task(case).task_def == "rectify"
    complete(case, "unit_xn", {**rectify, "rectify_result": "更换灭火器并修复应急照明。"})
    complete(case, "unit_xn", {"accept_result": "pass", "opinion": "复查合格"})
    db.session.expire_all()
    case = db.session.get(Case, case.id)
    row = db.session.get(GeneralHazard, row.id)
    assert case.status == "closed" and case.outcome == "已验收销号" and row.status == "closed"
    assert runtime.verify_case_chain(case.id) is None


def test_general_hazard_register_validation():
    with pytest.raises(ValidationFailed) as err:
        runtime.start_case("general_hazard", user("unit_xn"), general_data(check_kind="plan"))
    assert "check_id" in err.value.fields
    db.session.rollback()
    with pytest.raises(ValidationFailed) as err:
        runtime.start_case("general_hazard", user("unit_xn"),
                           general_data(equipment_code=equipment_of("unit_qx").code))
    assert err.value.fields == {"equipment_code": "设备不存在或不是本单位的设备"}
    db.session.rollback()


def test_plan_generates_one_check_per_period_and_check_links_hazard(api, app):
    from app.general_hazards import services
    from app.general_hazards.models import GeneralHazard, GeneralHazardCheck
    plan = services.create_plan(user("unit_xn"), {"name": "每月电梯安全排查", "period": "monthly",
                                                  "starts_on": today_local().replace(day=1).isoformat()})
    db.session.commit()
    checks = db.session.scalars(select(GeneralHazardCheck).where(GeneralHazardCheck.plan_id == plan.id)).all()
    assert len(checks) == 1 and checks[0].period_key == f"{today_local().year}-{today_local().month:02d}"
    assert services.generate_checks(today_local()) == 0          # idempotent within the period
    next_month = (today_local().replace(day=28) + timedelta(days=5))
    assert services.generate_checks(next_month) == 1
    db.session.commit()
    client = api("unit_xn")
    lookup = check(app, client.get("/api/v1/general-hazards/checks?q=电梯"), 200)
    first = checks[0].id
    assert first in [c["id"] for c in lookup["items"]]
    body = check(app, client.post("/api/v1/cases", json={"process_key": "general_hazard", "data": general_data(
        check_kind="plan", check_id=str(first))}), 201)
    db.session.expire_all()
    row = db.session.scalar(select(GeneralHazard).where(GeneralHazard.case_id == body["id"]))
    assert row.check_id == first and db.session.get(GeneralHazardCheck, first).status == "done"
    listed = check(app, client.get("/api/v1/general-hazards"), 200)
    assert row.id in [i["id"] for i in listed["items"]]
    other = db.session.scalar(select(GeneralHazardCheck.id).where(GeneralHazardCheck.plan_id == plan.id,
                                                                  GeneralHazardCheck.status == "open"))
    done = check(app, client.post(f"/api/v1/general-hazards/checks/{other}/done", json={"notes": "未发现隐患"}), 200)
    assert done["status"] == "done" and done["finding"] == "none"
    check(app, client.post(f"/api/v1/general-hazards/checks/{other}/done", json={}), 409)


def test_period_arithmetic():
    from app.general_hazards.services import period_of
    assert period_of("quarterly", date(2026, 11, 5)).key == "2026Q4"
    assert period_of("quarterly", date(2026, 11, 5)).due_on == date(2026, 12, 31)
    assert period_of("monthly", date(2027, 2, 3)).due_on == date(2027, 2, 28)
    assert period_of("yearly", date(2026, 6, 1)).starts_on == date(2026, 1, 1)


# ------------------------------------------------------------------ criteria configuration

@pytest.fixture
def _restore_criteria():
    from app.hazards.models import HazardCriterion
    before = {c.id: (c.active, c.cause_class, c.suggested_measure, c.version, c.updated_at, c.updated_by_id)
              for c in db.session.scalars(select(HazardCriterion))}
    yield
    db.session.rollback()
    for c in db.session.scalars(select(HazardCriterion)):
        (c.active, c.cause_class, c.suggested_measure, c.version, c.updated_at, c.updated_by_id) = before[c.id]
    db.session.commit()


def test_criteria_configuration_versions_and_disabling(_restore_criteria, web, api, app):
    from app.hazards import criteria
    from app.hazards.models import HazardCriterion, HazardCriterionVersion
    from app.hazards.services import criteria_options
    old_case = unit_report()                      # reported under 4.6 b) while it is enabled
    assert len(criteria.all_criteria()) == 47
    with pytest.raises(Forbidden):
        criteria.update_criterion(user("xn_supervisor"), "GB45067-4.6b", {"active": "", "note": "停用"})
    with pytest.raises(ValidationFailed) as err:
        criteria.update_criterion(user("gx_province"), "GB45067-4.6b", {"active": "", "note": ""})
    assert "note" in err.value.fields
    with pytest.raises(ValidationFailed) as err:
        criteria.update_criterion(user("gx_province"), "GB45067-4.1d", {"active": "on", "note": "启用引用条款"})
    assert "active" in err.value.fields
    s = web("gx_province")
    resp = s.post("/hazards/criteria/GB45067-4.6b", {"cause_class": "safety_device", "suggested_measure": "",
                                                      "active": "on", "note": "按安全保护装置失效归类"})
    assert resp.status_code == 302
    resp = s.post("/hazards/criteria/GB45067-4.6b", {"cause_class": "safety_device", "active": "",
                                                      "note": "试点期间暂停使用"})
    assert resp.status_code == 302
    db.session.expire_all()
    c = db.session.get(HazardCriterion, "GB45067-4.6b")
    assert (c.active, c.cause_class, c.version) == (False, "safety_device", 3)
    versions = [(v.version, v.changed_by_id) for v in criteria.history(c.id)]
    assert versions == [(3, user("gx_province").id), (2, user("gx_province").id), (1, None)]
    page = s.get("/hazards/criteria/GB45067-4.6b").get_data(as_text=True)
    assert "试点期间暂停使用" in page and "覃自治区" in page
    # disabled: gone from new reports (options, start hook, API lookup); the old case keeps it
    assert "GB45067-4.6b" not in [i for i, _ in criteria_options()]
    with pytest.raises(ValidationFailed) as err:
        unit_report()
    assert "criterion_id" in err.value.fields
    db.session.rollback()
    assert hazard_of(old_case).criterion_id == "GB45067-4.6b"
    body = check(app, api("unit_xn").get("/api/v1/hazards/criteria?active=1"), 200)
    assert "GB45067-4.6b" not in [i["id"] for i in body["items"]] and body["total"] == 45
    assert db.session.scalar(select(func.count(HazardCriterionVersion.id))) == 3


def test_agency_reports_from_the_report_entry_page(web):
    from urllib.parse import parse_qs, urlparse
    device = equipment_of("unit_xn", 1)
    s = web("agency_gx")
    resp = s.post("/inspections/reports/new", {"equipment_code": device.code, "inspection_type": "periodic",
                                               "report_no": "HZ2-TEST-0001", "inspected_on": today_local().isoformat(),
                                               "conclusion": "不合格", "nonconformities": "制动器制动力不足，轿厢意外移动保护失效",
                                               "report_hazard": "1"})
    assert resp.status_code == 302 and "/hazards/report-from/" in resp.location
    start = s.get(resp.location)
    assert start.status_code == 302
    prefill = parse_qs(urlparse(start.location).query)
    assert prefill["equipment_code"] == [device.code] and prefill["inspection_report_no"] == ["HZ2-TEST-0001"]
    profile = s.get(f"/registry/devices/{device.id}").get_data(as_text=True)
    assert "HZ2-TEST-0001" in profile and "未上报" in profile
    form = s.get(start.location).get_data(as_text=True)
    assert "制动器制动力不足" in form and "整改要求" in form
    resp = s.post("/processes/major_hazard/start", {
        "equipment_code": device.code, "inspection_report_no": "HZ2-TEST-0001", "criterion_id": "GB45067-4.6b",
        "description": "制动器制动力不足，轿厢意外移动保护失效", "found_on": today_local().isoformat(),
        "rectify_deadline": (today_local() + timedelta(days=3)).isoformat(), "rectify_requirements": "立即停梯，更换制动器"})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:800]
    profile = s.get(f"/registry/devices/{device.id}").get_data(as_text=True)
    assert "已上报" in profile
    manage_page = s.get("/hazards/manage").get_data(as_text=True)
    assert device.code in manage_page


# ------------------------------------------------------------------ documents and 通报

def _docx_text(body: bytes) -> str:
    import io

    import docx
    word = docx.Document(io.BytesIO(body))
    return "\n".join(p.text for p in word.paragraphs) + "\n".join(
        c.text for t in word.tables for r in t.rows for c in r.cells)


def test_bulletin_generated_approved_published_and_read(web):
    import io

    import pypdf
    from app.hazards.models import HazardBulletin, HazardBulletinReceipt
    overdue = make_case()                         # 兴宁区, dispatched with a deadline that has passed
    complete(overdue, "xn_supervisor", {"dispatch_decision": "dispatch", "requirements": "立即停用并整改门锁回路。",
                                        "rectify_deadline": today_local().isoformat(), "opinion": "情况属实"})
    h = hazard_of(overdue)
    h.rectify_deadline = today_local() - timedelta(days=3)
    db.session.commit()
    make_case(reporter="unit_xn")                 # one more, waiting for dispatch
    city = web("nn_city")
    bad = city.post("/hazards/bulletins/new", {"title": "通报", "kind": "periodic", "scope_region": "450200",
                                               "period_from": today_local().isoformat(), "period_to": "2000-01-01"})
    assert bad.status_code == 422 and "请选择本辖区或下级区划" in bad.get_data(as_text=True)
    resp = city.post("/hazards/bulletins/new", {"title": "关于本月南宁市重大事故隐患排查治理情况的通报", "kind": "periodic",
                                                "scope_region": "450100", "period_from": (today_local() - timedelta(days=30)).isoformat(),
                                                "period_to": today_local().isoformat(), "remarks": "请各县区局督促整改。"})
    assert resp.status_code == 302
    bulletin = db.session.scalar(select(HazardBulletin).order_by(HazardBulletin.id.desc()).limit(1))
    content = json_content = __import__("json").loads(bulletin.content)
    assert content["total"] == 2 and content["reported"] == 1 and content["open"] == 1
    assert [o["hazard_no"] for o in content["overdue"]] == [h.hazard_no] and content["overdue"][0]["days"] == 3
    assert json_content["named_units"][0][1] == 1 and ["兴宁区", 2] in content["by_region"]
    # the drafter may not approve; a county may not either; the province does
    page = city.get(f"/hazards/bulletins/{bulletin.id}").get_data(as_text=True)
    assert 'data-testid="bulletin-decide"' not in page
    assert web("xn_supervisor").get(f"/hazards/bulletins/{bulletin.id}").status_code == 404   # not published yet
    word = _docx_text(city.get(f"/documents/hazard_bulletin/{bulletin.id}.docx").data)
    assert h.hazard_no in word and "超期" in word and "请各县区局督促整改" in word
    province = web("gx_province")
    resp = province.post(f"/hazards/bulletins/{bulletin.id}/decide", {"decision": "approve", "opinion": ""})
    assert "审核意见" in province.get(resp.location).get_data(as_text=True)
    province.post(f"/hazards/bulletins/{bulletin.id}/decide", {"decision": "approve", "opinion": "同意发布"})
    db.session.expire_all()
    bulletin = db.session.get(HazardBulletin, bulletin.id)
    assert bulletin.status == "published" and bulletin.approved_by_id == user("gx_province").id
    receipts = {r.region_code: r for r in bulletin.receipts}
    assert "450102" in receipts and "450103" in receipts and all(r.read_at is None for r in receipts.values())
    notes = db.session.scalar(select(func.count(Notification.id)).where(Notification.user_id == user("xn_supervisor").id,
                                                                        Notification.title.contains(bulletin.bulletin_no)))
    assert notes == 1
    # 兴宁区 reads it: its receipt is signed; 柳州 never sees it
    page = web("xn_supervisor").get(f"/hazards/bulletins/{bulletin.id}")
    assert page.status_code == 200
    db.session.expire_all()
    read = db.session.scalar(select(HazardBulletinReceipt).where(HazardBulletinReceipt.bulletin_id == bulletin.id,
                                                                 HazardBulletinReceipt.region_code == "450102"))
    assert read.read_by_id == user("xn_supervisor").id and read.read_at is not None
    assert web("lz_supervisor").get(f"/hazards/bulletins/{bulletin.id}").status_code == 404
    receipts_page = city.get(f"/hazards/bulletins/{bulletin.id}").get_data(as_text=True)
    assert "黄兴宁" in receipts_page
    pdf = city.get(f"/documents/hazard_bulletin/{bulletin.id}.pdf")
    text = "".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(pdf.data)).pages)
    assert bulletin.bulletin_no.replace("〔", "").split("〕")[0][-4:] in text and h.hazard_no in text.replace("\n", "")


def test_reminder_and_supervision_letter(web):
    import time_machine
    from app.core.clock import DISPLAY_TZ
    from datetime import datetime, time as dtime
    from app.scheduler.jobs import run_job
    case = make_case(reporter="agency_gx", rectify_requirements="立即停梯修复")
    h = hazard_of(case)
    s = web("xn_supervisor")
    word = _docx_text(s.get(f"/documents/hazard_reminder/{h.id}.docx").data)
    assert "检验检测" in word and h.use_org.name in word and "处理时限" in word and "兴宁区市场监督管理局" in word
    assert s.get(f"/documents/hazard_supervision_letter/{h.id}").status_code == 404      # never escalated
    deadline = today_local() + timedelta(days=2)
    complete(case, "xn_supervisor", {"dispatch_decision": "dispatch", "requirements": "立即停梯修复门锁回路",
                                     "rectify_deadline": deadline.isoformat(), "opinion": "情况属实"})
    with time_machine.travel(datetime.combine(deadline + timedelta(days=1), dtime(9), DISPLAY_TZ), tick=False):
        run_job("timers")
    city = web("nn_city")
    panel = city.get(f"/cases/{case.id}").get_data(as_text=True)
    assert 'data-testid="letter-docx"' in panel
    letter = _docx_text(city.get(f"/documents/hazard_supervision_letter/{h.id}.docx").data)
    assert "整改督办函" in letter and "南宁市市场监督管理局" in letter and h.notice_no in letter
    assert web("unit_xn").get(f"/documents/hazard_supervision_letter/{h.id}").status_code == 200
    assert web("unit_qx").get(f"/documents/hazard_supervision_letter/{h.id}").status_code == 404


def test_dossier_shows_the_supervision_log(web):
    import io

    import pypdf
    case = make_case()
    s = web("xn_supervisor")
    assert s.post(f"/cases/{case.id}/log", {"text": "现场检查发现电梯仍在运行，已责令停用"}).status_code == 302
    pdf = s.get(f"/cases/{case.id}/dossier.pdf")
    text = "".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(pdf.data)).pages).replace("\n", "")
    assert "五、监察日志" in text and "现场检查发现电梯仍在运行" in text


# ------------------------------------------------------------------ statistics and failing reports

def test_failing_reports_listed_without_hazard_and_started_in_batch(web, api, app):
    from app.inspections.models import InspectionReport
    from app.inspections.services import ReportInput, record_report
    from app.core.models import Organization
    agency = db.session.get(Organization, user("agency_gx").org_id)
    made = []
    for i, index in enumerate((2, 3, 4)):
        device = equipment_of("unit_xn", index)
        made.append(record_report(device, agency, ReportInput(
            report_no=f"HZ2-BATCH-{i}", inspected_on=today_local() - timedelta(days=2), conclusion="不合格",
            inspection_type="periodic", nonconformities="门锁回路短接"), actor=user("agency_gx"), source="web"))
    db.session.commit()
    ids = [r.id for r in made]
    make_case(reporter="xn_supervisor", unit="unit_xn", inspection_report_no="HZ2-BATCH-0",
              equipment_code=made[0].equipment.code)
    client = api("xn_supervisor")
    body = check(app, client.get("/api/v1/hazards/nonconforming-reports?per_page=100"), 200)
    flags = {i["report_no"]: i["hazard_reported"] for i in body["items"]}
    assert flags["HZ2-BATCH-0"] is True and flags["HZ2-BATCH-1"] is False
    only = check(app, client.get("/api/v1/hazards/nonconforming-reports?unreported=1&per_page=100"), 200)
    unreported = {i["report_no"]: i["id"] for i in only["items"]}
    assert "HZ2-BATCH-0" not in unreported and {"HZ2-BATCH-1", "HZ2-BATCH-2"} <= set(unreported)
    # all or nothing: one already reported refuses the whole selection
    refused = check(app, client.post("/api/v1/hazards/batch-report", json={
        "report_ids": ids, "criterion_id": "GB45067-4.6b",
        "rectify_deadline": (today_local() + timedelta(days=10)).isoformat()}), 422)
    assert "已上报过隐患" in refused["error"]["fields"][str(ids[0])]
    assert db.session.scalar(select(func.count(Hazard.id)).where(Hazard.inspection_report_id.in_(ids[1:]))) == 0
    # the page: one click lists those without, one more starts them
    s = web("xn_supervisor")
    page = s.get("/hazards/nonconforming?unreported=1").get_data(as_text=True)
    assert "HZ2-BATCH-1" in page and "HZ2-BATCH-0" not in page
    resp = s.post("/hazards/nonconforming", {"ids": [str(i) for i in ids[1:]], "criterion_id": "GB45067-4.6b",
                                             "rectify_deadline": (today_local() + timedelta(days=10)).isoformat(),
                                             "rectify_requirements": "立即停用，整改后报检"})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:500]
    started = db.session.scalars(select(Hazard).where(Hazard.inspection_report_id.in_(ids[1:]))).all()
    assert len(started) == 2 and {h.source for h in started} == {"supervisor"}
    assert all("门锁回路短接" in h.description and h.reporter_requirements == "立即停用，整改后报检" for h in started)
    after = check(app, client.get("/api/v1/hazards/nonconforming-reports?unreported=1&per_page=100"), 200)
    assert not {"HZ2-BATCH-1", "HZ2-BATCH-2"} & {i["report_no"] for i in after["items"]}


def test_statistics_page_charts_and_exports(web, app, _restore_criteria):
    from app.hazards import criteria, stats
    criteria.update_criterion(user("gx_province"), "GB45067-4.6b", {"cause_class": "safety_device", "active": "on",
                                                                   "note": "统计测试"})
    db.session.commit()
    make_case()
    make_case(reporter="unit_xn")
    make_case(reporter="qx_supervisor", unit="unit_qx")
    province = web("gx_province")
    page = province.get("/hazards/stats").get_data(as_text=True)
    for key in ("category", "cause", "status", "region", "source", "equipment", "trend", "region_rank", "unit_rank"):
        assert f'data-testid="chart-{key}"' in page, key
    assert "echarts.min.js" in page and "安全附件与保护装置失效" in page
    f = stats.StatsFilter.from_args(user("gx_province"), {})
    with app.test_request_context():
        region = stats.by_region(f)
    assert dict(region.rows)["南宁市"] == 3 and "region=450100" in region.drill["南宁市"]
    city = stats.StatsFilter.from_args(user("gx_province"), {"region": "450100"})
    assert dict(stats.by_region(city).rows) == {**{n: 0 for _, n in stats._children("450100")}, "兴宁区": 2, "青秀区": 1}
    assert stats.totals(city)["total"] == 3
    assert sum(r[1] for r in stats.trend(city).rows) == 3
    # a county supervisor cannot look at another county
    own = stats.StatsFilter.from_args(user("xn_supervisor"), {"region": "450103"})
    assert own.region == "450102"
    resp = province.get("/hazards/stats/region.xlsx?region=450100")
    assert resp.status_code == 200 and resp.data[:2] == b"PK"
    import io

    import openpyxl
    sheet = openpyxl.load_workbook(io.BytesIO(resp.data)).active
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    assert values[0] == ["地区", "隐患数"] and ["兴宁区", 2] in values and values[-1] == ["合计", 3]
    assert province.get("/hazards/stats/nope.xlsx").status_code == 404
    assert web("unit_xn").get("/hazards/stats").status_code == 403


def test_bulletin_through_the_api(api, app):
    city, province, county = api("nn_city"), api("gx_province"), api("qx_supervisor")
    make_case()
    body = check(app, city.post("/api/v1/hazards/bulletins", json={
        "title": "关于南宁市重大事故隐患情况的专项通报", "kind": "adhoc", "scope_region": "450100",
        "period_from": (today_local() - timedelta(days=7)).isoformat(), "period_to": today_local().isoformat()}), 201)
    assert body["status"] == "pending" and body["content"]["total"] == 1
    check(app, city.post(f"/api/v1/hazards/bulletins/{body['id']}/decide",
                         json={"decision": "approve", "opinion": "自己审核"}), 403)
    check(app, county.get(f"/api/v1/hazards/bulletins/{body['id']}"), 404)
    done = check(app, province.post(f"/api/v1/hazards/bulletins/{body['id']}/decide",
                                    json={"decision": "approve", "opinion": "同意发布"}), 200)
    assert done["status"] == "published" and len(done["receipts"]) >= 2
    read = check(app, county.get(f"/api/v1/hazards/bulletins/{body['id']}"), 200)
    assert [r for r in read["receipts"] if r["region_code"] == "450103"][0]["read_by"] == "蒙青秀（演示）"
    assert body["id"] in [b["id"] for b in check(app, county.get("/api/v1/hazards/bulletins"), 200)["items"]]
    check(app, province.post(f"/api/v1/hazards/bulletins/{body['id']}/decide",
                             json={"decision": "return", "opinion": "再审"}), 409)


def test_maintenance_unit_reports_on_a_device_it_maintains():
    from app.core.gm import hash_password
    from app.core.models import Equipment, Organization, User
    device = equipment_of("unit_xn", 3)
    org = Organization(uscc="91450102MA5TEST01X", name="南宁演示电梯维保有限公司（测试）", kind="maintenance_unit",
                       region_code="450102")
    db.session.add(org)
    db.session.flush()
    db.session.add(User(username="maint_test", display_name="维保测试", role="maintenance_unit", region_code="450102",
                        org_id=org.id, password_hash=hash_password("Demo@2026", 1000)))
    other = equipment_of("unit_xn", 4)
    device.maintenance_org_id = org.id
    db.session.commit()
    try:
        with pytest.raises(ValidationFailed) as err:
            make_case(reporter="maint_test", equipment_code=other.code)
        assert "equipment_code" in err.value.fields
        db.session.rollback()
        case = runtime.start_case("major_hazard", user("maint_test"), {
            "equipment_code": device.code, "criterion_id": "GB45067-4.6b",
            "description": "维保中发现制动器闸瓦磨损超标，仍在运行。", "found_on": today_local().isoformat(),
            "rectify_deadline": (today_local() + timedelta(days=5)).isoformat(), "rectify_requirements": "立即更换闸瓦"})
        db.session.commit()
        from app.cases.services import equipment_suggestions
        assert [e.code for e in equipment_suggestions(user("maint_test"), "")] == [device.code]
        hazard = hazard_of(case)
        assert hazard.source == "maintenance" and hazard.reporter_org_id == org.id
        assert db.session.scalar(select(func.count(Notification.id)).where(
            Notification.case_id == case.id, Notification.user_id == user("unit_xn").id)) == 1
        assert [h.id for h in db.session.scalars(select(Hazard).where(manage.hazard_scope(user("maint_test"))))] \
            == [hazard.id]
    finally:
        db.session.rollback()
        db.session.get(Equipment, device.id).maintenance_org_id = None
        db.session.commit()


def test_demo_seed_has_a_plan_a_general_hazard_to_accept_and_a_published_bulletin():
    from app.demo import seed
    from app.general_hazards.models import GeneralHazard, GeneralHazardCheck
    from app.hazards.models import HazardBulletin
    seed(iterations=1000, with_cases=True)
    db.session.commit()
    general = db.session.scalar(select(GeneralHazard))
    assert general.status == "accepting" and open_task(db.session.get(Case, general.case_id)).task_def == "accept"
    assert db.session.scalar(select(GeneralHazardCheck.status)) == "open"
    bulletin = db.session.scalar(select(HazardBulletin))
    assert bulletin.status == "published" and {r.region_code for r in bulletin.receipts} >= {"450102", "450103"}
    assert __import__("json").loads(bulletin.content)["total"] >= 4


def test_scheduler_job_makes_the_new_periods_checks():
    import time_machine
    from datetime import datetime, time as dtime

    from app.core.clock import DISPLAY_TZ
    from app.general_hazards import services
    from app.general_hazards.models import GeneralHazardCheck
    from app.scheduler.jobs import run_job
    plan = services.create_plan(user("unit_xn"), {"name": "季度锅炉房排查", "period": "quarterly",
                                                  "starts_on": today_local().isoformat()})
    db.session.commit()
    later = today_local() + timedelta(days=95)
    with time_machine.travel(datetime.combine(later, dtime(9), DISPLAY_TZ), tick=False):
        run = run_job("hazard_checks")
        assert run.status == "ok" and run.items == 1
        assert run_job("hazard_checks").items == 0
    keys = sorted(db.session.scalars(select(GeneralHazardCheck.period_key).where(GeneralHazardCheck.plan_id == plan.id)))
    assert len(keys) == 2 and keys[1] == services.period_of("quarterly", later).key
    notes = db.session.scalar(select(func.count(Notification.id)).where(Notification.user_id == user("unit_xn").id,
                                                                        Notification.title.contains("季度锅炉房排查")))
    assert notes == 2


def test_general_hazard_through_the_api_alone(api, app):
    client = api("unit_xn")
    process = check(app, client.get("/api/v1/processes/general_hazard"), 200)
    props = process["start_form"]["properties"]
    assert props["check_kind"]["ui:enumNames"][-1] == "隐患排查计划" and "x-lookup" in props["check_id"]
    bad = check(app, client.post("/api/v1/cases", json={"process_key": "general_hazard",
                                                         "data": general_data(level="severe")}), 422)
    assert "level" in bad["error"]["fields"]
    case = check(app, client.post("/api/v1/cases", json={"process_key": "general_hazard", "data": general_data()}), 201)
    task_id = case["open_tasks"][0]["id"]
    form = check(app, client.get(f"/api/v1/tasks/{task_id}"), 200)["form"]
    assert form["title"] == "隐患整改"
    done = check(app, client.post(f"/api/v1/tasks/{task_id}/complete", json={"data": {
        "rectified_on": today_local().isoformat(), "handler": "王整改", "rectify_result": "更换灭火器两具。"}}), 200)
    accept = done["open_tasks"][0]
    assert accept["task_def"] == "accept"
    closed = check(app, client.post(f"/api/v1/tasks/{accept['id']}/complete", json={"data": {
        "accept_result": "pass", "opinion": "复查合格"}}), 200)
    assert closed["status"] == "closed" and closed["outcome"] == "已验收销号"


def test_hazard_filed_by_the_complaint_loop_has_complaint_as_source(web):
    """A hazard started from inside the public-complaint loop's service task (转重大事故隐患) is sourced 投诉举报."""
    from types import SimpleNamespace

    from app.engine.services import CURRENT, ServiceContext
    outer = ServiceContext(SimpleNamespace(process_key="public_complaint", id=0), user("xn_supervisor"), {})
    token = CURRENT.set(outer)
    try:
        case = make_case()
    finally:
        CURRENT.reset(token)
    hazard = hazard_of(case)
    assert hazard.source == "complaint" and hazard.source_label == "投诉举报核查"
    assert open_task(case).task_def == "dispatch"              # the county bureau still dispatches and verifies
    word = _docx_text(web("xn_supervisor").get(f"/documents/hazard_reminder/{hazard.id}.docx").data)
    assert "投诉举报" in word
