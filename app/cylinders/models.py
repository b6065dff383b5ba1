"""Gas-cylinder traceability: the cylinder archive (one trace code per cylinder for life), makers'
factory batches, fillers' filling records, registration applications to the 准入一体化平台, the
cylinder units regulators manage (tagged makers / fillers / vehicle gas stations) and filling scales.

Cylinders live in their own table, not in `equipment`: see docs/气瓶追溯.md §2 (5 million narrow rows
keyed by trace code and owner; the device ledger's columns, due states and changes do not apply)."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (BigInteger, Boolean, Date, DateTime, Float, ForeignKey, Index, Integer, String, Text,
                        UniqueConstraint)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..core.clock import utcnow
from ..core.models import Organization, User
from ..extensions import db

KIND_LABELS = {"civil_lpg": "民用液化石油气瓶", "industrial": "工业气瓶", "vehicle": "车用气瓶"}
STATUS_LABELS = {"in_use": "在用", "stopped": "停用", "scrapped": "报废", "cancelled": "注销"}
REG_STATE_LABELS = {"unregistered": "待登记", "pending": "登记办理中", "registered": "已登记"}
TAG_LABELS = {"maker": "气瓶制造单位", "civil": "民用充装单位", "industrial": "工业充装单位",
              "vehicle": "车用气瓶加气站"}
FILLER_TAGS = ("civil", "industrial", "vehicle")


class Cylinder(db.Model):
    """One gas cylinder. `trace_code` (溯源码, printed as QR/barcode) is unique for the table's life: a
    scrapped or cancelled cylinder keeps its row, so its code can never be given to another cylinder."""
    __tablename__ = "cylinder"
    id: Mapped[int] = mapped_column(primary_key=True)
    trace_code: Mapped[str] = mapped_column(String(32), unique=True)
    factory_no: Mapped[str] = mapped_column(String(40), index=True)            # 镂空出厂编号
    maker_org_id: Mapped[int | None] = mapped_column(ForeignKey("organization.id"), index=True)
    maker_name: Mapped[str | None] = mapped_column(String(200))
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("cylinder_batch.id"), index=True)
    batch_no: Mapped[str | None] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(12))                              # KIND_LABELS
    medium: Mapped[str] = mapped_column(String(40))                            # 充装介质
    volume_l: Mapped[float] = mapped_column(Float)                             # 公称容积 L
    nominal_pressure_mpa: Mapped[float] = mapped_column(Float)                 # 公称工作压力 MPa
    manufacture_date: Mapped[date] = mapped_column(Date)
    design_life_years: Mapped[int] = mapped_column(Integer)
    owner_org_id: Mapped[int | None] = mapped_column(ForeignKey("organization.id"))   # 产权/充装单位
    # The supervising region: the owner's, or the maker's while the cylinder has no owner yet.
    region_code: Mapped[str] = mapped_column(String(6), ForeignKey("region.code"))
    reg_state: Mapped[str] = mapped_column(String(12), default="unregistered")
    registration_no: Mapped[str | None] = mapped_column(String(60))           # 使用登记证编号 / 登记代码
    registered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_inspection_date: Mapped[date | None] = mapped_column(Date)
    next_inspection_date: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(12), default="in_use")
    status_reason: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    maker: Mapped[Organization | None] = relationship(foreign_keys=[maker_org_id])
    owner: Mapped[Organization | None] = relationship(foreign_keys=[owner_org_id])

    __table_args__ = (
        Index("ix_cylinder_owner", "owner_org_id", "id"),
        Index("ix_cylinder_owner_state", "owner_org_id", "reg_state", "status"),
        Index("ix_cylinder_region", "region_code", "id", postgresql_ops={"region_code": "varchar_pattern_ops"}),
        Index("ix_cylinder_owner_next", "owner_org_id", "next_inspection_date"),
        Index("ix_cylinder_batch_no", "batch_no"),
    )

    @property
    def kind_label(self) -> str:
        return KIND_LABELS.get(self.kind, self.kind)

    @property
    def status_label(self) -> str:
        return STATUS_LABELS.get(self.status, self.status)

    @property
    def reg_state_label(self) -> str:
        return REG_STATE_LABELS.get(self.reg_state, self.reg_state)

    @property
    def life_end(self) -> date | None:
        if not self.manufacture_date or not self.design_life_years:
            return None
        d = self.manufacture_date
        try:
            return d.replace(year=d.year + self.design_life_years)
        except ValueError:          # 29 February
            return d.replace(year=d.year + self.design_life_years, day=28)


class CylinderBatch(db.Model):
    """A maker's factory batch (生产批号): the 出厂记录 the maker keeps and regulators read."""
    __tablename__ = "cylinder_batch"
    id: Mapped[int] = mapped_column(primary_key=True)
    maker_org_id: Mapped[int] = mapped_column(ForeignKey("organization.id"))
    batch_no: Mapped[str] = mapped_column(String(40))
    product_name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(12))
    medium: Mapped[str] = mapped_column(String(40))
    volume_l: Mapped[float] = mapped_column(Float)
    nominal_pressure_mpa: Mapped[float] = mapped_column(Float)
    manufacture_date: Mapped[date] = mapped_column(Date)
    design_life_years: Mapped[int] = mapped_column(Integer)
    client_org_id: Mapped[int | None] = mapped_column(ForeignKey("organization.id"), index=True)  # 委托充装单位
    region_code: Mapped[str] = mapped_column(String(6), ForeignKey("region.code"), index=True)   # the maker's
    certificate_ids: Mapped[str] = mapped_column(Text, default="[]")      # attachment ids (产品合格证、监检证书)
    note: Mapped[str | None] = mapped_column(String(500))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    maker: Mapped[Organization] = relationship(foreign_keys=[maker_org_id])
    client: Mapped[Organization | None] = relationship(foreign_keys=[client_org_id])

    __table_args__ = (UniqueConstraint("maker_org_id", "batch_no", name="uq_cylinder_batch_maker_no"),)

    @property
    def kind_label(self) -> str:
        return KIND_LABELS.get(self.kind, self.kind)


