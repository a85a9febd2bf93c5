"""Credentials that can be ended: browser sessions and API tokens (issue 6).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    """Create the credential table and its username index."""
    op.create_table(
        "credential",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("digest"),
    )
    op.create_index("ix_credential_username", "credential", ["username"], unique=False)


def downgrade():
    """Drop the credential table."""
    op.drop_index("ix_credential_username", table_name="credential")
    op.drop_table("credential")
