"""X.509 building blocks of the CA: keys, serials, CA and leaf certificates, CRLs and OCSP responses.

Pure functions over cryptography's x509/ocsp APIs (and asn1crypto for CRLs: see that section): time, serials
and keys come in as arguments, nothing here does I/O or logs. The shapes follow CA/Browser Forum BR 2.2.x
(DESIGN §6); `services/ca/lint.py` checks them before anything is signed with a real CA key (see `tbs_for_lint`
and `throwaway_key_for`).
"""
from __future__ import annotations

import datetime as dt
import enum
import hashlib
import ipaddress
import operator
import secrets
from dataclasses import dataclass

from asn1crypto import algos as asn1_algos
from asn1crypto import core as asn1_core
from asn1crypto import crl as asn1_crl
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from contracts.ca import REVOCATION_REASONS

ANY_POLICY = "2.5.29.32.0"
POLICY_DV = "2.23.140.1.2.1"
POLICY_OV = "2.23.140.1.2.2"
SERIAL_BITS = 159            # BR 7.1: ≥ 64 CSPRNG bits; 159 keeps the DER INTEGER positive within 20 octets


class KeyAlgorithm(enum.StrEnum):
    EC_P256 = "ec-p256"
    EC_P384 = "ec-p384"
    RSA_3072 = "rsa-3072"
    RSA_4096 = "rsa-4096"


DEFAULT_KEY_ALGORITHM = KeyAlgorithm.EC_P256
_CURVES = {KeyAlgorithm.EC_P256: ec.SECP256R1, KeyAlgorithm.EC_P384: ec.SECP384R1}
_RSA_BITS = {KeyAlgorithm.RSA_3072: 3072, KeyAlgorithm.RSA_4096: 4096}


# ---- keys and serials -------------------------------------------------------------------------------------
def generate_key(alg: KeyAlgorithm | str = DEFAULT_KEY_ALGORITHM):
    """A new CA private key of `alg` (ValueError for an unknown name)."""
    alg = KeyAlgorithm(alg)
    if alg in _CURVES:
        return ec.generate_private_key(_CURVES[alg]())
    return rsa.generate_private_key(public_exponent=65537, key_size=_RSA_BITS[alg])


def key_algorithm(key) -> str:
    """The name of a private or public key's algorithm: "ec-p256", "ec-p384", "ec-p521", "rsa-2048", ..."""
    public = key.public_key() if hasattr(key, "public_key") else key
    if isinstance(public, ec.EllipticCurvePublicKey):
        return {"secp256r1": "ec-p256", "secp384r1": "ec-p384", "secp521r1": "ec-p521"}.get(
            public.curve.name, f"ec-{public.curve.name}")
    if isinstance(public, rsa.RSAPublicKey):
        return f"rsa-{public.key_size}"
    raise ValueError(f"unsupported key type {type(public).__name__}")


def new_serial() -> int:
    """A certificate serial: 159 bits from `secrets`, never 0, so DER encodes it in at most 20 octets."""
    while True:
        serial = secrets.randbits(SERIAL_BITS)
        if serial:
            return serial


def validity_end(not_before: dt.datetime, days: int) -> dt.datetime:
    """notAfter for a validity of exactly `days`: RFC 5280 counts both ends (inclusive), so a certificate with
    notAfter = notBefore + 200 days is valid for 200 days and 1 second, which the BR 200-day limit refuses."""
    return not_before + dt.timedelta(days=days) - dt.timedelta(seconds=1)


def signature_hash(key) -> hashes.HashAlgorithm:
    """The digest BR 7.1.3.2 pairs with the signing key: SHA-384 for P-384, SHA-512 for P-521, else SHA-256
    (RSA signs PKCS#1 v1.5, cryptography's default padding for RSA)."""
    public = key.public_key() if hasattr(key, "public_key") else key
    if isinstance(public, ec.EllipticCurvePublicKey):
        return {"secp384r1": hashes.SHA384(), "secp521r1": hashes.SHA512()}.get(public.curve.name, hashes.SHA256())
    if isinstance(public, rsa.RSAPublicKey):
        return hashes.SHA256()
    raise ValueError(f"unsupported signing key type {type(public).__name__}")


