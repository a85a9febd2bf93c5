"""Timers as rows and the exactly-once scheduler: step deadlines escalate without interrupting
the work, BPMN timer events fire when the clock says, each firing once and journalled."""

import datetime
import json
import shutil
import threading
from pathlib import Path

import pytest
from sqlalchemy import select

from app import services
from app.access.auth import Actor
from app.audit import replay
from app.jobs import scheduler
from app.models import AuditEvent
from app.models import Timer
from app.models import db
from app.timing import calendar
from tests.conftest import Api
from tests.paths import START
from tests.paths import TO_QUALIFICATION
from tests.test_web import _login

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).parent / "fixtures"
UTC = datetime.UTC
# check_qualification (10WD) begun on Friday 20 March 2026 is due at the end of 8 April
DUE = datetime.datetime(2026, 4, 8, 18, tzinfo=UTC)


def _at(text: str) -> datetime.datetime:
    moment = datetime.datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _timers(instance_id: str) -> list[Timer]:
    db.session.expire_all()
    return list(db.session.scalars(select(Timer).where(Timer.instance_id == instance_id)
                                   .order_by(Timer.id)))


def _events(instance_id: str, kind: str) -> list[dict]:
    rows = db.session.scalars(select(AuditEvent).where(AuditEvent.instance_id == instance_id,
                                                       AuditEvent.type == kind)
                              .order_by(AuditEvent.seq))
    return [{"at": e.at, "actor": e.actor, **json.loads(e.payload)} for e in rows]


def _fire(app, now) -> int:
    with app.app_context():
        return scheduler.fire_due(app.extensions["qyzmet"], now)


@pytest.fixture
def at_qualification(clocked_app, monkeypatch, tmp_path):
    """A survey-licence case walked to check_qualification on Friday 20 March 2026."""
    monkeypatch.setattr(calendar, "ADMIN_DATA", tmp_path / "no-admin-calendar.json")
    api = Api(clocked_app.test_client())
    instance_id = api.start(START)
    api.walk(instance_id, TO_QUALIFICATION)
    task_id = api.ready_task("executor", instance_id, "check_qualification")
    return api, instance_id, task_id


def _step_row(instance_id: str, task_id: str) -> Timer:
    [row] = [t for t in _timers(instance_id) if t.task_id == task_id]
    return row


def test_a_ten_working_day_step_gets_its_deadline_row(clocked_app, at_qualification):
    _, instance_id, task_id = at_qualification
    with clocked_app.app_context():
        row = _step_row(instance_id, task_id)
        assert (row.kind, row.state, row.bpmn_id) == ("step_deadline", "waiting",
                                                      "check_qualification")
        assert row.due_at == DUE and row.fired_at is None
        assert row.calendar_version and row.calendar_version.startswith("kz-")
        # the steps done before have their rows closed as they were completed
        assert {t.state for t in _timers(instance_id)
                if t.task_id != task_id and t.kind == "step_deadline"} <= {"cancelled"}