class CylinderFilling(db.Model):
    """One filling: written by fillers' own systems through the data exchange (part 3) and by the
    filler's own entry. On PostgreSQL the table is range-partitioned by month on `filled_at`
    (migration 0018, `cylinder_filling_add_month`); no foreign keys, for write speed at 60 M rows a year."""
    __tablename__ = "cylinder_filling"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    filled_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    cylinder_id: Mapped[int] = mapped_column(Integer)
    trace_code: Mapped[str] = mapped_column(String(32))
    filler_org_id: Mapped[int] = mapped_column(Integer)
    region_code: Mapped[str] = mapped_column(String(6))
    scale_id: Mapped[int | None] = mapped_column(Integer)
    operator_name: Mapped[str] = mapped_column(String(64))
    pre_check: Mapped[str] = mapped_column(String(8))       # pass | fail
    medium: Mapped[str | None] = mapped_column(String(40))
    weight_kg: Mapped[float | None] = mapped_column(Float)
    pressure_mpa: Mapped[float | None] = mapped_column(Float)
    post_check: Mapped[str | None] = mapped_column(String(8))
    result: Mapped[str] = mapped_column(String(12))         # filled | refused
    note: Mapped[str | None] = mapped_column(String(300))
    source: Mapped[str] = mapped_column(String(8), default="web")     # web | api | exchange
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (
        Index("ix_cylinder_filling_filler_time", "filler_org_id", "filled_at"),
        Index("ix_cylinder_filling_cylinder_time", "cylinder_id", "filled_at"),
        Index("ix_cylinder_filling_region_time", "region_code", "filled_at",
              postgresql_ops={"region_code": "varchar_pattern_ops"}),
        Index("ix_cylinder_filling_time", "filled_at"),
    )

    CHECK_LABELS = {"pass": "合格", "fail": "不合格"}
    RESULT_LABELS = {"filled": "已充装", "refused": "拒绝充装"}


