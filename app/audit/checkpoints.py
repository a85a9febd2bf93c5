"""Signed checkpoints: the heads of every journal, hashed, chained and signed with the EDS.

Why: a case's own hash chain cannot stand against someone with write access to the database,
who deletes an event and recomputes the rest of the chain, or deletes the whole case. A
checkpoint fixes the head of every chain (instance, last seq, last hash) at one moment, hashes
them into a root digest, names the previous checkpoint by the sha256 of its file, and is signed
as enveloped XMLDSig with the provider's key (`CHECKPOINT_SIGNER`, through `handlers.xmldoc`,
as the state systems' documents are). Once a file has left the building, the database can no
longer be rewritten unnoticed: `problems_in_database` names every case whose chain up to the
recorded seq no longer ends in the recorded hash, and every case that is gone.

A file verifies offline with nothing but the CA chain (and its CRL): `verify_file` checks the
signature, the certificate's chain, validity and revocation (`handlers.eds.verify_document`)
and that the heads it lists hash to its root digest.
"""

import dataclasses
import datetime
import hashlib
import logging
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from flask import current_app
from sqlalchemy import func
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app import audit
from app.core import store
from app.models import Checkpoint
from handlers import eds
from handlers import xmldoc
from handlers.errors import HandlerError

log = logging.getLogger(__name__)
CHECKPOINTS = Checkpoint.__table__
FORMAT = "qyzmet-journal-checkpoint/1"
ROOT_TAG = "checkpoint"


class CheckpointError(Exception):
    """A checkpoint cannot be taken (no signing key) or another was taken at the same moment."""


class Unreadable(Exception):
    """The file or the CA chain given cannot be read: bad input, not a verdict."""


@dataclasses.dataclass(frozen=True)
class Head:
    """The last entry of one case's journal, as a checkpoint records it."""

    instance_id: str
    seq: int
    hash: str


def root_digest(heads: list[Head]) -> str:
    """Return the sha256 of the heads, sorted by instance, as canonical JSON rows."""
    rows = [[h.instance_id, h.seq, h.hash] for h in sorted(heads, key=lambda h: h.instance_id)]
    return hashlib.sha256(audit.canonical_json(rows).encode()).hexdigest()


def file_digest(signed_xml: str | bytes) -> str:
    """Return the sha256 of a checkpoint file: the name the next checkpoint chains to."""
    data = signed_xml.encode() if isinstance(signed_xml, str) else signed_xml
    return hashlib.sha256(data).hexdigest()


def file_name(number: int) -> str:
    """Return the download and archive name of checkpoint `number`."""
    return f"checkpoint-{number}.xml"


def read_heads(conn) -> list[Head]:
    """Return the head of every journal in the database (one statement: one consistent view)."""
    events = store.EVENTS
    last = (select(events.c.instance_id, func.max(events.c.seq).label("seq"))
            .group_by(events.c.instance_id).subquery())
    rows = conn.execute(select(events.c.instance_id, events.c.seq, events.c.hash)
                        .join(last, (events.c.instance_id == last.c.instance_id)
                              & (events.c.seq == last.c.seq))
                        .order_by(events.c.instance_id)).all()
    return [Head(r.instance_id, r.seq, r.hash) for r in rows]


def _document(number: int, created_at: datetime.datetime, previous: str,
              heads: list[Head]) -> dict:
    """Return what a checkpoint signs, in the order it is rendered."""
    return {"format": FORMAT, "number": number, "created_at": created_at.isoformat(),
            "previous_digest": previous, "root_digest": root_digest(heads),
            "cases": len(heads),
            "heads": [{"instance": h.instance_id, "seq": h.seq, "hash": h.hash} for h in heads]}


def _sign(document: dict) -> str:
    """Sign the document with CHECKPOINT_SIGNER's key in KEYS_DIR (the signing time is the
    wall clock's: the certificate is judged at it, whatever clock the host runs on)."""
    signer = current_app.config["CHECKPOINT_SIGNER"]
    folder = Path(current_app.config["KEYS_DIR"])
    key_path, cert_path = folder / f"{signer}.key.pem", folder / f"{signer}.cert.pem"
    if not key_path.exists() or not cert_path.exists():
        raise CheckpointError(f"no signing key for CHECKPOINT_SIGNER {signer!r} in {folder}")
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    signed_at = datetime.datetime.now(datetime.UTC).replace(microsecond=0).isoformat()
    return xmldoc.sign_enveloped(xmldoc.to_xml(document, ROOT_TAG), key_pem=key,
                                 cert_pem=cert_path.read_bytes(),
                                 attributes={"signed_at": signed_at})


