"""The paused case clock: pause/resume shift due dates, freeze warnings, hold escalation timers;
permission checks; timeline entries; page and API."""
from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest
import time_machine
from sqlalchemy import select

from app.cases import clock
from app.cases.models import Case, CaseEvent, Task
from app.core.clock import DISPLAY_TZ, as_utc, today_local
from app.engine import runtime
from app.errors import Conflict, Forbidden
from app.extensions import db
from app.scheduler.jobs import fire_due_timers

from .conftest import complete, deploy_test_process, make_case, user


def local(day, hour=9):
    return datetime.combine(day, time(hour), DISPLAY_TZ)


def dispatched(days=10):
    case = make_case()
    complete(case, "xn_supervisor", {
        "dispatch_decision": "dispatch", "requirements": "立即停用并整改门锁回路。",
        "rectify_deadline": (today_local() + timedelta(days=days)).isoformat(), "opinion": "情况属实"})
    return case


def fresh(case) -> Case:
    db.session.expire_all()
    return db.session.get(Case, case.id)


def rectify_task(case) -> Task:
    return db.session.scalar(select(Task).where(Task.case_id == case.id, Task.task_def == "rectify",
                                                Task.status == "open"))


def kinds(case) -> list[str]:
    return list(db.session.scalars(select(CaseEvent.kind).where(CaseEvent.case_id == case.id)
                                   .order_by(CaseEvent.seq)))


def test_pause_freezes_warning_and_timers_resume_shifts_due_dates_and_timers():
    start = today_local()
    case = dispatched(days=10)
    deadline = start + timedelta(days=10)
    due_before = as_utc(rectify_task(case).due_at)
    timer_before = as_utc(fresh(case).next_timer_at)
    assert timer_before == local(deadline + timedelta(days=1), 0)

    # Day 2: the county pauses the clock (the enterprise must supply 补正 materials).
    with time_machine.travel(local(start + timedelta(days=2)), tick=False):
        clock.pause_case(case.id, user("xn_supervisor"), "补正材料", "请补交维保记录")
        db.session.commit()
        case = fresh(case)
        assert case.paused_at is not None and case.next_timer_at is None and case.pause_reason == "补正材料"
    # Day 20: long past the deadline — but paused: no escalation, no colour change.
    with time_machine.travel(local(start + timedelta(days=20)), tick=False):
        assert fire_due_timers().items == 0
        case = fresh(case)
        with db.session.no_autoflush:
            assert runtime.fire_timers(case) == []            # even if asked directly
        db.session.rollback()
        runtime.refresh_warnings()
        db.session.commit()
        case = fresh(case)
        assert case.warning_level == rectify_task(case).warning_level != "red"
        assert "escalated" not in kinds(case)
        page_state = clock.paused_days(case)
        assert page_state == 18
        # Resume after exactly 18 days: due date and the escalation timer move on by 18 days.
        clock.resume_case(case.id, user("xn_supervisor"), "材料已补齐")
        db.session.commit()
        case = fresh(case)
        task = rectify_task(case)
        assert case.paused_at is None and case.paused_seconds == 18 * 86400
        assert as_utc(task.due_at) == due_before + timedelta(days=18)
        assert as_utc(case.due_at) == as_utc(task.due_at)
        assert as_utc(case.next_timer_at) == timer_before + timedelta(days=18)
        assert task.warning_level == runtime.warning_for(task.due_at)
        ev = db.session.scalar(select(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.kind == "resumed"))
        assert "18 天" in ev.summary and ev.comment == "材料已补齐"
        assert kinds(case)[-2:] == ["paused", "resumed"]
    # The original deadline + 1 day: nothing yet (it moved) …
    with time_machine.travel(local(deadline + timedelta(days=1)), tick=False):
        assert fire_due_timers().items == 0
    # … the moved deadline passed: the escalation fires now.
    with time_machine.travel(local(deadline + timedelta(days=19)), tick=False):
        assert fire_due_timers().items == 1
        runtime.refresh_warnings()
        db.session.commit()
        case = fresh(case)
        assert "escalated" in kinds(case) and case.warning_level == rectify_task(case).warning_level == "red"
    assert runtime.verify_case_chain(case.id) is None