def _sign_kwargs(key) -> dict:
    if isinstance(key, rsa.RSAPrivateKey):
        return {"rsa_padding": padding.PKCS1v15()}
    return {}


_THROWAWAY_KEYS: dict[str, object] = {}


def throwaway_key_for(public_key):
    """A private key of the same algorithm and size as `public_key`, made once per process and kept for signing
    documents that are only linted (certificates, CRLs, OCSP responses). Never a CA key, never stored."""
    alg = key_algorithm(public_key)
    key = _THROWAWAY_KEYS.get(alg)
    if key is None:
        if isinstance(public_key, ec.EllipticCurvePublicKey):
            key = ec.generate_private_key(type(public_key.curve)())
        else:
            key = rsa.generate_private_key(public_exponent=65537, key_size=public_key.key_size)
        key = _THROWAWAY_KEYS.setdefault(alg, key)
    return key


# ---- names and extensions ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class CaUrls:
    """Where relying parties find the revocation status and certificate of a certificate's ISSUER."""

    crl_url: str | None = None
    ocsp_url: str | None = None
    ca_issuers_url: str | None = None

    @classmethod
    def of(cls, base_url: str, issuer_ca_id: str) -> CaUrls:
        """The URLs Certplane publishes for the CA `issuer_ca_id`: its CRL, the shared OCSP responder, its cert.
        An issuing CA's certificate gets `CaUrls.of(base, root_id)`; its leaves `CaUrls.of(base, issuing_id)`."""
        base = base_url.rstrip("/")
        return cls(f"{base}/crl/{issuer_ca_id}.crl", f"{base}/ocsp", f"{base}/ca/{issuer_ca_id}.crt")


def _ca_name(name: str, organization: str, country: str | None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COUNTRY_NAME, country)] if country else []
    attributes += [x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
                   x509.NameAttribute(NameOID.COMMON_NAME, name)]
    return x509.Name(attributes)


def _url_extensions(urls: CaUrls) -> list[tuple[x509.ExtensionType, bool]]:
    extensions = []
    access = []
    if urls.ocsp_url:
        access.append(x509.AccessDescription(x509.AuthorityInformationAccessOID.OCSP,
                                             x509.UniformResourceIdentifier(urls.ocsp_url)))
    if urls.ca_issuers_url:
        access.append(x509.AccessDescription(x509.AuthorityInformationAccessOID.CA_ISSUERS,
                                             x509.UniformResourceIdentifier(urls.ca_issuers_url)))
    if access:
        extensions.append((x509.AuthorityInformationAccess(access), False))
    if urls.crl_url:
        point = x509.DistributionPoint([x509.UniformResourceIdentifier(urls.crl_url)], None, None, None)
        extensions.append((x509.CRLDistributionPoints([point]), False))
    return extensions


def _policies(oids) -> x509.CertificatePolicies:
    return x509.CertificatePolicies([x509.PolicyInformation(x509.ObjectIdentifier(oid), None) for oid in oids])


_CA_KEY_USAGE = x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                              data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                              encipher_only=False, decipher_only=False)


def _with_extensions(builder: x509.CertificateBuilder, extensions) -> x509.CertificateBuilder:
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical=critical)
    return builder


# ---- CA certificates --------------------------------------------------------------------------------------
def build_root(key, name: str, now: dt.datetime, days: int, urls: CaUrls = CaUrls(), *,
               organization: str = "Certplane", country: str | None = None,
               path_length: int | None = None) -> x509.Certificate:
    """A self-signed root: CA:true (pathLen `path_length`, None or 1), keyCertSign+cRLSign+digitalSignature,
    SKI and an AKI equal to it (BR 7.1.2.1.3 recommends one). BR 7.1.2.1 discourages AIA/CRLDP on a root: leave
    `urls` empty unless relying parties need them. BR 7.1.2.10.2 wants a `country` in a CA's subject, and BR
    6.3.2 a root validity of 2922-9132 days; otherwise the serverauth lint reports errors."""
    subject = _ca_name(name, organization, country)
    public = key.public_key()
    ski = x509.SubjectKeyIdentifier.from_public_key(public)
    builder = x509.CertificateBuilder(
        issuer_name=subject, subject_name=subject, public_key=public, serial_number=new_serial(),
        not_valid_before=now, not_valid_after=validity_end(now, days))
    builder = _with_extensions(builder, [
        (x509.BasicConstraints(ca=True, path_length=path_length), True),
        (_CA_KEY_USAGE, True),
        (ski, False),
        (x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), False),
        *_url_extensions(urls),
    ])
    return builder.sign(key, signature_hash(key), **_sign_kwargs(key))


