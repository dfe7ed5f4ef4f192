"""Certificate profiles: the fields a profile has, the profiles a fresh installation offers, whether a request fits
its profile, and which key usages its certificate gets. Pure: no I/O; `now` comes in as an argument.

The rules kept here, for every certificate type and even on the private CA:
- TLS (`ssl`), CA/Browser Forum BR 2.2.6: validity ≤ 200 days, ≤ 100 from 2027-03-15, ≤ 47 from 2029-03-15
  (br_max_validity_days); EKU serverAuth (clientAuth may be added, nothing else); keyUsage digitalSignature, and
  keyEncipherment only for RSA keys (an ECDSA key must never carry it); SAN always present, CN taken from the SANs.
- code signing (CS BR): EKU codeSigning only, keyUsage digitalSignature only, RSA keys of at least 3072 bits.
- client (S/MIME BR): EKU emailProtection and/or clientAuth; contentCommitment (non-repudiation) may be added.
- device: EKU serverAuth and/or clientAuth.
- Names are DNS names as contracts.names.normalise makes them: no IP addresses; wildcards only for `ssl`.

A profile's `key_usage` is independent of the key's algorithm, so it lists only what fits every algorithm
(`digital_signature`, and `content_commitment` for client profiles); keyEncipherment is the RSA-only flag
`key_encipherment_for_rsa`, and leaf_extensions applies it per key.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from contracts.enrollment import (CODE_SIGNING_KEY_TYPES, KEY_TYPES, KEY_USAGE_ALLOWED, MAX_COMMON_NAME,
                                  br_max_validity_days)
from contracts.errors import InvalidRequest, PolicyViolation
from contracts.names import is_wildcard, normalise
from services.enrollment.csr import ParsedCsr

def default_profiles(ca_id: str | None, now: datetime) -> list[dict]:
    """The profiles a fresh installation starts with: one per certificate type, all needing approval. The TLS terms
    follow the BR ceiling at `now` (90 and 200 days today; 90 and 100 from 2027-03-15; 47 from 2029-03-15)."""
    ceiling = br_max_validity_days(now)
    common = {"ca_id": ca_id, "requires_approval": True, "public": False}
    return [
        {"name": "TLS Server (OV)", "cert_type": "ssl",
         "description": "TLS server certificates for the organization's own host names",
         "terms": sorted({min(days, ceiling) for days in (90, 200)}), "key_types": list(KEY_TYPES),
         "key_usage": ["digital_signature"], "key_encipherment_for_rsa": False,
         "extended_key_usage": ["server_auth"], "max_sans": 100, **common},
        {"name": "Client (S/MIME)", "cert_type": "client",
         "description": "e-mail signing and encryption, and client authentication, for persons",
         "terms": [365], "key_types": list(KEY_TYPES),
         "key_usage": ["digital_signature"], "key_encipherment_for_rsa": True,     # RSA keys can encrypt mail
         "extended_key_usage": ["email_protection", "client_auth"], "max_sans": 10, **common},
        {"name": "Code Signing", "cert_type": "code_signing",
         "description": "signing software; CS BR key sizes (RSA at least 3072 bits)",
         "terms": [365], "key_types": list(CODE_SIGNING_KEY_TYPES),
         "key_usage": ["digital_signature"], "key_encipherment_for_rsa": False,
         "extended_key_usage": ["code_signing"], "max_sans": 1, **common},
        {"name": "Device", "cert_type": "device",
         "description": "devices that authenticate to networks and services, or serve TLS",
         "terms": [365], "key_types": list(KEY_TYPES),
         "key_usage": ["digital_signature"], "key_encipherment_for_rsa": False,
         "extended_key_usage": ["client_auth", "server_auth"], "max_sans": 10, **common},
    ]


# ---- does a request fit its profile ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Checked:
    """The names the certificate gets: the CN (also the first SAN) and every SAN, normalised, CN first."""
    common_name: str | None
    sans: tuple[str, ...]


def check_request(profile: dict, parsed: ParsedCsr, common_name: str | None, sans: list[str], term_days: int,
                  now: datetime) -> Checked:
    """Whether a request (its parsed CSR, the typed common name and SANs, the term) fits `profile`, and the names
    its certificate gets: the union of the CN, the typed SANs and the CSR's dNSNames, normalised, CN first. Without
    a CN the first name that fits in 64 characters is the CN. An SSL request needs at least one name; for the other
    types no name gives `Checked(None, ())` (their subject comes from the person or organization, not from here).
    Checks in order: key type, term, each name, wildcards, CN length, number of names. Every refusal's details
    name the field (`csr`, `term_days`, `common_name`, `sans`) and its message the value."""
    cert_type, profile_name = profile["cert_type"], profile.get("name", "")
    if parsed.key_type not in profile["key_types"]:
        raise PolicyViolation(f"key type {parsed.key_type} is not allowed by profile {profile_name!r}",
                              {"csr": [f"key type {parsed.key_type} is not one of "
                                       f"{', '.join(profile['key_types'])}"]}, code="key_type_not_allowed")
    _check_term(profile, term_days, now)

    if isinstance(sans, str):
        raise InvalidRequest("sans must be a list of names", {"sans": ["must be a list of names"]})
    typed_cn = common_name.strip() if isinstance(common_name, str) and common_name.strip() else None
    cn = _normalised("common_name", typed_cn) if typed_cn is not None else None
    requested = [_normalised("sans", name) for name in sans or ()]
    if cert_type != "ssl":
        for field, names in (("common_name", [cn] if cn else []), ("sans", requested), ("csr", parsed.dns_names)):
            for name in names:
                if is_wildcard(name):
                    raise PolicyViolation(f"{field}: the wildcard {name} is not allowed in a {cert_type} "
                                          "certificate", {field: [f"{name}: wildcards are for SSL profiles only"]},
                                          code="wildcard_not_allowed")
    names = list(dict.fromkeys(([cn] if cn else []) + requested + list(parsed.dns_names)))

    if cn is not None and len(cn) > MAX_COMMON_NAME:
        raise InvalidRequest(f"common_name: {cn} is {len(cn)} characters, longer than {MAX_COMMON_NAME}",
                             {"common_name": [f"{cn}: at most {MAX_COMMON_NAME} characters; put the name in sans "
                                              "and choose a shorter common name"]}, code="common_name_too_long")
    if cn is None and names:
        cn = next((name for name in names if len(name) <= MAX_COMMON_NAME), None)
        if cn is None:
            raise InvalidRequest(f"sans: no name fits in a {MAX_COMMON_NAME}-character common name",
                                 {"sans": [f"every name is longer than {MAX_COMMON_NAME} characters; add a shorter "
                                           "one as common_name"]}, code="common_name_too_long")
        names.remove(cn)
        names.insert(0, cn)
    if len(names) > profile["max_sans"]:
        raise PolicyViolation(f"sans: {len(names)} names, profile {profile_name!r} allows at most "
                              f"{profile['max_sans']}",
                              {"sans": [f"{len(names)} names (common_name, sans and the CSR's names together); "
                                        f"at most {profile['max_sans']}"]}, code="too_many_sans")
    if not names and cert_type == "ssl":
        raise InvalidRequest("an SSL certificate needs at least one name",
                             {"sans": ["give a common_name or sans (or a CSR that asks for names)"]},
                             code="san_required")
    return Checked(cn, tuple(names))


def _check_term(profile: dict, term_days, now: datetime) -> None:
    if isinstance(term_days, bool) or not isinstance(term_days, int):
        raise InvalidRequest(f"term_days: {term_days!r} is not a number of days",
                             {"term_days": [f"{term_days!r} is not a number of days"]}, code="term_not_allowed")
    if profile["cert_type"] == "ssl" and term_days > (ceiling := br_max_validity_days(now)):
        raise PolicyViolation(f"term_days: {term_days} days is over the CA/Browser Forum limit of {ceiling} days for "
                              f"TLS certificates issued on {now:%Y-%m-%d}",
                              {"term_days": [f"{term_days}: at most {ceiling} days"]}, code="term_over_br_limit")
    if term_days not in profile["terms"]:
        allowed = ", ".join(str(days) for days in profile["terms"])
        raise InvalidRequest(f"term_days: {term_days} days is not a term of profile {profile.get('name', '')!r}",
                             {"term_days": [f"{term_days}: not one of {allowed}"]}, code="term_not_allowed")


def _normalised(field: str, typed: str) -> str:
    try:
        return normalise(typed)
    except InvalidRequest as exc:
        why = (exc.details or {}).get("name", [exc.message])[0]
        raise InvalidRequest(f"{field}: {exc.message}", {field: [f"{typed!r}: {why}"]},
                             code="invalid_domain_name") from None


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
