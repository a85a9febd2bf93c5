"""A case's journal told for people: who, when, what in plain words, and the diagram at each step.

Every journal entry becomes a step: its actor and moment, a sentence in the reader's language
(`app.audit.words`), the form fields it carried with their labels from the case's *own*
definition version (secrets stay the hashes the journal holds), and a state system's answer.

The diagram state at each step (completed, active and overdue elements, per process of the
version, and the case's data) is not in the journal as such: a user task's becoming ready is a
consequence of the inputs, not an input. So it is recomputed the way a replay proves the case:
the recorded inputs are fed to the version's specs (`app.core.reapply.Feeder`) and, after each
change, its state digest is checked against the one journalled. Where that check fails (an
altered record), the replay stops and the later steps show only what the journal's entries name
(elements completed, overdue), never a state the record does not support.
"""

from dataclasses import dataclass
from dataclasses import field

import orjson
from sqlalchemy import select

import handlers
from app import queries
from app.audit import redaction
from app.audit import words
from app.core import engine
from app.core import reapply
from app.core import store
from app.models import ProcessDefinition
from app.models import ProcessInstance
from app.models import db
from app.services import NotFound

HIDDEN_FIELDS = frozenset({"assignments", "actors"})  # bookkeeping the forms do not show


@dataclass
class Step:
    """One journal entry as the history viewer shows it."""

    seq: int
    at: str
    actor: str
    type: str
    sentence: str
    process: str | None  # the (sub)process whose element the entry is about
    element: str | None
    fields: list = field(default_factory=list)  # [(label, value text)]
    answer: object = None  # a state system's answer (service_called)
    state: int | None = None  # index into Timeline.states: the diagram state after this entry
    hash: str = ""  # the entry's seal in the hash chain


@dataclass
class Timeline:
    """The steps of a case, the diagram states they point to, and where a replay stopped."""

    instance: ProcessInstance
    definition: object  # app.definitions.LoadedDefinition of the case's own version
    steps: list[Step]
    states: list[dict]  # {markers: {process: {completed, active, overdue}}, data: {...} | None}
    diverged_at: int | None  # seq of the first input a replay could not reproduce, or None
    labels: dict = field(default_factory=dict)  # {field name: label} over the version's forms

    def viewer_model(self) -> dict:
        """Return what the stepper in the browser needs, as JSON-able values."""
        return {"main": self.definition.key, "states": self.states, "labels": self.labels,
                "steps": [{"seq": s.seq, "state": s.state, "process": s.process,
                           "sentence": s.sentence, "answer": s.answer} for s in self.steps]}


def journal(rt, actor, instance_id: str) -> tuple:
    """Return (instance row, loaded definition, journal rows) if the actor may read the case.

    The read check is the history's own (NotFound, or Forbidden), so whoever may read a case's
    history may see its timeline and exports, and nobody else.
    """
    instance, definition = _readable(rt, actor, instance_id)
    events = store.EVENTS
    with store.reading() as conn:
        rows = conn.execute(select(events).where(events.c.instance_id == instance_id)
                            .order_by(events.c.seq)).all()
    return instance, definition, rows


def _readable(rt, actor, instance_id: str) -> tuple:
    queries.history(rt, actor, instance_id, 0, 1)  # NotFound / Forbidden as the history answers
    instance = db.session.get(ProcessInstance, instance_id)
    return instance, rt.definitions.get(instance.definition_id)


def version_diagram(rt, actor, instance_id: str, process: str) -> str:
    """Return the BPMN XML, as the case's own version stored it, of the file holding `process`
    (the regulation's process or a fragment it calls); NotFound for a process not in it."""
    _, definition = _readable(rt, actor, instance_id)
    found = definition.manifest["processes"].get(process)
    sources = db.session.get(ProcessDefinition, definition.id).sources
    if found is None or found.get("file") not in sources:
        raise NotFound(f"the case's version has no process '{process}'")
    return sources[found["file"]]


