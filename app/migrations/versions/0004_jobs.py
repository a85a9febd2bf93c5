"""Service tasks as jobs: the outbox table workers claim (issue 7).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade():
    """Create the job table (no data to move: service tasks used to run inside requests)."""
    op.create_table(
        "job",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("instance_id", sa.String(length=36), nullable=False),
        sa.Column("task_id", sa.String(length=36), nullable=False),
        sa.Column("process_key", sa.String(length=120), nullable=False),
        sa.Column("bpmn_id", sa.String(length=120), nullable=False),
        sa.Column("occurrence", sa.Integer(), nullable=False),
        sa.Column("operator", sa.String(length=120), nullable=False),
        sa.Column("params", sa.Text(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=120), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("backoff_base", sa.Float(), nullable=False),
        sa.Column("run_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("worker", sa.String(length=120), nullable=True),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["instance_id"], ["process_instance.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_job_runnable", "job", ["state", "run_after"], unique=False)
    op.create_index("ix_job_instance_id", "job", ["instance_id"], unique=False)


def downgrade():
    """Drop the job table."""
    op.drop_index("ix_job_instance_id", table_name="job")
    op.drop_index("ix_job_runnable", table_name="job")
    op.drop_table("job")
