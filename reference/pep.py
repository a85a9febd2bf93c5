"""PEP, the payment gateway: fee invoices in MCI, amounts and payments in whole tenge.

The real PEP API is not public (DOMAIN §5), so this one is a documented invention.
"""

import datetime

from flask import Blueprint
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.engine import Connection
from sqlalchemy.engine import Row

from reference import db

# Configuration: MCI (monthly calculation index) in tenge per year, DOMAIN §7.3. 2020 and 2022
# changed mid-year; the value here is the one in force longest. A year past the table uses the
# latest value known.
MCI_BY_YEAR = {
    2015: 1982, 2016: 2121, 2017: 2269, 2018: 2405, 2019: 2525, 2020: 2778,
    2021: 2917, 2022: 3063, 2023: 3450, 2024: 3692, 2025: 3932, 2026: 4325,
}

bp = Blueprint("pep", __name__, url_prefix="/pep")


def mci_for(year: int) -> int:
    """Return the MCI of year, or of the nearest year the table knows."""
    known = [y for y in MCI_BY_YEAR if y <= year] or [min(MCI_BY_YEAR)]
    return MCI_BY_YEAR[max(known)]


def status_of(amount_kzt: int, paid_kzt: int) -> str:
    """Return 'unpaid', 'partially_paid' or 'paid' for the amounts."""
    if paid_kzt <= 0:
        return "unpaid"
    return "paid" if paid_kzt >= amount_kzt else "partially_paid"


def invoice_body(row: Row) -> dict:
    """Return the JSON form of an invoice row."""
    return {"invoice_number": row.number, "payer_iin_bin": row.payer_iin_bin,
            "service": row.service, "amount_mci": row.amount_mci, "mci_value": row.mci_value,
            "amount_kzt": row.amount_kzt, "paid_kzt": row.paid_kzt, "status": row.status,
            "created_at": row.created_at}


def find_invoice(conn: Connection, number: str) -> dict:
    """Return the invoice called number; raise NotFound."""
    row = conn.execute(select(db.invoice).where(db.invoice.c.number == number)).first()
    if row is None:
        raise db.NotFound(f"no invoice {number}")
    return invoice_body(row)


def insert_invoice(conn: Connection, number: str, *, payer_iin_bin: str, service: str,
                   amount_mci: int, moment: datetime.datetime) -> dict:
    """Store an unpaid invoice priced at the MCI of moment's year and return it."""
    mci_value = mci_for(moment.year)
    conn.execute(insert(db.invoice).values(
        number=number, payer_iin_bin=payer_iin_bin, service=service, amount_mci=amount_mci,
        mci_value=mci_value, amount_kzt=amount_mci * mci_value, paid_kzt=0, status="unpaid",
        created_at=db.stamp(moment)))
    return find_invoice(conn, number)


def record_payment(conn: Connection, number: str, amount_kzt: int,
                   moment: datetime.datetime) -> int:
    """Store a payment to invoice number, update its paid sum and status; return the payment id."""
    current = find_invoice(conn, number)
    paid_kzt = current["paid_kzt"] + amount_kzt
    conn.execute(update(db.invoice).where(db.invoice.c.number == number).values(
        paid_kzt=paid_kzt, status=status_of(current["amount_kzt"], paid_kzt)))
    done = conn.execute(insert(db.payment).values(
        invoice_number=number, amount_kzt=amount_kzt, paid_at=db.stamp(moment)))
    return done.inserted_primary_key[0]


def create_invoice(conn: Connection, payload: object) -> tuple[int, dict]:
    """Create an invoice from {payer_iin_bin, service, amount_mci}."""
    fields = db.require_object(payload)
    payer = db.require_iin_bin(fields.get("payer_iin_bin"))
    service = db.require_text(fields, "service")
    amount_mci = db.require_positive_int(fields, "amount_mci")
    moment = db.now()
    number = f"PEP-{moment.year}-{db.next_number(conn, f'invoice-{moment.year}'):06d}"
    return 201, insert_invoice(conn, number, payer_iin_bin=payer, service=service,
                               amount_mci=amount_mci, moment=moment)


def pay_invoice(conn: Connection, number: str, payload: object) -> tuple[int, dict]:
    """Pay {amount_kzt} towards invoice number; a fully paid invoice takes no more payments."""
    amount_kzt = db.require_positive_int(db.require_object(payload), "amount_kzt")
    if find_invoice(conn, number)["status"] == "paid":
        raise db.Conflict(f"invoice {number} is already paid")
    payment_id = record_payment(conn, number, amount_kzt, db.now())
    return 201, {"payment_id": payment_id, "invoice": find_invoice(conn, number)}


@bp.post("/invoices")
def create_invoice_view():
    """Create an invoice."""
    return db.posted(create_invoice)


@bp.post("/invoices/<number>/payments")
def pay_invoice_view(number: str):
    """Record a payment towards an invoice."""
    return db.posted(pay_invoice, number)


@bp.get("/invoices/<number>")
def invoice_view(number: str):
    """Show an invoice."""
    return db.read(lambda conn: (200, find_invoice(conn, number)))
