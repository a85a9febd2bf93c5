"""Service tasks as jobs: a start never waits for a frozen registry; the case says what it
waits for; retries are scheduled by the clock and journalled; an exhausted job is an incident,
a recovered system lets the case go on; claims, leases and answers are exactly-once."""

import datetime
import json
import threading
import urllib.request

import pytest
from sqlalchemy import select
from sqlalchemy import update

from app.audit import replay
from app.jobs import queue
from app.jobs import runner
from app.models import AuditEvent
from app.models import Job
from app.models import db
from tests.conftest import PROCESS
from tests.conftest import Api
from tests.paths import START

GBD = "GBD FL/UL (registries)"


def _fault(state_systems, system, mode, count=1, delay=0.0):
    body = json.dumps({"system": system, "mode": mode, "count": count, "delay": delay}).encode()
    request = urllib.request.Request(f"{state_systems.url}/_control/faults", data=body,
                                     method="POST", headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request).close()


@pytest.fixture
def jobs_app(make_app, tmp_path, clock):
    """Jobs wait in their rows until the test drains them; the clock is the test's."""
    return make_app(tmp_path, CLOCK=clock, JOBS="off", RETRY_DELAY=30.0)


def _drain(app) -> int:
    with app.app_context():
        return runner.drain(app.extensions["qyzmet"])


def _jobs(app, instance_id) -> list:
    with app.app_context():
        return db.session.scalars(select(Job).where(Job.instance_id == instance_id)
                                  .order_by(Job.id)).all()


def _events(app, instance_id, kind) -> list[dict]:
    with app.app_context():
        rows = db.session.scalars(select(AuditEvent).where(AuditEvent.instance_id == instance_id,
                                                           AuditEvent.type == kind)
                                  .order_by(AuditEvent.seq))
        return [json.loads(row.payload) for row in rows]


def _start(api) -> dict:
    started = api.post("operator", "/instances", json={"process": PROCESS, "data": START})
    assert started.status_code == 201, started.json
    return started.json


def test_a_start_with_gbd_frozen_answers_at_once_and_says_it_waits_for_gbd(
        jobs_app, state_systems, clock):
    _fault(state_systems, "gbdul", "slow", count=10, delay=3.0)  # longer than the 1 s timeout
    api = Api(jobs_app.test_client())
    started = _start(api)
    assert started["status"] == "running"  # committed; no state system was asked yet
    instance = api.get("auditor", f"/instances/{started['id']}").json
    [wait] = instance["waits_for"]
    assert (wait["kind"], wait["what"], wait["task"]) == ("system", GBD, "lookup_applicant")
    [job] = _jobs(jobs_app, started["id"])
    assert (job.state, job.attempts, job.max_attempts) == ("queued", 0, 3)
    assert job.idempotency_key == job.task_id


def test_retries_are_scheduled_by_the_clock_and_journalled_then_an_incident(
        jobs_app, state_systems, clock):
    _fault(state_systems, "gbdul", "error", count=10)
    api = Api(jobs_app.test_client())
    instance_id = _start(api)["id"]
    first = clock.now()
    assert _drain(jobs_app) == 1  # attempt 1 fails; attempt 2 waits for its moment
    assert _drain(jobs_app) == 0
    [job] = _jobs(jobs_app, instance_id)
    assert (job.state, job.attempts) == ("queued", 1)
    assert job.run_after == first + datetime.timedelta(seconds=30)
    wait = api.get("auditor", f"/instances/{instance_id}").json["waits_for"][0]
    assert wait["attempts"] == 1 and wait["next_attempt"] == job.run_after.isoformat()
    clock.advance(datetime.timedelta(seconds=30))
    assert _drain(jobs_app) == 1  # attempt 2, then attempt 3 waits 30 × 2 s
    clock.advance(datetime.timedelta(seconds=60))
    assert _drain(jobs_app) == 1
    unavailable = _events(jobs_app, instance_id, "service_unavailable")
    assert [e["attempt"] for e in unavailable] == [1, 2, 3]
    assert [e["clock"] for e in unavailable] == [
        (first + datetime.timedelta(seconds=s)).isoformat() for s in (0, 30, 90)]
    assert unavailable[-1]["exhausted"] is True and "retry_at" not in unavailable[-1]
    instance = api.get("auditor", f"/instances/{instance_id}").json
    assert instance["status"] == "incident" and instance["waits_for"] == []
    assert "after 3 attempts" in instance["incident"]["error"]
    assert api.get("auditor", f"/instances/{instance_id}/history/verify").json["ok"]
    with jobs_app.app_context():
        assert replay.replay(jobs_app.extensions["qyzmet"], instance_id)["ok"]


