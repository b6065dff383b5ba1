"""Master data shared by every process: regions, organisations, users, equipment, files."""
from __future__ import annotations

from datetime import date, datetime

from flask_login import UserMixin
from sqlalchemy import (BigInteger, Boolean, Date, DateTime, Float, ForeignKey, Index, Integer, LargeBinary, String,
                        Text, UniqueConstraint, false)
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
    # Other roles the unit plays besides `kind` (a use unit that also maintains lifts), comma-separated.
    kinds: Mapped[str] = mapped_column(String(200), default="", server_default="")
    # WGS 84 coordinates of the unit's address (maps, nearby queries).
    lat: Mapped[float | None] = mapped_column(Float)
    lng: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    region: Mapped[Region] = relationship()
    contacts: Mapped[list["OrgContact"]] = relationship(back_populates="org", order_by="OrgContact.id")

    KIND_LABELS = {"use_unit": "使用单位", "inspection_agency": "检验检测机构", "maintenance_unit": "维护保养单位",
                   "manufacturer": "制造单位", "installer": "安装改造修理单位", "filling_unit": "充装单位"}

    @property
    def kind_set(self) -> set[str]:
        return {self.kind, *(k for k in (self.kinds or "").split(",") if k)}

    @property
    def kind_label(self) -> str:
        return "、".join(self.KIND_LABELS.get(k, k) for k in [self.kind] + sorted(self.kind_set - {self.kind}))


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
    # Set by API logout, HTML logout, password change/reset, deactivation, lockout and the security
    # administrator ending the account's sessions; a revoked token never comes back (security/sessions.py).
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoke_reason: Mapped[str | None] = mapped_column(String(20))

    user: Mapped[User] = relationship()


