"""MLPS level-3 login controls, server-side sessions, the second factor, 三权分立 and the audit log."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import select, text

from app.core.clock import utcnow
from app.core.gm import totp_code
from app.extensions import db
from app.security.models import AuditLog, UserSession

from .conftest import TEST_DB, csrf_from, make_case, prepare_second_factor, user


def _login(client, username, password="Demo@2026", ip="127.0.0.1"):
    env = {"REMOTE_ADDR": ip}
    with client.application.app_context():
        token = csrf_from(client.get("/login", environ_base=env).get_data(as_text=True))
        return client.post("/login", data={"username": username, "password": password, "csrf_token": token},
                           environ_base=env)


@pytest.fixture(autouse=True)
def _no_login_delay(app):
    """These tests count failures; the progressive delay between them has its own tests
    (test_security_hardening.py)."""
    app.config["LOGIN_DELAY_SECONDS"] = 0
    yield
    app.config["LOGIN_DELAY_SECONDS"] = 1


def _entries(event_type: str, **where):
    db.session.expire_all()
    query = select(AuditLog).where(AuditLog.event_type == event_type)
    for k, v in where.items():
        query = query.where(getattr(AuditLog, k) == v)
    return db.session.scalars(query.order_by(AuditLog.id)).all()


def _restore(account, **values):
    for k, v in values.items():
        setattr(account, k, v)
    db.session.commit()


# ---------------------------------------------------------------- lockout and failures

def test_sixth_attempt_is_locked_even_with_the_right_password_and_security_admin_unlocks(app, web):
    """The lockout is per account and client address: the guesser's address is locked out of the
    account, the owner elsewhere is not; the security administrator lifts it."""
    client = app.test_client()
    for _ in range(4):
        assert _login(client, "unit_qx", "wrong-Password1").status_code == 401
    resp = _login(client, "unit_qx", "wrong-Password1")               # 5th failure locks
    assert resp.status_code == 401 and "暂停登录" in resp.get_data(as_text=True)
    resp = _login(client, "unit_qx")                                   # 6th: the right password
    assert resp.status_code == 401 and "暂停登录" in resp.get_data(as_text=True)
    account = user("unit_qx")
    assert len(_entries("auth.login_failed", object_id=str(account.id))) == 6
    assert len(_entries("auth.locked", object_id=str(account.id))) == 1
    # the API refuses as well
    with app.app_context():
        api = client.post("/api/v1/session", json={"username": "unit_qx", "password": "Demo@2026"})
    assert api.status_code == 401 and api.get_json()["error"]["code"] == "account_locked"
    sec = web("sec_admin")
    assert 'data-testid="blocked-unit_qx"' in sec.get("/admin/users?status=locked").get_data(as_text=True)
    page = sec.get(f"/security/users/{account.id}").get_data(as_text=True)
    assert "来自 127.0.0.1" in page and "解除全部登录限制" in page
    assert sec.post(f"/security/users/{account.id}/unlock").status_code == 302
    assert _login(client, "unit_qx").status_code == 302
    assert _entries("user.unlock", object_id=str(account.id))[0].actor_name == "sec_admin"


def test_unknown_user_and_wrong_password_get_the_same_message(app):
    a = _login(app.test_client(), "no_such_user", "Whatever@1").get_data(as_text=True)
    b = _login(app.test_client(), "unit_xn", "Whatever@1").get_data(as_text=True)
    assert "用户名或密码错误" in a and "用户名或密码错误" in b
    _restore(user("unit_xn"), failed_logins=0)


def test_last_login_and_failed_attempts_are_shown_after_login(app, web):
    account = user("unit_lz")
    before = (account.last_login_at, account.last_login_ip)
    web("unit_lz")
    _login(app.test_client(), "unit_lz", "Bad-Passw0rd")
    client = app.test_client()
    assert _login(client, "unit_lz").status_code == 302
    with app.app_context():
        page = client.get("/inbox").get_data(as_text=True)
    assert "上次登录" in page and "此后有 1 次失败的登录尝试" in page
    _restore(user("unit_lz"), last_login_at=before[0], last_login_ip=before[1], failed_logins=0)


# ---------------------------------------------------------------- sessions

def test_idle_timeout_absolute_lifetime_and_logout_end_the_server_session(app, web):
    s = web("xn_supervisor")
    assert s.get("/inbox").status_code == 200
    with time_machine.travel(utcnow() + timedelta(minutes=31), tick=False):
        resp = s.get("/inbox")
        assert resp.status_code == 302 and "/login" in resp.location
    assert _entries("auth.session_end")[-1].detail and "idle" in _entries("auth.session_end")[-1].detail
    # absolute: active every 20 minutes, still ends after 8 hours
    s = web("xn_supervisor")
    start = utcnow()
    for step in range(1, 25):
        with time_machine.travel(start + timedelta(minutes=20 * step), tick=False):
            resp = s.get("/inbox")
            if resp.status_code != 200:
                break
    assert step == 25 - 1 and "/login" in resp.location   # 24 × 20 min = 8 h
    assert "absolute" in _entries("auth.session_end")[-1].detail
    # logout ends the row: the old cookie replayed afterwards is refused
    s = web("xn_supervisor")
    cookie = s.client.get_cookie("session").value
    s.post("/logout")
    s.client.set_cookie("session", cookie)
    resp = s.get("/inbox")
    assert resp.status_code == 302 and "/login" in resp.location


def test_administrators_time_out_after_ten_idle_minutes(app, web):
    s = web("audit_admin")
    with time_machine.travel(utcnow() + timedelta(minutes=11), tick=False):
        assert s.get("/audit").status_code == 302


def test_security_admin_terminates_sessions_and_a_role_change_ends_them(app, web):
    s = web("unit_xn")
    target = user("unit_xn")
    sec = web("sec_admin")
    assert sec.post(f"/security/users/{target.id}/end-sessions").status_code == 302
    resp = s.get("/inbox")
    assert resp.status_code == 302
    assert db.session.scalar(select(UserSession.end_reason).where(UserSession.user_id == target.id)
                             .order_by(UserSession.id.desc()).limit(1)) == "terminated"


# ---------------------------------------------------------------- password policy

def test_new_account_must_change_its_password_which_follows_the_policy(app, web):
    admin = web("sys_admin")
    resp = admin.post("/admin/users/new", data={"username": "new_inspector", "display_name": "新检查员",
                                                 "role": "county_supervisor", "region_code": "450102"})
    assert resp.status_code == 200
    import html
    temp = html.unescape(re.search(r'data-testid="temp-password">([^<]+)<', resp.get_data(as_text=True)).group(1))
    client = app.test_client()
    assert _login(client, "new_inspector", temp).location.endswith("/password")
    with app.app_context():
        assert client.get("/inbox").location.endswith("/password")        # gate: nothing else first
        page = client.get("/password").get_data(as_text=True)
        token = csrf_from(page)
        cases = [("abc", "至少 8 位"), ("abcdefgh", "至少 3 类"), ("New_inspector1", "不能包含用户名"),
                 (temp, "最近 5 次")]
        for new, message in cases:
            resp = client.post("/password", data={"old_password": temp, "new_password": new, "new_password2": new,
                                                   "csrf_token": token})
            assert resp.status_code == 422 and message in resp.get_data(as_text=True), new
        resp = client.post("/password", data={"old_password": temp, "new_password": "Xingning#2026",
                                               "new_password2": "Xingning#2026x", "csrf_token": token})
        assert "两次输入的新密码不一致" in resp.get_data(as_text=True)
        resp = client.post("/password", data={"old_password": temp, "new_password": "Xingning#2026",
                                               "new_password2": "Xingning#2026", "csrf_token": token})
        assert resp.status_code == 302
        assert client.get("/inbox").status_code == 200
    assert _entries("user.create")[-1].actor_name == "sys_admin"
    assert _entries("auth.password_change", outcome="success")[-1].actor_name == "new_inspector"


def test_an_expired_password_must_be_changed_first(app, web):
    app.config["PASSWORD_MAX_AGE_DAYS"] = 90
    account = user("qx_supervisor")
    changed = account.password_changed_at
    try:
        _restore(account, password_changed_at=utcnow() - timedelta(days=91))
        client = app.test_client()
        assert _login(client, "qx_supervisor").location.endswith("/password")
        with app.app_context():
            assert "超过 90 天" in client.get("/password").get_data(as_text=True)
            api = client.post("/api/v1/session", json={"username": "qx_supervisor", "password": "Demo@2026"})
        assert api.status_code == 403 and api.get_json()["error"]["code"] == "password_change_required"
    finally:
        app.config["PASSWORD_MAX_AGE_DAYS"] = 0
        _restore(user("qx_supervisor"), password_changed_at=changed)


# ---------------------------------------------------------------- second factor

def test_administrator_enrols_a_totp_then_needs_it_and_a_code_is_not_accepted_twice(app):
    account = user("audit_admin")
    _restore(account, totp_secret_enc=None, totp_ref=None, totp_last_step=None)
    client = app.test_client()
    assert _login(client, "audit_admin").location.endswith("/login/otp")
    with app.app_context():
        assert client.get("/audit").status_code == 302                     # not signed in yet
        page = client.get("/login/otp").get_data(as_text=True)
        assert "<svg" in page
        secret = re.search(r'data-secret="([A-Z2-7]+)"', page).group(1)
        token = csrf_from(page)
        bad = client.post("/login/otp", data={"code": "000000", "csrf_token": token})
        assert bad.status_code == 422 and "不正确" in bad.get_data(as_text=True)
        code = totp_code(secret)
        assert client.post("/login/otp", data={"code": code, "csrf_token": token}).status_code == 302
        assert client.get("/audit").status_code == 200
    # the same code again (replay) is refused; the API needs the code too
    other = app.test_client()
    _login(other, "audit_admin")
    with app.app_context():
        token = csrf_from(other.get("/login/otp").get_data(as_text=True))
        assert other.post("/login/otp", data={"code": code, "csrf_token": token}).status_code == 422
        no_otp = other.post("/api/v1/session", json={"username": "audit_admin", "password": "Demo@2026"})
    assert no_otp.status_code == 401 and no_otp.get_json()["error"]["code"] == "otp_invalid"
    assert _entries("auth.otp_enrol", object_id=str(account.id))
    _restore(user("audit_admin"), failed_logins=0)
    prepare_second_factor(app, "audit_admin")   # leave the known test secret for other tests


def test_business_users_need_no_second_factor(app):
    assert _login(app.test_client(), "xn_supervisor").location.endswith("/")


# ---------------------------------------------------------------- 三权分立

def test_three_administrators_are_separated(app, web):
    sys_admin, sec_admin, auditor, unit = web("sys_admin"), web("sec_admin"), web("audit_admin"), web("unit_xn")
    target = user("unit_lz")
    # system administrator: accounts, not roles, not audit, not other admins, not itself
    assert sys_admin.get("/admin/users").status_code == 200
    assert sys_admin.get("/audit").status_code == 403
    assert sys_admin.get(f"/security/users/{target.id}").status_code == 403
    assert sys_admin.post(f"/admin/users/{user('sec_admin').id}/active", data={"active": "0"}).status_code == 403
    assert sys_admin.post(f"/admin/users/{user('sys_admin').id}/reset-password").status_code == 403
    resp = sys_admin.post("/admin/users/new", data={"username": "x_admin", "display_name": "X", "role": "sec_admin",
                                                     "region_code": "450000"})
    assert resp.status_code == 422 and "由安全管理员授予" in resp.get_data(as_text=True)
    # security administrator: roles and scope of others, never its own; no account creation
    assert sec_admin.get(f"/security/users/{user('sec_admin').id}").status_code == 403
    assert sec_admin.post(f"/security/users/{user('sec_admin').id}",
                          data={"role": "sys_admin", "region_code": "450000"}).status_code == 403
    assert sec_admin.get("/admin/users/new").status_code == 403
    resp = sec_admin.post(f"/security/users/{target.id}", data={"role": "use_unit", "region_code": "450203",
                                                                 "org_uscc": target.org.uscc})
    assert resp.status_code == 302
    change = _entries("user.role", object_id=str(target.id))[-1]
    assert '"region": "450202"' in change.detail and '"region": "450203"' in change.detail
    _restore(user("unit_lz"), region_code="450202")
    # audit administrator: the audit log, read-only; nothing else
    assert auditor.get("/audit").status_code == 200
    assert auditor.get("/admin/users").status_code == 403
    assert auditor.post(f"/security/users/{target.id}/unlock").status_code == 403
    assert unit.get("/audit").status_code == 403 and unit.get("/admin/users").status_code == 403
    # nobody reads the log of its own kind: the auditor's own entries are the security admin's to see
    auditor.get("/audit?event=auth.login")
    own = _entries("audit.search")[-1]
    assert own.actor_name == "audit_admin"
    page = auditor.get("/audit?q=查阅审计日志&per_page=200").get_data(as_text=True)
    assert f'<td class="mono">{own.id}</td>' not in page
    page = sec_admin.get("/audit?per_page=200").get_data(as_text=True)
    assert f'<td class="mono">{own.id}</td>' in page and "sys_admin" not in page


def test_exports_are_audited_with_row_count_and_criteria(web):
    make_case()
    s = web("xn_supervisor")
    resp = s.get("/hazards/export.xlsx?q=电梯")
    assert resp.status_code == 200
    entry = _entries("data.export")[-1]
    assert entry.actor_name == "xn_supervisor" and '"q": "电梯"' in entry.detail and '"rows":' in entry.detail


def test_rate_limit_on_login_and_public_pages(app):
    app.config.update(RATELIMIT_ENABLED=True, RATELIMIT_LOGIN_PER_MINUTE=3, RATELIMIT_PUBLIC_PER_MINUTE=2)
    try:
        client = app.test_client()
        codes = [_login(client, "nobody", "x").status_code for _ in range(4)]
        assert codes[:3] == [401, 401, 401] and codes[3] == 429
        with app.app_context():
            api = client.post("/api/v1/session", json={"username": "a", "password": "b"})
            assert api.status_code == 429 and api.get_json()["error"]["code"] == "rate_limited"
            public = [client.get("/public/operators").status_code for _ in range(3)]
        assert public[:2] == [200, 200] and public[2] == 429
        assert _entries("security.rate_limit")
    finally:
        app.config.update(RATELIMIT_ENABLED=False)
        db.session.execute(text("DELETE FROM rate_limit_hit"))
        db.session.commit()


def test_security_headers_and_no_store_on_signed_in_pages(web, client):
    resp = web("xn_supervisor").get("/inbox")
    csp = resp.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
    assert resp.headers["X-Content-Type-Options"] == "nosniff" and resp.headers["X-Frame-Options"] == "DENY"
    assert resp.headers["Cache-Control"] == "no-store"
    assert "no-store" not in client.get("/login").headers.get("Cache-Control", "")


def test_csrf_missing_is_refused_and_audited(web):
    s = web("xn_supervisor")
    resp = s._call(s.client.post, "/logout", data={})
    assert resp.status_code == 400
    assert _entries("security.csrf")[-1].actor_name == "xn_supervisor"


# ---------------------------------------------------------------- audit chain

def _cli(app, *args):
    return app.test_cli_runner().invoke(args=list(args))


def test_audit_verify_names_exactly_the_tampered_row_and_the_database_refuses_updates(app, web):
    web("xn_supervisor")                     # a few entries: login …
    make_case()
    assert _cli(app, "audit", "checkpoint").exit_code == 0
    web("unit_xn")
    ok = _cli(app, "audit", "verify")
    assert ok.exit_code == 0, ok.output
    assert "通过" in ok.output and "全部通过" in ok.output
    victim = _entries("auth.login")[-1]
    original = victim.summary
    if TEST_DB == "postgres":
        with pytest.raises(Exception, match="append-only"):
            db.session.execute(text("UPDATE audit_log SET summary = 'x' WHERE id = :id"), {"id": victim.id})
        db.session.rollback()
        with pytest.raises(Exception, match="append-only"):
            db.session.execute(text("DELETE FROM case_event"))
        db.session.rollback()

    def tamper(summary):
        if TEST_DB == "postgres":
            db.session.execute(text("SET LOCAL session_replication_role = replica"))
        db.session.execute(text("UPDATE audit_log SET summary = :s WHERE id = :id"), {"s": summary, "id": victim.id})
        db.session.commit()
    tamper("unit_xn 登录成功（已被篡改）")
    try:
        bad = _cli(app, "audit", "verify", "--no-timelines")
        assert bad.exit_code == 1
        assert f"第 {victim.id} 条审计记录内容被修改" in bad.output
        assert f"首个异常：第 {victim.id} 条" in bad.output
    finally:
        tamper(original)
    assert _cli(app, "audit", "verify", "--no-timelines").exit_code == 0


def test_a_forged_checkpoint_is_detected(app, web):
    from app.security.audit import verify_chain
    from app.security.models import AuditCheckpoint
    web("xn_supervisor")
    assert _cli(app, "audit", "checkpoint").exit_code == 0
    cp = db.session.scalar(select(AuditCheckpoint).order_by(AuditCheckpoint.id.desc()).limit(1))
    assert verify_chain().ok
    if TEST_DB == "postgres":
        db.session.execute(text("SET LOCAL session_replication_role = replica"))
    db.session.execute(text("UPDATE audit_checkpoint SET count = count + 1 WHERE id = :id"), {"id": cp.id})
    db.session.commit()
    result = verify_chain()
    assert not result.ok and f"检查点 {cp.id}" in result.problems[0] and "签名无效" in result.problems[0]


def test_timeline_chain_is_keyed(app):
    """The timeline is HMAC-SM3 with a key outside the database: recomputing it with plain SM3 fails."""
    from app.cases.models import CaseEvent
    from app.core.gm import sm3_hex
    from app.engine.runtime import event_canonical, verify_case_chain
    case = make_case()
    first = db.session.scalar(select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.seq))
    assert verify_case_chain(case.id) is None
    assert sm3_hex((first.prev_hash + event_canonical(first)).encode()) != first.hash
