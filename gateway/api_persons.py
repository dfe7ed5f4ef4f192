"""Persons, the end users of client and code-signing certificates: /api/v1/persons/... Visible to MRAOs and to
RAO/DRAO roles of type client or code_signing that cover the person's organization or department."""
from __future__ import annotations

import csv
import io

from werkzeug.wrappers import Request, Response

from contracts import identity as identity_contract
from contracts.errors import InvalidRequest, NotFound, PolicyViolation
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
        "Create a person. Their email and alternative emails must be in domains delegated to the organization "
        "(or department) for client certificates.", TAG, body=identity_contract.PersonFieldsV1, idempotent_post=True,
        responses={201: (schemas.Person, "created; Location names it"),
                   422: (schemas.Error, "an email outside the delegated domains (email_not_delegated)")}))
    def create_person(self, request: Request):
        scope = self._begin(request)
        raw, payload = parse_body(request, identity_contract.PersonFieldsV1(), self.context.settings.max_body_bytes)
        scope.person_rights(payload["organization_id"], payload.get("department_id"))
        self._check_person_emails(str(payload["organization_id"]), payload.get("department_id"),
                                  [payload["email"], *(payload.get("alternative_emails") or [])])

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
        "changing only the secret ID does not. The emails stay in domains delegated for client certificates.", TAG,
        body=identity_contract.UPDATE_PERSON,
        responses={200: (schemas.Person, "the person after the change"),
                   422: (schemas.Error, "an email outside the delegated domains (email_not_delegated)")}))
    def update_person(self, request: Request, person_id: str):
        scope = self._begin(request)
        _raw, changes = parse_body(request, identity_contract.UPDATE_PERSON, self.context.settings.max_body_bytes)
        person = self._visible_person(scope, person_id)
        scope.person_rights(person["organization_id"], person["department_id"])
        if "department_id" in changes:
            scope.person_rights(person["organization_id"], changes["department_id"])
        if {"email", "alternative_emails", "department_id"} & set(changes):
            self._check_person_emails(person["organization_id"], changes.get("department_id",
                                                                             person["department_id"]),
                                      [changes.get("email", person["email"]),
                                       *(changes.get("alternative_emails", person["alternative_emails"]) or [])])
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
        self._check_import_emails(organization_id, text)
        result = self._identity("import_persons", organization_id, text, self._orgs_position, departments)
        return json_response(201, {"imported": result["imported"]})

    def _check_import_emails(self, organization_id: str, text: str) -> None:
        """_check_person_emails for every row of an import, before identity looks at it (which reports what else
        is wrong): 400 `csv_rows_invalid` naming the rows whose emails are outside the delegated domains. A file
        that is not the documented CSV is left to identity's report."""
        try:
            rows = list(csv.DictReader(io.StringIO(text, newline="")))
        except csv.Error:
            return
        emails_of = {line: [r.get("email") or "", *(r.get("alternative_emails") or "").split(";")]
                     for line, r in enumerate(rows, start=2)}
        wanted = [e.strip() for emails in emails_of.values() for e in emails if "@" in e]
        if not wanted:
            return
        try:
            self._check_person_emails(organization_id, None, wanted)
        except PolicyViolation as refused:
            bad = refused.details["emails"]
            errors = [{"row": line, "errors": {"email": [f"{e}: {bad[e.strip()]}" for e in emails
                                                         if e.strip() in bad]}}
                      for line, emails in emails_of.items() if any(e.strip() in bad for e in emails)]
            raise InvalidRequest(f"{len(errors)} row(s) with emails outside the domains delegated for client "
                                 "certificates: nothing was imported", {"rows": errors},
                                 code="csv_rows_invalid") from None

    def _check_person_emails(self, organization_id: str, department_id, emails: list[str]) -> None:
        """A person's email and alternative emails are in domains delegated (approved, active) to their
        organization or department for client certificates (domains answers, by the shared coverage rule): else
        422 `email_not_delegated` naming each address, and nothing is recorded."""
        domains = sorted({str(e).rsplit("@", 1)[-1].lower() for e in emails if e})
        if not domains or self._directory_read(lambda d, c: d.organization_name(c, str(organization_id))) is None:
            return                     # an unknown organization: identity answers 404 for it
        department_id = str(department_id) if department_id else None
        if department_id is not None and self._dept_org_of([department_id])(department_id) != str(organization_id):
            department_id = None       # not of this organization: identity refuses it
        answers = self._call(self.domains_rpc, "may_issue_names", str(organization_id), department_id, "client",
                             domains)
        refused = {e: answers[e.rsplit("@", 1)[-1].lower()]["reason"] for e in emails
                   if e and not answers.get(e.rsplit("@", 1)[-1].lower(), {}).get("allowed")}
        if refused:
            raise PolicyViolation("emails outside the domains delegated to this organization for client "
                                  "certificates: " + ", ".join(refused), {"emails": refused},
                                  code="email_not_delegated")

    def _visible_person(self, scope, person_id: str) -> dict:
        try:
            person = self._call(self.identity_rpc, "get_person", person_id)
        except NotFound:
            raise NotFound.of("person", person_id) from None
        if not scope.sees_person(person["organization_id"], person["department_id"]):
            raise NotFound.of("person", person_id)
        return person
