"""Signed checkpoints of every journal's head (issue 9).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade():
    """Create the checkpoint table (nothing to move: the first checkpoint is taken afterwards)."""
    op.create_table(
        "checkpoint",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("prev_digest", sa.String(length=64), nullable=False),
        sa.Column("root_digest", sa.String(length=64), nullable=False),
        sa.Column("cases", sa.Integer(), nullable=False),
        sa.Column("signed_xml", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("prev_digest"),
    )


def downgrade():
    """Drop the checkpoint table; the signed files handed out keep their worth."""
    op.drop_table("checkpoint")
