"""SpiffWorkflow, wrapped: parse, start, run engine steps, complete user tasks, summarise.

Everything here works on in-memory workflows and returns plain values; persistence is
`app.core.store`, orchestration `app.services`. Two 3.2.0 defects are worked around here:
the engine loop and every task query walk `workflow.tasks` directly instead of the task
iterator, whose depth limit of 1,000 hides READY tasks in long loops and makes
`is_completed()` lie; and service-call errors are fixed in `app.core.script_engine`.

SpiffWorkflow's timer events read the wall clock themselves (`datetime.now` in
`bpmn/specs/event_definitions/timer.py`). Here they read the `now` the host passes into every
engine call instead (the Runtime's clock): each call works at one moment, so a manual clock
moves timers, and a run fed the same moments fires them the same way.
"""

import contextlib
import contextvars
import datetime
import hashlib
import itertools
import uuid
from collections import Counter
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from uuid import UUID

from SpiffWorkflow import task as spiff_task_module
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.specs.defaults import EndEvent
from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import CycleTimerEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import DurationTimerEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimeDateEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.spiff.parser.process import VALIDATOR
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from SpiffWorkflow.util.task import TaskState

from app.audit import canonical_json
from app.audit import redaction
from app.core import compaction
from app.core.script_engine import ScriptEngine
from app.diagram import DiagramError


@dataclass(frozen=True)
class ReadyTask:
    """A user task waiting for a person."""

    id: str
    process_key: str
    bpmn_id: str
    name: str
    occurrence: int = 1  # 1 + completed tasks of this element: the same in a fresh run


@dataclass
class Snapshot:
    """What the host needs to know after an engine operation."""

    status: str  # running | completed | incident
    outcome: str | None
    ready: list[ReadyTask]
    incident: dict | None = None
    events: list = field(default_factory=list)
    calls: list = field(default_factory=list)  # READY service tasks (pending_calls)


_PARAMS = "qyzmet_service_params"  # a READY service task's evaluated request (internal data)
_NOW: contextvars.ContextVar[datetime.datetime] = contextvars.ContextVar("engine_now")


@contextlib.contextmanager
def _working_at(now: datetime.datetime | None, seed: str | None = None):
    """Let the timers evaluated inside read `now` (without it a timer refuses to guess), and
    the tasks created inside take their ids from `seed` (see `_task_id`)."""
    spiff_task_module.uuid4 = _task_id  # SpiffWorkflow.task's only source of task ids
    ids = _IDS.set((seed, itertools.count()) if seed else None)
    if now is None:
        try:
            yield
        finally:
            _IDS.reset(ids)
        return
    if now.utcoffset() is None:
        raise ValueError("the engine needs an aware moment (UTC) as `now`")
    token = _NOW.set(now.astimezone(datetime.UTC))
    try:
        yield
    finally:
        _NOW.reset(token)
        _IDS.reset(ids)


_IDS: contextvars.ContextVar = contextvars.ContextVar("engine_task_ids", default=None)
_TASK_ID_SPACE = uuid.UUID("6f1d3c2e-5b8a-4e0f-9c7d-2a4b6e8f0a1c")


def _task_id() -> uuid.UUID:
    """Return the id of a task SpiffWorkflow creates: random, or derived from the call's seed.

    SpiffWorkflow gives every new task `uuid4()`; every engine call (`_working_at`) makes that
    name this function, which without a seed still answers `uuid4()`. A host call that passes
    a seed (the case and the journal seq of its change) gets the n-th id of that seed instead,
    so feeding the same inputs to the same state (a restore from snapshot and tail, or a replay)
    creates the very same task ids the live run stored in its inbox, timer and job rows.
    """
    seeded = _IDS.get()
    if seeded is None:
        return uuid.uuid4()
    seed, counter = seeded
    return uuid.uuid5(_TASK_ID_SPACE, f"{seed}/{next(counter)}")



def change_seed(instance_id: str, first_seq: int) -> str:
    """Return the seed of the task ids one change of a case creates: the case and the journal
    seq of the change's first entry, known alike to the live change and to a replay."""
    return f"{instance_id}/{first_seq}"


def _now() -> datetime.datetime:
    try:
        return _NOW.get()
    except LookupError:
        raise RuntimeError("a timer was evaluated without the host's clock: pass `now` to "
                           "engine.start, complete, retry or wake") from None


