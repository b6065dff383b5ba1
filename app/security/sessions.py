"""Server-side login sessions: idle timeout, absolute lifetime, revocation (MLPS 8.1.4.1 b, ASVS 7.x).

The signed Flask cookie carries only a random session id; the `user_session` row decides whether
it is still valid. Ending the row ends the session everywhere, whatever the cookie says."""
from __future__ import annotations

import secrets
from datetime import timedelta

from flask import current_app, request, session
from flask_login import login_user, logout_user
from sqlalchemy import select, update

from ..core.clock import as_utc, utcnow
from ..core.gm import sm3_hex
from ..extensions import db
from .models import UserSession
from .policy import ADMIN_ROLES

TOUCH_EVERY = timedelta(seconds=60)   # last_seen is written at most once a minute per session


def start(user) -> UserSession:
    """A fresh session id at every login (no fixation), then Flask-Login's user."""
    session.clear()
    sid = secrets.token_urlsafe(32)
    row = UserSession(sid_sm3=sm3_hex(sid.encode()), user_id=user.id, src_ip=request.remote_addr,
                      user_agent=(request.user_agent.string or "")[:200])
    db.session.add(row)
    session["sid"] = sid
    session.permanent = False
    login_user(user)
    return row


def current_row() -> UserSession | None:
    sid = session.get("sid")
    if not sid:
        return None
    return db.session.scalar(select(UserSession).where(UserSession.sid_sm3 == sm3_hex(sid.encode())))


def idle_limit(user) -> timedelta:
    cfg = current_app.config
    minutes = cfg["ADMIN_SESSION_IDLE_MINUTES"] if user.role in ADMIN_ROLES else cfg["SESSION_IDLE_MINUTES"]
    return timedelta(minutes=minutes)


def check(user) -> str | None:
    """None when the session may go on; else why it ended (and it is ended)."""
    row = current_row()
    if row is None or row.user_id != user.id:
        return "missing"
    if row.ended_at is not None:
        return row.end_reason or "ended"
    now = utcnow()
    if not user.is_active:
        reason = "disabled"
    elif now - as_utc(row.last_seen_at) > idle_limit(user):
        reason = "idle"
    elif now - as_utc(row.created_at) > timedelta(hours=current_app.config["SESSION_ABSOLUTE_HOURS"]):
        reason = "absolute"
    else:
        if now - as_utc(row.last_seen_at) > TOUCH_EVERY:
            db.session.execute(update(UserSession).where(UserSession.id == row.id).values(last_seen_at=now))
            db.session.commit()
        return None
    row.ended_at, row.end_reason = now, reason
    return reason


def end(reason: str) -> None:
    row = current_row()
    if row is not None and row.ended_at is None:
        row.ended_at, row.end_reason = utcnow(), reason
    logout_user()
    session.clear()


def end_all_for(user_id: int, reason: str, *, keep_session_id: int | None = None,
                keep_token_id: int | None = None) -> int:
    """End every open session and revoke every live API token of an account (disable, role change,
    password change or reset, lockout, the security administrator) — but the caller's own, when kept.
    Returns how many sessions and tokens ended."""
    now = utcnow()
    query = update(UserSession).where(UserSession.user_id == user_id, UserSession.ended_at.is_(None))
    if keep_session_id is not None:
        query = query.where(UserSession.id != keep_session_id)
    ended = db.session.execute(query.values(ended_at=now, end_reason=reason)).rowcount or 0
    return ended + revoke_tokens(user_id, reason, keep_id=keep_token_id)


def revoke_tokens(user_id: int, reason: str, *, keep_id: int | None = None) -> int:
    """Revoke the account's live API tokens for good: a revoked token stays dead even if the account is
    enabled again. One UPDATE on the indexed user_id; the per-request check reads the same row it
    already reads for the token (core/auth.token_row)."""
    from ..core.models import ApiToken
    now = utcnow()
    query = update(ApiToken).where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None),
                                   ApiToken.expires_at > now)
    if keep_id is not None:
        query = query.where(ApiToken.id != keep_id)
    result = db.session.execute(query.values(revoked_at=now, revoke_reason=reason[:20])
                                .execution_options(synchronize_session=False))
    return result.rowcount or 0


def revoke_token(token_id: int, reason: str) -> int:
    """Revoke one API token (API logout)."""
    from ..core.models import ApiToken
    result = db.session.execute(update(ApiToken).where(ApiToken.id == token_id, ApiToken.revoked_at.is_(None))
                                .values(revoked_at=utcnow(), revoke_reason=reason[:20])
                                .execution_options(synchronize_session=False))
    return result.rowcount or 0
