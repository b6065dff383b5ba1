"""Escalation seen in the browser: the deadline passes, the scheduler escalates the hazard to
the city bureau, the city supervisor finds it in the inbox and records the supervision; the
system administrator runs a job by hand on the jobs page."""
from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest
import time_machine

from app.core.clock import DISPLAY_TZ, today_local

from ..conftest import complete, make_case, prepare_second_factor
from .conftest import login as _login
from .conftest import shot as _shot

pytestmark = pytest.mark.e2e


def test_overdue_hazard_is_escalated_and_supervised_in_the_browser(server, browser, app):
    base = server
    with app.app_context():
        case = make_case()
        complete(case, "xn_supervisor", {
            "dispatch_decision": "dispatch", "requirements": "立即停用并整改门锁回路。",
            "rectify_deadline": (today_local() + timedelta(days=2)).isoformat(), "opinion": "情况属实"})
        case_id, case_no = case.id, case.case_no
        from app.scheduler.jobs import run_job
        with time_machine.travel(datetime.combine(today_local() + timedelta(days=3), time(9), DISPLAY_TZ),
                                 tick=False):
            assert run_job("timers").items == 1

    # The city supervisor has a new task: 超期督办(市局).
    city, city_errors = _login(browser, base, "nn_city")
    city.goto(f"{base}/inbox")
    row = city.locator("[data-testid=inbox-table] tr", has_text=case_no)
    assert "超期督办" in row.inner_text()
    row.locator("a:has-text('办理')").click()
    city.wait_for_selector("[data-testid=submit-task]")
    city.click("[data-testid=submit-task]")                       # empty -> per-field errors
    city.wait_for_selector(".form-error-summary")
    city.check("input[name=supervise_method][value=interview]")
    city.fill("#i-opinion", "已约谈使用单位主要负责人，责令3日内完成整改并报告。")
    city.click("[data-testid=submit-task]")
    city.wait_for_url(f"{base}/inbox")
    city.goto(f"{base}/cases/{case_id}")
    city.wait_for_selector(".bpmn-done")
    timeline = city.inner_text("body")
    assert "升级至设区市局（南宁市市场监督管理局）督办" in timeline and "已约谈使用单位主要负责人" in timeline
    _shot(city, "escalated-case")

    # The escalation's SMS warnings: the unit's contacts (企业) and the supervisor (监察), phones masked.
    city.goto(f"{base}/sms/records")
    city.click("[data-testid=tab-enterprise]")
    table = city.inner_text("[data-testid=sms-table]")
    assert "重大事故隐患整改期限" in table and "****" in table
    _shot(city, "sms-records")
    assert city_errors == []

    # The system administrator lands on the jobs page and runs the warning refresh by hand.
    admin = browser.new_context(viewport={"width": 1440, "height": 1000}, locale="zh-CN").new_page()
    admin_errors: list[str] = []
    admin.on("pageerror", lambda e: admin_errors.append(str(e)))
    admin.on("dialog", lambda d: d.accept())
    otp = prepare_second_factor(app, "sys_admin")
    admin.goto(f"{base}/login")
    admin.fill("#username", "sys_admin")
    admin.fill("#password", "Demo@2026")
    admin.click("button[type=submit]")
    admin.wait_for_url(f"{base}/login/otp")            # administrators: password + TOTP
    admin.fill("#code", otp())
    admin.click("button[type=submit]")
    admin.wait_for_url(f"{base}/admin/users")           # lands on the first page of its console
    assert "上次登录" in admin.inner_text(".flash") or "首次登录" in admin.inner_text(".flash")
    admin.goto(f"{base}/admin/jobs")
    assert "定时器与超期升级" in admin.inner_text("[data-testid=jobs-table]")
    admin.click("[data-testid=run-warnings]")
    admin.wait_for_selector(".flash")
    assert "已运行【预警等级刷新】" in admin.inner_text(".flash")
    assert "手动" in admin.inner_text("[data-testid=runs-table]")
    _shot(admin, "jobs-page")
    assert admin_errors == []
