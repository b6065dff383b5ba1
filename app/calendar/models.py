"""Special days of the working-day calendar. Ordinary weekends (Sat/Sun) need no row."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..core.clock import utcnow
from ..core.models import User
from ..extensions import db

KIND_LABELS = {"holiday": "放假", "workday": "调休上班"}
YEAR_STATUS_LABELS = {"loaded": "已发布并录入", "unpublished": "未发布（仅按周末计算）"}


class WorkCalendarYear(db.Model):
    """Whether a year's 国务院办公厅 holiday notice has been entered (status `loaded`) or is not yet
    published (`unpublished`: only weekends count as rest days)."""
    __tablename__ = "work_calendar_year"
    id: Mapped[int] = mapped_column(primary_key=True)
    year: Mapped[int] = mapped_column(Integer, unique=True)
    status: Mapped[str] = mapped_column(String(16))
    source: Mapped[str | None] = mapped_column(String(500))
    source_url: Mapped[str | None] = mapped_column(String(500))
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    updated_by: Mapped[User | None] = relationship()

    @property
    def status_label(self) -> str:
        return YEAR_STATUS_LABELS.get(self.status, self.status)


class WorkCalendarDay(db.Model):
    __tablename__ = "work_calendar_day"
    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(Date, unique=True)
    kind: Mapped[str] = mapped_column(String(16))        # holiday | workday
    name: Mapped[str] = mapped_column(String(50))         # 元旦、春节、国庆节调休…
    source: Mapped[str | None] = mapped_column(String(500))
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    updated_by: Mapped[User | None] = relationship()

    @property
    def kind_label(self) -> str:
        return KIND_LABELS.get(self.kind, self.kind)
