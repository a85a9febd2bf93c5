"""Finding on demo data: no seeded applicant is directed by a staff signer, and the IIN the docs
offer as "valid, owned by nobody" really is."""

import json

from handlers import identifiers
from reference import seed
from tests.reference.http import call


def _pki_holders(pki_dir) -> dict:
    return json.loads((pki_dir / "manifest.json").read_text(encoding="utf-8"))["holders"]


def _staff_signer_iins(pki_dir) -> set[str]:
    """Return the IINs of the reference PKI's staff signers (who sign results)."""
    iins = {h["iin"] for h in _pki_holders(pki_dir).values()
            if h["purpose"].startswith("staff signer")}
    assert iins, "the reference PKI names no staff signer"
    return iins


def test_no_seeded_applicant_company_is_headed_by_a_staff_signer(state_systems, pki_dir):
    heads = {}
    for company in (row[0] for row in seed.DEMO_COMPANIES):
        status, found = call(state_systems, "GET", f"/gbdul/companies/{company}")
        assert status == 200, found
        heads[company] = found["head"]["iin"]
    assert heads and not set(heads.values()) & _staff_signer_iins(pki_dir), heads


def test_no_company_certificate_is_held_by_a_staff_signer(pki_dir):
    companies = [h for h in _pki_holders(pki_dir).values() if h["bin"]]
    assert companies, "the reference PKI has no legal-entity certificate"
    assert not {h["iin"] for h in companies} & _staff_signer_iins(pki_dir)


def test_the_documented_unknown_iin_is_valid_and_unknown(state_systems, pki_dir):
    iin = seed.UNKNOWN_VALID_IIN
    assert identifiers.is_valid_iin_bin(iin) and identifiers.kind_of(iin) == "individual"
    status, body = call(state_systems, "GET", f"/gbdfl/persons/{iin}")
    assert (status, body["error"]) == (404, "not_found")
    assert iin not in {h["iin"] for h in _pki_holders(pki_dir).values()}
    assert iin not in {row[0] for row in seed.DEMO_PERSONS}