class _FiresOnceByClock:
    """A one-off timer: its due moment is worked out once, then compared with the host's clock.

    SpiffWorkflow fires only strictly after the moment; here it fires at the moment itself.
    """

    def has_fired(self, my_task):
        """Tell whether the moment has come; remember the due value on the task."""
        now = _now()
        event_value = my_task._get_internal_data("event_value")
        if event_value is None:
            expression = my_task.workflow.script_engine.evaluate(my_task, self.expression)
            event_value = self._due_value(expression, now)
            my_task._set_internal_data(event_value=event_value)
        if self._due_moment(event_value) <= now:
            my_task._set_internal_data(event_fired=True)
        return my_task._get_internal_data("event_fired", False)


class ClockedTimeDate(_FiresOnceByClock, TimeDateEventDefinition):
    """A timer at a date and time, due by the host's clock."""

    def _due_value(self, expression, now):
        return expression

    def _due_moment(self, value):
        return self.parse_time_or_duration(value)


class ClockedDuration(_FiresOnceByClock, DurationTimerEventDefinition):
    """A timer after a duration, counted from the host's clock when the event starts waiting."""

    def _due_value(self, expression, now):
        parsed = self.parse_iso_duration(expression)
        return (now + self.get_timedelta_from_start(parsed, now)).isoformat()

    def _due_moment(self, value):
        return self.get_datetime(value)


def _recurring(expression: str, now: datetime.datetime) -> tuple:
    """Parse `R<n>/<duration>` from `now`; anything anchored to a date as SpiffWorkflow does."""
    parts = expression.upper().replace("--", "/").strip("R").split("/")
    if len(parts) == 2 and parts[1].startswith("P"):
        cycles = int(parts[0]) if parts[0] else -1
        duration = TimerEventDefinition.get_timedelta_from_start(
            TimerEventDefinition.parse_iso_duration(parts[1]), now)
        return cycles, now + duration, duration
    return TimerEventDefinition.parse_iso_recurring_interval(expression)


class ClockedCycle(CycleTimerEventDefinition):
    """A repeating timer whose cycles come due by the host's clock."""

    def cycle_complete(self, my_task):
        """Tell whether the next cycle is due, counting it; finish after the last cycle."""
        now = _now()
        event_value = my_task._get_internal_data("event_value")
        if event_value is None:
            expression = my_task.workflow.script_engine.evaluate(my_task, self.expression)
            cycles, start, duration = _recurring(expression, now)
            event_value = {"cycles": cycles, "next": start.isoformat(),
                           "duration": duration.total_seconds()}
        ready = False
        if event_value["cycles"] != 0:
            next_event = datetime.datetime.fromisoformat(event_value["next"])
            if next_event <= now:
                step = datetime.timedelta(seconds=event_value["duration"])
                event_value["next"] = (next_event + step).isoformat()
                event_value["cycles"] -= 1
                ready = True
        else:
            my_task.internal_data.pop("event_value", None)
            my_task.internal_data["event_fired"] = True
        my_task._set_internal_data(event_value=event_value)
        return ready


CLOCKED_TIMERS = {TimeDateEventDefinition: ClockedTimeDate,
                  DurationTimerEventDefinition: ClockedDuration,
                  CycleTimerEventDefinition: ClockedCycle}


def _clock_definition(definition) -> None:
    clocked = CLOCKED_TIMERS.get(type(definition))
    if clocked is not None:
        definition.__class__ = clocked  # same state, the host's clock instead of the wall's
    if isinstance(definition, MultipleEventDefinition):
        for inner in definition.event_definitions:
            _clock_definition(inner)


def _take_over_timers(specs) -> None:
    """Make the timer events of these process specs read the host's clock (once per spec).

    Done on the parsed specs in memory, not at parse time: the stored specs keep
    SpiffWorkflow's own classes, so the serializer and older definitions need nothing new.
    """
    for spec in specs:
        if spec.__dict__.get("_qyzmet_clocked"):
            continue
        for task_spec in spec.task_specs.values():
            _clock_definition(getattr(task_spec, "event_definition", None))
        spec.__dict__["_qyzmet_clocked"] = True


def parse_specs(paths: list[Path], keys: list[str]) -> dict:
    """Parse BPMN files and return {key: (spec, subprocess_specs)} for the given process keys."""
    parser = SpiffBpmnParser(validator=VALIDATOR)
    try:
        parser.add_bpmn_files([str(p) for p in paths])
        return {key: (parser.get_spec(key), parser.get_subprocess_specs(key)) for key in keys}
    except SpiffWorkflowException as err:
        raise DiagramError(str(err)) from None


