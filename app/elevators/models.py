"""Paperless elevator maintenance (电梯无纸化维保): elevator facts beside the registry's `equipment` row,
maintenance contracts, the maintenance items (TSG T5002 Annex A–D, editable), plans, work orders with
their item results, photos and signatures.

An elevator is an `equipment` row of 种类 3000; this package never copies the registry: position and
address stay on `equipment` (lat/lng/address), the facts here are 1:1 by `equipment_id`.
"""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (Boolean, Date, DateTime, Float, ForeignKey, Index, Integer, String, Text,
                        UniqueConstraint)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..core.clock import utcnow
from ..core.columns import IndexedStatus
from ..core.models import Attachment, Equipment, Organization, User
from ..extensions import db

ELEVATOR_TYPES = {"traction": "曳引与强制驱动电梯", "hydraulic": "液压驱动电梯", "dumbwaiter": "杂物电梯",
                  "escalator": "自动扶梯", "moving_walk": "自动人行道"}
ELEVATOR_TYPE_SHORT = {"traction": "曳引", "hydraulic": "液压", "dumbwaiter": "杂物", "escalator": "自动扶梯",
                       "moving_walk": "自动人行道"}
# TSG T5002-2017 annex per elevator type (附件A 曳引与强制驱动, B 液压, C 杂物, D 自动扶梯与自动人行道).
ANNEX_OF_TYPE = {"traction": "A", "hydraulic": "B", "dumbwaiter": "C", "escalator": "D", "moving_walk": "D"}
# Maintenance types, cumulative (季度 = 半月 + 季度 items …), in TSG T5002 order.
MAINT_TYPES = {"HALF": "半月维保", "QUARTER": "季度维保", "HALF_YEAR": "半年维保", "YEAR": "年度维保"}
MAINT_ORDER = ["HALF", "QUARTER", "HALF_YEAR", "YEAR"]
RESULTS = {"ok": "合格", "fail": "不合格", "na": "不适用"}
KEY_POSITIONS = {"machine_room": "机房", "car_top": "轿顶", "pit": "底坑", "landing": "层站", "truss": "桁架/梯级"}


class ElevatorFacts(db.Model):
    """Elevator facts of one registered device (1:1 with equipment)."""
    __tablename__ = "elevator"
    id: Mapped[int] = mapped_column(primary_key=True)
    equipment_id: Mapped[int] = mapped_column(ForeignKey("equipment.id", ondelete="CASCADE"), unique=True)
    elevator_type: Mapped[str] = mapped_column(String(16))            # ELEVATOR_TYPES
    floors: Mapped[int | None] = mapped_column(Integer)               # 层站数 (escalators: None)
    speed: Mapped[float | None] = mapped_column(Float)                # m/s
    rated_load: Mapped[int | None] = mapped_column(Integer)           # kg
    rescue_code: Mapped[str] = mapped_column(String(20), unique=True)  # 96111 救援识别码
    site: Mapped[str | None] = mapped_column(String(120))             # 小区/楼栋/位置
    chip_id: Mapped[str | None] = mapped_column(String(64), unique=True)   # 安全芯 (NFC tag) bound by the unit
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    equipment: Mapped[Equipment] = relationship()

    @property
    def type_label(self) -> str:
        return ELEVATOR_TYPES.get(self.elevator_type, self.elevator_type)

    @property
    def annex(self) -> str:
        return ANNEX_OF_TYPE.get(self.elevator_type, "A")


