"""The generator's progress record (inspection reports live in app/inspections)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..core.clock import utcnow
from ..extensions import db


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
