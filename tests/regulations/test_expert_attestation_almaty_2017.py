"""Expert attestation (Almaty 2017): every end event and every sequence flow of the regulation and
of its two intake fragments, through the API, on both intake channels (the provider's office and
the portal); the 30 working-day term on a moved clock."""

import datetime

import pytest

from app import definitions
from app.timing import calendar
from tests import portal
from tests import walk
from tests.conftest import CLOCK_START

KEY = "expert_attestation_almaty_2017"
IIN = "900115300003"
APPLICANT = {"applicant_iin_bin": IIN, "applicant_name": "Ivanov Ivan Ivanovich",
             "attestation_field": "expert_works"}
OFFICE_START = {**APPLICANT, "channel": "provider_office"}


def _office_intake(complete=True):
    return [("office", "accept_documents", {"office_documents_complete": complete,
                                            "office_document_count": 6,
                                            "office_received_from": "applicant"})]


# steps 1-7: registration to the head's review of compliance with the Rules
def _to_admission(compliant=True):
    return [
        ("executor", "register_request", {"incoming_number": "IN-2026/0001"}),
        ("executor", "form_applicants_list", {"list_number": "L-2026/01"}),
        ("executor", "prepare_reference", {"reference_summary": "Higher education, 12 years",
                                           "experience_years": 12}),
        ("head", "sign_reference", {"confirmed": True}),
        ("executor", "attach_to_request", {"scans_attached": True}),
        ("executor", "prepare_materials_list", {"materials": "Application, diploma, Reference"}),
        ("head", "review_compliance", {"meets_requirements": compliant,
                                       "findings": "Checked against the Rules"}),
        ("executor", "prepare_admission_order", {"order_number": "45-Zh",
                                                 "testing_date": "2026-04-20"}),
        ("executor", "notify_admission", {"notified": True}),
    ]


def _testing(passed=True):
    return [
        ("executor", "conduct_testing", {"testing_passed": passed, "score": 42 if passed else 20}),
        ("executor", "draw_testing_act", {"act_number": "A-2026/07"}),
        ("executor", "prepare_attestation_order", {"draft_order_number": "52-Zh"}),
        ("head", "sign_attestation_order", {"confirmed": True}),
    ]


RESULT = [
    ("executor", "form_result", {"result_summary": "Result under order 52-Zh"}),
    ("head", "sign_result", {"confirm_signature": True}),
]
PAPER_REFUSAL = [
    ("executor", "send_paper_refusal", {"refusal_reasons": "Experience does not meet the Rules"}),
    ("head", "sign_paper_refusal", {"confirmed": True}),
    ("office", "hand_over_paper_refusal", {"handed_over": True}),
]


def _start(api, data, user):
    return portal.start(api, KEY, data, user)


def _portal_start(api, base, **change):
    """A portal request signed as the portal does (processes 3, 4, 6), free of charge."""
    return portal.signed_application(api, base, KEY, APPLICANT, unsigned={"channel": "portal"},
                                     **change)


# --- provider's office -------------------------------------------------------------------

@pytest.mark.parametrize(("steps", "outcome"), [
    (_office_intake(False), "documents_not_accepted"),
    (_office_intake() + _to_admission() + _testing() + RESULT
     + [("office", "hand_over_attestation", {"handed_over": True})],
     "attestation_issued_at_office"),
    (_office_intake() + _to_admission() + _testing(passed=False) + RESULT
     + [("office", "hand_over_refusal", {"handed_over": True})], "refusal_handed_over"),
    (_office_intake() + _to_admission(compliant=False) + PAPER_REFUSAL,
     "admission_refused_on_paper"),
], ids=["incomplete", "attestation", "testing_failed", "not_admitted"])
def test_office_applications(api, steps, outcome):
    instance_id = _start(api, OFFICE_START, "office")
    api.walk(instance_id, steps)
    assert walk.outcome(api, instance_id) == ("completed", outcome)
    data = walk.instance(api, instance_id)["data"]
    if outcome == "attestation_issued_at_office":
        assert data["attestation"]["licence_number"]
        assert data["attestation_signature"]["signer"] == "head"
    if outcome in ("refusal_handed_over", "admission_refused_on_paper"):
        assert data["refusal"]["refusal_number"]


def test_office_start_is_the_offices_and_free(api):
    assert api.post("operator", "/instances",
                    json={"process": KEY, "data": OFFICE_START}).status_code == 403
    answer = api.post("office", "/instances",
                      json={"process": KEY, "data": {**OFFICE_START, "fee_mci": 1}})
    assert answer.status_code == 422 and "fee_mci" in answer.json["errors"]
    bad = api.post("office", "/instances",
                   json={"process": KEY, "data": {**OFFICE_START, "attestation_field": "x"}})
    assert bad.status_code == 422 and "attestation_field" in bad.json["errors"]