class MaintenanceContract(db.Model):
    """维保合同: which unit maintains the elevator for whom, from when to when, every how many days."""
    __tablename__ = "elevator_contract"
    __table_args__ = (Index("ix_elevator_contract_maint", "maintenance_org_id", "ends_on"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    equipment_id: Mapped[int] = mapped_column(ForeignKey("equipment.id", ondelete="CASCADE"), index=True)
    maintenance_org_id: Mapped[int] = mapped_column(ForeignKey("organization.id"))
    use_org_id: Mapped[int] = mapped_column(ForeignKey("organization.id"))
    contract_no: Mapped[str | None] = mapped_column(String(40))
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    cycle_days: Mapped[int] = mapped_column(Integer, default=15)      # half-monthly: at most 15
    quality_sign_required: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    equipment: Mapped[Equipment] = relationship()
    maintenance_org: Mapped[Organization] = relationship(foreign_keys=[maintenance_org_id])
    use_org: Mapped[Organization] = relationship(foreign_keys=[use_org_id])


class MaintenanceItem(db.Model):
    """One 维保项目 (item, requirement) of an annex table; the photo flag and key position are ours."""
    __tablename__ = "elevator_item"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)        # A-1-01
    annex: Mapped[str] = mapped_column(String(1), index=True)         # A B C D
    frequency: Mapped[str] = mapped_column(String(10))                # HALF QUARTER HALF_YEAR YEAR
    seq: Mapped[int] = mapped_column(Integer)
    item: Mapped[str] = mapped_column(String(200))
    requirement: Mapped[str] = mapped_column(String(500))
    photo_required: Mapped[bool] = mapped_column(Boolean, default=False)
    key_position: Mapped[str | None] = mapped_column(String(16))      # KEY_POSITIONS: shown on the public page
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    source: Mapped[str | None] = mapped_column(String(200))
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))

    @property
    def frequency_label(self) -> str:
        return MAINT_TYPES.get(self.frequency, self.frequency).replace("维保", "")


class MaintenancePlan(db.Model):
    """维保计划: one visit due on a day; `maint_type` says which items fall due (cumulative)."""
    __tablename__ = "elevator_plan"
    __table_args__ = (Index("ix_elevator_plan_due", "equipment_id", "due_on"),
                      Index("ix_elevator_plan_org_status", "maintenance_org_id", "status", "due_on"))
    id: Mapped[int] = mapped_column(primary_key=True)
    equipment_id: Mapped[int] = mapped_column(ForeignKey("equipment.id", ondelete="CASCADE"))
    contract_id: Mapped[int | None] = mapped_column(ForeignKey("elevator_contract.id", ondelete="SET NULL"))
    maintenance_org_id: Mapped[int] = mapped_column(ForeignKey("organization.id"))
    due_on: Mapped[date] = mapped_column(Date)
    maint_type: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(IndexedStatus(10, ("planned",)), default="planned")   # planned | done
    work_order_id: Mapped[int | None] = mapped_column(Integer)
    done_on: Mapped[date | None] = mapped_column(Date)
    edited_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    edited_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    equipment: Mapped[Equipment] = relationship()

    @property
    def maint_type_label(self) -> str:
        return MAINT_TYPES.get(self.maint_type, self.maint_type)

    def overdue_on(self, day: date) -> bool:
        return self.status == "planned" and self.due_on < day


