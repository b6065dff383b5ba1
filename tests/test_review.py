"""退回 with field review notes and the resubmission diff (app/review)."""
import json
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.conftest import complete, deploy_test_process, make_case, open_task, upload, user

@pytest.fixture
def demo():
    """The test process review_demo: fill → review → (check_a ∥ check_b) → countersign ×2 → approve."""
    yield from deploy_test_process("review_demo", "退回测试")


def start_demo(username="xn_supervisor"):
    from app.engine import runtime
    from app.extensions import db
    case = runtime.start_case("review_demo", user(username), {"subject": "起始"})
    db.session.commit()
    return case


def tasks(case, status="open"):
    from app.cases.models import Task
    from app.extensions import db
    db.session.expire_all()
    return list(db.session.scalars(select(Task).where(Task.case_id == case.id, Task.status == status)
                                   .order_by(Task.id)))


def do(case, task_def, username, data=None):
    from app.engine import runtime
    from app.extensions import db
    task = next(t for t in tasks(case) if t.task_def == task_def)
    runtime.complete_task(task.id, user(username), data or {})
    db.session.commit()


def give_back(task, username, target, reason="材料不全，请补充", notes=None):
    from app.extensions import db
    from app.review import services
    record = services.return_task(task.id, user(username), target, reason, notes or {})
    db.session.commit()
    return record


def test_return_reopens_the_step_for_its_previous_holder_with_notes_and_timeline(demo):
    from app.engine.runtime import verify_case_chain
    case = start_demo()
    do(case, "fill", "xn_colleague", {"subject": "电梯检验", "detail": "初稿"})
    review = tasks(case)[0]
    assert review.task_def == "review"
    from app.review.services import return_options
    opts = return_options(review)
    assert [t["bpmn_id"] for t in opts["targets"]] == ["fill"]
    record = give_back(review, "xn_supervisor", "fill", "说明不完整", {"detail": "请写明检验日期"})
    open_now = tasks(case)
    assert [(t.task_def, t.assignee_id) for t in open_now] == [("fill", user("xn_colleague").id)]
    assert record.reopened_task_id == open_now[0].id
    assert [t.task_def for t in tasks(case, "cancelled")] == ["review"]
    from app.cases.models import CaseEvent
    from app.extensions import db
    ev = db.session.scalar(select(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.kind == "returned"))
    assert ev.comment == "说明不完整" and json.loads(ev.data)["target"] == "fill"
    assert json.loads(ev.data)["notes"] == {"detail": "请写明检验日期"}
    assert verify_case_chain(case.id) is None
    # the engine continues normally after the return
    do(case, "fill", "xn_colleague", {"subject": "电梯检验", "detail": "2026-11-20 检验"})
    assert [t.task_def for t in tasks(case)] == ["review"]


def test_return_requires_a_reason_and_a_known_target_and_leaves_nothing(demo):
    from app.errors import ValidationFailed
    from app.extensions import db
    from app.review import services
    case = start_demo()
    do(case, "fill", "xn_supervisor", {"subject": "x"})
    review = tasks(case)[0]
    with pytest.raises(ValidationFailed) as err:
        services.return_task(review.id, user("xn_supervisor"), "nowhere", " ", {})
    assert set(err.value.fields) == {"reason", "target"}
    db.session.rollback()
    with pytest.raises(ValidationFailed) as err:
        services.return_task(review.id, user("xn_supervisor"), "fill", "理由充分", {"no_such": "x"})
    assert "note_no_such" in err.value.fields
    db.session.rollback()
    assert [t.task_def for t in tasks(case)] == ["review"]


def test_first_step_has_nothing_to_return_to(demo):
    from app.errors import Conflict
    from app.review import services
    case = start_demo()
    first = tasks(case)[0]
    assert services.return_options(first)["refused"] == "本环节之前没有可退回的办理环节"
    with pytest.raises(Conflict, match="没有可退回"):
        services.return_task(first.id, user("xn_supervisor"), "fill", "理由", {})


def test_other_county_and_non_candidates_may_not_return(demo):
    from app.errors import Forbidden
    from app.review import services
    case = start_demo()
    do(case, "fill", "xn_supervisor", {"subject": "x"})
    with pytest.raises(Forbidden):
        services.return_task(tasks(case)[0].id, user("qx_supervisor"), "fill", "理由", {})


