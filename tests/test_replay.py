"""Replay: a case re-run from its journal reaches the recorded state after every event, and a
changed handler answer, stored BPMN or form submission shows as a divergence at its event."""

import json
import re
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy import update

from app import definitions
from app.audit import replay
from app.core import expressions
from app.core import reapply
from app.models import AuditEvent
from app.models import ProcessDefinition
from app.models import ProcessInstance
from app.models import db
from tests import portal
from tests.conftest import Api
from tests.paths import ISSUE
from tests.paths import PORTAL_ISSUE
from tests.paths import REFUSAL
from tests.paths import START
from tests.paths import TO_QUALIFICATION
from tests.tamper import tamper

EVENTS = AuditEvent.__table__
BPMN_DIR = Path(__file__).resolve().parent.parent / "bpmn"


def _replay(app, instance_id):
    with app.app_context():
        return replay.replay(app.extensions["qyzmet"], instance_id)


def _journal(app, instance_id):
    with app.app_context(), db.engine.connect() as conn:
        rows = conn.execute(select(EVENTS.c.seq, EVENTS.c.type, EVENTS.c.payload)
                            .where(EVENTS.c.instance_id == instance_id)
                            .order_by(EVENTS.c.seq)).all()
    return [(row.seq, row.type, json.loads(row.payload)) for row in rows]


def _inputs(journal):
    return [(seq, kind) for seq, kind, _ in journal if kind not in reapply.OUTPUTS]


def _applied(journal, seq):
    """Return the seq of the `service_applied` that delivered the answer journalled at `seq`."""
    job = next(p["job"] for s, _, p in journal if s == seq)
    return next(s for s, kind, p in journal if kind == "service_applied" and p["job"] == job)


def _edit_payload(app, instance_id, seq, change):
    """Rewrite one journal entry's payload in the database, as a tamperer with the rights to
    drop the append-only triggers would."""
    payload = next(p for s, _, p in _journal(app, instance_id) if s == seq)
    change(payload)
    tamper(app, update(EVENTS).where(EVENTS.c.instance_id == instance_id, EVENTS.c.seq == seq)
           .values(payload=json.dumps(payload)))


def _assert_ok(app, instance_id):
    result = _replay(app, instance_id)
    assert result == {"ok": True, "events_replayed": len(_inputs(_journal(app, instance_id))),
                      "divergence": None}
    return result


def test_finished_licence_case_replays_and_its_journal_keys_a_fresh_run(app, api):
    instance_id = api.start(START)
    api.walk(instance_id, ISSUE)
    result = _assert_ok(app, instance_id)
    journal = _journal(app, instance_id)
    applied = [p for _, kind, p in journal if kind == "service_applied"]
    assert result["events_replayed"] == 1 + len(ISSUE) + len(applied)
    started = journal[0][2]
    with app.app_context():
        version = db.session.get(ProcessDefinition, started["definition_id"])
        assert started["sha256"] == version.sha256
        assert started["fingerprint"] == definitions.fingerprint(version.sources)
        assert started["fingerprint"]["bpmn"] == version.manifest["fingerprint"]["bpmn"]
    completed = [p for _, kind, p in journal if kind == "task_completed"]
    assert [(p["bpmn_id"], p["occurrence"]) for p in completed] == [
        (bpmn_id, 1) for _, bpmn_id, _ in ISSUE]
    assert {p["process"] for p in completed} >= {"state_corporation_intake",  # tasks of fragments
                                                 "east_kazakhstan_2016_procedure"}
    calls = [p for _, kind, p in journal if kind == "service_called"]
    assert calls and all(p["occurrence"] == 1 and p["task"] for p in calls)
    # each answer is journalled before the change that applies it, with its clock value
    assert sorted(p["job"] for p in calls) == sorted(p["job"] for p in applied)
    assert all(p["clock"] for p in calls)
    # every change ends with the digest of the state it left
    digests = [p.get("state_digest") for _, _, p in journal]
    assert sum(d is not None for d in digests) == result["events_replayed"]
    assert journal[-1][1] == "instance_completed" and digests[-1]


def test_refusal_case_replays(app, api):
    instance_id = api.start(START)
    api.walk(instance_id, REFUSAL)
    assert api.get("auditor", f"/instances/{instance_id}").json["outcome"] != "licence_issued"
    _assert_ok(app, instance_id)


