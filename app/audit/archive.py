"""Retention: an archive of finished cases that verifies on its own, without the database.

Qyzmet never deletes a case. What retention needs is a copy that can be kept elsewhere and
still proved: `export` writes the cases finished before a cut-off, each with its whole
journal as JSON Lines, the signed checkpoint that records their heads (a fresh one when the
newest does not) and a manifest. `verify` recomputes every chain in the folder and checks
that it ends in the head the signed checkpoint recorded, with the CA chain alone.

    DIR/manifest.json                 what was exported, when, with which cut-off
    DIR/checkpoint-<n>.xml            the covering checkpoint, as signed
    DIR/cases/<instance id>.jsonl     one journal entry per line, exactly as hashed
"""

import datetime
import json
from pathlib import Path

import orjson
from sqlalchemy import select

from app import audit
from app.audit import checkpoints
from app.core import store
from app.models import ProcessDefinition

FORMAT = "qyzmet-archive/1"
FINISHED = "completed"
ENTRY_FIELDS = ("instance_id", "seq", "type", "actor", "at", "payload", "prev_hash", "hash")
_JOURNAL = (select(*(store.EVENTS.c[f] for f in ENTRY_FIELDS))
            .order_by(store.EVENTS.c.seq))


class ArchiveError(Exception):
    """The archive cannot be written or read: bad input, not a verdict."""


def _finished_before(conn, cutoff: datetime.datetime) -> list:
    """Return the cases finished (status completed) before `cutoff`, by id."""
    cases, definitions = store.INSTANCES, ProcessDefinition.__table__
    return conn.execute(
        select(cases.c.id, cases.c.business_key, cases.c.outcome, cases.c.updated_at,
               cases.c.journal_seq, cases.c.journal_hash, definitions.c.key,
               definitions.c.version)
        .join(definitions, cases.c.definition_id == definitions.c.id)
        .where(cases.c.status == FINISHED, cases.c.updated_at < cutoff)
        .order_by(cases.c.id)).all()


def _covering_checkpoint(cases: list, now: datetime.datetime) -> dict:
    """Return the newest checkpoint if it records every case's head, else take a new one."""
    newest = checkpoints.latest()
    if newest is not None:
        heads = checkpoints.recorded_heads(newest)
        if all(_recorded(heads.get(c.id), c.journal_seq, c.journal_hash) for c in cases):
            return newest
    return checkpoints.take(now)


def _recorded(head, seq: int, hash_: str) -> bool:
    return head is not None and (head.seq, head.hash) == (seq, hash_)


def finished_cases(now: datetime.datetime, older_than_days: float) -> list:
    """Return the cases that finished more than `older_than_days` before `now`."""
    with store.reading() as conn:
        return _finished_before(conn, now - datetime.timedelta(days=older_than_days))


def export(out: Path, cases: list, older_than_days: float, now: datetime.datetime,
           progress=None) -> dict:
    """Write the archive of `cases` (`finished_cases`) into the new or empty folder `out`;
    return its manifest. `progress(1)` is called after each case."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ArchiveError(f"{out} is not an empty folder: an archive goes into a new one")
    checkpoint = _covering_checkpoint(cases, now)
    (out / "cases").mkdir(parents=True, exist_ok=True)
    (out / checkpoint["file_name"]).write_text(checkpoints.signed_file(checkpoint["id"]),
                                               encoding="utf-8")
    listed = []
    for case in cases:
        with store.reading() as conn:
            rows = conn.execute(_JOURNAL.where(store.EVENTS.c.instance_id == case.id)).all()
        lines = "".join(audit.canonical_json(dict(r._mapping)) + "\n" for r in rows)
        (out / "cases" / f"{case.id}.jsonl").write_text(lines, encoding="utf-8")
        listed.append({"instance_id": case.id, "business_key": case.business_key,
                       "process": case.key, "version": case.version, "outcome": case.outcome,
                       "finished_at": case.updated_at.isoformat(), "events": len(rows),
                       "file": f"cases/{case.id}.jsonl"})
        if progress:
            progress(1)
    cutoff = now - datetime.timedelta(days=older_than_days)
    manifest = {"format": FORMAT, "created_at": now.isoformat(), "cutoff": cutoff.isoformat(),
                "older_than_days": older_than_days, "checkpoint": checkpoint["file_name"],
                "cases": listed}
    (out / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1),
                                       encoding="utf-8")
    return manifest


def _read_manifest(folder: Path) -> dict:
    """Return the folder's manifest; raise ArchiveError if it is not an archive's."""
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ArchiveError(f"no readable manifest.json in {folder}: {err}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ArchiveError(f"{folder}/manifest.json is not a {FORMAT} manifest")
    return manifest


def _journal_problem(path: Path, head) -> str | None:
    """Return why a case's journal file does not prove the signed head, or None if it does."""
    if head is None:
        return "not in the signed checkpoint"
    try:
        entries = [audit.Entry(**orjson.loads(line))
                   for line in path.read_text(encoding="utf-8").splitlines() if line]
    except (OSError, ValueError, TypeError) as err:
        return f"journal unreadable: {err}"
    broken = audit.verify(entries)
    if broken is not None:
        return f"chain broken at seq {broken}"
    if not entries or (entries[-1].seq, entries[-1].hash) != (head.seq, head.hash):
        return f"head differs from the signed checkpoint (seq {head.seq})"
    return None


def verify(folder: Path, ca: str | Path, crl: str | Path | None = None) -> dict:
    """Verify an archive offline: {"checkpoint": verify_file's result, "cases", "problems"}.

    Every listed case's chain must recompute from genesis and end in the head that the
    signed checkpoint records. Raise ArchiveError (or checkpoints.Unreadable) on bad input.
    """
    manifest = _read_manifest(folder)
    signed = checkpoints.read_input(folder / str(manifest.get("checkpoint")))
    result = checkpoints.verify_file(signed, ca, crl)
    listed = manifest.get("cases") or []
    if not result["valid"]:
        return {"checkpoint": result, "cases": len(listed), "problems": []}
    heads = {h.instance_id: h for h in result["heads"]}
    problems = []
    for case in listed:
        instance_id = str(case.get("instance_id"))
        reason = _journal_problem(folder / "cases" / f"{Path(instance_id).name}.jsonl",
                                  heads.get(instance_id))
        if reason:
            problems.append({"instance_id": instance_id, "problem": reason})
    return {"checkpoint": result, "cases": len(listed), "problems": problems}


def verdict_lines(verdict: dict) -> tuple[int, list[str]]:
    """Return the exit code (0 intact, 1 not) and the lines `verify-archive` prints."""
    code, lines = checkpoints.verdict_lines(verdict["checkpoint"])
    if code:
        return code, lines
    lines += [f"BROKEN: case {p['instance_id']}: {p['problem']}" for p in verdict["problems"]]
    if verdict["problems"]:
        return 1, [*lines, f"INVALID: {len(verdict['problems'])} of {verdict['cases']} cases"]
    return 0, [*lines, f"every one of the {verdict['cases']} archived cases verifies"]
