"""PEP invoices and payments, the seeded invoices, and Idempotency-Key replay."""

import datetime
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing

import pytest

from reference import create_app
from reference.pep import MCI_BY_YEAR
from reference.pep import mci_for
from tests.reference.http import call

MCI = mci_for(datetime.datetime.now(datetime.UTC).year)
INVOICE = {"payer_iin_bin": "150140000012", "service": "survey_license", "amount_mci": 10}


def count_rows(tmp_path, table):
    """Return the number of rows in a table of the service's SQLite file."""
    with closing(sqlite3.connect(tmp_path / "reference.sqlite")) as conn:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608


def test_mci_table_is_domain_7_3():
    assert MCI_BY_YEAR[2015] == 1982
    assert MCI_BY_YEAR[2026] == 4325
    assert mci_for(2031) == 4325
    assert mci_for(2010) == 1982


def test_create_invoice_prices_mci_of_this_year(service):
    status, invoice = call(service, "POST", "/pep/invoices", INVOICE)
    year = datetime.datetime.now(datetime.UTC).year
    assert status == 201
    assert invoice["invoice_number"] == f"PEP-{year}-000001"
    assert invoice.items() >= {**INVOICE, "mci_value": MCI, "amount_kzt": 10 * MCI,
                               "paid_kzt": 0, "status": "unpaid"}.items()
    assert datetime.datetime.fromisoformat(invoice["created_at"]).tzinfo is not None
    assert call(service, "GET", f"/pep/invoices/{invoice['invoice_number']}") == (200, invoice)
    second = call(service, "POST", "/pep/invoices", INVOICE)[1]
    assert second["invoice_number"] == f"PEP-{year}-000002"


def test_partial_then_full_payment(service):
    number = call(service, "POST", "/pep/invoices", INVOICE)[1]["invoice_number"]
    status, partial = call(service, "POST", f"/pep/invoices/{number}/payments",
                           {"amount_kzt": 1000})
    assert status == 201
    assert partial["payment_id"]
    assert (partial["invoice"]["paid_kzt"], partial["invoice"]["status"]) == (
        1000, "partially_paid")
    status, full = call(service, "POST", f"/pep/invoices/{number}/payments",
                        {"amount_kzt": 10 * MCI - 1000})
    assert (status, full["invoice"]["status"]) == (201, "paid")
    assert full["payment_id"] != partial["payment_id"]
    assert call(service, "GET", f"/pep/invoices/{number}")[1]["paid_kzt"] == 10 * MCI
    status, body = call(service, "POST", f"/pep/invoices/{number}/payments", {"amount_kzt": 1})
    assert (status, body["error"]) == (409, "conflict")


def test_overpayment_marks_paid(service):
    number = call(service, "POST", "/pep/invoices", INVOICE)[1]["invoice_number"]
    paid = call(service, "POST", f"/pep/invoices/{number}/payments", {"amount_kzt": 10**8})[1]
    assert paid["invoice"]["status"] == "paid"


@pytest.mark.parametrize(("payload", "error"), [
    ({**INVOICE, "payer_iin_bin": "150140000013"}, "invalid_iin_bin"),
    ({**INVOICE, "amount_mci": 0}, "bad_request"),
    ({**INVOICE, "amount_mci": "10"}, "bad_request"),
    ({**INVOICE, "service": ""}, "bad_request"),
    ([INVOICE], "bad_request"),
])
def test_invoice_bad_input(service, payload, error):
    status, body = call(service, "POST", "/pep/invoices", payload)
    assert (status, body["error"]) == (400, error)


@pytest.mark.parametrize("amount", [0, -5, 1.5, True, None])
def test_payment_bad_amount(service, amount):
    status, body = call(service, "POST", "/pep/invoices/PEP-DEMO-UNPAID/payments",
                        {"amount_kzt": amount})
    assert (status, body["error"]) == (400, "bad_request")


def test_unknown_invoice(service):
    assert call(service, "GET", "/pep/invoices/PEP-1999-000001")[0] == 404
    assert call(service, "POST", "/pep/invoices/PEP-1999-000001/payments",
                {"amount_kzt": 5})[0] == 404


def test_seeded_invoices(service):
    expected = {"PEP-DEMO-PAID": ("paid", 10 * MCI), "PEP-DEMO-UNPAID": ("unpaid", 0),
                "PEP-DEMO-PART": ("partially_paid", 1000)}
    for number, (status_name, paid) in expected.items():
        status, invoice = call(service, "GET", f"/pep/invoices/{number}")
        assert status == 200
        assert (invoice["status"], invoice["paid_kzt"]) == (status_name, paid)
        assert (invoice["payer_iin_bin"], invoice["amount_mci"]) == ("150140000012", 10)


def test_seeding_twice_adds_nothing(service, tmp_path):
    before = {t: count_rows(tmp_path, t) for t in ("person", "company", "account", "invoice",
                                                  "payment")}
    create_app(f"sqlite:///{tmp_path}/reference.sqlite")
    after = {t: count_rows(tmp_path, t) for t in before}
    assert before == after == {"person": 5, "company": 2, "account": 7, "invoice": 3,
                               "payment": 2}


def test_same_idempotency_key_replays_the_first_answer(service, tmp_path):
    first = call(service, "POST", "/pep/invoices", INVOICE, key="create-1")
    again = call(service, "POST", "/pep/invoices", {**INVOICE, "amount_mci": 99}, key="create-1")
    assert first == again
    assert count_rows(tmp_path, "invoice") == 3 + 1
    other = call(service, "POST", "/pep/invoices", INVOICE, key="create-2")
    assert other[1]["invoice_number"] != first[1]["invoice_number"]
    assert count_rows(tmp_path, "invoice") == 3 + 2
    assert count_rows(tmp_path, "idempotency") == 2


def test_replayed_payment_is_not_paid_twice(service, tmp_path):
    path = "/pep/invoices/PEP-DEMO-UNPAID/payments"
    first = call(service, "POST", path, {"amount_kzt": 500}, key="pay-1")
    assert call(service, "POST", path, {"amount_kzt": 500}, key="pay-1") == first
    assert call(service, "GET", "/pep/invoices/PEP-DEMO-UNPAID")[1]["paid_kzt"] == 500
    assert count_rows(tmp_path, "payment") == 2 + 1


def test_first_error_answer_is_replayed_too(service):
    bad = call(service, "POST", "/pep/invoices", {**INVOICE, "amount_mci": 0}, key="k")
    assert call(service, "POST", "/pep/invoices", INVOICE, key="k") == bad
    assert bad[0] == 400


def test_post_without_key_is_not_stored(service, tmp_path):
    call(service, "POST", "/pep/invoices", INVOICE)
    call(service, "POST", "/pep/invoices", INVOICE)
    assert count_rows(tmp_path, "invoice") == 3 + 2
    assert count_rows(tmp_path, "idempotency") == 0


def test_concurrent_repeats_of_one_key_create_one_invoice(service, tmp_path):
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda _: call(service, "POST", "/pep/invoices", INVOICE,
                                               key="burst"), range(8)))
        distinct = list(pool.map(lambda i: call(service, "POST", "/pep/invoices", INVOICE,
                                                key=f"burst-{i}"), range(8)))
    assert all(answer == answers[0] for answer in answers)
    assert len({answer[1]["invoice_number"] for answer in distinct}) == 8
    assert count_rows(tmp_path, "invoice") == 3 + 1 + 8
