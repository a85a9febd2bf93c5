"""Electronic digital signature (EDS): sign results, verify requests and downloaded documents.

XMLDSig rather than CMS: NCA/egov documents are XML (NCALayer signXml, SHEP messages), and the
signature travels inside the document and verifies offline with standard tools (xmlsec1, signxml).

Trust comes from the NCA chain file (issuing CA + root) and the issuing CA's CRL. A request is
checked as the regulations prescribe (portal condition 3, DOMAIN §2.4): signature, chain,
validity period, absence from the CRL, signing key usage, and IIN/BIN equal to the request's.
"""

import argparse
import datetime
import functools
import hashlib
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID
from cryptography.x509.verification import ExtensionPolicy
from cryptography.x509.verification import PolicyBuilder
from cryptography.x509.verification import Store
from cryptography.x509.verification import VerificationError

from handlers import xmldoc
from handlers.cli import USAGE_EXIT
from handlers.cli import OneLineParser
from handlers.errors import HandlerError
from handlers.errors import Unavailable

_SIGNER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


@dataclass
class Settings:
    """Where the signing keys are, which CAs are trusted and where their CRL comes from."""

    keys_dir: Path | None = None
    trust_chain: Path | None = None
    crl_source: Callable[[], bytes | str] | None = None


_settings = Settings()


def trusting(trust_chain: str | Path, crl: str | Path | None = None) -> Settings:
    """Return trust settings of an outside party's CA chain (and CRL, else crl.pem beside it)
    for `verify_document(…, trust=…)`: the app's own settings stay as they are."""
    return Settings(trust_chain=Path(trust_chain),
                     crl_source=(lambda: Path(crl).read_bytes()) if crl else None)


def configure(*, keys_dir: str, trust_chain: str,
              crl_source: Callable[[], bytes | str] | None = None) -> None:
    """Use keys_dir's signing keys, trust_chain's CAs and crl_source (else crl.pem beside it)."""
    _settings.keys_dir = Path(keys_dir)
    _settings.trust_chain = Path(trust_chain)
    _settings.crl_source = crl_source


def _now() -> datetime.datetime:
    """Return the current UTC time to the second."""
    return datetime.datetime.now(datetime.UTC).replace(microsecond=0)


def _signer_files(signer: str) -> tuple[Path, Path]:
    """Return the key and certificate paths of signer in the keys folder."""
    if not isinstance(signer, str) or not _SIGNER_NAME.fullmatch(signer):
        raise HandlerError(f"signer name {signer!r} is not allowed")
    if _settings.keys_dir is None:
        raise HandlerError("EDS is not configured (no keys folder)")
    return (_settings.keys_dir / f"{signer}.key.pem", _settings.keys_dir / f"{signer}.cert.pem")


@functools.lru_cache(maxsize=16)
def _private_key(path: str, mtime: float):
    """Load a signing key once per file version (loading checks the RSA key: slow)."""
    return serialization.load_pem_private_key(Path(path).read_bytes(), password=None)


def _issued_by(document: dict, issuer: str) -> dict:
    """Return document naming issuer, the provider on whose behalf it is signed.

    A result document is the provider's (a licence, permit, conclusion, certificate or refusal);
    the signature certifies it in the provider's name, so the signed XML always says whose it is.
    A missing issuer, or a document already naming another one, is a HandlerError.
    """
    if not isinstance(document, dict):
        raise HandlerError("the document must be a JSON object")
    if not isinstance(issuer, str) or not issuer.strip():
        raise HandlerError("issuer must be a non-empty string")
    if document.get("issuer", issuer) != issuer:
        raise HandlerError(f"the document names the issuer {document['issuer']!r}, "
                           f"not the service's provider {issuer!r}")
    return {**document, "issuer": issuer}


def sign_document(*, document: dict, signer: str, issuer: str) -> dict:
    """Render document, naming its issuer (the regulation's provider), as XML and sign it
    (enveloped XMLDSig) with the signer's key."""
    document = _issued_by(document, issuer)
    key_path, cert_path = _signer_files(signer)
    if not key_path.exists() or not cert_path.exists():
        raise HandlerError(f"no signing key for {signer}")
    root = "licence" if "licence_number" in document else "document"
    try:
        xml = xmldoc.to_xml(document, root)
    except ValueError as err:
        raise HandlerError(f"the document cannot be rendered as XML: {err}") from None
    cert_pem = cert_path.read_bytes()
    signed_at = _now().isoformat()
    # signed_at is covered by the signature, so verify_document can judge the key at that time
    signed_xml = xmldoc.sign_enveloped(xml, key_pem=_private_key(str(key_path),
                                                                 key_path.stat().st_mtime),
                                       cert_pem=cert_pem,
                                       attributes={"signed_at": signed_at})
    subject = x509.load_pem_x509_certificate(cert_pem).subject.rfc4514_string()
    return {"signed_xml": signed_xml, "signer": signer, "certificate_subject": subject,
            "digest": hashlib.sha256(signed_xml.encode("utf-8")).hexdigest(),
            "signed_at": signed_at}


