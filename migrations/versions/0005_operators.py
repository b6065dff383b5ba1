"""operators, certificates and employment (§4.5.7)

Revision ID: 0005
Revises: 0004
"""
from alembic import op
import sqlalchemy as sa

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "operator",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=24), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("gender", sa.String(length=1), nullable=False),
        sa.Column("id_number_ref", sa.String(length=32), nullable=False),
        sa.Column("id_number_enc", sa.LargeBinary(), nullable=False),
        sa.Column("id_number_bidx", sa.String(length=32), nullable=False),
        sa.Column("id_number_masked", sa.String(length=18), nullable=False),
        sa.Column("education", sa.String(length=16), nullable=True),
        sa.Column("address", sa.String(length=300), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("phone_ref", sa.String(length=32), nullable=True),
        sa.Column("phone_enc", sa.LargeBinary(), nullable=True),
        sa.Column("phone_bidx", sa.String(length=32), nullable=True),
        sa.Column("phone_masked", sa.String(length=16), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.id"], name=op.f("fk_operator_user_id_user_account")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_operator")),
        sa.UniqueConstraint("public_id", name=op.f("uq_operator_public_id")),
        sa.UniqueConstraint("id_number_bidx", name=op.f("uq_operator_id_number_bidx")),
        sa.UniqueConstraint("user_id", name=op.f("uq_operator_user_id")),
    )
    with op.batch_alter_table("operator") as batch_op:
        batch_op.create_index(batch_op.f("ix_operator_name"), ["name"], unique=False)
        batch_op.create_index(batch_op.f("ix_operator_phone_bidx"), ["phone_bidx"], unique=False)

    op.create_table(
        "operator_certificate",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("operator_id", sa.Integer(), nullable=False),
        sa.Column("cert_no", sa.String(length=40), nullable=False),
        sa.Column("work_item", sa.String(length=4), nullable=False),
        sa.Column("issue_date", sa.Date(), nullable=False),
        sa.Column("expiry_date", sa.Date(), nullable=False),
        sa.Column("issuing_authority", sa.String(length=100), nullable=False),
        sa.Column("photo_attachment_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["operator_id"], ["operator.id"],
                                name=op.f("fk_operator_certificate_operator_id_operator"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["photo_attachment_id"], ["attachment.id"],
                                name=op.f("fk_operator_certificate_photo_attachment_id_attachment"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_operator_certificate")),
        sa.UniqueConstraint("cert_no", name=op.f("uq_operator_certificate_cert_no")),
    )
    with op.batch_alter_table("operator_certificate") as batch_op:
        batch_op.create_index(batch_op.f("ix_operator_certificate_operator_id"), ["operator_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_operator_certificate_work_item"), ["work_item"], unique=False)
        batch_op.create_index(batch_op.f("ix_operator_certificate_expiry_date"), ["expiry_date"], unique=False)

    op.create_table(
        "employment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("operator_id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("work_item", sa.String(length=4), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("started_on", sa.Date(), nullable=False),
        sa.Column("ended_on", sa.Date(), nullable=True),
        sa.Column("start_case_id", sa.Integer(), nullable=True),
        sa.Column("end_case_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["operator_id"], ["operator.id"], name=op.f("fk_employment_operator_id_operator")),
        sa.ForeignKeyConstraint(["org_id"], ["organization.id"], name=op.f("fk_employment_org_id_organization")),
        sa.ForeignKeyConstraint(["start_case_id"], ["case_record.id"],
                                name=op.f("fk_employment_start_case_id_case_record"), ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["end_case_id"], ["case_record.id"],
                                name=op.f("fk_employment_end_case_id_case_record"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_employment")),
    )
    with op.batch_alter_table("employment") as batch_op:
        batch_op.create_index(batch_op.f("ix_employment_operator_id"), ["operator_id"], unique=False)
        batch_op.create_index("ix_employment_org_status", ["org_id", "status"], unique=False)
    # At most one active employment per (operator, organisation, work item): a partial unique index.
    op.create_index("ux_employment_active", "employment", ["operator_id", "org_id", "work_item"], unique=True,
                    postgresql_where=sa.text("status = 'active'"), sqlite_where=sa.text("status = 'active'"))

    op.create_table(
        "employment_request",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("operator_id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("work_item", sa.String(length=4), nullable=False),
        sa.Column("certificate_id", sa.Integer(), nullable=True),
        sa.Column("cert_no", sa.String(length=40), nullable=True),
        sa.Column("employment_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("requested_by_id", sa.Integer(), nullable=False),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["case_record.id"], name=op.f("fk_employment_request_case_id_case_record"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["operator_id"], ["operator.id"], name=op.f("fk_employment_request_operator_id_operator")),
        sa.ForeignKeyConstraint(["org_id"], ["organization.id"], name=op.f("fk_employment_request_org_id_organization")),
        sa.ForeignKeyConstraint(["certificate_id"], ["operator_certificate.id"],
                                name=op.f("fk_employment_request_certificate_id_operator_certificate"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["employment_id"], ["employment.id"],
                                name=op.f("fk_employment_request_employment_id_employment")),
        sa.ForeignKeyConstraint(["requested_by_id"], ["user_account.id"],
                                name=op.f("fk_employment_request_requested_by_id_user_account")),
        sa.ForeignKeyConstraint(["decided_by_id"], ["user_account.id"],
                                name=op.f("fk_employment_request_decided_by_id_user_account")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_employment_request")),
        sa.UniqueConstraint("case_id", name=op.f("uq_employment_request_case_id")),
    )
    with op.batch_alter_table("employment_request") as batch_op:
        batch_op.create_index(batch_op.f("ix_employment_request_operator_id"), ["operator_id"], unique=False)
        batch_op.create_index("ix_employment_request_org_status", ["org_id", "status"], unique=False)
    # One open request per (operator, organisation, work item).
    op.create_index("ux_employment_request_pending", "employment_request", ["operator_id", "org_id", "work_item"],
                    unique=True, postgresql_where=sa.text("status = 'pending'"),
                    sqlite_where=sa.text("status = 'pending'"))


def downgrade():
    op.drop_index("ux_employment_request_pending", table_name="employment_request")
    op.drop_table("employment_request")
    op.drop_index("ux_employment_active", table_name="employment")
    op.drop_table("employment")
    op.drop_table("operator_certificate")
    op.drop_table("operator")
