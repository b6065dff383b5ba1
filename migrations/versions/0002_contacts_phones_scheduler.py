"""organisation contacts, encrypted phones, scheduler job runs, timer retry columns

Revision ID: 0002
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _phone_columns():
    return [sa.Column("phone_ref", sa.String(length=32), nullable=True),
            sa.Column("phone_enc", sa.LargeBinary(), nullable=True),
            sa.Column("phone_bidx", sa.String(length=32), nullable=True),
            sa.Column("phone_masked", sa.String(length=16), nullable=True)]


def upgrade():
    op.create_table(
        "org_contact",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("duty", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("receives_sms", sa.Boolean(), nullable=False),
        *_phone_columns(),
        sa.ForeignKeyConstraint(["org_id"], ["organization.id"], name=op.f("fk_org_contact_org_id_organization"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_org_contact")),
    )
    with op.batch_alter_table("org_contact") as batch_op:
        batch_op.create_index(batch_op.f("ix_org_contact_org_id"), ["org_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_org_contact_phone_bidx"), ["phone_bidx"], unique=False)
    with op.batch_alter_table("user_account") as batch_op:
        for column in _phone_columns():
            batch_op.add_column(column)
        batch_op.create_index(batch_op.f("ix_user_account_phone_bidx"), ["phone_bidx"], unique=False)
    # A plain-text phone must not stay at rest; contacts now live in org_contact (encrypted).
    with op.batch_alter_table("organization") as batch_op:
        batch_op.drop_column("contact_phone")
    with op.batch_alter_table("case_record") as batch_op:
        batch_op.add_column(sa.Column("timer_failures", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("timer_error", sa.String(length=500), nullable=True))
    # (case_id, seq) is unique already: its index serves every lookup by case.
    with op.batch_alter_table("case_event") as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_event_case_id"))
    op.create_table(
        "job_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job", sa.String(length=40), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.Column("items", sa.Integer(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("host", sa.String(length=100), nullable=True),
        sa.Column("started_by_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_run")),
    )
    with op.batch_alter_table("job_run") as batch_op:
        batch_op.create_index(batch_op.f("ix_job_run_job"), ["job"], unique=False)
        batch_op.create_index(batch_op.f("ix_job_run_started_at"), ["started_at"], unique=False)


def downgrade():
    op.drop_table("job_run")
    with op.batch_alter_table("case_event") as batch_op:
        batch_op.create_index(batch_op.f("ix_case_event_case_id"), ["case_id"], unique=False)
    with op.batch_alter_table("case_record") as batch_op:
        batch_op.drop_column("timer_error")
        batch_op.drop_column("timer_failures")
    with op.batch_alter_table("organization") as batch_op:
        batch_op.add_column(sa.Column("contact_phone", sa.String(length=32), nullable=True))
    with op.batch_alter_table("user_account") as batch_op:
        batch_op.drop_index(batch_op.f("ix_user_account_phone_bidx"))
        for name in ("phone_masked", "phone_bidx", "phone_enc", "phone_ref"):
            batch_op.drop_column(name)
    op.drop_table("org_contact")