def step_name(definition, process: str | None, bpmn_id: str | None, lang: str) -> str:
    """Return what people call an element: its form's title, else the diagram's name, else id."""
    if bpmn_id is None:
        return "—"
    form = definition.forms.get(f"{process}/{bpmn_id}")
    if form is not None and form.ui.get("title"):
        return words.pick(form.ui["title"], lang)
    tasks = (definition.manifest["processes"].get(process) or {}).get("tasks") or {}
    return (tasks.get(bpmn_id) or {}).get("name") or bpmn_id


def _value_text(value, meta: dict, lang: str) -> str:
    if isinstance(value, dict) and value.get("redacted") is True:
        return words.pick(words.WORDS["hidden"], lang).format(sha=str(value.get("sha256"))[:16])
    if isinstance(value, bool):
        return words.pick(words.WORDS["yes" if value else "no"], lang)
    label = (meta.get("enum_labels") or {}).get(value) if isinstance(value, str) else None
    if label:
        return words.pick(label, lang)
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def field_rows(form, data: dict, lang: str) -> list[tuple[str, str]]:
    """Return [(label, value)] of submitted data in the form's order, labels in `lang`."""
    ui = (form.ui.get("fields") or {}) if form else {}
    order = list((form.ui.get("order") or []) if form else [])
    names = order + sorted(set(data) - set(order))
    return [(words.pick(ui.get(n, {}).get("label") or {"en": n}, lang),
             _value_text(data[n], ui.get(n, {}), lang))
            for n in names if n in data and n not in HIDDEN_FIELDS]


def _labels(definition, lang: str) -> dict:
    labels = {}
    for form in definition.forms.values():
        for name, meta in (form.ui.get("fields") or {}).items():
            if meta.get("label"):
                labels.setdefault(name, words.pick(meta["label"], lang))
    return labels


def _where(definition, kind: str, payload: dict) -> tuple:
    """Return (process, element) an entry is about, from the ids its payload carries."""
    if kind == "instance_started":
        return definition.key, None
    element = payload.get("bpmn_id") or payload.get("task")
    if kind in ("incident_raised", "service_failed"):
        element = payload.get("task")
    if kind == "instance_completed":
        element = payload.get("outcome")
    if not isinstance(element, str) or len(element) == 36 and element.count("-") == 4:
        return payload.get("process"), None  # a task uuid, not a BPMN id
    return payload.get("process") or process_of(definition.manifest, element), element


def process_of(manifest: dict, bpmn_id: str) -> str | None:
    """Return the process of the version whose tasks include `bpmn_id` (first match)."""
    return next((key for key, process in manifest["processes"].items()
                 if bpmn_id in (process.get("tasks") or {})), None)


def _sentence(definition, row, payload: dict, where: tuple, lang: str) -> str:
    operator = payload.get("operator")
    due = str(payload.get("due_at") or "")[:16].replace("T", " ")
    return words.sentence(
        row.type, lang, process=words.pick(definition.manifest["title"], lang),
        step=step_name(definition, *where, lang), error=payload.get("error", ""),
        system=handlers.system_of(operator) if operator else "—",
        attempt=payload.get("attempt", "?"), due=due + (" UTC" if due else ""),
        outcome=payload.get("outcome") or "—")


def _fields(definition, row, payload: dict, lang: str) -> list:
    if row.type == "instance_started":
        form = definition.forms.get(f"{definition.key}/start")
    elif row.type == "task_completed":
        form = definition.forms.get(f"{payload.get('process')}/{payload.get('bpmn_id')}")
    else:
        return []
    return field_rows(form, payload.get("data") or {}, lang)


