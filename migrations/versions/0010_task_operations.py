"""task operations, copies and deputies (issue 3): delegate/urge columns on task, notification, case_copy

Revision ID: 0010
Revises: 0009
"""
from alembic import op
import sqlalchemy as sa

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("task", schema=None) as batch_op:
        batch_op.add_column(sa.Column("owner_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("delegate_state", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("urge_count", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("held_data", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("deputy_for_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key("fk_task_owner_id_user_account", "user_account", ["owner_id"], ["id"])
        batch_op.create_foreign_key("fk_task_deputy_for_id_user_account", "user_account", ["deputy_for_id"], ["id"])

    op.create_table(
        "notification",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("task_id", sa.Integer(), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.String(length=1000), nullable=True),
        sa.Column("sender_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.id"]),
        sa.ForeignKeyConstraint(["case_id"], ["case_record.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["task_id"], ["task.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["sender_id"], ["user_account.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_notification_user_unread", "notification", ["user_id", "read_at"])
    op.create_index("ix_notification_dedup", "notification", ["task_id", "user_id", "kind", "created_at"])
    op.create_index("ix_notification_case_id", "notification", ["case_id"])

    op.create_table(
        "case_copy",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=True),
        sa.Column("step_name", sa.String(length=200), nullable=True),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("sender_id", sa.Integer(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["case_record.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.id"]),
        sa.ForeignKeyConstraint(["task_id"], ["task.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["sender_id"], ["user_account.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_case_copy_user", "case_copy", ["user_id", "read_at"])
    op.create_index("ix_case_copy_case_id", "case_copy", ["case_id"])

    op.create_table(
        "task_sign",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("opinion", sa.Text(), nullable=True),
        sa.Column("added_by_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["task_id"], ["task.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.id"]),
        sa.ForeignKeyConstraint(["added_by_id"], ["user_account.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_task_sign_task_id", "task_sign", ["task_id"])

    op.create_table(
        "user_deputy",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("deputy_id", sa.Integer(), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("note", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.id"]),
        sa.ForeignKeyConstraint(["deputy_id"], ["user_account.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_user_deputy_user_id", "user_deputy", ["user_id"])
    op.create_index("ix_user_deputy_deputy_id", "user_deputy", ["deputy_id"])


def downgrade():
    op.drop_table("user_deputy")
    op.drop_table("task_sign")
    op.drop_table("case_copy")
    op.drop_table("notification")
    with op.batch_alter_table("task", schema=None) as batch_op:
        batch_op.drop_constraint("fk_task_deputy_for_id_user_account", type_="foreignkey")
        batch_op.drop_constraint("fk_task_owner_id_user_account", type_="foreignkey")
        batch_op.drop_column("deputy_for_id")
        batch_op.drop_column("held_data")
        batch_op.drop_column("urge_count")
        batch_op.drop_column("delegate_state")
        batch_op.drop_column("owner_id")
