"""Portal applications: each failing condition ends in its refusal; a good one gets a licence."""

import subprocess
import sys
from pathlib import Path

import pytest

from tests import portal
from tests.paths import PORTAL_ISSUE
from tests.paths import PROCESS

# the portal has no operator, no office receipt (action 1) and no sending to the State Corporation
# (action 8): its result goes to the personal cabinet
ISSUE_AFTER_INTAKE = PORTAL_ISSUE


def _outcome(api, instance_id):
    instance = api.get("auditor", f"/instances/{instance_id}").json
    return instance["status"], instance["outcome"]


def _application(api, state_systems, iin_bin, **change):
    version = portal.service_version(api)
    return portal.application(state_systems.url, iin_bin, version=version, **change)


def _tamper(xml: str) -> str:
    return xml.replace("issue", "issuf", 1)


@pytest.mark.parametrize(("change", "outcome"), [
    ({"session": "forged-session-token"}, "authorisation_refused"),
    ({"invoice": "PEP-DEMO-UNPAID"}, "payment_missing"),
    ({"invoice": "PEP-DEMO-PART"}, "payment_missing"),
    ({"invoice": "PEP-DOES-NOT-EXIST"}, "payment_missing"),
])
def test_portal_conditions_refuse(api, state_systems, change, outcome):
    data = _application(api, state_systems, "150140000012", **change)
    instance_id = api.start(data, user="portal")
    assert _outcome(api, instance_id) == ("completed", outcome)


@pytest.mark.parametrize("holder", ["expired", "revoked", "wrong_iin", "no_signing_usage",
                                    "self_signed"])
def test_request_signature_must_be_valid_and_the_applicants(api, state_systems, holder):
    data = _application(api, state_systems, "900115300003", holder=holder)
    instance_id = api.start(data, user="portal")
    assert _outcome(api, instance_id) == ("completed", "signature_not_confirmed")
    refusal = api.get("auditor", f"/instances/{instance_id}").json["data"]["intake_refusal"]
    check = refusal["request_signature"]
    assert check["valid"] is False and check["reason"]


def test_tampered_request_is_not_confirmed(api, state_systems):
    data = _application(api, state_systems, "900115300003")
    data["signed_request"] = _tamper(data["signed_request"])
    instance_id = api.start(data, user="portal")
    assert _outcome(api, instance_id) == ("completed", "signature_not_confirmed")


def test_good_portal_application_gets_a_licence_that_verifies(api, state_systems, pki_dir,
                                                              tmp_path):
    instance_id = api.start(_application(api, state_systems, "150140000012"), user="portal")
    api.walk(instance_id, ISSUE_AFTER_INTAKE)
    assert _outcome(api, instance_id) == ("completed", "licence_issued")
    links = api.get("auditor", f"/instances/{instance_id}").json["documents"]
    assert links == [f"/api/v1/instances/{instance_id}/documents/licence_signature.xml"]
    answer = api.get("auditor", links[0].removeprefix("/api/v1"))
    assert answer.status_code == 200 and answer.mimetype == "application/xml"
    document = tmp_path / "licence.xml"
    document.write_bytes(answer.data)
    assert _verify(document, pki_dir).returncode == 0
    tampered = bytearray(answer.data)
    at = tampered.index(b"Shygys")
    tampered[at] = ord("X")
    document.write_bytes(bytes(tampered))
    result = _verify(document, pki_dir)
    assert result.returncode == 1 and "INVALID" in result.stdout


def _verify(path, pki_dir):
    cli = Path(sys.executable).with_name("qyzmet-verify")  # the documented console script
    return subprocess.run([str(cli), "verify", str(path),
                           "--trust", str(pki_dir / "ca-chain.pem"),
                           "--crl", str(pki_dir / "crl.pem")],
                          capture_output=True, text=True, check=False, timeout=60)


def test_portal_channel_needs_the_portal_fields(api):
    data = {"applicant_iin_bin": "150140000012", "licence_case": "issue", "channel": "portal"}
    answer = api.post("portal", "/instances", json={"process": PROCESS, "data": data})
    assert answer.status_code == 422
    assert {"portal_session", "invoice_number", "signed_request"} <= set(answer.json["errors"])


def test_signature_cannot_be_moved_to_other_form_data(api, state_systems):
    data = _application(api, state_systems, "900115300003")
    data["invoice_number"] = portal.paid_invoice(state_systems.url, "900115300003")
    instance_id = api.start(data, user="portal")
    assert _outcome(api, instance_id) == ("completed", "signature_not_confirmed")
    refusal = api.get("auditor", f"/instances/{instance_id}").json["data"]["intake_refusal"]
    check = refusal["request_signature"]
    assert check["reason"] == "content_mismatch"
