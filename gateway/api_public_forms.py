"""The public self-enrollment pages and their JSON API (issue 15; SCM-REFERENCE "Enrollment form account",
"Device enrollment endpoint"; DESIGN §5: the same CSP and CSRF rules as the console).

Pages (static HTML and scripts under gateway/console/forms/, with the console's SECURITY_HEADERS — no inline
script or style, nothing from another host):
- /forms/invitations/<token>: the link of an invitation mail (client, code signing): what is asked for, the key
  (made by the server with a password, or in the browser), the status, and the PKCS#12 or certificate download;
- /forms/<type>?account=<form_account_id> (type ssl | client | device | cscert): an enrollment account's form:
  its access code and the applicant's email, then the type's fields;
- /forms/device/<uri_extension>: a device enrollment endpoint's form.

The JSON API under /forms/api/ is orchestration only: enrollment holds the rules (authorize_applicant: the access
code, the lockout and the delegated email; request_ssl, request_with_csr, invite_person: the names, keys, terms).
The access code (or the endpoint's URL, or the invitation link) is the credential. A POST whose Origin (or
Sec-Fetch-Site) says another site sent it is refused, 403 `cross_origin`, before anything is read: a form of
another site must not spend an account's access code or fill its lockout."""
from __future__ import annotations

import functools
import hashlib
import uuid

from marshmallow import RAISE, Schema, fields, validate
from werkzeug.wrappers import Request, Response

from contracts import enrollment_forms as forms_contract
from contracts.common import text
from contracts.errors import Conflict, Forbidden, NotFound, PolicyViolation
from gateway import schemas
from gateway.api_enrollment_forms import ACCOUNT_KIND
from gateway.api_console import REVALIDATE, ROOT, SECURITY_HEADERS, TYPES, build
from gateway.auth import _origins
from gateway.base import json_response, parse_body
from gateway.errors import error_response
from gateway.http import api
from gateway.openapi import Operation

TAG = "forms"
# the form of each type (SCM's resource names: cscert is code signing)
FORM_TYPES = {"ssl": "ssl", "client": "client", "device": "device", "cscert": "code_signing"}
_TYPES = ",".join(FORM_TYPES)
_HTML = (("text/html",), "the page (its script asks /forms/api/...)")
_NO_STORE = {"Cache-Control": "no-store"}


# ---- bodies ---------------------------------------------------------------------------------------------------

class _Applicant(Schema):
    class Meta:
        unknown = RAISE

    form_account_id = fields.UUID(required=True)
    access_code = forms_contract.AccessCode(required=True)
    email = fields.Email(required=True, validate=validate.Length(max=254),
                         metadata={"description": "the applicant's; the invitation or collection mail goes there"})


class FormOpen(Schema):
    class Meta:
        unknown = RAISE

    access_code = forms_contract.AccessCode(required=True)
    email = fields.Email(required=True, validate=validate.Length(max=254))


_TERM = dict(strict=True, validate=validate.Range(min=1, max=3650))
_CSR = dict(validate=validate.Length(min=1, max=65536), metadata={"description": "PEM PKCS#10 request"})


def _names() -> dict:
    return {"common_name": fields.String(allow_none=True, load_default=None,
                                         validate=validate.Length(min=1, max=300)),
            "sans": fields.List(fields.String(validate=validate.Length(min=1, max=300)), load_default=list,
                                validate=validate.Length(max=100))}


class FormClientRequest(_Applicant):
    """client: an invitation mail to the applicant (a person of the organization, made if new)."""
    first_name = text(64, required=True)
    last_name = text(64, required=True)
    profile_id = fields.UUID(allow_none=True, load_default=None, metadata={"description": "default: the first"})
    term_days = fields.Integer(allow_none=True, load_default=None, **_TERM)


class FormCodeSigningRequest(FormClientRequest):
    """cscert: with a CSR, a request for the organization; without, an invitation mail (the applicant then makes
    the key on the invitation page)."""
    csr = fields.String(allow_none=True, load_default=None, **_CSR)


