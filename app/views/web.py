"""The staff workspace in the browser: sign in, inbox, start, task forms, instance pages."""

import secrets
from functools import wraps

from flask import Blueprint
from flask import abort
from flask import current_app
from flask import flash
from flask import g
from flask import jsonify
from flask import redirect
from flask import render_template
from flask import request
from flask import session
from flask import url_for
from werkzeug.exceptions import HTTPException

from app import auth
from app import forms
from app import queries
from app import services
from app.store import Conflict
from app.views import downloads

bp = Blueprint("web", __name__)
LANGUAGES = ("en", "kk", "ru")


@bp.before_request
def load_actor():
    """Put the signed-in actor (or None) and the UI language in g; check the CSRF token."""
    directory = current_app.extensions["qyzmet"].directory
    g.actor = directory.find(session["user"]) if "user" in session else None
    g.lang = session.get("lang", "en")
    if request.method == "POST":
        if request.form.get("csrf") != session.get("csrf"):
            abort(400, "The form expired; reload the page and try again.")


@bp.app_context_processor
def template_globals():
    """Expose the CSRF token and a label picker to templates."""
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(24)
    return {"csrf": session["csrf"], "tr": lambda value: _translate(value, g.get("lang", "en")),
            "languages": LANGUAGES}


def _translate(value, lang):
    if isinstance(value, dict):
        return value.get(lang) or value.get("en") or next(iter(value.values()), "")
    return value or ""


@bp.app_errorhandler(HTTPException)
def http_error(err):
    """Answer errors as JSON under /api/ and as a page elsewhere."""
    if request.path.startswith("/api/"):
        return jsonify({"error": err.description or err.name}), err.code
    return render_template("error.html", code=err.code, message=err.description), err.code


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
        actor = auth.authenticate(form.get("username", ""), form.get("password", ""))
        if actor:
            session["user"] = actor.username
            target = request.args.get("next", "")
            return redirect(target if target.startswith("/") and not target.startswith("//")
                            else url_for("web.inbox"))
        flash("Unknown username or wrong password.", "error")
        return render_template("login.html", demo=auth.DEMO_USERS), 401
    return render_template("login.html", demo=auth.DEMO_USERS)


@bp.post("/logout")
def logout():
    session.pop("user", None)
    return redirect(url_for("web.login"))


@bp.post("/language")
def language():
    if request.form.get("lang") in LANGUAGES:
        session["lang"] = request.form["lang"]
    return redirect(request.referrer or url_for("web.inbox"))


@bp.get("/")
@login_required
def inbox():
    tasks = queries.list_tasks(g.actor, state="ready")
    startable = [p for p in queries.list_processes()
                 if g.actor.roles & set(p["roles_allowed_to_start"])]
    return render_template("inbox.html", tasks=tasks, startable=startable)


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


@bp.route("/processes/<key>/start", methods=("GET", "POST"))
@login_required
def start(key):
    process = queries.get_process(_runtime(), key)

    def start_application(values):
        instance = services.start_instance(_runtime(), g.actor, key, values)
        flash(f"Application {instance.business_key} started.", "ok")
        return redirect(url_for("web.instance", instance_id=instance.id))

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
    detail = queries.get_instance(_runtime(), g.actor, instance_id)
    return render_template("instance.html", instance=detail,
                           history=queries.history(_runtime(), g.actor, instance_id),
                           chain=queries.verify_history(_runtime(), g.actor, instance_id))


@bp.post("/instances/<instance_id>/retry")
@login_required
def retry(instance_id):
    services.retry_instance(_runtime(), g.actor, instance_id)
    return redirect(url_for("web.instance", instance_id=instance_id))
