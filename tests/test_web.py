"""The staff workspace through HTTP: sign-in, permissions, forms with field errors."""

import re

from tests.paths import PASSWORD
from tests.paths import PROCESS
from tests.paths import START


def _csrf(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def _login(client, username):
    token = _csrf(client.get("/login").get_data(as_text=True))
    return client.post("/login", data={"username": username, "password": PASSWORD,
                                       "csrf_token": token})


def test_pages_need_a_signed_in_user(client):
    answer = client.get("/")
    assert answer.status_code == 302 and "/login" in answer.location


def test_wrong_password_is_refused(client):
    token = _csrf(client.get("/login").get_data(as_text=True))
    answer = client.post("/login", data={"username": "head", "password": "x", "csrf_token": token})
    assert answer.status_code == 401
    assert "wrong password" in answer.get_data(as_text=True)


def test_forms_without_the_csrf_token_are_refused(client):
    _login(client, "operator")
    answer = client.post(f"/processes/{PROCESS}/start", data=START)
    assert answer.status_code == 400


def test_start_form_shows_errors_next_to_fields_and_keeps_input(client):
    _login(client, "operator")
    page = client.get(f"/processes/{PROCESS}/start").get_data(as_text=True)
    answer = client.post(f"/processes/{PROCESS}/start",
                         data={"applicant_iin_bin": "12345", "csrf_token": _csrf(page)})
    html = answer.get_data(as_text=True)
    assert answer.status_code == 422
    assert 'data-field-error="applicant_iin_bin"' in html
    assert 'data-field-error="licence_case"' in html
    assert 'value="12345"' in html


def test_operator_starts_and_office_cannot_open_the_operators_task(client, app):
    _login(client, "operator")
    page = client.get(f"/processes/{PROCESS}/start").get_data(as_text=True)
    answer = client.post(f"/processes/{PROCESS}/start", data={**START, "csrf_token": _csrf(page)})
    assert answer.status_code == 302
    instance_page = client.get(answer.location).get_data(as_text=True)
    assert "running" in instance_page and "Journal intact" in instance_page
    task_link = re.search(r'href="(/tasks/[0-9a-f-]+)"', instance_page).group(1)
    assert client.get(task_link).status_code == 200
    client.post("/logout", data={"csrf_token": _csrf(instance_page)})
    _login(client, "office")
    assert client.get(task_link).status_code == 403


def test_unknown_pages_are_404_pages(client):
    _login(client, "auditor")
    answer = client.get("/instances/does-not-exist")
    assert answer.status_code == 404
    assert "Traceback" not in answer.get_data(as_text=True)
