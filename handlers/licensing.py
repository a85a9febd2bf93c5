"""E-licensing register: applications, licences and refusals."""

import datetime

from sqlalchemy import Connection
from sqlalchemy import insert
from sqlalchemy import select

from handlers import identifiers
from handlers import statedb
from handlers.errors import HandlerError

ISSUER = (
    "Local executive body of East Kazakhstan region (state architectural and construction control)"
)


def _now() -> datetime.datetime:
    """Return the current UTC time to the second."""
    return datetime.datetime.now(datetime.UTC).replace(microsecond=0)


def _require_text(name: str, value: str) -> None:
    """Raise HandlerError unless value is a non-blank string."""
    if not isinstance(value, str) or not value.strip():
        raise HandlerError(f"{name} must be a non-empty string")


def _require_application(conn: Connection, application_number: str) -> None:
    """Raise HandlerError if no application has this number."""
    found = conn.execute(
        select(statedb.application.c.number).where(
            statedb.application.c.number == application_number
        )
    ).first()
    if found is None:
        raise HandlerError(f"application {application_number} is not registered")


def _decided_row(conn: Connection, table, application_number: str):
    """Return the licence or refusal row already recorded for the application, or None."""
    query = select(table).where(table.c.application_number == application_number)
    return conn.execute(query).first()


def _require_iin_bin(value: str) -> None:
    """Raise HandlerError unless value is a valid IIN or BIN."""
    if not identifiers.is_valid_iin_bin(value):
        raise HandlerError(f"IIN/BIN {value} is not a valid 12-digit identifier")


def _decide(application_number: str, table, rival, make_values) -> object:
    """Record the application's one decision in `table` (licence or refusal), once.

    A repeated call returns the row already recorded; a decision in `rival` is an error.
    `make_values(conn)` returns the new row's columns, numbered inside the transaction.
    """
    with statedb.engine().begin() as conn:
        _require_application(conn, application_number)
        existing = _decided_row(conn, table, application_number)
        if existing is None:
            if _decided_row(conn, rival, application_number) is not None:
                raise HandlerError(f"application {application_number} already has a {rival.name}")
            values = {"application_number": application_number, **make_values(conn)}
            conn.execute(insert(table).values(**values))
            existing = _decided_row(conn, table, application_number)
        return existing


def register_application(*, applicant_iin_bin: str, service: str, licence_case: str) -> dict:
    """Register an application in E-licensing and return its number."""
    _require_iin_bin(applicant_iin_bin)
    _require_text("service", service)
    _require_text("licence_case", licence_case)
    registered_at = _now()
    with statedb.engine().begin() as conn:
        sequence = statedb.next_number(conn, "application")
        number = f"KZ-APP-{registered_at.year}-{sequence:06d}"
        values = {"number": number, "applicant_iin_bin": applicant_iin_bin, "service": service,
                  "licence_case": licence_case, "registered_at": registered_at}
        conn.execute(insert(statedb.application).values(**values))
    return {"application_number": number, "registered_at": registered_at.isoformat()}


def _licence_result(row) -> dict:
    """Return the handler result, with the licence document, for a licence row."""
    issued_at = row.issued_at.isoformat()
    document = {"licence_number": row.number, "application_number": row.application_number,
                "holder_iin_bin": row.holder_iin_bin, "holder_name": row.holder_name,
                "activity": row.activity, "issued_at": issued_at, "issuer": ISSUER}
    return {"licence_number": row.number, "issued_at": issued_at, "document": document}


def issue_licence(
    *, application_number: str, holder_iin_bin: str, holder_name: str, activity: str
) -> dict:
    """Issue the licence for an application; a repeated call returns the licence already issued."""
    _require_iin_bin(holder_iin_bin)
    _require_text("holder_name", holder_name)
    _require_text("activity", activity)

    def values(conn):
        issued_at = _now()
        number = f"KZ{issued_at:%y}LIC{statedb.next_number(conn, 'licence'):08d}"
        return {"number": number, "holder_iin_bin": holder_iin_bin, "holder_name": holder_name,
                "activity": activity, "issued_at": issued_at}

    return _licence_result(_decide(application_number, statedb.licence, statedb.refusal, values))


def record_refusal(*, application_number: str, reasons: str) -> dict:
    """Record a reasoned refusal; a repeated call returns the refusal already recorded."""
    _require_text("reasons", reasons)

    def values(conn):
        refused_at = _now()
        sequence = statedb.next_number(conn, "refusal")
        return {"number": f"KZ-REF-{refused_at.year}-{sequence:06d}", "reasons": reasons,
                "refused_at": refused_at}

    row = _decide(application_number, statedb.refusal, statedb.licence, values)
    return {"refusal_number": row.number, "refused_at": row.refused_at.isoformat()}
