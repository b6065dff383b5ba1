"""无需无纸化维保电梯 in a real browser: the use unit applies for one of its elevators at 1440 px; the
county bureau approves it on a 390 px phone; the maintenance unit back-fills a paper work order for the
now exempt elevator, which is archived at once."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from ..conftest import user
from .conftest import PHONE, overflow
from .conftest import login as _login
from .conftest import shot as _shot

pytestmark = pytest.mark.e2e


def test_apply_approve_on_phone_and_backfill(server, browser, app):
    from app.cases.models import Task
    from app.core.models import Equipment
    from app.elevators.models import ElevatorFacts
    from app.extensions import db
    base = server
    from app.elevators.models import MaintenancePlan
    with app.app_context():
        plans = db.session.execute(select(MaintenancePlan.id, MaintenancePlan.status, MaintenancePlan.done_on,
                                          MaintenancePlan.work_order_id)).all()
        lift = db.session.scalar(select(Equipment).join(ElevatorFacts, ElevatorFacts.equipment_id == Equipment.id)
                                 .where(Equipment.use_org_id == user("unit_xn").org_id).order_by(Equipment.id))
        code, lift_id = lift.code, lift.id

    try:
        # 1. The use unit applies (desktop).
        unit, unit_errors = _login(browser, base, "unit_xn")
        unit.goto(f"{base}/elevators/exemptions")
        unit.click("[data-testid=exempt-apply]")
        unit.wait_for_selector("[data-testid=submit-start]")
        unit.click("[data-testid=submit-start]")                       # nothing ticked -> per-field errors
        unit.wait_for_selector("#f-elevator_codes .field-error")
        unit.check(f"input[name=elevator_codes][value='{code}']")
        unit.fill("#i-reason", "电梯机房位于地下三层，无移动网络信号，无法现场扫码签到。")
        _shot(unit, "exempt-1-apply")
        unit.click("[data-testid=submit-start]")
        unit.wait_for_selector("#exemption-facts")
        assert "待审核" in unit.locator("[data-testid=exemption-status]").inner_text()
        assert code in unit.locator("[data-testid=exemption-elevators]").inner_text()
        with app.app_context():
            task_id = db.session.scalar(select(Task.id).where(Task.task_def == "review", Task.status == "open",
                                                              Task.process_key == "elevator_exemption"))

        # 2. The county bureau approves on a phone.
        sup, sup_errors = _login(browser, base, "xn_supervisor", PHONE)
        sup.goto(f"{base}/tasks/{task_id}")
        sup.wait_for_selector("[data-testid=submit-task]")
        assert code in sup.locator("#exemption-facts").inner_text()
        sup.check("input[name=review_decision][value=approve]")
        sup.wait_for_selector("#i-valid_until", state="visible")
        sup.fill("#i-valid_until", "2099-12-31")
        sup.fill("#i-opinion", "经核实情况属实，同意。")
        _shot(sup, "exempt-2-review-phone")
        assert overflow(sup) <= 1
        sup.click("[data-testid=submit-task]")
        sup.wait_for_url(f"{base}/inbox")
        sup.goto(f"{base}/elevators/exemptions")
        sup.wait_for_selector("[data-testid=exempt-table]")
        assert "已批准" in sup.locator("[data-testid=exempt-table]").inner_text()
        _shot(sup, "exempt-3a-applications-phone")
        sup.goto(f"{base}/elevators/exemptions/elevators")
        sup.wait_for_selector("[data-testid=exempt-elevator-table]")
        assert code in sup.locator("[data-testid=exempt-elevator-table]").inner_text()
        _shot(sup, "exempt-3-elevators-phone")
        assert overflow(sup) <= 1

        # 3. The maintenance unit back-fills a paper work order (desktop).
        maint, maint_errors = _login(browser, base, "wb_quality", landing=None)
        maint.goto(f"{base}/elevators/exemptions/elevators")
        maint.click(f"[data-testid=backfill-{code}]")
        maint.wait_for_selector("[data-testid=backfill-items]")
        maint.fill("#i-start_time", "09:00")
        maint.fill("#i-end_time", "08:30")                              # before the start -> refused, kept
        maint.select_option("#i-maintainer", label="覃维保（演示）")
        first_item = maint.locator("[data-testid=backfill-items] input[type=radio][value=fail]").first
        first_item.check()
        maint.click("[data-testid=backfill-submit]")
        maint.wait_for_selector(".form-error-summary")
        summary = maint.locator(".form-error-summary").inner_text()
        assert "结束时间须晚于开始时间" in summary and "不合格须填写说明" in summary
        _shot(maint, "exempt-4-backfill-refused")
        maint.fill("#i-end_time", "10:10")
        maint.locator("[data-testid=backfill-items] tr.table-danger input[name^=n_]").first.fill("曳引轮槽磨损，已调整")
        maint.click("[data-testid=backfill-submit]")
        maint.wait_for_selector("[data-testid=backfill-facts]")
        assert "已归档" in maint.locator("[data-testid=backfill-status]").inner_text()
        _shot(maint, "exempt-5-backfilled")

        # The regulator sees it at once, on the elevator's profile too.
        sup.goto(f"{base}/registry/devices/{lift_id}")
        sup.wait_for_selector("[data-testid=exemption-flag]")
        assert "无需无纸化维保" in sup.locator("[data-testid=exemption-flag]").inner_text()
        sup.goto(f"{base}/elevators/exemptions/backfills")
        sup.wait_for_selector("[data-testid=backfill-table]")
        assert code in sup.locator("[data-testid=backfill-table]").inner_text()
        _shot(sup, "exempt-6-backfills-phone")
        assert overflow(sup) <= 1
        assert unit_errors == [] and sup_errors == [] and maint_errors == []
    finally:
        with app.app_context():       # the back-fill marked a seeded plan done: put the plans back
            for row in plans:
                db.session.execute(MaintenancePlan.__table__.update().where(MaintenancePlan.id == row.id).values(
                    status=row.status, done_on=row.done_on, work_order_id=row.work_order_id))
            db.session.commit()
