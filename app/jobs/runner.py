"""Run one job: claim it, call its handler, commit the answer, then apply it to the workflow.

Three transactions, in this order, so that nothing a state system did is ever lost:

1. **claim** — a conditional update takes the row for this worker with a lease;
2. **answer** — the handler is called outside any transaction, with the job's idempotency
   key; its request and response (or error) are committed with their journal entry
   (`service_called`, `service_unavailable`, `service_refused`), guarded by the lease: a
   worker whose lease ran out (it was presumed dead) writes nothing;
3. **apply** — `engine.deliver` runs the service task with the recorded answer and the
   engine moves on; the state, the journal (`service_applied` with the state digest) and the
   job's `done` commit together (`services._persist`), with the next service tasks' jobs.

A transient failure (`Unavailable`) is journalled with the clock and the job waits for a
later `run_after` (back-off as a scheduled job, never a sleep); the last attempt's failure
and any other error are answers too, which the engine turns into an incident.
"""

import datetime
import functools
import inspect
import logging
import time

import orjson

import handlers
from app import services
from app.access.auth import Actor
from app.audit import redaction
from app.core import engine
from app.core import store
from app.jobs import queue
from handlers.errors import Unavailable

log = logging.getLogger(__name__)
WORKER = Actor("jobs", "Job worker", frozenset())  # who journals state systems' answers
MAX_DELAY_SECONDS = 600.0
_RECORD_TRIES = 5  # journal writes that lose to a person's change are tried again


@functools.lru_cache(maxsize=256)
def _takes_idempotency_key(handler) -> bool:
    return "idempotency_key" in inspect.signature(handler).parameters


def run(rt, job_id: int, worker: str) -> str:
    """Take job `job_id` as far as it goes now; return what happened.

    "applied" (the workflow moved on), "retry" (a transient failure: queued for later),
    "busy" (not claimable: not due, held by another worker, or finished), "lost" (the
    lease ran out during the call), or "conflict" (the answer waits to be applied).
    """
    with store.writing() as conn:
        job = queue.read(conn, job_id)
        if job is None or job.state not in queue.ACTIVE:
            return "busy"
        if job.state != queue.ANSWERED:
            if not queue.claim(conn, job_id, worker, rt.clock.now(), rt.job_lease):
                return "busy"
            job = queue.read(conn, job_id)  # as claimed: this worker, this attempt
    if job.state != queue.ANSWERED:
        outcome = _call_and_record(rt, job)
        if outcome != "answered":
            return outcome
    return apply(rt, job_id)


def _call(rt, job) -> tuple:
    """Call the job's handler once: (result, None, transient, ms) or (None, error, …)."""
    params = orjson.loads(job.params)
    secrets = [params[name] for name in handlers.SECRET_PARAMETERS & set(params)]
    handler = rt.handlers.get(job.operator)
    started = time.perf_counter()
    if handler is None:
        return None, f"no handler registered for operator '{job.operator}'", False, 0.0
    if _takes_idempotency_key(handler):
        params = {**params, "idempotency_key": job.idempotency_key}
    try:
        result = handler(**params)
        orjson.dumps(result)  # an answer that cannot be recorded is a handler's error
        error, transient = None, False
    except Exception as err:  # noqa: BLE001 - every handler failure is recorded
        result, transient = None, isinstance(err, Unavailable)
        # scrubbed: the text of a failed call may hold a secret (a session in a URL)
        error = redaction.scrub(str(err), secrets)
        if not transient:
            error = f"{type(err).__name__}: {error}"
    return result, error, transient, round((time.perf_counter() - started) * 1000, 3)


