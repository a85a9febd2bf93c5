"""E-licensing: applications, their one decision (licence or refusal) and the licence register."""

import json

from flask import Blueprint
from flask import request
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.engine import Connection

from reference import db

bp = Blueprint("elicense", __name__, url_prefix="/elicense")

# change -> (new status or None to keep it, history event, reason required)
CHANGES = {
    "reissue": ("reissued", "reissued", True),
    "duplicate": (None, "duplicate issued", False),
    "revoke": ("revoked", "revoked", True),
}


def _row(conn: Connection, table, number: str):
    """Return the row of table whose number is number, or None."""
    return conn.execute(select(table).where(table.c.number == number)).first()


def _decision_row(conn: Connection, table, application_number: str):
    """Return the licence or refusal row of an application, or None."""
    where = table.c.application_number == application_number
    return conn.execute(select(table).where(where)).first()


def find_application(conn: Connection, number: str) -> dict:
    """Return application number with its decision; raise NotFound."""
    row = _row(conn, db.application, number)
    if row is None:
        raise db.NotFound(f"no application {number}")
    decision = None
    if _decision_row(conn, db.licence, number) is not None:
        decision = "licence"
    elif _decision_row(conn, db.refusal, number) is not None:
        decision = "refusal"
    return {"application_number": row.number, "applicant_iin_bin": row.applicant_iin_bin,
            "service": row.service, "licence_case": row.licence_case,
            "registered_at": row.registered_at, "decision": decision}


def find_licence(conn: Connection, number: str) -> dict:
    """Return licence number with its history; raise NotFound."""
    row = _row(conn, db.licence, number)
    if row is None:
        raise db.NotFound(f"no licence {number}")
    events = conn.execute(select(db.licence_event).where(
        db.licence_event.c.licence_number == number).order_by(db.licence_event.c.id))
    return {"licence_number": row.number, "application_number": row.application_number,
            "holder_iin_bin": row.holder_iin_bin, "holder_name": row.holder_name,
            "activity": row.activity, "status": row.status, "issued_at": row.issued_at,
            "history": [{"at": e.at, "event": e.event, "reason": e.reason} for e in events]}


def _refusal_body(row) -> dict:
    """Return the JSON form of a refusal row."""
    return {"refusal_number": row.number, "application_number": row.application_number,
            "reasons": json.loads(row.reasons), "refused_at": row.refused_at}


def licences_of(conn: Connection, holder: str) -> list[dict]:
    """Return the licences held by IIN/BIN holder, oldest first."""
    db.require_iin_bin(holder)
    numbers = conn.execute(select(db.licence.c.number).where(
        db.licence.c.holder_iin_bin == holder).order_by(db.licence.c.number)).scalars()
    return [find_licence(conn, number) for number in numbers]


def register_application(conn: Connection, payload: object) -> tuple[int, dict]:
    """Register an application from {applicant_iin_bin, service, licence_case}."""
    fields = db.require_object(payload)
    applicant = db.require_iin_bin(fields.get("applicant_iin_bin"))
    service = db.require_text(fields, "service")
    licence_case = db.require_text(fields, "licence_case")
    moment = db.now()
    number = f"KZ-APP-{moment.year}-{db.next_number(conn, f'application-{moment.year}'):06d}"
    conn.execute(insert(db.application).values(
        number=number, applicant_iin_bin=applicant, service=service,
        licence_case=licence_case, registered_at=db.stamp(moment)))
    registered = find_application(conn, number)
    del registered["decision"]  # the answer to registration carries no decision field
    return 201, registered


