"""Serialize and restore workflows, and write every state change in one transaction.

The process spec is stored once per definition version (`ProcessDefinition.specs`) and kept
parsed in memory; an instance row holds only the workflow's own state, and only its live part:
`services._persist` compacts the workflow (`app.core.compaction`) before `dump_state`, so the state
written and restored is bounded by the case's open work, not its history. What the engine
still counts in dropped tasks (completed tasks per element, for occurrences) is written with
the state under `CARRIED_KEY` and restored with it. Engine work happens
outside the write transaction; the write checks `lock_version` (optimistic locking), so of
two concurrent completions one wins and the other gets `Conflict`.
"""

import base64
import dataclasses
import datetime
import functools
import json
import threading
import zlib
from collections import OrderedDict
from uuid import UUID

import orjson
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnSubWorkflowConverter
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter
from SpiffWorkflow.bpmn.serializer.default.workflow import TaskConverter
from SpiffWorkflow.bpmn.serializer.default.workflow import WorkflowConverter
from SpiffWorkflow.bpmn.util.subworkflow import BpmnSubWorkflow
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.task import Task as SpiffTask
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import bindparam
from sqlalchemy import case
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy import update

from app import audit
from app.core import compaction
from app.models import AuditEvent
from app.models import ProcessInstance
from app.models import Task
from app.models import db

CARRIED_KEY = "qyzmet_completed"  # state key of compaction's per-element counter


class Conflict(Exception):
    """Someone else changed the instance first; nothing was written."""


class SpecFreeWorkflowConverter(BpmnWorkflowConverter):
    """Leave the spec out of instance state and take it from the definition cache instead."""

    def to_dict(self, workflow):
        """Return the workflow's own state, without spec or subprocess specs.

        The counter of completed tasks that compaction dropped goes along, as
        [process, element, count] rows under `CARRIED_KEY`.
        """
        dct = WorkflowConverter.to_dict(self, workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        counts = compaction.completed_counts(workflow)
        if counts:
            dct[CARRIED_KEY] = [[process, bpmn_id, n] for (process, bpmn_id), n in counts.items()]
        memo = workflow.__dict__.get("_qyzmet_finished_tasks")
        if memo is not None and len(memo) > len(workflow.tasks):  # tasks compaction dropped
            for task_id in memo.keys() - workflow.tasks.keys():
                del memo[task_id]
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
        counts = compaction.completed_counts(workflow)
        for process, bpmn_id, n in dct.get(CARRIED_KEY, []):
            counts[(process, bpmn_id)] = n
        return workflow


class FinishedTaskConverter(TaskConverter):
    """Serialize a finished task once and reuse the result while the task stays as it was.

    SpiffWorkflow recomputes every task's data delta on every save, so saving costs grow
    with history. A finished task's data no longer changes; only its state, last change,
    children or parent (compaction makes a kept task the root) could, and those form the key
    that decides whether the kept result is current.
    """

    def to_dict(self, task):
        """Return the task's dict, from the workflow's memo when the task is finished."""
        if not task.state & TaskState.FINISHED_MASK:
            return super().to_dict(task)
        memo = task.workflow.__dict__.setdefault("_qyzmet_finished_tasks", {})
        key = (task.state, task.last_state_change, tuple(task._children), task._parent)
        kept = memo.get(task.id)
        if kept is None or kept[0] != key:
            kept = (key, super().to_dict(task))
            memo[task.id] = kept
        return kept[1]


class FinishedSubprocessConverter(BpmnSubWorkflowConverter):
    """Serialize a completed subprocess (an intake fragment, say) once: it never changes again."""

    def to_dict(self, workflow):
        """Return the subprocess's dict, kept on it once it has completed."""
        if not workflow.completed:
            return super().to_dict(workflow)
        kept = workflow.__dict__.get("_qyzmet_completed_dict")
        if kept is None:
            kept = workflow.__dict__["_qyzmet_completed_dict"] = super().to_dict(workflow)
        return kept


_config = dict(SPIFF_CONFIG)
_config[BpmnWorkflow] = SpecFreeWorkflowConverter
_config[SpiffTask] = FinishedTaskConverter
_config[BpmnSubWorkflow] = FinishedSubprocessConverter
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


_PACKED = "z1:"  # zlib-compressed, base64 state (older rows hold the plain JSON)


def dump_state(workflow) -> str:
    """Serialize a workflow's own state (no spec), packed: JSON (orjson) compressed with zlib.

    The JSON of task ids, states and data deltas compresses about threefold; with a snapshot
    only every `STATE_SNAPSHOT_EVERY` entries, the state written per change stays below the
    data the change itself submitted (bench/history_cost.py).
    """
    return _PACKED + base64.b64encode(zlib.compress(orjson.dumps(state_dict(workflow)))).decode()


def state_dict(workflow) -> dict:
    """Return the serializer's dict of a workflow's own state, with the serializer version."""
    dct = SERIALIZER.to_dict(workflow)
    dct[SERIALIZER.VERSION_KEY] = SERIALIZER.VERSION
    return dct


def unpack_state(text: str) -> dict:
    """Return the dict a stored state holds, packed (`dump_state`) or plain JSON (older rows)."""
    if text.startswith(_PACKED):
        return orjson.loads(zlib.decompress(base64.b64decode(text[len(_PACKED):])))
    return orjson.loads(text)


def load_state(text: str, specs: tuple):
    """Restore a workflow from stored state and its definition's specs."""
    dct = unpack_state(text)
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

    def rekey(self, instance_id: str, old_version: int, new_version: int) -> None:
        """Keep a cached workflow current when only the journal moved on (a claim)."""
        with self._lock:
            item = self._items.get(instance_id)
            if item and item[0] == old_version:
                self._items[instance_id] = (new_version, item[1])

    def put(self, instance_id: str, lock_version: int, workflow) -> None:
        """Keep `workflow` as the state at `lock_version`."""
        if self.capacity <= 0:
            return
        with self._lock:
            self._items[instance_id] = (lock_version, workflow)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)


