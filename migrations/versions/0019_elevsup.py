"""电梯维保监管: maintenance warnings (elevator_warning) and the indexes of the overdue-plan view and the
statistics (planned visits by due date; work orders by kind and check-in time, covering on PostgreSQL)

Revision ID: 0019_elevsup
Revises: 0019_rating
"""
import sqlalchemy as sa
from alembic import op

revision = "0019_elevsup"
down_revision = "0019_rating"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('elevator_warning',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('rule', sa.String(length=20), nullable=False),
    sa.Column('cause_key', sa.String(length=100), nullable=False),
    sa.Column('level', sa.String(length=8), nullable=False),
    sa.Column('region_code', sa.String(length=6), nullable=False),
    sa.Column('maintenance_org_id', sa.Integer(), nullable=False),
    sa.Column('equipment_id', sa.Integer(), nullable=True),
    sa.Column('work_order_id', sa.Integer(), nullable=True),
    sa.Column('maintainer_id', sa.Integer(), nullable=True),
    sa.Column('summary', sa.String(length=300), nullable=False),
    sa.Column('evidence', sa.Text(), nullable=False),
    sa.Column('source', sa.String(length=10), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_by_id', sa.Integer(), nullable=True),
    sa.Column('close_reason', sa.String(length=500), nullable=True),
    sa.ForeignKeyConstraint(['closed_by_id'], ['user_account.id'], name=op.f('fk_elevator_warning_closed_by_id_user_account')),
    sa.ForeignKeyConstraint(['equipment_id'], ['equipment.id'], name=op.f('fk_elevator_warning_equipment_id_equipment'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['maintainer_id'], ['user_account.id'], name=op.f('fk_elevator_warning_maintainer_id_user_account')),
    sa.ForeignKeyConstraint(['maintenance_org_id'], ['organization.id'], name=op.f('fk_elevator_warning_maintenance_org_id_organization')),
    sa.ForeignKeyConstraint(['work_order_id'], ['elevator_work_order.id'], name=op.f('fk_elevator_warning_work_order_id_elevator_work_order'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_elevator_warning')),
    sa.UniqueConstraint('cause_key', name=op.f('uq_elevator_warning_cause_key'))
    )
    op.create_index('ix_elevator_warning_region', 'elevator_warning', ['region_code', 'status', 'opened_at'])
    op.create_index('ix_elevator_warning_status', 'elevator_warning', ['status', 'opened_at'])
    op.create_index('ix_elevator_warning_org', 'elevator_warning', ['maintenance_org_id', 'status', 'opened_at'])
    op.create_index('ix_elevator_warning_equipment', 'elevator_warning', ['equipment_id', 'opened_at'])
    op.create_index('ix_elevator_plan_late', 'elevator_plan', ['due_on'],
                    postgresql_include=['equipment_id', 'maintenance_org_id'],
                    postgresql_where=sa.text("status = 'planned'"), sqlite_where=sa.text("status = 'planned'"))
    op.create_index('ix_elevator_wo_kind_checkin', 'elevator_work_order', ['kind', 'checkin_at'],
                    postgresql_include=['region_code', 'maintenance_org_id', 'maintainer_id', 'equipment_id', 'status',
                                        'checkout_at'])


def downgrade():
    op.drop_index('ix_elevator_wo_kind_checkin', table_name='elevator_work_order')
    op.drop_index('ix_elevator_plan_late', table_name='elevator_plan')
    op.drop_index('ix_elevator_warning_equipment', table_name='elevator_warning')
    op.drop_index('ix_elevator_warning_org', table_name='elevator_warning')
    op.drop_index('ix_elevator_warning_status', table_name='elevator_warning')
    op.drop_index('ix_elevator_warning_region', table_name='elevator_warning')
    op.drop_table('elevator_warning')
