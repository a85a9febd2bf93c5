"""Staff accounts, passwords, API tokens and the rules of who may do what."""

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
    user = db.session.scalar(select(User).where(User.username == username))
    return _actor(user) if user else None


def roles_of(username) -> frozenset[str]:
    """Return the roles of a user (empty for unknown users or non-strings)."""
    actor = find_actor(username) if isinstance(username, str) else None
    return actor.roles if actor else frozenset()


def issue_token(secret: str, actor: Actor) -> str:
    """Return a signed API token for the actor."""
    return URLSafeTimedSerializer(secret, salt="api-token").dumps({"u": actor.username})


def actor_from_token(secret: str, token: str) -> Actor | None:
    """Return the actor a valid, unexpired token names, else None."""
    try:
        signer = URLSafeTimedSerializer(secret, salt="api-token")
        payload = signer.loads(token, max_age=TOKEN_MAX_AGE)
    except (BadSignature, SignatureExpired):
        return None
    return find_actor(payload.get("u", "")) if isinstance(payload, dict) else None


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
