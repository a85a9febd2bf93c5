"""Reference state systems: GBD FL, GBD UL, PEP, E-licensing and portal sessions over HTTP/JSON."""

import json
from collections.abc import Iterable

from flask import Blueprint
from flask import Flask
from flask import Response
from flask import current_app
from werkzeug.exceptions import HTTPException

from reference import control
from reference import db
from reference import elicense
from reference import pep
from reference import portal
from reference import registries
from reference import seed

SYSTEM_BLUEPRINTS = (registries.gbdfl, registries.gbdul, pep.bp, elicense.bp, portal.bp)
_HTTP_CODES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed",
               409: "conflict", 415: "bad_request"}


def create_app(database_url: str, *, faults: bool = False,
               extra_blueprints: Iterable[Blueprint] = ()) -> Flask:
    """Create the reference systems' app over database_url, creating tables and demo data."""
    app = Flask(__name__)
    engine = db.make_engine(database_url)
    seed.seed(engine)
    app.extensions[db.EXTENSION] = engine
    for blueprint in SYSTEM_BLUEPRINTS:
        app.register_blueprint(blueprint)
    if faults:
        app.extensions[control.EXTENSION] = control.FaultBoard()
        app.register_blueprint(control.bp)
        app.before_request(control.inject_fault)
    for blueprint in extra_blueprints:
        app.register_blueprint(blueprint)
    app.register_error_handler(db.ApiError, _api_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected_error)
    return app


def _api_error(error: db.ApiError) -> Response:
    """Answer an ApiError as its JSON body."""
    return db.json_response(error.status, json.dumps(error.body()))


def _http_error(error: HTTPException) -> Response:
    """Answer werkzeug's HTTP errors (unknown path, wrong method) as JSON."""
    code = _HTTP_CODES.get(error.code or 500, "http_error")
    body = {"error": code, "message": error.description or error.name}
    return db.json_response(error.code or 500, json.dumps(body))


def _unexpected_error(error: Exception) -> Response:
    """Log an unexpected exception and answer 500 JSON without a traceback."""
    current_app.logger.error("unexpected error", exc_info=error)
    body = {"error": "internal_error", "message": f"{type(error).__name__}: {error}"}
    return db.json_response(500, json.dumps(body))
