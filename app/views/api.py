"""The REST API (/api/v1): thin handlers over app.services and app.queries."""

import dataclasses
from functools import wraps

from flask import Blueprint
from flask import Response
from flask import current_app
from flask import g
from flask import jsonify
from flask import request
from werkzeug.exceptions import HTTPException
from werkzeug.exceptions import NotFound

from app import queries
from app import services
from app.access import auth
from app.access import inputs
from app.access import policy
from app.audit import admin_log
from app.audit import checkpoints
from app.audit import replay
from app.audit import replay_batch
from app.audit import verification
from app.core import store
from app.core.store import Conflict
from app.forms import FormMissing
from app.timing import clock
from app.views import downloads
from app.views.openapi import openapi_document
from handlers import identifiers

bp = Blueprint("api", __name__, url_prefix="/api/v1")


def _error(status: int, message: str, **extra):
    return jsonify({"error": message, **extra}), status


STATUS_OF_ERROR = {services.NotFound: 404, FormMissing: 404, services.Forbidden: 403,
                   Conflict: 409}


def _known_error(err):
    status = next(code for kind, code in STATUS_OF_ERROR.items() if isinstance(err, kind))
    return _error(status, str(err))


for _kind in STATUS_OF_ERROR:
    bp.register_error_handler(_kind, _known_error)


@bp.errorhandler(services.Invalid)
@bp.errorhandler(auth.PasswordRefused)
def _invalid(err):
    return _error(422, "the data is not valid", errors=err.errors)


@bp.errorhandler(inputs.BadInput)
def _bad_input(err):
    if err.field is None:
        return _error(err.status, str(err))
    return _error(err.status, "the data is not valid", errors={err.field: str(err)})


def error_headers(err: HTTPException) -> list[tuple[str, str]]:
    """Return the headers an HTTP error carries (Allow, Retry-After), all but Content-Type."""
    return [(name, value) for name, value in err.get_headers() if name.lower() != "content-type"]


@bp.errorhandler(HTTPException)
def _http(err):
    body, status = _error(err.code or 500, err.description or err.name)
    return body, status, error_headers(err)


@bp.errorhandler(Exception)
def _unexpected(err):
    current_app.logger.exception("unexpected error in the API")
    return _error(500, "internal error; it has been logged")


def _runtime() -> services.Runtime:
    return current_app.extensions["qyzmet"]


def _json_body() -> dict:
    """Return the request's JSON object, through the input gate (400/422 otherwise)."""
    if not request.is_json:
        raise inputs.BadInput("send a JSON object with Content-Type: application/json")
    body = inputs.parse_json(request.get_data(cache=False))
    if not isinstance(body, dict):
        raise inputs.BadInput("the body must be a JSON object")
    return body


def _bearer() -> str:
    header = request.headers.get("Authorization", "")
    return header[7:].strip() if header.startswith("Bearer ") else ""


def login_required(view):
    """Require `Authorization: Bearer <token>` of a live token; put the actor in g.actor."""
    @wraps(view)
    def wrapped(**kwargs):
        g.actor = auth.actor_for(_bearer(), "token", _runtime().directory)
        if g.actor is None:
            return _error(401, "sign in first: POST /api/v1/auth/token, then send "
                               "'Authorization: Bearer <token>' (tokens end on sign-out, "
                               "password change and after API_TOKEN_LIFETIME)")
        return view(**kwargs)
    return wrapped


@bp.post("/auth/token")
def token():
    body = _json_body()
    config = current_app.config
    actor = auth.authenticate(body.get("username"), body.get("password"),
                              config["PASSWORD_HASH_METHOD"])
    if actor is None:
        return _error(401, "unknown username or wrong password")
    lifetime = config["API_TOKEN_LIFETIME"]
    return jsonify({"token": auth.open_credential(actor.username, "token", lifetime),
                    "username": actor.username, "roles": sorted(actor.roles),
                    "expires_in": lifetime})


@bp.delete("/auth/token")
@login_required
def revoke_token():
    auth.revoke(_bearer())
    return "", 204


@bp.post("/auth/password")
@login_required
def change_password():
    body = _json_body()
    method = current_app.config["PASSWORD_HASH_METHOD"]
    if auth.authenticate(g.actor.username, body.get("current_password"), method) is None:
        return _error(403, "the current password is wrong")
    auth.set_password(g.actor.username, body.get("new_password"), method)
    return "", 204


@bp.delete("/users/<username>/tokens")
@login_required
def revoke_user_tokens(username):
    if not policy.may_manage_credentials(g.actor):
        raise services.Forbidden("ending other people's tokens needs the role admin")
    if auth.find_actor(username) is None:
        raise services.NotFound(f"no user '{username}'")
    with store.writing() as conn:
        ended = auth.revoke_all(username, conn=conn)
        admin_log.record(conn, "credentials_revoked", g.actor.username, target=username,
                         before={"credentials_not_revoked": ended},
                         after={"credentials_not_revoked": 0}, now=_runtime().clock.now())
    return jsonify({"revoked": ended})


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


