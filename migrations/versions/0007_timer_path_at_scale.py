"""timer path at city scale: a partial index of suspended cases, cheaper engine state storage

The scheduler's claim skips the timers of suspended (挂起) cases; ``ix_cases_paused`` holds
only those, so the claim never scans ``cases``. ``process_instances.state`` is rewritten by
every action; lz4 compresses it several times cheaper than pglz (PostgreSQL 14+ built with
lz4; otherwise the default stays), and ``toast_tuple_target`` keeps the compressed state in
the row instead of the TOAST table.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 17:10:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

PAUSED = sa.text("paused_at IS NOT NULL")


def _set_state_compression(method: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        "DO $$ BEGIN EXECUTE 'ALTER TABLE process_instances ALTER COLUMN state "
        f"SET COMPRESSION {method}'; EXCEPTION WHEN OTHERS THEN "
        "RAISE NOTICE 'process_instances.state keeps its compression: %', SQLERRM; END $$"
    )


def upgrade():
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.create_index(
            'ix_cases_paused', ['id'], unique=False,
            postgresql_where=PAUSED, sqlite_where=PAUSED,
        )
    _set_state_compression("lz4")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE process_instances SET (toast_tuple_target = 8160)")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE process_instances RESET (toast_tuple_target)")
    _set_state_compression("DEFAULT")
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index('ix_cases_paused', postgresql_where=PAUSED, sqlite_where=PAUSED)
