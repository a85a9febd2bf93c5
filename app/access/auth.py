"""Staff accounts, passwords and credentials (browser sessions, API tokens) that can be ended.

A credential is a random secret held by the client; the database keeps only its sha256, who
it belongs to, when it expires and whether it was revoked, so logout, `DELETE /api/v1/auth/
token`, an admin or a password change ends it at once, in every process that serves it.
Who may do what with an actor is `app.access.policy`.
"""

import contextlib
import datetime
import functools
import hashlib
import secrets
import time
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import bindparam
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy import update
from werkzeug.security import check_password_hash
from werkzeug.security import generate_password_hash

from app.models import Credential
from app.models import User
from app.models import db

DEFAULT_HASH_METHOD = "scrypt"
MIN_PASSWORD_LENGTH = 10
DEMO_USERS = [
    ("operator", "Aliya Operator", "operator"),
    ("office", "Bolat Office", "office"),
    ("head", "Gulnara Zhakupova (head)", "head"),
    ("executor", "Daniyar Executor", "executor"),
    ("analyst", "Erlan Analyst", "analyst"),
    ("auditor", "Zhanna Auditor", "auditor"),
    ("admin", "Marat Admin", "admin"),
    ("portal", "egov.kz portal integration", "portal"),
]
CREDENTIALS = Credential.__table__
USERS = User.__table__


@dataclass(frozen=True)
class Actor:
    """The signed-in person, as services see them."""

    username: str
    full_name: str
    roles: frozenset[str]


class PasswordRefused(ValueError):
    """A new password does not meet the rules; `errors` maps fields to messages."""

    def __init__(self, errors: dict):
        super().__init__("password refused")
        self.errors = errors


@functools.lru_cache(maxsize=8)
def _decoy_hash(method: str) -> str:
    """Return a hash to check unknown usernames against, so they cost what known ones cost."""
    return generate_password_hash(secrets.token_hex(16), method=method)


def _user_row(username: str):
    with db.engine.connect() as conn:
        return conn.execute(select(USERS).where(USERS.c.username == username)).first()


def authenticate(username: str, password: str, method: str = DEFAULT_HASH_METHOD) -> Actor | None:
    """Return the actor for valid credentials, else None, in the same time either way."""
    row = _user_row(username) if isinstance(username, str) else None
    stored = row.password_hash if row is not None else _decoy_hash(method)
    matches = check_password_hash(stored, password if isinstance(password, str) else "")
    if row is None or not matches:
        return None
    return Actor(row.username, row.full_name, frozenset(row.roles.split()))


def find_actor(username: str) -> Actor | None:
    """Return the actor with this username, or None."""
    row = _user_row(username)
    return Actor(row.username, row.full_name, frozenset(row.roles.split())) if row else None


class Directory:
    """Who is who, remembered for a few seconds so each request does not ask the database.

    A change of someone's roles takes effect within `ttl` seconds.
    """

    def __init__(self, ttl: float = 5.0):
        self.ttl = ttl
        self._seen: dict[str, tuple[float, Actor | None]] = {}

    def find(self, username) -> Actor | None:
        """Return the actor with this username, or None (also for non-strings)."""
        if not isinstance(username, str):
            return None
        now = time.monotonic()
        seen = self._seen.get(username)
        if seen is None or now - seen[0] > self.ttl:
            seen = (now, find_actor(username))
            if len(self._seen) > 10_000:
                self._seen.clear()
            self._seen[username] = seen
        return seen[1]

    def roles_of(self, username) -> frozenset[str]:
        """Return the roles of a user (empty for unknown users or non-strings)."""
        actor = self.find(username)
        return actor.roles if actor else frozenset()


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _moment(now: datetime.datetime | None) -> datetime.datetime:
    """Return `now`, or else the moment on the current app's clock (the Runtime's)."""
    return now if now is not None else current_app.extensions["qyzmet"].clock.now()


