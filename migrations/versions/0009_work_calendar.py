"""working-day calendar and paused case clock (issue 3)

- work_calendar_year: one row per year whose 国务院办公厅 holiday notice is (or is not yet) entered;
- work_calendar_day: the special days of a year (holiday 放假 / workday 调休上班); ordinary weekends need no row;
- case_record: paused_at / paused_seconds / pause_reason — the case clock (补正 / 中止).

Revision ID: 0009
Revises: 0008
"""
from alembic import op
import sqlalchemy as sa

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "work_calendar_year",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=500), nullable=True),
        sa.Column("source_url", sa.String(length=500), nullable=True),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["updated_by_id"], ["user_account.id"],
                                name=op.f("fk_work_calendar_year_updated_by_id_user_account")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_work_calendar_year")),
        sa.UniqueConstraint("year", name=op.f("uq_work_calendar_year_year")),
    )
    op.create_table(
        "work_calendar_day",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("source", sa.String(length=500), nullable=True),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["updated_by_id"], ["user_account.id"],
                                name=op.f("fk_work_calendar_day_updated_by_id_user_account")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_work_calendar_day")),
        sa.UniqueConstraint("day", name=op.f("uq_work_calendar_day_day")),
    )
    with op.batch_alter_table("case_record", schema=None) as batch_op:
        batch_op.add_column(sa.Column("paused_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("paused_seconds", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("pause_reason", sa.String(length=200), nullable=True))


def downgrade():
    with op.batch_alter_table("case_record", schema=None) as batch_op:
        batch_op.drop_column("pause_reason")
        batch_op.drop_column("paused_seconds")
        batch_op.drop_column("paused_at")
    op.drop_table("work_calendar_day")
    op.drop_table("work_calendar_year")
