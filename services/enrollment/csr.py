"""A certificate signing request (PKCS#10) as pasted, uploaded or posted: decoded, its key judged, its signature
verified and its names normalised — or refused with InvalidRequest (400) saying why. Pure: no I/O, no clock.

Accepted forms: PEM text (`CERTIFICATE REQUEST` or the older `NEW CERTIFICATE REQUEST` label), raw DER bytes, or
the base64 of the DER without PEM lines. Checks run in this order, and the first failure is the answer:

1. form and structure                                   `csr_malformed`
2. the public key: RSA ≥ 2048 bits with modulus % 8 == 0 and an odd exponent ≥ 3 (`csr_key_weak`); ECDSA on
   P-256, P-384 or P-521 only; anything else — other curves, Ed25519, DSA … (`csr_key_unsupported`). BR 6.1.5.
   The key comes before the signature: some keys (an even RSA exponent) cannot sign at all, and "your key is weak"
   is the answer that helps.
3. the self-signature (proof of possession)             `csr_signature_invalid`
4. the dNSName and iPAddress entries of the requested subjectAltName, normalised by contracts.names; a bad one is
   `csr_bad_name`. Whether a profile allows a name (an IP address, an internal name) is the certificate rules'
   decision (contracts/certificate_rules.py), not this module's.

Only dNSName and iPAddress entries are read from the subjectAltName request; e-mail, URI and other entries are left
to the flows that need them (client, device). The key rules of step 2 are contracts/certificate_rules.py's, which
the CA applies again before it signs. The subject CN is returned as written, not normalised: for client and code-signing
requests it is a person's or an organization's name, not a host name. Refusals never echo the input.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import ipaddress
import re
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import NameOID, PublicKeyAlgorithmOID

from contracts import certificate_rules as rules
from contracts.errors import InvalidRequest
from contracts.names import normalise

MAX_CSR_BYTES = 64 * 1024       # a 16384-bit RSA CSR with 250 names is well under this

_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END \1-----", re.DOTALL)
_CSR_LABELS = ("CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST")


@dataclass(frozen=True)
class ParsedCsr:
    der: bytes = field(repr=False)
    public_key: CertificatePublicKeyTypes = field(repr=False)
    key_type: str                       # "rsa-2048" … "rsa-<bits>", "ec-p256", "ec-p384", "ec-p521"
    subject_common_name: str | None     # as written in the CSR subject (not normalised)
    dns_names: tuple[str, ...]          # subjectAltName dNSName entries, normalised, in order, without repeats
    public_key_sha256: str              # hex sha256 of the SubjectPublicKeyInfo DER (as cryptography encodes it)
    ip_addresses: tuple[str, ...] = ()  # subjectAltName iPAddress entries, normalised (RFC 5952), without repeats

    @property
    def names(self) -> tuple[str, ...]:
        """Every name the CSR's subjectAltName asks for: DNS names, then IP addresses."""
        return self.dns_names + self.ip_addresses


def parse_csr(text_or_bytes: str | bytes | bytearray) -> ParsedCsr:
    """The checked request, or InvalidRequest with `{"csr": [reason]}` and one of the codes in this module's
    docstring."""
    der = _der(text_or_bytes)
    try:
        csr = x509.load_der_x509_csr(der)
        common_names = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        san = _requested_san(csr)
    except (ValueError, TypeError, x509.InvalidVersion, x509.DuplicateExtension,
            x509.UnsupportedGeneralNameType) as exc:
        raise _malformed(f"not a PKCS#10 certificate request ({type(exc).__name__})") from None
    public_key, key_type = _judge_key(csr)
    try:
        signed = csr.is_signature_valid
    except (ValueError, UnsupportedAlgorithm):
        signed = False
    if not signed:
        raise _refuse("csr_signature_invalid", "the CSR's signature does not verify with its own public key "
                                               "(the request was altered, or signed with another key)")
    cn = common_names[0].value if common_names else None
    spki = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return ParsedCsr(der, public_key, key_type, cn.strip() if isinstance(cn, str) else None, _dns_names(san),
                     hashlib.sha256(spki).hexdigest(), _ip_addresses(san))


# ---- 1. form --------------------------------------------------------------------------------------------------

def _der(value) -> bytes:
    if isinstance(value, bytearray):
        value = bytes(value)
    if isinstance(value, bytes):
        if value[:1] == b"\x30":                    # DER: a SEQUENCE
            return _sized(value)
        try:
            value = value.decode("ascii")
        except UnicodeDecodeError:
            raise _malformed("neither DER nor PEM/base64 text") from None
    if not isinstance(value, str):
        raise _malformed("must be PEM text, base64 text or DER bytes")
    text = value.lstrip("\ufeff").strip()
    if not text:
        raise _malformed("empty")
    if len(text) > 2 * MAX_CSR_BYTES:
        raise _malformed(f"longer than {MAX_CSR_BYTES} bytes")
    if "-----BEGIN" in text:
        return _sized(_b64(_pem_body(text), "the PEM body is not valid base64"))
    return _sized(_b64(text, "not PEM, and not valid base64 of a DER request"))


