"""The OpenAPI document tells the truth about the routes: every one, with its parameters."""

import re

import jsonschema
import pytest

from app.views.openapi import openapi_document
from tests.paths import ISSUE
from tests.paths import START

PREFIX = "/api/v1"
IGNORED_METHODS = {"HEAD", "OPTIONS"}


def _shape(template: str) -> str:
    """Return a path template with every parameter, Flask's or OpenAPI's, as `{}`."""
    return re.sub(r"<(?:[^<>:]+:)?[^<>]+>|\{[^{}]+\}", "{}", template)


def _routes(app) -> set[tuple[str, str]]:
    return {(method.lower(), _shape(rule.rule.removeprefix(PREFIX)))
            for rule in app.url_map.iter_rules() if rule.rule.startswith(f"{PREFIX}/")
            for method in rule.methods - IGNORED_METHODS}


def _documented() -> set[tuple[str, str]]:
    return {(method, _shape(path)) for path, operations in openapi_document()["paths"].items()
            for method in operations}


def _operations():
    for path, operations in openapi_document()["paths"].items():
        for method, operation in operations.items():
            yield method, path, operation


def _resolve(document: dict, schema: dict) -> dict:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def test_every_route_is_documented(app):
    assert _routes(app) - _documented() == set()


def test_every_documented_operation_is_a_route(app):
    assert _documented() - _routes(app) == set()


def test_every_path_parameter_is_declared_with_a_schema():
    for method, path, operation in _operations():
        in_template = re.findall(r"\{([^{}]+)\}", path)
        declared = [p for p in operation.get("parameters", []) if p["in"] == "path"]
        assert sorted(p["name"] for p in declared) == sorted(in_template), (method, path)
        assert all(p["required"] and p["schema"].get("type") for p in declared), (method, path)


def test_every_error_is_json_and_every_guarded_operation_may_answer_401():
    for method, path, operation in _operations():
        errors = {code: answer for code, answer in operation["responses"].items()
                  if code.startswith(("4", "5"))}
        for code, answer in errors.items():
            schema = answer["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/Error"}, (method, path, code)
        if operation["security"]:
            assert "401" in errors, (method, path)
        if "requestBody" in operation:
            assert {"400", "413", "422"} <= errors.keys(), (method, path)


def test_rate_limited_answers_carry_retry_after():
    limited = [(method, path, operation["responses"]["429"]) for method, path, operation
               in _operations() if "429" in operation["responses"]]
    assert ("post", "/auth/token") in [(method, path) for method, path, _ in limited]
    for _, _, answer in limited:
        assert answer["headers"]["Retry-After"]["required"] is True


def test_history_pages_are_documented():
    operation = openapi_document()["paths"]["/instances/{id}/history"]["get"]
    query = {p["name"]: p["schema"] for p in operation["parameters"] if p["in"] == "query"}
    assert query["after"]["minimum"] == 0
    assert (query["limit"]["minimum"], query["limit"]["maximum"]) == (1, 500)
    assert "Link" in operation["responses"]["200"]["headers"]


def test_identifier_parameter_admits_only_twelve_digits():
    operation = openapi_document()["paths"]["/identifiers/{value}"]["get"]
    schema = operation["parameters"][0]["schema"]
    assert not jsonschema.Draft202012Validator(schema).is_valid("0")
    assert jsonschema.Draft202012Validator(schema).is_valid("900115300004")
    assert "422" in operation["responses"]


def test_a_wrong_check_digit_is_the_documented_422(api):
    answer = api.get("admin", "/identifiers/900115300004")
    assert answer.status_code == 422
    document = openapi_document()
    error = _resolve(document, {"$ref": "#/components/schemas/Error"})
    jsonschema.validate(answer.json, error)
    assert "value" in answer.json["errors"]


@pytest.mark.parametrize(("method", "path", "template"), [
    ("TRACE", "/processes", "/processes"), ("PUT", "/tasks/x", "/tasks/{id}"),
    ("DELETE", "/instances", "/instances"), ("PATCH", "/auth/token", "/auth/token")])
def test_unsupported_methods_answer_405_with_allow(client, method, path, template):
    answer = client.open(f"{PREFIX}{path}", method=method)
    assert answer.status_code == 405
    assert answer.is_json and answer.json["error"]
    allowed = {m.strip().lower() for m in answer.headers.get("Allow", "").split(",")}
    assert set(openapi_document()["paths"][template]) <= allowed


def test_signed_documents_are_xml_as_documented(api):
    operation = openapi_document()["paths"]["/instances/{id}/documents/{name}.xml"]["get"]
    assert list(operation["responses"]["200"]["content"]) == ["application/xml"]
    instance_id = api.start(START)
    api.walk(instance_id, ISSUE)
    documents = api.get("admin", f"/instances/{instance_id}").json["documents"]
    assert documents, "the issued licence offers no signed document"
    answer = api.client.get(documents[0], headers=api.headers("admin"))
    assert answer.status_code == 200
    assert answer.mimetype == "application/xml"
    assert answer.get_data().lstrip().startswith(b"<")
    missing = api.get("admin", f"/instances/{instance_id}/documents/no_such.xml")
    assert missing.status_code == 404 and missing.is_json


def _error_schema() -> dict:
    document = openapi_document()
    return {**document["components"]["schemas"]["Error"], "components": document["components"]}


def test_rate_limited_sign_in_is_the_documented_429(client):
    answers = [client.post(f"{PREFIX}/auth/token", json={"username": "admin", "password": "no"})
               for _ in range(8)]
    limited = [a for a in answers if a.status_code == 429]
    assert limited, [a.status_code for a in answers]
    jsonschema.validate(limited[0].json, _error_schema())
    assert re.fullmatch(r"[0-9]+", limited[0].headers["Retry-After"])


def test_a_too_large_body_is_the_documented_413(client, app):
    body = b'{"username": "' + b"x" * app.config["MAX_CONTENT_LENGTH"] + b'"}'
    answer = client.post(f"{PREFIX}/auth/token", data=body, content_type="application/json")
    assert answer.status_code == 413
    jsonschema.validate(answer.json, _error_schema())


def test_history_pages_link_to_the_next_page(api):
    instance_id = api.start(START)
    first = api.get("admin", f"/instances/{instance_id}/history?limit=1")
    assert first.status_code == 200 and len(first.json) == 1
    seq = first.json[0]["seq"]
    assert first.headers["Link"] == (f"<{PREFIX}/instances/{instance_id}/history?after={seq}"
                                     '&limit=1>; rel="next"')
    everything = api.get("admin", f"/instances/{instance_id}/history?limit=500")
    assert "Link" not in everything.headers