def build_issuing(key, root_key, root_cert: x509.Certificate, name: str, now: dt.datetime, days: int,
                  urls: CaUrls, *, organization: str = "Certplane", country: str | None = None,
                  extended_key_usage=("server_auth", "client_auth"),
                  certificate_policies=(ANY_POLICY,)) -> x509.Certificate:
    """An issuing CA signed by the root: CA:true pathLen 0, keyCertSign+cRLSign+digitalSignature, SKI, AKI,
    `urls` (the ROOT's CRL, OCSP and certificate: `CaUrls.of(base, root_id)`), EKU and certificatePolicies as
    BR 7.1.2.6 requires of a TLS subordinate CA (anyPolicy is allowed for the CA operator's own sub-CA)."""
    public = key.public_key()
    builder = x509.CertificateBuilder(
        issuer_name=root_cert.subject, subject_name=_ca_name(name, organization, country), public_key=public,
        serial_number=new_serial(), not_valid_before=now, not_valid_after=validity_end(now, days))
    extensions = [
        (x509.BasicConstraints(ca=True, path_length=0), True),
        (_CA_KEY_USAGE, True),
        (x509.SubjectKeyIdentifier.from_public_key(public), False),
        (_authority_key_id(root_cert), False),
        *_url_extensions(urls),
    ]
    if certificate_policies:
        extensions.append((_policies(certificate_policies), False))
    if extended_key_usage:
        extensions.append((_eku(extended_key_usage), False))
    return _with_extensions(builder, extensions).sign(root_key, signature_hash(root_key), **_sign_kwargs(root_key))


def _authority_key_id(issuer_cert: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    ski = issuer_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


# ---- leaf certificates ------------------------------------------------------------------------------------
_EKU_OIDS = {"server_auth": ExtendedKeyUsageOID.SERVER_AUTH, "client_auth": ExtendedKeyUsageOID.CLIENT_AUTH,
             "code_signing": ExtendedKeyUsageOID.CODE_SIGNING,
             "email_protection": ExtendedKeyUsageOID.EMAIL_PROTECTION}
KEY_USAGE_NAMES = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
                   "key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only")
_SUBJECT_FIELDS = (("country", NameOID.COUNTRY_NAME), ("state", NameOID.STATE_OR_PROVINCE_NAME),
                   ("locality", NameOID.LOCALITY_NAME), ("organization", NameOID.ORGANIZATION_NAME),
                   ("organizational_unit", NameOID.ORGANIZATIONAL_UNIT_NAME), ("common_name", NameOID.COMMON_NAME))


class SanKind(enum.StrEnum):
    DNS = "dns"
    IP = "ip"
    EMAIL = "email"


@dataclass(frozen=True)
class San:
    value: str
    kind: SanKind = SanKind.DNS

    def __post_init__(self):
        object.__setattr__(self, "kind", SanKind(self.kind))

    def general_name(self) -> x509.GeneralName:
        if self.kind is SanKind.IP:
            return x509.IPAddress(ipaddress.ip_address(self.value))
        if self.kind is SanKind.EMAIL:
            return x509.RFC822Name(self.value)
        return x509.DNSName(self.value)


def _san(san) -> San:
    """A San from a San, a bare DNS name, or a (kind, value) pair."""
    if isinstance(san, San):
        return san
    if isinstance(san, str):
        return San(san)
    kind, value = san
    return San(value, SanKind(kind))


