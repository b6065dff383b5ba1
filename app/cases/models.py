"""Generic case, task (inbox projection), timeline and case parties — shared by every process."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..core.clock import utcnow
from ..core.columns import IndexedStatus
from ..core.models import Equipment, Organization, Region, User
from ..engine.models import ProcessVersion
from ..extensions import db

WARNING_LEVELS = ["none", "blue", "yellow", "orange", "red"]
WARNING_LABELS = {"none": "正常", "blue": "蓝色预警", "yellow": "黄色预警", "orange": "橙色预警", "red": "红色预警"}
WARNING_RANK = {level: i for i, level in enumerate(WARNING_LEVELS)}


class Case(db.Model):
    __tablename__ = "case_record"
    __table_args__ = (
        # Province-scale aggregates by region prefix (issue 8, migration 0008): index-only scans.
        Index("ix_case_record_region_process", "region_code", "process_key", "status",
              postgresql_ops={"region_code": "varchar_pattern_ops"}),
        Index("ix_case_record_running_region", "region_code", "warning_level",
              postgresql_ops={"region_code": "varchar_pattern_ops"},
              postgresql_where=text("status = 'running'"), sqlite_where=text("status = 'running'")),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    case_no: Mapped[str] = mapped_column(String(32), unique=True)
    process_key: Mapped[str] = mapped_column(String(64), index=True)
    process_version_id: Mapped[int] = mapped_column(ForeignKey("process_version.id"), index=True)
    title: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(IndexedStatus(16, ("running",)), default="running",
                                        index=True)  # running | closed | cancelled
    outcome: Mapped[str | None] = mapped_column(String(32))
    current_step: Mapped[str | None] = mapped_column(String(200))
    region_code: Mapped[str] = mapped_column(String(6), ForeignKey("region.code"), index=True)
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organization.id"), index=True)
    equipment_id: Mapped[int | None] = mapped_column(ForeignKey("equipment.id"), index=True)
    started_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    warning_level: Mapped[str] = mapped_column(String(8), default="none", index=True)
    next_timer_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    # A timer that failed to fire is retried with back-off; the last error is kept for the admin.
    timer_failures: Mapped[int] = mapped_column(Integer, default=0)
    timer_error: Mapped[str | None] = mapped_column(String(500))
    # The case clock (法定时限): paused while the case waits on the enterprise (补正 / 中止); see cases/clock.py.
    paused_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    paused_seconds: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    pause_reason: Mapped[str | None] = mapped_column(String(200))
    # Engine state: spec-less serialization as TEXT, never jsonb (see docs/架构说明.md).
    state: Mapped[str] = mapped_column(Text)
    serializer_version: Mapped[str] = mapped_column(String(16))
    lock_version: Mapped[int] = mapped_column(Integer, default=0)
    # Head of the timeline chain, written with every entry (engine/runtime.append_event): the newest
    # seq and hash, and timeline_mac = HMAC(K_timeline_head, case id | seq | hash) — deleting the
    # newest entries leaves a head that no longer matches them, and a rewound head needs the key.
    timeline_seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    timeline_hash: Mapped[str | None] = mapped_column(String(64))
    timeline_mac: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    process_version: Mapped[ProcessVersion] = relationship(viewonly=True)
    region: Mapped[Region] = relationship(viewonly=True)
    org: Mapped[Organization | None] = relationship(viewonly=True)
    equipment: Mapped[Equipment | None] = relationship(viewonly=True)
    started_by: Mapped[User] = relationship(viewonly=True)

    STATUS_LABELS = {"running": "办理中", "closed": "已办结", "cancelled": "已撤销"}

    @property
    def status_label(self) -> str:
        return self.STATUS_LABELS.get(self.status, self.status)


class CaseParty(db.Model):
    """Organisations that take part in a case and may therefore see it (enterprise scope)."""
    __tablename__ = "case_party"
    __table_args__ = (UniqueConstraint("case_id", "org_id", "relation"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_record.id", ondelete="CASCADE"), index=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), index=True)
    relation: Mapped[str] = mapped_column(String(32))   # owner | reporter | …


class Task(db.Model):
    """Projection of the engine's READY user tasks: the inbox never deserialises a workflow."""
    __tablename__ = "task"
    __table_args__ = (
        Index("ix_task_inbox_regulator", "status", "candidate_role", "candidate_region"),
        Index("ix_task_inbox_org", "status", "candidate_role", "candidate_org_id"),
        # Issue 8 (migration 0008): a user's claimed open tasks without the thousands they completed,
        # and the 已办 box newest first.
        Index("ix_task_open_assignee", "assignee_id",
              postgresql_where=text("status = 'open'"), sqlite_where=text("status = 'open'")),
        Index("ix_task_done_by", "completed_by_id", "completed_at", "id",
              postgresql_where=text("status = 'completed'"), sqlite_where=text("status = 'completed'")),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_record.id", ondelete="CASCADE"), index=True)
    spiff_task_id: Mapped[str] = mapped_column(String(36), unique=True)
    # the case's process (never changes): the inbox's process filter needs no join to the case
    process_key: Mapped[str] = mapped_column(String(64))
    task_def: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    lane: Mapped[str | None] = mapped_column(String(64))
    form_key: Mapped[str | None] = mapped_column(String(64))
    candidate_role: Mapped[str] = mapped_column(String(32))
    candidate_region: Mapped[str | None] = mapped_column(String(6))
    candidate_org_id: Mapped[int | None] = mapped_column(ForeignKey("organization.id"))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), index=True)
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    warning_level: Mapped[str] = mapped_column(String(8), default="none")
    status: Mapped[str] = mapped_column(IndexedStatus(16, ("open", "completed")),
                                        default="open")   # open | completed | cancelled
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    completed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), index=True)
    data: Mapped[str | None] = mapped_column(Text)   # the submitted form (JSON text)
    # Task operations (app/taskops): 委派 keeps the owner while the delegate works (pending → resolved);
    # 催办 counts reminders sent to the holder.
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    # None | pending (委派中) | resolved (已归还) | signing (前加签中) | countersign (已提交，后加签中)
    delegate_state: Mapped[str | None] = mapped_column(String(16))
    held_data: Mapped[str | None] = mapped_column(Text)   # 后加签: the owner's submission (JSON) until signed
    deputy_for_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))  # 代理人: assigned on X's behalf
    urge_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # 暂存: the holder's unsent form (JSON), prefilled when they come back; never validated or run
    draft: Mapped[str | None] = mapped_column(Text, deferred=True)
    draft_saved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    case: Mapped[Case] = relationship(viewonly=True)
    assignee: Mapped[User | None] = relationship(foreign_keys=[assignee_id], viewonly=True)
    completed_by: Mapped[User | None] = relationship(foreign_keys=[completed_by_id], viewonly=True)
    owner: Mapped[User | None] = relationship(foreign_keys=[owner_id], viewonly=True)
    deputy_for: Mapped[User | None] = relationship(foreign_keys=[deputy_for_id], viewonly=True)
    candidate_org: Mapped[Organization | None] = relationship(viewonly=True)

    STATUS_LABELS = {"open": "待办理", "completed": "已办理", "cancelled": "已取消"}

    @property
    def status_label(self) -> str:
        return self.STATUS_LABELS.get(self.status, self.status)


class CaseEvent(db.Model):
    """The timeline: append-only, each entry chained to the previous one of its case by SM3."""
    __tablename__ = "case_event"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_record.id", ondelete="CASCADE"))  # (case_id, seq) unique
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    kind: Mapped[str] = mapped_column(String(32))   # started | completed | claimed | unclaimed | log | …
    task_def: Mapped[str | None] = mapped_column(String(64))
    step_name: Mapped[str | None] = mapped_column(String(200))
    summary: Mapped[str] = mapped_column(String(500))
    comment: Mapped[str | None] = mapped_column(Text)
    data: Mapped[str | None] = mapped_column(Text)          # JSON text
    attachment_ids: Mapped[str | None] = mapped_column(String(500))  # JSON list
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))

    actor: Mapped[User | None] = relationship(viewonly=True)

    __table_args__ = (UniqueConstraint("case_id", "seq"),)
