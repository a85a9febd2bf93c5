"""What people do with applications: start, claim, complete, retry — checked and journalled.

Each call reads what it needs, lets the engine work outside any write transaction, then
writes the workflow state, the inbox rows and the journal entries in one transaction.
"""

import datetime
import uuid
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

from app import definitions
from app import diagram
from app import forms
from app.access import auth
from app.access import policy
from app.access.auth import Actor
from app.audit import redaction
from app.core import compaction
from app.core import engine
from app.core import reapply
from app.core import store
from app.core.store import Conflict
from app.definitions import DefinitionCache
from app.jobs import queue as job_queue
from app.jobs.dispatch import Dispatcher
from app.timing import calendar
from app.timing import timers
from app.timing.clock import Clock
from app.timing.clock import SystemClock


class NotFound(LookupError):
    """No such process, instance or task."""


class Forbidden(PermissionError):
    """The actor's roles do not allow this."""


class Invalid(ValueError):
    """Submitted data failed validation; `errors` maps fields to messages."""

    def __init__(self, errors: dict):
        super().__init__("invalid data")
        self.errors = errors


@dataclass
class Runtime:
    """Long-lived parts the services share: folders, handlers and in-memory caches."""

    bpmn_dir: Path
    forms_dir: Path
    handlers: dict
    definitions: DefinitionCache = field(default_factory=DefinitionCache)
    live: store.LiveWorkflows = field(default_factory=store.LiveWorkflows)
    directory: auth.Directory = field(default_factory=auth.Directory)
    retry_delay: float = 5.0  # seconds before the first retry of an unavailable state system
    clock: Clock = field(default_factory=SystemClock)  # the app's one "now"
    jobs: Dispatcher = field(default_factory=Dispatcher)  # runs the service tasks' jobs
    job_lease: float = 60.0  # seconds a worker holds a job before others presume it dead
    snapshot_every: int = 16  # journal entries between stored state snapshots (1: every change)
    snapshot_after_replaying: int = 0  # a restore that fed this many changes: snapshot next


def _task_row(instance_id: str, manifest: dict, ready, wf, now: datetime.datetime) -> dict:
    props = manifest["processes"][ready.process_key]["tasks"].get(ready.bpmn_id, {})
    lane = props.get("lane") or "unassigned"
    data = engine.task_data(wf, ready.id) or {}
    return {"id": ready.id, "instance_id": instance_id, "process_key": ready.process_key,
            "bpmn_id": ready.bpmn_id, "name": ready.name, "lane": lane, "state": "ready",
            "assignee": data.get("assignments", {}).get(lane), "created_at": now,
            "due_at": _due(manifest, props.get("duration"), data, now)}


def _due(manifest: dict, durations: str | None, data: dict, now: datetime.datetime):
    """Return when something the regulation times from `now` is due, or None if untimed.

    `durations` is a duration or a case map, resolved by the case and the start data; working
    days count the day of `now` or begin the next working day, as the regulation's
    `acceptance_day` says (`diagram.counts_acceptance_day`).
    """
    duration = diagram.case_value(durations, diagram.case_of(manifest, data), data)
    return calendar.deadline(now, duration or "",
                             count_start_day=diagram.counts_acceptance_day(manifest))


def _case_term(manifest: dict, data: dict, now: datetime.datetime):
    """Return when the whole case is due by the regulation's overall `terms`, or None."""
    return _due(manifest, manifest.get("terms"), data, now)


def _outcome_events(snap: engine.Snapshot) -> list:
    events = list(snap.events)
    if snap.incident:
        events.append(("incident_raised", snap.incident))
    if snap.status == "completed":
        events.append(("instance_completed", {"outcome": snap.outcome}))
    return events


def _with_digest(events: list, wf, snap: engine.Snapshot, secrets) -> list:
    """Put the digest of the state this change leaves in the payload of its last event."""
    kind, payload = events[-1]
    digest = engine.state_digest(wf, snap, secrets)
    return [*events[:-1], (kind, {**payload, "state_digest": digest})]


