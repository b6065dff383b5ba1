"""Master data shared by every process: regions, organisations, users, equipment, files."""
from __future__ import annotations

from datetime import date, datetime

from flask_login import UserMixin
from sqlalchemy import (BigInteger, Boolean, Date, DateTime, ForeignKey, Index, Integer, LargeBinary, String,
                        UniqueConstraint, false)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .clock import utcnow
from .movable import is_movable_category
from .pii import EncryptedPhone, register_encrypted
from .region_codes import region_prefix
from .roles import is_enterprise, is_regulator, role_label


class Region(db.Model):
    __tablename__ = "region"
    code: Mapped[str] = mapped_column(String(6), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    parent_code: Mapped[str | None] = mapped_column(String(6), index=True)
    level: Mapped[str] = mapped_column(String(10))  # province | city | county

    @property
    def prefix(self) -> str:
        return region_prefix(self.code)


class Organization(db.Model):
    __tablename__ = "organization"
    id: Mapped[int] = mapped_column(primary_key=True)
    uscc: Mapped[str] = mapped_column(String(18), unique=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)  # use_unit, inspection_agency, maintenance_unit, …
    region_code: Mapped[str] = mapped_column(String(6), ForeignKey("region.code"), index=True)
    address: Mapped[str | None] = mapped_column(String(300))
    contact_name: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    region: Mapped[Region] = relationship()
    contacts: Mapped[list["OrgContact"]] = relationship(back_populates="org", order_by="OrgContact.id")


class OrgContact(EncryptedPhone, db.Model):
    """The people §4.5.4 sends warnings to: 安全总监 / 安全员 / 主要负责人 / 联系人."""
    __tablename__ = "org_contact"
    DUTIES = {"safety_director": "安全总监", "safety_officer": "安全员", "principal": "主要负责人",
              "contact": "联系人"}
    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"), index=True)
    duty: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(64))
    receives_sms: Mapped[bool] = mapped_column(Boolean, default=True)

    org: Mapped[Organization] = relationship(back_populates="contacts")

    @property
    def duty_label(self) -> str:
        return self.DUTIES.get(self.duty, self.duty)


class User(UserMixin, EncryptedPhone, db.Model):
    __tablename__ = "user_account"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    display_name: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(32), index=True)
    region_code: Mapped[str] = mapped_column(String(6), ForeignKey("region.code"), index=True)
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organization.id"), index=True)
    is_active_flag: Mapped[bool] = mapped_column("is_active", Boolean, default=True)
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_login_ip: Mapped[str | None] = mapped_column(String(45))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Login controls (security/policy.py): lockout, password age, forced change, second factor.
    failed_logins: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    password_changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=utcnow)
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    totp_ref: Mapped[str | None] = mapped_column(String(32))
    totp_secret_enc: Mapped[bytes | None] = mapped_column(LargeBinary)   # SM4-GCM (core/pii.py)
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)     # refuses a replayed code

    region: Mapped[Region] = relationship()
    org: Mapped[Organization | None] = relationship()

    @property
    def is_active(self) -> bool:  # Flask-Login
        return bool(self.is_active_flag)

    @property
    def scope_prefix(self) -> str:
        return region_prefix(self.region_code)

    @property
    def is_regulator(self) -> bool:
        return is_regulator(self.role)

    @property
    def is_enterprise(self) -> bool:
        return is_enterprise(self.role)

    @property
    def role_label(self) -> str:
        return role_label(self.role)


register_encrypted(User, "totp_secret_enc", "totp_ref", "totp_secret")


class ApiToken(db.Model):
    """Bearer tokens for the JSON API; only the SM3 digest of the token is stored."""
    __tablename__ = "api_token"
    id: Mapped[int] = mapped_column(primary_key=True)
    token_sm3: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    user: Mapped[User] = relationship()


class EquipmentCategory(db.Model):
    """《特种设备目录》 codes: 种类 / 类别 / 品种."""
    __tablename__ = "equipment_category"
    code: Mapped[str] = mapped_column(String(4), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    parent_code: Mapped[str | None] = mapped_column(String(4))
    level: Mapped[str] = mapped_column(String(8))  # 种类 | 类别 | 品种


class Equipment(db.Model):
    __tablename__ = "equipment"
    __table_args__ = (
        # Devices by inspection due state in a region (issue 8, migration 0008): index-only scan.
        Index("ix_equipment_region_inspection", "region_code", "status", "next_inspection_date",
              postgresql_ops={"region_code": "varchar_pattern_ops"}),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)          # 设备代码
    registration_no: Mapped[str | None] = mapped_column(String(40))     # 使用登记证编号
    name: Mapped[str] = mapped_column(String(200))
    category_code: Mapped[str] = mapped_column(String(4), ForeignKey("equipment_category.code"), index=True)
    use_org_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), index=True)
    # The current supervising authority; a mobile-equipment transfer (§4.5.9) moves it.
    region_code: Mapped[str] = mapped_column(String(6), ForeignKey("region.code"), index=True)
    # The original registering authority: set once, never changed by a transfer.
    registered_region_code: Mapped[str] = mapped_column(
        String(6), ForeignKey("region.code"), index=True,
        default=lambda ctx: ctx.get_current_parameters()["region_code"])
    # 流动作业 equipment (rule and sources: core/movable.py); derived from the category by default.
    movable: Mapped[bool] = mapped_column(
        Boolean, index=True, server_default=false(),
        default=lambda ctx: is_movable_category(ctx.get_current_parameters()["category_code"]))
    address: Mapped[str | None] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(16), default="in_use")   # in_use | stopped | scrapped
    next_inspection_date: Mapped[date | None] = mapped_column(Date, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    category: Mapped[EquipmentCategory] = relationship()
    use_org: Mapped[Organization] = relationship()
    region: Mapped[Region] = relationship(foreign_keys=[region_code])
    registered_region: Mapped[Region] = relationship(foreign_keys=[registered_region_code])

    STATUS_LABELS = {"in_use": "在用", "stopped": "停用", "scrapped": "报废"}

    @property
    def status_label(self) -> str:
        return self.STATUS_LABELS.get(self.status, self.status)


class Attachment(db.Model):
    """An uploaded file. Content lives in the storage backend under its SM3 digest."""
    __tablename__ = "attachment"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("case_record.id"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    mime: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sm3: Mapped[str] = mapped_column(String(64), index=True)
    storage_key: Mapped[str] = mapped_column(String(200))
    uploaded_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    uploaded_by: Mapped[User] = relationship()


class Counter(db.Model):
    """Named sequences for human-readable numbers (case numbers, notice numbers)."""
    __tablename__ = "counter"
    __table_args__ = (UniqueConstraint("name", "period"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40))
    period: Mapped[str] = mapped_column(String(16))
    value: Mapped[int] = mapped_column(Integer, default=0)