def test_the_overdue_step_escalates_once_and_stays_open(clocked_app, clock, at_qualification):
    api, instance_id, task_id = at_qualification
    clock.set(datetime.datetime(2026, 4, 7, 18, tzinfo=UTC))
    assert _fire(clocked_app, clock.now()) == 0  # Tuesday 7 April: not yet
    clock.set(DUE - datetime.timedelta(seconds=1))
    assert _fire(clocked_app, clock.now()) == 0
    clock.set(DUE)
    assert _fire(clocked_app, clock.now()) == 1
    assert _fire(clocked_app, clock.now()) == 0  # once
    with clocked_app.app_context():
        row = _step_row(instance_id, task_id)
        assert (row.state, row.fired_at) == ("fired", DUE)
        [overdue] = _events(instance_id, "step_overdue")
    assert overdue["task"] == task_id and overdue["bpmn_id"] == "check_qualification"
    assert (overdue["lane"], overdue["notify"], overdue["actor"]) == ("executor", "head",
                                                                      "scheduler")
    assert _at(overdue["due_at"]) == DUE and _at(overdue["clock"]) == DUE
    # the work goes on: the task is still ready, shown overdue, and can be completed
    api.tokens.clear()  # the clock moved on by weeks: tokens live 12 hours
    tasks = api.get("auditor", f"/instances/{instance_id}").json["tasks"]
    [step] = [t for t in tasks if t["id"] == task_id]
    assert step["state"] == "ready" and _at(step["escalated_at"]) == DUE
    web = clocked_app.test_client()
    _login(web, "auditor")
    page = web.get(f"/instances/{instance_id}").get_data(as_text=True)
    assert page.count('data-testid="overdue"') == 1
    # the head is told: the escalation is in the head's inbox and API, not the executor's
    assert [t["id"] for t in api.get("head", "/escalations").json] == [task_id]
    assert api.get("executor", "/escalations").status_code == 403
    head = clocked_app.test_client()
    _login(head, "head")
    assert 'data-testid="escalations"' in head.get("/").get_data(as_text=True)
    api.walk(instance_id, [("executor", "check_qualification",
                            {"qualification_met": True, "findings": "All in order"})])
    assert api.get("auditor", f"/instances/{instance_id}").json["status"] == "running"
    assert api.get("head", "/escalations").json == []  # done: no longer overdue
    with clocked_app.app_context():  # the notice is no engine input: the case replays
        assert replay.replay(clocked_app.extensions["qyzmet"], instance_id)["ok"] is True


def test_completing_the_step_cancels_its_deadline(clocked_app, clock, at_qualification):
    api, instance_id, task_id = at_qualification
    api.walk(instance_id, [("executor", "check_qualification",
                            {"qualification_met": True, "findings": "All in order"})])
    clock.set(DUE + datetime.timedelta(days=30))
    with clocked_app.app_context():
        assert _step_row(instance_id, task_id).state == "cancelled"
        assert _events(instance_id, "step_overdue") == []
    # a month later only the step now open (form_licence) is overdue, and the whole case (its
    # 15 working-day term from 20 March)
    assert _fire(clocked_app, clock.now()) == 2
    with clocked_app.app_context():
        assert _step_row(instance_id, task_id).state == "cancelled"
        overdue = _events(instance_id, "step_overdue")
    assert [e["bpmn_id"] for e in overdue] == ["form_licence"]


def test_two_schedulers_at_once_fire_the_deadline_once(clocked_app, clock, at_qualification):
    _, instance_id, task_id = at_qualification
    clock.set(DUE + datetime.timedelta(hours=1))
    barrier = threading.Barrier(4)
    counts = []

    def run():
        barrier.wait()
        counts.append(_fire(clocked_app, clock.now()))
    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(counts) == [0, 0, 0, 1]
    with clocked_app.app_context():
        assert len(_events(instance_id, "step_overdue")) == 1
        assert _step_row(instance_id, task_id).state == "fired"


# --- a BPMN timer event, deployed like a regulation ----------------------------------------

def _as_regulation(name: str) -> str:
    """Return a test fixture's BPMN with the properties that make it a deployable regulation."""
    text = (FIXTURES / f"{name}.bpmn").read_text(encoding="utf-8")
    text = text.replace('xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"',
                        'xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
                        'xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"')
    props = "".join(f'<spiffworkflow:property name="{k}" value="{v}" />' for k, v in (
        ("title_kk", name), ("title_ru", name), ("title_en", name), ("start_roles", "operator")))
    opening = f'<bpmn:process id="{name}" isExecutable="true">'
    return text.replace(opening, f"{opening}<bpmn:extensionElements><spiffworkflow:properties>"
                                 f"{props}</spiffworkflow:properties></bpmn:extensionElements>")


EMPTY_FORM = {"type": "object", "properties": {}, "additionalProperties": False}
FIXTURE_FORMS = {"timer_intermediate": ["start"], "timer_boundary": ["start", "work", "escalate"]}


