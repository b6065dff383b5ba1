"""The major-hazard closed loop through the engine: every path the BPMN allows."""
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.cases.models import Case, CaseEvent, Task
from app.core.clock import today_local
from app.engine import runtime
from app.errors import ValidationFailed
from app.extensions import db

from .conftest import complete, equipment_of, hazard_of, make_case, open_task, upload, user


def dispatch(case, days=10):
    return complete(case, "xn_supervisor", {
        "dispatch_decision": "dispatch", "requirements": "立即停用并整改门锁回路。",
        "rectify_deadline": (today_local() + timedelta(days=days)).isoformat(), "opinion": "情况属实"})


def feedback(case):
    return complete(case, "unit_xn", {"feedback_type": "feedback", "measures": "更换门锁并恢复安全回路。",
                                      "completed_on": today_local().isoformat(), "evidence": [upload("unit_xn")]})


def test_report_lands_in_county_inbox_and_registers_hazard():
    case = make_case()
    task = open_task(case)
    assert (task.task_def, task.candidate_role, task.candidate_region) == ("dispatch", "county_supervisor", "450102")
    hazard = hazard_of(case)
    assert hazard.status == "reported" and hazard.source == "supervisor"
    assert case.case_no.startswith("YH") and case.status == "running"


def test_happy_path_report_dispatch_rectify_verify_close():
    case = make_case()
    dispatch(case, days=12)
    hazard = hazard_of(case)
    assert hazard.status == "rectifying" and hazard.notice_no and "450102" in hazard.notice_no
    task = open_task(case)
    assert task.task_def == "rectify" and task.candidate_org_id == user("unit_xn").org_id
    assert task.warning_level == "yellow"          # 12 days left: fewer than 20, not fewer than 10
    feedback(case)
    assert hazard_of(case).status == "verifying"
    assert open_task(case).task_def == "verify_bureau"
    complete(case, "xn_supervisor", {"verify_result": "pass", "opinion": "现场复核整改到位"})
    db.session.expire_all()
    case = db.session.get(Case, case.id)
    assert case.status == "closed" and case.outcome == "已销号" and open_task(case) is None
    hazard = hazard_of(case)
    assert hazard.status == "closed" and hazard.closed_at is not None and hazard.warning_level == "none"
    kinds = [e.kind for e in db.session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id)
                                                .order_by(CaseEvent.seq))]
    assert kinds[0] == "started" and kinds[-1] == "closed" and kinds.count("completed") == 3
    assert runtime.verify_case_chain(case.id) is None


def test_return_for_rework_goes_back_to_use_unit_with_reason():
    case = make_case()
    dispatch(case)
    feedback(case)
    complete(case, "xn_supervisor", {"verify_result": "fail", "opinion": "门锁回路仍被短接，未整改到位"})
    task = open_task(case)
    assert task.task_def == "rectify" and hazard_of(case).status == "rectifying"
    reasons = [e.comment for e in db.session.scalars(select(CaseEvent).where(
        CaseEvent.case_id == case.id, CaseEvent.task_def == "verify_bureau"))]
    assert "门锁回路仍被短接，未整改到位" in reasons
    feedback(case)
    complete(case, "xn_supervisor", {"verify_result": "pass", "opinion": "第二次复核通过"})
    assert hazard_of(case).status == "closed"


def test_extension_approved_moves_deadline_and_due_date():
    case = make_case()
    dispatch(case, days=5)
    new_deadline = (today_local() + timedelta(days=45)).isoformat()
    complete(case, "unit_xn", {"feedback_type": "extension", "requested_deadline": new_deadline,
                               "extension_reason": "需更换整套门机系统，配件订货周期较长"})
    assert hazard_of(case).status == "extension_pending"
    assert open_task(case).task_def == "approve_extension"
    assert runtime.task_data(open_task(case))["requested_deadline"] == new_deadline
    complete(case, "xn_supervisor", {"extension_decision": "approve", "approved_deadline": new_deadline,
                                     "opinion": "同意延期"})
    hazard = hazard_of(case)
    assert hazard.rectify_deadline.isoformat() == new_deadline and hazard.extension_count == 1
    task = open_task(case)
    assert task.task_def == "rectify" and task.warning_level == "none"     # 45 days left
    assert runtime.warning_for(task.due_at) == "none"


def test_extension_rejected_keeps_deadline():
    case = make_case()
    dispatch(case, days=5)
    before = hazard_of(case).rectify_deadline
    complete(case, "unit_xn", {"feedback_type": "extension",
                               "requested_deadline": (today_local() + timedelta(days=60)).isoformat(),
                               "extension_reason": "理由不充分的延期申请"})
    complete(case, "xn_supervisor", {"extension_decision": "reject", "opinion": "不同意，按期整改"})
    hazard = hazard_of(case)
    assert hazard.rectify_deadline == before and hazard.extension_count == 0 and hazard.status == "rectifying"
    assert open_task(case).task_def == "rectify"


def test_agency_report_is_verified_by_the_reporting_agency():
    case = make_case(reporter="agency_gx")
    hazard = hazard_of(case)
    assert hazard.source == "agency" and hazard.reporter_org_id == user("agency_gx").org_id
    dispatch(case)
    feedback(case)
    task = open_task(case)
    assert task.task_def == "verify_agency" and task.candidate_org_id == user("agency_gx").org_id
    complete(case, "agency_gx", {"verify_result": "pass", "opinion": "复检合格"})
    assert hazard_of(case).status == "closed"


def test_use_unit_self_report():
    case = make_case(reporter="unit_xn")
    assert hazard_of(case).source == "use_unit"
    assert open_task(case).task_def == "dispatch"


def test_dispatch_reject_closes_as_not_a_hazard():
    case = make_case()
    complete(case, "xn_supervisor", {"dispatch_decision": "reject", "opinion": "经核实不构成重大事故隐患"})
    db.session.expire_all()
    case = db.session.get(Case, case.id)
    assert case.status == "closed" and case.outcome == "不予认定结案"
    assert hazard_of(case).status == "rejected"


def test_use_unit_cannot_report_another_units_equipment():
    other = equipment_of("unit_qx")
    with pytest.raises(ValidationFailed) as err:
        runtime.start_case("major_hazard", user("unit_xn"), {
            "equipment_code": other.code, "criterion_id": "GB45067-4.6b", "description": "不是本单位的设备情况描述",
            "found_on": today_local().isoformat(), "rectify_deadline": today_local().isoformat()})
    assert err.value.fields == {"equipment_code": "设备不存在或不在您的管辖范围内"}
    db.session.rollback()
    assert db.session.scalar(select(Case).limit(1)) is None


def test_state_survives_serialization_every_step():
    """Each action deserialises the stored TEXT state; a full loop proves the round trip."""
    case = make_case()
    state = db.session.get(Case, case.id).state
    assert '"process_version_id"' in state and '"spec"' not in state[:200]
    dispatch(case)
    feedback(case)
    assert open_task(case).task_def == "verify_bureau"


def test_tasks_never_duplicate_and_cancelled_rows_are_not_left_open():
    case = make_case()
    dispatch(case)
    feedback(case)
    complete(case, "xn_supervisor", {"verify_result": "fail", "opinion": "退回"})
    rows = list(db.session.scalars(select(Task).where(Task.case_id == case.id).order_by(Task.id)))
    assert [t.task_def for t in rows] == ["dispatch", "rectify", "verify_bureau", "rectify"]
    assert [t.status for t in rows] == ["completed", "completed", "completed", "open"]
