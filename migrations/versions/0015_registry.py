"""the device registry: registry facts of devices and units, inspection-report fields, device change
log, Excel import jobs, the device an SMS is about

equipment: 种类/类别 codes (backfilled from the catalogue), 注册代码, 产品编号, 规格型号, 制造/设计单位,
维保单位, coordinates, statuses 注销/公告注销, dates, design life (pressure vessels default to 20 years),
simple pressure vessels, inspection facts (latest report, 延期检验) and the stored due state.
inspection_report: type (定期/监督/首检), 不符合项, PDF, source; conclusions in each 种类's vocabulary.

After upgrading, `flask registry recompute-due` (or the scheduler's 到期状态 job within the hour) sets
every device's due state from rules/inspection_due.dmn.

Revision ID: 0015_registry
Revises: 0015_ux
"""
import sqlalchemy as sa
from alembic import op

revision = "0015_registry"
down_revision = "0015_ux"
branch_labels = None
depends_on = None

# Conclusion vocabularies as of this revision (app/inspections/conclusions.py), frozen here: until now every
# device used 合格/基本合格/复检合格/不合格; pressure equipment (锅炉 1, 压力容器 2, 压力管道 8) says
# 符合要求/基本符合要求/不符合要求, the mechanical kinds have no 基本合格.
PRESSURE_KINDS = ("1", "2", "8")
PRESSURE_MAP = {"合格": "符合要求", "基本合格": "基本符合要求", "复检合格": "符合要求", "不合格": "不符合要求"}
OTHER_MAP = {"基本合格": "合格"}