@pytest.fixture
def timer_app(make_app, tmp_path, clock):
    """An app deploying bpmn/ plus tests/fixtures/timer_*.bpmn as regulations."""
    bpmn, forms_dir = tmp_path / "src" / "bpmn", tmp_path / "src" / "forms"
    shutil.copytree(ROOT / "bpmn", bpmn)
    shutil.copytree(ROOT / "forms", forms_dir)
    for name, forms in FIXTURE_FORMS.items():
        (bpmn / f"{name}.bpmn").write_text(_as_regulation(name), encoding="utf-8")
        (forms_dir / name).mkdir()
        for form in forms:
            (forms_dir / name / f"{form}.schema.json").write_text(json.dumps(EMPTY_FORM))
            (forms_dir / name / f"{form}.ui.json").write_text(json.dumps({}))
    return make_app(tmp_path / "app", BPMN_DIR=str(bpmn), FORMS_DIR=str(forms_dir), CLOCK=clock)


# the fixtures draw no lanes: their user tasks are in the "unassigned" lane
OPERATOR = Actor("operator", "Operator", frozenset({"operator", "unassigned"}))


def test_a_bpmn_timer_fires_through_the_scheduler(timer_app, clock):
    rt = timer_app.extensions["qyzmet"]
    with timer_app.app_context():
        started = services.start_instance(rt, OPERATOR, "timer_intermediate", {})
        [row] = _timers(started.id)
        assert (row.kind, row.bpmn_id, row.state) == ("bpmn_timer", "wait_an_hour", "waiting")
        assert row.due_at == clock.now() + datetime.timedelta(hours=1)
        assert row.calendar_version is None
    clock.advance(datetime.timedelta(minutes=59))
    assert _fire(timer_app, clock.now()) == 0
    clock.advance(datetime.timedelta(minutes=2))
    assert _fire(timer_app, clock.now()) == 1
    assert _fire(timer_app, clock.now()) == 0
    with timer_app.app_context():
        [row] = _timers(started.id)
        assert (row.state, row.fired_at) == ("fired", clock.now())
        [fired] = _events(started.id, "timer_fired")
        assert fired["bpmn_id"] == "wait_an_hour" and _at(fired["clock"]) == clock.now()
        assert _at(fired["due_at"]) == row.due_at
        assert len(_events(started.id, "instance_completed")) == 1
    answer = Api(timer_app.test_client()).get("auditor", f"/instances/{started.id}").json
    assert (answer["status"], answer["outcome"]) == ("completed", "waited")
    with timer_app.app_context():  # the journal's clock value replays the firing
        assert replay.replay(rt, started.id)["ok"] is True


def test_two_schedulers_fire_a_bpmn_timer_once(timer_app, clock):
    rt = timer_app.extensions["qyzmet"]
    with timer_app.app_context():
        ids = [services.start_instance(rt, OPERATOR, "timer_intermediate", {}).id
               for _ in range(3)]
    clock.advance(datetime.timedelta(hours=2))
    barrier = threading.Barrier(2)
    counts = []

    def run():
        barrier.wait()
        counts.append(_fire(timer_app, clock.now()))
    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(counts) == 3
    with timer_app.app_context():
        for instance_id in ids:
            assert len(_events(instance_id, "timer_fired")) == 1
            assert [t.state for t in _timers(instance_id)] == ["fired"]


