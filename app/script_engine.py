"""The script engine SpiffWorkflow calls for expressions, scripts and service tasks.

Expressions and scripts go through the restricted evaluator in `app.expressions`;
service tasks are dispatched to `handlers.HANDLERS` by operator id. Every handler call is
journalled (request and response, or the error) into the `journal` list the engine passes
in, so the caller can commit it with the new workflow state; parameters that carry secrets
(`handlers.SECRET_PARAMETERS`) are journalled as their hash. Each call is keyed by what a
fresh run would also produce: the element id and its occurrence in the case.

A replay (`app.replay`) passes `RecordedAnswers` instead of a handler table: the
`ReplayScriptEngine` then answers every call from the journal by element and occurrence,
never calling a state system.
"""

import functools
import inspect
import json
import time
from collections import defaultdict
from collections import deque

from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment
from SpiffWorkflow.util.task import TaskState

import handlers
from app import compaction
from app import expressions
from app import redaction
from app.audit import canonical_json
from handlers.errors import Unavailable


class RestrictedEnvironment(BasePythonScriptEngineEnvironment):
    """Evaluate and execute through the whitelisting evaluator, never plain eval/exec."""

    def evaluate(self, expression, context, external_context=None):
        """Return the value of `expression` over the task data `context`."""
        return expressions.evaluate(expression, {**(external_context or {}), **context})

    def execute(self, script, context, external_context=None):
        """Run a script of simple assignments on the task data `context`."""
        expressions.execute(script, context)
        return True

    def call_service(self, context, **kwargs):
        """Refuse: service tasks are dispatched by ScriptEngine.call_service."""
        raise NotImplementedError("service tasks are dispatched by ScriptEngine.call_service")


MAX_RETRIES = 5
MAX_DELAY_SECONDS = 2.0


@functools.lru_cache(maxsize=256)
def _takes_idempotency_key(handler) -> bool:
    return "idempotency_key" in inspect.signature(handler).parameters


def _attempt(handler, params: dict) -> tuple:
    """Return (result, its JSON text, None) from one handler call, or (None, None, the error)."""
    try:
        result = handler(**params)
        return result, json.dumps(result), None
    except Exception as err:  # noqa: BLE001 - every handler failure becomes an incident
        return None, None, err


class ScriptEngine(PythonScriptEngine):
    """Restricted expressions plus service-task dispatch with a journal of every call."""

    def __init__(self, handlers: dict, journal: list, retry_delay: float = 0.05):
        super().__init__(environment=RestrictedEnvironment())
        self.handlers = handlers
        self.journal = journal
        self.retry_delay = retry_delay

    def validate(self, expression):
        """Refuse an expression at parse time if the evaluator would refuse it."""
        expressions.validate_expression(expression)

    def call_service(self, task, operation_name=None, operation_params=None, **kwargs):
        """Call the handler registered for `operation_name` and return its JSON result.

        Overrides SpiffWorkflow 3.2.0, whose error path raises NameError('script') and hides
        the handler's own error: here every failure becomes a WorkflowTaskException that
        names the task and keeps the original message. A state system that is unavailable
        is tried again per the diagram's `spiffworkflow:retry` (retries, backoff_base);
        every attempt is journalled. Handlers that change state get the task's id as their
        idempotency key, the same on every attempt and every retry of the incident.
        """
        params = {name: p["value"] for name, p in (operation_params or {}).items()}
        entry = {"task": task.task_spec.bpmn_id, "occurrence": occurrence(task),
                 "operator": operation_name,
                 "params": redaction.redact(params, handlers.SECRET_PARAMETERS)}
        secrets = [params[name] for name in handlers.SECRET_PARAMETERS & set(params)]
        handler = self.handlers.get(operation_name)
        if handler is None:
            self._fail(task, entry, f"no handler registered for operator '{operation_name}'")
        if _takes_idempotency_key(handler):
            params = {**params, "idempotency_key": str(task.id)}
        attempts = 1 + min(getattr(task.task_spec, "retries", None) or 0, MAX_RETRIES)
        for attempt in range(1, attempts + 1):
            started = time.perf_counter()
            result, encoded, err = self._attempt(handler, params, entry)
            # failures are raised outside the handler's except block, so that the incident
            # never chains the raw error, whose text may hold a secret (a session in a URL)
            if err is not None:
                error = redaction.scrub(str(err), secrets)
                if not isinstance(err, Unavailable):
                    self._fail(task, entry, f"{type(err).__name__}: {error}", err)
                self.journal.append(("service_unavailable", {**entry, "attempt": attempt,
                                                             "error": error}))
                if attempt == attempts:  # the engine's own verdict, not a handler's answer
                    self._fail(task, {**entry, "exhausted": True},
                               f"{error} (after {attempts} attempts)", err)
                time.sleep(self._delay(task, attempt))
                continue
            elapsed_ms = round((time.perf_counter() - started) * 1000, 3)
            self.journal.append(("service_called", {**entry, "result": result, "ms": elapsed_ms,
                                                    "attempt": attempt}))
            return encoded
        raise AssertionError("unreachable")  # pragma: no cover

    def _attempt(self, handler, params: dict, entry: dict) -> tuple:
        """Call the handler once: (result, its JSON text, None) or (None, None, the error)."""
        return _attempt(handler, params)

    def _delay(self, task, attempt: int) -> float:
        base = getattr(task.task_spec, "retry_backoff_base", None) or 2
        return min(MAX_DELAY_SECONDS, self.retry_delay * base ** (attempt - 1))

    def _fail(self, task, entry, message, err=None):
        self.journal.append(("service_failed", {**entry, "error": message}))
        raise WorkflowTaskException(message, task=task, exception=err)