def test_return_across_a_running_parallel_branch_is_refused(demo):
    from app.errors import Conflict
    from app.review import services
    case = start_demo()
    do(case, "fill", "xn_supervisor", {"subject": "x"})
    do(case, "review", "xn_supervisor")
    check_a = next(t for t in tasks(case) if t.task_def == "check_a")
    with pytest.raises(Conflict, match="并行分支【核查乙】尚未办结"):
        services.return_task(check_a.id, user("xn_supervisor"), "review", "理由", {})
    do(case, "check_b", "xn_supervisor")   # once the other branch is done, the return goes through
    check_a = tasks(case)[0]
    give_back(check_a, "xn_supervisor", "review")
    assert [t.task_def for t in tasks(case)] == ["review"]


def test_multi_instance_step_can_neither_return_nor_be_returned_to(demo):
    from app.errors import Conflict
    from app.review import services
    case = start_demo()
    do(case, "fill", "xn_supervisor", {"subject": "x"})
    do(case, "review", "xn_supervisor")
    do(case, "check_a", "xn_supervisor")
    do(case, "check_b", "xn_supervisor")
    instances = tasks(case)
    assert [t.task_def for t in instances] == ["countersign", "countersign"]
    assert "多实例" in services.return_options(instances[0])["refused"]
    with pytest.raises(Conflict, match="多实例"):
        services.return_task(instances[0].id, user("xn_supervisor"), "review", "理由", {})
    do(case, "countersign", "xn_supervisor")
    do(case, "countersign", "xn_supervisor")
    approve = tasks(case)[0]
    options = {t["bpmn_id"]: t["refused"] for t in services.return_options(approve)["targets"]}
    assert set(options) == {"countersign", "check_b", "review", "fill"}
    assert "多实例" in options["countersign"] and "已汇合" in options["check_b"]
    assert options["review"] is None and options["fill"] is None
    with pytest.raises(Conflict, match="多实例"):
        services.return_task(approve.id, user("xn_supervisor"), "countersign", "理由", {})
    give_back(approve, "xn_supervisor", "review")       # before the split: both branches run again
    assert [t.task_def for t in tasks(case)] == ["review"]
    do(case, "review", "xn_supervisor")
    assert sorted(t.task_def for t in tasks(case)) == ["check_a", "check_b"]


def test_hazard_rectify_returned_with_field_notes_then_diff_for_the_reviewer(web):
    """major_hazard: the bureau returns 整改反馈 to the unit with a note on the photos; the unit
    resubmits; the bureau's next task page shows the diff."""
    from app.extensions import db
    case = make_case()
    from tests.test_hazard_process import dispatch
    dispatch(case)                                                   # 派单督办
    rectify = open_task(case)
    assert rectify.task_def == "rectify"
    from app.engine.runtime import task_form_schema
    schema = task_form_schema(rectify)
    photo_field = next(k for k, v in schema["properties"].items() if v.get("ui:widget") == "files")
    first_photo = upload("unit_xn")
    data = {k: v for k, v in _rectify_data(schema).items()}
    data[photo_field] = [first_photo]
    complete(case, "unit_xn", data)
    verify = open_task(case)
    s = web("xn_supervisor")
    page = s.get(f"/tasks/{verify.id}")
    assert "退回" in page.text and 'value="rectify"' in page.text
    r = s.post(f"/tasks/{verify.id}/return", data={"target": "rectify", "reason": "",
                                                  f"note_{photo_field}": "铭牌照片不清晰"})
    assert r.status_code == 422 and "请填写退回理由" in r.text
    r = s.post(f"/tasks/{verify.id}/return", data={"target": "rectify", "reason": "整改材料不合格",
                                                  f"note_{photo_field}": "铭牌照片不清晰"})
    assert r.status_code == 302
    reopened = open_task(case)
    assert reopened.task_def == "rectify" and reopened.assignee_id == user("unit_xn").id
    u = web("unit_xn")
    page = u.get(f"/tasks/{reopened.id}")
    assert "被退回：整改材料不合格" in page.text and "铭牌照片不清晰" in page.text
    second_photo = upload("unit_xn", name="nameplate.jpg")
    data2 = dict(data)
    data2[photo_field] = [second_photo]
    complete(case, "unit_xn", data2)
    db.session.expire_all()
    again = open_task(case)
    assert again.task_def == verify.task_def
    page = s.get(f"/tasks/{again.id}")
    assert 'data-testid="review-diff"' in page.text
    assert page.text.count("新增附件 nameplate.jpg") == 1 and page.text.count("删除附件 photo.jpg") == 1
    from app.review.services import review_panel
    assert [d["field"] for d in review_panel(again)["diff"]] == [photo_field]   # only the photo changed