class FormCsrRequest(_Applicant):
    """ssl and device: a CSR (pasted or made in the browser) and the names."""
    profile_id = fields.UUID(allow_none=True, load_default=None)
    term_days = fields.Integer(allow_none=True, load_default=None, **_TERM)
    csr = fields.String(required=True, **_CSR)
    common_name = _names()["common_name"]
    sans = _names()["sans"]
    comments = text(1024, allow_none=True, load_default=None)


class FormEndpointRequest(Schema):
    """A device endpoint's form: the endpoint's URL is the credential; the email gets the collection mail."""
    class Meta:
        unknown = RAISE

    email = fields.Email(required=True, validate=validate.Length(max=254))
    profile_id = fields.UUID(allow_none=True, load_default=None)
    term_days = fields.Integer(allow_none=True, load_default=None, **_TERM)
    csr = fields.String(required=True, **_CSR)
    common_name = _names()["common_name"]
    sans = _names()["sans"]
    comments = text(1024, allow_none=True, load_default=None)


_BODIES = {"ssl": FormCsrRequest, "device": FormCsrRequest, "client": FormClientRequest,
           "cscert": FormCodeSigningRequest}


# ---- answers --------------------------------------------------------------------------------------------------

class FormProfile(Schema):
    profile_id = fields.UUID(required=True)
    name = fields.String(required=True)
    description = fields.String(allow_none=True)
    terms = fields.List(fields.Integer(), required=True)
    key_types = fields.List(fields.String(), required=True)
    requires_approval = fields.Boolean(required=True)


class FormOffer(Schema):
    form_account = fields.Nested(schemas.FormApplicantAccess, required=True)
    profiles = fields.List(fields.Nested(FormProfile), required=True)


class FormEndpoint(Schema):
    name = fields.String(required=True)
    uri_extension = fields.String(required=True)
    help_text = fields.String(allow_none=True)
    help_link_text = fields.String(allow_none=True)
    profiles = fields.List(fields.Nested(FormProfile), required=True)


class FormAnswer(Schema):
    cert_type = fields.String(required=True)
    status = fields.String(required=True, metadata={"description": "invited, requested, issued, applied"})
    email = fields.String(required=True, metadata={"description": "where the mail went (or goes once issued)"})
    message = fields.String(required=True)
    common_name = fields.String(allow_none=True)
    serial = fields.String(allow_none=True)


class InvitationCertificate(Schema):
    status = fields.String(required=True)
    certificate_pem = fields.String(required=True)
    chain_pem = fields.List(fields.String(), required=True)


_APPLICANT_FIELDS = tuple(schemas.FormApplicantAccess().fields)
_PROFILE_FIELDS = tuple(FormProfile().fields)


