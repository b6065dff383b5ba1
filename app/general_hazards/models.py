"""General hazards (一般隐患) a unit finds and closes itself, and its hazard-checking plans (隐患排查计划)
with the check tasks they generate."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..cases.models import Case
from ..core.clock import utcnow
from ..core.models import Equipment, Organization, User
from ..extensions import db

CHECK_KINDS = {"comprehensive": "综合检查", "daily": "日常检查", "periodic": "定期检查", "special": "专项检查",
               "holiday": "节假日检查", "plan": "隐患排查计划"}
CATEGORIES = {"equipment": "设备本体", "safety_device": "安全附件与保护装置", "operation": "作业行为",
              "management": "安全管理", "environment": "使用环境", "other": "其他"}
LEVELS = {"low": "低", "medium": "中", "high": "高"}
SOURCES = {"self_check": "自查", "inspection": "检验检测", "supervision": "监督检查", "complaint": "投诉举报"}
PERIODS = {"yearly": "每年", "quarterly": "每季度", "monthly": "每月"}


class GeneralHazardPlan(db.Model):
    """隐患排查计划: a unit's recurring check; the scheduler makes one check task per period."""
    __tablename__ = "general_hazard_plan"
    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    period: Mapped[str] = mapped_column(String(12))               # PERIODS
    content: Mapped[str | None] = mapped_column(Text)             # 检查内容
    inspector_name: Mapped[str | None] = mapped_column(String(64))
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date | None] = mapped_column(Date)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    org: Mapped[Organization] = relationship()

    @property
    def period_label(self) -> str:
        return PERIODS.get(self.period, self.period)


class GeneralHazardCheck(db.Model):
    """One generated check task of a plan (one per plan and period)."""
    __tablename__ = "general_hazard_check"
    __table_args__ = (UniqueConstraint("plan_id", "period_key", name="uq_general_hazard_check_plan_period"),
                      Index("ix_general_hazard_check_org_status", "org_id", "status", "due_on"))
    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("general_hazard_plan.id", ondelete="CASCADE"))
    org_id: Mapped[int] = mapped_column(ForeignKey("organization.id"))
    period_key: Mapped[str] = mapped_column(String(10))           # 2026 / 2026Q4 / 2026-12
    starts_on: Mapped[date] = mapped_column(Date)
    due_on: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(12), default="open")   # open | done
    finding: Mapped[str | None] = mapped_column(String(12))        # none | hazards
    notes: Mapped[str | None] = mapped_column(Text)
    done_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    done_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    plan: Mapped[GeneralHazardPlan] = relationship()
    done_by: Mapped[User | None] = relationship()

    STATUS_LABELS = {"open": "待检查", "done": "已检查"}

    @property
    def label(self) -> str:
        return f"{self.plan.name}（{self.period_key}，{self.due_on.isoformat()}前）"


class GeneralHazard(db.Model):
    """一般隐患: registered, rectified by the responsible person, accepted by the inspector (general_hazard.bpmn)."""
    __tablename__ = "general_hazard"
    __table_args__ = (Index("ix_general_hazard_org_status", "org_id", "status"),
                      Index("ix_general_hazard_region_created", "region_code", "created_at"))
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_record.id", ondelete="CASCADE"), unique=True)
    hazard_no: Mapped[str] = mapped_column(String(32), unique=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organization.id"))
    region_code: Mapped[str] = mapped_column(String(6), ForeignKey("region.code"))
    equipment_id: Mapped[int | None] = mapped_column(ForeignKey("equipment.id"), index=True)
    category: Mapped[str] = mapped_column(String(16))
    hazard_count: Mapped[int] = mapped_column(Integer, default=1)
    level: Mapped[str] = mapped_column(String(8))
    main_problem: Mapped[str] = mapped_column(Text)
    found_at: Mapped[str] = mapped_column(String(200))
    found_on: Mapped[date] = mapped_column(Date)
    deadline: Mapped[date] = mapped_column(Date)
    related_source: Mapped[str] = mapped_column(String(16))
    inspector_name: Mapped[str] = mapped_column(String(64))
    inspecting_unit: Mapped[str] = mapped_column(String(200))
    check_kind: Mapped[str] = mapped_column(String(16))
    check_id: Mapped[int | None] = mapped_column(ForeignKey("general_hazard_check.id", ondelete="SET NULL"), index=True)
    status: Mapped[str] = mapped_column(String(12))               # rectifying | accepting | closed
    rectified_on: Mapped[date | None] = mapped_column(Date)
    handler: Mapped[str | None] = mapped_column(String(64))
    rectify_result: Mapped[str | None] = mapped_column(Text)
    returned_count: Mapped[int] = mapped_column(Integer, default=0)
    evaluation: Mapped[str | None] = mapped_column(Text)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    case: Mapped[Case] = relationship(viewonly=True)
    org: Mapped[Organization] = relationship()
    equipment: Mapped[Equipment | None] = relationship()
    check: Mapped[GeneralHazardCheck | None] = relationship()

    STATUS_LABELS = {"rectifying": "整改中", "accepting": "待验收", "closed": "已验收销号"}

    @property
    def status_label(self) -> str:
        return self.STATUS_LABELS.get(self.status, self.status)

    @property
    def category_label(self) -> str:
        return CATEGORIES.get(self.category, self.category)

    @property
    def level_label(self) -> str:
        return LEVELS.get(self.level, self.level)

    @property
    def check_kind_label(self) -> str:
        return CHECK_KINDS.get(self.check_kind, self.check_kind)

    @property
    def source_label(self) -> str:
        return SOURCES.get(self.related_source, self.related_source)
