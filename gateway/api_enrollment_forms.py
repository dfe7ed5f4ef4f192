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
enrollment decides the rest (profiles of the right type, the options of the type, a free URI extension).

An scep or est endpoint (issue 16) has a credential the server makes — the SCEP challenge password, or the EST
HTTP Basic username and password — answered once: in the create answer (`credentials`) and when rotated (POST
…/credentials), never by a GET. One-time challenges (POST …/challenges) are for single devices: each answered
once, then listed by status (issued, used, expired) without the challenge itself. The same scope as the
endpoint's other routes: who sees the endpoint manages its credential and challenges. Answers holding a secret
are `Cache-Control: no-store`."""
from __future__ import annotations

import uuid

from marshmallow import Schema, fields
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
_CHALLENGE_FIELDS = tuple(forms_contract.ChallengeV1().fields)
_ISSUED_CHALLENGE_FIELDS = tuple(forms_contract.IssuedChallengeV1().fields)
_NO_STORE = {"Cache-Control": "no-store"}       # an answer with a credential or a challenge in it


class DeviceEndpointWithCredentials(schemas.DeviceEndpoint):
    """An scep or est endpoint as created or with its credential rotated: the endpoint and, this once, the
    credential (a web_form endpoint's create answer has no `credentials`)."""
    credentials = fields.Nested(forms_contract.CredentialV1, metadata={
        "description": "scep: `challenge_password`; est: `username` (the URI extension) and `password` (HTTP "
                       "Basic). Shown in this answer only: Certplane keeps its SHA-256, never the credential"})


class DeviceChallenge(forms_contract.ChallengeV1):
    pass


class DeviceChallengeIssued(forms_contract.IssuedChallengeV1):
    pass


class DeviceChallengeList(Schema):
    items = fields.List(fields.Nested(DeviceChallenge), required=True)


def account_view(account: dict) -> dict:
    return {k: account.get(k) for k in _ACCOUNT_FIELDS}


def endpoint_view(endpoint: dict) -> dict:
    return {k: endpoint.get(k) for k in _ENDPOINT_FIELDS}


def endpoint_with_credentials(answer: dict) -> dict:
    """The RPC's {"device_endpoint", "credentials"?} as one REST answer: the endpoint, `credentials` beside it."""
    body = endpoint_view(answer["device_endpoint"])
    if answer.get("credentials"):
        body["credentials"] = dict(answer["credentials"])
    return body


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
        "Create a device enrollment endpoint for an organization (optionally a department; both fixed once "
        "created) with device profiles, help texts and a URI extension (3..64 of a-z, 0-9 and -; generated — 16 "
        "random characters — when absent or with `generate: true`). Its `type`: `web_form` (the default; "
        "`form_url` is what applicants get), `scep` (RFC 8894; devices use `scep_url`) or `est` (RFC 7030; "
        "`est_url`). An scep or est endpoint's answer holds its `credentials`, made by the server and shown this "
        "once (the SCEP challenge password; the EST Basic username and password). An MRAO, or an RAO / DRAO "
        "device of the organization / department", ENDPOINTS_TAG, body=forms_contract.CreateDeviceEndpointV1,
        responses={201: (DeviceEndpointWithCredentials, "created (scep/est: with its credential, shown this once); "
                                                        "Location names it"),
                   409: (schemas.Error, "uri_extension_taken: another endpoint has this URI extension"),
                   422: (schemas.Error, "a profile that does not exist or is not a device profile")}))
    def create_device_endpoint(self, request: Request):
        scope = self._begin(request)
        _raw, payload = parse_body(request, forms_contract.CreateDeviceEndpointV1(),
                                   self.context.settings.max_body_bytes)
        payload = _canonical(payload)
        self._form_place(scope, "device", payload["organization_id"], payload["department_id"])
        answer = self._call(self.enrollment_rpc, "create_device_endpoint", payload, scope.principal.admin_id)
        body = endpoint_with_credentials(answer)
        headers = {"Location": f"{_ENDPOINTS}/{body['endpoint_id']}"}
        if "credentials" in body:
            headers.update(_NO_STORE)
        return json_response(201, body, headers)

    @api("GET", _ENDPOINT, doc=Operation(
        "Get a device enrollment endpoint, with its URL (`form_url`; scep: `scep_url`; est: `est_url`) and, for "
        "scep or est, when its credential was made (`credential_set_at`; never the credential)", ENDPOINTS_TAG,
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

    @api("POST", _ENDPOINT + "/credentials", doc=Operation(
        "Rotate an scep or est endpoint's credential: a new one made by the server, shown in this answer only; "
        "the old one stops working at once (devices not yet enrolled need the new one; one-time challenges stay "
        "valid). The same rights as changing the endpoint. Takes no body", ENDPOINTS_TAG,
        responses={200: (DeviceEndpointWithCredentials, "the endpoint with its new credential, shown this once"),
                   409: (schemas.Error, "no_credential: a web_form endpoint has none (its form URL is public)")}))
    def rotate_device_endpoint_credential(self, request: Request, endpoint_id: str):
        scope = self._begin(request)
        self._visible_device_endpoint(scope, endpoint_id)
        answer = self._call(self.enrollment_rpc, "rotate_device_endpoint_credential", endpoint_id,
                            scope.principal.admin_id)
        return json_response(200, endpoint_with_credentials(answer), dict(_NO_STORE))

    @api("POST", _ENDPOINT + "/challenges", doc=Operation(
        "Issue a one-time challenge for one device of an scep or est endpoint: `device_name` (who it is for, "
        "1..128 printable characters, optional) and `valid_hours` (1..720, default 24). The answer holds the "
        "`challenge`, shown this once: the device sends it as its SCEP challengePassword, or as its EST Basic "
        "password (any username); it works once, until `expires_at`. The same rights as changing the endpoint",
        ENDPOINTS_TAG, body=forms_contract.IssueChallengeV1,
        responses={201: (DeviceChallengeIssued, "issued; the challenge is shown this once"),
                   409: (schemas.Error, "no_credential: a web_form endpoint takes no challenges")}))
    def issue_device_challenge(self, request: Request, endpoint_id: str):
        scope = self._begin(request)
        _raw, payload = parse_body(request, forms_contract.IssueChallengeV1(), self.context.settings.max_body_bytes)
        self._visible_device_endpoint(scope, endpoint_id)
        answer = self._call(self.enrollment_rpc, "issue_device_challenge", endpoint_id, payload,
                            scope.principal.admin_id)
        body = {k: answer.get(k) for k in _ISSUED_CHALLENGE_FIELDS}
        return json_response(201, body, dict(_NO_STORE))

    @api("GET", _ENDPOINT + "/challenges", doc=Operation(
        "The endpoint's one-time challenges, newest first (at most 500): who each is for, its status (issued, "
        "used, expired), when it expires, who issued it, and when and through which protocol it was used "
        "(`cert_id`: the certificate it enrolled). Never the challenge itself. A web_form endpoint has none",
        ENDPOINTS_TAG, responses={200: (DeviceChallengeList, "the challenges")}))
    def list_device_challenges(self, request: Request, endpoint_id: str):
        scope = self._begin(request)
        self._visible_device_endpoint(scope, endpoint_id)
        found = self._call(self.enrollment_rpc, "list_device_challenges", endpoint_id)
        return json_response(200, {"items": [{k: c.get(k) for k in _CHALLENGE_FIELDS} for c in found["items"]]})

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