@dataclass(frozen=True)
class LeafSpec:
    """Everything a leaf certificate says. `sans` items are San, a DNS name, or ("dns"|"ip"|"email", value);
    collections are stored as tuples/frozensets. `key_usage` None or empty means the usual for the key
    (digitalSignature, plus keyEncipherment for RSA); `certificate_policies` None means the CA/B Forum OV policy
    when `organization` is set, else DV, for a serverAuth certificate, and none otherwise. `urls` are the issuing
    CA's. Use `validity_end` for not_after: validity is inclusive of both ends. `common_name_is_a_san` False: the
    CN names the subject without being one of the SANs (a code-signing subscriber's name, a device name that is
    not a DNS name); otherwise it must be one of them (DNS name, IP address or mailbox address)."""

    public_key: object
    serial: int
    not_before: dt.datetime
    not_after: dt.datetime
    sans: tuple[San, ...] = ()
    common_name: str | None = None
    organization: str | None = None
    organizational_unit: str | None = None
    country: str | None = None
    state: str | None = None
    locality: str | None = None
    key_usage: frozenset[str] | None = None
    extended_key_usage: tuple[str, ...] = ("server_auth",)
    urls: CaUrls = CaUrls()
    certificate_policies: tuple[str, ...] | None = None
    common_name_is_a_san: bool = True

    def __post_init__(self):
        object.__setattr__(self, "sans", tuple(_san(san) for san in self.sans))
        if self.key_usage is not None:
            object.__setattr__(self, "key_usage", frozenset(self.key_usage))
        object.__setattr__(self, "extended_key_usage", tuple(self.extended_key_usage))
        if self.certificate_policies is not None:
            object.__setattr__(self, "certificate_policies", tuple(self.certificate_policies))

    def subject(self) -> x509.Name:
        return x509.Name([x509.NameAttribute(oid, getattr(self, field))
                          for field, oid in _SUBJECT_FIELDS if getattr(self, field)])


def default_key_usage(public_key) -> frozenset[str]:
    """digitalSignature, plus keyEncipherment for RSA (TLS 1.2 RSA key exchange); ECDSA keys never encipher."""
    if isinstance(public_key, rsa.RSAPublicKey):
        return frozenset({"digital_signature", "key_encipherment"})
    return frozenset({"digital_signature"})


def leaf_policies(spec: LeafSpec) -> tuple[str, ...]:
    """The policy OIDs the leaf will carry (see LeafSpec)."""
    if spec.certificate_policies is not None:
        return tuple(spec.certificate_policies)
    if "server_auth" in spec.extended_key_usage:
        return (POLICY_OV if spec.organization else POLICY_DV,)
    return ()


def _key_usage(names) -> x509.KeyUsage:
    unknown = set(names) - set(KEY_USAGE_NAMES)
    if unknown:
        raise ValueError(f"unknown key usage {sorted(unknown)}; known: {', '.join(KEY_USAGE_NAMES)}")
    return x509.KeyUsage(**{name: name in names for name in KEY_USAGE_NAMES})


def _eku(names) -> x509.ExtendedKeyUsage:
    unknown = [name for name in names if name not in _EKU_OIDS]
    if unknown:
        raise ValueError(f"unknown extended key usage {unknown}; known: {', '.join(_EKU_OIDS)}")
    return x509.ExtendedKeyUsage([_EKU_OIDS[name] for name in names])


def _check_common_name(spec: LeafSpec) -> None:
    if spec.common_name is None or not spec.common_name_is_a_san:
        return
    if not any(san.value.lower() == spec.common_name.lower() for san in spec.sans):
        raise ValueError(f"the common name {spec.common_name!r} is not one of the subject alternative names")


def _leaf_builder(spec: LeafSpec, issuer_cert: x509.Certificate) -> x509.CertificateBuilder:
    _check_common_name(spec)
    subject = spec.subject()
    key_usage = spec.key_usage or default_key_usage(spec.public_key)
    extensions = [(x509.BasicConstraints(ca=False, path_length=None), True),
                  (_key_usage(key_usage), True)]
    if spec.extended_key_usage:
        extensions.append((_eku(spec.extended_key_usage), False))
    if spec.sans:
        extensions.append((x509.SubjectAlternativeName([san.general_name() for san in spec.sans]),
                           len(subject) == 0))
    elif "server_auth" in spec.extended_key_usage:
        raise ValueError("a serverAuth certificate needs at least one subject alternative name")
    extensions += [(x509.SubjectKeyIdentifier.from_public_key(spec.public_key), False),
                   (_authority_key_id(issuer_cert), False),
                   *_url_extensions(spec.urls)]
    policies = leaf_policies(spec)
    if policies:
        extensions.append((_policies(policies), False))
    builder = x509.CertificateBuilder(
        issuer_name=issuer_cert.subject, subject_name=subject, public_key=spec.public_key,
        serial_number=spec.serial, not_valid_before=spec.not_before, not_valid_after=spec.not_after)
    return _with_extensions(builder, extensions)