def test_running_case_with_a_claim_replays(app, api):
    instance_id = api.start(START)
    api.walk(instance_id, TO_QUALIFICATION[:2])
    task_id = api.ready_task("head", instance_id, "assign_executor")
    assert api.post("head", f"/tasks/{task_id}/claim").status_code == 200
    journal = _journal(app, instance_id)
    claimed = [p for _, kind, p in journal if kind == "task_claimed"]
    assert claimed == [{"task": task_id, "bpmn_id": "assign_executor"}]
    assert api.get("auditor", f"/instances/{instance_id}").json["status"] == "running"
    _assert_ok(app, instance_id)


def test_portal_case_replays_from_redacted_start_data(app, api, state_systems):
    version = portal.service_version(api)
    data = portal.application(state_systems.url, "150140000012", version=version)
    instance_id = api.start(data, user="portal")
    api.walk(instance_id, PORTAL_ISSUE)
    started = _journal(app, instance_id)[0][2]
    assert started["data"]["portal_session"]["redacted"] is True  # the secret is not replayed
    _assert_ok(app, instance_id)


def test_incident_then_retry_replays_without_calling_a_state_system(app, api, state_systems):
    instance_id = api.start(START)
    api.walk(instance_id, ISSUE[:5])
    state_systems.stop()
    api.walk(instance_id, ISSUE[5:6])
    assert api.get("auditor", f"/instances/{instance_id}").json["status"] == "incident"
    assert api.post("executor", f"/instances/{instance_id}/retry").json["status"] == "incident"
    state_systems.start()
    assert api.post("executor", f"/instances/{instance_id}/retry").json["status"] == "running"
    api.walk(instance_id, ISSUE[6:])
    journal = _journal(app, instance_id)
    assert [kind for _, kind, _ in journal].count("retried") == 2
    state_systems.stop()  # the replay answers from the record: no state system is asked
    _assert_ok(app, instance_id)


@pytest.mark.edits_the_record
def test_changed_handler_answer_diverges_at_its_event(app, api):
    instance_id = api.start(START)
    api.walk(instance_id, ISSUE)
    journal = _journal(app, instance_id)
    seq = next(s for s, kind, p in journal
               if kind == "service_called" and p["task"] == "issue_licence")

    def change(payload):
        assert isinstance(payload["result"], dict)
        payload["result"] = {**payload["result"], "licence_number": "FORGED-0001"}
    _edit_payload(app, instance_id, seq, change)
    result = _replay(app, instance_id)
    divergence = result["divergence"]
    assert result["ok"] is False
    assert divergence["seq"] == _applied(journal, seq)
    assert divergence["type"] == "service_applied"
    assert divergence["expected"] != divergence["actual"]
    assert result["events_replayed"] == len([s for s, _ in _inputs(journal)
                                             if s < divergence["seq"]])


@pytest.mark.edits_the_record
def test_changed_stored_bpmn_diverges_where_the_condition_is_used(app, api):
    instance_id = api.start(START)
    api.walk(instance_id, ISSUE)
    with app.app_context():
        row = db.session.scalar(select(ProcessInstance).where(ProcessInstance.id == instance_id))
        version = db.session.get(ProcessDefinition, row.definition_id)
        sources = dict(version.sources)
        name = next(n for n, text in sources.items() if ">qualification_met<" in text)
        swapped = (sources[name].replace(">qualification_met<", ">SWAP<")
                   .replace(">not qualification_met<", ">qualification_met<")
                   .replace(">SWAP<", ">not qualification_met<"))  # the two flows swap
        assert swapped != sources[name]
        sources[name] = swapped
        version.sources = sources
        db.session.commit()
    journal = _journal(app, instance_id)
    seq = next(s for s, kind, p in journal
               if kind == "task_completed" and p["bpmn_id"] == "check_qualification")
    divergence = _replay(app, instance_id)["divergence"]
    assert (divergence["seq"], divergence["type"]) == (seq, "task_completed")


@pytest.mark.edits_the_record
def test_changed_form_submission_diverges_at_its_event(app, api):
    instance_id = api.start(START)
    api.walk(instance_id, ISSUE)
    journal = _journal(app, instance_id)
    seq = next(s for s, kind, p in journal
               if kind == "task_completed" and p["bpmn_id"] == "register_incoming")
    _edit_payload(app, instance_id, seq,
                  lambda payload: payload["data"].update(incoming_number="IN-2026/9999"))
    result = _replay(app, instance_id)
    before = len([s for s, _ in _inputs(journal) if s < seq])
    assert (result["divergence"]["seq"], result["events_replayed"]) == (seq, before)


