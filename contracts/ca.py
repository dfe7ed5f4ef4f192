"""`ca` service contracts: certificate authorities, issued certificates, revocations and CRLs, as events (V1),
RPC requests and answers.

Private keys never appear here: events carry a `key_ref` into the CA's key store and public fingerprints.
Certificates and CRL metadata are public data and travel as PEM / fields. Serials are lower-case hex.
"""
from __future__ import annotations

from marshmallow import EXCLUDE, RAISE, Schema, fields, validate

from contracts.access import CERT_TYPES
from contracts.certificate_rules import TRUST_CLASSES

SOURCE = "ca"

# The issuance pipeline (DESIGN §3.6): every enrollment event whose payload has this field is an application — the
# field holds an IssueCertificateV2 request (without dry_run) and the event's id is the application id. The ca's
# processor answers each with `certificate_signing` + `certificate_issued` (application_id set) or with
# `certificate_refused`, once per application.
SIGNING_REQUEST_FIELD = "signing_request"
OUTCOME_EVENTS = ("certificate_issued.v1", "certificate_refused.v1")

CA_KINDS = ("root", "issuing")
KEY_ALGORITHMS = ("ec-p256", "ec-p384", "rsa-3072", "rsa-4096")
REVOCATION_REASONS = ("unspecified", "key_compromise", "ca_compromise", "affiliation_changed", "superseded",
                      "cessation_of_operation", "certificate_hold", "privilege_withdrawn", "aa_compromise")
# BR 7.2.2: what a subscriber (leaf) certificate's revocation may say; certificateHold, cACompromise and
# aACompromise are for CA certificates only (and certificateHold not at all).
LEAF_REVOCATION_REASONS = ("unspecified", "key_compromise", "affiliation_changed", "superseded",
                           "cessation_of_operation", "privilege_withdrawn")
# BR 7.2.2 for a CA certificate's entry in its root's ARL: the leaf reasons plus cACompromise
CA_REVOCATION_REASONS = ("unspecified", "key_compromise", "ca_compromise", "affiliation_changed", "superseded",
                         "cessation_of_operation", "privilege_withdrawn")
CA_REVOCATION_STATUSES = ("requested", "revoked")


# ---- RPC requests (V1) ------------------------------------------------------------------------------------

class SubjectV1(Schema):
    class Meta:
        unknown = RAISE

    organization = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=64))
    organizational_unit = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=64))
    country = fields.String(allow_none=True, load_default=None, validate=validate.Length(equal=2))
    state = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=128))
    locality = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=128))


class IssueCertificateV2(Schema):
    """What an enrollment path asks the CA to sign. The CA builds the certificate — it copies nothing of the CSR
    but its key — and is the last word on it: it judges the key, the term, the names, keyUsage and EKU again by
    contracts/certificate_rules.py for the certificate type and trust class asked for, and lints with the profile
    those two decide (V1 let the caller name the lint profile). Then it records the pre-issuance event, signs and
    records the issuance."""
    class Meta:
        unknown = RAISE

    request_id = fields.String(required=True, validate=validate.Length(min=1, max=80))
    ca_id = fields.UUID(allow_none=True, load_default=None, metadata={"description": "null: the default issuing CA"})
    cert_type = fields.String(required=True, validate=validate.OneOf(CERT_TYPES))
    trust_class = fields.String(load_default="private", validate=validate.OneOf(TRUST_CLASSES))
    csr_pem = fields.String(required=True, validate=validate.Length(min=1, max=65536))
    common_name = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=300))
    sans = fields.List(fields.String(validate=validate.Length(min=1, max=300)), required=True,
                       validate=validate.Length(max=250),
                       metadata={"description": "DNS names and IP addresses (a TLS certificate needs one)"})
    emails = fields.List(fields.String(validate=validate.Length(min=1, max=254)), load_default=list,
                         validate=validate.Length(max=10),
                         metadata={"description": "rfc822Name SANs: client certificates only (1 to 10), the "
                                                  "common_name (if any) one of them"})
    subject = fields.Nested(SubjectV1, load_default=dict)
    term_days = fields.Integer(required=True, validate=validate.Range(min=1, max=3650))
    key_usage = fields.List(fields.String(), required=True)
    extended_key_usage = fields.List(fields.String(), required=True)
    dry_run = fields.Boolean(load_default=False, metadata={"description": "lint only: nothing recorded or signed"})


SERVICE_PURPOSES = ("scep_ra", "tls_server")
SERVICE_CERT_MAX_DAYS = 397


