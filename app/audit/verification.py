"""Verify journals: recompute each hash chain and name its first broken link (issue 9).

Every entry seals its own fields and the hash of the entry before it (`app.audit.seal`), and
the case's row keeps the journal's head (`journal_seq`, `journal_hash`), moved in the same
transaction as every entry. So a changed, removed, added or moved entry breaks a link; which
link and how it broke tells the kind of tampering:

- edited: the entry follows the right predecessor but its fields no longer give its hash;
- deleted: the entry that should come next is missing (the one found follows an entry that
  is nowhere in the journal), or the journal ends before the head the case recorded;
- inserted: an entry was slipped in (the entry after it follows the same predecessor), or
  the journal goes on past the case's recorded head;
- reordered: the entry that belongs here is elsewhere in the journal.

What this cannot see is a chain recomputed from the tampered entry on, with the case's head
moved along: every link is whole again. The signed checkpoints (`app.audit.checkpoints`),
kept outside the attacker's reach, prove that case. The report names events by their seq,
type, actor, time and hashes, never their payload (it may hold secrets).
"""

import itertools

from sqlalchemy import bindparam
from sqlalchemy import select

from app.audit import GENESIS
from app.audit import Entry
from app.audit import seal
from app.core import store

_COLUMNS = (store.EVENTS.c.instance_id, store.EVENTS.c.seq, store.EVENTS.c.type,
            store.EVENTS.c.actor, store.EVENTS.c.at, store.EVENTS.c.payload,
            store.EVENTS.c.prev_hash, store.EVENTS.c.hash)
_ORDER = (store.EVENTS.c.instance_id, store.EVENTS.c.seq, store.EVENTS.c.id)
_EVENTS_OF = (select(*_COLUMNS).where(store.EVENTS.c.instance_id == bindparam("instance_id"))
              .order_by(*_ORDER))
_HEADS = select(store.INSTANCES.c.id, store.INSTANCES.c.journal_seq, store.INSTANCES.c.journal_hash)
_HEAD_OF = _HEADS.where(store.INSTANCES.c.id == bindparam("instance_id"))


def verify_case(instance_id: str) -> dict:
    """Verify one case's journal (or the admin chain): {"ok", "events", "first_broken"}."""
    with store.reading() as conn:
        rows = conn.execute(_EVENTS_OF, {"instance_id": instance_id}).all()
        head = conn.execute(_HEAD_OF, {"instance_id": instance_id}).first()
    return verdict(rows, head)


def chain_ids(instance_ids=None) -> list[str]:
    """Return the ids of every chain (cases and the admin chain), or check the given ones.

    Raise LookupError naming the first id that has neither a case nor a journal entry.
    """
    cases = select(store.INSTANCES.c.id)
    chains = select(store.EVENTS.c.instance_id).distinct()
    if instance_ids is not None:
        cases = cases.where(store.INSTANCES.c.id.in_(instance_ids))
        chains = chains.where(store.EVENTS.c.instance_id.in_(instance_ids))
    with store.reading() as conn:
        known = set(conn.execute(cases).scalars()) | set(conn.execute(chains).scalars())
    if instance_ids is None:
        return sorted(known)
    for instance_id in instance_ids:
        if instance_id not in known:
            raise LookupError(f"no case '{instance_id}'")
    return list(dict.fromkeys(instance_ids))


def verify_all(progress=None, instance_ids=None) -> dict:
    """Verify every chain (or those of `instance_ids`); return {"cases", "ok", "broken"}.

    The journal is read in one ordered pass, a case at a time in memory. `progress`, when
    given, is called with 1 after each chain (click's `bar.update`).
    """
    query, heads_query = select(*_COLUMNS).order_by(*_ORDER), _HEADS
    if instance_ids is not None:
        query = query.where(store.EVENTS.c.instance_id.in_(instance_ids))
        heads_query = heads_query.where(store.INSTANCES.c.id.in_(instance_ids))
    broken, cases = [], 0
    with store.reading() as conn:
        heads = {row.id: row for row in conn.execute(heads_query)}
        stream = conn.execution_options(stream_results=True, yield_per=2000).execute(query)
        for instance_id, rows in itertools.groupby(stream, key=lambda row: row.instance_id):
            cases += _tally(instance_id, verdict(list(rows), heads.pop(instance_id, None)),
                            broken, progress)
    for instance_id, head in heads.items():  # cases whose every entry is gone
        cases += _tally(instance_id, verdict([], head), broken, progress)
    broken.sort(key=lambda b: b["instance_id"])
    return {"cases": cases, "ok": not broken, "broken": broken}


