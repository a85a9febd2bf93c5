"""What people do with applications: start, claim, complete, retry — checked and journalled.

Each call reads what it needs, lets the engine work outside any write transaction, then
writes the workflow state, the inbox rows and the journal entries in one transaction.
"""

import datetime
import uuid
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

from sqlalchemy import update

from app import auth
from app import calendar
from app import definitions
from app import engine
from app import forms
from app import store
from app.auth import Actor
from app.models import ProcessInstance
from app.models import Task
from app.models import db
from app.models import utcnow
from app.store import Conflict


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
    specs: definitions.SpecCache = field(default_factory=definitions.SpecCache)
    live: store.LiveWorkflows = field(default_factory=store.LiveWorkflows)


def _task_row(rt: Runtime, instance_id: str, manifest: dict, ready, wf) -> Task:
    props = manifest["processes"][ready.process_key]["tasks"].get(ready.bpmn_id, {})
    lane = props.get("lane") or "unassigned"
    now = utcnow()
    assignments = (engine.task_data(wf, ready.id) or {}).get("assignments", {})
    return Task(id=ready.id, instance_id=instance_id, process_key=ready.process_key,
                bpmn_id=ready.bpmn_id, name=ready.name, lane=lane, state="ready",
                assignee=assignments.get(lane), created_at=now,
                due_at=calendar.deadline(now, props.get("duration") or ""))


def _outcome_events(snap: engine.Snapshot) -> list:
    events = list(snap.events)
    if snap.incident:
        events.append(("incident_raised", snap.incident))
    if snap.status == "completed":
        events.append(("instance_completed", {"outcome": snap.outcome}))
    return events


def _persist(rt, instance_id, version, wf, snap, *, actor, manifest, events, completed=None):
    """Write state, task rows and journal entries in one transaction (optimistic lock)."""
    try:
        store.write_instance(instance_id, version, {
            "state": store.dump_state(wf), "status": snap.status, "outcome": snap.outcome,
            "incident": snap.incident, "serializer_version": store.SERIALIZER_VERSION})
        open_ids = store.ready_task_ids(instance_id)
        ready_ids = {t.id for t in snap.ready}
        if completed:
            store.close_tasks([completed], "completed", by=actor.username)
        store.close_tasks(open_ids - ready_ids - {completed}, "cancelled")
        for ready in snap.ready:
            if ready.id not in open_ids:
                db.session.add(_task_row(rt, instance_id, manifest, ready, wf))
        store.append_events(instance_id, events + _outcome_events(snap), actor.username)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    rt.live.put(instance_id, version + 1, wf)


def start_instance(rt: Runtime, actor: Actor, key: str, data) -> ProcessInstance:
    """Start an application of process `key` with the start-form `data`."""
    definition = definitions.latest(key)
    if definition is None:
        raise NotFound(f"no process '{key}'")
    if not actor.roles & set(definition.manifest["start_lanes"]):
        roles = ", ".join(definition.manifest["start_lanes"])
        raise Forbidden(f"starting '{key}' needs one of the roles: {roles}")
    errors = forms.validate(forms.load_form(rt.forms_dir, key, forms.START), data, auth.roles_of)
    if errors:
        raise Invalid(errors)
    specs, manifest, definition_id = rt.specs.get(definition), definition.manifest, definition.id
    db.session.commit()  # end the read transaction before the engine works
    wf, snap = engine.start(specs, data, rt.handlers)
    instance_id = str(uuid.uuid4())
    business_key = f"{datetime.date.today():%Y%m%d}-{uuid.uuid4().hex[:8].upper()}"
    db.session.add(ProcessInstance(
        id=instance_id, definition_id=definition_id, business_key=business_key,
        applicant_iin_bin=data.get("applicant_iin_bin"), status="running", state="{}",
        serializer_version=store.SERIALIZER_VERSION, lock_version=0, started_by=actor.username))
    db.session.flush()
    started = ("instance_started", {"process": key, "definition_id": definition_id, "data": data})
    _persist(rt, instance_id, 0, wf, snap, actor=actor, manifest=manifest, events=[started])
    return db.session.get(ProcessInstance, instance_id)


