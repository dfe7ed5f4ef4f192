"""pkilint over Certplane's certificates, CRLs and OCSP responses; a finding at ERROR or FATAL blocks signing.

Profiles (pkilint 0.13.3):
  serverauth  CA/B Forum TLS BR (pkilint.cabf.serverauth); the certificate type (root, TLS sub-CA, DV/OV/IV/EV
              subscriber, OCSP responder) is detected from the certificate as `lint_cabf_serverauth_cert --detect`
              does, and pkilint's serverauth finding filters drop PKIX findings the BR supersede.
  rfc5280     RFC 5280 certificate profile only (pkilint.pkix.certificate), as `lint_pkix_cert`.
  crl         RFC 5280 CRL profile (pkilint.pkix.crl), as `lint_crl -p PKIX`.
  crl-br      crl plus BR 7.2 for a CRL of subscriber certificates (nextUpdate ≤ 10 days, BR reason codes).
  arl-br      crl plus BR 7.2 for a CRL of CA certificates (a root's: ≤ 365 days, cACompromise allowed).
  ocsp        RFC 6960 OCSP response profile (pkilint.pkix.ocsp), as `lint_ocsp_response`.

A validator container is built once per profile (per certificate type for serverauth) on first use and reused.
Measured here (Python 3.11, pkilint 0.13.3, publicsuffixlist 1.1.2.20261023, 2 cores at load ~2.5, so ±30%;
medians of 5 builds and of 200 lints with a reused container):
  import  pkilint and this module ~0.7-0.9 s, once per process
  build   serverauth: DV/OV subscriber ~270-400 ms, sub-CA ~400-490 ms, root ~270-320 ms — about 90% of it is
          publicsuffixlist parsing the whole PSL, five times per container (pkilint makes one per validator
          that checks internal names); rfc5280, crl*, ocsp: under 1 ms
  lint    serverauth leaf ~6-8 ms, sub-CA ~6-10 ms, root ~4 ms; rfc5280 leaf ~5 ms; crl-br with 3 entries
          ~1.8 ms; ocsp response ~0.6 ms. A CRL costs ~0.5 ms per entry (100,000 entries: 51 s), hence
          `x509build.crl_for_lint`, which lints a sample of the entries.
`warm_up()` builds the usual containers at start, so the first issuance does not pay for them.
Building and linting do no I/O, so under eventlet no other greenthread runs in between: the module-level cache
needs no lock (a race between OS threads would at worst build a container twice).
"""
from __future__ import annotations

import collections
import enum
import re
from dataclasses import dataclass

from pkilint import finding_filter, loader, pkix
from pkilint.cabf import cabf_crl, serverauth
from pkilint.cabf.serverauth import serverauth_constants
from pkilint.pkix import certificate, crl, extension, name, ocsp

_LOADERS = {"serverauth": loader.RFC5280CertificateDocumentLoader, "rfc5280": loader.RFC5280CertificateDocumentLoader,
            "crl": loader.RFC5280CertificateListDocumentLoader, "crl-br": loader.RFC5280CertificateListDocumentLoader,
            "arl-br": loader.RFC5280CertificateListDocumentLoader, "ocsp": loader.RFC6960OCSPResponseDocumentLoader}
PROFILES = tuple(_LOADERS)


class Severity(enum.StrEnum):
    FATAL = "FATAL"
    ERROR = "ERROR"
    WARNING = "WARNING"
    NOTICE = "NOTICE"
    INFO = "INFO"
    DEBUG = "DEBUG"


_BLOCKING = {Severity.FATAL, Severity.ERROR}


@dataclass(frozen=True)
class Finding:
    severity: Severity
    code: str
    message: str
    path: str

    def __str__(self) -> str:
        return f"{self.severity} {self.code} at {self.path}" + (f": {self.message}" if self.message else "")


@dataclass(frozen=True)
class _Linter:
    validator: object
    filters: tuple = ()


_LINTERS: dict[tuple[str, object], _Linter] = {}
builds: collections.Counter = collections.Counter()     # (profile, certificate type) -> containers built


def errors(findings: list[Finding]) -> list[Finding]:
    """The findings that block signing: FATAL and ERROR."""
    return [f for f in findings if f.severity in _BLOCKING]


def lint_certificate(der: bytes, profile: str) -> list[Finding]:
    """pkilint's findings for the DER certificate, CRL or OCSP response `der` under `profile` (see PROFILES).
    A document pkilint cannot decode yields one FATAL finding, never an exception."""
    if profile not in PROFILES:
        raise ValueError(f"unknown lint profile {profile!r}; known: {', '.join(PROFILES)}")
    try:
        document = _load(der, profile)
    except ValueError as exc:
        return [Finding(Severity.FATAL, "certplane.undecodable", str(exc), "")]
    key = (profile, serverauth.determine_certificate_type(document) if profile == "serverauth" else None)
    linter = _linter(key)
    results = linter.validator.validate(document.root)
    if linter.filters:
        results, _ = finding_filter.filter_results(list(linter.filters), results)
    findings = [Finding(Severity(fd.finding.severity.name), fd.finding.code,
                        fd.message or "", result.node.path)
                for result in results for fd in result.finding_descriptions]
    if profile == "rfc5280":
        findings = [f for f in findings if not (_single_label_syntax(f) or _wildcard_syntax(f))]
    return findings


