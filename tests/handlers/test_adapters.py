"""Every state-system handler against the reference systems over real HTTP."""

import uuid

import pytest

import handlers
from handlers import licensing
from handlers import payment
from handlers import portal
from handlers import registry
from handlers.errors import BadAnswer
from handlers.errors import HandlerError
from handlers.errors import Unavailable

# the licensor a licence names: the provider of the case's regulation (here an Almaty one)
ISSUER = ('"Алматы қаласы Мемлекеттік сәулет-құрылыс бақылауы басқармасы" '
          "коммуналдық мемлекеттік мекемесі")


def test_person_and_company_are_found(systems):
    person = registry.lookup_applicant(iin_bin="900115300003")
    assert (person["found"], person["kind"], person["name"]) == (
        True, "individual", "Abenov Nurlan Serikovich")
    company = registry.lookup_applicant(iin_bin="150140000012")
    assert (company["kind"], company["head_iin"]) == ("legal_entity", "850722400018")
    assert "Shygys Geo Survey" in company["name"]


def test_unknown_iin_is_not_found_and_a_bad_check_digit_is_refused(systems):
    assert registry.lookup_applicant(iin_bin="950301300013")["found"] is False  # valid, unknown
    with pytest.raises(HandlerError, match="not a valid"):
        registry.lookup_applicant(iin_bin="900115300004")


@pytest.mark.parametrize(("invoice", "payer", "paid", "reason"), [
    ("PEP-DEMO-PAID", "150140000012", True, None),
    ("PEP-DEMO-UNPAID", "150140000012", False, "unpaid"),
    ("PEP-DEMO-PART", "150140000012", False, "underpaid"),
    ("PEP-DEMO-PAID", "900115300003", False, "other_payer"),
    ("PEP-NO-SUCH", "150140000012", False, "unknown_invoice"),
])
def test_payment_verification(systems, invoice, payer, paid, reason):
    result = payment.verify(invoice_number=invoice, payer_iin_bin=payer, fee_mci=10)
    assert (result["paid"], result["reason"]) == (paid, reason)


def test_portal_session_must_be_real_and_the_applicants(systems, state_systems):
    import json  # noqa: PLC0415
    import urllib.request  # noqa: PLC0415
    request = urllib.request.Request(
        f"{state_systems.url}/portal/sessions", method="POST",
        data=json.dumps({"iin_bin": "900115300003", "password": "portal-demo"}).encode(),
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request) as answer:  # noqa: S310 - loopback
        token = json.loads(answer.read())["session"]
    assert portal.check_session(session=token, iin_bin="900115300003")["valid"] is True
    assert portal.check_session(session=token, iin_bin="850722400018")["reason"] == "other_person"
    assert portal.check_session(session="forged-token", iin_bin="900115300003")["valid"] is False


def test_registering_twice_with_one_key_registers_once(systems):
    key = str(uuid.uuid4())
    first = licensing.register_application(applicant_iin_bin="150140000012", service="survey",
                                           licence_case="issue", idempotency_key=key)
    again = licensing.register_application(applicant_iin_bin="150140000012", service="survey",
                                           licence_case="issue", idempotency_key=key)
    other = licensing.register_application(applicant_iin_bin="150140000012", service="survey",
                                           licence_case="issue", idempotency_key=str(uuid.uuid4()))
    assert first == again
    assert other["application_number"] != first["application_number"]


def test_licence_is_issued_once_and_refusal_then_conflicts(systems):
    number = licensing.register_application(applicant_iin_bin="150140000012", service="survey",
                                            licence_case="issue")["application_number"]
    licence = licensing.issue_licence(application_number=number, holder_iin_bin="150140000012",
                                      holder_name="Shygys Geo Survey", activity="geodetic",
                                      issuer=ISSUER)
    again = licensing.issue_licence(application_number=number, holder_iin_bin="150140000012",
                                    holder_name="Shygys Geo Survey", activity="geodetic",
                                    issuer=ISSUER)
    assert licence["licence_number"] == again["licence_number"]
    assert licence["document"]["issuer"] == ISSUER
    with pytest.raises(HandlerError, match="refused"):
        licensing.record_refusal(application_number=number, reasons="too late to refuse")


@pytest.mark.parametrize("issuer", [None, "", "   "])
def test_licence_without_issuer_is_refused_before_elicensing_is_asked(systems, issuer):
    number = licensing.register_application(applicant_iin_bin="150140000012", service="survey",
                                            licence_case="issue")["application_number"]
    with pytest.raises(HandlerError, match="issuer must be a non-empty string"):
        licensing.issue_licence(application_number=number, holder_iin_bin="150140000012",
                                holder_name="Shygys Geo Survey", activity="geodetic",
                                issuer=issuer)
    # nothing was issued: the application can still be refused
    refusal = licensing.record_refusal(application_number=number, reasons="no issuer")
    assert refusal["refusal_number"]


@pytest.mark.parametrize(("mode", "error"), [
    ("error", Unavailable), ("garbage", BadAnswer), ("wrong_schema", BadAnswer),
])
def test_faulty_answers_raise_typed_errors(systems, mode, error):
    systems("gbdfl", mode)
    with pytest.raises(error):
        registry.lookup_applicant(iin_bin="900115300003")
    assert registry.lookup_applicant(iin_bin="900115300003")["found"] is True


def test_slow_system_times_out(systems):
    systems("pep", "slow", delay=1.5)
    with pytest.raises(Unavailable, match="did not answer within 1 s"):
        payment.verify(invoice_number="PEP-DEMO-PAID", payer_iin_bin="150140000012", fee_mci=10)


def test_system_down_is_unavailable(systems, state_systems):
    state_systems.stop()
    with pytest.raises(Unavailable, match="unreachable"):
        registry.lookup_applicant(iin_bin="900115300003")
    state_systems.start()
    assert registry.lookup_applicant(iin_bin="900115300003")["found"] is True


def test_handler_registry_names_each_operator_once():
    assert set(handlers.HANDLERS) == {
        "registry/lookup_applicant", "portal/check_session", "payment/verify",
        "licensing/register_application", "licensing/issue_licence", "licensing/record_refusal",
        "eds/verify_request_signature", "eds/sign_document"}
    with pytest.raises(ValueError, match="twice"):
        handlers._register(registry.lookup_applicant, registry.lookup_applicant)
