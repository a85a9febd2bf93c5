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

import datetime

import orjson
from sqlalchemy import select

import handlers
from app import engine
from app import forms
from app import policy
from app import redaction
from app import store
from app.audit import canonical_json
from app.diagram import DiagramError
from app.models import ProcessDefinition
from app.services import Forbidden
from app.services import NotFound

# journal entries the engine produced (outputs); everything else is an input or a note
OUTPUTS = frozenset({"service_called", "service_unavailable", "service_refused",
                     "service_failed", "timer_elapsed", "incident_raised", "instance_completed"})


def recorded_answers(events) -> dict:
    """Return {job id: (the request it recorded, the answer applied)} from journal rows."""
    answers = {}
    for row in events:
        if row.type not in ("service_called", "service_unavailable", "service_refused"):
            continue
        payload = orjson.loads(row.payload)
        if row.type == "service_called":
            answer = {"result": payload.get("result")}
        elif row.type == "service_refused":
            answer = {"error": payload.get("error")}
        elif payload.get("exhausted"):
            answer = {"error": f"{payload.get('error')} (after {payload.get('attempt')} attempts)"}
        else:
            continue  # a transient failure: the job was tried again
        request = {"operator": payload.get("operator"), "params": payload.get("params")}
        answers[payload.get("job")] = (request, {**answer, "job": payload.get("job")})
    return answers


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


def _changes(events) -> list[dict]:
    """Group journal rows into inputs, each with the digest its change recorded (or None)."""
    changes: list[dict] = []
    for row in events:
        payload = orjson.loads(row.payload)
        if row.type not in OUTPUTS or not changes:
            changes.append({"seq": row.seq, "type": row.type, "actor": row.actor,
                            "at": row.at, "payload": payload, "digest": None})
        if "state_digest" in payload:
            changes[-1]["digest"] = payload["state_digest"]
    return changes


def _moment(text: str) -> datetime.datetime:
    moment = datetime.datetime.fromisoformat(text)
    return moment if moment.utcoffset() is not None else moment.replace(tzinfo=datetime.UTC)


class _Run:
    """One replay in progress: the workflow, the recorded answers and the last snapshot."""

    def __init__(self, specs: tuple, answers: dict):
        self.specs, self.answers = specs, answers
        self.workflow = None
        self.snap = None

    def apply(self, change: dict) -> str | None:
        """Feed one recorded input; return why it could not be fed, or None."""
        kind, payload, now = change["type"], change["payload"], _moment(change["at"])
        if kind == "instance_started":
            self.workflow, self.snap = engine.start(self.specs, payload.get("data") or {},
                                                    now=now)
            return None
        if self.workflow is None:
            return "the journal does not begin with instance_started"
        if kind == "task_completed":
            return self._complete(change, payload, now)
        if kind == "service_applied":
            return self._deliver(payload, now)
        if kind == "retried":
            self.snap = engine.retry(self.workflow, now=now)
        elif kind == "timer_fired":
            clock = _moment(payload["clock"]) if payload.get("clock") else now
            self.snap = engine.wake(self.workflow, now=clock)
        elif change["digest"] is not None:
            return f"cannot replay a '{kind}' event"
        return None

    def _complete(self, change: dict, payload: dict, now) -> str | None:
        occurrence = payload.get("occurrence")
        task_id = engine.find_ready(self.workflow, payload.get("process"), payload["bpmn_id"],
                                    occurrence)
        if task_id is None:
            return f"{payload['bpmn_id']} #{occurrence or '?'} is not waiting for input"
        self.snap = engine.complete(self.workflow, task_id, payload.get("data") or {},
                                    change["actor"], now=now)
        return None

    def _deliver(self, payload: dict, now) -> str | None:
        """Give the replayed service task the answer its job recorded, if it asks the same."""
        where = f"{payload.get('task')} #{payload.get('occurrence')}"
        call = next((c for c in engine.pending_calls(self.workflow)
                     if (c.process_key, c.bpmn_id, c.occurrence)
                     == (payload.get("process"), payload.get("task"), payload.get("occurrence"))),
                    None)
        if call is None:
            return f"{where} is not waiting for a state system"
        if payload.get("job") not in self.answers:
            return f"no recorded answer for {where}"
        recorded, answer = self.answers[payload["job"]]
        asked = {"operator": call.operator, "params": orjson.loads(canonical_json(
            redaction.redact(call.params, handlers.SECRET_PARAMETERS)))}
        if asked != recorded:
            return f"{where} asked otherwise than recorded"
        self.snap = engine.deliver(self.workflow, call.task_id, answer, now=now)
        return None


def _divergence(change: dict, actual: str) -> dict:
    return {"seq": change["seq"], "type": change["type"], "expected": change["digest"],
            "actual": actual}


def replay(runtime, instance_id: str) -> dict:
    """Re-execute a case from its journal: {ok, events_replayed, divergence}.

    `events_replayed` counts the inputs fed; `divergence` is None, or the first input whose
    resulting state differs from the record: {seq, type, expected, actual} (the recorded and
    the replayed state digest, or why the input could not be fed). Raise NotFound.
    """
    key, bpmn, definition_id, events = _read(instance_id)
    secrets = runtime.definitions.get(definition_id).secrets
    changes = _changes(events)
    if not any(change["digest"] for change in changes):  # journalled before digests existed
        return {"ok": False, "events_replayed": 0, "divergence": _divergence(
            changes[0], "the journal holds no state digest to compare with")}
    try:
        specs = engine.parse_texts(bpmn, key)
    except DiagramError as err:
        return {"ok": False, "events_replayed": 0,
                "divergence": _divergence(changes[0], f"the stored BPMN does not parse: {err}")}
    run = _Run(specs, recorded_answers(events))
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
                    "divergence": _divergence(change, refused)}
    return {"ok": True, "events_replayed": len(changes), "divergence": None}


def replay_instance(runtime, actor, instance_id: str) -> dict:
    """Replay a case for an auditor or admin; Forbidden for anyone else (before any lookup)."""
    if not policy.may_replay(actor):
        raise Forbidden("replaying needs one of the roles: "
                        + ", ".join(sorted(policy.REPLAY_ROLES)))
    return replay(runtime, instance_id)