class IssueServiceCertificateV1(Schema):
    """Certplane's own certificates, signed by one of its issuing CAs for a server of its own (never a subscriber):
    `scep_ra` — the SCEP registration authority's (RSA key; keyUsage digitalSignature + keyEncipherment: it signs
    CertRep messages and devices encrypt their requests to it; no EKU), `tls_server` — the EST listener's TLS
    certificate (EKU serverAuth; no CA/Browser Forum policy: it is not a public certificate). Linted with RFC
    5280's rules before signing, recorded as any issuance."""
    class Meta:
        unknown = RAISE

    purpose = fields.String(required=True, validate=validate.OneOf(SERVICE_PURPOSES))
    csr_pem = fields.String(required=True, validate=validate.Length(min=1, max=65536))
    common_name = fields.String(required=True, validate=[validate.Length(min=1, max=64),
                                                         validate.Regexp(r"^[^\x00-\x1f\x7f]+$")])
    dns_names = fields.List(fields.String(validate=validate.Length(min=1, max=253)), load_default=list,
                            validate=validate.Length(max=20))
    ip_addresses = fields.List(fields.IP(), load_default=list, validate=validate.Length(max=20))
    ca_id = fields.UUID(allow_none=True, load_default=None, metadata={"description": "null: the default issuing CA"})
    days = fields.Integer(load_default=365, validate=validate.Range(min=1, max=SERVICE_CERT_MAX_DAYS))


class CreateIssuingCaV1(Schema):
    """POST /api/v1/cas: another issuing CA under an existing root (e.g. one per business unit or key type)."""
    class Meta:
        unknown = RAISE

    name = fields.String(required=True, validate=[validate.Length(min=1, max=64),
                                                  validate.Regexp(r"^[^\x00-\x1f\x7f]+$")])
    parent_ca_id = fields.UUID(allow_none=True, load_default=None, metadata={"description": "a root; null: the default"})
    key_algorithm = fields.String(load_default="ec-p256", validate=validate.OneOf(KEY_ALGORITHMS))


class RevokeCertificateV1(Schema):
    class Meta:
        unknown = RAISE

    reason = fields.String(load_default="unspecified", validate=validate.OneOf(LEAF_REVOCATION_REASONS))


class CaRevocationRequestV1(Schema):
    """POST /api/v1/cas/{id}/revoke: an MRAO asks to revoke an issuing CA; a different MRAO approves (dual
    control, DESIGN §6)."""
    class Meta:
        unknown = RAISE

    reason = fields.String(required=True, validate=validate.OneOf(CA_REVOCATION_REASONS))


class CaRevocationDecisionV1(Schema):
    """POST /api/v1/cas/{id}/revoke/approve or …/reject: an optional message, kept in the event."""
    class Meta:
        unknown = RAISE

    message = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=500))


# ---- RPC answers (V1) -------------------------------------------------------------------------------------

class CaRevocationV1(Schema):
    status = fields.String(required=True, validate=validate.OneOf(CA_REVOCATION_STATUSES))
    reason = fields.String(required=True, validate=validate.OneOf(CA_REVOCATION_REASONS))
    requested_by = fields.String(required=True, metadata={"description": "admin id"})
    requested_at = fields.String(required=True)
    approved_by = fields.String(allow_none=True, metadata={"description": "admin id, once revoked"})
    revoked_at = fields.String(allow_none=True)


class CaCertificateV1(Schema):
    serial = fields.String(required=True)
    not_before = fields.String(required=True)
    not_after = fields.String(required=True)
    sha256_fingerprint = fields.String(required=True)
    current = fields.Boolean(required=True, metadata={"description": "the one chains and /ca/{id}.crt serve"})


class CaV1(Schema):
    ca_id = fields.UUID(required=True)
    name = fields.String(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(CA_KINDS))
    parent_ca_id = fields.UUID(allow_none=True)
    key_algorithm = fields.String(required=True)
    subject = fields.String(required=True)
    serial = fields.String(required=True)
    not_before = fields.String(required=True)
    not_after = fields.String(required=True)
    sha256_fingerprint = fields.String(required=True)
    certificate_pem = fields.String(required=True)
    default = fields.Boolean(required=True, metadata={"description": "the issuing CA used when none is named"})
    status = fields.String(required=True, validate=validate.OneOf(("active", "revoked")),
                           metadata={"description": "revoked: the CA signs nothing more; its CRL is still published"})
    revocation = fields.Nested(CaRevocationV1, required=True, allow_none=True,
                               metadata={"description": "a pending (requested) or done (revoked) revocation"})
    certificates = fields.List(fields.Nested(CaCertificateV1), required=True, metadata={
        "description": "every certificate of the CA's key, oldest first; GET /ca/{id}.crt?serial= serves each"})


# ---- events (V1) ------------------------------------------------------------------------------------------

class _Event(Schema):
    class Meta:
        unknown = EXCLUDE


