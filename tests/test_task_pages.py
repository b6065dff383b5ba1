"""Task and case pages show what is being judged: the review panels a form declares, the decision of
each step on the timeline, why a step is done again; operations fit the role; date rules; 已办."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest

from app.core.clock import today_local
from app.errors import ValidationFailed

from .conftest import complete, make_case, open_task, upload, user
from .test_hazard_process import dispatch, feedback


def _day(days: int) -> str:
    return (today_local() + timedelta(days=days)).isoformat()


def _text(html: str) -> str:
    """The page's text with tags removed and whitespace collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def _panel(html: str) -> str:
    match = re.search(r'data-testid="review-panel">(.*?)</section>', html, re.S)
    assert match, "no review panel on the page"
    return _text(match.group(1))


def test_extension_review_shows_the_requested_date_reason_and_current_deadline(web):
    case = make_case()
    dispatch(case, days=10)
    complete(case, "unit_xn", {"feedback_type": "extension", "requested_deadline": _day(40),
                               "extension_reason": "需更换的门锁配件需从厂家订货，到货约 30 天。"})
    task = open_task(case)
    assert task.task_def == "approve_extension"
    panel = _panel(web("xn_supervisor").get(f"/tasks/{task.id}").get_data(as_text=True))
    assert "延期申请" in panel and "整改反馈" in panel                      # the section and its source step
    assert f"申请延期至 {_day(40)}" in panel
    assert "延期理由 需更换的门锁配件需从厂家订货" in panel
    assert f"当前整改期限 {_day(10)}" in panel


def test_verify_page_shows_the_measures_completion_date_and_photos(web):
    case = make_case()
    dispatch(case)
    photo = upload("unit_xn", name="整改后.jpg")
    complete(case, "unit_xn", {"feedback_type": "feedback", "measures": "更换层门门锁，恢复安全回路并自检合格。",
                               "completed_on": today_local().isoformat(), "evidence": [photo]})
    task = open_task(case)
    html = web("xn_supervisor").get(f"/tasks/{task.id}").get_data(as_text=True)
    panel = _panel(html)
    assert "整改措施 更换层门门锁，恢复安全回路并自检合格。" in panel
    assert f"整改完成日期 {today_local().isoformat()}" in panel
    assert f'src="/attachments/{photo}"' in html and 'class="review-thumb"' in html   # the photo itself


def test_timeline_names_each_decision_with_the_time_the_step_took(web):
    case = make_case()
    dispatch(case, days=10)
    complete(case, "unit_xn", {"feedback_type": "extension", "requested_deadline": _day(30),
                               "extension_reason": "配件到货需要时间，申请延期。"})
    complete(case, "xn_supervisor", {"extension_decision": "approve", "approved_deadline": _day(30),
                                     "opinion": "同意延期"})
    feedback(case)
    complete(case, "xn_supervisor", {"verify_result": "fail", "opinion": "门锁回路仍有短接线。"})
    html = web("xn_supervisor").get(f"/cases/{case.id}").get_data(as_text=True)
    tags = re.findall(r'data-testid="outcome-tag">([^<]+)<', html)
    assert tags == ["认定并派单", "申请延期", "同意延期", "整改完成申请销号", "复核不通过"]
    assert html.count('class="ev-duration nowrap"') == 5 and "用时 不足 1 分钟" in html


def test_the_reason_of_a_failed_verification_stands_above_the_rework_form(web):
    case = make_case()
    dispatch(case)
    feedback(case)
    complete(case, "xn_supervisor", {"verify_result": "fail", "opinion": "门锁回路仍有短接线，请拆除。"})
    rework = open_task(case)
    assert rework.task_def == "rectify"
    html = web("unit_xn").get(f"/tasks/{rework.id}").get_data(as_text=True)
    banner = re.search(r'data-testid="rework-reason">(.*?)</div>\s*</div>', html, re.S)
    assert banner and "【复核销号】复核不通过 ：门锁回路仍有短接线，请拆除。" in _text(banner.group(1))
    assert html.index('data-testid="rework-reason"') < html.index('data-testid="task-form"')