def persist(rt, instance_id, at, wf, snap, *, actor, manifest, events, open_ids, now,
            completed=None, new_instance=None, fired_timer=None, applied_job=None,
            case_due=None, secrets=frozenset()) -> None:
    """Write state, task, timer and job rows and journal entries in one transaction.

    The instance row's `lock_version` check (optimistic locking) guards it all: Conflict
    when someone else moved the case first. `open_ids` are the user tasks that were ready at
    version `at`; the lock check guarantees the task rows still say so, since only this
    function changes their state. The workflow is compacted (`app.core.compaction`) before it is
    stored and cached. The jobs this change made ready are handed to the dispatcher after
    the commit (an outbox: a crash before that leaves them to the sweep).
    """
    new_rows = [_task_row(instance_id, manifest, ready, wf, now)
                for ready in snap.ready if ready.id not in open_ids]
    journal = _with_digest(events + _outcome_events(snap), wf, snap, secrets)
    fired_timers = engine.fired_timer_ids(wf)  # before compaction drops the timers that fired
    compaction.compact(wf)  # the state stored and the workflow cached: the live part only
    due = _snapshot_due(rt, at, journal, snap, wf)
    state = {"state": store.dump_state(wf) if due else None,
             "status": snap.status, "outcome": snap.outcome, "incident": snap.incident,
             "serializer_version": store.SERIALIZER_VERSION}
    with store.writing() as conn:
        if new_instance:
            store.insert_instance(conn, new_instance)
        version = store.write_change(conn, instance_id, at, journal,
                                     actor=actor.username, now=now, values=state)
        if completed:
            store.close_tasks(conn, [completed], "completed", by=actor.username, now=now)
        store.close_tasks(conn, open_ids - {t.id for t in snap.ready} - {completed}, "cancelled",
                          now=now)
        store.insert_tasks(conn, new_rows)
        timers.keep_in_step(conn, instance_id, wf, ready_ids={t.id for t in snap.ready},
                            new_tasks=new_rows, manifest=manifest, now=now, fired=fired_timer,
                            fired_timers=fired_timers, running=snap.status == "running",
                            case_due=case_due)
        new_jobs = job_queue.keep_in_step(conn, instance_id, snap.calls, now=now,
                                          applied=applied_job)
    rt.live.put(instance_id, version, wf)
    if new_jobs:
        rt.jobs.submit(rt, new_jobs)


_REPLAYED = "_qyzmet_replayed"  # on a restored workflow: the tail's changes it was fed


def _snapshot_due(rt: Runtime, at: store.Version, journal: list, snap, wf) -> bool:
    """Tell whether this change stores the whole state, or leaves its input to the journal.

    A new case, a case that stops running, a state of unknown age, and every
    `STATE_SNAPSHOT_EVERY` journal entries store a snapshot; so does a change to a workflow
    that was restored from the database by feeding it `STATE_SNAPSHOT_AFTER_REPLAYING`
    changes or more (0: any restore; a case read cold, by another worker or after a restart,
    should not pay for its tail again and again). In
    between, a restore reads the snapshot and feeds it the journal's tail (its inputs are all
    there, with their answers).
    """
    if at.state_seq is None or at.journal_seq == 0 or snap.status != "running":
        return True
    replayed = wf.__dict__.pop(_REPLAYED, None)  # None: the workflow came from memory
    if replayed is not None and replayed >= rt.snapshot_after_replaying:
        return True  # restored from the database: cases read cold keep short tails
    return at.journal_seq + len(journal) - at.state_seq >= rt.snapshot_every


def _status_now(rt: Runtime, instance_id: str, snap: engine.Snapshot) -> tuple:
    """Return (status, outcome, incident) after a change: the snapshot's, or the row's when
    jobs run in the request (`JOBS = "eager"`) and may have moved the case on already."""
    if not rt.jobs.eager:
        return snap.status, snap.outcome, snap.incident
    with store.reading() as conn:
        row = store.read_instance(conn, instance_id, "status", "outcome", "incident")
    return row.status, row.outcome, row.incident


@dataclass(frozen=True)
class Started:
    """What starting an application answers."""

    id: str
    status: str
    business_key: str
    outcome: str | None = None


