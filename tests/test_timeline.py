"""The auditors' history viewer and exports: a real survey-licence case through the API, told in
plain words with its forms' labels, its diagram state at every step, its journal as JSON Lines
and CSV, and who may see any of it."""

import csv
import datetime
import io
import json
from types import SimpleNamespace

import pytest

from app import audit
from app.access import auth
from app.audit import timeline
from app.jobs import scheduler
from tests.paths import INTAKE
from tests.paths import ISSUE
from tests.paths import PASSWORD
from tests.paths import START

PROCEDURE = "east_kazakhstan_2016_procedure"
MAIN = "survey_license_east_kazakhstan_2016"
# a free-text answer that needs CSV quoting: a comma, quotes and a line break
AWKWARD = 'Staff "meet", equipment meets;\nsecond line'
AWKWARD_ISSUE = [(u, t, {**d, "findings": AWKWARD}) if t == "check_qualification" else (u, t, d)
                 for u, t, d in ISSUE]


@pytest.fixture
def issued(api):
    """A survey licence issued on the State Corporation channel: the case id."""
    instance_id = api.start(START)
    api.walk(instance_id, AWKWARD_ISSUE)
    return instance_id


def _told(app, instance_id, lang="en", user="auditor"):
    with app.app_context():
        return timeline.timeline(app.extensions["qyzmet"], auth.find_actor(user), instance_id,
                                 lang)


def _step(told, kind, element=None):
    return next(s for s in told.steps if s.type == kind and element in (None, s.element))


@pytest.mark.parametrize(("lang", "expected"), [
    ("en", ("Completed the step «Check compliance with the qualification requirements»",
            "Meets the qualification requirements", "yes", "Engineering geodetic surveys")),
    ("ru", ("Выполнил(а) шаг «Проверка соответствия квалификационным требованиям»",
            "Соответствует квалификационным требованиям", "да", "Инженерно-геодезические работы")),
    ("kk", ("«Біліктілік талаптарына сәйкестігін тексеру» қадамын орындады",
            "Біліктілік талаптарына сәйкес", "иә", "Инженерлік-геодезиялық жұмыстар")),
])
def test_steps_are_told_in_the_readers_language_with_form_labels(app, issued, lang, expected):
    sentence, met, yes, activity = expected
    told = _told(app, issued, lang)
    checked = _step(told, "task_completed", "check_qualification")
    assert (checked.actor, checked.sentence) == ("executor", sentence)
    assert (met, yes) in checked.fields
    assert AWKWARD in dict(checked.fields).values()
    licence = _step(told, "task_completed", "form_licence")
    assert activity in dict(licence.fields).values()  # the option's label, not its key
    started = told.steps[0]
    assert started.type == "instance_started" and started.actor == "operator"
    assert not any(label in {"actors", "assignments"} for s in told.steps
                   for label, _ in s.fields)


def test_state_systems_answers_are_in_the_timeline(app, issued):
    told = _told(app, issued)
    lookup = _step(told, "service_called", "lookup_applicant")
    assert lookup.sentence.startswith("GBD") or "answered the request" in lookup.sentence
    assert lookup.answer["iin_bin"] == START["applicant_iin_bin"]
    assert lookup.answer["found"] is True
    issued_licence = _step(told, "service_called", "issue_licence")
    assert issued_licence.process == PROCEDURE and issued_licence.answer


def _marks(told, step, process):
    markers = told.states[step.state]["markers"].get(process, {})
    return {name: set(markers.get(name, ())) for name in ("completed", "active", "overdue")}


def test_the_diagram_state_follows_the_token(app, issued):
    told = _told(app, issued)
    assert told.diverged_at is None
    started = _marks(told, told.steps[0], "state_corporation_intake")
    assert "lookup_applicant" in started["active"]  # waiting for GBD
    assert "state_corporation_intake" in _marks(told, told.steps[0], MAIN)["active"]
    applied = _step(told, "service_applied", "lookup_applicant")
    after_lookup = _marks(told, applied, "state_corporation_intake")
    assert "lookup_applicant" in after_lookup["completed"]
    assert "attach_documents" in after_lookup["active"]
    checked = _marks(told, _step(told, "task_completed", "check_qualification"), PROCEDURE)
    assert {"check_completeness", "check_qualification"} <= checked["completed"]
    assert "form_licence" in checked["active"] and "form_refusal" not in checked["completed"]
    main_then = _marks(told, _step(told, "task_completed", "check_qualification"), MAIN)
    assert "state_corporation_intake" in main_then["completed"]
    assert "provider_procedure" in main_then["active"]
    end = _marks(told, told.steps[-1], MAIN)
    assert end["active"] == set() and "licence_issued" in end["completed"]
    assert told.states[told.steps[-1].state]["data"]["licence_case"] == "issue"
    assert len({s.state for s in told.steps}) > 8  # the states differ step by step


