"""returns (退回) and field review notes (issue 3)

Revision ID: 0012
Revises: 0011
"""
from alembic import op
import sqlalchemy as sa

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "case_return",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("case_record.id", ondelete="CASCADE"), nullable=False),
        sa.Column("from_task_id", sa.Integer, sa.ForeignKey("task.id"), nullable=False),
        sa.Column("from_task_def", sa.String(64), nullable=False),
        sa.Column("target_task_def", sa.String(64), nullable=False),
        sa.Column("target_name", sa.String(200), nullable=False),
        sa.Column("previous_task_id", sa.Integer, sa.ForeignKey("task.id")),
        sa.Column("reopened_task_id", sa.Integer, sa.ForeignKey("task.id")),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("actor_id", sa.Integer, sa.ForeignKey("user_account.id"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_case_return_case_id", "case_return", ["case_id"])
    op.create_index("ix_case_return_reopened_task_id", "case_return", ["reopened_task_id"])
    op.create_table(
        "review_note",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("return_id", sa.Integer, sa.ForeignKey("case_return.id", ondelete="CASCADE"), nullable=False),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("case_record.id", ondelete="CASCADE"), nullable=False),
        sa.Column("task_def", sa.String(64), nullable=False),
        sa.Column("field", sa.String(64), nullable=False),
        sa.Column("note", sa.String(500), nullable=False),
    )
    op.create_index("ix_review_note_return_id", "review_note", ["return_id"])
    op.create_index("ix_review_note_case_id", "review_note", ["case_id"])


def downgrade():
    op.drop_table("review_note")
    op.drop_table("case_return")