def _anchors(trust: Settings) -> list[x509.Certificate]:
    """Return the trusted CA certificates; raise HandlerError if they cannot be read."""
    if trust.trust_chain is None:
        raise HandlerError("EDS is not configured (no trust chain)")
    try:
        return x509.load_pem_x509_certificates(trust.trust_chain.read_bytes())
    except (OSError, ValueError) as err:
        raise HandlerError(f"cannot read the trust chain {trust.trust_chain}: {err}") from None


def _chains(cert: x509.Certificate, anchors: list[x509.Certificate],
            at: datetime.datetime) -> bool:
    """Return True if cert chains to a self-signed anchor through the other anchors at `at`."""
    roots = [c for c in anchors if c.subject == c.issuer]
    intermediates = [c for c in anchors if c.subject != c.issuer]
    if not roots:
        return False
    # key usage of the end entity is judged separately (reason wrong_key_usage)
    verifier = (PolicyBuilder().store(Store(roots)).time(at)
                .extension_policies(ee_policy=ExtensionPolicy.permit_all(),
                                    ca_policy=ExtensionPolicy.webpki_defaults_ca())
                .build_client_verifier())
    try:
        verifier.verify(cert, intermediates)
    except VerificationError:
        return False
    return True


def _crl_bytes(trust: Settings) -> bytes:
    """Return the CRL from crl_source, else from crl.pem beside the trust chain."""
    try:
        if trust.crl_source is not None:
            data = trust.crl_source()
        else:
            data = (trust.trust_chain or Path("crl.pem")).with_name("crl.pem").read_bytes()
    except Unavailable:
        raise
    except (OSError, ValueError, HandlerError) as err:
        raise Unavailable(f"the CRL cannot be obtained: {err}") from None
    return data.encode("ascii", "replace") if isinstance(data, str) else data


def _is_revoked(cert: x509.Certificate, anchors: list[x509.Certificate],
                trust: Settings) -> bool:
    """Return True if cert is on its issuer's CRL; raise Unavailable if no usable CRL."""
    data = _crl_bytes(trust)
    try:
        crl = (x509.load_pem_x509_crl(data) if b"-----BEGIN" in data
               else x509.load_der_x509_crl(data))
    except ValueError:
        raise Unavailable("the CRL cannot be parsed") from None
    issuer = next((c for c in anchors if c.subject == crl.issuer == cert.issuer), None)
    if issuer is None or not crl.is_signature_valid(issuer.public_key()):
        raise Unavailable("the CRL is not signed by the certificate's issuer")
    if crl.next_update_utc is not None and crl.next_update_utc < _now():
        raise Unavailable("the CRL is out of date (nextUpdate has passed)")
    return crl.get_revoked_certificate_by_serial_number(cert.serial_number) is not None


def _identity(cert: x509.Certificate) -> dict:
    """Return the holder's CN, IIN (serialNumber "IIN…") and BIN (OU "BIN…") from cert."""

    def values(oid: x509.ObjectIdentifier) -> list[str]:
        return [str(a.value) for a in cert.subject.get_attributes_for_oid(oid)]

    serials = values(NameOID.SERIAL_NUMBER)
    units = values(NameOID.ORGANIZATIONAL_UNIT_NAME) + [s for s in serials if s.startswith("BIN")]
    iin = next((s[3:] for s in serials if s.startswith("IIN")), None)
    bin_ = next((u[3:] for u in units if u.startswith("BIN")), None)
    return {"cn": next(iter(values(NameOID.COMMON_NAME)), None), "iin": iin, "bin": bin_}


def _can_sign(cert: x509.Certificate) -> bool:
    """Return True if cert's key usage allows digitalSignature or nonRepudiation."""
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return False
    return usage.digital_signature or usage.content_commitment


def _reject_reason(cert: x509.Certificate, at: datetime.datetime,
                   trust: Settings) -> str | None:
    """Return why cert cannot vouch for a signature made at `at`, or None if it can."""
    anchors = _anchors(trust)
    start, end = cert.not_valid_before_utc, cert.not_valid_after_utc
    if not _chains(cert, anchors, min(max(at, start), end)):
        return "untrusted"
    if not start <= at <= end:
        return "expired"
    if _is_revoked(cert, anchors, trust):
        return "revoked"
    if not _can_sign(cert):
        return "wrong_key_usage"
    return None


