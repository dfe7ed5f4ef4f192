"""What administrators ask the orgs service to do. Field values arrive validated by contracts/orgs.py."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class CreateOrganization:
    organization_id: str
    fields: dict[str, Any]          # name, address1..3, city, state, postal_code, country, ev_details
    key_escrow: dict[str, bool]


@dataclass(frozen=True)
class UpdateOrganization:
    organization_id: str
    changes: dict[str, Any]


@dataclass(frozen=True)
class DeleteOrganization:
    organization_id: str


@dataclass(frozen=True)
class StartValidation:
    organization_id: str


@dataclass(frozen=True)
class CompleteValidation:
    organization_id: str
    outcome: str                    # validated | failed
    note: str | None = None


@dataclass(frozen=True)
class CreateDepartment:
    organization_id: str
    department_id: str
    name: str
    key_escrow_recovery_by_department_admins: bool = False


@dataclass(frozen=True)
class RenameDepartment:
    organization_id: str
    department_id: str
    name: str


@dataclass(frozen=True)
class DeleteDepartment:
    organization_id: str
    department_id: str
