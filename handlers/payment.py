"""PEP, the e-government payment gateway: has the licence fee been paid?"""

from handlers import adapters

INVOICE = {"invoice_number": str, "payer_iin_bin": str, "mci_value": int, "paid_kzt": int,
           "status": str}


def verify(*, invoice_number: str, payer_iin_bin: str, fee_mci: int) -> dict:
    """Check the invoice is the applicant's and paid in full for `fee_mci` MCI.

    `paid` is False with a `reason` (unknown_invoice, other_payer, unpaid, underpaid) when not.
    """
    data = adapters.call("pep", "GET", f"/invoices/{invoice_number}", absent_ok=True)
    if data is None:
        return {"paid": False, "reason": "unknown_invoice", "invoice_number": invoice_number}
    invoice = adapters.expect("pep", data, INVOICE)
    due_kzt = int(fee_mci) * invoice["mci_value"]
    result = {"invoice_number": invoice_number, "due_kzt": due_kzt,
              "paid_kzt": invoice["paid_kzt"], "status": invoice["status"]}
    if invoice["payer_iin_bin"] != payer_iin_bin:
        return {**result, "paid": False, "reason": "other_payer"}
    if invoice["paid_kzt"] <= 0:
        return {**result, "paid": False, "reason": "unpaid"}
    if invoice["paid_kzt"] < due_kzt:
        return {**result, "paid": False, "reason": "underpaid"}
    return {**result, "paid": True, "reason": None}
