"""SpiffWorkflow, wrapped: parse, start, run engine steps, complete user tasks, summarise.

Everything here works on in-memory workflows and returns plain values; persistence is
`app.store`, orchestration `app.services`. Two 3.2.0 defects are worked around here:
the engine loop and every task query walk `workflow.tasks` directly instead of the task
iterator, whose depth limit of 1,000 hides READY tasks in long loops and makes
`is_completed()` lie; and service-call errors are fixed in `app.script_engine`.
"""

from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.specs.defaults import EndEvent
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.spiff.parser.process import VALIDATOR
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from SpiffWorkflow.util.task import TaskState

from app.diagram import DiagramError
from app.script_engine import ScriptEngine


@dataclass(frozen=True)
class ReadyTask:
    """A user task waiting for a person."""

    id: str
    process_key: str
    bpmn_id: str
    name: str


@dataclass
class Snapshot:
    """What the host needs to know after an engine operation."""

    status: str  # running | completed | incident
    outcome: str | None
    ready: list[ReadyTask]
    incident: dict | None = None
    events: list = field(default_factory=list)


def parse_specs(paths: list[Path], keys: list[str]) -> dict:
    """Parse BPMN files and return {key: (spec, subprocess_specs)} for the given process keys."""
    parser = SpiffBpmnParser(validator=VALIDATOR)
    try:
        parser.add_bpmn_files([str(p) for p in paths])
        return {key: (parser.get_spec(key), parser.get_subprocess_specs(key)) for key in keys}
    except SpiffWorkflowException as err:
        raise DiagramError(str(err)) from None


def _all_tasks(workflow):
    yield from workflow.tasks.values()
    for sub in workflow.subprocesses.values():
        yield from sub.tasks.values()


def _run_ready(workflow) -> int:
    ready = [t for t in workflow.tasks.values()
             if t.state == TaskState.READY and not t.task_spec.manual]
    for task in ready:
        task.run()
    return len(ready)


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


def _advance(workflow, handlers: dict, journal: list, retry_delay: float) -> dict | None:
    """Run engine steps until only people or timers can move; return an incident or None."""
    workflow.script_engine = ScriptEngine(handlers, journal, retry_delay)
    try:
        while _engine_pass(workflow):
            pass
        workflow.refresh_timers()
    except SpiffWorkflowException as err:
        return _incident(err)
    return None


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


def summarize(workflow, incident=None, journal=None) -> Snapshot:
    """Describe a workflow: status, outcome, ready user tasks, current data."""
    ready = [ReadyTask(str(t.id), t.workflow.spec.name, t.task_spec.bpmn_id,
                       t.task_spec.bpmn_name or t.task_spec.bpmn_id)
             for t in _all_tasks(workflow) if t.state == TaskState.READY and t.task_spec.manual]
    unfinished = any(t.state & TaskState.NOT_FINISHED_MASK for t in workflow.tasks.values())
    outcome = _outcome(workflow)
    status = "incident" if incident else ("completed" if outcome and not unfinished else "running")
    return Snapshot(status, outcome, ready, incident, journal or [])


def current_data(workflow) -> dict:
    """Return the instance's current data: the workflow's at the end, else the latest task's."""
    if workflow.data:
        return dict(workflow.data)
    tasks = [t for t in _all_tasks(workflow) if t.state & TaskState.FINISHED_MASK
             or t.state == TaskState.READY]
    latest = max(tasks, key=lambda t: t.last_state_change, default=None)
    return dict(latest.data) if latest else {}


def start(specs: tuple, data: dict, handlers: dict, retry_delay: float = 0.05) -> tuple:
    """Start a workflow with the start-form `data`; return (workflow, snapshot)."""
    spec, subprocess_specs = specs
    workflow = BpmnWorkflow(spec, subprocess_specs)
    for task in workflow.tasks.values():
        if task.state == TaskState.READY:
            task.data.update(data)
    journal: list = []
    incident = _advance(workflow, handlers, journal, retry_delay)
    return workflow, summarize(workflow, incident, journal)


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


def complete(workflow, task_id: str, data: dict, actor: str, handlers: dict, *,
             retry_delay: float = 0.05) -> Snapshot:
    """Complete a READY user task with validated `data` and run the engine on."""
    task = find_ready_user_task(workflow, task_id)
    if task is None:
        raise LookupError(f"task {task_id} is not waiting for input")
    task.data.update(data)
    task.data["actors"] = {**task.data.get("actors", {}), task.task_spec.bpmn_id: actor}
    task.run()
    journal: list = []
    incident = _advance(workflow, handlers, journal, retry_delay)
    return summarize(workflow, incident, journal)


def task_data(workflow, task_id: str) -> dict | None:
    """Return a copy of the data a task holds, or None for an unknown task."""
    task = _task(workflow, task_id)
    return dict(task.data) if task is not None else None


def retry(workflow, handlers: dict, retry_delay: float = 0.05) -> Snapshot:
    """Set tasks that failed back to READY and run the engine again."""
    for task in _all_tasks(workflow):
        if task.state == TaskState.ERROR:
            task._set_state(TaskState.READY)
    journal: list = []
    incident = _advance(workflow, handlers, journal, retry_delay)
    return summarize(workflow, incident, journal)
