"""Client (S/MIME), code-signing and device certificates (issue 15): /api/v1/client, /api/v1/cscert and
/api/v1/device (SCM's resource names), one set of routes for the three inventories; and the public invitation
and collection links' API (/forms/api/invitations/…, /collect/cert/…).

Scope (DESIGN §6, contracts/access.py sees_certificates): MRAO; RAO of the type over the organization; DRAO of the
type over the department. Outside it: 404, never listed or counted. A client certificate is asked for a person
(identity's), whom the caller must see; its subject and emails are the person's."""
from __future__ import annotations

import uuid

from marshmallow import RAISE, Schema, fields, validate
from werkzeug.wrappers import Request, Response

from contracts import access
from contracts import certificates as contract
from contracts.enrollment import RenewV1
from contracts.errors import Forbidden, InvalidRequest, NotFound
from gateway import schemas, views
from gateway.api_ssl import CSR_UPLOAD, _file
from gateway.base import json_response, parse_body, parse_query, read_body
from gateway.errors import error_response
from gateway.http import api
from gateway.openapi import Operation

TAG = "certificates"
_KINDS = ",".join(contract.RESOURCES.values())
_LIST = f"/api/v1/<any({_KINDS}):resource>"
_ONE = _LIST + "/<cert_id>"
# the invitation link (the mail's) is the page /forms/invitations/<token> (api_public_forms.py); what the page calls
_INVITATION = "/forms/api/invitations/<token>"


class CertListQuery(schemas.PageQuery):
    status = fields.String(validate=validate.OneOf(contract.LIST_STATUSES), metadata={
        "description": "a status; `valid`: issued or downloaded and not expired"})
    q = fields.String(validate=validate.Length(min=1, max=253), metadata={
        "description": "part of the CN, a SAN or an email (any case), or of the serial"})
    organization_id = fields.UUID()
    department_id = fields.UUID()
    profile_id = fields.UUID()
    person_id = fields.UUID()
    endpoint_id = fields.UUID(metadata={"description": "device: the enrollment endpoint it came through"})
    requested_by = fields.String(validate=validate.Length(min=1, max=80))
    serial = fields.String(validate=validate.Regexp(r"^[0-9A-Fa-f:]{1,64}$"))
    sort = fields.String(load_default="-created_at", validate=validate.OneOf(
        [v for name in ("created_at", "not_after", "common_name", "status", "serial") for v in (name, f"-{name}")]))


class CertList(Schema):
    items = fields.List(fields.Nested(contract.CertificateV1), required=True)
    total = fields.Integer(required=True)
    position = fields.Integer(required=True)
    size = fields.Integer(required=True)


class CertDownloadQuery(Schema):
    class Meta:
        unknown = RAISE

    format = fields.String(load_default="pem", validate=validate.OneOf(
        [f for f in contract.DOWNLOAD_FORMATS if f != "p12"]))


class InvitationImportQuery(Schema):
    class Meta:
        unknown = RAISE

    organization_id = fields.UUID(required=True)
    profile_id = fields.UUID(required=True, metadata={"description": "a code-signing profile"})


class InvitationImport(Schema):
    invited = fields.Integer(required=True)
    cert_ids = fields.List(fields.UUID(), required=True)


class Invitation(Schema):
    certificate = fields.Nested(contract.CertificateV1, required=True)
    profile_name = fields.String(required=True)
    allow_empty_password = fields.Boolean(required=True)
    key_generation = fields.List(fields.String(), required=True)
    open = fields.Boolean(required=True, metadata={"description": "the invitation may still be answered"})
    server_key_ready = fields.Boolean(required=True, metadata={"description": "a PKCS#12 can be downloaded once "
                                                                              "issued (server-made key)"})