def parse_texts(texts: dict[str, str], key: str) -> tuple:
    """Parse BPMN texts {file name: XML} and return (spec, subprocess_specs) of process `key`."""
    parser = SpiffBpmnParser(validator=VALIDATOR)
    try:
        for name, text in sorted(texts.items()):
            parser.add_bpmn_str(text.encode("utf-8"), filename=name)
        return parser.get_spec(key), parser.get_subprocess_specs(key)
    except SpiffWorkflowException as err:
        raise DiagramError(str(err)) from None


def _all_tasks(workflow):
    yield from workflow.tasks.values()
    for sub in workflow.subprocesses.values():
        yield from sub.tasks.values()


def _is_service(task) -> bool:
    return hasattr(task.task_spec, "operation_name")


def _run_ready(workflow) -> int:
    """Run the READY engine tasks of one (sub)workflow; service tasks wait for their job."""
    ready = [t for t in workflow.tasks.values()
             if t.state == TaskState.READY and not t.task_spec.manual and not _is_service(t)]
    for task in ready:
        task.run()
    return len(ready)


def _prepare_calls(workflow) -> None:
    """Evaluate the parameters of every READY service task that has not been evaluated yet.

    The values are kept in the task's internal data (they become the job's request); an
    expression that fails puts the task in ERROR, as running it inline would have.
    """
    for task in _all_tasks(workflow):
        if (task.state != TaskState.READY or not _is_service(task)
                or task._get_internal_data(_PARAMS) is not None):
            continue
        try:
            evaluated = task.task_spec.evaluate_params(task)
        except Exception as err:  # noqa: BLE001 - a failing parameter is an incident
            task.error()
            raise WorkflowTaskException(f"parameters of {task.task_spec.bpmn_id}: {err}",
                                        task=task, exception=err) from None
        task._set_internal_data(**{_PARAMS: {k: p["value"] for k, p in evaluated.items()}})


def _engine_pass(workflow) -> bool:
    """Run READY engine tasks once everywhere, innermost subprocesses first."""
    active = workflow.get_active_subprocesses()
    progressed = False
    for sub in sorted(active, key=lambda s: s.depth, reverse=True):
        while _run_ready(sub):
            progressed = True
        if sub.parent_task_id is not None:
            parent = workflow.get_task_from_id(sub.parent_task_id)
            parent.task_spec._update(parent)
    progressed = _run_ready(workflow) > 0 or progressed
    return progressed or len(workflow.get_active_subprocesses()) > len(active)


def _timers_waiting(workflow) -> bool:
    return any(isinstance(t.task_spec.event_definition,
                          (TimerEventDefinition, MultipleEventDefinition))
               for t in workflow.event_manager.tasks.values())


def _advance(workflow) -> dict | None:
    """Run engine steps until only people or timers can move; return an incident or None.

    Timers due by the call's `now` fire, and what they make ready runs, in the same call.
    """
    try:
        while True:
            while _engine_pass(workflow):
                pass
            if not _timers_waiting(workflow):
                break
            workflow.refresh_timers()
            if not _engine_pass(workflow):
                break
        _prepare_calls(workflow)
    except SpiffWorkflowException as err:
        return _incident(err)
    return None


def _catch_up_timers(workflow) -> dict | None:
    """Fire the timers due by the call's `now` (and run what they make ready) before an input."""
    return _advance(workflow) if _timers_waiting(workflow) else None


def _engine_for(workflow, answer=None) -> list:
    """Give the workflow this call's script engine, before any task moves; return its journal.

    A restored workflow would otherwise evaluate (timer expressions, say) with SpiffWorkflow's
    default engine, which is plain eval. `answer` is the one service answer this call delivers.
    """
    journal: list = []
    workflow.script_engine = ScriptEngine(journal, answer)
    return journal


def _incident(err: SpiffWorkflowException) -> dict:
    """Describe a failed engine step: the task, and the error in one line."""
    task = getattr(err, "task", None)
    message = str(err).split("\n")[0].strip().rstrip(".")
    cause = err.__cause__ or err.__context__
    if cause is not None and str(cause) not in message:
        message = f"{message}: {cause}"
    return {"task": task.task_spec.bpmn_id if task else None, "error": message}


