"""Findings 7 and 8: the fee is the regulation's, checked against Qyzmet's MCI table, and a signed
portal request binds the service it was signed for."""

import datetime
from pathlib import Path

import pytest
from sqlalchemy import func
from sqlalchemy import select

import reference.db
from app import diagram
from handlers import fees
from reference import pep
from tests import portal
from tests.paths import PROCESS
from tests.paths import START
from tests.security.ledger import counts
from tests.security.ledger import record_state_system_calls

BPMN = diagram.read_processes(Path(__file__).parents[2] / "bpmn" / f"{PROCESS}.bpmn")[PROCESS]
APPLICANT = "900115300003"


def _elicense_applications(state_systems) -> int:
    """Return how many applications the reference E-licensing holds."""
    engine = state_systems.app.extensions[reference.db.EXTENSION]
    with engine.connect() as conn:
        return conn.scalar(select(func.count()).select_from(reference.db.application))


def _instance(api, instance_id) -> dict:
    return api.get("auditor", f"/instances/{instance_id}").json


def _portal_start(api, state_systems, **change) -> dict:
    """Start a portal application of APPLICANT with the given changes; return the instance."""
    version = change.pop("version", None) or portal.service_version(api)
    data = portal.application(state_systems.url, APPLICANT, version=version, **change)
    return _instance(api, api.start(data, user="portal"))


@pytest.mark.parametrize("user", ["portal", "operator"])  # both intake channels
def test_an_applicant_chosen_fee_is_refused_and_nothing_happens(app, api, state_systems,
                                                                monkeypatch, user):
    data = (portal.application(state_systems.url, APPLICANT, version=portal.service_version(api))
            if user == "portal" else START)
    calls = record_state_system_calls(monkeypatch)
    before, registered = counts(app), _elicense_applications(state_systems)
    answer = api.post(user, "/instances", json={"process": PROCESS, "data": {**data, "fee_mci": 1}})
    assert answer.status_code == 422, answer.json
    assert "fee_mci" in answer.json["errors"]
    assert counts(app) == before and calls == []
    assert _elicense_applications(state_systems) == registered


def test_the_diagram_sets_the_fee_of_each_case():
    assert BPMN["fee_mci"] == {"issue": 10, "reissue_reorganisation": 1, "reissue_category": 1,
                              "reissue_change": 1, "duplicate": 10}


def test_the_fee_of_the_chosen_case_goes_into_the_start_data(api):
    data = _instance(api, api.start({**START, "licence_case": "reissue_change"}))["data"]
    version = api.get("operator", f"/processes/{PROCESS}").json["version"]
    assert (data["fee_mci"], data["service_key"], data["service_version"]) == (
        1, PROCESS, version)


def test_an_invoice_paid_for_the_reissue_fee_passes_for_reissue_only(api, state_systems):
    reissue_fee = BPMN["fee_mci"]["reissue_change"]
    invoice = portal.paid_invoice(state_systems.url, APPLICANT, fee_mci=reissue_fee)
    reissue = _portal_start(api, state_systems, invoice=invoice, case="reissue_change")
    assert reissue["data"]["payment"]["paid"] is True
    assert reissue["status"] == "running" and reissue["outcome"] is None
    invoice = portal.paid_invoice(state_systems.url, APPLICANT, fee_mci=reissue_fee)
    issue = _portal_start(api, state_systems, invoice=invoice, case="issue")
    assert issue["outcome"] == "payment_missing"
    assert issue["data"]["intake_refusal"]["payment"]["reason"] == "underpaid"


def test_the_amount_due_uses_qyzmets_mci_table_for_the_invoice_year(api, state_systems,
                                                                    monkeypatch):
    with monkeypatch.context() as patch:  # PEP's own table is wrong, its clock in mid-2016
        patch.setitem(pep.MCI_BY_YEAR, 2016, 1000)
        patch.setattr(reference.db, "now",
                      lambda: datetime.datetime(2016, 6, 1, 10, 0, tzinfo=datetime.UTC))
        invoice = portal.paid_invoice(state_systems.url, APPLICANT)
    started = _portal_start(api, state_systems, invoice=invoice)
    payment = started["data"]["intake_refusal"]["payment"]
    assert (payment["paid"], payment["reason"]) == (False, "underpaid")
    assert payment["due_kzt"] == BPMN["fee_mci"]["issue"] * fees.MCI_BY_YEAR[2016] == 21210
    assert payment["paid_kzt"] == 10 * 1000


def test_qyzmets_mci_table_covers_the_years_of_the_regulations():
    assert fees.due_kzt(10, 2016) == 21210
    assert fees.due_kzt(1, 2040) == fees.MCI_BY_YEAR[max(fees.MCI_BY_YEAR)]
    with pytest.raises(fees.HandlerError, match="no MCI"):
        fees.due_kzt(10, 2014)


@pytest.mark.parametrize(("key", "version_shift"), [(PROCESS, 1), ("other_service_2016", 0)])
def test_a_request_signed_for_another_service_is_not_confirmed(api, state_systems, key,
                                                              version_shift):
    version = portal.service_version(api) + version_shift
    instance = _portal_start(api, state_systems, key=key, version=version)
    assert instance["outcome"] == "signature_not_confirmed"
    assert instance["data"]["intake_refusal"]["request_signature"]["reason"] == "content_mismatch"