def build_leaf(spec: LeafSpec, issuer_cert: x509.Certificate, issuer_key) -> x509.Certificate:
    """The leaf described by `spec`, signed by the issuing CA. Validity is exactly spec.not_before..not_after
    (no backdating here). ValueError if the common name is not a SAN or a serverAuth leaf has no SAN."""
    return _leaf_builder(spec, issuer_cert).sign(issuer_key, signature_hash(issuer_key), **_sign_kwargs(issuer_key))


def tbs_for_lint(spec: LeafSpec, issuer_cert: x509.Certificate) -> bytes:
    """DER of the certificate `build_leaf(spec, issuer_cert, ...)` will make, for pkilint to check BEFORE the CA
    key signs anything. pkilint lints whole certificates, so this one is signed with a throwaway key of the
    issuer's algorithm and size (`throwaway_key_for`): the signature bytes differ, but every linted field —
    tbsCertificate including its signature AlgorithmIdentifier, and the outer signatureAlgorithm — is identical.
    The real signature is made only after the lint passes."""
    issuer_public = issuer_cert.public_key()
    key = throwaway_key_for(issuer_public)
    cert = _leaf_builder(spec, issuer_cert).sign(key, signature_hash(issuer_public), **_sign_kwargs(key))
    return cert.public_bytes(serialization.Encoding.DER)


# ---- CRLs -------------------------------------------------------------------------------------------------
# A big CRL is almost all revokedCertificates, so each entry is encoded ONCE, when its revocation is recorded in
# the ca's read model (`crl_entry`, with asn1crypto: ~0.1 ms), and stored as DER. Publishing reads the stored
# entries and puts their bytes, unchanged, between the CRL's other fields (`crl_tbs`), then signs (`sign_crl`):
# per entry, nothing but a copy. cryptography's CertificateRevocationListBuilder, which builds an object per
# entry, needed 9-15 s for 1,000,000 entries on a 2-core box; this takes well under a second (bench/README.md).
_GENERALIZED_TIME_FROM = dt.datetime(2050, 1, 1, tzinfo=dt.timezone.utc)
# crlEntryExtensions with only a non-critical reasonCode, one per reason, encoded once: building them per entry
# was three quarters of `crl_entry`'s time
_REASON_EXTENSIONS = {
    reason: asn1_crl.CRLEntryExtensions([{"extn_id": "crl_reason", "critical": False, "extn_value": reason}]).dump()
    for reason in REVOCATION_REASONS if reason != "unspecified"
}


def _aware(moment: dt.datetime) -> dt.datetime:
    if moment.tzinfo is None:
        raise ValueError("times must be timezone-aware UTC")
    return moment


def _time(moment: dt.datetime) -> asn1_x509.Time:
    """RFC 5280 5.1.2.4: UTCTime through 2049, GeneralizedTime from 2050; in UTC, whole seconds."""
    moment = _aware(moment).astimezone(dt.timezone.utc).replace(microsecond=0)
    return asn1_x509.Time({"utc_time" if moment < _GENERALIZED_TIME_FROM else "general_time": moment})


def crl_entry(serial: int, revoked_at: dt.datetime, reason: str) -> bytes:
    """DER of one element of a CRL's revokedCertificates (RFC 5280 5.1.2.6): the serial, the revocation time, and
    a non-critical reasonCode — left out for "unspecified", as RFC 5280 5.3.1 and BR 7.2.2 ask. ValueError for a
    reason not in REVOCATION_REASONS, a naive time or a serial below 1."""
    if reason not in REVOCATION_REASONS:
        raise ValueError(f"unknown revocation reason {reason!r}; known: {', '.join(REVOCATION_REASONS)}")
    if serial < 1:
        raise ValueError(f"a serial number is positive, not {serial}")
    fields = {"user_certificate": serial, "revocation_date": _time(revoked_at)}
    if reason != "unspecified":
        fields["crl_entry_extensions"] = asn1_crl.CRLEntryExtensions.load(_REASON_EXTENSIONS[reason])
    return asn1_crl.RevokedCertificate(fields).dump()