INSTANCES = ProcessInstance.__table__
TASKS = Task.__table__
EVENTS = AuditEvent.__table__
# Statements built once: constructing SQLAlchemy statements costs more than SQLite runs them.
_MOVE_ON = {"lock_version": bindparam("next_version"), "updated_at": bindparam("now"),
            "journal_seq": bindparam("journal_seq"), "journal_hash": bindparam("journal_hash")}
_GUARD = (INSTANCES.c.id == bindparam("instance_id"),
          INSTANCES.c.lock_version == bindparam("expected"))
_OUTCOME = {"status": bindparam("status"), "outcome": bindparam("outcome"),
            "incident": bindparam("incident")}
_WRITE_INSTANCE = update(INSTANCES).where(*_GUARD).values(
    **_MOVE_ON, **_OUTCOME, state=bindparam("state"), state_seq=bindparam("journal_seq"),
    serializer_version=bindparam("serializer"))
_WRITE_OUTCOME = update(INSTANCES).where(*_GUARD).values(**_MOVE_ON, **_OUTCOME)
# a journal-only change (a claim, a state system's answer, a notice) leaves the workflow as it
# was: a snapshot current before it stays current after it (no tail to read on restore)
_ADVANCE_INSTANCE = update(INSTANCES).where(*_GUARD).values(
    **_MOVE_ON, state_seq=case((INSTANCES.c.state_seq == INSTANCES.c.journal_seq,
                                bindparam("journal_seq")), else_=INSTANCES.c.state_seq))
_READ_TASK = (select(TASKS.c.id, TASKS.c.instance_id, TASKS.c.process_key, TASKS.c.bpmn_id,
                     TASKS.c.lane, TASKS.c.state, TASKS.c.assignee, INSTANCES.c.lock_version,
                     INSTANCES.c.definition_id, INSTANCES.c.journal_seq, INSTANCES.c.journal_hash,
                     INSTANCES.c.state_seq)
              .join(INSTANCES, TASKS.c.instance_id == INSTANCES.c.id)
              .where(TASKS.c.id == bindparam("task_id")))
_READ_STATE = (select(INSTANCES.c.state, INSTANCES.c.state_seq, INSTANCES.c.journal_seq)
               .where(INSTANCES.c.id == bindparam("instance_id")))
_READ_TAIL = (select(EVENTS.c.seq, EVENTS.c.type, EVENTS.c.actor, EVENTS.c.at, EVENTS.c.payload)
              .where(EVENTS.c.instance_id == bindparam("instance_id"),
                     EVENTS.c.seq > bindparam("after")).order_by(EVENTS.c.seq))
_CLOSE_TASK = (update(TASKS).where(TASKS.c.id == bindparam("task_id"))
               .values(state=bindparam("new_state"), completed_at=bindparam("now"),
                       completed_by=bindparam("by")))
_CLAIM = (update(TASKS).where(TASKS.c.id == bindparam("task_id"), TASKS.c.state == "ready",
                              TASKS.c.assignee.is_(None) | (TASKS.c.assignee == bindparam("user")))
          .values(assignee=bindparam("user")))


