"""province-scale data (issue 8): inspection reports, generator progress, indexes for the
inbox, ledger and dashboard queries at Guangxi scale

Revision ID: 0008
Revises: 0007
"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "inspection_report",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("report_no", sa.String(length=40), nullable=False),
        sa.Column("equipment_id", sa.Integer(), nullable=False),
        sa.Column("agency_org_id", sa.Integer(), nullable=False),
        sa.Column("region_code", sa.String(length=6), nullable=False),
        sa.Column("inspected_on", sa.Date(), nullable=False),
        sa.Column("conclusion", sa.String(length=8), nullable=False),
        sa.Column("next_due_date", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["equipment_id"], ["equipment.id"], ondelete="CASCADE",
                                name=op.f("fk_inspection_report_equipment_id_equipment")),
        sa.ForeignKeyConstraint(["agency_org_id"], ["organization.id"],
                                name=op.f("fk_inspection_report_agency_org_id_organization")),
        sa.ForeignKeyConstraint(["region_code"], ["region.code"],
                                name=op.f("fk_inspection_report_region_code_region")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inspection_report")),
        sa.UniqueConstraint("report_no", name=op.f("uq_inspection_report_report_no")),
    )
    # A device's reports, newest first (its history page, the latest-report lookup).
    op.create_index("ix_inspection_report_equipment_date", "inspection_report", ["equipment_id", "inspected_on"])
    op.create_index(op.f("ix_inspection_report_agency_org_id"), "inspection_report", ["agency_org_id"])
    op.create_table(
        "demo_generation",
        sa.Column("stage", sa.String(length=32), nullable=False),
        sa.Column("scale", sa.String(length=16), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("target", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("info", sa.Text(), nullable=True),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("stage", name=op.f("pk_demo_generation")),
    )


def downgrade():
    op.drop_table("demo_generation")
    op.drop_index(op.f("ix_inspection_report_agency_org_id"), table_name="inspection_report")
    op.drop_index("ix_inspection_report_equipment_date", table_name="inspection_report")
    op.drop_table("inspection_report")