def test_fire_timers_command_runs_one_pass(timer_app, clock):
    rt = timer_app.extensions["qyzmet"]
    with timer_app.app_context():
        started = services.start_instance(rt, OPERATOR, "timer_intermediate", {})
    clock.advance(datetime.timedelta(hours=1))
    result = timer_app.test_cli_runner().invoke(args=["fire-timers"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("1 timers fired at ")
    with timer_app.app_context():
        assert [t.state for t in _timers(started.id)] == ["fired"]


def test_the_embedded_scheduler_fires_on_its_own(make_app, tmp_path, clock):
    app = make_app(tmp_path, CLOCK=clock, SCHEDULER="embedded", SCHEDULER_INTERVAL=0.05)
    try:
        api = Api(app.test_client())
        instance_id = api.start(START)
        api.walk(instance_id, TO_QUALIFICATION)
        clock.set(DUE + datetime.timedelta(days=1))
        for _ in range(200):
            with app.app_context():
                if _events(instance_id, "step_overdue"):
                    break
            threading.Event().wait(0.05)
        with app.app_context():
            assert len(_events(instance_id, "step_overdue")) == 1
    finally:
        app.extensions["qyzmet_scheduler"].set()


def test_an_unknown_scheduler_setting_is_refused(make_app, tmp_path):
    with pytest.raises(RuntimeError, match="SCHEDULER must be"):
        make_app(tmp_path, SCHEDULER="sometimes")


def test_a_boundary_timer_row_is_cancelled_with_its_step_or_fires_beside_it(timer_app, clock):
    rt = timer_app.extensions["qyzmet"]
    with timer_app.app_context():
        done_in_time = services.start_instance(rt, OPERATOR, "timer_boundary", {})
        late = services.start_instance(rt, OPERATOR, "timer_boundary", {})
        [row] = _timers(done_in_time.id)
        assert (row.kind, row.bpmn_id, row.state) == ("bpmn_timer", "overdue", "waiting")
        assert row.due_at == clock.now() + datetime.timedelta(hours=1)
    clock.advance(datetime.timedelta(minutes=30))
    api = Api(timer_app.test_client())
    with timer_app.app_context():
        [work] = [t["id"] for t in api.get("auditor", f"/instances/{done_in_time.id}")
                  .json["tasks"] if t["bpmn_id"] == "work"]
        services.complete_task(rt, OPERATOR, work, {})
        assert [t.state for t in _timers(done_in_time.id)] == ["cancelled"]
    clock.advance(datetime.timedelta(hours=1))
    assert _fire(timer_app, clock.now()) == 1  # only the late case's timer was still waiting
    with timer_app.app_context():
        assert [t.state for t in _timers(late.id)] == ["fired"]
        assert _events(done_in_time.id, "timer_fired") == []
        assert len(_events(late.id, "timer_fired")) == 1
    tasks = api.get("auditor", f"/instances/{late.id}").json["tasks"]
    assert sorted((t["bpmn_id"], t["state"]) for t in tasks) == [("escalate", "ready"),
                                                                 ("work", "ready")]
    with timer_app.app_context():
        assert replay.replay(rt, late.id)["ok"] is True
        assert replay.replay(rt, done_in_time.id)["ok"] is True


def test_a_timer_due_before_a_completion_fires_inside_it_and_is_journalled(timer_app, clock):
    rt = timer_app.extensions["qyzmet"]
    api = Api(timer_app.test_client())
    with timer_app.app_context():
        started = services.start_instance(rt, OPERATOR, "timer_boundary", {})
    clock.advance(datetime.timedelta(hours=2))  # due after 1 h; no scheduler has run
    [work] = [t["id"] for t in api.get("auditor", f"/instances/{started.id}").json["tasks"]
              if t["bpmn_id"] == "work"]
    with timer_app.app_context():
        services.complete_task(rt, OPERATOR, work, {})
        assert [t.state for t in _timers(started.id)] == ["fired"]
        assert _events(started.id, "timer_fired") == []  # no scheduler fired it
        [elapsed] = _events(started.id, "timer_elapsed")
        assert (elapsed["bpmn_id"], elapsed["clock"]) == ("overdue", clock.now().isoformat())
        assert _fire(timer_app, clock.now()) == 0
        assert replay.replay(rt, started.id)["ok"] is True
    tasks = api.get("auditor", f"/instances/{started.id}").json["tasks"]
    assert ("escalate", "ready") in {(t["bpmn_id"], t["state"]) for t in tasks}