def reading():
    """Return a connection for reads (a context manager; Core, no ORM session)."""
    return db.engine.connect()


def writing():
    """Return a connection in a transaction that commits on success and rolls back on error."""
    return db.engine.begin()


def insert_instance(conn, values: dict) -> None:
    """Insert a new instance row inside the caller's transaction."""
    conn.execute(insert(INSTANCES), [values])


def insert_tasks(conn, rows: list[dict]) -> None:
    """Insert new inbox task rows inside the caller's transaction."""
    if rows:
        conn.execute(insert(TASKS), rows)


@dataclasses.dataclass(frozen=True)
class Version:
    """Where an instance stood when it was read: its lock version and journal head."""

    lock: int
    journal_seq: int = 0
    journal_hash: str = audit.GENESIS
    state_seq: int | None = None  # the journal seq of the stored state (None: unknown)


def write_change(conn, instance_id: str, at: Version, events: list, *, actor: str,
                 now: datetime.datetime, values: dict | None = None) -> int:
    """Move the instance on from `at`, journal `events`, and return the new lock version.

    `values` (state, status, outcome, incident, serializer_version) replace the workflow's
    state, which becomes a snapshot at the new journal head; with `state` None only the
    status, outcome and incident change (the inputs stay in the journal's tail); without
    `values` only the journal moves on (a claim). Raise Conflict when someone
    else moved the instance first; the caller's transaction then rolls back, writing nothing.
    `now` (the host's clock) stamps the journal entries and the instance's `updated_at`.
    """
    entries = audit.chain(instance_id, at.journal_seq, at.journal_hash, events, actor, at=now)
    params = {"instance_id": instance_id, "expected": at.lock, "next_version": at.lock + 1,
              "now": now, "journal_seq": entries[-1].seq, "journal_hash": entries[-1].hash}
    if values is None:
        result = conn.execute(_ADVANCE_INSTANCE, params)
    else:
        outcome = {"status": values["status"], "outcome": values["outcome"],
                   "incident": values["incident"]}
        if values["state"] is None:
            result = conn.execute(_WRITE_OUTCOME, {**params, **outcome})
        else:
            result = conn.execute(_WRITE_INSTANCE, {
                **params, **outcome, "state": values["state"],
                "serializer": values["serializer_version"]})
    if result.rowcount != 1:
        raise Conflict(f"instance {instance_id} was changed by someone else")
    conn.execute(insert(EVENTS), [dataclasses.asdict(e) for e in entries])
    return at.lock + 1


def read_state(conn, instance_id: str):
    """Return an instance's stored state snapshot: (state, state_seq, journal_seq)."""
    return conn.execute(_READ_STATE, {"instance_id": instance_id}).one()


def read_tail(conn, instance_id: str, after: int) -> list:
    """Return the journal rows of an instance after seq `after`, in order."""
    return conn.execute(_READ_TAIL, {"instance_id": instance_id, "after": after}).all()


def version_of(row) -> Version:
    """Return the Version of a row that has lock_version, journal_seq and journal_hash
    (and state_seq, when the caller read it)."""
    return Version(row.lock_version, row.journal_seq, row.journal_hash,
                   getattr(row, "state_seq", None))


def read_instance(conn, instance_id: str, *columns: str):
    """Return the named columns of an instance row, or None."""
    return conn.execute(_reading(columns), {"instance_id": instance_id}).first()


@functools.lru_cache(maxsize=64)
def _reading(columns: tuple):
    """Return the statement reading these columns of an instance (built once per set)."""
    return select(*(INSTANCES.c[c] for c in columns)).where(
        INSTANCES.c.id == bindparam("instance_id"))


def read_task(conn, task_id: str):
    """Return what deciding on a task needs: its row, its instance's version and definition."""
    return conn.execute(_READ_TASK, {"task_id": task_id}).first()


def close_tasks(conn, task_ids, state: str, by: str | None = None, *,
                now: datetime.datetime) -> None:
    """Mark task rows completed or cancelled at `now` (the host's clock)."""
    rows = [{"task_id": t, "new_state": state, "now": now, "by": by} for t in task_ids]
    if rows:
        conn.execute(_CLOSE_TASK, rows)


def claim(conn, task_id: str, username: str) -> bool:
    """Assign an open task to `username` unless someone else holds it; tell if it worked."""
    return conn.execute(_CLAIM, {"task_id": task_id, "user": username}).rowcount == 1