class WorkOrder(db.Model):
    """One visit (维保 or 维修): check-in, items, photos, signatures, check-out, sign-off."""
    __tablename__ = "elevator_work_order"
    __table_args__ = (Index("ix_elevator_wo_equipment", "equipment_id", "kind", "checkin_at"),
                      Index("ix_elevator_wo_maint_org", "maintenance_org_id", "kind", "checkin_at"),
                      Index("ix_elevator_wo_region", "region_code", "kind", "checkin_at"))
    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)   # generated by the phone: idempotency
    order_no: Mapped[str] = mapped_column(String(24), unique=True)
    kind: Mapped[str] = mapped_column(String(12), default="maintenance")   # maintenance | repair
    equipment_id: Mapped[int] = mapped_column(ForeignKey("equipment.id"))
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("elevator_plan.id", ondelete="SET NULL"))
    maintenance_org_id: Mapped[int] = mapped_column(ForeignKey("organization.id"))
    use_org_id: Mapped[int] = mapped_column(ForeignKey("organization.id"))
    region_code: Mapped[str] = mapped_column(String(6))
    maint_type: Mapped[str | None] = mapped_column(String(10))
    maintainer_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    coworker_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    status: Mapped[str] = mapped_column(String(12), default="in_progress")
    checkin_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    checkin_lat: Mapped[float] = mapped_column(Float)
    checkin_lng: Mapped[float] = mapped_column(Float)
    checkin_distance: Mapped[int] = mapped_column(Integer)
    checkin_proof: Mapped[str] = mapped_column(String(16), default="qr")       # qr | code | nfc
    face_attachment_id: Mapped[int | None] = mapped_column(ForeignKey("attachment.id"))
    face_result: Mapped[str | None] = mapped_column(String(120))
    checkout_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    checkout_lat: Mapped[float | None] = mapped_column(Float)
    checkout_lng: Mapped[float | None] = mapped_column(Float)
    checkout_distance: Mapped[int | None] = mapped_column(Integer)
    fault_description: Mapped[str | None] = mapped_column(Text)        # repairs
    parts: Mapped[str | None] = mapped_column(Text)                    # repairs: 更换配件
    remark: Mapped[str | None] = mapped_column(Text)
    maintainer_signature_id: Mapped[int | None] = mapped_column(ForeignKey("attachment.id"))
    coworker_signature_id: Mapped[int | None] = mapped_column(ForeignKey("attachment.id"))
    safety_signature_id: Mapped[int | None] = mapped_column(ForeignKey("attachment.id"))
    quality_signature_id: Mapped[int | None] = mapped_column(ForeignKey("attachment.id"))
    safety_signed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    safety_signed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    quality_signed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    quality_signed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    return_reason: Mapped[str | None] = mapped_column(Text)
    returned_count: Mapped[int] = mapped_column(Integer, default=0)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("case_record.id", ondelete="SET NULL"), index=True)
    pdf_attachment_id: Mapped[int | None] = mapped_column(ForeignKey("attachment.id"))
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    archived_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    offline: Mapped[bool] = mapped_column(Boolean, default=False)      # uploaded from the offline queue
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    equipment: Mapped[Equipment] = relationship()
    maintenance_org: Mapped[Organization] = relationship(foreign_keys=[maintenance_org_id])
    use_org: Mapped[Organization] = relationship(foreign_keys=[use_org_id])
    maintainer: Mapped[User] = relationship(foreign_keys=[maintainer_id])
    coworker: Mapped[User | None] = relationship(foreign_keys=[coworker_id])
    safety_signed_by: Mapped[User | None] = relationship(foreign_keys=[safety_signed_by_id])
    quality_signed_by: Mapped[User | None] = relationship(foreign_keys=[quality_signed_by_id])
    results: Mapped[list["WorkOrderItem"]] = relationship(back_populates="order", order_by="WorkOrderItem.id",
                                                          cascade="all, delete-orphan")
    photos: Mapped[list["WorkPhoto"]] = relationship(back_populates="order", order_by="WorkPhoto.id",
                                                     cascade="all, delete-orphan")

    KIND_LABELS = {"maintenance": "维保", "repair": "维修"}
    STATUS_LABELS = {"in_progress": "作业中", "submitted": "待使用单位确认", "returned": "已退回",
                     "quality": "待质量负责人签字", "archived": "已归档"}

    @property
    def kind_label(self) -> str:
        return self.KIND_LABELS.get(self.kind, self.kind)

    @property
    def status_label(self) -> str:
        return self.STATUS_LABELS.get(self.status, self.status)

    @property
    def maint_type_label(self) -> str:
        return MAINT_TYPES.get(self.maint_type or "", "维修" if self.kind == "repair" else "")


class WorkOrderItem(db.Model):
    __tablename__ = "elevator_work_item"
    __table_args__ = (UniqueConstraint("work_order_id", "item_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    work_order_id: Mapped[int] = mapped_column(ForeignKey("elevator_work_order.id", ondelete="CASCADE"))
    item_id: Mapped[int] = mapped_column(ForeignKey("elevator_item.id"))
    result: Mapped[str] = mapped_column(String(4))                     # ok | fail | na
    note: Mapped[str | None] = mapped_column(String(500))

    order: Mapped[WorkOrder] = relationship(back_populates="results")
    item: Mapped[MaintenanceItem] = relationship()

    @property
    def result_label(self) -> str:
        return RESULTS.get(self.result, self.result)


class WorkPhoto(db.Model):
    """A photo taken in the page: the watermarked copy is stored, with the original's SM3, when and where."""
    __tablename__ = "elevator_photo"
    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    work_order_id: Mapped[int] = mapped_column(ForeignKey("elevator_work_order.id", ondelete="CASCADE"), index=True)
    item_id: Mapped[int | None] = mapped_column(ForeignKey("elevator_item.id"))
    purpose: Mapped[str] = mapped_column(String(10), default="item")   # item | repair | face
    attachment_id: Mapped[int] = mapped_column(ForeignKey("attachment.id"))
    original_sm3: Mapped[str] = mapped_column(String(64))
    taken_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    lat: Mapped[float] = mapped_column(Float)
    lng: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    order: Mapped[WorkOrder] = relationship(back_populates="photos")
    item: Mapped[MaintenanceItem | None] = relationship()
    attachment: Mapped[Attachment] = relationship()
