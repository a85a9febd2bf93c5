"""Storage of the reference state systems: tables, engine, numbering, errors and POST replay."""

import datetime
import json
from collections.abc import Callable
from pathlib import Path

from flask import Response
from flask import current_app
from flask import request
from sqlalchemy import Column
from sqlalchemy import Engine
from sqlalchemy import ForeignKey
from sqlalchemy import Integer
from sqlalchemy import MetaData
from sqlalchemy import String
from sqlalchemy import Table
from sqlalchemy import Text
from sqlalchemy import create_engine
from sqlalchemy import event
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.engine import Connection
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from handlers.identifiers import is_valid_iin_bin

# create_app keeps the engine here; extra blueprints (e.g. /nca) may read it too
EXTENSION = "reference"
MAX_IDEMPOTENCY_KEY = 200

# an action runs inside a transaction and returns (HTTP status, JSON-able body)
Action = Callable[[Connection], tuple[int, object]]

metadata = MetaData()


def _text(name: str, *, nullable: bool = False, primary_key: bool = False) -> Column:
    """Return a text column; timestamps and dates are stored as ISO 8601 text."""
    return Column(name, String(300), nullable=nullable, primary_key=primary_key)


person = Table(
    "person", metadata, _text("iin", primary_key=True), _text("surname"), _text("given_name"),
    _text("patronymic", nullable=True), _text("birth_date"),
)
company = Table(
    "company", metadata, _text("bin", primary_key=True), _text("name"), _text("form"),
    _text("registered_on"), _text("head_iin"),
)
account = Table("account", metadata, _text("iin_bin", primary_key=True), _text("password_hash"))
portal_session = Table(
    "portal_session", metadata, _text("token", primary_key=True), _text("iin_bin"),
    _text("expires_at"),
)
invoice = Table(
    "invoice", metadata, _text("number", primary_key=True), _text("payer_iin_bin"),
    _text("service"), Column("amount_mci", Integer, nullable=False),
    Column("mci_value", Integer, nullable=False), Column("amount_kzt", Integer, nullable=False),
    Column("paid_kzt", Integer, nullable=False), _text("status"), _text("created_at"),
)
payment = Table(
    "payment", metadata, Column("id", Integer, primary_key=True, autoincrement=True),
    Column("invoice_number", String(300), ForeignKey("invoice.number"), nullable=False),
    Column("amount_kzt", Integer, nullable=False), _text("paid_at"),
)
application = Table(
    "application", metadata, _text("number", primary_key=True), _text("applicant_iin_bin"),
    _text("service"), _text("licence_case"), _text("registered_at"),
)
licence = Table(
    "licence", metadata, _text("number", primary_key=True),
    Column("application_number", String(300), ForeignKey("application.number"),
           nullable=False, unique=True),
    _text("holder_iin_bin"), _text("holder_name"), _text("activity"), _text("status"),
    _text("issued_at"),
)
licence_event = Table(
    "licence_event", metadata, Column("id", Integer, primary_key=True, autoincrement=True),
    Column("licence_number", String(300), ForeignKey("licence.number"), nullable=False),
    _text("at"), _text("event"), _text("reason", nullable=True),
)
refusal = Table(
    "refusal", metadata, _text("number", primary_key=True),
    Column("application_number", String(300), ForeignKey("application.number"),
           nullable=False, unique=True),
    Column("reasons", Text, nullable=False), _text("refused_at"),
)
counter = Table("counter", metadata, _text("name", primary_key=True),
                Column("value", Integer, nullable=False))
idempotency = Table(
    "idempotency", metadata, _text("key", primary_key=True), _text("method", primary_key=True),
    _text("path", primary_key=True), Column("status", Integer, nullable=False),
    Column("body", Text, nullable=False),
)


class ApiError(Exception):
    """An answer other than success: HTTP status, error code and message."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str) -> None:
        """Store the human-readable message."""
        super().__init__(message)
        self.message = message

    def body(self) -> dict:
        """Return the JSON error body."""
        return {"error": self.code, "message": self.message}


class BadRequest(ApiError):
    """The request body or a parameter is malformed."""


class InvalidIinBin(ApiError):
    """An IIN/BIN is not 12 digits or its check digit is wrong."""

    code = "invalid_iin_bin"


class Unauthorised(ApiError):
    """Credentials are wrong or unknown."""

    status = 401
    code = "unauthorised"


class NotFound(ApiError):
    """The addressed record does not exist."""

    status = 404
    code = "not_found"


class Conflict(ApiError):
    """The record's state forbids the change."""

    status = 409
    code = "conflict"


def now() -> datetime.datetime:
    """Return the current moment in UTC."""
    return datetime.datetime.now(datetime.UTC)


