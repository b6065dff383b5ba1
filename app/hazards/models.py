"""Major accident hazards (重大事故隐患): the business record behind each hazard case."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..cases.models import Case
from ..core.clock import utcnow
from ..core.models import Equipment, Organization, Region, User
from ..extensions import db


class HazardCriterion(db.Model):
    """GB 45067-2024 判定项, configured as data (§4.3.5)."""
    __tablename__ = "hazard_criterion"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)       # GB45067-4.2a
    clause: Mapped[str] = mapped_column(String(8), index=True)          # 4.2
    item: Mapped[str] = mapped_column(String(4))                        # a
    citation: Mapped[str] = mapped_column(String(64))                   # GB 45067-2024 4.2 a)
    equipment_type: Mapped[str] = mapped_column(String(32))             # 锅炉 / 通用 / …
    category_code: Mapped[str | None] = mapped_column(String(16))   # e.g. "2200/2300"
    lead_in: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    suggested_measure: Mapped[str | None] = mapped_column(Text)
    is_cross_reference: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Configured attributes (判定标准配置): the cause class statistics group by; empty until set.
    cause_class: Mapped[str | None] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))

    updated_by: Mapped[User | None] = relationship(foreign_keys=[updated_by_id])

    CAUSE_CLASSES = {"equipment": "设备本体缺陷", "safety_device": "安全附件与保护装置失效",
                     "operation": "违规使用与操作", "management": "安全管理缺失", "qualification": "许可与资格缺失",
                     "environment": "使用环境与条件"}

    @property
    def cause_label(self) -> str:
        return self.CAUSE_CLASSES.get(self.cause_class or "", "未设置")

    @property
    def label(self) -> str:
        return f"{self.citation} {self.equipment_type}：{self.text}"


class HazardCriterionVersion(db.Model):
    """One saved state of a criterion's configuration: who changed what, when (版本历史)."""
    __tablename__ = "hazard_criterion_version"
    id: Mapped[int] = mapped_column(primary_key=True)
    criterion_id: Mapped[str] = mapped_column(ForeignKey("hazard_criterion.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    snapshot: Mapped[str] = mapped_column(Text)          # JSON of the configured attributes after the change
    summary: Mapped[str] = mapped_column(String(500))
    changed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    changed_by: Mapped[User | None] = relationship()


class Hazard(db.Model):
    __tablename__ = "hazard"
    __table_args__ = (
        # Ledger counts by due state and overview aggregates by region prefix (issue 8, migration 0008).
        Index("ix_hazard_region_status", "region_code", "status", "warning_level", "rectify_deadline",
              postgresql_ops={"region_code": "varchar_pattern_ops"}),
        # A county's ledger newest first (its search filters walk this, not the whole province).
        Index("ix_hazard_region_created", "region_code", "created_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_record.id", ondelete="CASCADE"), unique=True)
    hazard_no: Mapped[str] = mapped_column(String(32), unique=True)
    equipment_id: Mapped[int] = mapped_column(ForeignKey("equipment.id"), index=True)
    use_org_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), index=True)
    region_code: Mapped[str] = mapped_column(String(6), ForeignKey("region.code"), index=True)
    source: Mapped[str] = mapped_column(String(16), index=True)        # supervisor | agency | use_unit
    reporter_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    reporter_org_id: Mapped[int | None] = mapped_column(ForeignKey("organization.id"), index=True)
    criterion_id: Mapped[str] = mapped_column(ForeignKey("hazard_criterion.id"), index=True)
    description: Mapped[str] = mapped_column(Text)
    found_on: Mapped[date] = mapped_column(Date)
    rectify_deadline: Mapped[date] = mapped_column(Date, index=True)
    status: Mapped[str] = mapped_column(String(20), index=True)
    warning_level: Mapped[str] = mapped_column(String(8), default="none", index=True)
    notice_no: Mapped[str | None] = mapped_column(String(40))
    notice_issued_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    notice_requirements: Mapped[str | None] = mapped_column(Text)
    notice_issuer_region: Mapped[str | None] = mapped_column(String(6))
    extension_count: Mapped[int] = mapped_column(Integer, default=0)
    rectified_on: Mapped[date | None] = mapped_column(Date)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    # Rectification requirements a technical unit set when reporting (the bureau may adopt them).
    reporter_requirements: Mapped[str | None] = mapped_column(Text)
    # The inspection report the hazard was found in (§4.3.2: reports with 不合格 marked as reported).
    inspection_report_id: Mapped[int | None] = mapped_column(
        ForeignKey("inspection_report.id", ondelete="SET NULL"), index=True)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Deleted by its reporter before the bureau accepted it: kept for the record, out of every list.
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    case: Mapped[Case] = relationship(viewonly=True)
    equipment: Mapped[Equipment] = relationship(viewonly=True)
    use_org: Mapped[Organization] = relationship(foreign_keys=[use_org_id], viewonly=True)
    reporter_org: Mapped[Organization | None] = relationship(foreign_keys=[reporter_org_id], viewonly=True)
    reporter: Mapped[User] = relationship(viewonly=True)
    region: Mapped[Region] = relationship(viewonly=True)
    criterion: Mapped[HazardCriterion] = relationship(viewonly=True)

    STATUS_LABELS = {
        "reported": "待派单", "rectifying": "整改中", "extension_pending": "延期审核中",
        "verifying": "待复核", "closed": "已销号", "rejected": "不予认定",
    }
    SOURCE_LABELS = {"supervisor": "监管部门检查", "agency": "检验检测机构上报", "maintenance": "维保单位上报",
                     "use_unit": "使用单位自报", "complaint": "投诉举报核查"}
    # Warning colours apply while the use unit still owes its rectification (§4.3.2).
    WARNING_STATUSES = ("rectifying", "extension_pending")

    @property
    def status_label(self) -> str:
        return self.STATUS_LABELS.get(self.status, self.status)

    @property
    def source_label(self) -> str:
        return self.SOURCE_LABELS.get(self.source, self.source)


