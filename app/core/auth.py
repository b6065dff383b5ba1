"""Login and logout for pages; bearer tokens for the API. Policy: security/policy.py; sessions:
security/sessions.py; second factor (TOTP) for the three administrators; every attempt audited."""
from __future__ import annotations

import secrets
import time
from datetime import timedelta
from typing import NamedTuple

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required
from sqlalchemy import bindparam, func, select

from ..errors import DomainError, Unauthorized
from ..extensions import db, login_manager
from ..security import sessions
from ..security.audit import audit, audit_now
from ..security.models import AuditLog
from ..security import throttle
from ..security.policy import (check_new_password, must_change_password, needs_second_factor, password_expires_at,
                               password_rule_text, set_password)
from ..security.ratelimit import limit
from .clock import as_utc, to_local, utcnow
from .gm import (hash_password, new_totp_secret, password_iterations, sm3_hex, totp_verify, verify_password)
from .models import ApiToken, User
from .pii import decrypt, encrypt

bp = Blueprint("auth", __name__)

PRE_AUTH_SECONDS = 300
_DUMMY_HASH: dict[int, str] = {}


@login_manager.user_loader
def load_user(user_id: str):
    return db.session.get(User, int(user_id))


class LoginRefused(Exception):
    def __init__(self, message: str, code: str = "bad_credentials", status: int = 401, retry_after: int | None = None):
        super().__init__(message)
        self.message, self.code, self.status, self.retry_after = message, code, status, retry_after


def _dummy_hash() -> str:
    iterations = current_app.config.get("PASSWORD_ITERATIONS", 600_000)
    if iterations not in _DUMMY_HASH:
        _DUMMY_HASH[iterations] = hash_password(secrets.token_hex(8), iterations)
    return _DUMMY_HASH[iterations]


def _take_attempt(name: str, user: User | None) -> throttle.Attempt:
    """One attempt from this address, or LoginRefused — the same answer whether the name exists or not."""
    taken = throttle.take_attempt(name, request.remote_addr, user.id if user else None)
    if isinstance(taken, throttle.Refusal):
        audit_now("auth.login_failed", f"{name or '（空）'} 的登录失败次数过多，拒绝本次尝试"
                  f"（{'锁定中' if taken.locked else '延迟中'}）", outcome="denied", object_type="user",
                  object_id=user.id if user else name, actor=user,
                  detail={"reason": taken.code, "retry_after_seconds": taken.seconds})
        raise LoginRefused(taken.message, code=taken.code, status=401 if taken.locked else 429,
                           retry_after=taken.seconds)
    return taken


def _check_failed(name: str, user: User | None, attempt: throttle.Attempt, summary: str) -> LoginRefused:
    """A failed password or second-factor check (already counted): audit it, apply what it locks, and
    return the refusal to raise (the caller's transaction is rolled back first)."""
    cfg = current_app.config
    db.session.rollback()
    audit("auth.login_failed", summary, outcome="failure", object_type="user",
          object_id=user.id if user else name, actor=user)
    locked = False
    if attempt.pair_locks_on_failure:
        locked = True
        audit("auth.locked", f"{name} 在地址 {attempt.source} 连续 {cfg['LOGIN_MAX_FAILURES']} 次认证失败，"
              f"该地址暂停登录此账号 {cfg['LOCKOUT_MINUTES']} 分钟", object_type="user",
              object_id=user.id if user else name, actor=user, detail={"scope": "source", "source": attempt.source})
    if attempt.account_locks_on_failure:
        locked = True
        detail = {"scope": "account"}
        if user is not None:
            user.locked_until = utcnow() + timedelta(minutes=cfg["LOCKOUT_MINUTES"])
            detail["sessions_and_tokens_ended"] = sessions.end_all_for(user.id, "locked")
        audit("auth.locked", f"{name} 累计 {cfg['LOGIN_ACCOUNT_MAX_FAILURES']} 次认证失败（多个地址），账号锁定 "
              f"{cfg['LOCKOUT_MINUTES']} 分钟，会话与接口令牌全部失效", object_type="user",
              object_id=user.id if user else name, actor=user, detail=detail)
    db.session.commit()
    if locked:
        return LoginRefused(throttle.Refusal(locked=True, seconds=cfg["LOCKOUT_MINUTES"] * 60).message,
                            code="account_locked", retry_after=cfg["LOCKOUT_MINUTES"] * 60)
    return LoginRefused("用户名或密码错误")


