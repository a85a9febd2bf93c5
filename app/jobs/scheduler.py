"""The scheduler: fire due timer rows exactly once, however many schedulers run.

`fire_due(runtime, now)` reads the waiting rows due by `now` and fires each in its own
transaction with its journal entry. A BPMN timer wakes the workflow (`services.fire_timer`);
a step deadline escalates the step without interrupting it: the task stays open, its row gets
`escalated_at`, and the journal records `step_overdue` for the head of the task's lane.

Exactly once: each transaction first moves the instance on under its `lock_version` check
(the order every state change takes its locks in), then claims the timer row with a
conditional update (`WHERE id = … AND state = 'waiting'`); a scheduler that loses either
writes nothing. Runs embedded (a daemon thread, `SCHEDULER = "embedded"`, which
`./qyzmet serve` sets) or from cron/beat (`flask --app app fire-timers`, one pass).
Each pass also takes the signed checkpoint of every journal when `CHECKPOINT_EVERY` has passed
(`app.audit.checkpoints`; of schedulers passing at once, one takes it).
"""

import datetime
import logging
import threading

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import select
from sqlalchemy import update

from app import services
from app.audit import checkpoints
from app.core import store
from app.models import Task
from app.timing import timers

log = logging.getLogger(__name__)
EMBEDDED = "embedded"
OFF = "off"
BATCH = 100  # rows per pass; the next pass takes the rest
TASKS = Task.__table__
HEAD = "head"  # the role whose notice an overdue step is


def _due(now: datetime.datetime) -> list:
    with store.reading() as conn:
        return conn.execute(
            select(timers.TIMERS)
            .where(timers.TIMERS.c.state == timers.WAITING, timers.TIMERS.c.due_at <= now)
            .order_by(timers.TIMERS.c.due_at, timers.TIMERS.c.id).limit(BATCH)).all()


def _escalate(rt, timer, now: datetime.datetime) -> None:
    """Record that a step, or the whole case, is overdue: the journal entry, the row's claim
    and `escalated_at` on the open tasks concerned (the step's; the case's every open one),
    in one write. The work goes on: nothing is interrupted."""
    tasks = TASKS.c.id == timer.task_id
    if timer.kind == timers.CASE_TERM:
        tasks = (TASKS.c.instance_id == timer.instance_id) & (TASKS.c.state == "ready")
    with store.reading() as conn:
        row = store.read_instance(conn, timer.instance_id, "lock_version", "journal_seq",
                                  "journal_hash")
        lanes = sorted(set(conn.execute(select(TASKS.c.lane).where(tasks)).scalars()))
    moment = {"notify": HEAD, "due_at": timer.due_at.isoformat(), "clock": now.isoformat()}
    if timer.kind == timers.CASE_TERM:
        overdue = ("case_overdue", {"process": timer.bpmn_id, "lanes": lanes, **moment})
    else:
        overdue = ("step_overdue", {"task": timer.task_id, "bpmn_id": timer.bpmn_id,
                                    "lane": lanes[0] if lanes else None, **moment})
    with store.writing() as conn:
        version = store.write_change(conn, timer.instance_id, store.version_of(row), [overdue],
                                     actor=services.SCHEDULER.username, now=now)
        if not timers.claim(conn, timer.id, now):
            raise store.Conflict(f"timer {timer.id} was fired by another scheduler")
        conn.execute(update(TASKS).where(tasks, TASKS.c.escalated_at.is_(None))
                     .values(escalated_at=now))
    rt.live.rekey(timer.instance_id, row.lock_version, version)


def fire_due(rt, now: datetime.datetime) -> int:
    """Fire every timer row due by `now` (the clock value journalled); return how many fired.

    A row another scheduler fired, or whose case a person moved on meanwhile, is left to
    that other writer or to the next pass; a row that fails is logged and left waiting.
    """
    fired = 0
    for timer in _due(now):
        try:
            if timer.kind in (timers.STEP_DEADLINE, timers.CASE_TERM):
                _escalate(rt, timer, now)
            else:
                services.fire_timer(rt, timer, now)
        except store.Conflict:
            continue
        except Exception:
            log.exception("timer %s of instance %s failed to fire", timer.id, timer.instance_id)
            continue
        fired += 1
    try:
        checkpoints.take_if_due(now)
    except Exception:
        log.exception("the periodic journal checkpoint failed")
    return fired


def _run(app, stop: threading.Event, interval: float) -> None:
    while not stop.wait(interval):
        with app.app_context():
            try:
                runtime = app.extensions["qyzmet"]
                fire_due(runtime, runtime.clock.now())
            except Exception:
                log.exception("the embedded scheduler's pass failed")


def start_embedded(app) -> threading.Event:
    """Start the embedded scheduler's daemon thread; set the returned event to stop it."""
    stop = threading.Event()
    interval = float(app.config.get("SCHEDULER_INTERVAL", 5.0))
    threading.Thread(target=_run, args=(app, stop, interval), name="qyzmet-scheduler",
                     daemon=True).start()
    return stop


@click.command("fire-timers")
@with_appcontext
def fire_timers_command():
    """Fire the timers due now, once (for cron or a beat; safe beside other schedulers)."""
    runtime = current_app.extensions["qyzmet"]
    now = runtime.clock.now()
    click.echo(f"{fire_due(runtime, now)} timers fired at {now.isoformat()}")


def init_app(app) -> None:
    """Register `fire-timers`; start the embedded scheduler when SCHEDULER says so."""
    app.cli.add_command(fire_timers_command)
    setting = app.config.get("SCHEDULER", OFF)
    if setting == EMBEDDED:
        app.extensions["qyzmet_scheduler"] = start_embedded(app)
    elif setting != OFF:
        raise RuntimeError(f"SCHEDULER must be '{EMBEDDED}' or '{OFF}', not {setting!r}")
