"""SCEP (RFC 8894) messages: a device's pkiMessage read, checked and opened; the server's CertRep and the
degenerate PKCS#7 of GetCACert written. Pure: bytes in, bytes out, no I/O (the time comes in as an argument; new
keys, IVs and nonces come from os.urandom).

A pkiMessage is a CMS SignedData (RFC 5652) whose signed attributes carry SCEP's own (messageType, transactionID,
senderNonce; in a CertRep also pkiStatus, failInfo, recipientNonce) and whose content is an EnvelopedData: the
request — a PKCS#10 CSR (PKCSReq, RenewalReq), an IssuerAndSubject (CertPoll, also called GetCertInitial) or an
IssuerAndSerialNumber (GetCert, GetCRL) — encrypted to the RA certificate. The CertRep is signed by the RA key and,
on SUCCESS, holds a degenerate certificates-only SignedData encrypted to the requester's signer certificate.

Reading a message has three outcomes, and the server answers each differently:
- `Unreadable`: nothing a CertRep could answer (not a SignedData, no single signer with its certificate, no
  transactionID or senderNonce): HTTP 400 with the reason;
- `Refused(fail_info, reason, message)`: a message that names its signer but cannot be taken — a signature that
  does not verify or a digest that does not match (badMessageCheck), an algorithm not offered (badAlg), content
  that is not what its messageType says (badRequest): a CertRep FAILURE with that failInfo;
- a `Request`, with its CSR (and the challengePassword in it) or the names it asks about.

Offered (GetCACaps, `CAPABILITIES`): digests SHA-1/224/256/384/512; signatures RSA PKCS#1 v1.5 and RSASSA-PSS;
key transport RSA PKCS#1 v1.5 and RSA-OAEP; content AES-128/192/256-CBC, 3DES-CBC and single DES-CBC (read only:
old clients, scepclient 2.1.0 among them, still send it; DES is cryptography's TripleDES with the key three times).
An EC signer is refused with badAlg: the answer is encrypted to the signer's certificate by RSA key transport.

Written by hand here, over asn1crypto's CMS types: the SCEP attribute types (subclasses of asn1crypto's
CMSAttribute, so asn1crypto's own tables stay as they are), IssuerAndSubject, the split of an EncryptedContentInfo
whose encryptedContent is a definite-length constructed string (Go's pkcs7 writes that BER; asn1crypto reads
constructed strings only in indefinite form), the messageDigest check, and PKCS#7 padding of the CBC ciphers. The
signed attributes are verified over the bytes the device sent (re-tagged as a SET, RFC 5652 §5.4).
"""
from __future__ import annotations

import enum
import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from asn1crypto import algos, cms, core, parser
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.x509.oid import AttributeOID


class MessageType(enum.IntEnum):
    CERT_REP = 3
    RENEWAL_REQ = 17
    UPDATE_REQ = 18
    PKCS_REQ = 19
    CERT_POLL = 20          # GetCertInitial in the drafts before RFC 8894
    GET_CERT = 21
    GET_CRL = 22


class PkiStatus(enum.StrEnum):
    SUCCESS = "0"
    FAILURE = "2"
    PENDING = "3"


class FailInfo(enum.StrEnum):
    BAD_ALG = "0"
    BAD_MESSAGE_CHECK = "1"
    BAD_REQUEST = "2"
    BAD_TIME = "3"
    BAD_CERT_ID = "4"


FAIL_NAMES = {FailInfo.BAD_ALG: "badAlg", FailInfo.BAD_MESSAGE_CHECK: "badMessageCheck",
              FailInfo.BAD_REQUEST: "badRequest", FailInfo.BAD_TIME: "badTime", FailInfo.BAD_CERT_ID: "badCertId"}
CSR_REQUESTS = (MessageType.PKCS_REQ, MessageType.RENEWAL_REQ)
# GetCACaps (RFC 8894 §3.5.2), one a line: what this module reads and writes
CAPABILITIES = ("POSTPKIOperation", "SHA-1", "SHA-256", "SHA-512", "AES", "DES3", "SCEPStandard", "Renewal")
MAX_MESSAGE = 64 * 1024
MAX_TRANSACTION_ID = 128            # kept as the certificate's protocol_ref

_DIGESTS = {"sha1": hashes.SHA1, "sha224": hashes.SHA224, "sha256": hashes.SHA256, "sha384": hashes.SHA384,
            "sha512": hashes.SHA512}
