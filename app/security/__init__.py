"""Security baseline (§5.2, docs/安全设计.md): request hooks that every page and API call passes.

- server-side session check (idle timeout, absolute lifetime, revocation);
- forced password change (first login, admin reset, expiry) before anything else;
- security headers (CSP, HSTS on HTTPS, no-store for signed-in pages …);
- reverse-proxy client address (TRUSTED_PROXIES) so audit and rate limits see the real client.
"""
from __future__ import annotations

from flask import Flask, flash, jsonify, redirect, request, url_for
from flask_login import current_user

from ..extensions import db

# Endpoints a signed-in user may reach while a password change is pending.
_PASSWORD_GATE_OPEN = {"auth.change_password", "auth.logout", "static", "core.healthz", "api.change_password",
                       "api.delete_session"}

SESSION_END_MESSAGES = {
    "idle": "长时间未操作，会话已超时，请重新登录", "absolute": "会话已超过最长时限，请重新登录",
    "terminated": "您的会话已被管理员终止，请重新登录", "disabled": "账号已停用", "password": "密码已在其他设备修改，请重新登录",
    "logout": "已退出登录，请重新登录", "missing": "请重新登录", "ended": "请重新登录",
    "locked": "账号因登录失败次数过多已被锁定，请稍后重新登录或联系安全管理员",
}


def init_app(app: Flask) -> None:
    if app.config.get("TRUSTED_PROXIES"):
        from werkzeug.middleware.proxy_fix import ProxyFix
        n = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)

    @app.before_request
    def _refuse_nul_bytes():
        """A NUL byte has no place in any text we keep, and PostgreSQL refuses it in text columns:
        refuse the request up front with a clear 400 instead of failing deep inside a query."""
        if request.endpoint == "static":
            return None
        def has_nul(pairs) -> bool:
            return any("\x00" in k or "\x00" in v for k, v in pairs)
        bad = has_nul(request.args.items(multi=True)) or "\x00" in request.path
        if not bad and request.method in ("POST", "PUT", "PATCH"):
            if request.is_json:
                bad = b"\\u0000" in request.get_data(cache=True)
            elif request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
                bad = has_nul(request.form.items(multi=True))
        if bad:
            from ..errors import DomainError
            raise DomainError("请求中含有不允许的控制字符（NUL），请检查输入内容", code="bad_request")
        return None

    @app.before_request
    def _enforce_session():
        if request.endpoint == "static" or not current_user.is_authenticated:
            return None
        # A signed-in cookie is checked whatever else the request carries: an "Authorization: Bearer"
        # header must not let a replayed cookie of an ended session past this check. Token-only
        # callers have no cookie user and are checked in api/__init__.py.
        from . import sessions
        from .audit import audit
        from .policy import must_change_password
        user = current_user._get_current_object()
        reason = sessions.check(user)
        if reason:
            audit("auth.session_end", f"{user.username} 会话结束：{sessions.UserSession.END_LABELS.get(reason, reason)}",
                  object_type="user", object_id=user.id, actor=user, detail={"reason": reason})
            sessions.end(reason)
            db.session.commit()
            message = SESSION_END_MESSAGES.get(reason, "请重新登录")
            if request.path.startswith("/api/"):
                return jsonify({"error": {"code": "session_ended", "message": message}}), 401
            flash(message, "error")
            return redirect(url_for("auth.login", next=request.full_path if request.method == "GET" else None))
        if request.endpoint not in _PASSWORD_GATE_OPEN:
            why = must_change_password(user)
            if why:
                if request.path.startswith("/api/"):
                    return jsonify({"error": {"code": "password_change_required", "message": why}}), 403
                flash(why, "error")
                return redirect(url_for("auth.change_password"))
        return None

    csp = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
           "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
           "frame-ancestors 'none'")

    @app.after_request
    def _headers(response):
        h = response.headers
        h.setdefault("Content-Security-Policy", csp)
        h.setdefault("X-Content-Type-Options", "nosniff")
        h.setdefault("X-Frame-Options", "DENY")
        h.setdefault("Referrer-Policy", "same-origin")
        h.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
        h.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        if app.config.get("SESSION_COOKIE_SECURE"):
            h.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        if request.endpoint != "static" and current_user and current_user.is_authenticated:
            # Signed-in pages carry personal data: never kept by the browser or a proxy (ASVS 14.3.2).
            h["Cache-Control"] = "no-store"
        return response