def _outcome(workflow) -> str | None:
    for task in workflow.tasks.values():
        if task.state == TaskState.COMPLETED and isinstance(task.task_spec, EndEvent):
            return task.task_spec.bpmn_id
    return None


def _ready_user_tasks(workflow) -> list[ReadyTask]:
    """List the READY user tasks with their occurrences (as `script_engine.occurrence`).

    Completed tasks that compaction dropped count through its carried counter.
    """
    done: Counter = Counter(compaction.completed_counts(workflow))
    ready = []
    for task in _all_tasks(workflow):
        key = (task.workflow.spec.name, task.task_spec.bpmn_id)
        if task.state == TaskState.COMPLETED:
            done[key] += 1
        elif task.state == TaskState.READY and task.task_spec.manual:
            ready.append((key, task))
    return [ReadyTask(str(t.id), key[0], key[1], t.task_spec.bpmn_name or key[1], done[key] + 1)
            for key, t in ready]


def summarize(workflow, incident=None, journal=None) -> Snapshot:
    """Describe a workflow: status, outcome, ready user tasks, current data."""
    ready = _ready_user_tasks(workflow)
    unfinished = any(t.state & TaskState.NOT_FINISHED_MASK for t in workflow.tasks.values())
    outcome = _outcome(workflow)
    status = "incident" if incident else ("completed" if outcome and not unfinished else "running")
    return Snapshot(status, outcome, ready, incident, journal or [], pending_calls(workflow))


def state_view(workflow, snap: Snapshot) -> dict:
    """Return what a state digest covers: status, outcome, the failed element, the ready user
    and service tasks keyed by (process, element, occurrence) with their data (and a service
    task's request), and the workflow's data."""
    ready = sorted(snap.ready, key=lambda r: (r.process_key, r.bpmn_id, r.occurrence))
    calls = sorted(snap.calls, key=lambda c: (c.process_key, c.bpmn_id, c.occurrence))
    return {"status": snap.status, "outcome": snap.outcome,
            "incident": (snap.incident or {}).get("task"),
            "ready": [{"process": r.process_key, "bpmn_id": r.bpmn_id,
                       "occurrence": r.occurrence, "data": task_data(workflow, r.id)}
                      for r in ready],
            "calls": [{"process": c.process_key, "bpmn_id": c.bpmn_id, "occurrence": c.occurrence,
                       "operator": c.operator, "params": c.params,
                       "data": task_data(workflow, c.task_id)} for c in calls],
            "data": dict(workflow.data)}


def state_digest(workflow, snap: Snapshot, secrets) -> str:
    """Return the sha256 of the canonical JSON of `state_view`, with `secrets` redacted.

    Redacted, a replay fed the journal's redacted start data reaches the same digest.
    """
    view = redaction.redact(state_view(workflow, snap), secrets)
    return hashlib.sha256(canonical_json(view).encode("utf-8")).hexdigest()


def find_ready(workflow, process: str | None, bpmn_id: str, occurrence: int | None) -> str | None:
    """Return the id of the READY user task of this element and occurrence, or None.

    A journal entry that lacks process or occurrence (older entries) matches any.
    """
    for ready in _ready_user_tasks(workflow):
        if (ready.bpmn_id == bpmn_id and process in (None, ready.process_key)
                and occurrence in (None, ready.occurrence)):
            return ready.id
    return None


def ready_key(workflow, task_id: str) -> tuple | None:
    """Return (process, element, occurrence) of a READY user task, or None."""
    for ready in _ready_user_tasks(workflow):
        if ready.id == task_id:
            return ready.process_key, ready.bpmn_id, ready.occurrence
    return None


def current_data(workflow) -> dict:
    """Return the instance's current data: the workflow's at the end, else the latest task's."""
    if workflow.data:
        return dict(workflow.data)
    tasks = [t for t in _all_tasks(workflow) if t.state & TaskState.FINISHED_MASK
             or t.state == TaskState.READY]
    latest = max(tasks, key=lambda t: t.last_state_change, default=None)
    return dict(latest.data) if latest else {}


def start(specs: tuple, data: dict, *, now: datetime.datetime | None = None,
          seed: str | None = None) -> tuple:
    """Start a workflow with the start-form `data` at `now`; return (workflow, snapshot).

    `now` is the host's clock; timers need it (a diagram without timers runs without). Every
    call takes an optional `seed`: the tasks it creates get ids derived from it (`_task_id`).
    """
    spec, subprocess_specs = specs
    _take_over_timers([spec, *subprocess_specs.values()])
    journal: list = []
    with _working_at(now, seed):
        workflow = BpmnWorkflow(spec, subprocess_specs, script_engine=ScriptEngine(journal))
        for task in workflow.tasks.values():
            if task.state == TaskState.READY:
                task.data.update(data)
        incident = _advance(workflow)
    return workflow, summarize(workflow, incident, journal)


