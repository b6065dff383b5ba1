"""One row per maintenance warning (维保异常预警), with its evidence; and the indexes the supervision
queries need on app/elevators' tables (declared here so that package's models stay as they are)."""
from __future__ import annotations

import json
from datetime import date, datetime

from sqlalchemy import Date, DateTime, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..core.clock import utcnow
from ..core.models import Equipment, Organization, User
from ..elevators.models import MaintenancePlan, WorkOrder
from ..extensions import db

# Rule code -> label, in the order of §4.6.9.
RULES = {
    "overdue": "逾期未保",
    "short_duration": "维保用时过短",
    "volume_day": "维保超量（日）",
    "volume_month": "维保超量（月）",
    "position": "打卡位置异常",
    "photo": "照片无位置/位置异常",
    "certificate": "人员无证/证书过期",
    "failed_items": "维保时发现问题",
    "photo_interval": "机房与底坑照片间隔过短",
}
LEVELS = {"red": "红色", "orange": "橙色", "yellow": "黄色", "blue": "蓝色"}
STATUSES = {"open": "待处理", "closed": "已关闭"}
# Labels of the evidence figures on the warning page.
EVIDENCE_LABELS = {
    "order_no": "工单编号", "checkin_at": "签到时间", "checkout_at": "签退时间", "threshold": "阈值",
    "minutes": "维保用时（分钟）", "maint_type": "维保类型", "checkin_distance": "签到距电梯（米）",
    "checkout_distance": "签退距电梯（米）", "photos": "照片（编号、距电梯米数，空为无位置）", "failed": "不合格项目",
    "count": "数量", "seconds": "机房与底坑照片间隔（秒）", "people": "人员与证书问题", "elevators": "维保电梯（台）",
    "period": "统计期间", "date_from": "起", "date_to": "止", "last_visit": "上次维保日期", "contract_id": "维保合同编号",
    "contract_start": "合同开始日期", "days": "距上次维保（天）",
}


class ElevatorWarning(db.Model):
    """A warning raised by one rule for one cause (`cause_key`, unique: the same cause never raises a
    second row, open or closed). Evidence: the work order, the photos and the figures compared."""
    __tablename__ = "elevator_warning"
    __table_args__ = (Index("ix_elevator_warning_region", "region_code", "status", "opened_at"),
                      Index("ix_elevator_warning_status", "status", "opened_at"),
                      Index("ix_elevator_warning_org", "maintenance_org_id", "status", "opened_at"),
                      Index("ix_elevator_warning_equipment", "equipment_id", "opened_at"))
    id: Mapped[int] = mapped_column(primary_key=True)
    rule: Mapped[str] = mapped_column(String(20))
    cause_key: Mapped[str] = mapped_column(String(100), unique=True)
    level: Mapped[str] = mapped_column(String(8), default="yellow")
    region_code: Mapped[str] = mapped_column(String(6))
    maintenance_org_id: Mapped[int] = mapped_column(ForeignKey("organization.id"))
    equipment_id: Mapped[int | None] = mapped_column(ForeignKey("equipment.id", ondelete="CASCADE"))
    work_order_id: Mapped[int | None] = mapped_column(ForeignKey("elevator_work_order.id", ondelete="SET NULL"))
    maintainer_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    summary: Mapped[str] = mapped_column(String(300))
    evidence: Mapped[str] = mapped_column(Text, default="{}")          # JSON: figures, photo ids, threshold
    source: Mapped[str] = mapped_column(String(10), default="submit")  # submit | nightly
    status: Mapped[str] = mapped_column(String(8), default="open")
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    close_reason: Mapped[str | None] = mapped_column(String(500))

    equipment: Mapped[Equipment | None] = relationship()
    maintenance_org: Mapped[Organization] = relationship()
    work_order: Mapped[WorkOrder | None] = relationship()
    maintainer: Mapped[User | None] = relationship(foreign_keys=[maintainer_id])
    closed_by: Mapped[User | None] = relationship(foreign_keys=[closed_by_id])

    @property
    def rule_label(self) -> str:
        return RULES.get(self.rule, self.rule)

    @property
    def level_label(self) -> str:
        return LEVELS.get(self.level, self.level)

    @property
    def status_label(self) -> str:
        return STATUSES.get(self.status, self.status)

    @property
    def facts(self) -> dict:
        try:
            return json.loads(self.evidence or "{}")
        except ValueError:
            return {}