def _rectify_data(schema):
    from app.core.clock import today_local
    return {"feedback_type": "feedback", "measures": "已更换门锁并恢复安全回路，经自检合格。",
            "completed_on": today_local().isoformat()}


# ---------------------------------------------------------------- 退回 across 整改反馈's deadline timers

def _hazard_state(case):
    """(open task rows by step, the engine's waiting events, the case row) as stored."""
    from app.cases.models import Case
    from app.engine import runtime
    from app.extensions import db
    db.session.expire_all()
    case = db.session.get(Case, case.id)
    waiting = sorted(e.name for e in runtime._load(case).waiting_events())
    return {t.task_def: t for t in tasks(case)}, waiting, case


def _timers_due(day):
    """Run the timer job as it would run at 09:00 Beijing time on `day`; returns its run record."""
    import time_machine

    from app.scheduler.jobs import run_job
    from tests.test_scheduler import local
    with time_machine.travel(local(day), tick=False):
        return run_job("timers")


def test_the_use_unit_may_not_return_rectification_to_the_bureaus_dispatch(api, web):
    """整改反馈 is the unit's; 派单督办 the bureau's order. The unit sees the step refused with the
    reason and a return is refused with nothing changed (it asks for more time in its own form)."""
    from tests.test_hazard_process import dispatch
    case = make_case()
    dispatch(case, days=10)
    rectify = open_task(case)
    unit = api("unit_xn")
    body = unit.get(f"/api/v1/tasks/{rectify.id}/return-targets").get_json()
    assert [(t["task_def"], t["refused"]) for t in body["targets"]] == [
        ("dispatch", "【派单督办】是监管部门办理的环节，不能由被监管一方退回；如有异议，请在本环节的表单中说明")]
    r = unit.post(f"/api/v1/tasks/{rectify.id}/return", json={"target": "dispatch", "reason": "整改期限需重新核定"})
    assert r.status_code == 403 and r.get_json()["error"]["code"] == "operation_not_allowed", r.get_json()
    open_now, waiting, _ = _hazard_state(case)
    assert list(open_now) == ["rectify"] and waiting == ["整改期限届满", "超期15日仍未整改"]
    assert body["refused"] == body["targets"][0]["refused"]      # no step left to return to: the reason
    page = web("unit_xn").get(f"/tasks/{rectify.id}").get_data(as_text=True)
    assert 'data-testid="return-box"' not in page and "data-return-target" not in page   # 退回 is not theirs


@pytest.fixture
def unit_may_return(monkeypatch):
    """The engine path of a process whose deadline-timed step may be returned to the step before it
    (a regulator's step in a process an administrator draws): the shipped hazard process refuses
    the unit's return (test above), so the tests below lift that one rule to reach the engine."""
    from app.review import services
    from app.taskops import services as taskops
    monkeypatch.setattr(services, "is_regulator", lambda role: True)
    monkeypatch.setattr(taskops, "operations_allowed", lambda user, task: frozenset(taskops.REGULATOR_OPERATIONS))


