"""The overall term of a case, and per-case step durations: case maps resolved by the case,
an overall-term row that escalates the whole case to the head, closed when the case ends."""

import datetime
import json
import shutil
from pathlib import Path

from sqlalchemy import select

from app import diagram
from app.models import AuditEvent
from app.models import db
from app.timing import calendar
from tests import walk
from tests.conftest import Api

CORRECTIONS = Path(__file__).resolve().parent.parent / "bench" / "corrections"


def test_a_case_map_gives_each_case_its_value():
    durations = "issue=15WD; reissue=3WD; duplicate=2WD"
    assert diagram.case_value(durations, "duplicate") == "2WD"
    assert diagram.case_value(durations, "reissue") == "3WD"
    assert diagram.case_value(durations, "withdrawal") is None
    assert diagram.case_value("issue=2WD; *=1WD", "duplicate") == "1WD"
    assert diagram.case_value("PT20M", "issue") == "PT20M" and diagram.case_value("", "x") is None
    assert diagram.case_of({"case_field": "kind"}, {"kind": "renewal"}) == "renewal"
    assert diagram.case_of({}, {"licence_case": "issue"}) == "issue"


def _loop_with_terms(tmp_path: Path, terms: str) -> Path:
    folder = tmp_path / "definitions"
    shutil.copytree(CORRECTIONS, folder)
    path = folder / "corrections_loop.bpmn"
    text = path.read_text(encoding="utf-8")
    marker = '<spiffworkflow:property name="start_roles" value="executor"/>'
    path.write_text(text.replace(marker, marker + f'<spiffworkflow:property name="terms" '
                                                 f'value="{terms}"/>'), encoding="utf-8")
    return folder


def _events(instance_id, kind):
    rows = db.session.scalars(select(AuditEvent).where(AuditEvent.instance_id == instance_id,
                                                       AuditEvent.type == kind))
    return [json.loads(row.payload) for row in rows]


def _started(make_app, tmp_path, clock) -> tuple:
    """An app deploying the corrections loop with a 2-working-day term, and a case of it."""
    folder = _loop_with_terms(tmp_path, "2WD")
    app = make_app(tmp_path / "app", BPMN_DIR=str(folder), FORMS_DIR=str(folder / "forms"),
                   CLOCK=clock)
    api = Api(app.test_client())
    started = api.post("executor", "/instances",
                       json={"process": "corrections_loop", "data": {"subject": "term"}}).json
    return app, api, started


def test_the_overall_term_escalates_the_case_and_ends_with_it(make_app, tmp_path, clock):
    app, api, started = _started(make_app, tmp_path, clock)
    due = calendar.deadline(clock.now(), "2WD")  # Friday 20 March 2026: Nauryz comes between
    [row] = walk.timers(app, started["id"], kind="case_term")
    assert (row.state, row.due_at, row.calendar_version) == ("waiting", due, calendar.version())
    assert walk.move_clock(app, clock, due - datetime.timedelta(seconds=1)) == 0
    assert walk.move_clock(app, clock, due) == 1
    with app.app_context():
        [overdue] = _events(started["id"], "case_overdue")
        assert (overdue["process"], overdue["notify"], overdue["lanes"]) == (
            "corrections_loop", "head", ["executor"])
    api.tokens.clear()  # the clock moved on by days: sign in again
    assert [t["instance"] for t in api.get("head", "/escalations").json] == [started["id"]]
    api.walk(started["id"], [("executor", "correct",
                              {"round": 1, "note": "done", "is_correct": True})])
    assert [row.state for row in walk.timers(app, started["id"], kind="case_term")] == ["fired"]


def test_a_case_that_ends_in_time_closes_its_term(make_app, tmp_path, clock):
    app, api, started = _started(make_app, tmp_path, clock)
    api.walk(started["id"], [("executor", "correct",
                              {"round": 1, "note": "done", "is_correct": True})])
    assert [row.state for row in walk.timers(app, started["id"], kind="case_term")] \
        == ["cancelled"]
    assert walk.move_clock(app, clock, clock.now() + datetime.timedelta(days=30)) == 0
