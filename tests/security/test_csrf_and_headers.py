"""Finding 2: CSRF fails closed, cookies are SameSite and HttpOnly, answers carry headers."""

import pytest

from tests.paths import PASSWORD
from tests.security.web import csrf_of
from tests.security.web import sign_in


def test_login_without_a_token_and_without_a_cookie_is_refused(client):
    answer = client.post("/login", data={"username": "operator", "password": PASSWORD})
    assert answer.status_code == 400
    assert "reload the page" in answer.get_data(as_text=True)
    assert client.get("/").status_code == 302  # not signed in


def test_login_with_a_forged_token_is_refused(client):
    client.get("/login")
    answer = client.post("/login", data={"username": "operator", "password": PASSWORD,
                                         "csrf_token": "forged"})
    assert answer.status_code == 400


def test_state_changing_posts_need_the_token_after_sign_in(client, api):
    instance_id = api.start({"applicant_iin_bin": "150140000012", "licence_case": "issue"})
    task_id = api.ready_task("operator", instance_id, "attach_documents")
    sign_in(client, "operator")
    for path in (f"/tasks/{task_id}/claim", "/logout", "/language",
                 f"/instances/{instance_id}/retry"):
        assert client.post(path, data={}).status_code == 400, path
    history = api.get("auditor", f"/instances/{instance_id}/history").json
    assert "task_claimed" not in [e["type"] for e in history]
    page = client.get("/").get_data(as_text=True)
    assert client.post(f"/tasks/{task_id}/claim",
                       data={"csrf_token": csrf_of(page)}).status_code == 302


def test_the_session_cookie_is_samesite_lax_and_httponly(client):
    answer = sign_in(client, "operator")
    cookie = answer.headers["Set-Cookie"]
    assert "SameSite=Lax" in cookie and "HttpOnly" in cookie and "Secure" not in cookie


def test_the_session_cookie_is_secure_when_configured(make_app, tmp_path):
    client = make_app(tmp_path, SESSION_COOKIE_SECURE=True).test_client()
    assert "Secure" in sign_in(client, "operator").headers["Set-Cookie"]


@pytest.mark.parametrize("path", ["/login", "/", "/api/v1/openapi.json", "/api/v1/processes",
                                  "/no-such-page"])
def test_every_answer_carries_security_headers(client, path):
    headers = client.get(path).headers
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Cache-Control"] == "no-store"