def test_hazard_rectify_returned_to_dispatch_then_the_new_deadline_timer_fires(api, unit_may_return):
    """整改反馈 (with its two boundary deadline timers waiting) 退回 to 派单督办: the reset drops the
    timers from the engine (it used to fail with 500 engine_error: SpiffWorkflow kept the dropped
    timers in its event manager and refreshed a timer whose parent was gone)."""
    from datetime import timedelta

    from sqlalchemy import func

    from app.cases.models import CaseEvent
    from app.core.clock import as_utc, today_local
    from app.engine.runtime import verify_case_chain
    from app.extensions import db
    from tests.test_hazard_process import dispatch
    from tests.test_scheduler import local
    case = make_case()
    dispatch(case, days=10)
    rectify = open_task(case)
    assert _hazard_state(case)[1] == ["整改期限届满", "超期15日仍未整改"]
    unit = api("unit_xn")
    body = unit.get(f"/api/v1/tasks/{rectify.id}/return-targets").get_json()
    assert [t["task_def"] for t in body["targets"]] == ["dispatch"]
    r = unit.post(f"/api/v1/tasks/{rectify.id}/return", json={"target": "dispatch", "reason": "整改期限需重新核定"})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["reopened_task"]["task_def"] == "dispatch"

    open_now, waiting, case = _hazard_state(case)
    assert [(d, t.assignee_id) for d, t in open_now.items()] == [("dispatch", user("xn_supervisor").id)]
    assert [t.task_def for t in tasks(case, "cancelled")] == ["rectify"]
    assert waiting == [] and case.next_timer_at is None and case.due_at is None   # the old timers are gone
    assert case.current_step == "派单督办"
    returned = db.session.scalar(select(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.kind == "returned"))
    assert returned.task_def == "rectify" and json.loads(returned.data)["target"] == "dispatch"
    assert returned.comment == "整改期限需重新核定" and verify_case_chain(case.id) is None

    dispatch(case, days=3)                      # the bureau dispatches again with a new deadline
    deadline = today_local() + timedelta(days=3)
    open_now, waiting, case = _hazard_state(case)
    assert list(open_now) == ["rectify"] and waiting == ["整改期限届满", "超期15日仍未整改"]
    assert as_utc(case.next_timer_at) == local(deadline + timedelta(days=1), 0)
    assert _timers_due(deadline).items == 0
    run = _timers_due(deadline + timedelta(days=1))
    assert run.status == "ok" and run.items == 1 and run.failures == 0
    open_now, waiting, case = _hazard_state(case)
    assert set(open_now) == {"rectify", "supervise_city"} and waiting == ["超期15日仍未整改"]
    assert db.session.scalar(select(func.count(CaseEvent.id)).where(CaseEvent.case_id == case.id,
                                                                     CaseEvent.kind == "timer")) == 1
    assert verify_case_chain(case.id) is None


def test_hazard_return_after_the_city_escalation_drops_the_province_timer(unit_may_return):
    """The 整改期限届满 timer fired (市局督办 opened); while that supervision is open the return is
    refused; once it is done, 整改反馈 (its 超期15日 timer still waiting) goes back to 派单督办 and
    the province escalation never comes."""
    from datetime import timedelta

    from app.core.clock import today_local
    from app.engine import runtime
    from app.errors import Conflict
    from app.extensions import db
    from app.review import services
    from tests.test_hazard_process import dispatch
    case = make_case()
    dispatch(case, days=3)
    deadline = today_local() + timedelta(days=3)
    assert _timers_due(deadline + timedelta(days=1)).items == 1
    open_now, waiting, _ = _hazard_state(case)
    assert set(open_now) == {"rectify", "supervise_city"} and waiting == ["超期15日仍未整改"]
    with pytest.raises(Conflict, match="并行分支【超期督办\\(市局\\)】尚未办结"):
        services.return_task(open_now["rectify"].id, user("unit_xn"), "dispatch", "申请重新核定期限", {})
    db.session.rollback()
    runtime.complete_task(open_now["supervise_city"].id, user("nn_city"),
                          {"supervise_method": "interview", "opinion": "已约谈使用单位主要负责人"})
    db.session.commit()
    give_back(_hazard_state(case)[0]["rectify"], "unit_xn", "dispatch", "申请重新核定期限")
    open_now, waiting, case = _hazard_state(case)
    assert list(open_now) == ["dispatch"] and waiting == [] and case.next_timer_at is None
    assert _timers_due(deadline + timedelta(days=16)).items == 0
    assert list(_hazard_state(case)[0]) == ["dispatch"]


def test_hazard_verify_returned_to_rectify_rearms_its_deadline_timer():
    """复核销号 退回 to 整改反馈: the step is reset with its boundary timers, armed again at the deadline."""
    from datetime import timedelta

    from app.core.clock import as_utc, today_local
    from tests.test_hazard_process import dispatch, feedback
    from tests.test_scheduler import local
    case = make_case()
    dispatch(case, days=3)
    deadline = today_local() + timedelta(days=3)
    feedback(case)
    open_now, waiting, case = _hazard_state(case)
    assert list(open_now) == ["verify_bureau"] and waiting == [] and case.next_timer_at is None
    give_back(open_now["verify_bureau"], "xn_supervisor", "rectify", "整改证明材料不全")
    open_now, waiting, case = _hazard_state(case)
    assert [(d, t.assignee_id) for d, t in open_now.items()] == [("rectify", user("unit_xn").id)]
    assert waiting == ["整改期限届满", "超期15日仍未整改"]
    assert as_utc(case.next_timer_at) == local(deadline + timedelta(days=1), 0)
    assert _timers_due(deadline + timedelta(days=1)).items == 1
    assert set(_hazard_state(case)[0]) == {"rectify", "supervise_city"}


