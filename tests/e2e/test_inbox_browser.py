"""Inbox in a real browser: filter (事项 + 7 天内到期), save it as a region-shared 常用筛选 (chip with its
count), then bulk-approve three tasks with one decision and opinion; the result table names each.
Screenshots in test-artifacts/."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from app.cases.models import Task
from app.core.clock import utcnow
from app.extensions import db

from ..conftest import make_case, open_task
from .test_hazard_loop_browser import _login, _shot, browser, server  # noqa: F401  (fixtures)

pytestmark = pytest.mark.e2e


def test_filter_save_and_bulk_approve_three(server, browser, app):  # noqa: F811
    base = server
    cases = [make_case() for _ in range(3)]
    ids = []
    for case in cases:
        task = open_task(case)
        task.due_at = utcnow() + timedelta(days=2)
        ids.append(task.id)
    db.session.commit()

    page, errors = _login(browser, base, "xn_supervisor")
    page.select_option("select[name=process]", value="major_hazard")
    page.select_option("select[name=due_within]", value="7")
    page.click("form.search.panel button:has-text('查询')")
    page.wait_for_load_state()
    assert "due_within=7" in page.url, page.url
    for task_id in ids:
        assert page.is_visible(f"[data-testid=check-{task_id}]")

    page.click("[data-testid=save-filter-toggle]")
    page.fill("[data-testid=filter-name]", "本周到期隐患")
    page.select_option("[data-testid=filter-share]", value="region")
    page.click("[data-testid=save-filter]")
    page.wait_for_selector(".flash:has-text('已保存常用筛选')")
    chip = page.locator("[data-testid=filter-chip]:has-text('本周到期隐患')")
    assert int(chip.locator("[data-testid=filter-count]").inner_text()) >= 3
    _shot(page, "inbox-1-filter-saved")

    for task_id in ids:
        page.check(f"[data-testid=check-{task_id}]")
    page.select_option("[data-testid=bulk-action]", value="approve")
    page.select_option("[data-testid=bulk-decision]", value="reject")
    page.fill("[data-testid=bulk-opinion]", "经核查不构成重大隐患，不予督办")
    _shot(page, "inbox-2-bulk-selected")
    page.click("[data-testid=bulk-submit]")
    page.wait_for_selector("[data-testid=bulk-result]")
    assert "完成 3 件" in page.inner_text("[data-testid=bulk-summary]").replace("\n", "")
    for task_id in ids:
        assert "已审批" in page.inner_text(f"[data-testid=bulk-row-{task_id}]")
    _shot(page, "inbox-3-bulk-result")
    assert not errors, errors
    db.session.expire_all()
    assert [t.status for t in db.session.scalars(select(Task).where(Task.id.in_(ids)))] == ["completed"] * 3
