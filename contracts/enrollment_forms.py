"""Enrollment form accounts and device enrollment endpoints (issue 15; SCM-REFERENCE "Enrollment form account",
"Device enrollment endpoint"): the RPC payloads of their screens, their answers and the events enrollment records.

An **enrollment form account** binds a public self-enrollment form of one certificate type to an organization
(optionally one of its departments, both fixed once created): the profiles it offers, how the CSR is made, whether
requests are approved at once, auto-renew, the empty-PKCS#12-password option (client only), and its authorization
method — an access code plus an applicant email in a domain delegated to the account's organization (department)
for the account's type. The access code is write-only: enrollment keeps only its argon2id hash, in a table of its
own database (services/runtime/kept_secrets.py), never in an event; events say only that it was set or changed.
Wrong codes are counted (`form_access_failed.v1`, as identity's admin_login_failed.v1): after
`form_access_max_failures` consecutive ones the account is locked for `form_access_lockout_seconds`.

A **device enrollment endpoint** is where devices (and their administrators) enroll: a `web_form` (its form URL
is `<base_url>/forms/device/<uri_extension>`), an `scep` server (RFC 8894, `<base_url>/scep/<uri_extension>`) or an
`est` server (RFC 7030, `<est_base_url>/.well-known/est/<uri_extension>/`); the extension is unique among endpoints.
An scep or est endpoint has a credential made by the server when it is created (and again when rotated), answered
once: the SCEP challenge password, or the EST HTTP Basic password (the username is the URI extension). Enrollment
keeps only its SHA-256 (it has 120 random bits: a slow password hash buys nothing) in a table of its own database;
events say only when it was set. An administrator may also issue **one-time challenges** for single devices: each
works once (as the SCEP challenge password, or as the EST Basic password under any username) until it expires.
"""
from __future__ import annotations

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, pre_load, validate, validates_schema

from contracts.access import CERT_TYPES
from contracts.common import text

SOURCE = "enrollment"
FORM_CERT_TYPES = CERT_TYPES                          # ssl | client | code_signing | device
CSR_GENERATION = ("browser", "provided")
# which CSR generation methods each type's form may offer (all of them today; narrowed here if a type loses one)
CSR_GENERATION_BY_TYPE = {"ssl": CSR_GENERATION, "client": CSR_GENERATION, "code_signing": CSR_GENERATION,
                          "device": CSR_GENERATION}
ACCOUNT_STATUSES = ("active", "disabled")
ACCESS_CODE_MIN, ACCESS_CODE_MAX = 8, 128
MAX_PROFILES = 20
ENDPOINT_TYPES = ("web_form", "scep", "est")
PROTOCOL_ENDPOINT_TYPES = ("scep", "est")             # the ones with a credential
CREDENTIAL_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"   # no 0/O, 1/l/I
CREDENTIAL_LENGTH = 24                                # ~140 bits
CHALLENGE_HOURS_DEFAULT, CHALLENGE_HOURS_MAX = 24, 720
CHALLENGE_STATUSES = ("issued", "used", "expired")
SCEP_PATH, EST_PATH = "/scep/", "/.well-known/est/"
ENDPOINT_STATUSES = ("active", "disabled")
URI_EXTENSION_PATTERN = r"^[a-z0-9-]{3,64}$"
URI_EXTENSION_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
GENERATED_URI_EXTENSION_LENGTH = 16
HELP_TEXT_MAX, HELP_LINK_TEXT_MAX = 2048, 128
DEVICE_FORM_PATH = "/forms/device/"
# the delegation type an applicant's email domain must hold for an account of each type (domains delegate ssl,
# client and code_signing: contracts.domains.DELEGATION_CERT_TYPES); a device account's applicants are checked
# against ssl delegations, as device names are
APPLICANT_DELEGATION_TYPE = {"ssl": "ssl", "client": "client", "code_signing": "code_signing", "device": "ssl"}
FIXED_ACCOUNT_FIELDS = ("cert_type", "organization_id", "department_id")
FIXED_ENDPOINT_FIELDS = ("type", "organization_id", "department_id", "uri_extension", "generate")


