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

from sqlalchemy import select

from app import forms
from app.access import policy
from app.core import engine
from app.core import reapply
from app.core import store
from app.diagram import DiagramError
from app.models import ProcessDefinition
from app.services import Forbidden
from app.services import NotFound


def _read(instance_id: str) -> tuple:
    """Return (definition key, its BPMN sources, definition id, journal rows) of an instance."""
    definitions = ProcessDefinition.__table__
    with store.reading() as conn:
        row = store.read_instance(conn, instance_id, "definition_id")
        if row is None:
            raise NotFound(f"no instance {instance_id}")
        version = conn.execute(select(definitions.c.key, definitions.c.sources)
                               .where(definitions.c.id == row.definition_id)).one()
        events = conn.execute(select(store.EVENTS.c.seq, store.EVENTS.c.type,
                                     store.EVENTS.c.actor, store.EVENTS.c.at,
                                     store.EVENTS.c.payload)
                              .where(store.EVENTS.c.instance_id == instance_id)
                              .order_by(store.EVENTS.c.seq)).all()
    bpmn = {name: text for name, text in version.sources.items()
            if not name.startswith(forms.PREFIX)}
    return version.key, bpmn, row.definition_id, events


def _divergence(change: dict, actual: str) -> dict:
    return {"seq": change["seq"], "type": change["type"], "expected": change["digest"],
            "actual": actual}


def replay(runtime, instance_id: str) -> dict:
    """Re-execute a case from its journal: {ok, events_replayed, divergence}.

    `events_replayed` counts the inputs fed; `divergence` is None, or the first input whose
    resulting state differs from the record: {seq, type, expected, actual} (the recorded and
    the replayed state digest, or why the input could not be fed). Raise NotFound.
    """
    return _replay(runtime, instance_id)[0]


def replayed_workflow(runtime, instance_id: str):
    """Return the workflow a replay rebuilt, with its whole history (nothing compacted), or
    None when the replay diverged: what the case did, element by element, from its record."""
    result, run = _replay(runtime, instance_id)
    return run.workflow if result["ok"] and run is not None else None


@functools.lru_cache(maxsize=64)
def _parsed(key: str, texts: tuple) -> tuple:
    """Parse a version's stored BPMN texts once per content (a replay of each case re-reads
    them; a changed text is another key, so a changed source still shows)."""
    return engine.parse_texts(dict(texts), key)


def _replay(runtime, instance_id: str) -> tuple:
    """Return (the replay's result, the Feeder that ran it, or None if nothing was fed)."""
    key, bpmn, definition_id, events = _read(instance_id)
    secrets = runtime.definitions.get(definition_id).secrets
    changes = reapply.changes(events)
    if not any(change["digest"] for change in changes):  # journalled before digests existed
        return {"ok": False, "events_replayed": 0, "divergence": _divergence(
            changes[0], "the journal holds no state digest to compare with")}, None
    try:
        specs = _parsed(key, tuple(sorted(bpmn.items())))
    except DiagramError as err:
        return {"ok": False, "events_replayed": 0, "divergence": _divergence(
            changes[0], f"the stored BPMN does not parse: {err}")}, None
    run = reapply.Feeder(instance_id, specs, reapply.recorded_answers(events))
    for replayed, change in enumerate(changes):
        try:
            refused = run.apply(change)
        except Exception as err:  # noqa: BLE001 - any failure of the replay is a divergence
            refused = f"{type(err).__name__}: {err}"
        if refused is None and change["digest"] is not None:
            actual = engine.state_digest(run.workflow, run.snap, secrets)
            refused = None if actual == change["digest"] else actual
        if refused is not None:
            return {"ok": False, "events_replayed": replayed,
                    "divergence": _divergence(change, refused)}, run
    return {"ok": True, "events_replayed": len(changes), "divergence": None}, run


def replay_instance(runtime, actor, instance_id: str) -> dict:
    """Replay a case for an auditor or admin; Forbidden for anyone else (before any lookup)."""
    if not policy.may_replay(actor):
        raise Forbidden("replaying needs one of the roles: "
                        + ", ".join(sorted(policy.REPLAY_ROLES)))
    return replay(runtime, instance_id)
