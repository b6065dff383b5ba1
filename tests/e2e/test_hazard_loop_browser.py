"""Demo 1 in a real browser: 线上填报 → 派单督办 → 整改反馈 → 复核销号 across three logins
(supervisor, use unit, verifying agency), with a validation error and a return for rework on the way.
Screenshots land in test-artifacts/ for people to look at."""
from __future__ import annotations

from datetime import timedelta

import pytest

from app.core.clock import today_local

from ..conftest import JPEG, PDF, PNG, equipment_of
from .conftest import login as _login
from .conftest import open_first_task as _open_first_task
from .conftest import shot as _shot

pytestmark = pytest.mark.e2e


def test_hazard_closed_loop_in_the_browser(server, browser, app):
    base = server
    with app.app_context():
        code = equipment_of("unit_xn").code
    today = today_local()

    # 1. 线上填报 by the inspection agency (so that the agency verifies at the end)
    agency, agency_errors = _login(browser, base, "agency_gx")
    agency.goto(f"{base}/processes")
    agency.click("[data-testid=start-major_hazard]")
    agency.click("[data-testid=submit-start]")                    # empty form -> errors, nothing saved
    agency.wait_for_selector(".form-error-summary")               # the 422 page may still be loading
    assert agency.locator("#f-equipment_code .field-error").inner_text() == "此项为必填项"
    agency.fill("#i-equipment_code", code)
    agency.select_option("#i-criterion_id", "GB45067-4.6b")
    agency.fill("#i-description", "定期检验中发现层门门锁安全回路被短接，电梯仍在运行。")
    agency.fill("#i-found_on", today.isoformat())
    agency.fill("#i-rectify_deadline", (today + timedelta(days=20)).isoformat())
    agency.set_input_files("#i-photos", files=[{"name": "现场.jpg", "mimeType": "image/jpeg",
                                                  "buffer": JPEG}])
    agency.click("[data-testid=submit-start]")
    agency.wait_for_selector("#hazard-facts")
    case_url = agency.url
    assert "待派单" in agency.locator("[data-testid=hazard-status]").inner_text()
    agency.wait_for_selector(".bpmn-active")                     # diagram drawn, current step highlighted
    _shot(agency, "1-reported")

    # 2. 派单督办 by the county bureau
    sup, sup_errors = _login(browser, base, "xn_supervisor")
    assert int(sup.locator("[data-testid=todo-count]").inner_text()) >= 1
    _open_first_task(sup, base)
    sup.check("input[name=dispatch_decision][value=dispatch]")
    sup.fill("#i-requirements", "立即停止使用该电梯，修复门锁安全回路并经检验合格后方可恢复使用。")
    sup.fill("#i-opinion", "认定属实，派单督办。")
    _shot(sup, "2-dispatch-form")
    sup.click("[data-testid=submit-task]")
    sup.wait_for_url(f"{base}/inbox")
    sup.goto(case_url)
    assert "整改中" in sup.locator("[data-testid=hazard-status]").inner_text()
    with sup.expect_download() as dl:
        sup.click("[data-testid=notice-docx]")
    assert dl.value.suggested_filename.endswith(".docx")

    # 3. 整改反馈 by the use unit
    unit, unit_errors = _login(browser, base, "unit_xn")
    _open_first_task(unit, base)
    unit.check("input[name=feedback_type][value=feedback]")
    assert unit.locator("#f-requested_deadline").is_hidden()    # the extension fields hide
    unit.fill("#i-measures", "已更换层门门锁并恢复安全回路，经自检合格。")
    unit.fill("#i-completed_on", today.isoformat())
    unit.set_input_files("#i-evidence", files=[{"name": "整改报告.pdf", "mimeType": "application/pdf",
                                                  "buffer": PDF}])
    unit.click("[data-testid=submit-task]")
    unit.wait_for_url(f"{base}/inbox")

    # 4. 复核销号 by the agency: first a return for rework, then a pass
    _open_first_task(agency, base)
    agency.check("input[name=verify_result][value=fail]")
    agency.fill("#i-opinion", "门锁回路仍有短接线，退回继续整改。")
    agency.click("[data-testid=submit-task]")
    agency.wait_for_url(f"{base}/inbox")
    _open_first_task(unit, base)
    assert "门锁回路仍有短接线" in unit.locator("[data-testid=timeline]").inner_text()
    assert unit.input_value("#i-measures").startswith("已更换层门门锁")    # previous round prefilled
    unit.check("input[name=feedback_type][value=feedback]")
    unit.fill("#i-measures", "拆除短接线，更换门锁触点，复测合格。")
    unit.set_input_files("#i-evidence", files=[{"name": "复测.png", "mimeType": "image/png",
                                                  "buffer": PNG}])
    unit.click("[data-testid=submit-task]")
    unit.wait_for_url(f"{base}/inbox")
    _open_first_task(agency, base)
    agency.check("input[name=verify_result][value=pass]")
    agency.fill("#i-opinion", "复核整改到位，同意销号。")
    agency.click("[data-testid=submit-task]")
    agency.wait_for_url(f"{base}/inbox")

    sup.goto(case_url)
    assert "已销号" in sup.locator("[data-testid=hazard-status]").inner_text()
    sup.wait_for_selector(".bpmn-done")
    timeline = sup.locator("[data-testid=timeline]").inner_text()
    for text in ("发起", "完成【派单督办】", "完成【整改反馈】", "完成【复核销号(技术机构)】", "案件办结：已销号"):
        assert text in timeline, text
    _shot(sup, "3-closed-case")
    sup.goto(f"{base}/hazards")
    _shot(sup, "4-ledger")
    assert agency_errors == [] and sup_errors == [] and unit_errors == []
