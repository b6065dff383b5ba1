"""task.draft: what the person working an open task saved without submitting (暂存)

Revision ID: 0015_ux
Revises: 0014
"""
from alembic import op
import sqlalchemy as sa

revision = "0015_ux"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("task", sa.Column("draft", sa.Text(), nullable=True))
    op.add_column("task", sa.Column("draft_saved_at", sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table("task") as batch_op:
        batch_op.drop_column("draft_saved_at")
        batch_op.drop_column("draft")
