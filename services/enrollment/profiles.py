"""Certificate profiles: the fields a profile has, the profiles a fresh installation offers, whether a request fits
its profile, and which key usages its certificate gets. Pure: no I/O; `now` comes in as an argument.

The rules for what a certificate may say — keys, terms, names per trust class, key usage and EKU — are
contracts/certificate_rules.py, which the CA applies again before it signs; this module adds what a profile narrows
(its key types, its terms, its number of names) and turns a profile into the CA's request. In short:
- TLS (`ssl`) profiles have a trust class. `private` (the default): internal names, IP addresses, the department as
  OU, terms up to 398 days, RFC 5280 lint. `public`: CA/Browser Forum BR 2.2.6 — validity ≤ 200 days (≤ 100 from
  2027-03-15, ≤ 47 from 2029-03-15), public LDH names only, fresh DCV, no OU, serverauth lint.
- EKU serverAuth for TLS (clientAuth may be added, nothing else); keyUsage digitalSignature, and keyEncipherment
  only for RSA keys (an ECDSA key must never carry it); SAN always present, CN taken from the SANs.
- code signing (CS BR): EKU codeSigning only, keyUsage digitalSignature only, RSA keys of at least 3072 bits.
- client (S/MIME BR): EKU emailProtection and/or clientAuth; contentCommitment (non-repudiation) may be added.
- device: EKU serverAuth and/or clientAuth.

A profile's `key_usage` is independent of the key's algorithm, so it lists only what fits every algorithm
(`digital_signature`, and `content_commitment` for client profiles); keyEncipherment is the RSA-only flag
`key_encipherment_for_rsa`, and leaf_extensions applies it per key.
"""
from __future__ import annotations

from datetime import datetime

from contracts import certificate_rules as rules
from contracts.enrollment import CODE_SIGNING_KEY_TYPES, KEY_TYPES, KEY_USAGE_ALLOWED, br_max_validity_days
from contracts.errors import InvalidRequest, PolicyViolation
from services.enrollment.csr import ParsedCsr

PRIVATE_TLS, PUBLIC_TLS = "Private TLS Server", "Public TLS"


def default_profiles(ca_id: str | None, now: datetime) -> list[dict]:
    """The profiles a fresh installation starts with: one private profile per certificate type, and `Public TLS`,
    the template for publicly-audited rules. The private TLS profile issues at once (its names must be delegated
    to the requester's organization or department by an MRAO, or with approval): on a fresh install a single MRAO
    gets a certificate without a second administrator. The others need approval. Public TLS terms follow the BR
    ceiling at `now` (90 and 200 days today; 90 and 100 from 2027-03-15; 47 from 2029-03-15)."""
    ceiling = br_max_validity_days(now)
    common = {"ca_id": ca_id, "requires_approval": True, "trust_class": "private"}
    tls = {"cert_type": "ssl", "key_types": list(KEY_TYPES), "key_usage": ["digital_signature"],
           "key_encipherment_for_rsa": False, "extended_key_usage": ["server_auth"], "max_sans": 100}
    return [
        {"name": PRIVATE_TLS, "description": "TLS server certificates from the company's own PKI: internal names, "
                                             "IP addresses, the department as OU", "terms": [90, 200, 365, 398],
         **tls, **common, "requires_approval": False},
        {"name": PUBLIC_TLS, "description": "TLS server certificates under the CA/Browser Forum rules (fresh DCV, "
                                            "CAA, public names only): the template for publicly-audited profiles",
         "terms": sorted({min(days, ceiling) for days in (90, 200)}), **tls, **common, "trust_class": "public"},
        {"name": "Private Client (S/MIME)", "cert_type": "client",
         "description": "e-mail signing and encryption, and client authentication, for persons",
         "terms": [365], "key_types": list(KEY_TYPES),
         "key_usage": ["digital_signature"], "key_encipherment_for_rsa": True,     # RSA keys can encrypt mail
         "extended_key_usage": ["email_protection", "client_auth"], "max_sans": 10, **common},
        {"name": "Private Code Signing", "cert_type": "code_signing",
         "description": "signing software; CS BR key sizes (RSA at least 3072 bits)",
         "terms": [365], "key_types": list(CODE_SIGNING_KEY_TYPES),
         "key_usage": ["digital_signature"], "key_encipherment_for_rsa": False,
         "extended_key_usage": ["code_signing"], "max_sans": 1, **common},
        {"name": "Private Device", "cert_type": "device",
         "description": "devices that authenticate to networks and services, or serve TLS",
         "terms": [365], "key_types": list(KEY_TYPES),
         "key_usage": ["digital_signature"], "key_encipherment_for_rsa": False,
         "extended_key_usage": ["client_auth", "server_auth"], "max_sans": 10, **common},
    ]