_REPLY_DIGESTS = ("sha1", "sha256", "sha384", "sha512")
# content ciphers: (cryptography algorithm, key bytes); single DES is read, never written
_CIPHERS = {"aes128_cbc": (algorithms.AES, 16), "aes192_cbc": (algorithms.AES, 24),
            "aes256_cbc": (algorithms.AES, 32), "tripledes_3key": (TripleDES, 24), "des": (TripleDES, 8)}
_REPLY_CIPHERS = ("aes128_cbc", "aes192_cbc", "aes256_cbc", "tripledes_3key")


# ---- SCEP's attributes (RFC 8894 §3.2.1), as asn1crypto types ---------------------------------------------
class _ScepString(core.Choice):
    """RFC 8894 says PrintableString; UTF8String and IA5String are read too (some clients send them)."""
    _alternatives = [("printable", core.PrintableString), ("utf8", core.UTF8String), ("ia5", core.IA5String)]


class _SetOfScepString(core.SetOf):
    _child_spec = _ScepString


class _SetOfUtf8String(core.SetOf):
    _child_spec = core.UTF8String


class ScepAttributeType(cms.CMSAttributeType):
    _map = {**cms.CMSAttributeType._map,
            "2.16.840.1.113733.1.9.2": "message_type",
            "2.16.840.1.113733.1.9.3": "pki_status",
            "2.16.840.1.113733.1.9.4": "fail_info",
            "2.16.840.1.113733.1.9.5": "sender_nonce",
            "2.16.840.1.113733.1.9.6": "recipient_nonce",
            "2.16.840.1.113733.1.9.7": "transaction_id",
            "1.3.6.1.5.5.7.24.1": "fail_info_text"}          # RFC 8894 §3.2.1.4.5
    _reverse_map = None                                      # this class's own, built from _map on first use


class ScepAttribute(cms.CMSAttribute):
    _fields = [("type", ScepAttributeType), ("values", None)]
    _oid_specs = {**cms.CMSAttribute._oid_specs,
                  "message_type": _SetOfScepString, "pki_status": _SetOfScepString, "fail_info": _SetOfScepString,
                  "sender_nonce": cms.SetOfOctetString, "recipient_nonce": cms.SetOfOctetString,
                  "transaction_id": _SetOfScepString, "fail_info_text": _SetOfUtf8String}


class ScepAttributes(cms.CMSAttributes):
    _child_spec = ScepAttribute


class IssuerAndSubject(core.Sequence):
    """CertPoll's content (RFC 8894 §3.3.3)."""
    _fields = [("issuer", asn1_x509.Name), ("subject", asn1_x509.Name)]


# ---- outcomes ---------------------------------------------------------------------------------------------
class Unreadable(ValueError):
    """Not a pkiMessage a CertRep could answer; the reason is for the device (HTTP 400)."""


class Refused(Exception):
    """A pkiMessage answered with a CertRep FAILURE: `fail_info` and a reason (also sent as failInfoText)."""

    def __init__(self, fail_info: FailInfo, reason: str, message: "PkiMessage"):
        super().__init__(f"{FAIL_NAMES[fail_info]}: {reason}")
        self.fail_info, self.reason, self.message = fail_info, reason, message


@dataclass(frozen=True)
class PkiMessage:
    """A pkiMessage as read from the wire; its signature is checked by `check_signature`."""
    message_type: int
    transaction_id: str
    sender_nonce: bytes
    signer_der: bytes                     # the certificate that signed it (self-signed for a first PKCSReq)
    digest_algorithm: str
    signing_time: datetime | None
    content: bytes | None                 # the EnvelopedData (ContentInfo DER), or None
    pki_status: str | None = None         # CertRep only
    fail_info: str | None = None
    fail_info_text: str | None = None
    recipient_nonce: bytes | None = None
    signed_attrs_der: bytes = b""         # what the signature covers (the attributes as a DER SET)
    signature: bytes = b""
    signature_algorithm: dict | None = None   # {"algorithm", "parameters"} as asn1crypto names them
    content_type_attr: str | None = None
    message_digest_attr: bytes | None = None

    @property
    def signer(self) -> x509.Certificate:
        return x509.load_der_x509_certificate(self.signer_der)

    @property
    def signer_sha256(self) -> str:
        return hashlib.sha256(self.signer_der).hexdigest()


@dataclass(frozen=True)
class Request:
    """An opened request: the message, the cipher its envelope used, and what it asks."""
    message: PkiMessage
    cipher: str
    csr_der: bytes | None = None           # PKCSReq, RenewalReq
    challenge_password: str | None = None
    issuer_der: bytes | None = None        # CertPoll (with subject), GetCert and GetCRL (with serial)
    subject_der: bytes | None = None
    serial: int | None = None

    @property
    def csr_pem(self) -> str:
        return x509.load_der_x509_csr(self.csr_der).public_bytes(serialization.Encoding.PEM).decode()