def test_when_gbd_returns_the_case_goes_on(jobs_app, state_systems, clock):
    _fault(state_systems, "gbdul", "error", count=1)
    api = Api(jobs_app.test_client())
    instance_id = _start(api)["id"]
    assert _drain(jobs_app) == 1
    clock.advance(datetime.timedelta(seconds=30))
    assert _drain(jobs_app) == 1
    instance = api.get("auditor", f"/instances/{instance_id}").json
    assert instance["status"] == "running"
    assert [(w["kind"], w["task"]) for w in instance["waits_for"]] == [
        ("person", "attach_documents")]
    called = _events(jobs_app, instance_id, "service_called")
    assert [(c["task"], c["attempt"]) for c in called] == [("lookup_applicant", 2)]
    assert [job.state for job in _jobs(jobs_app, instance_id)] == ["done"]


def test_two_workers_claim_a_job_once_and_a_lapsed_lease_is_taken_over(jobs_app, clock):
    api = Api(jobs_app.test_client())
    instance_id = _start(api)["id"]
    [job] = _jobs(jobs_app, instance_id)
    now = clock.now()
    won = []

    def claim(worker):
        with jobs_app.app_context(), db.engine.begin() as conn:
            won.append(queue.claim(conn, job.id, worker, now, lease=60))
    threads = [threading.Thread(target=claim, args=(f"w{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(won) == [False, False, False, True]
    with jobs_app.app_context(), db.engine.begin() as conn:
        held = queue.read(conn, job.id)
        assert not queue.claim(conn, job.id, "late", now + datetime.timedelta(seconds=59), 60)
        assert queue.claim(conn, job.id, "late", now + datetime.timedelta(seconds=61), 60)
        # the presumed-dead worker's answer is refused: its attempt is no longer the job's
        assert not queue.answer(conn, held, {"result": {}}, now)
    clock.advance(datetime.timedelta(seconds=180))
    assert _drain(jobs_app) == 1  # the lease of "late" ran out too: the drain takes it over
    [job] = _jobs(jobs_app, instance_id)
    assert (job.state, job.attempts) == ("done", 3)
    assert len(_events(jobs_app, instance_id, "service_called")) == 1


def test_an_answer_waits_to_be_applied_when_the_case_moved_on_meanwhile(
        jobs_app, clock, monkeypatch):
    api = Api(jobs_app.test_client())
    instance_id = _start(api)["id"]
    [job] = _jobs(jobs_app, instance_id)
    rt = jobs_app.extensions["qyzmet"]
    instances = db.metadata.tables["process_instance"]
    deliver = runner.engine.deliver

    def deliver_while_someone_moves_the_case(*args, **kwargs):
        with db.engine.begin() as conn:  # e.g. a claim commits while the engine works
            conn.execute(update(instances).where(instances.c.id == instance_id)
                         .values(lock_version=instances.c.lock_version + 1))
        return deliver(*args, **kwargs)
    with jobs_app.app_context():
        with db.engine.begin() as conn:
            assert queue.claim(conn, job.id, "w1", clock.now(), 60)
        with db.engine.connect() as conn:
            job = queue.read(conn, job.id)
        assert runner._call_and_record(rt, job) == "answered"
        monkeypatch.setattr(runner.engine, "deliver", deliver_while_someone_moves_the_case)
        assert runner.apply(rt, job.id) == "conflict"  # nothing written; the answer is kept
        monkeypatch.setattr(runner.engine, "deliver", deliver)
        assert runner.apply(rt, job.id) == "applied"  # the next pass applies the stored answer
    assert len(_events(jobs_app, instance_id, "service_called")) == 1
    assert [j.state for j in _jobs(jobs_app, instance_id)] == ["done"]


def test_an_unknown_jobs_setting_is_refused(make_app, tmp_path):
    with pytest.raises(ValueError, match="JOBS must be one of"):
        make_app(tmp_path, JOBS="sometimes")
