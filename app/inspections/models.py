"""Inspection reports: one inspection of one device by an inspection agency."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, DateTime, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..core.clock import utcnow
from ..core.models import Attachment, Equipment, Organization, User
from ..extensions import db


class InspectionReport(db.Model):
    """检验报告. The device's next inspection date is the next due date of its latest passing report
    (app/inspections/services.py keeps it so, and recomputes it from the whole history on demand)."""
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
    inspection_type: Mapped[str] = mapped_column(String(12), default="periodic", server_default="periodic")
    inspected_on: Mapped[date] = mapped_column(Date)
    conclusion: Mapped[str] = mapped_column(String(12))
    nonconformities: Mapped[str | None] = mapped_column(Text)          # 不符合项 / 问题, one per line
    next_due_date: Mapped[date | None] = mapped_column(Date)
    pdf_attachment_id: Mapped[int | None] = mapped_column(ForeignKey("attachment.id", ondelete="SET NULL"))
    source: Mapped[str] = mapped_column(String(12), default="system", server_default="system")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    equipment: Mapped[Equipment] = relationship()
    agency: Mapped[Organization] = relationship()
    pdf: Mapped[Attachment | None] = relationship()
    created_by: Mapped[User | None] = relationship()

    TYPE_LABELS = {"periodic": "定期检验", "supervision": "监督检验", "first": "首次检验"}
    SOURCE_LABELS = {"system": "系统", "import": "Excel 导入", "api": "接口", "web": "页面录入", "case": "超期处置录入"}

    @property
    def type_label(self) -> str:
        return self.TYPE_LABELS.get(self.inspection_type, self.inspection_type)