class CaCreatedV1(_Event):
    ca_id = fields.UUID(required=True)
    name = fields.String(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(CA_KINDS))
    parent_ca_id = fields.UUID(allow_none=True)
    key_ref = fields.String(required=True, metadata={"description": "where the key store keeps the private key"})
    key_algorithm = fields.String(required=True, validate=validate.OneOf(KEY_ALGORITHMS))
    public_key_sha256 = fields.String(required=True)
    certificate_pem = fields.String(required=True)
    serial = fields.String(required=True)
    subject = fields.String(required=True)
    not_before = fields.String(required=True)
    not_after = fields.String(required=True)
    sha256_fingerprint = fields.String(required=True)


class CertificateSigningV1(_Event):
    """Recorded after the lint passed and BEFORE the signature: a certificate signed but never stored is still
    known by serial, so it can be revoked (and OCSP never calls it unknown)."""
    ca_id = fields.UUID(required=True)
    serial = fields.String(required=True)
    request_id = fields.String(required=True)
    subject = fields.String(required=True)
    sans = fields.List(fields.String(), required=True)
    not_before = fields.String(required=True)
    not_after = fields.String(required=True)
    tbs_sha256 = fields.String(required=True, metadata={"description": "sha256 of the linted to-be-signed data"})


class CertificateIssuedV1(_Event):
    ca_id = fields.UUID(required=True)
    serial = fields.String(required=True)
    request_id = fields.String(required=True)
    certificate_pem = fields.String(required=True)
    sha256_fingerprint = fields.String(required=True)
    not_before = fields.String(required=True)
    not_after = fields.String(required=True)
    application_id = fields.String(allow_none=True, load_default=None, metadata={
        "description": "the event id of the application (an enrollment event with a signing_request) signed here; "
                       "null for a certificate signed through the issue_certificate RPC"})
    chain_pem = fields.List(fields.String(), allow_none=True, load_default=None, metadata={
        "description": "the issuing CA's certificate and each parent up to the root, PEM, as of the signature"})


class CertificateRefusedV1(_Event):
    """An application the CA would not sign (its own rules, or the lint found an ERROR): nothing was signed."""
    ca_id = fields.String(allow_none=True, required=True)
    request_id = fields.String(required=True)
    application_id = fields.String(required=True)
    code = fields.String(required=True)
    reason = fields.String(required=True)
    findings = fields.List(fields.Dict(), required=True)


class CertificateRevokedV1(_Event):
    ca_id = fields.UUID(required=True)
    serial = fields.String(required=True)
    reason = fields.String(required=True, validate=validate.OneOf(REVOCATION_REASONS))
    revoked_at = fields.String(required=True)


class CrlPublishedV1(_Event):
    ca_id = fields.UUID(required=True)
    crl_number = fields.Integer(required=True)
    this_update = fields.String(required=True)
    next_update = fields.String(required=True)
    entries = fields.Integer(required=True)
    sha256 = fields.String(required=True, metadata={"description": "of the DER (the CRL itself is at /crl/<ca>.crl)"})


class CaCertificateReissuedV1(_Event):
    """A new certificate for the same CA key (new validity, links from the current public base URL); it is the
    CA's current certificate from now on. The earlier ones stay valid until they expire or the CA is revoked."""
    ca_id = fields.UUID(required=True)
    parent_ca_id = fields.UUID(allow_none=True, metadata={"description": "the signer; null: a self-signed root"})
    certificate_pem = fields.String(required=True)
    serial = fields.String(required=True)
    subject = fields.String(required=True)
    not_before = fields.String(required=True)
    not_after = fields.String(required=True)
    sha256_fingerprint = fields.String(required=True)
    previous_serial = fields.String(required=True)


class CaRevocationRequestedV1(_Event):
    ca_id = fields.UUID(required=True)
    reason = fields.String(required=True, validate=validate.OneOf(CA_REVOCATION_REASONS))
    requested_by = fields.String(required=True)
    requested_at = fields.String(required=True)


class CaRevocationRejectedV1(_Event):
    ca_id = fields.UUID(required=True)
    rejected_by = fields.String(required=True)
    rejected_at = fields.String(required=True)
    message = fields.String(allow_none=True)


class CaRevokedV1(_Event):
    """The second MRAO approved: every certificate of the CA's key (`serials`) is revoked by its parent, so it is
    in the parent's ARL and OCSP answers revoked for it; the CA signs nothing more."""
    ca_id = fields.UUID(required=True)
    parent_ca_id = fields.UUID(required=True)
    serials = fields.List(fields.String(), required=True)
    reason = fields.String(required=True, validate=validate.OneOf(CA_REVOCATION_REASONS))
    requested_by = fields.String(required=True)
    approved_by = fields.String(required=True)
    revoked_at = fields.String(required=True)
    message = fields.String(allow_none=True)


