"""The job rows: written with the state change that makes a service task READY, claimed once.

`keep_in_step` runs inside every state change's transaction (`services._persist`), like
`timers.keep_in_step`: it adds a `queued` row for each service task that became READY and
cancels the active rows of tasks that no longer wait (an interrupting boundary event). The
other functions are the conditional updates a worker makes; each names the state (and, once
running, the worker and attempt) it expects, so of two workers only one ever wins.
"""

import datetime

import orjson
from sqlalchemy import and_
from sqlalchemy import bindparam
from sqlalchemy import insert
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy import update

from app.core.store import Conflict
from app.models import Job

JOBS = Job.__table__
QUEUED, RUNNING, ANSWERED, DONE, CANCELLED = "queued", "running", "answered", "done", "cancelled"
ACTIVE = (QUEUED, RUNNING, ANSWERED)
MAX_RETRIES = 5  # whatever the diagram says, at most 1 + 5 attempts

# Statements built once with bound parameters: constructing them costs more than running them.
_ID, _NOW = JOBS.c.id == bindparam("job_id"), bindparam("now")
_ACTIVE_OF = select(JOBS.c.id, JOBS.c.task_id).where(
    JOBS.c.instance_id == bindparam("instance_id"), JOBS.c.state.in_(ACTIVE))
_INSERT = insert(JOBS)
_READ = select(JOBS).where(_ID)
_MOVE = {expected: update(JOBS).where(_ID, JOBS.c.state.in_(expected)).values(
    state=bindparam("new_state"), lease_until=None, updated_at=_NOW)
    for expected in ((ANSWERED,), ACTIVE)}
_CLAIMABLE = or_(and_(JOBS.c.state == QUEUED, JOBS.c.run_after <= _NOW),
                 and_(JOBS.c.state == RUNNING, JOBS.c.lease_until < _NOW))
_CLAIM = update(JOBS).where(_ID, _CLAIMABLE).values(
    state=RUNNING, worker=bindparam("claimant"), lease_until=bindparam("until"),
    attempts=JOBS.c.attempts + 1, updated_at=_NOW)
# a worker's write: the job is still running, by it, in this attempt
_HELD = (_ID, JOBS.c.state == RUNNING, JOBS.c.worker == bindparam("claimant"),
         JOBS.c.attempts == bindparam("attempt"))
_ANSWER = update(JOBS).where(*_HELD).values(
    state=ANSWERED, answer=bindparam("answer_json"), lease_until=None,
    last_error=bindparam("error"), updated_at=_NOW)
_REQUEUE = update(JOBS).where(*_HELD).values(
    state=QUEUED, run_after=bindparam("retry_at"), lease_until=None, worker=None,
    last_error=bindparam("error"), updated_at=_NOW)


def _row(instance_id: str, call, now: datetime.datetime) -> dict:
    return {"instance_id": instance_id, "task_id": call.task_id, "process_key": call.process_key,
            "bpmn_id": call.bpmn_id, "occurrence": call.occurrence, "operator": call.operator,
            "params": orjson.dumps(call.params).decode(),
            "idempotency_key": call.task_id,  # the same on every attempt and incident retry
            "state": QUEUED, "attempts": 0, "max_attempts": 1 + min(call.retries, MAX_RETRIES),
            "backoff_base": call.backoff_base, "run_after": now, "created_at": now,
            "updated_at": now}


def keep_in_step(conn, instance_id: str, calls: list, *, now: datetime.datetime,
                 applied: int | None = None) -> list[int]:
    """Make the instance's active job rows match its READY service `calls`; return new ids.

    `applied` is the job whose answer this change applied: it must still be `answered`,
    else Conflict (another worker applied it) and the caller's transaction writes nothing.
    """
    if applied is not None and not _move(conn, applied, (ANSWERED,), DONE, now):
        raise Conflict(f"job {applied} was applied by another worker")
    pending = {call.task_id: call for call in calls}
    for row in conn.execute(_ACTIVE_OF, {"instance_id": instance_id}).all():
        if pending.pop(row.task_id, None) is None:
            _move(conn, row.id, ACTIVE, CANCELLED, now)
    return [conn.execute(_INSERT, _row(instance_id, call, now)).inserted_primary_key[0]
            for call in pending.values()]


