"""Tests for the reference NCA: the PKI files it creates and its /nca endpoints."""

import datetime
import hashlib
import json
import stat

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID
from cryptography.x509.verification import ExtensionPolicy
from cryptography.x509.verification import PolicyBuilder
from cryptography.x509.verification import Store
from flask import Flask

from handlers import eds
from handlers import xmldoc
from reference import nca


@pytest.fixture(scope="session")
def pki(tmp_path_factory):
    """Create one reference PKI for this module's tests (RSA key generation is slow-ish)."""
    folder = tmp_path_factory.mktemp("nca")
    nca.ensure_pki(str(folder))
    return folder


@pytest.fixture
def client(pki):
    """Return a test client of an app serving only the /nca blueprint."""
    app = Flask(__name__)
    app.register_blueprint(nca.create_blueprint(str(pki)))
    return app.test_client()


def certificate(pki, holder: str) -> x509.Certificate:
    """Return the certificate of holder."""
    return x509.load_pem_x509_certificate((pki / "holders" / f"{holder}.cert.pem").read_bytes())


def subject(cert: x509.Certificate, oid) -> list[str]:
    """Return the values of the subject attribute oid."""
    return [a.value for a in cert.subject.get_attributes_for_oid(oid)]


def fingerprints(pki) -> dict[str, str]:
    """Return the SHA-256 of every file under pki, by relative path."""
    return {str(p.relative_to(pki)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(pki.rglob("*")) if p.is_file()}


def test_every_holder_has_a_key_and_certificate(pki):
    for holder in nca.HOLDERS:
        key = pki / "holders" / f"{holder.name}.key.pem"
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
        assert certificate(pki, holder.name).public_key().key_size == 2048
    for name in ("ca-chain.pem", "crl.pem", "manifest.json", "root.cert.pem", "issuing.cert.pem"):
        assert (pki / name).is_file()
    assert stat.S_IMODE((pki / "root.key.pem").stat().st_mode) == 0o600


def test_chain_is_issuing_then_root(pki):
    issuing, root = x509.load_pem_x509_certificates((pki / "ca-chain.pem").read_bytes())
    assert subject(root, NameOID.COMMON_NAME) == [nca.ROOT_CN]
    assert subject(issuing, NameOID.COMMON_NAME) == [nca.ISSUING_CN]
    assert issuing.issuer == root.subject
    issuing.verify_directly_issued_by(root)
    lifetime = root.not_valid_after_utc - root.not_valid_before_utc
    assert lifetime.days >= 10 * 365


@pytest.mark.parametrize("holder", ["head", "900115300003", "150140000012", "revoked",
                                    "wrong_iin", "no_signing_usage"])
def test_holders_chain_to_the_root(pki, holder):
    issuing, root = x509.load_pem_x509_certificates((pki / "ca-chain.pem").read_bytes())
    verifier = (PolicyBuilder().store(Store([root]))
                .extension_policies(ee_policy=ExtensionPolicy.permit_all(),
                                    ca_policy=ExtensionPolicy.webpki_defaults_ca())
                .build_client_verifier())
    chain = verifier.verify(certificate(pki, holder), [issuing]).chain
    assert chain[1] == issuing


def test_self_signed_is_not_issued_by_the_ca(pki):
    cert = certificate(pki, "self_signed")
    assert cert.issuer == cert.subject
    assert subject(cert, NameOID.SERIAL_NUMBER) == ["IIN900115300003"]


def test_rerunning_changes_nothing(pki):
    before = fingerprints(pki)
    nca.ensure_pki(str(pki))
    assert fingerprints(pki) == before


def test_crl_lists_exactly_the_revoked_certificate(pki):
    crl = x509.load_pem_x509_crl((pki / "crl.pem").read_bytes())
    issuing = x509.load_pem_x509_certificates((pki / "ca-chain.pem").read_bytes())[0]
    assert crl.issuer == issuing.subject
    assert crl.is_signature_valid(issuing.public_key())
    assert [entry.serial_number for entry in crl] == [certificate(pki, "revoked").serial_number]
    assert (crl.next_update_utc - crl.last_update_utc).days == 7


@pytest.mark.parametrize(("holder", "iin", "bin_"), [
    ("head", "680310400011", None), ("900115300003", "900115300003", None),
    ("000520600016", "000520600016", None), ("wrong_iin", "850722400018", None),
    ("150140000012", "850722400018", "150140000012"),
])
def test_subject_carries_iin_and_bin(pki, holder, iin, bin_):
    cert = certificate(pki, holder)
    assert subject(cert, NameOID.SERIAL_NUMBER) == [f"IIN{iin}"]
    assert subject(cert, NameOID.ORGANIZATIONAL_UNIT_NAME) == ([f"BIN{bin_}"] if bin_ else [])


def test_signing_and_test_key_usages(pki):
    signing = certificate(pki, "head").extensions.get_extension_for_class(x509.KeyUsage).value
    assert signing.digital_signature and signing.content_commitment
    other = certificate(pki, "no_signing_usage").extensions.get_extension_for_class(
        x509.KeyUsage).value
    assert other.key_encipherment and not other.digital_signature


def test_expired_certificate_ended_yesterday(pki):
    now = datetime.datetime.now(datetime.UTC)
    ended = now - certificate(pki, "expired").not_valid_after_utc
    assert datetime.timedelta(hours=23) < ended < datetime.timedelta(days=2)


def test_manifest_maps_holders(pki):
    manifest = json.loads((pki / "manifest.json").read_text(encoding="utf-8"))
    assert set(manifest["holders"]) == {h.name for h in nca.HOLDERS}
    entry = manifest["holders"]["150140000012"]
    assert (entry["iin"], entry["bin"]) == ("850722400018", "150140000012")
    assert (pki / entry["certificate"]).is_file()


def test_crl_endpoint(client, pki):
    answer = client.get("/nca/crl.pem")
    assert answer.status_code == 200
    assert answer.mimetype == "application/pkix-crl"
    assert answer.data == (pki / "crl.pem").read_bytes()


def test_ca_endpoint(client):
    answer = client.get("/nca/ca.pem")
    assert answer.status_code == 200
    assert len(x509.load_pem_x509_certificates(answer.data)) == 2


def test_sign_endpoint_output_passes_condition_3(client, pki):
    xml = xmldoc.to_xml({"iin_bin": "900115300003", "service": "survey_license"}, "request")
    answer = client.post("/nca/sign", json={"holder": "900115300003", "xml": xml})
    assert answer.status_code == 200
    eds.configure(keys_dir=str(pki), trust_chain=str(pki / "ca-chain.pem"))
    result = eds.verify_request_signature(signed_request=answer.json["signed_xml"],
                                          iin_bin="900115300003")
    assert result == {"valid": True, "reason": None, "subject_iin": "900115300003",
                      "subject_bin": None}


@pytest.mark.parametrize(("body", "status"), [
    ({"holder": "nobody", "xml": "<a/>"}, 404), ({"holder": "head"}, 400),
    ({"holder": "head", "xml": "<a>"}, 400),
])
def test_sign_endpoint_rejects(client, body, status):
    answer = client.post("/nca/sign", json=body)
    assert answer.status_code == status
    assert answer.json["error"] in {"not_found", "bad_request"}


def test_module_blueprint_reads_the_folder_from_config(pki):
    app = Flask(__name__)
    app.config[nca.CONFIG_KEY] = str(pki)
    app.register_blueprint(nca.bp)
    assert app.test_client().get("/nca/ca.pem").data == (pki / "ca-chain.pem").read_bytes()
