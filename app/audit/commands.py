"""The auditors' commands: verify chains, take and verify signed checkpoints, archive, replay.

`flask --app app verify|checkpoint|verify-checkpoint|archive|verify-archive|replay`; each exits
0 when all is intact, 1 when something is not (one line per finding), 2 on bad input (one line).
Long work shows a progress bar on stderr. The logic lives in the modules of app.audit.
"""

import json
import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from app.audit import archive
from app.audit import checkpoints
from app.audit import replay
from app.audit import replay_batch
from app.audit import verification
from app.cli import fail
from app.cli import host_now
from app.services import Invalid


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
        fail("give a case id or batch options (--process, --version, --since, --until)")
    try:
        result = replay.replay(runtime, instance_id)
    except replay.NotFound as err:
        fail(str(err))
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
        fail("; ".join(f"{name}: {message}" for name, message in err.errors.items()))
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


@click.command("checkpoint")
@with_appcontext
def checkpoint_command():
    """Take a signed checkpoint of every journal's head now."""
    try:
        made = checkpoints.take(host_now())
    except checkpoints.CheckpointError as err:
        fail(str(err))
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
        fail(str(err))
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
    now = host_now()
    cases = archive.finished_cases(now, days)
    try:
        with click.progressbar(length=len(cases), label="cases") as bar:
            manifest = archive.export(out, cases, days, now, bar.update)
    except (archive.ArchiveError, checkpoints.CheckpointError) as err:
        fail(str(err))
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
        fail(str(err))
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
        fail(str(err))
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
    """Register the auditors' commands with the Flask CLI."""
    for command in (verify_command, checkpoint_command, verify_checkpoint_command,
                    archive_command, verify_archive_command, replay_command):
        app.cli.add_command(command)
