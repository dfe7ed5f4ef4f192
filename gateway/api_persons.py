"""Persons, the end users of client and code-signing certificates: /api/v1/persons/... Visible to MRAOs and to
RAO/DRAO roles of type client or code_signing that cover the person's organization or department."""
from __future__ import annotations

from werkzeug.wrappers import Request, Response

from contracts import identity as identity_contract
from contracts.errors import InvalidRequest, NotFound
from gateway import schemas, views
from gateway.base import json_response, parse_body, parse_query, read_body
from gateway.http import api
from gateway.openapi import Operation

TAG = "persons"
_PERSON = "/api/v1/persons/<person_id>"
CSV_TYPES = ("text/csv", "application/csv")


class PersonRoutes:
    @api("GET", "/api/v1/persons", doc=Operation(
        "List the persons you see (sorted by email)", TAG, query=schemas.PersonListQuery,
        responses={200: (schemas.PersonList, "a page of persons; X-Total-Count has the total")}))
    def list_persons(self, request: Request):
        scope = self._begin(request)
        query = parse_query(request, schemas.PersonListQuery())
        organization_id = str(query["organization_id"]) if query.get("organization_id") else None
        found = self._call(self.identity_rpc, "list_persons", scope.person_filter(), query["position"],
                           query["size"], organization_id, query.get("email"))
        return json_response(200, views.page(found["items"], found["total"], query["position"], query["size"]),
                             {"X-Total-Count": str(found["total"])})

    @api("POST", "/api/v1/persons", doc=Operation(
        "Create a person", TAG, body=identity_contract.PersonFieldsV1, idempotent_post=True,
        responses={201: (schemas.Person, "created; Location names it")}))
    def create_person(self, request: Request):
        scope = self._begin(request)
        raw, payload = parse_body(request, identity_contract.PersonFieldsV1(), self.context.settings.max_body_bytes)
        scope.person_rights(payload["organization_id"], payload.get("department_id"))

        def run(derived_id):
            person = self._identity("create_person", payload, self._orgs_position, derived_id)["person"]
            return json_response(201, person, {"Location": f"/api/v1/persons/{person['person_id']}"})
        return self._idempotent(request, scope.principal, raw, run)

    @api("GET", _PERSON, doc=Operation("Get a person", TAG, responses={200: (schemas.Person, "the person")}))
    def get_person(self, request: Request, person_id: str):
        scope = self._begin(request)
        return json_response(200, self._visible_person(scope, person_id))

    @api("PATCH", _PERSON, doc=Operation(
        "Change a person. Changing the email or a name revokes their client certificates (an event says so); "
        "changing only the secret ID does not.", TAG, body=identity_contract.UPDATE_PERSON,
        responses={200: (schemas.Person, "the person after the change")}))
    def update_person(self, request: Request, person_id: str):
        scope = self._begin(request)
        _raw, changes = parse_body(request, identity_contract.UPDATE_PERSON, self.context.settings.max_body_bytes)
        person = self._visible_person(scope, person_id)
        scope.person_rights(person["organization_id"], person["department_id"])
        if "department_id" in changes:
            scope.person_rights(person["organization_id"], changes["department_id"])
        return json_response(200, self._identity("update_person", person_id, changes,
                                                 self._orgs_position)["person"])

    @api("DELETE", _PERSON, doc=Operation("Delete a person", TAG, responses={204: (None, "deleted")}))
    def delete_person(self, request: Request, person_id: str):
        scope = self._begin(request)
        person = self._visible_person(scope, person_id)
        scope.person_rights(person["organization_id"], person["department_id"])
        self._identity("delete_person", person_id)
        return Response(status=204)

    @api("POST", "/api/v1/organizations/<organization_id>/persons/import", doc=Operation(
        "Import persons from CSV (text/csv; header: email,first_name,middle_name,last_name,department,"
        "alternative_emails,validation_type,secret_id). All or nothing: if any row is wrong, nothing is "
        "imported and the answer lists every wrong row (400, code csv_rows_invalid).", TAG, raw_body="text/csv",
        responses={201: (schemas.ImportAnswer, "all rows imported")}))
    def import_persons(self, request: Request, organization_id: str):
        scope = self._begin(request)
        raw = read_body(request, self.context.settings.max_body_bytes, CSV_TYPES)
        scope.organization(organization_id)
        departments = scope.person_departments(organization_id)   # None: any; else only these
        if departments == []:
            scope.person_rights(organization_id, None)             # sees the organization, manages no one: 403
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise InvalidRequest("the CSV must be UTF-8", {"body": ["not UTF-8"]}, code="csv_not_utf8") from None
        result = self._identity("import_persons", organization_id, text, self._orgs_position, departments)
        return json_response(201, {"imported": result["imported"]})

    def _visible_person(self, scope, person_id: str) -> dict:
        try:
            person = self._call(self.identity_rpc, "get_person", person_id)
        except NotFound:
            raise NotFound.of("person", person_id) from None
        if not scope.sees_person(person["organization_id"], person["department_id"]):
            raise NotFound.of("person", person_id)
        return person
