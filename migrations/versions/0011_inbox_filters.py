"""saved inbox filters (issue 3): inbox_filter; partial indexes of unclaimed open tasks for the 待办 count

Revision ID: 0011
Revises: 0010
"""
from alembic import op
import sqlalchemy as sa

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "inbox_filter",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("args", sa.Text(), nullable=False),
        sa.Column("shared_with", sa.String(length=8), nullable=False),
        sa.Column("share_role", sa.String(length=32), nullable=True),
        sa.Column("share_region", sa.String(length=6), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["owner_id"], ["user_account.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("owner_id", "name", name="uq_inbox_filter_owner_name"),
    )
    op.create_index("ix_inbox_filter_owner_id", "inbox_filter", ["owner_id"])
    op.create_index("ix_inbox_filter_share", "inbox_filter", ["shared_with", "share_role"])
    # bench/inbox.py on the province data: the 待办 count ANDed the candidate index with all
    # ~260,000 unclaimed tasks; these partial indexes answer "unclaimed, my role and region/unit".
    unclaimed = sa.text("status = 'open' AND assignee_id IS NULL")
    op.create_index("ix_task_unclaimed_regulator", "task", ["candidate_role", "candidate_region"],
                    postgresql_where=unclaimed, sqlite_where=unclaimed)
    op.create_index("ix_task_unclaimed_org", "task", ["candidate_role", "candidate_org_id"],
                    postgresql_where=unclaimed, sqlite_where=unclaimed)
    # the 我发起的 count of a supervisor who started ~12,000 cases: index-only by starter and region
    op.create_index("ix_case_record_started_by_region", "case_record", ["started_by_id", "region_code"],
                    postgresql_ops={"region_code": "varchar_pattern_ops"})


def downgrade():
    op.drop_index("ix_case_record_started_by_region", table_name="case_record")
    op.drop_index("ix_task_unclaimed_org", table_name="task")
    op.drop_index("ix_task_unclaimed_regulator", table_name="task")
    op.drop_index("ix_inbox_filter_share", table_name="inbox_filter")
    op.drop_index("ix_inbox_filter_owner_id", table_name="inbox_filter")
    op.drop_table("inbox_filter")
