"""The OpenAPI 3.1 document of /api/v1: every route with its parameters, bodies, answers, errors.

`OPERATIONS` is the one table; tests/security check it against the Flask URL map and fuzz the
live app against it (schemathesis), so a route, a status code or a field that the document does
not tell the truth about fails the build.
"""

from copy import deepcopy

from app.audit import replay_batch
from app.timing.clock import MAX_ADVANCE

PROCESS_KEY = "survey_license_east_kazakhstan_2016"
HISTORY_PAGE_LIMIT = 500
HISTORY_AFTER_MAX = 999_999_999  # `after` is at most nine digits

_ERRORS = {
    "400": "malformed request: not JSON, not a JSON object, nested too deep, invalid Unicode, "
           "or a bad query parameter",
    "401": "no token, or a bad, expired or revoked token",
    "403": "your roles do not allow it",
    "404": "no such process, instance, task, document or user",
    "409": "conflict: already done, or held by someone else",
    "413": "the request body is too large",
    "422": "invalid data: `errors` maps each field to a message",
    "429": "too many attempts: wait `Retry-After` seconds",
}
_JSON_BODY_ERRORS = "400 413 422"
_STR = {"type": "string"}
_INT = {"type": "integer"}
_BOOL = {"type": "boolean"}
_TIME = {"type": ["string", "null"]}
_NULLABLE_STR = {"type": ["string", "null"]}
_OBJ = {"type": "object"}
_STRINGS = {"type": "array", "items": _STR}
_TEXTS = {"type": "object", "additionalProperties": _STR}
_ID = {"type": "string", "minLength": 1, "pattern": "^[^/]+$"}
_STATUS = {"enum": ["running", "completed", "incident"]}
_TASK_STATE = {"enum": ["ready", "completed", "cancelled"]}


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _object(required: str, optional: str = "", **fields) -> dict:
    """Return an object schema; `required` and `optional` name its fields, space-separated."""
    names = required.split() + optional.split()
    return {"type": "object", "required": required.split(),
            "properties": {name: fields.get(name, {}) for name in names}}


_FORM = _object("schema ui", schema=_OBJ, ui=_OBJ)
_PROCESS = _object("key version title regulation sha256 deployed_at roles_allowed_to_start lanes",
                   key=_STR, version=_INT, title=_TEXTS, regulation=_NULLABLE_STR, sha256=_STR,
                   deployed_at=_TIME, roles_allowed_to_start=_STRINGS, lanes=_TEXTS)
_TASK = _object("id instance bpmn_id name lane state assignee due_at created_at completed_by "
                "completed_at escalated_at", id=_STR, instance=_STR, bpmn_id=_STR, name=_STR,
                lane=_STR, state=_TASK_STATE, assignee=_NULLABLE_STR, due_at=_TIME,
                created_at=_TIME, completed_by=_NULLABLE_STR, completed_at=_TIME,
                escalated_at=_TIME)
_INCIDENT = {"oneOf": [{"type": "null"}, _object("task error", task=_NULLABLE_STR, error=_STR)]}
_WAIT = _object("kind what task since", "attempts max_attempts next_attempt last_error until",
                kind={"enum": ["person", "system", "timer"]}, what=_STR, task=_STR, since=_TIME,
                attempts=_INT, max_attempts=_INT, next_attempt=_TIME,
                last_error=_NULLABLE_STR, until=_TIME)
_SUMMARY_FIELDS = {"id": _STR, "business_key": _STR, "process": _STR, "title": _TEXTS,
                   "status": _STATUS, "outcome": _NULLABLE_STR, "applicant_iin_bin": _NULLABLE_STR,
                   "updated_at": _TIME}