def test_an_overdue_step_is_marked(clocked_app, clocked_api, clock):
    instance_id = clocked_api.start(START)
    clocked_api.walk(instance_id, INTAKE)  # the office's registration (PT20M) is now open
    clock.advance(datetime.timedelta(hours=2))
    with clocked_app.app_context():
        scheduler.fire_due(clocked_app.extensions["qyzmet"], clock.now())
    told = _told(clocked_app, instance_id)
    overdue = _step(told, "step_overdue")
    assert overdue.sentence.startswith("The deadline of «") and "head" in overdue.sentence
    marks = _marks(told, overdue, PROCEDURE)
    assert "register_incoming" in marks["overdue"] and "register_incoming" in marks["active"]
    assert _marks(told, told.steps[0], PROCEDURE)["overdue"] == set()


def _rows(records):
    return [SimpleNamespace(**{**r, "payload": r["payload"] if isinstance(r["payload"], str)
                               else audit.canonical_json(r["payload"])}) for r in records]


def test_exports_carry_the_whole_chain_and_verify_from_the_file(api, issued):
    lines = api.get("auditor", f"/instances/{issued}/export.jsonl")
    assert lines.status_code == 200 and lines.mimetype == "application/x-ndjson"
    assert "attachment" in lines.headers["Content-Disposition"]
    records = [json.loads(line) for line in lines.get_data(as_text=True).splitlines()]
    history = api.get("auditor", f"/instances/{issued}/history?limit=500").json
    assert [r["seq"] for r in records] == [e["seq"] for e in history] == list(
        range(1, len(history) + 1))
    assert [r["hash"] for r in records] == [e["hash"] for e in history]
    assert audit.verify(_rows(records)) is None  # the chain recomputes from the file alone
    table = api.get("auditor", f"/instances/{issued}/export.csv")
    assert table.status_code == 200 and table.mimetype == "text/csv"
    parsed = list(csv.DictReader(io.StringIO(table.get_data(as_text=True), newline="")))
    assert [r["hash"] for r in parsed] == [r["hash"] for r in records]
    assert [json.loads(r["payload"]) for r in parsed] == [r["payload"] for r in records]
    answered = next(json.loads(r["payload"]) for r in parsed if r["type"] == "task_completed"
                    and json.loads(r["payload"])["bpmn_id"] == "check_qualification")
    assert answered["data"]["findings"] == AWKWARD
    assert '\\""meet\\""' in table.get_data(as_text=True)  # JSON's \" doubled by CSV quoting
    assert audit.verify(_rows([{**r, "seq": int(r["seq"])} for r in parsed])) is None
    tampered = [dict(r) for r in records]
    tampered[3]["actor"] = "someone"
    assert audit.verify(_rows(tampered)) == 4


def _login(client, username):
    import re  # noqa: PLC0415 - only the web sign-in needs it
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    answer = client.post("/login", data={"username": username, "password": PASSWORD,
                                         "csrf_token": token})
    assert answer.status_code == 302


@pytest.mark.parametrize(("user", "status"), [
    ("auditor", 200), ("admin", 200), ("operator", 200), ("analyst", 403), ("portal", 404)])
def test_who_may_read_the_history_and_exports(app, api, issued, user, status):
    for kind in ("jsonl", "csv"):
        assert api.get(user, f"/instances/{issued}/export.{kind}").status_code == status
    client = app.test_client()
    _login(client, user)
    for page in ("history", "report", "export.csv", f"diagram/{PROCEDURE}.bpmn"):
        assert client.get(f"/instances/{issued}/{page}").status_code == status, page


def test_history_page_diagrams_and_report(app, issued):
    client = app.test_client()
    _login(client, "auditor")
    page = client.get(f"/instances/{issued}/history").get_data(as_text=True)
    assert "Completed the step «Check compliance with the qualification requirements»" in page
    assert 'id="timeline-data"' in page and "history.js" in page
    diagram = client.get(f"/instances/{issued}/diagram/{PROCEDURE}.bpmn")
    assert diagram.mimetype == "application/xml"
    assert 'id="check_qualification"' in diagram.get_data(as_text=True)
    assert client.get(f"/instances/{issued}/diagram/no_such_process.bpmn").status_code == 404
    assert client.get(f"/instances/{issued}/export.pdf").status_code == 404
    report = client.get(f"/instances/{issued}/report").get_data(as_text=True)
    assert "hash chain verified" in report
    assert "not yet covered by a checkpoint" in report or "covers entries up to" in report
    assert "Completed the step" in report and "@media print" not in report  # in the stylesheet
    instance_page = client.get(f"/instances/{issued}").get_data(as_text=True)
    assert f"/instances/{issued}/history" in instance_page
