"""`identity` service contracts: administrators, roles, privileges, sessions, API keys and persons (V1).

Secrets never travel in events: passwords and secret IDs are argon2id hashes in identity's credential store,
referred to by `credential_id`; session tokens and API keys are random 256-bit values of which events carry only
the sha256 (which cannot be turned back into a token), so consumers such as the gateway can authenticate without
asking identity.
"""
from __future__ import annotations

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, validate, validates_schema

from contracts.access import CERT_TYPES, DRAO, MRAO, PRIVILEGES, RAO, ROLES
from contracts.common import Country, text

SOURCE = "identity"
ADMIN_STATUSES = ("pending_approval", "active", "suspended")
VALIDATION_TYPES = ("standard", "high")
USERNAME = validate.Regexp(r"^[A-Za-z0-9._@-]{3,64}$",
                           error="3 to 64 letters, digits or . _ @ - (no spaces)")


class RoleV1(Schema):
    class Meta:
        unknown = RAISE

    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    cert_type = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(CERT_TYPES))
    organization_ids = fields.List(fields.UUID(), load_default=list)
    department_ids = fields.List(fields.UUID(), load_default=list)

    @validates_schema
    def _scope_fits_the_role(self, data, **_):
        role = data["role"]
        if role == MRAO and (data.get("cert_type") or data["organization_ids"] or data["department_ids"]):
            raise ValidationError("MRAO has no certificate type, organizations or departments")
        if role in (RAO, DRAO) and not data.get("cert_type"):
            raise ValidationError(f"{role} needs a cert_type", "cert_type")
        if role == RAO and (not data["organization_ids"] or data["department_ids"]):
            raise ValidationError("RAO needs organization_ids (and no department_ids)", "organization_ids")
        if role == DRAO and (not data["department_ids"] or data["organization_ids"]):
            raise ValidationError("DRAO needs department_ids (and no organization_ids)", "department_ids")


def role_payload(loaded: dict) -> dict:
    """A loaded RoleV1 as JSON (ids as strings, sorted)."""
    return {"role": loaded["role"], "cert_type": loaded.get("cert_type"),
            "organization_ids": sorted(str(i) for i in loaded.get("organization_ids") or ()),
            "department_ids": sorted(str(i) for i in loaded.get("department_ids") or ())}


class AdminProfileV1(Schema):
    """What the Add/Edit admin form carries besides roles, privileges and credentials."""
    class Meta:
        unknown = RAISE

    email = fields.Email(required=True, validate=validate.Length(max=254))
    forename = text(64, required=True)
    surname = text(64, required=True)
    title = text(64, allow_none=True, load_default=None)
    telephone = fields.String(allow_none=True, load_default=None,
                              validate=validate.Regexp(r"^\+?[0-9 ()./-]{3,32}$", error="not a telephone number"))
    street = text(128, allow_none=True, load_default=None)
    locality = text(128, allow_none=True, load_default=None)
    state = text(128, allow_none=True, load_default=None)
    postal_code = text(40, allow_none=True, load_default=None)
    country = Country(allow_none=True, load_default=None)


PROFILE_FIELDS = tuple(AdminProfileV1().fields)


class CreateAdminV1(AdminProfileV1):
    username = fields.String(required=True, validate=USERNAME)
    roles = fields.List(fields.Nested(RoleV1), required=True, validate=validate.Length(min=1, max=50))
    privileges = fields.List(fields.String(validate=validate.OneOf(PRIVILEGES)), load_default=list)
    password = fields.String(load_default=None, allow_none=True, load_only=True,
                             metadata={"description": "initial password; the admin must change it at first "
                                                      "login. Omit for an API-only (ws_api_only) admin."})


class UpdateAdminV1(AdminProfileV1):
    """Partial: only the fields sent change."""


UPDATE_ADMIN = UpdateAdminV1(partial=True)


class AdminAccessV1(Schema):
    """Replace an admin's roles and privileges."""
    class Meta:
        unknown = RAISE

    roles = fields.List(fields.Nested(RoleV1), required=True, validate=validate.Length(min=1, max=50))
    privileges = fields.List(fields.String(validate=validate.OneOf(PRIVILEGES)), required=True)


class LoginV1(Schema):
    class Meta:
        unknown = RAISE

    username = fields.String(required=True, validate=validate.Length(min=1, max=64))
    password = fields.String(required=True, load_only=True, validate=validate.Length(min=1, max=1024))