def _signature_algorithm(public_key) -> asn1_algos.SignedDigestAlgorithm:
    """The AlgorithmIdentifier of `sign_crl`'s signature: ecdsa-with-SHA256/384/512 without parameters
    (RFC 5758 3.2), sha256WithRSAEncryption with NULL parameters (RFC 4055 5)."""
    digest = signature_hash(public_key).name
    if isinstance(public_key, rsa.RSAPublicKey):
        return asn1_algos.SignedDigestAlgorithm({"algorithm": f"{digest}_rsa", "parameters": asn1_core.Null()})
    return asn1_algos.SignedDigestAlgorithm({"algorithm": f"{digest}_ecdsa"})


def _sequence_header(length: int) -> bytes:
    """The tag and length octets of a DER SEQUENCE of `length` content octets (X.690 8.1.3: one length octet
    below 128, else 0x80 + how many octets follow, then the length big-endian). Written here because the
    entries are never asn1crypto objects: asn1crypto would have to hold and walk a million of them."""
    if length < 0x80:
        return bytes((0x30, length))
    octets = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes((0x30, 0x80 | len(octets))) + octets


def crl_tbs(issuer_cert: x509.Certificate, entries: list[bytes], crl_number: int, this_update: dt.datetime,
            next_update: dt.datetime) -> bytes:
    """DER of a TBSCertList (RFC 5280 5.1.2): v2, the signature algorithm `sign_crl` will use for the issuer's
    key, the issuer's subject, thisUpdate, nextUpdate, the revokedCertificates, and CRLNumber and AKI (both
    non-critical). `entries` are DER made by `crl_entry`, in chunks of one or more whole entries, and go in as
    they are, in their order; with none the list is left out, as RFC 5280 5.1.2.6 asks. Every field but the
    list is encoded by asn1crypto; only the SEQUENCE headers of the list and of the whole are written here."""
    fields = asn1_crl.TbsCertList({
        "version": "v2",
        "signature": _signature_algorithm(issuer_cert.public_key()),
        "issuer": asn1_x509.Name.load(issuer_cert.subject.public_bytes()),
        "this_update": _time(this_update),
        "next_update": _time(next_update),
        "crl_extensions": [
            {"extn_id": "crl_number", "critical": False, "extn_value": crl_number},
            {"extn_id": "authority_key_identifier", "critical": False,
             "extn_value": asn1_x509.AuthorityKeyIdentifier.load(_authority_key_id(issuer_cert).public_bytes())},
        ],
    })
    head = b"".join(fields[name].dump() for name in ("version", "signature", "issuer", "this_update", "next_update"))
    tail = fields["crl_extensions"].dump()
    listed = sum(map(len, entries))
    revoked = [_sequence_header(listed), *entries] if listed else []
    size = len(head) + sum(map(len, revoked)) + len(tail)
    return b"".join([_sequence_header(size), head, *revoked, tail])


def sign_crl(tbs: bytes, issuer_key) -> bytes:
    """DER of the CertificateList (RFC 5280 5.1.1) of `tbs` (from `crl_tbs` for this key's certificate), signed
    with `issuer_key` through cryptography as BR 7.1.3.2 pairs digest and key (`signature_hash`; RSA with PKCS#1
    v1.5, ECDSA's signature as its DER Ecdsa-Sig-Value)."""
    digest = signature_hash(issuer_key)
    if isinstance(issuer_key, rsa.RSAPrivateKey):
        signature = issuer_key.sign(tbs, padding.PKCS1v15(), digest)
    elif isinstance(issuer_key, ec.EllipticCurvePrivateKey):
        signature = issuer_key.sign(tbs, ec.ECDSA(digest))
    else:
        raise ValueError(f"unsupported signing key type {type(issuer_key).__name__}")
    algorithm = _signature_algorithm(issuer_key.public_key()).dump()
    bits = asn1_core.OctetBitString(signature).dump()
    return b"".join([_sequence_header(len(tbs) + len(algorithm) + len(bits)), tbs, algorithm, bits])


