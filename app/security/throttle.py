"""Failed-login throttling per account *and* client address (MLPS 8.1.4.1 b, OWASP ASVS 6.3).

Every password or second-factor check first *takes an attempt* here, before the costly PBKDF2 work:
the attempt counts as a failure until a successful login clears the counters. Taking an attempt is
a compare-and-swap on the counter row, committed at once (whatever the request does later), so
parallel guesses cannot pass more checks than the policy allows.

- (account, address): from the LOGIN_DELAY_AFTER-th failure the next attempt waits LOGIN_DELAY_SECONDS,
  doubling with every further failure; at LOGIN_MAX_FAILURES the address is locked out of the account
  for LOCKOUT_MINUTES. A stranger cannot lock the owner out from another address.
- (account, all addresses): at LOGIN_ACCOUNT_MAX_FAILURES failures the account itself is locked for
  LOCKOUT_MINUTES — a guess spread over many addresses — and its sessions and API tokens end.

Unknown user names are counted exactly like real ones (the key is the SM3 of the normalised name),
so the answers never tell whether an account exists. The security administrator's unlock clears
every counter of the account.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import delete, select, update

from ..core.clock import as_utc, utcnow
from ..core.gm import sm3_hex
from ..extensions import db
from .models import LoginThrottle

ALL_SOURCES = "*"


@dataclass
class Refusal:
    """Why an attempt is not taken: `locked` (the lockout) or a progressive delay; wait `seconds`."""
    locked: bool
    seconds: int

    @property
    def message(self) -> str:
        if self.locked:
            minutes = max(1, -(-self.seconds // 60))
            return f"登录失败次数过多，已暂停登录，请 {minutes} 分钟后再试，或联系安全管理员解锁"
        return f"登录失败次数较多，请 {self.seconds} 秒后再试"

    @property
    def code(self) -> str:
        return "account_locked" if self.locked else "login_delayed"


@dataclass
class Attempt:
    """A taken attempt; the counters say what its failure would lock."""
    key: str
    source: str
    pair_failures: int = 0
    account_locks_on_failure: bool = False

    @property
    def pair_locks_on_failure(self) -> bool:
        """This attempt, if it fails, locks the address out of the account."""
        return self.pair_failures >= current_app.config["LOGIN_MAX_FAILURES"]


def account_key(username: str) -> str:
    return sm3_hex(("login:" + (username or "").strip().lower()[:64]).encode())


def _pair_wait(failures: int) -> timedelta:
    cfg = current_app.config
    if failures >= cfg["LOGIN_MAX_FAILURES"]:
        return timedelta(minutes=cfg["LOCKOUT_MINUTES"])
    if failures < cfg["LOGIN_DELAY_AFTER"]:
        return timedelta(0)
    return timedelta(seconds=cfg["LOGIN_DELAY_SECONDS"] * 2 ** (failures - cfg["LOGIN_DELAY_AFTER"]))


def _account_wait(failures: int) -> timedelta:
    cfg = current_app.config
    if failures >= cfg["LOGIN_ACCOUNT_MAX_FAILURES"]:
        return timedelta(minutes=cfg["LOCKOUT_MINUTES"])
    return timedelta(0)


def _insert_new(conn, values: dict) -> bool:
    table = LoginThrottle.__table__
    if db.engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    stmt = dialect_insert(table).values(**values).on_conflict_do_nothing(
        index_elements=[table.c.account_key, table.c.source]).returning(table.c.id)
    done = conn.execute(stmt).first() is not None
    conn.commit()
    return done


def _take(conn, key: str, source: str, limit: int, wait, now: datetime, user_id: int | None) -> Refusal | int:
    """Count one attempt on a counter row by compare-and-swap, or say why it may not be made."""
    table = LoginThrottle.__table__
    where = (table.c.account_key == key, table.c.source == source)
    for _ in range(50):
        row = conn.execute(select(table.c.failures, table.c.blocked_until, table.c.version).where(*where)).first()
        if row is None:
            if _insert_new(conn, {"account_key": key, "source": source, "user_id": user_id, "failures": 1,
                                  "version": 1, "blocked_until": _until(now, wait(1)), "updated_at": now}):
                return 1
            continue                                      # another attempt created it: read again
        failures, blocked, version = row
        blocked = as_utc(blocked) if blocked is not None else None
        if blocked is not None and blocked > now:
            conn.rollback()
            return Refusal(locked=failures >= limit, seconds=max(1, int((blocked - now).total_seconds() + 0.999)))
        failures = 1 if failures >= limit else failures + 1   # an expired lockout starts counting afresh
        done = conn.execute(update(table).where(*where, table.c.version == version).values(
            failures=failures, blocked_until=_until(now, wait(failures)), version=version + 1,
            updated_at=now)).rowcount
        conn.commit()
        if done == 1:
            return failures
    return Refusal(locked=False, seconds=1)               # extreme contention: refuse, never let it through


def _until(now: datetime, wait: timedelta) -> datetime | None:
    return now + wait if wait else None


def take_attempt(username: str, source: str | None, user_id: int | None = None) -> Attempt | Refusal:
    """Take one login attempt for `username` from `source`, or say why not (nothing is checked then)."""
    cfg = current_app.config
    key, source = account_key(username), (source or "-")[:45]
    now = utcnow()
    conn = db.session          # each step commits at once: the request has written nothing yet
    # The address first: attempts refused there must not count against the account as a whole.
    taken = _take(conn, key, source, cfg["LOGIN_MAX_FAILURES"], _pair_wait, now, user_id)
    if isinstance(taken, Refusal):
        return taken
    pair_failures = taken
    taken = _take(conn, key, ALL_SOURCES, cfg["LOGIN_ACCOUNT_MAX_FAILURES"], _account_wait, now, user_id)
    if isinstance(taken, Refusal):
        return taken
    return Attempt(key, source, pair_failures=pair_failures,
                   account_locks_on_failure=taken == cfg["LOGIN_ACCOUNT_MAX_FAILURES"])


def succeeded(username: str, source: str | None) -> None:
    """A full login: forget the failures of this address and of the account (in the request's transaction)."""
    db.session.execute(delete(LoginThrottle).where(LoginThrottle.account_key == account_key(username),
                                                   LoginThrottle.source.in_([ALL_SOURCES, (source or "-")[:45]])))


def clear_account(username: str) -> int:
    """The security administrator's unlock: every counter of the account, from every address."""
    result = db.session.execute(delete(LoginThrottle).where(LoginThrottle.account_key == account_key(username)))
    return result.rowcount or 0


def blocked_user_ids(user_ids) -> set[int]:
    """Which of these accounts some address (or every address) may not log in to right now."""
    ids = [i for i in user_ids if i is not None]
    if not ids:
        return set()
    return set(db.session.scalars(select(LoginThrottle.user_id).where(LoginThrottle.user_id.in_(ids),
                                                                      LoginThrottle.blocked_until > utcnow())))


def blocked_condition():
    """SQL: the account is blocked for some address (the administrators' "locked" filter)."""
    from ..core.models import User
    return User.id.in_(select(LoginThrottle.user_id).where(LoginThrottle.blocked_until > utcnow(),
                                                           LoginThrottle.user_id.isnot(None)))


def blocked_sources(username: str) -> list[LoginThrottle]:
    """Counters of an account that currently block an address (or all of them: source "*")."""
    return db.session.scalars(select(LoginThrottle).where(LoginThrottle.account_key == account_key(username),
                                                          LoginThrottle.blocked_until > utcnow())
                              .order_by(LoginThrottle.source)).all()


def purge_stale(now: datetime | None = None) -> int:
    """Housekeeping: counters untouched for a day and blocking nobody (the audit log keeps every failure)."""
    now = now or utcnow()
    result = db.session.execute(delete(LoginThrottle).where(
        LoginThrottle.updated_at < now - timedelta(days=1),
        (LoginThrottle.blocked_until.is_(None)) | (LoginThrottle.blocked_until < now)))
    return result.rowcount or 0
