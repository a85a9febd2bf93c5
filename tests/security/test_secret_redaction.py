"""Finding 10: portal session tokens and signed requests are shown to no reader, only their hash."""

import copy
import hashlib
import json
from pathlib import Path

import pytest

import handlers
from app.audit import redaction
from tests import portal

FORMS = Path(__file__).parents[2] / "forms"
APPLICANT = "900115300003"
SECRETS = ("portal_session", "signed_request")


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def test_secret_names_are_the_write_only_fields_and_the_secret_parameters():
    names = redaction.secret_names(FORMS)
    assert {"portal_session", "signed_request", "session"} <= names
    assert handlers.SECRET_PARAMETERS <= names
    assert not names & {"applicant_iin_bin", "invoice_number", "licence_case", "channel"}


def test_secret_names_read_write_only_fields_of_any_form(tmp_path):
    form = {"type": "object", "properties": {
        "pin": {"type": "string", "writeOnly": True}, "note": {"type": "string"},
        "card": {"type": "object", "properties": {"cvv": {"type": "string", "writeOnly": True}}}}}
    (tmp_path / "some_process").mkdir()
    (tmp_path / "some_process" / "start.schema.json").write_text(json.dumps(form))
    assert redaction.secret_names(tmp_path) == {"pin", "cvv"} | handlers.SECRET_PARAMETERS


def test_redact_replaces_secrets_by_their_hash_in_a_deep_copy():
    value = {"portal_session": "token-123", "nested": [{"session": {"b": 1, "a": [2]}}],
             "applicant_iin_bin": APPLICANT}
    original = copy.deepcopy(value)
    shown = redaction.redact(value, {"portal_session", "session"})
    assert value == original
    assert shown == {
        "portal_session": {"redacted": True, "sha256": _sha256("token-123")},
        "nested": [{"session": {"redacted": True, "sha256": _sha256('{"a":[2],"b":1}')}}],
        "applicant_iin_bin": APPLICANT}
    assert redaction.redact(shown, {"portal_session", "session"}) == shown


@pytest.fixture
def portal_case(api, state_systems):
    """Start a good portal application; return (instance id, its raw secrets)."""
    data = portal.application(state_systems.url, APPLICANT, version=portal.service_version(api))
    instance_id = api.start(data, user="portal")
    return instance_id, {name: data[name] for name in SECRETS}


def _assert_hidden(shown, secrets: dict) -> None:
    text = json.dumps(shown)
    for name, raw in secrets.items():
        assert raw not in text, f"the raw {name} is shown"
        assert "<ds:Signature" not in text and "SignatureValue" not in text


def test_the_journal_keeps_only_the_hash_of_secrets(api, portal_case):
    instance_id, secrets = portal_case
    events = api.get("auditor", f"/instances/{instance_id}/history?limit=500").json
    _assert_hidden(events, secrets)
    started = next(e for e in events if e["type"] == "instance_started")["payload"]["data"]
    assert {name: started[name] for name in SECRETS} == {
        name: {"redacted": True, "sha256": _sha256(raw)} for name, raw in secrets.items()}
    calls = {e["payload"]["operator"]: e["payload"]["params"] for e in events
             if e["type"] == "service_called"}
    assert calls["portal/check_session"]["session"]["redacted"] is True
    assert calls["eds/verify_request_signature"]["signed_request"]["sha256"] == _sha256(
        secrets["signed_request"])
    assert api.get("auditor", f"/instances/{instance_id}/history/verify").json["ok"] is True


def test_the_instance_view_shows_no_secret(api, portal_case):
    instance_id, secrets = portal_case
    instance = api.get("auditor", f"/instances/{instance_id}").json
    assert instance["status"] == "running"  # the workflow itself still had the raw values
    _assert_hidden(instance, secrets)
    assert instance["data"]["portal_session"] == {
        "redacted": True, "sha256": _sha256(secrets["portal_session"])}


def test_the_task_view_shows_no_secret(api, portal_case):
    instance_id, secrets = portal_case
    task_id = api.ready_task("head", instance_id, "assign_executor")  # a portal case: no receipt
    task = api.get("head", f"/tasks/{task_id}").json
    _assert_hidden(task, secrets)
    assert task["data"]["signed_request"]["redacted"] is True


def test_failed_calls_and_their_incident_show_no_secret(api, state_systems):
    data = portal.application(state_systems.url, APPLICANT, version=portal.service_version(api))
    portal.post_json(f"{state_systems.url}/_control/faults",  # down for all three attempts
                     {"system": "portal", "mode": "error", "count": 3})
    instance_id = api.start(data, user="portal")
    secrets = {name: data[name] for name in SECRETS}
    events = api.get("auditor", f"/instances/{instance_id}/history?limit=500").json
    failed = [e["payload"] for e in events if e["type"] == "service_unavailable"]
    assert [f["operator"] for f in failed] == ["portal/check_session"] * 3
    assert failed[0]["params"]["session"] == {
        "redacted": True, "sha256": _sha256(data["portal_session"])}
    assert "[redacted]" in failed[0]["error"]
    _assert_hidden(events, secrets)
    instance = api.get("auditor", f"/instances/{instance_id}").json
    assert instance["status"] == "incident" and "[redacted]" in instance["incident"]["error"]
    _assert_hidden(instance, secrets)
