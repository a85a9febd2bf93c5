"""The API contract: both outcomes end to end, and every error answer."""

import pytest

from app.access import auth
from app.models import User
from app.models import db
from tests.paths import DOCUMENTS_REFUSED
from tests.paths import INTAKE
from tests.paths import ISSUE
from tests.paths import PROCESS
from tests.paths import REFUSAL
from tests.paths import START


@pytest.mark.parametrize(("start", "steps", "outcome", "expected"), [
    (START, ISSUE, "licence_issued", {"intake_outcome": "accepted", "qualification_met": True}),
    (START, REFUSAL, "reasoned_refusal", {"qualification_met": False}),
    (START, DOCUMENTS_REFUSED, "documents_not_accepted",
     {"decision": "documents_not_accepted", "delivered_via": "state_corporation"}),
    ({"applicant_iin_bin": "950301300013", "licence_case": "issue"}, [],
     "applicant_not_found", {}),
])
def test_paths_end_in_their_outcome(api, start, steps, outcome, expected):
    instance_id = api.start(start)
    api.walk(instance_id, steps)
    instance = api.get("auditor", f"/instances/{instance_id}").json
    assert (instance["status"], instance["outcome"]) == ("completed", outcome)
    assert instance["data"].items() >= expected.items()
    assert all(t["state"] != "ready" for t in instance["tasks"])


def test_licence_is_numbered_and_signed_by_the_head(api):
    instance_id = api.start(START)
    api.walk(instance_id, ISSUE)
    data = api.get("auditor", f"/instances/{instance_id}").json["data"]
    assert data["licence"]["licence_number"].startswith("KZ")
    assert data["licence_signature"]["signer"] == "head"
    assert data["applicant_record"]["name"]
    history = api.get("auditor", f"/instances/{instance_id}/history").json
    calls = [e["payload"]["operator"] for e in history if e["type"] == "service_called"]
    assert calls == ["registry/lookup_applicant", "licensing/register_application",
                     "licensing/issue_licence", "eds/sign_document"]
    assert [e["seq"] for e in history] == list(range(1, len(history) + 1))
    assert api.get("auditor", f"/instances/{instance_id}/history/verify").json["ok"]


def test_processes_list_and_start_form(api):
    listed = api.get("analyst", "/processes").json
    assert PROCESS in [p["key"] for p in listed]
    assert all(set(p["title"]) == {"kk", "ru", "en"} for p in listed)
    detail = api.get("operator", f"/processes/{PROCESS}").json
    assert detail["roles_allowed_to_start"] == ["operator", "portal"]
    assert "applicant_iin_bin" in detail["start_form"]["schema"]["properties"]


def test_invalid_form_data_gives_field_messages(api):
    answer = api.post("operator", "/instances", json={
        "process": PROCESS, "data": {"applicant_iin_bin": "12ab", "licence_case": "forever"}})
    assert answer.status_code == 422
    assert set(answer.json["errors"]) == {"applicant_iin_bin", "licence_case"}
    instance_id = api.start(START)
    task_id = api.ready_task("operator", instance_id, "attach_documents")
    answer = api.post("operator", f"/tasks/{task_id}/complete",
                      json={"data": {"page_count": 0, "certified_with_eds": False}})
    assert answer.status_code == 422
    assert set(answer.json["errors"]) == {"page_count", "certified_with_eds"}


def test_assigning_someone_without_the_role_is_refused(api):
    instance_id = api.start(START)
    api.walk(instance_id, ISSUE[:2])
    task_id = api.ready_task("head", instance_id, "assign_executor")
    answer = api.post("head", f"/tasks/{task_id}/complete", json={"data": {"executor": "office"}})
    assert answer.status_code == 422
    assert "executor" in answer.json["errors"]["executor"]


def test_another_roles_task_is_forbidden(api):
    instance_id = api.start(START)
    task_id = api.ready_task("operator", instance_id, "attach_documents")
    answer = api.post("office", f"/tasks/{task_id}/complete", json={"data": INTAKE[0][2]})
    assert answer.status_code == 403
    assert api.get("office", f"/tasks/{task_id}").status_code == 403
    started = api.post("office", "/instances", json={"process": PROCESS, "data": START})
    assert started.status_code == 403