# ---- reading ----------------------------------------------------------------------------------------------
def read_request(der: bytes, ra_key: rsa.RSAPrivateKey, ra_cert_der: bytes) -> Request:
    """A device's pkiMessage read, its signature checked, its envelope opened with the RA key, its content read
    as its messageType says. Raises Unreadable (no CertRep possible) or Refused (a CertRep FAILURE)."""
    message = read_pki_message(der)
    if message.message_type not in (*CSR_REQUESTS, MessageType.CERT_POLL, MessageType.GET_CERT,
                                    MessageType.GET_CRL):
        raise Refused(FailInfo.BAD_REQUEST, f"messageType {message.message_type} is not a request this server "
                      "takes (PKCSReq 19, RenewalReq 17, CertPoll 20, GetCert 21, GetCRL 22)", message)
    check_signature(message)
    plaintext, cipher = open_envelope(message, ra_key, ra_cert_der)
    if message.message_type in CSR_REQUESTS:
        csr_der, challenge = _read_csr(plaintext, message)
        return Request(message, cipher, csr_der=csr_der, challenge_password=challenge)
    if message.message_type == MessageType.CERT_POLL:
        names = _load(IssuerAndSubject, plaintext, "an IssuerAndSubject", message)
        return Request(message, cipher, issuer_der=names["issuer"].dump(), subject_der=names["subject"].dump())
    ids = _load(cms.IssuerAndSerialNumber, plaintext, "an IssuerAndSerialNumber", message)
    return Request(message, cipher, issuer_der=ids["issuer"].dump(), serial=ids["serial_number"].native)


def read_pki_message(der: bytes) -> PkiMessage:
    """The signed attributes, signer certificate and content of a pkiMessage (a request or a CertRep), without
    checking the signature. Raises Unreadable."""
    if not isinstance(der, (bytes, bytearray)) or not der:
        raise Unreadable("the message is empty")
    if len(der) > MAX_MESSAGE:
        raise Unreadable(f"the message is larger than {MAX_MESSAGE} bytes")
    try:
        return _read(bytes(der))
    except Unreadable:
        raise
    except (ValueError, TypeError, KeyError, IndexError, OverflowError) as exc:
        raise Unreadable(f"not a DER CMS SignedData pkiMessage ({_short(exc)})") from None


def _read(der: bytes) -> PkiMessage:
    info = cms.ContentInfo.load(der, strict=True)
    if info["content_type"].native != "signed_data":
        raise Unreadable(f"a pkiMessage is a CMS SignedData, not {info['content_type'].native}")
    signed = info["content"]
    signers = signed["signer_infos"]
    if len(signers) != 1:
        raise Unreadable(f"a pkiMessage has one signer, this one has {len(signers)}")
    signer_info = signers[0]
    if not signer_info["signed_attrs"]:
        raise Unreadable("the signer has no signed attributes (SCEP's messageType, transactionID, senderNonce)")
    attrs_der = b"\x31" + signer_info["signed_attrs"].dump()[1:]       # signed as a SET (RFC 5652 §5.4)
    attrs = _attribute_values(ScepAttributes.load(attrs_der))
    signer_der = _signer_certificate(signed, signer_info["sid"])
    try:
        x509.load_der_x509_certificate(signer_der)
    except ValueError:
        raise Unreadable("the signer's certificate is not a valid X.509 certificate") from None
    message_type = _one_string(attrs, "message_type")
    transaction_id = _one_string(attrs, "transaction_id")
    if message_type is None or not message_type.strip().isdigit():
        raise Unreadable("the messageType attribute is missing or not a number")
    if not transaction_id or len(transaction_id) > MAX_TRANSACTION_ID:
        raise Unreadable(f"the transactionID attribute is missing (or longer than {MAX_TRANSACTION_ID} characters)")
    sender_nonce = _one(attrs, "sender_nonce")
    message_type_number = int(message_type)
    if message_type_number != MessageType.CERT_REP and not sender_nonce:
        raise Unreadable("the senderNonce attribute is missing")
    encap = signed["encap_content_info"]
    if encap["content_type"].native != "data":
        raise Unreadable(f"the signed content is {encap['content_type'].native}, not data")
    content = encap["content"].native if encap["content"] else None
    signing_time = _one(attrs, "signing_time")
    content_type = attrs.get("content_type")
    algorithm = signer_info["signature_algorithm"]
    return PkiMessage(
        message_type=message_type_number, transaction_id=transaction_id, sender_nonce=sender_nonce or b"",
        signer_der=signer_der, digest_algorithm=signer_info["digest_algorithm"]["algorithm"].native,
        signing_time=signing_time.astimezone(timezone.utc) if signing_time else None, content=content or None,
        pki_status=_one_string(attrs, "pki_status"), fail_info=_one_string(attrs, "fail_info"),
        fail_info_text=_one(attrs, "fail_info_text"), recipient_nonce=_one(attrs, "recipient_nonce"),
        signed_attrs_der=attrs_der, signature=signer_info["signature"].native,
        signature_algorithm={"algorithm": algorithm["algorithm"].native, "der": algorithm.dump()},
        content_type_attr=content_type[0].native if content_type else None,
        message_digest_attr=_one(attrs, "message_digest"))