class CylinderApplication(db.Model):
    """A registration application (one case): 首次登记 (by the filler, or by its maker as 代办), 停用,
    报废, 注销. Its cylinders are `CylinderApplicationItem`s; the authority's answer lands here."""
    __tablename__ = "cylinder_application"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_record.id"), unique=True)
    application_no: Mapped[str] = mapped_column(String(32), unique=True)
    business: Mapped[str] = mapped_column(String(12))                 # register | stop | scrap | cancel
    filler_org_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), index=True)
    agent_org_id: Mapped[int | None] = mapped_column(ForeignKey("organization.id"), index=True)  # 代办 maker
    region_code: Mapped[str] = mapped_column(String(6), ForeignKey("region.code"), index=True)
    reason: Mapped[str | None] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(12), default="draft")
    # draft | submitted (awaiting the authority) | rejected (back with the applicant) | done | withdrawn
    receipt_no: Mapped[str | None] = mapped_column(String(64), index=True)     # the authority's
    authority_result: Mapped[str | None] = mapped_column(String(12))           # accepted | registered | rejected
    authority_reason: Mapped[str | None] = mapped_column(String(500))
    certificate_no: Mapped[str | None] = mapped_column(String(60))             # 使用登记证编号
    submissions: Mapped[int] = mapped_column(Integer, default=0)
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    filler: Mapped[Organization] = relationship(foreign_keys=[filler_org_id])
    agent: Mapped[Organization | None] = relationship(foreign_keys=[agent_org_id])
    created_by: Mapped[User] = relationship()
    items: Mapped[list["CylinderApplicationItem"]] = relationship(
        back_populates="application", cascade="all, delete-orphan", order_by="CylinderApplicationItem.id")

    BUSINESS_LABELS = {"register": "使用登记", "stop": "停用", "scrap": "报废", "cancel": "注销"}
    STATUS_LABELS = {"draft": "填写中", "submitted": "待准入一体化平台办理", "rejected": "被退回",
                     "done": "已办结", "withdrawn": "已撤回"}

    @property
    def business_label(self) -> str:
        label = self.BUSINESS_LABELS.get(self.business, self.business)
        return f"{label}（代办）" if self.agent_org_id else label

    @property
    def status_label(self) -> str:
        return self.STATUS_LABELS.get(self.status, self.status)


class CylinderApplicationItem(db.Model):
    __tablename__ = "cylinder_application_item"
    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("cylinder_application.id", ondelete="CASCADE"),
                                                index=True)
    cylinder_id: Mapped[int] = mapped_column(ForeignKey("cylinder.id"), index=True)
    registration_code: Mapped[str | None] = mapped_column(String(60))          # from the authority

    application: Mapped[CylinderApplication] = relationship(back_populates="items")
    cylinder: Mapped[Cylinder] = relationship()

    __table_args__ = (UniqueConstraint("application_id", "cylinder_id", name="uq_cylinder_application_item"),)


class AuthorityNotice(db.Model):
    """Every answer of the 准入一体化平台 about an application (synchronous answers, status queries and
    signed callbacks). A callback's nonce is unique: a replayed callback is refused."""
    __tablename__ = "cylinder_authority_notice"
    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int | None] = mapped_column(ForeignKey("cylinder_application.id"), index=True)
    channel: Mapped[str] = mapped_column(String(10))                  # answer | query | callback
    result: Mapped[str] = mapped_column(String(12))
    nonce: Mapped[str | None] = mapped_column(String(64), unique=True)
    body: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class CylinderUnit(db.Model):
    """A unit of the registry taken under cylinder supervision with a tag (监管标签)."""
    __tablename__ = "cylinder_unit"
    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), index=True)
    tag: Mapped[str] = mapped_column(String(12))                       # TAG_LABELS
    region_code: Mapped[str] = mapped_column(String(6), ForeignKey("region.code"), index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    org: Mapped[Organization] = relationship()

    __table_args__ = (UniqueConstraint("org_id", "tag", name="uq_cylinder_unit_tag"),)

    @property
    def tag_label(self) -> str:
        return TAG_LABELS.get(self.tag, self.tag)


class FillingScale(db.Model):
    """A filling scale (充装秤) of a filler. A locked scale refuses fills."""
    __tablename__ = "cylinder_scale"
    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), index=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    region_code: Mapped[str] = mapped_column(String(6), ForeignKey("region.code"), index=True)
    locked: Mapped[bool] = mapped_column(Boolean, default=False)
    lock_reason: Mapped[str | None] = mapped_column(String(300))
    locked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    locked_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    org: Mapped[Organization] = relationship()
