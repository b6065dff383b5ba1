"""Login and logout for pages; bearer tokens for the API."""
from __future__ import annotations

import secrets
from datetime import timedelta

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import login_required, login_user, logout_user
from sqlalchemy import select

from ..errors import Unauthorized
from ..extensions import db, login_manager
from .clock import as_utc, utcnow
from .gm import hash_password, password_iterations, sm3_hex, verify_password
from .models import ApiToken, User

bp = Blueprint("auth", __name__)


@login_manager.user_loader
def load_user(user_id: str):
    return db.session.get(User, int(user_id))


def authenticate(username: str, password: str) -> User | None:
    user = db.session.scalar(select(User).where(User.username == (username or "").strip()))
    if user is None or not user.is_active or not verify_password(password or "", user.password_hash):
        return None
    wanted = current_app.config.get("PASSWORD_ITERATIONS", 600_000)
    if password_iterations(user.password_hash) != wanted:
        user.password_hash = hash_password(password, wanted)   # rehash when parameters change
    user.last_login_at = utcnow()
    return user


def issue_token(user: User) -> str:
    token = secrets.token_urlsafe(32)
    ttl = current_app.config["API_TOKEN_TTL_SECONDS"]
    db.session.add(ApiToken(token_sm3=sm3_hex(token.encode()), user_id=user.id,
                            expires_at=utcnow() + timedelta(seconds=ttl)))
    return token


def user_from_token(token: str) -> User:
    row = db.session.scalar(select(ApiToken).where(ApiToken.token_sm3 == sm3_hex(token.encode())))
    if row is None:
        raise Unauthorized("令牌无效，请重新登录")
    expires = as_utc(row.expires_at)
    if expires < utcnow() or not row.user.is_active:
        raise Unauthorized("令牌已过期，请重新登录")
    return row.user


@bp.route("/login", methods=["GET", "POST"])
def login():
    error = None
    if request.method == "POST":
        user = authenticate(request.form.get("username", ""), request.form.get("password", ""))
        if user is None:
            error = "用户名或密码错误"
        else:
            login_user(user)
            db.session.commit()
            target = request.args.get("next") or ""
            if not target.startswith("/") or target.startswith("//"):
                target = url_for("cases.home")
            return redirect(target)
    return render_template("auth/login.html", error=error), (401 if error else 200)


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    logout_user()
    flash("已安全退出")
    return redirect(url_for("auth.login"))
