"""无需无纸化维保电梯 (§4.6.1): a use unit's application listing the elevators that cannot be maintained
paperlessly, the local bureau's decision (approved elevators are exempt until a date), and the work
orders the maintenance unit back-fills for exempt elevators (工单补录, stored as elevator work orders).

An elevator is exempt on a day when an approved application lists it and the day lies within the
application's validity (`valid_from` … `valid_until`)."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..core.clock import utcnow
from ..core.models import Equipment, Organization, User
from ..extensions import db


class Exemption(db.Model):
    """One application (申请) of a use unit, one case of workflows/elevator_exemption.bpmn."""
    __tablename__ = "elevator_exemption"
    __table_args__ = (Index("ix_elevator_exemption_region", "region_code", "created_at"),
                      Index("ix_elevator_exemption_org", "use_org_id", "created_at"))
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_record.id", ondelete="CASCADE"), unique=True)
    app_no: Mapped[str] = mapped_column(String(24), unique=True)
    use_org_id: Mapped[int] = mapped_column(ForeignKey("organization.id"))
    region_code: Mapped[str] = mapped_column(String(6))
    applicant_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(12), default="pending")
    valid_from: Mapped[date | None] = mapped_column(Date)
    valid_until: Mapped[date | None] = mapped_column(Date)
    opinion: Mapped[str | None] = mapped_column(Text)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    returned_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    use_org: Mapped[Organization] = relationship(foreign_keys=[use_org_id])
    applicant: Mapped[User] = relationship(foreign_keys=[applicant_id])
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])
    items: Mapped[list["ExemptionItem"]] = relationship(back_populates="exemption", order_by="ExemptionItem.id",
                                                        cascade="all, delete-orphan")

    STATUS_LABELS = {"pending": "待审核", "returned": "已退回", "approved": "已批准", "withdrawn": "已撤回"}

    @property
    def status_label(self) -> str:
        return self.STATUS_LABELS.get(self.status, self.status)

    def valid_on(self, day: date) -> bool:
        return (self.status == "approved" and self.valid_from is not None and self.valid_from <= day
                and (self.valid_until is None or day <= self.valid_until))


class ExemptionItem(db.Model):
    """An elevator listed in an application (its maintenance unit as it was when applied)."""
    __tablename__ = "elevator_exemption_item"
    __table_args__ = (UniqueConstraint("exemption_id", "equipment_id"),
                      Index("ix_elevator_exemption_item_equipment", "equipment_id"))
    id: Mapped[int] = mapped_column(primary_key=True)
    exemption_id: Mapped[int] = mapped_column(ForeignKey("elevator_exemption.id", ondelete="CASCADE"))
    equipment_id: Mapped[int] = mapped_column(ForeignKey("equipment.id"))
    maintenance_org_id: Mapped[int | None] = mapped_column(ForeignKey("organization.id"))

    exemption: Mapped[Exemption] = relationship(back_populates="items")
    equipment: Mapped[Equipment] = relationship()
    maintenance_org: Mapped[Organization | None] = relationship()


class Backfill(db.Model):
    """工单补录: who entered a back-filled work order (an archived `elevator_work_order`), under which
    exemption, with which scanned paper records (attachment ids, checked by decoding on upload)."""
    __tablename__ = "elevator_backfill"
    id: Mapped[int] = mapped_column(primary_key=True)
    work_order_id: Mapped[int] = mapped_column(ForeignKey("elevator_work_order.id", ondelete="CASCADE"), unique=True)
    exemption_id: Mapped[int] = mapped_column(ForeignKey("elevator_exemption.id"), index=True)
    entered_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    entered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    attachment_ids: Mapped[str | None] = mapped_column(String(400))      # JSON list
    note: Mapped[str | None] = mapped_column(Text)

    exemption: Mapped[Exemption] = relationship()
    entered_by: Mapped[User] = relationship()
