"""Compaction: a long loop's stored state stays bounded, and the case behaves as if nothing
was dropped: the same occurrences, data, digests, outcome and replay, before and after a
restore from its row."""

import datetime
from pathlib import Path

from sqlalchemy import func
from sqlalchemy import select

from app.audit import replay
from app.core import compaction
from app.core import engine
from app.core import store
from app.models import ProcessInstance
from app.models import db
from tests.conftest import Api

CORRECTIONS = Path(__file__).resolve().parent.parent / "bench" / "corrections"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
PROCESS = "corrections_loop"
NOW = datetime.datetime(2026, 3, 20, 4, 0, tzinfo=datetime.UTC)
SECRETS = frozenset()


def _specs():
    return engine.parse_specs([CORRECTIONS / f"{PROCESS}.bpmn"], [PROCESS])[PROCESS]


def _round(number: int, last: bool = False) -> dict:
    return {"round": number, "note": f"Correction number {number}", "is_correct": last}


def _correct(wf, snap, number: int, last: bool = False):
    [ready] = snap.ready
    return engine.complete(wf, ready.id, _round(number, last), "executor", now=NOW)


def _view(wf, snap) -> dict:
    return engine.state_view(wf, snap)


def test_a_long_loop_keeps_the_state_bounded_and_behaves_as_uncompacted():
    specs = _specs()
    plain, plain_snap = engine.start(specs, {"subject": "loop"}, now=NOW)
    small, small_snap = engine.start(specs, {"subject": "loop"}, now=NOW)
    sizes, counts = {}, {}
    for number in range(1, 301):
        plain_snap = _correct(plain, plain_snap, number)
        small_snap = _correct(small, small_snap, number)
        compaction.compact(small)
        assert [r.occurrence for r in small_snap.ready] == [number + 1]
        assert _view(small, small_snap) == _view(plain, plain_snap)
        assert (engine.state_digest(small, small_snap, SECRETS)
                == engine.state_digest(plain, plain_snap, SECRETS))
        if number in (20, 300):
            sizes[number], counts[number] = len(store.dump_state(small)), len(small.tasks)
    assert counts[300] == counts[20] <= 10
    assert sizes[300] <= sizes[20] + 64  # only the counters' digits grow
    assert len(store.dump_state(plain)) > 50 * sizes[300]
    assert engine.current_data(small) == engine.current_data(plain)
    plain_snap = _correct(plain, plain_snap, 301, last=True)
    small_snap = _correct(small, small_snap, 301, last=True)
    compaction.compact(small)
    assert (small_snap.status, small_snap.outcome) == ("completed", "corrected")
    assert engine.summarize(small) == engine.summarize(plain)
    assert engine.current_data(small) == engine.current_data(plain)
    assert len(small.tasks) <= 5


def test_the_restored_state_continues_like_the_uncompacted_workflow():
    specs = _specs()
    plain, plain_snap = engine.start(specs, {"subject": "restore"}, now=NOW)
    wf, snap = engine.start(specs, {"subject": "restore"}, now=NOW)
    for number in range(1, 41):
        plain_snap = _correct(plain, plain_snap, number)
        snap = _correct(wf, snap, number)
        compaction.compact(wf)
        wf = store.load_state(store.dump_state(wf), specs)  # every round from the row
        snap = engine.summarize(wf)
        assert _view(wf, snap) == _view(plain, plain_snap)
        assert compaction.completed_counts(wf)[(PROCESS, "correct")] == number  # all dropped
    snap = _correct(wf, snap, 41, last=True)
    plain_snap = _correct(plain, plain_snap, 41, last=True)
    assert _view(wf, snap) == _view(plain, plain_snap)
    assert snap.outcome == "corrected"


def test_compaction_keeps_everything_a_fresh_case_still_needs():
    wf, snap = engine.start(_specs(), {"subject": "fresh"}, now=NOW)
    before = len(wf.tasks)
    assert compaction.compact(wf) is True  # the start event and the root are history
    assert len(wf.tasks) < before
    assert wf.task_tree.parent is None
    assert compaction.compact(wf) is False  # nothing more to drop
    assert engine.find_ready(wf, PROCESS, "correct", 1) == snap.ready[0].id


def _state_bytes(app, instance_id) -> int:
    table = ProcessInstance.__table__
    with app.app_context(), db.engine.connect() as conn:
        return conn.execute(select(func.length(table.c.state))
                            .where(table.c.id == instance_id)).scalar_one()


def test_through_the_api_the_row_stays_small_and_the_case_replays(make_app, tmp_path):
    loop_app = make_app(tmp_path / "loop", BPMN_DIR=str(CORRECTIONS),
                        FORMS_DIR=str(CORRECTIONS / "forms"))
    loop_app.extensions["qyzmet"].live.capacity = 0  # every completion restores from the row
    loop = Api(loop_app.test_client())
    started = loop.post("executor", "/instances",
                        json={"process": PROCESS, "data": {"subject": "api"}})
    instance_id = started.json["id"]
    sizes = {}
    for number in range(1, 61):
        loop.walk(instance_id, [("executor", "correct", _round(number, number == 60))])
        if number in (10, 59):
            sizes[number] = _state_bytes(loop_app, instance_id)
    assert sizes[59] <= sizes[10] + 64
    with loop_app.app_context():
        row = db.session.get(ProcessInstance, instance_id)
        assert (row.status, row.outcome) == ("completed", "corrected")
        result = replay.replay(loop_app.extensions["qyzmet"], instance_id)
    assert result["ok"], result
    assert result["events_replayed"] == 61


def _boundary_run(compact: bool) -> list:
    """Run timer_boundary (a non-interrupting boundary timer), restoring after every step."""
    specs = engine.parse_specs([FIXTURES / "timer_boundary.bpmn"], ["timer_boundary"])
    specs = specs["timer_boundary"]
    wf, snap = engine.start(specs, {}, now=NOW)
    seen = []

    def keep(wf, snap):
        seen.append((_view(wf, snap), [t.bpmn_id for t in engine.waiting_timers(wf)]))
        if not compact:
            return wf
        compaction.compact(wf)
        return store.load_state(store.dump_state(wf), specs)

    wf = keep(wf, snap)
    snap = engine.wake(wf, now=NOW + datetime.timedelta(hours=2))  # the boundary fires
    wf = keep(wf, snap)
    work = next(t for t in snap.ready if t.bpmn_id == "work")
    snap = engine.complete(wf, work.id, {}, "tester", now=NOW + datetime.timedelta(hours=3))
    wf = keep(wf, snap)
    [escalate] = snap.ready
    snap = engine.complete(wf, escalate.id, {}, "tester",
                           now=NOW + datetime.timedelta(hours=4))
    keep(wf, snap)
    return seen


def test_a_boundary_timer_case_runs_the_same_compacted_and_restored():
    compacted = _boundary_run(compact=True)
    assert compacted == _boundary_run(compact=False)
    assert compacted[-1][0]["status"] == "completed"
