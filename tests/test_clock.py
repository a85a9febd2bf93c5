"""One clock: the Runtime's clock stamps journals, tasks, deadlines and credentials and moves
SpiffWorkflow's timers; a manual clock exists only in test and demo configurations."""

import datetime
import threading
from pathlib import Path

import pytest
from SpiffWorkflow.bpmn import BpmnWorkflow

from app import create_app
from app.core import engine
from app.core import store
from app.timing import calendar
from app.timing import clock
from tests.conftest import CLOCK_START
from tests.conftest import Api
from tests.paths import START
from tests.paths import TO_QUALIFICATION

FIXTURES = Path(__file__).parent / "fixtures"
HOUR = datetime.timedelta(hours=1)
SECOND = datetime.timedelta(seconds=1)


def _specs(name):
    return engine.parse_specs([FIXTURES / f"{name}.bpmn"], [name])[name]


def _waiting_due(workflow) -> datetime.datetime:
    [task] = workflow.event_manager.tasks.values()
    return datetime.datetime.fromisoformat(task._get_internal_data("event_value"))


# --- the clock itself ---------------------------------------------------------------------

def test_the_manual_clock_moves_only_forward_and_only_when_told(clock):
    assert clock.now() == CLOCK_START and clock.now().tzinfo is not None
    assert clock.advance(HOUR) == CLOCK_START + HOUR
    later = datetime.datetime(2026, 3, 21, 12, tzinfo=datetime.timezone(HOUR * 5))
    assert clock.set(later) == later and clock.now().utcoffset() == datetime.timedelta(0)
    with pytest.raises(ValueError, match="does not go back"):
        clock.set(CLOCK_START)
    with pytest.raises(ValueError, match="only moves forward"):
        clock.advance(-SECOND)
    with pytest.raises(ValueError, match="time zone"):
        clock.set(datetime.datetime(2027, 1, 1))
    assert clock.now() == later


def test_the_manual_clock_loses_no_step_between_threads(clock):
    def step():
        for _ in range(500):
            clock.advance(SECOND)
    threads = [threading.Thread(target=step) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert clock.now() == CLOCK_START + 4000 * SECOND


def test_the_system_clock_is_the_wall_clock_in_utc():
    before = datetime.datetime.now(datetime.UTC)
    now = clock.SystemClock().now()
    assert before <= now <= datetime.datetime.now(datetime.UTC)
    assert now.utcoffset() == datetime.timedelta(0)


def test_a_manual_clock_is_refused_outside_tests_and_demos(tmp_path):
    config = {"SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/q.sqlite",
              "CLOCK": "manual"}
    with pytest.raises(RuntimeError, match="allowed only with TESTING or DEMO_CLOCK"):
        create_app(config)
    assert isinstance(clock.from_config({"CLOCK": "manual", "DEMO_CLOCK": True,
                                         "CLOCK_START": "2026-03-20T09:00:00+05:00"}),
                      clock.ManualClock)
    assert isinstance(clock.from_config({}), clock.SystemClock)
    with pytest.raises(RuntimeError, match="must be 'system' or 'manual'"):
        clock.from_config({"CLOCK": "sundial", "TESTING": True})


# --- SpiffWorkflow's timers on the host's clock -----------------------------------------------

def test_raw_spiffworkflow_timers_read_the_wall_clock(clock):
    """The defect: the due moment comes from datetime.now, whatever the host's clock says."""
    spec, subprocess_specs = _specs("timer_intermediate")
    raw = BpmnWorkflow(spec, subprocess_specs)
    raw.do_engine_steps()
    wall = datetime.datetime.now(datetime.UTC)
    assert abs(_waiting_due(raw) - (wall + HOUR)) < datetime.timedelta(minutes=1)
    assert abs(_waiting_due(raw) - (clock.now() + HOUR)) > datetime.timedelta(days=1)


def test_an_intermediate_timer_waits_for_the_clock_not_the_wall(clock):
    workflow, snap = engine.start(_specs("timer_intermediate"), {}, now=clock.now())
    assert (snap.status, snap.outcome) == ("running", None)
    assert _waiting_due(workflow) == CLOCK_START + HOUR
    clock.advance(HOUR - SECOND)
    assert engine.wake(workflow, now=clock.now()).status == "running"
    # a restart in between: the due moment is kept in the saved state
    restored = store.load_state(store.dump_state(workflow), (workflow.spec, {}))
    clock.advance(SECOND)
    snap = engine.wake(restored, now=clock.now())
    assert (snap.status, snap.outcome) == ("completed", "waited")


def test_a_non_interrupting_boundary_timer_fires_beside_the_open_step(clock):
    workflow, snap = engine.start(_specs("timer_boundary"), {}, now=clock.now())
    assert [t.bpmn_id for t in snap.ready] == ["work"]
    clock.advance(HOUR / 2)
    assert [t.bpmn_id for t in engine.wake(workflow, now=clock.now()).ready] == ["work"]
    clock.advance(HOUR / 2)
    snap = engine.wake(workflow, now=clock.now())
    assert sorted(t.bpmn_id for t in snap.ready) == ["escalate", "work"]
    work = next(t for t in snap.ready if t.bpmn_id == "work")
    snap = engine.complete(workflow, work.id, {}, "tester", now=clock.now())
    assert [t.bpmn_id for t in snap.ready] == ["escalate"] and snap.status == "running"


def test_a_timer_without_the_clock_refuses_to_guess():
    with pytest.raises(RuntimeError, match="without the host's clock"):
        engine.start(_specs("timer_intermediate"), {})


# --- the host stamps everything with the Runtime's clock --------------------------------------

def _at(text: str) -> datetime.datetime:
    moment = datetime.datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.UTC)