def test_an_engine_step_during_the_pause_does_not_fire_the_suspended_timer():
    """Any engine action refreshes waiting timers (SpiffWorkflow's refresh_waiting_tasks); the
    suspended ones must not fire however late it is, and must come back on resume."""
    from SpiffWorkflow.util.task import TaskState
    start = today_local()
    case = dispatched(days=3)
    with time_machine.travel(local(start + timedelta(days=1)), tick=False):
        clock.pause_case(case.id, user("xn_supervisor"), "中止审查")
        db.session.commit()
    with time_machine.travel(local(start + timedelta(days=30)), tick=False):
        wf = runtime._load(fresh(case))
        wf.refresh_waiting_tasks()
        wf.do_engine_steps()
        timers = [t for t, _ in clock._timer_tasks(wf)]
        assert len(timers) == 2 and all(t.state == TaskState.WAITING for t in timers)
        assert all(t._get_internal_data("event_value") == clock.SUSPENDED for t in timers)
        assert not any(t._get_internal_data("event_fired") for t in timers)
        assert clock.restore_timers(wf, datetime.now(DISPLAY_TZ)) == 2
        wf.refresh_waiting_tasks()
        assert not any(t._get_internal_data("event_fired") for t in timers)   # moved on by 29 days
    db.session.rollback()


def test_who_may_pause_and_resume():
    case = dispatched()
    for username in ("qx_supervisor", "nn_city", "unit_xn", "sys_admin"):
        with pytest.raises(Forbidden):
            clock.pause_case(case.id, user(username), "补正材料")
        db.session.rollback()
    clock.pause_case(case.id, user("xn_colleague"), "补正材料")     # same office: may
    db.session.commit()
    with pytest.raises(Conflict):
        clock.pause_case(case.id, user("xn_supervisor"), "补正材料")
    db.session.rollback()
    with pytest.raises(Forbidden):
        clock.resume_case(case.id, user("unit_xn"))
    db.session.rollback()
    clock.resume_case(case.id, user("xn_supervisor"))
    db.session.commit()
    with pytest.raises(Conflict):
        clock.resume_case(case.id, user("xn_supervisor"))
    db.session.rollback()


def test_a_closed_case_clock_is_not_paused():
    case = make_case()
    complete(case, "xn_supervisor", {"dispatch_decision": "reject", "opinion": "经核实不构成重大事故隐患"})
    with pytest.raises(Forbidden):      # nobody controls a closed case's clock
        clock.pause_case(case.id, user("xn_supervisor"), "补正材料")
    db.session.rollback()
    with pytest.raises(Conflict) as err:  # nor does the BPMN service pause it
        clock.pause(fresh(case), None, "补正材料")
    assert err.value.code == "case_not_running" and err.value.message == "案件已办结，不能暂停计时"
    db.session.rollback()


def test_page_shows_the_clock_and_pause_resume_work(web):
    case = dispatched()
    s = web("xn_supervisor")
    page = s.get(f"/cases/{case.id}").get_data(as_text=True)
    assert 'data-testid="clock-pause"' in page and "计时中" in page
    resp = s.post(f"/cases/{case.id}/clock/pause", {"reason": "", "note": ""})
    assert resp.status_code == 302 and fresh(case).paused_at is None
    assert "请选择或填写暂停原因" in s.get(f"/cases/{case.id}").get_data(as_text=True)
    resp = s.post(f"/cases/{case.id}/clock/pause", {"reason": "补正材料", "note": "补交维保记录"})
    assert resp.status_code == 302 and fresh(case).paused_at is not None
    page = s.get(f"/cases/{case.id}").get_data(as_text=True)
    assert "计时暂停中，已暂停 0 天" in page and 'data-testid="clock-resume"' in page
    # the enterprise sees the state but no button; another county gets 404
    unit_page = web("unit_xn").get(f"/cases/{case.id}").get_data(as_text=True)
    assert "计时暂停中" in unit_page and "clock-resume" not in unit_page
    assert web("qx_supervisor").post(f"/cases/{case.id}/clock/resume", {}).status_code == 404
    assert web("unit_xn").post(f"/cases/{case.id}/clock/resume", {}).status_code == 403
    assert s.post(f"/cases/{case.id}/clock/resume", {"note": "已补齐"}).status_code == 302
    assert fresh(case).paused_at is None


def test_api_pause_resume_and_json_errors(api):
    case = dispatched()
    a = api("xn_supervisor")
    r = a.post(f"/api/v1/cases/{case.id}/clock/pause", json={"reason": ""})
    assert r.status_code == 422 and r.get_json()["error"]["fields"]["reason"]
    r = a.post(f"/api/v1/cases/{case.id}/clock/pause", json={"reason": "中止审查", "note": "等待鉴定结论"})
    assert r.status_code == 200 and r.get_json()["paused"] is True and r.get_json()["pause_reason"] == "中止审查"
    r = a.post(f"/api/v1/cases/{case.id}/clock/pause", json={"reason": "中止审查"})
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "already_paused"
    assert a.get(f"/api/v1/cases/{case.id}/clock").get_json()["paused"] is True
    other = api("qx_supervisor").post(f"/api/v1/cases/{case.id}/clock/resume", json={})
    assert other.status_code == 404 and other.get_json()["error"]["code"] == "not_found"
    assert api("unit_xn").post(f"/api/v1/cases/{case.id}/clock/resume", json={}).status_code == 403
    r = a.post(f"/api/v1/cases/{case.id}/clock/resume", json={})
    assert r.status_code == 200 and r.get_json()["paused"] is False