def _attribute_values(attrs: ScepAttributes) -> dict:
    values = {}
    for attribute in attrs:
        name = attribute["type"].native
        if name in values:
            raise Unreadable(f"the signed attribute {name} appears twice")
        values[name] = [v.chosen if isinstance(v, core.Choice) else v for v in attribute["values"]]
    return values


def _one(attrs: dict, name: str):
    found = attrs.get(name)
    if not found:
        return None
    if len(found) != 1:
        raise Unreadable(f"the signed attribute {name} has {len(found)} values, not one")
    return found[0].native


def _one_string(attrs: dict, name: str) -> str | None:
    value = _one(attrs, name)
    return None if value is None else str(value)


def _signer_certificate(signed: cms.SignedData, sid: cms.SignerIdentifier) -> bytes:
    certificates = [c.chosen for c in (signed["certificates"] or []) if c.name == "certificate"]
    for certificate in certificates:
        if sid.name == "issuer_and_serial_number":
            if (certificate.issuer == sid.chosen["issuer"]
                    and certificate.serial_number == sid.chosen["serial_number"].native):
                return certificate.dump()
        elif certificate.key_identifier == sid.chosen.native:
            return certificate.dump()
    raise Unreadable("the signer's certificate is not in the message (a pkiMessage carries it)")


def check_signature(message: PkiMessage) -> None:
    """The signer's signature over the signed attributes, made with the certificate it carries, and the
    messageDigest of the content. Refused badAlg (an algorithm not offered, an EC signer) or badMessageCheck."""
    digest_name = message.digest_algorithm
    if digest_name not in _DIGESTS:
        raise Refused(FailInfo.BAD_ALG, f"the digest {digest_name} is not offered (SHA-1, SHA-2)", message)
    public_key = message.signer.public_key()
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise Refused(FailInfo.BAD_ALG, "the signer's key must be RSA: the answer is encrypted to its "
                      "certificate by RSA key transport", message)
    algorithm = cms.SignedDigestAlgorithm.load(message.signature_algorithm["der"])
    try:
        scheme = algorithm.signature_algo
    except ValueError:
        scheme = algorithm["algorithm"].native
    if scheme == "rsassa_pkcs1v15":
        signature_hash = _signature_hash(algorithm, digest_name)
        pad = padding.PKCS1v15()
    elif scheme == "rsassa_pss":
        params = algorithm["parameters"]
        signature_hash = params["hash_algorithm"]["algorithm"].native
        mgf_hash = params["mask_gen_algorithm"]["parameters"]["algorithm"].native
        if signature_hash not in _DIGESTS or mgf_hash not in _DIGESTS:
            raise Refused(FailInfo.BAD_ALG, "the RSASSA-PSS parameters name a digest that is not offered", message)
        pad = padding.PSS(mgf=padding.MGF1(_DIGESTS[mgf_hash]()), salt_length=params["salt_length"].native)
    else:
        raise Refused(FailInfo.BAD_ALG, f"the signature algorithm {scheme} is not offered (RSA)", message)
    if signature_hash not in _DIGESTS:
        raise Refused(FailInfo.BAD_ALG, f"the signature's digest {signature_hash} is not offered", message)
    if message.content_type_attr != "data":
        raise Refused(FailInfo.BAD_MESSAGE_CHECK, "the contentType signed attribute is missing or not data",
                      message)
    if message.message_digest_attr != _digest(digest_name, message.content or b""):
        raise Refused(FailInfo.BAD_MESSAGE_CHECK, "the messageDigest signed attribute does not match the "
                      "content", message)
    try:
        public_key.verify(message.signature, message.signed_attrs_der, pad, _DIGESTS[signature_hash]())
    except (InvalidSignature, ValueError, UnsupportedAlgorithm):
        raise Refused(FailInfo.BAD_MESSAGE_CHECK, "the signature does not verify with the signer's certificate",
                      message) from None


