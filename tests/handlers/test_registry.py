"""Tests for the GBD FL / GBD UL applicant lookup."""

import pytest
from sqlalchemy import select

import handlers
from handlers import statedb as statedb_module
from handlers.errors import HandlerError
from handlers.identifiers import is_valid_iin_bin
from handlers.identifiers import kind_of
from handlers.registry import lookup_applicant


def test_lookup_finds_individual(statedb):
    assert lookup_applicant(iin_bin="900115300003") == {
        "found": True,
        "kind": "individual",
        "iin_bin": "900115300003",
        "name": "Abenov Nurlan Serikovich",
        "birth_date": "1990-01-15",
    }


def test_lookup_omits_missing_patronymic(statedb):
    assert lookup_applicant(iin_bin="000520600016")["name"] == "Omarova Dana"


def test_lookup_finds_company(statedb):
    assert lookup_applicant(iin_bin="150140000012") == {
        "found": True,
        "kind": "legal_entity",
        "iin_bin": "150140000012",
        "name": '"Shygys Geo Survey" LLP',
        "head_iin": "680310400011",
        "registered_on": "2015-01-20",
    }


@pytest.mark.parametrize(
    ("iin_bin", "kind"),
    [("900115300401", "individual"), ("160560000018", "legal_entity")],
)
def test_lookup_unknown_valid_number_is_not_found(statedb, iin_bin, kind):
    assert lookup_applicant(iin_bin=iin_bin) == {"found": False, "kind": kind, "iin_bin": iin_bin}


@pytest.mark.parametrize("iin_bin", ["900115300004", "123", "90011530000x"])
def test_lookup_rejects_bad_identifier(statedb, iin_bin):
    with pytest.raises(HandlerError, match=f"IIN/BIN {iin_bin} is not a valid 12-digit"):
        lookup_applicant(iin_bin=iin_bin)


def test_seed_demo_is_idempotent(statedb):
    statedb.seed_demo()
    assert lookup_applicant(iin_bin="160341000017")["head_iin"] == "900115300003"


def test_engine_requires_configuration(monkeypatch):
    monkeypatch.setattr(statedb_module, "_state", {})
    with pytest.raises(RuntimeError, match="statedb not configured"):
        statedb_module.engine()


def test_handlers_have_exactly_the_operator_ids():
    assert set(handlers.HANDLERS) == {
        "registry/lookup_applicant",
        "licensing/register_application",
        "licensing/issue_licence",
        "licensing/record_refusal",
        "eds/sign_document",
    }
    assert handlers.HANDLERS["registry/lookup_applicant"] is lookup_applicant


def test_duplicate_registration_raises():
    with pytest.raises(ValueError, match="registry/lookup_applicant registered twice"):
        handlers._register(lookup_applicant, lookup_applicant)


def test_seeded_identifiers_pass_the_check_digit(statedb):
    with statedb.engine().connect() as conn:
        iins = list(conn.execute(select(statedb.person.c.iin)).scalars())
        bins = list(conn.execute(select(statedb.company.c.bin)).scalars())
        journal_mode = conn.exec_driver_sql("PRAGMA journal_mode").scalar_one()
    assert len(iins) == 4
    assert len(bins) == 2
    assert all(is_valid_iin_bin(iin) and kind_of(iin) == "individual" for iin in iins)
    assert all(is_valid_iin_bin(bin_) and kind_of(bin_) == "legal_entity" for bin_ in bins)
    assert journal_mode == "wal"
