"""超期未检专项整治: disposals, the action log (超期未检处理记录), 公告注销 announcements, messages to the
registration authority; units' licences and inspectors' certificates (expiry warnings)

Revision ID: 0016_registry_overdue
Revises: 0015_registry
"""
import sqlalchemy as sa
from alembic import op

revision = "0016_registry_overdue"
down_revision = "0015_registry"
branch_labels = None
depends_on = None


def _fk(name, cols, table, ref, ondelete=None):
    return sa.ForeignKeyConstraint(cols, [f"{table}.{ref}"], name=op.f(name), ondelete=ondelete)


def upgrade():
    op.create_table(
        "overdue_disposal",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("disposal_no", sa.String(length=32), nullable=False),
        sa.Column("equipment_id", sa.Integer(), nullable=False),
        sa.Column("use_org_id", sa.Integer(), nullable=False),
        sa.Column("region_code", sa.String(length=6), nullable=False),
        sa.Column("overdue_since", sa.Date(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("measure", sa.String(length=12), nullable=True),
        sa.Column("order_kind", sa.String(length=16), nullable=True),
        sa.Column("letter_no", sa.String(length=60), nullable=True),
        sa.Column("letter_requirements", sa.Text(), nullable=True),
        sa.Column("letter_deadline", sa.Date(), nullable=True),
        sa.Column("letter_issued_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("letter_issuer_region", sa.String(length=6), nullable=True),
        sa.Column("register_deadline", sa.Date(), nullable=True),
        sa.Column("extended_until", sa.Date(), nullable=True),
        sa.Column("auto_todos", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=40), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        _fk("fk_overdue_disposal_case_id_case_record", ["case_id"], "case_record", "id", "CASCADE"),
        _fk("fk_overdue_disposal_equipment_id_equipment", ["equipment_id"], "equipment", "id"),
        _fk("fk_overdue_disposal_use_org_id_organization", ["use_org_id"], "organization", "id"),
        _fk("fk_overdue_disposal_region_code_region", ["region_code"], "region", "code"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_overdue_disposal")),
        sa.UniqueConstraint("case_id", name=op.f("uq_overdue_disposal_case_id")),
        sa.UniqueConstraint("disposal_no", name=op.f("uq_overdue_disposal_disposal_no")),
    )
    for column in ("equipment_id", "use_org_id", "region_code", "status", "letter_deadline", "created_at"):
        op.create_index(op.f(f"ix_overdue_disposal_{column}"), "overdue_disposal", [column])

    op.create_table(
        "overdue_action",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("equipment_id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("region_code", sa.String(length=6), nullable=False),
        sa.Column("use_org_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=24), nullable=False),
        sa.Column("measure", sa.String(length=12), nullable=True),
        sa.Column("summary", sa.String(length=500), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        _fk("fk_overdue_action_equipment_id_equipment", ["equipment_id"], "equipment", "id", "CASCADE"),
        _fk("fk_overdue_action_case_id_case_record", ["case_id"], "case_record", "id", "SET NULL"),
        _fk("fk_overdue_action_region_code_region", ["region_code"], "region", "code"),
        _fk("fk_overdue_action_use_org_id_organization", ["use_org_id"], "organization", "id"),
        _fk("fk_overdue_action_actor_id_user_account", ["actor_id"], "user_account", "id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_overdue_action")),
    )
    for column in ("equipment_id", "case_id", "use_org_id", "action"):
        op.create_index(op.f(f"ix_overdue_action_{column}"), "overdue_action", [column])
    op.create_index("ix_overdue_action_region_at", "overdue_action", ["region_code", "at"])

    op.create_table(
        "overdue_announcement",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("equipment_id", sa.Integer(), nullable=False),
        sa.Column("region_code", sa.String(length=6), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("reason_text", sa.Text(), nullable=True),
        sa.Column("evidence_ids", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("announcement_no", sa.String(length=40), nullable=True),
        sa.Column("submitted_by_id", sa.Integer(), nullable=True),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        _fk("fk_overdue_announcement_case_id_case_record", ["case_id"], "case_record", "id", "CASCADE"),
        _fk("fk_overdue_announcement_equipment_id_equipment", ["equipment_id"], "equipment", "id"),
        _fk("fk_overdue_announcement_region_code_region", ["region_code"], "region", "code"),
        _fk("fk_overdue_announcement_submitted_by_id_user_account", ["submitted_by_id"], "user_account", "id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_overdue_announcement")),
        sa.UniqueConstraint("announcement_no", name=op.f("uq_overdue_announcement_announcement_no")),
    )
    for column in ("case_id", "equipment_id", "region_code", "status", "published_at"):
        op.create_index(op.f(f"ix_overdue_announcement_{column}"), "overdue_announcement", [column])

    op.create_table(
        "authority_message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("equipment_id", sa.Integer(), nullable=False),
        sa.Column("announcement_id", sa.Integer(), nullable=True),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_try_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("receipt", sa.String(length=64), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        _fk("fk_authority_message_equipment_id_equipment", ["equipment_id"], "equipment", "id"),
        _fk("fk_authority_message_announcement_id_overdue_announcement", ["announcement_id"], "overdue_announcement", "id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_authority_message")),
    )
    op.create_index(op.f("ix_authority_message_equipment_id"), "authority_message", ["equipment_id"])
    op.create_index(op.f("ix_authority_message_status"), "authority_message", ["status"])

    op.create_table(
        "unit_licence",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("cert_no", sa.String(length=60), nullable=False),
        sa.Column("item", sa.String(length=200), nullable=True),
        sa.Column("issued_on", sa.Date(), nullable=True),
        sa.Column("expiry_date", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        _fk("fk_unit_licence_org_id_organization", ["org_id"], "organization", "id", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_unit_licence")),
        sa.UniqueConstraint("cert_no", name=op.f("uq_unit_licence_cert_no")),
    )
    op.create_index(op.f("ix_unit_licence_org_id"), "unit_licence", ["org_id"])
    op.create_index(op.f("ix_unit_licence_expiry_date"), "unit_licence", ["expiry_date"])
    op.create_table(
        "inspector_certificate",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("person_name", sa.String(length=64), nullable=False),
        sa.Column("cert_name", sa.String(length=64), nullable=False),
        sa.Column("cert_no", sa.String(length=60), nullable=False),
        sa.Column("expiry_date", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        _fk("fk_inspector_certificate_org_id_organization", ["org_id"], "organization", "id", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inspector_certificate")),
        sa.UniqueConstraint("cert_no", name=op.f("uq_inspector_certificate_cert_no")),
    )
    op.create_index(op.f("ix_inspector_certificate_org_id"), "inspector_certificate", ["org_id"])
    op.create_index(op.f("ix_inspector_certificate_expiry_date"), "inspector_certificate", ["expiry_date"])


def downgrade():
    for table in ("inspector_certificate", "unit_licence", "authority_message", "overdue_announcement",
                  "overdue_action", "overdue_disposal"):
        op.drop_table(table)
