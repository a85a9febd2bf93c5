"""The day of acceptance: counted in a working-day term unless the regulation says it is not.

The East Kazakhstan 2016 regulations say "the day of acceptance of the application and documents
is not counted in the term" (seed 001 l.79-83, 305-309, 518-522, 739-743): their terms and step
deadlines run from the next working day (`acceptance_day=not_counted`). The other 17 regulations
are silent: the day a case or step begins is its first working day (`acceptance_day=counted`).
See docs/regulation-decisions.md.
"""

import datetime
from pathlib import Path

import pytest

from app import diagram
from app.timing import calendar
from tests import portal
from tests import walk
from tests.conftest import CLOCK_START
from tests.conftest import Api
from tests.paths import TO_QUALIFICATION

ALMATY = datetime.timezone(datetime.timedelta(hours=5))
BPMN = Path(__file__).resolve().parent.parent / "bpmn"
SAYS_NOT_COUNTED = {"survey_license_east_kazakhstan_2016",
                    "construction_installation_license_east_kazakhstan_2016",
                    "design_license_east_kazakhstan_2016",
                    "shareholder_funded_housing_construction_license_east_kazakhstan_2016"}
EXPERT = "expert_attestation_almaty_2017"
EXPERT_AT_OFFICE = {"applicant_iin_bin": "900115300003", "applicant_name": "Ivanov Ivan",
                    "attestation_field": "expert_works", "channel": "provider_office"}
OFFICE_INTAKE = [("office", "accept_documents", {"office_documents_complete": True,
                                                 "office_document_count": 6,
                                                 "office_received_from": "applicant"})]


def at(month, day, hour=10):
    return datetime.datetime(2026, month, day, hour, tzinfo=ALMATY)


def end_of(month, day, tz=ALMATY):
    return datetime.datetime(2026, month, day, 18, tzinfo=tz)


# --- the calendar --------------------------------------------------------------------------

@pytest.mark.parametrize(("start", "duration", "not_counted", "counted"), [
    (at(3, 20), "1WD", end_of(3, 26), end_of(3, 20)),   # Friday: Nauryz 21-25 March off
    (at(3, 20), "2WD", end_of(3, 27), end_of(3, 26)),
    (at(3, 21), "1WD", end_of(3, 26), end_of(3, 26)),   # Saturday: 26 March is day 1 either way
    (at(3, 21), "2WD", end_of(3, 27), end_of(3, 27)),
    (at(3, 20, 19), "1WD", end_of(3, 26), end_of(3, 26)),  # after the day's end: day over
    (at(11, 23), "10WD", end_of(12, 7), end_of(12, 4)),  # Monday 23 November
])
def test_both_readings_of_a_working_day_term(start, duration, not_counted, counted):
    assert calendar.deadline(start, duration) == not_counted  # today's default
    assert calendar.deadline(start, duration, count_start_day=False) == not_counted
    assert calendar.deadline(start, duration, count_start_day=True) == counted


@pytest.mark.parametrize("day", range(1, 32))
def test_counting_the_start_day_is_one_working_day_less_when_it_is_worked(day):
    start = at(3, day, 9)
    counted = calendar.deadline(start, "5WD", count_start_day=True)
    if calendar.is_working_day(start.date()):
        assert counted == calendar.deadline(start, "4WD")
    else:
        assert counted == calendar.deadline(start, "5WD")


def test_clock_durations_ignore_the_reading():
    for duration in ("PT20M", "P3D"):
        assert (calendar.deadline(at(3, 20), duration, count_start_day=True)
                == calendar.deadline(at(3, 20), duration))


# --- the regulations -----------------------------------------------------------------------

def _regulations() -> dict[str, dict]:
    found = {}
    for path in sorted(BPMN.glob("*.bpmn")):
        found.update({key: m for key, m in diagram.read_processes(path).items()
                      if m["is_regulation"]})
    return found