class PublicFormRoutes:
    # ---- the pages ------------------------------------------------------------------------------------------
    @api("GET", "/forms/invitations/<token>", doc=Operation(
        "The page of an invitation mail's link (client, code signing): what is asked for, the key — made by the "
        "server (a password for the PKCS#12) or in the browser — the status, and the download", TAG, public=True,
        responses={200: _HTML}))
    def invitation_page(self, request: Request, token: str):
        return _page(request)

    @api("GET", f"/forms/<any({_TYPES}):form_type>", doc=Operation(
        "An enrollment account's self-enrollment form (?account=<form_account_id>): the access code and the "
        "applicant's email, then the fields of the type", TAG, public=True, responses={200: _HTML}))
    def form_page(self, request: Request, form_type: str):
        return _page(request)

    @api("GET", "/forms/device/<uri_extension>", doc=Operation(
        "A device enrollment endpoint's form (its help text, profiles, CSR, term, and the email for the "
        "collection mail)", TAG, public=True, responses={200: _HTML}))
    def device_endpoint_page(self, request: Request, uri_extension: str):
        return _page(request)

    # ---- an account's form ----------------------------------------------------------------------------------
    @api("POST", "/forms/api/accounts/<form_account_id>/form", doc=Operation(
        "What an enrollment account's form offers an applicant with its access code and a delegated email: the "
        "account's options and its profiles (name, terms, key types). The same refusals as authorize "
        "(access_code_wrong counted, account_locked, email_not_delegated)", TAG, public=True, body=FormOpen,
        responses={200: (FormOffer, "the form's options"),
                   401: (schemas.Error, "account_locked"), 403: (schemas.Error, "access_code_wrong, cross_origin"),
                   422: (schemas.Error, "email_not_delegated")}))
    def form_offer(self, request: Request, form_account_id: str):
        self._public_post(request)
        _raw, payload = parse_body(request, FormOpen(), self.context.settings.max_body_bytes)
        account = self._applicant(form_account_id, payload["access_code"], payload["email"])
        return json_response(200, {"form_account": {k: account.get(k) for k in _APPLICANT_FIELDS},
                                   "profiles": self._profiles(account["profile_ids"])}, _NO_STORE)

    @api("POST", f"/forms/api/<any({_TYPES}):form_type>/requests", doc=Operation(
        "An applicant's request through an enrollment account's form (its access code; the email's domain "
        "delegated to the account's organization for the type). ssl, device: a CSR — the collection mail goes to "
        "the email once issued. client, and cscert without a CSR: an invitation mail to the email (the person of "
        "the organization with it, made if there is none). cscert with a CSR: a request for the organization",
        TAG, public=True, body=FormCsrRequest,
        responses={201: (FormAnswer, "invited, requested or issued"),
                   202: (FormAnswer, "applied: the certificate follows by mail"),
                   401: (schemas.Error, "account_locked"),
                   403: (schemas.Error, "access_code_wrong (counted), form_account_disabled, cross_origin"),
                   404: (schemas.Error, "no such account (or one of another type)"),
                   422: (schemas.Error, "email_not_delegated, profile_not_offered, names or key refused")}))
    def form_request(self, request: Request, form_type: str):
        self._public_post(request)
        _raw, payload = parse_body(request, _BODIES[form_type](), self.context.settings.max_body_bytes)
        cert_type = FORM_TYPES[form_type]
        account_id = str(uuid.UUID(payload["form_account_id"]))
        account = self._applicant(account_id, payload["access_code"], payload["email"])
        if account["cert_type"] != cert_type:
            raise NotFound.of(ACCOUNT_KIND, account_id)
        profile = self._offered_profile(account["profile_ids"], payload.get("profile_id"))
        term_days = self._term(profile, payload.get("term_days"))
        email, by = payload["email"], f"form:{account_id}"
        if form_type in ("client", "cscert") and not payload.get("csr"):
            person = self._applicant_person(account, payload)
            self._call(self.enrollment_rpc, "invite_person", cert_type,
                       {"person_id": person["person_id"], "profile_id": profile["profile_id"],
                        "term_days": term_days}, person, by, None, "form",
                       bool(account["allow_empty_pkcs12_password"]), bool(account["auto_approve"]))
            return json_response(201, {"cert_type": cert_type, "status": "invited", "email": email,
                                       "message": f"an invitation was sent to {email}", "common_name": None,
                                       "serial": None}, _NO_STORE)
        body = {"organization_id": account["organization_id"], "department_id": account["department_id"],
                "profile_id": profile["profile_id"], "term_days": term_days, "csr": payload["csr"]}
        if form_type == "ssl":
            found = self._call(self.enrollment_rpc, "request_ssl",
                               {**body, "common_name": payload.get("common_name"), "sans": payload.get("sans") or [],
                                "comments": payload.get("comments")},
                               by, bool(account["auto_approve"]), str(uuid.uuid4()), email)["ssl"]
            return _answer(found, "ssl", found["ssl_id"], email)
        if form_type == "device":
            body.update(common_name=payload.get("common_name"), sans=payload.get("sans") or [],
                        comments=payload.get("comments"))
        found = self._call(self.enrollment_rpc, "request_with_csr", cert_type, body, by,
                           bool(account["auto_approve"]), None, email, None, "form")["certificate"]
        return _answer(found, cert_type, found["cert_id"], email)

    # ---- a device endpoint's form ---------------------------------------------------------------------------
    @api("GET", "/forms/api/device/<uri_extension>", doc=Operation(
        "What a device enrollment endpoint's form shows: its name, help text and profiles", TAG, public=True,
        responses={200: (FormEndpoint, "the endpoint"),
                   403: (schemas.Error, "device_endpoint_disabled"), 404: (schemas.Error, "no such endpoint")}))
    def device_endpoint_form(self, request: Request, uri_extension: str):
        self.context.actor = "form-applicant"
        endpoint = self._call(self.enrollment_rpc, "device_endpoint_by_uri", uri_extension,
                              "web_form")["device_endpoint"]
        return json_response(200, {"name": endpoint["name"], "uri_extension": endpoint["uri_extension"],
                                   "help_text": endpoint.get("help_text"),
                                   "help_link_text": endpoint.get("help_link_text"),
                                   "profiles": self._profiles(endpoint["profile_ids"])})

    @api("POST", "/forms/api/device/<uri_extension>/requests", doc=Operation(
        "A device certificate request through an enrollment endpoint's form: a CSR, the names, the term; the "
        "collection mail goes to the email once issued (issued at once when the profile needs no approval)",
        TAG, public=True, body=FormEndpointRequest,
        responses={201: (FormAnswer, "requested or issued"), 202: (FormAnswer, "applied"),
                   403: (schemas.Error, "device_endpoint_disabled, cross_origin"),
                   404: (schemas.Error, "no such endpoint"),
                   422: (schemas.Error, "profile_not_offered, names or key refused")}))
    def device_endpoint_request(self, request: Request, uri_extension: str):
        self._public_post(request)
        _raw, payload = parse_body(request, FormEndpointRequest(), self.context.settings.max_body_bytes)
        endpoint = self._call(self.enrollment_rpc, "device_endpoint_by_uri", uri_extension,
                              "web_form")["device_endpoint"]
        profile = self._offered_profile(endpoint["profile_ids"], payload.get("profile_id"))
        body = {"organization_id": endpoint["organization_id"], "department_id": endpoint["department_id"],
                "profile_id": profile["profile_id"], "term_days": self._term(profile, payload.get("term_days")),
                "csr": payload["csr"], "common_name": payload.get("common_name"), "sans": payload.get("sans") or [],
                "comments": payload.get("comments")}
        found = self._call(self.enrollment_rpc, "request_with_csr", "device", body,
                           f"endpoint:{endpoint['endpoint_id']}", False, None, payload["email"], None,
                           "form", endpoint["endpoint_id"])["certificate"]
        return _answer(found, "device", found["cert_id"], payload["email"])

    # ---- the invitation page's certificate (a key made in the browser) --------------------------------------
    @api("GET", "/forms/api/invitations/<token>/certificate", doc=Operation(
        "The certificate (PEM) of an answered invitation once issued, for the page that made the key in the "
        "browser (the link is the credential)", TAG, public=True,
        responses={200: (InvitationCertificate, "issued"), 404: (schemas.Error, "no such invitation"),
                   409: (schemas.Error, "not issued (yet): cert_<status>")}))
    def invitation_certificate(self, request: Request, token: str):
        self.context.actor = "invitation-link"
        found = self._call(self.enrollment_rpc, "invitation", token)["certificate"]
        pem = self._call(self.enrollment_rpc, "cert_pem", found["cert_id"])
        if pem["status"] not in ("issued", "downloaded", "revoked") or not pem["certificate_pem"]:
            raise Conflict(f"the certificate is {pem['status']}, not issued", {"status": [pem["status"]]},
                           code=f"cert_{pem['status']}")
        return json_response(200, {"status": pem["status"], "certificate_pem": pem["certificate_pem"],
                                   "chain_pem": pem["chain_pem"]}, _NO_STORE)

    # ---- helpers --------------------------------------------------------------------------------------------
    def _public_post(self, request: Request) -> None:
        """The CSRF rule of the console (auth.check_same_origin) for forms without a session: a POST another site
        sent (Origin of another origin, or Sec-Fetch-Site cross-site / same-site) is refused."""
        self.context.actor = "form-applicant"
        site = request.headers.get("Sec-Fetch-Site")
        origin = request.headers.get("Origin")
        if (site is not None and site not in ("same-origin", "none")) or (
                origin is not None and origin not in _origins(request, self.context.settings.base_url)):
            raise Forbidden("a form of another site may not send this", {"origin": origin, "sec_fetch_site": site},
                            code="cross_origin")

    def _applicant(self, account_id: str, access_code: str, email: str) -> dict:
        return self._call(self.enrollment_rpc, "authorize_applicant", account_id, access_code, email)["form_account"]

    def _profiles(self, profile_ids: list[str]) -> list[dict]:
        found = []
        for profile_id in profile_ids:
            try:
                profile = self._call(self.enrollment_rpc, "get_profile", str(profile_id))
            except NotFound:
                continue
            found.append({k: profile.get(k) for k in _PROFILE_FIELDS})
        return found

    def _offered_profile(self, profile_ids: list[str], chosen) -> dict:
        offered = [str(p) for p in profile_ids]
        profile_id = str(chosen) if chosen else (offered[0] if offered else None)
        if profile_id not in offered:
            raise PolicyViolation("this form does not offer that profile", {"profile_id": ["not offered here"]},
                                  code="profile_not_offered")
        return self._call(self.enrollment_rpc, "get_profile", profile_id)

    @staticmethod
    def _term(profile: dict, term_days) -> int:
        if term_days is None:
            return max(profile["terms"])
        return term_days            # a term the profile does not allow: enrollment's 422

    def _applicant_person(self, account: dict, payload: dict) -> dict:
        """The person of the account's organization with the applicant's email, or a new one with the names of
        the form (the answer is the same either way)."""
        organization_id = str(account["organization_id"])
        email = payload["email"]
        for _attempt in range(2):
            found = self._call(self.identity_rpc, "list_persons", {"organizations": None, "departments": []}, 0,
                               1, organization_id, email)["items"]
            if found:
                return found[0]
            try:
                return self._identity("create_person", {
                    "organization_id": organization_id, "department_id": account["department_id"], "email": email,
                    "first_name": payload["first_name"], "last_name": payload["last_name"]},
                    self._orgs_position, str(uuid.uuid4()))["person"]
            except Conflict:
                continue            # made a moment ago by another applicant with this email: read it
        raise Conflict("the person is being created; try again", code="person_busy")