def stamp(moment: datetime.datetime) -> str:
    """Return the moment as ISO 8601 text with seconds and UTC offset."""
    return moment.astimezone(datetime.UTC).isoformat(timespec="seconds")


def _on_connect(dbapi_connection, _record) -> None:
    """Turn on WAL, a busy wait and foreign keys; let SQLAlchemy emit BEGIN itself."""
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _on_begin(connection: Connection) -> None:
    """Take the write lock up front so read-then-write transactions of threads cannot race."""
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(database_url: str) -> Engine:
    """Create the engine for database_url and any missing tables."""
    url = make_url(database_url)
    sqlite = url.get_backend_name() == "sqlite"
    if sqlite and url.database and url.database != ":memory:":
        # the demo passes sqlite:///instance/reference.sqlite before instance/ exists
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    # no pool: a stopped server or a finished test leaves no open SQLite connection behind
    engine = create_engine(url, poolclass=NullPool)
    if sqlite:
        event.listen(engine, "connect", _on_connect)
        event.listen(engine, "begin", _on_begin)
    metadata.create_all(engine)
    return engine


def next_number(conn: Connection, name: str) -> int:
    """Increment the counter called name within the caller's transaction and return it."""
    step = update(counter).where(counter.c.name == name).values(value=counter.c.value + 1)
    if conn.execute(step).rowcount == 0:
        conn.execute(insert(counter).values(name=name, value=1))
        return 1
    return conn.execute(select(counter.c.value).where(counter.c.name == name)).scalar_one()


def require_object(payload: object) -> dict:
    """Return payload if it is a JSON object, else raise BadRequest."""
    if not isinstance(payload, dict):
        raise BadRequest("the body must be a JSON object")
    return payload


def require_text(payload: dict, name: str) -> str:
    """Return the non-blank string field name of payload, else raise BadRequest."""
    value = payload.get(name)
    if not isinstance(value, str) or not value.strip():
        raise BadRequest(f"{name} must be a non-empty string")
    return value


def require_positive_int(payload: dict, name: str) -> int:
    """Return the integer field name of payload if it is > 0, else raise BadRequest."""
    value = payload.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise BadRequest(f"{name} must be an integer greater than 0")
    return value


def require_iin_bin(value: object) -> str:
    """Return value if it is a valid 12-digit IIN/BIN, else raise InvalidIinBin."""
    if not isinstance(value, str) or not is_valid_iin_bin(value):
        raise InvalidIinBin(f"{value!r} is not a valid IIN/BIN (12 digits, mod-11 check digit)")
    return value


def json_response(status: int, text: str) -> Response:
    """Return a JSON response whose body is the already serialised text."""
    return Response(text, status=status, mimetype="application/json")


def read(action: Action) -> Response:
    """Run a GET action in a transaction and answer with its result."""
    with current_app.extensions[EXTENSION].begin() as conn:
        status, body = action(conn)
    return json_response(status, json.dumps(body))


def write(action: Action) -> Response:
    """Run a POST action once per Idempotency-Key and answer with its (stored) result."""
    key = request.headers.get("Idempotency-Key")
    if key is not None and not 0 < len(key) <= MAX_IDEMPOTENCY_KEY:
        raise BadRequest(f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} characters")
    engine = current_app.extensions[EXTENSION]
    return json_response(*replay_or_run(engine, key, request.method, request.path, action))


def posted(action: Callable, *args) -> Response:
    """Run `action(conn, *args, payload)` on the request's JSON body, as `write` does."""
    payload = request.get_json(silent=True)
    return write(lambda conn: action(conn, *args, payload))


def replay_or_run(engine: Engine, key: str | None, method: str, path: str,
                  action: Action) -> tuple[int, str]:
    """Return the stored answer for (key, method, path), or run action and store its answer."""
    where = (idempotency.c.key == key, idempotency.c.method == method, idempotency.c.path == path)
    with engine.begin() as conn:
        if key is not None:
            stored = conn.execute(select(idempotency.c.status, idempotency.c.body).where(*where))
            row = stored.first()
            if row is not None:
                return row.status, row.body
        status, text = _run_in_savepoint(conn, action)
        if key is not None:
            conn.execute(insert(idempotency).values(key=key, method=method, path=path,
                                                    status=status, body=text))
    return status, text


def _run_in_savepoint(conn: Connection, action: Action) -> tuple[int, str]:
    """Run action; on an ApiError undo its writes and return the error as the answer."""
    savepoint = conn.begin_nested()
    try:
        status, body = action(conn)
    except ApiError as error:
        savepoint.rollback()
        return error.status, json.dumps(error.body())
    savepoint.commit()
    return status, json.dumps(body)
