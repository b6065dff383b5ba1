"""Saved inbox filters (常用筛选): the query args of the inbox as JSON, optionally shared."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..core.clock import utcnow
from ..cases.models import Case, Task
from ..core.models import User
from ..extensions import db

SHARE_LABELS = {"none": "仅自己", "role": "同角色", "region": "本辖区"}


class SavedFilter(db.Model):
    """`shared_with`: none (owner only) | role (users of `share_role`) | region (users whose region
    code starts with `share_region`, the owner's scope prefix when shared). Counts are always
    computed in the viewer's own scope: sharing shares the query, never data."""
    __tablename__ = "inbox_filter"
    __table_args__ = (UniqueConstraint("owner_id", "name", name="uq_inbox_filter_owner_name"),
                      Index("ix_inbox_filter_share", "shared_with", "share_role"))
    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(40))
    args: Mapped[str] = mapped_column(Text)
    shared_with: Mapped[str] = mapped_column(String(8), default="none")
    share_role: Mapped[str | None] = mapped_column(String(32))
    share_region: Mapped[str | None] = mapped_column(String(6))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    owner: Mapped[User] = relationship()

    @property
    def share_label(self) -> str:
        return SHARE_LABELS.get(self.shared_with, self.shared_with)


# The 待办 count's "unclaimed and I am a candidate" branch (migration 0011, found with bench/inbox.py):
# without these, PostgreSQL ANDs the candidate index with every unclaimed task (assignee_id IS NULL).
_UNCLAIMED = "status = 'open' AND assignee_id IS NULL"
Index("ix_task_unclaimed_regulator", Task.candidate_role, Task.candidate_region,
      postgresql_where=text(_UNCLAIMED), sqlite_where=text(_UNCLAIMED))
Index("ix_task_unclaimed_org", Task.candidate_role, Task.candidate_org_id,
      postgresql_where=text(_UNCLAIMED), sqlite_where=text(_UNCLAIMED))
# 我发起的 count (a busy supervisor started ~12,000 cases): index-only by starter and region.
Index("ix_case_record_started_by_region", Case.started_by_id, Case.region_code,
      postgresql_ops={"region_code": "varchar_pattern_ops"})