def start_instance(rt: Runtime, actor: Actor, key: str, data) -> Started:
    """Start an application of process `key` with the start-form `data`."""
    found = definitions.latest(key)
    if found is None:
        raise NotFound(f"no process '{key}'")
    definition = rt.definitions.get(found.id)
    if not policy.may_start(actor, definition.manifest["start_lanes"]):
        roles = ", ".join(definition.manifest["start_lanes"])
        raise Forbidden(f"starting '{key}' needs one of the roles: {roles}")
    form = definition.form(key, forms.START)
    data = forms.with_defaults(form, data)
    errors = forms.validate(form, data, rt.directory.roles_of)
    # the fee and the service are the regulation's, never the applicant's
    errors.update({name: "Set by the service from its regulation, not by the applicant."
                   for name in diagram.SERVICE_FIELDS if isinstance(data, dict) and name in data})
    if isinstance(data, dict) and not policy.may_use_channel(actor, data.get("channel")):
        errors["channel"] = ("Applications through this channel are started by the role "
                             f"'{policy.CHANNEL_ROLES[data['channel']]}'.")
    if errors:
        raise Invalid(errors)
    try:
        data = {**data, **diagram.service_fields(definition.manifest, key, definition.version,
                                                 data.get("licence_case"))}
    except LookupError as err:
        raise Invalid({"licence_case": str(err)}) from None
    now = rt.clock.now()
    instance_id = str(uuid.uuid4())
    wf, snap = engine.start(definition.specs, data, now=now,
                            seed=engine.change_seed(instance_id, 1))
    business_key = f"{now.astimezone():%Y%m%d}-{uuid.uuid4().hex[:8].upper()}"
    row = {
        "id": instance_id, "definition_id": definition.id, "business_key": business_key,
        "applicant_iin_bin": data.get("applicant_iin_bin"), "status": "running", "state": "{}",
        "serializer_version": store.SERIALIZER_VERSION, "lock_version": 0,
        "started_by": actor.username, "created_at": now, "updated_at": now}
    # the journal proves by hash which secrets were received; the workflow keeps them for handlers
    received = redaction.redact(data, definition.secrets)
    started = ("instance_started", {"process": key, "definition_id": definition.id,
                                    "sha256": definition.sha256,
                                    "fingerprint": definition.fingerprint, "data": received})
    persist(rt, instance_id, store.Version(0), wf, snap, actor=actor,
             manifest=definition.manifest, events=[started], open_ids=set(), now=now,
             new_instance=row, case_due=_case_term(definition.manifest, data, now),
             secrets=definition.secrets)
    status, outcome, _ = _status_now(rt, instance_id, snap)
    return Started(instance_id, status, business_key, outcome)


def _open_task(conn, actor: Actor, task_id: str):
    row = store.read_task(conn, task_id)
    if row is None:
        raise NotFound(f"no task {task_id}")
    if not policy.may_work_on(actor, row.lane):
        raise Forbidden(f"this task is for the role '{row.lane}'")
    if row.state != "ready":
        raise Conflict(f"task {task_id} is already {row.state}")
    if row.assignee and row.assignee != actor.username:
        raise Conflict(f"task {task_id} is claimed by {row.assignee}")
    return row


def load_workflow(rt: Runtime, conn, instance_id: str, lock_version: int, definition_id: int):
    """Return the instance's workflow, from memory if current, else restored from its row:
    the stored snapshot, then the journal's tail after it (`reapply.catch_up`)."""
    wf = rt.live.take(instance_id, lock_version)
    if wf is not None:
        return wf
    definition = rt.definitions.get(definition_id)
    stored = store.read_state(conn, instance_id)
    wf = store.load_state(stored.state, definition.specs)
    fed = 0
    if stored.journal_seq > stored.state_seq:
        fed = reapply.catch_up(instance_id, wf, definition.specs,
                               store.read_tail(conn, instance_id, stored.state_seq),
                               answers=job_queue.answers_of(conn, instance_id),
                               secrets=definition.secrets)
    wf.__dict__[_REPLAYED] = fed  # read by the next write: a snapshot spares the next restore
    return wf


