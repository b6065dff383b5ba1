"""Token revocation, failed-login throttling per account and address, the serialised audit chain,
the timeline heads and the audit anchor outside the database (docs/安全设计.md)."""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import func, select, text

from app.core.clock import utcnow
from app.extensions import db
from app.security.models import AuditLog

from .conftest import TEST_DB, csrf_from, make_case, user
from .test_openapi import check


@pytest.fixture(autouse=True)
def _policy(app):
    saved = {k: app.config[k] for k in ("LOGIN_DELAY_SECONDS", "LOGIN_ACCOUNT_MAX_FAILURES", "LOGIN_MAX_FAILURES")}
    yield
    app.config.update(saved)


def _token(client, username="unit_xn", password="Demo@2026", ip="127.0.0.1"):
    with client.application.app_context():
        resp = client.post("/api/v1/session", json={"username": username, "password": password},
                           environ_base={"REMOTE_ADDR": ip})
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def _get(client, url, token):
    with client.application.app_context():
        return client.get(url, headers={"Authorization": f"Bearer {token}"})


def _restore(account, **values):
    db.session.expire_all()
    account = user(account.username)
    for k, v in values.items():
        setattr(account, k, v)
    db.session.commit()


def _login(client, username, password="Demo@2026", ip="127.0.0.1"):
    env = {"REMOTE_ADDR": ip}
    with client.application.app_context():
        token = csrf_from(client.get("/login", environ_base=env).get_data(as_text=True))
        return client.post("/login", data={"username": username, "password": password, "csrf_token": token},
                           environ_base=env)


# ---------------------------------------------------------------- token revocation

def test_api_logout_revokes_the_token_for_good(app, client):
    token = _token(client)["token"]
    assert _get(client, "/api/v1/tasks", token).status_code == 200
    with app.app_context():
        resp = client.delete("/api/v1/session", headers={"Authorization": f"Bearer {token}"})
    check(app, resp, 204)
    again = _get(client, "/api/v1/tasks", token)
    assert again.status_code == 401 and again.get_json()["error"]["code"] == "unauthorized"
    assert "已失效" in again.get_json()["error"]["message"]
    with app.app_context():
        check(app, client.delete("/api/v1/session", headers={"Authorization": f"Bearer {token}"}), 401)


def test_api_logout_of_all_ends_every_token_and_browser_session(app, client, web):
    first, second = _token(client)["token"], _token(client)["token"]
    browser = web("unit_xn")
    with app.app_context():
        assert client.delete("/api/v1/session?all=1",
                             headers={"Authorization": f"Bearer {first}"}).status_code == 204
    assert _get(client, "/api/v1/tasks", second).status_code == 401
    assert browser.get("/inbox").status_code == 302


def test_html_logout_revokes_the_accounts_tokens(app, client, web):
    token = _token(client)["token"]
    s = web("unit_xn")
    assert s.post("/logout").status_code == 302
    assert _get(client, "/api/v1/tasks", token).status_code == 401


def test_browser_session_logs_out_through_the_api_with_csrf(app, client, web):
    token = _token(client)["token"]
    s = web("unit_xn")
    resp = s._call(s.client.delete, "/api/v1/session", headers={"X-CSRFToken": s.csrf})
    assert resp.status_code == 204
    assert s.get("/inbox").status_code == 302
    assert _get(client, "/api/v1/tasks", token).status_code == 401


def test_security_admin_ending_sessions_revokes_tokens(app, client, web):
    token = _token(client)["token"]
    target = user("unit_xn")
    sec = web("sec_admin")
    assert "有效的接口令牌：1 个" in sec.get(f"/security/users/{target.id}").get_data(as_text=True)
    assert sec.post(f"/security/users/{target.id}/end-sessions").status_code == 302
    assert _get(client, "/api/v1/tasks", token).status_code == 401


