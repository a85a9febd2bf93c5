"""The staff workspace in the browser: sign in, inbox, start, task forms, instance pages."""

from functools import wraps

from flask import Blueprint
from flask import Response
from flask import abort
from flask import current_app
from flask import flash
from flask import g
from flask import jsonify
from flask import make_response
from flask import redirect
from flask import render_template
from flask import request
from flask import send_from_directory
from flask import session
from flask import url_for
from flask_wtf.csrf import CSRFError
from flask_wtf.csrf import generate_csrf
from werkzeug.exceptions import HTTPException

from app import config
from app import forms
from app import queries
from app import services
from app.access import auth
from app.access import inputs
from app.access import policy
from app.access import security
from app.audit import exports
from app.audit import timeline
from app.core.store import Conflict
from app.views import downloads

bp = Blueprint("web", __name__)
LANGUAGES = ("en", "kk", "ru")
HISTORY_PAGE = 50


@bp.before_request
def load_actor():
    """Put the signed-in actor (or None) and the UI language in g; gate submitted forms."""
    g.actor = auth.actor_for(session.get("sid"), "session", _runtime().directory)
    g.lang = session.get("lang", "en")
    if request.method == "POST":
        inputs.check_form(request.form)


@bp.app_context_processor
def template_globals():
    """Expose the CSRF token and a label picker to templates."""
    return {"csrf": generate_csrf(), "tr": lambda value: _translate(value, g.get("lang", "en")),
            "languages": LANGUAGES}


def _translate(value, lang):
    if isinstance(value, dict):
        return value.get(lang) or value.get("en") or next(iter(value.values()), "")
    return value or ""


@bp.app_errorhandler(HTTPException)
def http_error(err):
    """Answer errors as JSON under /api/ and as a page elsewhere, keeping their headers."""
    if request.path.startswith("/api/"):
        answer = jsonify({"error": err.description or err.name})
    else:
        answer = make_response(render_template("error.html", code=err.code,
                                               message=err.description))
    for name, value in err.get_headers():
        if name.lower() != "content-type":
            answer.headers[name] = value
    return answer, err.code


@bp.app_errorhandler(CSRFError)
def csrf_error(err):
    """Refuse a form without a valid CSRF token with a page that says what to do."""
    message = "The form expired or was not sent from Qyzmet; reload the page and try again."
    return render_template("error.html", code=400, message=message), 400


@bp.errorhandler(inputs.BadInput)
def bad_input(err):
    """Refuse a form the input gate refused, naming the field."""
    where = f" (field {err.field[:40]})" if err.field else ""
    return render_template("error.html", code=err.status, message=f"{err}{where}"), err.status


STATUS_OF_ERROR = {services.NotFound: 404, services.Forbidden: 403, Conflict: 409}


def _known_error(err):
    status = next(code for kind, code in STATUS_OF_ERROR.items() if isinstance(err, kind))
    return render_template("error.html", code=status, message=str(err)), status


for _kind in STATUS_OF_ERROR:
    bp.register_error_handler(_kind, _known_error)


def login_required(view):
    """Send visitors who are not signed in to the login page."""
    @wraps(view)
    def wrapped(**kwargs):
        if g.actor is None:
            return redirect(url_for("web.login", next=request.path))
        return view(**kwargs)
    return wrapped


def _runtime() -> services.Runtime:
    return current_app.extensions["qyzmet"]


@bp.route("/login", methods=("GET", "POST"))
def login():
    if request.method == "POST":
        form = request.form
        actor = auth.authenticate(form.get("username", ""), form.get("password", ""),
                                  current_app.config["PASSWORD_HASH_METHOD"])
        if actor:
            lang = session.get("lang")
            session.clear()  # a new session for the new sign-in, never the visitor's old one
            session["sid"] = auth.open_credential(actor.username, "session",
                                                  current_app.config["SESSION_LIFETIME"])
            if lang:
                session["lang"] = lang
            target = security.same_origin_path(request.args.get("next"), url_for("web.inbox"))
            return redirect(target)
        flash("Unknown username or wrong password.", "error")
        return render_template("login.html", demo=auth.DEMO_USERS), 401
    return render_template("login.html", demo=auth.DEMO_USERS)


@bp.post("/logout")
def logout():
    auth.revoke(session.get("sid"))
    session.clear()
    return redirect(url_for("web.login"))


@bp.post("/language")
def language():
    if request.form.get("lang") in LANGUAGES:
        session["lang"] = request.form["lang"]
    return redirect(security.back_to_referrer(url_for("web.inbox")))


@bp.get("/")
@login_required
def inbox():
    tasks = queries.list_tasks(g.actor, state="ready")
    startable = [p for p in queries.list_processes()
                 if g.actor.roles & set(p["roles_allowed_to_start"])]
    overdue = (queries.list_escalations(g.actor) if policy.may_see_escalations(g.actor)
               else [])
    return render_template("inbox.html", tasks=tasks, startable=startable, overdue=overdue)