def _signature_hash(algorithm: cms.SignedDigestAlgorithm, digest_name: str) -> str:
    """rsaEncryption signs with the SignerInfo's digest; sha256WithRSAEncryption and the like name their own."""
    if algorithm["algorithm"].native in ("rsassa_pkcs1v15", "rsa"):
        return digest_name
    try:
        return algorithm.hash_algo
    except ValueError:
        return digest_name


def check_signing_time(message: PkiMessage, now: datetime, tolerance: timedelta) -> None:
    """Refused badTime when the message says it was signed more than `tolerance` before or after `now`."""
    if message.signing_time is not None and abs(message.signing_time - now) > tolerance:
        raise Refused(FailInfo.BAD_TIME, f"the signingTime {message.signing_time.isoformat()} is more than "
                      f"{tolerance} away from the server's time {now.isoformat()}", message)


def open_envelope(message: PkiMessage, key: rsa.RSAPrivateKey, cert_der: bytes) -> tuple[bytes, str]:
    """(plaintext, content cipher) of the message's EnvelopedData, opened with `key` — the RA's for a request,
    the requester's for a CertRep — through the recipient that names `cert_der`. Refused badMessageCheck (not
    encrypted to that certificate, does not decrypt) or badAlg."""
    if not message.content:
        raise Refused(FailInfo.BAD_REQUEST, "the message has no content (the pkcsPKIEnvelope)", message)
    try:
        info = cms.ContentInfo.load(message.content, strict=True)
        if info["content_type"].native != "enveloped_data":
            raise Refused(FailInfo.BAD_REQUEST, "the content is not an EnvelopedData", message)
        enveloped = info["content"]
        recipient = _recipient(enveloped["recipient_infos"], asn1_x509.Certificate.load(cert_der), message)
        algorithm, ciphertext = _encrypted_content(enveloped["encrypted_content_info"])
        cipher_name = algorithm["algorithm"].native
        iv = algorithm["parameters"].native if cipher_name in _CIPHERS else None
        key_transport = recipient["key_encryption_algorithm"]
    except Refused:
        raise
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise Refused(FailInfo.BAD_REQUEST, f"the envelope is not a readable EnvelopedData ({_short(exc)})",
                      message) from None
    if cipher_name not in _CIPHERS:
        raise Refused(FailInfo.BAD_ALG, f"the content cipher {cipher_name} is not offered (AES-CBC, 3DES-CBC)",
                      message)
    content_key = _unwrap(key, key_transport, recipient["encrypted_key"].native, message)
    cipher_cls, key_bytes = _CIPHERS[cipher_name]
    block = cipher_cls.block_size // 8
    if (len(content_key) != key_bytes or not isinstance(iv, bytes) or len(iv) != block or not ciphertext
            or len(ciphertext) % block):
        raise Refused(FailInfo.BAD_MESSAGE_CHECK, "the envelope does not decrypt with the RA key", message)
    decryptor = Cipher(cipher_cls(_cipher_key(content_key)), modes.CBC(iv)).decryptor()
    plaintext = _unpad(decryptor.update(ciphertext) + decryptor.finalize(), block)
    if plaintext is None:
        raise Refused(FailInfo.BAD_MESSAGE_CHECK, "the envelope does not decrypt with the RA key", message)
    return plaintext, cipher_name


def _recipient(recipients, certificate: asn1_x509.Certificate, message: PkiMessage):
    transports = [r.chosen for r in recipients if r.name == "ktri"]
    for recipient in transports:
        rid = recipient["rid"]
        if rid.name == "issuer_and_serial_number":
            if (rid.chosen["issuer"] == certificate.issuer
                    and rid.chosen["serial_number"].native == certificate.serial_number):
                return recipient
        elif rid.chosen.native == certificate.key_identifier:
            return recipient
    if not transports:
        raise Refused(FailInfo.BAD_ALG, "the envelope has no key-transport recipient (RSA); key agreement is "
                      "not offered", message)
    raise Refused(FailInfo.BAD_MESSAGE_CHECK, "the envelope is not encrypted to this server's RA certificate "
                  "(GetCACert names it)", message)


