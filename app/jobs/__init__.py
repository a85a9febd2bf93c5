"""Service tasks as jobs: no request ever waits on a state system.

The engine stops at a READY service task; the state change that made it ready also writes
its job row (`queue`, an outbox). A worker claims the row with a lease, calls the handler
with the job's idempotency key, commits the answer with its journal entry, then applies it
to the workflow (`runner`). Who runs jobs is one setting, `JOBS` (`dispatch`):
"embedded" (threads in the server, `embedded`), "celery" (workers on Redis or RabbitMQ,
`app.jobs.celery_app`), "eager" (in the request after its commit: tests) or "off" (rows wait
for `flask --app app run-jobs`).
"""

import click
from flask import current_app
from flask.cli import with_appcontext

MODES = ("off", "eager", "embedded", "celery")


def dispatcher_for(config):
    """Return the dispatcher the `JOBS` setting names; ValueError for an unknown one."""
    from app.jobs import dispatch
    mode = config.get("JOBS", "off")
    if mode == "off":
        return dispatch.Dispatcher()
    if mode == "eager":
        return dispatch.Eager()
    if mode == "embedded":
        from app.jobs.embedded import Embedded
        return Embedded()
    if mode == "celery":
        from app.jobs.celery_app import CeleryDispatcher
        return CeleryDispatcher(config)
    raise ValueError(f"JOBS must be one of {', '.join(MODES)}, not {mode!r}")


@click.command("run-jobs")
@with_appcontext
def run_jobs_command():
    """Run every job that can run now, once (safe beside running workers)."""
    from app.jobs import runner
    rt = current_app.extensions["qyzmet"]
    click.echo(f"{runner.drain(rt, worker='cli')} jobs run at {rt.clock.now().isoformat()}")


def init_app(app) -> None:
    """Register `run-jobs`; start the embedded worker threads when `JOBS` is "embedded"."""
    app.cli.add_command(run_jobs_command)
    rt = app.extensions["qyzmet"]
    if app.config.get("JOBS") == "embedded":
        rt.jobs.start(app, int(app.config.get("JOB_THREADS", 4)),
                      float(app.config.get("JOB_POLL_INTERVAL", 5.0)))
