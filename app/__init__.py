"""Qyzmet's Flask host: configure, wire the database, the runtime and the views."""

import os
from pathlib import Path

from flask import Flask

import handlers
from app import cli
from app import sqlite
from app.models import db
from app.services import Runtime
from app.views import api
from app.views import web

ROOT = Path(__file__).resolve().parent.parent


def create_app(test_config=None):
    """Create and configure an instance of the Qyzmet application."""
    app = Flask(__name__, instance_path=str(ROOT / "instance"), instance_relative_config=True)
    app.config.from_mapping(
        SECRET_KEY=None,
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{Path(app.instance_path) / 'qyzmet.sqlite'}",
        STATE_SYSTEMS_DATABASE_URI=f"sqlite:///{Path(app.instance_path) / 'state_systems.sqlite'}",
        KEYS_DIR=str(Path(app.instance_path) / "keys"),
        BPMN_DIR=str(ROOT / "bpmn"), FORMS_DIR=str(ROOT / "forms"),
        DEMO_PASSWORD="qyzmet-demo",  # noqa: S106 - the documented demo default
        MAX_CONTENT_LENGTH=5 * 1024 * 1024,
    )
    if test_config is None:
        app.config.from_pyfile("config.py", silent=True)
        app.config.from_prefixed_env("QYZMET")
    else:
        app.config.update(test_config)
    if not app.config["SECRET_KEY"]:
        raise RuntimeError("SECRET_KEY is not set: run ./qyzmet serve once, or set it in "
                           "instance/config.py or QYZMET_SECRET_KEY")
    os.makedirs(app.instance_path, exist_ok=True)
    db.init_app(app)
    with app.app_context():
        sqlite.tune(db.engine)
    handlers.configure(database_url=app.config["STATE_SYSTEMS_DATABASE_URI"],
                       keys_dir=app.config["KEYS_DIR"])
    app.extensions["qyzmet"] = Runtime(Path(app.config["BPMN_DIR"]), Path(app.config["FORMS_DIR"]),
                                       handlers.HANDLERS)
    cli.init_app(app)
    app.register_blueprint(api.bp)
    app.register_blueprint(web.bp)
    return app
