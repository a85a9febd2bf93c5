"""The journal is append-only in the database too: triggers refuse UPDATE and DELETE (issue 9).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

from alembic import op

from app.audit import append_only

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade():
    """Install the triggers on audit_event (SQLite: RAISE(ABORT); PostgreSQL: plpgsql)."""
    for statement in append_only.install_statements(op.get_context().dialect.name):
        op.execute(statement)


def downgrade():
    """Remove the triggers; the rows stay as they are."""
    for statement in append_only.remove_statements(op.get_context().dialect.name):
        op.execute(statement)
