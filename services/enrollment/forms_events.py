"""What happened to enrollment form accounts and device enrollment endpoints. Each event is its public V1 contract
(contracts/enrollment_forms.py). No event holds an access code or its hash: only when one was set or changed."""
from __future__ import annotations

from dataclasses import dataclass

from contracts import enrollment_forms as contract
from services.runtime.events import DomainEvent, decoder


@dataclass(frozen=True)
class FormAccountCreated(DomainEvent):
    event_type = "form_account_created.v1"
    schema = contract.FormAccountCreatedV1

    form_account_id: str
    name: str
    cert_type: str
    organization_id: str
    department_id: str | None
    profile_ids: list
    csr_generation: list
    auto_approve: bool
    auto_renew: bool
    allow_empty_pkcs12_password: bool
    access_code_set_at: str
    created_by: str


@dataclass(frozen=True)
class FormAccountUpdated(DomainEvent):
    event_type = "form_account_updated.v1"
    schema = contract.FormAccountUpdatedV1

    form_account_id: str
    name: str
    profile_ids: list
    csr_generation: list
    auto_approve: bool
    auto_renew: bool
    allow_empty_pkcs12_password: bool
    status: str
    access_code_changed_at: str | None
    updated_by: str


@dataclass(frozen=True)
class FormAccountDeleted(DomainEvent):
    event_type = "form_account_deleted.v1"
    schema = contract.FormAccountDeletedV1

    form_account_id: str
    deleted_by: str


@dataclass(frozen=True)
class FormAccessFailed(DomainEvent):
    event_type = "form_access_failed.v1"
    schema = contract.FormAccessFailedV1

    form_account_id: str
    reason: str
    consecutive_failures: int
    locked_until: str | None


@dataclass(frozen=True)
class FormAccessReset(DomainEvent):
    event_type = "form_access_reset.v1"
    schema = contract.FormAccessResetV1

    form_account_id: str


@dataclass(frozen=True)
class DeviceEndpointCreated(DomainEvent):
    event_type = "device_endpoint_created.v1"
    schema = contract.DeviceEndpointCreatedV1

    endpoint_id: str
    type: str
    name: str
    organization_id: str
    department_id: str | None
    profile_ids: list
    uri_extension: str
    help_link_text: str | None
    help_text: str | None
    created_by: str
    credential_set_at: str | None = None


@dataclass(frozen=True)
class DeviceEndpointUpdated(DomainEvent):
    event_type = "device_endpoint_updated.v1"
    schema = contract.DeviceEndpointUpdatedV1

    endpoint_id: str
    name: str
    profile_ids: list
    help_link_text: str | None
    help_text: str | None
    status: str
    updated_by: str


@dataclass(frozen=True)
class DeviceEndpointDeleted(DomainEvent):
    event_type = "device_endpoint_deleted.v1"
    schema = contract.DeviceEndpointDeletedV1

    endpoint_id: str
    deleted_by: str


@dataclass(frozen=True)
class DeviceEndpointCredentialRotated(DomainEvent):
    event_type = "device_endpoint_credential_rotated.v1"
    schema = contract.DeviceEndpointCredentialRotatedV1

    endpoint_id: str
    credential_set_at: str
    rotated_by: str


@dataclass(frozen=True)
class DeviceChallengeIssued(DomainEvent):
    event_type = "device_challenge_issued.v1"
    schema = contract.DeviceChallengeIssuedV1

    challenge_id: str
    endpoint_id: str
    device_name: str | None
    expires_at: str
    issued_by: str


@dataclass(frozen=True)
class DeviceChallengeUsed(DomainEvent):
    event_type = "device_challenge_used.v1"
    schema = contract.DeviceChallengeUsedV1

    challenge_id: str
    endpoint_id: str
    used_via: str
    cert_id: str | None


decode = decoder(FormAccountCreated, FormAccountUpdated, FormAccountDeleted, FormAccessFailed, FormAccessReset,
                 DeviceEndpointCreated, DeviceEndpointUpdated, DeviceEndpointDeleted, DeviceEndpointCredentialRotated,
                 DeviceChallengeIssued, DeviceChallengeUsed)
