"""GBD FL (persons by IIN) and GBD UL (companies by BIN) lookups."""

from flask import Blueprint
from sqlalchemy import select
from sqlalchemy.engine import Connection
from sqlalchemy.engine import Row

from handlers.identifiers import kind_of
from reference import db

gbdfl = Blueprint("gbdfl", __name__, url_prefix="/gbdfl")
gbdul = Blueprint("gbdul", __name__, url_prefix="/gbdul")


def sex_of(iin: str) -> str:
    """Return 'male' for an odd 7th (century/sex) digit, else 'female' (DOMAIN §1.1)."""
    return "male" if int(iin[6]) % 2 else "female"


def full_name(row: Row) -> str:
    """Return 'Surname Given Patronymic' of a person row, without a missing patronymic."""
    return " ".join(part for part in (row.surname, row.given_name, row.patronymic) if part)


def find_person(conn: Connection, iin: str) -> dict:
    """Return the GBD FL record of iin; raise InvalidIinBin or NotFound."""
    db.require_iin_bin(iin)
    if kind_of(iin) != "individual":
        raise db.NotFound(f"{iin} is a BIN, not an IIN; GBD FL holds individuals only")
    row = conn.execute(select(db.person).where(db.person.c.iin == iin)).first()
    if row is None:
        raise db.NotFound(f"no person with IIN {iin}")
    return {"iin": row.iin, "surname": row.surname, "given_name": row.given_name,
            "patronymic": row.patronymic, "birth_date": row.birth_date, "sex": sex_of(row.iin)}


def find_company(conn: Connection, bin_number: str) -> dict:
    """Return the GBD UL record of bin_number with its head; raise InvalidIinBin or NotFound."""
    db.require_iin_bin(bin_number)
    row = conn.execute(select(db.company).where(db.company.c.bin == bin_number)).first()
    if row is None:
        raise db.NotFound(f"no company with BIN {bin_number}")
    head = conn.execute(select(db.person).where(db.person.c.iin == row.head_iin)).first()
    return {"bin": row.bin, "name": row.name, "registered_on": row.registered_on,
            "form": row.form,
            "head": {"iin": row.head_iin, "name": full_name(head) if head else None}}


@gbdfl.get("/persons/<iin>")
def person_view(iin: str):
    """Answer a GBD FL lookup by IIN."""
    return db.read(lambda conn: (200, find_person(conn, iin)))


@gbdul.get("/companies/<bin_number>")
def company_view(bin_number: str):
    """Answer a GBD UL lookup by BIN."""
    return db.read(lambda conn: (200, find_company(conn, bin_number)))
