"""The scheduler: BPMN timers fire, overdue hazards escalate (city, then province) by the
escalation_target DMN, SMS warnings are queued and sent, and every job is idempotent and
crash-safe. Time moves with time-machine; the engine's own clock moves with it."""
import os
from datetime import datetime, time, timedelta

import pytest
import time_machine
from sqlalchemy import func, select

from app.cases.models import Case, CaseEvent, Task
from app.core.clock import DISPLAY_TZ, as_utc, today_local
from app.engine import runtime
from app.extensions import db
from app.scheduler.jobs import JOBS, run_all, run_job
from app.scheduler.lock import LeaderLock, leader_info
from app.scheduler.models import JobRun
from app.sms.models import SmsMessage

from .conftest import complete, make_case, upload, user


class SimulatedCrash(BaseException):
    """Stands for the process being killed: not an Exception, so nothing may swallow it."""


def local(day, hour=9):
    return datetime.combine(day, time(hour), DISPLAY_TZ)


aware = as_utc      # SQLite returns naive UTC; PostgreSQL aware


def dispatched(days=5, unit="unit_xn"):
    case = make_case(unit=unit)
    complete(case, "xn_supervisor", {
        "dispatch_decision": "dispatch", "requirements": "立即停用并整改门锁回路。",
        "rectify_deadline": (today_local() + timedelta(days=days)).isoformat(), "opinion": "情况属实"})
    return case


def open_tasks(case) -> dict[str, Task]:
    db.session.expire_all()
    return {t.task_def: t for t in db.session.scalars(select(Task).where(Task.case_id == case.id,
                                                                         Task.status == "open"))}


def task_of(case, task_def):
    return open_tasks(case)[task_def]


def complete_task(case, task_def, username, data):
    runtime.complete_task(task_of(case, task_def).id, user(username), data)
    db.session.commit()


def counts(case) -> tuple[int, int, int]:
    db.session.expire_all()
    tasks = db.session.scalar(select(func.count(Task.id)).where(Task.case_id == case.id))
    events = db.session.scalar(select(func.count(CaseEvent.id)).where(CaseEvent.case_id == case.id))
    sms = db.session.scalar(select(func.count(SmsMessage.id)).where(SmsMessage.case_id == case.id))
    return tasks, events, sms


def sms_of(case, template=None) -> list[SmsMessage]:
    """The case's SMS of `template`; without one, those the scheduler sent (not the notice the unit
    got when the bureau dispatched)."""
    db.session.expire_all()
    query = select(SmsMessage).where(SmsMessage.case_id == case.id).order_by(SmsMessage.id)
    if template:
        query = query.where(SmsMessage.template_code == template)
    else:
        query = query.where(SmsMessage.template_code != "MAJOR_HAZARD_NOTICE")
    return list(db.session.scalars(query))


def kinds(case) -> list[str]:
    return list(db.session.scalars(select(CaseEvent.kind).where(CaseEvent.case_id == case.id)
                                   .order_by(CaseEvent.seq)))


def test_timer_is_armed_at_the_end_of_the_deadline_day():
    case = dispatched(days=5)
    db.session.refresh(case)
    assert aware(case.next_timer_at) == local(today_local() + timedelta(days=6), 0)


def test_nothing_fires_before_the_deadline():
    case = dispatched(days=5)
    before = counts(case)
    with time_machine.travel(local(today_local() + timedelta(days=5), 23), tick=False):
        runs = {r.job: r for r in run_all()}
    assert runs["timers"].status == "ok" and runs["timers"].items == 0
    assert counts(case) == before and set(open_tasks(case)) == {"rectify"}