class TypedCertificateRoutes:
    # ---- the inventories --------------------------------------------------------------------------------------
    @api("GET", _LIST, doc=Operation(
        "The client (`client`), code-signing (`cscert`) or device (`device`) certificates you see: filtered, "
        "sorted by `sort` (default newest first), paged", TAG, query=CertListQuery,
        responses={200: (CertList, "a page; X-Total-Count has the total")}))
    def list_certs(self, request: Request, resource: str):
        cert_type = contract.TYPE_OF_RESOURCE[resource]
        scope = self._begin(request)
        query = parse_query(request, CertListQuery())
        filters = {k: (str(v) if k.endswith("_id") else v) for k, v in query.items()
                   if k not in ("position", "size") and v is not None}
        found = self._call(self.enrollment_rpc, "list_certs", cert_type,
                           access.certificate_scope(scope.principal, cert_type), filters, query["position"],
                           query["size"], request.method == "HEAD")
        if request.method == "HEAD":
            return Response(status=200, headers={"X-Total-Count": str(found["total"])})
        return json_response(200, views.page(found["items"], found["total"], query["position"], query["size"]),
                             {"X-Total-Count": str(found["total"])})

    @api("HEAD", _LIST, doc=Operation("Count the certificates of that type you see (X-Total-Count)", TAG,
                                      query=CertListQuery, responses={200: (None, "X-Total-Count has the count")}))
    def count_certs(self, request: Request, resource: str):
        return self.list_certs(request, resource)

    @api("POST", _LIST, doc=Operation(
        "Ask for a certificate. `client`: for a person (ClientRequestV1) — the person gets an invitation mail with "
        "a single-use link, proves the mailbox by it and makes a key in the browser or lets the server make one "
        "(status invited, then requested). `device` and `cscert`: from a CSR (CsrRequestV1; also as a "
        "multipart upload): a device's names must be delegated to the organization for ssl, its subject "
        "O/OU/L/ST/C become the organization's; a code-signing certificate names the organization (or, with "
        "person_id, a person of it). Issued at once when the profile needs no approval (the answer waits for the "
        "CA), otherwise it waits for another eligible administrator.", TAG, body=contract.CsrRequestV1,
        upload=CSR_UPLOAD, idempotent_post=True,
        responses={201: (contract.CertificateV1, "invited, requested or issued"),
                   202: (contract.CertificateV1, "applied: the certificate follows (GET the Location)"),
                   422: (schemas.Error, "names or emails not delegated, key or term refused (nothing recorded); "
                                        "the CA refused (the request is recorded as failed)")}))
    def request_cert(self, request: Request, resource: str):
        cert_type = contract.TYPE_OF_RESOURCE[resource]
        scope = self._begin(request)
        schema = contract.ClientRequestV1() if cert_type == "client" else contract.CsrRequestV1()
        raw, payload = parse_body(request, schema, self.context.settings.max_body_bytes,
                                  upload=() if cert_type == "client" else CSR_UPLOAD)
        admin_id = scope.principal.admin_id
        via = "console" if "csrf_token" in scope.principal.extra else "api"     # the console's session cookie
        if cert_type == "client":
            person = self._person_for(scope, cert_type, str(payload["person_id"]))

            def run(derived_id):
                found = self._call(self.enrollment_rpc, "invite_person", "client", payload, person, admin_id,
                                   derived_id or str(uuid.uuid4()), via)["certificate"]
                return certificate_answer(found, 201)
            return self._idempotent(request, scope.principal, raw, run)
        organization_id = str(payload["organization_id"])
        department_id = str(payload["department_id"]) if payload.get("department_id") else None
        scope.organization(organization_id)
        if department_id is not None:
            scope.department(organization_id, department_id)
        self._may(scope, cert_type, organization_id, department_id)
        person = self._person_for(scope, cert_type, str(payload["person_id"])) if payload.get("person_id") else None
        email = self._admin_email(admin_id)

        def run_csr(derived_id):
            found = self._call(self.enrollment_rpc, "request_with_csr", cert_type, payload, admin_id, False,
                               derived_id or str(uuid.uuid4()), email, person, via)["certificate"]
            return certificate_answer(found, 201)
        return self._idempotent(request, scope.principal, raw, run_csr)

    @api("POST", "/api/v1/cscert/invitations", doc=Operation(
        "Invite a person to a code-signing certificate (SCM's \"Send Invitation\"): the person gets a mail with a "
        "single-use link, proves the mailbox by it and sends the CSR of their signing key (RSA of at least 3072 "
        "bits, P-256 or P-384); then it waits for approval like any request", TAG, body=contract.ClientRequestV1,
        idempotent_post=True, responses={201: (contract.CertificateV1, "invited")}))
    def invite_code_signing(self, request: Request):
        scope = self._begin(request)
        raw, payload = parse_body(request, contract.ClientRequestV1(), self.context.settings.max_body_bytes)
        person = self._person_for(scope, "code_signing", str(payload["person_id"]))
        via = "console" if "csrf_token" in scope.principal.extra else "api"

        def run(derived_id):
            found = self._call(self.enrollment_rpc, "invite_person", "code_signing", payload, person,
                               scope.principal.admin_id, derived_id or str(uuid.uuid4()), via)["certificate"]
            return certificate_answer(found, 201)
        return self._idempotent(request, scope.principal, raw, run)

    @api("POST", "/api/v1/cscert/invitations/import", doc=Operation(
        "Invite persons to code-signing certificates from CSV (text/csv; header: email,first_name,last_name,"
        "term_days,middle_name,department — the first four required; department a department name). Each row's "
        "person is found by email in the organization or created, then invited. All or nothing: one wrong row and "
        "nothing is invited (400 csv_rows_invalid naming every wrong row).", TAG, query=InvitationImportQuery,
        raw_body="text/csv", responses={201: (InvitationImport, "every row invited")}))
    def import_code_signing_invitations(self, request: Request):
        scope = self._begin(request)
        query = parse_query(request, InvitationImportQuery())
        organization_id, profile_id = str(query["organization_id"]), str(query["profile_id"])
        scope.organization(organization_id)
        self._may(scope, "code_signing", organization_id, None)
        raw = read_body(request, self.context.settings.max_body_bytes, ("text/csv", "application/csv"))
        try:
            content = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise InvalidRequest("the CSV must be UTF-8", {"body": ["not UTF-8"]}, code="csv_not_utf8") from None
        rows = self._call(self.enrollment_rpc, "check_invitation_csv", "code_signing", organization_id, profile_id,
                          content)["rows"]
        via = "console" if "csrf_token" in scope.principal.extra else "api"
        invited = []
        for row in rows:
            person = self._person_by_email(organization_id, row)
            found = self._call(self.enrollment_rpc, "invite_person", "code_signing", {
                "person_id": person["person_id"], "profile_id": profile_id, "term_days": row["term_days"]},
                person, scope.principal.admin_id, None, via)["certificate"]
            invited.append(found["cert_id"])
        return json_response(201, {"invited": len(invited), "cert_ids": invited})

    def _person_by_email(self, organization_id: str, row: dict) -> dict:
        """The organization's person with this email, or a new one with the row's names."""
        found = self._call(self.identity_rpc, "list_persons", {"organizations": None, "departments": []}, 0, 1,
                           organization_id, row["email"])
        if found["items"]:
            return found["items"][0]
        fields_ = {"organization_id": organization_id, "department_id": row["department_id"], "email": row["email"],
                   "first_name": row["first_name"], "middle_name": row["middle_name"], "last_name": row["last_name"]}
        return self._identity("create_person", {k: v for k, v in fields_.items() if v is not None},
                              self._orgs_position)["person"]

    @api("GET", _ONE, doc=Operation("Get a certificate (request)", TAG,
                                    responses={200: (contract.CertificateV1, "the certificate")}))
    def get_cert(self, request: Request, resource: str, cert_id: str):
        scope = self._begin(request)
        return json_response(200, self._visible_cert(scope, resource, cert_id))

    @api("POST", _ONE + "/approve", doc=Operation(
        "Approve a waiting request (not your own), or a failed one again; the certificate is issued at once", TAG,
        body=contract.ApproveV1, responses={200: (contract.CertificateV1, "issued"),
                                            202: (contract.CertificateV1, "applied: the certificate follows")}))
    def approve_cert(self, request: Request, resource: str, cert_id: str):
        scope = self._begin(request)
        payload = self._optional_body(request, contract.ApproveV1())
        found = self._visible_cert(scope, resource, cert_id)
        if found["requested_by"] == scope.principal.admin_id:
            raise Forbidden("the requester cannot approve their own request", {"missing": "another administrator"},
                            code="own_request")
        answer = self._call(self.enrollment_rpc, "approve_cert", cert_id, scope.principal.admin_id, payload)
        return certificate_answer(answer["certificate"], 200)

    @api("POST", _ONE + "/decline", doc=Operation(
        "Decline a waiting request or an open invitation, with a reason", TAG, body=contract.DeclineV1,
        responses={200: (contract.CertificateV1, "declined")}))
    def decline_cert(self, request: Request, resource: str, cert_id: str):
        scope = self._begin(request)
        _raw, payload = parse_body(request, contract.DeclineV1(), self.context.settings.max_body_bytes)
        self._visible_cert(scope, resource, cert_id)
        answer = self._call(self.enrollment_rpc, "decline_cert", cert_id, scope.principal.admin_id, payload)
        return json_response(200, answer["certificate"])

    @api("POST", _ONE + "/revoke", doc=Operation(
        "Revoke an issued certificate (a subscriber reason of RFC 5280 / BR 7.2.2)", TAG, body=contract.RevokeV1,
        responses={200: (contract.CertificateV1, "revoked")}))
    def revoke_cert(self, request: Request, resource: str, cert_id: str):
        scope = self._begin(request)
        payload = self._optional_body(request, contract.RevokeV1())
        self._visible_cert(scope, resource, cert_id)
        answer = self._call(self.enrollment_rpc, "revoke_cert", cert_id, scope.principal.admin_id, payload)
        return json_response(200, answer["certificate"])

    @api("POST", _ONE + "/renew", doc=Operation(
        "Renew: a new request with the same details — device and code signing with a new CSR (`csr`) or the stored "
        "one (the same key); client a new invitation to the same person. The profile's approval applies as to any "
        "request.", TAG, body=RenewV1, responses={201: (contract.CertificateV1, "requested, invited or issued"),
                                                  202: (contract.CertificateV1, "applied: the certificate follows"),
                                                  422: (schemas.Error, "a rule refuses it now (names, key, term), "
                                                                       "or the CA did (recorded as failed)")}))
    def renew_cert(self, request: Request, resource: str, cert_id: str):
        scope = self._begin(request)
        payload = self._optional_body(request, RenewV1())
        self._visible_cert(scope, resource, cert_id)
        via = "console" if "csrf_token" in scope.principal.extra else "api"
        answer = self._call(self.enrollment_rpc, "renew_cert", cert_id, scope.principal.admin_id, payload,
                            str(uuid.uuid4()), self._admin_email(scope.principal.admin_id), via)
        return certificate_answer(answer["certificate"], 201)

    @api("GET", _ONE + "/download", doc=Operation(
        "Download the certificate (pem, der, chain, fullchain, p7b; never a key: a server-made key leaves only as "
        "PKCS#12, through the person's invitation link with their password). The first download moves issued to "
        "downloaded.", TAG, query=CertDownloadQuery, responses={200: (None, "the file")}))
    def download_cert(self, request: Request, resource: str, cert_id: str):
        scope = self._begin(request)
        query = parse_query(request, CertDownloadQuery())
        self._visible_cert(scope, resource, cert_id)
        return _file(self._call(self.enrollment_rpc, "download_cert", cert_id, query["format"],
                                f"admin:{scope.principal.admin_id}"))

    # ---- public links: the link is the credential ---------------------------------------------------------------
    @api("GET", _INVITATION, doc=Operation(
        "What an invitation link is for (the person's certificate request, and whether it may still be answered)",
        "forms", public=True, responses={200: (Invitation, "the invitation")}))
    def get_invitation(self, request: Request, token: str):
        self.context.actor = "invitation-link"
        return json_response(200, self._call(self.enrollment_rpc, "invitation", token))

    @api("POST", _INVITATION, doc=Operation(
        "Answer an invitation (once): `csr` made in the browser, or `password` for a key the server makes (P-256; "
        "the PKCS#12 opens with it). A used or expired link is 409; an empty password where the account forbids "
        "it 400", "forms", public=True, body=contract.AnswerInvitationV1,
        responses={201: (contract.CertificateV1, "requested (or issued)"),
                   202: (contract.CertificateV1, "applied: the certificate follows")}))
    def answer_invitation(self, request: Request, token: str):
        self.context.actor = "invitation-link"
        _raw, payload = parse_body(request, contract.AnswerInvitationV1(), self.context.settings.max_body_bytes)
        found = self._call(self.enrollment_rpc, "answer_invitation", token, payload)["certificate"]
        return certificate_answer(found, 201, location=False)

    @api("POST", _INVITATION + "/download", doc=Operation(
        "The PKCS#12 (key, certificate, chain) of a server-made key, opened by the password chosen when "
        "answering", "forms", public=True, body=contract.PasswordV1,
        responses={200: (None, "application/x-pkcs12"), 403: (schemas.Error, "wrong password")}))
    def download_invitation(self, request: Request, token: str):
        self.context.actor = "invitation-link"
        _raw, payload = parse_body(request, contract.PasswordV1(), self.context.settings.max_body_bytes)
        return _file(self._call(self.enrollment_rpc, "download_invitation", token, payload["password"]))

    @api("GET", "/collect/cert/<collection_id>", doc=Operation(
        "Download a client, code-signing or device certificate through the collection link of its mail (the link "
        "is the credential)", "forms", public=True, query=CertDownloadQuery, responses={200: (None, "the file")}))
    def collect_cert(self, request: Request, collection_id: str):
        query = parse_query(request, CertDownloadQuery())
        self.context.actor = "collection-link"
        return _file(self._call(self.enrollment_rpc, "collect_cert", collection_id, query["format"]))

    # ---- helpers ------------------------------------------------------------------------------------------------
    def _may(self, scope, cert_type: str, organization_id: str, department_id: str | None) -> None:
        if not access.sees_certificates(scope.principal, cert_type, organization_id, department_id):
            raise Forbidden(f"{cert_type.replace('_', '-')} certificates here need an MRAO role, or an RAO or DRAO "
                            f"role of type {cert_type} for this organization or department",
                            {"missing": f"role RAO/DRAO {cert_type} here"})

    def _person_for(self, scope, cert_type: str, person_id: str) -> dict:
        """The person, if the caller sees them and may ask for certificates of `cert_type` where they are."""
        try:
            person = self._call(self.identity_rpc, "get_person", person_id)
        except NotFound:
            raise NotFound.of("person", person_id) from None
        if not scope.sees_person(person["organization_id"], person["department_id"]):
            raise NotFound.of("person", person_id)
        self._may(scope, cert_type, person["organization_id"], person["department_id"])
        return person

    def _visible_cert(self, scope, resource: str, cert_id: str) -> dict:
        try:
            found = self._call(self.enrollment_rpc, "get_cert", cert_id)
        except NotFound:
            raise NotFound.of("certificate", cert_id) from None
        if (contract.RESOURCES[found["cert_type"]] != resource
                or not access.sees_certificates(scope.principal, found["cert_type"], found["organization_id"],
                                                found["department_id"])):
            raise NotFound.of("certificate", cert_id)
        return found


def certificate_answer(found: dict, done_status: int, location: bool = True):
    """As api_ssl.issuance_answer: 202 while the CA has it, 422 with the CA's code when it refused (recorded as
    failed), else `done_status`."""
    headers = {"Location": f"/api/v1/{contract.RESOURCES[found['cert_type']]}/{found['cert_id']}"} if location else {}
    if found["status"] == "applied":
        return json_response(202, found, headers)
    if found["status"] == "failed":
        return error_response(422, found["last_error_code"] or "issuance_refused", found["last_error"] or "refused",
                              {"findings": found["last_findings"], "cert_id": found["cert_id"], "status": "failed"},
                              None, headers)
    return json_response(done_status, found, headers)

