"""Finding 3: odd input is refused with 400/422 and a message, before the engine or any state
system sees it, and nothing is written."""

import itsdangerous
import pytest
from flask.sessions import SecureCookieSessionInterface

from tests.paths import PROCESS
from tests.paths import START
from tests.security.ledger import counts
from tests.security.ledger import record_state_system_calls
from tests.security.web import bearer
from tests.security.web import csrf_of
from tests.security.web import sign_in
from tests.security.web import token_of

SURROGATE = '"\\ud800"'
START_FIELDS = '"applicant_iin_bin": "150140000012", "licence_case": "issue"'


def _post_raw(client, token, path, text):
    return client.post(f"/api/v1{path}", data=text.encode(), headers={
        **bearer(token), "Content-Type": "application/json"})


@pytest.mark.parametrize("body", [
    f'{{"process": {SURROGATE}, "data": {{}}}}',
    f'{{"process": "{PROCESS}", "data": {{{START_FIELDS}, "contact_phone": {SURROGATE}}}}}',
    f'{{"process": "{PROCESS}", "data": {{{START_FIELDS}, "channel": "portal", '
    f'"portal_session": {SURROGATE}}}}}',
    f'{{"process": "{PROCESS}", "data": {{{SURROGATE}: 1}}}}',
])
def test_a_lone_surrogate_is_refused_before_anything_runs(app, client, monkeypatch, body):
    calls = record_state_system_calls(monkeypatch)
    token = token_of(client, "operator")
    before = counts(app)
    answer = _post_raw(client, token, "/instances", body)
    assert answer.status_code == 422, answer.json
    assert "surrogate" in str(answer.json)
    assert calls == [] and counts(app) == before


def test_a_lone_surrogate_in_a_task_completion_is_refused(app, client, api):
    instance_id = api.start(START)
    task_id = api.ready_task("operator", instance_id, "attach_documents")
    before = counts(app)
    answer = _post_raw(client, api.tokens["operator"], f"/tasks/{task_id}/complete",
                       f'{{"data": {{"page_count": 1, "note": {SURROGATE}}}}}')
    assert answer.status_code == 422 and counts(app) == before


@pytest.mark.parametrize("depth", [33, 10_000])
def test_deeply_nested_json_is_refused(app, client, depth):
    token = token_of(client, "operator")
    body = '{"process": "x", "data": ' + "[" * depth + "]" * depth + "}"
    before = counts(app)
    answer = _post_raw(client, token, "/instances", body)
    assert answer.status_code == 400 and "nested deeper" in answer.json["error"]
    assert counts(app) == before


def test_integers_beyond_what_json_holds_exactly_are_refused(app, client):
    token = token_of(client, "operator")
    answer = _post_raw(client, token, "/instances",
                       f'{{"process": "{PROCESS}", "data": {{"page_count": {"9" * 400}}}}}')
    assert answer.status_code == 422 and "data.page_count" in answer.json["errors"]


def test_malformed_json_and_nan_are_400(client):
    token = token_of(client, "operator")
    assert _post_raw(client, token, "/instances", "{").status_code == 400
    assert _post_raw(client, token, "/instances", '{"process": NaN}').status_code == 400


@pytest.mark.parametrize("value", ["²", "9" * 5000, "1e3", "٣"])
def test_web_integer_fields_with_odd_digits_get_a_field_error(app, client, api, value):
    instance_id = api.start(START)
    task_id = api.ready_task("operator", instance_id, "attach_documents")
    sign_in(client, "operator")
    page = client.get(f"/tasks/{task_id}").get_data(as_text=True)
    client.post(f"/tasks/{task_id}/claim", data={"csrf_token": csrf_of(page)})
    before = counts(app)
    answer = client.post(f"/tasks/{task_id}", data={
        "page_count": value, "certified_with_eds": "true",
        "csrf_token": csrf_of(page)})
    html = answer.get_data(as_text=True)
    assert answer.status_code == 422
    assert 'data-field-error="page_count"' in html and "whole number" in html
    assert value[:50] not in html.split('data-field-error="page_count"')[1][:300]
    assert counts(app) == before


def test_a_too_long_field_is_named_without_echoing_it(client, api):
    answer = api.post("operator", "/instances", json={"process": PROCESS, "data": {
        **START, "contact_phone": "+7" + "7" * 5000}})
    assert answer.status_code == 422
    message = answer.json["errors"]["contact_phone"]
    assert len(message) < 120 and "7777777777" not in message


def test_a_signed_session_whose_fields_are_lists_is_only_a_visitor(app, client):
    signer = SecureCookieSessionInterface().get_signing_serializer(app)
    assert isinstance(signer, itsdangerous.URLSafeTimedSerializer)
    for forged in ({"sid": ["qz_x"]}, {"user": ["admin"]}, {"sid": {"a": 1}}):
        client.set_cookie("session", signer.dumps(forged), domain="localhost")
        answer = client.get("/")
        assert answer.status_code == 302 and "/login" in answer.location


@pytest.mark.parametrize("header", ["Bearer ", "Bearer [1,2]", "Bearer " + "x" * 5000,
                                    "Basic abc", "Bearer qz_\u00e9"])
def test_odd_bearer_tokens_are_401(client, header):
    answer = client.get("/api/v1/processes", headers={"Authorization": header})
    assert answer.status_code == 401
