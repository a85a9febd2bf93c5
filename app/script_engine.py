"""The script engine SpiffWorkflow calls for expressions, scripts and service tasks.

Expressions and scripts go through the restricted evaluator in `app.expressions`;
service tasks are dispatched to `handlers.HANDLERS` by operator id. Every handler call is
journalled (request and response, or the error) into the `journal` list the engine passes
in, so the caller can commit it with the new workflow state; parameters that carry secrets
(`handlers.SECRET_PARAMETERS`) are journalled as their hash.
"""

import functools
import inspect
import json
import time

from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment

import handlers
from app import expressions
from app import redaction
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
        entry = {"task": task.task_spec.bpmn_id, "operator": operation_name,
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
            result, encoded, err = _attempt(handler, params)
            # failures are raised outside the handler's except block, so that the incident
            # never chains the raw error, whose text may hold a secret (a session in a URL)
            if err is not None:
                error = redaction.scrub(str(err), secrets)
                if not isinstance(err, Unavailable):
                    self._fail(task, entry, f"{type(err).__name__}: {error}", err)
                self.journal.append(("service_unavailable", {**entry, "attempt": attempt,
                                                             "error": error}))
                if attempt == attempts:
                    self._fail(task, entry, f"{error} (after {attempts} attempts)", err)
                time.sleep(self._delay(task, attempt))
                continue
            elapsed_ms = round((time.perf_counter() - started) * 1000, 3)
            self.journal.append(("service_called", {**entry, "result": result, "ms": elapsed_ms,
                                                    "attempt": attempt}))
            return encoded
        raise AssertionError("unreachable")  # pragma: no cover

    def _delay(self, task, attempt: int) -> float:
        base = getattr(task.task_spec, "retry_backoff_base", None) or 2
        return min(MAX_DELAY_SECONDS, self.retry_delay * base ** (attempt - 1))

    def _fail(self, task, entry, message, err=None):
        self.journal.append(("service_failed", {**entry, "error": message}))
        raise WorkflowTaskException(message, task=task, exception=err)
