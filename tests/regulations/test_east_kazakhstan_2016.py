"""East Kazakhstan 2016 (resolution No 242, four licences): every end event and every sequence
flow of the four regulations and of their fragments (State Corporation and portal intake, the
provider's actions 1-7, delivery through each channel), through the API on both channels; the
per-case terms and the step deadlines on a moved clock."""

import datetime
from pathlib import Path

import pytest

from app.diagram import read_processes
from app.timing import calendar
from tests import portal
from tests import walk
from tests.conftest import CLOCK_START
from tests.paths import DOCUMENTS_REFUSED
from tests.paths import ISSUE
from tests.paths import PORTAL_ISSUE
from tests.paths import REFUSAL
from tests.paths import TO_QUALIFICATION
from tests.paths import UNKNOWN_IIN

REGULATIONS = ["survey_license_east_kazakhstan_2016",
               "construction_installation_license_east_kazakhstan_2016",
               "design_license_east_kazakhstan_2016",
               "shareholder_funded_housing_construction_license_east_kazakhstan_2016"]
CASES = ["issue", "reissue_reorganisation", "reissue_category", "reissue_change", "duplicate"]
APPLICANT = "150140000012"
# a portal request whose documents do not conform: no State Corporation receipt, a reasoned refusal
PORTAL_DOCUMENTS_REFUSED = [
    ("head", "assign_executor", {"executor": "executor", "resolution": "Check and prepare"}),
    ("executor", "check_completeness", {"documents_complete": False,
                                        "completeness_note": "No staff list"}),
    ("executor", "form_refusal",
     {"refusal_reasons": "Documents of item 9 of the Standard missing"}),
]
PORTAL_QUALIFICATION_REFUSED = [step for step in REFUSAL[2:] if step[1] != "send_result"]
BPMN = Path(__file__).resolve().parents[2] / "bpmn"


def _terms(key) -> dict[str, str]:
    """The overall terms per case, as the regulation's diagram carries them."""
    text = read_processes(BPMN / f"{key}.bpmn")[key]["terms"]
    return dict(part.strip().split("=") for part in text.split(";"))


def _at_the_state_corporation(api, key, iin_bin=APPLICANT, case="issue"):
    return portal.start(api, key, portal.licence_request(iin_bin, case), "operator")


def _at_the_portal(api, base, key, **change):
    return portal.start(api, key, portal.licence_application(api, base, key, APPLICANT, **change),
                        "portal")


@pytest.mark.parametrize("key", REGULATIONS)
@pytest.mark.parametrize(("steps", "outcome", "delivered"), [
    (ISSUE, "licence_issued", "state_corporation"),
    (REFUSAL, "reasoned_refusal", "state_corporation"),
    (DOCUMENTS_REFUSED, "documents_not_accepted", "state_corporation"),
])
def test_state_corporation_paths(api, key, steps, outcome, delivered):
    instance_id = _at_the_state_corporation(api, key)
    api.walk(instance_id, steps)
    instance = walk.instance(api, instance_id)
    assert (instance["status"], instance["outcome"]) == ("completed", outcome)
    assert instance["data"]["delivered_via"] == delivered
    assert all(t["state"] != "ready" for t in instance["tasks"])
    if outcome == "licence_issued":
        assert instance["data"]["application"]["application_number"]
        assert instance["data"]["licence_signature"]["signer"] == "head"


@pytest.mark.parametrize("key", REGULATIONS)
def test_unknown_applicant_is_refused_at_the_state_corporation(api, key):
    instance = walk.instance(api, _at_the_state_corporation(api, key, UNKNOWN_IIN))
    assert (instance["status"], instance["outcome"]) == ("completed", "applicant_not_found")
    assert instance["data"]["intake_refusal"]["applicant_record"]["found"] is False


