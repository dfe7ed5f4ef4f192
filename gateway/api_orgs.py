"""Organizations and departments: /api/v1/organizations/... (scoped: DESIGN §6)."""
from __future__ import annotations

from werkzeug.wrappers import Request, Response

from contracts import orgs as orgs_contract
from contracts.errors import NotFound
from gateway import schemas, views
from gateway.base import json_response, parse_body, parse_query
from gateway.http import api
from gateway.openapi import Operation

TAG = "organizations"
_ORG = "/api/v1/organizations/<organization_id>"
_DEPT = _ORG + "/departments/<department_id>"


class OrganizationRoutes:
    @api("GET", "/api/v1/organizations", doc=Operation(
        "List the organizations you see (sorted by name)", TAG, query=schemas.OrganizationListQuery,
        responses={200: (schemas.OrganizationList, "a page of organizations; X-Total-Count has the total")}))
    def list_organizations(self, request: Request):
        scope = self._begin(request)
        query = parse_query(request, schemas.OrganizationListQuery())
        rows, total = self._directory_read(lambda d, c: d.organizations_page(
            c, offset=query["position"], limit=query["size"], name=query.get("name"),
            name_contains=query.get("q"), country=query.get("country"),
            validation_status=query.get("validation_status"), within=scope.organizations))
        items = [views.organization_summary(r, scope.departments_of(r["organization_id"])) for r in rows]
        body = views.page(items, total, query["position"], query["size"])
        return json_response(200, body, {"X-Total-Count": str(total)})

    @api("HEAD", "/api/v1/organizations", doc=Operation(
        "Count the organizations you see (X-Total-Count), with the same filters as the list", TAG,
        query=schemas.OrganizationListQuery, responses={200: (None, "X-Total-Count has the count")}))
    def count_organizations(self, request: Request):
        response = self.list_organizations(request)
        return Response(status=200, headers={"X-Total-Count": response.headers["X-Total-Count"]})

    @api("POST", "/api/v1/organizations", doc=Operation(
        "Create an organization (MRAO)", TAG, body=orgs_contract.CreateOrganizationV1, idempotent_post=True,
        responses={201: (schemas.Organization, "created; Location names it")}))
    def create_organization(self, request: Request):
        scope = self._begin(request)
        raw, fields = parse_body(request, orgs_contract.CreateOrganizationV1(), self.context.settings.max_body_bytes)
        scope.require_mrao("creating an organization")

        def run(derived_id):
            organization = self._orgs("create_organization", fields, derived_id)["organization"]
            return json_response(201, organization,
                                 {"Location": f"/api/v1/organizations/{organization['organization_id']}"})
        return self._idempotent(request, scope.principal, raw, run)

    @api("GET", _ORG, doc=Operation("Get an organization with its departments", TAG,
                                    responses={200: (schemas.Organization, "the organization")}))
    def get_organization(self, request: Request, organization_id: str):
        scope = self._begin(request)
        scope.organization(organization_id)
        organization = self._call(self.orgs_rpc, "get_organization", organization_id)
        visible = scope.departments_of(organization_id)
        if visible is not None:
            organization["departments"] = [d for d in organization["departments"] if d["department_id"] in visible]
        return json_response(200, organization)

    @api("PATCH", _ORG, doc=Operation(
        "Change an organization's name, address or EV details (MRAO; the address is locked while validation is "
        "pending)", TAG, body=orgs_contract.UPDATE_ORGANIZATION,
        responses={200: (schemas.Organization, "the organization after the change")}))
    def update_organization(self, request: Request, organization_id: str):
        scope = self._begin(request)
        _raw, changes = parse_body(request, orgs_contract.UPDATE_ORGANIZATION, self.context.settings.max_body_bytes)
        scope.organization(organization_id)
        scope.require_mrao("changing an organization")
        return json_response(200, self._orgs("update_organization", organization_id, changes)["organization"])

    @api("DELETE", _ORG, doc=Operation("Delete an organization that has no departments (MRAO)", TAG,
                                       responses={204: (None, "deleted")}))
    def delete_organization(self, request: Request, organization_id: str):
        scope = self._begin(request)
        scope.organization(organization_id)
        scope.require_mrao("deleting an organization")
        self._orgs("delete_organization", organization_id)
        return Response(status=204)

    @api("POST", _ORG + "/validation/start", doc=Operation(
        "Start (or restart) organization validation: status becomes pending and the address locks (MRAO)", TAG,
        responses={200: (schemas.Organization, "the organization, validation pending")}))
    def start_validation(self, request: Request, organization_id: str):
        scope = self._begin(request)
        scope.organization(organization_id)
        scope.require_mrao("validating an organization")
        return json_response(200, self._orgs("start_validation", organization_id)["organization"])

    @api("POST", _ORG + "/validation/complete", doc=Operation(
        "Complete a pending validation as validated or failed (MRAO)", TAG, body=orgs_contract.CompleteValidationV1,
        responses={200: (schemas.Organization, "the organization with its new validation status")}))
    def complete_validation(self, request: Request, organization_id: str):
        scope = self._begin(request)
        _raw, payload = parse_body(request, orgs_contract.CompleteValidationV1(),
                                   self.context.settings.max_body_bytes)
        scope.organization(organization_id)
        scope.require_mrao("validating an organization")
        return json_response(200, self._orgs("complete_validation", organization_id, payload)["organization"])

    # ---- departments --------------------------------------------------------------------------------------
    @api("GET", _ORG + "/departments", doc=Operation(
        "List the organization's departments you see", TAG, query=schemas.DepartmentListQuery,
        responses={200: (schemas.DepartmentList, "a page of departments; X-Total-Count has the total")}))
    def list_departments(self, request: Request, organization_id: str):
        scope = self._begin(request)
        query = parse_query(request, schemas.DepartmentListQuery())
        scope.organization(organization_id)
        name, (rows, total) = self._directory_read(lambda d, c: (
            d.organization_name(c, organization_id),
            d.departments_page(c, organization_id, offset=query["position"], limit=query["size"],
                               name=query.get("name"), within=scope.departments_of(organization_id))))
        if name is None:
            raise NotFound.of("organization", organization_id)
        items = [views.department({k: v for k, v in r.items() if k != "name_key"}, name) for r in rows]  # a sort key
        return json_response(200, views.page(items, total, query["position"], query["size"]),
                             {"X-Total-Count": str(total)})

    @api("POST", _ORG + "/departments", doc=Operation(
        "Create a department (MRAO, or an RAO of the organization)", TAG, body=orgs_contract.DepartmentFieldsV1,
        idempotent_post=True, responses={201: (schemas.Department, "created; Location names it")}))
    def create_department(self, request: Request, organization_id: str):
        scope = self._begin(request)
        raw, fields = parse_body(request, orgs_contract.DepartmentFieldsV1(), self.context.settings.max_body_bytes)
        scope.organization(organization_id)
        scope.require_organization_admin(organization_id, "creating a department")

        def run(derived_id):
            department = self._department_view(self._orgs("create_department", organization_id, fields,
                                                          derived_id)["department"])
            return json_response(201, department, {
                "Location": f"/api/v1/organizations/{department['organization_id']}"
                            f"/departments/{department['department_id']}"})
        return self._idempotent(request, scope.principal, raw, run)

    @api("GET", _DEPT, doc=Operation("Get a department", TAG,
                                     responses={200: (schemas.Department, "the department")}))
    def get_department(self, request: Request, organization_id: str, department_id: str):
        scope = self._begin(request)
        scope.department(organization_id, department_id)
        return json_response(200, self._department_view(
            self._call(self.orgs_rpc, "get_department", organization_id, department_id)))

    @api("PATCH", _DEPT, doc=Operation(
        "Rename a department (MRAO, or an RAO of the organization)", TAG, body=orgs_contract.UpdateDepartmentV1,
        responses={200: (schemas.Department, "the department after the change")}))
    def update_department(self, request: Request, organization_id: str, department_id: str):
        scope = self._begin(request)
        _raw, changes = parse_body(request, orgs_contract.UpdateDepartmentV1(), self.context.settings.max_body_bytes)
        scope.department(organization_id, department_id)
        scope.require_organization_admin(organization_id, "renaming a department")
        result = self._orgs("update_department", organization_id, department_id, changes)
        return json_response(200, self._department_view(result["department"]))

    @api("DELETE", _DEPT, doc=Operation("Delete a department (MRAO, or an RAO of the organization)", TAG,
                                        responses={204: (None, "deleted")}))
    def delete_department(self, request: Request, organization_id: str, department_id: str):
        scope = self._begin(request)
        scope.department(organization_id, department_id)
        scope.require_organization_admin(organization_id, "deleting a department")
        self._orgs("delete_department", organization_id, department_id)
        return Response(status=204)

    def _department_view(self, record: dict) -> dict:
        name = self._directory_read(lambda d, c: d.organization_name(c, record["organization_id"]))
        return views.department(record, name)