SCHEMAS = {
    "Error": {"type": "object", "required": ["error"],
              "properties": {"error": _STR, "errors": _OBJ}},
    "Token": _object("token username roles expires_in", token=_STR, username=_STR,
                     roles=_STRINGS, expires_in={"type": "integer", "minimum": 1}),
    "Process": _PROCESS,
    "ProcessWithForm": {"allOf": [_PROCESS, _object("start_form", start_form=_FORM)]},
    "Started": _object("id status business_key", id=_STR, status=_STATUS, business_key=_STR),
    "InstanceSummary": _object(" ".join(_SUMMARY_FIELDS), **_SUMMARY_FIELDS),
    "Instance": _object("id process version business_key applicant_iin_bin status outcome "
                        "incident waits_for title started_by created_at updated_at data tasks "
                        "documents", **_SUMMARY_FIELDS, version=_INT, incident=_INCIDENT,
                        waits_for={"type": "array", "items": _WAIT}, started_by=_STR,
                        created_at=_TIME, data=_OBJ,
                        tasks={"type": "array", "items": _ref("Task")},
                        documents={"type": "array", "items": _STR}),
    "Event": _object("seq type at actor payload hash prev_hash", seq=_INT, type=_STR, at=_STR,
                     actor=_STR, payload={}, hash=_STR, prev_hash=_STR),
    "ChainCheck": _object("ok events first_broken first_broken_seq", ok=_BOOL, events=_INT,
                          first_broken={"oneOf": [{"type": "null"}, _ref("BrokenLink")]},
                          first_broken_seq={"type": ["integer", "null"]}),
    "BrokenLink": _object("seq kind expected found", seq=_INT,
                          kind={"enum": ["edited", "deleted", "inserted", "reordered"]},
                          expected=_OBJ, found=_OBJ),
    "ChainsCheck": _object("cases ok broken", cases=_INT, ok=_BOOL, broken={
        "type": "array", "items": _object("instance_id first_broken", instance_id=_STR,
                                          first_broken=_ref("BrokenLink"))}),
    "Retried": _object("id status incident", id=_STR, status=_STATUS, incident=_INCIDENT),
    "Replayed": _object("ok events_replayed divergence", ok=_BOOL, events_replayed=_INT,
                        divergence={"oneOf": [{"type": "null"}, _ref("Divergence")]}),
    "Divergence": _object(
        "seq type expected actual recorded replayed differences", seq=_INT, type=_STR,
        expected=_NULLABLE_STR, actual=_STR,
        recorded=_object("state_digest event then", "answer", state_digest=_NULLABLE_STR,
                         event=_OBJ, then={"type": "array", "items": _OBJ}, answer=_OBJ),
        replayed=_object("state_digest refused state changed", state_digest=_NULLABLE_STR,
                         refused=_NULLABLE_STR, state={"type": ["object", "null"]},
                         changed=_OBJ),
        differences=_STRINGS),
    "ReplayBatch": _object(
        "cases ok diverged failed truncated", cases=_INT, ok=_INT, truncated=_BOOL,
        diverged={"type": "array", "items": _object(
            "instance_id process version events_replayed divergence", instance_id=_STR,
            process=_STR, version=_INT, events_replayed=_INT, divergence=_ref("Divergence"))},
        failed={"type": "array", "items": _object(
            "instance_id process version error", instance_id=_STR, process=_STR,
            version=_INT, error=_STR)}),
    "Checkpoint": _object("id created_at cases root_digest prev_digest file_name", "digest",
                          id=_INT, created_at=_STR, cases=_INT, root_digest=_STR,
                          prev_digest=_STR, file_name=_STR, digest=_STR),
    "Identifier": {"oneOf": [
        _object("kind iin birth_date sex century", kind={"const": "individual"}, iin=_STR,
                birth_date=_STR, sex={"enum": ["male", "female"]}, century=_INT),
        _object("kind bin registered type division", kind={"const": "legal_entity"}, bin=_STR,
                registered=_STR, type=_STR, division=_STR)]},
    "Task": _TASK,
    "TaskWithForm": {"allOf": [_TASK, _object("form data business_key process", form=_FORM,
                                              data=_OBJ, business_key=_STR, process=_STR)]},
    "Completed": _object("task instance state", task=_STR, instance=_STR,
                         state={"const": "completed"}),
    "Revoked": _object("revoked", revoked={"type": "integer", "minimum": 0}),
    "Clock": _object("now", now={"type": "string", "format": "date-time"}),
}

