"""Signed checkpoints and the retention archive: they verify offline with the CA chain alone,
and they name a case whose journal was rewritten (its own chain recomputed) or deleted."""

import dataclasses
import datetime
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import delete
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy import update

from app import audit
from app.audit import checkpoints
from app.core import store
from app.jobs import scheduler
from app.models import Job
from app.models import ProcessInstance
from app.models import Task
from app.models import Timer
from app.models import db
from tests.paths import START
from tests.paths import UNKNOWN_IIN
from tests.tamper import tamper

ROOT = Path(__file__).resolve().parent.parent
EVENTS = store.EVENTS
NOT_FOUND = {"applicant_iin_bin": UNKNOWN_IIN, "licence_case": "issue"}  # ends at intake


def _outside_party(*args) -> subprocess.CompletedProcess:
    """Run the offline verifier in its own process: no Flask app, no database."""
    return subprocess.run([sys.executable, "-m", "app.audit", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)


def _checkpoint_file(api, tmp_path, number) -> Path:
    answer = api.get("auditor", f"/checkpoints/{number}.xml")
    assert answer.status_code == 200
    assert f'filename="checkpoint-{number}.xml"' in answer.headers["Content-Disposition"]
    path = tmp_path / f"checkpoint-{number}.xml"
    path.write_bytes(answer.data)
    return path


def _journals(app) -> list[str]:
    """Return every journal in the database, by instance (the admin log's `_admin` too)."""
    with app.app_context(), db.engine.connect() as conn:
        return sorted(conn.execute(select(EVENTS.c.instance_id).distinct()).scalars())


def _journal(app, instance_id) -> list:
    with app.app_context(), db.engine.connect() as conn:
        return conn.execute(select(EVENTS).where(EVENTS.c.instance_id == instance_id)
                            .order_by(EVENTS.c.seq)).all()


def _recompute_without(app, instance_id, seq) -> None:
    """Delete one event and recompute the case's whole chain, its head included."""
    kept = [r for r in _journal(app, instance_id) if r.seq != seq]
    entries, prev = [], audit.GENESIS
    for number, row in enumerate(kept, start=1):
        entry = audit.Entry(instance_id, number, row.type, row.actor, row.at, row.payload,
                            prev, "")
        entries.append(dataclasses.replace(entry, hash=audit.seal(entry)))
        prev = entries[-1].hash
    tamper(app, delete(EVENTS).where(EVENTS.c.instance_id == instance_id),
           lambda conn: conn.execute(insert(EVENTS), [dataclasses.asdict(e) for e in entries]),
           update(ProcessInstance.__table__).where(ProcessInstance.__table__.c.id == instance_id)
           .values(journal_seq=len(entries), journal_hash=prev))


def _delete_case(app, instance_id) -> None:
    tamper(app, *(delete(model.__table__).where(model.__table__.c.instance_id == instance_id)
                  for model in (Task, Timer, Job)),
           delete(EVENTS).where(EVENTS.c.instance_id == instance_id),
           delete(ProcessInstance.__table__).where(ProcessInstance.__table__.c.id == instance_id))


def test_checkpoint_is_signed_chained_and_verifies_offline(app, api, tmp_path, pki_dir):
    cases = [api.start(START), api.start(NOT_FOUND)]
    journals = _journals(app)
    assert set(cases) <= set(journals)
    first = api.post("auditor", "/checkpoints")
    assert first.status_code == 201, first.json
    assert first.json["cases"] == len(journals) and first.json["prev_digest"] == audit.GENESIS
    file = _checkpoint_file(api, tmp_path, 1)
    ca = pki_dir / "ca-chain.pem"

    outside = _outside_party("verify-checkpoint", file, "--ca", ca)
    assert outside.returncode == 0, outside.stderr
    assert outside.stdout.startswith("valid: checkpoint 1 of ")
    assert f"{len(journals)} cases, signed by SERIKOV ASKAR" in outside.stdout

    runner = app.test_cli_runner()
    result = runner.invoke(args=["verify-checkpoint", str(file), "--ca", str(ca),
                                 "--against-db"])
    assert result.exit_code == 0, result.output
    assert f"every case matches the signed checkpoint ({len(journals)})" in result.output

    # the heads in the file are the cases' journal heads, sorted, and the next one chains
    with app.app_context():
        heads = checkpoints.verify_file(file.read_bytes(), ca)["heads"]
        assert [h.instance_id for h in heads] == journals
        covered = checkpoints.covering(cases[1])
        assert covered["id"] == 1 and covered["covers_head"]
        assert (covered["seq"], covered["head_hash"]) == (
            _journal(app, cases[1])[-1].seq, _journal(app, cases[1])[-1].hash)
    assert runner.invoke(args=["checkpoint"]).output.startswith(
        f"checkpoint 2: {len(journals)} cases")
    listed = api.get("admin", "/checkpoints").json
    assert [c["id"] for c in listed] == [2, 1]
    assert listed[0]["prev_digest"] == hashlib.sha256(file.read_bytes()).hexdigest()


def test_only_auditors_and_admins_reach_checkpoints(app, api):
    for user in ("operator", "head", "portal"):
        assert api.post(user, "/checkpoints").status_code == 403
        assert api.get(user, "/checkpoints").status_code == 403
    assert api.get("auditor", "/checkpoints").json == []
    for number in (7, 2**31, 2**63):  # none stored; the last two no 32-bit id can be
        assert api.get("auditor", f"/checkpoints/{number}.xml").status_code == 404


def test_a_tampered_or_untrusted_checkpoint_fails(app, api, tmp_path, pki_dir):
    case = api.start(START)
    api.post("admin", "/checkpoints")
    file = _checkpoint_file(api, tmp_path, 1)
    head = _journal(app, case)[-1].hash
    tampered = tmp_path / "tampered.xml"
    tampered.write_text(file.read_text().replace(head, "0" * 64))
    ca = pki_dir / "ca-chain.pem"

    result = _outside_party("verify-checkpoint", tampered, "--ca", ca)
    assert (result.returncode, result.stdout) == (1, "INVALID: signature_invalid\n")
    # a chain the signer's certificate does not belong to
    stranger = _outside_party("verify-checkpoint", file, "--ca",
                              pki_dir / "holders" / "self_signed.cert.pem",
                              "--crl", pki_dir / "crl.pem")
    assert (stranger.returncode, stranger.stdout) == (1, "INVALID: untrusted\n")
    missing = app.test_cli_runner().invoke(args=["verify-checkpoint", str(tmp_path / "none"),
                                                 "--ca", str(ca)])
    assert missing.exit_code == 2 and "cannot read" in missing.output


@pytest.mark.edits_the_record
def test_a_recomputed_chain_and_a_deleted_case_are_named_against_the_database(
        app, api, tmp_path, pki_dir):
    rewritten, deleted, untouched = (api.start(START), api.start(START), api.start(NOT_FOUND))
    api.post("auditor", "/checkpoints")
    file = _checkpoint_file(api, tmp_path, 1)
    assert len(_journal(app, rewritten)) >= 3

    _recompute_without(app, rewritten, 2)
    assert audit.verify(_journal(app, rewritten)) is None  # its own chain verifies
    _delete_case(app, deleted)

    result = app.test_cli_runner().invoke(args=[
        "verify-checkpoint", str(file), "--ca", str(pki_dir / "ca-chain.pem"), "--against-db"])
    assert result.exit_code == 1, result.output
    assert f"REWRITTEN: case {rewritten}" in result.output
    assert f"MISSING: case {deleted}" in result.output
    assert untouched not in result.output
    assert "INVALID: 2 cases differ from the signed checkpoint" in result.output
    # without the database the file itself is still good: it is the database that changed
    assert _outside_party("verify-checkpoint", file, "--ca",
                          pki_dir / "ca-chain.pem").returncode == 0


def test_the_scheduler_takes_a_checkpoint_every_checkpoint_every(clocked_app, clock):
    with clocked_app.app_context():
        runtime = clocked_app.extensions["qyzmet"]
        scheduler.fire_due(runtime, clock.now())
        scheduler.fire_due(runtime, clock.now() + datetime.timedelta(minutes=59))
        assert [c["id"] for c in checkpoints.listing()] == [1]
        scheduler.fire_due(runtime, clock.now() + datetime.timedelta(hours=1))
        assert [c["id"] for c in checkpoints.listing()] == [2, 1]


def _archive(app, out) -> str:
    result = app.test_cli_runner().invoke(args=["archive", "--older-than", "0", "--out",
                                                str(out)])
    assert result.exit_code == 0, result.output
    return result.output


def _rewrite_line(path: Path, change) -> None:
    lines = path.read_text().splitlines()
    lines[1] = audit.canonical_json(change(json.loads(lines[1])))
    path.write_text("\n".join(lines) + "\n")


def test_archive_round_trip_verifies_on_its_own_and_tampering_fails(app, api, tmp_path,
                                                                     pki_dir):
    finished, running = api.start(NOT_FOUND), api.start(START)
    out, ca = tmp_path / "archive", pki_dir / "ca-chain.pem"
    assert "archived 1 cases" in _archive(app, out)
    manifest = json.loads((out / "manifest.json").read_text())
    assert [c["instance_id"] for c in manifest["cases"]] == [finished]
    assert manifest["checkpoint"] == "checkpoint-1.xml"  # none existed: one was taken
    assert not (out / "cases" / f"{running}.jsonl").exists()
    lines = (out / "cases" / f"{finished}.jsonl").read_text().splitlines()
    assert [json.loads(line)["hash"] for line in lines] == [
        r.hash for r in _journal(app, finished)]

    verified = _outside_party("verify-archive", out, "--ca", ca)
    assert verified.returncode == 0, verified.stderr
    assert "every one of the 1 archived cases verifies" in verified.stdout
    assert app.test_cli_runner().invoke(args=["verify-archive", str(out), "--ca",
                                              str(ca)]).exit_code == 0
    # the archive is written into a new folder only, and the case stays in the database
    assert app.test_cli_runner().invoke(args=["archive", "--older-than", "0", "--out",
                                              str(out)]).exit_code == 2
    assert _journal(app, finished)

    journal = out / "cases" / f"{finished}.jsonl"
    _rewrite_line(journal, lambda e: {**e, "actor": "someone-else"})
    broken = _outside_party("verify-archive", out, "--ca", ca)
    assert broken.returncode == 1
    assert f"BROKEN: case {finished}: chain broken at seq 2" in broken.stdout
    # resealing the whole file does not help: its head is not the signed one
    entries = [audit.Entry(**json.loads(line)) for line in journal.read_text().splitlines()]
    prev, resealed = audit.GENESIS, []
    for entry in entries:
        entry = dataclasses.replace(entry, prev_hash=prev, hash="")
        entry = dataclasses.replace(entry, hash=audit.seal(entry))
        resealed.append(audit.canonical_json(dataclasses.asdict(entry)))
        prev = entry.hash
    journal.write_text("\n".join(resealed) + "\n")
    resealed_result = _outside_party("verify-archive", out, "--ca", ca)
    assert resealed_result.returncode == 1
    assert "head differs from the signed checkpoint" in resealed_result.stdout
    assert _outside_party("verify-archive", tmp_path / "nowhere", "--ca", ca).returncode == 2
