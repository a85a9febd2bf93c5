"""Almaty 2019 portal-only regulations (permit, no-minerals conclusion) and the two 2019
accreditations: every end event and every sequence flow, through the API; the 9 working-day
term of the Almaty 2019 family on a moved clock."""

import datetime

import pytest
from sqlalchemy import select

from app.models import Timer
from app.models import db
from app.timing import calendar
from tests import portal
from tests.conftest import CLOCK_START
from tests.conftest import Api

PERMIT = "mineral_areas_construction_permit_almaty_2019"
CONCLUSION = "no_minerals_conclusion_almaty_2019"
ATTESTATION = "non_state_attestation_centers_accreditation_kz_2019"
SUPERVISION = "technical_supervision_accreditation_kz_2019"
IIN = "150140000012"
SITE = "Almaty, Medeu district, Al-Farabi avenue 77, cadastral No 20-311-011-123"
DOCUMENTS = ["application.pdf", "site_plan.pdf"]


def _start(api, key, data):
    answer = api.post("portal", "/instances", json={"process": key, "data": data})
    assert answer.status_code == 201, answer.json
    return answer.json["id"]


def _outcome(api, instance_id):
    instance = api.get("auditor", f"/instances/{instance_id}").json
    return instance["status"], instance["outcome"]


def _portal_application(api, base, key, *, session=None, holder=None):
    """The start data of an Almaty 2019 portal request, signed as the portal does (process 3)."""
    version = portal.service_version(api, key)
    signed = {"applicant_iin_bin": IIN, "site_address": SITE, "service_key": key,
              "service_version": version}
    return {"applicant_iin_bin": IIN, "site_address": SITE, "attached_documents": DOCUMENTS,
            "portal_session": session or portal.session_for(base, IIN),
            "signed_request": portal.signed_request(base, holder or IIN, signed)}


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
    instance_id = _start(api, key, _portal_application(api, state_systems.url, key, **change))
    assert _outcome(api, instance_id) == ("completed", outcome)


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
    instance_id = _start(api, key, _portal_application(api, state_systems.url, key))
    api.walk(instance_id, _review(compliant, minerals))
    assert _outcome(api, instance_id) == ("completed", outcome)
    data = api.get("auditor", f"/instances/{instance_id}").json["data"]
    assert data["result_document"]["result"] == ("positive" if compliant else "refusal")
    assert data["result_document"]["service"] == key


def test_almaty_2019_start_needs_the_portal_fields(api):
    data = {"applicant_iin_bin": IIN, "site_address": SITE, "attached_documents": DOCUMENTS}
    answer = api.post("portal", "/instances", json={"process": PERMIT, "data": data})
    assert answer.status_code == 422
    assert {"portal_session", "signed_request"} <= set(answer.json["errors"])
    assert api.post("operator", "/instances",
                    json={"process": PERMIT, "data": data}).status_code == 403


def _waiting_step_row(instance_id):
    db.session.expire_all()
    [row] = db.session.scalars(select(Timer).where(Timer.instance_id == instance_id,
                                                   Timer.kind == "step_deadline",
                                                   Timer.state == "waiting")).all()
    return row


def test_almaty_2019_term_on_a_moved_clock(clocked_app, clock, state_systems, monkeypatch,
                                           tmp_path):
    """Each step finishes at its own deadline; the case still ends within 9 working days."""
    monkeypatch.setattr(calendar, "ADMIN_DATA", tmp_path / "no-admin-calendar.json")
    api = Api(clocked_app.test_client())
    instance_id = _start(api, PERMIT, _portal_application(api, state_systems.url, PERMIT))
    term_due = calendar.deadline(CLOCK_START, "9WD")
    durations = ["PT15M", "PT2H", "PT2H", "8WD", "PT1H", "PT1H"]
    for (user, bpmn_id, data), duration in zip(_review(), durations, strict=True):
        task_id = api.ready_task(user, instance_id, bpmn_id)
        with clocked_app.app_context():
            row = _waiting_step_row(instance_id)
            assert row.bpmn_id == bpmn_id
            due = row.due_at if row.due_at.tzinfo else row.due_at.replace(tzinfo=datetime.UTC)
            assert due == calendar.deadline(clock.now(), duration)
        clock.set(due)  # every step takes all the time the regulation gives it
        api.tokens.clear()
        answer = api.post(user, f"/tasks/{task_id}/complete", json={"data": data})
        assert answer.status_code == 200, answer.json
    assert _outcome(api, instance_id) == ("completed", "permit_issued")
    assert clock.now() <= term_due
    # begun Friday 20 March 2026 (before Nauryz): due at the end of 7 April, as the calendar
    # gives 10 working days to 8 April (tests/test_timers.py)
    assert term_due == datetime.datetime(2026, 4, 7, 18, tzinfo=datetime.UTC)


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
    assert _outcome(api, instance_id) == ("completed", outcome)
    data = api.get("auditor", f"/instances/{instance_id}").json["data"]
    assert data["result_signature"]


def test_refusal_needs_its_reasons(api):
    instance_id = _start(api, ATTESTATION, ATTESTATION_START)
    api.walk(instance_id, TO_COMPLETENESS)
    task_id = api.ready_task("executor", instance_id, "check_completeness")
    answer = api.post("executor", f"/tasks/{task_id}/complete",
                      json={"data": {"documents_complete": False}})
    assert answer.status_code == 422 and "refusal_reasons" in answer.json["errors"]


def test_technical_supervision_accreditation_runs_and_finishes_without_people(api):
    instance_id = _start(api, SUPERVISION, ATTESTATION_START)
    assert _outcome(api, instance_id) == ("completed", "certificate_issued")
    instance = api.get("auditor", f"/instances/{instance_id}").json
    assert instance["data"]["application"]["application_number"]
    assert instance["data"]["result_signature"]