_RETRY_AFTER = {"Retry-After": {"description": "seconds to wait before the next attempt",
                                "required": True, "schema": {"type": "string",
                                                             "pattern": "^[0-9]+$"}}}
_NEXT_PAGE = {"Link": {"description": 'the next page: `</api/v1/instances/<id>/history?after=N&'
                                      'limit=M>; rel="next"`, sent while more events remain',
                       "schema": {"type": "string"}}}
_TOKEN_BODY = _object("username password", username=_STR, password=_STR)
_PASSWORD_BODY = _object("current_password new_password", current_password=_STR,
                         new_password={"type": "string", "minLength": 10, "maxLength": 200})
_START_BODY = _object("process", "data", process=_STR, data=_OBJ)
_START_EXAMPLE = {"process": PROCESS_KEY,
                  "data": {"applicant_iin_bin": "150140000012", "licence_case": "issue"}}
_COMPLETE_BODY = _object("", "data", data=_OBJ)
_REPLAY_BODY = {**_object("", "process version since until limit", process=_STR,
                          version={"type": "integer", "minimum": 1}, since=_STR, until=_STR,
                          limit={"type": "integer", "minimum": 1,
                                 "maximum": replay_batch.MAX_LIMIT,
                                 "default": replay_batch.DEFAULT_LIMIT}),
                "additionalProperties": False}
_CLOCK_BODY = {"oneOf": [
    {**_object("now", now={"type": "string", "format": "date-time"}),
     "additionalProperties": False},
    {**_object("advance_seconds", advance_seconds={"type": "integer", "minimum": 0,
                                                   "maximum": int(MAX_ADVANCE.total_seconds())}),
     "additionalProperties": False}]}
_CLOCK_ONLY = " (admins; only where the clock is manual, in tests and demos: 404 elsewhere)"


def _path(name: str, schema: dict = _ID, example: str | None = None) -> dict:
    param = {"name": name, "in": "path", "required": True, "schema": schema}
    if example is not None:
        param["example"] = example
    return param


def _query(name: str, schema: dict, description: str) -> dict:
    return {"name": name, "in": "query", "required": False, "schema": schema,
            "description": description}


_INSTANCE = _path("id")
_HISTORY_PAGE = [
    _query("after", {"type": "integer", "minimum": 0, "maximum": HISTORY_AFTER_MAX, "default": 0},
           "answer the events whose seq is greater than this"),
    _query("limit", {"type": "integer", "minimum": 1, "maximum": HISTORY_PAGE_LIMIT,
                     "default": 100}, "at most this many events"),
]
_TASK_FILTERS = [_query(name, _STR, f"only tasks of this {name}")
                 for name in ("instance", "role", "state")]


def _json(schema: dict, description: str = "success") -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _list(name: str) -> dict:
    return _json({"type": "array", "items": _ref(name)})


_NO_CONTENT = {"description": "done; no body"}
_XML = {"description": "the signed XML document (XMLDSig, an attachment)",
        "headers": {"Content-Disposition": {"schema": _STR}},
        "content": {"application/xml": {"schema": _STR}}}


def _export(media: str) -> dict:
    return {"description": "the journal, an attachment",
            "headers": {"Content-Disposition": {"schema": _STR}},
            "content": {media: {"schema": _STR}}}


