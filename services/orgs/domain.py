"""Organizations and their departments: state, evolve, decide. Pure: no I/O, no clock, no logging.

One aggregate per organization (stream `organization-<id>`); departments live inside it, so "department names are
unique within an organization" and "an organization with departments cannot be deleted" are decided here without
looking elsewhere. Organization names are unique across organizations: that is checked where all organizations
are visible at once, in projections.py, inside the same transaction as the append.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from contracts.errors import Conflict, InvalidRequest, NotFound
from contracts.orgs import ADDRESS_FIELDS
from services.orgs.commands import (CompleteValidation, CreateDepartment, CreateOrganization, DeleteDepartment,
                                    DeleteOrganization, RenameDepartment, StartValidation, UpdateOrganization)
from services.orgs.events import (DepartmentCreated, DepartmentDeleted, DepartmentRenamed, OrganizationCreated,
                                  OrganizationDeleted, OrganizationUpdated, OrganizationValidationChanged)

EDITABLE_FIELDS = ("name", *ADDRESS_FIELDS, "ev_details")


class ValidationStatus(StrEnum):
    NOT_VALIDATED = "not_validated"
    PENDING = "pending"
    VALIDATED = "validated"
    EXPIRED = "expired"
    FAILED = "failed"


@dataclass(frozen=True)
class Department:
    department_id: str
    name: str
    key_escrow_recovery_by_department_admins: bool


@dataclass(frozen=True)
class Organization:
    organization_id: str | None = None
    created: bool = False
    deleted: bool = False
    fields: dict[str, Any] = field(default_factory=dict)
    key_escrow: dict[str, bool] = field(default_factory=dict)
    validation_status: ValidationStatus = ValidationStatus.NOT_VALIDATED
    departments: dict[str, Department] = field(default_factory=dict)

    @property
    def exists(self) -> bool:
        return self.created and not self.deleted


def evolve(state: Organization, event) -> Organization:
    match event:
        case OrganizationCreated():
            values = {name: getattr(event, name) for name in EDITABLE_FIELDS}
            return replace(state, organization_id=event.organization_id, created=True, fields=values,
                           key_escrow=dict(event.key_escrow))
        case OrganizationUpdated():
            return replace(state, fields={name: getattr(event, name) for name in EDITABLE_FIELDS})
        case OrganizationDeleted():
            return replace(state, deleted=True)
        case OrganizationValidationChanged():
            return replace(state, validation_status=ValidationStatus(event.validation_status))
        case DepartmentCreated():
            department = Department(event.department_id, event.name, event.key_escrow_recovery_by_department_admins)
            return replace(state, departments={**state.departments, event.department_id: department})
        case DepartmentRenamed():
            renamed = replace(state.departments[event.department_id], name=event.name)
            return replace(state, departments={**state.departments, event.department_id: renamed})
        case DepartmentDeleted():
            return replace(state, departments={k: v for k, v in state.departments.items()
                                               if k != event.department_id})
    raise TypeError(f"orgs cannot evolve {type(event).__name__}")


def fold(events) -> Organization:
    state = Organization()
    for event in events:
        state = evolve(state, event)
    return state


def _existing(state: Organization, organization_id: str) -> Organization:
    if not state.exists:
        raise NotFound.of("organization", organization_id)
    return state


# ---- organizations ------------------------------------------------------------------------------------------

def decide_create_organization(state: Organization, cmd: CreateOrganization) -> list:
    values = {name: cmd.fields.get(name) for name in EDITABLE_FIELDS}
    if state.created:
        if state.exists and state.fields == values and state.key_escrow == cmd.key_escrow:
            return []                      # the same create again (a retried request): nothing new
        raise Conflict(f"organization {cmd.organization_id} already exists", {"organization_id": cmd.organization_id})
    escrow = cmd.key_escrow
    if escrow.get("enabled") and not (escrow.get("recovery_by_mrao") or escrow.get("recovery_by_organization_admins")):
        raise InvalidRequest("key escrow needs at least one way to recover keys",
                             {"key_escrow": ["enable recovery_by_mrao or recovery_by_organization_admins"]})
    if not escrow.get("enabled") and (escrow.get("recovery_by_mrao") or escrow.get("recovery_by_organization_admins")):
        raise InvalidRequest("key recovery options need key escrow enabled", {"key_escrow": ["enabled is false"]})
    return [OrganizationCreated(organization_id=cmd.organization_id, key_escrow=dict(escrow), **values)]


def decide_update_organization(state: Organization, cmd: UpdateOrganization) -> list:
    _existing(state, cmd.organization_id)
    changed = [name for name in EDITABLE_FIELDS if name in cmd.changes and cmd.changes[name] != state.fields[name]]
    if not changed:
        return []
    locked = [name for name in changed if name in ADDRESS_FIELDS]
    if locked and state.validation_status is ValidationStatus.PENDING:
        raise Conflict("the address cannot change while validation is pending",
                       {"locked_fields": locked, "validation_status": state.validation_status.value},
                       code="address_locked")
    values = {**state.fields, **{name: cmd.changes[name] for name in changed}}
    return [OrganizationUpdated(organization_id=cmd.organization_id, changed=changed, **values)]


def decide_delete_organization(state: Organization, cmd: DeleteOrganization) -> list:
    _existing(state, cmd.organization_id)
    if state.departments:
        raise Conflict("the organization still has departments; delete them first",
                       {"departments": sorted(d.name for d in state.departments.values())}, code="has_dependents")
    return [OrganizationDeleted(cmd.organization_id)]


def decide_start_validation(state: Organization, cmd: StartValidation) -> list:
    _existing(state, cmd.organization_id)
    if state.validation_status is ValidationStatus.PENDING:
        return []
    return [OrganizationValidationChanged(cmd.organization_id, ValidationStatus.PENDING.value,
                                          state.validation_status.value)]


def decide_complete_validation(state: Organization, cmd: CompleteValidation) -> list:
    _existing(state, cmd.organization_id)
    if cmd.outcome not in (ValidationStatus.VALIDATED, ValidationStatus.FAILED):
        raise InvalidRequest("outcome must be validated or failed", {"outcome": [cmd.outcome]})
    outcome = ValidationStatus(cmd.outcome)
    if state.validation_status is not ValidationStatus.PENDING:
        raise Conflict(f"validation is not pending (it is {state.validation_status.value}); start it first",
                       {"validation_status": state.validation_status.value}, code="validation_not_pending")
    return [OrganizationValidationChanged(cmd.organization_id, outcome.value, state.validation_status.value,
                                          cmd.note)]


# ---- departments --------------------------------------------------------------------------------------------

def _name_taken(state: Organization, name: str, except_id: str | None = None) -> bool:
    key = name.casefold()
    return any(d.name.casefold() == key for d in state.departments.values() if d.department_id != except_id)


def decide_create_department(state: Organization, cmd: CreateDepartment) -> list:
    _existing(state, cmd.organization_id)
    existing = state.departments.get(cmd.department_id)
    if existing is not None:
        if existing.name == cmd.name and existing.key_escrow_recovery_by_department_admins == \
                cmd.key_escrow_recovery_by_department_admins:
            return []
        raise Conflict(f"department {cmd.department_id} already exists", {"department_id": cmd.department_id})
    if _name_taken(state, cmd.name):
        raise Conflict(f"a department named {cmd.name!r} already exists in this organization",
                       {"name": cmd.name}, code="duplicate_name")
    if cmd.key_escrow_recovery_by_department_admins and not state.key_escrow.get("enabled"):
        raise InvalidRequest("recovery by department admins needs key escrow enabled on the organization",
                             {"key_escrow_recovery_by_department_admins": ["organization has no key escrow"]})
    return [DepartmentCreated(cmd.organization_id, cmd.department_id, cmd.name,
                              cmd.key_escrow_recovery_by_department_admins)]


def _existing_department(state: Organization, organization_id: str, department_id: str) -> Department:
    _existing(state, organization_id)
    department = state.departments.get(department_id)
    if department is None:
        raise NotFound.of("department", department_id)
    return department


def decide_rename_department(state: Organization, cmd: RenameDepartment) -> list:
    department = _existing_department(state, cmd.organization_id, cmd.department_id)
    if department.name == cmd.name:
        return []
    if _name_taken(state, cmd.name, except_id=cmd.department_id):
        raise Conflict(f"a department named {cmd.name!r} already exists in this organization",
                       {"name": cmd.name}, code="duplicate_name")
    return [DepartmentRenamed(cmd.organization_id, cmd.department_id, cmd.name)]


def decide_delete_department(state: Organization, cmd: DeleteDepartment) -> list:
    _existing_department(state, cmd.organization_id, cmd.department_id)
    return [DepartmentDeleted(cmd.organization_id, cmd.department_id)]
