"""State snapshots and the journal's tail: between snapshots a change writes only its journal
entries; a restore feeds the tail to the snapshot and checks the recorded digest."""

import json
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy import update

from app import services
from app.audit import replay
from app.core import reapply
from app.core import store
from app.models import AuditEvent
from app.models import ProcessInstance
from app.models import db
from tests.conftest import Api
from tests.paths import ISSUE
from tests.paths import START
from tests.tamper import tamper

CORRECTIONS = Path(__file__).resolve().parent.parent / "bench" / "corrections"


def _row(app, instance_id):
    with app.app_context():
        return db.session.execute(select(ProcessInstance.state_seq, ProcessInstance.journal_seq,
                                         ProcessInstance.state)
                                  .where(ProcessInstance.id == instance_id)).one()


def _cold(app):
    """Keep no workflow in memory: every call restores from the database."""
    app.extensions["qyzmet"].live = store.LiveWorkflows(capacity=0)


@pytest.fixture
def loop_app(make_app, tmp_path):
    app = make_app(tmp_path, BPMN_DIR=str(CORRECTIONS), FORMS_DIR=str(CORRECTIONS / "forms"),
                   STATE_SNAPSHOT_EVERY=5, STATE_SNAPSHOT_AFTER_REPLAYING=1000)
    _cold(app)
    return app


def test_snapshots_are_written_every_n_entries_and_restores_replay_the_tail(loop_app):
    api = Api(loop_app.test_client())
    started = api.post("executor", "/instances", json={"process": "corrections_loop",
                                                       "data": {"subject": "tail"}})
    instance_id = started.json["id"]
    snapshots, states = set(), set()
    for number in range(1, 13):
        data = {"round": number, "note": f"round {number}", "is_correct": number == 12}
        api.walk(instance_id, [("executor", "correct", data)])
        row = _row(loop_app, instance_id)
        snapshots.add(row.state_seq)
        states.add(row.state)
        assert row.journal_seq - row.state_seq < 5  # never more than the interval behind
    assert len(snapshots) < 12 and len(states) == len(snapshots)  # not every change wrote it
    instance = api.get("auditor", f"/instances/{instance_id}").json
    assert (instance["status"], instance["outcome"]) == ("completed", "corrected")
    row = _row(loop_app, instance_id)
    assert row.state_seq == row.journal_seq  # a finished case is stored whole
    with loop_app.app_context():
        assert replay.replay(loop_app.extensions["qyzmet"], instance_id)["ok"]


def test_a_licence_case_runs_to_its_end_restoring_every_step_from_snapshot_and_tail(
        make_app, tmp_path):
    # only the start and the end store the state, however long the tails restores replay
    app = make_app(tmp_path, STATE_SNAPSHOT_EVERY=1000, STATE_SNAPSHOT_AFTER_REPLAYING=1000)
    _cold(app)
    api = Api(app.test_client())
    instance_id = api.start(START)
    first = _row(app, instance_id).state
    api.walk(instance_id, ISSUE[:4])
    assert _row(app, instance_id).state == first  # the inputs live in the journal's tail
    api.walk(instance_id, ISSUE[4:])
    instance = api.get("auditor", f"/instances/{instance_id}").json
    assert (instance["status"], instance["outcome"]) == ("completed", "licence_issued")
    assert api.get("auditor", f"/instances/{instance_id}/history/verify").json["ok"]


@pytest.mark.edits_the_record
def test_an_altered_tail_is_refused_not_restored(make_app, tmp_path):
    app = make_app(tmp_path, STATE_SNAPSHOT_EVERY=1000, STATE_SNAPSHOT_AFTER_REPLAYING=1000)
    _cold(app)
    api = Api(app.test_client())
    instance_id = api.start(START)
    api.walk(instance_id, ISSUE[:3])
    events = AuditEvent.__table__
    with app.app_context():
        row = db.session.execute(select(events.c.seq, events.c.payload).where(
            events.c.instance_id == instance_id, events.c.type == "task_completed")
            .order_by(events.c.seq.desc())).first()
    payload = json.loads(row.payload)
    payload["data"]["executor"] = "operator"  # who was assigned, changed afterwards
    tamper(app, update(events).where(events.c.instance_id == instance_id,
                                     events.c.seq == row.seq).values(payload=json.dumps(payload)))
    with app.app_context():
        instance = db.session.get(ProcessInstance, instance_id)
        rt = app.extensions["qyzmet"]
        with store.reading() as conn, pytest.raises(reapply.TailMismatch, match="disagree"):
            services.load_workflow(rt, conn, instance_id, instance.lock_version,
                                   instance.definition_id)


def test_a_case_read_cold_gets_a_snapshot_at_its_next_change(make_app, tmp_path):
    app = make_app(tmp_path, STATE_SNAPSHOT_EVERY=1000, STATE_SNAPSHOT_AFTER_REPLAYING=2)
    api = Api(app.test_client())
    instance_id = api.start(START)
    api.walk(instance_id, ISSUE[:3])  # kept in memory: no restore, the inputs stay in the tail
    behind = _row(app, instance_id)
    assert behind.state_seq < behind.journal_seq
    _cold(app)  # another worker, or a restart: the next change restores from snapshot + tail
    api.walk(instance_id, ISSUE[3:4])
    caught_up = _row(app, instance_id)
    assert caught_up.state_seq == caught_up.journal_seq
