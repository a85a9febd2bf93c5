"""Tests for the E-licensing register handlers."""

import datetime
import re
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func
from sqlalchemy import select

from handlers.errors import HandlerError
from handlers.licensing import ISSUER
from handlers.licensing import issue_licence
from handlers.licensing import record_refusal
from handlers.licensing import register_application

HOLDER = {"holder_iin_bin": "150140000012", "holder_name": '"Shygys Geo Survey" LLP'}


def _register() -> str:
    """Register a demo application and return its number."""
    result = register_application(
        applicant_iin_bin="150140000012", service="survey_licence", licence_case="new"
    )
    return result["application_number"]


def _issue(application_number: str) -> dict:
    """Issue the demo licence for application_number."""
    return issue_licence(application_number=application_number, activity="surveying", **HOLDER)


def _count(statedb, table) -> int:
    """Return the number of rows in table."""
    with statedb.engine().connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def test_register_numbers_increment(statedb):
    year = datetime.datetime.now(datetime.UTC).year
    first = register_application(
        applicant_iin_bin="900115300003", service="survey_licence", licence_case="new"
    )
    assert first["application_number"] == f"KZ-APP-{year}-000001"
    assert datetime.datetime.fromisoformat(
        first["registered_at"]
    ).utcoffset() == datetime.timedelta(0)
    assert _register() == f"KZ-APP-{year}-000002"


def test_register_rejects_bad_applicant(statedb):
    with pytest.raises(HandlerError, match="IIN/BIN 900115300004"):
        register_application(applicant_iin_bin="900115300004", service="s", licence_case="new")


def test_concurrent_registrations_get_distinct_numbers(statedb):
    with ThreadPoolExecutor(max_workers=8) as pool:
        numbers = list(pool.map(lambda _: _register(), range(24)))
    assert len(set(numbers)) == 24


def test_issue_licence_returns_document(statedb):
    application_number = _register()
    result = _issue(application_number)
    assert re.fullmatch(r"KZ\d{2}LIC00000001", result["licence_number"])
    assert result["document"] == {
        "licence_number": result["licence_number"],
        "application_number": application_number,
        "holder_iin_bin": "150140000012",
        "holder_name": '"Shygys Geo Survey" LLP',
        "activity": "surveying",
        "issued_at": result["issued_at"],
        "issuer": ISSUER,
    }


def test_issue_licence_is_idempotent(statedb):
    application_number = _register()
    first = _issue(application_number)
    second = _issue(application_number)
    assert second == first
    assert _count(statedb, statedb.licence) == 1


def test_issue_licence_unknown_application(statedb):
    with pytest.raises(HandlerError, match="application KZ-APP-1999-000042 is not registered"):
        _issue("KZ-APP-1999-000042")


def test_record_refusal_is_idempotent(statedb):
    application_number = _register()
    first = record_refusal(application_number=application_number, reasons="fee not paid")
    second = record_refusal(application_number=application_number, reasons="fee not paid")
    assert second == first
    assert re.fullmatch(r"KZ-REF-\d{4}-000001", first["refusal_number"])
    assert _count(statedb, statedb.refusal) == 1


def test_record_refusal_unknown_application(statedb):
    with pytest.raises(HandlerError, match="is not registered"):
        record_refusal(application_number="nope", reasons="fee not paid")


def test_refused_application_gets_no_licence(statedb):
    application_number = _register()
    record_refusal(application_number=application_number, reasons="fee not paid")
    with pytest.raises(HandlerError, match="already has a refusal"):
        _issue(application_number)


def test_licensed_application_cannot_be_refused(statedb):
    application_number = _register()
    _issue(application_number)
    with pytest.raises(HandlerError, match="already has a licence"):
        record_refusal(application_number=application_number, reasons="late")