def take(now: datetime.datetime) -> dict:
    """Take, sign and store a checkpoint of every journal at `now` (the host's clock).

    Raise CheckpointError when there is no signing key, or when another checkpoint was stored
    since this one read its predecessor (the unique `prev_digest` refuses a fork).
    """
    with store.reading() as conn:
        last = conn.execute(select(CHECKPOINTS.c.id, CHECKPOINTS.c.signed_xml)
                            .order_by(CHECKPOINTS.c.id.desc()).limit(1)).first()
        heads = read_heads(conn)
    number = last.id + 1 if last else 1
    previous = file_digest(last.signed_xml) if last else audit.GENESIS
    document = _document(number, now, previous, heads)
    signed_xml = _sign(document)
    try:
        with store.writing() as conn:
            conn.execute(insert(CHECKPOINTS).values(
                id=number, created_at=now, prev_digest=previous,
                root_digest=document["root_digest"], cases=len(heads), signed_xml=signed_xml))
    except IntegrityError:
        raise CheckpointError("another checkpoint was taken at the same moment") from None
    return {"id": number, "created_at": now.isoformat(), "cases": len(heads),
            "root_digest": document["root_digest"], "prev_digest": previous,
            "digest": file_digest(signed_xml), "file_name": file_name(number)}


_NEXT_DUE = "qyzmet.checkpoint_due"  # app.extensions: when the scheduler next looks


def take_if_due(now: datetime.datetime) -> dict | None:
    """Take a checkpoint when CHECKPOINT_EVERY seconds have passed since the last (0: never);
    return it, or None. A scheduler that loses the race to another one takes none.

    The scheduler passes often: until the next checkpoint is due, a pass asks the database
    nothing (the moment is kept per app), and a failure is logged once per period.
    """
    every = datetime.timedelta(seconds=float(current_app.config["CHECKPOINT_EVERY"]))
    due = current_app.extensions.get(_NEXT_DUE)
    if every <= datetime.timedelta(0) or (due is not None and now < due):
        return None
    newest = latest()
    if newest:
        due = datetime.datetime.fromisoformat(newest["created_at"]) + every
        if due > now:
            current_app.extensions[_NEXT_DUE] = due
            return None
    current_app.extensions[_NEXT_DUE] = now + every
    try:
        return take(now)
    except CheckpointError as err:  # no signing key yet, or another scheduler took it
        log.warning("no periodic checkpoint: %s", err)
        return None


def _summary(row) -> dict:
    return {"id": row.id, "created_at": row.created_at.isoformat(), "cases": row.cases,
            "root_digest": row.root_digest, "prev_digest": row.prev_digest,
            "file_name": file_name(row.id)}


_LISTED = select(CHECKPOINTS.c.id, CHECKPOINTS.c.created_at, CHECKPOINTS.c.cases,
                 CHECKPOINTS.c.root_digest, CHECKPOINTS.c.prev_digest)


def listing(limit: int = 100) -> list[dict]:
    """Return the newest checkpoints, newest first."""
    with store.reading() as conn:
        rows = conn.execute(_LISTED.order_by(CHECKPOINTS.c.id.desc()).limit(limit)).all()
    return [_summary(r) for r in rows]


def latest() -> dict | None:
    """Return the newest checkpoint (without its file), or None."""
    newest = listing(1)
    return newest[0] if newest else None


def signed_file(number: int) -> str | None:
    """Return the signed XML of checkpoint `number`, or None (also for a number no row can have:
    ids are 32-bit integers on PostgreSQL)."""
    if not 0 < number < 2**31:
        return None
    with store.reading() as conn:
        return conn.execute(select(CHECKPOINTS.c.signed_xml)
                            .where(CHECKPOINTS.c.id == number)).scalar()


_HEADS_BY_ROOT: dict[str, dict[str, Head]] = {}  # parsed files by root digest (they never change)


def recorded_heads(checkpoint: dict) -> dict[str, Head]:
    """Return the heads a stored checkpoint (a `listing` row) records, by instance; each file
    is parsed once per process."""
    root = checkpoint["root_digest"]
    if root not in _HEADS_BY_ROOT:
        if len(_HEADS_BY_ROOT) > 8:
            _HEADS_BY_ROOT.clear()
        parsed = xmldoc.from_xml(signed_file(checkpoint["id"]))
        _HEADS_BY_ROOT[root] = {h.instance_id: h for h in heads_in(parsed)}
    return _HEADS_BY_ROOT[root]


def covering(instance_id: str) -> dict | None:
    """Return the newest checkpoint that lists the case, with the head it recorded, or None.

    Every checkpoint lists every case that existed, so the newest one lists the case unless
    the case began after it. `covers_head` tells whether that recorded head is the case's
    current head (a running case may have moved on; its later events await the next one).
    """
    newest = latest()
    if newest is None:
        return None
    head = recorded_heads(newest).get(instance_id)
    if head is None:
        return None
    with store.reading() as conn:
        current = store.read_instance(conn, instance_id, "journal_seq", "journal_hash")
    return {"id": newest["id"], "created_at": newest["created_at"], "seq": head.seq,
            "head_hash": head.hash, "file_name": newest["file_name"],
            "covers_head": current is not None and (current.journal_seq, current.journal_hash)
            == (head.seq, head.hash)}