def _open_task(actor: Actor, task_id: str) -> Task:
    row = db.session.get(Task, task_id)
    if row is None:
        raise NotFound(f"no task {task_id}")
    if row.lane not in actor.roles:
        raise Forbidden(f"this task is for the role '{row.lane}'")
    if row.state != "ready":
        raise Conflict(f"task {task_id} is already {row.state}")
    if row.assignee and row.assignee != actor.username:
        raise Conflict(f"task {task_id} is claimed by {row.assignee}")
    return row


def load_workflow(rt: Runtime, instance: ProcessInstance):
    """Return the instance's workflow, from memory if current, else restored from its row."""
    wf = rt.live.take(instance.id, instance.lock_version)
    return wf or store.load_state(instance.state, rt.specs.get(instance.definition))


def complete_task(rt: Runtime, actor: Actor, task_id: str, data) -> str:
    """Complete a task with form `data`; return the instance id."""
    row = _open_task(actor, task_id)
    form = forms.load_form(rt.forms_dir, row.process_key, row.bpmn_id)
    errors = forms.validate(form, data, auth.roles_of)
    if errors:
        raise Invalid(errors)
    instance = db.session.get(ProcessInstance, row.instance_id)
    version, manifest, bpmn_id = instance.lock_version, instance.definition.manifest, row.bpmn_id
    wf = load_workflow(rt, instance)
    db.session.commit()
    assigned = forms.role_fields(form, data)
    if assigned:
        known = (engine.task_data(wf, task_id) or {}).get("assignments", {})
        data = {**data, "assignments": {**known, **assigned}}
    try:
        snap = engine.complete(wf, task_id, data, actor.username, rt.handlers)
    except LookupError as err:
        raise Conflict(str(err)) from None
    done = ("task_completed", {"task": task_id, "bpmn_id": bpmn_id, "data": data})
    _persist(rt, row.instance_id, version, wf, snap, actor=actor, manifest=manifest,
             events=[done], completed=task_id)
    return row.instance_id


def claim_task(actor: Actor, task_id: str) -> Task:
    """Take a task for oneself; Conflict if someone else holds it."""
    row = _open_task(actor, task_id)
    instance_id = row.instance_id
    claimed = db.session.execute(
        update(Task).where(Task.id == task_id, Task.state == "ready",
                           (Task.assignee.is_(None)) | (Task.assignee == actor.username))
        .values(assignee=actor.username))
    if claimed.rowcount != 1:
        db.session.rollback()
        raise Conflict(f"task {task_id} was claimed by someone else")
    db.session.execute(update(ProcessInstance).where(ProcessInstance.id == instance_id)
                       .values(updated_at=utcnow()))  # serialises journal appends per instance
    store.append_events(instance_id, [("task_claimed", {"task": task_id})], actor.username)
    db.session.commit()
    return db.session.get(Task, task_id)


def retry_instance(rt: Runtime, actor: Actor, instance_id: str) -> ProcessInstance:
    """Run the failed service task of an instance in incident again."""
    if not actor.roles & {"admin", "executor", "operator"}:
        raise Forbidden("retrying needs the role admin, executor or operator")
    instance = db.session.get(ProcessInstance, instance_id)
    if instance is None:
        raise NotFound(f"no instance {instance_id}")
    if instance.status != "incident":
        raise Conflict(f"instance {instance_id} has no incident")
    version, manifest = instance.lock_version, instance.definition.manifest
    wf = load_workflow(rt, instance)
    db.session.commit()
    snap = engine.retry(wf, rt.handlers)
    _persist(rt, instance_id, version, wf, snap, actor=actor, manifest=manifest,
             events=[("retried", {})])
    return db.session.get(ProcessInstance, instance_id)
