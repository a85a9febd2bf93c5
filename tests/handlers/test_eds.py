"""Tests for EDS: XMLDSig signing and verification against a real reference PKI and CRL."""

import datetime
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization

from handlers import eds
from handlers import xmldoc
from handlers.errors import HandlerError
from handlers.errors import Unavailable
from reference import nca

ROOT = Path(__file__).resolve().parents[2]
LICENCE = {"licence_number": "KZ26LIC00000001", "holder_name": "Абенов Нурлан",
           "activity": {"code": "survey", "subtypes": ["topography", "geodesy"]}}
SIGNERS = ("head", "self_signed", "expired", "revoked")
# the provider on whose behalf a result is signed (a process's provider_kk, any will do here)
ISSUER = "Алматы қаласы Кәсіпкерлік және индустриалды-инновациялық даму басқармасы"


@pytest.fixture(scope="session")
def pki(tmp_path_factory):
    """Create one reference PKI for this module's tests (RSA key generation is slow-ish)."""
    folder = tmp_path_factory.mktemp("nca")
    nca.ensure_pki(str(folder))
    return folder


@pytest.fixture(autouse=True)
def keys(pki, tmp_path):
    """Copy some holders' keys into a keys folder and configure EDS on it and the PKI."""
    folder = tmp_path / "keys"
    folder.mkdir()
    for signer in SIGNERS:
        for suffix in (".key.pem", ".cert.pem"):
            shutil.copyfile(pki / "holders" / f"{signer}{suffix}", folder / f"{signer}{suffix}")
    eds.configure(keys_dir=str(folder), trust_chain=str(pki / "ca-chain.pem"))
    return folder


def signed_request(pki, holder: str, iin_bin: str = "900115300003") -> str:
    """Return a licence request signed by holder, as NCALayer would in the browser."""
    stem = pki / "holders" / holder
    xml = xmldoc.to_xml({"service": "survey_license", "iin_bin": iin_bin}, "request")
    return xmldoc.sign_enveloped(xml, key_pem=stem.with_suffix(".key.pem").read_bytes(),
                                 cert_pem=stem.with_suffix(".cert.pem").read_bytes())


def run_cli(*arguments: str) -> subprocess.CompletedProcess:
    """Run `python -m handlers.eds` in the project folder."""
    return subprocess.run([sys.executable, "-m", "handlers.eds", *arguments], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=False)


def test_xml_round_trip_gives_strings():
    xml = xmldoc.to_xml({"a": "ә", "n": 10, "ok": True, "none": None, **LICENCE}, "licence")
    assert xml.startswith("<?xml") and "<licence>" in xml
    assert xmldoc.from_xml(xml) == {"a": "ә", "n": "10", "ok": "true", "none": "", **LICENCE}


@pytest.mark.parametrize("document", [{"1st": "x"}, {"a b": "x"}, {"ds:x": "x"}, {3: "x"}])
def test_keys_that_are_not_xml_names_are_refused(document):
    with pytest.raises(ValueError, match="XML element name"):
        xmldoc.to_xml(document)
    with pytest.raises(HandlerError, match="cannot be rendered"):
        eds.sign_document(document=document, signer="head", issuer=ISSUER)


def test_sign_then_verify(pki):
    signed = eds.sign_document(document=LICENCE, signer="head", issuer=ISSUER)
    assert signed["signer"] == "head"
    assert "CN=ZHAKUPOVA GULNARA" in signed["certificate_subject"]
    assert re.fullmatch(r"[0-9a-f]{64}", signed["digest"])
    assert signed["signed_xml"].count("<licence ") == 1
    assert "rsa-sha256" in signed["signed_xml"] and "xml-exc-c14n" in signed["signed_xml"]
    assert eds.verify_document(signed["signed_xml"]) == {
        "valid": True, "reason": None, "document": {**LICENCE, "issuer": ISSUER},
        "signer": {"cn": "ZHAKUPOVA GULNARA", "iin": "680310400011", "bin": None}}


def test_document_without_licence_number_has_document_root():
    signed = eds.sign_document(document={"decision": "refused"}, signer="head", issuer=ISSUER)
    assert "<document " in signed["signed_xml"]


def test_the_signed_document_names_its_issuer_and_keeps_one_already_named():
    permit = {"service": "mineral_areas_construction_permit_almaty_2019", "result": "positive"}
    signed = eds.verify_document(eds.sign_document(document=permit, signer="head",
                                                   issuer=ISSUER)["signed_xml"])
    assert signed["document"] == {**permit, "issuer": ISSUER}
    named = {**LICENCE, "issuer": ISSUER}
    again = eds.verify_document(eds.sign_document(document=named, signer="head",
                                                  issuer=ISSUER)["signed_xml"])
    assert again["document"] == named