@pytest.mark.parametrize("key", REGULATIONS)
@pytest.mark.parametrize(("steps", "outcome"), [
    (PORTAL_ISSUE, "licence_issued"),
    (PORTAL_DOCUMENTS_REFUSED, "reasoned_refusal"),
    (PORTAL_QUALIFICATION_REFUSED, "reasoned_refusal"),
])
def test_portal_paths_end_in_the_personal_cabinet(api, state_systems, key, steps, outcome):
    instance_id = _at_the_portal(api, state_systems.url, key)
    ready = api.get("head", f"/tasks?instance={instance_id}&state=ready").json
    assert [t["bpmn_id"] for t in ready] == ["assign_executor"]  # no office receipt (action 1)
    api.walk(instance_id, steps)
    instance = walk.instance(api, instance_id)
    assert (instance["status"], instance["outcome"]) == ("completed", outcome)
    assert instance["data"]["delivered_via"] == "personal_cabinet"
    if outcome == "licence_issued":
        assert instance["data"]["licence"]["licence_number"]


@pytest.mark.parametrize("key", REGULATIONS)
@pytest.mark.parametrize(("change", "outcome", "check"), [
    ({"session": "forged-session-token"}, "authorisation_refused", "portal_auth"),
    ({"invoice": "PEP-DEMO-UNPAID"}, "payment_missing", "payment"),
    ({"holder": "expired"}, "signature_not_confirmed", "request_signature"),
])
def test_portal_conditions_refuse_where_the_request_came_from(  # noqa: PLR0917
        api, state_systems, key, change, outcome, check):
    instance = walk.instance(api, _at_the_portal(api, state_systems.url, key, **change))
    assert (instance["status"], instance["outcome"]) == ("completed", outcome)
    refusal = instance["data"]["intake_refusal"]
    assert refusal["intake_outcome"] == outcome
    assert refusal[check]["reason"]


@pytest.mark.parametrize("key", REGULATIONS)
def test_every_case_has_its_fee_and_terms(api, key):
    process = api.get("operator", f"/processes/{key}").json
    schema = process["start_form"]["schema"]
    assert schema["properties"]["licence_case"]["enum"] == CASES
    assert _terms(key) == {"issue": "15WD", "reissue_reorganisation": "15WD",
                     "reissue_category": "15WD", "reissue_change": "3WD", "duplicate": "2WD"}
    for case in CASES:
        data = walk.instance(api, _at_the_state_corporation(api, key, case=case))["data"]
        assert data["fee_mci"] == (10 if case in ("issue", "duplicate") else 1)


@pytest.mark.usefixtures("kept_calendar")
def test_the_terms_and_step_deadlines_on_a_moved_clock(clocked_app, clocked_api, clock):
    """A duplicate (2 working days, acceptance day not counted) accepted on Friday 20 March 2026:
    the Nauryz holidays (21-25 March) move its term to the end of Friday 27 March; action 3
    (2 working days) is due then too and escalates to the head when the clock passes it."""
    api = clocked_api
    key = REGULATIONS[0]
    instance_id = _at_the_state_corporation(api, key, case="duplicate")
    api.walk(instance_id, TO_QUALIFICATION[:3])
    term_due = calendar.deadline(CLOCK_START, _terms(key)["duplicate"])
    step_due = walk.ready_due(api, "executor", instance_id, "check_completeness")
    assert term_due.date() == datetime.date(2026, 3, 27)
    assert step_due <= term_due
    assert walk.move_clock(clocked_app, clock, step_due - datetime.timedelta(seconds=1)) == 0
    assert walk.move_clock(clocked_app, clock, step_due) >= 1
    fired = walk.timers(clocked_app, instance_id, state="fired")
    [term] = walk.timers(clocked_app, instance_id, kind="case_term")
    # the overall term (the case) and action 3 (the step) are both due at the end of 27 March
    assert term.due_at == term_due and term.state == "fired"
    assert sorted((t.kind, t.bpmn_id) for t in fired) == [("case_term", key),
                                                          ("step_deadline", "check_completeness")]
    api.tokens.clear()
    assert "check_completeness" in [t["bpmn_id"] for t in api.get("head", "/escalations").json]
    # the case goes on to its result within the moved clock
    api.walk(instance_id, [("executor", "check_completeness", {"documents_complete": True})]
             + ISSUE[len(TO_QUALIFICATION):])
    assert walk.outcome(api, instance_id)[1] == "licence_issued"