def check_password(username: str, password: str) -> tuple[User, throttle.Attempt]:
    """The first factor. Raises LoginRefused with one generic message for an unknown user or a wrong
    password (and spends the same time on both); throttling answers the same for both as well."""
    limit("login", current_app.config["RATELIMIT_LOGIN_PER_MINUTE"])
    name = (username or "").strip()[:64]
    user = db.session.scalar(select(User).where(User.username == name)) if name else None
    attempt = _take_attempt(name, user)
    if not verify_password(password or "", user.password_hash if user else _dummy_hash()) or user is None:
        raise _check_failed(name, user, attempt, f"账号 {user.username} 密码错误" if user else
                            f"登录失败：用户名 {name or '（空）'} 不存在")
    if not user.is_active:
        audit_now("auth.login_failed", f"账号 {user.username} 已停用", outcome="denied", object_type="user",
                  object_id=user.id, actor=user)
        raise LoginRefused("账号已停用，请联系系统管理员", code="account_disabled")
    wanted = current_app.config.get("PASSWORD_ITERATIONS", 600_000)
    if password_iterations(user.password_hash) != wanted:
        user.password_hash = hash_password(password, wanted)   # rehash when parameters change
    return user, attempt


def _previous_login_text(user: User) -> str:
    if user.last_login_at is None:
        return "这是您的首次登录。"
    since = as_utc(user.last_login_at)
    failures = db.session.scalar(select(func.count()).select_from(AuditLog).where(
        AuditLog.event_type == "auth.login_failed", AuditLog.object_id == str(user.id), AuditLog.at > since)) or 0
    text = f"上次登录：{to_local(since).strftime('%Y-%m-%d %H:%M')}，来自 {user.last_login_ip or '未知地址'}。"
    if failures:
        text += f"此后有 {failures} 次失败的登录尝试，如非本人操作请立即修改密码。"
    return text


def finish_login(user: User, factor: str) -> str:
    """Both factors passed: record, start the server-side session, return the last-login notice."""
    notice = _previous_login_text(user)
    throttle.succeeded(user.username, request.remote_addr)
    user.failed_logins = 0
    user.last_login_at, user.last_login_ip = utcnow(), request.remote_addr
    sessions.start(user)
    audit("auth.login", f"{user.username} 登录成功（{factor}）", object_type="user", object_id=user.id, actor=user,
          detail={"factor": factor})
    db.session.commit()
    return notice


def issue_token(user: User) -> str:
    token = secrets.token_urlsafe(32)
    ttl = current_app.config["API_TOKEN_TTL_SECONDS"]
    db.session.add(ApiToken(token_sm3=sm3_hex(token.encode()), user_id=user.id,
                            expires_at=utcnow() + timedelta(seconds=ttl)))
    return token


# Built once: every API call runs it, and building (and keying) the statement cost more CPU than
# executing it. The digest is the one parameter; the token comes as plain columns beside its user
# (no token object to track).
_TOKEN_ROW = (select(User, ApiToken.id, ApiToken.revoked_at, ApiToken.expires_at)
              .join(ApiToken, ApiToken.user_id == User.id).where(ApiToken.token_sm3 == bindparam("digest")))


class LiveToken(NamedTuple):
    id: int
    user: User


