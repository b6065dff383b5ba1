"""电梯维保统计: the daily summary elevator_stats_day (day × county × maintenance unit × maintainer), filled from
the existing maintenance records and warnings

Revision ID: 0020_stats
Revises: 0019_elevsup
"""
import sqlalchemy as sa
from alembic import op

revision = "0020_stats"
down_revision = "0019_elevsup"
branch_labels = None
depends_on = None

COUNTS = ["records", "timed", "type_half", "type_quarter", "type_half_year", "type_year", "warnings",
          "warnings_closed", "w_overdue", "w_short_duration", "w_volume_day", "w_volume_month", "w_position",
          "w_photo", "w_certificate", "w_failed_items", "w_photo_interval"]


def _columns(period: str, with_maintainer: bool = True) -> list:
    columns = [sa.Column('id', sa.Integer(), nullable=False),
               sa.Column(period, sa.Date(), nullable=False),
               sa.Column('region_code', sa.String(length=6), nullable=False),
               sa.Column('maintenance_org_id', sa.Integer(), nullable=False)]
    if with_maintainer:
        columns.append(sa.Column('maintainer_id', sa.Integer(), nullable=False))
    for name in COUNTS[:2]:
        columns.append(sa.Column(name, sa.Integer(), nullable=False))
    columns.append(sa.Column('seconds', sa.Float(), nullable=False))
    for name in COUNTS[2:]:
        columns.append(sa.Column(name, sa.Integer(), nullable=False))
    return columns


def upgrade():
    op.create_table('elevator_stats_day', *_columns('day'),
                    sa.PrimaryKeyConstraint('id', name=op.f('pk_elevator_stats_day')),
                    sa.UniqueConstraint('maintenance_org_id', 'day', 'region_code', 'maintainer_id',
                                        name='uq_elevator_stats_day_key'))
    op.create_index('ix_elevator_stats_day_region', 'elevator_stats_day', ['day', 'region_code'])
    op.create_index('ix_elevator_stats_day_unit', 'elevator_stats_day', ['day', 'region_code'],
                    postgresql_where=sa.text("maintainer_id = -1"), sqlite_where=sa.text("maintainer_id = -1"))
    op.create_table('elevator_stats_month', *_columns('month', with_maintainer=False),
                    sa.PrimaryKeyConstraint('id', name=op.f('pk_elevator_stats_month')),
                    sa.UniqueConstraint('maintenance_org_id', 'month', 'region_code', name='uq_elevator_stats_month_key'))
    op.create_index('ix_elevator_stats_month_region', 'elevator_stats_month', ['month', 'region_code'])
    bind = op.get_bind()
    first = bind.execute(sa.text("SELECT min(checkin_at) FROM elevator_work_order")).scalar()
    if first is not None:                       # existing records: summarise them (set-based, by month)
        from datetime import date, timedelta

        from app.elevator_supervision.summary import _replace, _replace_months
        start = first.date() if hasattr(first, "date") else date.fromisoformat(str(first)[:10])
        start = (start - timedelta(days=1)).replace(day=1)
        _replace(bind, start, date(2100, 1, 1))
        _replace_months(bind, start, date(2100, 1, 1))


def downgrade():
    op.drop_index('ix_elevator_stats_month_region', table_name='elevator_stats_month')
    op.drop_table('elevator_stats_month')
    op.drop_index('ix_elevator_stats_day_unit', table_name='elevator_stats_day')
    op.drop_index('ix_elevator_stats_day_region', table_name='elevator_stats_day')
    op.drop_table('elevator_stats_day')
