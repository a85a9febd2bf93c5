"""Licence fees: Qyzmet's own MCI table, so the amount due never comes from the payment gateway.

The fee of a service is configuration of its regulation (the `fee_mci` process property, in
MCI); the tenge due is that many MCI at the MCI of the invoice's year.
"""

from handlers.errors import HandlerError

# MCI (monthly calculation index) in tenge per year, DOMAIN §7.3. 2020 and 2022 changed mid-year;
# the value here is the one in force longest. A year past the table uses the latest value known.
MCI_BY_YEAR = {
    2015: 1982, 2016: 2121, 2017: 2269, 2018: 2405, 2019: 2525, 2020: 2778,
    2021: 2917, 2022: 3063, 2023: 3450, 2024: 3692, 2025: 3932, 2026: 4325,
}


def mci_for(year: int) -> int:
    """Return the MCI in tenge of year; raise HandlerError for a year before the table."""
    if year < min(MCI_BY_YEAR):
        raise HandlerError(f"no MCI is known for {year}")
    return MCI_BY_YEAR[min(year, max(MCI_BY_YEAR))]


def due_kzt(fee_mci: int, year: int) -> int:
    """Return the tenge due for a fee of fee_mci MCI invoiced in year."""
    return int(fee_mci) * mci_for(year)