def test_deadline_passed_turns_red_escalates_to_city_then_province_and_sends_sms():
    case = dispatched(days=5)
    deadline = today_local() + timedelta(days=5)
    with time_machine.travel(local(deadline + timedelta(days=1)), tick=False):
        runs = {r.job: r for r in run_all()}
        assert runs["timers"].items == 1 and runs["timers"].failures == 0
        db.session.expire_all()
        case = db.session.get(Case, case.id)
        assert case.warning_level == "red"
        tasks = open_tasks(case)
        assert set(tasks) == {"rectify", "supervise_city"}
        city = tasks["supervise_city"]
        assert (city.candidate_role, city.candidate_region) == ("city_supervisor", "450100")
        # The supervision step has its own time limit from the DMN ("P5D").
        assert city.due_at is not None
        assert "escalated" in kinds(case) and "timer" in kinds(case)
        unit_sms = sms_of(case, "MAJOR_HAZARD_OVERDUE")
        assert len(unit_sms) == 3 and {m.org_id for m in unit_sms} == {user("unit_xn").org_id}
        city_sms = sms_of(case, "MAJOR_HAZARD_ESCALATED")
        assert [m.user_id for m in city_sms] == [user("nn_city").id]
        assert all(m.status == "sent" for m in unit_sms + city_sms)     # the sms job ran after the timers job
        assert deadline.isoformat() in unit_sms[0].content

        # Run everything again: nothing is duplicated.
        before = counts(case)
        run_all()
        assert counts(case) == before

    with time_machine.travel(local(deadline + timedelta(days=16)), tick=False):
        run_all()
        tasks = open_tasks(case)
        assert set(tasks) == {"rectify", "supervise_city", "supervise_province"}
        assert (tasks["supervise_province"].candidate_role, tasks["supervise_province"].candidate_region) == \
            ("province_supervisor", "450000")
        assert [m.user_id for m in sms_of(case, "MAJOR_HAZARD_ESCALATED")] == [user("nn_city").id,
                                                                               user("gx_province").id]
        # The city records its supervision; the unit finally rectifies; the county closes the hazard.
        complete_task(case, "supervise_city", "nn_city", {"supervise_method": "interview",
                                                          "opinion": "已约谈使用单位主要负责人，限期整改"})
        complete_task(case, "rectify", "unit_xn", {
            "feedback_type": "feedback", "measures": "更换门锁并恢复安全回路。",
            "completed_on": today_local().isoformat(), "evidence": [upload("unit_xn")]})
        complete_task(case, "verify_bureau", "xn_supervisor", {"verify_result": "pass", "opinion": "复核通过"})
    db.session.expire_all()
    case = db.session.get(Case, case.id)
    assert case.status == "closed" and case.next_timer_at is None
    # Closing terminates the province's open supervision step instead of leaving it dangling.
    assert open_tasks(case) == {}
    assert db.session.scalar(select(Task.status).where(Task.case_id == case.id,
                                                       Task.task_def == "supervise_province")) == "cancelled"


def test_escalation_appears_in_the_city_inbox(web):
    case = dispatched(days=3)
    with time_machine.travel(local(today_local() + timedelta(days=4)), tick=False):
        run_job("timers")
    page = web("nn_city").get("/inbox").get_data(as_text=True)
    assert case.case_no in page and "超期督办" in page
    assert case.case_no not in web("lz_supervisor").get("/inbox").get_data(as_text=True)


def test_rectified_in_time_never_escalates():
    case = dispatched(days=5)
    complete_task(case, "rectify", "unit_xn", {
        "feedback_type": "feedback", "measures": "更换门锁。", "completed_on": today_local().isoformat(),
        "evidence": [upload("unit_xn")]})
    db.session.refresh(case)
    assert case.next_timer_at is None
    with time_machine.travel(local(today_local() + timedelta(days=30)), tick=False):
        run_all()
    assert set(open_tasks(case)) == {"verify_bureau"} and sms_of(case) == []


def test_extension_moves_the_timer_to_the_new_deadline():
    case = dispatched(days=5)
    new_deadline = today_local() + timedelta(days=40)
    complete_task(case, "rectify", "unit_xn", {"feedback_type": "extension",
                                               "requested_deadline": new_deadline.isoformat(),
                                               "extension_reason": "需更换的门锁备件到货周期较长。"})
    complete_task(case, "approve_extension", "xn_supervisor", {
        "extension_decision": "approve", "approved_deadline": new_deadline.isoformat(), "opinion": "同意"})
    db.session.refresh(case)
    assert aware(case.next_timer_at) == local(new_deadline + timedelta(days=1), 0)
    with time_machine.travel(local(today_local() + timedelta(days=10)), tick=False):
        run_all()
    assert set(open_tasks(case)) == {"rectify"}