def test_password_reset_revokes_tokens_and_a_new_token_may_only_change_the_password(app, client, web):
    import html
    import re
    token = _token(client)["token"]
    target = user("unit_xn")
    saved = (target.password_hash, target.password_changed_at)
    admin = web("sys_admin")
    try:
        page = admin.post(f"/admin/users/{target.id}/reset-password").get_data(as_text=True)
        temp = html.unescape(re.search(r'data-testid="temp-password">([^<]+)<', page).group(1))
        assert _get(client, "/api/v1/tasks", token).status_code == 401
        fresh = _token(client, password=temp)
        assert "password_change_required" in fresh      # the Session schema documents it (test_openapi)
        limited = fresh["token"]
        for url in ("/api/v1/tasks", "/api/v1/me", "/api/v1/processes"):
            resp = _get(client, url, limited)
            assert resp.status_code == 403 and resp.get_json()["error"]["code"] == "password_change_required", url
        headers = {"Authorization": f"Bearer {limited}"}
        with app.app_context():
            bad = client.post("/api/v1/me/password", headers=headers,
                              json={"old_password": "nope", "new_password": "abc"})
            assert set(check(app, bad, 422)["error"]["fields"]) == {"old_password", "new_password"}
            ok = client.post("/api/v1/me/password", headers=headers,
                             json={"old_password": temp, "new_password": "Fresh#Pass2026"})
            check(app, ok, 204)
        assert _get(client, "/api/v1/tasks", limited).status_code == 200     # the caller's token goes on
        assert _token(client, password="Fresh#Pass2026")["token"]
    finally:
        _restore(user("unit_xn"), password_hash=saved[0], password_changed_at=saved[1], must_change_password=False)


def test_deactivation_revokes_tokens_and_reactivation_does_not_revive_them(app, client, web):
    token = _token(client)["token"]
    target = user("unit_xn")
    admin = web("sys_admin")
    try:
        assert admin.post(f"/admin/users/{target.id}/active", data={"active": "0"}).status_code == 302
        assert _get(client, "/api/v1/tasks", token).status_code == 401
        assert admin.post(f"/admin/users/{target.id}/active", data={"active": "1"}).status_code == 302
        assert _get(client, "/api/v1/tasks", token).status_code == 401
    finally:
        _restore(user("unit_xn"), is_active_flag=True)


def test_an_expired_password_gives_a_token_that_may_only_change_it(app, client):
    account = user("qx_supervisor")
    changed = account.password_changed_at
    app.config["PASSWORD_MAX_AGE_DAYS"] = 90
    try:
        _restore(account, password_changed_at=utcnow() - timedelta(days=91))
        body = _token(client, "qx_supervisor")
        assert "超过 90 天" in body["password_change_required"]
        resp = _get(client, "/api/v1/tasks", body["token"])
        assert resp.status_code == 403 and resp.get_json()["error"]["code"] == "password_change_required"
    finally:
        app.config["PASSWORD_MAX_AGE_DAYS"] = 0
        _restore(user("qx_supervisor"), password_changed_at=changed)


def test_account_lockout_ends_sessions_and_tokens(app, client, web):
    """Failures from several addresses add up to the account-wide lock: sessions and tokens end."""
    app.config.update(LOGIN_DELAY_SECONDS=0, LOGIN_ACCOUNT_MAX_FAILURES=3)
    token = _token(client)["token"]
    browser = web("unit_xn")
    try:
        for ip in ("10.0.0.1", "10.0.0.2", "10.0.0.3"):
            _login(app.test_client(), "unit_xn", "Wrong#Pass1", ip=ip)
        assert _get(client, "/api/v1/tasks", token).status_code == 401
        assert browser.get("/inbox").status_code == 302
        assert user("unit_xn").locked_until is not None
        resp = _login(app.test_client(), "unit_xn", ip="10.0.0.9")     # the right password, a fresh address
        assert resp.status_code == 401 and "暂停登录" in resp.get_data(as_text=True)
        locked = [e for e in _entries("auth.locked") if '"scope": "account"' in (e.detail or "")]
        assert locked and '"sessions_and_tokens_ended": 2' in locked[-1].detail
        sec = web("sec_admin")
        assert sec.post(f"/security/users/{user('unit_xn').id}/unlock").status_code == 302
        assert _login(app.test_client(), "unit_xn", ip="10.0.0.9").status_code == 302
    finally:
        _restore(user("unit_xn"), locked_until=None)


