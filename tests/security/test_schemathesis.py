"""Fuzz the live API over real HTTP against its own OpenAPI document (schemathesis).

The app runs in a WSGI server thread on an ephemeral loopback port; schemathesis loads
/api/v1/openapi.json from it and sends every operation explicit examples, coverage cases
(boundary values, unsupported methods, missing auth) and bounded random cases, positive and
negative, with a fixed seed and no shrinking. A 5xx, an undocumented status code, content type
or header, or a body that breaks its schema fails the test.

Every case gets a token of its own, minted like `POST /auth/token` does, so the operations that
end credentials (`DELETE /auth/token`, `DELETE /users/{username}/tokens`, a password change)
are fuzzed too without cutting off the rest of the run, and the sign-in rate limit the fuzzer
trips on `POST /auth/token` (a documented 429) never locks it out.
"""

import json
import threading
import urllib.request

import pytest
import schemathesis
from werkzeug.serving import make_server

from app.access import auth
from tests.paths import ISSUE
from tests.paths import START

SEED = 20240611
TOKEN_LIFETIME = 600
CHECKS = ("not_a_server_error", "status_code_conformance", "content_type_conformance",
          "response_schema_conformance", "response_headers_conformance", "ignored_auth",
          "unsupported_method", "allow_header_conformance", "negative_data_rejection")
# schema-valid requests are never refused as malformed (400) or invalid (422) ...
ACCEPTED = ["200", "201", "204", "401", "403", "404", "409", "429"]
# ... except the form data of a start or a completion, which the process's forms check, and
# an identifier's check digit, which no JSON Schema can state (a documented 422)
NOT_BY_SCHEMA_ALONE = [("/instances", "POST"), ("/tasks/{id}/complete", "POST"),
                      ("/identifiers/{value}", "GET")]
CONFIG = {
    "seed": SEED,
    "generation": {"mode": "all", "max-examples": 12, "no-shrink": True, "deterministic": True,
                   "database": "none"},
    "phases": {"examples": {"enabled": True}, "coverage": {"enabled": True},
               "fuzzing": {"enabled": True}, "stateful": {"enabled": False}},
    "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS},
               "positive_data_acceptance": {"enabled": True, "expected-statuses": ACCEPTED}},
    "operations": [{"include-path": path, "include-method": method,
                    "checks": {"positive_data_acceptance": {"enabled": False}}}
                   for path, method in NOT_BY_SCHEMA_ALONE],
    "request-timeout": 10,
}


@pytest.fixture
def live_url(app):
    """Serve the app over real HTTP on an ephemeral loopback port while the test runs."""
    server = make_server("127.0.0.1", 0, app, threaded=False)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)
    server.server_close()


def fresh_tokens(app, username: str):
    """Return an auth provider class that gives every case a new token of `username`."""

    class FreshToken:
        def get(self, case, context):
            with app.app_context():
                return auth.open_credential(username, "token", TOKEN_LIFETIME)

        def set(self, case, data, context):
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}

    return FreshToken


def live_ids(api) -> dict[str, str]:
    """Issue one licence and start one more application; return ids the fuzzer cannot guess."""
    issued = api.start(START)
    api.walk(issued, ISSUE)
    document = api.get("admin", f"/instances/{issued}").json["documents"][0]
    waiting = api.start(START)
    return {"instance": issued, "document": document.rsplit("/", 1)[1].removesuffix(".xml"),
            "task": api.ready_task("operator", waiting, "attach_documents")}


def with_examples(document: dict, ids: dict[str, str]) -> dict:
    """Give the path parameters that name an instance, task or document a live example."""
    for path, operations in document["paths"].items():
        owner = "task" if path.startswith("/tasks/") else "instance"
        for operation in operations.values():
            for param in operation.get("parameters", []):
                if param["in"] == "path" and param["name"] in ("id", "name"):
                    param["example"] = ids[owner if param["name"] == "id" else "document"]
    return document


@pytest.fixture(params=["admin", "operator"])
def live_schema(request, app, api, live_url):
    """Load the OpenAPI document from the live app; authenticate cases as a demo user."""
    # schemathesis 4.32's lazy loader renames the test node through `_nodeid`, which pytest
    # 9.2 no longer has (node ids live in `_id`); give it the attribute it reads.
    request.node._nodeid = request.node.nodeid
    ids = live_ids(api)
    with urllib.request.urlopen(f"{live_url}/api/v1/openapi.json") as answer:
        document = json.load(answer)
    config = schemathesis.Config.from_dict({**CONFIG, "base-url": f"{live_url}/api/v1"})
    schema = schemathesis.openapi.from_dict(with_examples(document, ids), config=config)
    schema.auth.auth(refresh_interval=None, retry_on=[])(fresh_tokens(app, request.param))
    return schema


schema = schemathesis.pytest.from_fixture("live_schema")


@schema.parametrize()
def test_the_live_api_keeps_its_documented_contract(case):
    case.call_and_validate()