EVENTS = {
    "ca_created.v1": CaCreatedV1,
    "ca_certificate_reissued.v1": CaCertificateReissuedV1,
    "ca_revocation_requested.v1": CaRevocationRequestedV1,
    "ca_revocation_rejected.v1": CaRevocationRejectedV1,
    "ca_revoked.v1": CaRevokedV1,
    "certificate_signing.v1": CertificateSigningV1,
    "certificate_issued.v1": CertificateIssuedV1,
    "certificate_refused.v1": CertificateRefusedV1,
    "certificate_revoked.v1": CertificateRevokedV1,
    "crl_published.v1": CrlPublishedV1,
}

_CA = "5c0a0000-0000-4000-8000-0000000000c1"
_PEM = "-----BEGIN CERTIFICATE-----\nMIIB...\n-----END CERTIFICATE-----\n"
_SERIAL = "5f3a9c0e7d1b2a4c6e8f0a1b2c3d4e5f60718293"
EXAMPLES = {
    "ca_created.v1": {"ca_id": _CA, "name": "Certplane Issuing CA", "kind": "issuing",
                      "parent_ca_id": "5c0a0000-0000-4000-8000-0000000000c0", "key_ref": "k-1",
                      "key_algorithm": "ec-p256", "public_key_sha256": "ab" * 32, "certificate_pem": _PEM,
                      "serial": "0a1b", "subject": "CN=Certplane Issuing CA,O=Certplane",
                      "not_before": "2026-11-30T00:00:00+00:00", "not_after": "2031-11-30T00:00:00+00:00",
                      "sha256_fingerprint": "cd" * 32},
    "certificate_signing.v1": {"ca_id": _CA, "serial": _SERIAL, "request_id": "ssl:1", "subject": "CN=example.com",
                               "sans": ["example.com"], "not_before": "2026-11-30T10:00:00+00:00",
                               "not_after": "2027-02-28T10:00:00+00:00", "tbs_sha256": "ef" * 32},
    "certificate_issued.v1": {"ca_id": _CA, "serial": _SERIAL, "request_id": "ssl:1", "certificate_pem": _PEM,
                              "sha256_fingerprint": "01" * 32, "not_before": "2026-11-30T10:00:00+00:00",
                              "not_after": "2027-02-28T10:00:00+00:00",
                              "application_id": "7e1f0000-0000-4000-8000-0000000000a1", "chain_pem": [_PEM, _PEM]},
    "certificate_refused.v1": {"ca_id": _CA, "request_id": "ssl:2", "application_id":
                               "7e1f0000-0000-4000-8000-0000000000a2", "code": "lint_failed",
                               "reason": "the certificate would break the rules it is linted against; nothing was "
                                         "signed",
                               "findings": [{"severity": "ERROR", "code": "x", "message": None, "path": None}]},
    "certificate_revoked.v1": {"ca_id": _CA, "serial": _SERIAL, "reason": "key_compromise",
                               "revoked_at": "2026-12-01T10:00:00+00:00"},
    "crl_published.v1": {"ca_id": _CA, "crl_number": 7, "this_update": "2026-12-01T10:00:30+00:00",
                         "next_update": "2026-12-08T10:00:30+00:00", "entries": 1, "sha256": "23" * 32},
    "ca_certificate_reissued.v1": {"ca_id": _CA, "parent_ca_id": "5c0a0000-0000-4000-8000-0000000000c0",
                                   "certificate_pem": _PEM, "serial": "0a1c",
                                   "subject": "CN=Certplane Issuing CA,O=Certplane",
                                   "not_before": "2027-01-10T00:00:00+00:00",
                                   "not_after": "2037-01-08T00:00:00+00:00", "sha256_fingerprint": "ce" * 32,
                                   "previous_serial": "0a1b"},
    "ca_revocation_requested.v1": {"ca_id": _CA, "reason": "ca_compromise",
                                   "requested_by": "0d000000-0000-4000-8000-00000000a001",
                                   "requested_at": "2027-02-01T09:00:00+00:00"},
    "ca_revocation_rejected.v1": {"ca_id": _CA, "rejected_by": "0d000000-0000-4000-8000-00000000a002",
                                  "rejected_at": "2027-02-01T09:30:00+00:00", "message": "false alarm"},
    "ca_revoked.v1": {"ca_id": _CA, "parent_ca_id": "5c0a0000-0000-4000-8000-0000000000c0",
                      "serials": ["0a1b", "0a1c"], "reason": "ca_compromise",
                      "requested_by": "0d000000-0000-4000-8000-00000000a001",
                      "approved_by": "0d000000-0000-4000-8000-00000000a002",
                      "revoked_at": "2027-02-01T10:00:00+00:00", "message": None},
}
