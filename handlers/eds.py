"""Electronic digital signature (EDS) of JSON documents with ECDSA P-256 keys."""

import base64
import datetime
import hashlib
import hmac
import json
import os
import re
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.oid import NameOID

from handlers.errors import HandlerError

ALGORITHM = "ECDSA-P256-SHA256"
CERTIFICATE_DAYS = 3 * 365
_SIGNER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_state: dict[str, Path] = {}


def configure(keys_dir: str) -> None:
    """Use keys_dir for the signers' key and certificate files."""
    _state["keys_dir"] = Path(keys_dir)


def _paths(signer: str) -> tuple[Path, Path]:
    """Return the key and certificate paths of signer."""
    if not isinstance(signer, str) or not _SIGNER_NAME.fullmatch(signer):
        raise HandlerError(f"signer name {signer!r} is not allowed")
    try:
        keys_dir = _state["keys_dir"]
    except KeyError:
        raise RuntimeError("eds not configured") from None
    return keys_dir / f"{signer}.key.pem", keys_dir / f"{signer}.cert.pem"


def _write_private(path: Path, data: bytes) -> None:
    """Write data to a new file readable only by the owner."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(data)


def _load_or_create_key(key_path: Path) -> ec.EllipticCurvePrivateKey:
    """Load the private key at key_path, creating it first if missing."""
    if key_path.exists():
        return serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _write_private(key_path, pem)
    return key


def _self_signed(key: ec.EllipticCurvePrivateKey, common_name: str, iin: str) -> x509.Certificate:
    """Return a self-signed signing certificate for the holder of iin."""
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            # the national CA puts the holder's IIN here with an "IIN" prefix
            x509.NameAttribute(NameOID.SERIAL_NUMBER, f"IIN{iin}"),
        ]
    )
    now = datetime.datetime.now(datetime.UTC)
    usage = x509.KeyUsage(digital_signature=True, content_commitment=True,
                          key_encipherment=False, data_encipherment=False, key_agreement=False,
                          key_cert_sign=False, crl_sign=False, encipher_only=False,
                          decipher_only=False)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=CERTIFICATE_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False
        )
        .sign(key, hashes.SHA256())
    )


def ensure_signing_key(signer: str, common_name: str, iin: str) -> None:
    """Create the signer's key and self-signed certificate unless they already exist."""
    key_path, cert_path = _paths(signer)
    key_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = _load_or_create_key(key_path)
    if not cert_path.exists():
        cert = _self_signed(key, common_name, iin)
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def canonical_bytes(document: dict) -> bytes:
    """Return the canonical JSON encoding of document that is hashed and signed."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sign_document(*, document: dict, signer: str) -> dict:
    """Sign the canonical form of document with the signer's key."""
    key_path, cert_path = _paths(signer)
    if not key_path.exists() or not cert_path.exists():
        raise HandlerError(f"no signing key for {signer}")
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    data = canonical_bytes(document)
    signature = key.sign(data, ec.ECDSA(hashes.SHA256()))
    return {
        "algorithm": ALGORITHM,
        "signer": signer,
        "certificate": cert_path.read_text(),
        "digest": hashlib.sha256(data).hexdigest(),
        "signature": base64.b64encode(signature).decode("ascii"),
        "signed_at": datetime.datetime.now(datetime.UTC).replace(microsecond=0).isoformat(),
    }


def verify_document(document: dict, signed: dict) -> bool:
    """Return True if signed is a valid signature of document by its embedded certificate."""
    try:
        data = canonical_bytes(document)
        if signed["algorithm"] != ALGORITHM:
            return False
        if not hmac.compare_digest(hashlib.sha256(data).hexdigest(), signed["digest"]):
            return False
        cert = x509.load_pem_x509_certificate(signed["certificate"].encode())
        public_key = cert.public_key()
        if not isinstance(public_key, ec.EllipticCurvePublicKey):
            return False
        if not isinstance(public_key.curve, ec.SECP256R1):
            return False
        signature = base64.b64decode(signed["signature"], validate=True)
        public_key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, KeyError, TypeError, ValueError):
        return False
    return True
