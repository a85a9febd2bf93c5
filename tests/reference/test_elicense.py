"""E-licensing: applications, one decision each, and licence reissue/duplicate/revoke."""

import datetime
import re

from tests.reference.http import call

YEAR = datetime.datetime.now(datetime.UTC).year
APPLICATION = {"applicant_iin_bin": "150140000012", "service": "survey_license",
               "licence_case": "issue"}
HOLDER = {"holder_iin_bin": "150140000012", "holder_name": '"Shygys Geo Survey" LLP',
          "activity": "topographic and geodetic survey"}


def register(server):
    """Register an application and return its number."""
    status, application = call(server, "POST", "/elicense/applications", APPLICATION)
    assert status == 201, application
    return application["application_number"]


def issue(server):
    """Register an application, issue its licence and return the licence."""
    number = register(server)
    status, licence = call(server, "POST", f"/elicense/applications/{number}/licence", HOLDER)
    assert status == 201, licence
    return licence


def test_register_and_read_application(service):
    status, application = call(service, "POST", "/elicense/applications", APPLICATION)
    assert status == 201
    assert application["application_number"] == f"KZ-APP-{YEAR}-000001"
    assert application.items() >= APPLICATION.items()
    assert application["registered_at"]
    number = application["application_number"]
    status, read = call(service, "GET", f"/elicense/applications/{number}")
    assert (status, read) == (200, {**application, "decision": None})
    assert call(service, "GET", "/elicense/applications/KZ-APP-1999-000001")[0] == 404


def test_application_bad_input(service):
    bad = {**APPLICATION, "applicant_iin_bin": "123"}
    assert call(service, "POST", "/elicense/applications", bad)[1]["error"] == "invalid_iin_bin"
    bad = {**APPLICATION, "licence_case": None}
    assert call(service, "POST", "/elicense/applications", bad)[1]["error"] == "bad_request"


def test_licence_is_issued_once(service):
    licence = issue(service)
    assert re.fullmatch(rf"KZ{YEAR % 100:02d}LIC\d{{8}}", licence["licence_number"])
    assert licence.items() >= {**HOLDER, "status": "issued"}.items()
    assert [e["event"] for e in licence["history"]] == ["issued"]
    path = f"/elicense/applications/{licence['application_number']}/licence"
    assert call(service, "POST", path, HOLDER) == (200, licence)
    assert call(service, "GET", f"/elicense/licences/{licence['licence_number']}") == (200, licence)
    status, application = call(service, "GET",
                               f"/elicense/applications/{licence['application_number']}")
    assert application["decision"] == "licence"
    second = issue(service)
    assert second["licence_number"] != licence["licence_number"]


def test_refusal_after_licence_is_a_conflict(service):
    licence = issue(service)
    path = f"/elicense/applications/{licence['application_number']}/refusal"
    status, body = call(service, "POST", path, {"reasons": "late"})
    assert (status, body["error"]) == (409, "conflict")


def test_refusal_is_made_once_and_blocks_a_licence(service):
    number = register(service)
    path = f"/elicense/applications/{number}/refusal"
    status, refusal = call(service, "POST", path, {"reasons": ["fee not paid"]})
    assert status == 201
    assert refusal["refusal_number"] == f"KZ-REF-{YEAR}-000001"
    assert (refusal["application_number"], refusal["reasons"]) == (number, ["fee not paid"])
    assert call(service, "POST", path, {"reasons": "other"}) == (200, refusal)
    assert call(service, "GET", f"/elicense/applications/{number}")[1]["decision"] == "refusal"
    status, body = call(service, "POST", f"/elicense/applications/{number}/licence", HOLDER)
    assert (status, body["error"]) == (409, "conflict")
    assert call(service, "POST", f"/elicense/applications/{number}/refusal", {})[0] == 200


def test_decisions_on_unknown_application(service):
    for decision in ("licence", "refusal"):
        path = f"/elicense/applications/KZ-APP-1999-000009/{decision}"
        assert call(service, "POST", path, {**HOLDER, "reasons": "x"})[0] == 404


def test_reissue_duplicate_revoke(service):
    number = issue(service)["licence_number"]
    base = f"/elicense/licences/{number}"
    status, reissued = call(service, "POST", f"{base}/reissue", {"reason": "new address"})
    assert (status, reissued["status"]) == (200, "reissued")
    status, duplicate = call(service, "POST", f"{base}/duplicate", {"reason": "lost"})
    assert (status, duplicate["status"]) == (200, "reissued")
    assert call(service, "POST", f"{base}/duplicate")[1]["status"] == "reissued"
    status, revoked = call(service, "POST", f"{base}/revoke", {"reason": "court decision"})
    assert (status, revoked["status"]) == (200, "revoked")
    assert [(e["event"], e["reason"]) for e in revoked["history"]] == [
        ("issued", None), ("reissued", "new address"), ("duplicate issued", "lost"),
        ("duplicate issued", None), ("revoked", "court decision")]
    assert all(e["at"] for e in revoked["history"])
    for change in ("reissue", "duplicate", "revoke"):
        status, body = call(service, "POST", f"{base}/{change}", {"reason": "again"})
        assert (status, body["error"]) == (409, "conflict")
    assert call(service, "GET", base) == (200, revoked)


def test_duplicate_keeps_issued_status(service):
    number = issue(service)["licence_number"]
    status, licence = call(service, "POST", f"/elicense/licences/{number}/duplicate", {})
    assert (status, licence["status"]) == (200, "issued")
    assert licence["history"][-1]["event"] == "duplicate issued"


def test_reissue_and_revoke_need_a_reason(service):
    number = issue(service)["licence_number"]
    for change in ("reissue", "revoke"):
        assert call(service, "POST", f"/elicense/licences/{number}/{change}", {})[0] == 400
    assert call(service, "POST", "/elicense/licences/KZ26LIC99999999/revoke",
                {"reason": "x"})[0] == 404
    assert call(service, "POST", f"/elicense/licences/{number}/suspend", {})[0] == 404


def test_licences_of_a_holder(service):
    first, second = issue(service), issue(service)
    status, held = call(service, "GET", "/elicense/licences?holder=150140000012")
    assert (status, held) == (200, [first, second])
    assert call(service, "GET", "/elicense/licences?holder=850722400018") == (200, [])
    assert call(service, "GET", "/elicense/licences?holder=1")[0] == 400
    assert call(service, "GET", "/elicense/licences/KZ26LIC99999999")[0] == 404