def test_hazard_return_to_rectify_refused_while_the_province_supervises():
    """Resetting 整改反馈 resets its boundary branches too: the open 超期督办(自治区局) would be
    dropped, so the return is refused until that supervision is done."""
    from datetime import timedelta

    from app.core.clock import today_local
    from app.engine import runtime
    from app.errors import Conflict
    from app.extensions import db
    from app.review import services
    from tests.test_hazard_process import dispatch, feedback
    case = make_case()
    dispatch(case, days=3)
    deadline = today_local() + timedelta(days=3)
    _timers_due(deadline + timedelta(days=1))
    _timers_due(deadline + timedelta(days=16))
    open_now = _hazard_state(case)[0]
    assert set(open_now) == {"rectify", "supervise_city", "supervise_province"}
    runtime.complete_task(open_now["supervise_city"].id, user("nn_city"),
                          {"supervise_method": "interview", "opinion": "已约谈使用单位主要负责人"})
    db.session.commit()
    feedback(case)
    open_now = _hazard_state(case)[0]
    assert set(open_now) == {"verify_bureau", "supervise_province"}
    with pytest.raises(Conflict, match="并行分支【超期督办\\(自治区局\\)】尚未办结") as err:
        services.return_task(open_now["verify_bureau"].id, user("xn_supervisor"), "rectify", "证明材料不全", {})
    assert err.value.code == "return_parallel_open"
    db.session.rollback()
    assert set(_hazard_state(case)[0]) == {"verify_bureau", "supervise_province"}
    runtime.complete_task(open_now["supervise_province"].id, user("gx_province"),
                          {"supervise_method": "interview", "opinion": "已督促限期整改"})
    db.session.commit()
    give_back(_hazard_state(case)[0]["verify_bureau"], "xn_supervisor", "rectify", "证明材料不全")
    assert list(_hazard_state(case)[0]) == ["rectify"]


def test_api_return_targets_and_return(api, demo):
    case = start_demo()
    do(case, "fill", "xn_supervisor", {"subject": "x"})
    review = tasks(case)[0]
    a = api("xn_supervisor")
    body = a.get(f"/api/v1/tasks/{review.id}/return-targets").get_json()
    assert body["targets"][0]["task_def"] == "fill"
    assert {"name": "detail", "label": "说明"} in body["targets"][0]["fields"]
    r = a.post(f"/api/v1/tasks/{review.id}/return", json={"target": "fill", "reason": ""})
    assert r.status_code == 422 and r.get_json()["error"]["fields"]["reason"]
    r = a.post(f"/api/v1/tasks/{review.id}/return", json={"target": "fill", "reason": "退回重填",
                                                          "notes": {"subject": "事项名称不规范"}})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["reopened_task"]["task_def"] == "fill"
    assert api("qx_supervisor").get(f"/api/v1/tasks/{review.id}/return-targets").status_code in (403, 404)


# ---------------------------------------------------------------- 撤回 / 撤销

def _done(case, task_def):
    return next(t for t in tasks(case, "completed") if t.task_def == task_def)


def test_withdraw_my_step_while_the_next_is_untouched(demo):
    from app.engine.runtime import verify_case_chain
    from app.extensions import db
    from app.review.withdraw import withdraw_blocker, withdraw_task
    case = start_demo()
    do(case, "fill", "xn_colleague", {"subject": "初稿"})
    mine = _done(case, "fill")
    assert withdraw_blocker(mine, user("xn_supervisor")) == "只能撤回本人已办理的环节"
    assert withdraw_blocker(mine, user("xn_colleague")) is None
    reopened = withdraw_task(mine.id, user("xn_colleague"))
    db.session.commit()
    assert [(t.task_def, t.assignee_id) for t in tasks(case)] == [("fill", user("xn_colleague").id)]
    assert [t.task_def for t in tasks(case, "cancelled")] == ["review"]
    assert reopened.id != mine.id and verify_case_chain(case.id) is None
    do(case, "fill", "xn_colleague", {"subject": "定稿"})
    assert [t.task_def for t in tasks(case)] == ["review"]


