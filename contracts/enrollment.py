"""`enrollment` service contracts: certificate profiles and SSL certificate requests with their lifecycle
(`requested → approved → applied → issued → downloaded`, and `declined`, `revoked`, `expired`), as events (V1),
RPC requests and answers. A CSR is public data and travels in `ssl_requested.v1`; certificates too."""
from __future__ import annotations

from datetime import datetime, timezone

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, pre_load, validate, validates_schema

from contracts.access import CERT_TYPES
from contracts.ca import LEAF_REVOCATION_REASONS
from contracts.common import text
from contracts.certificate_rules import (BR_FINAL_MAX_DAYS, BR_VALIDITY_STEPS, CODE_SIGNING_KEY_TYPES,  # noqa: F401 (re-exported)
                                         EKU_ALLOWED, EKU_REQUIRED, EXTENDED_KEY_USAGES, KEY_TYPES, KEY_USAGE_ALLOWED,
                                         KEY_USAGES, MAX_COMMON_NAME, MAX_TERM_DAYS, TRUST_CLASSES,
                                         br_max_validity_days, max_validity_days)

SOURCE = "enrollment"
# the events that apply a request to the CA (their payload carries contracts.ca.SIGNING_REQUEST_FIELD): what the
# ca's processor subscribes to; each new enrollment path adds its own
APPLICATION_EVENTS = ("ssl_applied.v1", "cert_applied.v1")     # cert_: client, code signing, device

# failed: the CA refused the application after it was recorded (lint, the CA's rules); approve again or decline
SSL_STATUSES = ("requested", "approved", "applied", "issued", "downloaded", "declined", "revoked", "expired",
                "failed")
# a filter of the SSL list, not a status: issued or downloaded and not yet past notAfter (a certificate in use)
VALID = "valid"
SSL_LIST_STATUSES = SSL_STATUSES + (VALID,)
# how the SSL list sorts: by one of these columns, "-" for descending (ties by ssl_id in the same direction)
SSL_SORTS = ("created_at", "not_after", "common_name", "status", "serial")
SSL_SORT_VALUES = tuple(v for name in SSL_SORTS for v in (name, f"-{name}"))
DEFAULT_SSL_SORT = "-created_at"
DOWNLOAD_FORMATS = {
    "pem": ("application/x-pem-file", "crt", "the certificate, PEM"),
    "der": ("application/pkix-cert", "cer", "the certificate, DER"),
    "chain": ("application/x-pem-file", "pem", "certificate and issuing CA, PEM"),
    "fullchain": ("application/x-pem-file", "pem", "certificate, issuing CA and root, PEM"),
    "p7b": ("application/pkcs7-mime", "p7b", "certificate, issuing CA and root as PKCS#7 (DER)"),
}


# ---- certificate profiles (the rules per certificate type are explained in services/enrollment/profiles.py) ----

# The key, name, validity and usage rules are contracts/certificate_rules.py (shared with the ca); their
# constants are imported above for the profile schema and its readers.
MAX_SANS = 250


# ---- the profile's fields -----------------------------------------------------------------------------------

def _unique(values: list) -> bool:
    return len(values) == len(set(values))


