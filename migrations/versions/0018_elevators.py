"""paperless elevator maintenance (电梯无纸化维保): elevator facts (1:1 with equipment), maintenance contracts,
maintenance items (TSG T5002 Annex A–D, editable), plans, work orders, item results and photos

Revision ID: 0018_elevators
Revises: 0018_supervision
"""
import sqlalchemy as sa
from alembic import op

revision = "0018_elevators"
down_revision = "0018_supervision"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('elevator',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('equipment_id', sa.Integer(), nullable=False),
    sa.Column('elevator_type', sa.String(length=16), nullable=False),
    sa.Column('floors', sa.Integer(), nullable=True),
    sa.Column('speed', sa.Float(), nullable=True),
    sa.Column('rated_load', sa.Integer(), nullable=True),
    sa.Column('rescue_code', sa.String(length=20), nullable=False),
    sa.Column('site', sa.String(length=120), nullable=True),
    sa.Column('chip_id', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['equipment_id'], ['equipment.id'], name=op.f('fk_elevator_equipment_id_equipment'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_elevator')),
    sa.UniqueConstraint('chip_id', name=op.f('uq_elevator_chip_id')),
    sa.UniqueConstraint('equipment_id', name=op.f('uq_elevator_equipment_id')),
    sa.UniqueConstraint('rescue_code', name=op.f('uq_elevator_rescue_code'))
    )
    op.create_table('elevator_contract',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('equipment_id', sa.Integer(), nullable=False),
    sa.Column('maintenance_org_id', sa.Integer(), nullable=False),
    sa.Column('use_org_id', sa.Integer(), nullable=False),
    sa.Column('contract_no', sa.String(length=40), nullable=True),
    sa.Column('starts_on', sa.Date(), nullable=False),
    sa.Column('ends_on', sa.Date(), nullable=False),
    sa.Column('cycle_days', sa.Integer(), nullable=False),
    sa.Column('quality_sign_required', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['equipment_id'], ['equipment.id'], name=op.f('fk_elevator_contract_equipment_id_equipment'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['maintenance_org_id'], ['organization.id'], name=op.f('fk_elevator_contract_maintenance_org_id_organization')),
    sa.ForeignKeyConstraint(['use_org_id'], ['organization.id'], name=op.f('fk_elevator_contract_use_org_id_organization')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_elevator_contract'))
    )
    op.create_index(op.f('ix_elevator_contract_equipment_id'), 'elevator_contract', ['equipment_id'], unique=False)
    op.create_index('ix_elevator_contract_maint', 'elevator_contract', ['maintenance_org_id', 'ends_on'], unique=False)
    op.create_table('elevator_item',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=16), nullable=False),
    sa.Column('annex', sa.String(length=1), nullable=False),
    sa.Column('frequency', sa.String(length=10), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('item', sa.String(length=200), nullable=False),
    sa.Column('requirement', sa.String(length=500), nullable=False),
    sa.Column('photo_required', sa.Boolean(), nullable=False),
    sa.Column('key_position', sa.String(length=16), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('source', sa.String(length=200), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['updated_by_id'], ['user_account.id'], name=op.f('fk_elevator_item_updated_by_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_elevator_item')),
    sa.UniqueConstraint('code', name=op.f('uq_elevator_item_code'))
    )
    op.create_index(op.f('ix_elevator_item_annex'), 'elevator_item', ['annex'], unique=False)
    op.create_table('elevator_plan',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('equipment_id', sa.Integer(), nullable=False),
    sa.Column('contract_id', sa.Integer(), nullable=True),
    sa.Column('maintenance_org_id', sa.Integer(), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=False),
    sa.Column('maint_type', sa.String(length=10), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('work_order_id', sa.Integer(), nullable=True),
    sa.Column('done_on', sa.Date(), nullable=True),
    sa.Column('edited_by_id', sa.Integer(), nullable=True),
    sa.Column('edited_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['contract_id'], ['elevator_contract.id'], name=op.f('fk_elevator_plan_contract_id_elevator_contract'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['edited_by_id'], ['user_account.id'], name=op.f('fk_elevator_plan_edited_by_id_user_account')),
    sa.ForeignKeyConstraint(['equipment_id'], ['equipment.id'], name=op.f('fk_elevator_plan_equipment_id_equipment'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['maintenance_org_id'], ['organization.id'], name=op.f('fk_elevator_plan_maintenance_org_id_organization')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_elevator_plan'))
    )
    op.create_index('ix_elevator_plan_due', 'elevator_plan', ['equipment_id', 'due_on'], unique=False)
    op.create_index('ix_elevator_plan_org_status', 'elevator_plan', ['maintenance_org_id', 'status', 'due_on'], unique=False)
    op.create_table('elevator_work_order',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.Column('order_no', sa.String(length=24), nullable=False),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('equipment_id', sa.Integer(), nullable=False),
    sa.Column('plan_id', sa.Integer(), nullable=True),
    sa.Column('maintenance_org_id', sa.Integer(), nullable=False),
    sa.Column('use_org_id', sa.Integer(), nullable=False),
    sa.Column('region_code', sa.String(length=6), nullable=False),
    sa.Column('maint_type', sa.String(length=10), nullable=True),
    sa.Column('maintainer_id', sa.Integer(), nullable=False),
    sa.Column('coworker_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('checkin_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('checkin_lat', sa.Float(), nullable=False),
    sa.Column('checkin_lng', sa.Float(), nullable=False),
    sa.Column('checkin_distance', sa.Integer(), nullable=False),
    sa.Column('checkin_proof', sa.String(length=16), nullable=False),
    sa.Column('face_attachment_id', sa.Integer(), nullable=True),
    sa.Column('face_result', sa.String(length=120), nullable=True),
    sa.Column('checkout_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('checkout_lat', sa.Float(), nullable=True),
    sa.Column('checkout_lng', sa.Float(), nullable=True),
    sa.Column('checkout_distance', sa.Integer(), nullable=True),
    sa.Column('fault_description', sa.Text(), nullable=True),
    sa.Column('parts', sa.Text(), nullable=True),
    sa.Column('remark', sa.Text(), nullable=True),
    sa.Column('maintainer_signature_id', sa.Integer(), nullable=True),
    sa.Column('coworker_signature_id', sa.Integer(), nullable=True),
    sa.Column('safety_signature_id', sa.Integer(), nullable=True),
    sa.Column('quality_signature_id', sa.Integer(), nullable=True),
    sa.Column('safety_signed_by_id', sa.Integer(), nullable=True),
    sa.Column('safety_signed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('quality_signed_by_id', sa.Integer(), nullable=True),
    sa.Column('quality_signed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('return_reason', sa.Text(), nullable=True),
    sa.Column('returned_count', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=True),
    sa.Column('pdf_attachment_id', sa.Integer(), nullable=True),
    sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('archived_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('offline', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['case_record.id'], name=op.f('fk_elevator_work_order_case_id_case_record'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['coworker_id'], ['user_account.id'], name=op.f('fk_elevator_work_order_coworker_id_user_account')),
    sa.ForeignKeyConstraint(['coworker_signature_id'], ['attachment.id'], name=op.f('fk_elevator_work_order_coworker_signature_id_attachment')),
    sa.ForeignKeyConstraint(['equipment_id'], ['equipment.id'], name=op.f('fk_elevator_work_order_equipment_id_equipment')),
    sa.ForeignKeyConstraint(['face_attachment_id'], ['attachment.id'], name=op.f('fk_elevator_work_order_face_attachment_id_attachment')),
    sa.ForeignKeyConstraint(['maintainer_id'], ['user_account.id'], name=op.f('fk_elevator_work_order_maintainer_id_user_account')),
    sa.ForeignKeyConstraint(['maintainer_signature_id'], ['attachment.id'], name=op.f('fk_elevator_work_order_maintainer_signature_id_attachment')),
    sa.ForeignKeyConstraint(['maintenance_org_id'], ['organization.id'], name=op.f('fk_elevator_work_order_maintenance_org_id_organization')),
    sa.ForeignKeyConstraint(['pdf_attachment_id'], ['attachment.id'], name=op.f('fk_elevator_work_order_pdf_attachment_id_attachment')),
    sa.ForeignKeyConstraint(['plan_id'], ['elevator_plan.id'], name=op.f('fk_elevator_work_order_plan_id_elevator_plan'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['quality_signature_id'], ['attachment.id'], name=op.f('fk_elevator_work_order_quality_signature_id_attachment')),
    sa.ForeignKeyConstraint(['quality_signed_by_id'], ['user_account.id'], name=op.f('fk_elevator_work_order_quality_signed_by_id_user_account')),
    sa.ForeignKeyConstraint(['safety_signature_id'], ['attachment.id'], name=op.f('fk_elevator_work_order_safety_signature_id_attachment')),
    sa.ForeignKeyConstraint(['safety_signed_by_id'], ['user_account.id'], name=op.f('fk_elevator_work_order_safety_signed_by_id_user_account')),
    sa.ForeignKeyConstraint(['use_org_id'], ['organization.id'], name=op.f('fk_elevator_work_order_use_org_id_organization')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_elevator_work_order')),
    sa.UniqueConstraint('client_id', name=op.f('uq_elevator_work_order_client_id')),
    sa.UniqueConstraint('order_no', name=op.f('uq_elevator_work_order_order_no'))
    )
    op.create_index('ix_elevator_wo_equipment', 'elevator_work_order', ['equipment_id', 'kind', 'checkin_at'], unique=False)
    op.create_index('ix_elevator_wo_maint_org', 'elevator_work_order', ['maintenance_org_id', 'kind', 'checkin_at'], unique=False)
    op.create_index('ix_elevator_wo_region', 'elevator_work_order', ['region_code', 'kind', 'checkin_at'], unique=False)
    op.create_index(op.f('ix_elevator_work_order_case_id'), 'elevator_work_order', ['case_id'], unique=False)
    op.create_index(op.f('ix_elevator_work_order_maintainer_id'), 'elevator_work_order', ['maintainer_id'], unique=False)
    op.create_table('elevator_photo',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.Column('work_order_id', sa.Integer(), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=True),
    sa.Column('purpose', sa.String(length=10), nullable=False),
    sa.Column('attachment_id', sa.Integer(), nullable=False),
    sa.Column('original_sm3', sa.String(length=64), nullable=False),
    sa.Column('taken_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('lat', sa.Float(), nullable=False),
    sa.Column('lng', sa.Float(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['attachment_id'], ['attachment.id'], name=op.f('fk_elevator_photo_attachment_id_attachment')),
    sa.ForeignKeyConstraint(['item_id'], ['elevator_item.id'], name=op.f('fk_elevator_photo_item_id_elevator_item')),
    sa.ForeignKeyConstraint(['work_order_id'], ['elevator_work_order.id'], name=op.f('fk_elevator_photo_work_order_id_elevator_work_order'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_elevator_photo')),
    sa.UniqueConstraint('client_id', name=op.f('uq_elevator_photo_client_id'))
    )
    op.create_index(op.f('ix_elevator_photo_work_order_id'), 'elevator_photo', ['work_order_id'], unique=False)
    op.create_table('elevator_work_item',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('work_order_id', sa.Integer(), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('result', sa.String(length=4), nullable=False),
    sa.Column('note', sa.String(length=500), nullable=True),
    sa.ForeignKeyConstraint(['item_id'], ['elevator_item.id'], name=op.f('fk_elevator_work_item_item_id_elevator_item')),
    sa.ForeignKeyConstraint(['work_order_id'], ['elevator_work_order.id'], name=op.f('fk_elevator_work_item_work_order_id_elevator_work_order'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_elevator_work_item')),
    sa.UniqueConstraint('work_order_id', 'item_id', name=op.f('uq_elevator_work_item_work_order_id'))
    )


def downgrade():
    op.drop_table('elevator_work_item')
    op.drop_table('elevator_photo')
    op.drop_table('elevator_work_order')
    op.drop_table('elevator_plan')
    op.drop_table('elevator_item')
    op.drop_table('elevator_contract')
    op.drop_table('elevator')
