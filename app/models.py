"""Database tables: users, versioned definitions, instances, inbox tasks, the audit journal."""

import datetime

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import DateTime
from sqlalchemy import Index
from sqlalchemy import TypeDecorator
from sqlalchemy import UniqueConstraint
from sqlalchemy.orm import deferred

db = SQLAlchemy()


def utcnow() -> datetime.datetime:
    """Return the wall clock's time in UTC: only a column default of last resort.

    Every write passes the Runtime's clock (`app.timing.clock`) explicitly; nothing relies on this.
    """
    return datetime.datetime.now(datetime.UTC)


class UTCDateTime(TypeDecorator):
    """A moment stored as UTC and read back timezone-aware in UTC, on every database.

    SQLite keeps no offset (it would hand back naive values) and PostgreSQL answers in the
    session's time zone; both now give the same aware UTC datetime. The column is
    DateTime(timezone=True), as in the migrations.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        """Store an aware moment as UTC; a naive one is refused (its zone is unknown)."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"a naive datetime cannot be stored: {value!r}")
        return value.astimezone(datetime.UTC)

    def process_result_value(self, value, dialect):
        """Return the stored moment as an aware UTC datetime."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=datetime.UTC)
        return value.astimezone(datetime.UTC)


class User(db.Model):
    """A member of staff; `roles` is a space-separated list of role ids (lane ids)."""

    id = db.Column(db.Integer, primary_key=True)
    username = db.Column(db.String(64), unique=True, nullable=False)
    full_name = db.Column(db.String(200), nullable=False)
    password_hash = db.Column(db.String(256), nullable=False)
    roles = db.Column(db.String(200), nullable=False, default="")

    @property
    def role_set(self) -> frozenset[str]:
        """Return the user's roles as a set."""
        return frozenset(self.roles.split())


class ProcessDefinition(db.Model):
    """One deployed version of a regulation's diagram, with its parsed spec stored once."""

    id = db.Column(db.Integer, primary_key=True)
    key = db.Column(db.String(120), nullable=False)
    version = db.Column(db.Integer, nullable=False)
    sha256 = db.Column(db.String(64), nullable=False)
    sources = deferred(db.Column(db.JSON, nullable=False))  # {file: XML}, process and callees
    specs = deferred(db.Column(db.Text, nullable=False))  # serialized SpiffWorkflow specs
    manifest = db.Column(db.JSON, nullable=False)  # titles, lanes, task properties (app.diagram)
    deployed_by = db.Column(db.String(64), nullable=False)
    deployed_at = db.Column(UTCDateTime, nullable=False, default=utcnow)
    __table_args__ = (UniqueConstraint("key", "version"),)


class ProcessInstance(db.Model):
    """One application going through a regulation; `state` is the workflow without its spec."""

    id = db.Column(db.String(36), primary_key=True)
    definition_id = db.Column(db.ForeignKey("process_definition.id"), nullable=False)
    business_key = db.Column(db.String(40), unique=True, nullable=False)
    applicant_iin_bin = db.Column(db.String(12), index=True)
    status = db.Column(db.String(16), nullable=False, index=True)
    outcome = db.Column(db.String(120))
    incident = db.Column(db.JSON)
    state = deferred(db.Column(db.Text, nullable=False))  # read only when not cached
    # the journal seq the stored `state` is a snapshot at; later inputs are its journal's tail
    state_seq = db.Column(db.Integer, nullable=False, default=0)
    serializer_version = db.Column(db.String(16), nullable=False)
    lock_version = db.Column(db.Integer, nullable=False, default=1)
    # the journal's head, moved under the same lock_version check as every other change
    journal_seq = db.Column(db.Integer, nullable=False, default=0)
    journal_hash = db.Column(db.String(64), nullable=False, default="0" * 64)
    started_by = db.Column(db.String(64), nullable=False)
    created_at = db.Column(UTCDateTime, nullable=False, default=utcnow)
    updated_at = db.Column(UTCDateTime, nullable=False, default=utcnow)


class Task(db.Model):
    """A user task as inboxes see it; the id is SpiffWorkflow's task id."""

    id = db.Column(db.String(36), primary_key=True)
    instance_id = db.Column(db.ForeignKey("process_instance.id"), nullable=False, index=True)
    process_key = db.Column(db.String(120), nullable=False)  # the (sub)process that holds the task
    bpmn_id = db.Column(db.String(120), nullable=False)
    name = db.Column(db.String(300), nullable=False)
    lane = db.Column(db.String(64), nullable=False)
    state = db.Column(db.String(16), nullable=False)  # ready | completed | cancelled
    assignee = db.Column(db.String(64))
    due_at = db.Column(UTCDateTime)
    created_at = db.Column(UTCDateTime, nullable=False, default=utcnow)
    completed_by = db.Column(db.String(64))
    completed_at = db.Column(UTCDateTime)
    escalated_at = db.Column(UTCDateTime)  # when its step deadline passed (the task stays open)
    __table_args__ = (Index("ix_task_inbox", "lane", "state"),)


