"""Timers as rows, and the escalation of an overdue step (issue 7).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    """Create the timer table, give task escalated_at, and rows for open steps' deadlines."""
    op.create_table(
        "timer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("instance_id", sa.String(length=36), nullable=False),
        sa.Column("bpmn_id", sa.String(length=120), nullable=False),
        sa.Column("task_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("fired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("calendar_version", sa.String(length=40), nullable=True),
        sa.ForeignKeyConstraint(["instance_id"], ["process_instance.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_timer_due", "timer", ["state", "due_at"], unique=False)
    op.create_index("ix_timer_instance_id", "timer", ["instance_id"], unique=False)
    with op.batch_alter_table("task", schema=None) as batch_op:
        batch_op.add_column(sa.Column("escalated_at", sa.DateTime(timezone=True), nullable=True))
    # open steps of running cases keep their deadline: one waiting row per ready task with a
    # due_at (no diagram had a timer event before this revision; the calendar version is unknown)
    op.execute("INSERT INTO timer (instance_id, bpmn_id, task_id, kind, state, due_at, created_at) "
               "SELECT instance_id, bpmn_id, id, 'step_deadline', 'waiting', due_at, created_at "
               "FROM task WHERE state = 'ready' AND due_at IS NOT NULL")


def downgrade():
    """Drop task.escalated_at and the timer table."""
    with op.batch_alter_table("task", schema=None) as batch_op:
        batch_op.drop_column("escalated_at")
    op.drop_index("ix_timer_instance_id", table_name="timer")
    op.drop_index("ix_timer_due", table_name="timer")
    op.drop_table("timer")