def test_withdraw_refused_after_the_next_step_acted(demo):
    from app.engine import runtime
    from app.errors import Conflict
    from app.extensions import db
    from app.review.withdraw import withdraw_task
    case = start_demo()
    do(case, "fill", "xn_colleague", {"subject": "初稿"})
    runtime.claim_task(tasks(case)[0].id, user("xn_supervisor"))      # the next holder claims it
    db.session.commit()
    with pytest.raises(Conflict, match="下一环节已有办理动作（.*签收【审核】"):
        withdraw_task(_done(case, "fill").id, user("xn_colleague"))
    db.session.rollback()
    other = start_demo()
    do(other, "fill", "xn_colleague", {"subject": "初稿"})
    do(other, "review", "xn_supervisor")                               # completed without a claim
    with pytest.raises(Conflict, match="完成【审核】"):
        withdraw_task(_done(other, "fill").id, user("xn_colleague"))
    db.session.rollback()
    assert sorted(t.task_def for t in tasks(other)) == ["check_a", "check_b"]
    assert [t.task_def for t in tasks(case)] == ["review"]


def test_withdraw_refused_after_a_system_step_ran(web):
    """major_hazard: 派单督办 issues the rectification notice (a service task): no withdraw."""
    from tests.test_hazard_process import dispatch
    case = make_case()
    task_id = open_task(case).id
    dispatch(case)
    s = web("xn_supervisor")
    page = s.get(f"/tasks/{task_id}")
    assert 'data-testid="withdraw-refused"' in page.text and "系统已执行" in page.text
    r = s.post(f"/tasks/{task_id}/withdraw")
    assert r.status_code == 302
    assert open_task(case).task_def == "rectify"


def test_withdraw_through_the_page_and_api(web, api, demo):
    case = start_demo()
    do(case, "fill", "xn_colleague", {"subject": "初稿"})
    mine = _done(case, "fill")
    s = web("xn_colleague")
    assert 'data-testid="withdraw"' in s.get(f"/tasks/{mine.id}").text
    assert api("xn_supervisor").post(f"/api/v1/tasks/{mine.id}/withdraw", json={}).status_code == 403
    r = api("xn_colleague").post(f"/api/v1/tasks/{mine.id}/withdraw", json={})
    assert r.status_code == 200 and r.get_json()["reopened_task"]["task_def"] == "fill"
    assert api("xn_colleague").post(f"/api/v1/tasks/{mine.id}/withdraw", json={}).status_code == 409


def test_cancel_by_the_initiator_when_the_process_allows(web, api, demo):
    from app.cases.models import Case, CaseEvent
    from app.extensions import db
    case = start_demo("xn_supervisor")
    a = api("xn_colleague")
    assert a.post(f"/api/v1/cases/{case.id}/cancel", json={"reason": "不是我发起的"}).status_code == 403
    s = web("xn_supervisor")
    assert 'data-testid="cancel-case"' in s.get(f"/cases/{case.id}").text
    r = api("xn_supervisor").post(f"/api/v1/cases/{case.id}/cancel", json={"reason": ""})
    assert r.status_code == 422 and r.get_json()["error"]["fields"]["reason"]
    r = api("xn_supervisor").post(f"/api/v1/cases/{case.id}/cancel", json={"reason": "重复填报"})
    assert r.status_code == 200 and r.get_json()["status"] == "cancelled"
    db.session.expire_all()
    assert db.session.get(Case, case.id).status == "cancelled"
    assert tasks(case) == [] and [t.task_def for t in tasks(case, "cancelled")] == ["fill"]
    ev = db.session.scalar(select(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.kind == "cancelled"))
    assert ev.comment == "重复填报"
    again = api("xn_supervisor").post(f"/api/v1/cases/{case.id}/cancel", json={"reason": "再次"})
    assert again.status_code == 409 and again.get_json()["error"]["message"] == "案件已撤销，不能撤销"


def test_nothing_is_withdrawn_from_a_cancelled_case(demo):
    from app.extensions import db
    from app.review.withdraw import cancel_case, withdraw_blocker
    case = start_demo("xn_supervisor")
    do(case, "fill", "xn_supervisor", {"subject": "x"})
    cancel_case(case.id, user("xn_supervisor"), "重复填报")
    db.session.commit()
    assert withdraw_blocker(_done(case, "fill"), user("xn_supervisor")) == "案件已撤销，不能撤回"


def test_major_hazard_is_not_cancellable(web):
    from app.errors import Conflict
    from app.review.withdraw import cancel_case
    case = make_case()
    page = web("xn_supervisor").get(f"/cases/{case.id}").text
    assert 'data-testid="cancel-box"' not in page and 'data-testid="dossier"' in page
    with pytest.raises(Conflict, match="不允许发起人撤销"):
        cancel_case(case.id, user("xn_supervisor"), "理由")


