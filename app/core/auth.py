"""Login and logout for pages; bearer tokens for the API. Policy: security/policy.py; sessions:
security/sessions.py; second factor (TOTP) for the three administrators; every attempt audited."""
from __future__ import annotations

import secrets
import time
from datetime import timedelta

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from ..errors import DomainError, Unauthorized
from ..extensions import db, login_manager
from ..security import sessions
from ..security.audit import audit, audit_now
from ..security.models import AuditLog
from ..security.policy import (check_new_password, locked_minutes_left, must_change_password, needs_second_factor,
                               password_expires_at, password_rule_text, record_failure, set_password)
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
    def __init__(self, message: str, code: str = "bad_credentials"):
        super().__init__(message)
        self.message, self.code = message, code


def _dummy_hash() -> str:
    iterations = current_app.config.get("PASSWORD_ITERATIONS", 600_000)
    if iterations not in _DUMMY_HASH:
        _DUMMY_HASH[iterations] = hash_password(secrets.token_hex(8), iterations)
    return _DUMMY_HASH[iterations]


def check_password(username: str, password: str) -> User:
    """The first factor with lockout. Raises LoginRefused with one generic message for an unknown
    user or a wrong password (and spends the same time on both)."""
    limit("login", current_app.config["RATELIMIT_LOGIN_PER_MINUTE"])
    name = (username or "").strip()[:64]
    user = db.session.scalar(select(User).where(User.username == name)) if name else None
    if user is None:
        verify_password(password or "", _dummy_hash())
        audit_now("auth.login_failed", f"登录失败：用户名 {name or '（空）'} 不存在", outcome="failure",
                  object_type="user", object_id=name)
        raise LoginRefused("用户名或密码错误")
    left = locked_minutes_left(user)
    if left:
        audit_now("auth.login_failed", f"账号 {user.username} 处于锁定期，拒绝登录", outcome="denied",
                  object_type="user", object_id=user.id, actor=user)
        raise LoginRefused(f"账号已锁定，请 {left} 分钟后再试，或联系安全管理员解锁", code="account_locked")
    if not verify_password(password or "", user.password_hash):
        db.session.rollback()
        locked = record_failure(user)
        audit("auth.login_failed", f"账号 {user.username} 密码错误", outcome="failure", object_type="user",
              object_id=user.id, actor=user)
        if locked:
            audit("auth.locked", f"账号 {user.username} 连续 {current_app.config['LOGIN_MAX_FAILURES']} 次登录失败，"
                  f"锁定 {current_app.config['LOCKOUT_MINUTES']} 分钟", outcome="success", object_type="user",
                  object_id=user.id, actor=user)
        db.session.commit()
        if locked:
            raise LoginRefused(f"连续 {current_app.config['LOGIN_MAX_FAILURES']} 次密码错误，账号已锁定 "
                               f"{current_app.config['LOCKOUT_MINUTES']} 分钟", code="account_locked")
        raise LoginRefused("用户名或密码错误")
    if not user.is_active:
        audit_now("auth.login_failed", f"账号 {user.username} 已停用", outcome="denied", object_type="user",
                  object_id=user.id, actor=user)
        raise LoginRefused("账号已停用，请联系系统管理员", code="account_disabled")
    wanted = current_app.config.get("PASSWORD_ITERATIONS", 600_000)
    if password_iterations(user.password_hash) != wanted:
        user.password_hash = hash_password(password, wanted)   # rehash when parameters change
    return user


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
    user.failed_logins, user.locked_until = 0, None
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


def user_from_token(token: str) -> User:
    row = db.session.scalar(select(ApiToken).where(ApiToken.token_sm3 == sm3_hex(token.encode()))
                            .options(joinedload(ApiToken.user)))     # one statement on every API call
    if row is None:
        raise Unauthorized("令牌无效，请重新登录")
    expires = as_utc(row.expires_at)
    if expires < utcnow() or not row.user.is_active:
        raise Unauthorized("令牌已过期，请重新登录")
    return row.user


