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


def end_all_for(user_id: int, reason: str) -> int:
    """Terminate every open session of an account (disable, role change, password reset, admin)."""
    result = db.session.execute(update(UserSession).where(UserSession.user_id == user_id,
                                                          UserSession.ended_at.is_(None))
                                .values(ended_at=utcnow(), end_reason=reason))
    return result.rowcount or 0
