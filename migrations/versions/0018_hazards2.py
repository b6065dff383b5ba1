"""Hazard module: editing/deleting a reported hazard before acceptance, criteria configuration with version
history, technical units' requirements and the inspection report a hazard came from, general hazards
and hazard-checking plans, 通报 with read receipts

Revision ID: 0018_hazards2
Revises: 0018_complaints
"""
import sqlalchemy as sa
from alembic import op

revision = "0018_hazards2"
down_revision = "0018_complaints"
branch_labels = None
depends_on = None


def _fk(name, cols, table, ref, ondelete=None):
    return sa.ForeignKeyConstraint(cols, [f"{table}.{ref}"], name=op.f(name), ondelete=ondelete)


def upgrade():
    with op.batch_alter_table("hazard_criterion") as batch:
        batch.add_column(sa.Column("cause_class", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("version", sa.Integer(), server_default="1", nullable=False))
        batch.add_column(sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("updated_by_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(op.f("fk_hazard_criterion_updated_by_id_user_account"), "user_account",
                                 ["updated_by_id"], ["id"])
    op.create_table(
        "hazard_criterion_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("criterion_id", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("snapshot", sa.Text(), nullable=False),
        sa.Column("summary", sa.String(length=500), nullable=False),
        sa.Column("changed_by_id", sa.Integer(), nullable=True),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        _fk("fk_hazard_criterion_version_criterion_id_hazard_criterion", ["criterion_id"], "hazard_criterion", "id",
            "CASCADE"),
        _fk("fk_hazard_criterion_version_changed_by_id_user_account", ["changed_by_id"], "user_account", "id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hazard_criterion_version")),
    )
    op.create_index(op.f("ix_hazard_criterion_version_criterion_id"), "hazard_criterion_version", ["criterion_id"])
    with op.batch_alter_table("hazard") as batch:
        batch.add_column(sa.Column("reporter_requirements", sa.Text(), nullable=True))
        batch.add_column(sa.Column("inspection_report_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_foreign_key(op.f("fk_hazard_inspection_report_id_inspection_report"), "inspection_report",
                                 ["inspection_report_id"], ["id"], ondelete="SET NULL")
        batch.create_index(op.f("ix_hazard_inspection_report_id"), ["inspection_report_id"])

    op.create_table(
        "general_hazard_plan",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("period", sa.String(length=12), nullable=False),
        sa.Column("content", sa.Text(), nullable=True),
        sa.Column("inspector_name", sa.String(length=64), nullable=True),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        _fk("fk_general_hazard_plan_org_id_organization", ["org_id"], "organization", "id"),
        _fk("fk_general_hazard_plan_created_by_id_user_account", ["created_by_id"], "user_account", "id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_general_hazard_plan")),
    )
    op.create_index(op.f("ix_general_hazard_plan_org_id"), "general_hazard_plan", ["org_id"])
    op.create_table(
        "general_hazard_check",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("period_key", sa.String(length=10), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("finding", sa.String(length=12), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("done_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        _fk("fk_general_hazard_check_plan_id_general_hazard_plan", ["plan_id"], "general_hazard_plan", "id",
            "CASCADE"),
        _fk("fk_general_hazard_check_org_id_organization", ["org_id"], "organization", "id"),
        _fk("fk_general_hazard_check_done_by_id_user_account", ["done_by_id"], "user_account", "id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_general_hazard_check")),
        sa.UniqueConstraint("plan_id", "period_key", name="uq_general_hazard_check_plan_period"),
    )
    op.create_index("ix_general_hazard_check_org_status", "general_hazard_check", ["org_id", "status", "due_on"])
    op.create_table(
        "general_hazard",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("hazard_no", sa.String(length=32), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("region_code", sa.String(length=6), nullable=False),
        sa.Column("equipment_id", sa.Integer(), nullable=True),
        sa.Column("category", sa.String(length=16), nullable=False),
        sa.Column("hazard_count", sa.Integer(), nullable=False),
        sa.Column("level", sa.String(length=8), nullable=False),
        sa.Column("main_problem", sa.Text(), nullable=False),
        sa.Column("found_at", sa.String(length=200), nullable=False),
        sa.Column("found_on", sa.Date(), nullable=False),
        sa.Column("deadline", sa.Date(), nullable=False),
        sa.Column("related_source", sa.String(length=16), nullable=False),
        sa.Column("inspector_name", sa.String(length=64), nullable=False),
        sa.Column("inspecting_unit", sa.String(length=200), nullable=False),
        sa.Column("check_kind", sa.String(length=16), nullable=False),
        sa.Column("check_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("rectified_on", sa.Date(), nullable=True),
        sa.Column("handler", sa.String(length=64), nullable=True),
        sa.Column("rectify_result", sa.Text(), nullable=True),
        sa.Column("returned_count", sa.Integer(), nullable=False),
        sa.Column("evaluation", sa.Text(), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        _fk("fk_general_hazard_case_id_case_record", ["case_id"], "case_record", "id", "CASCADE"),
        _fk("fk_general_hazard_org_id_organization", ["org_id"], "organization", "id"),
        _fk("fk_general_hazard_region_code_region", ["region_code"], "region", "code"),
        _fk("fk_general_hazard_equipment_id_equipment", ["equipment_id"], "equipment", "id"),
        _fk("fk_general_hazard_check_id_general_hazard_check", ["check_id"], "general_hazard_check", "id",
            "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_general_hazard")),
        sa.UniqueConstraint("case_id", name=op.f("uq_general_hazard_case_id")),
        sa.UniqueConstraint("hazard_no", name=op.f("uq_general_hazard_hazard_no")),
    )
    op.create_index(op.f("ix_general_hazard_equipment_id"), "general_hazard", ["equipment_id"])
    op.create_index(op.f("ix_general_hazard_check_id"), "general_hazard", ["check_id"])
    op.create_index("ix_general_hazard_org_status", "general_hazard", ["org_id", "status"])
    op.create_index("ix_general_hazard_region_created", "general_hazard", ["region_code", "created_at"])

    op.create_table(
        "hazard_bulletin",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("bulletin_no", sa.String(length=40), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("issuer_region", sa.String(length=6), nullable=False),
        sa.Column("scope_region", sa.String(length=6), nullable=False),
        sa.Column("period_from", sa.Date(), nullable=False),
        sa.Column("period_to", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("remarks", sa.Text(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("approved_by_id", sa.Integer(), nullable=True),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("approval_opinion", sa.Text(), nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        _fk("fk_hazard_bulletin_issuer_region_region", ["issuer_region"], "region", "code"),
        _fk("fk_hazard_bulletin_scope_region_region", ["scope_region"], "region", "code"),
        _fk("fk_hazard_bulletin_created_by_id_user_account", ["created_by_id"], "user_account", "id"),
        _fk("fk_hazard_bulletin_approved_by_id_user_account", ["approved_by_id"], "user_account", "id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hazard_bulletin")),
        sa.UniqueConstraint("bulletin_no", name=op.f("uq_hazard_bulletin_bulletin_no")),
    )
    op.create_index(op.f("ix_hazard_bulletin_issuer_region"), "hazard_bulletin", ["issuer_region"])
    op.create_index(op.f("ix_hazard_bulletin_status"), "hazard_bulletin", ["status"])
    op.create_table(
        "hazard_bulletin_receipt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("bulletin_id", sa.Integer(), nullable=False),
        sa.Column("region_code", sa.String(length=6), nullable=False),
        sa.Column("read_by_id", sa.Integer(), nullable=True),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        _fk("fk_hazard_bulletin_receipt_bulletin_id_hazard_bulletin", ["bulletin_id"], "hazard_bulletin", "id",
            "CASCADE"),
        _fk("fk_hazard_bulletin_receipt_region_code_region", ["region_code"], "region", "code"),
        _fk("fk_hazard_bulletin_receipt_read_by_id_user_account", ["read_by_id"], "user_account", "id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hazard_bulletin_receipt")),
        sa.UniqueConstraint("bulletin_id", "region_code", name="uq_hazard_bulletin_receipt_region"),
    )
    op.create_index(op.f("ix_hazard_bulletin_receipt_region_code"), "hazard_bulletin_receipt", ["region_code"])


def downgrade():
    for table in ("hazard_bulletin_receipt", "hazard_bulletin", "general_hazard", "general_hazard_check",
                  "general_hazard_plan"):
        op.drop_table(table)
    with op.batch_alter_table("hazard") as batch:
        batch.drop_index(op.f("ix_hazard_inspection_report_id"))
        batch.drop_constraint(op.f("fk_hazard_inspection_report_id_inspection_report"), type_="foreignkey")
        for column in ("deleted_at", "updated_at", "inspection_report_id", "reporter_requirements"):
            batch.drop_column(column)
    op.drop_index(op.f("ix_hazard_criterion_version_criterion_id"), table_name="hazard_criterion_version")
    op.drop_table("hazard_criterion_version")
    with op.batch_alter_table("hazard_criterion") as batch:
        batch.drop_constraint(op.f("fk_hazard_criterion_updated_by_id_user_account"), type_="foreignkey")
        for column in ("updated_by_id", "updated_at", "version", "cause_class"):
            batch.drop_column(column)