def _entries(event_type: str):
    db.session.expire_all()
    return db.session.scalars(select(AuditLog).where(AuditLog.event_type == event_type).order_by(AuditLog.id)).all()


# ---------------------------------------------------------------- throttling

def _api_login(app, username, password, ip="127.0.0.1"):
    client = app.test_client()
    with app.app_context():
        return client.post("/api/v1/session", json={"username": username, "password": password},
                           environ_base={"REMOTE_ADDR": ip})


def test_unknown_and_real_names_get_identical_answers_through_the_lockout(app):
    app.config.update(LOGIN_DELAY_SECONDS=0)
    answers = {}
    for name in ("no_such_person", "unit_lz"):
        seq = []
        for _ in range(7):
            resp = _api_login(app, name, "Wrong#Pass1")
            check(app, resp, 401)
            seq.append((resp.status_code, resp.get_json()["error"]["code"], resp.get_json()["error"]["message"]))
        answers[name] = seq
    assert answers["no_such_person"] == answers["unit_lz"]
    assert [code for _s, code, _m in answers["unit_lz"]] == ["bad_credentials"] * 4 + ["account_locked"] * 3
    # another address is not locked out of the real account
    assert _api_login(app, "unit_lz", "Demo@2026", ip="10.1.1.1").status_code == 201


def test_progressive_delay_before_the_lock(app):
    app.config.update(LOGIN_DELAY_SECONDS=1)
    start = utcnow()
    with time_machine.travel(start, tick=False):
        assert _api_login(app, "unit_lz", "Wrong#Pass1").status_code == 401        # 1st: no delay
        assert _api_login(app, "unit_lz", "Wrong#Pass1").status_code == 401        # 2nd: next waits 1 s
        early = _api_login(app, "unit_lz", "Demo@2026")
        assert check(app, early, 429)["error"]["code"] == "login_delayed"
        assert early.headers["Retry-After"] == "1"
    with time_machine.travel(start + timedelta(seconds=1.5), tick=False):
        assert _api_login(app, "unit_lz", "Wrong#Pass1").status_code == 401        # 3rd: next waits 2 s
        assert _api_login(app, "unit_lz", "Demo@2026").headers.get("Retry-After") == "2"
    with time_machine.travel(start + timedelta(seconds=4), tick=False):
        assert _api_login(app, "unit_lz", "Demo@2026").status_code == 201           # success clears the count
        assert _api_login(app, "unit_lz", "Wrong#Pass1").status_code == 401
        assert _api_login(app, "unit_lz", "Demo@2026").status_code == 201