def test_every_regulation_states_its_reading_as_the_seed_does():
    regulations = _regulations()
    assert len(regulations) == 21
    readings = {key: m["acceptance_day"] for key, m in regulations.items()}
    assert {key for key, value in readings.items() if value == diagram.NOT_COUNTED} == \
        SAYS_NOT_COUNTED
    assert {value for key, value in readings.items() if key not in SAYS_NOT_COUNTED} == \
        {diagram.COUNTED}
    assert not diagram.counts_acceptance_day(regulations[sorted(SAYS_NOT_COUNTED)[0]])
    assert diagram.counts_acceptance_day(regulations[EXPERT])
    assert not diagram.counts_acceptance_day({})  # no property: the engine's default


def test_an_unknown_reading_is_refused(tmp_path):
    text = (BPMN / f"{EXPERT}.bpmn").read_text(encoding="utf-8")
    path = tmp_path / f"{EXPERT}.bpmn"
    path.write_text(text.replace('name="acceptance_day" value="counted"',
                                 'name="acceptance_day" value="sometimes"'), encoding="utf-8")
    with pytest.raises(diagram.DiagramError, match="acceptance_day 'sometimes'"):
        diagram.read_processes(path)


# --- through the API, on the moved clock ---------------------------------------------------

@pytest.fixture
def app_on_clock(make_app, tmp_path, clock, monkeypatch):
    """An app on the manual clock, with the kept calendar only (no admin file)."""
    monkeypatch.setattr(calendar, "ADMIN_DATA", tmp_path / "no-admin-calendar.json")
    return make_app(tmp_path / "app", CLOCK=clock)


def _case_term_due(app, instance_id):
    [row] = walk.timers(app, instance_id, kind="case_term")
    return row.due_at if row.due_at.tzinfo else row.due_at.replace(tzinfo=datetime.UTC)


def test_east_kazakhstan_counts_from_the_next_working_day(app_on_clock):
    """A duplicate (2 WD) accepted on Friday 20 March 2026: due at the end of 27 March (the
    day of acceptance not counted, Nauryz 21-25 March off); action 3 (2 WD) is due then too."""
    api = Api(app_on_clock.test_client())
    key = "survey_license_east_kazakhstan_2016"
    instance_id = portal.start(api, key, portal.licence_request("150140000012", "duplicate"),
                               "operator")
    assert _case_term_due(app_on_clock, instance_id) == end_of(3, 27, datetime.UTC)
    api.walk(instance_id, TO_QUALIFICATION[:3])  # to action 3, the completeness check
    assert walk.ready_due(api, "executor", instance_id, "check_completeness") == \
        end_of(3, 27, datetime.UTC)


def test_a_silent_regulation_counts_the_day_of_acceptance(app_on_clock):
    """Expert attestation (para 5, 30 WD, silent on the day of acceptance): a case accepted at
    the office on Friday 20 March 2026 counts that Friday as day 1 of its term and of step 1."""
    api = Api(app_on_clock.test_client())
    instance_id = portal.start(api, EXPERT, EXPERT_AT_OFFICE, "office")
    term = calendar.deadline(CLOCK_START, "30WD", count_start_day=True)
    assert term == calendar.deadline(CLOCK_START, "29WD")  # one working day sooner
    assert _case_term_due(app_on_clock, instance_id) == term == end_of(5, 6, datetime.UTC)
    api.walk(instance_id, OFFICE_INTAKE)
    assert walk.ready_due(api, "executor", instance_id, "register_request") == \
        end_of(3, 26, datetime.UTC)  # 2 WD: Friday 20 and Thursday 26 March


def test_accepted_on_a_day_off_the_next_working_day_is_day_one(app_on_clock, clock):
    clock.set(datetime.datetime(2026, 3, 21, 9, tzinfo=ALMATY))  # Saturday, then Nauryz
    api = Api(app_on_clock.test_client())
    instance_id = portal.start(api, EXPERT, EXPERT_AT_OFFICE, "office")
    assert _case_term_due(app_on_clock, instance_id) == \
        calendar.deadline(clock.now(), "30WD")  # both readings agree on a day off
    api.walk(instance_id, OFFICE_INTAKE)
    assert walk.ready_due(api, "executor", instance_id, "register_request") == \
        end_of(3, 27, datetime.UTC)  # 26 and 27 March
