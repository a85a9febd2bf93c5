"""Walk a case in tests: read where it stands and its outcome, move the clock and fire what
falls due, and take each step in all the time its regulated duration gives it.

Steps are (user, task id, data) rows completed with `Api.walk` (tests/conftest.py); the data
are the forms' example values.
"""

import datetime
from collections.abc import Container

from sqlalchemy import select

from app import definitions
from app import diagram
from app.jobs import scheduler
from app.models import Timer
from app.models import db
from app.timing import calendar


def instance(api, instance_id: str) -> dict:
    """Return the case as the auditor reads it: status, outcome, data and tasks."""
    return api.get("auditor", f"/instances/{instance_id}").json


def outcome(api, instance_id: str) -> tuple[str, str | None]:
    """Return the case's (status, outcome)."""
    case = instance(api, instance_id)
    return case["status"], case["outcome"]


def ready_due(api, user: str, instance_id: str, bpmn_id: str) -> datetime.datetime | None:
    """Return the deadline of the ready task `bpmn_id` in `user`'s list (None: not timed)."""
    tasks = api.get(user, f"/tasks?instance={instance_id}&state=ready").json
    [task] = [t for t in tasks if t["bpmn_id"] == bpmn_id]
    return task["due_at"] and datetime.datetime.fromisoformat(task["due_at"])


def timers(app, instance_id: str, *, kind: str | None = None,
           state: str | None = None) -> list[Timer]:
    """Return the case's timer rows of `kind` in `state` (any when None), read afresh."""
    query = select(Timer).where(Timer.instance_id == instance_id).order_by(Timer.id)
    if kind is not None:
        query = query.where(Timer.kind == kind)
    if state is not None:
        query = query.where(Timer.state == state)
    with app.app_context():
        db.session.expire_all()
        return list(db.session.scalars(query))


def move_clock(app, clock, moment: datetime.datetime) -> int:
    """Move the manual clock to `moment` and fire what is due then, as the scheduler does;
    return how many timers fired."""
    clock.set(moment)
    with app.app_context():
        return scheduler.fire_due(app.extensions["qyzmet"], clock.now())


def walk_on_the_clock(app, api, clock, instance_id: str, steps: list, *, durations: dict,
                      same_day: Container[str] = ()) -> None:
    """Take each step at the very end of its deadline, checking the deadline first.

    Before a step, the case's one waiting step deadline must be that step's and fall
    `durations[bpmn_id]` after the clock (on the working-day calendar, counting the day of
    acceptance as the regulation says); the clock then moves to
    it, unless the step is one of `same_day` (done the day it arrives), and the step is
    completed after signing in again (tokens do not outlive days).
    """
    with app.app_context():
        counted = diagram.counts_acceptance_day(
            definitions.latest(instance(api, instance_id)["process"]).manifest)
    for user, bpmn_id, data in steps:
        api.ready_task(user, instance_id, bpmn_id)
        [row] = timers(app, instance_id, kind="step_deadline", state="waiting")
        assert row.bpmn_id == bpmn_id
        assert row.due_at == calendar.deadline(clock.now(), durations[bpmn_id],
                                               count_start_day=counted), (
            bpmn_id, row.due_at, clock.now())
        if bpmn_id not in same_day:
            clock.set(row.due_at)
        api.tokens.clear()
        api.walk(instance_id, [(user, bpmn_id, data)])