def _tally(instance_id: str, result: dict, broken: list, progress) -> int:
    if not result["ok"]:
        broken.append({"instance_id": instance_id, "first_broken": result["first_broken"]})
    if progress is not None:
        progress(1)
    return 1


def verdict(rows, head=None) -> dict:
    """Verify journal rows of one chain (in seq order) against the case's head, if any."""
    broken = first_broken(rows) or _beyond_or_short_of_head(rows, head)
    return {"ok": broken is None, "events": len(rows), "first_broken": broken}


def first_broken(rows) -> dict | None:
    """Return the first broken link of a chain, {"seq", "kind", "expected", "found"}, or None."""
    prev = GENESIS
    for position, row in enumerate(rows):
        if row.seq == position + 1 and row.prev_hash == prev and seal(row) == row.hash:
            prev = row.hash
            continue
        return _diagnose(rows, position, prev)
    return None


def _diagnose(rows, position: int, prev: str) -> dict:
    """Tell how the chain breaks at `rows[position]`, the first row that does not fit."""
    row, seq = rows[position], position + 1
    before = rows[position - 1] if position else None
    if before is not None and row.prev_hash == before.prev_hash:  # two entries follow one
        return _link(before.seq, "inserted", {"seq": before.seq, **_identity(row)},
                     _event(before))
    if row.prev_hash == prev:  # follows the right entry, but its own fields changed
        return _fields_changed(rows, position)
    successor = next((r for r in rows[position + 1:] if r.prev_hash == prev), None)
    if successor is not None:  # the entry that belongs here comes later
        return _link(seq, "reordered", {**_event(successor), "seq": seq,
                                        "now_at": successor.seq}, _event(row))
    if row.prev_hash not in {r.hash for r in rows}:  # what it follows is gone
        return _link(seq, "deleted", {"seq": seq, "prev_hash": prev}, _event(row))
    return _link(seq, "reordered", {"seq": seq, "prev_hash": prev}, _event(row))


def _fields_changed(rows, position: int) -> dict:
    """Tell why an entry that follows the right predecessor does not give its own hash."""
    row, seq = rows[position], position + 1
    after = rows[position + 1] if position + 1 < len(rows) else None
    if after is not None and after.prev_hash == row.prev_hash:  # the next one follows the same
        return _link(seq, "inserted", {"seq": seq, **_identity(after)}, _event(row))
    moved = _content_sealed_here(rows, row)
    if moved is not None:
        return _link(seq, "reordered", {"seq": seq, "type": moved.type, "hash": row.hash,
                                        "now_at": moved.seq}, _event(row))
    return _link(seq, "edited", {"seq": seq, "hash": row.hash}, {**_event(row), "hash": seal(row)})


def _beyond_or_short_of_head(rows, head) -> dict | None:
    """Compare an unbroken chain's end with the head the case's row recorded."""
    if head is None:
        return None
    last_seq, last_hash = (rows[-1].seq, rows[-1].hash) if rows else (0, GENESIS)
    recorded = {"head_seq": head.journal_seq, "head_hash": head.journal_hash}
    if last_seq < head.journal_seq:
        return _link(last_seq + 1, "deleted", {"seq": last_seq + 1, **recorded},
                     {"journal_ends_at": last_seq, "hash": last_hash})
    if last_seq > head.journal_seq:
        extra = rows[head.journal_seq]
        return _link(extra.seq, "inserted", {"seq": extra.seq, **recorded}, _event(extra))
    if last_hash != head.journal_hash:
        return _link(last_seq, "edited", {"seq": last_seq, **recorded}, _event(rows[-1]))
    return None


def _content_sealed_here(rows, row):
    """Return the row whose type, actor, time and payload give `row`'s hash in its place."""
    for other in rows:
        if other is row:
            continue
        candidate = Entry(row.instance_id, row.seq, other.type, other.actor, other.at,
                          other.payload, row.prev_hash, "")
        if seal(candidate) == row.hash:
            return other
    return None


def _identity(row) -> dict:
    return {"type": row.type, "hash": row.hash}


def _event(row) -> dict:
    """Describe an entry without its payload: seq, type, actor, time and hashes."""
    return {"seq": row.seq, "type": row.type, "actor": row.actor, "at": row.at,
            "hash": row.hash, "prev_hash": row.prev_hash}


def _link(seq: int, kind: str, expected: dict, found: dict) -> dict:
    return {"seq": seq, "kind": kind, "expected": expected, "found": found}

