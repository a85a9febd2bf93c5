"""Jobs and timers on Celery workers, with Redis or RabbitMQ as the broker (`JOBS = "celery"`).

    celery -A app.jobs.celery_app worker --pool solo -n w1@%h   # as many as needed
    celery -A app.jobs.celery_app beat                          # one: the sweep and the timers

Workers create the Flask app once (`create_app()`: instance/config.py and QYZMET_* variables,
the same settings as the web server) and run `runner.run` for each `qyzmet.run_job` message.
The job row stays the truth: a message only says "look at job n". Messages are acknowledged
late and taken one at a time, so a worker killed mid-job leaves its message to the broker;
and the beat's `qyzmet.sweep` re-sends every job that can run (due, lease expired, answered
but not applied), so even a message lost with its worker, or a Redis restart, loses nothing.
A second message for the same job is harmless: only one worker wins the claim.
"""

import os

from celery import Celery
from flask import Config

from app import config
from app import create_app
from app.core import store
from app.jobs import queue
from app.jobs import runner
from app.jobs import scheduler
from app.jobs.dispatch import Dispatcher

celery = Celery("qyzmet")
_flask = {}


def _celery_settings(config) -> dict:
    """Return the Celery settings that `config` (a Flask configuration) implies."""
    sweep = float(config.get("JOB_SWEEP_INTERVAL", 5.0))
    return dict(
        broker_url=config["CELERY_BROKER_URL"], task_default_queue=config.get(
            "CELERY_QUEUE", "qyzmet"),
        task_acks_late=True, task_reject_on_worker_lost=True, worker_prefetch_multiplier=1,
        broker_connection_retry_on_startup=True, task_ignore_result=True,
        beat_schedule={
            "sweep-jobs": {"task": "qyzmet.sweep", "schedule": sweep},
            "fire-timers": {"task": "qyzmet.fire_timers",
                            "schedule": float(config.get("SCHEDULER_INTERVAL", 5.0))}})


def configure(config) -> None:
    """Point the Celery app at `CELERY_BROKER_URL` and set its queue and beat schedule."""
    celery.conf.update(_celery_settings(config))


def worker_settings():
    """Return the settings `create_app()` reads: defaults, instance/config.py, QYZMET_*.

    Read without building the Flask app, so that `celery worker` and `celery beat` know
    their broker, queue and schedule before they connect (the app is made on first task).
    """
    instance = config.ROOT / "instance"
    settings = Config(str(instance))
    settings.update(config.defaults(str(instance)))
    settings.from_pyfile("config.py", silent=True)
    settings.from_prefixed_env("QYZMET")
    return settings


# read when Celery first needs its configuration; `configure` (a CeleryDispatcher) overrides
celery.add_defaults(lambda: _celery_settings(worker_settings()))


class CeleryDispatcher(Dispatcher):
    """Send one `qyzmet.run_job` message per job, delayed until it is due."""

    def __init__(self, config):
        configure(config)

    def submit(self, rt, job_ids, *, at=None):
        """Publish the jobs; the sweep finds any whose message never arrives."""
        delay = 0.0 if at is None else max(0.0, (at - rt.clock.now()).total_seconds())
        for job_id in job_ids:
            run_job.apply_async((job_id,), countdown=delay or None)


def _app():
    """Return the worker's Flask app, made on first use (the worker's own configuration)."""
    if "app" not in _flask:
        _flask["app"] = create_app()
    return _flask["app"]


def _worker_name(task) -> str:
    return f"{task.request.hostname or 'celery'}:{os.getpid()}"


@celery.task(name="qyzmet.run_job", bind=True)
def run_job(self, job_id: int) -> str:
    """Run job `job_id` as far as it goes (claim, call, record, apply)."""
    app = _app()
    with app.app_context():
        return runner.run(app.extensions["qyzmet"], job_id, _worker_name(self))


@celery.task(name="qyzmet.sweep")
def sweep() -> int:
    """Re-send every job that can run now; return how many were sent."""
    app = _app()
    with app.app_context():
        rt = app.extensions["qyzmet"]
        with store.reading() as conn:
            ids = queue.runnable(conn, rt.clock.now(), limit=1000)
        for job_id in ids:
            run_job.apply_async((job_id,))
        return len(ids)


@celery.task(name="qyzmet.fire_timers")
def fire_timers() -> int:
    """Fire the timers due now (exactly once, beside any other scheduler)."""
    app = _app()
    with app.app_context():
        rt = app.extensions["qyzmet"]
        return scheduler.fire_due(rt, rt.clock.now())

