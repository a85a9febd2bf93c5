"""Command-line tasks: prepare the database and demo data, deploy diagrams, check journals."""

import shutil
import sys
from pathlib import Path

import click
from alembic import command as alembic_command
from alembic.migration import MigrationContext
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import inspect
from sqlalchemy import text

from app import definitions
from app.access import auth
from app.audit import admin_log
from app.core import store
from app.diagram import DiagramError
from app.models import db

# whose EDS signs results: the head (staff), the provider's organisation key (the system)
SIGNERS = ("head", "provider")


def fail(message: str) -> None:
    """Say what is wrong in one line on stderr and exit 2 (bad input), as every command does."""
    click.echo(f"error: {message}", err=True)
    sys.exit(2)


# What a database made by db.create_all(), before Alembic owned the schema, can hold: the
# revision and the tables it added. 0001 is the schema of commit 5629b0c (the first main);
# 0002 added `credential` (issue 6) while create_all still made the tables.
PRE_ALEMBIC = (("0001", frozenset({"user", "process_definition", "process_instance", "task",
                                    "audit_event"})),
               ("0002", frozenset({"credential"})))
MIGRATION_LOCK = 7_140_001  # PostgreSQL advisory lock: one schema upgrade at a time


def upgrade_database(revision: str = "head") -> tuple[str | None, str | None]:
    """Bring the database to `revision` (the newest); return (revision before, revision after).

    Alembic owns the schema (app/migrations). A database made by db.create_all() before
    that has Qyzmet's tables but no `alembic_version` table: it is stamped with the last
    revision of PRE_ALEMBIC whose tables are all there, then upgraded like any other, so no
    row is lost. `init-demo` and `deploy` call this; `flask --app app db upgrade` does the
    same for databases that Alembic already owns. All in one transaction.
    """
    config = current_app.extensions["migrate"].migrate.get_config()
    with db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        config.attributes["connection"] = conn
        before = MigrationContext.configure(conn).get_current_revision()
        if before is None:
            before = _stamp_pre_alembic(conn, config)
        alembic_command.upgrade(config, revision)
        after = MigrationContext.configure(conn).get_current_revision()
    return before, after


def _stamp_pre_alembic(conn, config) -> str | None:
    """Stamp a database made by db.create_all() with the revision its tables match."""
    tables = set(inspect(conn).get_table_names())
    matched = None
    for revision, added in PRE_ALEMBIC:
        if not added <= tables:
            break
        matched = revision
    if matched is not None:
        alembic_command.stamp(config, matched)
    return matched


def deploy_all(deployed_by: str = "setup") -> list:
    """Upgrade the database to the newest schema and deploy every changed diagram."""
    before, after = upgrade_database()
    if before != after:
        click.echo(f"database schema {before or 'empty'} -> {after}")
    def journal(conn, created):
        _journal(conn, "deployed", "process_definition",
                 {row.key: row.version - 1 or None for row in created},
                 {row.key: {"version": row.version, "sha256": row.sha256} for row in created})
    return definitions.deploy_directory(Path(current_app.config["BPMN_DIR"]), deployed_by,
                                        journal=journal)


def _journal(conn, action: str, target: str, before, after) -> None:
    """Journal an admin action of the command line in the admin chain (app.audit.admin_log),
    in the action's own transaction `conn`."""
    admin_log.record(conn, action, admin_log.command_line_actor(), target=target,
                     before=before, after=after, now=host_now())


def provision_signing_keys(pki_dir: Path, keys_dir: Path) -> list[str]:
    """Copy the signing keys the reference NCA issued (staff, organisation) into the key folder.

    In production the keys come from the national CA through the organisation's own
    channel; the demo takes them from the reference PKI. Returns the signers provisioned.
    """
    keys_dir.mkdir(parents=True, exist_ok=True)
    provisioned = []
    for signer in SIGNERS:
        for suffix in (".key.pem", ".cert.pem"):
            name = f"{signer}{suffix}"
            source, target = pki_dir / "holders" / name, keys_dir / name
            if source.exists() and not target.exists():
                shutil.copyfile(source, target)
                target.chmod(0o600)
        if (keys_dir / f"{signer}.key.pem").exists():
            provisioned.append(signer)
    return provisioned


def prepare_demo(password: str) -> None:
    """Upgrade the schema, deploy diagrams, the demo users and the signing keys."""
    for row in deploy_all():
        click.echo(f"deployed {row.key} v{row.version} ({row.sha256[:12]})")
    config = current_app.config
    created = auth.ensure_demo_users(password, config["PASSWORD_HASH_METHOD"])
    signers = provision_signing_keys(Path(config["PKI_DIR"]), Path(config["KEYS_DIR"]))
    click.echo(f"demo users: {created} created; signing keys: {', '.join(signers) or 'none'}")


@click.command("init-demo")
@with_appcontext
@click.option("--password", default=None, help="password of the demo users")
def init_demo_command(password):
    """Prepare the database with demo users and reference data (idempotent)."""
    try:
        prepare_demo(password or current_app.config["DEMO_PASSWORD"])
    except DiagramError as err:
        fail(str(err))


@click.command("deploy")
@with_appcontext
def deploy_command():
    """Deploy every diagram in bpmn/ whose content changed since its last version."""
    try:
        rows = deploy_all()
    except DiagramError as err:
        fail(str(err))
    for row in rows:
        click.echo(f"deployed {row.key} v{row.version}")
    if not rows:
        click.echo("nothing changed")


@click.command("set-password")
@with_appcontext
@click.argument("username")
@click.password_option(help="the new password (asked twice when left out)")
def set_password_command(username, password):
    """Give a user a new password; every session and token of theirs ends."""
    try:
        with store.writing() as conn:
            ended = auth.set_password(username, password,
                                      current_app.config["PASSWORD_HASH_METHOD"], conn=conn)
            _journal(conn, "password_set", username, {"credentials_not_revoked": ended},
                     {"credentials_not_revoked": 0, "password": "changed"})
    except auth.PasswordRefused as err:
        fail(next(iter(err.errors.values())))
    except LookupError as err:
        fail(str(err))
    click.echo(f"password of {username} changed; {ended} sessions and tokens ended")


@click.command("revoke")
@with_appcontext
@click.argument("username")
def revoke_command(username):
    """End every session and API token of a user at once."""
    if auth.find_actor(username) is None:
        fail(f"no user '{username}'")
    with store.writing() as conn:
        ended = auth.revoke_all(username, conn=conn)
        _journal(conn, "credentials_revoked", username, {"credentials_not_revoked": ended},
                 {"credentials_not_revoked": 0})
    click.echo(f"{ended} sessions and tokens of {username} ended")


def host_now():
    """Return the host's clock (the Runtime's), as every write uses it."""
    return current_app.extensions["qyzmet"].clock.now()


def init_app(app) -> None:
    """Register the commands with the Flask CLI."""
    for command in (init_demo_command, deploy_command, set_password_command, revoke_command):
        app.cli.add_command(command)
