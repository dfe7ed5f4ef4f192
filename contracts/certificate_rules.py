"""What a certificate may say: the key, name, validity and usage rules, in one pure module (DESIGN §6).

enrollment calls these for its early answer (a 4xx before anything is recorded); the ca calls them again on what
it is asked to sign, and refuses with the same codes — so a buggy or compromised enrollment path (REST, ACME,
SCEP, EST, forms) cannot get a certificate no rule allows. Pure: no I/O, no clock (`now` comes in).

Trust classes of TLS profiles:
- `private` (the default): a company's own PKI. Internal names (`host.corp.internal`, `printer.lan`, `intranet`,
  wildcards under them), IPv4 and IPv6 iPAddress SANs, the department as OU, CRL/OCSP links on any host. Linted
  against RFC 5280 (pkilint's PKIX certificate profile). Validity at most MAX_TERM_DAYS (398).
- `public`: the CA/Browser Forum TLS BR in full — pkilint's serverauth lint, validity within BR 6.3.2 (200 days,
  100 from 2027-03-15, 47 from 2029-03-15), LDH names under public suffixes only (no internal names, no IP
  addresses), no OU, the CSR lists its names in subjectAltName, and a subject CN of at most 64 characters.
The other certificate types are private (their trust class is always `private`) and each has its own rules:
- `client` (S/MIME and client authentication, for persons): mailbox-validated S/MIME per the CA/B Forum S/MIME BR —
  1..10 rfc822Name SANs (`emails`) and no DNS name or IP address; the CN, when there is one, is one of the emails;
  no O/OU/L/ST/C in the subject (mailbox-validated). Linted by pkilint's `cabf.smime` ("smime").
- `code_signing` (CS BR): the CN is the subscriber's name (free text, not a DNS name), no SAN; the subject has the
  organization, the country and the locality or state (CS BR 7.1.4.2.2, `check_subject`); RSA ≥ 3072 or ECDSA
  P-256/P-384 (CS BR 6.1.5); validity ≤ 460 days (CS BR 6.3.2). Linted "codesigning" (services/ca/lint.py).
- `device`: DNS names and IP addresses as TLS has; the CN may instead be a device name that is not a DNS name
  (then it is in the subject only); a CN or a SAN is needed. Linted against RFC 5280.
Every type's validity is at most MAX_TERM_DAYS (398, the longest term a profile offers) and its own BR ceiling
(TYPE_MAX_VALIDITY_DAYS: S/MIME BR 6.3.2 825 days, CS BR 6.3.2 460 days) — so 398 for every private certificate
today; the lint checks the BR ceiling again.

For every certificate: keys RSA ≥ 2048 bits with modulus % 8 == 0 and an odd exponent ≥ 3 (≥ 3072 for code
signing), ECDSA on P-256, P-384 or P-521 (P-256/P-384 for code signing); a SAN always present, the CN one of the
SANs or left out (except a code-signing certificate, which has no SAN, and a device's non-DNS name); keyUsage and
extendedKeyUsage within what the type allows (keyEncipherment for RSA keys only, never for code signing).

Refusals: InvalidRequest (400) for what is malformed or unusable whatever the profile; PolicyViolation (422) for
what a rule forbids. Each names the field (`csr`, `sans`, `emails`, `common_name`, `subject`, `term_days`,
`key_usage`, `extended_key_usage`) in its details. The codes of the other types' names (certificate_names):
400 `invalid_email`, `duplicate_email`, `email_required`, `common_name_required` (code signing),
`common_name_invalid`, `name_required` (device); 422 `too_many_emails`, `emails_not_allowed`,
`dns_name_not_allowed` (a DNS name in a client or code-signing certificate; an IP address or a wildcard there keeps
`ip_address_not_allowed` / `wildcard_not_allowed`), `internal_name_not_allowed` (an email in an internal domain),
`common_name_not_in_emails`; and `subject_incomplete` (422, check_subject).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import StrEnum

from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa, x448, x25519

from contracts.access import CERT_TYPES
from contracts.errors import InvalidRequest, PolicyViolation
from contracts.names import base_name, ip_address, is_internal, is_ip_address, is_wildcard, normalise


class TrustClass(StrEnum):
    PRIVATE = "private"
    PUBLIC = "public"


TRUST_CLASSES = tuple(TrustClass)

KEY_TYPES = ("rsa-2048", "rsa-3072", "rsa-4096", "ec-p256", "ec-p384", "ec-p521")
# CS BR 6.1.5: RSA ≥ 3072, ECDSA on P-256 or P-384 (P-521 is not among the CS BR's curves)
CODE_SIGNING_KEY_TYPES = ("rsa-3072", "rsa-4096", "ec-p256", "ec-p384")
KEY_USAGES = ("digital_signature", "key_encipherment", "key_agreement", "content_commitment", "data_encipherment")
EXTENDED_KEY_USAGES = ("server_auth", "client_auth", "code_signing", "email_protection")
EKU_ALLOWED = {"ssl": {"server_auth", "client_auth"}, "client": {"client_auth", "email_protection"},
               "code_signing": {"code_signing"}, "device": {"server_auth", "client_auth"}}
EKU_REQUIRED = {"ssl": {"server_auth"}, "client": set(), "code_signing": {"code_signing"}, "device": set()}
# what a profile may list; keyEncipherment is added per key (RSA only), never listed (see enrollment/profiles.py)
KEY_USAGE_ALLOWED = {"ssl": {"digital_signature"}, "client": {"digital_signature", "content_commitment"},
                     "code_signing": {"digital_signature"}, "device": {"digital_signature"}}
EC_CURVES = {"secp256r1": "ec-p256", "secp384r1": "ec-p384", "secp521r1": "ec-p521"}
MIN_RSA_BITS = 2048
MIN_CODE_SIGNING_RSA_BITS = 3072

MAX_TERM_DAYS = 398                          # every private certificate; the longest term a profile may offer
# the BR ceilings of the other types: S/MIME BR 6.3.2 (multipurpose and strict: 825 days), CS BR 6.3.2 (460 days)
TYPE_MAX_VALIDITY_DAYS = {"client": 825, "code_signing": 460}
MAX_EMAILS = 10                              # rfc822Name SANs of a client certificate
MAX_COMMON_NAME = 64                         # ub-common-name, RFC 5280
# CA/Browser Forum BR 6.3.2 (ballot SC-081), as DESIGN §6 states it: (issued before, at most days), then the last.
BR_VALIDITY_STEPS = ((datetime(2027, 3, 15, tzinfo=timezone.utc), 200),
                     (datetime(2029, 3, 15, tzinfo=timezone.utc), 100))
BR_FINAL_MAX_DAYS = 47

_OTHER_KEYS = ((ed25519.Ed25519PublicKey, "ed25519"), (ed448.Ed448PublicKey, "ed448"),
               (x25519.X25519PublicKey, "x25519"), (x448.X448PublicKey, "x448"), (dsa.DSAPublicKey, "dsa"))


def trust_class_of(cert_type: str, trust_class: str | None) -> TrustClass:
    """The trust class a certificate is issued under: a TLS profile's own (private when unset); every other type
    is private. 400 for an unknown type or class, or a public class outside TLS."""
    if cert_type not in CERT_TYPES:
        raise InvalidRequest(f"unknown certificate type {cert_type!r}", {"cert_type": [f"one of {CERT_TYPES}"]})
    try:
        chosen = TrustClass(trust_class or TrustClass.PRIVATE)
    except ValueError:
        raise InvalidRequest(f"unknown trust class {trust_class!r}", {"trust_class": ["private or public"]}) from None
    if chosen is TrustClass.PUBLIC and cert_type != "ssl":
        raise InvalidRequest(f"only TLS (ssl) certificates have the public trust class, not {cert_type}",
                             {"trust_class": ["public is for ssl only"]}, code="trust_class_not_allowed")
    return chosen


LINT_PROFILES = {"client": "smime", "code_signing": "codesigning", "device": "rfc5280"}


def lint_profile(cert_type: str, trust_class: str | None) -> str:
    """The lint profile a certificate is linted against before it is signed (services/ca/lint.py): "serverauth"
    for public TLS, "rfc5280" for private TLS and device certificates, "smime" (pkilint's cabf.smime) for client
    certificates, "codesigning" (RFC 5280 plus Certplane's CS BR checks) for code signing. The one place that
    decides it."""
    if trust_class_of(cert_type, trust_class) is TrustClass.PUBLIC:
        return "serverauth"
    return LINT_PROFILES.get(cert_type, "rfc5280")


# ---- keys -----------------------------------------------------------------------------------------------------

def key_type_of(public_key) -> str:
    """"rsa-<bits>", "ec-p256", "ec-p384" or "ec-p521" for a key every certificate may have; InvalidRequest
    `csr_key_weak` (a small or odd-sized RSA modulus, a bad exponent) or `csr_key_unsupported` (other curves,
    Ed25519, DSA ...) otherwise. BR 6.1.5 and 6.1.6."""
    if isinstance(public_key, rsa.RSAPublicKey):
        numbers = public_key.public_numbers()
        check_rsa(numbers.n, numbers.e)
        return f"rsa-{public_key.key_size}"
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        if public_key.curve.name not in EC_CURVES:
            raise unsupported_key(f"ec-{public_key.curve.name} keys")
        return EC_CURVES[public_key.curve.name]
    label = next((name for cls, name in _OTHER_KEYS if isinstance(public_key, cls)), type(public_key).__name__)
    raise unsupported_key(f"{label} keys")


def check_rsa(n: int, e: int) -> None:
    bits = n.bit_length()
    if bits < MIN_RSA_BITS:
        raise weak_key(f"RSA key of {bits} bits: at least {MIN_RSA_BITS} are required")
    if bits % 8:
        raise weak_key(f"RSA key of {bits} bits: the modulus size must be a multiple of 8")
    if e < 3 or e % 2 == 0:
        raise weak_key(f"RSA public exponent {e}: it must be odd and at least 3")


def check_key_type(cert_type: str, key_type: str, allowed: tuple[str, ...] | list[str] | None = None,
                   profile_name: str = "") -> None:
    """The key type fits the certificate type (code signing: RSA ≥ 3072) and, given `allowed`, the profile's
    list: else 422 `key_type_not_allowed`."""
    permitted = CODE_SIGNING_KEY_TYPES if cert_type == "code_signing" else KEY_TYPES
    if allowed is not None:
        permitted = tuple(k for k in permitted if k in allowed)
    if key_type not in permitted:
        whose = f"profile {profile_name!r}" if profile_name else f"{cert_type} certificates"
        raise PolicyViolation(f"key type {key_type} is not allowed by {whose}",
                              {"csr": [f"key type {key_type} is not one of {', '.join(permitted)}"]},
                              code="key_type_not_allowed")


def weak_key(reason: str) -> InvalidRequest:
    return InvalidRequest(f"CSR refused: {reason}", {"csr": [reason]}, code="csr_key_weak")


def unsupported_key(keys: str) -> InvalidRequest:
    reason = f"{keys} are not accepted: use RSA (2048, 3072 or 4096 bits) or ECDSA on P-256, P-384 or P-521"
    return InvalidRequest(f"CSR refused: {reason}", {"csr": [reason]}, code="csr_key_unsupported")


# ---- validity -------------------------------------------------------------------------------------------------

def br_max_validity_days(at: datetime) -> int:
    """The longest TLS certificate validity, in days, the BRs allow for a certificate issued at `at`."""
    if at.tzinfo is None:
        raise ValueError("br_max_validity_days needs a timezone-aware datetime")
    for before, days in BR_VALIDITY_STEPS:
        if at < before:
            return days
    return BR_FINAL_MAX_DAYS


def max_validity_days(cert_type: str, trust_class: str | None, now: datetime) -> int:
    """The validity ceiling of a certificate of `cert_type` under `trust_class` issued at `now`: the BR's for
    public TLS; else the lower of MAX_TERM_DAYS and the type's BR ceiling (TYPE_MAX_VALIDITY_DAYS)."""
    if trust_class_of(cert_type, trust_class) is TrustClass.PUBLIC:
        return br_max_validity_days(now)
    return min(MAX_TERM_DAYS, TYPE_MAX_VALIDITY_DAYS.get(cert_type, MAX_TERM_DAYS))


def check_term(cert_type: str, trust_class: str | None, term_days, now: datetime) -> None:
    """400 `term_not_allowed` for what is not a number of days; 422 `term_over_br_limit` (public TLS) or
    `term_over_limit` over the ceiling."""
    if isinstance(term_days, bool) or not isinstance(term_days, int) or term_days < 1:
        raise InvalidRequest(f"term_days: {term_days!r} is not a number of days",
                             {"term_days": [f"{term_days!r} is not a number of days"]}, code="term_not_allowed")
    ceiling = max_validity_days(cert_type, trust_class, now)
    if term_days <= ceiling:
        return
    if trust_class_of(cert_type, trust_class) is TrustClass.PUBLIC:
        raise PolicyViolation(f"term_days: {term_days} days is over the CA/Browser Forum limit of {ceiling} days for "
                              f"TLS certificates issued on {now:%Y-%m-%d}",
                              {"term_days": [f"{term_days}: at most {ceiling} days"]}, code="term_over_br_limit")
    raise PolicyViolation(f"term_days: {term_days} days is over the {ceiling}-day limit for {cert_type} certificates",
                          {"term_days": [f"{term_days}: at most {ceiling} days"]}, code="term_over_limit")


# ---- names ----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Names:
    """The names a certificate gets: the subject CN (or None) and the SANs, CN first; each SAN is a normalised DNS
    name or IP address (`contracts.names.is_ip_address` tells which); `emails` the rfc822Name SANs (client
    certificates only), normalised, the CN (a mailbox address) first when it is one of them. The CN is one of the
    SANs or emails, except a code-signing certificate's (the subscriber's name) and a device name that is not a
    DNS name: both are in the subject only."""
    common_name: str | None
    sans: tuple[str, ...]
    emails: tuple[str, ...] = ()


def normalised_name(field: str, typed: str) -> str:
    """A typed certificate name as stored: an IP address or a DNS name (400 `invalid_ip_address` /
    `invalid_domain_name` naming `field`)."""
    try:
        return ip_address(typed) if is_ip_address(typed) else normalise(typed)
    except InvalidRequest as exc:
        why = (exc.details or {}).get("name", [exc.message])[0]
        raise InvalidRequest(f"{field}: {exc.message}", {field: [f"{typed!r}: {why}"]}, code=exc.code) from None


# RFC 5322 3.2.3 dot-atom (printable ASCII without space, specials or quoting): the simple, strict local part
_LOCAL_PART = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
MAX_LOCAL_PART = 64                          # RFC 5321 4.5.3.1.1
MAX_EMAIL = 254                              # RFC 5321 4.5.3.1.3 (a path of 256 octets less the angle brackets)


def normalised_email(field: str, typed) -> str:
    """A typed mailbox address as stored: its local part as typed (RFC 5321: it may be case-sensitive), its domain
    a DNS name normalised by contracts.names (lower case, A-labels). 400 `invalid_email` naming `field` for
    anything but one '@' between a dot-atom local part of at most 64 characters and a valid domain name that is
    not a wildcard, at most 254 characters in all."""
    def bad(why: str) -> InvalidRequest:
        return InvalidRequest(f"{field}: {typed!r} is not a valid email address: {why}", {field: [f"{typed!r}: {why}"]},
                              code="invalid_email")
    if not isinstance(typed, str) or not typed.strip():
        raise bad("empty")
    text = typed.strip()
    if text.count("@") != 1:
        raise bad("an address has exactly one '@'")
    local, domain = text.split("@")
    if not local or len(local) > MAX_LOCAL_PART:
        raise bad(f"the part before '@' has 1 to {MAX_LOCAL_PART} characters")
    if not _LOCAL_PART.match(local):
        raise bad("the part before '@' is printable ASCII without spaces, quotes, brackets or a leading, trailing "
                  "or double dot")
    try:
        domain = normalise(domain)
    except InvalidRequest as exc:
        raise bad((exc.details or {}).get("name", [exc.message])[0]) from None
    if is_wildcard(domain):
        raise bad("the domain is not a wildcard")
    address = f"{local}@{domain}"
    if len(address) > MAX_EMAIL:
        raise bad(f"longer than {MAX_EMAIL} characters")
    return address


def _printable_name(field: str, typed: str, what: str) -> str:
    """A CN that is not a DNS name (a code-signing subscriber's or a device's name): stripped, at most 64
    characters (400 `common_name_too_long`), without control characters (400 `common_name_invalid`)."""
    if any(not ch.isprintable() for ch in typed):
        raise InvalidRequest(f"{field}: the {what} has control characters", {field: ["printable characters only"]},
                             code="common_name_invalid")
    if len(typed) > MAX_COMMON_NAME:
        raise InvalidRequest(f"{field}: the {what} is {len(typed)} characters, longer than {MAX_COMMON_NAME}",
                             {field: [f"at most {MAX_COMMON_NAME} characters"]}, code="common_name_too_long")
    return typed


def certificate_names(cert_type: str, trust_class: str | None, common_name: str | None, sans,
                      csr_names=(), emails=()) -> Names:
    """The names of a certificate asked for with `common_name` (or None), `sans`, the CSR's `csr_names` (its
    subjectAltName's DNS names and IP addresses) and `emails` (rfc822 addresses), normalised, or the refusal,
    whose details name the field the name came from. Per type:

    ssl and device: the union of the CN, the SANs and the CSR's names, in that order. The CN, when given, is one
    of the SANs (it is added to them); without one, the first SAN that fits in 64 characters becomes the CN — and
    if none fits, the certificate has no CN (RFC 5280 and the BR allow it), except under the public trust class,
    whose certificates carry one. A device's CN may instead be a device name that is not a DNS name (printable,
    ≤ 64): it is then in the subject only; a device certificate needs a CN or a SAN (400 `name_required`).
    client: `emails` (1..10, no repeats, none in an internal domain: 422 `internal_name_not_allowed`) become the
    rfc822Name SANs; the CN is one of them (422 `common_name_not_in_emails`), or with none given the first that
    fits in 64 characters (none fits: no CN, the SAN is then critical); no DNS name or IP
    address (422 `dns_name_not_allowed`, `ip_address_not_allowed`, `wildcard_not_allowed`), from `sans` or the CSR.
    code_signing: the CN is the subscriber's name (400 `common_name_required`), printable text of at most 64
    characters, not read as a DNS name; no SAN of any kind.
    `emails` for any type but client: 422 `emails_not_allowed`.

    Refusals for ssl and device, in order: a name that is neither a DNS name nor an IP address (400); an IP
    address, an internal name under the public class (422 `ip_address_not_allowed`, `internal_name_not_allowed`);
    a wildcard outside TLS (422 `wildcard_not_allowed`); a CN over 64 characters (400 `common_name_too_long`); no
    name at all for TLS (400 `san_required`); public TLS without a CN of at most 64 characters (422
    `common_name_required`)."""
    if isinstance(sans, str):
        raise InvalidRequest("sans must be a list of names", {"sans": ["must be a list of names"]})
    if isinstance(emails, str):
        raise InvalidRequest("emails must be a list of addresses", {"emails": ["must be a list of addresses"]})
    cls = trust_class_of(cert_type, trust_class)
    typed_cn = common_name.strip() if isinstance(common_name, str) and common_name.strip() else None
    if emails and cert_type != "client":
        raise PolicyViolation(f"emails: only client certificates carry email addresses, not {cert_type}",
                              {"emails": [f"not allowed in a {cert_type} certificate"]}, code="emails_not_allowed")
    if cert_type == "client":
        return _client_names(typed_cn, sans or (), csr_names or (), emails or ())
    if cert_type == "code_signing":
        return _code_signing_names(typed_cn, sans or (), csr_names or ())
    device_name = None
    if cert_type == "device" and typed_cn is not None and not _is_host_name(typed_cn):
        device_name, typed_cn = _printable_name("common_name", typed_cn, "device name"), None
    names = _host_names(cert_type, cls, typed_cn, sans or (), csr_names or ())
    if device_name is not None:
        return Names(device_name, names.sans)
    if cert_type == "device" and not names.sans:
        raise InvalidRequest("a device certificate needs a name",
                             {"common_name": ["give a common_name (a device name or a DNS name) or sans"]},
                             code="name_required")
    return names


def _is_host_name(typed: str) -> bool:
    try:
        normalised_name("common_name", typed)
    except InvalidRequest:
        return False
    return True


def _host_names(cert_type: str, cls: TrustClass, typed_cn: str | None, sans, csr_names) -> Names:
    """ssl and device names: DNS names and IP addresses (see certificate_names)."""
    fields: dict[str, str] = {}                    # name -> the field it came from first
    if typed_cn is not None:
        fields[normalised_name("common_name", typed_cn)] = "common_name"
    cn = next(iter(fields), None)
    for field, typed_names in (("sans", sans), ("csr", csr_names)):
        for name in typed_names:
            fields.setdefault(normalised_name(field, name), field)
    names = list(fields)
    for name, field in fields.items():
        _check_name(cert_type, cls, field, name)
    if cn is not None and len(cn) > MAX_COMMON_NAME:
        raise InvalidRequest(f"common_name: {cn} is {len(cn)} characters, longer than {MAX_COMMON_NAME}",
                             {"common_name": [f"{cn}: at most {MAX_COMMON_NAME} characters; leave it out (the "
                                              "certificate then has no CN) or choose a shorter one"]},
                             code="common_name_too_long")
    if not names and cert_type == "ssl":
        raise InvalidRequest("an SSL certificate needs at least one name",
                             {"sans": ["give a common_name or sans (or a CSR that asks for names)"]},
                             code="san_required")
    if cn is None:
        cn = next((name for name in names if len(name) <= MAX_COMMON_NAME), None)
    if cn is None and cls is TrustClass.PUBLIC:
        raise PolicyViolation(f"public TLS certificates carry a common name of at most {MAX_COMMON_NAME} characters, "
                              "and no name fits", {"sans": [f"every name is longer than {MAX_COMMON_NAME} "
                                                            "characters; add a shorter one"]},
                              code="common_name_required")
    if cn is not None:
        names.remove(cn)
        names.insert(0, cn)
    return Names(cn, tuple(names))


def _no_host_names(cert_type: str, named: tuple, instead: str) -> None:
    """A client or code-signing certificate names no host: each (field, typed names) of `named` is refused — an
    IP address (`ip_address_not_allowed`), a wildcard (`wildcard_not_allowed`) or a DNS name
    (`dns_name_not_allowed`), all 422; a name that is none of these 400 as for TLS."""
    for field, typed_names in named:
        for typed in typed_names:
            name = normalised_name(field, typed)
            _check_name(cert_type, TrustClass.PRIVATE, field, name)
            raise PolicyViolation(f"{field}: the DNS name {name} is not allowed in a {cert_type} certificate",
                                  {field: [f"{name}: {cert_type} certificates name no host; {instead}"]},
                                  code="dns_name_not_allowed")


def _client_names(typed_cn: str | None, sans, csr_names, emails) -> Names:
    host_cn = (typed_cn,) if typed_cn is not None and "@" not in typed_cn and _is_host_name(typed_cn) else ()
    _no_host_names("client", (("common_name", host_cn), ("sans", sans), ("csr", csr_names)),
                   "give the mailbox addresses as emails")
    if not emails:
        raise InvalidRequest("a client certificate needs at least one email address",
                             {"emails": ["give 1 to 10 email addresses"]}, code="email_required")
    if len(emails) > MAX_EMAILS:
        raise PolicyViolation(f"emails: {len(emails)} addresses, a client certificate has at most {MAX_EMAILS}",
                              {"emails": [f"{len(emails)} addresses; at most {MAX_EMAILS}"]}, code="too_many_emails")
    addresses: list[str] = []
    for typed in emails:
        address = normalised_email("emails", typed)
        if is_internal(address.split("@")[1]):
            raise PolicyViolation(f"emails: {address} is in an internal domain (its top-level domain is not "
                                  "public), which S/MIME certificates cannot name (CA/B Forum rules; the smime "
                                  "lint refuses it)",
                                  {"emails": [f"{address}: internal domains are not allowed"]},
                                  code="internal_name_not_allowed")
        if address in addresses:
            raise InvalidRequest(f"emails: {address} is listed twice", {"emails": [f"{address}: listed twice"]},
                                 code="duplicate_email")
        addresses.append(address)
    if typed_cn is not None:
        cn = normalised_email("common_name", typed_cn)
        if cn not in addresses:
            raise PolicyViolation(f"common_name: {cn} is not one of the certificate's email addresses (S/MIME BR "
                                  "7.1.4.2.2: a mailbox-validated CN is one of its mailbox addresses)",
                                  {"common_name": [f"{cn}: one of {', '.join(addresses)}, or null"]},
                                  code="common_name_not_in_emails")
        if len(cn) > MAX_COMMON_NAME:
            raise InvalidRequest(f"common_name: {cn} is {len(cn)} characters, longer than {MAX_COMMON_NAME}",
                                 {"common_name": [f"{cn}: at most {MAX_COMMON_NAME} characters; leave it out (the "
                                                  "certificate then has no CN) or choose a shorter one"]},
                                 code="common_name_too_long")
    else:
        cn = next((address for address in addresses if len(address) <= MAX_COMMON_NAME), None)
    if cn is not None:
        addresses.remove(cn)
        addresses.insert(0, cn)
    return Names(cn, (), tuple(addresses))


def _code_signing_names(typed_cn: str | None, sans, csr_names) -> Names:
    _no_host_names("code_signing", (("sans", sans), ("csr", csr_names)),
                   "the subscriber is named by common_name and the subject")
    if typed_cn is None:
        raise InvalidRequest("a code-signing certificate names its subscriber in the common name (CS BR 7.1.4.2.2)",
                             {"common_name": ["give the subscriber's name"]}, code="common_name_required")
    return Names(_printable_name("common_name", typed_cn, "subscriber's name"), ())


def _check_name(cert_type: str, cls: TrustClass, field: str, name: str) -> None:
    if is_ip_address(name):
        if cls is TrustClass.PUBLIC:
            raise PolicyViolation(f"{field}: the IP address {name} is not allowed in a public TLS certificate "
                                  "(CA/Browser Forum rules; use a private profile)",
                                  {field: [f"{name}: IP addresses only under private profiles"]},
                                  code="ip_address_not_allowed")
        if cert_type not in ("ssl", "device"):
            raise PolicyViolation(f"{field}: the IP address {name} is not allowed in a {cert_type} certificate",
                                  {field: [f"{name}: IP addresses are for ssl and device certificates"]},
                                  code="ip_address_not_allowed")
        return
    if is_wildcard(name) and cert_type != "ssl":
        raise PolicyViolation(f"{field}: the wildcard {name} is not allowed in a {cert_type} certificate",
                              {field: [f"{name}: wildcards are for SSL profiles only"]}, code="wildcard_not_allowed")
    if cls is TrustClass.PUBLIC and is_internal(name):
        raise PolicyViolation(f"{field}: {name} is an internal name (its top-level domain is not public), not "
                              "allowed in a public TLS certificate (use a private profile)",
                              {field: [f"{base_name(name)}: internal names only under private profiles"]},
                              code="internal_name_not_allowed")


def names_from_csr(cert_type: str, trust_class: str | None, csr_names: tuple[str, ...],
                   csr_common_name: str | None) -> tuple[str, ...]:
    """The names a CSR asks for: its subjectAltName entries; a TLS CSR without any (the classic
    `openssl req -subj /CN=host.example.com`) asks for its subject CN — under the public class that is refused
    (422 `csr_san_required`: BR 7.1.4.3 deprecates the CN, a public CSR lists its names in the SAN)."""
    if csr_names or cert_type != "ssl" or not csr_common_name:
        return csr_names
    if trust_class_of(cert_type, trust_class) is TrustClass.PUBLIC:
        raise PolicyViolation("the CSR names its host only in the subject CN; public TLS requests list their names "
                              "in the CSR's subjectAltName (a CN-only CSR is accepted by private profiles)",
                              {"csr": ["no subjectAltName in the CSR"]}, code="csr_san_required")
    return (normalised_name("csr", csr_common_name),)


# ---- subject and usages ---------------------------------------------------------------------------------------

SUBJECT_FIELDS = ("organization", "organizational_unit", "country", "state", "locality")


def subject_for(cert_type: str, trust_class: str | None, subject: dict) -> dict:
    """The subject attributes (besides the CN) the certificate gets: as given, except
    - public TLS: without the OU (BR 7.1.2.7.4 forbids organizationalUnitName);
    - client: none at all — mailbox-validated S/MIME (S/MIME BR 7.1.4.2.2) allows only commonName, emailAddress
      and serialNumber, so the organization's O/OU/L/ST/C are dropped whatever the caller sends;
    - code signing: without the OU (CS BR 7.1.4.2.2 lists no organizationalUnitName), and checked complete
      (`check_subject`: 422 `subject_incomplete`)."""
    subject = dict(subject or {})
    if cert_type == "client":
        return {field: None for field in SUBJECT_FIELDS}
    if trust_class_of(cert_type, trust_class) is TrustClass.PUBLIC or cert_type == "code_signing":
        subject["organizational_unit"] = None
    check_subject(cert_type, subject)
    return subject


def check_subject(cert_type: str, subject: dict) -> None:
    """A code-signing subject names the subscriber's organization, its country and its locality or state (CS BR
    7.1.4.2.2 b, c, d, e): else 422 `subject_incomplete`, naming the missing fields under `subject`. The other
    types' subjects are complete as they are."""
    if cert_type != "code_signing":
        return
    subject = subject or {}
    missing = [field for field in ("organization", "country") if not subject.get(field)]
    if not subject.get("locality") and not subject.get("state"):
        missing.append("locality or state")
    if missing:
        raise PolicyViolation(f"a code-signing certificate's subject needs {', '.join(missing)} (CS BR 7.1.4.2.2)",
                              {"subject": [f"{field} missing" for field in missing]}, code="subject_incomplete")


def check_code_signing_subject(subject: dict) -> None:
    """check_subject for a code-signing certificate (what enrollment calls before it records a request)."""
    check_subject("code_signing", subject)


def check_usages(cert_type: str, key_type: str, key_usage, extended_key_usage) -> None:
    """keyUsage: digitalSignature always; what the type allows; keyEncipherment for RSA keys only and never for
    code signing. extendedKeyUsage: within the type's allowed set, with its required ones. 422
    `key_usage_not_allowed` / `extended_key_usage_not_allowed`."""
    usage, eku = set(key_usage or ()), set(extended_key_usage or ())
    allowed = set(KEY_USAGE_ALLOWED[cert_type])
    if key_type.startswith("rsa-") and cert_type != "code_signing":
        allowed.add("key_encipherment")
    wrong = sorted(usage - allowed) + ([] if "digital_signature" in usage else ["(digital_signature missing)"])
    if wrong:
        raise PolicyViolation(f"key usage {', '.join(wrong)} is not allowed for a {cert_type} certificate with a "
                              f"{key_type} key", {"key_usage": wrong}, code="key_usage_not_allowed")
    wrong = sorted(eku - EKU_ALLOWED[cert_type]) + sorted(f"({u} missing)" for u in EKU_REQUIRED[cert_type] - eku)
    if wrong or not eku:
        raise PolicyViolation(f"extended key usage {', '.join(wrong) or '(none)'} is not allowed for a {cert_type} "
                              "certificate", {"extended_key_usage": wrong or ["at least one is needed"]},
                              code="extended_key_usage_not_allowed")
