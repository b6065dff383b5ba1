"""third-party maintenance platforms: API credentials issued to maintenance units (secret SM4-GCM encrypted),
nonces of signed requests, uploaded records by idempotency key

Revision ID: 0019_platform
Revises: 0018_elevators
"""
import sqlalchemy as sa
from alembic import op

revision = "0019_platform"
down_revision = "0018_elevators"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('platform_credential',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key_id', sa.String(length=40), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('region_code', sa.String(length=6), nullable=False),
    sa.Column('platform_name', sa.String(length=80), nullable=False),
    sa.Column('secret_ref', sa.String(length=32), nullable=False),
    sa.Column('secret_enc', sa.LargeBinary(), nullable=False),
    sa.Column('secret_fingerprint', sa.String(length=16), nullable=False),
    sa.Column('issued_by_id', sa.Integer(), nullable=False),
    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_by_id', sa.Integer(), nullable=True),
    sa.Column('revoke_reason', sa.String(length=200), nullable=True),
    sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('record_count', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['issued_by_id'], ['user_account.id'], name=op.f('fk_platform_credential_issued_by_id_user_account')),
    sa.ForeignKeyConstraint(['org_id'], ['organization.id'], name=op.f('fk_platform_credential_org_id_organization')),
    sa.ForeignKeyConstraint(['revoked_by_id'], ['user_account.id'], name=op.f('fk_platform_credential_revoked_by_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_platform_credential')),
    sa.UniqueConstraint('key_id', name=op.f('uq_platform_credential_key_id'))
    )
    op.create_index(op.f('ix_platform_credential_org_id'), 'platform_credential', ['org_id'], unique=False)
    op.create_index(op.f('ix_platform_credential_region_code'), 'platform_credential', ['region_code'], unique=False)
    op.create_table('platform_nonce',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('credential_id', sa.Integer(), nullable=False),
    sa.Column('nonce', sa.String(length=64), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['credential_id'], ['platform_credential.id'], name=op.f('fk_platform_nonce_credential_id_platform_credential'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_platform_nonce')),
    sa.UniqueConstraint('credential_id', 'nonce', name=op.f('uq_platform_nonce_credential_id'))
    )
    op.create_index(op.f('ix_platform_nonce_expires_at'), 'platform_nonce', ['expires_at'], unique=False)
    op.create_table('platform_record',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('credential_id', sa.Integer(), nullable=False),
    sa.Column('idempotency_key', sa.String(length=64), nullable=False),
    sa.Column('work_order_id', sa.Integer(), nullable=False),
    sa.Column('batch_no', sa.String(length=32), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['credential_id'], ['platform_credential.id'], name=op.f('fk_platform_record_credential_id_platform_credential')),
    sa.ForeignKeyConstraint(['org_id'], ['organization.id'], name=op.f('fk_platform_record_org_id_organization')),
    sa.ForeignKeyConstraint(['work_order_id'], ['elevator_work_order.id'], name=op.f('fk_platform_record_work_order_id_elevator_work_order'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_platform_record')),
    sa.UniqueConstraint('org_id', 'idempotency_key', name=op.f('uq_platform_record_org_id'))
    )
    op.create_index('ix_platform_record_order', 'platform_record', ['work_order_id'], unique=False)


def downgrade():
    op.drop_index('ix_platform_record_order', table_name='platform_record')
    op.drop_table('platform_record')
    op.drop_index(op.f('ix_platform_nonce_expires_at'), table_name='platform_nonce')
    op.drop_table('platform_nonce')
    op.drop_index(op.f('ix_platform_credential_region_code'), table_name='platform_credential')
    op.drop_index(op.f('ix_platform_credential_org_id'), table_name='platform_credential')
    op.drop_table('platform_credential')
