"""The Almaty 2015 licensing regulations (seed 004): every outcome on every intake channel.

One shared procedure (almaty_2015_office_intake, almaty_2015_state_corporation_intake,
almaty_2015_portal_intake, almaty_2015_review, almaty_2015_head_signature) is called by each
regulation's process; each regulation is driven here through the API to each of its end events on
each of its channels (decisions: docs/regulation-decisions/almaty-2015.md).
"""

import datetime

import pytest
from sqlalchemy import select

from app import queries
from app.jobs import scheduler
from app.models import Timer
from app.models import db
from app.timing import calendar
from reference.seed import UNKNOWN_VALID_IIN
from tests import portal
from tests.conftest import Api

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
STARTER = {"provider_office": "office", "state_corporation": "operator", "portal": "portal"}
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


def _start(api, process, data, user):
    answer = api.post(user, "/instances", json={"process": process, "data": data})
    assert answer.status_code == 201, answer.json
    return answer.json["id"]


def _outcome(api, instance_id):
    instance = api.get("auditor", f"/instances/{instance_id}").json
    return instance["status"], instance["outcome"]


def _data(api, state_systems, process, channel, iin_bin=BIN, **change):
    if channel != "portal":
        return {"applicant_iin_bin": iin_bin, "applicant_name": NAME, "licence_case": "issue",
                "channel": channel}
    version = portal.service_version(api, process)
    data = portal.application(state_systems.url, iin_bin, version=version, key=process, **change)
    return {**data, "applicant_name": NAME}


CASES = [(process, channel, path) for process in REGULATIONS for channel in _channels(process)
         for path in ("licence", "refusal")]


@pytest.mark.parametrize(("process", "channel", "path"), CASES)
def test_licence_and_refusal_reach_the_applicant_by_the_channel_they_came(api, state_systems,
                                                                          process, channel, path):
    instance_id = _start(api, process, _data(api, state_systems, process, channel),
                         STARTER[channel])
    api.walk(instance_id, _intake(process, channel) + (LICENCE if path == "licence" else REFUSAL))
    end = (LICENCE_END if path == "licence" else REFUSAL_END)[channel]
    assert _outcome(api, instance_id) == ("completed", end)
    data = api.get("auditor", f"/instances/{instance_id}").json["data"]
    assert data["application"]["application_number"]
    if path == "licence":
        assert data["licence"]["licence_number"] and data["licence_signature"]["signed_xml"]
    else:
        assert data["refusal"]["refusal_number"] and "licence" not in data


NOT_FOUND = [(process, channel) for process in REGULATIONS for channel in _channels(process)
             if channel != "portal" and (process, channel) != (BUS, "provider_office")]


@pytest.mark.parametrize(("process", "channel"), NOT_FOUND)
def test_applicant_missing_in_gbd_is_refused_at_intake(api, state_systems, process, channel):
    data = _data(api, state_systems, process, channel, iin_bin=UNKNOWN_VALID_IIN)
    instance_id = _start(api, process, data, STARTER[channel])
    if channel == "provider_office":
        api.walk(instance_id, OFFICE_INTAKE[:3])  # the office's steps 1-5 (none at the PSC)
    assert _outcome(api, instance_id) == ("completed", NOT_FOUND_END[channel])


PORTAL_REFUSALS = [
    ({"session": "forged-session-token"}, "authorisation_refused"),
    ({"invoice": "PEP-DEMO-UNPAID"}, "payment_missing"),
    ({"holder": "expired"}, "signature_not_confirmed"),
]


@pytest.mark.parametrize("process", list(REGULATIONS))
@pytest.mark.parametrize(("change", "end"), PORTAL_REFUSALS)
def test_portal_conditions_refuse(api, state_systems, process, change, end):
    data = _data(api, state_systems, process, "portal", **change)
    instance_id = _start(api, process, data, "portal")
    assert _outcome(api, instance_id) == ("completed", end)


@pytest.mark.parametrize(("case", "fee_mci"), [("reissue", 1), ("duplicate", 10)])
def test_the_case_sets_the_portal_fee(api, state_systems, case, fee_mci):
    process = "pesticides_license_almaty_2015"
    invoice = portal.paid_invoice(state_systems.url, BIN, fee_mci=fee_mci)
    data = _data(api, state_systems, process, "portal", case=case, invoice=invoice)
    instance_id = _start(api, process, data, "portal")
    api.walk(instance_id, LICENCE)
    assert _outcome(api, instance_id) == ("completed", "licence_on_portal")
    assert api.get("auditor", f"/instances/{instance_id}").json["data"]["fee_mci"] == fee_mci


