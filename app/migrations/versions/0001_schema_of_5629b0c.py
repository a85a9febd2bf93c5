"""The schema as db.create_all() made it at commit 5629b0c, before Alembic owned it.

Tables, columns, unnamed unique constraints and the generated index names are exactly
those of that commit's app/models.py, so a database made by it is this revision
(`app.cli.upgrade_database` stamps it; tests/fixtures/schema_5629b0c_*.sql pin it).

Revision ID: 0001
Revises:
Create Date: 2026-11-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    """Create user, process_definition, process_instance, task and audit_event."""
    op.create_table(
        "audit_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("instance_id", sa.String(length=36), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=40), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("at", sa.String(length=40), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("instance_id", "seq"),
    )
    op.create_table(
        "process_definition",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=120), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("sources", sa.JSON(), nullable=False),
        sa.Column("specs", sa.Text(), nullable=False),
        sa.Column("manifest", sa.JSON(), nullable=False),
        sa.Column("deployed_by", sa.String(length=64), nullable=False),
        sa.Column("deployed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key", "version"),
    )
    op.create_table(
        "user",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("full_name", sa.String(length=200), nullable=False),
        sa.Column("password_hash", sa.String(length=256), nullable=False),
        sa.Column("roles", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("username"),
    )
    op.create_table(
        "process_instance",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("definition_id", sa.Integer(), nullable=False),
        sa.Column("business_key", sa.String(length=40), nullable=False),
        sa.Column("applicant_iin_bin", sa.String(length=12), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=120), nullable=True),
        sa.Column("incident", sa.JSON(), nullable=True),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("serializer_version", sa.String(length=16), nullable=False),
        sa.Column("lock_version", sa.Integer(), nullable=False),
        sa.Column("journal_seq", sa.Integer(), nullable=False),
        sa.Column("journal_hash", sa.String(length=64), nullable=False),
        sa.Column("started_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["definition_id"], ["process_definition.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("business_key"),
    )
    op.create_index("ix_process_instance_applicant_iin_bin", "process_instance",
                    ["applicant_iin_bin"], unique=False)
    op.create_index("ix_process_instance_status", "process_instance", ["status"], unique=False)
    op.create_table(
        "task",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("instance_id", sa.String(length=36), nullable=False),
        sa.Column("process_key", sa.String(length=120), nullable=False),
        sa.Column("bpmn_id", sa.String(length=120), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("lane", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("assignee", sa.String(length=64), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_by", sa.String(length=64), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["instance_id"], ["process_instance.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_task_instance_id", "task", ["instance_id"], unique=False)
    op.create_index("ix_task_inbox", "task", ["lane", "state"], unique=False)


def downgrade():
    """Drop every table of the first schema."""
    op.drop_index("ix_task_inbox", table_name="task")
    op.drop_index("ix_task_instance_id", table_name="task")
    op.drop_table("task")
    op.drop_index("ix_process_instance_status", table_name="process_instance")
    op.drop_index("ix_process_instance_applicant_iin_bin", table_name="process_instance")
    op.drop_table("process_instance")
    op.drop_table("user")
    op.drop_table("process_definition")
    op.drop_table("audit_event")