# The overdue-plan view reads the planned visits past their date across a region (from the index alone); the statistics read work orders
# of a date range across the province: on PostgreSQL the index carries every column they group and sum by,
# so a month of a province's orders is read from the index alone (the rows lie in elevator order on disk,
# a date range touches nearly every heap page otherwise).
STATS_COLUMNS = ["region_code", "maintenance_org_id", "maintainer_id", "equipment_id", "status", "checkout_at"]
Index("ix_elevator_plan_late", MaintenancePlan.due_on, postgresql_include=["equipment_id", "maintenance_org_id"],
      postgresql_where=text("status = 'planned'"), sqlite_where=text("status = 'planned'"))
Index("ix_elevator_wo_kind_checkin", WorkOrder.kind, WorkOrder.checkin_at, postgresql_include=STATS_COLUMNS)


# Summary columns of the maintenance types (app/elevators MAINT_TYPES) and the warning rules.
TYPE_COLUMNS = {"HALF": "type_half", "QUARTER": "type_quarter", "HALF_YEAR": "type_half_year", "YEAR": "type_year"}
WARNING_COLUMNS = {rule: f"w_{rule}" for rule in RULES}


class _StatsSums:
    """The figures summed by the statistics tables."""
    records: Mapped[int] = mapped_column(Integer, default=0)
    timed: Mapped[int] = mapped_column(Integer, default=0)          # records with a check-out time
    seconds: Mapped[float] = mapped_column(Float, default=0)        # their total duration
    type_half: Mapped[int] = mapped_column(Integer, default=0)
    type_quarter: Mapped[int] = mapped_column(Integer, default=0)
    type_half_year: Mapped[int] = mapped_column(Integer, default=0)
    type_year: Mapped[int] = mapped_column(Integer, default=0)
    warnings: Mapped[int] = mapped_column(Integer, default=0)
    warnings_closed: Mapped[int] = mapped_column(Integer, default=0)
    w_overdue: Mapped[int] = mapped_column(Integer, default=0)
    w_short_duration: Mapped[int] = mapped_column(Integer, default=0)
    w_volume_day: Mapped[int] = mapped_column(Integer, default=0)
    w_volume_month: Mapped[int] = mapped_column(Integer, default=0)
    w_position: Mapped[int] = mapped_column(Integer, default=0)
    w_photo: Mapped[int] = mapped_column(Integer, default=0)
    w_certificate: Mapped[int] = mapped_column(Integer, default=0)
    w_failed_items: Mapped[int] = mapped_column(Integer, default=0)
    w_photo_interval: Mapped[int] = mapped_column(Integer, default=0)


class ElevatorStatsDay(_StatsSums, db.Model):
    """The statistics of one local (Guangxi) day × county × maintenance unit × maintainer: maintenance records
    (checked out at least; by check-in day), their duration, records by maintenance type, and the warnings
    raised that day by rule (`maintainer_id` 0: warnings not about one person, e.g. 逾期未保; -1: the unit's total
    of the day and county, which the region and unit tables read). Kept by
    app/elevator_supervision/summary.py: the (day, unit) pairs an ORM change touches are recomputed in
    the same transaction; `rebuild` recomputes a date range (nightly job, CLI)."""
    __tablename__ = "elevator_stats_day"
    __table_args__ = (UniqueConstraint("maintenance_org_id", "day", "region_code", "maintainer_id",
                                       name="uq_elevator_stats_day_key"),
                      Index("ix_elevator_stats_day_region", "day", "region_code"),
                      Index("ix_elevator_stats_day_unit", "day", "region_code", postgresql_where=text("maintainer_id = -1"),
                            sqlite_where=text("maintainer_id = -1")))
    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(Date)
    region_code: Mapped[str] = mapped_column(String(6))
    maintenance_org_id: Mapped[int] = mapped_column(Integer)
    maintainer_id: Mapped[int] = mapped_column(Integer, default=0)


class ElevatorStatsMonth(_StatsSums, db.Model):
    """elevator_stats_day rolled up by calendar month × county × maintenance unit (`month`: its first day), for
    the region and unit tables over long ranges; recomputed from the daily rows with them."""
    __tablename__ = "elevator_stats_month"
    __table_args__ = (UniqueConstraint("maintenance_org_id", "month", "region_code", name="uq_elevator_stats_month_key"),
                      Index("ix_elevator_stats_month_region", "month", "region_code"))
    id: Mapped[int] = mapped_column(primary_key=True)
    month: Mapped[date] = mapped_column(Date)
    region_code: Mapped[str] = mapped_column(String(6))
    maintenance_org_id: Mapped[int] = mapped_column(Integer)
