"""Admin actions in the journal: who changed what, with the before and the after (issue 9).

An admin action is not part of a case, so it gets a chain of its own in the same journal
table, with the case id `ADMIN_CHAIN` ("_admin": no case id can be, they are UUIDs). Its
entries are sealed like a case's (`app.audit.chain`), so `flask --app app verify _admin` and
the checkpoints cover it; the payload is {"target", "before", "after"}, never a secret (no
password or hash, only counts and versions).

Journalled: a password set from the command line, credentials revoked (command line and
`DELETE /api/v1/users/<name>/tokens`), a move of the manual clock, a deploy that made new
definition versions. A retry of an incident is journalled in the case's own chain
("retried", by its actor), in the transaction that retries it.
"""

import dataclasses
import datetime
import getpass

from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy import text

from app import audit
from app.core import store

ADMIN_CHAIN = "_admin"
_LOCK = 7_140_009  # PostgreSQL advisory lock: one admin entry at a time (a chain never forks)
_HEAD = (select(store.EVENTS.c.seq, store.EVENTS.c.hash)
         .where(store.EVENTS.c.instance_id == ADMIN_CHAIN)
         .order_by(store.EVENTS.c.seq.desc()).limit(1))


def record(conn, action: str, actor: str, *, target: str, before, after,
           now: datetime.datetime) -> audit.Entry:
    """Journal an admin action in the caller's transaction; return the sealed entry.

    Two writers that read the same head cannot both append: the (instance_id, seq) key
    refuses the second, and its transaction, action included, rolls back.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK})
    head = conn.execute(_HEAD).first()
    last_seq, last_hash = (head.seq, head.hash) if head else (0, audit.GENESIS)
    payload = {"target": target, "before": before, "after": after}
    [entry] = audit.chain(ADMIN_CHAIN, last_seq, last_hash, [(action, payload)], actor, at=now)
    conn.execute(insert(store.EVENTS), [dataclasses.asdict(entry)])
    return entry


def command_line_actor() -> str:
    """Name who ran a command: the operating-system account, as `cli:<user>`."""
    try:
        return f"cli:{getpass.getuser()}"[:64]
    except OSError:  # no name for the uid (a container)
        return "cli"