def test_an_enterprise_task_page_offers_only_submit(web, api):
    case = make_case()
    dispatch(case)
    task = open_task(case)
    html = web("unit_xn").get(f"/tasks/{task.id}").get_data(as_text=True)
    assert 'data-testid="submit-task"' in html and 'data-testid="save-draft"' in html    # 办理 and 暂存
    for testid in ("open-transfer", "open-delegate", "open-sign", "claim", "return-box"):
        assert f'data-testid="{testid}"' not in html, testid
    unit = api("unit_xn")
    colleague = user("unit_xn")
    for path, body in ((f"/api/v1/tasks/{task.id}/claim", {}),
                       (f"/api/v1/tasks/{task.id}/transfer", {"target": colleague.id, "opinion": "请同事办理"}),
                       (f"/api/v1/tasks/{task.id}/return", {"target": "dispatch", "reason": "请重新核定"})):
        resp = unit.post(path, json=body)
        assert resp.status_code == 403 and resp.get_json()["error"]["code"] == "operation_not_allowed", path
    # the regulator's own task keeps them
    html = web("xn_supervisor").get(f"/tasks/{open_task(make_case()).id}").get_data(as_text=True)
    assert all(f'data-testid="{t}"' in html for t in ("open-transfer", "open-delegate", "open-sign", "claim"))


def test_an_agency_cannot_return_the_units_rectification_and_the_unit_cannot_return_the_agencys_verdict():
    from app.review import services
    case = make_case(reporter="agency_gx")
    dispatch(case)
    feedback(case)
    verify = open_task(case)
    assert verify.task_def == "verify_agency"
    with pytest.raises(Exception) as refused:
        services.return_task(verify.id, user("agency_gx"), "rectify", "材料不全", {})
    assert getattr(refused.value, "code", None) == "operation_not_allowed"


@pytest.mark.parametrize("field, value, message", [
    ("found_on", 1, "日期不能晚于今天"),
])
def test_a_report_found_in_the_future_is_refused(field, value, message):
    from app.engine import runtime
    from tests.conftest import equipment_of, report_data
    with pytest.raises(ValidationFailed) as err:
        runtime.start_case("major_hazard", user("xn_supervisor"),
                           report_data(equipment_of("unit_xn"), **{field: _day(value)}))
    assert err.value.fields[field].startswith(message)


def test_rectification_dates_must_make_sense():
    from app.engine import runtime
    case = make_case()
    dispatch(case, days=10)
    task = open_task(case)
    cases = [({"feedback_type": "feedback", "measures": "更换门锁并恢复安全回路。", "completed_on": _day(1),
               "evidence": [upload("unit_xn")]}, "completed_on", "日期不能晚于今天"),
             ({"feedback_type": "feedback", "measures": "更换门锁并恢复安全回路。", "completed_on": _day(-3),
               "evidence": [upload("unit_xn")]}, "completed_on", "不能早于发现日期"),
             ({"feedback_type": "extension", "requested_deadline": _day(5), "extension_reason": "配件尚未到货。"},
              "requested_deadline", f"须晚于当前整改期限（{_day(10)}）")]
    for data, field, message in cases:
        with pytest.raises(ValidationFailed) as err:
            runtime.complete_task(task.id, user("unit_xn"), data)
        assert err.value.fields[field].startswith(message), err.value.fields
        from app.extensions import db
        db.session.rollback()
    complete(case, "unit_xn", {"feedback_type": "extension", "requested_deadline": _day(11),
                               "extension_reason": "配件尚未到货。"})


def test_done_tab_lists_completion_time_my_decision_and_the_case_now(web):
    first, second = make_case(), make_case()
    dispatch(first)
    dispatch(second)
    complete(second, "unit_xn", {"feedback_type": "extension", "requested_deadline": _day(40),
                                 "extension_reason": "配件尚未到货。"})
    html = web("xn_supervisor").get("/inbox?box=done").get_data(as_text=True)
    assert "待办中心 / 我的已办" in html and "到期时间" not in html and "预警" not in _text(html.split("<tbody>")[1])
    rows = re.findall(r"<tr>\s*<td class=\"mono\">(YH\d+)</td>.*?</tr>", html, re.S)
    assert rows[:2] == [second.case_no, first.case_no]                      # newest completion first
    assert html.count('data-testid="done-decision"><span class="tag tag-pass">认定并派单</span>') >= 2
    assert "延期审核" in _text(html)                                          # the second case's step now
    assert len(re.findall(r'data-testid="done-at"><span class="nowrap">\d{4}-\d\d-\d\d \d\d:\d\d<', html)) >= 2


