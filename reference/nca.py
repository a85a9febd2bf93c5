"""The reference national certification authority (NCA): a test PKI on disk and /nca endpoints.

`ensure_pki` creates a root CA, an issuing CA named like the national one (RSA 2048, SHA-256
here; the real NCA also runs GOST), the holders' signing keys and certificates with the NCA
subject layout (DOMAIN §2.1: serialNumber "IIN…", OU "BIN…"), deliberately bad certificates for
tests, a CRL and manifest.json. The blueprint serves the CRL and the chain, and signs XML with a
holder's key in place of NCALayer in the applicant's browser.
"""

import datetime
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.oid import NameOID
from cryptography.x509.oid import ObjectIdentifier
from flask import Blueprint
from flask import Response
from flask import current_app
from flask import request

from handlers import xmldoc

ROOT_CN = "Qyzmet Reference Root CA"
# "ҰЛТТЫҚ КУӘЛАНДЫРУШЫ ОРТАЛЫҚ (RSA) — Qyzmet reference": the CN would exceed the 64 bytes
# cryptography allows, so the "Qyzmet reference" part is the CA's O
ISSUING_CN = "ҰЛТТЫҚ КУӘЛАНДЫРУШЫ ОРТАЛЫҚ (RSA)"
CA_ORGANISATION = "Qyzmet reference"
DAY = datetime.timedelta(days=1)
# the CAs are backdated so that a test certificate whose validity lies in the past still chains
CA_BACKDATE = 30 * DAY
HOLDER_DAYS = 365
CRL_DAYS = 7
CONFIG_KEY = "NCA_PKI_DIR"
# NCA role OIDs (DOMAIN §2.2): individual; legal entity's first head
ROLE_INDIVIDUAL = ObjectIdentifier("1.2.398.3.3.4.1.1")
ROLE_LE_HEAD = ObjectIdentifier("1.2.398.3.3.4.1.2.1")


@dataclass(frozen=True)
class Holder:
    """A certificate holder: file stem under holders/, subject and what the pair is for."""

    name: str
    cn: str
    iin: str
    purpose: str
    bin: str | None = None
    organisation: str | None = None
    expired: bool = False
    signing_usage: bool = True
    self_signed: bool = False


HOLDERS = (
    Holder("head", "ZHAKUPOVA GULNARA", "680310400011", "staff signer of results (licensor)"),
    Holder("provider", "SERIKOV ASKAR", "700215300005",
           "the provider's organisation key held by the system: results issued without staff, "
           "audit checkpoints", bin="150440000003", organisation="Qyzmet demo service provider"),
    Holder("900115300003", "ABENOV NURLAN", "900115300003", "applicant, individual"),
    Holder("850722400018", "SADYKOVA AIGERIM", "850722400018", "applicant, individual"),
    Holder("000520600016", "OMAROVA DANA", "000520600016", "applicant, individual"),
    Holder("680310400011", "ZHAKUPOVA GULNARA", "680310400011", "applicant, individual"),
    Holder("150140000012", "SADYKOVA AIGERIM", "850722400018",
           "applicant, legal entity (first head)", bin="150140000012",
           organisation='"Shygys Geo Survey" LLP'),
    Holder("expired", "ABENOV NURLAN", "900115300003", "test: validity ended yesterday",
           expired=True),
    Holder("revoked", "ABENOV NURLAN", "900115300003", "test: listed in the CRL"),
    Holder("wrong_iin", "SADYKOVA AIGERIM", "850722400018",
           "test: valid, but another person than 900115300003"),
    Holder("no_signing_usage", "ABENOV NURLAN", "900115300003",
           "test: key usage keyEncipherment only", signing_usage=False),
    Holder("self_signed", "ABENOV NURLAN", "900115300003", "test: not issued by the NCA",
           self_signed=True),
)
REVOKED = ("revoked",)


def _now() -> datetime.datetime:
    """Return the current UTC time to the second."""
    return datetime.datetime.now(datetime.UTC).replace(microsecond=0)


def _key(path: Path) -> rsa.RSAPrivateKey:
    """Load the RSA key at path, or create it there readable only by the owner."""
    if path.exists():
        return serialization.load_pem_private_key(path.read_bytes(), password=None)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(pem)
    return key


def _usage(*, sign: bool = False, encipher: bool = False, ca: bool = False) -> x509.KeyUsage:
    """Return a KeyUsage: signing (digitalSignature+nonRepudiation), encipherment or CA."""
    return x509.KeyUsage(digital_signature=sign, content_commitment=sign,
                         key_encipherment=encipher, data_encipherment=False,
                         key_agreement=False, key_cert_sign=ca, crl_sign=ca,
                         encipher_only=False, decipher_only=False)


