"""GBD FL, GBD UL and portal sessions, over real HTTP on loopback."""

import datetime
import sqlite3
from contextlib import closing

import pytest

from reference.seed import DEMO_PASSWORD
from tests.reference.http import call


def test_person_found_with_sex_from_the_seventh_digit(service):
    assert call(service, "GET", "/gbdfl/persons/900115300003") == (200, {
        "iin": "900115300003", "surname": "Abenov", "given_name": "Nurlan",
        "patronymic": "Serikovich", "birth_date": "1990-01-15", "sex": "male"})
    status, dana = call(service, "GET", "/gbdfl/persons/000520600016")
    assert status == 200
    assert (dana["patronymic"], dana["sex"]) == (None, "female")


def test_person_without_a_company_is_in_gbd_fl(service):
    status, arman = call(service, "GET", "/gbdfl/persons/900115300401")
    assert (status, arman["surname"], arman["given_name"]) == (200, "Tulegenov", "Arman")


@pytest.mark.parametrize(("path", "status", "error"), [
    ("/gbdfl/persons/900115300413", 404, "not_found"),   # valid check digit, not registered
    ("/gbdfl/persons/150140000012", 404, "not_found"),   # a BIN is not a person
    ("/gbdfl/persons/900115300004", 400, "invalid_iin_bin"),
    ("/gbdfl/persons/90011530000", 400, "invalid_iin_bin"),
    ("/gbdfl/persons/90011530000x", 400, "invalid_iin_bin"),
    ("/gbdul/companies/160560000018", 404, "not_found"),
    ("/gbdul/companies/150140000013", 400, "invalid_iin_bin"),
])
def test_lookup_errors(service, path, status, error):
    answer_status, body = call(service, "GET", path)
    assert (answer_status, body["error"]) == (status, error)
    assert body["message"]


def test_company_found_with_its_head(service):
    assert call(service, "GET", "/gbdul/companies/150140000012") == (200, {
        "bin": "150140000012", "name": '"Shygys Geo Survey" LLP',
        "registered_on": "2015-01-20", "form": "LLP",
        "head": {"iin": "850722400018", "name": "Sadykova Aigerim Bolatkyzy"}})
    status, branch = call(service, "GET", "/gbdul/companies/160341000017")
    assert (status, branch["head"]["iin"]) == (200, "900115300003")


def test_unknown_path_and_wrong_method_answer_json(service):
    assert call(service, "GET", "/gbdfl/nowhere")[1]["error"] == "not_found"
    assert call(service, "DELETE", "/gbdfl/persons/900115300003") == (405, {
        "error": "method_not_allowed",
        "message": "The method is not allowed for the requested URL."})


@pytest.mark.parametrize("iin_bin", ["850722400018", "150140000012"])
def test_portal_session_for_a_demo_account(service, iin_bin):
    status, opened = call(service, "POST", "/portal/sessions",
                          {"iin_bin": iin_bin, "password": DEMO_PASSWORD})
    assert status == 201
    assert opened["iin_bin"] == iin_bin
    assert len(opened["session"]) >= 32
    expires = datetime.datetime.fromisoformat(opened["expires_at"])
    now = datetime.datetime.now(datetime.UTC)
    assert datetime.timedelta(minutes=59) < expires - now <= datetime.timedelta(hours=1)
    assert call(service, "GET", f"/portal/sessions/{opened['session']}") == (200, {
        "iin_bin": iin_bin, "valid": True, "expires_at": opened["expires_at"]})


@pytest.mark.parametrize("credentials", [
    {"iin_bin": "850722400018", "password": "wrong"},
    {"iin_bin": "900115300413", "password": DEMO_PASSWORD},  # valid IIN, no account
])
def test_portal_refuses_bad_credentials(service, credentials):
    status, body = call(service, "POST", "/portal/sessions", credentials)
    assert (status, body["error"]) == (401, "unauthorised")


def test_portal_stores_no_password(service, tmp_path):
    with closing(sqlite3.connect(tmp_path / "reference.sqlite")) as conn:
        hashes = [row[0] for row in conn.execute("SELECT password_hash FROM account")]
    assert len(hashes) == 7
    assert not any(DEMO_PASSWORD in h for h in hashes)


def test_unknown_and_expired_sessions(service, tmp_path):
    assert call(service, "GET", "/portal/sessions/no-such-token")[0] == 404
    token = call(service, "POST", "/portal/sessions",
                 {"iin_bin": "900115300003", "password": DEMO_PASSWORD})[1]["session"]
    past = (datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=1)).isoformat()
    with closing(sqlite3.connect(tmp_path / "reference.sqlite")) as conn, conn:
        conn.execute("UPDATE portal_session SET expires_at = ? WHERE token = ?", (past, token))
    status, body = call(service, "GET", f"/portal/sessions/{token}")
    assert (status, body["valid"]) == (200, False)
