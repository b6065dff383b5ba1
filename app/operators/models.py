"""Special-equipment operators (作业人员): the operator database, certificates, employment (§4.5.7).

Personal data at rest: the resident ID number is SM4-GCM encrypted (bound to table, column and a
per-row reference), with an HMAC-SM3 blind index for exact lookup and a masked copy for lists;
the mobile number uses the shared EncryptedPhone mixin. Public pages read only masked copies.
"""
from __future__ import annotations

import secrets
import uuid
from datetime import date, datetime

from sqlalchemy import (Date, DateTime, ForeignKey, Index, LargeBinary, String, Text, text)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..cases.models import Case
from ..core.clock import today_local, utcnow
from ..core.models import Attachment, Organization, User
from ..core.pii import EncryptedPhone, blind_index, decrypt, encrypt, register_encrypted
from ..core.validators import is_valid_resident_id
from ..extensions import db
from .masking import mask_id_number

# A certificate is "expiring" this many days before its expiry date (§4.5.4 reminders use the same span).
EXPIRING_DAYS = 90
CERT_VALID_YEARS = 4          # TSG Z6001-2019: 特种设备安全管理和作业人员证 is valid for 4 years

EDUCATION_CHOICES = ["初中", "高中或中专", "大专", "本科", "研究生及以上"]


def id_number_index(number: str) -> str:
    return blind_index(number.strip().upper(), purpose="resident_id")


def new_public_id() -> str:
    return secrets.token_hex(10)


class Operator(EncryptedPhone, db.Model):
    """One person in the operator database (作业人员基础数据库)."""
    __tablename__ = "operator"
    id: Mapped[int] = mapped_column(primary_key=True)
    # Public pages address an operator by this random id, never by the database id.
    public_id: Mapped[str] = mapped_column(String(24), unique=True, default=new_public_id)
    name: Mapped[str] = mapped_column(String(64), index=True)
    gender: Mapped[str] = mapped_column(String(1))                      # M | F (from the ID number)
    id_number_ref: Mapped[str] = mapped_column(String(32))
    id_number_enc: Mapped[bytes] = mapped_column(LargeBinary)
    id_number_bidx: Mapped[str] = mapped_column(String(32), unique=True)
    id_number_masked: Mapped[str] = mapped_column(String(18))
    education: Mapped[str | None] = mapped_column(String(16))
    address: Mapped[str | None] = mapped_column(String(300))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    user: Mapped[User | None] = relationship()
    certificates: Mapped[list["OperatorCertificate"]] = relationship(
        back_populates="operator", order_by="OperatorCertificate.expiry_date.desc()")

    GENDER_LABELS = {"M": "男", "F": "女"}

    def set_id_number(self, number: str) -> None:
        """`number` must already be a checked GB 11643 number (services.validate_id_number)."""
        number = number.strip().upper()
        if not is_valid_resident_id(number):
            raise ValueError("not a valid resident ID number")
        self.id_number_ref = uuid.uuid4().hex
        self.id_number_enc = encrypt(number, table=self.__tablename__, column="id_number", ref=self.id_number_ref)
        self.id_number_bidx = id_number_index(number)
        self.id_number_masked = mask_id_number(number)
        self.gender = "M" if int(number[16]) % 2 == 1 else "F"

    @property
    def id_number(self) -> str:
        return decrypt(self.id_number_enc, table=self.__tablename__, column="id_number", ref=self.id_number_ref)

    @property
    def gender_label(self) -> str:
        return self.GENDER_LABELS.get(self.gender, "—")


register_encrypted(Operator, "id_number_enc", "id_number_ref", "id_number")


