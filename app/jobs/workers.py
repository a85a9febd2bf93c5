"""Wire the job workers into an app: the dispatcher `JOBS` names, threads, and `run-jobs`."""

import click
from flask import current_app
from flask.cli import with_appcontext

from app.jobs import dispatch
from app.jobs import runner
from app.jobs.embedded import Embedded

MODES = ("off", "eager", "embedded", "celery")


def dispatcher_for(config) -> dispatch.Dispatcher:
    """Return the dispatcher the `JOBS` setting names; ValueError for an unknown one."""
    mode = config.get("JOBS", "off")
    if mode == "off":
        return dispatch.Dispatcher()
    if mode == "eager":
        return dispatch.Eager(runner.run)
    if mode == "embedded":
        return Embedded(runner.drain)
    if mode == "celery":
        from app.jobs import celery_app  # Celery is loaded only where it is used
        return celery_app.CeleryDispatcher(config)
    raise ValueError(f"JOBS must be one of {', '.join(MODES)}, not {mode!r}")


@click.command("run-jobs")
@with_appcontext
def run_jobs_command():
    """Run every job that can run now, once (safe beside running workers)."""
    rt = current_app.extensions["qyzmet"]
    click.echo(f"{runner.drain(rt, worker='cli')} jobs run at {rt.clock.now().isoformat()}")


def init_app(app) -> None:
    """Register `run-jobs`; start the embedded worker threads when `JOBS` is "embedded"."""
    app.cli.add_command(run_jobs_command)
    rt = app.extensions["qyzmet"]
    if app.config.get("JOBS") == "embedded":
        rt.jobs.start(app, int(app.config.get("JOB_THREADS", 4)),
                      float(app.config.get("JOB_POLL_INTERVAL", 5.0)))
