"""Start applications the way each channel does: the State Corporation's operator and the
provider's office type the request in; egov.kz brings a session, a paid invoice and a request
the applicant signed with NCALayer."""

import json
import urllib.request

from handlers import xmldoc
from reference.seed import DEMO_COMPANIES
from tests.paths import PROCESS

PORTAL_PASSWORD = "portal-demo"
# the name the applicant types into the portal form (portal process 3): the registered one
NAMES = {company[0]: company[1] for company in DEMO_COMPANIES}
ISSUE_FEE_MCI = 10  # the diagram's fee for issuing the survey licence (placeholder rate)
# the licence families' fees per case (MCI): issue and duplicate at the full rate, any reissue 1
CASE_FEES_MCI = {"issue": ISSUE_FEE_MCI, "duplicate": ISSUE_FEE_MCI}
REISSUE_FEE_MCI = 1
# the API contract: an application through a channel is started by that channel's role
CHANNEL_ROLES = {"state_corporation": "operator", "portal": "portal", "provider_office": "office"}


def start(api, key: str, data: dict, user: str) -> str:
    """Start a case of process `key` as `user`, assert it was accepted, return its id."""
    answer = api.post(user, "/instances", json={"process": key, "data": data})
    assert answer.status_code == 201, answer.json
    return answer.json["id"]


def licence_request(iin_bin: str, case: str = "issue", **fields) -> dict:
    """Return the start data an operator or the office types in for a licence case."""
    return {"applicant_iin_bin": iin_bin, "licence_case": case, **fields}


def post_json(url: str, body: dict) -> dict:
    """POST JSON to a reference system and return its JSON answer."""
    request = urllib.request.Request(url, method="POST", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request) as answer:  # noqa: S310 - loopback test server
        return json.loads(answer.read())


def session_for(base: str, iin_bin: str) -> str:
    """Sign the applicant in at the portal and return the session token."""
    return post_json(f"{base}/portal/sessions",
                     {"iin_bin": iin_bin, "password": PORTAL_PASSWORD})["session"]


def paid_invoice(base: str, iin_bin: str, fee_mci: int = ISSUE_FEE_MCI,
                 pay_share: float = 1.0) -> str:
    """Create a PEP invoice for the licence fee, pay `pay_share` of it, return its number."""
    invoice = post_json(f"{base}/pep/invoices", {"payer_iin_bin": iin_bin,
                                                 "service": "survey_license",
                                                 "amount_mci": fee_mci})
    if pay_share:
        amount = max(1, int(invoice["amount_kzt"] * pay_share))
        post_json(f"{base}/pep/invoices/{invoice['invoice_number']}/payments",
                  {"amount_kzt": amount})
    return invoice["invoice_number"]


def signed_request(base: str, holder: str, request: dict) -> str:
    """Sign the request XML with a demo holder's key, as NCALayer does at the portal."""
    xml = xmldoc.to_xml(request, root="request")
    return post_json(f"{base}/nca/sign", {"holder": holder, "xml": xml})["signed_xml"]


def service_version(api, key: str = PROCESS) -> int:
    """Return the deployed version of process key, as the portal reads it from the API."""
    answer = api.get("portal", f"/processes/{key}")
    assert answer.status_code == 200, answer.json
    return answer.json["version"]


def _with_session_and_signature(base: str, key: str, version: int, signed: dict, *,
                                unsigned: dict, session: str | None, holder: str | None) -> dict:
    """Return `signed` and `unsigned` with a portal session and the signed request.

    The request binds the signed fields to the service (key, version); the session and the
    signature are the applicant's unless a test passes others to fail them.
    """
    iin_bin = signed["applicant_iin_bin"]
    request = {**signed, "service_key": key, "service_version": version}
    return {**signed, **unsigned, "portal_session": session or session_for(base, iin_bin),
            "signed_request": signed_request(base, holder or iin_bin, request)}


def signed_application(api, base: str, key: str, signed: dict, *, unsigned: dict | None = None,
                       session: str | None = None, holder: str | None = None) -> dict:
    """Return the start data of a portal request of the deployed `key` that signs `signed`.

    For the services with no fee (Almaty 2019, the expert attestation): `unsigned` are the
    fields the portal adds that the applicant does not sign (channel, attachments).
    """
    return _with_session_and_signature(base, key, service_version(api, key), signed,
                                       unsigned=unsigned or {}, session=session, holder=holder)


def application(base: str, iin_bin: str, *, version: int, key: str = PROCESS,
                holder: str | None = None, invoice: str | None = None,
                session: str | None = None, case: str = "issue", name: str | None = None) -> dict:
    """Return the start data of a portal application; each part can be replaced to fail it.

    The signed request binds the applicant, invoice, case and the service (key, version).
    The applicant fills in the form (portal process 3): its name comes with the start data.
    """
    invoice = invoice or paid_invoice(base, iin_bin)
    signed = {"applicant_iin_bin": iin_bin, "licence_case": case, "invoice_number": invoice}
    unsigned = {"channel": "portal",
                "applicant_name": name or NAMES.get(iin_bin, "Portal Applicant")}
    return _with_session_and_signature(base, key, version, signed, unsigned=unsigned,
                                       session=session, holder=holder)


def licence_application(api, base: str, key: str, iin_bin: str, case: str = "issue",
                        **change) -> dict:
    """Return a portal application of the deployed licence `key`, its case's fee paid.

    `change` replaces a part (session, invoice, holder, name) to fail the request.
    """
    invoice = change.pop("invoice", None) or paid_invoice(
        base, iin_bin, fee_mci=CASE_FEES_MCI.get(case, REISSUE_FEE_MCI))
    return application(base, iin_bin, version=service_version(api, key), key=key, case=case,
                       invoice=invoice, **change)