def test_bpmn_services_pause_and_resume_through_the_engine_sync():
    """case.pause / case.resume as a service task calls them: inside an engine action, followed by
    runtime._sync, which suspends / re-arms the case's timers."""
    from app.engine.services import CURRENT, ServiceContext, call_registered_service
    case = dispatched(days=5)
    case = runtime.lock_case(case.id)
    wf = runtime._load(case)
    spiff_task = wf.get_tasks()[0]
    token = CURRENT.set(ServiceContext(case=case, actor=None, task_data={}))
    try:
        assert call_registered_service("case.pause", spiff_task, {"reason": "补正材料"})["paused"] is True
        runtime._sync(case, wf, None)
        assert case.next_timer_at is None
        assert all(t._get_internal_data("event_value") == clock.SUSPENDED for t, _ in clock._timer_tasks(wf))
        call_registered_service("case.resume", spiff_task, {})
        runtime._sync(case, wf, None)
        assert case.paused_at is None and case.next_timer_at is not None
    finally:
        CURRENT.reset(token)
    assert kinds(case)[-2:] == ["paused", "resumed"]
    db.session.rollback()


@pytest.fixture
def clock_wd():
    """tests/bpmn/clock_wd.bpmn: 审查 due in 10 working days ∥ 现场核查 due in 10 calendar days."""
    yield from deploy_test_process("clock_wd", "工作日时限")


def test_resume_shifts_a_working_day_due_date_by_working_days_across_national_day(clock_wd):
    from datetime import date

    from app.core.clock import local_day_end
    steps = lambda case: {t.task_def: t for t in db.session.scalars(  # noqa: E731
        select(Task).where(Task.case_id == case.id, Task.status == "open"))}
    # Mon 2026-09-28 10:00: 10 working days → Fri 10-16 (9/29, 9/30, 10/8, 10/9, 10/10 调休, 10/12–10/16)
    with time_machine.travel(local(date(2026, 9, 28), 10), tick=False):
        case = runtime.start_case("clock_wd", user("xn_supervisor"), {"subject": "工作日时限"})
        db.session.commit()
        open_steps = steps(case)
        assert as_utc(open_steps["review_wd"].due_at) == local_day_end(date(2026, 10, 16))
        assert as_utc(open_steps["site_check"].due_at) == local(date(2026, 10, 8), 10)
    # Wed 9-30 10:00: paused (补正) over the National Day holiday …
    with time_machine.travel(local(date(2026, 9, 30), 10), tick=False):
        clock.pause_case(case.id, user("xn_supervisor"), "补正材料")
        db.session.commit()
    # … Fri 10-9 10:00: resumed. 9 calendar days, but only 2 working days (10/8, 10/9) were paused.
    with time_machine.travel(local(date(2026, 10, 9), 10), tick=False):
        case = fresh(case)
        preview = clock.effective_due(case)
        clock.resume_case(case.id, user("xn_supervisor"), "材料已补齐")
        db.session.commit()
        case = fresh(case)
        open_steps = steps(case)
        # the working-day step: 10-16 + 2 working days = Tue 10-20, end of day (not 10-25)
        assert as_utc(open_steps["review_wd"].due_at) == local_day_end(date(2026, 10, 20))
        # the calendar-day step keeps the elapsed-time shift: + 9 days
        assert as_utc(open_steps["site_check"].due_at) == local(date(2026, 10, 17), 10)
        assert as_utc(case.due_at) == local(date(2026, 10, 17), 10) == preview
        [resumed] = db.session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id,
                                                               CaseEvent.kind == "resumed")).all()
        assert "【审查（10个工作日）】按工作日顺延 2 个工作日" in resumed.summary
    # Paused on Fri 10-9 16:00, resumed on Mon 10-12 09:00: (10-9, 10-12] holds two working days —
    # Sat 10-10 is a 调休 working day, Sun 10-11 is not, the day of resumption counts.
    with time_machine.travel(local(date(2026, 10, 9), 16), tick=False):
        clock.pause_case(case.id, user("xn_supervisor"), "中止审查")
        db.session.commit()
    with time_machine.travel(local(date(2026, 10, 12), 9), tick=False):
        case = fresh(case)
        assert clock.effective_due(case) == local(date(2026, 10, 20), 3)     # site check: + 2 days 17 h
        clock.resume_case(case.id, user("xn_supervisor"))
        db.session.commit()
        open_steps = steps(fresh(case))
        assert as_utc(open_steps["review_wd"].due_at) == local_day_end(date(2026, 10, 22))
