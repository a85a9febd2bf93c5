"""Tests for signing and verifying documents with real ECDSA keys."""

import base64
import stat

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from handlers import eds
from handlers.errors import HandlerError

DOCUMENT = {"licence_number": "KZ26LIC00000001", "holder_name": "Абенов Нурлан", "fee": 10}


@pytest.fixture
def signer(statedb):
    """Create the demo signer's key and return the signer name."""
    eds.ensure_signing_key("licensor", "ZHAKUPOVA GULNARA", "680310400011")
    return "licensor"


def test_sign_then_verify(signer):
    signed = eds.sign_document(document=DOCUMENT, signer=signer)
    assert signed["algorithm"] == "ECDSA-P256-SHA256"
    assert signed["signer"] == signer
    assert eds.verify_document(DOCUMENT, signed) is True


def test_key_file_and_certificate(signer, tmp_path):
    key_path = tmp_path / "keys" / "licensor.key.pem"
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    cert = x509.load_pem_x509_certificate((tmp_path / "keys" / "licensor.cert.pem").read_bytes())
    assert cert.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)[0].value == "IIN680310400011"
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature
    assert usage.content_commitment


def test_ensure_signing_key_keeps_existing_key(signer, tmp_path):
    before = (tmp_path / "keys" / "licensor.key.pem").read_bytes()
    eds.ensure_signing_key("licensor", "ZHAKUPOVA GULNARA", "680310400011")
    assert (tmp_path / "keys" / "licensor.key.pem").read_bytes() == before


def test_canonical_bytes_ignore_key_order():
    assert eds.canonical_bytes({"b": 1, "a": "ә"}) == '{"a":"ә","b":1}'.encode()


def test_tampered_document_fails(signer):
    signed = eds.sign_document(document=DOCUMENT, signer=signer)
    assert eds.verify_document({**DOCUMENT, "fee": 11}, signed) is False


def test_tampered_signature_fails(signer):
    signed = eds.sign_document(document=DOCUMENT, signer=signer)
    raw = bytearray(base64.b64decode(signed["signature"]))
    raw[-1] ^= 0x01
    forged = {**signed, "signature": base64.b64encode(bytes(raw)).decode()}
    assert eds.verify_document(DOCUMENT, forged) is False


def test_other_signers_certificate_fails(signer):
    eds.ensure_signing_key("intruder", "ABENOV NURLAN", "900115300003")
    signed = eds.sign_document(document=DOCUMENT, signer=signer)
    other = eds.sign_document(document=DOCUMENT, signer="intruder")
    assert eds.verify_document(DOCUMENT, {**signed, "certificate": other["certificate"]}) is False


@pytest.mark.parametrize("broken", [{}, {"signature": "%%%"}, {"certificate": "junk"}])
def test_malformed_signature_record_fails(signer, broken):
    signed = eds.sign_document(document=DOCUMENT, signer=signer)
    record = {**signed, **broken} if broken else {}
    assert eds.verify_document(DOCUMENT, record) is False


def test_missing_key_raises(statedb):
    with pytest.raises(HandlerError, match="no signing key for nobody"):
        eds.sign_document(document=DOCUMENT, signer="nobody")


def test_unsafe_signer_name_raises(statedb):
    with pytest.raises(HandlerError, match="not allowed"):
        eds.sign_document(document=DOCUMENT, signer="../etc/passwd")
