"""Password and lockout policy (MLPS 8.1.4.1 a/b). Numbers come from configuration."""
from __future__ import annotations

import re
from datetime import timedelta

from flask import current_app
from sqlalchemy import select

from ..core.clock import as_utc, utcnow
from ..core.gm import hash_password, verify_password
from ..extensions import db
from .models import PasswordHistory

# The three administrators of 三权分立: each needs a second factor and sees only its own console.
ADMIN_ROLES = ("sys_admin", "sec_admin", "audit_admin")

_CLASSES = [(re.compile(r"[A-Z]"), "大写字母"), (re.compile(r"[a-z]"), "小写字母"), (re.compile(r"\d"), "数字"),
            (re.compile(r"[^A-Za-z0-9]"), "符号")]
COMMON = {"password", "12345678", "123456789", "qwerty123", "admin123", "p@ssw0rd", "password1", "abc12345",
          "1qaz2wsx", "passw0rd", "admin@123", "root1234", "111111111", "88888888", "iloveyou"}


def needs_second_factor(user) -> bool:
    return user.role in ADMIN_ROLES


def password_rule_text() -> str:
    cfg = current_app.config
    return (f"至少 {cfg['PASSWORD_MIN_LENGTH']} 位，包含大写字母、小写字母、数字、符号中的至少 "
            f"{cfg['PASSWORD_MIN_CLASSES']} 类，不含用户名，不能与最近 {cfg['PASSWORD_HISTORY']} 次使用过的密码相同")


def check_new_password(user, password: str) -> str | None:
    """A Chinese message when the password breaks the policy, else None."""
    cfg = current_app.config
    if len(password) < cfg["PASSWORD_MIN_LENGTH"]:
        return f"密码至少 {cfg['PASSWORD_MIN_LENGTH']} 位"
    if len(password) > 128:
        return "密码不能超过 128 位"
    classes = sum(1 for pattern, _ in _CLASSES if pattern.search(password))
    if classes < cfg["PASSWORD_MIN_CLASSES"]:
        return f"密码须包含大写字母、小写字母、数字、符号中的至少 {cfg['PASSWORD_MIN_CLASSES']} 类"
    if user is not None and user.username and user.username.lower() in password.lower():
        return "密码不能包含用户名"
    if password.lower() in COMMON:
        return "密码过于常见，请换一个"
    if user is not None and user.id is not None:
        recent = db.session.scalars(select(PasswordHistory.password_hash).where(PasswordHistory.user_id == user.id)
                                    .order_by(PasswordHistory.id.desc()).limit(cfg["PASSWORD_HISTORY"])).all()
        if any(verify_password(password, old) for old in [user.password_hash, *recent]):
            return f"不能使用最近 {cfg['PASSWORD_HISTORY']} 次用过的密码"
    return None


def set_password(user, password: str, *, must_change: bool = False) -> None:
    if user.id is not None and user.password_hash:
        db.session.add(PasswordHistory(user_id=user.id, password_hash=user.password_hash))
    user.password_hash = hash_password(password, current_app.config.get("PASSWORD_ITERATIONS", 600_000))
    user.password_changed_at = utcnow()
    user.must_change_password = must_change


def password_expires_at(user):
    days = current_app.config["PASSWORD_MAX_AGE_DAYS"]
    if not days or user.password_changed_at is None:
        return None
    return as_utc(user.password_changed_at) + timedelta(days=days)


def must_change_password(user) -> str | None:
    """Why the user has to change the password before doing anything else, or None."""
    if user.must_change_password:
        return "首次登录或密码被重置，请先修改密码"
    expires = password_expires_at(user)
    if expires is not None and expires <= utcnow():
        return f"密码已超过 {current_app.config['PASSWORD_MAX_AGE_DAYS']} 天未修改，请先修改密码"
    return None