def _builder(subject: x509.Name, key: rsa.RSAPrivateKey, issuer: x509.Certificate | None,
             start: datetime.datetime, end: datetime.datetime) -> x509.CertificateBuilder:
    """Return a certificate builder with the names, validity and key identifiers set."""
    issuer_key = (issuer or key).public_key()
    aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key)
    return (x509.CertificateBuilder().subject_name(subject)
            .issuer_name(issuer.subject if issuer else subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(end)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .add_extension(aki, False))


def _ca(path: Path, cn: str, years: int, issuer: tuple | None) -> tuple:
    """Load or create the CA certificate (and key) stored as path.{key,cert}.pem."""
    key = _key(path.with_suffix(".key.pem"))
    cert_path = path.with_suffix(".cert.pem")
    if not cert_path.exists():
        start = _now() - CA_BACKDATE
        name = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "KZ"),
                          x509.NameAttribute(NameOID.ORGANIZATION_NAME, CA_ORGANISATION),
                          x509.NameAttribute(NameOID.COMMON_NAME, cn)])
        cert = (_builder(name, key, issuer[0] if issuer else None, start, start + years * 365 * DAY)
                .add_extension(x509.BasicConstraints(ca=True, path_length=None if issuer is None
                                                     else 0), True)
                .add_extension(_usage(ca=True), True)
                .sign(issuer[1] if issuer else key, hashes.SHA256()))
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return x509.load_pem_x509_certificate(cert_path.read_bytes()), key


def _subject(holder: Holder) -> x509.Name:
    """Return the NCA-style subject: CN, SURNAME, serialNumber IIN…, C, and O/OU BIN…."""
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, holder.cn),
                  x509.NameAttribute(NameOID.SURNAME, holder.cn.split()[0]),
                  x509.NameAttribute(NameOID.SERIAL_NUMBER, f"IIN{holder.iin}"),
                  x509.NameAttribute(NameOID.COUNTRY_NAME, "KZ")]
    if holder.bin:
        attributes += [x509.NameAttribute(NameOID.ORGANIZATION_NAME, holder.organisation or ""),
                       x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, f"BIN{holder.bin}")]
    return x509.Name(attributes)


def _issue(holder: Holder, key: rsa.RSAPrivateKey, issuing: tuple) -> x509.Certificate:
    """Return a new certificate of holder's key, issued by issuing (or self-signed)."""
    now = _now()
    start, end = (now - 8 * DAY, now - DAY) if holder.expired else (now - DAY,
                                                                    now + HOLDER_DAYS * DAY)
    issuer, issuer_key = (None, key) if holder.self_signed else issuing
    usage = (_usage(sign=True) if holder.signing_usage else _usage(encipher=True))
    role = ROLE_LE_HEAD if holder.bin else ROLE_INDIVIDUAL
    eku = x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION,
                                 ExtendedKeyUsageOID.CLIENT_AUTH, role])
    return (_builder(_subject(holder), key, issuer, start, end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
            .add_extension(usage, True)
            .add_extension(eku, False)
            .sign(issuer_key, hashes.SHA256()))


def _holder(holders: Path, holder: Holder, issuing: tuple) -> x509.Certificate:
    """Load or create holder's key and certificate under holders/ (again if the subject changed)."""
    key = _key(holders / f"{holder.name}.key.pem")
    cert_path = holders / f"{holder.name}.cert.pem"
    if not cert_path.exists() or x509.load_pem_x509_certificate(
            cert_path.read_bytes()).subject != _subject(holder):
        cert_path.write_bytes(_issue(holder, key, issuing).public_bytes(
            serialization.Encoding.PEM))
    return x509.load_pem_x509_certificate(cert_path.read_bytes())


def _ensure_crl(path: Path, issuing: tuple, revoked: list[x509.Certificate]) -> None:
    """Write the issuing CA's CRL listing revoked, unless a current one is already there."""
    if path.exists():
        current = x509.load_pem_x509_crl(path.read_bytes())
        if current.next_update_utc and current.next_update_utc > _now():
            return
    now = _now()
    builder = (x509.CertificateRevocationListBuilder().issuer_name(issuing[0].subject)
               .last_update(now).next_update(now + CRL_DAYS * DAY)
               .add_extension(x509.CRLNumber(int(now.timestamp())), False))
    for cert in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(cert.serial_number)
            .revocation_date(now - DAY).build())
    crl = builder.sign(issuing[1], hashes.SHA256())
    path.write_bytes(crl.public_bytes(serialization.Encoding.PEM))


