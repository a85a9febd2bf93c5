"""The engine wrapper: long loops, service errors, sandboxed diagrams, save and restore."""

import datetime
from pathlib import Path

import pytest
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import TaskDataEnvironment

from app.core import engine
from app.core import store

FIXTURES = Path(__file__).parent / "fixtures"
BPMN = Path(__file__).parent.parent / "bpmn"


NOW = datetime.datetime(2026, 3, 2, 9, 0, tzinfo=datetime.UTC)


def _specs(name, folder=FIXTURES):
    return engine.parse_specs([folder / f"{name}.bpmn"], [name])[name]


def _serve(workflow, snap, handlers):
    """Answer the READY service tasks as a job worker would, until none waits or one fails."""
    while snap.status == "running" and (calls := engine.pending_calls(workflow)):
        call = calls[0]
        try:
            answer = {"result": handlers[call.operator](**call.params)}
        except Exception as err:  # noqa: BLE001 - the worker records any failure
            answer = {"error": f"{type(err).__name__}: {err}"}
        snap = engine.deliver(workflow, call.task_id, answer, now=NOW)
    return snap


def test_long_loop_finishes_past_the_iterator_depth_limit():
    workflow, snap = engine.start(_specs("long_loop"), {"rounds": 0, "target": 400})
    assert (snap.status, snap.outcome) == ("completed", "loop_finished")
    assert engine.current_data(workflow)["rounds"] == 400


def test_raw_spiffworkflow_stops_a_long_loop_silently():
    """Documents the 3.2.0 defect our engine loop avoids: the case 'finishes' early."""
    spec, subs = _specs("long_loop")
    workflow = BpmnWorkflow(spec, subs, script_engine=PythonScriptEngine(TaskDataEnvironment()))
    for task in workflow.tasks.values():
        task.data.update({"rounds": 0, "target": 400})
    workflow.do_engine_steps()
    assert workflow.is_completed()
    rounds = max(t.data.get("rounds", 0) for t in workflow.tasks.values())
    assert rounds < 400


def test_handler_error_becomes_an_incident_with_its_own_message():
    def flaky(*, iin_bin):
        raise ConnectionError(f"registry did not answer for {iin_bin}")

    workflow, snap = engine.start(_specs("failing_service"),
                                  {"applicant_iin_bin": "900115300003"})
    snap = _serve(workflow, snap, {"test/flaky": flaky})
    assert snap.status == "incident"
    assert snap.incident["task"] == "ask_registry"
    assert "registry did not answer for 900115300003" in snap.incident["error"]
    assert "NameError" not in snap.incident["error"]
    assert [kind for kind, _ in snap.events] == ["service_failed"]


def test_raw_spiffworkflow_hides_service_errors_behind_a_name_error():
    """Documents the 3.2.0 defect ScriptEngine.call_service overrides."""
    class Failing(TaskDataEnvironment):
        def call_service(self, context, **kwargs):
            raise ConnectionError("down")

    spec, subs = _specs("failing_service")
    workflow = BpmnWorkflow(spec, subs, script_engine=PythonScriptEngine(Failing()))
    for task in workflow.tasks.values():
        task.data["applicant_iin_bin"] = "900115300003"
    with pytest.raises(NameError, match="script"):
        workflow.do_engine_steps()


def test_retry_after_an_incident_continues_without_repeating_work():
    calls = []

    def flaky(*, iin_bin):
        calls.append(iin_bin)
        if len(calls) == 1:
            raise TimeoutError("slow registry")
        return {"found": True}

    workflow, snap = engine.start(_specs("failing_service"), {"applicant_iin_bin": "1"})
    snap = _serve(workflow, snap, {"test/flaky": flaky})
    assert snap.status == "incident"
    snap = engine.retry(workflow, now=NOW)
    assert [c.bpmn_id for c in engine.pending_calls(workflow)] == ["ask_registry"]
    snap = _serve(workflow, snap, {"test/flaky": flaky})
    assert (snap.status, snap.outcome) == ("completed", "service_done")
    assert engine.current_data(workflow)["answer"] == {"found": True}
    assert len(calls) == 2


def test_diagram_cannot_run_python(tmp_path):
    marker = tmp_path / "pwned"
    _, snap = engine.start(_specs("evil_condition", FIXTURES / "invalid"),
                           {"command": f"touch {marker}"})
    assert snap.status == "incident"
    assert "not allowed" in snap.incident["error"]
    assert not marker.exists()


def test_state_round_trip_keeps_the_spec_out(app):
    from tests.paths import ISSUE
    from tests.paths import START
    specs = engine.parse_specs(sorted(BPMN.glob("*.bpmn")),
                               ["survey_license_east_kazakhstan_2016"])
    specs = specs["survey_license_east_kazakhstan_2016"]
    handlers = {"registry/lookup_applicant": lambda iin_bin: {"found": True, "name": "X"},
                "licensing/register_application": lambda **_: {"application_number": "A1"},
                "licensing/issue_licence": lambda **_: {"licence_number": "L1", "document": {}},
                "eds/sign_document": lambda **_: {"signature": "s"}}
    # the service sets service_key (the regulation registered in E-licensing) and
    # service_provider (the licence's issuer) at start
    workflow, snap = engine.start(specs, {**START, "channel": "state_corporation",
                                          "service_key": "survey_license_east_kazakhstan_2016",
                                          "service_provider": "the provider"})
    snap = _serve(workflow, snap, handlers)
    for _, bpmn_id, data in ISSUE:
        text = store.dump_state(workflow)
        assert "spec" not in store.unpack_state(text)
        workflow = store.load_state(text, specs)
        ready = engine.summarize(workflow).ready
        assert [t.bpmn_id for t in ready] == [bpmn_id]
        snap = _serve(workflow, engine.complete(workflow, ready[0].id, data, "tester"), handlers)
    assert (snap.status, snap.outcome) == ("completed", "licence_issued")


def test_the_engine_stops_at_a_service_task_with_its_request_evaluated():
    calls = []
    workflow, snap = engine.start(_specs("failing_service"), {"applicant_iin_bin": "900115300003"})
    assert (snap.status, snap.ready) == ("running", [])
    [call] = engine.pending_calls(workflow)
    assert (call.bpmn_id, call.operator, call.occurrence) == ("ask_registry", "test/flaky", 1)
    assert call.params == {"iin_bin": "900115300003"} and calls == []
    with pytest.raises(LookupError):
        engine.deliver(workflow, "not-a-task", {"result": {}}, now=NOW)
    snap = engine.deliver(workflow, call.task_id, {"result": {"found": True}}, now=NOW)
    assert (snap.status, snap.outcome) == ("completed", "service_done")
    assert engine.pending_calls(workflow) == []