class Timer(db.Model):
    """A wait with a due moment: a BPMN timer event, or the deadline of a user task's step.

    Written in the transaction that starts the wait and closed in the one that ends it
    (`app.timing.timers`); the scheduler claims a due row with a conditional update
    (`app.jobs.scheduler`).
    """

    id = db.Column(db.Integer, primary_key=True)
    instance_id = db.Column(db.ForeignKey("process_instance.id"), nullable=False, index=True)
    bpmn_id = db.Column(db.String(120), nullable=False)  # the waiting event or user task
    task_id = db.Column(db.String(36), nullable=False)  # its SpiffWorkflow task id
    kind = db.Column(db.String(16), nullable=False)  # bpmn_timer | step_deadline
    state = db.Column(db.String(16), nullable=False)  # waiting | fired | cancelled
    due_at = db.Column(UTCDateTime, nullable=False)
    created_at = db.Column(UTCDateTime, nullable=False)  # the clock when the wait began
    fired_at = db.Column(UTCDateTime)  # the clock value it fired at (journalled with it)
    calendar_version = db.Column(db.String(40))  # of a working-day deadline
    __table_args__ = (Index("ix_timer_due", "state", "due_at"),)


class Job(db.Model):
    """A service task's call to a state system: the outbox row a worker claims and runs.

    Written in the transaction that makes the service task READY (`app.jobs.queue`). A
    worker claims it with a conditional update and a lease (`running` until `lease_until`),
    commits the handler's answer with its journal entry (`answered`), then applies it to
    the workflow (`done`). A transient failure puts it back to `queued` with a later
    `run_after`; a task cancelled meanwhile cancels it. `params` may hold secrets that the
    handler needs (a portal session): only the journal's redacted copy is ever shown.
    """

    id = db.Column(db.Integer, primary_key=True)
    instance_id = db.Column(db.ForeignKey("process_instance.id"), nullable=False, index=True)
    task_id = db.Column(db.String(36), nullable=False)  # the READY service task
    process_key = db.Column(db.String(120), nullable=False)
    bpmn_id = db.Column(db.String(120), nullable=False)
    occurrence = db.Column(db.Integer, nullable=False)
    operator = db.Column(db.String(120), nullable=False)
    params = db.Column(db.Text, nullable=False)  # JSON of the evaluated request
    idempotency_key = db.Column(db.String(120), nullable=False)
    state = db.Column(db.String(16), nullable=False)  # queued|running|answered|done|cancelled
    attempts = db.Column(db.Integer, nullable=False, default=0)
    max_attempts = db.Column(db.Integer, nullable=False)
    backoff_base = db.Column(db.Float, nullable=False)
    run_after = db.Column(UTCDateTime, nullable=False)
    lease_until = db.Column(UTCDateTime)
    worker = db.Column(db.String(120))
    answer = db.Column(db.Text)  # JSON {"result": …} or {"error": "…"} once answered
    last_error = db.Column(db.Text)  # of the latest failed attempt (redacted)
    created_at = db.Column(UTCDateTime, nullable=False)
    updated_at = db.Column(UTCDateTime, nullable=False)
    __table_args__ = (Index("ix_job_runnable", "state", "run_after"),)


class AuditEvent(db.Model):
    """An append-only journal entry, hash-chained per instance."""

    id = db.Column(db.Integer, primary_key=True)
    instance_id = db.Column(db.String(36), nullable=False)
    seq = db.Column(db.Integer, nullable=False)
    type = db.Column(db.String(40), nullable=False)
    actor = db.Column(db.String(64), nullable=False)
    at = db.Column(db.String(40), nullable=False)  # ISO 8601 UTC, exactly as hashed
    payload = db.Column(db.Text, nullable=False)  # canonical JSON, exactly as hashed
    prev_hash = db.Column(db.String(64), nullable=False)
    hash = db.Column(db.String(64), nullable=False)
    __table_args__ = (UniqueConstraint("instance_id", "seq"),)


class Credential(db.Model):
    """A sign-in that can be ended: a browser session or an API token.

    Only the sha256 of the secret is stored; the secret itself lives in the client's cookie
    or Authorization header. Logout, `DELETE /api/v1/auth/token`, an admin, or a password
    change set `revoked_at`, and the credential stops working at once everywhere.
    """

    digest = db.Column(db.String(64), primary_key=True)
    kind = db.Column(db.String(16), nullable=False)  # session | token
    username = db.Column(db.String(64), nullable=False, index=True)
    created_at = db.Column(UTCDateTime, nullable=False, default=utcnow)
    expires_at = db.Column(UTCDateTime, nullable=False)
    revoked_at = db.Column(UTCDateTime)


class Checkpoint(db.Model):
    """A signed checkpoint of every journal (`app.audit.checkpoints`): the heads of all chains,
    hashed into `root_digest`, chained to the previous checkpoint by `prev_digest` (the sha256
    of its signed XML) and signed with the provider's EDS. `prev_digest` is unique, so the
    checkpoints form one line even when several schedulers take one at the same moment."""

    id = db.Column(db.Integer, primary_key=True)  # the number the signed document carries
    created_at = db.Column(UTCDateTime, nullable=False)  # the host's clock
    prev_digest = db.Column(db.String(64), nullable=False, unique=True)
    root_digest = db.Column(db.String(64), nullable=False)
    cases = db.Column(db.Integer, nullable=False)
    signed_xml = deferred(db.Column(db.Text, nullable=False))