def api_login(username: str, password: str, otp: str | None) -> User:
    """POST /api/v1/session: the same controls as the login page."""
    try:
        user = check_password(username, password)
    except LoginRefused as err:
        raise DomainError(err.message, code=err.code, status=401) from None
    if needs_second_factor(user):
        if user.totp_secret_enc is None:
            db.session.commit()
            raise DomainError("管理员账号须先在网页登录并绑定动态口令", code="otp_enrolment_required", status=401)
        if not _accept_otp(user, otp or ""):
            raise DomainError("动态口令错误或已使用", code="otp_invalid", status=401)
    reason = must_change_password(user)
    if reason:
        db.session.commit()
        raise DomainError(reason + "（请在网页修改）", code="password_change_required", status=403)
    user.failed_logins, user.locked_until = 0, None
    user.last_login_at, user.last_login_ip = utcnow(), request.remote_addr
    audit("auth.api_token", f"{user.username} 通过接口登录", object_type="user", object_id=user.id, actor=user)
    return user


# ---------------------------------------------------------------- second factor

def totp_secret(user: User) -> str | None:
    if user.totp_secret_enc is None:
        return None
    return decrypt(user.totp_secret_enc, table="user_account", column="totp_secret", ref=user.totp_ref)


def _accept_otp(user: User, code: str) -> bool:
    step = totp_verify(totp_secret(user), code)
    if step is None or (user.totp_last_step is not None and step <= user.totp_last_step):
        db.session.rollback()
        locked = record_failure(user)
        audit("auth.otp", f"{user.username} 动态口令错误", outcome="failure", object_type="user", object_id=user.id,
              actor=user)
        if locked:
            audit("auth.locked", f"账号 {user.username} 连续多次认证失败，已锁定", object_type="user",
                  object_id=user.id, actor=user)
        db.session.commit()
        return False
    user.totp_last_step = step
    return True


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
    error = None
    if request.method == "POST":
        try:
            user = check_password(request.form.get("username", ""), request.form.get("password", ""))
        except LoginRefused as err:
            error = err.message
        else:
            if needs_second_factor(user):
                db.session.commit()
                next_url = request.args.get("next")
                session.clear()
                session.update(pre_uid=user.id, pre_at=time.time(), login_next=next_url)
                return redirect(url_for("auth.otp"))
            return _after_login(user, "口令")
    return render_template("auth/login.html", error=error), (401 if error else 200)


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
        elif _accept_otp(user, code):
            return _after_login(user, "口令+动态口令")
        else:
            user = _pre_auth_user()
            error = "动态口令错误或已使用" if user and not locked_minutes_left(user) else "认证失败次数过多，账号已锁定"
            if user is None or locked_minutes_left(user):
                session.clear()
                flash(error, "error")
                return redirect(url_for("auth.login"))
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
            current_id = sessions.current_row().id if sessions.current_row() else None
            from sqlalchemy import update

            from ..security.models import UserSession
            db.session.execute(update(UserSession).where(UserSession.user_id == user.id,
                                                         UserSession.ended_at.is_(None),
                                                         UserSession.id != current_id)
                               .values(ended_at=utcnow(), end_reason="password"))
            audit("auth.password_change", f"{user.username} 修改密码", object_type="user", object_id=user.id)
            db.session.commit()
            flash("密码已修改；其他设备上的登录已失效", "success")
            return redirect(url_for("cases.home"))
        audit("auth.password_change", f"{user.username} 修改密码失败", outcome="failure", object_type="user",
              object_id=user.id, detail={"fields": sorted(errors)})
        db.session.commit()
    return render_template("auth/password.html", errors=errors, reason=must_change_password(user),
                           rule=password_rule_text(), expires_at=password_expires_at(user)), (422 if errors else 200)


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    audit("auth.logout", f"{current_user.username} 退出登录", object_type="user", object_id=current_user.id)
    sessions.end("logout")
    db.session.commit()
    flash("已安全退出")
    response = redirect(url_for("auth.login"))
    response.headers["Clear-Site-Data"] = '"cache", "storage"'
    return response
