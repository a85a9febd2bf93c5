"""Build a portal application the way egov.kz would: a session, a paid invoice, a signed request."""

import json
import urllib.request

from handlers import xmldoc
from reference.seed import DEMO_COMPANIES
from tests.paths import PROCESS

PORTAL_PASSWORD = "portal-demo"
# the name the applicant types into the portal form (portal process 3): the registered one
NAMES = {company[0]: company[1] for company in DEMO_COMPANIES}
ISSUE_FEE_MCI = 10  # the diagram's fee for issuing the survey licence (placeholder rate)


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


def application(base: str, iin_bin: str, *, version: int, key: str = PROCESS,
                holder: str | None = None, invoice: str | None = None,
                session: str | None = None, case: str = "issue", name: str | None = None) -> dict:
    """Return the start data of a portal application; each part can be replaced to fail it.

    The signed request binds the applicant, invoice, case and the service (key, version).
    The applicant fills in the form (portal process 3): its name comes with the start data.
    """
    invoice = invoice or paid_invoice(base, iin_bin)
    request = {"applicant_iin_bin": iin_bin, "licence_case": case, "invoice_number": invoice}
    signed = {**request, "service_key": key, "service_version": version}
    return {**request, "channel": "portal",
            "applicant_name": name or NAMES.get(iin_bin, "Portal Applicant"),
            "portal_session": session or session_for(base, iin_bin),
            "signed_request": signed_request(base, holder or iin_bin, signed)}