for _suffix, _query in (("", queries.get_instance), ("/history/verify", queries.verify_history)):
    bp.add_url_rule(f"/instances/<instance_id>{_suffix}", endpoint=_query.__name__,
                    view_func=_instance_read(_query), methods=["GET"])


@bp.get("/instances/<instance_id>/history")
@login_required
def history(instance_id):
    after = inputs.count_arg(request.args, "after", 0)
    limit = inputs.count_arg(request.args, "limit", queries.HISTORY_PAGE)
    page = queries.history(_runtime(), g.actor, instance_id, after, limit)
    answer = jsonify(page.events)
    if page.next_after is not None:
        answer.headers["Link"] = (f'<{request.path}?after={page.next_after}&limit={limit}>; '
                                  'rel="next"')
    return answer


@bp.get("/instances/<instance_id>/documents/<name>.xml")
@login_required
def document(instance_id, name):
    return downloads.signed_document(_runtime(), g.actor, instance_id, name)


@bp.post("/instances/<instance_id>/retry")
@login_required
def retry(instance_id):
    return jsonify(services.retry_instance(_runtime(), g.actor, instance_id))


@bp.post("/instances/<instance_id>/replay")
@login_required
def replay_instance(instance_id):
    return jsonify(replay.replay_instance(_runtime(), g.actor, instance_id))


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


@bp.get("/escalations")
@login_required
def escalations():
    return jsonify(queries.list_escalations(g.actor))


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


@bp.route("/admin/clock", methods=["GET", "POST"])
@login_required
def admin_clock():
    """Read or move a manual clock; on the system clock (production) there is no such thing."""
    manual = _runtime().clock
    if not isinstance(manual, clock.ManualClock):
        raise NotFound()  # answered like any unknown URL
    if not policy.may_move_clock(g.actor):
        raise services.Forbidden("the clock is moved by the role admin")
    if request.method == "POST":
        before = manual.now()
        try:
            moved = clock.move(manual, _json_body())
        except clock.Refused as err:
            return _error(422, "the data is not valid", errors={err.field: str(err)})
        with store.writing() as conn:  # the clock lives in memory: journalled once moved
            admin_log.record(conn, "clock_moved", g.actor.username, target="clock",
                             before={"now": before.isoformat()},
                             after={"now": moved.isoformat()}, now=moved)
    return jsonify({"now": manual.now().isoformat()})


@bp.get("/instances/<instance_id>/export.jsonl")
@login_required
def export_jsonl(instance_id):
    """The case's journal as JSON Lines (every field, so the chain verifies from the file)."""
    return downloads.journal_export(_runtime(), g.actor, instance_id, "jsonl")


@bp.get("/instances/<instance_id>/export.csv")
@login_required
def export_csv(instance_id):
    """The case's journal as CSV (RFC 4180 quoting; the payload column is JSON text)."""
    return downloads.journal_export(_runtime(), g.actor, instance_id, "csv")


@bp.post("/replay")
@login_required
def replay_cases():
    """Replay the cases of a process, version and period: {process, version, since, until,
    limit} (auditors, admins; 403 before the body is read, 422 with each field's error)."""
    replay.require_replayer(g.actor)
    chosen = replay_batch.selection(_json_body())
    return jsonify(replay_batch.replay_batch(_runtime(), chosen))


def _auditing() -> None:
    """Checkpoints list every case: only those who read every case (auditor, admin) see them."""
    if not policy.reads_everything(g.actor):
        raise services.Forbidden("checkpoints need one of the roles: "
                                 + ", ".join(sorted(policy.READ_ALL_ROLES)))


@bp.get("/checkpoints")
@login_required
def checkpoint_list():
    _auditing()
    return jsonify(checkpoints.listing())


@bp.post("/checkpoints")
@login_required
def checkpoint_take():
    _auditing()
    try:
        return jsonify(checkpoints.take(_runtime().clock.now())), 201
    except checkpoints.CheckpointError as err:
        return _error(409, str(err))


@bp.get("/checkpoints/<int:number>.xml")
@login_required
def checkpoint_file(number):
    _auditing()
    signed_xml = checkpoints.signed_file(number)
    if signed_xml is None:
        raise NotFound()
    return Response(signed_xml, mimetype="application/xml", headers={
        "Content-Disposition": f'attachment; filename="{checkpoints.file_name(number)}"'})


@bp.get("/verify")
@login_required
def verify_all():
    """Recompute every journal's hash chain (auditors, admins): {cases, ok, broken}."""
    if not policy.reads_everything(g.actor):
        raise services.Forbidden("verifying every case needs one of the roles: "
                                 + ", ".join(sorted(policy.READ_ALL_ROLES)))
    return jsonify(verification.verify_all())