def complete_task(rt: Runtime, actor: Actor, task_id: str, data) -> str:
    """Complete a task with form `data`; return the instance id."""
    with store.reading() as conn:
        row = _open_task(conn, actor, task_id)
        form = rt.definitions.get(row.definition_id).form(row.process_key, row.bpmn_id)
        data = forms.with_defaults(form, data)
        errors = forms.validate(form, data, rt.directory.roles_of)
        if errors:
            raise Invalid(errors)
        definition = rt.definitions.get(row.definition_id)
        wf = load_workflow(rt, conn, row.instance_id, row.lock_version, row.definition_id)
    # Nothing is written until _persist: the engine works outside any write transaction.
    assigned = forms.role_fields(form, data)
    if assigned:
        known = (engine.task_data(wf, task_id) or {}).get("assignments", {})
        data = {**data, "assignments": {**known, **assigned}}
    open_ids = engine.ready_user_task_ids(wf)
    process, _, occurrence = engine.ready_key(wf, task_id) or (row.process_key, None, None)
    now = rt.clock.now()
    try:
        snap = engine.complete(wf, task_id, data, actor.username, now=now,
                               seed=engine.change_seed(row.instance_id, row.journal_seq + 1))
    except LookupError as err:
        raise Conflict(str(err)) from None
    done = ("task_completed", {"task": task_id, "bpmn_id": row.bpmn_id, "process": process,
                               "occurrence": occurrence, "data": data})
    persist(rt, row.instance_id, store.version_of(row), wf, snap, actor=actor,
             manifest=definition.manifest, events=[done], open_ids=open_ids, now=now,
             completed=task_id, secrets=definition.secrets)
    return row.instance_id


def claim_task(rt: Runtime, actor: Actor, task_id: str) -> str:
    """Take a task for oneself; Conflict if someone else holds it. Return the instance id.

    Claiming a task one already holds changes nothing and journals nothing.
    """
    with store.writing() as conn:
        row = _open_task(conn, actor, task_id)
        if row.assignee == actor.username:
            return row.instance_id
        event = ("task_claimed", {"task": task_id, "bpmn_id": row.bpmn_id})
        version = store.write_change(conn, row.instance_id, store.version_of(row), [event],
                                     actor=actor.username, now=rt.clock.now())
        if not store.claim(conn, task_id, actor.username):
            raise Conflict(f"task {task_id} was claimed by someone else")
    rt.live.rekey(row.instance_id, row.lock_version, version)
    return row.instance_id


def retry_instance(rt: Runtime, actor: Actor, instance_id: str) -> dict:
    """Run the failed service task of an instance in incident again."""
    if not policy.may_retry(actor):
        raise Forbidden("retrying needs one of the roles: " + ", ".join(sorted(policy.RETRY_ROLES)))
    with store.reading() as conn:
        row = store.read_instance(conn, instance_id, "status", "lock_version", "definition_id",
                                  "journal_seq", "journal_hash", "state_seq")
        if row is None:
            raise NotFound(f"no instance {instance_id}")
        if row.status != "incident":
            raise Conflict(f"instance {instance_id} has no incident")
        definition = rt.definitions.get(row.definition_id)
        wf = load_workflow(rt, conn, instance_id, row.lock_version, row.definition_id)
    open_ids = engine.ready_user_task_ids(wf)
    now = rt.clock.now()
    seed = engine.change_seed(instance_id, row.journal_seq + 1)
    snap = engine.retry(wf, now=now, seed=seed)
    persist(rt, instance_id, store.version_of(row), wf, snap, actor=actor,
             manifest=definition.manifest, events=[("retried", {})], open_ids=open_ids, now=now,
             secrets=definition.secrets)
    status, _, incident = _status_now(rt, instance_id, snap)
    return {"id": instance_id, "status": status, "incident": incident}


SCHEDULER = Actor("scheduler", "Timer scheduler", frozenset())  # who journals timer firings


def fire_timer(rt: Runtime, timer, now: datetime.datetime) -> None:
    """Fire a due BPMN timer row of a case at `now` (the scheduler's clock value).

    The engine wakes the workflow; the state, the timer row's claim (`timers.claim`) and the
    `timer_fired` journal entry are written in one transaction. Conflict when another
    scheduler or a person moved the case first: nothing is written.
    """
    with store.reading() as conn:
        row = store.read_instance(conn, timer.instance_id, "lock_version", "definition_id",
                                  "journal_seq", "journal_hash", "state_seq")
        definition = rt.definitions.get(row.definition_id)
        wf = load_workflow(rt, conn, timer.instance_id, row.lock_version, row.definition_id)
    open_ids = engine.ready_user_task_ids(wf)
    seed = engine.change_seed(timer.instance_id, row.journal_seq + 1)
    snap = engine.wake(wf, now=now, seed=seed)
    fired = ("timer_fired", {"bpmn_id": timer.bpmn_id,
                             "due_at": timer.due_at.isoformat(), "clock": now.isoformat()})
    persist(rt, timer.instance_id, store.version_of(row), wf, snap, actor=SCHEDULER,
             manifest=definition.manifest, events=[fired], open_ids=open_ids, now=now,
             fired_timer=timer.id, secrets=definition.secrets)
