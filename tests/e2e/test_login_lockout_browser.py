"""Failed logins in a real browser: the guesser's address is paused with the same words an unknown
name gets; the security administrator sees the block on the account's page (desktop and phone) and
lifts it; the owner logs in."""
from __future__ import annotations

import re

import pytest

from ..conftest import prepare_second_factor, user
from .conftest import DESKTOP, PHONE, new_page, overflow, shot

pytestmark = pytest.mark.e2e


def _try(page, base, username, password):
    page.goto(f"{base}/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("button[type=submit]")
    page.wait_for_load_state("domcontentloaded")
    return page.inner_text("body")


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_paused_address_and_the_security_admin_lifts_it(server, browser, app, viewport):
    base = server
    app.config["LOGIN_DELAY_SECONDS"] = 0          # the delays between guesses have their own tests
    try:
        guesser, errors = new_page(browser, viewport, console_errors=True)
        texts = [_try(guesser, base, "unit_lz", "Wrong#Pass1") for _ in range(5)]
        assert all("用户名或密码错误" in t for t in texts[:4]) and "暂停登录" in texts[4]
        unknown = [_try(guesser, base, "nobody_here", "Wrong#Pass1") for _ in range(5)]
        assert [("暂停登录" in t) for t in unknown] == [("暂停登录" in t) for t in texts]
        assert "暂停登录" in _try(guesser, base, "unit_lz", "Demo@2026")        # the right password too
        shot(guesser, f"lockout-1-paused-{viewport['width']}")

        otp = prepare_second_factor(app, "sec_admin")
        sec, sec_errors = new_page(browser, viewport, console_errors=True)
        _try(sec, base, "sec_admin", "Demo@2026")
        sec.wait_for_url(f"{base}/login/otp")
        sec.fill("#code", otp())
        sec.click("button[type=submit]")
        sec.wait_for_url(re.compile(r".*/admin/users.*"))
        with app.app_context():
            target_id = user("unit_lz").id
        sec.goto(f"{base}/security/users/{target_id}")
        blocks = sec.inner_text("[data-testid=login-blocks]")
        assert "来自 127.0.0.1" in blocks and "5" in blocks
        assert overflow(sec) <= 0
        shot(sec, f"lockout-2-blocks-{viewport['width']}")
        sec.click("[data-testid=unlock]")
        sec.wait_for_selector(".flash-success")
        assert "已解除锁定" in sec.inner_text(".flash-success")

        owner, owner_errors = new_page(browser, viewport, console_errors=True)
        _try(owner, base, "unit_lz", "Demo@2026")
        owner.wait_for_url(re.compile(rf"{re.escape(base)}/(inbox)?$"))
        for collected in (errors, sec_errors, owner_errors):
            assert collected == []
    finally:
        app.config["LOGIN_DELAY_SECONDS"] = 1
