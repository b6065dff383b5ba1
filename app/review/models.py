"""Returns and the reviewer's notes on fields of the returned step's form."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..core.clock import utcnow
from ..core.models import User
from ..extensions import db


class CaseReturn(db.Model):
    """One 退回: from the reviewer's task back to an earlier step of the same case."""
    __tablename__ = "case_return"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_record.id", ondelete="CASCADE"), index=True)
    from_task_id: Mapped[int] = mapped_column(ForeignKey("task.id"))
    from_task_def: Mapped[str] = mapped_column(String(64))
    target_task_def: Mapped[str] = mapped_column(String(64))
    target_name: Mapped[str] = mapped_column(String(200))
    previous_task_id: Mapped[int | None] = mapped_column(ForeignKey("task.id"))   # the submission returned
    reopened_task_id: Mapped[int | None] = mapped_column(ForeignKey("task.id"), index=True)
    reason: Mapped[str] = mapped_column(Text)
    actor_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    actor: Mapped[User] = relationship()
    notes: Mapped[list["ReviewNote"]] = relationship(order_by="ReviewNote.id", back_populates="case_return")


class ReviewNote(db.Model):
    """The reviewer's note on one field of the returned step's submission ("铭牌照片不清晰")."""
    __tablename__ = "review_note"
    id: Mapped[int] = mapped_column(primary_key=True)
    return_id: Mapped[int] = mapped_column(ForeignKey("case_return.id", ondelete="CASCADE"), index=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_record.id", ondelete="CASCADE"), index=True)
    task_def: Mapped[str] = mapped_column(String(64))
    field: Mapped[str] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(String(500))

    case_return: Mapped[CaseReturn] = relationship(back_populates="notes")
