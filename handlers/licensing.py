"""E-licensing: register applications, issue licences, record refusals.

A licence names its issuer, the licensor: the provider of the regulation the case runs under
(the `provider_kk` of its process, set into the start data as `service_provider`). The issuer is a
required parameter, never a constant: one diagram fragment serves regulations of different
providers, and a licence without its provider must not be issued.
"""

from handlers import adapters
from handlers import identifiers
from handlers.errors import HandlerError

LICENCE = {"licence_number": str, "application_number": str, "holder_iin_bin": str,
           "holder_name": str, "activity": str, "status": str, "issued_at": str}


def _require(name: str, value) -> None:
    if not isinstance(value, str) or not value.strip():
        raise HandlerError(f"{name} must be a non-empty string")


def register_application(*, applicant_iin_bin: str, service: str, licence_case: str,
                         idempotency_key: str | None = None) -> dict:
    """Register an application in E-licensing and return its number."""
    if not identifiers.is_valid_iin_bin(str(applicant_iin_bin)):
        raise HandlerError(f"IIN/BIN {applicant_iin_bin} is not a valid 12-digit identifier")
    _require("service", service)
    _require("licence_case", licence_case)
    data = adapters.call("elicense", "POST", "/applications", idempotency_key=idempotency_key,
                         body={"applicant_iin_bin": applicant_iin_bin, "service": service,
                               "licence_case": licence_case})
    found = adapters.expect("elicense", data, {"application_number": str, "registered_at": str})
    return {"application_number": found["application_number"],
            "registered_at": found["registered_at"]}


def issue_licence(*, application_number: str, holder_iin_bin: str, holder_name: str,
                  activity: str, issuer: str, idempotency_key: str | None = None) -> dict:
    """Issue the application's licence (once: a repeat returns the same licence), its document
    naming `issuer`, the regulation's provider; a missing issuer fails before E-licensing is asked.
    """
    for name, value in (("application_number", application_number),
                        ("holder_name", holder_name), ("activity", activity), ("issuer", issuer)):
        _require(name, value)
    data = adapters.call("elicense", "POST", f"/applications/{application_number}/licence",
                         idempotency_key=idempotency_key,
                         body={"holder_iin_bin": holder_iin_bin, "holder_name": holder_name,
                               "activity": activity})
    licence = adapters.expect("elicense", data, LICENCE)
    document = {name: licence[name] for name in LICENCE if name != "status"}
    return {"licence_number": licence["licence_number"], "issued_at": licence["issued_at"],
            "document": {**document, "issuer": issuer}}


def record_refusal(*, application_number: str, reasons: str,
                   idempotency_key: str | None = None) -> dict:
    """Record the reasoned refusal of an application (once)."""
    _require("application_number", application_number)
    _require("reasons", reasons)
    data = adapters.call("elicense", "POST", f"/applications/{application_number}/refusal",
                         idempotency_key=idempotency_key, body={"reasons": reasons})
    refusal = adapters.expect("elicense", data, {"refusal_number": str, "refused_at": str})
    return {"refusal_number": refusal["refusal_number"], "refused_at": refusal["refused_at"]}
