"""Read-side views of processes, instances, tasks and journals, with read permissions."""

import json
from dataclasses import dataclass

from sqlalchemy import select

import handlers
from app import definitions
from app import forms
from app.access import inputs
from app.access import policy
from app.access.auth import Actor
from app.audit import redaction
from app.audit import verification
from app.core import engine
from app.core import store
from app.jobs import queue as job_queue
from app.models import AuditEvent
from app.models import ProcessDefinition
from app.models import ProcessInstance
from app.models import Task
from app.models import db
from app.services import Forbidden
from app.services import NotFound
from app.services import Runtime
from app.services import load_workflow
from app.timing import timers


def _iso(moment):
    return moment.isoformat() if moment else None


def process_dict(definition: ProcessDefinition) -> dict:
    """Describe a definition version as the API lists it."""
    m = definition.manifest
    return {"key": definition.key, "version": definition.version, "title": m["title"],
            "regulation": m.get("regulation"), "sha256": definition.sha256,
            "deployed_at": _iso(definition.deployed_at), "roles_allowed_to_start": m["start_lanes"],
            "lanes": definitions.lanes_of(m)}


def process_page(key: str) -> tuple[dict, str]:
    """Return (what the catalog page shows of a regulation, its diagram's BPMN XML)."""
    found = definitions.latest(key)
    if found is None:
        raise NotFound(f"no process '{key}'")
    m = found.manifest
    sources = found.sources
    diagram = sources.get(m.get("file") or f"{key}.bpmn") or next(iter(sources.values()))
    called = sorted({t["called"] for t in m["processes"][key]["tasks"].values() if t["called"]})
    fragments = [(f, m["processes"].get(f, {}).get("title", {})) for f in called]
    return {**process_dict(found), "terms": m.get("terms"), "fee_mci": m.get("fee_mci"),
            "about": m.get("about") or {}, "fragments": fragments}, diagram


def list_processes() -> list[dict]:
    """Return the newest version of every process."""
    return [process_dict(d) for d in definitions.latest_definitions()]


def get_process(rt: Runtime, key: str) -> dict:
    """Return a process with its start form."""
    definition = definitions.latest(key)
    if definition is None:
        raise NotFound(f"no process '{key}'")
    start = rt.definitions.get(definition.id).form(key, forms.START)
    return {**process_dict(definition), "start_form": start.as_dict()}


def task_dict(task) -> dict:
    """Describe a task row as the API lists it."""
    return {"id": task.id, "instance": task.instance_id, "bpmn_id": task.bpmn_id,
            "name": task.name, "lane": task.lane, "state": task.state, "assignee": task.assignee,
            "due_at": _iso(task.due_at), "created_at": _iso(task.created_at),
            "completed_by": task.completed_by, "completed_at": _iso(task.completed_at),
            "escalated_at": _iso(task.escalated_at)}


def _readable_instance(rt: Runtime, actor: Actor, instance_id: str):
    """Return (instance row, loaded definition) if the actor may read the instance."""
    instance = db.session.get(ProcessInstance, instance_id)
    if instance is None:
        raise NotFound(f"no instance {instance_id}")
    definition = rt.definitions.get(instance.definition_id)
    if not policy.may_read_instance(actor, instance.started_by,
                                    definitions.lanes_of(definition.manifest)):
        if policy.is_integration(actor):  # do not even confirm that someone else's case exists
            raise NotFound(f"no instance {instance_id}")
        raise Forbidden("you have no role in this process")
    return instance, definition


def _shown(definition, value):
    """Return `value` with the secrets of the definition's forms and handlers as digests."""
    return redaction.redact(value, definition.secrets)


def _current_workflow(rt: Runtime, instance: ProcessInstance):
    with store.reading() as conn:
        wf = load_workflow(rt, conn, instance.id, instance.lock_version, instance.definition_id)
    rt.live.put(instance.id, instance.lock_version, wf)
    return wf