def _call_and_record(rt, job) -> str:
    result, error, transient, ms = _call(rt, job)
    now = rt.clock.now()
    entry = {"job": job.id, "task": job.bpmn_id, "process": job.process_key,
             "occurrence": job.occurrence, "operator": job.operator,
             "params": redaction.redact(orjson.loads(job.params), handlers.SECRET_PARAMETERS),
             "attempt": job.attempts, "clock": now.isoformat(), "ms": ms}
    retry_at = None
    if error is None:
        event, answer = ("service_called", {**entry, "result": result}), {"result": result}
    elif transient and job.attempts < job.max_attempts:
        retry_at = now + datetime.timedelta(seconds=_delay(rt, job))
        event = ("service_unavailable", {**entry, "error": error,
                                         "retry_at": retry_at.isoformat()})
        answer = None
    elif transient:
        event = ("service_unavailable", {**entry, "error": error, "exhausted": True})
        answer = {"error": f"{error} (after {job.attempts} attempts)"}
    else:
        event, answer = ("service_refused", {**entry, "error": error}), {"error": error}
    if answer is not None:
        answer["job"] = job.id
    return _record(rt, job, event, answer, retry_at=retry_at, now=now)


def _delay(rt, job) -> float:
    return min(MAX_DELAY_SECONDS, rt.retry_delay * job.backoff_base ** (job.attempts - 1))


def _record(rt, job, event, answer, *, retry_at, now) -> str:
    """Commit the attempt's journal entry with the job's new state, guarded by the lease."""
    for _ in range(_RECORD_TRIES):
        try:
            with store.writing() as conn:
                row = store.read_instance(conn, job.instance_id, "lock_version", "journal_seq",
                                          "journal_hash")
                version = store.write_change(conn, job.instance_id, store.version_of(row),
                                             [event], actor=WORKER.username, now=now)
                if answer is not None:
                    kept = queue.answer(conn, job, answer, now)
                else:
                    kept = queue.requeue(conn, job, event[1]["error"], retry_at, now)
                if not kept:
                    raise _LeaseLost
        except store.Conflict:
            continue
        except _LeaseLost:
            log.warning("job %s: the lease of %s ran out during the call", job.id, job.worker)
            return "lost"
        rt.live.rekey(job.instance_id, row.lock_version, version)
        if answer is None:
            rt.jobs.submit(rt, [job.id], at=retry_at)
            return "retry"
        return "answered"
    return "lost"  # the lease runs out and the job is called again (idempotently)


class _LeaseLost(Exception):
    pass


def apply(rt, job_id: int) -> str:
    """Deliver an answered job's answer to its service task and persist what follows."""
    with store.reading() as conn:
        job = queue.read(conn, job_id)
        if job is None or job.state != queue.ANSWERED:
            return "busy"
        row = store.read_instance(conn, job.instance_id, "lock_version", "definition_id",
                                  "journal_seq", "journal_hash", "state_seq")
        definition = rt.definitions.get(row.definition_id)
        wf = services.load_workflow(rt, conn, job.instance_id, row.lock_version,
                                    row.definition_id)
    open_ids = engine.ready_user_task_ids(wf)
    now = rt.clock.now()
    try:
        snap = engine.deliver(wf, job.task_id, orjson.loads(job.answer), now=now,
                              seed=engine.change_seed(job.instance_id,
                                                        row.journal_seq + 1))
    except LookupError:  # the task was cancelled meanwhile: nothing waits for the answer
        with store.writing() as conn:
            queue.cancel(conn, job_id, now)
        return "busy"
    applied = ("service_applied", {"job": job.id, "task": job.bpmn_id,
                                   "process": job.process_key, "occurrence": job.occurrence})
    try:
        services.persist(rt, job.instance_id, store.version_of(row), wf, snap, actor=WORKER,
                         manifest=definition.manifest, events=[applied], open_ids=open_ids,
                         now=now, applied_job=job.id, secrets=definition.secrets)
    except store.Conflict:
        return "conflict"
    return "applied"


def drain(rt, *, instance_id: str | None = None, worker: str = "drain",
          limit: int = 1000) -> int:
    """Run every job that can run at the clock's now, until none can; return how many ran.

    For tests and scripts (`flask --app app run-jobs`): deterministic, in this thread.
    """
    ran = 0
    while ran < limit:
        with store.reading() as conn:
            ids = queue.runnable(conn, rt.clock.now(), instance_id=instance_id)
        progressed = False
        for job_id in ids:
            if run(rt, job_id, worker) != "busy":
                ran, progressed = ran + 1, True
        if not progressed:
            break
    return ran