@pytest.mark.parametrize("process", list(REGULATIONS))
def test_the_catalogue_shows_fee_and_terms(app, process):
    with app.app_context():
        page, diagram = queries.process_page(process)
    assert page["terms"] == TERMS.get(process, "portal=15WD")
    assert page["fee_mci"] == {"issue": 10, "reissue": 1, "duplicate": 10}
    assert page["about"]["channels"].split(", ")[0] == "provider_office"
    assert f'id="{process}"' in diagram


def test_the_office_steps_escalate_on_the_moved_clock(clocked_app, clock, monkeypatch, tmp_path):
    """Step 1 (15 min) escalates to the head on the moved clock; seconds are not timed."""
    monkeypatch.setattr(calendar, "ADMIN_DATA", tmp_path / "no-admin-calendar.json")
    api = Api(clocked_app.test_client())
    process = "medical_activity_license_almaty_2015"
    data = {"applicant_iin_bin": BIN, "applicant_name": NAME, "licence_case": "duplicate",
            "channel": "provider_office"}
    instance_id = _start(api, process, data, "office")
    task = api.ready_task("office", instance_id, "accept_documents")
    [row] = [t for t in api.get("auditor", f"/instances/{instance_id}").json["tasks"]
             if t["id"] == task]
    due = clock.now() + datetime.timedelta(minutes=15)
    assert datetime.datetime.fromisoformat(row["due_at"]).replace(tzinfo=datetime.UTC) == due

    def fire():
        with clocked_app.app_context():
            return scheduler.fire_due(clocked_app.extensions["qyzmet"], clock.now())

    clock.set(due - datetime.timedelta(seconds=1))
    assert fire() == 0
    clock.set(due)
    assert fire() == 1
    assert [t["id"] for t in api.get("head", "/escalations").json] == [task]
    api.walk(instance_id, OFFICE_INTAKE)  # the 1.5-minute step 8 is timed, seconds are not
    task = api.ready_task("executor", instance_id, "check_compliance")
    [row] = [t for t in api.get("auditor", f"/instances/{instance_id}").json["tasks"]
             if t["id"] == task]
    assert row["due_at"] is None  # step 10: no duration printed
    # the overall term of the portal and PSC tables, 15 working days, on the engine's calendar
    with clocked_app.app_context():
        assert calendar.deadline(clock.now(), "15WD") > clock.now() + datetime.timedelta(days=15)
    api.walk(instance_id, LICENCE)
    assert _outcome(api, instance_id) == ("completed", "licence_at_office")


def _case_terms(instance_id):
    db.session.expire_all()
    return list(db.session.scalars(select(Timer).where(Timer.instance_id == instance_id,
                                                       Timer.kind == "case_term")))


def test_the_portal_term_of_15_working_days_escalates_on_the_moved_clock(
        clocked_app, clock, state_systems, monkeypatch, tmp_path):
    """The 15 working days of the portal table run for a portal case, not for an office one."""
    monkeypatch.setattr(calendar, "ADMIN_DATA", tmp_path / "no-admin-calendar.json")
    api = Api(clocked_app.test_client())
    process = "narcotics_psychotropics_precursors_license_almaty_2015"
    at_portal = _start(api, process, _data(api, state_systems, process, "portal"), "portal")
    office = {"applicant_iin_bin": BIN, "applicant_name": NAME, "licence_case": "issue",
              "channel": "provider_office"}
    at_office = _start(api, process, office, "office")
    due = calendar.deadline(clock.now(), "15WD")  # from Friday 20 March 2026, Nauryz between
    with clocked_app.app_context():
        [row] = _case_terms(at_portal)
        assert (row.state, row.due_at) == ("waiting", due)
        assert _case_terms(at_office) == []  # the office procedure prints no overall term

    def fire():
        with clocked_app.app_context():
            return scheduler.fire_due(clocked_app.extensions["qyzmet"], clock.now())

    clock.set(due - datetime.timedelta(seconds=1))
    fire()  # the office case's step deadlines fall due long before: not what this checks
    with clocked_app.app_context():
        assert [r.state for r in _case_terms(at_portal)] == ["waiting"]
    clock.set(due)
    fire()
    with clocked_app.app_context():
        assert [r.state for r in _case_terms(at_portal)] == ["fired"]
    api.tokens.clear()  # weeks passed: sign in again
    assert at_portal in [t["instance"] for t in api.get("head", "/escalations").json]
    api.walk(at_portal, LICENCE)
    assert _outcome(api, at_portal) == ("completed", "licence_on_portal")
