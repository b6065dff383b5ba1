"""gas-cylinder traceability (§4.4): cylinder archive, factory batches, filling records (monthly range
partitions on PostgreSQL), registration applications and the authority's notices, cylinder units, scales

On PostgreSQL `cylinder_filling` is partitioned by month of `filled_at` (Beijing time bounds) with a
default partition for rows outside the window; `cylinder_filling_add_month(date)` creates one month
(moving any rows the default partition holds for it) and is called here for 13 months back and 3 ahead;
the scheduler/CLI (`flask cylinders add-partitions`) keeps adding months ahead.

Revision ID: 0018_cylinders
Revises: 0018_hazards2
"""
import sqlalchemy as sa
from alembic import op

revision = "0018_cylinders"
down_revision = "0018_hazards2"
branch_labels = None
depends_on = None

ADD_MONTH = """
CREATE OR REPLACE FUNCTION cylinder_filling_add_month(month_start date) RETURNS text AS $$
DECLARE
  first date := date_trunc('month', month_start)::date;
  name text := 'cylinder_filling_y' || to_char(first, 'YYYY') || 'm' || to_char(first, 'MM');
  lo timestamptz := (first::text || ' 00:00:00+08')::timestamptz;
  hi timestamptz := ((first + interval '1 month')::date::text || ' 00:00:00+08')::timestamptz;
BEGIN
  IF to_regclass(name) IS NOT NULL THEN
    RETURN name;
  END IF;
  EXECUTE format('CREATE TABLE %I (LIKE cylinder_filling INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', name);
  EXECUTE format('WITH moved AS (DELETE FROM cylinder_filling_default WHERE filled_at >= %L AND filled_at < %L '
                 'RETURNING *) INSERT INTO %I SELECT * FROM moved', lo, hi, name);
  EXECUTE format('ALTER TABLE cylinder_filling ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)', name, lo, hi);
  RETURN name;
END;
$$ LANGUAGE plpgsql;
"""


def _filling_columns():
    return [
        sa.Column("filled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cylinder_id", sa.Integer(), nullable=False),
        sa.Column("trace_code", sa.String(length=32), nullable=False),
        sa.Column("filler_org_id", sa.Integer(), nullable=False),
        sa.Column("region_code", sa.String(length=6), nullable=False),
        sa.Column("scale_id", sa.Integer(), nullable=True),
        sa.Column("operator_name", sa.String(length=64), nullable=False),
        sa.Column("pre_check", sa.String(length=8), nullable=False),
        sa.Column("medium", sa.String(length=40), nullable=True),
        sa.Column("weight_kg", sa.Float(), nullable=True),
        sa.Column("pressure_mpa", sa.Float(), nullable=True),
        sa.Column("post_check", sa.String(length=8), nullable=True),
        sa.Column("result", sa.String(length=12), nullable=False),
        sa.Column("note", sa.String(length=300), nullable=True),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    ]


