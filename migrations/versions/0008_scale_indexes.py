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
    op.create_index("ix_inspection_report_inspected_on", "inspection_report", ["inspected_on"],
                    postgresql_include=["region_code", "conclusion"])
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

    # Found with bench/queries.py on the province data (docs/性能与规模.md):
    # - the 待办 query's "assignee_id = me" branch read every task the user ever completed
    #   (claimed tasks keep their assignee) — thousands of heap rows per inbox view;
    op.create_index("ix_task_open_assignee", "task", ["assignee_id"],
                    postgresql_where=sa.text("status = 'open'"), sqlite_where=sa.text("status = 'open'"))
    # - the 已办 box sorted all of a user's completed tasks to show 20;
    op.create_index("ix_task_done_by", "task", ["completed_by_id", "completed_at", "id"],
                    postgresql_where=sa.text("status = 'completed'"), sqlite_where=sa.text("status = 'completed'"))
    # - overview counts by region prefix scanned whole tables (pattern ops: prefix LIKE under any collation).
    op.create_index("ix_case_record_region_process", "case_record", ["region_code", "process_key", "status"],
                    postgresql_ops={"region_code": "varchar_pattern_ops"})
    op.create_index("ix_case_record_running_region", "case_record", ["region_code", "warning_level"],
                    postgresql_ops={"region_code": "varchar_pattern_ops"},
                    postgresql_where=sa.text("status = 'running'"), sqlite_where=sa.text("status = 'running'"))
    op.create_index("ix_hazard_region_status", "hazard", ["region_code", "status", "warning_level", "rectify_deadline"],
                    postgresql_ops={"region_code": "varchar_pattern_ops"})
    op.create_index("ix_hazard_region_created", "hazard", ["region_code", "created_at"])
    op.create_index("ix_equipment_region_inspection", "equipment", ["region_code", "status", "next_inspection_date"],
                    postgresql_ops={"region_code": "varchar_pattern_ops"})

    bind = op.get_bind()
    if bind.dialect.name == "postgresql" and bind.execute(sa.text(
            "SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' AND 'lz4' = ANY(enumvals)")).first():
        # The engine state (10–25 kB of JSON per case) is rewritten on every action: lz4 compresses
        # it several times faster than the default pglz, for a somewhat larger TOAST table.
        op.execute("ALTER TABLE case_record ALTER COLUMN state SET COMPRESSION lz4")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE case_record ALTER COLUMN state SET COMPRESSION default")
    for name, table in (("ix_equipment_region_inspection", "equipment"), ("ix_hazard_region_created", "hazard"),
                        ("ix_hazard_region_status", "hazard"),
                        ("ix_case_record_running_region", "case_record"),
                        ("ix_case_record_region_process", "case_record"), ("ix_task_done_by", "task"),
                        ("ix_task_open_assignee", "task"),
                        ("ix_inspection_report_inspected_on", "inspection_report")):
        op.drop_index(name, table_name=table)
    op.drop_table("demo_generation")
    op.drop_index(op.f("ix_inspection_report_agency_org_id"), table_name="inspection_report")
    op.drop_index("ix_inspection_report_equipment_date", table_name="inspection_report")
    op.drop_table("inspection_report")