class ChangePasswordV1(Schema):
    class Meta:
        unknown = RAISE

    current_password = fields.String(required=True, load_only=True, validate=validate.Length(min=1, max=1024))
    new_password = fields.String(required=True, load_only=True, validate=validate.Length(min=1, max=1024))


class SetPasswordV1(Schema):
    class Meta:
        unknown = RAISE

    password = fields.String(required=True, load_only=True, validate=validate.Length(min=1, max=1024))


class CreateApiKeyV1(Schema):
    class Meta:
        unknown = RAISE

    name = text(64, required=True)


class PersonFieldsV1(Schema):
    class Meta:
        unknown = RAISE

    organization_id = fields.UUID(required=True)
    department_id = fields.UUID(load_default=None, allow_none=True)
    email = fields.Email(required=True, validate=validate.Length(max=254))
    first_name = text(64, required=True)
    middle_name = text(64, load_default=None, allow_none=True)
    last_name = text(64, required=True)
    alternative_emails = fields.List(fields.Email(validate=validate.Length(max=254)), load_default=list,
                                     validate=validate.Length(max=20))
    secret_id = fields.String(load_default=None, allow_none=True, load_only=True,
                              validate=validate.Length(min=6, max=256))
    validation_type = fields.String(load_default="standard", validate=validate.OneOf(VALIDATION_TYPES))


class UpdatePersonV1(PersonFieldsV1):
    """Partial. The organization of a person does not change (delete and create instead)."""
    class Meta:
        unknown = RAISE
        exclude = ("organization_id",)


UPDATE_PERSON = UpdatePersonV1(partial=True)
PERSON_IDENTITY_FIELDS = ("email", "first_name", "middle_name", "last_name")


# ---- RPC answers ----------------------------------------------------------------------------------------------

class AdminV1(AdminProfileV1):
    class Meta:
        unknown = EXCLUDE

    admin_id = fields.UUID(required=True)
    username = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(ADMIN_STATUSES))
    roles = fields.List(fields.Nested(RoleV1), required=True)
    privileges = fields.List(fields.String(), required=True)
    api_only = fields.Boolean(required=True)
    must_change_password = fields.Boolean(required=True)
    locked_until = fields.String(allow_none=True)
    created_by = fields.String(allow_none=True)
    created_at = fields.String(required=True)
    updated_at = fields.String(required=True)
    api_keys = fields.List(fields.Dict(), metadata={"description": "key_id, name, prefix, created_at, revoked"})


class PersonV1(Schema):
    class Meta:
        unknown = EXCLUDE

    person_id = fields.UUID(required=True)
    organization_id = fields.UUID(required=True)
    department_id = fields.UUID(allow_none=True)
    email = fields.String(required=True)
    first_name = fields.String(required=True)
    middle_name = fields.String(allow_none=True)
    last_name = fields.String(required=True)
    alternative_emails = fields.List(fields.String(), required=True)
    validation_type = fields.String(required=True)
    has_secret_id = fields.Boolean(required=True)
    created_at = fields.String(required=True)
    updated_at = fields.String(required=True)


# ---- events (V1) -----------------------------------------------------------------------------------------------

class _Event(Schema):
    class Meta:
        unknown = EXCLUDE


class _AdminProfile(_Event):
    admin_id = fields.UUID(required=True)
    email = fields.String(required=True)
    forename = fields.String(required=True)
    surname = fields.String(required=True)
    title = fields.String(allow_none=True)
    telephone = fields.String(allow_none=True)
    street = fields.String(allow_none=True)
    locality = fields.String(allow_none=True)
    state = fields.String(allow_none=True)
    postal_code = fields.String(allow_none=True)
    country = fields.String(allow_none=True)


class AdminCreatedV1(_AdminProfile):
    username = fields.String(required=True)
    roles = fields.List(fields.Dict(), required=True)
    privileges = fields.List(fields.String(), required=True)
    status = fields.String(required=True, validate=validate.OneOf(("pending_approval", "active")))
    credential_id = fields.String(allow_none=True, metadata={"description": "reference into identity's "
                                                                            "credential store; never the hash"})
    must_change_password = fields.Boolean(required=True)
    created_by = fields.String(allow_none=True)


class AdminUpdatedV1(_AdminProfile):
    changed = fields.List(fields.String(), required=True)


class AdminAccessChangedV1(_Event):
    admin_id = fields.UUID(required=True)
    roles = fields.List(fields.Dict(), required=True)
    privileges = fields.List(fields.String(), required=True)
    changed_by = fields.String(allow_none=True)


