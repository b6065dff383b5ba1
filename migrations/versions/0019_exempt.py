"""无需无纸化维保电梯 (§4.6.1): exemption applications, their elevators, back-filled work orders

Revision ID: 0019_exempt
Revises: 0019_platform
"""
import sqlalchemy as sa
from alembic import op

revision = "0019_exempt"
down_revision = "0019_platform"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('elevator_exemption',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('app_no', sa.String(length=24), nullable=False),
    sa.Column('use_org_id', sa.Integer(), nullable=False),
    sa.Column('region_code', sa.String(length=6), nullable=False),
    sa.Column('applicant_id', sa.Integer(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('valid_from', sa.Date(), nullable=True),
    sa.Column('valid_until', sa.Date(), nullable=True),
    sa.Column('opinion', sa.Text(), nullable=True),
    sa.Column('decided_by_id', sa.Integer(), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('returned_count', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['applicant_id'], ['user_account.id'], name=op.f('fk_elevator_exemption_applicant_id_user_account')),
    sa.ForeignKeyConstraint(['case_id'], ['case_record.id'], name=op.f('fk_elevator_exemption_case_id_case_record'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['decided_by_id'], ['user_account.id'], name=op.f('fk_elevator_exemption_decided_by_id_user_account')),
    sa.ForeignKeyConstraint(['use_org_id'], ['organization.id'], name=op.f('fk_elevator_exemption_use_org_id_organization')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_elevator_exemption')),
    sa.UniqueConstraint('app_no', name=op.f('uq_elevator_exemption_app_no')),
    sa.UniqueConstraint('case_id', name=op.f('uq_elevator_exemption_case_id'))
    )
    with op.batch_alter_table('elevator_exemption', schema=None) as batch_op:
        batch_op.create_index('ix_elevator_exemption_org', ['use_org_id', 'created_at'], unique=False)
        batch_op.create_index('ix_elevator_exemption_region', ['region_code', 'created_at'], unique=False)

    op.create_table('elevator_exemption_item',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('exemption_id', sa.Integer(), nullable=False),
    sa.Column('equipment_id', sa.Integer(), nullable=False),
    sa.Column('maintenance_org_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['equipment_id'], ['equipment.id'], name=op.f('fk_elevator_exemption_item_equipment_id_equipment')),
    sa.ForeignKeyConstraint(['exemption_id'], ['elevator_exemption.id'], name=op.f('fk_elevator_exemption_item_exemption_id_elevator_exemption'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['maintenance_org_id'], ['organization.id'], name=op.f('fk_elevator_exemption_item_maintenance_org_id_organization')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_elevator_exemption_item')),
    sa.UniqueConstraint('exemption_id', 'equipment_id', name=op.f('uq_elevator_exemption_item_exemption_id'))
    )
    with op.batch_alter_table('elevator_exemption_item', schema=None) as batch_op:
        batch_op.create_index('ix_elevator_exemption_item_equipment', ['equipment_id'], unique=False)

    op.create_table('elevator_backfill',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('work_order_id', sa.Integer(), nullable=False),
    sa.Column('exemption_id', sa.Integer(), nullable=False),
    sa.Column('entered_by_id', sa.Integer(), nullable=False),
    sa.Column('entered_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('attachment_ids', sa.String(length=400), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['entered_by_id'], ['user_account.id'], name=op.f('fk_elevator_backfill_entered_by_id_user_account')),
    sa.ForeignKeyConstraint(['exemption_id'], ['elevator_exemption.id'], name=op.f('fk_elevator_backfill_exemption_id_elevator_exemption')),
    sa.ForeignKeyConstraint(['work_order_id'], ['elevator_work_order.id'], name=op.f('fk_elevator_backfill_work_order_id_elevator_work_order'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_elevator_backfill')),
    sa.UniqueConstraint('work_order_id', name=op.f('uq_elevator_backfill_work_order_id'))
    )
    with op.batch_alter_table('elevator_backfill', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_elevator_backfill_exemption_id'), ['exemption_id'], unique=False)


def downgrade():

    with op.batch_alter_table('elevator_backfill', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_elevator_backfill_exemption_id'))

    op.drop_table('elevator_backfill')
    with op.batch_alter_table('elevator_exemption_item', schema=None) as batch_op:
        batch_op.drop_index('ix_elevator_exemption_item_equipment')

    op.drop_table('elevator_exemption_item')
    with op.batch_alter_table('elevator_exemption', schema=None) as batch_op:
        batch_op.drop_index('ix_elevator_exemption_region')
        batch_op.drop_index('ix_elevator_exemption_org')

    op.drop_table('elevator_exemption')
