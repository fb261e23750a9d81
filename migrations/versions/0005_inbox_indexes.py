"""inbox indexes: group / mine / unassigned, split by assignee_id (bench/inbox.py, issue 5)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 07:30:00.000000

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def _where(condition):
    return {f"{dialect}_where": sa.text(condition) for dialect in ("sqlite", "postgresql")}


def upgrade():
    with op.batch_alter_table('human_tasks', schema=None) as batch_op:
        batch_op.drop_index('ix_tasks_group')
        batch_op.drop_index('ix_tasks_mine')
        batch_op.create_index(
            'ix_tasks_group',
            ['status', 'role', 'org_unit_id', 'due_at', 'id', 'assignee_id'],
            **_where('assignee_id IS NULL'),
        )
        batch_op.create_index(
            'ix_tasks_mine',
            ['assignee_id', 'status', 'due_at', 'id'],
            **_where('assignee_id IS NOT NULL'),
        )
        batch_op.create_index(
            'ix_tasks_unassigned',
            ['status', 'due_at', 'id', 'assignee_id'],
            **_where('assignee_id IS NULL'),
        )


def downgrade():
    with op.batch_alter_table('human_tasks', schema=None) as batch_op:
        batch_op.drop_index('ix_tasks_unassigned')
        batch_op.drop_index('ix_tasks_mine')
        batch_op.drop_index('ix_tasks_group')
        batch_op.create_index('ix_tasks_mine', ['assignee_id', 'status', 'due_at'])
        batch_op.create_index('ix_tasks_group', ['status', 'role', 'org_unit_id', 'due_at'])
