"""Persistence: restarts lose nothing, writes are atomic, concurrent writers conflict."""

import datetime

import pytest
from sqlalchemy import select

from app.core import store
from app.models import AuditEvent
from app.models import ProcessInstance
from app.models import Task
from app.models import db
from tests.conftest import Api
from tests.paths import ISSUE
from tests.paths import START


def _snapshot(app, instance_id):
    with app.app_context():
        instance = db.session.get(ProcessInstance, instance_id)
        events = db.session.scalars(select(AuditEvent.seq)
                                    .where(AuditEvent.instance_id == instance_id)).all()
        ready = db.session.scalars(select(Task.bpmn_id).where(
            Task.instance_id == instance_id, Task.state == "ready")).all()
        return instance.lock_version, instance.state, sorted(events), ready


def test_restart_in_the_middle_loses_nothing(make_app, tmp_path):
    first = Api(make_app(tmp_path).test_client())
    instance_id = first.start(START)
    first.walk(instance_id, ISSUE[:4])
    second = Api(make_app(tmp_path).test_client())  # a new process: empty caches, same files
    second.walk(instance_id, ISSUE[4:])
    instance = second.get("auditor", f"/instances/{instance_id}").json
    assert (instance["status"], instance["outcome"]) == ("completed", "licence_issued")
    assert second.get("auditor", f"/instances/{instance_id}/history/verify").json["ok"]


def test_failed_journal_write_leaves_everything_as_it_was(app, api, monkeypatch):
    instance_id = api.start(START)
    before = _snapshot(app, instance_id)
    task_id = api.ready_task("operator", instance_id, "attach_documents")

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(store, "close_tasks", broken)  # fails after the instance row was written
    answer = api.post("operator", f"/tasks/{task_id}/complete", json={"data": ISSUE[0][2]})
    assert answer.status_code == 500
    assert "disk full" not in answer.get_data(as_text=True)
    assert _snapshot(app, instance_id) == before
    monkeypatch.undo()
    api.walk(instance_id, ISSUE)
    assert api.get("auditor", f"/instances/{instance_id}").json["outcome"] == "licence_issued"


def test_stale_writer_gets_a_conflict_and_writes_nothing(app, api):
    instance_id = api.start(START)
    version, state, events, _ = _snapshot(app, instance_id)
    api.walk(instance_id, ISSUE[:1])
    after = _snapshot(app, instance_id)
    with app.app_context(), store.writing() as conn:
        with pytest.raises(store.Conflict):
            store.write_change(conn, instance_id, store.Version(version, len(events)), [("x", {})],
                               now=datetime.datetime.now(datetime.UTC),
                               actor="intruder", values={"state": state, "status": "running",
                                            "outcome": None, "incident": None,
                                            "serializer_version": store.SERIALIZER_VERSION})
    assert _snapshot(app, instance_id) == after


def test_cached_workflow_is_not_used_after_another_process_wrote(make_app, tmp_path):
    one, two = make_app(tmp_path), make_app(tmp_path)
    api_one, api_two = Api(one.test_client()), Api(two.test_client())
    instance_id = api_one.start(START)
    api_two.walk(instance_id, ISSUE[:2])  # `one` still caches the state before these steps
    api_one.walk(instance_id, ISSUE[2:])
    assert api_one.get("auditor", f"/instances/{instance_id}").json["outcome"] == "licence_issued"
