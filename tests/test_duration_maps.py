"""Duration maps keyed by any start field: "channel:portal=1WD; channel:provider_office=2WD".

Plain keys are the case (the process's `case_field`), `<field>:<value>` keys a start field's
value; the first key that applies wins and "*" applies when none does. The expert attestation's
step 1 (seed 000 l.1885-1892) is 2 WD for a paper application at the office and, registered
"on the day of receipt" (step 18, l.1996-1998), 1 WD for a portal request.
"""

import datetime

import pytest

from app import diagram
from app.timing import calendar
from tests import portal
from tests import walk
from tests.conftest import Api
from tests.test_acceptance_day import BPMN
from tests.test_acceptance_day import EXPERT
from tests.test_acceptance_day import EXPERT_AT_OFFICE
from tests.test_acceptance_day import OFFICE_INTAKE
from tests.test_acceptance_day import app_on_clock  # noqa: F401 - the fixture
from tests.test_acceptance_day import end_of

STEP_1 = "channel:provider_office=2WD; channel:portal=1WD"


@pytest.mark.parametrize(("text", "case", "data", "value"), [
    (STEP_1, "issue", {"channel": "portal"}, "1WD"),
    (STEP_1, None, {"channel": "provider_office"}, "2WD"),
    (STEP_1, None, {"channel": "state_corporation"}, None),
    (STEP_1, None, {}, None),
    (STEP_1 + "; *=3WD", None, {"channel": "state_corporation"}, "3WD"),
    ("*=3WD; channel:portal=1WD", None, {"channel": "portal"}, "1WD"),  # "*" only when none
    ("duplicate=1WD; channel:portal=5WD", "duplicate", {"channel": "portal"}, "1WD"),  # first
    ("channel:portal=5WD; duplicate=1WD", "duplicate", {"channel": "portal"}, "5WD"),
    ("issue=2WD; duplicate=1WD", "duplicate", {"channel": "portal"}, "1WD"),  # as before
    ("licence_case:duplicate=1WD; *=2WD", None, {"licence_case": "duplicate"}, "1WD"),
    ("attempt:2=1WD", None, {"attempt": 2}, "1WD"),  # a value compares as its text
    ("PT20M", "issue", {"channel": "portal"}, "PT20M"),
])
def test_a_key_names_the_case_or_a_start_field(text, case, data, value):
    assert diagram.case_value(text, case, data) == value


def test_the_expert_attestation_step_1_is_drawn_with_a_channel_map():
    [manifest] = diagram.read_processes(BPMN / f"{EXPERT}.bpmn").values()
    assert manifest["tasks"]["register_request"]["duration"] == STEP_1


def test_step_1_takes_one_working_day_on_the_portal(app_on_clock, state_systems):  # noqa: F811
    """A portal request received on Friday 20 March 2026 is registered that day (1 WD, the day
    of acceptance counted); at the office the paper application has 2 WD, to 26 March."""
    api = Api(app_on_clock.test_client())
    signed = {key: value for key, value in EXPERT_AT_OFFICE.items() if key != "channel"}
    data = portal.signed_application(api, state_systems.url, EXPERT, signed,
                                     unsigned={"channel": "portal"})
    at_portal = portal.start(api, EXPERT, data, "portal")
    at_office = portal.start(api, EXPERT, EXPERT_AT_OFFICE, "office")
    api.walk(at_office, OFFICE_INTAKE)
    by_portal = walk.ready_due(api, "executor", at_portal, "register_request")
    by_office = walk.ready_due(api, "executor", at_office, "register_request")
    assert by_portal == end_of(3, 20, datetime.UTC)
    assert by_office == end_of(3, 26, datetime.UTC)
    [row] = walk.timers(app_on_clock, at_portal, kind="step_deadline", state="waiting")
    assert row.calendar_version == calendar.version()  # a working-day deadline
