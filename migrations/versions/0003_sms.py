"""SMS warning centre: templates and the outbox / record of every message (§4.5.4)

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "sms_template",
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("audience", sa.String(length=12), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("sample_params", sa.Text(), nullable=False),
        sa.Column("provider_template_code", sa.String(length=40), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("reviewed", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["updated_by_id"], ["user_account.id"],
                                name=op.f("fk_sms_template_updated_by_id_user_account")),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_sms_template")),
    )
    with op.batch_alter_table("sms_template") as batch_op:
        batch_op.create_index(batch_op.f("ix_sms_template_category"), ["category"], unique=False)

    op.create_table(
        "sms_message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("template_code", sa.String(length=40), nullable=False),
        sa.Column("params", sa.Text(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("audience", sa.String(length=12), nullable=False),
        sa.Column("recipient_name", sa.String(length=64), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("region_code", sa.String(length=6), nullable=True),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("dedup_key", sa.String(length=120), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_try_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("provider", sa.String(length=16), nullable=True),
        sa.Column("provider_msg_id", sa.String(length=64), nullable=True),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("phone_ref", sa.String(length=32), nullable=True),
        sa.Column("phone_enc", sa.LargeBinary(), nullable=True),
        sa.Column("phone_bidx", sa.String(length=32), nullable=True),
        sa.Column("phone_masked", sa.String(length=16), nullable=True),
        sa.ForeignKeyConstraint(["template_code"], ["sms_template.code"],
                                name=op.f("fk_sms_message_template_code_sms_template")),
        sa.ForeignKeyConstraint(["org_id"], ["organization.id"], name=op.f("fk_sms_message_org_id_organization")),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.id"], name=op.f("fk_sms_message_user_id_user_account")),
        sa.ForeignKeyConstraint(["case_id"], ["case_record.id"], name=op.f("fk_sms_message_case_id_case_record"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["created_by_id"], ["user_account.id"],
                                name=op.f("fk_sms_message_created_by_id_user_account")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sms_message")),
        # Re-running a job never queues the same reminder twice (a NULL dedup_key has no effect).
        sa.UniqueConstraint("dedup_key", "phone_bidx", name=op.f("uq_sms_message_dedup_key")),
    )
    with op.batch_alter_table("sms_message") as batch_op:
        for column in ("template_code", "org_id", "user_id", "region_code", "case_id", "provider_msg_id"):
            batch_op.create_index(batch_op.f(f"ix_sms_message_{column}"), [column], unique=False)
        batch_op.create_index("ix_sms_message_audience_created", ["audience", "created_at"], unique=False)
        batch_op.create_index("ix_sms_message_due", ["status", "next_try_at"], unique=False)
        batch_op.create_index("ix_sms_message_phone_created", ["phone_bidx", "created_at"], unique=False)


def downgrade():
    op.drop_table("sms_message")
    op.drop_table("sms_template")
