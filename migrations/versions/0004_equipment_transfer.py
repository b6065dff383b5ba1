"""mobile equipment transfer between jurisdictions (§4.5.9)

equipment.movable and equipment.registered_region_code (backfilled), equipment_transfer and
transfer_item.

Revision ID: 0004
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# The movable rule as of this revision (app/core/movable.py: MOVABLE_CATEGORY_PREFIXES):
# 5xxx 场（厂）内专用机动车辆, 44xx 流动式起重机, 22xx 移动式压力容器. Frozen here on purpose: a
# migration must give the same result whatever the application code says later.
MOVABLE_CATEGORY_PREFIXES = ("5", "44", "22")


def upgrade():
    with op.batch_alter_table("equipment") as batch_op:
        batch_op.add_column(sa.Column("movable", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column("registered_region_code", sa.String(length=6), nullable=True))

    equipment = sa.table("equipment", sa.column("category_code", sa.String), sa.column("movable", sa.Boolean),
                         sa.column("region_code", sa.String), sa.column("registered_region_code", sa.String))
    op.execute(equipment.update()
               .where(sa.or_(*[equipment.c.category_code.like(f"{p}%") for p in MOVABLE_CATEGORY_PREFIXES]))
               .values(movable=True))
    # Until now the one region was both: the registering and the supervising authority.
    op.execute(equipment.update().values(registered_region_code=equipment.c.region_code))

    with op.batch_alter_table("equipment") as batch_op:
        batch_op.alter_column("registered_region_code", existing_type=sa.String(length=6), nullable=False)
        batch_op.create_foreign_key(batch_op.f("fk_equipment_registered_region_code_region"), "region",
                                    ["registered_region_code"], ["code"])
        batch_op.create_index(batch_op.f("ix_equipment_registered_region_code"), ["registered_region_code"],
                              unique=False)
        batch_op.create_index(batch_op.f("ix_equipment_movable"), ["movable"], unique=False)

    op.create_table(
        "equipment_transfer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("transfer_no", sa.String(length=32), nullable=False),
        sa.Column("property_org_id", sa.Integer(), nullable=False),
        sa.Column("applicant_id", sa.Integer(), nullable=False),
        sa.Column("from_region", sa.String(length=6), nullable=False),
        sa.Column("to_region", sa.String(length=6), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("opinion", sa.Text(), nullable=True),
        sa.Column("reject_reason", sa.Text(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deleted_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["case_record.id"], name=op.f("fk_equipment_transfer_case_id_case_record"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["property_org_id"], ["organization.id"],
                                name=op.f("fk_equipment_transfer_property_org_id_organization")),
        sa.ForeignKeyConstraint(["applicant_id"], ["user_account.id"],
                                name=op.f("fk_equipment_transfer_applicant_id_user_account")),
        sa.ForeignKeyConstraint(["from_region"], ["region.code"],
                                name=op.f("fk_equipment_transfer_from_region_region")),
        sa.ForeignKeyConstraint(["to_region"], ["region.code"], name=op.f("fk_equipment_transfer_to_region_region")),
        sa.ForeignKeyConstraint(["decided_by_id"], ["user_account.id"],
                                name=op.f("fk_equipment_transfer_decided_by_id_user_account")),
        sa.ForeignKeyConstraint(["deleted_by_id"], ["user_account.id"],
                                name=op.f("fk_equipment_transfer_deleted_by_id_user_account")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_equipment_transfer")),
        sa.UniqueConstraint("case_id", name=op.f("uq_equipment_transfer_case_id")),
        sa.UniqueConstraint("transfer_no", name=op.f("uq_equipment_transfer_transfer_no")),
    )
    with op.batch_alter_table("equipment_transfer") as batch_op:
        for column in ("property_org_id", "from_region", "to_region", "status", "created_at"):
            batch_op.create_index(batch_op.f(f"ix_equipment_transfer_{column}"), [column], unique=False)

    op.create_table(
        "transfer_item",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("transfer_id", sa.Integer(), nullable=False),
        sa.Column("equipment_id", sa.Integer(), nullable=False),
        sa.Column("from_region", sa.String(length=6), nullable=False),
        sa.Column("to_region", sa.String(length=6), nullable=False),
        sa.Column("pending_equipment_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["transfer_id"], ["equipment_transfer.id"],
                                name=op.f("fk_transfer_item_transfer_id_equipment_transfer"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["equipment_id"], ["equipment.id"],
                                name=op.f("fk_transfer_item_equipment_id_equipment")),
        sa.ForeignKeyConstraint(["from_region"], ["region.code"], name=op.f("fk_transfer_item_from_region_region")),
        sa.ForeignKeyConstraint(["to_region"], ["region.code"], name=op.f("fk_transfer_item_to_region_region")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transfer_item")),
        sa.UniqueConstraint("transfer_id", "equipment_id", name=op.f("uq_transfer_item_transfer_id")),
        # One pending transfer per device: set while the application is pending, NULL after it.
        sa.UniqueConstraint("pending_equipment_id", name=op.f("uq_transfer_item_pending_equipment_id")),
    )
    with op.batch_alter_table("transfer_item") as batch_op:
        batch_op.create_index(batch_op.f("ix_transfer_item_transfer_id"), ["transfer_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_transfer_item_equipment_id"), ["equipment_id"], unique=False)


def downgrade():
    op.drop_table("transfer_item")
    op.drop_table("equipment_transfer")
    with op.batch_alter_table("equipment") as batch_op:
        batch_op.drop_index(batch_op.f("ix_equipment_movable"))
        batch_op.drop_index(batch_op.f("ix_equipment_registered_region_code"))
        batch_op.drop_constraint(batch_op.f("fk_equipment_registered_region_code_region"), type_="foreignkey")
        batch_op.drop_column("registered_region_code")
        batch_op.drop_column("movable")
