"""The overdue-inspection campaign's records: one disposal per case, every action on every device
(超期未检处理记录), 公告注销 announcements and the messages sent to the registration authority."""
from __future__ import annotations

import json
from datetime import date, datetime

from sqlalchemy import Date, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..cases.models import Case
from ..core.clock import utcnow
from ..core.models import Equipment, Organization, User
from ..extensions import db

MEASURES = {"order": "责令整改/立案查处", "stop": "停用拆除", "announce": "公告注销", "extension": "延期检验",
            "report": "录入检验信息"}
ORDER_KINDS = {"rectify": "责令整改", "investigation": "立案查处"}


class OverdueDisposal(db.Model):
    """超期未检处置: the business row of one overdue_inspection case."""
    __tablename__ = "overdue_disposal"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_record.id", ondelete="CASCADE"), unique=True)
    disposal_no: Mapped[str] = mapped_column(String(32), unique=True)          # = the case number
    equipment_id: Mapped[int] = mapped_column(ForeignKey("equipment.id"), index=True)
    use_org_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), index=True)
    region_code: Mapped[str] = mapped_column(String(6), ForeignKey("region.code"), index=True)
    # The device's due date when the case started (what it was overdue for).
    overdue_since: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), index=True)                # STATUS_LABELS
    measure: Mapped[str | None] = mapped_column(String(12))                    # MEASURES
    order_kind: Mapped[str | None] = mapped_column(String(16))                 # ORDER_KINDS
    letter_no: Mapped[str | None] = mapped_column(String(60))
    letter_requirements: Mapped[str | None] = mapped_column(Text)
    letter_deadline: Mapped[date | None] = mapped_column(Date, index=True)
    letter_issued_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    letter_issuer_region: Mapped[str | None] = mapped_column(String(6))
    register_deadline: Mapped[date | None] = mapped_column(Date)               # 停用/报废/注销登记 within 30 days
    extended_until: Mapped[date | None] = mapped_column(Date)
    auto_todos: Mapped[int] = mapped_column(Integer, default=0)
    outcome: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    case: Mapped[Case] = relationship(viewonly=True)
    equipment: Mapped[Equipment] = relationship()
    use_org: Mapped[Organization] = relationship()

    STATUS_LABELS = {"choosing": "待选择措施", "ordered": "责令整改中", "stopping": "待办理停用登记",
                     "announcing": "公告注销审核中", "extended": "延期检验中", "closed": "已办结"}

    @property
    def status_label(self) -> str:
        return self.STATUS_LABELS.get(self.status, self.status)

    @property
    def measure_label(self) -> str:
        if self.measure == "order" and self.order_kind:
            return ORDER_KINDS.get(self.order_kind, self.order_kind)
        return MEASURES.get(self.measure or "", "—")


class OverdueAction(db.Model):
    """超期未检处理记录: every action on every device, from cases and from 误报纠正 alike."""
    __tablename__ = "overdue_action"
    __table_args__ = (Index("ix_overdue_action_region_at", "region_code", "at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    equipment_id: Mapped[int] = mapped_column(ForeignKey("equipment.id", ondelete="CASCADE"), index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("case_record.id", ondelete="SET NULL"), index=True)
    region_code: Mapped[str] = mapped_column(String(6), ForeignKey("region.code"))
    use_org_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    action: Mapped[str] = mapped_column(String(24), index=True)                 # ACTION_LABELS
    measure: Mapped[str | None] = mapped_column(String(12))
    summary: Mapped[str] = mapped_column(String(500))
    reason: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[str | None] = mapped_column(Text)                           # JSON

    equipment: Mapped[Equipment] = relationship()
    actor: Mapped[User | None] = relationship()
    case: Mapped[Case | None] = relationship(viewonly=True)

    ACTION_LABELS = {
        "started": "发起处置", "measure": "选择措施", "letter_issued": "下达指令书", "auto_todo": "自动生成待办",
        "report_recorded": "录入检验信息", "stop_ordered": "责令停用拆除", "stop_registered": "办理停用/报废/注销登记",
        "announcement": "公告注销申请", "announcement_step": "公告注销审核", "announced": "公告注销", "extension": "批准延期检验",
        "correction": "误报纠正", "closed": "办结",
    }

    @property
    def action_label(self) -> str:
        return self.ACTION_LABELS.get(self.action, self.action)

    @property
    def detail_dict(self) -> dict:
        return json.loads(self.detail) if self.detail else {}


class Announcement(db.Model):
    """公告注销 (§4.5.2.5): raised by the supervisor, approved by the local head, summarised upward to the
    city and the province, published on the public page."""
    __tablename__ = "overdue_announcement"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_record.id", ondelete="CASCADE"), index=True)
    equipment_id: Mapped[int] = mapped_column(ForeignKey("equipment.id"), index=True)
    region_code: Mapped[str] = mapped_column(String(6), ForeignKey("region.code"), index=True)
    reason: Mapped[str] = mapped_column(String(20))
    reason_text: Mapped[str | None] = mapped_column(Text)
    evidence_ids: Mapped[str] = mapped_column(Text, default="[]")              # JSON attachment ids
    status: Mapped[str] = mapped_column(String(16), index=True)                # STATUS_LABELS
    announcement_no: Mapped[str | None] = mapped_column(String(40), unique=True)
    submitted_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    submitted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)

    equipment: Mapped[Equipment] = relationship()
    case: Mapped[Case] = relationship(viewonly=True)

    REASONS = {"long_stopped": "长期停用且未办理停用登记", "removed": "设备已拆除或灭失",
               "unit_dissolved": "使用单位已注销或被吊销", "unreachable": "使用单位无法联系", "other": "其他"}
    STATUS_LABELS = {"local": "待本级负责人审核", "city": "待市局汇总审核", "province": "待自治区局审核",
                     "published": "已公告", "rejected": "未通过"}

    @property
    def reason_label(self) -> str:
        return self.REASONS.get(self.reason, self.reason)

    @property
    def status_label(self) -> str:
        return self.STATUS_LABELS.get(self.status, self.status)


class AuthorityMessage(db.Model):
    """An outbound message to the use-registration authority (the result of a 公告注销), sent by the
    scheduler through the configured adapter (app/overdue/authority.py)."""
    __tablename__ = "authority_message"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))                              # announced_cancelled
    equipment_id: Mapped[int] = mapped_column(ForeignKey("equipment.id"), index=True)
    announcement_id: Mapped[int | None] = mapped_column(ForeignKey("overdue_announcement.id"))
    payload: Mapped[str] = mapped_column(Text)                                 # JSON, as sent
    status: Mapped[str] = mapped_column(String(12), default="pending", index=True)   # pending | sent | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_try_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    receipt: Mapped[str | None] = mapped_column(String(64))                    # the authority's receipt number
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    STATUS_LABELS = {"pending": "待发送", "sent": "已送达", "failed": "发送失败"}
