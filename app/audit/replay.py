"""Replay a case from its journal and compare the state digest after every recorded change.

The workflow is rebuilt from the case's own definition version (its stored BPMN `sources`,
parsed again, so a changed source shows), started with the journalled start data, and fed
every recorded input in order: form submissions by element and occurrence, retries, timer
firings and the state systems' answers, each at the moment the journal recorded. A service
task gets the answer its job recorded (`service_called`, or the error that ended it), checked
against what the replayed task asks; no state system is called. After each input the digest
of the engine state is compared with the one its change journalled; the first difference is
the divergence.
"""

import functools

import orjson
from sqlalchemy import Text
from sqlalchemy import cast
from sqlalchemy import select

import handlers
from app import forms
from app.access import policy
from app.audit import canonical_json
from app.audit import redaction
from app.core import engine
from app.core import reapply
from app.core import store
from app.diagram import DiagramError
from app.models import ProcessDefinition
from app.services import Forbidden
from app.services import NotFound


def _read(instance_id: str) -> tuple:
    """Return (definition key, its stored sources as JSON text, definition id, journal rows).

    The sources come as the database's text of them (not decoded): `_parsed` keys its cache by
    that text, so a batch decodes and parses a version once, and an edited source, being
    another text, is parsed again.
    """
    definitions = ProcessDefinition.__table__
    with store.reading() as conn:
        row = store.read_instance(conn, instance_id, "definition_id")
        if row is None:
            raise NotFound(f"no instance {instance_id}")
        version = conn.execute(select(definitions.c.key,
                                      cast(definitions.c.sources, Text).label("sources"))
                               .where(definitions.c.id == row.definition_id)).one()
        events = conn.execute(select(store.EVENTS.c.seq, store.EVENTS.c.type,
                                     store.EVENTS.c.actor, store.EVENTS.c.at,
                                     store.EVENTS.c.payload)
                              .where(store.EVENTS.c.instance_id == instance_id)
                              .order_by(store.EVENTS.c.seq)).all()
    return version.key, version.sources, row.definition_id, events


def replay(runtime, instance_id: str) -> dict:
    """Re-execute a case from its journal: {ok, events_replayed, divergence}.

    `events_replayed` counts the inputs fed; `divergence` is None, or the first input whose
    resulting state differs from the record: {seq, type, expected, actual} (the recorded and
    the replayed state digest, or why the input could not be fed) with both sides spelled out,
    `recorded` {state_digest, event, answer (of a service), then} and `replayed`
    {state_digest, refused, state, changed}, and `differences` in words. Raise NotFound.
    """
    return _replay(runtime, instance_id)[0]


def replayed_workflow(runtime, instance_id: str):
    """Return the workflow a replay rebuilt, with its whole history (nothing compacted), or
    None when the replay diverged: what the case did, element by element, from its record."""
    result, run = _replay(runtime, instance_id)
    return run.workflow if result["ok"] and run is not None else None


@functools.lru_cache(maxsize=64)
def _parsed(key: str, sources: str) -> tuple:
    """Parse a version's stored BPMN (its `sources` JSON text, forms left out) once per
    content: a replay of each case re-reads the text; a changed text is another key, so a
    changed source still shows."""
    bpmn = {name: text for name, text in orjson.loads(sources).items()
            if not name.startswith(forms.PREFIX)}
    return engine.parse_texts(bpmn, key)


def _feed(instance_id: str, specs: tuple, answers: dict, changes: list, secrets) -> tuple:
    """Feed `changes` to a fresh workflow; return (the index of the first change that diverges,
    or None; why it diverged: the replayed digest or the reason it could not be fed; the run)."""
    run = reapply.Feeder(instance_id, specs, answers)
    for index, change in enumerate(changes):
        refused = run.apply_checked(change, secrets)
        if refused is not None:
            return index, refused, run
    return None, None, run