def build_crl(issuer_cert: x509.Certificate, issuer_key, revoked, crl_number: int, this_update: dt.datetime,
              next_update: dt.datetime) -> x509.CertificateRevocationList:
    """A CRL over `revoked` — (serial, revoked_at, reason) triples, reason one of REVOCATION_REASONS — made the
    way the ca publishes one (`crl_entry`, `crl_tbs`, `sign_crl`), in their order. For a few entries (tests, an
    ARL); the ca's CRLs are made from the entries stored in its read model."""
    tbs = crl_tbs(issuer_cert, [crl_entry(*entry) for entry in revoked], crl_number, this_update, next_update)
    return x509.load_der_x509_crl(sign_crl(tbs, issuer_key))


class CrlEntries:
    """The entries of one CRL, gathered batch by batch as they are read (`add`): their bytes in chunks for
    `crl_tbs`, how many there are, and one entry of each shape for `crl_for_lint` (`lint_sample`). An entry's
    shape is its encoded length (so each serial length and Time type) and its last octet (the reasonCode's
    value, or the "Z" of the time when there is none). Per entry this costs a copy and a dict update, in C
    (join, map, zip, dict.update): ~0.1 s for a million."""

    def __init__(self):
        self.chunks: list[bytes] = []
        self.count = 0
        self._shapes: dict[tuple[int, int], bytes] = {}

    @classmethod
    def of(cls, entries: list[bytes]) -> CrlEntries:
        gathered = cls()
        gathered.add(entries)
        return gathered

    def add(self, batch: list[bytes]) -> None:
        if batch:
            self.chunks.append(b"".join(batch))
            self.count += len(batch)
            self._shapes.update(zip(zip(map(len, batch), map(_last_octet, batch)), batch))

    def lint_sample(self) -> list[bytes]:
        """One entry of each shape. Every entry is made by the same code (`crl_entry`), so these show pkilint
        every kind of entry the whole list has."""
        return [self._shapes[shape] for shape in sorted(self._shapes)]


_last_octet = operator.itemgetter(-1)


def crl_for_lint(issuer_cert: x509.Certificate, sample: list[bytes], crl_number: int, this_update: dt.datetime,
                 next_update: dt.datetime) -> bytes:
    """DER of the CRL the ca is about to sign, for pkilint BEFORE the CA key signs it: the same fields, built by
    the same code, listing only `sample` (CrlEntries.lint_sample: the stored bytes themselves) and signed with a
    throwaway key of the issuer's algorithm (see `tbs_for_lint`). pkilint needs about 0.5 ms per entry, so
    linting a full 100,000-entry CRL would take ~50 s of CPU, a million ~8 minutes."""
    tbs = crl_tbs(issuer_cert, sample, crl_number, this_update, next_update)
    return sign_crl(tbs, throwaway_key_for(issuer_cert.public_key()))


# ---- OCSP -------------------------------------------------------------------------------------------------
class OcspMalformed(ValueError):
    """The bytes are not one OCSP request Certplane can answer."""


@dataclass(frozen=True)
class OcspQuery:
    serial: int
    issuer_name_hash: bytes
    issuer_key_hash: bytes
    hash_algorithm: str               # cryptography's name: "sha1", "sha256", ...
    nonce: bytes | None


_OCSP_HASHES = {"sha1": hashes.SHA1, "sha224": hashes.SHA224, "sha256": hashes.SHA256, "sha384": hashes.SHA384,
                "sha512": hashes.SHA512}
_OCSP_ERRORS = {"malformed": ocsp.OCSPResponseStatus.MALFORMED_REQUEST,
                "unauthorized": ocsp.OCSPResponseStatus.UNAUTHORIZED,
                "internal": ocsp.OCSPResponseStatus.INTERNAL_ERROR,
                "try_later": ocsp.OCSPResponseStatus.TRY_LATER}
