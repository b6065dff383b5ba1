"""Task operations in a real browser: 转办 to a colleague, 催办 from the city bureau (count shown),
抄送 to another county (who then reads the case), 前加签 → the city signs → the holder completes, and a step completed with a handwritten signature
drawn with the mouse on the signature pad. Screenshots in test-artifacts/."""
from __future__ import annotations

from datetime import timedelta

import pytest

from app.core.clock import today_local
from app.engine import runtime

from ..conftest import make_case, open_task, user
from .conftest import login as _login
from .conftest import shot as _shot

pytestmark = pytest.mark.e2e


def test_transfer_urge_copy_and_signature(server, browser, app, monkeypatch):
    base = server
    original = runtime._user_task_props

    def with_signature(spiff_task):
        props = dict(original(spiff_task))
        if spiff_task.task_spec.bpmn_id == "dispatch":
            props["signatureRequired"] = "true"
        return props
    monkeypatch.setattr(runtime, "_user_task_props", with_signature)
    case = make_case()
    task_id, case_id, case_no = open_task(case).id, case.id, case.case_no
    qx_id, city_id = user("qx_supervisor").id, user("nn_city").id

    # 1. 转办: xn_supervisor hands the task to the colleague (an error first: no opinion)
    boss, boss_errors = _login(browser, base, "xn_supervisor")
    boss.goto(f"{base}/tasks/{task_id}")
    boss.click("[data-testid=open-transfer]")
    boss.select_option("#transfer-target", label="兴宁同事（测试）（区县局监察人员）")
    boss.click("[data-testid=transfer]")
    boss.wait_for_selector(".field-error")
    assert "请填写转办意见" in boss.content()
    boss.fill("#transfer-opinion", "本人外出检查，请同事办理")
    boss.click("[data-testid=transfer]")
    boss.wait_for_url(f"{base}/inbox")
    _shot(boss, "taskops-1-transferred")

    # 2. 催办 from the city bureau: count shown on the case
    city, city_errors = _login(browser, base, "nn_city")
    city.goto(f"{base}/cases/{case_id}")
    city.click("[data-testid=open-urge]")
    city.fill("#urge-note", "请今日内完成认定")
    city.click("[data-testid=urge]")
    city.wait_for_selector("[data-testid=urge-count]")
    assert "已催办 1 次" in city.inner_text("[data-testid=urge-count]")
    _shot(city, "taskops-2-urged")

    # 3. The colleague: reminded, copies the case to 青秀区, completes with a handwritten signature
    colleague, colleague_errors = _login(browser, base, "xn_colleague")
    assert colleague.inner_text("[data-testid=unread-count]") == "2"   # the transfer and the urge
    assert "已催办 1 次" in colleague.inner_text("[data-testid=inbox-table]")
    colleague.goto(f"{base}/tasks/{task_id}")
    colleague.click("[data-testid=open-copy]")
    colleague.select_option("[data-testid=copy-users]", value=str(qx_id))
    colleague.fill("#copy-note", "涉事电梯维保单位在青秀区，请知悉")
    colleague.click("[data-testid=copy]")
    colleague.wait_for_selector(".flash:has-text('已抄送 1 人')")
    # 前加签: the city bureau signs first, then the task comes back
    colleague.goto(f"{base}/tasks/{task_id}")
    colleague.click("[data-testid=open-sign]")
    colleague.check("input[name=kind][value=before]")
    colleague.select_option("#sign-signer", value=str(city_id))
    colleague.fill("#sign-note", "请市局先把关")
    colleague.click("[data-testid=add-signer]")
    colleague.wait_for_selector("[data-testid=sign-chain]")
    _shot(colleague, "taskops-3a-sign-added")
    city.goto(f"{base}/tasks/{task_id}")
    city.fill("#sign-opinion", "同意认定，市局知悉")
    _shot(city, "taskops-3b-signing")
    city.click("[data-testid=sign]")
    city.wait_for_selector(".flash:has-text('已签署')")
    colleague.goto(f"{base}/tasks/{task_id}")
    assert "同意认定，市局知悉" in colleague.inner_text("[data-testid=sign-chain]")
    colleague.check("input[name=dispatch_decision][value=dispatch]")
    colleague.fill("#i-requirements", "立即停用并整改门锁回路。")
    colleague.fill("#i-rectify_deadline", (today_local() + timedelta(days=10)).isoformat())
    colleague.fill("#i-opinion", "情况属实，予以认定")
    pad = colleague.locator("[data-testid=signature-pad]")
    pad.scroll_into_view_if_needed()
    box = pad.bounding_box()
    colleague.mouse.move(box["x"] + 30, box["y"] + 100)
    colleague.mouse.down()
    for i in range(1, 25):
        colleague.mouse.move(box["x"] + 30 + i * 12, box["y"] + 100 - (i % 6) * 12)
    colleague.mouse.up()
    _shot(colleague, "taskops-3-signature")
    colleague.click("[data-testid=submit-task]")
    colleague.wait_for_selector(".flash:has-text('【派单督办】已提交')")
    colleague.goto(f"{base}/cases/{case_id}")
    colleague.wait_for_selector("[data-testid=signature-image]")
    timeline = colleague.inner_text("[data-testid=timeline]")
    assert "转办【派单督办】给 兴宁同事（测试）" in timeline and "催办【派单督办】（第 1 次）" in timeline
    assert "前加签【派单督办】" in timeline and "前加签签署【派单督办】" in timeline
    assert "抄送给 蒙青秀（演示）" in timeline and "按流程配置抄送" in timeline
    _shot(colleague, "taskops-4-timeline")

    # 4. The copy recipient of another county reads it under 抄送我的
    qx, qx_errors = _login(browser, base, "qx_supervisor")
    qx.goto(f"{base}/copies")                        # the old address: the 抄送我的 tab of the inbox now
    qx.wait_for_url(f"{base}/inbox?box=copies")
    row = qx.locator(f"[data-testid=inbox-table] tr:has-text('{case_no}')")
    assert row.locator("[data-testid=unread-tag]").count() == 1
    assert "active" in qx.get_attribute("[data-testid=tab-copies]", "class").split()
    _shot(qx, "taskops-5-copies")
    row.locator("a:has-text('查看案件')").click()
    qx.wait_for_url(f"{base}/cases/{case_id}")
    assert case_no in qx.content()
    qx.goto(f"{base}/inbox?box=copies")               # opened: marked read, no longer highlighted
    assert qx.locator(f"[data-testid=inbox-table] tr:has-text('{case_no}') [data-testid=unread-tag]").count() == 0
    assert not (boss_errors or city_errors or colleague_errors or qx_errors)
