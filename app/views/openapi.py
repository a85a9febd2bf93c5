"""The OpenAPI 3.1 document of /api/v1, built from one table of operations."""

_ERRORS = {
    "400": "malformed JSON", "401": "no or bad token", "403": "your roles do not allow it",
    "404": "unknown id", "409": "conflict: already done, or held by someone else",
    "422": "invalid data: `errors` maps each field to a message",
}
_OBJ = {"type": "object"}
_LIST = {"type": "array", "items": _OBJ}
_TASK = {"type": "object", "properties": {k: {} for k in (
    "id", "instance", "bpmn_id", "name", "lane", "state", "assignee", "due_at")}}
# (method, path, summary, request body schema or None, success code, answer schema, error codes)
OPERATIONS = [
    ("post", "/auth/token", "Get a bearer token",
     {"type": "object", "required": ["username", "password"],
      "properties": {"username": {"type": "string"}, "password": {"type": "string"}}},
     "200", {"type": "object", "properties": {"token": {"type": "string"}}}, "400 401"),
    ("get", "/processes", "List the newest version of every process", None, "200", _LIST, "401"),
    ("get", "/processes/{key}", "A process with its start form {schema, ui} and the roles that "
     "may start it", None, "200", _OBJ, "401 404"),
    ("post", "/instances", "Start an application",
     {"type": "object", "required": ["process", "data"],
      "properties": {"process": {"type": "string"}, "data": _OBJ}},
     "201", {"type": "object", "properties": {"id": {}, "status": {}, "business_key": {}}},
     "400 401 403 404 422"),
    ("get", "/instances", "Recent instances you may read", None, "200", _LIST, "401"),
    ("get", "/instances/{id}", "An instance: status, outcome, data, tasks", None, "200", _OBJ,
     "401 403 404"),
    ("get", "/instances/{id}/history", "The journal [{seq, type, at, actor, payload, hash}]",
     None, "200", _LIST, "401 403 404"),
    ("get", "/instances/{id}/history/verify", "Check the journal's hash chain", None, "200",
     _OBJ, "401 403 404"),
    ("get", "/instances/{id}/documents/{name}.xml", "A signed document of the instance "
     "(XMLDSig, application/xml): verify it with `python -m handlers.eds verify FILE`", None,
     "200", {"type": "string"}, "401 403 404"),
    ("post", "/instances/{id}/retry", "Retry the failed service task of an instance in incident",
     None, "200", _OBJ, "401 403 404 409"),
    ("get", "/identifiers/{value}", "What an IIN (birth date, sex, century) or a BIN "
     "(registration month, type, division) says; 422 when the check digit is wrong", None, "200",
     _OBJ, "401 422"),
    ("get", "/tasks", "Tasks in your lanes; filter with ?instance=&role=&state=", None, "200",
     {"type": "array", "items": _TASK}, "401"),
    ("get", "/tasks/{id}", "A task with its form {schema, ui} and data", None, "200", _OBJ,
     "401 403 404"),
    ("post", "/tasks/{id}/claim", "Claim a task", None, "200", _TASK, "401 403 404 409"),
    ("post", "/tasks/{id}/complete", "Complete a task with form data",
     {"type": "object", "required": ["data"], "properties": {"data": _OBJ}},
     "200", _OBJ, "400 401 403 404 409 422"),
]


def _operation(path, row):
    summary, body, code, answer, errors = row
    op = {"summary": summary,
          "responses": {code: {"description": "success",
                               "content": {"application/json": {"schema": answer}}}}}
    for err in errors.split():
        op["responses"][err] = {"description": _ERRORS[err]}
    if body:
        op["requestBody"] = {"required": True,
                             "content": {"application/json": {"schema": body}}}
    params = [p.strip("{}") for p in path.split("/") if p.startswith("{")]
    if params:
        op["parameters"] = [{"name": p, "in": "path", "required": True,
                             "schema": {"type": "string"}} for p in params]
    if path != "/auth/token":
        op["security"] = [{"bearer": []}]
    return op


def openapi_document() -> dict:
    """Return the OpenAPI document for /api/v1."""
    paths: dict = {}
    for method, path, *row in OPERATIONS:
        paths.setdefault(path, {})[method] = _operation(path, row)
    return {"openapi": "3.1.0",
            "info": {"title": "Qyzmet API", "version": "1",
                     "description": "Regulated state services as executable BPMN."},
            "servers": [{"url": "/api/v1"}],
            "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
            "paths": paths}