def waits_for(instance_id: str, status: str, tasks: list) -> list[dict]:
    """Say what a running case waits for: people (open user tasks), state systems (active
    jobs, with their attempts and next try) and timers (BPMN timer events)."""
    if status != "running":
        return []
    waiting = [{"kind": "person", "what": t.lane, "task": t.bpmn_id, "since": _iso(t.created_at)}
               for t in tasks if t.state == "ready"]
    with store.reading() as conn:
        for job in job_queue.active_of(conn, instance_id):
            retrying = job.state == job_queue.QUEUED and job.attempts > 0
            waiting.append({"kind": "system", "what": handlers.system_of(job.operator),
                            "task": job.bpmn_id, "since": _iso(job.created_at),
                            "attempts": job.attempts, "max_attempts": job.max_attempts,
                            "next_attempt": _iso(job.run_after) if retrying else None,
                            "last_error": job.last_error})
        for timer in timers.waiting_of(conn, instance_id, kind=timers.BPMN_TIMER):
            waiting.append({"kind": "timer", "what": "timer", "task": timer.bpmn_id,
                            "since": _iso(timer.created_at), "until": _iso(timer.due_at)})
    return waiting


def get_instance(rt: Runtime, actor: Actor, instance_id: str) -> dict:
    """Return an instance with its current data and tasks."""
    instance, definition = _readable_instance(rt, actor, instance_id)
    data = engine.current_data(_current_workflow(rt, instance))
    tasks = list(db.session.scalars(select(Task).where(Task.instance_id == instance_id)
                                    .order_by(Task.created_at)))
    return {"id": instance.id, "process": definition.key, "version": definition.version,
            "business_key": instance.business_key,
            "applicant_iin_bin": instance.applicant_iin_bin, "status": instance.status,
            "outcome": instance.outcome, "incident": instance.incident,
            "waits_for": waits_for(instance.id, instance.status, tasks),
            "title": definition.manifest["title"], "started_by": instance.started_by,
            "created_at": _iso(instance.created_at), "updated_at": _iso(instance.updated_at),
            "data": _shown(definition, data), "tasks": [task_dict(t) for t in tasks],
            "documents": [f"/api/v1/instances/{instance.id}/documents/{name}.xml"
                          for name in _signed(data)]}


def list_tasks(actor: Actor, instance=None, role=None, state=None) -> list[dict]:
    """Return tasks the actor may see, filtered; staff see their lanes, auditors all."""
    if any("\x00" in f for f in (instance, role, state) if f):
        return []  # no stored value holds NUL, and PostgreSQL cannot even compare with one
    query = (select(Task).join(ProcessInstance, Task.instance_id == ProcessInstance.id)
             .where(policy.readable_tasks(actor, Task.lane, ProcessInstance.started_by))
             .order_by(Task.due_at.is_(None), Task.due_at, Task.created_at))
    if instance:
        query = query.where(Task.instance_id == instance)
    if role:
        query = query.where(Task.lane == role)
    if state:
        query = query.where(Task.state == state)
    return [task_dict(t) for t in db.session.scalars(query.limit(500))]


def list_escalations(actor: Actor) -> list[dict]:
    """Return the open steps whose deadline passed (escalated to the head), most overdue first."""
    if not policy.may_see_escalations(actor):
        raise Forbidden("overdue steps are escalated to: "
                        + ", ".join(sorted(policy.ESCALATION_ROLES | policy.READ_ALL_ROLES)))
    query = (select(Task).where(Task.state == "ready", Task.escalated_at.is_not(None))
             .order_by(Task.due_at, Task.created_at).limit(500))
    return [task_dict(t) for t in db.session.scalars(query)]


def _readable_task(actor: Actor, task_id: str) -> Task:
    task = db.session.get(Task, task_id)
    if task is None:
        raise NotFound(f"no task {task_id}")
    started_by = db.session.get(ProcessInstance, task.instance_id).started_by
    if not policy.may_read_task(actor, task.lane, started_by):
        if policy.is_integration(actor):
            raise NotFound(f"no task {task_id}")
        raise Forbidden(f"this task is for the role '{task.lane}'")
    return task


def get_task_row(actor: Actor, task_id: str) -> dict:
    """Return a task as the API lists it."""
    return task_dict(_readable_task(actor, task_id))