_OCSP_STATUS = {"good": ocsp.OCSPCertStatus.GOOD, "revoked": ocsp.OCSPCertStatus.REVOKED,
                "unknown": ocsp.OCSPCertStatus.UNKNOWN}


def parse_ocsp_request(der: bytes) -> OcspQuery:
    """The single CertID (and nonce) of a DER OCSPRequest; OcspMalformed for anything else (cryptography
    refuses requests with more than one CertID)."""
    try:
        request = ocsp.load_der_ocsp_request(der)
        algorithm = request.hash_algorithm.name
        nonce = _nonce(request.extensions)
        return OcspQuery(request.serial_number, request.issuer_name_hash, request.issuer_key_hash, algorithm, nonce)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise OcspMalformed(f"not an OCSP request Certplane can answer: {exc}") from None


def _nonce(extensions: x509.Extensions) -> bytes | None:
    try:
        return extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
    except x509.ExtensionNotFound:
        return None


def _hash_algorithm(name: str) -> hashes.HashAlgorithm:
    try:
        return _OCSP_HASHES[name]()
    except KeyError:
        raise OcspMalformed(f"unsupported CertID hash algorithm {name!r}") from None


def _public_key_bits(public_key) -> bytes:
    """The contents of SubjectPublicKeyInfo.subjectPublicKey, which OCSP's issuerKeyHash covers (RFC 6960 4.1.1)."""
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return public_key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    if isinstance(public_key, rsa.RSAPublicKey):
        return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    raise ValueError(f"unsupported CA key type {type(public_key).__name__}")


def issuer_matches(query: OcspQuery, issuer_cert: x509.Certificate) -> bool:
    """Whether the query's CertID names `issuer_cert` (name hash and key hash, in the query's hash algorithm)."""
    name = query.hash_algorithm
    if name not in _OCSP_HASHES:
        return False
    name_hash = hashlib.new(name, issuer_cert.subject.public_bytes()).digest()
    key_hash = hashlib.new(name, _public_key_bits(issuer_cert.public_key())).digest()
    return name_hash == query.issuer_name_hash and key_hash == query.issuer_key_hash


def build_ocsp_response(query: OcspQuery, issuer_cert: x509.Certificate, responder_cert: x509.Certificate,
                        responder_key, status: str, revoked_at: dt.datetime | None, reason: str | None,
                        this_update: dt.datetime, next_update: dt.datetime) -> bytes:
    """A successful, signed BasicOCSPResponse (RFC 6960) for the query's CertID: `status` "good", "revoked"
    (with `revoked_at` and `reason`, "unspecified" leaves the reason out) or "unknown"; responder ID by key
    hash; the query's nonce echoed; the responder's certificate included when it is not the issuer itself.
    Signed with SHA-256 (SHA-384 for a P-384 responder key, as BR 7.1.3.2 pairs them)."""
    cert_status = _OCSP_STATUS[status]
    revocation_time = _aware(revoked_at) if cert_status is ocsp.OCSPCertStatus.REVOKED else None
    revocation_reason = None
    if revocation_time is not None and reason and reason != "unspecified":
        revocation_reason = x509.ReasonFlags[reason]
    builder = ocsp.OCSPResponseBuilder().add_response_by_hash(
        issuer_name_hash=query.issuer_name_hash, issuer_key_hash=query.issuer_key_hash,
        serial_number=query.serial, algorithm=_hash_algorithm(query.hash_algorithm), cert_status=cert_status,
        this_update=this_update, next_update=next_update, revocation_time=revocation_time,
        revocation_reason=revocation_reason)
    builder = builder.responder_id(ocsp.OCSPResponderEncoding.HASH, responder_cert)
    if responder_cert != issuer_cert:
        builder = builder.certificates([responder_cert])
    if query.nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(query.nonce), critical=False)
    response = builder.sign(responder_key, signature_hash(responder_key))
    return response.public_bytes(serialization.Encoding.DER)


def ocsp_error(kind: str) -> bytes:
    """An unsigned OCSPResponse with only an error status: "malformed", "unauthorized", "internal", "try_later"."""
    return ocsp.OCSPResponseBuilder.build_unsuccessful(_OCSP_ERRORS[kind]).public_bytes(serialization.Encoding.DER)
