"""Finding 7 (first half): the portal integration account reads only the applications it
submitted — never a State Corporation case, the head's identity or other applicants' licences."""

from tests import portal
from tests.paths import ISSUE
from tests.paths import START


def _portal_case(api, state_systems):
    data = portal.application(state_systems.url, "150140000012",
                              version=portal.service_version(api))
    return api.start(data, user="portal")


def test_the_portal_reads_its_own_application(api, state_systems):
    mine = _portal_case(api, state_systems)
    assert api.get("portal", f"/instances/{mine}").status_code == 200
    assert api.get("portal", f"/instances/{mine}/history").status_code == 200
    assert [i["id"] for i in api.get("portal", "/instances").json] == [mine]


def test_the_portal_cannot_read_a_state_corporation_case(api, state_systems):
    _portal_case(api, state_systems)
    theirs = api.start(START)
    api.walk(theirs, ISSUE)  # a licence signed by the head, for another applicant
    licence = "/documents/licence_signature.xml"
    assert api.get("auditor", f"/instances/{theirs}{licence}").status_code == 200
    for path in ("", "/history", "/history/verify", licence):
        answer = api.get("portal", f"/instances/{theirs}{path}")
        assert answer.status_code == 404, (path, answer.status_code)
    assert theirs not in [i["id"] for i in api.get("portal", "/instances").json]
    assert api.get("portal", f"/tasks?instance={theirs}").json == []


def test_staff_and_auditors_still_read_every_case_they_should(api, state_systems):
    mine = _portal_case(api, state_systems)
    theirs = api.start(START)
    listed = {i["id"] for i in api.get("auditor", "/instances").json}
    assert {mine, theirs} <= listed
    assert api.get("office", f"/instances/{theirs}").status_code == 200
    assert api.get("analyst", f"/instances/{theirs}").status_code == 403