def test_api_replays_for_auditors_and_admins_only(app, api):
    instance_id = api.start(START)
    api.walk(instance_id, ISSUE[:2])
    for user in ("office", "operator", "head"):
        assert api.post(user, f"/instances/{instance_id}/replay").status_code == 403
    for user in ("auditor", "admin"):
        answer = api.post(user, f"/instances/{instance_id}/replay")
        assert answer.status_code == 200
        assert answer.json == {"ok": True, "divergence": None, "events_replayed": len(
            _inputs(_journal(app, instance_id)))}
    assert api.post("auditor", "/instances/no-such-case/replay").status_code == 404


@pytest.mark.edits_the_record
def test_cli_exit_codes(app, api):
    instance_id = api.start(START)
    api.walk(instance_id, ISSUE[:3])
    runner = app.test_cli_runner()
    ok = runner.invoke(args=["replay", instance_id])
    assert (ok.exit_code, ok.output.split(":")[0]) == (0, "ok")
    unknown = runner.invoke(args=["replay", "no-such-case"])
    assert unknown.exit_code == 2
    seq = next(s for s, kind, p in _journal(app, instance_id)
               if kind == "task_completed" and p["bpmn_id"] == "assign_executor")
    _edit_payload(app, instance_id, seq,
                  lambda payload: payload["data"].update(resolution="Changed afterwards"))
    diverged = runner.invoke(args=["replay", instance_id])
    lines = diverged.output.splitlines()
    assert diverged.exit_code == 1 and f"event {seq}" in lines[0]
    assert lines[1].startswith("recorded: ") and lines[2].startswith("replayed: ")
    assert lines[1][10:] != lines[2][10:]


def test_expressions_refuse_sets_and_no_diagram_uses_one():
    with pytest.raises(expressions.ExpressionError):
        expressions.evaluate("{1, 2}", {})
    assert expressions.evaluate("{'a': 1}", {}) == {"a": 1}
    pattern = re.compile(r"<bpmn:conditionExpression[^>]*>([^<]*)<")
    found = [text for path in BPMN_DIR.glob("*.bpmn")
             for text in pattern.findall(path.read_text(encoding="utf-8"))]
    assert len(found) >= 10
    for text in found:
        expressions.validate_expression(text.replace("&lt;", "<").replace("&gt;", ">")
                                        .replace("&amp;", "&").replace("&#39;", "'"))


@pytest.mark.edits_the_record
def test_loop_rounds_are_keyed_by_occurrence_and_a_changed_round_diverges(make_app, tmp_path):
    corrections = Path(__file__).resolve().parent.parent / "bench" / "corrections"
    loop_app = make_app(tmp_path / "loop", BPMN_DIR=str(corrections),
                        FORMS_DIR=str(corrections / "forms"))
    loop = Api(loop_app.test_client())
    started = loop.post("executor", "/instances",
                        json={"process": "corrections_loop", "data": {"subject": "replay"}})
    instance_id = started.json["id"]
    for number in (1, 2, 3):
        data = {"round": number, "note": f"round {number}", "is_correct": number == 3}
        loop.walk(instance_id, [("executor", "correct", data)])
    journal = _journal(loop_app, instance_id)
    rounds = [(s, p["occurrence"]) for s, kind, p in journal if kind == "task_completed"]
    assert [occurrence for _, occurrence in rounds] == [1, 2, 3]
    _assert_ok(loop_app, instance_id)
    _edit_payload(loop_app, instance_id, rounds[1][0],
                  lambda payload: payload["data"].update(is_correct=True))
    result = _replay(loop_app, instance_id)
    assert (result["ok"], result["divergence"]["seq"]) == (False, rounds[1][0])


@pytest.mark.edits_the_record
def test_a_request_other_than_recorded_diverges_and_old_journals_are_not_passed(app, api):
    instance_id = api.start(START)
    api.walk(instance_id, ISSUE[:6])
    journal = _journal(app, instance_id)
    seq = next(s for s, kind, p in journal
               if kind == "service_called" and p["task"] == "issue_licence")
    _edit_payload(app, instance_id, seq,
                  lambda payload: payload["params"].update(licence_category="II"))
    divergence = _replay(app, instance_id)["divergence"]
    assert divergence["seq"] == _applied(journal, seq)
    assert "asked otherwise than recorded" in divergence["actual"]
    for digest_seq in [s for s, _, p in journal if "state_digest" in p]:
        _edit_payload(app, instance_id, digest_seq, lambda payload: payload.pop("state_digest"))
    result = _replay(app, instance_id)
    assert (result["ok"], result["divergence"]["seq"]) == (False, 1)
    assert "no state digest" in result["divergence"]["actual"]
