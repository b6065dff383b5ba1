"""Registry facts beyond devices and units themselves: units' licences and inspectors' certificates
(the expiry warnings of §4.5.4 read them)."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, DateTime, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..core.clock import utcnow
from ..core.models import Organization
from ..extensions import db


class UnitLicence(db.Model):
    """A unit's licence or approval: 特种设备生产许可证, 检验检测机构核准证, 充装许可证 …"""
    __tablename__ = "unit_licence"
    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))                      # KIND_LABELS
    cert_no: Mapped[str] = mapped_column(String(60), unique=True)
    item: Mapped[str | None] = mapped_column(String(200))             # 许可项目 / 核准项目
    issued_on: Mapped[date | None] = mapped_column(Date)
    expiry_date: Mapped[date] = mapped_column(Date, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    org: Mapped[Organization] = relationship()

    KIND_LABELS = {"production": "特种设备生产许可证", "agency_approval": "特种设备检验检测机构核准证",
                   "filling": "气瓶充装许可证", "maintenance": "电梯维护保养许可"}

    @property
    def kind_label(self) -> str:
        return self.KIND_LABELS.get(self.kind, self.kind)


class InspectorCertificate(db.Model):
    """An inspection agency's inspector and their certificate (检验员证 / 检验师证)."""
    __tablename__ = "inspector_certificate"
    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"), index=True)
    person_name: Mapped[str] = mapped_column(String(64))
    cert_name: Mapped[str] = mapped_column(String(64))
    cert_no: Mapped[str] = mapped_column(String(60), unique=True)
    expiry_date: Mapped[date] = mapped_column(Date, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    org: Mapped[Organization] = relationship()
