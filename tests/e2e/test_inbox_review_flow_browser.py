"""Issue 3 end to end in one browser flow (screenshots in test-artifacts/):

1. the county regulator filters the inbox (事项 + 7 天内到期), sorts it by a business field (整改期限),
   saves the filter as a region-shared 常用筛选 (chip with its count);
2. bulk-approves three tasks with one decision, one shared opinion and one row's own opinion;
3. returns a fourth case (single 退回 from 复核销号 to 整改反馈) with a note on the evidence field —
   after a refusal for the missing reason;
4. the enterprise sees the reason and the highlighted field, adds a clearer photo and resubmits;
5. the regulator's next task page shows the diff; the case page shows what comes next and the timeline."""
from __future__ import annotations

import re

from datetime import timedelta

import pytest
from sqlalchemy import select

from app.cases.models import CaseEvent, Task
from app.core.clock import today_local, utcnow
from app.engine import runtime
from app.extensions import db

from ..conftest import JPEG, make_case, open_task, upload, user
from ..test_hazard_process import dispatch
from .conftest import login as _login
from .conftest import shot as _shot

pytestmark = pytest.mark.e2e


def _returnable_case():
    """A hazard case at 复核销号 whose feedback carries a blurred photo."""
    case = make_case()
    dispatch(case)
    photo = upload("unit_xn", name="blurred.jpg")
    runtime.complete_task(open_task(case).id, user("unit_xn"), {
        "feedback_type": "feedback", "measures": "已更换门锁并恢复安全回路。",
        "completed_on": today_local().isoformat(), "evidence": [photo]})
    db.session.commit()
    return case


