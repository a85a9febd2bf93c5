"""Every waiting timer is a row: BPMN timer events and the deadlines of user tasks' steps.

`keep_in_step` runs inside the transaction of every state change (`services._persist`), after
the instance's guarded write: it adds a row for each wait that began (a timer event now
waiting, a new user task whose step has a `duration`), moves a cycle's next due moment, and
closes the rows of waits that ended (a timer that fired inside the operation, a completed or
cancelled task, a boundary timer cancelled with its task). The scheduler (`app.jobs.scheduler`)
claims a due row with `claim`, a conditional update that only one claimant can win.
"""

import datetime

from sqlalchemy import bindparam
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy import update

from app.core import engine
from app.core.store import Conflict
from app.models import Timer
from app.timing import calendar

BPMN_TIMER = "bpmn_timer"
STEP_DEADLINE = "step_deadline"
CASE_TERM = "case_term"  # the regulation's overall term for the whole case
WAITING = "waiting"
FIRED = "fired"
CANCELLED = "cancelled"

TIMERS = Timer.__table__
_WAITING_OF = (select(TIMERS.c.id, TIMERS.c.kind, TIMERS.c.task_id, TIMERS.c.due_at)
               .where(TIMERS.c.instance_id == bindparam("instance_id"),
                      TIMERS.c.state == WAITING))
# the claim: of everyone who read the row waiting, exactly one changes it
_CLOSE = (update(TIMERS).where(TIMERS.c.id == bindparam("timer_id"), TIMERS.c.state == WAITING)
          .values(state=bindparam("new_state"), fired_at=bindparam("fired_at")))
_MOVE_DUE = (update(TIMERS).where(TIMERS.c.id == bindparam("timer_id"),
                                  TIMERS.c.state == WAITING)
             .values(due_at=bindparam("due_at")))


def waiting_of(conn, instance_id: str, *, kind: str) -> list:
    """Return an instance's waiting timer rows of one kind, soonest first."""
    return conn.execute(select(TIMERS.c.bpmn_id, TIMERS.c.due_at, TIMERS.c.created_at)
                        .where(TIMERS.c.instance_id == instance_id, TIMERS.c.kind == kind,
                               TIMERS.c.state == WAITING).order_by(TIMERS.c.due_at)).all()


def claim(conn, timer_id: int, now: datetime.datetime) -> bool:
    """Mark a waiting timer fired at `now`; tell whether this caller won it (rowcount 1)."""
    return conn.execute(_CLOSE, {"timer_id": timer_id, "new_state": FIRED,
                                 "fired_at": now}).rowcount == 1


def _step_rows(instance_id: str, new_tasks: list[dict], manifest: dict, now) -> list[dict]:
    rows = []
    for task in new_tasks:
        if task.get("due_at") is None:
            continue
        props = manifest["processes"][task["process_key"]]["tasks"].get(task["bpmn_id"], {})
        working_days = (props.get("duration") or "").strip().upper().endswith("WD")
        rows.append({"instance_id": instance_id, "bpmn_id": task["bpmn_id"],
                     "task_id": task["id"], "kind": STEP_DEADLINE, "state": WAITING,
                     "due_at": task["due_at"], "created_at": now, "fired_at": None,
                     "calendar_version": calendar.version() if working_days else None})
    return rows


def _bpmn_row(instance_id: str, timer: engine.WaitingTimer, now) -> dict:
    return {"instance_id": instance_id, "bpmn_id": timer.bpmn_id, "task_id": timer.task_id,
            "kind": BPMN_TIMER, "state": WAITING, "due_at": timer.due_at, "created_at": now,
            "fired_at": None, "calendar_version": None}


def keep_in_step(conn, instance_id: str, wf, *, ready_ids: set[str], new_tasks: list[dict],
                 manifest: dict, now: datetime.datetime, fired: int | None = None,
                 fired_timers: set[str] | None = None, running: bool = True,
                 case_due: datetime.datetime | None = None) -> None:
    """Make the instance's waiting timer rows match the workflow after an operation at `now`.

    `ready_ids` are the user tasks open now, `new_tasks` the task rows just inserted. `fired`
    is the row the scheduler is firing: it must still be waiting, else Conflict (another
    scheduler fired it first) and the caller's transaction writes nothing. `fired_timers`
    are the ids of the timer events that fired, read before compaction (`app.core.compaction`)
    dropped them from `wf`; without it `wf` itself is asked. `case_due` starts the case's
    overall-term row (a new case); a case that stops running closes it.
    """
    if fired is not None and not claim(conn, fired, now):
        raise Conflict(f"timer {fired} was fired by another scheduler")
    listed = {t.task_id: t for t in engine.waiting_timers(wf)}
    closes, moves = [], []
    for row in conn.execute(_WAITING_OF, {"instance_id": instance_id}):
        if row.kind == STEP_DEADLINE:
            if row.task_id not in ready_ids:
                closes.append({"timer_id": row.id, "new_state": CANCELLED, "fired_at": None})
            continue
        if row.kind == CASE_TERM:
            if not running:
                closes.append({"timer_id": row.id, "new_state": CANCELLED, "fired_at": None})
            continue
        timer = listed.pop(row.task_id, None)
        if timer is None:  # the wait ended inside this operation: fired, or cancelled
            closes.append(_ended(wf, row, now, fired_timers))
        elif timer.due_at != row.due_at:
            moves.append({"timer_id": row.id, "due_at": timer.due_at})
    rows = (_step_rows(instance_id, new_tasks, manifest, now)
            + [_bpmn_row(instance_id, timer, now) for timer in listed.values()])
    if case_due is not None and running:
        rows.append({"instance_id": instance_id, "bpmn_id": wf.spec.name, "task_id": instance_id,
                     "kind": CASE_TERM, "state": WAITING, "due_at": case_due, "created_at": now,
                     "fired_at": None, "calendar_version": calendar.version()})
    _write(conn, closes, moves, rows)


def _ended(wf, row, now, fired_timers: set[str] | None) -> dict:
    if (row.task_id in fired_timers if fired_timers is not None
            else engine.timer_fired(wf, row.task_id)):
        return {"timer_id": row.id, "new_state": FIRED, "fired_at": now}
    return {"timer_id": row.id, "new_state": CANCELLED, "fired_at": None}


def _write(conn, closes: list, moves: list, rows: list) -> None:
    if closes:
        conn.execute(_CLOSE, closes)
    if moves:
        conn.execute(_MOVE_DUE, moves)
    if rows:
        conn.execute(insert(TIMERS), rows)
