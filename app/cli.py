"""Command-line tasks: prepare the database and demo data, deploy diagrams, check journals."""

import json
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
from app.audit import archive
from app.audit import checkpoints
from app.audit import replay
from app.audit import replay_batch
from app.audit import verification
from app.core import store
from app.diagram import DiagramError
from app.models import db
from app.services import Invalid

SIGNERS = ("head",)  # staff whose EDS signs results


def _fail(message: str) -> None:
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
                     before=before, after=after, now=_host_now())


def provision_signing_keys(pki_dir: Path, keys_dir: Path) -> list[str]:
    """Copy the staff signing keys the reference NCA issued into Qyzmet's key folder.

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
    """Upgrade the schema, deploy diagrams, the demo users and the staff signing keys."""
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
        _fail(next(iter(err.errors.values())))
    except LookupError as err:
        _fail(str(err))
    click.echo(f"password of {username} changed; {ended} sessions and tokens ended")


@click.command("revoke")
@with_appcontext
@click.argument("username")
def revoke_command(username):
    """End every session and API token of a user at once."""
    if auth.find_actor(username) is None:
        _fail(f"no user '{username}'")
    with store.writing() as conn:
        ended = auth.revoke_all(username, conn=conn)
        _journal(conn, "credentials_revoked", username, {"credentials_not_revoked": ended},
                 {"credentials_not_revoked": 0})
    click.echo(f"{ended} sessions and tokens of {username} ended")


@click.command("replay")
@with_appcontext
@click.argument("instance_id", required=False)
@click.option("--process", help="batch: cases of this process key")
@click.option("--version", type=int, help="batch: of this definition version (with --process)")
@click.option("--since", help="batch: started on or after this date (YYYY-MM-DD, Kazakhstan "
                              "time) or ISO 8601 moment")
@click.option("--until", help="batch: started before the end of this date, or before this moment")
@click.option("--limit", type=int, default=replay_batch.DEFAULT_LIMIT, show_default=True,
              help=f"batch: at most this many cases, oldest first (≤ {replay_batch.MAX_LIMIT})")
def replay_command(instance_id, **batch):
    """Replay a case, or a batch of cases, from the journal: exit 0 if every state matches,
    1 at any divergence, 2 on bad input (an unknown case, a bad date)."""
    runtime = current_app.extensions["qyzmet"]
    if instance_id is None:
        _replay_many(runtime, batch)
        return
    if any(value is not None for name, value in batch.items() if name != "limit"):
        _fail("give a case id or batch options (--process, --version, --since, --until)")
    try:
        result = replay.replay(runtime, instance_id)
    except replay.NotFound as err:
        _fail(str(err))
    if result["ok"]:
        click.echo(f"ok: {result['events_replayed']} events replayed, every state matches")
        return
    _echo_divergence(result["divergence"], result["events_replayed"])
    sys.exit(1)


def _echo_divergence(divergence: dict, replayed: int, indent: str = "") -> None:
    """Print a divergence with both sides: the recorded and the replayed digest (or why the
    input could not be fed), the recorded event, then the differences in words."""
    click.echo(f"{indent}divergence at event {divergence['seq']} ({divergence['type']}) "
               f"after {replayed} events")
    click.echo(f"{indent}recorded: {divergence['expected']}")
    click.echo(f"{indent}replayed: {divergence['actual']}")
    click.echo(f"{indent}recorded event: "
               f"{json.dumps(divergence['recorded']['event']['payload'], ensure_ascii=False)}")
    for line in divergence["differences"]:
        click.echo(f"{indent}- {line}")


def _replay_many(runtime, batch: dict) -> None:
    """Replay the selected cases with a progress bar; print what diverged or failed."""
    try:
        chosen = replay_batch.selection({k: v for k, v in batch.items() if v is not None})
    except Invalid as err:
        _fail("; ".join(f"{name}: {message}" for name, message in err.errors.items()))
    cases, truncated = replay_batch.select_cases(chosen)
    with click.progressbar(length=len(cases), label="replaying", file=sys.stderr) as bar:
        report = replay_batch.replay_cases(runtime, cases, truncated,
                                           progress=lambda _: bar.update(1))
    click.echo(f"{report['cases']} cases replayed: {report['ok']} ok, "
               f"{len(report['diverged'])} diverged, {len(report['failed'])} failed")
    for case in report["diverged"]:
        click.echo(f"{case['instance_id']} ({case['process']} v{case['version']}):")
        _echo_divergence(case["divergence"], case["events_replayed"], indent="  ")
    for case in report["failed"]:
        click.echo(f"{case['instance_id']} ({case['process']} v{case['version']}): "
                   f"not replayed: {case['error']}")
    if truncated:
        click.echo("more cases match: raise --limit or narrow the period")
    if report["diverged"] or report["failed"]:
        sys.exit(1)


def _host_now():
    """Return the host's clock (the Runtime's), as every write uses it."""
    return current_app.extensions["qyzmet"].clock.now()


@click.command("checkpoint")
@with_appcontext
def checkpoint_command():
    """Take a signed checkpoint of every journal's head now."""
    try:
        made = checkpoints.take(_host_now())
    except checkpoints.CheckpointError as err:
        _fail(str(err))
    click.echo(f"checkpoint {made['id']}: {made['cases']} cases, root {made['root_digest']}")


