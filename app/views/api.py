"""The REST API (/api/v1): thin handlers over app.services and app.queries."""

import dataclasses
from functools import wraps

from flask import Blueprint
from flask import current_app
from flask import g
from flask import jsonify
from flask import request
from werkzeug.exceptions import HTTPException

from app import auth
from app import queries
from app import services
from app.forms import FormMissing
from app.store import Conflict
from app.views import downloads
from app.views.openapi import openapi_document
from handlers import identifiers

bp = Blueprint("api", __name__, url_prefix="/api/v1")


class _BadRequest(Exception):
    """The request body is not what the API expects."""


def _error(status: int, message: str, **extra):
    return jsonify({"error": message, **extra}), status


STATUS_OF_ERROR = {services.NotFound: 404, FormMissing: 404, _BadRequest: 400,
                   services.Forbidden: 403, Conflict: 409}


def _known_error(err):
    status = next(code for kind, code in STATUS_OF_ERROR.items() if isinstance(err, kind))
    return _error(status, str(err))


for _kind in STATUS_OF_ERROR:
    bp.register_error_handler(_kind, _known_error)


@bp.errorhandler(services.Invalid)
def _invalid(err):
    return _error(422, "the data is not valid", errors=err.errors)


@bp.errorhandler(HTTPException)
def _http(err):
    return _error(err.code or 500, err.description or err.name)


@bp.errorhandler(Exception)
def _unexpected(err):
    current_app.logger.exception("unexpected error in the API")
    return _error(500, "internal error; it has been logged")


def _runtime() -> services.Runtime:
    return current_app.extensions["qyzmet"]


def _json_body() -> dict:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise _BadRequest("the body must be a JSON object (Content-Type: application/json)")
    return body


def login_required(view):
    """Require `Authorization: Bearer <token>`; put the actor in g.actor."""
    @wraps(view)
    def wrapped(**kwargs):
        header = request.headers.get("Authorization", "")
        token = header[7:] if header.startswith("Bearer ") else ""
        secret, directory = current_app.config["SECRET_KEY"], _runtime().directory
        g.actor = auth.actor_from_token(secret, token, directory) if token else None
        if g.actor is None:
            return _error(401, "sign in first: POST /api/v1/auth/token, then send "
                               "'Authorization: Bearer <token>'")
        return view(**kwargs)
    return wrapped


@bp.post("/auth/token")
def token():
    body = _json_body()
    actor = auth.authenticate(str(body.get("username", "")), str(body.get("password", "")))
    if actor is None:
        return _error(401, "unknown username or wrong password")
    return jsonify({"token": auth.issue_token(current_app.config["SECRET_KEY"], actor),
                    "username": actor.username, "roles": sorted(actor.roles)})


@bp.get("/openapi.json")
def openapi():
    return jsonify(openapi_document())


@bp.get("/processes")
@login_required
def processes():
    return jsonify(queries.list_processes())


@bp.get("/processes/<key>")
@login_required
def process(key):
    return jsonify(queries.get_process(_runtime(), key))


@bp.post("/instances")
@login_required
def start():
    body = _json_body()
    if not isinstance(body.get("process"), str):
        return _error(422, "the data is not valid", errors={"process": "Name the process key."})
    data = body.get("data", {})
    started = services.start_instance(_runtime(), g.actor, body["process"], data)
    return jsonify(dataclasses.asdict(started)), 201


@bp.get("/instances")
@login_required
def instances():
    return jsonify(queries.list_instances(_runtime(), g.actor))


def _instance_read(query):
    """Make a GET view that answers `query(runtime, actor, instance_id)` as JSON."""
    @login_required
    def view(instance_id):
        return jsonify(query(_runtime(), g.actor, instance_id))
    return view


for _suffix, _query in (("", queries.get_instance), ("/history", queries.history),
                        ("/history/verify", queries.verify_history)):
    bp.add_url_rule(f"/instances/<instance_id>{_suffix}", endpoint=_query.__name__,
                    view_func=_instance_read(_query), methods=["GET"])


@bp.get("/instances/<instance_id>/documents/<name>.xml")
@login_required
def document(instance_id, name):
    return downloads.signed_document(_runtime(), g.actor, instance_id, name)


@bp.post("/instances/<instance_id>/retry")
@login_required
def retry(instance_id):
    return jsonify(services.retry_instance(_runtime(), g.actor, instance_id))


@bp.get("/identifiers/<value>")
@login_required
def identifier(value):
    try:
        return jsonify(identifiers.describe(value))
    except ValueError as err:
        return _error(422, "the data is not valid", errors={"value": str(err)})


@bp.get("/tasks")
@login_required
def tasks():
    args = request.args
    return jsonify(queries.list_tasks(g.actor, args.get("instance"), args.get("role"),
                                      args.get("state")))


@bp.get("/tasks/<task_id>")
@login_required
def task(task_id):
    return jsonify(queries.get_task(_runtime(), g.actor, task_id))


@bp.post("/tasks/<task_id>/claim")
@login_required
def claim(task_id):
    services.claim_task(_runtime(), g.actor, task_id)
    return jsonify(queries.get_task_row(g.actor, task_id))


@bp.post("/tasks/<task_id>/complete")
@login_required
def complete(task_id):
    data = _json_body().get("data", {})
    instance_id = services.complete_task(_runtime(), g.actor, task_id, data)
    return jsonify({"task": task_id, "instance": instance_id, "state": "completed"})