def _replay(runtime, instance_id: str) -> tuple:
    """Return (the replay's result, the Feeder that ran it, or None if nothing was fed)."""
    key, sources, definition_id, events = _read(instance_id)
    secrets = runtime.definitions.get(definition_id).secrets
    changes = reapply.changes(events)
    answers = reapply.recorded_answers(events)
    if not any(change["digest"] for change in changes):  # journalled before digests existed
        why = "the journal holds no state digest to compare with"
        return _diverged(events, changes, 0, why, answers, differences=[why]), None
    try:
        specs = _parsed(key, sources)
    except DiagramError as err:
        why = f"the stored BPMN does not parse: {err}"
        return _diverged(events, changes, 0, why, answers, differences=[why]), None
    index, refused, run = _feed(instance_id, specs, answers, changes, secrets)
    if index is None:
        return {"ok": True, "events_replayed": len(changes), "divergence": None}, run
    # the state before the divergent input matched the record; a second, shorter run gives it
    # back (only when a replay diverges, so an intact case pays nothing for the report)
    before = _feed(instance_id, specs, answers, changes[:index], secrets)[2] if index else None
    changed = _changed(before, run, secrets)
    differences = _differences(run, changes, index, _outputs(events, changes, index), refused)
    if not differences:
        differences = ["the same steps wait as the journal goes on; the state differs in its "
                       "data, and this input changed in the replay: "
                       + (", ".join(changed) or "nothing")]
    result = _diverged(events, changes, index, refused, answers, differences=differences)
    result["divergence"]["replayed"].update(state=_state(run, secrets), changed=changed)
    return result, run


def _is_digest(text: str) -> bool:
    return len(text) == 64 and all(c in "0123456789abcdef" for c in text)


def _outputs(events, changes: list, index: int) -> list:
    """Return the journal rows the engine wrote after `changes[index]`, before the next input."""
    until = changes[index + 1]["seq"] if index + 1 < len(changes) else None
    return [row for row in events
            if row.seq > changes[index]["seq"] and (until is None or row.seq < until)]


def _diverged(events, changes: list, index: int, refused: str, answers: dict, *,
              differences: list) -> dict:
    """Return the result of a replay that diverged at `changes[index]`, with both sides.

    `expected`/`actual` are the recorded and the replayed digest (or why the input could not
    be fed), as before; `recorded` adds the input as journalled (a service's answer with it)
    and what the journal says happened next; `replayed` the replay's digest or refusal.
    """
    change = changes[index]
    payload = {k: v for k, v in change["payload"].items() if k != "state_digest"}
    recorded = {"state_digest": change["digest"], "event": {
        "seq": change["seq"], "type": change["type"], "actor": change["actor"],
        "at": change["at"], "payload": payload}}
    if change["type"] == "service_applied" and payload.get("job") in answers:
        recorded["answer"] = answers[payload["job"]][1]
    recorded["then"] = [_described(row.seq, row.type, orjson.loads(row.payload))
                        for row in _outputs(events, changes, index)]
    if index + 1 < len(changes):
        following = changes[index + 1]
        recorded["then"].append(_described(following["seq"], following["type"],
                                           following["payload"]))
    digest = _is_digest(refused)
    return {"ok": False, "events_replayed": index, "divergence": {
        "seq": change["seq"], "type": change["type"], "expected": change["digest"],
        "actual": refused, "recorded": recorded,
        "replayed": {"state_digest": refused if digest else None,
                     "refused": None if digest else refused, "state": None, "changed": {}},
        "differences": differences}}


def _described(seq: int, kind: str, payload: dict) -> dict:
    """Return a journal entry in short: its seq, type and what it names (no digests, no data)."""
    named = {k: payload[k] for k in ("process", "bpmn_id", "task", "occurrence", "operator",
                                     "outcome", "error") if payload.get(k) is not None}
    return {"seq": seq, "type": kind, **named}


def _state(run, secrets) -> dict | None:
    """Return the replayed state in a reader's terms: status, outcome, incident, the tasks that
    wait for a person or a state system, and the case data (secrets redacted)."""
    if run is None or run.workflow is None or run.snap is None:
        return None
    snap = run.snap
    return {"status": snap.status, "outcome": snap.outcome,
            "incident": (snap.incident or {}).get("task"),
            "ready": [f"{r.process_key}/{r.bpmn_id} #{r.occurrence}" for r in snap.ready],
            "calls": [f"{c.process_key}/{c.bpmn_id} #{c.occurrence} -> {c.operator}"
                      for c in snap.calls],
            "data": _data(run, secrets)}