_CA = click.option("--ca", required=True, help="PEM chain of the trusted NCA CAs")
_CRL = click.option("--crl", default=None, help="the NCA CRL; default crl.pem beside --ca")


@click.command("verify-checkpoint")
@with_appcontext
@click.argument("file")
@_CA
@_CRL
@click.option("--against-db", is_flag=True, help="also check every case it lists in the database")
def verify_checkpoint_command(file, ca, crl, against_db):
    """Verify a checkpoint file: exit 0 valid, 1 invalid or a case differs, 2 unreadable input."""
    try:
        result = checkpoints.verify_file(checkpoints.read_input(file), ca, crl)
    except checkpoints.Unreadable as err:
        _fail(str(err))
    problems = None
    if against_db and result["valid"]:
        with click.progressbar(length=len(result["heads"]), label="cases") as bar:
            problems = checkpoints.problems_in_database(result["heads"], bar.update)
    code, lines = checkpoints.verdict_lines(result, problems)
    click.echo("\n".join(lines))
    sys.exit(code)


@click.command("archive")
@with_appcontext
@click.option("--older-than", "days", type=click.FloatRange(min=0), required=True,
              help="archive the cases finished more than DAYS ago")
@click.option("--out", required=True, type=click.Path(path_type=Path),
              help="a new or empty folder")
def archive_command(days, out):
    """Export finished cases with their journals and the signed checkpoint covering them
    (nothing is deleted: Qyzmet never deletes a case)."""
    now = _host_now()
    cases = archive.finished_cases(now, days)
    try:
        with click.progressbar(length=len(cases), label="cases") as bar:
            manifest = archive.export(out, cases, days, now, bar.update)
    except (archive.ArchiveError, checkpoints.CheckpointError) as err:
        _fail(str(err))
    click.echo(f"archived {len(manifest['cases'])} cases finished before {manifest['cutoff']} "
               f"into {out} (covered by {manifest['checkpoint']})")


@click.command("verify-archive")
@click.argument("folder", type=click.Path(path_type=Path))
@_CA
@_CRL
def verify_archive_command(folder, ca, crl):
    """Verify an archive without the database: exit 0 intact, 1 not, 2 unreadable input."""
    try:
        verdict = archive.verify(folder, ca, crl)
    except (archive.ArchiveError, checkpoints.Unreadable) as err:
        _fail(str(err))
    code, lines = archive.verdict_lines(verdict)
    click.echo("\n".join(lines))
    sys.exit(code)


@click.command("verify")
@with_appcontext
@click.argument("instance_ids", nargs=-1)
def verify_command(instance_ids):
    """Recompute the hash chains of the given cases (no id: every case and the admin chain):
    exit 0 all intact, 1 with a line per broken chain, 2 on an unknown id."""
    try:
        chosen = verification.chain_ids(instance_ids or None)
    except LookupError as err:
        _fail(str(err))
    with click.progressbar(length=len(chosen), label="verifying", file=sys.stderr) as bar:
        result = verification.verify_all(bar.update, list(instance_ids) if instance_ids else None)
    for broken in result["broken"]:
        link = broken["first_broken"]
        click.echo(f"{broken['instance_id']}: broken at event {link['seq']} ({link['kind']}): "
                   f"expected {link['expected']}, found {link['found']}")
    click.echo(f"{result['cases']} chains verified: "
               f"{result['cases'] - len(result['broken'])} intact, {len(result['broken'])} broken")
    if not result["ok"]:
        sys.exit(1)


def init_app(app) -> None:
    """Register the commands with the Flask CLI."""
    for command in (init_demo_command, deploy_command, set_password_command, revoke_command,
                    replay_command):
        app.cli.add_command(command)
    for command in (checkpoint_command, verify_checkpoint_command, archive_command,
                    verify_archive_command):
        app.cli.add_command(command)
    app.cli.add_command(verify_command)