def upgrade():
    bind = op.get_bind()
    pg = bind.dialect.name == "postgresql"
    with op.batch_alter_table("organization") as batch_op:
        batch_op.add_column(sa.Column("kinds", sa.String(length=200), server_default="", nullable=False))
        batch_op.add_column(sa.Column("lat", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("lng", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table("equipment") as batch_op:
        batch_op.alter_column("status", existing_type=sa.String(length=16), type_=sa.String(length=20),
                              existing_nullable=False)
        for column in (
                sa.Column("reg_code", sa.String(length=20), nullable=True),
                sa.Column("kind_code", sa.String(length=4), nullable=True),
                sa.Column("class_code", sa.String(length=4), nullable=True),
                sa.Column("factory_no", sa.String(length=64), nullable=True),
                sa.Column("model", sa.String(length=100), nullable=True),
                sa.Column("maker_name", sa.String(length=200), nullable=True),
                sa.Column("designer_name", sa.String(length=200), nullable=True),
                sa.Column("maintenance_org_id", sa.Integer(), nullable=True),
                sa.Column("lat", sa.Float(), nullable=True),
                sa.Column("lng", sa.Float(), nullable=True),
                sa.Column("status_changed_at", sa.DateTime(timezone=True), nullable=True),
                sa.Column("manufacture_date", sa.Date(), nullable=True),
                sa.Column("commissioning_date", sa.Date(), nullable=True),
                sa.Column("design_life_years", sa.Integer(), nullable=True),
                sa.Column("design_life_source", sa.String(length=10), nullable=True),
                sa.Column("design_life_end", sa.Date(), nullable=True),
                sa.Column("life_assessed_on", sa.Date(), nullable=True),
                sa.Column("life_registration_changed_on", sa.Date(), nullable=True),
                sa.Column("simple_pressure_vessel", sa.Boolean(), server_default=sa.false(), nullable=False),
                sa.Column("extended_until", sa.Date(), nullable=True),
                sa.Column("last_inspected_on", sa.Date(), nullable=True),
                sa.Column("last_conclusion", sa.String(length=12), nullable=True),
                sa.Column("due_state", sa.String(length=12), server_default="no_record", nullable=False),
                sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True)):
            batch_op.add_column(column)

    with op.batch_alter_table("inspection_report") as batch_op:
        batch_op.alter_column("conclusion", existing_type=sa.String(length=8), type_=sa.String(length=12),
                              existing_nullable=False)
        batch_op.add_column(sa.Column("inspection_type", sa.String(length=12), server_default="periodic",
                                      nullable=False))
        batch_op.add_column(sa.Column("nonconformities", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("pdf_attachment_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("source", sa.String(length=12), server_default="system", nullable=False))
        batch_op.add_column(sa.Column("created_by_id", sa.Integer(), nullable=True))

    # 种类 / 类别 from the catalogue: a 品种's parent is its 类别, whose parent is the 种类.
    op.execute("""UPDATE equipment SET
        class_code = (SELECT CASE c.level WHEN '品种' THEN c.parent_code WHEN '类别' THEN c.code END
                      FROM equipment_category c WHERE c.code = equipment.category_code),
        kind_code = (SELECT CASE c.level WHEN '品种' THEN p.parent_code WHEN '类别' THEN c.parent_code ELSE c.code END
                     FROM equipment_category c LEFT JOIN equipment_category p ON p.code = c.parent_code
                     WHERE c.code = equipment.category_code)""")
    # TSG 21-2016 7.1.7: a pressure vessel without a design life is taken to have 20 years.
    op.execute("UPDATE equipment SET design_life_years = 20, design_life_source = 'default' "
               "WHERE kind_code = '2000' AND (class_code IS NULL OR class_code <> '2300')")
    op.execute("UPDATE equipment SET due_state = 'exempt' WHERE status <> 'in_use'")

    for prefixes, mapping in ((PRESSURE_KINDS, PRESSURE_MAP), (None, OTHER_MAP)):
        devices = "SELECT e.id FROM equipment e WHERE " + (
            " OR ".join(f"e.category_code LIKE '{p}%'" for p in prefixes) if prefixes else
            " AND ".join(f"e.category_code NOT LIKE '{p}%'" for p in PRESSURE_KINDS))
        for old, new in mapping.items():
            op.execute(sa.text(f"UPDATE inspection_report SET conclusion = :new WHERE conclusion = :old "
                               f"AND equipment_id IN ({devices})").bindparams(old=old, new=new))
    # The latest report of each device (its date and conclusion).
    op.execute("""UPDATE equipment SET
        last_inspected_on = (SELECT r.inspected_on FROM inspection_report r WHERE r.equipment_id = equipment.id
                             ORDER BY r.inspected_on DESC, r.id DESC LIMIT 1),
        last_conclusion = (SELECT r.conclusion FROM inspection_report r WHERE r.equipment_id = equipment.id
                           ORDER BY r.inspected_on DESC, r.id DESC LIMIT 1)""")

    with op.batch_alter_table("equipment") as batch_op:
        batch_op.create_foreign_key(batch_op.f("fk_equipment_maintenance_org_id_organization"), "organization",
                                    ["maintenance_org_id"], ["id"])
        batch_op.create_index(batch_op.f("ix_equipment_maintenance_org_id"), ["maintenance_org_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_equipment_kind_code"), ["kind_code"], unique=False)
        batch_op.create_index(batch_op.f("ix_equipment_class_code"), ["class_code"], unique=False)
        batch_op.create_index(batch_op.f("ix_equipment_reg_code"), ["reg_code"], unique=False)
    op.create_index("ix_equipment_region_due", "equipment", ["region_code", "due_state", "next_inspection_date"],
                    postgresql_ops={"region_code": "varchar_pattern_ops"})
    op.create_index("ix_equipment_kind_life_end", "equipment", ["kind_code", "design_life_end"])

    with op.batch_alter_table("inspection_report") as batch_op:
        batch_op.create_foreign_key(batch_op.f("fk_inspection_report_pdf_attachment_id_attachment"), "attachment",
                                    ["pdf_attachment_id"], ["id"], ondelete="SET NULL")
        batch_op.create_foreign_key(batch_op.f("fk_inspection_report_created_by_id_user_account"), "user_account",
                                    ["created_by_id"], ["id"])

    with op.batch_alter_table("sms_message") as batch_op:
        batch_op.add_column(sa.Column("equipment_id", sa.Integer(), nullable=True))
    with op.batch_alter_table("sms_message") as batch_op:
        batch_op.create_foreign_key(batch_op.f("fk_sms_message_equipment_id_equipment"), "equipment",
                                    ["equipment_id"], ["id"], ondelete="SET NULL")
        batch_op.create_index(batch_op.f("ix_sms_message_equipment_id"), ["equipment_id"], unique=False)

    op.create_table(
        "equipment_change",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("equipment_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("field", sa.String(length=40), nullable=False),
        sa.Column("old_value", sa.String(length=300), nullable=True),
        sa.Column("new_value", sa.String(length=300), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["equipment_id"], ["equipment.id"], ondelete="CASCADE",
                                name=op.f("fk_equipment_change_equipment_id_equipment")),
        sa.ForeignKeyConstraint(["actor_id"], ["user_account.id"], name=op.f("fk_equipment_change_actor_id_user_account")),
        sa.ForeignKeyConstraint(["case_id"], ["case_record.id"], ondelete="SET NULL",
                                name=op.f("fk_equipment_change_case_id_case_record")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_equipment_change")),
    )
    op.create_index(op.f("ix_equipment_change_equipment_id"), "equipment_change", ["equipment_id"])

    op.create_table(
        "import_job",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("sm3", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("processed", sa.Integer(), nullable=False),
        sa.Column("created", sa.Integer(), nullable=False),
        sa.Column("unchanged", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.id"], name=op.f("fk_import_job_user_id_user_account")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_job")),
    )
    op.create_index(op.f("ix_import_job_kind"), "import_job", ["kind"])
    op.create_index(op.f("ix_import_job_user_id"), "import_job", ["user_id"])
    if pg:
        op.execute("ANALYZE equipment")


def downgrade():
    op.drop_table("import_job")
    op.drop_table("equipment_change")
    with op.batch_alter_table("sms_message") as batch_op:
        batch_op.drop_index(batch_op.f("ix_sms_message_equipment_id"))
        batch_op.drop_constraint(batch_op.f("fk_sms_message_equipment_id_equipment"), type_="foreignkey")
        batch_op.drop_column("equipment_id")
    with op.batch_alter_table("inspection_report") as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_inspection_report_created_by_id_user_account"), type_="foreignkey")
        batch_op.drop_constraint(batch_op.f("fk_inspection_report_pdf_attachment_id_attachment"), type_="foreignkey")
        for name in ("created_by_id", "source", "pdf_attachment_id", "nonconformities", "inspection_type"):
            batch_op.drop_column(name)
    op.drop_index("ix_equipment_kind_life_end", table_name="equipment")
    op.drop_index("ix_equipment_region_due", table_name="equipment")
    with op.batch_alter_table("equipment") as batch_op:
        for name in ("ix_equipment_reg_code", "ix_equipment_class_code", "ix_equipment_kind_code",
                     "ix_equipment_maintenance_org_id"):
            batch_op.drop_index(name)
        batch_op.drop_constraint(batch_op.f("fk_equipment_maintenance_org_id_organization"), type_="foreignkey")
        for name in ("updated_at", "due_state", "last_conclusion", "last_inspected_on", "extended_until",
                     "simple_pressure_vessel", "life_registration_changed_on", "life_assessed_on", "design_life_end",
                     "design_life_source", "design_life_years", "commissioning_date", "manufacture_date",
                     "status_changed_at", "lng", "lat", "maintenance_org_id", "designer_name", "maker_name", "model",
                     "factory_no", "class_code", "kind_code", "reg_code"):
            batch_op.drop_column(name)
    with op.batch_alter_table("organization") as batch_op:
        for name in ("updated_at", "lng", "lat", "kinds"):
            batch_op.drop_column(name)
