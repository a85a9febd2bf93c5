"""Replay many cases at once: those of a process, a definition version and a period.

An auditor checks a whole regulation, or everything started in a quarter, with one call: each
selected case is replayed from its journal (`app.audit.replay`) and the report lists those
that diverge, with the first divergent event and both sides, and those that could not be
replayed at all. A selection is bounded (`limit`, at most MAX_LIMIT cases a call) so one
request cannot hold a worker for hours; the oldest cases come first and `truncated` says more
matched, so the next call starts after the last one (`since`).
"""

import dataclasses
import datetime

from sqlalchemy import select

from app.audit import replay
from app.core import store
from app.models import ProcessDefinition
from app.services import Invalid

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
# a bare date is a calendar day in Kazakhstan (one time zone, UTC+5, since 1 March 2024)
KAZAKHSTAN = datetime.timezone(datetime.timedelta(hours=5))
FIELDS = frozenset({"process", "version", "since", "until", "limit"})


@dataclasses.dataclass(frozen=True)
class Selection:
    """Which cases to replay: all of them unless narrowed; started in [since, until)."""

    process: str | None = None
    version: int | None = None
    since: datetime.datetime | None = None
    until: datetime.datetime | None = None
    limit: int = DEFAULT_LIMIT


def _moment(text, *, end_of_day: bool) -> datetime.datetime:
    """Read a date (a Kazakhstan day: its start, or with `end_of_day` the next day's start) or
    an ISO 8601 moment (UTC when it names no offset)."""
    if not isinstance(text, str):
        raise ValueError("give a date (YYYY-MM-DD) or an ISO 8601 moment")
    try:
        day = datetime.date.fromisoformat(text)
    except ValueError:
        pass
    else:
        start = datetime.datetime.combine(day, datetime.time(), KAZAKHSTAN)
        return start + datetime.timedelta(days=1) if end_of_day else start
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError("give a date (YYYY-MM-DD) or an ISO 8601 moment") from None
    return moment if moment.utcoffset() is not None else moment.replace(tzinfo=datetime.UTC)


def _whole(value, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} is a whole number from {low} to {high}")
    return value


def selection(given: dict) -> Selection:
    """Check a request for a batch replay; raise Invalid with every field's error at once.

    `until` is exclusive; a bare date in it counts the whole day (a period of 2026-01-01 to
    2026-03-31 is the first quarter). A version needs its process.
    """
    errors, chosen = {}, {}
    for name in sorted(set(given) - FIELDS):
        errors[name] = "unknown field; use " + ", ".join(sorted(FIELDS))
    checks = {
        "process": lambda v: v if isinstance(v, str) and 0 < len(v) <= 120 else _bad(
            "a process key (text)"),
        "version": lambda v: _whole(v, "version", 1, 1_000_000),
        "since": lambda v: _moment(v, end_of_day=False),
        "until": lambda v: _moment(v, end_of_day=True),
        "limit": lambda v: _whole(v, "limit", 1, MAX_LIMIT),
    }
    for name, check in checks.items():
        if name in given:  # a field given must be valid: null is not "any"
            try:
                chosen[name] = check(given[name])
            except ValueError as err:
                errors[name] = str(err)
    if "version" in chosen and "process" not in given:
        errors["version"] = "a version needs its process"
    if "since" in chosen and "until" in chosen and chosen["since"] >= chosen["until"]:
        errors["until"] = "the period ends before it starts"
    if errors:
        raise Invalid(errors)
    return Selection(**chosen)


def _bad(what: str):
    raise ValueError(f"give {what}")


def select_cases(chosen: Selection) -> tuple[list, bool]:
    """Return ([(instance id, process key, version)] oldest first, whether more matched)."""
    instances, definitions = store.INSTANCES, ProcessDefinition.__table__
    query = (select(instances.c.id, definitions.c.key, definitions.c.version)
             .join(definitions, definitions.c.id == instances.c.definition_id)
             .order_by(instances.c.created_at, instances.c.id).limit(chosen.limit + 1))
    if chosen.process is not None:
        query = query.where(definitions.c.key == chosen.process)
    if chosen.version is not None:
        query = query.where(definitions.c.version == chosen.version)
    if chosen.since is not None:
        query = query.where(instances.c.created_at >= chosen.since)
    if chosen.until is not None:
        query = query.where(instances.c.created_at < chosen.until)
    with store.reading() as conn:
        rows = conn.execute(query).all()
    return [tuple(row) for row in rows[:chosen.limit]], len(rows) > chosen.limit


def replay_batch(runtime, chosen: Selection) -> dict:
    """Replay every selected case: {cases, ok, diverged, failed, truncated} (`replay_cases`)."""
    return replay_cases(runtime, *select_cases(chosen))


def replay_cases(runtime, cases: list, truncated: bool = False, progress=None) -> dict:
    """Replay `cases` (from `select_cases`): {cases, ok, diverged, failed, truncated}.

    `diverged` lists {instance_id, process, version, events_replayed, divergence} (the first
    divergent event with both sides, `app.audit.replay`); `failed` lists the cases that
    could not be replayed at all, {instance_id, process, version, error}. `progress` is called
    with each case id as it is done (the CLI's progress bar).
    """
    report = {"cases": len(cases), "ok": 0, "diverged": [], "failed": [],
              "truncated": truncated}
    for instance_id, key, version in cases:
        named = {"instance_id": instance_id, "process": key, "version": version}
        try:
            result = replay.replay(runtime, instance_id)
        except Exception as err:  # noqa: BLE001 - one broken case must not stop the batch
            report["failed"].append({**named, "error": f"{type(err).__name__}: {err}"})
        else:
            if result["ok"]:
                report["ok"] += 1
            else:
                report["diverged"].append({**named, "events_replayed": result["events_replayed"],
                                           "divergence": result["divergence"]})
        if progress is not None:
            progress(instance_id)
    return report
