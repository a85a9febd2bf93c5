"""GBD FL / GBD UL: find an applicant by IIN or BIN."""

from handlers import adapters
from handlers import identifiers
from handlers.errors import HandlerError


def _person(iin: str) -> dict | None:
    data = adapters.call("gbdfl", "GET", f"/persons/{iin}", absent_ok=True)
    if data is None:
        return None
    person = adapters.expect("gbdfl", data, {"surname": str, "given_name": str,
                                             "birth_date": str})
    name = " ".join(p for p in (person["surname"], person["given_name"],
                                person.get("patronymic")) if p)
    return {"name": name, "birth_date": person["birth_date"], "sex": person.get("sex")}


def _company(bin_: str) -> dict | None:
    data = adapters.call("gbdul", "GET", f"/companies/{bin_}", absent_ok=True)
    if data is None:
        return None
    company = adapters.expect("gbdul", data, {"name": str, "registered_on": str, "head": dict})
    return {"name": company["name"], "registered_on": company["registered_on"],
            "form": company.get("form"), "head_iin": company["head"].get("iin"),
            "head_name": company["head"].get("name")}


def lookup_applicant(*, iin_bin: str) -> dict:
    """Look the applicant up in GBD FL (IIN) or GBD UL (BIN); an unknown number is found=False."""
    if not isinstance(iin_bin, str) or not identifiers.is_valid_iin_bin(iin_bin):
        raise HandlerError(f"IIN/BIN {iin_bin} is not a valid 12-digit identifier")
    try:
        kind = identifiers.kind_of(iin_bin)
    except ValueError as err:
        raise HandlerError(f"IIN/BIN {iin_bin} is neither an IIN nor a BIN") from err
    record = _person(iin_bin) if kind == "individual" else _company(iin_bin)
    if record is None:
        return {"found": False, "kind": kind, "iin_bin": iin_bin}
    return {"found": True, "kind": kind, "iin_bin": iin_bin, **record}