def _unwrap(key: rsa.RSAPrivateKey, algorithm, encrypted_key: bytes, message: PkiMessage) -> bytes:
    name = algorithm["algorithm"].native
    if name == "rsaes_pkcs1v15":
        pad = padding.PKCS1v15()
    elif name == "rsaes_oaep":
        params = algorithm["parameters"]
        hash_name = params["hash_algorithm"]["algorithm"].native
        mgf_hash = params["mask_gen_algorithm"]["parameters"]["algorithm"].native
        if hash_name not in _DIGESTS or mgf_hash not in _DIGESTS:
            raise Refused(FailInfo.BAD_ALG, "the RSA-OAEP parameters name a digest that is not offered", message)
        pad = padding.OAEP(mgf=padding.MGF1(_DIGESTS[mgf_hash]()), algorithm=_DIGESTS[hash_name](), label=None)
    else:
        raise Refused(FailInfo.BAD_ALG, f"the key transport {name} is not offered (RSA PKCS#1 v1.5, RSA-OAEP)",
                      message)
    try:
        return key.decrypt(encrypted_key, pad)
    except ValueError:
        raise Refused(FailInfo.BAD_MESSAGE_CHECK, "the envelope does not decrypt with the RA key", message) from None


def _encrypted_content(info: cms.EncryptedContentInfo) -> tuple[algos.EncryptionAlgorithm, bytes | None]:
    """The cipher and the ciphertext of an EncryptedContentInfo, its fields split by hand: Go's pkcs7
    (scepclient) writes encryptedContent as a definite-length constructed string, BER that asn1crypto reads
    only in indefinite form."""
    fields, data = [], info.contents
    while data:
        size = parser.peek(data)
        fields.append(data[:size])
        data = data[size:]
    if len(fields) not in (2, 3):
        raise ValueError("an EncryptedContentInfo has two or three fields")
    return algos.EncryptionAlgorithm.load(fields[1]), _octets(fields[2]) if len(fields) == 3 else None


def _octets(der: bytes) -> bytes:
    """The bytes of an [0] IMPLICIT OCTET STRING (its DER or BER, tag included) in either form: primitive, or
    constructed of OCTET STRING chunks (each of which may be constructed again)."""
    _class, method, _tag, _header, contents, _trailer = parser.parse(der, strict=True)
    if method == 0:
        return contents
    out = []
    while contents:
        size = parser.peek(contents)
        chunk, contents = contents[:size], contents[size:]
        if parser.parse(chunk, strict=True)[2] != 4:
            raise ValueError("a constructed OCTET STRING holds something else than OCTET STRINGs")
        out.append(_octets(chunk))
    return b"".join(out)


def _unpad(data: bytes, block: int) -> bytes | None:
    """PKCS#7 padding removed, or None when it is not PKCS#7 padding (a wrong key)."""
    if not data:
        return None
    count = data[-1]
    if not 1 <= count <= block or data[-count:] != bytes([count]) * count:
        return None
    return data[:-count]


def _read_csr(plaintext: bytes, message: PkiMessage) -> tuple[bytes, str | None]:
    try:
        csr = x509.load_der_x509_csr(plaintext)
    except ValueError:
        raise Refused(FailInfo.BAD_REQUEST, "the envelope does not hold a DER PKCS#10 certificate request",
                      message) from None
    try:
        found = csr.attributes.get_attribute_for_oid(AttributeOID.CHALLENGE_PASSWORD)
    except x509.AttributeNotFound:
        return plaintext, None
    except ValueError:
        raise Refused(FailInfo.BAD_REQUEST, "the request's attributes are not readable", message) from None
    try:
        return plaintext, found.value.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused(FailInfo.BAD_REQUEST, "the challengePassword is not text", message) from None


def _load(spec, der: bytes, what: str, message: PkiMessage):
    try:
        value = spec.load(der, strict=True)
        value.native                                   # parses every field now
        return value
    except (ValueError, TypeError, KeyError, IndexError):
        raise Refused(FailInfo.BAD_REQUEST, f"the envelope does not hold {what}", message) from None


