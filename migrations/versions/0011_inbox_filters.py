"""saved inbox filters (issue 3): inbox_filter

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


def downgrade():
    op.drop_index("ix_inbox_filter_share", table_name="inbox_filter")
    op.drop_index("ix_inbox_filter_owner_id", table_name="inbox_filter")
    op.drop_table("inbox_filter")
