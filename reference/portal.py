"""E-government portal sessions: a citizen logs in here, so Qyzmet never sees the password."""

import datetime
import secrets

from flask import Blueprint
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy.engine import Connection
from werkzeug.security import check_password_hash

from reference import db

SESSION_LIFETIME = datetime.timedelta(hours=1)

bp = Blueprint("portal", __name__, url_prefix="/portal")


def open_session(conn: Connection, payload: object) -> tuple[int, dict]:
    """Open a one-hour session for {iin_bin, password}; raise Unauthorised on bad credentials."""
    fields = db.require_object(payload)
    iin_bin = db.require_iin_bin(fields.get("iin_bin"))
    password = fields.get("password")
    if not isinstance(password, str):
        raise db.BadRequest("password must be a string")
    where = db.account.c.iin_bin == iin_bin
    stored = conn.execute(select(db.account.c.password_hash).where(where)).scalar()
    if stored is None or not check_password_hash(stored, password):
        raise db.Unauthorised("wrong IIN/BIN or password")
    token = secrets.token_urlsafe(32)
    expires_at = db.stamp(db.now() + SESSION_LIFETIME)
    conn.execute(insert(db.portal_session).values(token=token, iin_bin=iin_bin,
                                                  expires_at=expires_at))
    return 201, {"session": token, "iin_bin": iin_bin, "expires_at": expires_at}


def check_session(conn: Connection, token: str) -> dict:
    """Return who session token belongs to and whether it is still valid; raise NotFound."""
    where = db.portal_session.c.token == token
    row = conn.execute(select(db.portal_session).where(where)).first()
    if row is None:
        raise db.NotFound("no such session")
    valid = datetime.datetime.fromisoformat(row.expires_at) > db.now()
    return {"iin_bin": row.iin_bin, "valid": valid, "expires_at": row.expires_at}


@bp.post("/sessions")
def open_session_view():
    """Log in to the portal."""
    return db.posted(open_session)


@bp.get("/sessions/<token>")
def session_view(token: str):
    """Check a portal session."""
    return db.read(lambda conn: (200, check_session(conn, token)))