# ---- writing ----------------------------------------------------------------------------------------------
def cert_rep(request: PkiMessage, status: PkiStatus, ra_key: rsa.RSAPrivateKey, ra_cert_der: bytes,
             now: datetime, *, fail_info: FailInfo | None = None, reason: str | None = None,
             certificates: Sequence[bytes] = (), cipher: str | None = None) -> bytes:
    """The CertRep answering `request`, signed by the RA key: pkiStatus, for FAILURE the failInfo (and the
    reason as failInfoText), the request's transactionID, a new senderNonce, the request's senderNonce as
    recipientNonce; for SUCCESS the `certificates` (the issued one) as a degenerate PKCS#7 encrypted to
    the requester's signer certificate with `cipher` (default: `reply_cipher` of AES-128-CBC)."""
    attributes = [("message_type", _printable(str(int(MessageType.CERT_REP)))),
                  ("pki_status", _printable(str(status))),
                  ("transaction_id", _printable(request.transaction_id)),
                  ("sender_nonce", core.OctetString(os.urandom(16))),
                  ("recipient_nonce", core.OctetString(request.sender_nonce))]
    content = b""           # not absent: OpenSSL (certmonger) refuses a detached signature ("no content")
    if status == PkiStatus.FAILURE:
        attributes.append(("fail_info", _printable(str(fail_info or FailInfo.BAD_REQUEST))))
        if reason:
            attributes.append(("fail_info_text", core.UTF8String(reason[:512])))
    elif status == PkiStatus.SUCCESS:
        content = envelope(degenerate(certificates), request.signer_der, cipher or "aes128_cbc")
    digest = request.digest_algorithm if request.digest_algorithm in _REPLY_DIGESTS else "sha256"
    return sign_message(attributes, content, ra_key, ra_cert_der, now, digest)


def reply_cipher(request_cipher: str) -> str:
    """The content cipher of a SUCCESS CertRep: the request's when it is AES or 3DES, else AES-128-CBC (single
    DES is read from old clients, never written)."""
    return request_cipher if request_cipher in _REPLY_CIPHERS else "aes128_cbc"


def request_message(message_type: MessageType, transaction_id: str, content: bytes, signer_key,
                    signer_cert_der: bytes, ra_cert_der: bytes, now: datetime, *, digest: str = "sha256",
                    cipher: str = "aes128_cbc", key_transport: str = "rsaes_pkcs1v15",
                    sender_nonce: bytes | None = None, enveloped: bytes | None = None) -> bytes:
    """What a device sends: `content` (a CSR's DER, an IssuerAndSubject …) encrypted to the RA certificate (or
    `enveloped`, an EnvelopedData made elsewhere) and signed by the device with the SCEP attributes. For tests and
    benchmarks that speak SCEP without a client."""
    attributes = [("message_type", _printable(str(int(message_type)))),
                  ("transaction_id", _printable(transaction_id)),
                  ("sender_nonce", core.OctetString(sender_nonce or os.urandom(16)))]
    if enveloped is None:
        enveloped = envelope(content, ra_cert_der, cipher, key_transport)
    return sign_message(attributes, enveloped, signer_key, signer_cert_der, now, digest)


def issuer_and_subject(issuer_der: bytes, subject_der: bytes) -> bytes:
    """CertPoll's content, from two DER Names."""
    return IssuerAndSubject({"issuer": asn1_x509.Name.load(issuer_der),
                             "subject": asn1_x509.Name.load(subject_der)}).dump()


def sign_message(attributes: list, content: bytes | None, key, cert_der: bytes, now: datetime,
                 digest: str = "sha256") -> bytes:
    """A SignedData (ContentInfo DER) of `content` (or none) signed by `key` with contentType, signingTime,
    messageDigest and `attributes` ([(name, asn1crypto value)]) as signed attributes, in DER order."""
    certificate = asn1_x509.Certificate.load(cert_der)
    values = [("content_type", cms.ContentType("data")),
              ("signing_time", cms.Time({"utc_time" if now.year < 2050 else "generalized_time":
                                         now.astimezone(timezone.utc).replace(microsecond=0)})),
              ("message_digest", core.OctetString(_digest(digest, content or b""))), *attributes]
    signed_attrs = ScepAttributes([ScepAttribute({"type": name, "values": [value]}) for name, value in values])
    to_sign = signed_attrs.dump()          # a SET OF: asn1crypto writes it in DER's order, as it is verified
    if isinstance(key, rsa.RSAPrivateKey):
        signature = key.sign(to_sign, padding.PKCS1v15(), _DIGESTS[digest]())
        signature_algorithm = {"algorithm": "rsassa_pkcs1v15"}
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        signature = key.sign(to_sign, ec.ECDSA(_DIGESTS[digest]()))
        signature_algorithm = {"algorithm": f"{digest}_ecdsa"}
    else:
        raise ValueError("the signing key is neither RSA nor EC")
    signer_info = cms.SignerInfo({
        "version": "v1",
        "sid": cms.SignerIdentifier({"issuer_and_serial_number": cms.IssuerAndSerialNumber(
            {"issuer": certificate.issuer, "serial_number": certificate.serial_number})}),
        "digest_algorithm": algos.DigestAlgorithm({"algorithm": digest}),
        "signed_attrs": signed_attrs,
        "signature_algorithm": algos.SignedDigestAlgorithm(signature_algorithm),
        "signature": signature})
    encap = {"content_type": "data"}
    if content is not None:
        encap["content"] = content
    signed = cms.SignedData({"version": "v1", "digest_algorithms": [algos.DigestAlgorithm({"algorithm": digest})],
                             "encap_content_info": encap, "certificates": [certificate],
                             "signer_infos": [signer_info]})
    return cms.ContentInfo({"content_type": "signed_data", "content": signed}).dump()