def heads_in(document: dict) -> list[Head]:
    """Return the heads a parsed checkpoint document lists; raise ValueError if malformed."""
    listed = document.get("heads") or []  # an empty <heads/> parses as ""
    if not isinstance(listed, list):
        raise ValueError("heads is not a list")
    try:
        return [Head(h["instance"], int(h["seq"]), h["hash"]) for h in listed]
    except (TypeError, KeyError, ValueError):
        raise ValueError("a head lacks its instance, seq or hash") from None


def verify_file(signed_xml: bytes, ca: str | Path, crl: str | Path | None = None) -> dict:
    """Verify a checkpoint file offline: {"valid", "reason", "signer", "document", "heads"}.

    Valid when the signature holds, the certificate chains to `ca`, was valid at the signing
    time and is not on the CRL, the document is a checkpoint, and its heads hash to its root
    digest and number its case count. Raise Unreadable when the CA chain or the CRL cannot be
    read (nothing can be judged then).
    """
    try:
        result = eds.verify_document(signed_xml, trust=eds.trusting(ca, crl))
    except HandlerError as err:  # the CA chain or the CRL (Unavailable) cannot be read
        raise Unreadable(err.message) from None
    answer = {"valid": False, "reason": result["reason"], "signer": result["signer"],
              "document": result["document"], "heads": []}
    if not result["valid"]:
        return answer
    document = result["document"]
    try:
        heads = heads_in(document)
    except ValueError as err:
        return {**answer, "reason": f"not a checkpoint: {err}"}
    if document.get("format") != FORMAT:
        return {**answer, "reason": "not a checkpoint: unknown format"}
    if root_digest(heads) != document.get("root_digest") or str(len(heads)) != document.get(
            "cases"):
        return {**answer, "reason": "the heads do not hash to the signed root digest"}
    return {**answer, "valid": True, "reason": None, "heads": heads}


def problems_in_database(heads: list[Head], progress=None) -> list[dict]:
    """Return every case whose journal no longer matches the head a checkpoint recorded.

    A case is `missing` when none of its entries up to the recorded seq remain, `rewritten`
    when its chain up to that seq does not verify or does not end in the recorded hash (an
    event deleted and the chain recomputed passes the case's own check, not this one).
    `progress(n)` is called after each case.
    """
    events = store.EVENTS
    query = (select(events.c.instance_id, events.c.seq, events.c.type, events.c.actor,
                    events.c.at, events.c.payload, events.c.prev_hash, events.c.hash)
             .order_by(events.c.seq))
    problems = []
    with store.reading() as conn:
        for head in heads:
            rows = conn.execute(query.where(events.c.instance_id == head.instance_id,
                                            events.c.seq <= head.seq)).all()
            found = rows[-1] if rows else None
            if found is None:
                problems.append({"instance_id": head.instance_id, "problem": "missing",
                                 "seq": head.seq, "expected": head.hash, "found": None})
            elif audit.verify(rows) is not None or (found.seq, found.hash) != (head.seq,
                                                                              head.hash):
                problems.append({"instance_id": head.instance_id, "problem": "rewritten",
                                 "seq": head.seq, "expected": head.hash,
                                 "found": found.hash if found.seq == head.seq else None})
            if progress:
                progress(1)
    return problems


def read_input(path: str | Path) -> bytes:
    """Return a file's bytes; raise Unreadable with one line if it cannot be read."""
    try:
        return Path(path).read_bytes()
    except OSError as err:
        raise Unreadable(f"cannot read {path}: {err.strerror}") from None


def verdict_lines(result: dict, problems: list[dict] | None = None) -> tuple[int, list[str]]:
    """Return the exit code (0 valid, 1 invalid) and the lines a verify command prints."""
    if not result["valid"]:
        return 1, [f"INVALID: {result['reason']}"]
    document, signer = result["document"], result["signer"]
    lines = [f"valid: checkpoint {document.get('number')} of {document.get('created_at')}, "
             f"{document.get('cases')} cases, signed by {signer['cn']} (IIN {signer['iin']})"]
    for problem in problems or []:
        lines.append(f"{problem['problem'].upper()}: case {problem['instance_id']} "
                     f"(seq {problem['seq']}, signed head {problem['expected'][:16]}…)")
    if problems:
        lines.append(f"INVALID: {len(problems)} cases differ from the signed checkpoint")
    elif problems is not None:
        lines.append(f"every case matches the signed checkpoint ({len(result['heads'])})")
    return (1 if problems else 0), lines
