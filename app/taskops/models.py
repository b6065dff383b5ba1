"""Side tables of the task operations: in-app notifications (催办 …) and case copies (抄送)."""
from __future__ import annotations

from datetime import datetime

from datetime import date

from sqlalchemy import Date, DateTime, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..cases.models import Case, Task
from ..core.clock import utcnow
from ..core.models import User
from ..extensions import db


class Notification(db.Model):
    """An in-app message to one user (shown in the top bar and under /notifications)."""
    __tablename__ = "notification"
    __table_args__ = (Index("ix_notification_user_unread", "user_id", "read_at"),
                      Index("ix_notification_dedup", "task_id", "user_id", "kind", "created_at"))
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    kind: Mapped[str] = mapped_column(String(16))        # KIND_LABELS
    case_id: Mapped[int | None] = mapped_column(ForeignKey("case_record.id", ondelete="CASCADE"), index=True)
    task_id: Mapped[int | None] = mapped_column(ForeignKey("task.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str | None] = mapped_column(String(1000))
    sender_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    case: Mapped[Case | None] = relationship(viewonly=True)
    task: Mapped[Task | None] = relationship(viewonly=True)
    sender: Mapped[User | None] = relationship(foreign_keys=[sender_id], viewonly=True)

    KIND_LABELS = {"urge": "催办", "copy": "抄送", "delegate": "委派", "transfer": "转办", "sign": "加签",
                   "notice": "通知", "rework": "退回整改", "return": "退回", "decision": "审核结果", "closed": "办结"}

    @property
    def kind_label(self) -> str:
        return self.KIND_LABELS.get(self.kind, self.kind)


class TaskSign(db.Model):
    """加签: a sign-off chain on an open task. `before` signers sign (in seq order) before the holder
    submits; `after` signers sign after the holder's submission, and only then the engine task completes.
    减签 marks a pending signer `removed`."""
    __tablename__ = "task_sign"
    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("task.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column()
    kind: Mapped[str] = mapped_column(String(8))          # before | after
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    status: Mapped[str] = mapped_column(String(8))        # pending | signed | removed
    opinion: Mapped[str | None] = mapped_column(Text)
    added_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    acted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    user: Mapped[User] = relationship(foreign_keys=[user_id])
    added_by: Mapped[User] = relationship(foreign_keys=[added_by_id])

    KIND_LABELS = {"before": "前加签", "after": "后加签"}
    STATUS_LABELS = {"pending": "待签署", "signed": "已签署", "removed": "已减签"}

    @property
    def kind_label(self) -> str:
        return self.KIND_LABELS.get(self.kind, self.kind)

    @property
    def status_label(self) -> str:
        return self.STATUS_LABELS.get(self.status, self.status)


class CaseCopy(db.Model):
    """抄送: a case copied to a person, by a user at a step or by the BPMN (`ccRoles`) when a step
    completes. A copy grants its recipient read access to the case (app/core/scope.py)."""
    __tablename__ = "case_copy"
    __table_args__ = (Index("ix_case_copy_user", "user_id", "read_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_record.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    task_id: Mapped[int | None] = mapped_column(ForeignKey("task.id", ondelete="SET NULL"))
    step_name: Mapped[str | None] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(8))        # manual | bpmn
    sender_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    case: Mapped[Case] = relationship(viewonly=True)
    user: Mapped[User] = relationship(foreign_keys=[user_id], viewonly=True)
    sender: Mapped[User | None] = relationship(foreign_keys=[sender_id], viewonly=True)


class UserDeputy(db.Model):
    """代理人: while `user` is away (starts_on..ends_on, local dates, inclusive), tasks that would be
    assigned to them personally go to `deputy`, and the deputy may work the tasks they had claimed."""
    __tablename__ = "user_deputy"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    deputy_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    note: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    user: Mapped[User] = relationship(foreign_keys=[user_id])
    deputy: Mapped[User] = relationship(foreign_keys=[deputy_id])