class ProfileFieldsV1(Schema):
    """A certificate profile as created or replaced (RPC request V1: unknown fields are refused).

    `now` decides the BR validity ceiling for SSL terms: `ProfileFieldsV1(now=...)`; without it the clock is read
    when loading, which is right at an entrypoint. Cross-field rules need the whole profile: validate the merged
    profile on an update, not the partial change."""

    class Meta:
        unknown = RAISE

    def __init__(self, *, now: datetime | None = None, **kwargs):
        super().__init__(**kwargs)
        self.now = now

    name = text(64, required=True)
    description = text(1024, allow_none=True, load_default=None)
    ca_id = fields.UUID(allow_none=True, load_default=None, metadata={"description": "null: the default CA"})
    cert_type = fields.String(required=True, validate=validate.OneOf(CERT_TYPES))
    terms = fields.List(fields.Integer(strict=True, validate=validate.Range(1, MAX_TERM_DAYS)), required=True,
                        validate=validate.Length(min=1, max=10), metadata={"description": "allowed terms in days"})
    key_types = fields.List(fields.String(validate=validate.OneOf(KEY_TYPES)), required=True,
                            validate=validate.Length(min=1, max=len(KEY_TYPES)))
    key_usage = fields.List(fields.String(validate=validate.OneOf(KEY_USAGES)),
                            load_default=lambda: ["digital_signature"],
                            validate=validate.Length(min=1, max=len(KEY_USAGES)))
    key_encipherment_for_rsa = fields.Boolean(load_default=False, metadata={
        "description": "add keyEncipherment to certificates for RSA keys (never for ECDSA keys)"})
    extended_key_usage = fields.List(fields.String(validate=validate.OneOf(EXTENDED_KEY_USAGES)), required=True,
                                     validate=validate.Length(min=1, max=len(EXTENDED_KEY_USAGES)))
    max_sans = fields.Integer(strict=True, load_default=100, validate=validate.Range(1, MAX_SANS))
    requires_approval = fields.Boolean(load_default=True)
    trust_class = fields.String(load_default="private", validate=validate.OneOf(TRUST_CLASSES), metadata={
        "description": "TLS profiles: `private` (the default; the company's own PKI: internal names, IP addresses, "
                       "OU, RFC 5280 lint, terms up to 398 days) or `public` (CA/Browser Forum rules in full: fresh "
                       "DCV, CAA, no internal names or IP addresses, no OU, BR validity). Other types are private. "
                       "Fixed once the profile exists."})

    @pre_load
    def _legacy_public_flag(self, data, **_):
        """Profiles stored before trust classes had `public: bool`; read it as the trust class it meant."""
        if isinstance(data, dict) and "public" in data:
            data = dict(data)
            public = data.pop("public")
            data.setdefault("trust_class", "public" if public is True else "private")
        return data

    @validates_schema
    def _fits_its_certificate_type(self, data, **_):
        errors: dict[str, list[str]] = {}
        for field in ("terms", "key_types", "key_usage", "extended_key_usage"):
            if field in data and not _unique(data[field]):
                errors.setdefault(field, []).append("must not repeat a value")
        cert_type = data.get("cert_type")
        if cert_type is None:
            if errors:
                raise ValidationError(errors)
            return
        for usage in data.get("key_usage", ()):
            if usage not in KEY_USAGE_ALLOWED[cert_type]:
                errors.setdefault("key_usage", []).append(_key_usage_refusal(cert_type, usage))
        if "key_usage" in data and "digital_signature" not in data["key_usage"]:
            errors.setdefault("key_usage", []).append("must include digital_signature")
        eku = set(data.get("extended_key_usage", ()))
        if "extended_key_usage" in data:
            for usage in sorted(eku - EKU_ALLOWED[cert_type]):
                errors.setdefault("extended_key_usage", []).append(f"{usage} is not allowed in a {cert_type} "
                                                                   "profile")
            for usage in sorted(EKU_REQUIRED[cert_type] - eku):
                errors.setdefault("extended_key_usage", []).append(f"a {cert_type} profile must include {usage}")
        trust_class = data.get("trust_class", "private")
        if trust_class == "public" and cert_type != "ssl":
            errors.setdefault("trust_class", []).append("only TLS (ssl) profiles have the public trust class")
        elif cert_type == "ssl" and trust_class == "public" and data.get("terms"):
            ceiling = max_validity_days(cert_type, trust_class, self.now or datetime.now(timezone.utc))
            for days in sorted(d for d in data["terms"] if d > ceiling):
                errors.setdefault("terms", []).append(f"{days} days is over the CA/Browser Forum limit of {ceiling} "
                                                      "days for public TLS certificates issued now")
        if cert_type == "code_signing":
            for key_type in data.get("key_types", ()):
                if key_type not in CODE_SIGNING_KEY_TYPES:
                    errors.setdefault("key_types", []).append(f"{key_type} is not a code-signing key type (CS "
                                                              "BR 6.1.5: RSA of at least 3072 bits, P-256, P-384)")
            if data.get("key_encipherment_for_rsa"):
                errors.setdefault("key_encipherment_for_rsa", []).append(
                    "code-signing certificates carry digitalSignature only")
        if errors:
            raise ValidationError(errors)


def _key_usage_refusal(cert_type: str, usage: str) -> str:
    if usage == "key_encipherment":
        return ("key_encipherment is not listed: set key_encipherment_for_rsa instead (it is allowed for RSA keys "
                "only, never for ECDSA)")
    if usage == "content_commitment":
        return "content_commitment is allowed only in client (S/MIME) profiles"
    return f"{usage} is not offered in a {cert_type} profile (it depends on the key algorithm or is not recommended)"



# ---- RPC requests (V1) ------------------------------------------------------------------------------------

