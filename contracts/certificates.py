"""`enrollment` service contracts for the certificates that are not TLS: client (S/MIME and client
authentication, for persons), code-signing and device certificates (issue 15), as events (V1), RPC requests and
answers. One aggregate serves the three types (stream `cert-<cert_id>`, every event naming its `cert_type`), so
they share one lifecycle:

    invited → requested → approved → applied → issued → downloaded,   declined, failed, revoked, expired

`invited`: an administrator asked for a certificate for a person, who has not yet answered the invitation mail
(its single-use link proves the mailbox; the person then makes a key in the browser or lets the server make one).
Requests without a person (devices, a CSR given by an administrator) start at `requested`. `expired` is derived
from notAfter when read. Private keys never travel here: a server-made key is kept encrypted with the password the
person chose (and, with key escrow, to the organization's master key) outside the event log."""
from __future__ import annotations

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, validate, validates

from contracts.ca import LEAF_REVOCATION_REASONS
from contracts.common import text
# approve, decline and revoke take what an SSL request's do
from contracts.enrollment import ApproveV1, DeclineV1, RevokeV1  # noqa: F401 (re-exported)

# the certificate types of this aggregate, and the REST resource each is under (SCM's names: /smime → client)
CERT_TYPES = ("client", "code_signing", "device")
RESOURCES = {"client": "client", "code_signing": "cscert", "device": "device"}
TYPE_OF_RESOURCE = {resource: cert_type for cert_type, resource in RESOURCES.items()}
APPLIED_EVENT = "cert_applied.v1"
INVITED_TYPES = ("client", "code_signing")     # a person is invited to these (the invitation link proves the mailbox)

STATUSES = ("invited", "requested", "approved", "applied", "issued", "downloaded", "declined", "failed", "revoked",
            "expired")
VALID = "valid"                          # a filter: issued or downloaded and not past notAfter
LIST_STATUSES = STATUSES + (VALID,)
# how a request reached Certplane (SCM's "requested via")
REQUESTED_VIA = ("console", "api", "invitation", "form", "scep", "est")
KEY_ORIGINS = ("server", "client")       # who made the key: the server (PKCS#12 download) or the applicant (CSR)
# the key a server makes for a person: P-256 (RSA-2048 keygen runs ~32/s per core: only from a pool made ahead)
SERVER_KEY_TYPES = ("ec-p256",)
MIN_PASSWORD = 8
MAX_PASSWORD = 128
MAX_CUSTOM_FIELDS = 20
INVITATION_DAYS = 7

# downloads: the SSL formats, and PKCS#12 where the server holds the key (the person's password opens it)
DOWNLOAD_FORMATS = {
    "pem": ("application/x-pem-file", "crt", "the certificate, PEM"),
    "der": ("application/pkix-cert", "cer", "the certificate, DER"),
    "chain": ("application/x-pem-file", "pem", "certificate and issuing CA, PEM"),
    "fullchain": ("application/x-pem-file", "pem", "certificate, issuing CA and root, PEM"),
    "p7b": ("application/pkcs7-mime", "p7b", "certificate, issuing CA and root as PKCS#7 (DER)"),
    "p12": ("application/x-pkcs12", "p12", "key, certificate and chain as PKCS#12, opened by the password chosen "
                                           "when the key was made (server-made keys only)"),
}


def _printable(value: str) -> None:
    if any(ord(c) < 0x20 or ord(c) == 0x7f for c in value):
        raise ValidationError("must not contain control characters")


def password_field(**kwargs) -> fields.String:
    """A PKCS#12 password as typed: 0..128 characters without control characters (an empty one only where the
    account allows it, and at least MIN_PASSWORD otherwise: decided by enrollment)."""
    return fields.String(validate=[validate.Length(max=MAX_PASSWORD), _printable], load_only=True, **kwargs)


# ---- RPC requests (V1) ------------------------------------------------------------------------------------

class ClientRequestV1(Schema):
    """POST /api/v1/client: an administrator asks for a client certificate for a person. The subject and the
    rfc822Name SANs come from the person (email and alternative emails, in domains delegated for `client`); the
    person gets an invitation mail and answers it (a key made by the browser or the server)."""
    class Meta:
        unknown = RAISE

    person_id = fields.UUID(required=True)
    profile_id = fields.UUID(required=True)
    term_days = fields.Integer(strict=True, required=True, validate=validate.Range(min=1, max=3650))
    comments = text(1024, allow_none=True, load_default=None)