def _prepare(workflow, answer=None) -> tuple:
    """Ready a restored workflow for a call: return (its journal, the timers waiting now)."""
    _take_over_timers([workflow.spec, *workflow.subprocess_specs.values()])
    return _engine_for(workflow, answer), waiting_timers(workflow)


def _finish(workflow, incident, journal: list, waited: list, now) -> Snapshot:
    """Journal each timer that was waiting and fired during the call, then summarize.

    The scheduler's `timer_fired` is the input that woke a case; `timer_elapsed` records
    every timer event the engine completed, whatever call it happened in (a completion
    made after the moment, say), with the clock value the call ran at.
    """
    for timer in waited:
        if timer_fired(workflow, timer.task_id):
            journal.append(("timer_elapsed", {"bpmn_id": timer.bpmn_id,
                                              "due_at": timer.due_at.isoformat(),
                                              "clock": now.isoformat()}))
    return summarize(workflow, incident, journal)


def _task(workflow, task_id: str):
    """Return the task with this id (top level or in a subprocess), or None."""
    try:
        uid = UUID(task_id)
    except (ValueError, TypeError, AttributeError):
        return None
    for owner in (workflow, *workflow.subprocesses.values()):
        if uid in owner.tasks:
            return owner.tasks[uid]
    return None


def find_ready_user_task(workflow, task_id: str):
    """Return the READY user task with this id, or None."""
    task = _task(workflow, task_id)
    if task is not None and task.state == TaskState.READY and task.task_spec.manual:
        return task
    return None


def ready_user_task_ids(workflow) -> set[str]:
    """Return the ids of the user tasks waiting for people."""
    return {str(t.id) for t in _all_tasks(workflow)
            if t.state == TaskState.READY and t.task_spec.manual}


def complete(workflow, task_id: str, data: dict, actor: str, *,
             now: datetime.datetime | None = None, seed: str | None = None) -> Snapshot:
    """Complete a READY user task with validated `data` at `now` and run the engine on."""
    if find_ready_user_task(workflow, task_id) is None:
        raise LookupError(f"task {task_id} is not waiting for input")
    journal, waited = _prepare(workflow)
    with _working_at(now, seed):
        earlier = _catch_up_timers(workflow)  # what was due before `now` happens first
        task = find_ready_user_task(workflow, task_id)
        if task is None:
            raise LookupError(f"task {task_id} was ended by a timer before this input")
        task.data.update(data)
        task.data["actors"] = {**task.data.get("actors", {}), task.task_spec.bpmn_id: actor}
        task.run()
        incident = _advance(workflow) or earlier
    return _finish(workflow, incident, journal, waited, now)


def task_data(workflow, task_id: str) -> dict | None:
    """Return a copy of the data a task holds, or None for an unknown task."""
    task = _task(workflow, task_id)
    return dict(task.data) if task is not None else None


def retry(workflow, *, now: datetime.datetime | None = None, seed: str | None = None) -> Snapshot:
    """Set tasks that failed back to READY and run the engine again at `now`."""
    for task in _all_tasks(workflow):
        if task.state == TaskState.ERROR:
            task._set_state(TaskState.READY)
    return wake(workflow, now=now, seed=seed)


@dataclass(frozen=True)
class WaitingTimer:
    """A timer event waiting for its moment: its task, BPMN id and due moment (UTC)."""

    task_id: str
    bpmn_id: str
    due_at: datetime.datetime


def _due_moment(definition, event_value) -> datetime.datetime | None:
    """Return the moment a clocked timer's remembered `event_value` comes due, or None."""
    if event_value is None:
        return None
    if isinstance(definition, ClockedCycle):
        if event_value.get("cycles") == 0:
            return None
        moment = datetime.datetime.fromisoformat(event_value["next"])
    else:
        moment = definition.get_datetime(event_value)
    return moment.astimezone(datetime.UTC) if moment.utcoffset() is not None else None


