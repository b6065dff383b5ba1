"""A regulator issues a platform credential at 1440 px and sees the secret once; the platform's signed upload
lands in the records list, which a phone (390 px) searches by source without sideways scrolling."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from app.extensions import db
from app.maintenance_platform.models import PlatformCredential

from ..conftest import user
from ..platform_client import HttpTransport, PlatformClient
from ..test_elevators import _restore_plans, first_lift  # noqa: F401 - the fixture
from ..test_maintenance_platform import batch, visit
from .conftest import DESKTOP, PHONE, login, overflow, shot

pytestmark = pytest.mark.e2e


def test_regulator_issues_a_credential_and_the_uploaded_record_is_searchable_on_a_phone(browser, server):
    page, errors = login(browser, server, "xn_supervisor", DESKTOP)
    page.goto(f"{server}/maintenance-platform/credentials")
    page.select_option("#i-org_id", str(user("wb_qin").org_id))
    page.fill("#i-platform_name", "兴宁维保云")
    page.click("[data-testid=issue]")
    page.wait_for_selector("[data-testid=issued-secret]")
    key_id = page.inner_text("[data-testid=issued-key]").strip()
    secret = page.inner_text("[data-testid=issued-secret-value]").strip()
    shot(page, "platform-credential-issued")
    db.session.expire_all()
    assert db.session.scalar(select(PlatformCredential).where(PlatformCredential.key_id == key_id)).secret == secret
    page.goto(f"{server}/maintenance-platform/credentials")
    page.wait_for_selector(f"[data-key='{key_id}']")
    assert secret not in page.content()                  # shown once
    assert errors == []

    e, _f = first_lift()
    status, body = PlatformClient(key_id, secret, HttpTransport(server)).upload(*batch(visit(e, "rec-browser-01")))
    assert status == 200 and body["results"][0]["status"] == "created", body
    order_no = body["results"][0]["order_no"]
    page.goto(f"{server}/elevators/records?source=platform")
    page.wait_for_selector(f"text={order_no}")
    shot(page, "platform-records-desktop")

    phone, phone_errors = login(browser, server, "xn_supervisor", PHONE)
    phone.goto(f"{server}/elevators/records")
    phone.click("[data-testid=search-toggle]")          # collapsed on a phone
    phone.wait_for_selector("select[name=source]", state="visible")
    phone.select_option("select[name=source]", "platform")
    phone.locator("[data-testid=record-search] button[type=submit]").click()
    phone.wait_for_selector(f"text={order_no}")
    phone.wait_for_selector("[data-testid=record-source]")
    shot(phone, "platform-records-phone")
    assert overflow(phone) == 0
    assert phone_errors == []
