"""the task carries its case's process key (issue 8): the inbox's process filter reads tasks alone

Revision ID: 0013
Revises: 0012
"""
from alembic import op
import sqlalchemy as sa

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade():
    # A case's process key never changes (a version migration keeps the key), so the copy on its
    # tasks stays true. Filled from the case, then NOT NULL where ALTER can say so in place.
    op.add_column("task", sa.Column("process_key", sa.String(length=64), nullable=True))
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("UPDATE task SET process_key = case_record.process_key FROM case_record "
                   "WHERE case_record.id = task.case_id")
        op.alter_column("task", "process_key", existing_type=sa.String(length=64), nullable=False)
    else:   # SQLite (development): rebuilding the table for NOT NULL is not worth it; the code always sets it
        op.execute("UPDATE task SET process_key = (SELECT process_key FROM case_record "
                   "WHERE case_record.id = task.case_id)")


def downgrade():
    with op.batch_alter_table("task") as batch_op:
        batch_op.drop_column("process_key")
