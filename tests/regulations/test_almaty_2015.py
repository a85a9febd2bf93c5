"""The Almaty 2015 licensing regulations (seed 004): every outcome on every intake channel.

One shared procedure (almaty_2015_office_intake, almaty_2015_state_corporation_intake,
almaty_2015_portal_intake, almaty_2015_review, almaty_2015_head_signature) is called by each
regulation's process; each regulation is driven here through the API to each of its end events on
each of its channels (decisions: docs/regulation-decisions/almaty-2015.md).
"""

import datetime

import pytest

from app import queries
from app.timing import calendar
from reference.seed import UNKNOWN_VALID_IIN
from tests import portal
from tests import walk

BIN = "150140000012"
NAME = "Shygys Survey LLP"
# process id -> whether the seed prints a PSC (State Corporation) procedure for it
REGULATIONS = {
    "bus_passenger_transport_license_almaty_2015": True,
    "cotton_warehouse_receipts_license_almaty_2015": False,
    "medical_activity_license_almaty_2015": True,
    "narcotics_psychotropics_precursors_license_almaty_2015": True,
    "pesticides_license_almaty_2015": False,
    "pharmaceutical_activity_license_almaty_2015": False,
    "scrap_metal_license_almaty_2015": False,
    "veterinary_activity_license_almaty_2015": False,
}
TERMS = {"narcotics_psychotropics_precursors_license_almaty_2015":
         "portal=15WD; state_corporation=15WD",
         "veterinary_activity_license_almaty_2015": None,
         "bus_passenger_transport_license_almaty_2015": None}
BUS = "bus_passenger_transport_license_almaty_2015"

OFFICE_INTAKE = [
    ("office", "accept_documents", {"page_count": 12, "inventory_copy_given": True}),
    ("office", "register_in_edms", {"incoming_number": "IN-2015/0001"}),
    ("executor", "enter_request", {"service_selected": True}),
    ("executor", "fill_request_form", {"page_count": 12, "documents_attached": True}),
]
# bus transport: para 8 only (office -> licensing division -> head), no GBD look-up at the office
BUS_OFFICE_INTAKE = [("office", "accept_and_register",
                      {"incoming_number": "IN-2015/0002", "inventory_copy_given": True})]
PSC_INTAKE = [("operator", "scan_and_certify", {"page_count": 12, "certified_with_eds": True})]
LICENCE = [
    ("executor", "check_compliance", {"complies": True, "conclusions": "No objections received"}),
    ("head", "sign_licence", {"confirm_signature": True}),
]
REFUSAL = [
    ("executor", "check_compliance", {"complies": False, "conclusions": "Negative conclusion",
                                      "refusal_reasons": "Negative conclusion of the department"}),
    ("head", "sign_refusal", {"confirm_signature": True}),
]
INTAKE = {"provider_office": OFFICE_INTAKE, "state_corporation": PSC_INTAKE, "portal": []}
LICENCE_END = {"provider_office": "licence_at_office", "state_corporation": "licence_via_psc",
               "portal": "licence_on_portal"}
REFUSAL_END = {"provider_office": "refusal_at_office", "state_corporation": "refusal_via_psc",
               "portal": "refusal_on_portal"}
NOT_FOUND_END = {"provider_office": "applicant_not_found_office",
                 "state_corporation": "applicant_not_found_psc"}


def _intake(process, channel):
    return BUS_OFFICE_INTAKE if process == BUS and channel == "provider_office" else INTAKE[channel]


def _channels(process):
    return ["provider_office", "portal"] + (["state_corporation"] if REGULATIONS[process] else [])


def _start(api, state_systems, process, channel, *, iin_bin=BIN, case="issue", **change):
    """Start a case through `channel` as its role; `change` fails a portal request."""
    if channel == "portal":
        data = portal.licence_application(api, state_systems.url, process, iin_bin, case,
                                          name=NAME, **change)
    else:
        data = portal.licence_request(iin_bin, case, applicant_name=NAME, channel=channel)
    return portal.start(api, process, data, portal.CHANNEL_ROLES[channel])


CASES = [(process, channel, path) for process in REGULATIONS for channel in _channels(process)
         for path in ("licence", "refusal")]


@pytest.mark.parametrize(("process", "channel", "path"), CASES)
def test_licence_and_refusal_reach_the_applicant_by_the_channel_they_came(api, state_systems,
                                                                          process, channel, path):
    instance_id = _start(api, state_systems, process, channel)
    api.walk(instance_id, _intake(process, channel) + (LICENCE if path == "licence" else REFUSAL))
    end = (LICENCE_END if path == "licence" else REFUSAL_END)[channel]
    assert walk.outcome(api, instance_id) == ("completed", end)
    data = walk.instance(api, instance_id)["data"]
    assert data["application"]["application_number"]
    if path == "licence":
        assert data["licence"]["licence_number"] and data["licence_signature"]["signed_xml"]
    else:
        assert data["refusal"]["refusal_number"] and "licence" not in data


NOT_FOUND = [(process, channel) for process in REGULATIONS for channel in _channels(process)
             if channel != "portal" and (process, channel) != (BUS, "provider_office")]