def test_the_unit_is_told_of_the_notice_the_rework_and_the_closing(web):
    from sqlalchemy import select

    from app.extensions import db
    from app.sms.models import SmsMessage
    from app.taskops.models import Notification
    case = make_case()
    dispatch(case, days=10)
    unit = user("unit_xn")
    notes = list(db.session.scalars(select(Notification).where(Notification.user_id == unit.id,
                                                               Notification.case_id == case.id)))
    assert [n.kind for n in notes] == ["notice"] and "整改通知书" in notes[0].title and _day(10) in notes[0].title
    assert notes[0].body == "立即停用并整改门锁回路。"
    sms = list(db.session.scalars(select(SmsMessage).where(SmsMessage.case_id == case.id)))
    assert sms and {m.template_code for m in sms} == {"MAJOR_HAZARD_NOTICE"} and len(sms) == len(unit.org.contacts)
    assert "使用登记证编号" in sms[0].content and "GB 45067-2024 4.6 b)" in sms[0].content
    assert "未登记" not in sms[0].content
    page = web("unit_xn").get("/notifications").get_data(as_text=True)
    rectify = open_task(case)
    assert f'href="/tasks/{rectify.id}" data-testid="notification-task">去办理' in page    # links to the task

    feedback(case)
    complete(case, "xn_supervisor", {"verify_result": "fail", "opinion": "门锁回路仍有短接线。"})
    rework = db.session.scalar(select(Notification).where(Notification.user_id == unit.id,
                                                          Notification.kind == "rework"))
    assert rework is not None and rework.body == "门锁回路仍有短接线。" and case.case_no in rework.title
    feedback(case)
    complete(case, "xn_supervisor", {"verify_result": "pass", "opinion": "整改到位。"})
    closed = db.session.scalar(select(Notification).where(Notification.user_id == unit.id, Notification.kind == "closed"))
    assert closed is not None and "已销号" in closed.title
    assert db.session.scalar(select(SmsMessage.id).where(SmsMessage.case_id == case.id,
                                                         SmsMessage.template_code == "CASE_CLOSED")) is not None


def test_a_review_panel_naming_an_unknown_step_or_field_is_refused_at_deploy():
    import copy
    import json

    from app.engine.registry import DefinitionError, ProcessBundle, latest_version, parse_bundle
    version = latest_version("major_hazard")
    forms = copy.deepcopy(json.loads(version.forms_json))
    forms["verify"]["ui"]["review"] = [{"step": "rectify", "fields": ["measures", "no_such_field"]},
                                       {"step": "no_such_step"}]
    bundle = ProcessBundle(process_key="major_hazard", bpmn_xml=version.bpmn_xml, forms=forms,
                           dmn=json.loads(version.dmn_json or "{}"))
    with pytest.raises(DefinitionError) as err:
        parse_bundle(bundle)
    messages = [i.message for i in err.value.issues]
    assert "表单 verify 的审查面板：环节 rectify 的表单没有字段 no_such_field" in messages
    assert "表单 verify 的审查面板引用的环节 no_such_step 不是本流程的用户任务" in messages


def test_a_half_filled_form_is_kept_with_save_as_draft_and_nothing_moves(web):
    from app.cases.models import CaseEvent
    from app.extensions import db
    from sqlalchemy import func, select
    case = make_case()
    dispatch(case)
    task = open_task(case)
    events = db.session.scalar(select(func.count(CaseEvent.id)).where(CaseEvent.case_id == case.id))
    unit = web("unit_xn")
    resp = unit.post(f"/tasks/{task.id}", data={"action": "draft", "feedback_type": "feedback",
                                                "measures": "已订购门锁"})      # too short to submit: kept anyway
    assert resp.status_code == 302 and resp.headers["Location"].endswith(f"/tasks/{task.id}")
    page = unit.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert ">已订购门锁</textarea>" in page and 'data-testid="draft-note"' in page
    db.session.expire_all()
    assert open_task(case).id == task.id and open_task(case).status == "open"
    assert db.session.scalar(select(func.count(CaseEvent.id)).where(CaseEvent.case_id == case.id)) == events
    # someone who does not hold the task cannot overwrite it
    other = web("xn_supervisor").post(f"/tasks/{task.id}", data={"action": "draft", "measures": "x"})
    assert other.status_code == 403