def _open(signed_xml: str | bytes) -> tuple[xmldoc.SignedXml | None, str | None]:
    """Return the verified content of signed_xml, or None and the reason it failed."""
    try:
        return xmldoc.verify_enveloped(signed_xml), None
    except xmldoc.MalformedXml:
        return None, "malformed"
    except xmldoc.BadSignature:
        return None, "signature_invalid"


def _signing_time(attributes: dict[str, str]) -> datetime.datetime:
    """Return the signed signed_at time, or now if it is missing, unreadable or in the future."""
    now = _now()
    try:
        at = datetime.datetime.fromisoformat(attributes.get("signed_at", ""))
    except ValueError:
        return now
    if at.tzinfo is None:
        at = at.replace(tzinfo=datetime.UTC)
    return min(at, now)


def verify_document(signed_xml: str | bytes, trust: Settings | None = None) -> dict:
    """Verify a downloaded signed document offline against the trust chain and the CRL.

    The certificate must have been valid at the signing time the document carries (there is
    no time-stamp authority here) and must not be revoked. `trust` (see `trusting`) replaces
    the configured CA chain and CRL. Never raises on a bad document; raises Unavailable only if
    the CRL cannot be obtained.
    """
    signed, reason = _open(signed_xml)
    if signed is None:
        return {"valid": False, "reason": reason,
                "signer": {"cn": None, "iin": None, "bin": None}, "document": {}}
    reason = _reject_reason(signed.certificate, _signing_time(signed.attributes),
                            trust or _settings)
    return {"valid": reason is None, "reason": reason, "signer": _identity(signed.certificate),
            "document": signed.document}


def verify_request_signature(*, signed_request: str, iin_bin: str,
                             expected: dict | None = None) -> dict:
    """Check the applicant's signed XML request (condition 3) for the applicant iin_bin.

    `expected` holds fields the signed request must carry with the same values as the
    submitted form (IIN/BIN, invoice, case, service key and version), so a signature cannot be
    moved to other data or replayed against another service.
    """
    signed, reason = _open(signed_request if isinstance(signed_request, (str, bytes)) else "")
    if signed is None:
        return {"valid": False, "reason": reason, "subject_iin": None, "subject_bin": None}
    identity = _identity(signed.certificate)
    reason = _reject_reason(signed.certificate, _now(), _settings)
    # a legal entity's certificate signs for its BIN, an individual's for the IIN
    fields, expected = expected, identity["bin"] or identity["iin"]
    if reason is None and (expected is None or expected != str(iin_bin).strip()):
        reason = "iin_bin_mismatch"
    if reason is None and any(str(value) != signed.document.get(name)
                              for name, value in (fields or {}).items()):
        reason = "content_mismatch"
    return {"valid": reason is None, "reason": reason, "subject_iin": identity["iin"],
            "subject_bin": identity["bin"]}


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Return the parsed command line; exit 2 on bad arguments."""
    parser = OneLineParser(prog="python -m handlers.eds",
                            description="Verify a signed Qyzmet document offline.")
    commands = parser.add_subparsers(dest="command", required=True)
    verify = commands.add_parser("verify", help="verify a signed XML document")
    verify.add_argument("file", help="the signed XML document")
    verify.add_argument("--trust", required=True, help="PEM chain of the trusted NCA CAs")
    verify.add_argument("--crl", help="the NCA CRL (PEM or DER); default crl.pem beside --trust")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Verify a signed document; print one line; return 0 valid, 1 invalid, 2 unusable input."""
    args = _parse_args(argv)
    try:
        text = Path(args.file).read_bytes()
    except OSError as err:
        print(f"python -m handlers.eds: cannot read {args.file}: {err.strerror}", file=sys.stderr)
        return USAGE_EXIT
    crl_source = (lambda: Path(args.crl).read_bytes()) if args.crl else None
    configure(keys_dir=".", trust_chain=args.trust, crl_source=crl_source)
    try:
        result = verify_document(text)
    except HandlerError as err:
        print(f"python -m handlers.eds: {err.message}", file=sys.stderr)
        return USAGE_EXIT
    if not result["valid"]:
        print(f"INVALID: {result['reason']}")
        return 1
    signer = result["signer"]
    ids = f"IIN {signer['iin']}" + (f", BIN {signer['bin']}" if signer["bin"] else "")
    print(f"valid: signed by {signer['cn']} ({ids})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
