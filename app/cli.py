"""Command-line tasks: prepare the database and demo data, deploy diagrams, check journals."""

import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

import handlers
from app import auth
from app import definitions
from app.diagram import DiagramError
from app.models import db


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(2)


def deploy_all(deployed_by: str = "setup") -> list:
    """Create tables and deploy every changed diagram in BPMN_DIR."""
    db.create_all()
    return definitions.deploy_directory(Path(current_app.config["BPMN_DIR"]), deployed_by)


def prepare_demo(password: str) -> None:
    """Create tables, deploy diagrams, demo users, state-system data and signing keys."""
    for row in deploy_all():
        click.echo(f"deployed {row.key} v{row.version} ({row.sha256[:12]})")
    created = auth.ensure_demo_users(password)
    handlers.statedb.seed_demo()
    for username, full_name, roles in auth.DEMO_USERS:
        if roles == "head":
            handlers.eds.ensure_signing_key(username, full_name, "680310400011")
    click.echo(f"demo users: {created} created; state-system reference data and keys ready")


@click.command("init-demo")
@with_appcontext
@click.option("--password", default=None, help="password of the demo users")
def init_demo_command(password):
    """Prepare the database with demo users and reference data (idempotent)."""
    try:
        prepare_demo(password or current_app.config["DEMO_PASSWORD"])
    except DiagramError as err:
        _fail(str(err))


@click.command("deploy")
@with_appcontext
def deploy_command():
    """Deploy every diagram in bpmn/ whose content changed since its last version."""
    try:
        rows = deploy_all()
    except DiagramError as err:
        _fail(str(err))
    for row in rows:
        click.echo(f"deployed {row.key} v{row.version}")
    if not rows:
        click.echo("nothing changed")


def init_app(app) -> None:
    """Register the commands with the Flask CLI."""
    app.cli.add_command(init_demo_command)
    app.cli.add_command(deploy_command)
