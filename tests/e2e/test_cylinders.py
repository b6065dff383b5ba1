"""Gas-cylinder traceability in a real browser: the maker records a batch, adds a cylinder and submits
使用登记代办 with the five documents (the fake 准入一体化平台 registers it); the filler then finds the
registered cylinder in 气瓶管理, records a filling and reads it back — at 1440 px, then the filler's archive
and filling list at a 390 px phone width without sideways scrolling."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from ..conftest import JPEG
from ..cylinder_helpers import authority
from .conftest import PHONE, overflow
from .conftest import login as _login
from .conftest import shot as _shot

pytestmark = pytest.mark.e2e
DOCS = ("doc_agreement", "doc_filler_certificate", "doc_registration_form", "doc_summary_table", "doc_uscc_proof")


def test_maker_batch_agency_to_registered_and_the_filler_sees_it(server, browser, app, monkeypatch, tmp_path):
    from app.cylinders.models import Cylinder, CylinderFilling
    from app.extensions import db
    base = server
    fake_server, fake = authority(app, monkeypatch)
    photo = tmp_path / "材料.jpg"
    photo.write_bytes(JPEG)
    with app.app_context():
        from app.core.models import User
        filler_uscc = db.session.scalar(select(User).where(User.username == "cyl_filler")).org.uscc
    with fake_server:
        maker, maker_errors = _login(browser, base, "cyl_maker", landing=None)
        maker.goto(f"{base}/cylinders/batches/new")
        maker.fill("#i-batch_no", "PH-E2E-01")
        maker.fill("#i-product_name", "YSP15 液化石油气钢瓶")
        maker.select_option("#i-kind", "civil_lpg")
        maker.fill("#i-medium", "液化石油气")
        maker.fill("#i-volume_l", "35.5")
        maker.fill("#i-nominal_pressure_mpa", "2.1")
        maker.fill("#i-manufacture_date", "2026-11-01")
        maker.fill("#i-design_life_years", "8")
        maker.fill("#i-client_uscc", filler_uscc)
        _shot(maker, "cylinders-1-batch-form")
        maker.click("[data-testid=batch-form] button[type=submit]")
        maker.wait_for_selector("[data-testid=batch-facts]")
        maker.fill("#i-trace_code", "GXQP-E2E-0001")
        maker.fill("#i-factory_no", "E2E00001")
        maker.click("[data-testid=add-cylinder-submit]")
        maker.wait_for_selector("text=已添加气瓶 GXQP-E2E-0001")
        maker.click("[data-testid=start-agency]")                     # confirm() accepted
        maker.wait_for_selector("[data-testid=application-items]")
        assert "GXQP-E2E-0001" in maker.locator("[data-testid=application-items]").inner_text()
        maker.click("[data-testid=go-task]")
        maker.wait_for_selector("[data-testid=submit-task]")
        maker.check("input[name=decision][value=submit]")
        maker.click("[data-testid=submit-task]")                      # documents missing -> errors, kept
        maker.wait_for_selector(".form-error-summary")
        assert "含使用单位统一社会信用代码的证明" in maker.locator(".form-error-summary").inner_text()
        maker.check("input[name=decision][value=submit]")
        for key in DOCS:
            maker.set_input_files(f"input[name={key}__upload]", str(photo))
        _shot(maker, "cylinders-2-agency-documents")
        maker.click("[data-testid=submit-task]")
        maker.wait_for_load_state("networkidle")
        maker.goto(f"{base}/cylinders/applications")
        maker.locator("[data-testid=application-table] a").first.click()
        assert "已办结" in maker.locator("[data-testid=application-status]").inner_text()
        _shot(maker, "cylinders-3-agency-done")
        [sent] = fake.submissions()
        assert sent.json["agent"] is not None and len(sent.json["documents"]) == 5

        filler, filler_errors = _login(browser, base, "cyl_filler", landing=None)
        filler.goto(f"{base}/cylinders?q=GXQP-E2E-0001")
        row = filler.locator("[data-testid=cylinder-table] tbody tr").first
        assert "已登记" in row.inner_text()
        row.locator("a").first.click()
        assert "已登记" in filler.locator("[data-testid=reg-state]").inner_text()
        filler.click("text=录入充装记录")
        filler.fill("#i-filled_at", "2026-12-01T09:30")
        filler.fill("#i-operator_name", "覃充装工")
        filler.select_option("#i-pre_check", "pass")
        filler.select_option("#i-post_check", "pass")
        filler.fill("#i-weight_kg", "14.8")
        filler.click("[data-testid=filling-form] button[type=submit]")
        filler.wait_for_selector("[data-testid=filling-facts]")
        assert "GXQP-E2E-0001" in filler.locator("[data-testid=filling-facts]").inner_text()
        _shot(filler, "cylinders-4-filling")
        filler.goto(f"{base}/cylinders/desk")
        assert filler.locator("[data-testid=desk-counts]").count() == 1
        assert maker_errors == [] and filler_errors == []

    phone, phone_errors = _login(browser, base, "cyl_filler", PHONE, landing=None)
    for url, name in (("/cylinders", "archive"), ("/cylinders/fillings", "fillings"), ("/cylinders/desk", "desk")):
        phone.goto(f"{base}{url}")
        phone.wait_for_load_state("networkidle")
        assert overflow(phone) <= 0, (url, overflow(phone))
        _shot(phone, f"cylinders-5-phone-{name}")
    assert phone_errors == []
    regulator, regulator_errors = _login(browser, base, "xn_supervisor", PHONE)
    for url, name in (("/cylinders/units?tag=civil", "units"), ("/cylinders/scales", "scales"),
                      ("/cylinders?q=GXQP-E2E-0001", "verify"), ("/cylinders/batches", "batches"),
                      ("/cylinders/applications", "applications")):
        regulator.goto(f"{base}{url}")
        regulator.wait_for_load_state("networkidle")
        assert overflow(regulator) <= 0, (url, overflow(regulator))
        _shot(regulator, f"cylinders-6-phone-regulator-{name}")
        if name == "verify":
            assert "已办理使用登记" in regulator.locator("[data-testid=verify-result]").inner_text()
    assert regulator_errors == []
    with app.app_context():
        c = db.session.scalar(select(Cylinder).where(Cylinder.trace_code == "GXQP-E2E-0001"))
        assert c.reg_state == "registered" and c.registration_no == "QPGXQP-E2E-0001"
        assert db.session.scalar(select(CylinderFilling.id).where(CylinderFilling.cylinder_id == c.id))