def waiting_timers(workflow) -> list[WaitingTimer]:
    """List the workflow's timer events that wait, with the due moments they evaluated.

    After any engine call that had `now`, every waiting timer has evaluated its due moment
    (its `event_value`); a timer in a multiple-event definition is not listed.
    """
    found = []
    for task in workflow.event_manager.tasks.values():
        definition = task.task_spec.event_definition
        if not isinstance(definition, tuple(CLOCKED_TIMERS.values())):
            continue
        due = _due_moment(definition, task._get_internal_data("event_value"))
        if due is not None:
            found.append(WaitingTimer(str(task.id), task.task_spec.bpmn_id, due))
    return sorted(found, key=lambda t: (t.due_at, t.task_id))


def fired_timer_ids(workflow) -> set[str]:
    """Return the ids of the timer events that fired (completed) and are still in the workflow.

    Read before compaction drops them: `timers.keep_in_step` closes their rows as fired.
    """
    return {str(t.id) for t in _all_tasks(workflow) if t.state == TaskState.COMPLETED
            and isinstance(getattr(t.task_spec, "event_definition", None), TimerEventDefinition)}


def timer_fired(workflow, task_id: str) -> bool:
    """Tell whether the timer event task `task_id` has fired (completed), not been cancelled."""
    task = _task(workflow, task_id)
    return task is not None and task.state == TaskState.COMPLETED


def wake(workflow, *, now: datetime.datetime | None, seed: str | None = None) -> Snapshot:
    """Run the engine at `now`: the timers due by then fire and what they make ready runs."""
    journal, waited = _prepare(workflow)
    with _working_at(now, seed):
        incident = _advance(workflow)
    return _finish(workflow, incident, journal, waited, now)


@dataclass(frozen=True)
class ServiceCall:
    """A READY service task waiting for its job: the request a worker sends to a handler."""

    task_id: str
    process_key: str
    bpmn_id: str
    occurrence: int
    operator: str
    params: dict
    retries: int  # the diagram's spiffworkflow:retry setting (0: one attempt only)
    backoff_base: float


def pending_calls(workflow) -> list[ServiceCall]:
    """List the READY service tasks with their evaluated parameters (after any engine call)."""
    done: Counter = Counter(compaction.completed_counts(workflow))
    ready = []
    for task in _all_tasks(workflow):
        key = (task.workflow.spec.name, task.task_spec.bpmn_id)
        if task.state == TaskState.COMPLETED:
            done[key] += 1
        elif task.state == TaskState.READY and _is_service(task):
            ready.append((key, task))
    return [ServiceCall(str(t.id), key[0], key[1], done[key] + 1, t.task_spec.operation_name,
                        dict(t._get_internal_data(_PARAMS) or {}),
                        int(getattr(t.task_spec, "retries", None) or 0),
                        float(getattr(t.task_spec, "retry_backoff_base", None) or 2))
            for key, t in ready]


def deliver(workflow, task_id: str, answer: dict, *, now: datetime.datetime,
            seed: str | None = None) -> Snapshot:
    """Give a READY service task its job's `answer` ({"result": …} or {"error": "…"}) at
    `now` and run the engine on; an error answer makes the task fail (an incident)."""
    journal, waited = _prepare(workflow, answer)
    with _working_at(now, seed):
        earlier = _catch_up_timers(workflow)  # what was due before `now` happens first
        task = _task(workflow, task_id)
        if task is None or task.state != TaskState.READY or not _is_service(task):
            raise LookupError(f"service task {task_id} is not waiting for an answer")
        try:
            task.run()
            incident = _advance(workflow) or earlier
        except SpiffWorkflowException as err:
            incident = _incident(err)
    return _finish(workflow, incident, journal, waited, now)


def taken_flows(workflow) -> set[tuple[str, str, str]]:
    """Return the sequence flows a workflow took, as (process, source id, target id).

    A completed element's nearest completed BPMN ancestor in the same (sub)process is where
    it came from (SpiffWorkflow's own join and split tasks in between have no BPMN id). Only
    meaningful on a workflow with its whole history: a replay's, not a compacted one.
    """
    taken = set()
    for owner in (workflow, *workflow.subprocesses.values()):
        for task in owner.tasks.values():
            if task.state != TaskState.COMPLETED or not task.task_spec.bpmn_id:
                continue
            source = task.parent
            while source is not None and not source.task_spec.bpmn_id:
                source = source.parent
            if source is not None:
                taken.add((owner.spec.name, source.task_spec.bpmn_id, task.task_spec.bpmn_id))
    return taken
