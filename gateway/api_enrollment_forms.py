"""Enrollment form accounts and device enrollment endpoints (issue 15; SCM-REFERENCE "Enrollment form account",
"Device enrollment endpoint"): /api/v1/enrollment-accounts and /api/v1/device-endpoints.

An enrollment account binds the public self-enrollment form of one certificate type to an organization (optionally
a department; both fixed once created) with the profiles it offers and its access code — write-only: no answer
shows it (`has_access_code`), enrollment keeps only its argon2id hash and its events say only when it was set. A
device endpoint is the URL (`form_url`) devices enroll at; its URI extension is given or generated and unique.
Applicants open an account's form at the public POST /forms/api/accounts/{id}/authorize with its access code and their
email (enrollment's authorize_applicant: the lockout and the delegated-domain rule are there).

Scoped (DESIGN §6) by the rule for certificates of the account's type there (contracts/access.py
sees_certificates): MRAO; RAO of that type for the organization; DRAO of that type for the department (device
endpoints: type device). Outside the caller's scope an account or endpoint answers 404 and is never listed or
counted. The gateway checks who asks and that the organization and department exist and belong together;
enrollment decides the rest (profiles of the right type, the options of the type, a free URI extension)."""
from __future__ import annotations

import uuid

from werkzeug.wrappers import Request, Response

from contracts import access
from contracts import enrollment_forms as forms_contract
from contracts.errors import Forbidden, NotFound
from gateway import schemas, views
from gateway.base import json_response, parse_body, parse_query
from gateway.http import api
from gateway.openapi import Operation

ACCOUNTS_TAG, ENDPOINTS_TAG = "enrollment-accounts", "device-endpoints"
_ACCOUNTS = "/api/v1/enrollment-accounts"
_ACCOUNT = _ACCOUNTS + "/<form_account_id>"
_ENDPOINTS = "/api/v1/device-endpoints"
_ENDPOINT = _ENDPOINTS + "/<endpoint_id>"
# public, outside /api/v1 as the DCV link is (DESIGN §5): what the self-enrollment forms call
APPLICANT_AUTHORIZE = "/forms/api/accounts/<form_account_id>/authorize"
ACCOUNT_KIND, ENDPOINT_KIND = "form_account", "device_endpoint"
_ACCOUNT_FIELDS = tuple(forms_contract.FormAccountV1().fields)
_ENDPOINT_FIELDS = tuple(forms_contract.DeviceEndpointV1().fields)
_APPLICANT_FIELDS = tuple(schemas.FormApplicantAccess().fields)


def account_view(account: dict) -> dict:
    return {k: account.get(k) for k in _ACCOUNT_FIELDS}


def endpoint_view(endpoint: dict) -> dict:
    return {k: endpoint.get(k) for k in _ENDPOINT_FIELDS}