def envelope(plaintext: bytes, recipient_cert_der: bytes, cipher: str = "aes128_cbc",
             key_transport: str = "rsaes_pkcs1v15") -> bytes:
    """An EnvelopedData (ContentInfo DER) of `plaintext` for the RSA key of `recipient_cert_der`."""
    certificate = asn1_x509.Certificate.load(recipient_cert_der)
    public_key = x509.load_der_x509_certificate(recipient_cert_der).public_key()
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise ValueError("an envelope is encrypted to an RSA certificate")
    cipher_cls, key_bytes = _CIPHERS[cipher]
    block = cipher_cls.block_size // 8
    content_key, iv = os.urandom(key_bytes), os.urandom(block)
    count = block - len(plaintext) % block
    encryptor = Cipher(cipher_cls(_cipher_key(content_key)), modes.CBC(iv)).encryptor()
    ciphertext = encryptor.update(plaintext + bytes([count]) * count) + encryptor.finalize()
    if key_transport == "rsaes_oaep":
        encrypted_key = public_key.encrypt(content_key, padding.OAEP(mgf=padding.MGF1(hashes.SHA256()),
                                                                     algorithm=hashes.SHA256(), label=None))
        transport = {"algorithm": "rsaes_oaep", "parameters": algos.RSAESOAEPParams({
            "hash_algorithm": {"algorithm": "sha256"},
            "mask_gen_algorithm": {"algorithm": "mgf1", "parameters": {"algorithm": "sha256"}}})}
    else:
        encrypted_key = public_key.encrypt(content_key, padding.PKCS1v15())
        transport = {"algorithm": "rsaes_pkcs1v15"}
    recipient = cms.KeyTransRecipientInfo({
        "version": "v0",
        "rid": cms.RecipientIdentifier({"issuer_and_serial_number": cms.IssuerAndSerialNumber(
            {"issuer": certificate.issuer, "serial_number": certificate.serial_number})}),
        "key_encryption_algorithm": cms.KeyEncryptionAlgorithm(transport),
        "encrypted_key": encrypted_key})
    enveloped = cms.EnvelopedData({
        "version": "v0", "recipient_infos": [cms.RecipientInfo({"ktri": recipient})],
        "encrypted_content_info": {"content_type": "data",
                                   "content_encryption_algorithm": {"algorithm": cipher, "parameters": iv},
                                   "encrypted_content": ciphertext}})
    return cms.ContentInfo({"content_type": "enveloped_data", "content": enveloped}).dump()


def degenerate(certificates: Sequence[bytes]) -> bytes:
    """A certificates-only SignedData (ContentInfo DER): GetCACert's answer, and what a CertRep envelope holds. The
    certificates are a SET OF: asn1crypto writes them in DER's order, not in the order given."""
    signed = cms.SignedData({"version": "v1", "digest_algorithms": [], "encap_content_info": {"content_type": "data"},
                             "certificates": [asn1_x509.Certificate.load(der) for der in certificates],
                             "signer_infos": []})
    return cms.ContentInfo({"content_type": "signed_data", "content": signed}).dump()


def certificates_of(der: bytes) -> list[bytes]:
    """The certificates (DER) of a SignedData, in the order it holds them. Raises ValueError."""
    info = cms.ContentInfo.load(der, strict=True)
    if info["content_type"].native != "signed_data":
        raise ValueError("not a SignedData")
    return [c.chosen.dump() for c in (info["content"]["certificates"] or []) if c.name == "certificate"]


# ---- helpers ----------------------------------------------------------------------------------------------
def _printable(text: str) -> _ScepString:
    return _ScepString({"printable": text})


def _cipher_key(key: bytes) -> bytes:
    """Single DES is 3DES with one key three times (cryptography deprecates the 8-byte form)."""
    return key * 3 if len(key) == 8 else key


def _digest(name: str, data: bytes) -> bytes:
    digest = hashes.Hash(_DIGESTS[name]())
    digest.update(data)
    return digest.finalize()


def _short(exc: Exception) -> str:
    return str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
