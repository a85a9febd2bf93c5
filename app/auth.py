"""Staff accounts, passwords, API tokens and the rules of who may do what."""

import time
from dataclasses import dataclass

from itsdangerous import BadSignature
from itsdangerous import SignatureExpired
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import select
from werkzeug.security import check_password_hash
from werkzeug.security import generate_password_hash

from app.models import User
from app.models import db

TOKEN_MAX_AGE = 12 * 3600
READ_ALL_ROLES = frozenset({"auditor", "admin"})
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


@dataclass(frozen=True)
class Actor:
    """The signed-in person, as services see them."""

    username: str
    full_name: str
    roles: frozenset[str]

    def may_read_everything(self) -> bool:
        """Auditors and admins read every instance and journal."""
        return bool(self.roles & READ_ALL_ROLES)


def _actor(user: User) -> Actor:
    return Actor(user.username, user.full_name, user.role_set)


def authenticate(username: str, password: str) -> Actor | None:
    """Return the actor for valid credentials, else None."""
    user = db.session.scalar(select(User).where(User.username == username))
    if user is None or not check_password_hash(user.password_hash, password or ""):
        return None
    return _actor(user)


def find_actor(username: str) -> Actor | None:
    """Return the actor with this username, or None."""
    users = User.__table__
    with db.engine.connect() as conn:
        row = conn.execute(select(users.c.username, users.c.full_name, users.c.roles)
                           .where(users.c.username == username)).first()
    return Actor(row.username, row.full_name, frozenset(row.roles.split())) if row else None


class Directory:
    """Who is who, remembered for a few seconds so each request does not ask the database.

    A change of someone's roles takes effect within `ttl` seconds.
    """

    def __init__(self, ttl: float = 5.0):
        self.ttl = ttl
        self._seen: dict[str, tuple[float, Actor | None]] = {}

    def find(self, username: str) -> Actor | None:
        """Return the actor with this username, or None."""
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
        actor = self.find(username) if isinstance(username, str) else None
        return actor.roles if actor else frozenset()


def issue_token(secret: str, actor: Actor) -> str:
    """Return a signed API token for the actor."""
    return URLSafeTimedSerializer(secret, salt="api-token").dumps({"u": actor.username})


def actor_from_token(secret: str, token: str, directory: Directory) -> Actor | None:
    """Return the actor a valid, unexpired token names, else None."""
    try:
        signer = URLSafeTimedSerializer(secret, salt="api-token")
        payload = signer.loads(token, max_age=TOKEN_MAX_AGE)
    except (BadSignature, SignatureExpired):
        return None
    return directory.find(payload.get("u", "")) if isinstance(payload, dict) else None


def ensure_demo_users(password: str) -> int:
    """Create the demo users that do not exist yet; return how many were created."""
    created, password_hash = 0, generate_password_hash(password)
    for username, full_name, roles in DEMO_USERS:
        if db.session.scalar(select(User).where(User.username == username)) is None:
            db.session.add(User(username=username, full_name=full_name, roles=roles,
                                password_hash=password_hash))
            created += 1
    db.session.commit()
    return created
