"""What happened to administrators, their sessions and API keys, and to persons. Each is its V1 contract."""
from __future__ import annotations

from dataclasses import dataclass

from contracts import identity as contract
from services.runtime.events import DomainEvent, decoder


@dataclass(frozen=True)
class _AdminProfile(DomainEvent):
    admin_id: str
    email: str
    forename: str
    surname: str
    title: str | None
    telephone: str | None
    street: str | None
    locality: str | None
    state: str | None
    postal_code: str | None
    country: str | None


@dataclass(frozen=True)
class AdminCreated(_AdminProfile):
    event_type = "admin_created.v1"
    schema = contract.AdminCreatedV1

    username: str
    roles: list[dict]
    privileges: list[str]
    status: str
    credential_id: str | None
    must_change_password: bool
    created_by: str | None


@dataclass(frozen=True)
class AdminUpdated(_AdminProfile):
    event_type = "admin_updated.v1"
    schema = contract.AdminUpdatedV1

    changed: list[str]


@dataclass(frozen=True)
class AdminAccessChanged(DomainEvent):
    event_type = "admin_access_changed.v1"
    schema = contract.AdminAccessChangedV1

    admin_id: str
    roles: list[dict]
    privileges: list[str]
    changed_by: str | None


@dataclass(frozen=True)
class AdminStatusChanged(DomainEvent):
    event_type = "admin_status_changed.v1"
    schema = contract.AdminStatusChangedV1

    admin_id: str
    status: str
    previous_status: str
    changed_by: str | None


@dataclass(frozen=True)
class AdminDeleted(DomainEvent):
    event_type = "admin_deleted.v1"
    schema = contract.AdminDeletedV1

    admin_id: str
    deleted_by: str | None


@dataclass(frozen=True)
class AdminPasswordSet(DomainEvent):
    event_type = "admin_password_set.v1"
    schema = contract.AdminPasswordSetV1

    admin_id: str
    credential_id: str
    must_change_password: bool
    set_by: str | None


@dataclass(frozen=True)
class AdminLoggedIn(DomainEvent):
    event_type = "admin_logged_in.v1"
    schema = contract.AdminLoggedInV1

    admin_id: str
    session_id: str
    token_sha256: str
    expires_at: str
    client: str | None


@dataclass(frozen=True)
class AdminLoginFailed(DomainEvent):
    event_type = "admin_login_failed.v1"
    schema = contract.AdminLoginFailedV1

    admin_id: str
    reason: str
    consecutive_failures: int
    locked_until: str | None
    client: str | None


@dataclass(frozen=True)
class UnknownUserLoginFailed(DomainEvent):
    event_type = "unknown_user_login_failed.v1"
    schema = contract.UnknownUserLoginFailedV1

    username: str
    client: str | None


@dataclass(frozen=True)
class SessionEnded(DomainEvent):
    event_type = "session_ended.v1"
    schema = contract.SessionEndedV1

    admin_id: str
    session_id: str
    reason: str


@dataclass(frozen=True)
class ApiKeyCreated(DomainEvent):
    event_type = "api_key_created.v1"
    schema = contract.ApiKeyCreatedV1

    admin_id: str
    key_id: str
    name: str
    prefix: str
    key_sha256: str
    created_by: str | None


@dataclass(frozen=True)
class ApiKeyRevoked(DomainEvent):
    event_type = "api_key_revoked.v1"
    schema = contract.ApiKeyRevokedV1

    admin_id: str
    key_id: str
    revoked_by: str | None


@dataclass(frozen=True)
class _PersonFields(DomainEvent):
    person_id: str
    organization_id: str
    department_id: str | None
    email: str
    first_name: str
    middle_name: str | None
    last_name: str
    alternative_emails: list[str]
    validation_type: str


@dataclass(frozen=True)
class PersonCreated(_PersonFields):
    event_type = "person_created.v1"
    schema = contract.PersonCreatedV1

    secret_credential_id: str | None


@dataclass(frozen=True)
class PersonUpdated(_PersonFields):
    event_type = "person_updated.v1"
    schema = contract.PersonUpdatedV1

    changed: list[str]


@dataclass(frozen=True)
class PersonIdentityChanged(_PersonFields):
    event_type = "person_identity_changed.v1"
    schema = contract.PersonIdentityChangedV1

    changed: list[str]
    previous: dict


@dataclass(frozen=True)
class PersonSecretChanged(DomainEvent):
    event_type = "person_secret_changed.v1"
    schema = contract.PersonSecretChangedV1

    person_id: str
    organization_id: str
    secret_credential_id: str | None


@dataclass(frozen=True)
class PersonDeleted(DomainEvent):
    event_type = "person_deleted.v1"
    schema = contract.PersonDeletedV1

    person_id: str
    organization_id: str


decode = decoder(AdminCreated, AdminUpdated, AdminAccessChanged, AdminStatusChanged, AdminDeleted, AdminPasswordSet,
                 AdminLoggedIn, AdminLoginFailed, UnknownUserLoginFailed, SessionEnded, ApiKeyCreated, ApiKeyRevoked,
                 PersonCreated, PersonUpdated, PersonIdentityChanged, PersonSecretChanged, PersonDeleted)
