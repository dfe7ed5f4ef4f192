"""What happened to organizations and departments. Each event is its public V1 contract (contracts/orgs.py)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from contracts import orgs as contract
from services.runtime.events import DomainEvent, decoder


@dataclass(frozen=True)
class _OrganizationFields(DomainEvent):
    """What OrganizationCreated and OrganizationUpdated both carry: the editable state, whole."""
    organization_id: str
    name: str
    address1: str
    address2: str | None
    address3: str | None
    city: str
    state: str
    postal_code: str | None
    country: str
    ev_details: dict[str, Any] | None


@dataclass(frozen=True)
class OrganizationCreated(_OrganizationFields):
    event_type = "organization_created.v1"
    schema = contract.OrganizationCreatedV1

    key_escrow: dict[str, bool]


@dataclass(frozen=True)
class OrganizationUpdated(_OrganizationFields):
    event_type = "organization_updated.v1"
    schema = contract.OrganizationUpdatedV1

    changed: list[str]


@dataclass(frozen=True)
class OrganizationDeleted(DomainEvent):
    event_type = "organization_deleted.v1"
    schema = contract.OrganizationDeletedV1

    organization_id: str


@dataclass(frozen=True)
class OrganizationValidationChanged(DomainEvent):
    event_type = "organization_validation_changed.v1"
    schema = contract.OrganizationValidationChangedV1

    organization_id: str
    validation_status: str
    previous_status: str
    note: str | None = None


@dataclass(frozen=True)
class DepartmentCreated(DomainEvent):
    event_type = "department_created.v1"
    schema = contract.DepartmentCreatedV1

    organization_id: str
    department_id: str
    name: str
    key_escrow_recovery_by_department_admins: bool


@dataclass(frozen=True)
class DepartmentRenamed(DomainEvent):
    event_type = "department_renamed.v1"
    schema = contract.DepartmentRenamedV1

    organization_id: str
    department_id: str
    name: str


@dataclass(frozen=True)
class DepartmentDeleted(DomainEvent):
    event_type = "department_deleted.v1"
    schema = contract.DepartmentDeletedV1

    organization_id: str
    department_id: str


decode = decoder(OrganizationCreated, OrganizationUpdated, OrganizationDeleted, OrganizationValidationChanged,
                 DepartmentCreated, DepartmentRenamed, DepartmentDeleted)
