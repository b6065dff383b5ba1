"""Inspection reports (定期检验报告) and the generator's progress record."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, DateTime, ForeignKey, Index, Integer, String, Text, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..core.clock import utcnow
from ..core.models import Equipment, Organization
from ..extensions import db

CONCLUSIONS = ("合格", "基本合格", "不合格", "复检合格")
# Conclusions that allow use until the next due date; 不合格 does not (TSG: 检验不合格的不得继续使用).
PASSING = ("合格", "基本合格", "复检合格")


class InspectionReport(db.Model):
    """One periodic inspection of one device by an inspection agency. The device's
    `next_inspection_date` is the next due date of its latest passing report."""
    __tablename__ = "inspection_report"
    __table_args__ = (
        Index("ix_inspection_report_equipment_date", "equipment_id", "inspected_on"),
        # Conclusions of a period by region: a range on the date, region and conclusion from the index.
        Index("ix_inspection_report_inspected_on", "inspected_on",
              postgresql_include=["region_code", "conclusion"]),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    report_no: Mapped[str] = mapped_column(String(40), unique=True)
    equipment_id: Mapped[int] = mapped_column(ForeignKey("equipment.id", ondelete="CASCADE"))
    agency_org_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), index=True)
    # The device's supervising region when inspected (ledger counts by region without a join).
    region_code: Mapped[str] = mapped_column(String(6), ForeignKey("region.code"))
    inspected_on: Mapped[date] = mapped_column(Date)
    conclusion: Mapped[str] = mapped_column(String(8))
    next_due_date: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    equipment: Mapped[Equipment] = relationship()
    agency: Mapped[Organization] = relationship()


def record_report(equipment: Equipment, agency: Organization, report_no: str, inspected_on: date,
                  conclusion: str, next_due_date: date | None) -> InspectionReport:
    """Store a report and keep the device's next inspection date consistent with its latest one."""
    if conclusion not in CONCLUSIONS:
        raise ValueError(f"unknown conclusion {conclusion}")
    report = InspectionReport(report_no=report_no, equipment_id=equipment.id, agency_org_id=agency.id,
                              region_code=equipment.region_code, inspected_on=inspected_on,
                              conclusion=conclusion, next_due_date=next_due_date)
    db.session.add(report)
    db.session.flush()
    latest = db.session.execute(select(InspectionReport.conclusion, InspectionReport.next_due_date)
                                .where(InspectionReport.equipment_id == equipment.id)
                                .order_by(InspectionReport.inspected_on.desc(), InspectionReport.id.desc())
                                .limit(1)).first()
    if latest is not None and latest.conclusion in PASSING:
        equipment.next_inspection_date = latest.next_due_date
    db.session.flush()
    return report


class DemoGeneration(db.Model):
    """Progress of `flask demo generate`, one row per stage: a stopped run continues here."""
    __tablename__ = "demo_generation"
    stage: Mapped[str] = mapped_column(String(32), primary_key=True)
    scale: Mapped[str] = mapped_column(String(16))
    done: Mapped[int] = mapped_column(Integer, default=0)
    target: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default="running")   # running | done
    info: Mapped[str | None] = mapped_column(Text)                       # JSON: templates, counters
    seconds: Mapped[float] = mapped_column(db.Float, default=0.0)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