@pytest.mark.parametrize(("document", "issuer", "error"), [
    (LICENCE, None, "issuer must be a non-empty string"),
    (LICENCE, "  ", "issuer must be a non-empty string"),
    ({**LICENCE, "issuer": "East Kazakhstan region"}, ISSUER, "names the issuer"),
    ("<licence/>", ISSUER, "must be a JSON object"),
])
def test_a_missing_or_other_issuer_is_refused(keys, document, issuer, error):
    with pytest.raises(HandlerError, match=error):
        eds.sign_document(document=document, signer="head", issuer=issuer)


@pytest.mark.parametrize(("old", "new"), [("KZ26LIC00000001", "KZ26LIC00000002"),
                                          ("Нурлан", "Нурлаң"), ("geodesy", "geodesz")])
def test_changed_text_breaks_the_signature(old, new):
    signed = eds.sign_document(document=LICENCE, signer="head", issuer=ISSUER)["signed_xml"]
    result = eds.verify_document(signed.replace(old, new))
    assert (result["valid"], result["reason"], result["document"]) == (
        False, "signature_invalid", {})


def test_changed_signature_value_breaks_the_signature():
    signed = eds.sign_document(document=LICENCE, signer="head", issuer=ISSUER)["signed_xml"]
    start = signed.index("<ds:SignatureValue>") + len("<ds:SignatureValue>") + 10
    changed = "A" if signed[start] != "A" else "B"
    result = eds.verify_document(signed[:start] + changed + signed[start + 1:])
    assert result["reason"] == "signature_invalid"


def test_swapped_certificate_breaks_the_signature():
    head = eds.sign_document(document=LICENCE, signer="head", issuer=ISSUER)["signed_xml"]
    other = eds.sign_document(document=LICENCE, signer="revoked", issuer=ISSUER)["signed_xml"]
    cert = re.compile(r"<ds:X509Certificate>[^<]+</ds:X509Certificate>")
    forged = cert.sub(cert.search(other).group(0), head)
    assert eds.verify_document(forged)["reason"] == "signature_invalid"


@pytest.mark.parametrize(("signer", "reason"), [("self_signed", "untrusted"),
                                                ("expired", "expired"), ("revoked", "revoked")])
def test_documents_of_bad_certificates_are_invalid(signer, reason):
    signed = eds.sign_document(document=LICENCE, signer=signer, issuer=ISSUER)["signed_xml"]
    result = eds.verify_document(signed)
    assert (result["valid"], result["reason"]) == (False, reason)
    assert result["signer"]["iin"] == "900115300003"


@pytest.mark.parametrize("text", ["", "not xml", "<licence><a>1</a></licence>",
                                  "<a><ds:Signature xmlns:ds='http://www.w3.org/2000/09/xmldsig#'/></a>",
                                  b"\xff\xfe<<"])
def test_garbage_is_malformed(text):
    assert eds.verify_document(text)["reason"] == "malformed"
    result = eds.verify_request_signature(signed_request=text, iin_bin="900115300003")
    assert result == {"valid": False, "reason": "malformed", "subject_iin": None,
                      "subject_bin": None}


def test_missing_key_raises():
    with pytest.raises(HandlerError, match="no signing key for nobody"):
        eds.sign_document(document=LICENCE, signer="nobody", issuer=ISSUER)


def test_unsafe_signer_name_raises():
    with pytest.raises(HandlerError, match="not allowed"):
        eds.sign_document(document=LICENCE, signer="../etc/passwd", issuer=ISSUER)


@pytest.mark.parametrize(("holder", "iin_bin", "reason"), [
    ("900115300003", "900115300003", None),
    ("expired", "900115300003", "expired"),
    ("revoked", "900115300003", "revoked"),
    ("wrong_iin", "900115300003", "iin_bin_mismatch"),
    ("no_signing_usage", "900115300003", "wrong_key_usage"),
    ("self_signed", "900115300003", "untrusted"),
    ("150140000012", "150140000012", None),
    ("150140000012", "850722400018", "iin_bin_mismatch"),  # the company's key, its head's IIN
    ("850722400018", "150140000012", "iin_bin_mismatch"),  # the head's own key, the company's BIN
])
def test_request_signature_condition_3(pki, holder, iin_bin, reason):
    result = eds.verify_request_signature(signed_request=signed_request(pki, holder, iin_bin),
                                          iin_bin=iin_bin)
    assert (result["valid"], result["reason"]) == (reason is None, reason)


def test_legal_entity_request_reports_iin_and_bin(pki):
    result = eds.verify_request_signature(
        signed_request=signed_request(pki, "150140000012", "150140000012"), iin_bin="150140000012")
    assert (result["subject_iin"], result["subject_bin"]) == ("850722400018", "150140000012")