# --- portal ------------------------------------------------------------------------------

@pytest.mark.parametrize(("change", "outcome"), [
    ({"session": "forged-session-token"}, "authorisation_refused"),
    ({"holder": "expired"}, "signature_not_confirmed"),
    ({"holder": "wrong_iin"}, "signature_not_confirmed"),
])
def test_portal_refusals_end_at_the_portal(api, state_systems, change, outcome):
    instance_id = _start(api, _portal_start(api, state_systems.url, **change), "portal")
    assert walk.outcome(api, instance_id) == ("completed", outcome)


@pytest.mark.parametrize(("steps", "outcome"), [
    (_to_admission() + _testing() + RESULT, "attestation_issued_via_portal"),
    (_to_admission() + _testing(passed=False) + RESULT, "refusal_sent_via_portal"),
    (_to_admission(compliant=False) + RESULT, "refusal_sent_via_portal"),
], ids=["attestation", "testing_failed", "not_admitted"])
def test_portal_applications(api, state_systems, steps, outcome):
    instance_id = _start(api, _portal_start(api, state_systems.url), "portal")
    api.walk(instance_id, steps)
    assert walk.outcome(api, instance_id) == ("completed", outcome)
    data = walk.instance(api, instance_id)["data"]
    assert data["delivered_to"] == "personal_cabinet"
    assert data["request_signature"]["valid"] is True


def test_portal_start_needs_the_portal_fields(api):
    answer = api.post("portal", "/instances",
                      json={"process": KEY, "data": {**APPLICANT, "channel": "portal"}})
    assert answer.status_code == 422
    assert {"portal_session", "signed_request"} <= set(answer.json["errors"])


def test_the_signature_binds_the_attestation_field(api, state_systems):
    data = _portal_start(api, state_systems.url)
    data["attestation_field"] = "engineering_services"  # not what the applicant signed
    instance_id = _start(api, data, "portal")
    assert walk.outcome(api, instance_id) == ("completed", "signature_not_confirmed")


# --- the 30 working-day term on a moved clock -------------------------------------------

# steps the seed gives "on the day of receipt" (келіп түскен күні) or "on the day of testing":
# drawn with 1 working day as their deadline, done the day they arrive
SAME_DAY = {"sign_reference", "draw_testing_act", "sign_attestation_order", "sign_result"}
DURATIONS = {"register_request": "2WD", "form_applicants_list": "2WD", "prepare_reference": "3WD",
             "sign_reference": "1WD", "attach_to_request": "3WD", "prepare_materials_list": "1WD",
             "review_compliance": "3WD", "prepare_admission_order": "3WD",
             "notify_admission": "P3D", "conduct_testing": "1WD", "draw_testing_act": "1WD",
             "prepare_attestation_order": "3WD", "sign_attestation_order": "1WD",
             "form_result": "3WD", "sign_result": "1WD"}


@pytest.mark.usefixtures("kept_calendar")
def test_term_on_a_moved_clock(clocked_app, clocked_api, clock):
    """Every step takes all the time it is given (same-day steps their day); the attestation is
    handed over within the 30 working days counted from the submission (para 5)."""
    api = clocked_api
    instance_id = _start(api, OFFICE_START, "office")
    with clocked_app.app_context():
        terms = definitions.latest(KEY).manifest["terms"]
    assert terms == "30WD"  # one term for both channels and both attestation fields (para 5)
    term_due = calendar.deadline(CLOCK_START, terms, count_start_day=True)  # D14
    api.walk(instance_id, _office_intake())  # the office's desk work has no regulated term
    walk.walk_on_the_clock(clocked_app, api, clock, instance_id,
                           _to_admission() + _testing() + RESULT, durations=DURATIONS,
                           same_day=SAME_DAY)
    api.tokens.clear()
    api.walk(instance_id, [("office", "hand_over_attestation", {"handed_over": True})])
    assert walk.outcome(api, instance_id) == ("completed", "attestation_issued_at_office")
    assert clock.now() <= term_due
    # begun Friday 20 March 2026, day 1: 30 working days (Nauryz, 1 and 7 May off) end on
    # 6 May; the attestation was handed over on 28 April
    assert term_due == datetime.datetime(2026, 5, 6, 18, tzinfo=datetime.UTC)
    assert clock.now() == datetime.datetime(2026, 4, 28, 18, tzinfo=datetime.UTC)
    # no step was late: nothing escalated to the head
    assert not walk.timers(clocked_app, instance_id, state="fired")