class CsrRequestV1(Schema):
    """POST /api/v1/device and /api/v1/cscert: a request with a CSR made elsewhere. Device: the subject's O, OU,
    L, ST and C are the organization's (missing or different values in the CSR are replaced), the names are the
    CSR's (and `common_name`/`sans`), delegated to the organization for `device`. Code signing: the subscriber is
    the organization (CN and O its name) or, with `person_id`, a person of it (CN the person's name)."""
    class Meta:
        unknown = RAISE

    organization_id = fields.UUID(required=True)
    department_id = fields.UUID(allow_none=True, load_default=None)
    profile_id = fields.UUID(required=True)
    term_days = fields.Integer(strict=True, required=True, validate=validate.Range(min=1, max=3650))
    csr = fields.String(required=True, validate=validate.Length(min=1, max=65536),
                        metadata={"description": "PEM (or base64 DER) PKCS#10 request"})
    common_name = fields.String(allow_none=True, load_default=None, validate=[validate.Length(min=1, max=64),
                                                                              _printable])
    sans = fields.List(fields.String(validate=validate.Length(min=1, max=300)), load_default=list,
                       validate=validate.Length(max=100))
    person_id = fields.UUID(allow_none=True, load_default=None, metadata={"description": "code signing only"})
    custom_fields = fields.Dict(keys=fields.String(validate=[validate.Length(min=1, max=64), _printable]),
                                values=fields.String(validate=[validate.Length(max=256), _printable]),
                                load_default=dict, metadata={"description": "name → value, kept with the request "
                                                                            "(SCM's custom fields)"})
    comments = text(1024, allow_none=True, load_default=None)

    @validates("custom_fields")
    def _few(self, value, **_):
        if len(value) > MAX_CUSTOM_FIELDS:
            raise ValidationError(f"at most {MAX_CUSTOM_FIELDS} custom fields")


class AnswerInvitationV1(Schema):
    """POST /forms/invitations/{token}: the person answers the invitation, with a CSR made in the browser, or with
    the password of the PKCS#12 the server is to make the key for."""
    class Meta:
        unknown = RAISE

    csr = fields.String(allow_none=True, load_default=None, validate=validate.Length(min=1, max=65536))
    password = password_field(allow_none=True, load_default=None)


class PasswordV1(Schema):
    class Meta:
        unknown = RAISE

    password = password_field(required=True)


class InitializeEscrowV1(Schema):
    """POST /api/v1/organizations/{id}/key-escrow ("Initialize encryption"): `public_key_pem` of a master key pair
    made elsewhere (RSA ≥ 3072), or `passphrase` for one the server makes — its private key is answered once,
    encrypted with the passphrase, and never stored."""
    class Meta:
        unknown = RAISE

    public_key_pem = fields.String(allow_none=True, load_default=None, validate=validate.Length(min=1, max=8192))
    passphrase = fields.String(allow_none=True, load_default=None, load_only=True,
                               validate=[validate.Length(max=1024), _printable])


class RecoveryRequestV1(Schema):
    class Meta:
        unknown = RAISE

    reason = text(1024, required=True)


class RecoverKeyV1(Schema):
    """POST …/recovery/key: the master private key (PEM, with its passphrase) for this one operation, and the
    password of the PKCS#12 the key is returned in."""
    class Meta:
        unknown = RAISE

    master_private_key_pem = fields.String(required=True, load_only=True, validate=validate.Length(min=1, max=16384))
    passphrase = fields.String(allow_none=True, load_default=None, load_only=True,
                               validate=[validate.Length(max=1024), _printable])
    pkcs12_password = fields.String(required=True, load_only=True,
                                    validate=[validate.Length(min=MIN_PASSWORD, max=MAX_PASSWORD), _printable])


class EscrowV1(Schema):
    organization_id = fields.UUID(required=True)
    options = fields.Dict(required=True, metadata={"description": "the organization's key-escrow options"})
    initialized = fields.Boolean(required=True)
    public_key_pem = fields.String(allow_none=True)
    public_key_sha256 = fields.String(allow_none=True)
    key_origin = fields.String(allow_none=True, metadata={"description": "server or administrator"})
    initialized_by = fields.String(allow_none=True)
    initialized_at = fields.String(allow_none=True)


