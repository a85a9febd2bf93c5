"""The stored workflow state is a snapshot; the journal's tail after it holds the rest (issue 7).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade():
    """Add process_instance.state_seq: every existing row's state is current (its journal head)."""
    with op.batch_alter_table("process_instance", schema=None) as batch_op:
        batch_op.add_column(sa.Column("state_seq", sa.Integer(), nullable=False,
                                      server_default="0"))
    op.execute("UPDATE process_instance SET state_seq = journal_seq")


def downgrade():
    """Drop state_seq; refused while a case's state is older than its journal (older code
    would lose the tail's inputs)."""
    behind = op.get_bind().execute(sa.text(
        "SELECT count(*) FROM process_instance WHERE state_seq < journal_seq")).scalar()
    if behind:
        raise RuntimeError(f"{behind} cases keep inputs in their journal's tail: run them with "
                           "STATE_SNAPSHOT_EVERY = 1 until each has been written, then downgrade")
    with op.batch_alter_table("process_instance", schema=None) as batch_op:
        batch_op.drop_column("state_seq")
