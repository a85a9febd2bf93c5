"""Almaty 2016 licence family (seed 000_47cfb91d3221e572.txt): every end event and every
sequence flow of the four regulations and their shared fragments, on both intake channels,
through the API; the terms of the duplicate case on a moved clock."""

import datetime

import pytest

from app.timing import calendar
from tests import portal
from tests import walk

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


def _at_the_state_corporation(api, key, case="issue"):
    return portal.start(api, key, portal.licence_request(IIN, case), "operator")


def _at_the_portal(api, state_systems, key, case="issue", **change):
    data = portal.licence_application(api, state_systems.url, key, IIN, case, **change)
    return portal.start(api, key, data, "portal")


@pytest.mark.parametrize("key", REGULATIONS)
@pytest.mark.parametrize("path", sorted(PATHS))
def test_state_corporation_paths(api, key, path):
    case, steps, outcome, _ = PATHS[path]
    instance_id = _at_the_state_corporation(api, key, case)
    delivery = SC_DUPLICATE_DELIVERY if case == "duplicate" else SC_DELIVERY
    api.walk(instance_id, SC_INTAKE + steps + delivery)
    assert walk.outcome(api, instance_id) == ("completed", outcome)


@pytest.mark.parametrize("key", REGULATIONS)
def test_state_corporation_refuses_an_incomplete_set(api, key):
    instance_id = _at_the_state_corporation(api, key)
    api.walk(instance_id, [("operator", "accept_documents",
                            {"documents_complete": False, "journal_number": "SC-2026/0002",
                             "sc_page_count": 3})])
    assert walk.outcome(api, instance_id) == ("completed", "documents_not_accepted")


@pytest.mark.parametrize("key", REGULATIONS)
@pytest.mark.parametrize("path", sorted(PATHS))
def test_portal_paths(api, state_systems, key, path):
    case, steps, _, outcome = PATHS[path]
    instance_id = _at_the_portal(api, state_systems, key, case)
    api.walk(instance_id, steps)
    assert walk.outcome(api, instance_id) == ("completed", outcome)
    if outcome.startswith("licence"):
        assert walk.instance(api, instance_id)["data"]["portal_result"] == "licence"


@pytest.mark.parametrize("key", REGULATIONS)
@pytest.mark.parametrize(("change", "outcome"), [
    ({"session": "forged-session-token"}, "authorisation_refused"),
    ({"invoice": "PEP-DEMO-UNPAID"}, "payment_missing"),
    ({"holder": "revoked"}, "signature_not_confirmed"),
])
def test_portal_conditions_refuse(api, state_systems, key, change, outcome):
    instance_id = _at_the_portal(api, state_systems, key, **change)
    assert walk.outcome(api, instance_id) == ("completed", outcome)


@pytest.mark.usefixtures("kept_calendar")
def test_duplicate_terms_on_a_moved_clock(clocked_api, clock):
    """Duplicate (para 5(2): 2 working days): 1 WD to prepare + 1 WD to certify, counted on the
    working-day calendar from Friday 20 March 2026 (Nauryz 21-25 March are days off); the
    regulation is silent on the day of acceptance, so Friday counts."""
    api = clocked_api
    start = clock.now()
    instance_id = _at_the_state_corporation(api, REGULATIONS[0], "duplicate")
    api.walk(instance_id, SC_INTAKE + REGISTER)
    term = calendar.deadline(start, "2WD", count_start_day=True)
    prepared_by = walk.ready_due(api, "executor", instance_id, "prepare_duplicate")
    assert prepared_by == calendar.deadline(start, "1WD", count_start_day=True)
    assert prepared_by.date() == datetime.date(2026, 3, 20)  # the day of acceptance
    clock.set(prepared_by)
    api.tokens.clear()  # sign in again on the moved clock
    api.walk(instance_id, DUPLICATE[:1])
    certified_by = walk.ready_due(api, "head", instance_id, "certify_duplicate")
    assert certified_by.date() == datetime.date(2026, 3, 26)  # Nauryz 21-25 March skipped
    assert certified_by == calendar.deadline(prepared_by, "1WD", count_start_day=True) == term
    clock.set(term)
    api.tokens.clear()
    api.walk(instance_id, DUPLICATE[1:] + SC_DUPLICATE_DELIVERY)
    assert walk.outcome(api, instance_id) == ("completed", "licence_handed_over")
