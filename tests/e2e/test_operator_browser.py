"""Operator employment in the browser (§4.5.7): an operator without an employer lands on the
personal page, applies to join a unit with the required proofs, the unit approves, and the
operator now lands on the employer's page; the public lookup needs no login and shows no full
ID number or phone."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from app.extensions import db

from .conftest import login
from .conftest import shot as _shot

pytestmark = pytest.mark.e2e
from ..conftest import PDF  # noqa: E402 - a PDF that parses (uploads are decoded)


def _login(browser, base, username):
    return login(browser, base, username, landing=None)    # operators do not land on the inbox


def test_operator_joins_a_unit_and_the_public_sees_only_masked_data(server, browser, app):
    base = server
    with app.app_context():
        from app.core.models import User
        from app.operators.models import Operator
        secrets = []
        for op in db.session.scalars(select(Operator)):
            secrets.append(op.id_number)
            if op.phone:
                secrets.append(op.phone)
        lan = db.session.scalar(select(User).where(User.username == "op_lan"))
        assert lan is not None

    # Public lookup: no login, masked.
    public = browser.new_context(locale="zh-CN").new_page()
    public.goto(f"{base}/public/operators")
    public.fill("input[name=employer]", "演示机械制造")
    public.click("form.search button[type=submit]")
    public.wait_for_load_state("networkidle")
    text = public.content()
    assert "韦*华" in text
    for secret in secrets:
        assert secret not in text
    _shot(public, "operators-public")

    # The operator without an employer lands on the personal page and applies to unit_lz.
    op, op_errors = _login(browser, base, "op_lan")
    assert op.url.endswith("/me")
    op.wait_for_selector("[data-testid=no-employer]")
    op.fill("input[name=unit_q]", "演示机械制造")
    op.click("#join button[type=submit]")
    op.locator("[data-testid=unit-results] a:has-text('申请任职')").first.click()
    op.wait_for_selector("[data-testid=submit-start]")
    op.select_option("#i-work_item", "Q2")
    op.select_option("#i-certificate_id", index=1)
    for field, name in (("cert_files", "证书.pdf"), ("social_insurance_files", "社保.pdf")):
        op.set_input_files(f"#i-{field}", files=[{"name": name, "mimeType": "application/pdf", "buffer": PDF}])
    op.click("[data-testid=submit-start]")
    op.wait_for_load_state("networkidle")
    assert "单位审核任职申请" in op.content() or "登记申请" in op.content()
    _shot(op, "operator-applied")

    # The unit approves in its inbox.
    unit, unit_errors = _login(browser, base, "unit_lz")
    unit.goto(f"{base}/inbox")
    unit.locator("[data-testid=inbox-table] tr", has_text="蓝秀梅").locator("a:has-text('办理')").click()
    unit.wait_for_selector("[data-testid=submit-task]")
    unit.check("input[name=decision][value=approve]")
    unit.fill("#i-opinion", "证件齐全，同意任职。")
    unit.click("[data-testid=submit-task]")
    unit.wait_for_url(f"{base}/inbox")
    unit.goto(f"{base}/operators/staff")
    assert "蓝*梅" in unit.content() or "蓝秀梅" in unit.content()
    _shot(unit, "unit-staff")

    # Next login, the operator lands on the employer's page.
    op2, op2_errors = _login(browser, base, "op_lan")
    assert op2.url.endswith("/me/employer")
    assert "柳州市演示机械制造有限公司（演示）" in op2.content()
    _shot(op2, "operator-employer")
    assert op_errors == [] and unit_errors == [] and op2_errors == []