def issue_licence(conn: Connection, application_number: str,
                  payload: object) -> tuple[int, dict]:
    """Issue the application's licence, or return the one already issued (200)."""
    find_application(conn, application_number)
    existing = _decision_row(conn, db.licence, application_number)
    if existing is not None:
        return 200, find_licence(conn, existing.number)
    if _decision_row(conn, db.refusal, application_number) is not None:
        raise db.Conflict(f"application {application_number} was refused")
    fields = db.require_object(payload)
    holder = db.require_iin_bin(fields.get("holder_iin_bin"))
    holder_name = db.require_text(fields, "holder_name")
    activity = db.require_text(fields, "activity")
    moment = db.now()
    serial = db.next_number(conn, f"licence-{moment.year}")
    number = f"KZ{moment.year % 100:02d}LIC{serial:08d}"
    conn.execute(insert(db.licence).values(
        number=number, application_number=application_number, holder_iin_bin=holder,
        holder_name=holder_name, activity=activity, status="issued", issued_at=db.stamp(moment)))
    _add_event(conn, number, "issued", None, moment)
    return 201, find_licence(conn, number)


def refuse_application(conn: Connection, application_number: str,
                       payload: object) -> tuple[int, dict]:
    """Refuse the application with {reasons}, or return the refusal already made (200)."""
    find_application(conn, application_number)
    existing = _decision_row(conn, db.refusal, application_number)
    if existing is not None:
        return 200, _refusal_body(existing)
    if _decision_row(conn, db.licence, application_number) is not None:
        raise db.Conflict(f"application {application_number} already has a licence")
    reasons = db.require_object(payload).get("reasons")
    if not _is_reasons(reasons):
        raise db.BadRequest("reasons must be a non-empty string or list of strings")
    moment = db.now()
    number = f"KZ-REF-{moment.year}-{db.next_number(conn, f'refusal-{moment.year}'):06d}"
    conn.execute(insert(db.refusal).values(
        number=number, application_number=application_number, reasons=json.dumps(reasons),
        refused_at=db.stamp(moment)))
    return 201, _refusal_body(_row(conn, db.refusal, number))


def _is_reasons(value: object) -> bool:
    """Return True for a non-empty string or a non-empty list of non-empty strings."""
    if isinstance(value, list):
        return bool(value) and all(isinstance(v, str) and v.strip() for v in value)
    return isinstance(value, str) and bool(value.strip())


def change_licence(conn: Connection, number: str, change: str,
                   payload: object) -> tuple[int, dict]:
    """Reissue, duplicate or revoke licence number and record it in its history."""
    new_status, event_name, reason_required = CHANGES[change]
    current = find_licence(conn, number)
    if current["status"] == "revoked":
        raise db.Conflict(f"licence {number} is revoked")
    fields = db.require_object(payload if payload is not None else {})
    reason = db.require_text(fields, "reason") if reason_required else fields.get("reason")
    if reason is not None and not isinstance(reason, str):
        raise db.BadRequest("reason must be a string")
    if new_status is not None:
        conn.execute(update(db.licence).where(db.licence.c.number == number).values(
            status=new_status))
    _add_event(conn, number, event_name, reason, db.now())
    return 200, find_licence(conn, number)


def _add_event(conn: Connection, number: str, event_name: str, reason: str | None,
               moment) -> None:
    """Append an event to the licence's history."""
    conn.execute(insert(db.licence_event).values(
        licence_number=number, at=db.stamp(moment), event=event_name, reason=reason))


@bp.post("/applications")
def register_view():
    """Register an application."""
    return db.posted(register_application)


@bp.get("/applications/<number>")
def application_view(number: str):
    """Show an application and its decision."""
    return db.read(lambda conn: (200, find_application(conn, number)))


@bp.post("/applications/<number>/licence")
def licence_decision_view(number: str):
    """Issue the licence for an application."""
    return db.posted(issue_licence, number)


@bp.post("/applications/<number>/refusal")
def refusal_decision_view(number: str):
    """Refuse an application."""
    return db.posted(refuse_application, number)


@bp.get("/licences/<number>")
def licence_view(number: str):
    """Show a licence and its history."""
    return db.read(lambda conn: (200, find_licence(conn, number)))


@bp.get("/licences")
def licences_view():
    """List the licences of ?holder=<IIN/BIN>."""
    holder = request.args.get("holder", "")
    return db.read(lambda conn: (200, licences_of(conn, holder)))


@bp.post("/licences/<number>/<any(reissue, duplicate, revoke):change>")
def change_view(number: str, change: str):
    """Reissue, duplicate or revoke a licence."""
    return db.posted(change_licence, number, change)