@pytest.mark.parametrize(("process", "channel"), NOT_FOUND)
def test_applicant_missing_in_gbd_is_refused_at_intake(api, state_systems, process, channel):
    instance_id = _start(api, state_systems, process, channel, iin_bin=UNKNOWN_VALID_IIN)
    if channel == "provider_office":
        api.walk(instance_id, OFFICE_INTAKE[:3])  # the office's steps 1-5 (none at the PSC)
    assert walk.outcome(api, instance_id) == ("completed", NOT_FOUND_END[channel])


PORTAL_REFUSALS = [
    ({"session": "forged-session-token"}, "authorisation_refused"),
    ({"invoice": "PEP-DEMO-UNPAID"}, "payment_missing"),
    ({"holder": "expired"}, "signature_not_confirmed"),
]


@pytest.mark.parametrize("process", list(REGULATIONS))
@pytest.mark.parametrize(("change", "end"), PORTAL_REFUSALS)
def test_portal_conditions_refuse(api, state_systems, process, change, end):
    instance_id = _start(api, state_systems, process, "portal", **change)
    assert walk.outcome(api, instance_id) == ("completed", end)


@pytest.mark.parametrize(("case", "fee_mci"), [("reissue", 1), ("duplicate", 10)])
def test_the_case_sets_the_portal_fee(api, state_systems, case, fee_mci):
    process = "pesticides_license_almaty_2015"
    invoice = portal.paid_invoice(state_systems.url, BIN, fee_mci=fee_mci)
    instance_id = _start(api, state_systems, process, "portal", case=case, invoice=invoice)
    api.walk(instance_id, LICENCE)
    assert walk.outcome(api, instance_id) == ("completed", "licence_on_portal")
    assert walk.instance(api, instance_id)["data"]["fee_mci"] == fee_mci


@pytest.mark.parametrize("process", list(REGULATIONS))
def test_the_catalogue_shows_fee_and_terms(app, process):
    with app.app_context():
        page, diagram = queries.process_page(process)
    assert page["terms"] == TERMS.get(process, "portal=15WD")
    assert page["fee_mci"] == {"issue": 10, "reissue": 1, "duplicate": 10}
    assert page["about"]["channels"].split(", ")[0] == "provider_office"
    assert f'id="{process}"' in diagram


@pytest.mark.usefixtures("kept_calendar")
def test_the_office_steps_escalate_on_the_moved_clock(clocked_app, clocked_api, clock,
                                                      state_systems):
    """Step 1 (15 min) escalates to the head on the moved clock; seconds are not timed."""
    api = clocked_api
    instance_id = _start(api, state_systems, "medical_activity_license_almaty_2015",
                         "provider_office", case="duplicate")
    task = api.ready_task("office", instance_id, "accept_documents")
    due = clock.now() + datetime.timedelta(minutes=15)
    assert walk.ready_due(api, "office", instance_id, "accept_documents") == due
    assert walk.move_clock(clocked_app, clock, due - datetime.timedelta(seconds=1)) == 0
    assert walk.move_clock(clocked_app, clock, due) == 1
    assert [t["id"] for t in api.get("head", "/escalations").json] == [task]
    api.walk(instance_id, OFFICE_INTAKE)  # the 1.5-minute step 8 is timed, seconds are not
    # step 10: no duration printed
    assert walk.ready_due(api, "executor", instance_id, "check_compliance") is None
    # the overall term of the portal and PSC tables, 15 working days, on the engine's calendar
    with clocked_app.app_context():
        assert calendar.deadline(clock.now(), "15WD") > clock.now() + datetime.timedelta(days=15)
    api.walk(instance_id, LICENCE)
    assert walk.outcome(api, instance_id) == ("completed", "licence_at_office")


@pytest.mark.usefixtures("kept_calendar")
def test_the_portal_term_of_15_working_days_escalates_on_the_moved_clock(
        clocked_app, clocked_api, clock, state_systems):
    """The 15 working days of the portal table run for a portal case, not for an office one."""
    api = clocked_api
    process = "narcotics_psychotropics_precursors_license_almaty_2015"
    at_portal = _start(api, state_systems, process, "portal")
    at_office = _start(api, state_systems, process, "provider_office")
    # from Friday 20 March 2026, Nauryz between; the regulation is silent on the day of
    # acceptance, so it counts (docs/regulation-decisions.md)
    due = calendar.deadline(clock.now(), "15WD", count_start_day=True)
    [row] = walk.timers(clocked_app, at_portal, kind="case_term")
    assert (row.state, row.due_at) == ("waiting", due)
    # the office procedure prints no overall term
    assert walk.timers(clocked_app, at_office, kind="case_term") == []
    # the office case's step deadlines fall due long before: not what this checks
    walk.move_clock(clocked_app, clock, due - datetime.timedelta(seconds=1))
    assert [r.state for r in walk.timers(clocked_app, at_portal, kind="case_term")] == ["waiting"]
    walk.move_clock(clocked_app, clock, due)
    assert [r.state for r in walk.timers(clocked_app, at_portal, kind="case_term")] == ["fired"]
    api.tokens.clear()  # weeks passed: sign in again
    assert at_portal in [t["instance"] for t in api.get("head", "/escalations").json]
    api.walk(at_portal, LICENCE)
    assert walk.outcome(api, at_portal) == ("completed", "licence_on_portal")