def upgrade():
    op.create_table(
        "cylinder_batch",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("maker_org_id", sa.Integer(), sa.ForeignKey("organization.id"), nullable=False),
        sa.Column("batch_no", sa.String(length=40), nullable=False),
        sa.Column("product_name", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("medium", sa.String(length=40), nullable=False),
        sa.Column("volume_l", sa.Float(), nullable=False),
        sa.Column("nominal_pressure_mpa", sa.Float(), nullable=False),
        sa.Column("manufacture_date", sa.Date(), nullable=False),
        sa.Column("design_life_years", sa.Integer(), nullable=False),
        sa.Column("client_org_id", sa.Integer(), sa.ForeignKey("organization.id"), nullable=True),
        sa.Column("region_code", sa.String(length=6), sa.ForeignKey("region.code"), nullable=False),
        sa.Column("certificate_ids", sa.Text(), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.Column("created_by_id", sa.Integer(), sa.ForeignKey("user_account.id"), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("maker_org_id", "batch_no", name="uq_cylinder_batch_maker_no"),
    )
    op.create_index("ix_cylinder_batch_client_org_id", "cylinder_batch", ["client_org_id"])
    op.create_index("ix_cylinder_batch_region_code", "cylinder_batch", ["region_code"])

    op.create_table(
        "cylinder",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("trace_code", sa.String(length=32), nullable=False),
        sa.Column("factory_no", sa.String(length=40), nullable=False),
        sa.Column("maker_org_id", sa.Integer(), sa.ForeignKey("organization.id"), nullable=True),
        sa.Column("maker_name", sa.String(length=200), nullable=True),
        sa.Column("batch_id", sa.Integer(), sa.ForeignKey("cylinder_batch.id"), nullable=True),
        sa.Column("batch_no", sa.String(length=40), nullable=True),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("medium", sa.String(length=40), nullable=False),
        sa.Column("volume_l", sa.Float(), nullable=False),
        sa.Column("nominal_pressure_mpa", sa.Float(), nullable=False),
        sa.Column("manufacture_date", sa.Date(), nullable=False),
        sa.Column("design_life_years", sa.Integer(), nullable=False),
        sa.Column("owner_org_id", sa.Integer(), sa.ForeignKey("organization.id"), nullable=True),
        sa.Column("region_code", sa.String(length=6), sa.ForeignKey("region.code"), nullable=False),
        sa.Column("reg_state", sa.String(length=12), nullable=False),
        sa.Column("registration_no", sa.String(length=60), nullable=True),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_inspection_date", sa.Date(), nullable=True),
        sa.Column("next_inspection_date", sa.Date(), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("status_reason", sa.String(length=300), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("trace_code", name="uq_cylinder_trace_code"),
    )
    op.create_index("ix_cylinder_factory_no", "cylinder", ["factory_no"])
    op.create_index("ix_cylinder_maker_org_id", "cylinder", ["maker_org_id"])
    op.create_index("ix_cylinder_batch_id", "cylinder", ["batch_id"])
    op.create_index("ix_cylinder_owner", "cylinder", ["owner_org_id", "id"])
    op.create_index("ix_cylinder_owner_state", "cylinder", ["owner_org_id", "reg_state", "status"])
    op.create_index("ix_cylinder_owner_next", "cylinder", ["owner_org_id", "next_inspection_date"])
    op.create_index("ix_cylinder_region", "cylinder", ["region_code", "id"],
                    postgresql_ops={"region_code": "varchar_pattern_ops"})
    op.create_index("ix_cylinder_batch_no", "cylinder", ["batch_no"])

    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        op.create_table("cylinder_filling",
                        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
                        *_filling_columns(), sa.PrimaryKeyConstraint("id", "filled_at"),
                        postgresql_partition_by="RANGE (filled_at)")
        op.execute("CREATE TABLE cylinder_filling_default PARTITION OF cylinder_filling DEFAULT")
    else:
        op.create_table("cylinder_filling", sa.Column("id", sa.Integer(), nullable=False), *_filling_columns(),
                        sa.PrimaryKeyConstraint("id"))
    op.create_index("ix_cylinder_filling_filler_time", "cylinder_filling", ["filler_org_id", "filled_at"])
    op.create_index("ix_cylinder_filling_cylinder_time", "cylinder_filling", ["cylinder_id", "filled_at"])
    op.create_index("ix_cylinder_filling_region_time", "cylinder_filling", ["region_code", "filled_at"],
                    postgresql_ops={"region_code": "varchar_pattern_ops"})
    # the newest fillings of a city or the province: partitions merged in time order, no sort
    op.create_index("ix_cylinder_filling_time", "cylinder_filling", ["filled_at"])
    if postgres:
        op.execute(ADD_MONTH)
        op.execute("SELECT cylinder_filling_add_month((date_trunc('month', now() AT TIME ZONE 'Asia/Shanghai') "
                   "+ make_interval(months => m))::date) FROM generate_series(-13, 3) AS m")

    op.create_table(
        "cylinder_application",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("case_record.id"), nullable=False),
        sa.Column("application_no", sa.String(length=32), nullable=False),
        sa.Column("business", sa.String(length=12), nullable=False),
        sa.Column("filler_org_id", sa.Integer(), sa.ForeignKey("organization.id"), nullable=False),
        sa.Column("agent_org_id", sa.Integer(), sa.ForeignKey("organization.id"), nullable=True),
        sa.Column("region_code", sa.String(length=6), sa.ForeignKey("region.code"), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("receipt_no", sa.String(length=64), nullable=True),
        sa.Column("authority_result", sa.String(length=12), nullable=True),
        sa.Column("authority_reason", sa.String(length=500), nullable=True),
        sa.Column("certificate_no", sa.String(length=60), nullable=True),
        sa.Column("submissions", sa.Integer(), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by_id", sa.Integer(), sa.ForeignKey("user_account.id"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_id", name="uq_cylinder_application_case_id"),
        sa.UniqueConstraint("application_no", name="uq_cylinder_application_no"),
    )
    for column in ("filler_org_id", "agent_org_id", "region_code", "receipt_no"):
        op.create_index(f"ix_cylinder_application_{column}", "cylinder_application", [column])
    op.create_table(
        "cylinder_application_item",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("application_id", sa.Integer(), sa.ForeignKey("cylinder_application.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("cylinder_id", sa.Integer(), sa.ForeignKey("cylinder.id"), nullable=False),
        sa.Column("registration_code", sa.String(length=60), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("application_id", "cylinder_id", name="uq_cylinder_application_item"),
    )
    op.create_index("ix_cylinder_application_item_application_id", "cylinder_application_item", ["application_id"])
    op.create_index("ix_cylinder_application_item_cylinder_id", "cylinder_application_item", ["cylinder_id"])
    op.create_table(
        "cylinder_authority_notice",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("application_id", sa.Integer(), sa.ForeignKey("cylinder_application.id"), nullable=True),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("result", sa.String(length=12), nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("nonce", name="uq_cylinder_authority_notice_nonce"),
    )
    op.create_index("ix_cylinder_authority_notice_application_id", "cylinder_authority_notice", ["application_id"])
    op.create_table(
        "cylinder_unit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), sa.ForeignKey("organization.id"), nullable=False),
        sa.Column("tag", sa.String(length=12), nullable=False),
        sa.Column("region_code", sa.String(length=6), sa.ForeignKey("region.code"), nullable=False),
        sa.Column("created_by_id", sa.Integer(), sa.ForeignKey("user_account.id"), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("org_id", "tag", name="uq_cylinder_unit_tag"),
    )
    op.create_index("ix_cylinder_unit_org_id", "cylinder_unit", ["org_id"])
    op.create_index("ix_cylinder_unit_region_code", "cylinder_unit", ["region_code"])
    op.create_table(
        "cylinder_scale",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), sa.ForeignKey("organization.id"), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("region_code", sa.String(length=6), sa.ForeignKey("region.code"), nullable=False),
        sa.Column("locked", sa.Boolean(), nullable=False),
        sa.Column("lock_reason", sa.String(length=300), nullable=True),
        sa.Column("locked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("locked_by_id", sa.Integer(), sa.ForeignKey("user_account.id"), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code", name="uq_cylinder_scale_code"),
    )
    op.create_index("ix_cylinder_scale_org_id", "cylinder_scale", ["org_id"])
    op.create_index("ix_cylinder_scale_region_code", "cylinder_scale", ["region_code"])


def downgrade():
    for table in ("cylinder_scale", "cylinder_unit", "cylinder_authority_notice", "cylinder_application_item",
                  "cylinder_application"):
        op.drop_table(table)
    op.drop_table("cylinder_filling")      # partitions go with it on PostgreSQL
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS cylinder_filling_add_month(date)")
    op.drop_table("cylinder")
    op.drop_table("cylinder_batch")