def test_parallel_wrong_passwords_never_pass_more_checks_than_the_limit(app):
    app.config.update(LOGIN_DELAY_SECONDS=0)
    limit = app.config["LOGIN_MAX_FAILURES"]
    before = db.session.scalar(select(func.max(AuditLog.id))) or 0
    barrier = threading.Barrier(15)
    codes: list[int] = []

    def attempt():
        client = app.test_client()
        barrier.wait()
        with app.app_context():
            resp = client.post("/api/v1/session", json={"username": "unit_lz", "password": "Wrong#Pass1"})
            codes.append(resp.status_code)
            db.session.remove()

    threads = [threading.Thread(target=attempt) for _ in range(15)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(codes) == 15 and set(codes) <= {401, 429}, codes
    db.session.expire_all()
    checked = db.session.scalar(select(func.count(AuditLog.id)).where(
        AuditLog.id > before, AuditLog.event_type == "auth.login_failed", AuditLog.outcome == "failure"))
    refused = db.session.scalar(select(func.count(AuditLog.id)).where(
        AuditLog.id > before, AuditLog.event_type == "auth.login_failed", AuditLog.outcome == "denied"))
    assert checked <= limit and checked + refused == 15, (checked, refused)


# ---------------------------------------------------------------- the audit chain under concurrency

def test_concurrent_audit_appends_lose_nothing_and_never_share_an_id(app):
    from app.security.audit import audit, audit_now, verify_chain
    before = db.session.scalar(select(func.max(AuditLog.id))) or 0
    workers, each = 8, 12
    barrier = threading.Barrier(workers)
    errors: list[str] = []

    def worker(n):
        with app.app_context():
            barrier.wait()
            for i in range(each):
                try:
                    if i % 2:
                        audit_now("security.denied", f"并发测试 {n}-{i}", outcome="denied")
                    else:            # an entry written with a change of its own, as most are
                        db.session.execute(text("SELECT 1"))
                        audit("record.change", f"并发测试 {n}-{i}")
                        db.session.commit()
                except Exception as err:   # noqa: BLE001 - any failure is the finding
                    db.session.rollback()
                    errors.append(f"{type(err).__name__}: {err}"[:200])
            db.session.remove()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    db.session.expire_all()
    ids = db.session.scalars(select(AuditLog.id).where(AuditLog.id > before, AuditLog.summary.like("并发测试%"))
                             .order_by(AuditLog.id)).all()
    assert len(ids) == workers * each
    summaries = db.session.scalars(select(AuditLog.summary).where(AuditLog.id > before,
                                                                  AuditLog.summary.like("并发测试%"))).all()
    assert len(set(summaries)) == workers * each
    assert verify_chain().ok


# ---------------------------------------------------------------- truncating the chains

def _as_dba():
    if TEST_DB == "postgres":   # past the append-only triggers, as a database superuser could
        db.session.execute(text("SET LOCAL session_replication_role = replica"))


def _cli(app, *args):
    return app.test_cli_runner().invoke(args=list(args))


def _walk_hazard(case):
    from .conftest import complete
    complete(case, "xn_supervisor", {"dispatch_decision": "dispatch", "requirements": "立即停用并整改", "opinion": "督办",
                                     "rectify_deadline": (utcnow() + timedelta(days=10)).date().isoformat()})


@pytest.mark.parametrize("removed", [1, 2])
def test_deleting_the_newest_timeline_entries_is_detected(app, removed):
    from app.cases.models import Case, CaseEvent
    from app.engine.runtime import verify_case_timeline
    from app.engine import runtime

    from .conftest import open_task
    case = make_case()
    _walk_hazard(case)
    runtime.claim_task(open_task(case).id, user("unit_xn"))      # an entry without an engine step
    db.session.commit()
    db.session.expire_all()
    seqs = db.session.scalars(select(CaseEvent.seq).where(CaseEvent.case_id == case.id).order_by(CaseEvent.seq)).all()
    assert len(seqs) >= 3 and verify_case_timeline(case.id) is None
    assert db.session.get(Case, case.id).timeline_seq == seqs[-1]
    assert _cli(app, "cases", "verify-timeline").exit_code == 0
    _as_dba()
    db.session.execute(text("DELETE FROM case_event WHERE case_id = :c AND seq > :s"),
                       {"c": case.id, "s": seqs[-1] - removed})
    db.session.commit()
    out = _cli(app, "cases", "verify-timeline")
    assert out.exit_code == 1 and "末尾记录缺失" in out.output, out.output
    assert f"实际最后一条为第 {seqs[-1] - removed} 条" in out.output
    # rewinding the head to the surviving entry does not help without the key
    last = db.session.execute(select(CaseEvent.seq, CaseEvent.hash).where(CaseEvent.case_id == case.id)
                              .order_by(CaseEvent.seq.desc()).limit(1)).one()
    db.session.execute(text("UPDATE case_record SET timeline_seq = :s, timeline_hash = :h WHERE id = :c"),
                       {"s": last[0], "h": last[1], "c": case.id})
    db.session.commit()
    problem = verify_case_timeline(case.id)
    assert problem is not None and "链头" in problem[1]


def test_a_rewound_audit_tail_is_caught_by_the_anchor_outside_the_database(app, web):
    """Delete the newest audit rows, the newest checkpoint, and rewind audit_chain_head: everything in
    the database is consistent again, but the anchor file remembers the newer checkpoint."""
    import json
    import os

    from app.security.audit import verify_chain
    from app.security.models import AuditChainHead, AuditCheckpoint
    web("xn_supervisor")
    assert _cli(app, "audit", "checkpoint").exit_code == 0
    first = db.session.scalar(select(AuditCheckpoint).order_by(AuditCheckpoint.id.desc()).limit(1))
    web("unit_xn")
    make_case()
    assert _cli(app, "audit", "checkpoint").exit_code == 0
    newest = db.session.scalar(select(AuditCheckpoint).order_by(AuditCheckpoint.id.desc()).limit(1))
    assert newest.upto_id > first.upto_id
    newest_upto = newest.upto_id
    path = app.config["AUDIT_ANCHOR_PATH"]
    lines = [json.loads(x) for x in open(path, encoding="utf-8")]
    assert lines[-1]["checkpoint_id"] == newest.id and lines[-1]["upto_hash"] == newest.upto_hash
    ok = _cli(app, "audit", "verify", "--no-timelines")
    assert ok.exit_code == 0 and "个库外锚定检查点" in ok.output, ok.output
    # the attacker with full database rights
    keep_id, keep_hash = first.upto_id, first.upto_hash
    _as_dba()
    db.session.execute(text("DELETE FROM audit_log WHERE id > :k"), {"k": keep_id})
    db.session.execute(text("DELETE FROM audit_checkpoint WHERE id > :c"), {"c": first.id})
    db.session.execute(text("UPDATE audit_chain_head SET last_id = :k, last_hash = :h, count = :k"),
                       {"k": keep_id, "h": keep_hash})
    db.session.commit()
    db.session.expire_all()
    app.config["AUDIT_ANCHOR_PATH"] = ""           # the database alone cannot tell
    try:
        assert verify_chain().ok
    finally:
        app.config["AUDIT_ANCHOR_PATH"] = path
    db.session.expire_all()
    result = verify_chain()
    assert not result.ok and "截断或回退" in result.problems[0], result.problems
    bad = _cli(app, "audit", "verify", "--no-timelines")
    assert bad.exit_code == 1 and f"检查点截至第 {newest_upto} 条" in bad.output
    assert db.session.get(AuditChainHead, 1).last_id >= keep_id


def test_a_line_dropped_from_the_middle_of_the_anchor_file_is_reported(app, web):
    from app.security.audit import audit, verify_chain
    for n in range(3):
        audit("record.change", f"锚定测试 {n}")
        db.session.commit()
        assert _cli(app, "audit", "checkpoint").exit_code == 0
    path = app.config["AUDIT_ANCHOR_PATH"]
    with open(path, encoding="utf-8") as fh:
        lines = fh.readlines()
    assert len(lines) >= 3 and verify_chain().anchored == len(lines)
    with open(path, "w", encoding="utf-8") as fh:
        fh.writelines(lines[:-2] + lines[-1:])
    try:
        problems = verify_chain().problems
        assert problems and "链接断开" in problems[0], problems
    finally:
        with open(path, "w", encoding="utf-8") as fh:
            fh.writelines(lines)
    assert verify_chain().ok


def test_the_head_holds_within_the_transaction_that_wrote_the_entries(app):
    from app.engine import runtime

    from .conftest import open_task
    case = make_case()
    runtime.claim_task(open_task(case).id, user("xn_supervisor"))      # not committed yet
    assert runtime.verify_case_timeline(case.id) is None
    db.session.commit()
    assert runtime.verify_case_timeline(case.id) is None


def test_migration_0018_seals_the_heads_of_existing_cases(app):
    import importlib.util
    import pathlib

    from alembic.operations import Operations
    from alembic.runtime.migration import MigrationContext

    from app.engine.runtime import verify_all_timelines
    path = pathlib.Path(__file__).resolve().parent.parent / "migrations" / "versions" / "0018_security.py"
    spec = importlib.util.spec_from_file_location("migration_0018", path)
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    made = [make_case() for _ in range(3)]
    _walk_hazard(made[0])
    ids = [c.id for c in made]
    db.session.execute(text("UPDATE case_record SET timeline_seq = 0, timeline_hash = NULL, timeline_mac = NULL "
                            "WHERE id >= :lo"), {"lo": min(ids)})
    db.session.commit()
    assert {no for no, *_ in verify_all_timelines()} >= {c.case_no for c in made}     # as before the upgrade
    with db.engine.begin() as conn:
        with Operations.context(MigrationContext.configure(conn)):
            migration._seal_timeline_heads(batch=2)
    db.session.expire_all()
    assert list(verify_all_timelines()) == []


def test_a_bearer_header_does_not_carry_a_replayed_cookie_past_the_session_check(app, client):
    from .conftest import WebSession
    token = _token(client)["token"]
    s = WebSession(app.test_client(), "unit_xn")
    cookie = s.client.get_cookie("session").value
    s.post("/logout")
    s.client.set_cookie("session", cookie)                # the old cookie, replayed
    headers = {"Authorization": "Bearer not-a-token"}
    resp = s.get("/inbox", headers=headers)
    assert resp.status_code == 302 and "/login" in resp.location
    assert _get(client, "/api/v1/tasks", token).status_code == 401        # logout revoked the token too


_WORKER_SCRIPT = """
import sys
from app import create_app
from app.config import Config
from app.extensions import db
from app.security.audit import audit_now
app = create_app(Config(TESTING=True, PASSWORD_ITERATIONS=1000, RATELIMIT_ENABLED=False))
with app.app_context():
    for i in range(int(sys.argv[2])):
        audit_now("security.denied", f"多进程测试 {sys.argv[1]}-{i}", outcome="denied")
    db.session.remove()
"""


def test_several_worker_processes_append_to_one_chain(app):
    """As gunicorn's workers do: separate processes, each with its own connections."""
    import os
    import subprocess
    import sys

    from app.security.audit import verify_chain
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    procs, each = 3, 12
    env = {**os.environ, "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
           "INSTANCE_DIR": app.config["INSTANCE_DIR"]}
    runs = [subprocess.Popen([sys.executable, "-c", _WORKER_SCRIPT, str(n), str(each)], cwd=root, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE) for n in range(procs)]
    failures = []
    for run in runs:
        _out, err = run.communicate(timeout=300)
        if run.returncode != 0:
            failures.append(err.decode()[-800:])
    assert failures == []
    db.session.expire_all()
    written = db.session.scalars(select(AuditLog.summary).where(AuditLog.summary.like("多进程测试%"))).all()
    assert len(written) == len(set(written)) == procs * each
    assert verify_chain().ok


def test_a_case_rolled_back_from_an_old_copy_of_its_row_is_caught_by_the_anchored_totals(app, web):
    """The case's own chain cannot tell: the old head was genuine. The anchored totals can."""
    from app.cases.models import Case
    from app.engine.runtime import verify_case_timeline
    from app.security.audit import verify_chain
    web("xn_supervisor")
    assert _cli(app, "audit", "checkpoint").exit_code == 0              # the audit log stops growing here
    case = make_case()
    db.session.expire_all()
    old = db.session.execute(select(Case.timeline_seq, Case.timeline_hash, Case.timeline_mac)
                             .where(Case.id == case.id)).one()              # the attacker's old backup
    _walk_hazard(case)
    assert _cli(app, "audit", "checkpoint").exit_code == 0
    assert verify_chain().ok
    _as_dba()
    db.session.execute(text("DELETE FROM case_event WHERE case_id = :c AND seq > :s"), {"c": case.id, "s": old[0]})
    db.session.execute(text("UPDATE case_record SET timeline_seq = :s, timeline_hash = :h, timeline_mac = :m "
                            "WHERE id = :c"), {"s": old[0], "h": old[1], "m": old[2], "c": case.id})
    db.session.commit()
    assert verify_case_timeline(case.id) is None                 # the limit documented in 安全设计 §5.4
    problems = verify_chain().problems
    assert problems and "回退了链头" in problems[0], problems


def test_a_rolled_back_savepoint_does_not_lose_the_head_of_earlier_entries(app):
    from app.engine import runtime

    from .conftest import open_task
    case = make_case()
    task_id = open_task(case).id
    runtime.claim_task(task_id, user("xn_supervisor"))          # an entry; the case row itself is unchanged
    db.session.flush()
    savepoint = db.session.begin_nested()
    savepoint.rollback()                                        # e.g. one case of a timer batch failing
    runtime.unclaim_task(task_id, user("xn_supervisor"))        # the next entry continues the chain
    db.session.commit()
    assert runtime.verify_case_timeline(case.id) is None
