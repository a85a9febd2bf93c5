"""Qyzmet's Flask host: configure, wire the database, the runtime and the views."""

import os
from pathlib import Path

from flask import Flask
from flask_migrate import Migrate

import handlers
from app import cli
from app import config
from app import sqlite
from app.access import inputs
from app.access import security
from app.audit import commands as audit_commands
from app.core import expressions
from app.jobs import scheduler
from app.jobs import workers
from app.models import db
from app.services import Runtime
from app.timing import clock
from app.views import api
from app.views import web

ROOT = config.ROOT


def create_app(test_config=None):
    """Create and configure an instance of the Qyzmet application."""
    app = Flask(__name__, instance_path=str(ROOT / "instance"), instance_relative_config=True)
    app.config.from_mapping(config.defaults(app.instance_path))
    app.config.from_mapping(security.defaults())
    if test_config is None:
        app.config.from_pyfile("config.py", silent=True)
        app.config.from_prefixed_env("QYZMET")
    else:
        app.config.update(test_config)
    if not app.config["SECRET_KEY"]:
        raise RuntimeError("SECRET_KEY is not set: run ./qyzmet serve once, or set it in "
                           "instance/config.py or QYZMET_SECRET_KEY")
    app_clock = clock.from_config(app.config)  # "manual" only in test or demo configurations
    os.makedirs(app.instance_path, exist_ok=True)
    expressions.configure(expressions.Limits(**app.config["EXPRESSION_LIMITS"]))
    db.init_app(app)
    Migrate(app, db, directory=str(Path(__file__).parent / "migrations"))
    with app.app_context():
        sqlite.tune(db.engine)
    handlers.configure(urls=config.state_system_urls(app.config), keys_dir=app.config["KEYS_DIR"],
                       trust_chain=app.config["TRUST_CHAIN"],
                       timeout=app.config["STATE_SYSTEM_TIMEOUT"])
    app.extensions["qyzmet"] = Runtime(Path(app.config["BPMN_DIR"]), Path(app.config["FORMS_DIR"]),
                                       handlers.HANDLERS, retry_delay=app.config["RETRY_DELAY"],
                                       clock=app_clock, jobs=workers.dispatcher_for(app.config),
                                       job_lease=app.config["JOB_LEASE"],
                                       snapshot_every=app.config["STATE_SNAPSHOT_EVERY"],
                                       snapshot_after_replaying=app.config[
                                           "STATE_SNAPSHOT_AFTER_REPLAYING"])
    cli.init_app(app)
    audit_commands.init_app(app)
    workers.init_app(app)
    scheduler.init_app(app)
    app.url_value_preprocessor(inputs.check_url)  # NUL never reaches a query (PostgreSQL)
    app.register_blueprint(api.bp)
    app.register_blueprint(web.bp)
    security.csrf.exempt(api.bp)  # bearer tokens: a browser never sends them on its own
    app.extensions["limiter"] = security.init_app(
        app, sign_in_endpoints=["web.login", "api.token"], other_limited=["api.change_password"])
    return app