def _move(conn, job_id: int, expected: tuple, state: str, now) -> bool:
    return conn.execute(_MOVE[expected], {"job_id": job_id, "new_state": state,
                                          "now": now}).rowcount == 1


def read(conn, job_id: int):
    """Return a job row, or None."""
    return conn.execute(_READ, {"job_id": job_id}).first()


def claim(conn, job_id: int, worker: str, now: datetime.datetime, lease: float) -> bool:
    """Take a due job (or one whose worker's lease ran out) for `worker`; tell if it won."""
    until = now + datetime.timedelta(seconds=lease)
    return conn.execute(_CLAIM, {"job_id": job_id, "claimant": worker, "until": until,
                                 "now": now}).rowcount == 1


def _held(job) -> dict:
    return {"job_id": job.id, "claimant": job.worker, "attempt": job.attempts}


def answer(conn, job, answer: dict, now: datetime.datetime) -> bool:
    """Store the handler's final answer of a running job; False if its lease was lost."""
    return conn.execute(_ANSWER, {**_held(job), "answer_json": orjson.dumps(answer).decode(),
                                  "error": answer.get("error"), "now": now}).rowcount == 1


def requeue(conn, job, error: str, run_after: datetime.datetime, now) -> bool:
    """Put a running job back to wait for `run_after` after a transient failure."""
    return conn.execute(_REQUEUE, {**_held(job), "retry_at": run_after, "error": error,
                                   "now": now}).rowcount == 1


def cancel(conn, job_id: int, now: datetime.datetime) -> bool:
    """Cancel an active job whose task no longer waits for it."""
    return _move(conn, job_id, ACTIVE, CANCELLED, now)


def runnable(conn, now: datetime.datetime, limit: int = 100, instance_id: str | None = None):
    """Return the ids of jobs a worker could take now: due, lease expired, or to be applied."""
    query = select(JOBS.c.id).where(or_(_CLAIMABLE, JOBS.c.state == ANSWERED))
    if instance_id is not None:
        query = query.where(JOBS.c.instance_id == instance_id)
    query = query.order_by(JOBS.c.run_after, JOBS.c.id).limit(limit)
    return list(conn.execute(query, {"now": now}).scalars())


def next_moment(conn) -> datetime.datetime | None:
    """Return the earliest moment a queued job or a lease comes due, or None."""
    queued = conn.execute(select(JOBS.c.run_after).where(JOBS.c.state == QUEUED)
                          .order_by(JOBS.c.run_after).limit(1)).scalar()
    leased = conn.execute(select(JOBS.c.lease_until).where(JOBS.c.state == RUNNING)
                          .order_by(JOBS.c.lease_until).limit(1)).scalar()
    return min((m for m in (queued, leased) if m is not None), default=None)


def active_of(conn, instance_id: str) -> list:
    """Return the active jobs of an instance (what it waits for), oldest first."""
    return conn.execute(select(JOBS.c.id, JOBS.c.bpmn_id, JOBS.c.operator, JOBS.c.state,
                               JOBS.c.attempts, JOBS.c.max_attempts, JOBS.c.run_after,
                               JOBS.c.last_error, JOBS.c.created_at)
                        .where(JOBS.c.instance_id == instance_id, JOBS.c.state.in_(ACTIVE))
                        .order_by(JOBS.c.id)).all()


def answers_of(conn, instance_id: str) -> dict:
    """Return {job id: its answer} of an instance's answered or applied jobs."""
    rows = conn.execute(select(JOBS.c.id, JOBS.c.answer).where(
        JOBS.c.instance_id == instance_id, JOBS.c.answer.is_not(None))).all()
    return {row.id: orjson.loads(row.answer) for row in rows}
