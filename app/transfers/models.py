"""Mobile equipment transfer (移动式设备交接, §4.5.9): an application to move movable equipment
from its current supervising authority to another county bureau, and the devices it moves."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..cases.models import Case
from ..core.clock import utcnow
from ..core.models import Equipment, Organization, Region, User
from ..extensions import db


class EquipmentTransfer(db.Model):
    """变更登记申请. from_region is the supervising authority the devices leave (原监察机构),
    to_region the county bureau that reviews and takes them over (变更监察机构)."""
    __tablename__ = "equipment_transfer"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_record.id", ondelete="CASCADE"), unique=True)
    transfer_no: Mapped[str] = mapped_column(String(32), unique=True)      # = the case number
    property_org_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), index=True)   # 产权单位
    applicant_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    from_region: Mapped[str] = mapped_column(String(6), ForeignKey("region.code"), index=True)
    to_region: Mapped[str] = mapped_column(String(6), ForeignKey("region.code"), index=True)
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), index=True)            # pending | approved | rejected
    opinion: Mapped[str | None] = mapped_column(Text)                      # the reviewer's opinion
    reject_reason: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    # Deleting (rejected applications only) hides the record; the case and its timeline stay.
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    deleted_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    case: Mapped[Case] = relationship(viewonly=True)
    property_org: Mapped[Organization] = relationship()
    applicant: Mapped[User] = relationship(foreign_keys=[applicant_id])
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])
    from_region_row: Mapped[Region] = relationship(foreign_keys=[from_region])
    to_region_row: Mapped[Region] = relationship(foreign_keys=[to_region])
    items: Mapped[list[TransferItem]] = relationship(back_populates="transfer", order_by="TransferItem.id",
                                                      cascade="all, delete-orphan")

    STATUS_LABELS = {"pending": "待审核", "approved": "已通过", "rejected": "已驳回"}

    @property
    def status_label(self) -> str:
        return self.STATUS_LABELS.get(self.status, self.status)


class TransferItem(db.Model):
    __tablename__ = "transfer_item"
    __table_args__ = (UniqueConstraint("transfer_id", "equipment_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    transfer_id: Mapped[int] = mapped_column(ForeignKey("equipment_transfer.id", ondelete="CASCADE"), index=True)
    equipment_id: Mapped[int] = mapped_column(ForeignKey("equipment.id"), index=True)
    from_region: Mapped[str] = mapped_column(String(6), ForeignKey("region.code"))
    to_region: Mapped[str] = mapped_column(String(6), ForeignKey("region.code"))
    # equipment_id while the application is pending, NULL once decided: the unique constraint
    # keeps a device out of two pending applications even when two are filed at the same moment.
    pending_equipment_id: Mapped[int | None] = mapped_column(Integer, unique=True)

    transfer: Mapped[EquipmentTransfer] = relationship(back_populates="items")
    equipment: Mapped[Equipment] = relationship()