def _data(run, secrets) -> dict:
    return redaction.redact(engine.current_data(run.workflow), secrets)


def _changed(before, run, secrets) -> dict:
    """Return {field: [before, after]} for the case data the divergent input changed in the
    replay (the state before it matched the record)."""
    if before is None or before.workflow is None or run.workflow is None:
        return {}
    old, new = _data(before, secrets), _data(run, secrets)
    return {name: [old.get(name), new.get(name)] for name in sorted(old.keys() | new.keys())
            if old.get(name) != new.get(name)}


def _differences(run, changes: list, index: int, outputs: list, refused: str) -> list[str]:
    """Say in words where the replay parts from what the journal records after the input:
    the outcome or incident it records, the state-system calls it records, and whether the
    next recorded input finds its task waiting. Cheap: read from the record and the replay's
    summary, no second engine run. Empty when the same steps wait as the journal goes on."""
    if not _is_digest(refused):
        return [refused]
    snap, lines = run.snap, []
    for row in outputs:
        payload = orjson.loads(row.payload)
        if row.type == "instance_completed" and payload.get("outcome") != snap.outcome:
            lines.append(f"the journal records the outcome {payload.get('outcome')} (event "
                         f"{row.seq}); the replay is {snap.status}, outcome {snap.outcome}")
        elif (row.type == "incident_raised"
              and payload.get("task") != (snap.incident or {}).get("task")):
            lines.append(f"the journal records an incident at {payload.get('task')} (event "
                         f"{row.seq}); the replay is {snap.status}")
        elif row.type in ("service_called", "service_refused", "service_unavailable"):
            lines += _call_differences(row.seq, payload, snap.calls)
    if snap.outcome and not any(row.type == "instance_completed" for row in outputs):
        lines.append(f"the replay ends the case at {snap.outcome}; the journal goes on")
    if index + 1 < len(changes) and changes[index + 1]["type"] == "task_completed":
        following = changes[index + 1]["payload"]
        waiting = engine.find_ready(run.workflow, following.get("process"),
                                    following["bpmn_id"], following.get("occurrence"))
        if waiting is None:
            lines.append(f"the journal next completes {following['bpmn_id']} "
                         f"#{following.get('occurrence')} (event {changes[index + 1]['seq']}); "
                         "in the replay it is not waiting; waiting: "
                         + (", ".join(f"{r.bpmn_id} #{r.occurrence}" for r in snap.ready)
                            or "nothing"))
    return lines


def _call_differences(seq: int, payload: dict, calls: list) -> list[str]:
    """Compare a state-system call the journal records with the calls the replay asks."""
    key = (payload.get("process"), payload.get("task"), payload.get("occurrence"))
    call = next((c for c in calls if (c.process_key, c.bpmn_id, c.occurrence) == key), None)
    where = f"{payload.get('task')} #{payload.get('occurrence')}"
    if call is None:
        return [f"the journal records a call of {payload.get('operator')} by {where} (event "
                f"{seq}); the replay asks no such call"]
    params = orjson.loads(canonical_json(redaction.redact(call.params,
                                                          handlers.SECRET_PARAMETERS)))
    recorded = payload.get("params") or {}
    differing = sorted(name for name in recorded.keys() | params.keys()
                       if recorded.get(name) != params.get(name))
    if call.operator != payload.get("operator") or differing:
        return [f"{where} asks {call.operator} with other parameters than the journal records "
                f"(event {seq}): " + ", ".join(
                    f"{name}: {recorded.get(name)!r} recorded, {params.get(name)!r} replayed"
                    for name in differing)]
    return []


def require_replayer(actor) -> None:
    """Raise Forbidden unless the actor may replay cases (auditors, admins)."""
    if not policy.may_replay(actor):
        raise Forbidden("replaying needs one of the roles: "
                        + ", ".join(sorted(policy.REPLAY_ROLES)))


def replay_instance(runtime, actor, instance_id: str) -> dict:
    """Replay a case for an auditor or admin; Forbidden for anyone else (before any lookup)."""
    require_replayer(actor)
    return replay(runtime, instance_id)