class HazardBulletin(db.Model):
    """通报: a city's or the province's bulletin on hazards over a period and region, approved, then
    published to the regions below with read receipts. `content` is the JSON of the figures as generated
    (the document always shows what was approved, not today's numbers)."""
    __tablename__ = "hazard_bulletin"
    id: Mapped[int] = mapped_column(primary_key=True)
    bulletin_no: Mapped[str] = mapped_column(String(40), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(12))                    # periodic | adhoc
    issuer_region: Mapped[str] = mapped_column(String(6), ForeignKey("region.code"), index=True)
    scope_region: Mapped[str] = mapped_column(String(6), ForeignKey("region.code"))
    period_from: Mapped[date] = mapped_column(Date)
    period_to: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(12), index=True)      # pending | returned | published
    content: Mapped[str] = mapped_column(Text)
    remarks: Mapped[str | None] = mapped_column(Text)                # the issuer's words added to the figures
    created_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    approved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    approval_opinion: Mapped[str | None] = mapped_column(Text)
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    created_by: Mapped[User] = relationship(foreign_keys=[created_by_id])
    approved_by: Mapped[User | None] = relationship(foreign_keys=[approved_by_id])
    receipts: Mapped[list["HazardBulletinReceipt"]] = relationship(back_populates="bulletin",
                                                                   order_by="HazardBulletinReceipt.region_code")

    STATUS_LABELS = {"pending": "待审核", "returned": "已退回", "published": "已发布"}
    KIND_LABELS = {"periodic": "定期通报", "adhoc": "专项通报"}

    @property
    def status_label(self) -> str:
        return self.STATUS_LABELS.get(self.status, self.status)

    @property
    def kind_label(self) -> str:
        return self.KIND_LABELS.get(self.kind, self.kind)


class HazardBulletinReceipt(db.Model):
    """One region a bulletin was published to; read when a supervisor of that region first opens it."""
    __tablename__ = "hazard_bulletin_receipt"
    __table_args__ = (UniqueConstraint("bulletin_id", "region_code", name="uq_hazard_bulletin_receipt_region"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    bulletin_id: Mapped[int] = mapped_column(ForeignKey("hazard_bulletin.id", ondelete="CASCADE"))
    region_code: Mapped[str] = mapped_column(String(6), ForeignKey("region.code"), index=True)
    read_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    read_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    bulletin: Mapped[HazardBulletin] = relationship(back_populates="receipts")
    read_by: Mapped[User | None] = relationship()
