"""Almaty 2019 portal-only regulations (permit, no-minerals conclusion) and the two 2019
accreditations: every end event and every sequence flow, through the API; the 9 working-day
term of the Almaty 2019 family on a moved clock."""

import datetime

import pytest

from app.timing import calendar
from tests import portal
from tests import walk
from tests.conftest import CLOCK_START

PERMIT = "mineral_areas_construction_permit_almaty_2019"
CONCLUSION = "no_minerals_conclusion_almaty_2019"
ATTESTATION = "non_state_attestation_centers_accreditation_kz_2019"
SUPERVISION = "technical_supervision_accreditation_kz_2019"
IIN = "150140000012"
SITE = "Almaty, Medeu district, Al-Farabi avenue 77, cadastral No 20-311-011-123"
DOCUMENTS = ["application.pdf", "site_plan.pdf"]


def _start(api, key, data):
    return portal.start(api, key, data, "portal")


def _at_the_portal(api, base, key, **change):
    """Start an Almaty 2019 portal request signed as the portal does (process 3): the applicant
    signs who and where, the attachments come along unsigned."""
    data = portal.signed_application(api, base, key,
                                     {"applicant_iin_bin": IIN, "site_address": SITE},
                                     unsigned={"attached_documents": DOCUMENTS}, **change)
    return _start(api, key, data)


def _review(compliant=True, minerals=False):
    """The provider's steps 1-6 (shared procedure of both Almaty 2019 regulations)."""
    return [
        ("office", "register_application", {"incoming_number": "IN-2026/0001"}),
        ("head", "consider_application", {"resolution": "To the deputy head"}),
        ("head", "check_requirements", {"resolution": "To the department for execution"}),
        ("executor", "prepare_result", {"documents_compliant": compliant,
                                        "minerals_present": minerals,
                                        "findings": "Checked against the Standard"}),
        ("head", "endorse_result", {"endorsed": True}),
        ("head", "sign_result", {"confirm_signature": True}),
    ]


@pytest.mark.parametrize(("key", "change", "outcome"), [
    (PERMIT, {"session": "forged-session-token"}, "authorisation_refused"),
    (PERMIT, {"holder": "expired"}, "signature_not_confirmed"),
    (CONCLUSION, {"session": "forged-session-token"}, "authorisation_refused"),
    (CONCLUSION, {"holder": "revoked"}, "signature_not_confirmed"),
])
def test_almaty_2019_portal_refusals_end_at_the_portal(api, state_systems, key, change, outcome):
    instance_id = _at_the_portal(api, state_systems.url, key, **change)
    assert walk.outcome(api, instance_id) == ("completed", outcome)


@pytest.mark.parametrize(("key", "compliant", "minerals", "outcome"), [
    (PERMIT, True, False, "permit_issued"),
    (PERMIT, False, False, "reasoned_refusal"),
    (CONCLUSION, True, False, "conclusion_issued"),
    (CONCLUSION, True, True, "minerals_letter_issued"),
    (CONCLUSION, False, True, "reasoned_refusal"),
])
def test_almaty_2019_results_reach_the_personal_cabinet_signed(  # noqa: PLR0917
        api, state_systems, key,
                                                               compliant, minerals, outcome):
    instance_id = _at_the_portal(api, state_systems.url, key)
    api.walk(instance_id, _review(compliant, minerals))
    assert walk.outcome(api, instance_id) == ("completed", outcome)
    data = walk.instance(api, instance_id)["data"]
    assert data["result_document"]["result"] == ("positive" if compliant else "refusal")
    assert data["result_document"]["service"] == key


def test_almaty_2019_start_needs_the_portal_fields(api):
    data = {"applicant_iin_bin": IIN, "site_address": SITE, "attached_documents": DOCUMENTS}
    answer = api.post("portal", "/instances", json={"process": PERMIT, "data": data})
    assert answer.status_code == 422
    assert {"portal_session", "signed_request"} <= set(answer.json["errors"])
    assert api.post("operator", "/instances",
                    json={"process": PERMIT, "data": data}).status_code == 403