def access_code_problem(code) -> str | None:
    """Why `code` is not an acceptable access code, or None. Cheap (length first): a 10,000-character code is
    refused here, before any hashing work."""
    if not isinstance(code, str):
        return "must be a string"
    if len(code) > ACCESS_CODE_MAX:
        return f"at most {ACCESS_CODE_MAX} characters"
    if len(code) < ACCESS_CODE_MIN:
        return f"at least {ACCESS_CODE_MIN} characters"
    if not code.isprintable():
        return "printable characters only: no control characters (tab, newline, NUL …)"
    return None


class AccessCode(fields.String):
    """Write-only: loaded, never dumped in an answer (answers say `has_access_code`)."""

    def __init__(self, **kwargs):
        super().__init__(load_only=True, metadata={
            "description": f"{ACCESS_CODE_MIN}..{ACCESS_CODE_MAX} printable characters (no control characters); "
                           "write-only: stored as an argon2id hash, never shown again", "format": "password",
            "minLength": ACCESS_CODE_MIN, "maxLength": ACCESS_CODE_MAX},
            **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        problem = access_code_problem(value)
        if problem:
            raise ValidationError(problem)
        return value


def _fixed(fixed: tuple[str, ...], what: str):
    def check(self, data, **_):
        if isinstance(data, dict):
            sent = sorted(f for f in fixed if f in data)
            if sent:
                raise ValidationError({f: [f"fixed once the {what} exists"] for f in sent})
        return data
    return pre_load(check)


def _check_csr_generation(methods) -> None:
    if len(set(methods)) != len(methods):
        raise ValidationError("each method once")


_HELP_TEXT = validate.Regexp(r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$",
                             error="no control characters other than tab and line breaks")


# ---- RPC: enrollment form accounts ------------------------------------------------------------------------------

class _AccountSettings(Schema):
    class Meta:
        unknown = RAISE

    name = text(128, required=True, metadata={"description": "e.g. Sales S/MIME self-enrollment"})
    profile_ids = fields.List(fields.UUID(), required=True, validate=validate.Length(min=1, max=MAX_PROFILES),
                              metadata={"description": "profiles the form offers, of the account's cert_type; the "
                                                       "first is the default"})
    csr_generation = fields.List(fields.String(validate=validate.OneOf(CSR_GENERATION)), required=True,
                                 validate=[validate.Length(min=1, max=len(CSR_GENERATION)), _check_csr_generation],
                                 metadata={"description": "how the applicant's CSR is made: `browser` (the key is "
                                                          "made in the applicant's browser) and/or `provided` (the "
                                                          "applicant pastes a CSR). SSL and code signing allow "
                                                          "both, as do client and device"})
    auto_approve = fields.Boolean(load_default=False, metadata={"description": "requests are approved at once"})
    auto_renew = fields.Boolean(load_default=False, metadata={"description": "certificates may be auto-renewed"})
    allow_empty_pkcs12_password = fields.Boolean(load_default=False, metadata={
        "description": "client accounts only: the applicant may download a PKCS#12 without a password"})
    access_code = AccessCode(required=True)


class CreateFormAccountV1(_AccountSettings):
    cert_type = fields.String(required=True, validate=validate.OneOf(FORM_CERT_TYPES))
    organization_id = fields.UUID(required=True)
    department_id = fields.UUID(allow_none=True, load_default=None)


class UpdateFormAccountV1(_AccountSettings):
    """Partial: only the fields sent change. The type, organization and department are fixed once created."""

    status = fields.String(validate=validate.OneOf(ACCOUNT_STATUSES))
    _fixed_fields = _fixed(FIXED_ACCOUNT_FIELDS, "account")

    def __init__(self, **kwargs):
        super().__init__(partial=True, **kwargs)


class FormAccountListQueryV1(Schema):
    cert_type = fields.String(validate=validate.OneOf(FORM_CERT_TYPES))


class AuthorizeApplicantV1(Schema):
    """What the public form (and SCEP/EST later) sends to open an account's form."""
    class Meta:
        unknown = RAISE

    access_code = AccessCode(required=True)
    email = fields.Email(required=True, validate=validate.Length(max=254))


class FormAccountV1(Schema):
    form_account_id = fields.UUID(required=True)
    name = fields.String(required=True)
    cert_type = fields.String(required=True, validate=validate.OneOf(FORM_CERT_TYPES))
    organization_id = fields.UUID(required=True)
    department_id = fields.UUID(allow_none=True)
    profile_ids = fields.List(fields.UUID(), required=True)
    csr_generation = fields.List(fields.String(validate=validate.OneOf(CSR_GENERATION)), required=True)
    auto_approve = fields.Boolean(required=True)
    auto_renew = fields.Boolean(required=True)
    allow_empty_pkcs12_password = fields.Boolean(required=True)
    has_access_code = fields.Boolean(required=True, metadata={"description": "the code itself is never shown"})
    access_code_changed_at = fields.String(allow_none=True)
    status = fields.String(required=True, validate=validate.OneOf(ACCOUNT_STATUSES))
    locked_until = fields.String(allow_none=True, metadata={
        "description": "set while too many wrong access codes lock the account"})
    created_by = fields.String(required=True)
    created_at = fields.String(required=True)
    updated_at = fields.String(required=True)


# ---- RPC: device enrollment endpoints ---------------------------------------------------------------------------

class _EndpointSettings(Schema):
    class Meta:
        unknown = RAISE

    name = text(128, required=True)
    profile_ids = fields.List(fields.UUID(), required=True, validate=validate.Length(min=1, max=MAX_PROFILES),
                              metadata={"description": "device profiles only; the first is the default"})
    help_link_text = text(HELP_LINK_TEXT_MAX, allow_none=True, load_default=None)
    help_text = fields.String(allow_none=True, load_default=None,
                              validate=[validate.Length(max=HELP_TEXT_MAX), _HELP_TEXT],
                              metadata={"description": f"shown on the form, at most {HELP_TEXT_MAX} characters"})


class CreateDeviceEndpointV1(_EndpointSettings):
    type = fields.String(load_default="web_form", validate=validate.OneOf(ENDPOINT_TYPES), metadata={
        "description": "web_form (a form at /forms/device/<uri_extension>), scep (RFC 8894) or est (RFC 7030); "
                       "scep and est endpoints get a credential, answered once"})
    organization_id = fields.UUID(required=True)
    department_id = fields.UUID(allow_none=True, load_default=None)
    uri_extension = fields.String(allow_none=True, load_default=None,
                                  validate=validate.Regexp(URI_EXTENSION_PATTERN,
                                                           error="3..64 characters of a-z, 0-9 and -"),
                                  metadata={"description": "the form URL's last part; generated when absent"})
    generate = fields.Boolean(load_default=False, metadata={
        "description": f"generate the URI extension ({GENERATED_URI_EXTENSION_LENGTH} random characters)"})

    @validates_schema
    def _one_way(self, data, **_):
        if data.get("generate") and data.get("uri_extension"):
            raise ValidationError("give a uri_extension or ask to generate one, not both", "uri_extension")


class UpdateDeviceEndpointV1(_EndpointSettings):
    """Partial: only the fields sent change. The type, organization, department and URI extension are fixed."""

    status = fields.String(validate=validate.OneOf(ENDPOINT_STATUSES))
    _fixed_fields = _fixed(FIXED_ENDPOINT_FIELDS, "endpoint")

    def __init__(self, **kwargs):
        super().__init__(partial=True, **kwargs)


class DeviceEndpointV1(Schema):
    endpoint_id = fields.UUID(required=True)
    type = fields.String(required=True, validate=validate.OneOf(ENDPOINT_TYPES))
    name = fields.String(required=True)
    organization_id = fields.UUID(required=True)
    department_id = fields.UUID(allow_none=True)
    profile_ids = fields.List(fields.UUID(), required=True)
    uri_extension = fields.String(required=True)
    form_url = fields.String(required=True, metadata={"description": "hand this to applicants (web_form)"})
    scep_url = fields.String(allow_none=True, metadata={"description": "scep: the SCEP server URL devices use"})
    est_url = fields.String(allow_none=True, metadata={
        "description": "est: the EST base URL (TLS); None while the EST listener is off (setting est_port)"})
    credential_set_at = fields.String(allow_none=True, metadata={
        "description": "scep/est: when the credential was made (the credential itself is never shown again)"})
    help_link_text = fields.String(allow_none=True)
    help_text = fields.String(allow_none=True)
    status = fields.String(required=True, validate=validate.OneOf(ENDPOINT_STATUSES))
    created_by = fields.String(required=True)
    created_at = fields.String(required=True)
    updated_at = fields.String(required=True)


class CredentialV1(Schema):
    """Answered once, when made: scep `challenge_password`; est `username` and `password` (HTTP Basic)."""
    challenge_password = fields.String(metadata={"description": "scep: the challengePassword devices send"})
    username = fields.String(metadata={"description": "est: the HTTP Basic username (the URI extension)"})
    password = fields.String(metadata={"description": "est: the HTTP Basic password"})


class IssueChallengeV1(Schema):
    """A one-time challenge for one device of an scep or est endpoint."""
    class Meta:
        unknown = RAISE

    device_name = text(128, allow_none=True, load_default=None, metadata={
        "description": "who it is for (shown in the list; the device's certificate need not have this name)"})
    valid_hours = fields.Integer(strict=True, load_default=CHALLENGE_HOURS_DEFAULT,
                                 validate=validate.Range(min=1, max=CHALLENGE_HOURS_MAX),
                                 metadata={"description": f"1..{CHALLENGE_HOURS_MAX}, default "
                                                          f"{CHALLENGE_HOURS_DEFAULT}"})


class ChallengeV1(Schema):
    challenge_id = fields.UUID(required=True)
    endpoint_id = fields.UUID(required=True)
    device_name = fields.String(allow_none=True)
    status = fields.String(required=True, validate=validate.OneOf(CHALLENGE_STATUSES))
    expires_at = fields.String(required=True)
    issued_by = fields.String(required=True)
    issued_at = fields.String(required=True)
    used_at = fields.String(allow_none=True)
    used_via = fields.String(allow_none=True, metadata={"description": "scep or est"})
    cert_id = fields.String(allow_none=True, metadata={"description": "the certificate it enrolled, when known"})


class IssuedChallengeV1(ChallengeV1):
    challenge = fields.String(required=True, metadata={"description": "answered once: never shown again"})


# ---- events (V1) ------------------------------------------------------------------------------------------------

class _Event(Schema):
    class Meta:
        unknown = EXCLUDE


class FormAccountCreatedV1(_Event):
    form_account_id = fields.UUID(required=True)
    name = fields.String(required=True)
    cert_type = fields.String(required=True)
    organization_id = fields.UUID(required=True)
    department_id = fields.UUID(allow_none=True)
    profile_ids = fields.List(fields.UUID(), required=True)
    csr_generation = fields.List(fields.String(), required=True)
    auto_approve = fields.Boolean(required=True)
    auto_renew = fields.Boolean(required=True)
    allow_empty_pkcs12_password = fields.Boolean(required=True)
    access_code_set_at = fields.String(required=True, metadata={"description": "when the code was set (never it)"})
    created_by = fields.String(required=True)


class FormAccountUpdatedV1(_Event):
    """The account's settings after the change (all of them), and whether the access code was changed."""
    form_account_id = fields.UUID(required=True)
    name = fields.String(required=True)
    profile_ids = fields.List(fields.UUID(), required=True)
    csr_generation = fields.List(fields.String(), required=True)
    auto_approve = fields.Boolean(required=True)
    auto_renew = fields.Boolean(required=True)
    allow_empty_pkcs12_password = fields.Boolean(required=True)
    status = fields.String(required=True)
    access_code_changed_at = fields.String(allow_none=True, metadata={"description": "set when the code changed"})
    updated_by = fields.String(required=True)


class FormAccountDeletedV1(_Event):
    form_account_id = fields.UUID(required=True)
    deleted_by = fields.String(required=True)


class FormAccessFailedV1(_Event):
    """A wrong access code (as identity's admin_login_failed.v1): the consecutive count, and locked_until when it
    reached form_access_max_failures."""
    form_account_id = fields.UUID(required=True)
    reason = fields.String(required=True, validate=validate.OneOf(("wrong_access_code",)))
    consecutive_failures = fields.Integer(required=True)
    locked_until = fields.String(allow_none=True)


class FormAccessResetV1(_Event):
    """The right code after wrong ones: the count starts again (a success without earlier failures records
    nothing)."""
    form_account_id = fields.UUID(required=True)


class DeviceEndpointCreatedV1(_Event):
    endpoint_id = fields.UUID(required=True)
    type = fields.String(required=True)
    name = fields.String(required=True)
    organization_id = fields.UUID(required=True)
    department_id = fields.UUID(allow_none=True)
    profile_ids = fields.List(fields.UUID(), required=True)
    uri_extension = fields.String(required=True)
    help_link_text = fields.String(allow_none=True)
    help_text = fields.String(allow_none=True)
    created_by = fields.String(required=True)
    credential_set_at = fields.String(allow_none=True, load_default=None, metadata={
        "description": "scep/est: when its credential was made (never the credential)"})


class DeviceEndpointUpdatedV1(_Event):
    endpoint_id = fields.UUID(required=True)
    name = fields.String(required=True)
    profile_ids = fields.List(fields.UUID(), required=True)
    help_link_text = fields.String(allow_none=True)
    help_text = fields.String(allow_none=True)
    status = fields.String(required=True)
    updated_by = fields.String(required=True)


class DeviceEndpointDeletedV1(_Event):
    endpoint_id = fields.UUID(required=True)
    deleted_by = fields.String(required=True)


class DeviceEndpointCredentialRotatedV1(_Event):
    endpoint_id = fields.UUID(required=True)
    credential_set_at = fields.String(required=True)
    rotated_by = fields.String(required=True)


class DeviceChallengeIssuedV1(_Event):
    """Stream device_challenge-<challenge_id> (one per challenge: enrolling devices never contend on the
    endpoint's stream). Never the challenge itself."""
    challenge_id = fields.UUID(required=True)
    endpoint_id = fields.UUID(required=True)
    device_name = fields.String(allow_none=True)
    expires_at = fields.String(required=True)
    issued_by = fields.String(required=True)


class DeviceChallengeUsedV1(_Event):
    challenge_id = fields.UUID(required=True)
    endpoint_id = fields.UUID(required=True)
    used_via = fields.String(required=True, validate=validate.OneOf(PROTOCOL_ENDPOINT_TYPES))
    cert_id = fields.String(allow_none=True)


EVENTS = {
    "form_account_created.v1": FormAccountCreatedV1,
    "form_account_updated.v1": FormAccountUpdatedV1,
    "form_account_deleted.v1": FormAccountDeletedV1,
    "form_access_failed.v1": FormAccessFailedV1,
    "form_access_reset.v1": FormAccessResetV1,
    "device_endpoint_created.v1": DeviceEndpointCreatedV1,
    "device_endpoint_updated.v1": DeviceEndpointUpdatedV1,
    "device_endpoint_deleted.v1": DeviceEndpointDeletedV1,
    "device_endpoint_credential_rotated.v1": DeviceEndpointCredentialRotatedV1,
    "device_challenge_issued.v1": DeviceChallengeIssuedV1,
    "device_challenge_used.v1": DeviceChallengeUsedV1,
}
