"""GBD FL / GBD UL lookups: find an applicant by IIN or BIN."""

from sqlalchemy import select

from handlers import identifiers
from handlers import statedb
from handlers.errors import HandlerError


def _full_name(row) -> str:
    """Return 'Surname Given Patronymic', leaving out a missing patronymic."""
    parts = (row.surname, row.given_name, row.patronymic)
    return " ".join(part for part in parts if part)


def _find_person(conn, iin: str) -> dict | None:
    """Return the GBD FL record for iin, or None."""
    row = conn.execute(select(statedb.person).where(statedb.person.c.iin == iin)).first()
    if row is None:
        return None
    return {"name": _full_name(row), "birth_date": row.birth_date.isoformat()}


def _find_company(conn, bin_: str) -> dict | None:
    """Return the GBD UL record for bin_, or None."""
    row = conn.execute(select(statedb.company).where(statedb.company.c.bin == bin_)).first()
    if row is None:
        return None
    return {
        "name": row.name,
        "head_iin": row.head_iin,
        "registered_on": row.registered_on.isoformat(),
    }


def lookup_applicant(*, iin_bin: str) -> dict:
    """Look the applicant up in GBD FL (IIN) or GBD UL (BIN); an unknown number is found=False."""
    if not identifiers.is_valid_iin_bin(iin_bin):
        raise HandlerError(f"IIN/BIN {iin_bin} is not a valid 12-digit identifier")
    try:
        kind = identifiers.kind_of(iin_bin)
    except ValueError as err:
        raise HandlerError(f"IIN/BIN {iin_bin} is neither an IIN nor a BIN") from err
    find = _find_person if kind == "individual" else _find_company
    with statedb.engine().connect() as conn:
        record = find(conn, iin_bin)
    if record is None:
        return {"found": False, "kind": kind, "iin_bin": iin_bin}
    return {"found": True, "kind": kind, "iin_bin": iin_bin, **record}
