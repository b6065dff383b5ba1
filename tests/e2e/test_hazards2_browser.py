"""隐患管理 in a real browser, as the use unit: the 重大事故隐患 tab (report, modify, delete before the bureau
accepts it; after the bureau claims it the row says it can no longer change) and the 一般隐患 tab (register,
rectify, acceptance fails and returns to rectification). Both tabs are then checked on a 390 px phone."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from app.core.clock import today_local

from ..conftest import equipment_of, user
from .conftest import DESKTOP, PHONE, overflow
from .conftest import login as _login
from .conftest import shot as _shot

pytestmark = pytest.mark.e2e


def _report(page, base, code, description):
    today = today_local()
    page.goto(f"{base}/hazards/manage")
    page.click("[data-testid=report-major]")
    page.fill("#i-equipment_code", code)
    page.select_option("#i-criterion_id", "GB45067-4.6b")
    page.fill("#i-description", description)
    page.fill("#i-found_on", today.isoformat())
    page.fill("#i-rectify_deadline", (today + timedelta(days=15)).isoformat())
    page.click("[data-testid=submit-start]")
    page.wait_for_selector("#hazard-facts")
    return page.locator("#hazard-facts .mono").first.inner_text().strip()


def test_use_unit_works_both_tabs(server, browser, app):
    from app.engine import runtime
    from app.extensions import db
    from app.hazards.models import Hazard
    base = server
    with app.app_context():
        code = equipment_of("unit_xn", 5).code
    today = today_local()
    unit, errors = _login(browser, base, "unit_xn", DESKTOP)

    # 重大事故隐患: report, modify, delete
    first = _report(unit, base, code, "自检发现层门门锁回路被短接，电梯仍在运行。")
    unit.goto(f"{base}/hazards/manage")
    _shot(unit, "hazards2-1-major-tab")
    unit.click(f"[data-testid=edit-{first}]")
    unit.fill("#i-description", "自检发现层门门锁回路被短接，已停梯并设置警示。")
    unit.click("[data-testid=submit-edit]")
    unit.wait_for_selector("text=隐患已修改")
    unit.fill(f"[data-testid=delete-reason-{first}]", "设备选错，重新上报")
    unit.click(f"[data-testid=delete-{first}]")
    unit.wait_for_selector(f"text=重大事故隐患 {first} 已删除")
    assert unit.locator(f"[data-testid=major-row-{first}]").count() == 0

    # another one the bureau accepts: no more changes, the reason on the row and on the edit page
    second = _report(unit, base, code, "自检发现限速器安全钳联动试验不合格，电梯仍在运行。")
    with app.app_context():
        hazard = db.session.scalar(select(Hazard).where(Hazard.hazard_no == second))
        from app.cases.models import Task
        task = db.session.scalar(select(Task).where(Task.case_id == hazard.case_id, Task.status == "open"))
        runtime.claim_task(task.id, user("xn_supervisor"))
        db.session.commit()
        hazard_id = hazard.id
    unit.goto(f"{base}/hazards/manage")
    assert unit.locator(f"[data-testid=locked-{second}]").is_visible()
    unit.goto(f"{base}/hazards/{hazard_id}/edit")
    assert "已签收受理" in unit.content()

    # 一般隐患: register → rectify → acceptance fails → back to rectification
    unit.goto(f"{base}/hazards/manage?tab=general")
    unit.click("[data-testid=register-general]")
    unit.select_option("#i-category", "safety_device")
    unit.fill("#i-hazard_count", "2")
    unit.check("input[name=level][value=medium]")
    unit.fill("#i-main_problem", "机房灭火器过期，应急照明不亮。")
    unit.fill("#i-found_at", "1号电梯机房")
    unit.fill("#i-found_on", today.isoformat())
    unit.fill("#i-deadline", (today + timedelta(days=5)).isoformat())
    unit.select_option("#i-related_source", "self_check")
    unit.fill("#i-inspector_name", "李检查")
    unit.fill("#i-inspecting_unit", "本单位安全部")
    unit.select_option("#i-check_kind", "daily")
    unit.click("[data-testid=submit-start]")
    unit.wait_for_selector("#general-hazard-facts")
    general_no = unit.locator("#general-hazard-facts .mono").first.inner_text().strip()
    unit.wait_for_selector(".bpmn-active")                       # the loop's diagram, current step highlighted
    _shot(unit, "hazards2-general-case")
    unit.goto(f"{base}/inbox")
    unit.locator("[data-testid=inbox-table] tr", has_text=general_no).locator("a:has-text('办理')").first.click()
    unit.fill("#i-rectified_on", today.isoformat())
    unit.fill("#i-handler", "王整改")
    unit.fill("#i-rectify_result", "更换灭火器两具，应急照明待修。")
    unit.click("[data-testid=submit-task]")
    unit.wait_for_url(f"{base}/inbox")
    unit.locator("[data-testid=inbox-table] tr", has_text=general_no).locator("a:has-text('办理')").first.click()
    unit.check("input[name=accept_result][value=fail]")
    unit.fill("#i-opinion", "应急照明仍不亮，未整改到位")
    unit.click("[data-testid=submit-task]")
    unit.wait_for_url(f"{base}/inbox")
    unit.goto(f"{base}/hazards/manage?tab=general")
    row = unit.locator(f"[data-testid=general-row-{general_no}]")
    assert "整改中" in row.inner_text() and "退回 1 次" in row.inner_text()
    _shot(unit, "hazards2-2-general-tab")
    assert errors == []

    # the same two tabs on a phone: no sideways scrolling, rows as cards
    phone, phone_errors = _login(browser, base, "unit_xn", PHONE)
    for tab in ("major", "general"):
        phone.goto(f"{base}/hazards/manage?tab={tab}")
        assert overflow(phone) <= 0, tab
        _shot(phone, f"hazards2-3-phone-{tab}")
    phone.goto(f"{base}/hazards/manage")
    assert phone.locator(f"[data-testid=locked-{second}]").is_visible()
    assert phone_errors == []


def test_statistics_charts_render_drill_and_export(server, browser, app):
    from ..conftest import make_case
    base = server
    with app.app_context():
        make_case()
        make_case(reporter="qx_supervisor", unit="unit_qx")
    page, errors = _login(browser, base, "gx_province", DESKTOP, console_errors=True)
    page.goto(f"{base}/hazards/stats")
    page.wait_for_selector("[data-testid=chart-region] canvas")
    assert page.locator("[data-chart] canvas").count() >= 8
    with page.expect_download() as png:
        page.click("[data-testid=png-region]")
    assert png.value.suggested_filename.endswith(".png")
    with page.expect_download() as xlsx:
        page.click("[data-testid=xlsx-category]")
    assert xlsx.value.suggested_filename.endswith(".xlsx")
    page.goto(f"{base}/hazards/stats?region=450100")                 # the drill link of 南宁市
    page.wait_for_selector("[data-testid=chart-region] canvas")
    assert "南宁市" in page.locator(".crumbs").inner_text()
    _shot(page, "hazards2-4-stats")
    phone, phone_errors = _login(browser, base, "gx_province", PHONE)
    phone.goto(f"{base}/hazards/stats")
    phone.wait_for_selector("[data-testid=chart-region] canvas")
    assert overflow(phone) <= 0
    for path in ("/hazards/criteria", "/hazards/criteria/GB45067-4.6b", "/hazards/bulletins", "/hazards/bulletins/new",
                 "/hazards/nonconforming"):
        phone.goto(f"{base}{path}")
        phone.wait_for_load_state("networkidle")
        assert overflow(phone) <= 0, path
        _shot(phone, "hazards2-5-phone" + path.replace("/", "-"))
    assert errors == [] and phone_errors == []
