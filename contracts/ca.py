"""`ca` service contracts: certificate authorities, issued certificates, revocations and CRLs, as events (V1),
RPC requests and answers.

Private keys never appear here: events carry a `key_ref` into the CA's key store and public fingerprints.
Certificates and CRL metadata are public data and travel as PEM / fields. Serials are lower-case hex.
"""
from __future__ import annotations

from marshmallow import EXCLUDE, RAISE, Schema, fields, validate

SOURCE = "ca"

CA_KINDS = ("root", "issuing")
KEY_ALGORITHMS = ("ec-p256", "ec-p384", "rsa-3072", "rsa-4096")
REVOCATION_REASONS = ("unspecified", "key_compromise", "ca_compromise", "affiliation_changed", "superseded",
                      "cessation_of_operation", "certificate_hold", "privilege_withdrawn", "aa_compromise")
# BR 7.2.2: what a subscriber (leaf) certificate's revocation may say; certificateHold, cACompromise and
# aACompromise are for CA certificates only (and certificateHold not at all).
LEAF_REVOCATION_REASONS = ("unspecified", "key_compromise", "affiliation_changed", "superseded",
                           "cessation_of_operation", "privilege_withdrawn")
LINT_PROFILES = ("serverauth", "rfc5280")


# ---- RPC requests (V1) ------------------------------------------------------------------------------------

class SubjectV1(Schema):
    class Meta:
        unknown = RAISE

    organization = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=64))
    organizational_unit = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=64))
    country = fields.String(allow_none=True, load_default=None, validate=validate.Length(equal=2))
    state = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=128))
    locality = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=128))


class IssueCertificateV1(Schema):
    """What enrollment asks the CA to sign. The CA builds the certificate, lints it, records the pre-issuance event,
    signs, records the issuance; the CSR's own subject and extensions are not copied."""
    class Meta:
        unknown = RAISE

    request_id = fields.String(required=True, validate=validate.Length(min=1, max=80))
    ca_id = fields.UUID(allow_none=True, load_default=None, metadata={"description": "null: the default issuing CA"})
    csr_pem = fields.String(required=True, validate=validate.Length(min=1, max=65536))
    common_name = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=64))
    sans = fields.List(fields.String(validate=validate.Length(min=1, max=255)), required=True,
                       validate=validate.Length(min=1, max=250))
    subject = fields.Nested(SubjectV1, load_default=dict)
    term_days = fields.Integer(required=True, validate=validate.Range(min=1, max=3650))
    key_usage = fields.List(fields.String(), required=True)
    extended_key_usage = fields.List(fields.String(), required=True)
    lint_profile = fields.String(required=True, validate=validate.OneOf(LINT_PROFILES))
    dry_run = fields.Boolean(load_default=False, metadata={"description": "lint only: nothing recorded or signed"})


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


# ---- RPC answers (V1) -------------------------------------------------------------------------------------

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


EVENTS = {
    "ca_created.v1": CaCreatedV1,
    "certificate_signing.v1": CertificateSigningV1,
    "certificate_issued.v1": CertificateIssuedV1,
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
                              "not_after": "2027-02-28T10:00:00+00:00"},
    "certificate_revoked.v1": {"ca_id": _CA, "serial": _SERIAL, "reason": "key_compromise",
                               "revoked_at": "2026-12-01T10:00:00+00:00"},
    "crl_published.v1": {"ca_id": _CA, "crl_number": 7, "this_update": "2026-12-01T10:00:30+00:00",
                         "next_update": "2026-12-08T10:00:30+00:00", "entries": 1, "sha256": "23" * 32},
}
