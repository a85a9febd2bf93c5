"""Small XML documents for requests and results, and their enveloped XMLDSig signatures.

Rendering rule (`to_xml`): each key becomes an element, in the dict's order; a dict nests,
a list becomes `<item>` children, True/False become "true"/"false", None an empty element and
any other value its `str()`. Parsing (`from_xml`) is the inverse for strings only: an element
with children becomes a dict, one whose children are all `<item>` a list, a leaf its text
("" if empty). Attributes, comments and the `ds:Signature` element are ignored.
"""

from dataclasses import dataclass

import signxml
from cryptography import x509
from lxml import etree
from signxml import SignatureConfiguration
from signxml.exceptions import SignXMLException

DSIG_NS = "http://www.w3.org/2000/09/xmldsig#"
ITEM = "item"
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, remove_comments=True,
                          remove_pis=True, huge_tree=False)
_RSA = (signxml.SignatureMethod.RSA_SHA256, signxml.SignatureMethod.RSA_SHA384,
        signxml.SignatureMethod.RSA_SHA512)
_DIGESTS = (signxml.DigestAlgorithm.SHA256, signxml.DigestAlgorithm.SHA384,
            signxml.DigestAlgorithm.SHA512)


class MalformedXml(ValueError):
    """The text is not an XML document of the expected shape."""


class BadSignature(ValueError):
    """The XMLDSig signature does not verify against the certificate it carries."""


@dataclass(frozen=True)
class SignedXml:
    """What an enveloped signature covers: the signer's certificate and the signed root."""

    certificate: x509.Certificate
    root_tag: str
    attributes: dict[str, str]
    document: dict


def _fill(element: etree._Element, value: object) -> None:
    """Render value as the content of element."""
    if isinstance(value, dict):
        for key, child in value.items():
            _fill(etree.SubElement(element, _tag(key)), child)
    elif isinstance(value, (list, tuple)):
        for child in value:
            _fill(etree.SubElement(element, ITEM), child)
    elif isinstance(value, bool):
        element.text = "true" if value else "false"
    elif value is not None:
        element.text = str(value)


def _tag(key: object) -> str:
    """Return key as an element name; raise ValueError if it is not a plain XML name."""
    if not isinstance(key, str) or ":" in key:
        raise ValueError(f"key {key!r} cannot be an XML element name")
    try:
        etree.QName(key)
    except ValueError:
        raise ValueError(f"key {key!r} cannot be an XML element name") from None
    return key


def to_xml(document: dict, root: str = "document") -> str:
    """Render document as a UTF-8 XML document text whose root element is named root."""
    element = etree.Element(_tag(root))
    _fill(element, document)
    return etree.tostring(element, xml_declaration=True, encoding="UTF-8").decode("utf-8")


def _value(element: etree._Element) -> dict | list | str:
    """Return the content of element by the parsing rule."""
    children = [c for c in element if isinstance(c.tag, str) and etree.QName(c).namespace is None]
    if not children:
        return element.text or ""
    if all(c.tag == ITEM for c in children):
        return [_value(c) for c in children]
    return {c.tag: _value(c) for c in children}


def _parse(text: str | bytes) -> etree._Element:
    """Return the root element of text; raise MalformedXml if it is not well-formed XML."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    try:
        return etree.fromstring(data, _PARSER)
    except (etree.XMLSyntaxError, ValueError) as err:
        raise MalformedXml(f"not well-formed XML: {err}") from None


def from_xml(text: str | bytes) -> dict:
    """Parse an XML document text back into a dict of strings (see the module rule)."""
    value = _value(_parse(text))
    return value if isinstance(value, dict) else {}


def sign_enveloped(xml: str, *, key_pem, cert_pem: bytes,
                   attributes: dict[str, str] | None = None) -> str:
    """Return xml signed as enveloped XMLDSig (RSA-SHA256, exclusive c14n, X509Data).

    `key_pem` is the PEM bytes of the private key or the key already loaded (faster: loading
    an RSA key checks it, which costs tens of milliseconds).
    """
    root = _parse(xml)
    for name, value in (attributes or {}).items():
        root.set(name, value)
    signer = signxml.XMLSigner(
        method=signxml.SignatureConstructionMethod.enveloped,
        signature_algorithm=signxml.SignatureMethod.RSA_SHA256,
        digest_algorithm=signxml.DigestAlgorithm.SHA256,
        c14n_algorithm=signxml.CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
    )
    signed = signer.sign(root, key=key_pem, cert=cert_pem.decode("ascii"))
    return etree.tostring(signed, xml_declaration=True, encoding="UTF-8").decode("utf-8")


def _signature_parts(root: etree._Element) -> x509.Certificate:
    """Return the certificate of root's single enveloped signature; raise MalformedXml."""
    signatures = root.findall(f"{{{DSIG_NS}}}Signature")
    if len(signatures) != 1:
        raise MalformedXml(f"expected one ds:Signature under the root, found {len(signatures)}")
    references = signatures[0].findall(f".//{{{DSIG_NS}}}Reference")
    if len(references) != 1 or references[0].get("URI") != "":
        raise MalformedXml("the signature must cover the whole document (one Reference URI='')")
    certs = signatures[0].findall(f"{{{DSIG_NS}}}KeyInfo/{{{DSIG_NS}}}X509Data/"
                                  f"{{{DSIG_NS}}}X509Certificate")
    if not certs or not (certs[0].text or "").strip():
        raise MalformedXml("the signature carries no X509Certificate")
    body = "".join((certs[0].text or "").split())
    pem = f"-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n"
    try:
        return x509.load_pem_x509_certificate(pem.encode("ascii"))
    except ValueError:
        raise MalformedXml("the X509Certificate cannot be read") from None


def verify_enveloped(xml: str | bytes) -> SignedXml:
    """Check the enveloped signature of xml against its own certificate; return what it signs.

    Only the mathematics is checked here; trust, validity and revocation are the caller's.
    Raises MalformedXml or BadSignature.
    """
    root = _parse(xml)
    certificate = _signature_parts(root)
    config = SignatureConfiguration(
        location="./", expect_references=1, signature_methods=frozenset(_RSA),
        digest_algorithms=frozenset(_DIGESTS),
        # the certificate's own validity is judged by the caller, not here
        verification_time=certificate.not_valid_before_utc,
    )
    try:
        result = signxml.XMLVerifier().verify(
            etree.tostring(root), x509_cert=certificate, expect_config=config)
    except (SignXMLException, ValueError) as err:
        raise BadSignature(str(err).splitlines()[0] if str(err) else type(err).__name__) from None
    signed = result.signed_xml
    if signed is None or signed.tag != root.tag:
        raise MalformedXml("the signature does not cover the document root")
    value = _value(signed)
    return SignedXml(certificate=certificate, root_tag=signed.tag, attributes=dict(signed.attrib),
                     document=value if isinstance(value, dict) else {})
