"""Third-party maintenance platforms (第三方无纸化维保平台): the API credentials a regulator issues to a
maintenance unit, the nonces of signed requests (replay protection), and the records each platform
uploaded (idempotency key → work order).

The secret of a credential is stored SM4-GCM encrypted (core/pii, key ring PII_KEYS, AAD bound to this
table, column and row), not as a one-way digest: verifying an HMAC needs the secret itself — the server
recomputes HMAC-SM3(secret, canonical string) — whereas a bearer token only has to be compared. The
plaintext is shown once when issued; afterwards only its SM3 fingerprint prefix."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..core.clock import utcnow
from ..core.models import Organization, User
from ..core.pii import decrypt, encrypt, register_encrypted
from ..extensions import db


class PlatformCredential(db.Model):
    """One API credential of a maintenance unit's platform: key id (X-App-Key) and secret."""
    __tablename__ = "platform_credential"
    id: Mapped[int] = mapped_column(primary_key=True)
    key_id: Mapped[str] = mapped_column(String(40), unique=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), index=True)
    region_code: Mapped[str] = mapped_column(String(6), index=True)    # the unit's region: who may manage it
    platform_name: Mapped[str] = mapped_column(String(80))
    secret_ref: Mapped[str] = mapped_column(String(32))
    secret_enc: Mapped[bytes] = mapped_column(LargeBinary)
    secret_fingerprint: Mapped[str] = mapped_column(String(16))         # SM3 prefix, to compare copies
    issued_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    revoke_reason: Mapped[str | None] = mapped_column(String(200))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    record_count: Mapped[int] = mapped_column(Integer, default=0)

    org: Mapped[Organization] = relationship()
    issued_by: Mapped[User] = relationship(foreign_keys=[issued_by_id])
    revoked_by: Mapped[User | None] = relationship(foreign_keys=[revoked_by_id])

    def set_secret(self, secret: str, ref: str) -> None:
        self.secret_ref = ref
        self.secret_enc = encrypt(secret, table=self.__tablename__, column="secret", ref=ref)

    @property
    def secret(self) -> str:
        return decrypt(self.secret_enc, table=self.__tablename__, column="secret", ref=self.secret_ref)

    @property
    def active(self) -> bool:
        return self.revoked_at is None


register_encrypted(PlatformCredential, "secret_enc", "secret_ref", "secret")


class PlatformNonce(db.Model):
    """A nonce seen on a verified request, kept until its timestamp leaves the accepted window."""
    __tablename__ = "platform_nonce"
    __table_args__ = (UniqueConstraint("credential_id", "nonce"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    credential_id: Mapped[int] = mapped_column(ForeignKey("platform_credential.id", ondelete="CASCADE"))
    nonce: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class PlatformRecord(db.Model):
    """A record a platform uploaded: its idempotency key, once, and the work order it became."""
    __tablename__ = "platform_record"
    __table_args__ = (UniqueConstraint("org_id", "idempotency_key"),
                      Index("ix_platform_record_order", "work_order_id"))
    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organization.id"))
    credential_id: Mapped[int] = mapped_column(ForeignKey("platform_credential.id"))
    idempotency_key: Mapped[str] = mapped_column(String(64))
    work_order_id: Mapped[int] = mapped_column(ForeignKey("elevator_work_order.id", ondelete="CASCADE"))
    batch_no: Mapped[str] = mapped_column(String(32))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