def trust_class(profile: dict) -> str:
    """The profile's trust class (profiles stored before trust classes had `public: bool`)."""
    if profile.get("trust_class"):
        return profile["trust_class"]
    return "public" if profile.get("public") is True else "private"


# ---- does a request fit its profile ---------------------------------------------------------------------------

# The names the certificate gets: the CN (also the first SAN; None: no CN) and every SAN, normalised, CN first —
# DNS names and IP addresses.
Checked = rules.Names


def check_request(profile: dict, parsed: ParsedCsr, common_name: str | None, sans: list[str], term_days: int,
                  now: datetime, emails=()) -> Checked:
    """Whether a request (its parsed CSR, the typed common name and SANs, the term) fits `profile`, and the names
    its certificate gets: the union of the CN, the typed SANs and the CSR's names (its subjectAltName; a TLS CSR
    without one asks for its subject CN), normalised, CN first (contracts/certificate_rules.certificate_names).
    An SSL request needs at least one name; for the other types no name gives `Checked(None, ())` (their subject
    comes from the person or organization, not from here). Checks in order: key type, term, names (per trust
    class), number of names. Every refusal's details name the field (`csr`, `term_days`, `common_name`, `sans`)
    and its message the value."""
    cert_type, profile_name, cls = profile["cert_type"], profile.get("name", ""), trust_class(profile)
    rules.check_key_type(cert_type, parsed.key_type, profile["key_types"], profile_name)
    rules.check_term(cert_type, cls, term_days, now)
    check_term_of(profile, term_days)
    if isinstance(sans, str):
        raise InvalidRequest("sans must be a list of names", {"sans": ["must be a list of names"]})
    csr_names = rules.names_from_csr(cert_type, cls, parsed.names, parsed.subject_common_name)
    names = rules.certificate_names(cert_type, cls, common_name, list(sans or ()), csr_names, list(emails))
    if len(names.sans) > profile["max_sans"]:
        raise PolicyViolation(f"sans: {len(names.sans)} names, profile {profile_name!r} allows at most "
                              f"{profile['max_sans']}",
                              {"sans": [f"{len(names.sans)} names (common_name, sans and the CSR's names together); "
                                        f"at most {profile['max_sans']}"]}, code="too_many_sans")
    return names


def check_term_of(profile: dict, term_days: int) -> None:
    """400 `term_not_allowed` unless `term_days` is one of the profile's terms."""
    if term_days not in profile["terms"]:
        allowed = ", ".join(str(days) for days in profile["terms"])
        raise InvalidRequest(f"term_days: {term_days} days is not a term of profile {profile.get('name', '')!r}",
                             {"term_days": [f"{term_days}: not one of {allowed}"]}, code="term_not_allowed")


def leaf_extensions(profile: dict, key_type: str) -> tuple[set[str], list[str]]:
    """(keyUsage names, extendedKeyUsage names) for a certificate for a key of `key_type` under `profile`:
    the profile's algorithm-independent usages, plus key_encipherment for RSA keys when the profile says so."""
    if not key_type.startswith(("rsa-", "ec-")):
        raise ValueError(f"unknown key type {key_type!r}")
    usage = set(profile.get("key_usage") or ("digital_signature",)) & KEY_USAGE_ALLOWED[profile["cert_type"]]
    usage.add("digital_signature")
    rsa_may_encipher = profile.get("key_encipherment_for_rsa") and profile["cert_type"] != "code_signing"
    if key_type.startswith("rsa-") and rsa_may_encipher:
        usage.add("key_encipherment")
    return usage, list(profile["extended_key_usage"])
