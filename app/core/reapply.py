"""Feed a case's recorded inputs to a workflow, in journal order.

The journal holds every input from outside the engine: the start data, form submissions by
element and occurrence, retries, timer firings and the state systems' answers (each applied by a
`service_applied` entry). `changes` groups journal rows into those inputs, each with the state
digest its change recorded; a `Feeder` applies them one by one with the recorded moments. A
replay (`app.audit.replay`) feeds a whole journal to a fresh workflow and compares every digest; a
restore (`app.core.store.load`) feeds the tail written after the last state snapshot.
"""

import datetime

import orjson

import handlers
from app.audit import canonical_json
from app.audit import redaction
from app.core import compaction
from app.core import engine

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


def changes(events) -> list[dict]:
    """Group journal rows into inputs, each with the digest its change recorded (or None)."""
    grouped: list[dict] = []
    for row in events:
        payload = orjson.loads(row.payload)
        if row.type not in OUTPUTS or not grouped:
            grouped.append({"seq": row.seq, "type": row.type, "actor": row.actor,
                            "at": row.at, "payload": payload, "digest": None})
        if "state_digest" in payload:
            grouped[-1]["digest"] = payload["state_digest"]
    return grouped


def moment(text: str) -> datetime.datetime:
    """Return a journal timestamp as an aware UTC moment."""
    at = datetime.datetime.fromisoformat(text)
    return at if at.utcoffset() is not None else at.replace(tzinfo=datetime.UTC)


class Feeder:
    """Feeds recorded inputs to a workflow: from its start (a replay) or from a stored state
    (the journal's tail after a snapshot, `app.core.store`). `answers` maps job ids to
    (the request recorded, or None to skip that check; the answer applied)."""

    def __init__(self, instance_id: str, specs: tuple, answers: dict, workflow=None):
        self.instance_id, self.specs, self.answers = instance_id, specs, answers
        self.workflow = workflow
        self.snap = None if workflow is None else engine.summarize(workflow)

    def apply_checked(self, change: dict, secrets) -> str | None:
        """Feed one recorded input and compare the state with the digest it journalled; return
        None when they match, else the replay's digest or why the input could not be fed."""
        try:
            refused = self.apply(change)
        except Exception as err:  # noqa: BLE001 - any failure of the replay is a divergence
            refused = f"{type(err).__name__}: {err}"
        if refused is None and change["digest"] is not None:
            actual = engine.state_digest(self.workflow, self.snap, secrets)
            refused = None if actual == change["digest"] else actual
        return refused

    def apply(self, change: dict) -> str | None:
        """Feed one recorded input; return why it could not be fed, or None."""
        kind, payload, now = change["type"], change["payload"], moment(change["at"])
        seed = engine.change_seed(self.instance_id, change["seq"])
        if kind == "instance_started":
            self.workflow, self.snap = engine.start(self.specs, payload.get("data") or {},
                                                    now=now, seed=seed)
            return None
        if self.workflow is None:
            return "the journal does not begin with instance_started"
        if kind == "task_completed":
            return self._complete(change, payload, now, seed)
        if kind == "service_applied":
            return self._deliver(payload, now, seed)
        if kind == "retried":
            self.snap = engine.retry(self.workflow, now=now, seed=seed)
        elif kind == "timer_fired":
            clock = moment(payload["clock"]) if payload.get("clock") else now
            self.snap = engine.wake(self.workflow, now=clock, seed=seed)
        elif change["digest"] is not None:
            return f"cannot replay a '{kind}' event"
        return None

    def _complete(self, change: dict, payload: dict, now, seed: str) -> str | None:
        occurrence = payload.get("occurrence")
        task_id = engine.find_ready(self.workflow, payload.get("process"), payload["bpmn_id"],
                                    occurrence)
        if task_id is None:
            return f"{payload['bpmn_id']} #{occurrence or '?'} is not waiting for input"
        self.snap = engine.complete(self.workflow, task_id, payload.get("data") or {},
                                    change["actor"], now=now, seed=seed)
        return None

    def _deliver(self, payload: dict, now, seed: str) -> str | None:
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
        if recorded is not None and asked != recorded:
            return f"{where} asked otherwise than recorded"
        self.snap = engine.deliver(self.workflow, call.task_id, answer, now=now, seed=seed)
        return None


class TailMismatch(RuntimeError):
    """A stored state and the journal written after it do not agree: the record was altered."""


def catch_up(instance_id: str, workflow, specs: tuple, tail: list, *, answers: dict,
             secrets) -> int:
    """Feed the journal rows written after a state snapshot to the restored `workflow`;
    return how many state changes were fed.

    `answers` maps job ids to their applied answers (from the job rows). The digest the last
    change recorded must match the state reached; TailMismatch says where it does not.
    """
    feeder = Feeder(instance_id, specs, {job: (None, answer) for job, answer in answers.items()},
                    workflow)
    expected, fed = None, 0
    for change in changes(tail):
        refused = feeder.apply(change)
        compaction.compact(workflow)  # as the live change did before it stored and cached
        if refused is not None:
            raise TailMismatch(f"event {change['seq']} ({change['type']}) cannot be applied "
                               f"to the stored state: {refused}")
        if change["digest"] is not None:
            expected, fed = change, fed + 1
    if expected is not None:
        actual = engine.state_digest(workflow, feeder.snap, secrets)
        if actual != expected["digest"]:
            raise TailMismatch(f"the stored state and the journal disagree at event "
                               f"{expected['seq']} ({expected['type']})")
    return fed
