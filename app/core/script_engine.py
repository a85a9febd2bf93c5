"""The script engine SpiffWorkflow calls for expressions, scripts and service tasks.

Expressions and scripts go through the restricted evaluator in `app.core.expressions`.
Service tasks never call a state system here: they run as jobs (`app.jobs`). The engine
stops at a READY service task; a worker calls the handler and commits its answer, then
`engine.deliver` runs the task with that one answer, which `ScriptEngine.call_service`
hands to SpiffWorkflow. A replay (`app.audit.replay`) delivers the journal's recorded answers
the same way, so no state system is ever called twice for one job.
"""

import json

from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment
from SpiffWorkflow.util.task import TaskState

import handlers
from app.audit import redaction
from app.core import compaction
from app.core import expressions


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
        """Refuse: service tasks are answered by ScriptEngine.call_service."""
        raise NotImplementedError("service tasks are answered by ScriptEngine.call_service")


class ScriptEngine(PythonScriptEngine):
    """Restricted expressions, and service tasks answered by their job's delivered answer."""

    def __init__(self, journal: list, answer: dict | None = None):
        super().__init__(environment=RestrictedEnvironment())
        self.journal = journal
        self.answer = answer

    def validate(self, expression):
        """Refuse an expression at parse time if the evaluator would refuse it."""
        expressions.validate_expression(expression)

    def call_service(self, task, operation_name=None, operation_params=None, **kwargs):
        """Return the delivered answer's result as JSON, or fail the task with its error.

        Overrides SpiffWorkflow 3.2.0, whose error path raises NameError('script') and hides
        the real error: here a failure becomes a WorkflowTaskException that names the task
        and keeps the message, and is journalled as `service_failed`.
        """
        params = {name: p["value"] for name, p in (operation_params or {}).items()}
        entry = {"task": task.task_spec.bpmn_id, "occurrence": occurrence(task),
                 "operator": operation_name,
                 "params": redaction.redact(params, handlers.SECRET_PARAMETERS)}
        answer, self.answer = self.answer, None  # one answer, for the one task delivered
        if answer is None:
            self._fail(task, entry, "a service task runs as a job: it has no answer yet")
        if answer.get("error") is not None:
            self._fail(task, {**entry, "job": answer.get("job")}, answer["error"])
        return json.dumps(answer.get("result"))

    def _fail(self, task, entry, message):
        self.journal.append(("service_failed", {**entry, "error": message}))
        raise WorkflowTaskException(message, task=task)


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