def token_row(token: str) -> LiveToken:
    """The live token's id with its user, in one statement (every API call): unknown, revoked, expired
    tokens and tokens of a deactivated account are refused. Revocation is final (sessions.end_all_for)."""
    row = db.session.execute(_TOKEN_ROW, {"digest": sm3_hex(token.encode())}).first()
    if row is None:
        raise Unauthorized("令牌无效，请重新登录")
    user, token_id, revoked_at, expires_at = row
    if revoked_at is not None:
        raise Unauthorized("令牌已失效（已退出登录、修改或重置密码、账号停用或锁定、会话被终止），请重新登录")
    if as_utc(expires_at) < utcnow() or not user.is_active:
        raise Unauthorized("令牌已过期，请重新登录")
    return LiveToken(token_id, user)


def api_login(username: str, password: str, otp: str | None) -> User:
    """POST /api/v1/session: the same controls as the login page. An account that must change its
    password gets a token that may only change it (api/__init__.py)."""
    try:
        user, _attempt = check_password(username, password)
        if needs_second_factor(user):
            if user.totp_secret_enc is None:
                db.session.commit()
                raise DomainError("管理员账号须先在网页登录并绑定动态口令", code="otp_enrolment_required", status=401)
            _accept_otp(user, otp or "")
    except LoginRefused as err:
        raise LoginFailed(err) from None
    throttle.succeeded(user.username, request.remote_addr)
    user.failed_logins = 0
    user.last_login_at, user.last_login_ip = utcnow(), request.remote_addr
    audit("auth.api_token", f"{user.username} 通过接口登录", object_type="user", object_id=user.id, actor=user)
    return user


class LoginFailed(DomainError):
    """A refused API login; a delay carries Retry-After (api/__init__.py)."""

    def __init__(self, err: LoginRefused):
        super().__init__(err.message, code=err.code, status=err.status)
        self.retry_after = err.retry_after


# ---------------------------------------------------------------- second factor

def totp_secret(user: User) -> str | None:
    if user.totp_secret_enc is None:
        return None
    return decrypt(user.totp_secret_enc, table="user_account", column="totp_secret", ref=user.totp_ref)


def _accept_otp(user: User, code: str) -> throttle.Attempt:
    """The second factor: a code not used before, counted like a password attempt; LoginRefused otherwise."""
    attempt = _take_attempt(user.username, user)
    step = totp_verify(totp_secret(user), code)
    if step is None or (user.totp_last_step is not None and step <= user.totp_last_step):
        refusal = _check_failed(user.username, user, attempt, f"{user.username} 动态口令错误")
        if refusal.code == "bad_credentials":
            refusal = LoginRefused("动态口令错误或已使用", code="otp_invalid")
        raise refusal
    user.totp_last_step = step
    return attempt


def _pre_auth_user() -> User | None:
    uid, started = session.get("pre_uid"), session.get("pre_at", 0)
    if not uid or time.time() - started > PRE_AUTH_SECONDS:
        return None
    return db.session.get(User, uid)


def _safe_next(target: str | None) -> str:
    target = target or ""
    if not target.startswith("/") or target.startswith("//") or target.startswith("/\\"):
        return url_for("cases.home")
    return target


def _after_login(user: User, factor: str):
    notice = finish_login(user, factor)
    flash(notice, "info")
    if must_change_password(user):
        return redirect(url_for("auth.change_password"))
    return redirect(_safe_next(session.pop("login_next", None) or request.args.get("next")))


@bp.route("/login", methods=["GET", "POST"])
def login():
    error, status = None, 200
    if request.method == "POST":
        try:
            user, _attempt = check_password(request.form.get("username", ""), request.form.get("password", ""))
        except LoginRefused as err:
            error, status = err.message, err.status
        else:
            if needs_second_factor(user):
                db.session.commit()
                next_url = request.args.get("next")
                session.clear()
                session.update(pre_uid=user.id, pre_at=time.time(), login_next=next_url)
                return redirect(url_for("auth.otp"))
            return _after_login(user, "口令")
    return render_template("auth/login.html", error=error), status