def open_credential(username: str, kind: str, lifetime: int, *,
                    now: datetime.datetime | None = None) -> str:
    """Start a session or token of `lifetime` seconds from `now` for a user; return its secret.

    Here and below, `now` defaults to the app's clock.
    """
    secret = f"qz_{secrets.token_urlsafe(32)}"
    now = _moment(now)
    with db.engine.begin() as conn:
        conn.execute(insert(CREDENTIALS), [{
            "digest": _digest(secret), "kind": kind, "username": username, "created_at": now,
            "expires_at": now + datetime.timedelta(seconds=lifetime)}])
    return secret


def actor_for(secret, kind: str, directory: Directory, *,
              now: datetime.datetime | None = None) -> Actor | None:
    """Return the actor of a credential live at `now` (unexpired, unrevoked), else None."""
    if not isinstance(secret, str) or not secret.startswith("qz_") or len(secret) > 100:
        return None
    with db.engine.connect() as conn:
        username = conn.execute(_LIVE_CREDENTIAL, {"digest": _digest(secret), "kind": kind,
                                                   "now": _moment(now)}).scalar()
    return directory.find(username) if username else None


# built once: constructing the statement cost more than running it, on every request
_LIVE_CREDENTIAL = select(CREDENTIALS.c.username).where(
    CREDENTIALS.c.digest == bindparam("digest"), CREDENTIALS.c.kind == bindparam("kind"),
    CREDENTIALS.c.revoked_at.is_(None), CREDENTIALS.c.expires_at > bindparam("now"))


def revoke(secret, *, now: datetime.datetime | None = None) -> bool:
    """End one credential at `now`; tell whether it was live."""
    if not isinstance(secret, str):
        return False
    with db.engine.begin() as conn:
        done = conn.execute(update(CREDENTIALS).where(
            CREDENTIALS.c.digest == _digest(secret), CREDENTIALS.c.revoked_at.is_(None))
            .values(revoked_at=_moment(now)))
    return done.rowcount == 1


@contextlib.contextmanager
def _transaction(conn):
    """Use the caller's transaction (an admin action journalled with it), or begin one."""
    if conn is not None:
        yield conn
    else:
        with db.engine.begin() as own:
            yield own


def revoke_all(username: str, kind: str | None = None, *,
               now: datetime.datetime | None = None, conn=None) -> int:
    """End every live credential of a user (of one kind, or all) at `now`; return how many.

    In the caller's transaction `conn` when given (app.audit.admin_log journals it there).
    """
    where = [CREDENTIALS.c.username == username, CREDENTIALS.c.revoked_at.is_(None)]
    if kind:
        where.append(CREDENTIALS.c.kind == kind)
    with _transaction(conn) as writing:
        ended = writing.execute(update(CREDENTIALS).where(*where).values(revoked_at=_moment(now)))
        return ended.rowcount


def check_new_password(password) -> dict[str, str]:
    """Return {field: message} for a new password that breaks the rules; empty when fine."""
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        return {"new_password": f"Use at least {MIN_PASSWORD_LENGTH} characters."}
    if len(password) > 200:
        return {"new_password": "Use at most 200 characters."}
    return {}


def set_password(username: str, password: str, method: str = DEFAULT_HASH_METHOD, *,
                 now: datetime.datetime | None = None, conn=None) -> int:
    """Give a user a new password and end all their sessions and tokens; return how many.

    One transaction (the caller's `conn` when given): a refused change changes nothing.
    """
    errors = check_new_password(password)
    if errors:
        raise PasswordRefused(errors)
    with _transaction(conn) as writing:
        changed = writing.execute(update(USERS).where(USERS.c.username == username).values(
            password_hash=generate_password_hash(password, method=method))).rowcount
        if changed != 1:
            raise LookupError(f"no user '{username}'")
        return revoke_all(username, now=now, conn=writing)


def ensure_demo_users(password: str, method: str = DEFAULT_HASH_METHOD) -> int:
    """Create the demo users that do not exist yet, each with its own salt; return how many."""
    created = 0
    for username, full_name, roles in DEMO_USERS:
        if db.session.scalar(select(User).where(User.username == username)) is None:
            db.session.add(User(username=username, full_name=full_name, roles=roles,
                                password_hash=generate_password_hash(password, method=method)))
            created += 1
    db.session.commit()
    return created