class EquipmentCategory(db.Model):
    """《特种设备目录》 codes: 种类 / 类别 / 品种."""
    __tablename__ = "equipment_category"
    code: Mapped[str] = mapped_column(String(4), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    parent_code: Mapped[str | None] = mapped_column(String(4))
    level: Mapped[str] = mapped_column(String(8))  # 种类 | 类别 | 品种


class Equipment(db.Model):
    """One registered device (设备档案). Read and changed through app/registry/services.py, which keeps the
    derived columns (kind/class codes, design-life end, due state) consistent and audits every change."""
    __tablename__ = "equipment"
    __table_args__ = (
        # Devices by inspection due state in a region (issue 8, migration 0008): index-only scan.
        Index("ix_equipment_region_inspection", "region_code", "status", "next_inspection_date",
              postgresql_ops={"region_code": "varchar_pattern_ops"}),
        # 排查治理台账: band counts of devices in use and the first page of a band, by region prefix (index-only).
        Index("ix_equipment_region_status_due", "region_code", "status", "due_state", "next_inspection_date",
              postgresql_ops={"region_code": "varchar_pattern_ops"}),
        # 超设计使用年限查询: a range of life-end dates of one 种类.
        Index("ix_equipment_kind_life_end", "kind_code", "design_life_end"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)          # 设备代码
    registration_no: Mapped[str | None] = mapped_column(String(40))     # 使用登记证编号
    reg_code: Mapped[str | None] = mapped_column(String(20), index=True)  # 注册代码 (legacy, 20 digits)
    name: Mapped[str] = mapped_column(String(200))
    # 《特种设备目录》: the most specific code known (品种, or a 类别 without 品种), and its 种类 / 类别.
    category_code: Mapped[str] = mapped_column(String(4), ForeignKey("equipment_category.code"), index=True)
    kind_code: Mapped[str | None] = mapped_column(String(4), index=True)
    class_code: Mapped[str | None] = mapped_column(String(4), index=True)
    factory_no: Mapped[str | None] = mapped_column(String(64))          # 产品编号 (出厂编号)
    model: Mapped[str | None] = mapped_column(String(100))              # 规格型号
    maker_name: Mapped[str | None] = mapped_column(String(200))         # 制造单位
    designer_name: Mapped[str | None] = mapped_column(String(200))      # 设计单位
    use_org_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), index=True)
    maintenance_org_id: Mapped[int | None] = mapped_column(ForeignKey("organization.id"), index=True)  # 维保单位
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
    lat: Mapped[float | None] = mapped_column(Float)                    # WGS 84
    lng: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(20), default="in_use")   # STATUS_LABELS
    status_changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    manufacture_date: Mapped[date | None] = mapped_column(Date)         # 制造日期
    commissioning_date: Mapped[date | None] = mapped_column(Date)       # 投入使用日期
    # 设计使用年限 in years; source: declared (from the maker's documents), default (the 20-year rule for
    # pressure vessels, TSG 21-2016 7.1.7) or edited (by a supervisor or an inspector, audited).
    design_life_years: Mapped[int | None] = mapped_column(Integer)
    design_life_source: Mapped[str | None] = mapped_column(String(10))
    # The day the design life is reached: commissioning (else manufacture) + design life. Kept by the registry.
    design_life_end: Mapped[date | None] = mapped_column(Date)
    life_assessed_on: Mapped[date | None] = mapped_column(Date)          # 达到年限后的检验/安全评估
    life_registration_changed_on: Mapped[date | None] = mapped_column(Date)   # 达到年限后的使用登记变更
    simple_pressure_vessel: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Inspection: the next due date of the latest passing report, an approved 延期检验 date, the latest
    # report's date and conclusion, and the due state (app/registry/due.py; bands in rules/inspection_due.dmn).
    next_inspection_date: Mapped[date | None] = mapped_column(Date, index=True)
    extended_until: Mapped[date | None] = mapped_column(Date)
    last_inspected_on: Mapped[date | None] = mapped_column(Date)
    last_conclusion: Mapped[str | None] = mapped_column(String(12))
    due_state: Mapped[str] = mapped_column(String(12), default="no_record", server_default="no_record")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    category: Mapped[EquipmentCategory] = relationship()
    use_org: Mapped[Organization] = relationship(foreign_keys=[use_org_id])
    maintenance_org: Mapped[Organization | None] = relationship(foreign_keys=[maintenance_org_id])
    region: Mapped[Region] = relationship(foreign_keys=[region_code])
    registered_region: Mapped[Region] = relationship(foreign_keys=[registered_region_code])

    STATUS_LABELS = {"in_use": "在用", "stopped": "停用", "scrapped": "报废", "cancelled": "注销",
                     "announced_cancelled": "公告注销"}
    # Statuses that end periodic inspection (不需检验); a stopped device needs one before it is used again.
    INACTIVE_STATUSES = ("stopped", "scrapped", "cancelled", "announced_cancelled")

    @property
    def status_label(self) -> str:
        return self.STATUS_LABELS.get(self.status, self.status)

    @property
    def effective_due_date(self) -> date | None:
        """The next inspection date, or a later approved 延期检验 date."""
        if self.extended_until and (self.next_inspection_date is None or self.extended_until > self.next_inspection_date):
            return self.extended_until
        return self.next_inspection_date


class EquipmentChange(db.Model):
    """Every change of a device's registry facts: who, when, what, why (设备档案变更记录)."""
    __tablename__ = "equipment_change"
    id: Mapped[int] = mapped_column(primary_key=True)
    equipment_id: Mapped[int] = mapped_column(ForeignKey("equipment.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    field: Mapped[str] = mapped_column(String(40))
    old_value: Mapped[str | None] = mapped_column(String(300))
    new_value: Mapped[str | None] = mapped_column(String(300))
    reason: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(16), default="web")      # web | api | import | case | system
    case_id: Mapped[int | None] = mapped_column(ForeignKey("case_record.id", ondelete="SET NULL"))

    actor: Mapped["User | None"] = relationship()


class ImportJob(db.Model):
    """One Excel import (app/core/importer.py): its file, progress, counts and error report."""
    __tablename__ = "import_job"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    sm3: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(12), default="queued")   # queued | running | done | failed
    total: Mapped[int] = mapped_column(Integer, default=0)
    processed: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)             # rows refused (with reasons)
    message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))     # progress heartbeat
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    user: Mapped["User"] = relationship()

    STATUS_LABELS = {"queued": "排队中", "running": "导入中", "done": "已完成", "failed": "失败"}

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

    uploaded_by: Mapped[User] = relationship(viewonly=True)


class Counter(db.Model):
    """Named sequences for human-readable numbers (case numbers, notice numbers)."""
    __tablename__ = "counter"
    __table_args__ = (UniqueConstraint("name", "period"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40))
    period: Mapped[str] = mapped_column(String(16))
    value: Mapped[int] = mapped_column(Integer, default=0)