class AdminStatusChangedV1(_Event):
    """approved (pending_approval -> active), suspended, reactivated."""
    admin_id = fields.UUID(required=True)
    status = fields.String(required=True, validate=validate.OneOf(ADMIN_STATUSES))
    previous_status = fields.String(required=True)
    changed_by = fields.String(allow_none=True)


class AdminDeletedV1(_Event):
    admin_id = fields.UUID(required=True)
    deleted_by = fields.String(allow_none=True)


class AdminPasswordSetV1(_Event):
    admin_id = fields.UUID(required=True)
    credential_id = fields.String(required=True)
    must_change_password = fields.Boolean(required=True)
    set_by = fields.String(allow_none=True)


class AdminLoggedInV1(_Event):
    admin_id = fields.UUID(required=True)
    session_id = fields.UUID(required=True)
    token_sha256 = fields.String(required=True, validate=validate.Length(equal=64))
    expires_at = fields.String(required=True)
    client = fields.String(allow_none=True)


class AdminLoginFailedV1(_Event):
    admin_id = fields.UUID(required=True)
    reason = fields.String(required=True, validate=validate.OneOf(
        ("wrong_password", "locked", "suspended", "pending_approval", "api_only")))
    consecutive_failures = fields.Integer(required=True)
    locked_until = fields.String(allow_none=True)
    client = fields.String(allow_none=True)


class UnknownUserLoginFailedV1(_Event):
    username = fields.String(required=True)
    client = fields.String(allow_none=True)


class SessionEndedV1(_Event):
    admin_id = fields.UUID(required=True)
    session_id = fields.UUID(required=True)
    reason = fields.String(required=True, validate=validate.OneOf(("logout", "password_changed", "suspended")))


class ApiKeyCreatedV1(_Event):
    admin_id = fields.UUID(required=True)
    key_id = fields.UUID(required=True)
    name = fields.String(required=True)
    prefix = fields.String(required=True)
    key_sha256 = fields.String(required=True, validate=validate.Length(equal=64))
    created_by = fields.String(allow_none=True)


class ApiKeyRevokedV1(_Event):
    admin_id = fields.UUID(required=True)
    key_id = fields.UUID(required=True)
    revoked_by = fields.String(allow_none=True)


class _PersonFields(_Event):
    person_id = fields.UUID(required=True)
    organization_id = fields.UUID(required=True)
    department_id = fields.UUID(allow_none=True)
    email = fields.String(required=True)
    first_name = fields.String(required=True)
    middle_name = fields.String(allow_none=True)
    last_name = fields.String(required=True)
    alternative_emails = fields.List(fields.String(), required=True)
    validation_type = fields.String(required=True)


class PersonCreatedV1(_PersonFields):
    secret_credential_id = fields.String(allow_none=True)


class PersonUpdatedV1(_PersonFields):
    """Department, alternative emails or validation type changed (not the person's identity)."""
    changed = fields.List(fields.String(), required=True)


class PersonIdentityChangedV1(_PersonFields):
    """Email or name changed: the person's client certificates no longer name them and will be revoked."""
    changed = fields.List(fields.String(), required=True)
    previous = fields.Dict(required=True, metadata={"description": "the changed fields' old values"})


class PersonSecretChangedV1(_Event):
    person_id = fields.UUID(required=True)
    organization_id = fields.UUID(required=True)
    secret_credential_id = fields.String(allow_none=True)


class PersonDeletedV1(_Event):
    person_id = fields.UUID(required=True)
    organization_id = fields.UUID(required=True)


EVENTS = {
    "admin_created.v1": AdminCreatedV1,
    "admin_updated.v1": AdminUpdatedV1,
    "admin_access_changed.v1": AdminAccessChangedV1,
    "admin_status_changed.v1": AdminStatusChangedV1,
    "admin_deleted.v1": AdminDeletedV1,
    "admin_password_set.v1": AdminPasswordSetV1,
    "admin_logged_in.v1": AdminLoggedInV1,
    "admin_login_failed.v1": AdminLoginFailedV1,
    "unknown_user_login_failed.v1": UnknownUserLoginFailedV1,
    "session_ended.v1": SessionEndedV1,
    "api_key_created.v1": ApiKeyCreatedV1,
    "api_key_revoked.v1": ApiKeyRevokedV1,
    "person_created.v1": PersonCreatedV1,
    "person_updated.v1": PersonUpdatedV1,
    "person_identity_changed.v1": PersonIdentityChangedV1,
    "person_secret_changed.v1": PersonSecretChangedV1,
    "person_deleted.v1": PersonDeletedV1,
}
