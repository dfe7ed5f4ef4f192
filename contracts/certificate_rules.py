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
Every other certificate type is private for now and linted against RFC 5280.

For every certificate: keys RSA ≥ 2048 bits with modulus % 8 == 0 and an odd exponent ≥ 3 (≥ 3072 for code
signing), ECDSA on P-256, P-384 or P-521; a SAN always present, the CN one of the SANs or left out; keyUsage and
extendedKeyUsage within what the type allows (keyEncipherment for RSA keys only, never for code signing).

Refusals: InvalidRequest (400) for what is malformed or unusable whatever the profile; PolicyViolation (422) for
what a rule forbids. Each names the field (`csr`, `sans`, `common_name`, `term_days`, `key_usage`,
`extended_key_usage`) in its details.
"""
from __future__ import annotations

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
CODE_SIGNING_KEY_TYPES = ("rsa-3072", "rsa-4096", "ec-p256", "ec-p384", "ec-p521")   # CS BR 6.1.5: RSA ≥ 3072
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


def lint_profile(cert_type: str, trust_class: str | None) -> str:
    """The pkilint profile a certificate is linted against before it is signed (services/ca/lint.py)."""
    return "serverauth" if trust_class_of(cert_type, trust_class) is TrustClass.PUBLIC else "rfc5280"


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
    """The validity ceiling of a certificate of `cert_type` under `trust_class` issued at `now`."""
    if trust_class_of(cert_type, trust_class) is TrustClass.PUBLIC:
        return br_max_validity_days(now)
    return MAX_TERM_DAYS


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
    """The names a certificate gets: the subject CN (one of the SANs, or None) and the SANs, CN first; each SAN is
    a normalised DNS name or IP address (`contracts.names.is_ip_address` tells which)."""
    common_name: str | None
    sans: tuple[str, ...]


def normalised_name(field: str, typed: str) -> str:
    """A typed certificate name as stored: an IP address or a DNS name (400 `invalid_ip_address` /
    `invalid_domain_name` naming `field`)."""
    try:
        return ip_address(typed) if is_ip_address(typed) else normalise(typed)
    except InvalidRequest as exc:
        why = (exc.details or {}).get("name", [exc.message])[0]
        raise InvalidRequest(f"{field}: {exc.message}", {field: [f"{typed!r}: {why}"]}, code=exc.code) from None


def certificate_names(cert_type: str, trust_class: str | None, common_name: str | None, sans,
                      csr_names=()) -> Names:
    """The names of a certificate asked for with `common_name` (or None), `sans` and the CSR's `csr_names`,
    normalised (their union, in that order), or the refusal, whose details name the field the name came from.
    The CN, when given, is one of the SANs (it is added to them); without one, the first SAN that fits in 64
    characters becomes the CN — and if none fits, the certificate has no CN (RFC 5280 and the BR allow it),
    except under the public trust class, whose certificates carry one.

    Refusals, in order: a name that is neither a DNS name nor an IP address (400); an IP address, an internal
    name under the public class (422 `ip_address_not_allowed`, `internal_name_not_allowed`); a wildcard outside
    TLS (422 `wildcard_not_allowed`); an IP address outside TLS and device certificates (422
    `ip_address_not_allowed`); a CN over 64 characters (400 `common_name_too_long`); no name at all for TLS (400
    `san_required`); public TLS without a CN of at most 64 characters (422 `common_name_required`)."""
    if isinstance(sans, str):
        raise InvalidRequest("sans must be a list of names", {"sans": ["must be a list of names"]})
    cls = trust_class_of(cert_type, trust_class)
    typed_cn = common_name.strip() if isinstance(common_name, str) and common_name.strip() else None
    fields: dict[str, str] = {}                    # name -> the field it came from first
    if typed_cn is not None:
        fields[normalised_name("common_name", typed_cn)] = "common_name"
    cn = next(iter(fields), None)
    for field, typed_names in (("sans", sans or ()), ("csr", csr_names or ())):
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

def subject_for(cert_type: str, trust_class: str | None, subject: dict) -> dict:
    """The subject attributes the certificate gets: as given, without the OU under the public class (BR
    7.1.2.7.4 forbids organizationalUnitName)."""
    subject = dict(subject or {})
    if trust_class_of(cert_type, trust_class) is TrustClass.PUBLIC:
        subject["organizational_unit"] = None
    return subject


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
