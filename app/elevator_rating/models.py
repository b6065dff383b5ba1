"""Maintenance-unit rating (维保单位评价与星级评定): quality patrols of archived maintenance records,
rescue records from the 96111 rescue platform, and star-rating applications with their outcome.

Work orders stay in app/elevators; a patrol item points at one. Evaluation figures are computed on
demand (services.evaluate) and frozen into an application when the unit applies."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..core.clock import utcnow
from ..core.models import Equipment, Organization, User
from ..extensions import db

# Grades of a patrolled record (platform default wording, not regulation).
PATROL_GRADES = {"pass": "合格", "basic": "基本合格", "fail": "不合格"}
# What a patroller looks at in one record (platform default; each 符合 / 不符合).
PATROL_CHECKS = {"items": "维保项目齐全、结果如实", "photos": "现场照片清晰且与项目对应", "duration": "作业时长合理",
                 "signatures": "维保人员、使用单位签字完整", "site": "签到签退位置与电梯一致"}
# Guangxi maintenance-unit credit grades (shared/reference/guangxi_elevator_maintenance_credit.json "grades").
GRADES = {"A": "A级", "B": "B级", "C": "C级", "D": "D级"}
# How many stars the public page draws for a grade: a display convention of this platform, not regulation.
STARS = {"A": 4, "B": 3, "C": 2, "D": 1}


class Patrol(db.Model):
    """One 维保质量巡检: who sampled which records of which unit, when."""
    __tablename__ = "rating_patrol"
    id: Mapped[int] = mapped_column(primary_key=True)
    patrol_no: Mapped[str] = mapped_column(String(24), unique=True)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    by_regulator: Mapped[bool] = mapped_column(default=True)
    region_code: Mapped[str] = mapped_column(String(6), index=True)      # the patroller's scope (region or unit's)
    maintenance_org_id: Mapped[int | None] = mapped_column(ForeignKey("organization.id"), index=True)
    method: Mapped[str] = mapped_column(String(8), default="random")     # random | pick
    criteria: Mapped[dict] = mapped_column(JSON, default=dict)
    sample_size: Mapped[int] = mapped_column(Integer, default=0)
    title: Mapped[str | None] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    created_by: Mapped[User] = relationship()
    maintenance_org: Mapped[Organization | None] = relationship()
    items: Mapped[list["PatrolItem"]] = relationship(back_populates="patrol", order_by="PatrolItem.id",
                                                     cascade="all, delete-orphan")

    METHOD_LABELS = {"random": "随机抽查", "pick": "指定抽查"}

    @property
    def method_label(self) -> str:
        return self.METHOD_LABELS.get(self.method, self.method)


class PatrolItem(db.Model):
    """One sampled record and its grade."""
    __tablename__ = "rating_patrol_item"
    __table_args__ = (UniqueConstraint("patrol_id", "work_order_id"),
                      Index("ix_rating_patrol_item_org", "maintenance_org_id", "graded_at"))
    id: Mapped[int] = mapped_column(primary_key=True)
    patrol_id: Mapped[int] = mapped_column(ForeignKey("rating_patrol.id", ondelete="CASCADE"), index=True)
    work_order_id: Mapped[int] = mapped_column(ForeignKey("elevator_work_order.id", ondelete="CASCADE"), index=True)
    maintenance_org_id: Mapped[int] = mapped_column(ForeignKey("organization.id"))
    grade: Mapped[str | None] = mapped_column(String(8))                 # PATROL_GRADES
    checks: Mapped[dict] = mapped_column(JSON, default=dict)             # PATROL_CHECKS key -> ok | fail
    remark: Mapped[str | None] = mapped_column(Text)
    graded_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    graded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    patrol: Mapped[Patrol] = relationship(back_populates="items")
    graded_by: Mapped[User | None] = relationship()

    @property
    def grade_label(self) -> str:
        return PATROL_GRADES.get(self.grade or "", "待评定")


class Rescue(db.Model):
    """One 96111 rescue: from the rescue platform's export (Excel) or its push/pull interface."""
    __tablename__ = "rating_rescue"
    __table_args__ = (Index("ix_rating_rescue_org", "maintenance_org_id", "alarm_at"),
                      Index("ix_rating_rescue_region", "region_code", "alarm_at"))
    id: Mapped[int] = mapped_column(primary_key=True)
    rescue_no: Mapped[str] = mapped_column(String(40), unique=True)     # the platform's 救援单号
    equipment_id: Mapped[int] = mapped_column(ForeignKey("equipment.id", ondelete="CASCADE"), index=True)
    maintenance_org_id: Mapped[int] = mapped_column(ForeignKey("organization.id"))
    region_code: Mapped[str] = mapped_column(String(6))
    alarm_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    arrived_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    released_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    trapped: Mapped[int] = mapped_column(Integer, default=0)            # people trapped
    cause: Mapped[str | None] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(8), default="import")    # import | api | pull
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    equipment: Mapped[Equipment] = relationship()
    maintenance_org: Mapped[Organization] = relationship()

    SOURCE_LABELS = {"import": "Excel 导入", "api": "接口推送", "pull": "平台拉取"}

    @property
    def release_minutes(self) -> float | None:
        if self.released_at is None:
            return None
        return round((self.released_at - self.alarm_at).total_seconds() / 60, 1)

    @property
    def arrival_minutes(self) -> float | None:
        if self.arrived_at is None:
            return None
        return round((self.arrived_at - self.alarm_at).total_seconds() / 60, 1)


class StarRating(db.Model):
    """A 星级评定申请 and, once the province approves it, the unit's rating."""
    __tablename__ = "rating_star"
    __table_args__ = (Index("ix_rating_star_org", "org_id", "status"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("case_record.id", ondelete="SET NULL"), unique=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organization.id"))
    region_code: Mapped[str] = mapped_column(String(6), index=True)
    year: Mapped[int] = mapped_column(Integer)
    figures: Mapped[dict] = mapped_column(JSON, default=dict)           # the evaluation when applied (or re-applied)
    score: Mapped[float | None] = mapped_column(Float)
    suggested_grade: Mapped[str | None] = mapped_column(String(1))
    requested_grade: Mapped[str] = mapped_column(String(1))
    license_no: Mapped[str | None] = mapped_column(String(40))
    statement: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="city_review")
    return_reason: Mapped[str | None] = mapped_column(Text)
    city_grade: Mapped[str | None] = mapped_column(String(1))
    grade: Mapped[str | None] = mapped_column(String(1))
    veto: Mapped[bool] = mapped_column(default=False)
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    approved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    org: Mapped[Organization] = relationship()
    approved_by: Mapped[User | None] = relationship()

    STATUS_LABELS = {"city_review": "待市局审核", "returned": "已退回", "province_review": "待自治区局审批",
                     "approved": "已评定"}

    @property
    def status_label(self) -> str:
        return self.STATUS_LABELS.get(self.status, self.status)

    @property
    def stars(self) -> int:
        return STARS.get(self.grade or "", 0)

    @property
    def grade_label(self) -> str:
        return GRADES.get(self.grade or "", "")
