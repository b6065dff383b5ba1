"""Drafts being edited by process admins, and the durable record of every change they make."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..core.clock import utcnow
from ..core.models import User
from ..extensions import db


class ProcessDraft(db.Model):
    """A working copy. kind=process: BPMN + the DMN files it calls + its forms (a whole bundle);
    kind=decision: one stand-alone DMN file (dmn_json holds {filename: xml}).
    At most one open (not deployed, not discarded) draft per (kind, key)."""
    __tablename__ = "process_draft"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), default="process")        # process | decision
    key: Mapped[str] = mapped_column(String(64), index=True)                 # process key or decision id
    base_version: Mapped[int | None] = mapped_column(Integer)                # version number it started from
    bpmn_xml: Mapped[str] = mapped_column(Text, default="")
    dmn_json: Mapped[str] = mapped_column(Text, default="{}")
    forms_json: Mapped[str] = mapped_column(Text, default="{}")
    content_sm3: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="unchecked", index=True)
    # unchecked | valid | invalid | deployed | discarded
    issues_json: Mapped[str | None] = mapped_column(Text)
    deployed_version: Mapped[int | None] = mapped_column(Integer)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    created_by: Mapped[User] = relationship(foreign_keys=[created_by_id])
    updated_by: Mapped[User] = relationship(foreign_keys=[updated_by_id])

    STATUS_LABELS = {"unchecked": "未校验", "valid": "校验通过", "invalid": "校验未通过", "deployed": "已部署",
                     "discarded": "已放弃"}

    @property
    def status_label(self) -> str:
        return self.STATUS_LABELS.get(self.status, self.status)


class ProcessChange(db.Model):
    """Who changed what, when, with the SM3 hash of the content. Written only by
    procadmin.services.record_change()."""
    __tablename__ = "process_change"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), index=True)
    action: Mapped[str] = mapped_column(String(16), index=True)   # save | upload | deploy | migrate | discard
    kind: Mapped[str] = mapped_column(String(16))                 # process | decision | case
    key: Mapped[str] = mapped_column(String(64), index=True)
    object: Mapped[str] = mapped_column(String(200))               # e.g. "major_hazard.bpmn", "表单 verify", case no
    version: Mapped[int | None] = mapped_column(Integer)
    draft_id: Mapped[int | None] = mapped_column(Integer)
    case_id: Mapped[int | None] = mapped_column(Integer)
    content_sm3: Mapped[str | None] = mapped_column(String(64))
    summary: Mapped[str] = mapped_column(String(500))

    actor: Mapped[User | None] = relationship()

    ACTION_LABELS = {"save": "保存草稿", "upload": "上传文件", "deploy": "部署", "migrate": "迁移案件",
                     "discard": "放弃草稿"}

    @property
    def action_label(self) -> str:
        return self.ACTION_LABELS.get(self.action, self.action)