def _write_if_changed(path: Path, text: str) -> None:
    """Write text to path unless the file already holds exactly that."""
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


def _manifest(holders: dict[str, x509.Certificate]) -> str:
    """Return manifest.json: holder name → certificate file, IIN, BIN, purpose, serial."""
    entries = {h.name: {"certificate": f"holders/{h.name}.cert.pem", "iin": h.iin, "bin": h.bin,
                        "purpose": h.purpose, "serial": format(holders[h.name].serial_number, "x")}
               for h in HOLDERS}
    body = {"root": "root.cert.pem", "issuing": "issuing.cert.pem", "chain": "ca-chain.pem",
            "crl": "crl.pem", "holders": entries}
    return json.dumps(body, ensure_ascii=False, indent=2) + "\n"


def ensure_pki(pki_dir: str) -> None:
    """Create the reference PKI in pki_dir; files already there are kept as they are."""
    pki = Path(pki_dir)
    (pki / "holders").mkdir(mode=0o700, parents=True, exist_ok=True)
    root = _ca(pki / "root", ROOT_CN, 10, None)
    issuing = _ca(pki / "issuing", ISSUING_CN, 5, root)
    chain = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (issuing[0], root[0]))
    if not (pki / "ca-chain.pem").exists() or (pki / "ca-chain.pem").read_bytes() != chain:
        (pki / "ca-chain.pem").write_bytes(chain)
    certs = {h.name: _holder(pki / "holders", h, issuing) for h in HOLDERS}
    _ensure_crl(pki / "crl.pem", issuing, [certs[name] for name in REVOKED])
    _write_if_changed(pki / "manifest.json", _manifest(certs))


def _crl_expired(path: Path) -> bool:
    """Tell whether the CRL file is missing or past its nextUpdate (cheap: no key loading)."""
    if not path.exists():
        return True
    crl = x509.load_pem_x509_crl(path.read_bytes())
    return crl.next_update_utc is None or crl.next_update_utc <= _now()


def _json(status: int, body: dict) -> Response:
    """Return a JSON response."""
    return Response(json.dumps(body, ensure_ascii=False), status=status,
                    mimetype="application/json")


def _add_routes(blueprint: Blueprint, pki_path: Callable[[], Path]) -> Blueprint:
    """Add the /crl.pem, /ca.pem and /sign routes over the PKI folder pki_path() returns."""

    @blueprint.get("/crl.pem")
    def crl() -> Response:
        """Answer the current CRL of the issuing CA (PEM)."""
        if _crl_expired(pki_path() / "crl.pem"):
            ensure_pki(str(pki_path()))  # renews the CRL once its nextUpdate has passed
        return Response((pki_path() / "crl.pem").read_bytes(), mimetype="application/pkix-crl")

    @blueprint.get("/ca.pem")
    def ca() -> Response:
        """Answer the CA chain: issuing CA then root (PEM)."""
        return Response((pki_path() / "ca-chain.pem").read_bytes(),
                        mimetype="application/x-pem-file")

    @blueprint.post("/sign")
    def sign() -> Response:
        """Sign {"xml"} with {"holder"}'s key as enveloped XMLDSig, as NCALayer would."""
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or not all(
                isinstance(body.get(k), str) for k in ("holder", "xml")):
            return _json(400, {"error": "bad_request", "message": "need holder and xml strings"})
        holder = next((h for h in HOLDERS if h.name == body["holder"]), None)
        if holder is None:
            return _json(404, {"error": "not_found", "message": f"no holder {body['holder']}"})
        stem = pki_path() / "holders" / holder.name
        try:
            signed = xmldoc.sign_enveloped(
                body["xml"], key_pem=stem.with_suffix(".key.pem").read_bytes(),
                cert_pem=stem.with_suffix(".cert.pem").read_bytes())
        except xmldoc.MalformedXml as err:
            return _json(400, {"error": "bad_request", "message": str(err)})
        return _json(200, {"signed_xml": signed})

    return blueprint


def create_blueprint(pki_dir: str) -> Blueprint:
    """Return an /nca blueprint serving the PKI in pki_dir, creating it first if needed."""
    ensure_pki(pki_dir)
    return _add_routes(Blueprint("nca", __name__, url_prefix="/nca"), lambda: Path(pki_dir))


# the same routes for an app that sets NCA_PKI_DIR in its config (and ran ensure_pki)
bp = _add_routes(Blueprint("nca", __name__, url_prefix="/nca"),
                 lambda: Path(current_app.config[CONFIG_KEY]))