# (method, path, summary, {option: value}); options: ok {code: response}, errors (codes),
# params, body (schema), example (body example), public (no token needed)
OPERATIONS = [
    ("post", "/auth/token", "Get a bearer token (rate-limited per account and client address)",
     {"ok": {"200": _json(_ref("Token"))}, "errors": "401 429", "body": _TOKEN_BODY,
      "public": True}),
    ("delete", "/auth/token", "End the token of this request: it stops working at once",
     {"ok": {"204": _NO_CONTENT}, "errors": ""}),
    ("post", "/auth/password", "Change your password; ends every token and session of yours "
     "(rate-limited per client address)",
     {"ok": {"204": _NO_CONTENT}, "errors": "403 429", "body": _PASSWORD_BODY}),
    ("delete", "/users/{username}/tokens", "End every token and session of a user (admins)",
     {"ok": {"200": _json(_ref("Revoked"))}, "errors": "403 404",
      "params": [_path("username", example="operator")]}),
    ("get", "/openapi.json", "This document",
     {"ok": {"200": _json(_OBJ)}, "errors": "", "public": True}),
    ("get", "/processes", "The newest version of every process",
     {"ok": {"200": _list("Process")}, "errors": ""}),
    ("get", "/processes/{key}", "A process with its start form {schema, ui} and the roles that "
     "may start it", {"ok": {"200": _json(_ref("ProcessWithForm"))}, "errors": "404",
                      "params": [_path("key", example=PROCESS_KEY)]}),
    ("post", "/instances", "Start an application",
     {"ok": {"201": _json(_ref("Started"))}, "errors": "403 404", "body": _START_BODY,
      "example": _START_EXAMPLE}),
    ("get", "/instances", "Recent instances you may read",
     {"ok": {"200": _list("InstanceSummary")}, "errors": ""}),
    ("get", "/instances/{id}", "An instance: status, outcome, data, tasks, signed documents",
     {"ok": {"200": _json(_ref("Instance"))}, "errors": "403 404", "params": [_INSTANCE]}),
    ("get", "/instances/{id}/history", "A page of the journal, oldest first",
     {"ok": {"200": {**_list("Event"), "headers": _NEXT_PAGE}}, "errors": "403 404 422",
      "params": [_INSTANCE, *_HISTORY_PAGE]}),
    ("get", "/instances/{id}/history/verify", "Check the journal's hash chain",
     {"ok": {"200": _json(_ref("ChainCheck"))}, "errors": "403 404", "params": [_INSTANCE]}),
    ("get", "/instances/{id}/documents/{name}.xml", "A signed document of the instance: verify "
     "it offline with `qyzmet-verify verify FILE`", {"ok": {"200": _XML}, "errors": "403 404",
                                                     "params": [_INSTANCE, _path("name")]}),
    ("post", "/instances/{id}/retry", "Retry the failed service task of an instance in incident",
     {"ok": {"200": _json(_ref("Retried"))}, "errors": "403 404 409", "params": [_INSTANCE]}),
    ("post", "/instances/{id}/replay", "Replay a case from its journal and compare the state "
     "after every event (auditors, admins)",
     {"ok": {"200": _json(_ref("Replayed"))}, "errors": "403 404", "params": [_INSTANCE]}),
    ("post", "/replay", "Replay the cases of a process, a definition version and a period "
     "(started in [since, until); a bare date is a day in Kazakhstan time), oldest first, at "
     "most `limit`; each divergence with both sides (auditors, admins)",
     {"ok": {"200": _json(_ref("ReplayBatch"))}, "errors": "403", "body": _REPLAY_BODY,
      "example": {"process": PROCESS_KEY, "version": 1, "since": "2026-01-01",
                  "until": "2026-03-31", "limit": 100}}),
    ("get", "/instances/{id}/export.jsonl", "The case's journal as JSON Lines: one entry a line "
     "with every field of the hash chain (auditors, admins and whoever may read the case)",
     {"ok": {"200": _export("application/x-ndjson")}, "errors": "403 404",
      "params": [_INSTANCE]}),
    ("get", "/instances/{id}/export.csv", "The case's journal as CSV (the payload column is "
     "JSON text)", {"ok": {"200": _export("text/csv")}, "errors": "403 404",
                    "params": [_INSTANCE]}),
    ("get", "/identifiers/{value}", "What an IIN (birth date, sex, century) or a BIN "
     "(registration month, type, division) says; 422 when the check digit or the date is wrong",
     {"ok": {"200": _json(_ref("Identifier"))}, "errors": "422",
      "params": [_path("value", {"type": "string", "pattern": "^[0-9]{12}$"}, "900115300003")]}),
    ("get", "/tasks", "Tasks in your lanes (all of them for auditors and admins), filtered",
     {"ok": {"200": _list("Task")}, "errors": "", "params": _TASK_FILTERS}),
    ("get", "/escalations", "Open steps whose deadline passed, escalated to the head "
     "(heads, auditors, admins)", {"ok": {"200": _list("Task")}, "errors": "403"}),
    ("get", "/tasks/{id}", "A task with its form {schema, ui} and data",
     {"ok": {"200": _json(_ref("TaskWithForm"))}, "errors": "403 404", "params": [_path("id")]}),
    ("post", "/tasks/{id}/claim", "Claim a task",
     {"ok": {"200": _json(_ref("Task"))}, "errors": "403 404 409", "params": [_path("id")]}),
    ("post", "/tasks/{id}/complete", "Complete a task with form data",
     {"ok": {"200": _json(_ref("Completed"))}, "errors": "403 404 409",
      "body": _COMPLETE_BODY, "params": [_path("id")]}),
    ("get", "/verify", "Recompute every journal's hash chain, the admin chain `_admin` too; "
     "each broken one with its first broken link (auditors, admins)",
     {"ok": {"200": _json(_ref("ChainsCheck"))}, "errors": "403"}),
    ("get", "/checkpoints", "The signed checkpoints of every journal, newest first (auditors, "
     "admins)", {"ok": {"200": _list("Checkpoint")}, "errors": "403"}),
    ("post", "/checkpoints", "Take a signed checkpoint of every journal's head now (auditors, "
     "admins); 409 when another was taken at the same moment or no signing key is set up",
     {"ok": {"201": _json(_ref("Checkpoint"))}, "errors": "403 409"}),
    ("get", "/checkpoints/{number}.xml", "A signed checkpoint file: verify it offline with "
     "`python -m app.audit verify-checkpoint FILE --ca CA_CHAIN.pem` (auditors, admins)",
     {"ok": {"200": _XML}, "errors": "403 404",
      "params": [_path("number", {"type": "integer", "minimum": 1}, "1")]}),
    ("get", "/admin/clock", "The clock's now" + _CLOCK_ONLY,
     {"ok": {"200": _json(_ref("Clock"))}, "errors": "403 404"}),
    ("post", "/admin/clock", "Set the clock forward to `now` or advance it by `advance_seconds`"
     + _CLOCK_ONLY, {"ok": {"200": _json(_ref("Clock"))}, "errors": "403 404",
                     "body": _CLOCK_BODY, "example": {"advance_seconds": 3600}}),
]