def test_tampered_request_is_invalid(pki):
    request = signed_request(pki, "900115300003").replace("survey_license", "survey_licenze")
    result = eds.verify_request_signature(signed_request=request, iin_bin="900115300003")
    assert result["reason"] == "signature_invalid"


def test_crl_comes_from_the_source(pki, keys):
    calls = []

    def source() -> bytes:
        calls.append(1)
        return (pki / "crl.pem").read_text()

    eds.configure(keys_dir=str(keys), trust_chain=str(pki / "ca-chain.pem"), crl_source=source)
    result = eds.verify_request_signature(signed_request=signed_request(pki, "revoked"),
                                          iin_bin="900115300003")
    assert result["reason"] == "revoked" and calls == [1]


def stale_crl(pki) -> bytes:
    """Return a CRL by the issuing CA whose nextUpdate has passed."""
    issuing = x509.load_pem_x509_certificate((pki / "issuing.cert.pem").read_bytes())
    key = serialization.load_pem_private_key((pki / "issuing.key.pem").read_bytes(), None)
    now = datetime.datetime.now(datetime.UTC)
    crl = (x509.CertificateRevocationListBuilder().issuer_name(issuing.subject)
           .last_update(now - datetime.timedelta(days=9))
           .next_update(now - datetime.timedelta(days=2)).sign(key, hashes.SHA256()))
    return crl.public_bytes(serialization.Encoding.PEM)


def fail_with(error: Exception):
    """Return a CRL source that raises error."""
    def source():
        raise error
    return source


@pytest.mark.parametrize("make_source", [
    lambda pki: fail_with(Unavailable("NCA did not answer")),
    lambda pki: fail_with(OSError("no such file")),
    lambda pki: lambda: b"not a CRL",
    lambda pki: lambda: stale_crl(pki),
    lambda pki: lambda: (pki / "ca-chain.pem").read_bytes(),
])
def test_unusable_crl_raises_unavailable(pki, keys, make_source):
    eds.configure(keys_dir=str(keys), trust_chain=str(pki / "ca-chain.pem"),
                  crl_source=make_source(pki))
    with pytest.raises(Unavailable):
        eds.verify_request_signature(signed_request=signed_request(pki, "900115300003"),
                                     iin_bin="900115300003")


def test_crl_is_not_needed_for_untrusted_signatures(pki, keys):
    eds.configure(keys_dir=str(keys), trust_chain=str(pki / "ca-chain.pem"),
                  crl_source=fail_with(Unavailable("down")))
    result = eds.verify_request_signature(signed_request=signed_request(pki, "self_signed"),
                                          iin_bin="900115300003")
    assert result["reason"] == "untrusted"


def test_cli_valid_document(pki, tmp_path):
    path = tmp_path / "licence.xml"
    path.write_text(eds.sign_document(document=LICENCE, signer="head", issuer=ISSUER)["signed_xml"])
    done = run_cli("verify", str(path), "--trust", str(pki / "ca-chain.pem"))
    assert (done.returncode, done.stdout) == (
        0, "valid: signed by ZHAKUPOVA GULNARA (IIN 680310400011)\n")


def test_cli_invalid_document(pki, tmp_path):
    path = tmp_path / "licence.xml"
    signed = eds.sign_document(document=LICENCE, signer="head", issuer=ISSUER)["signed_xml"]
    path.write_text(signed.replace("Абенов", "Әбенов"))
    done = run_cli("verify", str(path), "--trust", str(pki / "ca-chain.pem"),
                   "--crl", str(pki / "crl.pem"))
    assert (done.returncode, done.stdout) == (1, "INVALID: signature_invalid\n")


def stderr_lines(done: subprocess.CompletedProcess) -> list[str]:
    """Return stderr's lines without runpy's warning about the package importing handlers.eds."""
    return [line for line in done.stderr.splitlines()
            if "RuntimeWarning" not in line and "runpy" not in line]


@pytest.mark.parametrize("arguments", [
    ("verify",), ("verify", "{missing}", "--trust", "{trust}"), ("sign", "x"),
    ("verify", "{file}", "--trust", "{missing}"), ("verify", "{file}", "--trust", "{trust}",
                                                   "--crl", "{missing}"),
])
def test_cli_usage_errors_exit_2(pki, tmp_path, arguments):
    path = tmp_path / "licence.xml"
    path.write_text(eds.sign_document(document=LICENCE, signer="head", issuer=ISSUER)["signed_xml"])
    names = {"file": path, "trust": pki / "ca-chain.pem", "missing": tmp_path / "missing.pem"}
    done = run_cli(*(argument.format(**names) for argument in arguments))
    assert done.returncode == 2
    assert done.stdout == ""
    assert len(stderr_lines(done)) == 1, done.stderr
