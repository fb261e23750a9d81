"""sla: working-time calendars, daily digests, case pause/extension/flag columns

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 05:00:00.000000

"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import app.database

# revision identifiers, used by Alembic.
revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('calendars',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.Column('tz', sa.String(length=64), nullable=False),
    sa.Column('hours', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('is_default', sa.Boolean(), nullable=False),
    sa.Column('etag', sa.String(length=32), nullable=False),
    sa.Column('updated_at', app.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sa.String(length=80), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('calendar_days',
    sa.Column('calendar_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('is_workday', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['calendar_id'], ['calendars.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('calendar_id', 'day')
    )
    op.create_table('calendar_years',
    sa.Column('calendar_id', sa.Integer(), nullable=False),
    sa.Column('year', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('source', sa.String(length=40), nullable=False),
    sa.Column('updated_at', app.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sa.String(length=80), nullable=False),
    sa.ForeignKeyConstraint(['calendar_id'], ['calendars.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('calendar_id', 'year')
    )
    op.create_table('org_unit_calendars',
    sa.Column('org_unit_id', sa.Integer(), nullable=False),
    sa.Column('calendar_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['calendar_id'], ['calendars.id'], ),
    sa.ForeignKeyConstraint(['org_unit_id'], ['org_units.id'], ),
    sa.PrimaryKeyConstraint('org_unit_id')
    )
    with op.batch_alter_table('org_unit_calendars', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_org_unit_calendars_calendar_id'), ['calendar_id'], unique=False)

    op.create_table('sla_digests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('org_unit_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('counts', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('created_at', app.database.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['org_unit_id'], ['org_units.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('org_unit_id', 'day')
    )
    with op.batch_alter_table('sla_digests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sla_digests_day'), ['day'], unique=False)

    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('paused_at', app.database.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('paused_seconds', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('extension_count', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('sla_flag', sa.String(length=20), nullable=True))


def downgrade():
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_column('sla_flag')
        batch_op.drop_column('extension_count')
        batch_op.drop_column('paused_seconds')
        batch_op.drop_column('paused_at')

    with op.batch_alter_table('sla_digests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sla_digests_day'))

    op.drop_table('sla_digests')
    with op.batch_alter_table('org_unit_calendars', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_org_unit_calendars_calendar_id'))

    op.drop_table('org_unit_calendars')
    op.drop_table('calendar_years')
    op.drop_table('calendar_days')
    op.drop_table('calendars')
