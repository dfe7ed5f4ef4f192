"""The orgs service: nameko entrypoints only. Each loads its payload with a contract schema, builds a command and
lets the store run load -> decide -> append."""
from __future__ import annotations

import uuid

from nameko.rpc import rpc

from contracts import orgs as contract
from contracts.errors import EXPECTED, NotFound
from services.orgs import domain
from services.orgs.commands import (CompleteValidation, CreateDepartment, CreateOrganization, DeleteDepartment,
                                    DeleteOrganization, RenameDepartment, StartValidation, UpdateOrganization)
from services.orgs.events import decode
from services.orgs.projections import OrganizationsView
from services.runtime.entrypoint_helpers import decider, load_payload, parse_id
from services.runtime.nameko_glue import Context, EventSourced, EventStoreProvider


def _stream(organization_id: str) -> str:
    return f"organization-{organization_id}"


def _decider(decide, cmd):
    return decider(domain.fold, decode, decide, cmd)


class OrgsService(EventSourced):
    name = contract.SOURCE

    store = EventStoreProvider(projections=[OrganizationsView])
    context = Context()

    # ---- organizations ------------------------------------------------------------------------------------
    @rpc(expected_exceptions=EXPECTED)
    def create_organization(self, fields: dict, organization_id: str | None = None) -> dict:
        values = load_payload(contract.CreateOrganizationV1(), fields)
        key_escrow = values.pop("key_escrow")
        if values.get("ev_details") is not None:
            values["ev_details"] = contract.EvDetailsV1().dump(values["ev_details"])
        cmd = CreateOrganization(parse_id(organization_id or uuid.uuid4(), "organization"), values, key_escrow)
        result = self.store.execute(_stream(cmd.organization_id), _decider(domain.decide_create_organization, cmd))
        return self.command_result(result, organization=self.get_organization(cmd.organization_id))

    @rpc(expected_exceptions=EXPECTED)
    def update_organization(self, organization_id: str, changes: dict) -> dict:
        values = load_payload(contract.UPDATE_ORGANIZATION, changes)
        if values.get("ev_details") is not None:
            values["ev_details"] = contract.EvDetailsV1().dump(values["ev_details"])
        cmd = UpdateOrganization(parse_id(organization_id, "organization"), values)
        result = self.store.execute(_stream(cmd.organization_id), _decider(domain.decide_update_organization, cmd))
        return self.command_result(result, organization=self.get_organization(cmd.organization_id))

    @rpc(expected_exceptions=EXPECTED)
    def delete_organization(self, organization_id: str) -> dict:
        cmd = DeleteOrganization(parse_id(organization_id, "organization"))
        result = self.store.execute(_stream(cmd.organization_id), _decider(domain.decide_delete_organization, cmd))
        return self.command_result(result)

    @rpc(expected_exceptions=EXPECTED)
    def start_validation(self, organization_id: str) -> dict:
        cmd = StartValidation(parse_id(organization_id, "organization"))
        result = self.store.execute(_stream(cmd.organization_id), _decider(domain.decide_start_validation, cmd))
        return self.command_result(result, organization=self.get_organization(cmd.organization_id))

    @rpc(expected_exceptions=EXPECTED)
    def complete_validation(self, organization_id: str, payload: dict) -> dict:
        values = load_payload(contract.CompleteValidationV1(), payload)
        cmd = CompleteValidation(parse_id(organization_id, "organization"), values["outcome"], values["note"])
        result = self.store.execute(_stream(cmd.organization_id), _decider(domain.decide_complete_validation, cmd))
        return self.command_result(result, organization=self.get_organization(cmd.organization_id))

    @rpc(expected_exceptions=EXPECTED)
    def get_organization(self, organization_id: str) -> dict:
        organization_id = parse_id(organization_id, "organization")
        found = self.store.read(lambda conn: self._view.get(conn, organization_id))
        if found is None:
            raise NotFound.of("organization", organization_id)
        return found

    @rpc(expected_exceptions=EXPECTED)
    def list_organizations(self, offset: int = 0, limit: int = 100) -> dict:
        return self.store.read(lambda conn: self._view.page(conn, max(0, int(offset)), min(500, int(limit))))

    # ---- departments --------------------------------------------------------------------------------------
    @rpc(expected_exceptions=EXPECTED)
    def create_department(self, organization_id: str, fields: dict, department_id: str | None = None) -> dict:
        values = load_payload(contract.DepartmentFieldsV1(), fields)
        cmd = CreateDepartment(parse_id(organization_id, "organization"), parse_id(department_id or uuid.uuid4(), "department"),
                               values["name"], values["key_escrow_recovery_by_department_admins"])
        result = self.store.execute(_stream(cmd.organization_id), _decider(domain.decide_create_department, cmd))
        return self.command_result(result, department=self.get_department(cmd.organization_id, cmd.department_id))

    @rpc(expected_exceptions=EXPECTED)
    def update_department(self, organization_id: str, department_id: str, changes: dict) -> dict:
        values = load_payload(contract.UpdateDepartmentV1(), changes)
        cmd = RenameDepartment(parse_id(organization_id, "organization"), parse_id(department_id, "department"),
                               values["name"])
        result = self.store.execute(_stream(cmd.organization_id), _decider(domain.decide_rename_department, cmd))
        return self.command_result(result, department=self.get_department(cmd.organization_id, cmd.department_id))

    @rpc(expected_exceptions=EXPECTED)
    def delete_department(self, organization_id: str, department_id: str) -> dict:
        cmd = DeleteDepartment(parse_id(organization_id, "organization"), parse_id(department_id, "department"))
        result = self.store.execute(_stream(cmd.organization_id), _decider(domain.decide_delete_department, cmd))
        return self.command_result(result)

    @rpc(expected_exceptions=EXPECTED)
    def get_department(self, organization_id: str, department_id: str) -> dict:
        organization_id = parse_id(organization_id, "organization")
        department_id = parse_id(department_id, "department")
        found = self.store.read(lambda conn: self._view.get_department(conn, organization_id, department_id))
        if found is None:
            raise NotFound.of("department", department_id)
        return found

    # ---- helpers ------------------------------------------------------------------------------------------
    @property
    def _view(self) -> OrganizationsView:
        return self.store.projection(OrganizationsView)