# ---- RPC answers (V1) -------------------------------------------------------------------------------------

class CertificateV1(Schema):
    """A client, code-signing or device certificate (request) as the inventories show it."""
    cert_id = fields.UUID(required=True)
    cert_type = fields.String(required=True, validate=validate.OneOf(CERT_TYPES))
    status = fields.String(required=True, validate=validate.OneOf(STATUSES))
    organization_id = fields.UUID(required=True)
    department_id = fields.UUID(allow_none=True)
    profile_id = fields.UUID(required=True)
    term_days = fields.Integer(required=True)
    requested_via = fields.String(required=True, validate=validate.OneOf(REQUESTED_VIA))
    subject = fields.String(allow_none=True, metadata={"description": "RFC 4514, once requested"})
    common_name = fields.String(allow_none=True)
    sans = fields.List(fields.String(), required=True, metadata={"description": "DNS names and IP addresses"})
    emails = fields.List(fields.String(), required=True, metadata={"description": "rfc822Name SANs (client)"})
    person_id = fields.String(allow_none=True)
    name = fields.String(allow_none=True, metadata={"description": "the person's name (client, code signing)"})
    email = fields.String(allow_none=True, metadata={"description": "the person's or applicant's email"})
    key_type = fields.String(allow_none=True)
    key_origin = fields.String(allow_none=True, metadata={"description": "server: a PKCS#12 can be downloaded"})
    custom_fields = fields.Dict(required=True)
    comments = fields.String(allow_none=True)
    requested_by = fields.String(required=True)
    approved_by = fields.String(allow_none=True)
    declined_reason = fields.String(allow_none=True)
    last_error = fields.String(allow_none=True)
    last_error_code = fields.String(allow_none=True)
    last_findings = fields.List(fields.Dict(), required=True)
    serial = fields.String(allow_none=True)
    ca_id = fields.String(allow_none=True)
    not_before = fields.String(allow_none=True)
    not_after = fields.String(allow_none=True)
    sha256_fingerprint = fields.String(allow_none=True)
    revocation_reason = fields.String(allow_none=True)
    invitation_expires_at = fields.String(allow_none=True)
    escrowed = fields.Boolean(required=True, metadata={"description": "its key is escrowed (key escrow)"})
    endpoint_id = fields.String(allow_none=True, metadata={
        "description": "device: the enrollment endpoint it came through (web form, SCEP, EST)"})
    recovery = fields.Dict(allow_none=True, metadata={"description": "a key recovery: {status: requested | "
                                                                     "approved | recovered, requested_by, "
                                                                     "approved_by, reason}"})
    requested_at = fields.String(allow_none=True)
    issued_at = fields.String(allow_none=True)
    downloaded_at = fields.String(allow_none=True)
    created_at = fields.String(required=True)
    updated_at = fields.String(required=True)


# ---- events (V1) ------------------------------------------------------------------------------------------

class _Event(Schema):
    class Meta:
        unknown = EXCLUDE

    cert_id = fields.UUID(required=True)
    cert_type = fields.String(required=True, validate=validate.OneOf(CERT_TYPES))


class CertInvitedV1(_Event):
    organization_id = fields.UUID(required=True)
    department_id = fields.UUID(allow_none=True)
    profile_id = fields.UUID(required=True)
    term_days = fields.Integer(required=True)
    person_id = fields.UUID(required=True)
    email = fields.String(required=True)
    emails = fields.List(fields.String(), required=True, metadata={"description": "the person's email and "
                                                                                  "alternative emails"})
    name = fields.String(allow_none=True)
    invited_by = fields.String(required=True)
    invitation_sha256 = fields.String(required=True, metadata={"description": "of the link's token (never the "
                                                                              "token itself)"})
    expires_at = fields.String(required=True)
    allow_empty_password = fields.Boolean(required=True)
    requested_via = fields.String(required=True)
    comments = fields.String(allow_none=True)
    auto_approve = fields.Boolean(load_default=False, metadata={"description": "the answer is approved at once (an "
                                                                              "auto-approving enrollment account)"})