def occurrence(task) -> int:
    """Return the task's occurrence in its case: 1 + the completed tasks of the same element.

    The element is the BPMN id within its (sub)process; a loop's second pass is occurrence 2.
    Random task ids differ between runs; this key is what a fresh run would also produce.
    Completed tasks that compaction dropped count through its carried counter.
    """
    top = getattr(task.workflow, "top_workflow", task.workflow)
    process, bpmn_id = task.workflow.spec.name, task.task_spec.bpmn_id
    done = sum(1 for owner in (top, *top.subprocesses.values()) if owner.spec.name == process
               for other in owner.tasks.values()
               if other.state == TaskState.COMPLETED and other.task_spec.bpmn_id == bpmn_id
               and other is not task)
    done += compaction.completed_counts(top)[(process, bpmn_id)]
    return done + 1


class RecordedFailure(Exception):
    """A handler failure as the journal recorded it (replayed, not raised by a handler)."""


def _recorded_handler(**params):  # pragma: no cover - never called: the record answers
    raise AssertionError("a replay answers handler calls from the record")


_HANDLER_CALLS = ("service_called", "service_unavailable", "service_failed")


class RecordedAnswers:
    """The handler answers a journal holds, queued by (element, occurrence) in journal order.

    Used as the handler table of a replay: every operator resolves, and the
    `ReplayScriptEngine` takes each answer from the queue of the calling element instead.
    """

    def __init__(self, entries):
        self._queues: dict = defaultdict(deque)
        for kind, payload in entries:
            if kind in _HANDLER_CALLS and not payload.get("exhausted"):
                self._queues[(payload.get("task"), payload.get("occurrence"))].append(
                    (kind, payload))

    def get(self, operator):
        """Return a stand-in handler for any operator: the record answers, not a handler."""
        return _recorded_handler

    def answer(self, entry: dict) -> tuple:
        """Return the next recorded (result, JSON text, error) for the call `entry` describes."""
        queue = self._queues.get((entry["task"], entry["occurrence"]))
        if not queue:
            return None, None, RecordedFailure(
                f"no recorded answer for {entry['task']} #{entry['occurrence']}")
        kind, recorded = queue.popleft()
        asked = json.loads(canonical_json(entry["params"]))  # as the journal holds it
        if (recorded.get("operator"), recorded.get("params")) != (entry["operator"], asked):
            return None, None, RecordedFailure(
                f"{entry['task']} #{entry['occurrence']} asked otherwise than recorded")
        if kind == "service_called":
            return recorded["result"], json.dumps(recorded["result"]), None
        if kind == "service_unavailable":
            return None, None, Unavailable(recorded.get("error", ""))
        return None, None, RecordedFailure(recorded.get("error", ""))


class ReplayScriptEngine(ScriptEngine):
    """The script engine of a replay: handler calls are answered from `RecordedAnswers`."""

    def _attempt(self, handler, params: dict, entry: dict) -> tuple:
        """Return the recorded answer to this call instead of calling a state system."""
        return self.handlers.answer(entry)


def for_handlers(handler_table, journal: list, retry_delay: float = 0.05) -> ScriptEngine:
    """Return the script engine for a handler table: live handlers, or a replay's record."""
    if isinstance(handler_table, RecordedAnswers):
        return ReplayScriptEngine(handler_table, journal, 0.0)
    return ScriptEngine(handler_table, journal, retry_delay)