class OperatorCertificate(db.Model):
    """特种设备安全管理和作业人员证: one row per work item held."""
    __tablename__ = "operator_certificate"
    id: Mapped[int] = mapped_column(primary_key=True)
    operator_id: Mapped[int] = mapped_column(ForeignKey("operator.id", ondelete="CASCADE"), index=True)
    cert_no: Mapped[str] = mapped_column(String(40), unique=True)      # stored upper-case
    work_item: Mapped[str] = mapped_column(String(4), index=True)
    issue_date: Mapped[date] = mapped_column(Date)
    expiry_date: Mapped[date] = mapped_column(Date, index=True)
    issuing_authority: Mapped[str] = mapped_column(String(100))
    photo_attachment_id: Mapped[int | None] = mapped_column(ForeignKey("attachment.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    operator: Mapped[Operator] = relationship(back_populates="certificates")
    photo: Mapped[Attachment | None] = relationship()

    STATUS_LABELS = {"valid": "有效", "expiring": "即将到期", "expired": "已过期"}

    def status_on(self, day: date) -> str:
        if self.expiry_date < day:
            return "expired"
        if (self.expiry_date - day).days <= EXPIRING_DAYS:
            return "expiring"
        return "valid"

    @property
    def status(self) -> str:
        return self.status_on(today_local())

    @property
    def status_label(self) -> str:
        return self.STATUS_LABELS[self.status]

    @property
    def usable(self) -> bool:
        """Valid or expiring: the certificate still entitles its holder to work."""
        return self.status != "expired"


class Employment(db.Model):
    """任职关系: an operator works for an organisation in one work item (position)."""
    __tablename__ = "employment"
    __table_args__ = (
        # At most one *active* employment per (operator, organisation, work item).
        Index("ux_employment_active", "operator_id", "org_id", "work_item", unique=True,
              postgresql_where=text("status = 'active'"), sqlite_where=text("status = 'active'")),
        Index("ix_employment_org_status", "org_id", "status"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    operator_id: Mapped[int] = mapped_column(ForeignKey("operator.id"), index=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organization.id"))
    work_item: Mapped[str] = mapped_column(String(4))
    status: Mapped[str] = mapped_column(String(10), default="active")   # active | ended
    started_on: Mapped[date] = mapped_column(Date)
    ended_on: Mapped[date | None] = mapped_column(Date)
    start_case_id: Mapped[int | None] = mapped_column(ForeignKey("case_record.id", ondelete="SET NULL"))
    end_case_id: Mapped[int | None] = mapped_column(ForeignKey("case_record.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    operator: Mapped[Operator] = relationship()
    org: Mapped[Organization] = relationship()
    start_case: Mapped[Case | None] = relationship(foreign_keys=[start_case_id], viewonly=True)
    end_case: Mapped[Case | None] = relationship(foreign_keys=[end_case_id], viewonly=True)

    STATUS_LABELS = {"active": "在职", "ended": "已离职"}

    @property
    def status_label(self) -> str:
        return self.STATUS_LABELS.get(self.status, self.status)


class EmploymentRequest(db.Model):
    """The business record behind each join / leave / hire case (like `hazard` for hazard cases)."""
    __tablename__ = "employment_request"
    __table_args__ = (
        # One open request per (operator, organisation, work item), whichever side started it.
        Index("ux_employment_request_pending", "operator_id", "org_id", "work_item", unique=True,
              postgresql_where=text("status = 'pending'"), sqlite_where=text("status = 'pending'")),
        Index("ix_employment_request_org_status", "org_id", "status"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_record.id", ondelete="CASCADE"), unique=True)
    kind: Mapped[str] = mapped_column(String(8))                          # join | leave | hire
    operator_id: Mapped[int] = mapped_column(ForeignKey("operator.id"), index=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organization.id"))
    work_item: Mapped[str] = mapped_column(String(4))
    certificate_id: Mapped[int | None] = mapped_column(ForeignKey("operator_certificate.id", ondelete="SET NULL"))
    cert_no: Mapped[str | None] = mapped_column(String(40))             # kept if the certificate is deleted
    employment_id: Mapped[int | None] = mapped_column(ForeignKey("employment.id"))
    status: Mapped[str] = mapped_column(String(10), default="pending")  # pending | approved | declined
    reason: Mapped[str | None] = mapped_column(Text)
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    case: Mapped[Case] = relationship(viewonly=True)
    operator: Mapped[Operator] = relationship()
    org: Mapped[Organization] = relationship()
    certificate: Mapped[OperatorCertificate | None] = relationship()
    employment: Mapped[Employment | None] = relationship()
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])

    KIND_LABELS = {"join": "任职申请", "leave": "离职申请", "hire": "单位聘用"}
    STATUS_LABELS = {"pending": "办理中", "approved": "已同意", "declined": "未同意"}

    @property
    def kind_label(self) -> str:
        return self.KIND_LABELS.get(self.kind, self.kind)

    @property
    def status_label(self) -> str:
        if self.status == "approved":
            return "已离职" if self.kind == "leave" else "已任职"
        return self.STATUS_LABELS.get(self.status, self.status)
