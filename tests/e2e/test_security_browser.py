"""三权分立 in a real browser: a new administrator binds its authenticator by the QR page; the
system administrator creates an account (one-time password shown once); the new user must change
the password before anything else; the audit administrator finds both in the audit log and
verifies the chain."""
from __future__ import annotations

import html
import re

import pytest

from app.core.gm import totp_code

from ..conftest import prepare_second_factor, user
from .conftest import new_page
from .conftest import shot as _shot

pytestmark = pytest.mark.e2e


def _page(chromium):
    # JS errors and CSP violations; HTTP statuses (422 form errors) are not page errors
    return new_page(chromium, console_errors=True)


def _password(page, base, username, password="Demo@2026"):
    page.goto(f"{base}/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("button[type=submit]")


def test_admin_enrolment_account_creation_forced_change_and_audit(server, browser, app):
    from app.extensions import db
    base = server
    with app.app_context():
        sec = user("sec_admin")
        sec.totp_secret_enc = sec.totp_ref = sec.totp_last_step = None
        db.session.commit()

    # 1. the security administrator's first login: bind the authenticator (QR + key), then in
    sec_page, sec_errors = _page(browser)
    _password(sec_page, base, "sec_admin")
    sec_page.wait_for_url(f"{base}/login/otp")
    assert sec_page.locator(".qr svg").count() == 1
    secret = sec_page.get_attribute("[data-testid=totp-secret]", "data-secret")
    _shot(sec_page, "security-1-bind-totp")
    sec_page.fill("#code", totp_code(secret))
    sec_page.click("button[type=submit]")
    sec_page.wait_for_url(re.compile(r".*/admin/users.*"))
    assert "首次登录" in sec_page.inner_text(".flash") or "上次登录" in sec_page.inner_text(".flash")

    # 2. the system administrator creates an account; the one-time password is shown once
    otp = prepare_second_factor(app, "sys_admin")
    admin, admin_errors = _page(browser)
    _password(admin, base, "sys_admin")
    admin.wait_for_url(f"{base}/login/otp")
    admin.fill("#code", otp())
    admin.click("button[type=submit]")
    admin.wait_for_url(f"{base}/admin/users")
    admin.click("[data-testid=user-new]")
    admin.click("button:has-text('创建账号')")                                   # empty: per-field errors
    assert "请填写姓名" in admin.inner_text(".form-error-summary")
    admin.fill("#i-username", "lz_inspector")
    admin.fill("#i-display_name", "柳州检查员（演示）")
    admin.select_option("#i-role", "county_supervisor")
    admin.select_option("#i-region_code", "450202")
    admin.click("button:has-text('创建账号')")
    temp = html.unescape(admin.inner_text("[data-testid=temp-password]")).strip()
    _shot(admin, "security-2-account-created")

    # 3. the new user must change the password first
    new, new_errors = _page(browser)
    _password(new, base, "lz_inspector", temp)
    new.wait_for_url(f"{base}/password")
    assert "首次登录" in new.inner_text("[data-testid=password-reason]")
    new.goto(f"{base}/inbox")                                           # the gate holds
    new.wait_for_url(f"{base}/password")
    new.fill("#i-old_password", temp)
    new.fill("#i-new_password", "abc")
    new.fill("#i-new_password2", "abc")
    new.click("button:has-text('保存新密码')")
    assert "至少 8 位" in new.inner_text(".form-error-summary")
    _shot(new, "security-3-password-policy")
    new.fill("#i-old_password", temp)
    new.fill("#i-new_password", "Liuzhou#2026")
    new.fill("#i-new_password2", "Liuzhou#2026")
    new.click("button:has-text('保存新密码')")
    new.wait_for_url(f"{base}/inbox")

    # 4. the security administrator grants scope; the user's session ends at once
    sec_page.goto(f"{base}/admin/users?q=lz_inspector")
    sec_page.click("tr[data-username=lz_inspector] a:has-text('角色与范围')")
    sec_page.select_option("#i-region_code", "450200")
    sec_page.click("button:text-is('保存')")
    sec_page.wait_for_selector(".flash-success")
    new.goto(f"{base}/inbox")
    new.wait_for_url(re.compile(r".*/login.*"))
    assert "管理员终止" in new.inner_text(".flash")

    # 5. the audit administrator finds it all and verifies the chain
    otp = prepare_second_factor(app, "audit_admin")
    auditor, auditor_errors = _page(browser)
    _password(auditor, base, "audit_admin")
    auditor.wait_for_url(f"{base}/login/otp")
    auditor.fill("#code", otp())
    auditor.click("button[type=submit]")
    auditor.wait_for_url(f"{base}/audit")
    auditor.fill("input[name=q]", "lz_inspector")
    auditor.click("button[type=submit]:has-text('查询')")
    table = auditor.inner_text("[data-testid=audit-table]")
    for text in ("新建账号 lz_inspector", "lz_inspector 修改密码", "变更账号 lz_inspector 的角色/数据范围"):
        assert text in table, text
    auditor.click("[data-testid=verify]")
    auditor.wait_for_selector(".flash-success")
    assert "审计链校验通过" in auditor.inner_text(".flash-success")
    _shot(auditor, "security-4-audit-log")
    for errors in (sec_errors, admin_errors, new_errors, auditor_errors):
        assert errors == []