def test_journal_tasks_and_instances_take_the_runtime_clock(clocked_app, clock):
    api = Api(clocked_app.test_client())
    instance_id = api.start(START)
    clock.advance(datetime.timedelta(hours=2, minutes=7))  # tokens live 12 h
    api.walk(instance_id, TO_QUALIFICATION[:1])
    instance = api.get("auditor", f"/instances/{instance_id}").json
    assert _at(instance["created_at"]) == CLOCK_START
    assert _at(instance["updated_at"]) == clock.now()
    assert instance["business_key"].startswith("20260320-")
    history = api.get("auditor", f"/instances/{instance_id}/history?limit=500").json
    started = [e for e in history if e["type"] == "instance_started"]
    completed = [e for e in history if e["type"] == "task_completed"]
    assert _at(started[0]["at"]) == CLOCK_START and _at(completed[0]["at"]) == clock.now()
    tasks = {t["bpmn_id"]: t for t in instance["tasks"]}
    assert _at(tasks["attach_documents"]["created_at"]) == CLOCK_START
    assert _at(tasks["attach_documents"]["completed_at"]) == clock.now()
    assert _at(tasks["register_incoming"]["created_at"]) == clock.now()


def test_a_ten_working_day_step_begun_the_friday_before_nauryz(clocked_app, clock, tmp_path,
                                                                monkeypatch):
    """Friday 20 March 2026; 21-22 Sat-Sun (also Nauryz), 23 Nauryz, 24-25 the Nauryz days
    that fell on the weekend. Counting from Thursday 26: 26, 27, 30, 31 March, 1, 2, 3, 6, 7,
    8 April: due on Wednesday 8 April 2026 at the end of the day."""
    monkeypatch.setattr(calendar, "ADMIN_DATA", tmp_path / "calendar.json")
    api = Api(clocked_app.test_client())

    def due_of_the_ten_day_step() -> datetime.datetime:
        instance_id = api.start(START)
        api.walk(instance_id, TO_QUALIFICATION)
        tasks = api.get("auditor", f"/instances/{instance_id}").json["tasks"]
        [step] = [t for t in tasks if t["bpmn_id"] == "check_qualification"]
        return _at(step["due_at"])

    first_version = calendar.version()
    assert due_of_the_ten_day_step() == datetime.datetime(2026, 4, 8, 18, tzinfo=datetime.UTC)
    # a Government decree makes Saturday 28 March a working day: the step is due a day sooner
    (tmp_path / "calendar.json").write_text(
        '{"working_days": {"2026-03-28": "Saturday worked by decree"}}', encoding="utf-8")
    assert due_of_the_ten_day_step() == datetime.datetime(2026, 4, 7, 18, tzinfo=datetime.UTC)
    assert calendar.version() != first_version


# --- the admin control of a manual clock --------------------------------------------------------

def test_admins_read_and_move_a_manual_clock(clocked_app, clock):
    api = Api(clocked_app.test_client())
    assert api.get("admin", "/admin/clock").json == {"now": CLOCK_START.isoformat()}
    moved = api.post("admin", "/admin/clock", json={"advance_seconds": 3600})
    assert moved.status_code == 200 and _at(moved.json["now"]) == CLOCK_START + HOUR
    assert clock.now() == CLOCK_START + HOUR
    moved = api.post("admin", "/admin/clock", json={"now": "2026-03-20T14:00:00+05:00"})
    assert _at(moved.json["now"]) == datetime.datetime(2026, 3, 20, 9, tzinfo=datetime.UTC)
    for body, field in (({"now": "2026-03-20T09:00:00+05:00"}, "now"),
                        ({"now": "next tuesday"}, "now"), ({}, "now"),
                        ({"advance_seconds": -1}, "advance_seconds"),
                        ({"advance_seconds": 10**20}, "advance_seconds")):
        refused = api.post("admin", "/admin/clock", json=body)
        assert refused.status_code == 422 and field in refused.json["errors"], body
        assert "tuesday" not in refused.get_data(as_text=True)
    assert clock.now() == datetime.datetime(2026, 3, 20, 9, tzinfo=datetime.UTC)
    assert api.get("operator", "/admin/clock").status_code == 403
    assert api.post("operator", "/admin/clock", json={"advance_seconds": 1}).status_code == 403
    assert api.client.get("/api/v1/admin/clock").status_code == 401


def test_there_is_no_clock_control_on_the_system_clock(api):
    assert api.get("admin", "/admin/clock").status_code == 404
    assert api.post("admin", "/admin/clock", json={"advance_seconds": 1}).status_code == 404


def test_tokens_expire_by_the_runtime_clock(clocked_app, clock):
    api = Api(clocked_app.test_client())
    assert api.get("operator", "/processes").status_code == 200
    clock.advance(datetime.timedelta(seconds=clocked_app.config["API_TOKEN_LIFETIME"] - 1))
    assert api.get("operator", "/processes").status_code == 200
    clock.advance(SECOND)
    assert api.get("operator", "/processes").status_code == 401
