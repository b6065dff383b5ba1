"""移动式设备交接 in a real browser: the property unit ticks two forklifts and applies; the
receiving bureau selects all in 设备迁移管理 and approves them as a batch (the button's own
confirm text); the original bureau reads the result and the diagram in 设备迁移管理."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from ..conftest import user
from .conftest import login as _login
from .conftest import shot as _shot

pytestmark = pytest.mark.e2e


def test_transfer_apply_batch_approve_and_original_agency_view(server, browser, app):
    from app.core.models import Equipment
    from app.extensions import db
    base = server
    with app.app_context():
        forklifts = list(db.session.scalars(select(Equipment).where(
            Equipment.use_org_id == user("unit_lz").org_id, Equipment.category_code == "5110").order_by(Equipment.id)))
        codes = [e.code for e in forklifts[:2]]
        regions = {e.id: e.region_code for e in forklifts}
    try:
        # 1. 变更登记 by the property unit
        unit, unit_errors = _login(browser, base, "unit_lz")
        unit.goto(f"{base}/processes")
        unit.click("[data-testid=start-equipment_transfer]")
        unit.click("[data-testid=submit-start]")                     # nothing ticked -> errors
        assert unit.locator("#f-equipment_codes .field-error").inner_text() == "此项为必填项"
        for code in codes:
            unit.check(f"input[name=equipment_codes][value='{code}']")
        unit.select_option("#i-to_region", "450102")
        unit.fill("#i-reason", "叉车随项目调往南宁市兴宁区仓储基地作业。")
        _shot(unit, "transfer-1-apply")
        unit.click("[data-testid=submit-start]")
        unit.wait_for_selector("#transfer-facts")
        assert "待审核" in unit.locator("[data-testid=transfer-status]").inner_text()
        unit.wait_for_selector(".bpmn-active")

        # 2. 批量通过 by the receiving bureau
        sup, sup_errors = _login(browser, base, "xn_supervisor")
        asked: list[str] = []
        sup.on("dialog", lambda d: asked.append(d.message))
        sup.goto(f"{base}/transfers")
        sup.check("input[data-check-all=ids]")
        assert sup.locator("input[name=ids]:checked").count() == sup.locator("input[name=ids]").count() == 1
        sup.fill("input[name=opinion]", "同意迁入，纳入本局监管。")
        sup.click("button[name=action][value=approve]")
        sup.wait_for_selector("text=批量通过完成")
        assert asked and asked[0].startswith("确认批量通过所选申请")
        _shot(sup, "transfer-2-batch-approved")

        # 3. The original bureau sees the result in 设备迁移管理
        origin, origin_errors = _login(browser, base, "lz_supervisor")
        origin.goto(f"{base}/transfers")
        origin.locator("[data-testid=transfer-table] a").first.click()
        assert "已通过" in origin.locator("[data-testid=transfer-status]").inner_text()
        assert "同意迁入，纳入本局监管。" in origin.locator("[data-testid=flow-record]").inner_text()
        origin.wait_for_selector(".bpmn-done")
        _shot(origin, "transfer-3-original-agency")
        assert unit_errors == [] and sup_errors == [] and origin_errors == []
        with app.app_context():
            db.session.expire_all()
            moved = {e.code: (e.region_code, e.registered_region_code)
                     for e in db.session.scalars(select(Equipment).where(Equipment.code.in_(codes)))}
        assert moved == {code: ("450102", "450202") for code in codes}
    finally:
        with app.app_context():
            for e in db.session.scalars(select(Equipment).where(Equipment.id.in_(regions))):
                e.region_code = regions[e.id]
            db.session.commit()
