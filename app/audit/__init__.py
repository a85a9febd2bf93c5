"""The audit journal: canonical JSON, the per-instance hash chain, and its verification."""

import dataclasses
import datetime
import hashlib

import orjson

from app.audit import append_only  # noqa: F401 - the triggers also come with db.create_all()

GENESIS = "0" * 64


def canonical_json(value) -> str:
    """Return `value` as canonical JSON: sorted keys, no spaces, UTF-8 text (RFC 8259)."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def stamp(moment: datetime.datetime) -> str:
    """Return an aware moment as the journal writes it: UTC, ISO 8601 with microseconds."""
    if moment.utcoffset() is None:
        raise ValueError("a journal timestamp needs a time zone")
    return moment.astimezone(datetime.UTC).isoformat(timespec="microseconds")


@dataclasses.dataclass(frozen=True)
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


def seal(entry) -> str:
    """Return the sha256 that seals an entry's fields together with its `prev_hash`."""
    body = canonical_json({"instance": entry.instance_id, "seq": entry.seq, "type": entry.type,
                           "actor": entry.actor, "at": entry.at, "payload": entry.payload,
                           "prev": entry.prev_hash})
    return hashlib.sha256(body.encode()).hexdigest()


def chain(instance_id: str, last_seq: int, last_hash: str, events, actor: str, *,
          at: datetime.datetime) -> list[Entry]:
    """Turn (type, payload) pairs into sealed entries following `last_seq`/`last_hash`.

    `at` is the moment of the change, from the host's clock; every entry carries it.
    """
    entries, prev, at = [], last_hash, stamp(at)
    for offset, (kind, payload) in enumerate(events, start=1):
        text = canonical_json(payload)
        entry = Entry(instance_id, last_seq + offset, kind, actor, at, text, prev, "")
        entry = dataclasses.replace(entry, hash=seal(entry))
        entries.append(entry)
        prev = entry.hash
    return entries


def verify(rows) -> int | None:
    """Return the seq of the first entry that breaks the chain, or None if all is intact."""
    prev, expected_seq = GENESIS, 1
    for row in rows:
        if row.seq != expected_seq or row.prev_hash != prev or row.hash != seal(row):
            return row.seq
        prev, expected_seq = row.hash, expected_seq + 1
    return None
