"""Almaty 2016 licence family (seed 000_47cfb91d3221e572.txt): every end event and every
sequence flow of the four regulations and their shared fragments, on both intake channels,
through the API; the terms of the duplicate case on a moved clock."""

import datetime

import pytest

from app.timing import calendar
from tests import portal
from tests.conftest import Api

REGULATIONS = ["survey_license_almaty_2016", "construction_installation_license_almaty_2016",
               "design_license_almaty_2016", "shared_construction_license_almaty_2016"]
IIN = "150140000012"

SC_INTAKE = [("operator", "accept_documents",
              {"documents_complete": True, "journal_number": "SC-2026/0001", "sc_page_count": 12})]
REGISTER = [("office", "register_application", {"incoming_number": "IN-2026/0001"}),
            ("head", "appoint_executor", {"executor": "executor"})]
CASE_A = [("executor", "check_documents", {"documents_complete": True}),
          ("executor", "licensing_control", {"site_visit": False}),
          ("executor", "prepare_conclusion", {"compliant": True})]
CASE_C = [("executor", "check_documents", {"documents_complete": True})]
INCOMPLETE = [("executor", "check_documents",
               {"documents_complete": False, "refusal_reasons": "Appendix missing"})]


def decide(decision):
    data = {"decision": decision}
    if decision == "refuse":
        data["refusal_reasons"] = "Qualification requirements not met"
    return [("executor", "send_conclusion", {"sent": True}),
            ("head", "form_register_order", data),
            ("head", "sign_order", {"order_number": "ORD-2026/17"}),
            ("executor", "send_for_signature", {"sent": True})]


SIGN = [("head", "sign_decision", {"signed": True})]
DUPLICATE = [("executor", "prepare_duplicate", {"prepared": True}),
             ("head", "certify_duplicate", {"certified": True})]
SC_DELIVERY = [("office", "register_notice", {"outgoing_number": "OUT-2026/0001"}),
               ("operator", "hand_over_result", {"identity_checked": True})]
SC_DUPLICATE_DELIVERY = [("operator", "hand_over_result", {"identity_checked": True})]

# (case, steps after intake, State Corporation outcome, portal outcome)
PATHS = {
    "issue": ("issue", REGISTER + CASE_A + decide("issue") + SIGN,
              "licence_handed_over", "licence_in_personal_cabinet"),
    "change_refused": ("reissue_change", REGISTER + CASE_C + decide("refuse") + SIGN,
                       "refusal_handed_over", "refusal_in_personal_cabinet"),
    "incomplete": ("reissue_category", REGISTER + INCOMPLETE + SIGN,
                   "refusal_handed_over", "refusal_in_personal_cabinet"),
    "duplicate": ("duplicate", REGISTER + DUPLICATE, "licence_handed_over",
                  "licence_in_personal_cabinet"),
}
FEES = {"issue": 10, "duplicate": 10}


def _start(api, key, data, user):
    answer = api.post(user, "/instances", json={"process": key, "data": data})
    assert answer.status_code == 201, answer.json
    return answer.json["id"]


def _outcome(api, instance_id):
    instance = api.get("auditor", f"/instances/{instance_id}").json
    return instance["status"], instance["outcome"]


def _portal_data(api, state_systems, key, case="issue", **change):
    version = portal.service_version(api, key)
    invoice = change.pop("invoice", None) or portal.paid_invoice(
        state_systems.url, IIN, fee_mci=FEES.get(case, 1))
    return portal.application(state_systems.url, IIN, version=version, key=key, case=case,
                              invoice=invoice, **change)


@pytest.mark.parametrize("key", REGULATIONS)
@pytest.mark.parametrize("path", sorted(PATHS))
def test_state_corporation_paths(api, key, path):
    case, steps, outcome, _ = PATHS[path]
    instance_id = _start(api, key, {"applicant_iin_bin": IIN, "licence_case": case}, "operator")
    delivery = SC_DUPLICATE_DELIVERY if case == "duplicate" else SC_DELIVERY
    api.walk(instance_id, SC_INTAKE + steps + delivery)
    assert _outcome(api, instance_id) == ("completed", outcome)


@pytest.mark.parametrize("key", REGULATIONS)
def test_state_corporation_refuses_an_incomplete_set(api, key):
    instance_id = _start(api, key, {"applicant_iin_bin": IIN, "licence_case": "issue"}, "operator")
    api.walk(instance_id, [("operator", "accept_documents",
                            {"documents_complete": False, "journal_number": "SC-2026/0002",
                             "sc_page_count": 3})])
    assert _outcome(api, instance_id) == ("completed", "documents_not_accepted")


@pytest.mark.parametrize("key", REGULATIONS)
@pytest.mark.parametrize("path", sorted(PATHS))
def test_portal_paths(api, state_systems, key, path):
    case, steps, _, outcome = PATHS[path]
    instance_id = _start(api, key, _portal_data(api, state_systems, key, case), "portal")
    api.walk(instance_id, steps)
    assert _outcome(api, instance_id) == ("completed", outcome)
    if outcome.startswith("licence"):
        assert api.get("auditor", f"/instances/{instance_id}").json["data"]["portal_result"] \
            == "licence"


@pytest.mark.parametrize("key", REGULATIONS)
@pytest.mark.parametrize(("change", "outcome"), [
    ({"session": "forged-session-token"}, "authorisation_refused"),
    ({"invoice": "PEP-DEMO-UNPAID"}, "payment_missing"),
    ({"holder": "revoked"}, "signature_not_confirmed"),
])
def test_portal_conditions_refuse(api, state_systems, key, change, outcome):
    instance_id = _start(api, key, _portal_data(api, state_systems, key, **change), "portal")
    assert _outcome(api, instance_id) == ("completed", outcome)


def test_duplicate_terms_on_a_moved_clock(clocked_app, clock, monkeypatch, tmp_path):
    """Duplicate (para 5(2): 2 working days): 1 WD to prepare + 1 WD to certify, counted on the
    working-day calendar from Friday 20 March 2026 (Nauryz 21-23 March are days off)."""
    monkeypatch.setattr(calendar, "ADMIN_DATA", tmp_path / "no-admin-calendar.json")
    api = Api(clocked_app.test_client())
    key = REGULATIONS[0]
    start = clock.now()
    instance_id = _start(api, key, {"applicant_iin_bin": IIN, "licence_case": "duplicate"},
                         "operator")
    api.walk(instance_id, SC_INTAKE + REGISTER)
    term = calendar.deadline(start, "2WD")

    def due(user, bpmn_id):
        tasks = api.get(user, f"/tasks?instance={instance_id}&state=ready").json
        [task] = [t for t in tasks if t["bpmn_id"] == bpmn_id]
        return datetime.datetime.fromisoformat(task["due_at"])

    prepared_by = due("executor", "prepare_duplicate")
    assert prepared_by == calendar.deadline(start, "1WD")
    assert prepared_by.date() == datetime.date(2026, 3, 26)  # Nauryz 21-25 March skipped
    clock.set(prepared_by)
    api.tokens.clear()  # sign in again on the moved clock
    api.walk(instance_id, DUPLICATE[:1])
    certified_by = due("head", "certify_duplicate")
    assert certified_by == calendar.deadline(prepared_by, "1WD") == term
    clock.set(term)
    api.tokens.clear()
    api.walk(instance_id, DUPLICATE[1:] + SC_DUPLICATE_DELIVERY)
    assert _outcome(api, instance_id) == ("completed", "licence_handed_over")
