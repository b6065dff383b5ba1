"""Security audit log (HMAC-SM3 chain + SM2 checkpoints), server-side sessions, password history."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..core.clock import utcnow
from ..extensions import db

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets a bigint.
BigId = BigInteger().with_variant(Integer, "sqlite")


class AuditLog(db.Model):
    """Append-only: the database refuses UPDATE and DELETE (triggers, migration 0006).

    entry_hash = HMAC-SM3(K_audit, prev_hash || canonical(entry)); see security/audit.py."""
    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(Integer, index=True)     # no FK: entries outlive accounts
    actor_name: Mapped[str | None] = mapped_column(String(64))
    actor_role: Mapped[str | None] = mapped_column(String(32), index=True)
    src_ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(200))
    session_hash: Mapped[str | None] = mapped_column(String(16))
    event_type: Mapped[str] = mapped_column(String(40), index=True)
    object_type: Mapped[str | None] = mapped_column(String(40))
    object_id: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(10))                      # success | failure | denied | error
    summary: Mapped[str] = mapped_column(String(300))
    detail: Mapped[str | None] = mapped_column(Text)                      # JSON; never plaintext PII or secrets
    key_id: Mapped[int] = mapped_column(Integer)
    prev_hash: Mapped[str] = mapped_column(String(64))
    entry_hash: Mapped[str] = mapped_column(String(64))

    OUTCOME_LABELS = {"success": "成功", "failure": "失败", "denied": "拒绝", "error": "错误"}

    @property
    def outcome_label(self) -> str:
        return self.OUTCOME_LABELS.get(self.outcome, self.outcome)


class AuditChainHead(db.Model):
    """One row (id=1): the newest entry of the chain. Locked FOR UPDATE by every writer, so
    concurrent writers append one after another."""
    __tablename__ = "audit_chain_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_id: Mapped[int] = mapped_column(BigId, default=0)
    last_hash: Mapped[str] = mapped_column(String(64))
    count: Mapped[int] = mapped_column(BigId, default=0)


class AuditCheckpoint(db.Model):
    """An SM2 signature over "upto_id|upto_hash|count|at": makes truncation of the tail detectable."""
    __tablename__ = "audit_checkpoint"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    upto_id: Mapped[int] = mapped_column(BigId)
    upto_hash: Mapped[str] = mapped_column(String(64))
    count: Mapped[int] = mapped_column(BigId)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    signature: Mapped[str] = mapped_column(String(160))                   # DER, hex
    signer_public_key: Mapped[str] = mapped_column(String(130))           # 04||x||y, hex

    def signed_text(self) -> str:
        from ..core.clock import as_utc
        return f"{self.upto_id}|{self.upto_hash}|{self.count}|{as_utc(self.at).isoformat()}"


class UserSession(db.Model):
    """A server-side login session: the cookie carries a random id, the row carries its SM3 digest.
    Logout, idle timeout, absolute lifetime, account disable and admin termination end the row."""
    __tablename__ = "user_session"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sid_sm3: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    end_reason: Mapped[str | None] = mapped_column(String(20))   # logout | idle | absolute | terminated | disabled
    src_ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(200))

    END_LABELS = {"logout": "退出登录", "idle": "空闲超时", "absolute": "超过最长会话时间", "terminated": "被管理员终止",
                  "disabled": "账号停用", "password": "修改密码", "locked": "账号锁定"}


class PasswordHistory(db.Model):
    """The last N password hashes of each account, so a change cannot reuse them."""
    __tablename__ = "password_history"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class RateLimitHit(db.Model):
    """Fixed-window request counters shared by every worker process (login and public pages)."""
    __tablename__ = "rate_limit_hit"
    key: Mapped[str] = mapped_column(String(120), primary_key=True)
    window_start: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)


class LoginThrottle(db.Model):
    """Failed-login counters (security/throttle.py): one row per (account name, client address) and one
    per account name with source "*". Keyed by the SM3 of the normalised user name, so an unknown name
    is counted exactly like a real one. `version` makes each update a compare-and-swap."""
    __tablename__ = "login_throttle"
    __table_args__ = (UniqueConstraint("account_key", "source"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_key: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(45))
    user_id: Mapped[int | None] = mapped_column(Integer, index=True)   # for the administrators' lists only
    failures: Mapped[int] = mapped_column(Integer, default=0)
    blocked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    version: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