def get_task(rt: Runtime, actor: Actor, task_id: str) -> dict:
    """Return a task with its form and the data it holds."""
    task = _readable_task(actor, task_id)
    instance, definition = _readable_instance(rt, actor, task.instance_id)
    wf = _current_workflow(rt, instance)
    form = definition.form(task.process_key, task.bpmn_id)
    data = engine.task_data(wf, task_id) or {}
    return {**task_dict(task), "form": form.as_dict(), "data": _shown(definition, data),
            "business_key": instance.business_key, "process": definition.key}


HISTORY_PAGE = 100
HISTORY_PAGE_MAX = 500


def _journal(rt: Runtime, actor: Actor, instance_id: str, after: int = 0,
             limit: int | None = None) -> tuple[definitions.LoadedDefinition, list[AuditEvent]]:
    _, definition = _readable_instance(rt, actor, instance_id)
    query = (select(AuditEvent).where(AuditEvent.instance_id == instance_id,
                                      AuditEvent.seq > after).order_by(AuditEvent.seq))
    return definition, list(db.session.scalars(query if limit is None else query.limit(limit)))


@dataclass(frozen=True)
class HistoryPage:
    """A page of a journal, oldest first; `next_after` is where the next page starts, if any."""

    events: list[dict]
    next_after: int | None


def history(rt: Runtime, actor: Actor, instance_id: str, after: int = 0,
            limit: int = HISTORY_PAGE) -> HistoryPage:
    """Return a page of the instance's journal: events after seq `after`, at most `limit`."""
    if not 1 <= limit <= HISTORY_PAGE_MAX:
        raise inputs.BadInput(f"between 1 and {HISTORY_PAGE_MAX}", status=422, field="limit")
    definition, rows = _journal(rt, actor, instance_id, after, limit + 1)
    events = [{"seq": r.seq, "type": r.type, "at": r.at, "actor": r.actor,
               "payload": _shown(definition, json.loads(r.payload)), "hash": r.hash,
               "prev_hash": r.prev_hash} for r in rows[:limit]]
    return HistoryPage(events, events[-1]["seq"] if len(rows) > limit else None)


def verify_history(rt: Runtime, actor: Actor, instance_id: str) -> dict:
    """Check the instance's hash chain and its recorded head; name the first broken link
    (`app.audit.verification`). `first_broken_seq` stays for older clients."""
    _readable_instance(rt, actor, instance_id)
    result = verification.verify_case(instance_id)
    broken = result["first_broken"]
    return {**result, "first_broken_seq": broken["seq"] if broken else None}


def list_instances(rt: Runtime, actor: Actor, limit: int = 200) -> list[dict]:
    """Return recent instances the actor may read, newest first."""
    lanes = {d.id: definitions.lanes_of(d.manifest) for d in definitions.all_definitions()}
    readable = policy.readable_instances(actor, ProcessInstance.started_by,
                                         ProcessInstance.definition_id, lanes)
    rows = db.session.scalars(select(ProcessInstance).where(readable)
                              .order_by(ProcessInstance.updated_at.desc()).limit(limit))
    found = []
    for r in rows:
        definition = rt.definitions.get(r.definition_id)
        found.append({"id": r.id, "business_key": r.business_key, "process": definition.key,
                      "title": definition.manifest["title"], "status": r.status,
                      "outcome": r.outcome, "applicant_iin_bin": r.applicant_iin_bin,
                      "updated_at": _iso(r.updated_at)})
    return found


def _signed(data: dict) -> dict[str, str]:
    """Return the signed documents in instance data: {data name: signed XML}."""
    return {name: value["signed_xml"] for name, value in sorted(data.items())
            if isinstance(value, dict) and isinstance(value.get("signed_xml"), str)}


def signed_documents(rt: Runtime, actor: Actor, instance_id: str) -> dict[str, str]:
    """Return the instance's signed documents {data name: signed XML} (a licence, say)."""
    instance, _ = _readable_instance(rt, actor, instance_id)
    return _signed(engine.current_data(_current_workflow(rt, instance)))


def signed_document(rt: Runtime, actor: Actor, instance_id: str, name: str) -> str:
    """Return one signed document of an instance as XML text."""
    found = signed_documents(rt, actor, instance_id)
    if name not in found:
        raise NotFound(f"instance {instance_id} has no signed document '{name}'")
    return found[name]