def _answer(found: dict, cert_type: str, request_id: str, email: str) -> Response:
    """The applicant's answer: what happened and where the mail goes — not the whole record."""
    status = found["status"]
    if status == "failed":
        return error_response(422, found.get("last_error_code") or "issuance_refused",
                              found.get("last_error") or "refused", {"findings": found.get("last_findings") or [],
                                                                     "status": "failed"}, None, _NO_STORE)
    if status in ("issued", "downloaded"):
        message = f"the certificate is issued: a mail with its download link was sent to {email}"
    elif status == "applied":
        message = f"the certificate is being issued: a mail with its download link goes to {email}"
    else:
        message = f"the request waits for approval: once issued, a mail with its download link goes to {email}"
    return json_response(202 if status == "applied" else 201, {
        "cert_type": cert_type, "status": status, "email": email, "message": message,
        "common_name": found.get("common_name"), "serial": found.get("serial")}, _NO_STORE)


# ---- the page -------------------------------------------------------------------------------------------------

@functools.cache
def _page_content() -> tuple[bytes, str]:
    """forms.html with its file URLs under /console/<build>/ (cached for good, as the console's)."""
    prefix = f"/console/{build()}/"
    text_ = (ROOT / "forms" / "forms.html").read_text().replace('"/console/', f'"{prefix}')
    content = text_.encode()
    return content, hashlib.sha256(content).hexdigest()


def _page(request: Request) -> Response:
    content, etag = _page_content()
    headers = {**SECURITY_HEADERS, "ETag": f'"{etag}"', "Cache-Control": REVALIDATE}
    if request.if_none_match.contains(etag):
        return Response(status=304, headers=headers)
    return Response(content, status=200, headers=headers, content_type=TYPES[".html"])