def test_finished_task_conflicts(api):
    instance_id = api.start(START)
    task_id = api.ready_task("operator", instance_id, "attach_documents")
    first = api.post("operator", f"/tasks/{task_id}/complete", json={"data": INTAKE[0][2]})
    assert first.status_code == 200
    again = api.post("operator", f"/tasks/{task_id}/complete", json={"data": INTAKE[0][2]})
    assert again.status_code == 409
    assert api.post("operator", f"/tasks/{task_id}/claim").status_code == 409


def test_claim_by_someone_else_conflicts(app, api):
    with app.app_context():
        existing = db.session.query(User).filter_by(username="operator").one()
        db.session.add(User(username="operator2", full_name="Second Operator",
                            password_hash=existing.password_hash, roles="operator"))
        db.session.commit()
    instance_id = api.start(START)
    task_id = api.ready_task("operator", instance_id, "attach_documents")
    claimed = api.post("operator", f"/tasks/{task_id}/claim")
    assert (claimed.status_code, claimed.json["assignee"]) == (200, "operator")
    assert api.post("operator2", f"/tasks/{task_id}/claim").status_code == 409
    assert api.post("operator2", f"/tasks/{task_id}/complete",
                    json={"data": INTAKE[0][2]}).status_code == 409
    history = api.get("auditor", f"/instances/{instance_id}/history").json
    assert "task_claimed" in [e["type"] for e in history]


@pytest.mark.parametrize("path", ["/instances/nope", "/tasks/nope", "/processes/nope",
                                  "/instances/nope/history", "/no/such/route"])
def test_unknown_ids_are_404(api, path):
    answer = api.get("auditor", path)
    assert answer.status_code == 404
    assert "error" in answer.json


def test_malformed_json_is_400(api):
    headers = {**api.headers("operator"), "Content-Type": "application/json"}
    answer = api.client.post("/api/v1/instances", data="{not json", headers=headers)
    assert answer.status_code == 400
    assert "Traceback" not in answer.get_data(as_text=True)
    answer = api.client.post("/api/v1/auth/token", data="[1, 2", headers=headers)
    assert answer.status_code == 400


def test_without_a_token_is_401(client):
    assert client.get("/api/v1/processes").status_code == 401
    assert client.get("/api/v1/processes",
                      headers={"Authorization": "Bearer forged"}).status_code == 401
    wrong = client.post("/api/v1/auth/token", json={"username": "head", "password": "nope"})
    assert wrong.status_code == 401


def test_token_names_the_user(app):
    with app.app_context():
        token = auth.open_credential("head", "token", 60)
        directory = auth.Directory()
        assert auth.actor_for(token, "token", directory).username == "head"
        assert auth.actor_for(token, "session", directory) is None
        assert auth.actor_for(token[:-1] + "x", "token", directory) is None


def test_openapi_documents_the_contract(client):
    document = client.get("/api/v1/openapi.json").json
    for path in ("/auth/token", "/processes", "/processes/{key}", "/instances",
                 "/instances/{id}", "/tasks", "/tasks/{id}", "/tasks/{id}/claim",
                 "/tasks/{id}/complete", "/instances/{id}/history"):
        assert path in document["paths"], path
    assert document["paths"]["/tasks/{id}/complete"]["post"]["responses"]["422"]


def test_identifiers_are_explained_or_refused(api):
    described = api.get("operator", "/identifiers/900115300003").json
    assert (described["birth_date"], described["sex"]) == ("1990-01-15", "male")
    refused = api.get("operator", "/identifiers/900115300004")
    assert refused.status_code == 422 and "value" in refused.json["errors"]


def test_start_form_checks_the_iin_check_digit(api):
    answer = api.post("operator", "/instances", json={
        "process": PROCESS, "data": {"applicant_iin_bin": "900115300004", "licence_case": "issue"}})
    assert answer.status_code == 422
    assert "check digit" in answer.json["errors"]["applicant_iin_bin"]