class SslRequestV1(Schema):
    """POST /api/v1/ssl: what an administrator fills in on the SSL request form."""
    class Meta:
        unknown = RAISE

    organization_id = fields.UUID(required=True)
    department_id = fields.UUID(allow_none=True, load_default=None)
    profile_id = fields.UUID(required=True)
    term_days = fields.Integer(required=True, validate=validate.Range(min=1, max=3650))
    csr = fields.String(required=True, validate=validate.Length(min=1, max=65536),
                        metadata={"description": "PEM (or base64 DER) PKCS#10 request"})
    common_name = fields.String(allow_none=True, load_default=None, validate=validate.Length(min=1, max=300),
                                metadata={"description": "at most 64 characters once normalised; one of the SANs"})
    sans = fields.List(fields.String(validate=validate.Length(min=1, max=300)), load_default=list,
                       validate=validate.Length(max=500))
    comments = text(1024, allow_none=True, load_default=None)
    external_requester = fields.Email(allow_none=True, load_default=None)
    auto_renew = fields.Boolean(load_default=False)


class RenewV1(Schema):
    """POST /api/v1/ssl/{id}/renew and /replace: the same details again, with a new CSR (or the stored one, which
    keeps the key)."""
    class Meta:
        unknown = RAISE

    csr = fields.String(allow_none=True, load_default=None, validate=validate.Length(min=1, max=65536),
                        metadata={"description": "a new CSR; absent: the one of the certificate renewed"})


class ApproveV1(Schema):
    class Meta:
        unknown = RAISE

    message = text(1024, allow_none=True, load_default=None)


class DeclineV1(Schema):
    class Meta:
        unknown = RAISE

    reason = text(1024, required=True)


class RevokeV1(Schema):
    class Meta:
        unknown = RAISE

    reason = fields.String(load_default="unspecified", validate=validate.OneOf(LEAF_REVOCATION_REASONS),
                           metadata={"description": "RFC 5280 reason allowed for a subscriber certificate (BR 7.2.2)"})


# ---- RPC answers (V1) -------------------------------------------------------------------------------------

class SslV1(Schema):
    ssl_id = fields.UUID(required=True)
    status = fields.String(required=True, validate=validate.OneOf(SSL_STATUSES))
    organization_id = fields.UUID(required=True)
    department_id = fields.UUID(allow_none=True)
    profile_id = fields.UUID(required=True)
    term_days = fields.Integer(required=True)
    trust_class = fields.String(required=True, validate=validate.OneOf(TRUST_CLASSES))
    common_name = fields.String(allow_none=True, metadata={"description": "null: the certificate has no CN (no "
                                                                          "name fits in 64 characters)"})
    sans = fields.List(fields.String(), required=True, metadata={"description": "DNS names and IP addresses"})
    key_type = fields.String(required=True)
    comments = fields.String(allow_none=True)
    external_requester = fields.String(allow_none=True)
    auto_renew = fields.Boolean(required=True)
    requested_by = fields.String(required=True)
    approved_by = fields.String(allow_none=True)
    declined_reason = fields.String(allow_none=True)
    last_error = fields.String(allow_none=True)
    last_findings = fields.List(fields.Dict(), metadata={
        "description": "the lint's findings when the CA refused the last application (status failed), else []"})
    last_error_code = fields.String(allow_none=True, metadata={
        "description": "the CA's code for that refusal (lint_failed, ...), else null"})
    serial = fields.String(allow_none=True)
    ca_id = fields.String(allow_none=True)
    not_before = fields.String(allow_none=True)
    not_after = fields.String(allow_none=True)
    sha256_fingerprint = fields.String(allow_none=True)
    revocation_reason = fields.String(allow_none=True)
    renewal_of = fields.String(allow_none=True)
    renewed_by = fields.String(allow_none=True, metadata={"description": "the request that renews this one"})
    created_at = fields.String(required=True)
    updated_at = fields.String(required=True)


# ---- events (V1) ------------------------------------------------------------------------------------------

class _Event(Schema):
    class Meta:
        unknown = EXCLUDE