# the durations of the provider's steps 1-6 (para 9)
DURATIONS = {"register_application": "PT15M", "consider_application": "PT2H",
             "check_requirements": "PT2H", "prepare_result": "8WD", "endorse_result": "PT1H",
             "sign_result": "PT1H"}


@pytest.mark.usefixtures("kept_calendar")
def test_almaty_2019_term_on_a_moved_clock(clocked_app, clocked_api, clock, state_systems):
    """Each step finishes at its own deadline; the case still ends within 9 working days."""
    api = clocked_api
    instance_id = _at_the_portal(api, state_systems.url, PERMIT)
    term_due = calendar.deadline(CLOCK_START, "9WD", count_start_day=True)
    # every step takes all the time the regulation gives it
    walk.walk_on_the_clock(clocked_app, api, clock, instance_id, _review(), durations=DURATIONS)
    assert walk.outcome(api, instance_id) == ("completed", "permit_issued")
    assert clock.now() <= term_due
    # begun Friday 20 March 2026 (before Nauryz), which counts as day 1 (the regulation is
    # silent on the day of acceptance): due at the end of 6 April
    assert term_due == datetime.datetime(2026, 4, 6, 18, tzinfo=datetime.UTC)


ATTESTATION_START = {"applicant_iin_bin": IIN, "organisation_name": "TOO Qurylys Saraptama",
                     "attached_documents": DOCUMENTS}
TO_COMPLETENESS = [
    ("office", "register_application", {"incoming_number": "IN-2026/0002"}),
    ("head", "determine_executor", {"executor": "executor", "resolution": "Check"}),
]


@pytest.mark.parametrize(("steps", "outcome"), [
    (TO_COMPLETENESS + [("executor", "check_completeness",
                         {"documents_complete": False,
                          "refusal_reasons": "The staff list of para 9 is missing"})],
     "further_consideration_refused"),
    (TO_COMPLETENESS + [
        ("executor", "check_completeness", {"documents_complete": True}),
        ("executor", "check_compliance", {"findings": "Attesting staff and methods comply"}),
        ("executor", "prepare_result", {"requirements_met": True}),
        ("head", "sign_result", {"confirm_signature": True})], "certificate_issued"),
    (TO_COMPLETENESS + [
        ("executor", "check_completeness", {"documents_complete": True}),
        ("executor", "check_compliance", {"findings": "No attesting commission"}),
        ("executor", "prepare_result", {"requirements_met": False,
                                        "refusal_reasons": "Permit requirement 2 is not met"}),
        ("head", "sign_result", {"confirm_signature": True})], "reasoned_refusal"),
])
def test_attestation_centre_accreditation_paths(api, steps, outcome):
    instance_id = _start(api, ATTESTATION, ATTESTATION_START)
    api.walk(instance_id, steps)
    assert walk.outcome(api, instance_id) == ("completed", outcome)
    assert walk.instance(api, instance_id)["data"]["result_signature"]


def test_refusal_needs_its_reasons(api):
    instance_id = _start(api, ATTESTATION, ATTESTATION_START)
    api.walk(instance_id, TO_COMPLETENESS)
    task_id = api.ready_task("executor", instance_id, "check_completeness")
    answer = api.post("executor", f"/tasks/{task_id}/complete",
                      json={"data": {"documents_complete": False}})
    assert answer.status_code == 422 and "refusal_reasons" in answer.json["errors"]


def test_technical_supervision_accreditation_runs_and_finishes_without_people(api):
    instance_id = _start(api, SUPERVISION, ATTESTATION_START)
    assert walk.outcome(api, instance_id) == ("completed", "certificate_issued")
    instance = walk.instance(api, instance_id)
    assert instance["data"]["application"]["application_number"]
    assert instance["data"]["result_signature"]