_SINGLE_LABEL = re.compile(r'^Invalid domain name syntax: "([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)"$')
_WILDCARD = re.compile(r'^Invalid domain name syntax: "\*((?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+)"$')


def _wildcard_syntax(finding: Finding) -> bool:
    """The same finding for a wildcard dNSName (`*.corp.example`): RFC 5280 leaves wildcards' semantics to
    others and pkilint's RFC 5280 validator reads `*` as a bad label, while RFC 6125 §6.4.3 (and every TLS client)
    accepts a leftmost `*` label; private PKIs issue them (the CA/B BR allow them for public TLS, whose own
    linter checks them). Dropped only for `*` followed by valid LDH labels (the certificate rules refused any
    other wildcard before)."""
    return (finding.code == "pkix.invalid_domain_name_syntax" and finding.path.endswith(".dNSName")
            and _WILDCARD.match(finding.message) is not None)


def _single_label_syntax(finding: Finding) -> bool:
    """pkilint 0.13.3's `pkix.invalid_domain_name_syntax` for a dNSName of one label (`intranet`). RFC 5280
    4.2.1.6 asks for the preferred name syntax of RFC 1034 3.5, whose grammar (<subdomain> ::= <label> |
    <subdomain> "." <label>) allows a single label; pkilint wants two. Private PKIs issue such names (Windows
    domains, short host names), so for the RFC 5280 profile this one finding is dropped for a valid LDH label — and
    only that: an underscore, an empty or over-long label is still an ERROR. Public TLS never gets here: the
    certificate rules refuse single labels as internal names."""
    return (finding.code == "pkix.invalid_domain_name_syntax" and finding.path.endswith(".dNSName")
            and _SINGLE_LABEL.match(finding.message) is not None)


def lint_crl(der: bytes, profile: str = "crl-br") -> list[Finding]:
    """lint_certificate for a CRL: "crl-br" for an issuing CA's CRL, "arl-br" for a root's, "crl" for RFC 5280
    only. Lint the CRL before the CA key signs it: build it once with `x509build.throwaway_key_for(...)`."""
    if profile not in ("crl", "crl-br", "arl-br"):
        raise ValueError(f"{profile!r} is not a CRL profile")
    return lint_certificate(der, profile)


def warm_up() -> None:
    """Build the containers issuance needs (DV and OV subscribers, rfc5280, BR CRL) before the first request."""
    for cert_type in (serverauth_constants.CertificateType.DV_FINAL_CERTIFICATE,
                      serverauth_constants.CertificateType.OV_FINAL_CERTIFICATE):
        _linter(("serverauth", cert_type))
    for profile in ("rfc5280", "crl-br", "ocsp"):
        _linter((profile, None))


def _load(der: bytes, profile: str):
    return _LOADERS[profile]().load_der_document(der, profile)


def _linter(key: tuple[str, object]) -> _Linter:
    linter = _LINTERS.get(key)
    if linter is None:
        linter = _LINTERS.setdefault(key, _build(*key))
        builds[key] += 1
    return linter


def _build(profile: str, cert_type) -> _Linter:
    if profile == "serverauth":
        validator = certificate.create_pkix_certificate_validator_container(
            serverauth.create_decoding_validators(), serverauth.create_validators(cert_type))
        return _Linter(validator, tuple(serverauth.create_serverauth_finding_filters(cert_type)))
    if profile == "rfc5280":
        return _Linter(certificate.create_pkix_certificate_validator_container(
            certificate.create_decoding_validators(name.ATTRIBUTE_TYPE_MAPPINGS, extension.EXTENSION_MAPPINGS),
            [certificate.create_issuer_validator_container([]),
             certificate.create_validity_validator_container(),
             certificate.create_subject_validator_container([]),
             certificate.create_extensions_validator_container([]),
             certificate.create_spki_validator_container([])]))
    if profile == "ocsp":
        return _Linter(ocsp.create_pkix_ocsp_response_validator_container(
            [ocsp.create_response_decoder(), pkix.create_attribute_decoder(name.ATTRIBUTE_TYPE_MAPPINGS),
             pkix.create_extension_decoder(extension.EXTENSION_MAPPINGS)], []))
    return _Linter(_crl_validator(profile))


def _crl_validator(profile: str):
    """As pkilint's `lint_crl` builds it: PKIX, plus the BR validity and reason-code checks for crl-br/arl-br."""
    validity, top_level = [], []
    if profile != "crl":
        crl_type = crl.CertificateRevocationListType.ARL if profile == "arl-br" else \
            crl.CertificateRevocationListType.CRL
        validity.append(cabf_crl.create_validity_period_validator(crl_type))
        top_level.append(cabf_crl.CabfCrlReasonCodeAllowlistValidator(crl_type))
    return crl.create_pkix_crl_validator_container(
        [pkix.create_attribute_decoder(name.ATTRIBUTE_TYPE_MAPPINGS),
         pkix.create_extension_decoder(extension.EXTENSION_MAPPINGS)],
        [crl.create_issuer_validator_container([]),
         crl.create_validity_validator_container(validity),
         crl.create_extensions_validator_container([])] + top_level)