class SslRequestedV1(_Event):
    ssl_id = fields.UUID(required=True)
    organization_id = fields.UUID(required=True)
    department_id = fields.UUID(allow_none=True)
    profile_id = fields.UUID(required=True)
    term_days = fields.Integer(required=True)
    common_name = fields.String(allow_none=True, metadata={"description": "null: no CN"})
    sans = fields.List(fields.String(), required=True, metadata={"description": "DNS names and IP addresses"})
    key_type = fields.String(required=True)
    csr_pem = fields.String(required=True)
    subject = fields.Dict(required=True, metadata={"description": "O, OU, C, ST, L from the organization"})
    comments = fields.String(allow_none=True)
    external_requester = fields.String(allow_none=True)
    auto_renew = fields.Boolean(required=True)
    requested_by = fields.String(required=True)
    requester_email = fields.String(allow_none=True, load_default=None, metadata={
        "description": "where the collection mail goes (with external_requester)"})
    renewal_of = fields.UUID(allow_none=True, load_default=None, metadata={"description": "renew/replace: the old"})
    replaces = fields.Boolean(load_default=False, metadata={"description": "revoke the old one once this is issued"})
    trust_class = fields.String(load_default="private", validate=validate.OneOf(TRUST_CLASSES),
                                metadata={"description": "of the profile, when requested"})


class SslApprovedV1(_Event):
    ssl_id = fields.UUID(required=True)
    approved_by = fields.String(required=True)
    message = fields.String(allow_none=True)
    automatic = fields.Boolean(required=True, metadata={"description": "no approval needed, or auto approve"})


class SslDeclinedV1(_Event):
    ssl_id = fields.UUID(required=True)
    declined_by = fields.String(required=True)
    reason = fields.String(required=True)


class SslAppliedV1(_Event):
    """The request goes to the CA. `signing_request` (an IssueCertificateV2 without dry_run) is what the ca's
    processor signs — the event's id is the application's id (contracts/ca.py APPLICATION_FIELD). Events recorded
    before the pipeline have none (they were signed through an RPC)."""
    ssl_id = fields.UUID(required=True)
    signing_request = fields.Dict(allow_none=True, load_default=None)


class SslIssuanceFailedV1(_Event):
    ssl_id = fields.UUID(required=True)
    reason = fields.String(required=True)
    findings = fields.List(fields.Dict(), required=True)
    code = fields.String(allow_none=True, load_default=None, metadata={"description": "the CA's refusal code"})


class SslIssuedV1(_Event):
    ssl_id = fields.UUID(required=True)
    serial = fields.String(required=True)
    ca_id = fields.String(required=True)
    not_before = fields.String(required=True)
    not_after = fields.String(required=True)
    sha256_fingerprint = fields.String(required=True)
    certificate_pem = fields.String(required=True)
    chain_pem = fields.List(fields.String(), required=True)
    collection_sha256 = fields.String(allow_none=True, load_default=None, metadata={
        "description": "sha256 of the collection id the collection mail carries (the id itself never is here)"})
    collection_mail = fields.Boolean(load_default=True, metadata={
        "description": "a collection mail is due (the request names a requester or external requester to mail; "
                       "an ACME client's request names none)"})


class SslDownloadedV1(_Event):
    ssl_id = fields.UUID(required=True)
    format = fields.String(required=True)
    downloaded_by = fields.String(required=True)


class SslRevokedV1(_Event):
    ssl_id = fields.UUID(required=True)
    serial = fields.String(required=True)
    reason = fields.String(required=True, validate=validate.OneOf(LEAF_REVOCATION_REASONS))
    revoked_by = fields.String(required=True)


EVENTS = {
    "ssl_requested.v1": SslRequestedV1,
    "ssl_approved.v1": SslApprovedV1,
    "ssl_declined.v1": SslDeclinedV1,
    "ssl_applied.v1": SslAppliedV1,
    "ssl_issuance_failed.v1": SslIssuanceFailedV1,
    "ssl_issued.v1": SslIssuedV1,
    "ssl_downloaded.v1": SslDownloadedV1,
    "ssl_revoked.v1": SslRevokedV1,
}


class ProfileCreatedV1(_Event):
    profile_id = fields.UUID(required=True)
    profile = fields.Dict(required=True, metadata={"description": "ProfileFieldsV1, whole"})


class ProfileUpdatedV1(_Event):
    profile_id = fields.UUID(required=True)
    profile = fields.Dict(required=True, metadata={"description": "ProfileFieldsV1 after the change, whole"})
    changed = fields.List(fields.String(), required=True)


class ProfileDeletedV1(_Event):
    profile_id = fields.UUID(required=True)


EVENTS.update({"profile_created.v1": ProfileCreatedV1, "profile_updated.v1": ProfileUpdatedV1,
               "profile_deleted.v1": ProfileDeletedV1})