class CertRequestedV1(_Event):
    organization_id = fields.UUID(required=True)
    department_id = fields.UUID(allow_none=True)
    profile_id = fields.UUID(required=True)
    term_days = fields.Integer(required=True)
    common_name = fields.String(allow_none=True)
    sans = fields.List(fields.String(), required=True)
    emails = fields.List(fields.String(), required=True)
    key_type = fields.String(required=True)
    key_origin = fields.String(required=True, validate=validate.OneOf(KEY_ORIGINS))
    csr_pem = fields.String(required=True)
    subject = fields.Dict(required=True)
    person_id = fields.String(allow_none=True)
    name = fields.String(allow_none=True)
    email = fields.String(allow_none=True)
    requested_by = fields.String(required=True)
    requested_via = fields.String(required=True)
    custom_fields = fields.Dict(load_default=dict)
    comments = fields.String(allow_none=True)
    escrowed = fields.Boolean(load_default=False, metadata={"description": "the key is escrowed, encrypted to the "
                                                                           "organization's master key"})
    endpoint_id = fields.String(allow_none=True, load_default=None, metadata={
        "description": "device: the device enrollment endpoint it came through (web form, SCEP, EST)"})
    protocol_ref = fields.String(allow_none=True, load_default=None, metadata={
        "description": "the protocol's own reference of the request (SCEP: the transactionID)"})


class CertApprovedV1(_Event):
    approved_by = fields.String(required=True)
    message = fields.String(allow_none=True)
    automatic = fields.Boolean(required=True)


class CertDeclinedV1(_Event):
    declined_by = fields.String(required=True)
    reason = fields.String(required=True)


class CertAppliedV1(_Event):
    """The request goes to the CA: `signing_request` (contracts/ca.py IssueCertificateV2) is what its processor
    signs; this event's id is the application's id."""
    signing_request = fields.Dict(required=True)


class CertIssuanceFailedV1(_Event):
    reason = fields.String(required=True)
    findings = fields.List(fields.Dict(), required=True)
    code = fields.String(allow_none=True)


class CertIssuedV1(_Event):
    serial = fields.String(required=True)
    ca_id = fields.String(required=True)
    not_before = fields.String(required=True)
    not_after = fields.String(required=True)
    sha256_fingerprint = fields.String(required=True)
    certificate_pem = fields.String(required=True)
    chain_pem = fields.List(fields.String(), required=True)
    collection_sha256 = fields.String(allow_none=True, metadata={"description": "of the collection id the "
                                                                               "collection mail carries"})
    collection_to = fields.String(allow_none=True, metadata={"description": "who the collection mail goes to"})


class CertDownloadedV1(_Event):
    format = fields.String(required=True)
    downloaded_by = fields.String(required=True)


class CertRevokedV1(_Event):
    serial = fields.String(required=True)
    reason = fields.String(required=True, validate=validate.OneOf(LEAF_REVOCATION_REASONS))
    revoked_by = fields.String(required=True)


class CertRecoveryRequestedV1(_Event):
    requested_by = fields.String(required=True)
    reason = fields.String(required=True)


class CertRecoveryApprovedV1(_Event):
    approved_by = fields.String(required=True)


class CertKeyRecoveredV1(_Event):
    recovered_by = fields.String(required=True)


class EscrowInitializedV1(Schema):
    class Meta:
        unknown = EXCLUDE

    organization_id = fields.UUID(required=True)
    public_key_pem = fields.String(required=True, metadata={"description": "the master PUBLIC key"})
    public_key_sha256 = fields.String(required=True)
    key_origin = fields.String(required=True, validate=validate.OneOf(("server", "administrator")))
    initialized_by = fields.String(required=True)


EVENTS = {
    "cert_invited.v1": CertInvitedV1,
    "cert_requested.v1": CertRequestedV1,
    "cert_approved.v1": CertApprovedV1,
    "cert_declined.v1": CertDeclinedV1,
    APPLIED_EVENT: CertAppliedV1,
    "cert_issuance_failed.v1": CertIssuanceFailedV1,
    "cert_issued.v1": CertIssuedV1,
    "cert_downloaded.v1": CertDownloadedV1,
    "cert_revoked.v1": CertRevokedV1,
    "cert_recovery_requested.v1": CertRecoveryRequestedV1,
    "cert_recovery_approved.v1": CertRecoveryApprovedV1,
    "cert_key_recovered.v1": CertKeyRecoveredV1,
    "escrow_initialized.v1": EscrowInitializedV1,
}
