"""maintenance-unit rating (维保单位评价与星级评定): quality patrols and their graded records, 96111 rescue
records, star-rating applications

Revision ID: 0019_rating
Revises: 0019_exempt
"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0019_rating'
down_revision = "0019_exempt"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('rating_patrol',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('patrol_no', sa.String(length=24), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=False),
    sa.Column('by_regulator', sa.Boolean(), nullable=False),
    sa.Column('region_code', sa.String(length=6), nullable=False),
    sa.Column('maintenance_org_id', sa.Integer(), nullable=True),
    sa.Column('method', sa.String(length=8), nullable=False),
    sa.Column('criteria', sa.JSON(), nullable=False),
    sa.Column('sample_size', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=120), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['user_account.id'], name=op.f('fk_rating_patrol_created_by_id_user_account')),
    sa.ForeignKeyConstraint(['maintenance_org_id'], ['organization.id'], name=op.f('fk_rating_patrol_maintenance_org_id_organization')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rating_patrol')),
    sa.UniqueConstraint('patrol_no', name=op.f('uq_rating_patrol_patrol_no'))
    )
    with op.batch_alter_table('rating_patrol', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rating_patrol_maintenance_org_id'), ['maintenance_org_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_rating_patrol_region_code'), ['region_code'], unique=False)

    op.create_table('rating_rescue',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('rescue_no', sa.String(length=40), nullable=False),
    sa.Column('equipment_id', sa.Integer(), nullable=False),
    sa.Column('maintenance_org_id', sa.Integer(), nullable=False),
    sa.Column('region_code', sa.String(length=6), nullable=False),
    sa.Column('alarm_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('arrived_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('released_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('trapped', sa.Integer(), nullable=False),
    sa.Column('cause', sa.String(length=200), nullable=True),
    sa.Column('source', sa.String(length=8), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['user_account.id'], name=op.f('fk_rating_rescue_created_by_id_user_account')),
    sa.ForeignKeyConstraint(['equipment_id'], ['equipment.id'], name=op.f('fk_rating_rescue_equipment_id_equipment'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['maintenance_org_id'], ['organization.id'], name=op.f('fk_rating_rescue_maintenance_org_id_organization')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rating_rescue')),
    sa.UniqueConstraint('rescue_no', name=op.f('uq_rating_rescue_rescue_no'))
    )
    with op.batch_alter_table('rating_rescue', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rating_rescue_equipment_id'), ['equipment_id'], unique=False)
        batch_op.create_index('ix_rating_rescue_org', ['maintenance_org_id', 'alarm_at'], unique=False)
        batch_op.create_index('ix_rating_rescue_region', ['region_code', 'alarm_at'], unique=False)

    op.create_table('rating_star',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=True),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('region_code', sa.String(length=6), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('figures', sa.JSON(), nullable=False),
    sa.Column('score', sa.Float(), nullable=True),
    sa.Column('suggested_grade', sa.String(length=1), nullable=True),
    sa.Column('requested_grade', sa.String(length=1), nullable=False),
    sa.Column('license_no', sa.String(length=40), nullable=True),
    sa.Column('statement', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('return_reason', sa.Text(), nullable=True),
    sa.Column('city_grade', sa.String(length=1), nullable=True),
    sa.Column('grade', sa.String(length=1), nullable=True),
    sa.Column('veto', sa.Boolean(), nullable=False),
    sa.Column('approved_by_id', sa.Integer(), nullable=True),
    sa.Column('approved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['approved_by_id'], ['user_account.id'], name=op.f('fk_rating_star_approved_by_id_user_account')),
    sa.ForeignKeyConstraint(['case_id'], ['case_record.id'], name=op.f('fk_rating_star_case_id_case_record'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['org_id'], ['organization.id'], name=op.f('fk_rating_star_org_id_organization')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rating_star')),
    sa.UniqueConstraint('case_id', name=op.f('uq_rating_star_case_id'))
    )
    with op.batch_alter_table('rating_star', schema=None) as batch_op:
        batch_op.create_index('ix_rating_star_org', ['org_id', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_rating_star_region_code'), ['region_code'], unique=False)

    op.create_table('rating_patrol_item',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('patrol_id', sa.Integer(), nullable=False),
    sa.Column('work_order_id', sa.Integer(), nullable=False),
    sa.Column('maintenance_org_id', sa.Integer(), nullable=False),
    sa.Column('grade', sa.String(length=8), nullable=True),
    sa.Column('checks', sa.JSON(), nullable=False),
    sa.Column('remark', sa.Text(), nullable=True),
    sa.Column('graded_by_id', sa.Integer(), nullable=True),
    sa.Column('graded_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['graded_by_id'], ['user_account.id'], name=op.f('fk_rating_patrol_item_graded_by_id_user_account')),
    sa.ForeignKeyConstraint(['maintenance_org_id'], ['organization.id'], name=op.f('fk_rating_patrol_item_maintenance_org_id_organization')),
    sa.ForeignKeyConstraint(['patrol_id'], ['rating_patrol.id'], name=op.f('fk_rating_patrol_item_patrol_id_rating_patrol'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['work_order_id'], ['elevator_work_order.id'], name=op.f('fk_rating_patrol_item_work_order_id_elevator_work_order'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rating_patrol_item')),
    sa.UniqueConstraint('patrol_id', 'work_order_id', name=op.f('uq_rating_patrol_item_patrol_id'))
    )
    with op.batch_alter_table('rating_patrol_item', schema=None) as batch_op:
        batch_op.create_index('ix_rating_patrol_item_org', ['maintenance_org_id', 'graded_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_rating_patrol_item_patrol_id'), ['patrol_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_rating_patrol_item_work_order_id'), ['work_order_id'], unique=False)



def downgrade():
    with op.batch_alter_table('rating_patrol_item', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rating_patrol_item_work_order_id'))
        batch_op.drop_index(batch_op.f('ix_rating_patrol_item_patrol_id'))
        batch_op.drop_index('ix_rating_patrol_item_org')

    op.drop_table('rating_patrol_item')
    with op.batch_alter_table('rating_star', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rating_star_region_code'))
        batch_op.drop_index('ix_rating_star_org')

    op.drop_table('rating_star')
    with op.batch_alter_table('rating_rescue', schema=None) as batch_op:
        batch_op.drop_index('ix_rating_rescue_region')
        batch_op.drop_index('ix_rating_rescue_org')
        batch_op.drop_index(batch_op.f('ix_rating_rescue_equipment_id'))

    op.drop_table('rating_rescue')
    with op.batch_alter_table('rating_patrol', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rating_patrol_region_code'))
        batch_op.drop_index(batch_op.f('ix_rating_patrol_maintenance_org_id'))

    op.drop_table('rating_patrol')
