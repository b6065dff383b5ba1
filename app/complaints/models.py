"""Public complaints (投诉举报): the complaint sheet of each public_complaint case, the SMS codes that
verify a complainant's phone, image captchas, and the attempts the per-phone / per-address limits count."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, DateTime, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..cases.models import Case
from ..core.clock import utcnow
from ..core.models import Equipment, Region, User
from ..core.pii import EncryptedPhone
from ..extensions import db


class Complaint(EncryptedPhone, db.Model):
    """One complaint; its number is its case number. The complainant's phone is stored encrypted
    (core/pii.py) and never enters the workflow data or the timeline."""
    __tablename__ = "complaint"
    __table_args__ = (
        Index("ix_complaint_region_created", "region_code", "created_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_record.id"), unique=True)
    complaint_no: Mapped[str] = mapped_column(String(32), unique=True)
    channel: Mapped[str] = mapped_column(String(10))                 # web | staff
    equipment_id: Mapped[int | None] = mapped_column(ForeignKey("equipment.id"), index=True)
    device_code: Mapped[str | None] = mapped_column(String(32))
    address: Mapped[str | None] = mapped_column(String(200))
    region_code: Mapped[str] = mapped_column(String(6), ForeignKey("region.code"), index=True)
    description: Mapped[str] = mapped_column(Text)
    complainant_name: Mapped[str | None] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(12), default="pending", index=True)
    reject_reason: Mapped[str | None] = mapped_column(String(300))
    accepted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    checked_on: Mapped[date | None] = mapped_column(Date)
    check_conclusion: Mapped[str | None] = mapped_column(String(16))
    finding: Mapped[str | None] = mapped_column(Text)
    reply: Mapped[str | None] = mapped_column(String(300))
    hazard_case_id: Mapped[int | None] = mapped_column(ForeignKey("case_record.id"), index=True)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    case: Mapped[Case] = relationship(foreign_keys=[case_id], viewonly=True)
    hazard_case: Mapped[Case | None] = relationship(foreign_keys=[hazard_case_id], viewonly=True)
    equipment: Mapped[Equipment | None] = relationship()
    region: Mapped[Region] = relationship()
    created_by: Mapped[User] = relationship()

    STATUS_LABELS = {"pending": "待受理", "checking": "现场核查中", "rejected": "不予受理", "closed": "已办结"}
    CHANNEL_LABELS = {"web": "网上投诉（手机已验证）", "staff": "工作人员登记"}
    CONCLUSION_LABELS = {"unfounded": "经核查情况不属实", "general": "存在一般问题，已责令整改",
                         "major_hazard": "存在重大事故隐患，转入隐患闭环管理"}

    @property
    def status_label(self) -> str:
        return self.STATUS_LABELS.get(self.status, self.status)

    @property
    def channel_label(self) -> str:
        return self.CHANNEL_LABELS.get(self.channel, self.channel)

    @property
    def conclusion_label(self) -> str:
        return self.CONCLUSION_LABELS.get(self.check_conclusion or "", "")


class ComplaintCode(db.Model):
    """An SMS verification code sent to a phone (stored as an HMAC, never in clear)."""
    __tablename__ = "complaint_code"
    __table_args__ = (Index("ix_complaint_code_phone", "phone_bidx", "created_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    phone_bidx: Mapped[str] = mapped_column(String(32))
    code_mac: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    tries: Mapped[int] = mapped_column(Integer, default=0)
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ComplaintCaptcha(db.Model):
    """An image captcha: the token the client holds and an HMAC of the answer; good for one try."""
    __tablename__ = "complaint_captcha"
    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(32), unique=True)
    answer_mac: Mapped[str] = mapped_column(String(64))
    image: Mapped[bytes] = mapped_column(LargeBinary)      # the PNG, drawn once (every worker serves the same)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ComplaintAttempt(db.Model):
    """What the limits count, kept in the database so they hold across worker processes:
    code_sent, code_failed, captcha_failed, lookup_failed — by phone (blind index) and by client
    address (blind index of the IP, never the address itself)."""
    __tablename__ = "complaint_attempt"
    __table_args__ = (Index("ix_complaint_attempt_phone", "kind", "phone_bidx", "at"),
                      Index("ix_complaint_attempt_ip", "kind", "ip_key", "at"))
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    phone_bidx: Mapped[str | None] = mapped_column(String(32))
    ip_key: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
