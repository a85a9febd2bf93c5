"""A case's record to hand out: its journal as JSON Lines and CSV, and a printable report.

The exports carry every journal field (seq, at, actor, type, payload, prev_hash, hash) and the
case id, so anyone can recompute the hash chain from the file alone (`app.audit.seal`): the
payload is the canonical JSON the journal holds, in which secrets were already hashes when it was
written. The report adds the chain's verification (`app.audit.verification`) and the signed
checkpoint covering the case (`app.audit.checkpoints`).
"""

import csv
import io

import orjson

from app import audit
from app.audit import checkpoints
from app.audit import redaction
from app.audit import timeline
from app.audit import verification

COLUMNS = ("instance_id", "seq", "at", "actor", "type", "payload", "prev_hash", "hash")


def _records(rt, actor, instance_id: str) -> tuple:
    """Return (instance, [{column: value}]) of the case's journal, payloads as JSON text."""
    instance, definition, rows = timeline.journal(rt, actor, instance_id)
    records = []
    for row in rows:
        payload = redaction.redact(orjson.loads(row.payload), definition.secrets)
        records.append({"instance_id": row.instance_id, "seq": row.seq, "at": row.at,
                        "actor": row.actor, "type": row.type,
                        "payload": audit.canonical_json(payload),
                        "prev_hash": row.prev_hash, "hash": row.hash})
    return instance, records


def jsonl(rt, actor, instance_id: str) -> tuple[str, str]:
    """Return (file name, JSON Lines text): one entry a line, its payload as a JSON object."""
    instance, records = _records(rt, actor, instance_id)
    lines = [audit.canonical_json({**r, "payload": orjson.loads(r["payload"])}) for r in records]
    return f"{instance.business_key}-journal.jsonl", "".join(f"{line}\n" for line in lines)


def csv_text(rt, actor, instance_id: str) -> tuple[str, str]:
    """Return (file name, CSV text): a header, then one entry a row, the payload as JSON text."""
    instance, records = _records(rt, actor, instance_id)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(records)
    return f"{instance.business_key}-journal.csv", out.getvalue()


def report(rt, actor, instance_id: str, lang: str = "en") -> dict:
    """Return what the printable report shows: the case, its timeline, its proofs."""
    told = timeline.timeline(rt, actor, instance_id, lang)  # checks the actor may read it
    return {"timeline": told, "verification": verification.verify_case(instance_id),
            "checkpoint": checkpoints.covering(instance_id)}