class EnrollmentFormRoutes:
    # ---- enrollment form accounts ---------------------------------------------------------------------------
    @api("GET", _ACCOUNTS, doc=Operation(
        "The enrollment form accounts you see (those of types and organizations or departments you manage "
        "certificates of), newest first, paged; `cert_type` keeps one type", ACCOUNTS_TAG,
        query=schemas.FormAccountListQuery,
        responses={200: (schemas.FormAccountList, "a page; X-Total-Count has the total")}))
    def list_form_accounts(self, request: Request):
        scope = self._begin(request)
        query = parse_query(request, schemas.FormAccountListQuery())
        scopes = {t: access.certificate_scope(scope.principal, t) for t in forms_contract.FORM_CERT_TYPES}
        found = self._call(self.enrollment_rpc, "list_form_accounts", scopes, query.get("cert_type"),
                           query["position"], query["size"])
        items = [account_view(a) for a in found["items"]]
        return json_response(200, views.page(items, found["total"], query["position"], query["size"]),
                             {"X-Total-Count": str(found["total"])})

    @api("HEAD", _ACCOUNTS, doc=Operation("Count the enrollment form accounts you see (X-Total-Count)",
                                          ACCOUNTS_TAG, query=schemas.FormAccountListQuery,
                                          responses={200: (None, "X-Total-Count has the count")}))
    def count_form_accounts(self, request: Request):
        response = self.list_form_accounts(request)
        return Response(status=200, headers={"X-Total-Count": response.headers["X-Total-Count"]})

    @api("POST", _ACCOUNTS, doc=Operation(
        "Create an enrollment form account for an organization (optionally one of its departments): its type, "
        "the profiles its form offers (of that type), the CSR generation methods, the options, and the access "
        "code applicants must give (write-only: 8..128 printable characters; stored as an argon2id hash, never "
        "shown). An MRAO, or an RAO / DRAO of the account's type for the organization / department. Applicants "
        "also need an email in a domain delegated to the organization (department) for that type. After "
        "`form_access_max_failures` wrong codes in a row the account is locked for `form_access_lockout_seconds`",
        ACCOUNTS_TAG, body=forms_contract.CreateFormAccountV1,
        responses={201: (schemas.FormAccount, "created; Location names it"),
                   422: (schemas.Error, "a profile that does not exist or is of another type")}))
    def create_form_account(self, request: Request):
        scope = self._begin(request)
        _raw, payload = parse_body(request, forms_contract.CreateFormAccountV1(),
                                   self.context.settings.max_body_bytes)
        payload = _canonical(payload)
        self._form_place(scope, payload["cert_type"], payload["organization_id"], payload["department_id"])
        answer = self._call(self.enrollment_rpc, "create_form_account", payload, scope.principal.admin_id)
        body = account_view(answer["form_account"])
        return json_response(201, body, {"Location": f"{_ACCOUNTS}/{body['form_account_id']}"})

    @api("GET", _ACCOUNT, doc=Operation(
        "Get an enrollment form account (never its access code: `has_access_code`, `access_code_changed_at`; "
        "`locked_until` while wrong codes lock it)", ACCOUNTS_TAG,
        responses={200: (schemas.FormAccount, "the account")}))
    def get_form_account(self, request: Request, form_account_id: str):
        scope = self._begin(request)
        return json_response(200, account_view(self._visible_form_account(scope, form_account_id)))

    @api("PATCH", _ACCOUNT, doc=Operation(
        "Change an enrollment form account: name, profiles, CSR generation, the options, status (active | "
        "disabled) and a new access code (which also ends a lockout); its type, organization and department are "
        "fixed once created (400). The same rights as creating it", ACCOUNTS_TAG,
        body=forms_contract.UpdateFormAccountV1,
        responses={200: (schemas.FormAccount, "the account after the change"),
                   422: (schemas.Error, "a profile that does not exist or is of another type")}))
    def update_form_account(self, request: Request, form_account_id: str):
        scope = self._begin(request)
        _raw, changes = parse_body(request, forms_contract.UpdateFormAccountV1(),
                                   self.context.settings.max_body_bytes)
        self._visible_form_account(scope, form_account_id)
        answer = self._call(self.enrollment_rpc, "update_form_account", form_account_id, changes,
                            scope.principal.admin_id)
        return json_response(200, account_view(answer["form_account"]))

    @api("DELETE", _ACCOUNT, doc=Operation(
        "Delete an enrollment form account: its form stops accepting applicants and its access code is "
        "forgotten; certificates requested through it stay", ACCOUNTS_TAG, responses={204: (None, "deleted")}))
    def delete_form_account(self, request: Request, form_account_id: str):
        scope = self._begin(request)
        self._visible_form_account(scope, form_account_id)
        self._call(self.enrollment_rpc, "delete_form_account", form_account_id, scope.principal.admin_id)
        return Response(status=204)

    # ---- the applicant's side (public) ----------------------------------------------------------------------
    @api("POST", APPLICANT_AUTHORIZE, doc=Operation(
        "An applicant opens an enrollment account's form: the account's access code and the applicant's email "
        "(no login: the code is the credential). The answer is what the form offers (profiles, CSR generation, "
        "options). Wrong codes are counted: after `form_access_max_failures` in a row the account is locked for "
        "`form_access_lockout_seconds` (401 account_locked, the right code too). The email's domain must be "
        "delegated to the account's organization (or department) for the account's type — checked only after "
        "the right code", ACCOUNTS_TAG, public=True, body=forms_contract.AuthorizeApplicantV1,
        responses={200: (schemas.FormApplicantAccess, "the code is right and the email may apply"),
                   401: (schemas.Error, "account_locked: too many wrong codes; try again after locked_until"),
                   403: (schemas.Error, "access_code_wrong (counted), or form_account_disabled"),
                   422: (schemas.Error, "email_not_delegated: the email's domain is not delegated to the "
                                        "account's organization for its type")}))
    def authorize_applicant(self, request: Request, form_account_id: str):
        _raw, payload = parse_body(request, forms_contract.AuthorizeApplicantV1(),
                                   self.context.settings.max_body_bytes)
        self.context.actor = "form-applicant"
        answer = self._call(self.enrollment_rpc, "authorize_applicant", form_account_id, payload["access_code"],
                            payload["email"])
        account = answer["form_account"]
        return json_response(200, {k: account.get(k) for k in _APPLICANT_FIELDS}, {"Cache-Control": "no-store"})

    # ---- device enrollment endpoints ------------------------------------------------------------------------
    @api("GET", _ENDPOINTS, doc=Operation(
        "The device enrollment endpoints you see (MRAO; RAO / DRAO device of their organization / department), "
        "newest first, paged", ENDPOINTS_TAG, query=schemas.PageQuery,
        responses={200: (schemas.DeviceEndpointList, "a page; X-Total-Count has the total")}))
    def list_device_endpoints(self, request: Request):
        scope = self._begin(request)
        query = parse_query(request, schemas.PageQuery())
        found = self._call(self.enrollment_rpc, "list_device_endpoints",
                           access.certificate_scope(scope.principal, "device"), query["position"], query["size"])
        items = [endpoint_view(e) for e in found["items"]]
        return json_response(200, views.page(items, found["total"], query["position"], query["size"]),
                             {"X-Total-Count": str(found["total"])})

    @api("HEAD", _ENDPOINTS, doc=Operation("Count the device enrollment endpoints you see (X-Total-Count)",
                                           ENDPOINTS_TAG, query=schemas.PageQuery,
                                           responses={200: (None, "X-Total-Count has the count")}))
    def count_device_endpoints(self, request: Request):
        response = self.list_device_endpoints(request)
        return Response(status=200, headers={"X-Total-Count": response.headers["X-Total-Count"]})

    @api("POST", _ENDPOINTS, doc=Operation(
        "Create a device enrollment endpoint (type web_form; scep and est come with issue 16) for an organization "
        "(optionally a department; both fixed once created) with device profiles, help texts and a URI extension "
        "(3..64 of a-z, 0-9 and -; generated — 16 random characters — when absent or with `generate: true`). "
        "The answer's `form_url` is what applicants get. An MRAO, or an RAO / DRAO device of the organization / "
        "department", ENDPOINTS_TAG, body=forms_contract.CreateDeviceEndpointV1,
        responses={201: (schemas.DeviceEndpoint, "created; Location names it"),
                   409: (schemas.Error, "uri_extension_taken: another endpoint has this URI extension"),
                   422: (schemas.Error, "a profile that does not exist or is not a device profile")}))
    def create_device_endpoint(self, request: Request):
        scope = self._begin(request)
        _raw, payload = parse_body(request, forms_contract.CreateDeviceEndpointV1(),
                                   self.context.settings.max_body_bytes)
        payload = _canonical(payload)
        self._form_place(scope, "device", payload["organization_id"], payload["department_id"])
        answer = self._call(self.enrollment_rpc, "create_device_endpoint", payload, scope.principal.admin_id)
        body = endpoint_view(answer["device_endpoint"])
        return json_response(201, body, {"Location": f"{_ENDPOINTS}/{body['endpoint_id']}"})

    @api("GET", _ENDPOINT, doc=Operation("Get a device enrollment endpoint, with its form URL", ENDPOINTS_TAG,
                                         responses={200: (schemas.DeviceEndpoint, "the endpoint")}))
    def get_device_endpoint(self, request: Request, endpoint_id: str):
        scope = self._begin(request)
        return json_response(200, endpoint_view(self._visible_device_endpoint(scope, endpoint_id)))

    @api("PATCH", _ENDPOINT, doc=Operation(
        "Change a device enrollment endpoint: name, profiles, help texts, status (active | disabled); its type, "
        "organization, department and URI extension are fixed (400)", ENDPOINTS_TAG,
        body=forms_contract.UpdateDeviceEndpointV1,
        responses={200: (schemas.DeviceEndpoint, "the endpoint after the change"),
                   422: (schemas.Error, "a profile that does not exist or is not a device profile")}))
    def update_device_endpoint(self, request: Request, endpoint_id: str):
        scope = self._begin(request)
        _raw, changes = parse_body(request, forms_contract.UpdateDeviceEndpointV1(),
                                   self.context.settings.max_body_bytes)
        self._visible_device_endpoint(scope, endpoint_id)
        answer = self._call(self.enrollment_rpc, "update_device_endpoint", endpoint_id, changes,
                            scope.principal.admin_id)
        return json_response(200, endpoint_view(answer["device_endpoint"]))

    @api("DELETE", _ENDPOINT, doc=Operation(
        "Delete a device enrollment endpoint: its form URL stops working and its URI extension is free again",
        ENDPOINTS_TAG, responses={204: (None, "deleted")}))
    def delete_device_endpoint(self, request: Request, endpoint_id: str):
        scope = self._begin(request)
        self._visible_device_endpoint(scope, endpoint_id)
        self._call(self.enrollment_rpc, "delete_device_endpoint", endpoint_id, scope.principal.admin_id)
        return Response(status=204)

    # ---- rules ------------------------------------------------------------------------------------------
    def _visible_form_account(self, scope, form_account_id: str) -> dict:
        """The account, or 404 when there is none or it is outside the caller's scope (the same answer)."""
        try:
            found = self._call(self.enrollment_rpc, "get_form_account", form_account_id)
        except NotFound:
            raise NotFound.of(ACCOUNT_KIND, form_account_id) from None
        if not access.sees_certificates(scope.principal, found["cert_type"], found["organization_id"],
                                        found["department_id"]):
            raise NotFound.of(ACCOUNT_KIND, form_account_id)
        return found

    def _visible_device_endpoint(self, scope, endpoint_id: str) -> dict:
        try:
            found = self._call(self.enrollment_rpc, "get_device_endpoint", endpoint_id)
        except NotFound:
            raise NotFound.of(ENDPOINT_KIND, endpoint_id) from None
        if not access.sees_certificates(scope.principal, "device", found["organization_id"],
                                        found["department_id"]):
            raise NotFound.of(ENDPOINT_KIND, endpoint_id)
        return found

    def _form_place(self, scope, cert_type: str, organization_id: str, department_id: str | None) -> None:
        """The organization (and department) exist, are visible and belong together — else 404; and the caller
        manages certificates of `cert_type` there — else 403."""
        self._existing_place(scope, organization_id, department_id)      # as for an ACME account (api_acme_accounts)
        if not access.sees_certificates(scope.principal, cert_type, organization_id, department_id):
            where = f"department {department_id}" if department_id else f"organization {organization_id}"
            raise Forbidden(f"this needs an MRAO role, or an RAO or DRAO role of type {cert_type} for this "
                            "organization or department", {"missing": f"role MRAO, or RAO or DRAO {cert_type} "
                                                                      f"for {where}"})


def _canonical(payload: dict) -> dict:
    """The body as sent (and checked by its schema), its ids in canonical form: the directory and enrollment
    compare them as text."""
    out = dict(payload)
    out["organization_id"] = str(uuid.UUID(payload["organization_id"]))
    department_id = payload.get("department_id")
    out["department_id"] = str(uuid.UUID(department_id)) if department_id else None
    out["profile_ids"] = [str(uuid.UUID(p)) for p in payload["profile_ids"]]
    return out
