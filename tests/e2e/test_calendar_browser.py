"""The working-day calendar page in a real browser: the system administrator adds a 调休 workday,
sees it in the month grid, sees 2027 flagged as unpublished; a bad entry gets a Chinese field error."""
from __future__ import annotations

import pytest
from sqlalchemy import delete, select

from ..conftest import prepare_second_factor
from .conftest import shot as _shot

pytestmark = pytest.mark.e2e


def test_admin_adds_a_make_up_workday_and_sees_it_in_the_grid(server, browser, app):
    base = server
    context = browser.new_context(viewport={"width": 1440, "height": 1000}, locale="zh-CN")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("dialog", lambda d: d.accept())
    otp = prepare_second_factor(app, "sys_admin")
    page.goto(f"{base}/login")
    page.fill("#username", "sys_admin")
    page.fill("#password", "Demo@2026")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/login/otp")
    page.fill("#code", otp())
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/admin/users")
    try:
        page.click("nav >> text=工作日历")
        page.wait_for_selector("[data-testid=month-grid]")
        page.select_option("[data-testid=year-select]", "2026")
        page.click("form.search button[type=submit]")
        page.wait_for_selector("[data-testid=month-grid]")
        grid = page.locator("[data-testid=month-grid]")
        assert grid.locator("td[data-day='2026-10-10']").get_attribute("data-kind") == "workday"
        assert grid.locator("td[data-day='2026-10-01']").get_attribute("data-kind") == "holiday"
        assert grid.locator("td[data-day='2026-12-26']").get_attribute("data-kind") == "weekend"
        # a weekday cannot be a 调休 workday: the field says why, nothing is saved
        form = page.locator("[data-testid=day-form]")
        form.locator("input[name=day]").fill("2026-12-21")
        form.locator("select[name=kind]").select_option("workday")
        form.locator("input[name=name]").fill("测试调休")
        form.locator("[data-testid=save-day]").click()
        page.wait_for_selector("[data-error=kind]")
        assert "本来就是工作日" in page.inner_text("[data-error=kind]")
        # Saturday 2026-12-26 as a (test) make-up workday
        form = page.locator("[data-testid=day-form]")
        form.locator("input[name=day]").fill("2026-12-26")
        form.locator("select[name=kind]").select_option("workday")
        form.locator("input[name=name]").fill("测试调休上班")
        form.locator("[data-testid=save-day]").click()
        page.wait_for_selector(".flash")
        assert "已新增 2026-12-26" in page.inner_text(".flash")
        cell = page.locator("[data-testid=month-grid] td[data-day='2026-12-26']")
        assert cell.get_attribute("data-kind") == "workday" and "班" in cell.inner_text()
        cell.scroll_into_view_if_needed()
        _shot(page, "calendar-admin-2026")
        # 2027: flagged as unpublished
        page.goto(f"{base}/admin/calendar/?year=2027")
        assert "未发布（仅按周末计算）" in page.inner_text("[data-testid=year-alert]")
        _shot(page, "calendar-admin-2027")
        # delete with confirmation (the dialog handler accepts)
        page.goto(f"{base}/admin/calendar/?year=2026")
        page.click("[data-testid='delete-2026-12-26']")
        page.wait_for_selector(".flash")
        assert page.locator("td[data-day='2026-12-26']").get_attribute("data-kind") == "weekend"
        assert not errors, errors
    finally:
        context.close()
        with app.app_context():
            from datetime import date

            from app.calendar import services as cal
            from app.calendar.models import WorkCalendarDay
            from app.extensions import db
            db.session.execute(delete(WorkCalendarDay).where(WorkCalendarDay.day == date(2026, 12, 26)))
            db.session.commit()
            assert db.session.scalar(select(WorkCalendarDay).where(WorkCalendarDay.day == date(2026, 12, 26))) is None
            cal.invalidate()