def test_a_crash_mid_batch_leaves_nothing_half_done_and_the_rerun_finishes_once(monkeypatch):
    first, second = dispatched(days=2), dispatched(days=2)
    from app.sms import services as sms
    real_enqueue, calls = sms.enqueue, []

    def crashing_enqueue(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:          # while escalating the second case
            raise SimulatedCrash()
        return real_enqueue(*args, **kwargs)

    with time_machine.travel(local(today_local() + timedelta(days=3)), tick=False):
        monkeypatch.setattr(sms, "enqueue", crashing_enqueue)
        with pytest.raises(SimulatedCrash):
            run_job("timers")
        db.session.expire_all()
        crashed = db.session.scalar(select(JobRun).order_by(JobRun.id.desc()).limit(1))
        assert crashed.status == "error" and "SimulatedCrash" in crashed.error
        for case in (first, second):
            assert set(open_tasks(case)) == {"rectify"} and sms_of(case) == []
            assert "escalated" not in kinds(case)
        monkeypatch.setattr(sms, "enqueue", real_enqueue)
        assert run_job("timers").items == 2
        assert run_job("timers").items == 0
        for case in (first, second):
            assert set(open_tasks(case)) == {"rectify", "supervise_city"}
            assert kinds(case).count("escalated") == 1
            assert len(sms_of(case, "MAJOR_HAZARD_OVERDUE")) == 3


def test_a_broken_case_is_retried_with_backoff_and_does_not_block_others(monkeypatch, web):
    good, bad = dispatched(days=2), dispatched(days=2)
    from app.engine import services
    real = services._SERVICES["case.escalate"]

    def flaky(ctx, **params):
        if ctx.case.id == bad.id:
            raise RuntimeError("短信网关配置错误")
        return real(ctx, **params)

    monkeypatch.setitem(services._SERVICES, "case.escalate", flaky)
    with time_machine.travel(local(today_local() + timedelta(days=3)), tick=False):
        admin = web("sys_admin")   # a session opened 3 days earlier would have timed out
        run = run_job("timers")
        assert (run.items, run.failures) == (1, 1)
        db.session.expire_all()
        broken = db.session.get(Case, bad.id)
        assert broken.timer_failures == 1 and "短信网关配置错误" in broken.timer_error
        assert set(open_tasks(bad)) == {"rectify"} and "supervise_city" in open_tasks(good)
        page = admin.get("/admin/jobs").get_data(as_text=True)
        assert broken.case_no in page and "短信网关配置错误" in page
        assert run_job("timers").items == 0            # backing off, not hot-looping
    monkeypatch.setitem(services._SERVICES, "case.escalate", real)
    with time_machine.travel(local(today_local() + timedelta(days=3), 12), tick=False):
        assert run_job("timers").items == 1
        db.session.expire_all()
        assert db.session.get(Case, bad.id).timer_failures == 0
        assert "supervise_city" in open_tasks(bad)


def test_only_one_scheduler_holds_the_lock(app):
    first = LeaderLock(db.engine, app.config["INSTANCE_DIR"])
    second = LeaderLock(db.engine, app.config["INSTANCE_DIR"])
    try:
        assert first.ensure() and first.ensure()
        assert not second.ensure()
        assert leader_info(db.engine, app.config["INSTANCE_DIR"])["active"]
        first.release()
        assert second.ensure()
    finally:
        first.release()
        second.release()
    assert not leader_info(db.engine, app.config["INSTANCE_DIR"])["active"]


def test_run_once_refuses_while_another_scheduler_is_active(app):
    holder = LeaderLock(db.engine, app.config["INSTANCE_DIR"])
    assert holder.ensure()
    try:
        result = app.test_cli_runner().invoke(args=["scheduler", "run-once", "--job", "warnings"])
        assert result.exit_code == 2 and "另一个调度器" in result.output
    finally:
        holder.release()
    result = app.test_cli_runner().invoke(args=["scheduler", "run-once", "--job", "warnings"])
    assert result.exit_code == 0, result.output
    assert "预警等级刷新: 成功" in result.output


def test_jobs_page_is_for_the_system_administrator_only(web):
    for name in ("xn_supervisor", "unit_xn", "process_admin", "gx_province"):
        session = web(name)
        assert session.get("/admin/jobs").status_code == 403
        assert session.post("/admin/jobs/timers/run").status_code == 403
    admin = web("sys_admin")
    page = admin.get("/admin/jobs").get_data(as_text=True)
    for job in JOBS.values():
        assert job.label in page
    resp = admin.post("/admin/jobs/warnings/run", follow_redirects=True)
    assert resp.status_code == 200 and "已运行【预警等级刷新】" in resp.get_data(as_text=True)
    run = db.session.scalar(select(JobRun).order_by(JobRun.id.desc()).limit(1))
    assert (run.job, run.trigger, run.status, run.started_by_id) == ("warnings", "manual", "ok", user("sys_admin").id)
    assert admin.post("/admin/jobs/nope/run").status_code == 404
    assert admin.post("/admin/jobs/timers/run", data={"csrf_token": ""}).status_code == 400


def test_warning_refresh_is_set_based_and_only_touches_changed_rows():
    case = dispatched(days=25)
    db.session.refresh(case)
    assert case.warning_level == "blue"
    with time_machine.travel(local(today_local() + timedelta(days=16)), tick=False):   # 9 days left
        first = run_job("warnings")
        second = run_job("warnings")
    db.session.expire_all()
    assert db.session.get(Case, case.id).warning_level == "orange"
    assert first.items >= 1 and second.items == 0


def test_inspection_reminders_once_per_cycle_and_weekly_when_overdue():
    from app.core.models import Equipment
    from .conftest import equipment_of
    due_soon, overdue = equipment_of("unit_xn", 0), equipment_of("unit_xn", 1)
    saved = {e.id: e.next_inspection_date for e in (due_soon, overdue)}
    try:
        due_soon.next_inspection_date = today_local() + timedelta(days=20)
        overdue.next_inspection_date = today_local() - timedelta(days=3)
        db.session.commit()

        def reminders(equipment):
            db.session.expire_all()
            return list(db.session.scalars(select(SmsMessage).where(
                SmsMessage.dedup_key.like(f"insp-%:{equipment.id}:%")).order_by(SmsMessage.id)))

        run_job("inspections")
        soon = reminders(due_soon)
        assert len(soon) == 3 and {m.template_code for m in soon} == {"INSP_DUE_30D"}
        assert due_soon.code in soon[0].content and str(due_soon.next_inspection_date) in soon[0].content
        late = reminders(overdue)
        assert len(late) == 3 and {m.template_code for m in late} == {"INSP_OVERDUE"}
        run_job("inspections")
        assert len(reminders(due_soon)) == 3 and len(reminders(overdue)) == 3
        with time_machine.travel(local(today_local() + timedelta(days=7)), tick=False):
            run_job("inspections")
        assert len(reminders(due_soon)) == 3          # one reminder per inspection cycle
        assert len(reminders(overdue)) == 6           # overdue: again the next week
    finally:
        for equipment_id, value in saved.items():
            db.session.get(Equipment, equipment_id).next_inspection_date = value
        db.session.commit()


@pytest.mark.skipif(os.environ.get("TEST_DB", "sqlite") != "postgres", reason="parallel timer workers: PostgreSQL only")
def test_a_large_backlog_is_shared_by_worker_processes_without_double_firing(app, monkeypatch):
    # The cases are made in the past, so their timers are due *now*: spawned workers do not
    # share this process's time travel.
    with time_machine.travel(local(today_local() - timedelta(days=10)), tick=True):
        cases = [dispatched(days=2) for _ in range(6)]
    monkeypatch.setitem(app.config, "SCHEDULER_TIMER_WORKERS", 2)
    monkeypatch.setitem(app.config, "SCHEDULER_PARALLEL_FROM", 1)
    from app.scheduler import jobs
    monkeypatch.setattr(jobs, "TIMER_BATCH", 1)      # small batches so both processes take some
    run = run_job("timers")
    assert (run.items, run.failures, run.status) == (6, 0, "ok")
    for case in cases:
        assert kinds(case).count("escalated") == 1
        assert set(open_tasks(case)) == {"rectify", "supervise_city"}


def test_housekeeping_keeps_recent_runs_and_errors_longer():
    from app.core.clock import utcnow
    now = utcnow()
    for days, status in ((1, "ok"), (40, "ok"), (40, "error"), (200, "error")):
        db.session.add(JobRun(job="timers", trigger="schedule", started_at=now - timedelta(days=days),
                              status=status, items=0, failures=0))
    db.session.commit()
    assert run_job("housekeeping").items == 2
    left = sorted((r.status, (now - aware(r.started_at)).days) for r in db.session.scalars(
        select(JobRun).where(JobRun.job == "timers")))
    assert left == [("error", 40), ("ok", 1)]
