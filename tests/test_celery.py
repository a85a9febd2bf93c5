"""Service tasks on real Celery workers: two worker processes and a beat on a real broker.

The test app publishes `qyzmet.run_job` messages (`JOBS = "celery"`); workers w1 and w2 (other
processes, the same database) claim, call, record and apply the jobs; the beat's sweep
re-sends any job whose message was lost. Jobs run elsewhere now, so every step first waits
for its user task to become ready.
"""

import time
import uuid

import pytest
from sqlalchemy import select

from app.core import store
from app.jobs import queue
from tests.celery_workers import BROKERS
from tests.celery_workers import Cluster
from tests.celery_workers import require_broker
from tests.celery_workers import reset_celery_client
from tests.conftest import Api
from tests.paths import ISSUE
from tests.paths import START
from tests.test_incidents import BEFORE_LICENCE
from tests.test_incidents import FORM_LICENCE
from tests.test_incidents import _fault
from tests.test_incidents import _licences_of

WAIT = 30.0  # seconds a step may wait for the workers
LEASE = 3  # JOB_LEASE: a killed worker's job is taken again after this
STALL = 2.0  # the stalled issue_licence call ends (and registers) before the lease does


@pytest.fixture
def celery_case(request, make_app, tmp_path):
    """Return (app, api, cluster): a test app publishing to a fresh queue, and its workers."""
    broker = BROKERS[getattr(request, "param", "redis")]
    require_broker(broker)
    reset_celery_client()
    app = make_app(tmp_path, JOBS="celery", CELERY_BROKER_URL=broker,
                   CELERY_QUEUE=f"qyzmet-test-{uuid.uuid4().hex}", JOB_LEASE=LEASE,
                   JOB_SWEEP_INTERVAL=1, RETRY_DELAY=0.5, STATE_SYSTEM_TIMEOUT=5.0)
    cluster = Cluster(app.config, tmp_path)
    try:
        yield app, Api(app.test_client()), cluster.start()
    finally:
        cluster.stop()
        cluster.dump_logs()  # shown by pytest when the test failed
        reset_celery_client()


def wait_for(what: str, probe, timeout: float = WAIT):
    """Poll `probe()` until it returns something truthy and return that; fail after timeout."""
    deadline = time.monotonic() + timeout
    while not (found := probe()):
        if time.monotonic() > deadline:
            pytest.fail(f"waited {timeout} s for {what}")
        time.sleep(0.05)
    return found


def ready_task(api, user, instance_id, bpmn_id) -> str | None:
    """Return the id of the instance's ready task `bpmn_id` as `user` sees it, or None."""
    tasks = api.get(user, f"/tasks?instance={instance_id}&state=ready").json
    return next((t["id"] for t in tasks if t["bpmn_id"] == bpmn_id), None)


def complete(api, instance_id, step) -> None:
    """Wait until the step's task is ready (jobs run on the workers), then complete it."""
    user, bpmn_id, data = step
    task_id = wait_for(f"{bpmn_id} to be ready",
                       lambda: ready_task(api, user, instance_id, bpmn_id))
    answer = api.post(user, f"/tasks/{task_id}/complete", json={"data": data})
    assert answer.status_code == 200, (bpmn_id, answer.json)


def walk(api, instance_id, steps) -> None:
    """Complete the (user, task, data) steps in order, each once it is ready."""
    for step in steps:
        complete(api, instance_id, step)


def jobs_of(app, instance_id) -> list:
    """Return the instance's job rows, oldest first (read from the shared database)."""
    with app.app_context(), store.reading() as conn:
        return conn.execute(select(queue.JOBS).where(queue.JOBS.c.instance_id == instance_id)
                            .order_by(queue.JOBS.c.id)).all()


def journal(api, instance_id, kind) -> list[dict]:
    """Return the payloads of the instance's journal entries of type `kind`."""
    history = api.get("auditor", f"/instances/{instance_id}/history").json
    return [entry["payload"] for entry in history if entry["type"] == kind]


def assert_issued_and_sound(api, instance_id) -> dict:
    """Assert the case ended with a licence, its journal verifies and it replays; return it."""
    def completed():
        instance = api.get("auditor", f"/instances/{instance_id}").json
        return instance if instance["status"] == "completed" else None
    instance = wait_for("the case to complete", completed)
    assert instance["outcome"] == "licence_issued"
    verified = api.get("auditor", f"/instances/{instance_id}/history/verify").json
    assert verified["ok"], verified
    replayed = api.post("auditor", f"/instances/{instance_id}/replay")
    assert replayed.status_code == 200 and replayed.json["ok"] is True, replayed.json
    return instance


@pytest.mark.parametrize("celery_case", ["redis", "rabbitmq"], indirect=True)
def test_a_survey_licence_case_runs_to_its_end_on_two_celery_workers(celery_case):
    app, api, cluster = celery_case
    instance_id = api.start(START)
    walk(api, instance_id, ISSUE)
    assert_issued_and_sound(api, instance_id)
    jobs = jobs_of(app, instance_id)
    assert jobs and {job.state for job in jobs} == {queue.DONE}
    assert {cluster.name_of(job.worker) for job in jobs} <= {"w1", "w2"}


def test_a_worker_killed_mid_call_leaves_the_job_to_another_after_its_lease(
        celery_case, state_systems):
    app, api, cluster = celery_case
    instance_id = api.start(START)
    walk(api, instance_id, BEFORE_LICENCE)
    wait_for("the jobs before form_licence to finish", lambda: not any(
        job.state in queue.ACTIVE for job in jobs_of(app, instance_id)))
    _fault(state_systems, "elicense", "slow", count=1, delay=STALL)
    complete(api, instance_id, FORM_LICENCE)

    def issue_job(state):
        return next((job for job in jobs_of(app, instance_id)
                     if job.bpmn_id == "issue_licence" and job.state == state), None)
    running = wait_for("issue_licence to be claimed", lambda: issue_job(queue.RUNNING),
                       timeout=10)
    victim = cluster.name_of(running.worker)
    cluster.kill(victim)  # mid-call: the stalled request still registers the licence

    wait_for("sign_licence after the lease ran out",
             lambda: ready_task(api, "head", instance_id, "sign_licence"))
    job = issue_job(queue.DONE)
    assert job is not None and job.id == running.id and job.attempts == 2
    assert cluster.name_of(job.worker) == ({"w1", "w2"} - {victim}).pop()
    calls = [c for c in journal(api, instance_id, "service_called")
             if c["task"] == "issue_licence"]
    assert [c["attempt"] for c in calls] == [2]  # the killed worker's call left no answer
    walk(api, instance_id, ISSUE[6:])
    instance = assert_issued_and_sound(api, instance_id)
    number = instance["data"]["application"]["application_number"]
    assert len(_licences_of(state_systems, number)) == 1  # the second call was replayed
