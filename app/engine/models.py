"""Deployed process versions: BPMN + DMN + forms, frozen by content hash."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..core.clock import utcnow
from ..extensions import db


class ProcessVersion(db.Model):
    __tablename__ = "process_version"
    __table_args__ = (UniqueConstraint("process_key", "version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    process_key: Mapped[str] = mapped_column(String(64), index=True)
    version: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(128))
    # The texts (tens of kB) load only when read: requests use the per-worker caches of registry.py.
    bpmn_xml: Mapped[str] = mapped_column(Text, deferred=True)
    dmn_json: Mapped[str] = mapped_column(Text, deferred=True)       # {"file.dmn": "<xml>", …}
    forms_json: Mapped[str] = mapped_column(Text, deferred=True)     # {"form_key": {schema}, …}
    spec_json: Mapped[str] = mapped_column(Text, deferred=True)      # serialized spec + subprocess specs (engine cache)
    content_sha256: Mapped[str] = mapped_column(String(64), index=True)
    deployed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    deployed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))


class DecisionVersion(db.Model):
    """DMN decision tables that application code evaluates (e.g. warning colours)."""
    __tablename__ = "decision_version"
    __table_args__ = (UniqueConstraint("decision_id", "version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    decision_id: Mapped[str] = mapped_column(String(64), index=True)
    version: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(128))
    filename: Mapped[str] = mapped_column(String(128))
    dmn_xml: Mapped[str] = mapped_column(Text)
    content_sha256: Mapped[str] = mapped_column(String(64))
    deployed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    deployed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