def test_filter_bulk_approve_return_resubmit_and_diff(server, browser, app, tmp_path):
    base = server
    today = today_local()
    # three new reports due in two days, with rectification deadlines 20, 5 and 12 days ahead
    cases = [make_case(rectify_deadline=(today + timedelta(days=d)).isoformat()) for d in (20, 5, 12)]
    ids = []
    for case in cases:
        task = open_task(case)
        task.due_at = utcnow() + timedelta(days=2)
        ids.append(task.id)
    db.session.commit()
    returned_case = _returnable_case()
    verify_id = open_task(returned_case).id

    # 1. filter, sort by 整改期限, save the filter
    boss, boss_errors = _login(browser, base, "xn_supervisor")
    assert boss.is_visible("[data-testid=business-sort-hint]")       # no process yet: no business fields
    boss.select_option("select[name=process]", value="major_hazard")
    boss.select_option("select[name=due_within]", value="7")
    boss.click("form.search button:has-text('查询')")
    boss.wait_for_url(re.compile(r"due_within=7"), wait_until="commit")   # refreshed in place (htmx), the URL follows
    boss.select_option("select[name=sort]", value="biz:rectify_deadline")
    boss.click("form.search button:has-text('查询')")
    boss.wait_for_selector("[data-testid=business-col]")
    assert boss.inner_text("[data-testid=business-col]") == "整改期限"
    rows = boss.locator("[data-testid=inbox-table] tbody tr")
    shown = [rows.nth(i).inner_text() for i in range(rows.count())]
    order = [next(i for i, text in enumerate(shown) if c.case_no in text) for c in (cases[1], cases[2], cases[0])]
    assert order == sorted(order), shown                             # 5, 12, 20 days
    assert verify_id not in ids and not boss.is_visible(f"[data-testid=check-{verify_id}]")   # not due in 7 days
    boss.click("[data-testid=save-filter-toggle]")
    boss.fill("[data-testid=filter-name]", "本周到期隐患")
    boss.select_option("[data-testid=filter-share]", value="region")
    boss.click("[data-testid=save-filter]")
    boss.wait_for_selector(".flash:has-text('已保存常用筛选')")
    chip = boss.locator("[data-testid=filter-chip]:has-text('本周到期隐患')")
    assert int(chip.locator("[data-testid=filter-count]").inner_text()) >= 3
    assert boss.inner_text("[data-testid=business-col]") == "整改期限"   # the chip keeps the sort
    _shot(boss, "flow-1-filtered-sorted-saved")

    # 2. bulk approve three: one decision, a shared opinion, the second row with its own
    for task_id in ids:
        boss.check(f"[data-testid=check-{task_id}]")
    boss.select_option("[data-testid=bulk-action]", value="approve")
    boss.select_option("[data-testid=bulk-decision]", value="reject")
    boss.fill("[data-testid=bulk-opinion]", "经核查不构成重大隐患，不予督办")
    boss.fill(f"[data-testid=opinion-{ids[1]}]", "现场复查，隐患已当场消除")
    _shot(boss, "flow-2-bulk-selected")
    boss.click("[data-testid=bulk-submit]")
    boss.wait_for_selector("[data-testid=bulk-result]")
    assert "完成 3 件" in boss.inner_text("[data-testid=bulk-summary]").replace("\n", "")
    for task_id in ids:
        assert "已审批" in boss.inner_text(f"[data-testid=bulk-row-{task_id}]")
    assert "现场复查，隐患已当场消除" in boss.inner_text(f"[data-testid=bulk-row-{ids[1]}]")
    assert "不予督办" in boss.inner_text(f"[data-testid=bulk-row-{ids[0]}]")
    _shot(boss, "flow-3-bulk-result")
    db.session.expire_all()
    assert [t.status for t in db.session.scalars(select(Task).where(Task.id.in_(ids)))] == ["completed"] * 3
    comment = db.session.scalar(select(CaseEvent.comment).where(CaseEvent.case_id == cases[1].id,
                                                                CaseEvent.kind == "completed"))
    assert comment == "现场复查，隐患已当场消除"

    # 3. from the inbox, open the fourth case's 复核销号 and return it with a field note
    boss.click("a:has-text('返回我的待办')")
    boss.wait_for_url(f"{base}/inbox")
    boss.locator(f"[data-testid=inbox-table] tr:has-text('{returned_case.case_no}') a:has-text('办理')").click()
    boss.wait_for_url(f"{base}/tasks/{verify_id}")
    boss.select_option("#return-target", value="rectify")
    boss.click("[data-testid=return-task]")                      # no reason: refused per field
    boss.wait_for_selector("#ops-return .field-error")
    assert "请填写退回理由" in boss.inner_text("#ops-return")
    boss.fill("#return-reason", "整改证明材料不合格")
    boss.fill("#note-rectify-evidence", "铭牌照片不清晰，请重新拍摄")
    _shot(boss, "flow-4-return-form")
    boss.click("[data-testid=return-task]")
    boss.wait_for_url(f"{base}/inbox")

    # 4. the enterprise sees the reason and the highlighted field, and resubmits
    unit, unit_errors = _login(browser, base, "unit_xn")
    reopened = open_task(returned_case)
    assert reopened.task_def == "rectify"
    unit.locator(f"[data-testid=inbox-table] tr:has-text('{returned_case.case_no}') a:has-text('办理')").click()
    unit.wait_for_url(f"{base}/tasks/{reopened.id}")
    assert "被退回：整改证明材料不合格" in unit.inner_text("[data-testid=returned-banner]")
    flagged = unit.locator(".field.review-flagged")
    assert flagged.count() == 1 and flagged.get_attribute("data-field") == "evidence"
    assert "铭牌照片不清晰" in flagged.inner_text()
    _shot(unit, "flow-5-returned-task")
    clear = tmp_path / "nameplate.jpg"
    clear.write_bytes(JPEG)
    unit.set_input_files("#i-evidence", str(clear))
    unit.fill("#i-measures", "已更换门锁并恢复安全回路，附清晰铭牌照片。")
    unit.click("[data-testid=submit-task]")
    unit.wait_for_url(f"{base}/inbox")

    # 5. the regulator sees the diff, then what comes next on the case page
    db.session.expire_all()
    again = open_task(returned_case)
    boss.goto(f"{base}/inbox")
    boss.locator(f"[data-testid=inbox-table] tr:has-text('{returned_case.case_no}') a:has-text('办理')").click()
    boss.wait_for_url(f"{base}/tasks/{again.id}")
    diff = boss.inner_text("[data-testid=review-diff]")
    assert "整改措施" in diff and "附清晰铭牌照片" in diff and diff.count("新增附件 nameplate.jpg") == 1
    _shot(boss, "flow-6-diff")
    boss.goto(f"{base}/cases/{returned_case.id}")
    nxt = boss.inner_text("[data-testid=next-steps]")
    assert "复核销号" in nxt and "兴宁区 · 区县局监察人员" in nxt
    assert "退回【复核销号】至【整改反馈】" in boss.inner_text("[data-testid=timeline]")
    assert boss.get_attribute("[data-testid=dossier]", "href") == f"/cases/{returned_case.id}/dossier.pdf"
    _shot(boss, "flow-7-case-next-steps")
    assert not boss_errors and not unit_errors, (boss_errors, unit_errors)