def _error_codes(options: dict) -> list[str]:
    codes = set(options["errors"].split())
    if "body" in options:
        codes |= set(_JSON_BODY_ERRORS.split())
    if not options.get("public"):
        codes.add("401")
    return sorted(codes)


def _error(code: str) -> dict:
    answer = _json(_ref("Error"), _ERRORS[code])
    if code == "429":
        answer["headers"] = _RETRY_AFTER
    return answer


def _operation(summary: str, options: dict) -> dict:
    op = {"summary": summary, "responses": deepcopy(options["ok"])}
    for code in _error_codes(options):
        op["responses"][code] = _error(code)
    if options.get("params"):
        op["parameters"] = deepcopy(options["params"])
    if "body" in options:
        media = {"schema": options["body"]}
        if "example" in options:
            media["example"] = options["example"]
        op["requestBody"] = {"required": True, "content": {"application/json": media}}
    op["security"] = [] if options.get("public") else [{"bearer": []}]
    return op


def openapi_document() -> dict:
    """Return the OpenAPI document for /api/v1."""
    paths: dict = {}
    for method, path, summary, options in OPERATIONS:
        paths.setdefault(path, {})[method] = _operation(summary, options)
    return {"openapi": "3.1.0",
            "info": {"title": "Qyzmet API", "version": "1",
                     "description": "Regulated state services as executable BPMN. Errors are "
                                    "JSON `{error}`, plus `errors` {field: message} on 422."},
            "servers": [{"url": "/api/v1"}],
            "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
                           "schemas": deepcopy(SCHEMAS)},
            "paths": paths}
