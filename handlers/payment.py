"""PEP, the e-government payment gateway: has the licence fee been paid?"""

import datetime

from handlers import adapters
from handlers import fees
from handlers.errors import BadAnswer

INVOICE = {"invoice_number": str, "payer_iin_bin": str, "paid_kzt": int, "status": str,
           "created_at": str}


def _year(created_at: str) -> int:
    """Return the year of the invoice's ISO 8601 creation time; raise BadAnswer if unreadable."""
    try:
        return datetime.datetime.fromisoformat(created_at).year
    except ValueError:
        raise BadAnswer(f"PEP answered an invoice date {created_at!r}, not ISO 8601") from None


def verify(*, invoice_number: str, payer_iin_bin: str, fee_mci: int) -> dict:
    """Check the invoice is the applicant's and paid in full for `fee_mci` MCI.

    The tenge due is computed here, from Qyzmet's MCI table for the invoice's year, never taken
    from PEP. `paid` is False with a `reason` (unknown_invoice, other_payer, unpaid, underpaid)
    when not.
    """
    data = adapters.call("pep", "GET", f"/invoices/{invoice_number}", absent_ok=True)
    if data is None:
        return {"paid": False, "reason": "unknown_invoice", "invoice_number": invoice_number}
    invoice = adapters.expect("pep", data, INVOICE)
    due_kzt = fees.due_kzt(fee_mci, _year(invoice["created_at"]))
    result = {"invoice_number": invoice_number, "fee_mci": int(fee_mci), "due_kzt": due_kzt,
              "paid_kzt": invoice["paid_kzt"], "status": invoice["status"]}
    if invoice["payer_iin_bin"] != payer_iin_bin:
        return {**result, "paid": False, "reason": "other_payer"}
    if invoice["paid_kzt"] <= 0:
        return {**result, "paid": False, "reason": "unpaid"}
    if invoice["paid_kzt"] < due_kzt:
        return {**result, "paid": False, "reason": "underpaid"}
    return {**result, "paid": True, "reason": None}