def _pem_body(text: str) -> str:
    blocks = _PEM_BLOCK.findall(text)
    bodies = [body for label, body in blocks if label in _CSR_LABELS]
    if len(bodies) == 1:
        return bodies[0]
    if len(bodies) > 1:
        raise _malformed("more than one certificate request in the PEM text")
    if blocks:
        raise _malformed(f"a PEM {blocks[0][0]}, not a CERTIFICATE REQUEST")
    raise _malformed("truncated: a PEM BEGIN line without its matching END line")


def _b64(text: str, why: str) -> bytes:
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise _malformed(why) from None


def _sized(der: bytes) -> bytes:
    if not der:
        raise _malformed("empty")
    if len(der) > MAX_CSR_BYTES:
        raise _malformed(f"longer than {MAX_CSR_BYTES} bytes")
    return der


def _requested_san(csr: x509.CertificateSigningRequest) -> x509.SubjectAlternativeName | None:
    try:
        return csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None


# ---- 2. key ---------------------------------------------------------------------------------------------------

def _judge_key(csr: x509.CertificateSigningRequest) -> tuple[CertificatePublicKeyTypes, str]:
    try:
        key = csr.public_key()
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise _unloadable_key(csr, exc) from None
    return key, rules.key_type_of(key)


def _unloadable_key(csr: x509.CertificateSigningRequest, exc: Exception) -> InvalidRequest:
    """cryptography refuses to load some keys at all (an even RSA exponent, an EC point on an unnamed curve): read
    an RSA key's numbers from the DER to say what is wrong with it."""
    oid = csr.public_key_algorithm_oid
    if oid == PublicKeyAlgorithmOID.RSAES_PKCS1_v1_5:
        try:
            n, e = _rsa_numbers(csr.tbs_certrequest_bytes)
        except ValueError:
            return _malformed("the RSA public key cannot be decoded")
        rules.check_rsa(n, e)
        return rules.weak_key(f"RSA public key cannot be used: {exc}")
    if oid == PublicKeyAlgorithmOID.EC_PUBLIC_KEY:
        return rules.unsupported_key("EC keys on an unnamed or unknown curve")
    return rules.unsupported_key(f"keys of algorithm {oid.dotted_string}")


def _rsa_numbers(tbs: bytes) -> tuple[int, int]:
    """(n, e) from CertificationRequestInfo ::= SEQUENCE { version, subject, SubjectPublicKeyInfo, … }."""
    info = _children(_tlv(tbs, 0, 0x30)[0])
    spki = _children(info[2])
    bits = spki[1]
    if not bits or bits[0] != 0:
        raise ValueError("bad BIT STRING")
    n, e = _children(_tlv(bits[1:], 0, 0x30)[0])[:2]
    return int.from_bytes(n, "big", signed=True), int.from_bytes(e, "big", signed=True)


def _children(content: bytes) -> list[bytes]:
    items, pos = [], 0
    while pos < len(content):
        value, pos = _tlv(content, pos)
        items.append(value)
    return items


def _tlv(data: bytes, pos: int, want_tag: int | None = None) -> tuple[bytes, int]:
    """The content of the DER tag-length-value at `pos` and where it ends; ValueError when it does not fit."""
    if pos + 2 > len(data) or (want_tag is not None and data[pos] != want_tag):
        raise ValueError("bad DER")
    length, pos = data[pos + 1], pos + 2
    if length & 0x80:
        count = length & 0x7F
        if not 0 < count <= 4 or pos + count > len(data):
            raise ValueError("bad DER length")
        length, pos = int.from_bytes(data[pos:pos + count], "big"), pos + count
    if pos + length > len(data):
        raise ValueError("bad DER length")
    return data[pos:pos + length], pos + length


# ---- 4. names -------------------------------------------------------------------------------------------------

def _ip_addresses(san: x509.SubjectAlternativeName | None) -> tuple[str, ...]:
    if san is None:
        return ()
    addresses = []
    for address in san.get_values_for_type(x509.IPAddress):
        if not isinstance(address, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
            raise _refuse("csr_bad_name", f"the CSR asks for the network {address}: an iPAddress name is one "
                                          "address")
        addresses.append(str(address))
    return tuple(dict.fromkeys(addresses))


def _dns_names(san: x509.SubjectAlternativeName | None) -> tuple[str, ...]:
    if san is None:
        return ()
    names = []
    for typed in san.get_values_for_type(x509.DNSName):
        try:
            names.append(normalise(typed))
        except InvalidRequest as exc:
            why = (exc.details or {}).get("name", [exc.message])[0]
            raise _refuse("csr_bad_name", f"the CSR asks for {typed!r}, which is not a valid domain name: "
                                          f"{why}") from None
    return tuple(dict.fromkeys(names))


# ---- refusals -------------------------------------------------------------------------------------------------

def _refuse(code: str, reason: str) -> InvalidRequest:
    return InvalidRequest(f"CSR refused: {reason}", {"csr": [reason]}, code=code)


def _malformed(reason: str) -> InvalidRequest:
    return _refuse("csr_malformed", reason)


def csr_pem(der: bytes) -> str:
    """A checked request's DER as the PEM an event records."""
    return x509.load_der_x509_csr(der).public_bytes(serialization.Encoding.PEM).decode()
