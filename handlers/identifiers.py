"""Check and classify Kazakh 12-digit IIN/BIN identifiers (DOMAIN.md §1)."""

import datetime

_FIRST_WEIGHTS = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11)
_SECOND_WEIGHTS = (3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2)
_UNISSUABLE = 10
# century/sex digit (7th) -> first two digits of the birth year
_CENTURIES = {"1": 1800, "2": 1800, "3": 1900, "4": 1900, "5": 2000, "6": 2000}
_LEGAL_ENTITY_TYPES = "456"


def _weighted(digits: str, weights: tuple[int, ...]) -> int:
    """Return the mod-11 weighted sum of the digits."""
    return sum(int(d) * w for d, w in zip(digits, weights, strict=True)) % 11


def check_digit(prefix: str) -> int | None:
    """Return the check digit for an 11-digit prefix, or None if no number can be issued."""
    if len(prefix) != 11 or not prefix.isascii() or not prefix.isdigit():
        raise ValueError(f"prefix {prefix!r} is not 11 digits")
    digit = _weighted(prefix, _FIRST_WEIGHTS)
    if digit == _UNISSUABLE:
        digit = _weighted(prefix, _SECOND_WEIGHTS)
    return None if digit == _UNISSUABLE else digit


def is_valid_iin_bin(value: str) -> bool:
    """Return True if value is 12 digits whose last digit is the correct check digit."""
    if not isinstance(value, str) or len(value) != 12:
        return False
    if not value.isascii() or not value.isdigit():
        return False
    return check_digit(value[:11]) == int(value[11])


def _birth_date(value: str) -> datetime.date | None:
    """Return the birth date encoded in an IIN, or None if digits 1-7 encode none."""
    century = _CENTURIES.get(value[6])
    if century is None:
        return None
    try:
        return datetime.date(century + int(value[0:2]), int(value[2:4]), int(value[4:6]))
    except ValueError:
        return None


def kind_of(value: str) -> str:
    """Return 'individual' for an IIN or 'legal_entity' for a BIN; raise ValueError otherwise."""
    if len(value) != 12 or not value.isascii() or not value.isdigit():
        raise ValueError(f"{value!r} is not 12 digits")
    # A BIN's digits 5-6 (type, division) are >= 40, so they never read as a day of month.
    if _birth_date(value) is not None:
        return "individual"
    if value[4] in _LEGAL_ENTITY_TYPES:
        return "legal_entity"
    raise ValueError(f"{value} is neither an IIN nor a BIN")


_BIN_TYPES = {"4": "resident legal entity", "5": "non-resident legal entity",
              "6": "individual entrepreneur in joint entrepreneurship"}
_BIN_DIVISIONS = {"0": "head unit", "1": "branch", "2": "representative office",
                  "3": "peasant (farm) enterprise in joint entrepreneurship"}


def describe(value: str) -> dict:
    """Return what a valid IIN or BIN says about its holder; raise ValueError if invalid.

    IIN: birth date, sex and century (digits 1-7). BIN: registration year and month
    (digits 1-4), type (5) and division (6).
    """
    if not is_valid_iin_bin(value):
        raise ValueError(f"{value!r} is not a valid IIN/BIN (12 digits with a check digit)")
    if kind_of(value) == "individual":
        born = _birth_date(value)
        return {"kind": "individual", "iin": value, "birth_date": born.isoformat(),
                "sex": "male" if int(value[6]) % 2 else "female",
                "century": born.year // 100 + 1}
    year = 2000 + int(value[0:2]) if int(value[0:2]) < 90 else 1900 + int(value[0:2])
    month = int(value[2:4])
    if not 1 <= month <= 12:
        raise ValueError(f"{value} has no registration month")
    return {"kind": "legal_entity", "bin": value, "registered": f"{year:04d}-{month:02d}",
            "type": _BIN_TYPES[value[4]],
            "division": _BIN_DIVISIONS.get(value[5], f"code {value[5]}")}