def timeline(rt, actor, instance_id: str, lang: str = "en") -> Timeline:
    """Return the case's timeline in `lang` with the diagram state after each entry."""
    instance, definition, rows = journal(rt, actor, instance_id)
    states, state_of, diverged_at = diagram_states(instance_id, definition, rows)
    steps = []
    for row in rows:
        payload = redaction.redact(orjson.loads(row.payload), definition.secrets)
        where = _where(definition, row.type, payload)
        steps.append(Step(row.seq, row.at, row.actor, row.type,
                          _sentence(definition, row, payload, where, lang), *where,
                          fields=_fields(definition, row, payload, lang),
                          answer=payload.get("result") if row.type == "service_called" else None,
                          state=state_of.get(row.seq), hash=row.hash))
    return Timeline(instance, definition, steps, states, diverged_at, _labels(definition, lang))


# ---- the diagram at each step -----------------------------------------------------------------

def _callers(manifest: dict) -> dict:
    """Return {called process: [(calling process, call activity id)]} of a version."""
    found: dict = {}
    for key, process in manifest["processes"].items():
        for bpmn_id, task in (process.get("tasks") or {}).items():
            if task.get("called"):
                found.setdefault(task["called"], []).append((key, bpmn_id))
    return found


def _with_callers(active: set, completed: set, callers: dict) -> set:
    """Add the call activities that run an active element's (sub)process, up to the top."""
    todo, found = list(active), set(active)
    while todo:
        process, _ = todo.pop()
        for calling in callers.get(process, ()):
            if calling not in found and calling not in completed:
                found.add(calling)
                todo.append(calling)
    return found


def _replayed_state(run, manifest: dict, callers: dict, secrets) -> tuple[set, set, dict]:
    """Return (completed, active, data) of a replayed workflow: (process, element) pairs."""
    completed = {(p, e) for p, source, target in engine.taken_flows(run.workflow)
                 for e in (source, target)}
    active = {(r.process_key, r.bpmn_id) for r in run.snap.ready}
    active |= {(c.process_key, c.bpmn_id) for c in run.snap.calls}
    active |= {(process_of(manifest, t.bpmn_id), t.bpmn_id)
               for t in engine.waiting_timers(run.workflow)}
    active = _with_callers(active, completed, callers) - completed
    data = redaction.redact(engine.current_data(run.workflow), secrets)
    return completed, active, orjson.loads(orjson.dumps(data, default=str))


def _markers(completed: set, active: set, overdue: set) -> dict:
    found: dict = {}
    for name, pairs in (("completed", completed), ("active", active), ("overdue", overdue)):
        for process, element in sorted(pairs, key=str):
            found.setdefault(process or "*", {"completed": [], "active": [], "overdue": []})
            found[process or "*"][name].append(element)
    return found


def _named(definition, row) -> set:
    """Return the (process, element) pairs an entry itself says were completed."""
    payload = orjson.loads(row.payload)
    if row.type in ("task_completed", "service_applied", "timer_elapsed", "instance_completed"):
        process, element = _where(definition, row.type, payload)
        return {(process, element)} if element else set()
    return set()


def diagram_states(instance_id: str, definition, rows) -> tuple[list, dict, int | None]:
    """Return (states, {seq: state index}, seq where the replay diverged or None)."""
    manifest, callers = definition.manifest, _callers(definition.manifest)
    run = reapply.Feeder(instance_id, definition.specs, reapply.recorded_answers(rows))
    inputs = {change["seq"]: change for change in reapply.changes(rows)}
    states, state_of, diverged_at = [], {}, None
    completed, active, overdue, data = set(), set(), set(), None
    for row in rows:
        change = inputs.get(row.seq)
        if change is not None and diverged_at is None:
            if run.apply_checked(change, definition.secrets) is None:
                completed, active, data = _replayed_state(run, manifest, callers,
                                                          definition.secrets)
            else:
                diverged_at, active, data = row.seq, set(), None
        if diverged_at is not None:
            completed |= _named(definition, row)
        if row.type == "step_overdue":
            bpmn_id = orjson.loads(row.payload).get("bpmn_id")
            overdue.add((process_of(manifest, bpmn_id), bpmn_id))
        state = {"markers": _markers(completed, active, overdue), "data": data}
        if not states or states[-1] != state:
            states.append(state)
        state_of[row.seq] = len(states) - 1
    return states, state_of, diverged_at