@bp.route("/login/otp", methods=["GET", "POST"])
def otp():
    """Second step for administrators: enrol an authenticator (first time) or enter its code."""
    user = _pre_auth_user()
    if user is None:
        flash("登录已超时，请重新输入用户名和密码", "error")
        return redirect(url_for("auth.login"))
    enrolling = user.totp_secret_enc is None
    if enrolling and "pending_totp" not in session:
        session["pending_totp"] = new_totp_secret()
    secret = session.get("pending_totp") if enrolling else None
    error = None
    if request.method == "POST":
        code = request.form.get("code", "")
        if enrolling:
            step = totp_verify(secret, code)
            if step is None:
                error = "动态口令不正确，请核对手机时间后重试"
            else:
                import uuid
                user.totp_ref = uuid.uuid4().hex
                user.totp_secret_enc = encrypt(secret, table="user_account", column="totp_secret", ref=user.totp_ref)
                user.totp_last_step = step
                audit("auth.otp_enrol", f"{user.username} 绑定动态口令", object_type="user", object_id=user.id,
                      actor=user)
                session.pop("pending_totp", None)
                return _after_login(user, "口令+动态口令")
        else:
            try:
                _accept_otp(user, code)
            except LoginRefused as err:
                error = err.message
                user = _pre_auth_user()
                if user is None or err.code == "account_locked":
                    session.clear()
                    flash(error, "error")
                    return redirect(url_for("auth.login"))
            else:
                return _after_login(user, "口令+动态口令")
    uri = None
    if enrolling:
        from urllib.parse import quote
        uri = (f"otpauth://totp/{quote('广西特种设备平台')}:{quote(user.username)}?secret={secret}"
               f"&issuer={quote('广西特种设备平台')}&digits=6&period=30")
    return render_template("auth/otp.html", user=user, enrolling=enrolling, secret=secret, otpauth=uri,
                           qr_svg=_qr_svg(uri) if uri else None, error=error), (422 if error else 200)


def _qr_svg(text: str) -> str:
    import segno
    return segno.make(text, error="m").svg_inline(scale=4)


@bp.route("/password", methods=["GET", "POST"])
@login_required
def change_password():
    user = current_user._get_current_object()
    errors: dict[str, str] = {}
    if request.method == "POST":
        old, new, again = (request.form.get(k, "") for k in ("old_password", "new_password", "new_password2"))
        if not verify_password(old, user.password_hash):
            errors["old_password"] = "当前密码不正确"
        problem = check_new_password(user, new)
        if problem:
            errors["new_password"] = problem
        elif new != again:
            errors["new_password2"] = "两次输入的新密码不一致"
        if not errors:
            set_password(user, new)
            current = sessions.current_row()
            sessions.end_all_for(user.id, "password", keep_session_id=current.id if current else None)
            audit("auth.password_change", f"{user.username} 修改密码", object_type="user", object_id=user.id)
            db.session.commit()
            flash("密码已修改；其他设备上的登录与接口令牌已失效", "success")
            return redirect(url_for("cases.home"))
        audit("auth.password_change", f"{user.username} 修改密码失败", outcome="failure", object_type="user",
              object_id=user.id, detail={"fields": sorted(errors)})
        db.session.commit()
    return render_template("auth/password.html", errors=errors, reason=must_change_password(user),
                           rule=password_rule_text(), expires_at=password_expires_at(user)), (422 if errors else 200)


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    # Logging out ends this browser session and every API token of the account (a token is the same
    # person's credential); other browser sessions end with "end sessions" or a password change.
    revoked = sessions.revoke_tokens(current_user.id, "logout")
    audit("auth.logout", f"{current_user.username} 退出登录", object_type="user", object_id=current_user.id,
          detail={"tokens_revoked": revoked} if revoked else None)
    sessions.end("logout")
    db.session.commit()
    flash("已安全退出")
    response = redirect(url_for("auth.login"))
    response.headers["Clear-Site-Data"] = '"cache", "storage"'
    return response
