"""Serialize and restore workflows, and write every state change in one transaction.

The process spec is stored once per definition version (`ProcessDefinition.specs`) and kept
parsed in memory; an instance row holds only the workflow's own state. Engine work happens
outside the write transaction; the write checks `lock_version` (optimistic locking), so of
two concurrent completions one wins and the other gets `Conflict`.
"""

import json
import threading
from collections import OrderedDict
from uuid import UUID

from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter
from SpiffWorkflow.bpmn.serializer.default.workflow import WorkflowConverter
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import update

from app import audit
from app.models import AuditEvent
from app.models import ProcessInstance
from app.models import Task
from app.models import db
from app.models import utcnow


class Conflict(Exception):
    """Someone else changed the instance first; nothing was written."""


class SpecFreeWorkflowConverter(BpmnWorkflowConverter):
    """Leave the spec out of instance state and take it from the definition cache instead."""

    def to_dict(self, workflow):
        """Return the workflow's own state, without spec or subprocess specs."""
        dct = WorkflowConverter.to_dict(self, workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def from_dict(self, dct, specs=None):
        """Rebuild a workflow from its state and the (spec, subprocess_specs) pair `specs`."""
        spec, subprocess_specs = specs
        workflow = self.target_class(spec, subprocess_specs, deserializing=True)
        workflow.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


_config = dict(SPIFF_CONFIG)
_config[BpmnWorkflow] = SpecFreeWorkflowConverter
SERIALIZER = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(_config))
SERIALIZER_VERSION = SERIALIZER.VERSION


def dump_specs(specs: tuple) -> str:
    """Serialize a (spec, subprocess_specs) pair for `ProcessDefinition.specs`."""
    spec, subs = specs
    return json.dumps({"spec": SERIALIZER.to_dict(spec),
                       "subprocess_specs": {k: SERIALIZER.to_dict(v) for k, v in subs.items()}})


def load_specs(text: str) -> tuple:
    """Restore a (spec, subprocess_specs) pair stored by `dump_specs`."""
    dct = json.loads(text)
    subs = {k: SERIALIZER.from_dict(v) for k, v in dct["subprocess_specs"].items()}
    return SERIALIZER.from_dict(dct["spec"]), subs


def dump_state(workflow) -> str:
    """Serialize a workflow's own state (no spec)."""
    return SERIALIZER.serialize_json(workflow)


def load_state(text: str, specs: tuple):
    """Restore a workflow from `dump_state` output and its definition's specs."""
    dct = json.loads(text)
    SERIALIZER.migrate(dct)
    return SERIALIZER.from_dict(dct, specs=specs)


class LiveWorkflows:
    """Workflows kept in memory after a successful write, valid while lock_version matches."""

    def __init__(self, capacity: int = 256):
        self.capacity = capacity
        self._items: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def take(self, instance_id: str, lock_version: int):
        """Remove and return the cached workflow if it is at `lock_version`, else None."""
        with self._lock:
            item = self._items.pop(instance_id, None)
        return item[1] if item and item[0] == lock_version else None

    def put(self, instance_id: str, lock_version: int, workflow) -> None:
        """Keep `workflow` as the state at `lock_version`."""
        if self.capacity <= 0:
            return
        with self._lock:
            self._items[instance_id] = (lock_version, workflow)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)


def last_event(instance_id: str) -> tuple[int, str]:
    """Return (seq, hash) of the instance's latest journal entry, or (0, GENESIS)."""
    row = db.session.execute(
        select(AuditEvent.seq, AuditEvent.hash).where(AuditEvent.instance_id == instance_id)
        .order_by(AuditEvent.seq.desc()).limit(1)).first()
    return (row.seq, row.hash) if row else (0, audit.GENESIS)


def append_events(instance_id: str, events: list, actor: str) -> None:
    """Chain and add journal entries inside the caller's transaction."""
    seq, prev = last_event(instance_id)
    for entry in audit.chain(instance_id, seq, prev, events, actor):
        db.session.add(AuditEvent(**entry.__dict__))


def write_instance(instance_id: str, expected_version: int, values: dict) -> None:
    """Update the instance row if nobody else did first; raise Conflict otherwise."""
    result = db.session.execute(
        update(ProcessInstance)
        .where(ProcessInstance.id == instance_id, ProcessInstance.lock_version == expected_version)
        .values(lock_version=expected_version + 1, updated_at=utcnow(), **values))
    if result.rowcount != 1:
        db.session.rollback()
        raise Conflict(f"instance {instance_id} was changed by someone else")


def ready_task_ids(instance_id: str) -> set[str]:
    """Return the ids of the instance's task rows that are still open."""
    rows = db.session.execute(select(Task.id).where(Task.instance_id == instance_id,
                                                    Task.state == "ready"))
    return {r.id for r in rows}


def close_tasks(task_ids, state: str, by: str | None = None) -> None:
    """Mark task rows completed or cancelled."""
    if task_ids:
        values = {"state": state, "completed_at": utcnow()}
        if by:
            values["completed_by"] = by
        db.session.execute(update(Task).where(Task.id.in_(list(task_ids))).values(**values))


def event_count(instance_id: str) -> int:
    """Return how many journal entries an instance has."""
    return db.session.scalar(select(func.count()).where(AuditEvent.instance_id == instance_id))