# ---------------------------------------------------------------- what comes next, 案卷 PDF

def test_timeline_shows_the_next_step_its_candidates_and_what_follows(web, demo):
    from app.engine import runtime
    from app.extensions import db
    from app.review.nextsteps import next_steps
    case = make_case()
    [row] = next_steps(case)
    assert row["task"].task_def == "dispatch" and row["holder"] == "兴宁区 · 区县局监察人员"
    assert [a["name"] for a in row["after"]] == ["整改反馈"]
    page = web("xn_supervisor").get(f"/cases/{case.id}").text
    assert "办理：兴宁区 · 区县局监察人员" in page and "之后：【整改反馈】（使用单位安全管理员）" in page
    runtime.claim_task(row["task"].id, user("xn_supervisor"))
    db.session.commit()
    assert next_steps(case)[0]["holder"] == f"{user('xn_supervisor').display_name}（已签收）"
    demo_case = start_demo()
    do(demo_case, "fill", "xn_supervisor", {"subject": "x"})
    do(demo_case, "review", "xn_supervisor")
    assert {r["task"].task_def: [a["task_def"] for a in r["after"]] for r in next_steps(demo_case)} == \
        {"check_a": ["countersign"], "check_b": ["countersign"]}


def test_dossier_pdf_holds_facts_steps_signature_attachments_and_chain(monkeypatch, web):
    import base64
    import io

    import pypdf

    from app.cases.models import CaseEvent
    from app.engine import runtime
    from app.extensions import db
    from app.security.models import AuditLog
    from tests.test_taskops import png
    original = runtime._user_task_props

    def with_signature(spiff_task):
        props = dict(original(spiff_task))
        if spiff_task.task_spec.bpmn_id == "dispatch":
            props["signatureRequired"] = "true"
        return props
    monkeypatch.setattr(runtime, "_user_task_props", with_signature)
    photo = upload("xn_supervisor", name="现场铭牌.jpg")
    case = make_case(photos=[photo])
    signed = "data:image/png;base64," + base64.b64encode(png(inked=300)).decode()
    task = open_task(case)
    from tests.test_route_scope import _dispatch_form
    runtime.complete_task(task.id, user("xn_supervisor"), _dispatch_form({}), extras={"signature": signed})
    db.session.commit()
    s = web("xn_supervisor")
    r = s.get(f"/cases/{case.id}/dossier.pdf")
    assert r.status_code == 200 and r.mimetype == "application/pdf" and r.data[:5] == b"%PDF-"
    reader = pypdf.PdfReader(io.BytesIO(r.data))
    text = "".join(page.extract_text() for page in reader.pages).replace("\n", "")
    assert f"案卷 {case.case_no}" in text.replace("\u3000", " ")
    for expected in ("一、案件概况", "派单督办", "审批意见", "情况属实", "立即停用并整改门锁回路", "手写签名",
                     "现场铭牌.jpg", "三、附件清单", "四、流转记录", "链校验：完整"):
        assert expected in text, expected
    from app.core.models import Attachment
    assert db.session.get(Attachment, photo).sm3 in text.replace(" ", "")
    last = db.session.scalar(select(CaseEvent.hash).where(CaseEvent.case_id == case.id)
                             .order_by(CaseEvent.seq.desc()).limit(1))
    assert last in text.replace(" ", "")
    images = [img for page in reader.pages for img in page.images]
    assert len(images) == 1, "the handwritten signature is embedded"
    sig = images[0].image.convert("L")                        # ink on white, not a black box
    dark = sum(sig.histogram()[:128])
    assert 0 < dark < sig.width * sig.height / 2
    entry = db.session.scalar(select(AuditLog).where(AuditLog.event_type == "data.export")
                              .order_by(AuditLog.id.desc()).limit(1))
    assert entry.object_type == "case" and entry.object_id == str(case.id)
    assert web("qx_supervisor").get(f"/cases/{case.id}/dossier.pdf").status_code == 404
    artifacts = Path(__file__).parent.parent / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    (artifacts / "dossier-sample.pdf").write_bytes(r.data)