def _form_page(template, form, values, action, **context):
    """Render a form; on POST, `action(values)` answers, or field errors show with a 422."""
    errors = {}
    if request.method == "POST":
        values = forms.coerce(form, request.form)
        try:
            return action(values)
        except services.Invalid as err:
            errors = err.errors
    page = render_template(template, form=form, values=values, errors=errors, **context)
    return page, (422 if errors else 200)


def _started_message(started: services.Started) -> tuple[str, str]:
    """Return the banner after a start: green only if the application goes on or succeeded."""
    if started.status == "incident":
        return (f"Application {started.business_key} stopped at a state system: see the "
                "incident below; an operator, executor or admin may retry it.", "error")
    if started.status == "completed":
        return (f"Application {started.business_key} ended at intake: {started.outcome}.",
                "error")
    return f"Application {started.business_key} started.", "ok"


@bp.get("/processes")
@login_required
def processes():
    return render_template("processes.html", processes=queries.list_processes())


@bp.get("/processes/<key>")
@login_required
def process_page(key):
    process, _ = queries.process_page(key)
    return render_template("process.html", process=process)


@bp.get("/processes/<key>/diagram.bpmn")
@login_required
def process_diagram(key):
    _, diagram = queries.process_page(key)
    return Response(diagram, mimetype="application/xml")


VIEWER_DIR = config.ROOT / "node_modules" / "bpmn-js" / "dist"
VIEWER_FILES = {"bpmn-viewer.js": "bpmn-viewer.production.min.js",
                "diagram-js.css": "assets/diagram-js.css", "bpmn-js.css": "assets/bpmn-js.css"}


@bp.get("/vendor/bpmn-js/<name>")
def viewer_file(name):
    """Serve bpmn-js's viewer from node_modules (installed by the set-up; pinned)."""
    if name not in VIEWER_FILES:
        abort(404)
    return send_from_directory(VIEWER_DIR, VIEWER_FILES[name])


@bp.route("/processes/<key>/start", methods=("GET", "POST"))
@login_required
def start(key):
    process = queries.get_process(_runtime(), key)

    def start_application(values):
        started = services.start_instance(_runtime(), g.actor, key, values)
        flash(*_started_message(started))
        return redirect(url_for("web.instance", instance_id=started.id))

    form = forms.Form(**process["start_form"])
    return _form_page("start.html", form, {}, start_application, process=process)


@bp.route("/tasks/<task_id>", methods=("GET", "POST"))
@login_required
def task(task_id):
    detail = queries.get_task(_runtime(), g.actor, task_id)

    def complete(values):
        instance_id = services.complete_task(_runtime(), g.actor, task_id, values)
        flash(f"“{detail['name']}” completed.", "ok")
        return redirect(url_for("web.instance", instance_id=instance_id))

    form = forms.Form(**detail["form"])
    return _form_page("task.html", form, detail["data"], complete, task=detail)


@bp.post("/tasks/<task_id>/claim")
@login_required
def claim(task_id):
    services.claim_task(_runtime(), g.actor, task_id)
    return redirect(url_for("web.task", task_id=task_id))


@bp.get("/instances")
@login_required
def instances():
    return render_template("instances.html", instances=queries.list_instances(_runtime(), g.actor))


@bp.get("/instances/<instance_id>")
@login_required
def instance(instance_id):
    if request.args.get("document"):  # ?document=<name>: download a signed document
        return downloads.signed_document(_runtime(), g.actor, instance_id,
                                         request.args["document"])
    after = inputs.count_arg(request.args, "after", 0)
    detail = queries.get_instance(_runtime(), g.actor, instance_id)
    page = queries.history(_runtime(), g.actor, instance_id, after, HISTORY_PAGE)
    return render_template("instance.html", instance=detail, history=page, after=after,
                           chain=queries.verify_history(_runtime(), g.actor, instance_id))


@bp.post("/instances/<instance_id>/retry")
@login_required
def retry(instance_id):
    services.retry_instance(_runtime(), g.actor, instance_id)
    return redirect(url_for("web.instance", instance_id=instance_id))


# ---- the auditors' history viewer, exports and printable report ------------------------------

@bp.get("/instances/<instance_id>/history")
@login_required
def history(instance_id):
    told = timeline.timeline(_runtime(), g.actor, instance_id, g.lang)
    return render_template("history.html", told=told, instance=told.instance,
                           definition=told.definition)


@bp.get("/instances/<instance_id>/diagram/<process>.bpmn")
@login_required
def instance_diagram(instance_id, process):
    """Serve a diagram of the case's own version (the stored source holding `process`)."""
    return Response(timeline.version_diagram(_runtime(), g.actor, instance_id, process),
                    mimetype="application/xml")


@bp.get("/instances/<instance_id>/report")
@login_required
def report(instance_id):
    return render_template("report.html", **exports.report(_runtime(), g.actor, instance_id,
                                                            g.lang))


@bp.get("/instances/<instance_id>/export.<kind>")
@login_required
def export(instance_id, kind):
    """Download the journal (the same files as the API's exports, for a signed-in browser)."""
    return downloads.journal_export(_runtime(), g.actor, instance_id, kind)
