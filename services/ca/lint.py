"""pkilint over Certplane's certificates, CRLs and OCSP responses; a finding at ERROR or FATAL blocks signing.

Profiles (pkilint 0.13.3):
  serverauth  CA/B Forum TLS BR (pkilint.cabf.serverauth); the certificate type (root, TLS sub-CA, DV/OV/IV/EV
              subscriber, OCSP responder) is detected from the certificate as `lint_cabf_serverauth_cert --detect`
              does, and pkilint's serverauth finding filters drop PKIX findings the BR supersede.
  rfc5280     RFC 5280 certificate profile only (pkilint.pkix.certificate), as `lint_pkix_cert`.
  smime       CA/B Forum S/MIME BR (pkilint.cabf.smime) for a subscriber certificate; its validation level and
              generation are detected from the certificate's S/MIME BR reserved policy OID as
              `lint_cabf_smime_cert lint --detect` does (a certificate without one gets a FATAL finding,
              `certplane.smime_type_undetected`, as the CLI refuses to lint it). One finding is dropped: an
              internal host in a CRL/AIA link (`_private_link`: these are private certificates).
  codesigning RFC 5280 (as rfc5280) plus Certplane's own CS BR checks: pkilint 0.13.3, the latest release on PyPI,
              has NO code-signing linter, so these are written here by hand (`_code_signing_findings`), each an
              ERROR named `certplane.cs.<what>`, with the CS BR (v3.x) section it follows:
                validity_over_460_days        6.3.2   at most 460 days (both ends counted, RFC 5280 4.1.2.5)
                key_not_allowed               6.1.5   RSA of at least 3072 bits, or ECDSA on P-256 or P-384
                subject_*_missing             7.1.4.2.2  commonName, organizationName, countryName, and
                                                      localityName or stateOrProvinceName
                ca_certificate                7.1.2.3  basicConstraints, if present, cA false
                key_usage_*                   7.1.2.3  keyUsage present, critical, digitalSignature and nothing
                                                      else (Certplane asserts the "SHOULD NOT" of other bits)
                eku_*                         7.1.2.3  extKeyUsage present, id-kp-codeSigning and nothing else (no
                                                      anyExtendedKeyUsage, serverAuth, emailProtection, ...)
                policy_missing                7.1.2.3, 7.1.6.1  certificatePolicies with 2.23.140.1.4.1
                crl_distribution_point_missing  7.1.2.3  cRLDistributionPoints with an http:// URL
                aia_ca_issuers_missing        7.1.2.3  authorityInformationAccess with an http:// caIssuers URL
                aia_ocsp_missing              7.1.2.3 allows the OCSP URL; Certplane requires it, as on every leaf
                host_name_in_san              7.1.2.3  no dNSName or iPAddress (a subscriber, not a host)
  crl         RFC 5280 CRL profile (pkilint.pkix.crl), as `lint_crl -p PKIX`.
  crl-br      crl plus BR 7.2 for a CRL of subscriber certificates (nextUpdate ≤ 10 days, BR reason codes).
  arl-br      crl plus BR 7.2 for a CRL of CA certificates (a root's: ≤ 365 days, cACompromise allowed).
  ocsp        RFC 6960 OCSP response profile (pkilint.pkix.ocsp), as `lint_ocsp_response`.

A validator container is built once per profile (per certificate type for serverauth, per validation level and
generation for smime) on first use and reused.
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
import datetime as dt
import enum
import re
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID
from pkilint import finding_filter, loader, pkix
from pkilint.cabf import cabf_crl, serverauth, smime
from pkilint.cabf.serverauth import serverauth_constants
from pkilint.cabf.smime import smime_constants
from pkilint.pkix import certificate, crl, extension, name, ocsp

_LOADERS = {"serverauth": loader.RFC5280CertificateDocumentLoader, "rfc5280": loader.RFC5280CertificateDocumentLoader,
            "smime": loader.RFC5280CertificateDocumentLoader, "codesigning": loader.RFC5280CertificateDocumentLoader,
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
    kind = None
    if profile == "serverauth":
        kind = serverauth.determine_certificate_type(document)
    elif profile == "smime":
        kind = smime.determine_validation_level_and_generation(document)
        if kind is None:
            return [Finding(Severity.FATAL, "certplane.smime_type_undetected",
                            "no S/MIME BR reserved policy OID (2.23.140.1.5.*) to detect the validation level and "
                            "generation from", "certificate.tbsCertificate.extensions")]
    linter = _linter((profile, kind))
    results = linter.validator.validate(document.root)
    if linter.filters:
        results, _ = finding_filter.filter_results(list(linter.filters), results)
    findings = [Finding(Severity(fd.finding.severity.name), fd.finding.code,
                        fd.message or "", result.node.path)
                for result in results for fd in result.finding_descriptions]
    if profile in ("rfc5280", "codesigning"):
        findings = [f for f in findings if not (_single_label_syntax(f) or _wildcard_syntax(f))]
    if profile == "smime":
        findings = [f for f in findings if not _private_link(f)]
    if profile == "codesigning":
        findings += _code_signing_findings(x509.load_der_x509_certificate(der))
    return findings


# ---- Certplane's CS BR checks (see the module's docstring: pkilint has no code-signing linter) ----------------
CS_MAX_VALIDITY = dt.timedelta(days=460)                 # CS BR 6.3.2
CS_POLICY = x509.ObjectIdentifier("2.23.140.1.4.1")      # CS BR 7.1.6.1
_CS_CURVES = ("secp256r1", "secp384r1")                  # CS BR 6.1.5
_CS_MIN_RSA_BITS = 3072
_EXTENSIONS = "certificate.tbsCertificate.extensions"
_CS_SUBJECT = ((NameOID.COMMON_NAME, "common_name"), (NameOID.ORGANIZATION_NAME, "organization"),
               (NameOID.COUNTRY_NAME, "country"))


def _cs(code: str, message: str, path: str = _EXTENSIONS) -> Finding:
    return Finding(Severity.ERROR, f"certplane.cs.{code}", message, path)


def _extension(cert: x509.Certificate, cls):
    try:
        return cert.extensions.get_extension_for_class(cls)
    except x509.ExtensionNotFound:
        return None


def _http_urls(names) -> list[str]:
    return [n.value for n in names if isinstance(n, x509.UniformResourceIdentifier)
            and n.value.lower().startswith("http://")]


def _code_signing_findings(cert: x509.Certificate) -> list[Finding]:
    """The CS BR rules pkilint does not check, as ERROR findings (the table in the module's docstring)."""
    found = []
    validity = cert.not_valid_after_utc - cert.not_valid_before_utc + dt.timedelta(seconds=1)
    if validity > CS_MAX_VALIDITY:
        found.append(_cs("validity_over_460_days", f"valid for {validity}, more than 460 days (CS BR 6.3.2)",
                         "certificate.tbsCertificate.validity"))
    key = cert.public_key()
    if not ((isinstance(key, rsa.RSAPublicKey) and key.key_size >= _CS_MIN_RSA_BITS)
            or (isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name in _CS_CURVES)):
        found.append(_cs("key_not_allowed", "RSA of at least 3072 bits or ECDSA on P-256/P-384 (CS BR 6.1.5)",
                         "certificate.tbsCertificate.subjectPublicKeyInfo"))
    for oid, field in _CS_SUBJECT:
        if not cert.subject.get_attributes_for_oid(oid):
            found.append(_cs(f"subject_{field}_missing", f"the subject has no {field} (CS BR 7.1.4.2.2)",
                             "certificate.tbsCertificate.subject"))
    if not (cert.subject.get_attributes_for_oid(NameOID.LOCALITY_NAME)
            or cert.subject.get_attributes_for_oid(NameOID.STATE_OR_PROVINCE_NAME)):
        found.append(_cs("subject_locality_missing", "the subject has neither locality nor state (CS BR "
                                                     "7.1.4.2.2)", "certificate.tbsCertificate.subject"))
    constraints = _extension(cert, x509.BasicConstraints)
    if constraints is not None and constraints.value.ca:
        found.append(_cs("ca_certificate", "basicConstraints cA is true (CS BR 7.1.2.3)"))
    usage = _extension(cert, x509.KeyUsage)
    if usage is None:
        found.append(_cs("key_usage_missing", "no keyUsage (CS BR 7.1.2.3)"))
    else:
        if not usage.critical:
            found.append(_cs("key_usage_not_critical", "keyUsage is not critical (CS BR 7.1.2.3)"))
        ku = usage.value
        others = [bit for bit in ("content_commitment", "key_encipherment", "data_encipherment", "key_agreement",
                                  "key_cert_sign", "crl_sign") if getattr(ku, bit)]
        if not ku.digital_signature or others:
            found.append(_cs("key_usage_not_digital_signature_only",
                             f"keyUsage is digitalSignature only, not {others or 'without digitalSignature'} "
                             "(CS BR 7.1.2.3)"))
    eku = _extension(cert, x509.ExtendedKeyUsage)
    if eku is None:
        found.append(_cs("eku_missing", "no extKeyUsage (CS BR 7.1.2.3)"))
    elif list(eku.value) != [ExtendedKeyUsageOID.CODE_SIGNING]:
        found.append(_cs("eku_not_code_signing_only", "extKeyUsage is id-kp-codeSigning only, not "
                                                      f"{[oid.dotted_string for oid in eku.value]} (CS BR 7.1.2.3)"))
    policies = _extension(cert, x509.CertificatePolicies)
    if policies is None or CS_POLICY not in [p.policy_identifier for p in policies.value]:
        found.append(_cs("policy_missing", "certificatePolicies without 2.23.140.1.4.1 (CS BR 7.1.2.3, 7.1.6.1)"))
    crl_dp = _extension(cert, x509.CRLDistributionPoints)
    if crl_dp is None or not any(_http_urls(point.full_name or ()) for point in crl_dp.value):
        found.append(_cs("crl_distribution_point_missing", "no cRLDistributionPoints with an http:// URL (CS BR "
                                                           "7.1.2.3)"))
    aia = _extension(cert, x509.AuthorityInformationAccess)
    descriptions = list(aia.value) if aia is not None else []
    for method, label, why in ((AuthorityInformationAccessOID.CA_ISSUERS, "ca_issuers", "CS BR 7.1.2.3"),
                               (AuthorityInformationAccessOID.OCSP, "ocsp",
                                "Certplane's rule for every leaf; CS BR 7.1.2.3 allows it")):
        if not any(d.access_method == method and _http_urls([d.access_location]) for d in descriptions):
            found.append(_cs(f"aia_{label}_missing", f"authorityInformationAccess has no http:// {label} URL "
                                                     f"({why})"))
    san = _extension(cert, x509.SubjectAlternativeName)
    if san is not None and (san.value.get_values_for_type(x509.DNSName)
                            or san.value.get_values_for_type(x509.IPAddress)):
        found.append(_cs("host_name_in_san", "a dNSName or iPAddress in subjectAltName (CS BR 7.1.2.3: a "
                                             "code-signing certificate names a subscriber, not a host)"))
    return found


_SINGLE_LABEL = re.compile(r'^Invalid domain name syntax: "([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)"$')
_WILDCARD = re.compile(r'^Invalid domain name syntax: "\*((?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+)"$')


_LINK_PATHS = re.compile(r"\.(authorityInfoAccessSyntax|cRLDistributionPoints)\..*\.uniformResourceIdentifier$")


def _private_link(finding: Finding) -> bool:
    """pkilint's cabf.smime reports a CRL or AIA link on an internal host (`http://127.0.0.1:8080/ocsp`,
    `http://pki.corp.lan/...`) as `cabf.internal_domain_name` / `cabf.internal_ip_address`, an ERROR. Certplane's
    client certificates come from the company's own (private) CA, whose links are on whatever host its relying
    parties reach it at — the private class's "links on any host" (DESIGN §6) — so for the smime profile these two
    findings are dropped for the URIs of authorityInformationAccess and cRLDistributionPoints only; an internal
    domain in an rfc822Name is still an ERROR (and refused before, by the certificate rules)."""
    return (finding.code in ("cabf.internal_domain_name", "cabf.internal_ip_address")
            and _LINK_PATHS.search(finding.path) is not None)


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


SMIME_KINDS = ((smime_constants.ValidationLevel.MAILBOX, smime_constants.Generation.MULTIPURPOSE),
               (smime_constants.ValidationLevel.MAILBOX, smime_constants.Generation.STRICT))


def warm_up() -> None:
    """Build the containers issuance needs (DV and OV subscribers, mailbox-validated S/MIME multipurpose and
    strict, rfc5280, codesigning, BR CRL) before the first request."""
    for cert_type in (serverauth_constants.CertificateType.DV_FINAL_CERTIFICATE,
                      serverauth_constants.CertificateType.OV_FINAL_CERTIFICATE):
        _linter(("serverauth", cert_type))
    for kind in SMIME_KINDS:
        _linter(("smime", kind))
    for profile in ("rfc5280", "codesigning", "crl-br", "ocsp"):
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
    if profile == "smime":
        validation_level, generation = cert_type
        return _Linter(certificate.create_pkix_certificate_validator_container(
            smime.create_decoding_validators(), smime.create_subscriber_validators(validation_level, generation)))
    if profile in ("rfc5280", "codesigning"):         # codesigning adds _code_signing_findings to these
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