def test_bulk_return_goes_to_the_previous_step_per_item_and_refuses_the_impossible_with_reasons(demo, api):
    """批量退回 (API): each item to its previous user step with its own or the shared reason; items whose
    return is impossible (first step, running parallel branch, multi-instance) are refused, untouched."""
    from app.cases.models import CaseEvent
    from app.extensions import db
    plain = start_demo()
    do(plain, "fill", "xn_colleague", {"subject": "电梯检验", "detail": "初稿"})
    first = start_demo()
    parallel = start_demo()
    do(parallel, "fill", "xn_supervisor", {"subject": "x"})
    do(parallel, "review", "xn_supervisor")
    multi = start_demo()
    for step in ("fill", "review", "check_a", "check_b"):
        do(multi, step, "xn_supervisor", {"subject": "x"} if step == "fill" else None)
    after_multi = start_demo()
    for step in ("fill", "review", "check_a", "check_b", "countersign", "countersign"):
        do(after_multi, step, "xn_supervisor", {"subject": "x"} if step == "fill" else None)
    review_task = tasks(plain)[0]
    check_a = next(t for t in tasks(parallel) if t.task_def == "check_a")
    items = {"plain": review_task, "first": tasks(first)[0], "parallel": check_a,
             "multi": tasks(multi)[0], "after_multi": tasks(after_multi)[0]}
    ids = [t.id for t in items.values()]
    resp = api("xn_supervisor").post("/api/v1/tasks/bulk", json={
        "action": "return", "task_ids": ids, "opinion": "材料不全，请补充",
        "opinions": {str(review_task.id): "说明不完整，请写明检验日期"}})
    body = resp.get_json()
    assert resp.status_code == 200, body
    rows = {r["task_id"]: r for r in body["results"]}
    assert body["done"] == 1 and body["refused"] == 4
    done = rows[review_task.id]
    assert done["status"] == "done" and done["detail"] == "退回至【填报】"
    assert done["opinion"] == "说明不完整，请写明检验日期"                # the row's own reason
    assert [(t.task_def, t.assignee_id) for t in tasks(plain)] == [("fill", user("xn_colleague").id)]
    ev = db.session.scalar(select(CaseEvent).where(CaseEvent.case_id == plain.id, CaseEvent.kind == "returned"))
    assert ev.comment == "说明不完整，请写明检验日期" and ev.actor_id == user("xn_supervisor").id
    assert rows[items["first"].id]["reason"] == "本环节之前没有可退回的办理环节"
    assert "并行分支【核查乙】尚未办结" in rows[check_a.id]["reason"]
    assert "多实例" in rows[items["multi"].id]["reason"]
    assert "是多实例（会签）环节，不能作为退回目标" in rows[items["after_multi"].id]["reason"]
    for key in ("first", "parallel", "multi", "after_multi"):
        row = rows[items[key].id]
        assert row["status"] == "refused" and row["opinion"] == "材料不全，请补充", key
        case_id = items[key].case_id
        assert db.session.scalar(select(CaseEvent.id).where(CaseEvent.case_id == case_id,
                                                            CaseEvent.kind == "returned")) is None, key
    assert [t.task_def for t in tasks(parallel)] == ["check_a", "check_b"]


def test_bulk_return_needs_a_reason_unless_every_row_has_its_own(demo, api):
    case_a, case_b = start_demo(), start_demo()
    for case in (case_a, case_b):
        do(case, "fill", "xn_supervisor", {"subject": "x"})
    a, b = tasks(case_a)[0], tasks(case_b)[0]
    resp = api("xn_supervisor").post("/api/v1/tasks/bulk", json={
        "action": "return", "task_ids": [a.id, b.id], "opinions": {str(a.id): "理由甲"}})
    assert resp.status_code == 422
    assert resp.get_json()["error"]["fields"] == {
        "opinion": "请填写退回理由（至少 2 个字），将用于所有未单独填写意见的任务"}
    resp = api("xn_supervisor").post("/api/v1/tasks/bulk", json={
        "action": "return", "task_ids": [a.id, b.id], "opinions": {str(a.id): "理由甲", str(b.id): "乙"}})
    assert resp.get_json()["error"]["fields"] == {f"opinion_{b.id}": f"任务 #{b.id} 单独填写的退回理由须为 2–1000 个字"}
    assert [t.task_def for t in tasks(case_a)] == ["review"]           # nothing happened
    resp = api("xn_supervisor").post("/api/v1/tasks/bulk", json={
        "action": "return", "task_ids": [a.id, b.id], "opinions": {str(a.id): "理由甲", str(b.id): "理由乙"}})
    assert resp.get_json()["done"] == 2
    assert [t.task_def for t in tasks(case_a)] == ["fill"] and [t.task_def for t in tasks(case_b)] == ["fill"]
