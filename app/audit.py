"""The audit journal: canonical JSON, the per-instance hash chain, and its verification."""

import datetime
import hashlib
import json
from dataclasses import dataclass

GENESIS = "0" * 64


def canonical_json(value) -> str:
    """Return `value` as canonical JSON: sorted keys, no spaces, UTF-8 text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def now_iso() -> str:
    """Return the current UTC time as ISO 8601 with microseconds."""
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class Entry:
    """One journal entry, ready to store; `hash` seals every other field and `prev_hash`."""

    instance_id: str
    seq: int
    type: str
    actor: str
    at: str
    payload: str
    prev_hash: str
    hash: str


def seal(instance_id: str, seq: int, kind: str, actor: str, at: str, payload: str,
         prev_hash: str) -> str:
    """Return the sha256 that chains this entry to `prev_hash`."""
    body = canonical_json({"instance": instance_id, "seq": seq, "type": kind, "actor": actor,
                           "at": at, "payload": payload, "prev": prev_hash})
    return hashlib.sha256(body.encode()).hexdigest()


def chain(instance_id: str, last_seq: int, last_hash: str, events, actor: str) -> list[Entry]:
    """Turn (type, payload) pairs into sealed entries following `last_seq`/`last_hash`."""
    entries, prev, at = [], last_hash, now_iso()
    for offset, (kind, payload) in enumerate(events, start=1):
        text = canonical_json(payload)
        digest = seal(instance_id, last_seq + offset, kind, actor, at, text, prev)
        entries.append(Entry(instance_id, last_seq + offset, kind, actor, at, text, prev, digest))
        prev = digest
    return entries


def verify(rows) -> int | None:
    """Return the seq of the first entry that breaks the chain, or None if all is intact."""
    prev, expected_seq = GENESIS, 1
    for row in rows:
        digest = seal(row.instance_id, row.seq, row.type, row.actor, row.at, row.payload, prev)
        if row.seq != expected_seq or row.prev_hash != prev or row.hash != digest:
            return row.seq
        prev, expected_seq = row.hash, expected_seq + 1
    return None
