"""退回 in a real browser: the bureau returns 整改反馈 to the unit with a note on the evidence field;
the unit sees the reason and the highlighted field, adds a clearer photo and resubmits; the bureau's
next task page shows the diff. Screenshots in test-artifacts/."""
from __future__ import annotations

import pytest

from app.core.clock import today_local
from app.engine import runtime
from app.extensions import db

from ..conftest import JPEG, make_case, open_task, upload, user
from ..test_hazard_process import dispatch
from .test_hazard_loop_browser import _login, _shot, browser, server  # noqa: F401  (fixtures)

pytestmark = pytest.mark.e2e


def test_return_with_field_notes_resubmit_and_diff(server, browser, app, tmp_path):  # noqa: F811
    base = server
    case = make_case()
    dispatch(case)
    photo = upload("unit_xn", name="blurred.jpg")
    runtime.complete_task(open_task(case).id, user("unit_xn"), {
        "feedback_type": "feedback", "measures": "已更换门锁并恢复安全回路。",
        "completed_on": today_local().isoformat(), "evidence": [photo]})
    db.session.commit()
    verify_id = open_task(case).id

    boss, boss_errors = _login(browser, base, "xn_supervisor")
    boss.goto(f"{base}/tasks/{verify_id}")
    boss.select_option("#return-target", value="rectify")
    boss.click("[data-testid=return-task]")                      # no reason: refused per field
    boss.wait_for_selector("#ops-return .field-error")
    assert "请填写退回理由" in boss.inner_text("#ops-return")
    boss.fill("#return-reason", "整改证明材料不合格")
    boss.fill("#note-rectify-evidence", "铭牌照片不清晰，请重新拍摄")
    _shot(boss, "review-1-return-form")
    boss.click("[data-testid=return-task]")
    boss.wait_for_url(f"{base}/inbox")

    unit, unit_errors = _login(browser, base, "unit_xn")
    reopened = open_task(case)
    unit.goto(f"{base}/tasks/{reopened.id}")
    assert "被退回：整改证明材料不合格" in unit.inner_text("[data-testid=returned-banner]")
    flagged = unit.locator(".field.review-flagged")
    assert flagged.count() == 1 and flagged.get_attribute("data-field") == "evidence"
    assert "铭牌照片不清晰" in flagged.inner_text()
    _shot(unit, "review-2-returned-task")
    clear = tmp_path / "nameplate.jpg"
    clear.write_bytes(JPEG)
    unit.set_input_files("#i-evidence", str(clear))
    unit.fill("#i-measures", "已更换门锁并恢复安全回路，附清晰铭牌照片。")
    unit.click("[data-testid=submit-task]")
    unit.wait_for_url(f"{base}/inbox")

    db.session.expire_all()
    again = open_task(case)
    boss.goto(f"{base}/tasks/{again.id}")
    diff = boss.inner_text("[data-testid=review-diff]")
    assert "整改措施" in diff and "附清晰铭牌照片" in diff and diff.count("新增附件 nameplate.jpg") == 1
    _shot(boss, "review-3-diff")
    boss.goto(f"{base}/cases/{case.id}")                          # what comes next, and the dossier link
    nxt = boss.inner_text("[data-testid=next-steps]")
    assert "复核销号" in nxt and "兴宁区 · 区县局监察人员" in nxt
    assert "退回【复核销号】至【整改反馈】" in boss.inner_text("[data-testid=timeline]")
    assert boss.get_attribute("[data-testid=dossier]", "href") == f"/cases/{case.id}/dossier.pdf"
    _shot(boss, "review-4-case-next-steps")
    assert not boss_errors and not unit_errors
