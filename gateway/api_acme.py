"""`/acme/...` (RFC 8555): passed as a request envelope to enrollment, which owns ACME (DESIGN §5), and its
answer returned unchanged. No login here — ACME requests authenticate themselves (JWS, checked by enrollment).
A broken or silent enrollment is answered as an ACME problem (serverInternal, 503 + Retry-After), so a client
retries instead of reading the REST API's error format."""
from __future__ import annotations

import base64
import json

from marshmallow import Schema, fields
from werkzeug.wrappers import Request, Response

from contracts import acme as acme_contract
from contracts.errors import DomainError
from gateway.base import json_response, parse_body, read_body
from gateway.http import api
from gateway.openapi import Operation

ACME_BODY_LIMIT = 64 * 1024
PROBLEM_MEDIA = ("application/problem+json",)
# RFC 8555's objects and RFC 7807's problem documents, as JSON Schema (their members are the RFCs')
_OBJECT = {"type": "object", "additionalProperties": True}
_PROBLEM = {"type": "object", "required": ["type", "detail", "status"], "additionalProperties": True,
            "properties": {"type": {"type": "string"}, "detail": {"type": "string"}, "status": {"type": "integer"},
                           "subproblems": {"type": "array", "items": _OBJECT}}}
_GET_PROBLEMS = {400: "malformed (e.g. a bad renewalInfo certID)", 404: "no such resource",
                 405: "a resource that is POSTed (POST-as-GET)", 503: "the ACME service did not answer"}
_POST_PROBLEMS = {400: "malformed, badNonce, badSignatureAlgorithm, badCSR, rejectedIdentifier, …",
                  401: "externalAccountRequired", 403: "unauthorized, orderNotReady, caa, incorrectResponse",
                  404: "no such resource (or not this account's)", 409: "the new key is another account's",
                  413: "the request is too large", 415: "not application/jose+json",
                  429: "rateLimited (Retry-After)", 503: "the ACME service did not answer (Retry-After)"}
_PASSED_HEADERS = ("content-type", "user-agent")


class RenewalCampaignList(Schema):
    items = fields.List(fields.Nested(acme_contract.RenewalCampaignV1), required=True)
    total = fields.Integer(required=True)


class AcmeRoutes:
    # ---- ARI renewal campaigns (REST; MRAO) ----------------------------------------------------------------
    @api("POST", "/api/v1/acme-renewal-campaigns", doc=Operation(
        "Start a mass-reissue campaign (MRAO): certificates issued before now that match every criterion given "
        "(CA, profile, organization, key type) get an ARI renewal window open at once, so ACME clients that ask "
        "renewalInfo renew them now. A revoked issuing CA starts one by itself", "acme",
        body=acme_contract.StartRenewalCampaignV1, responses={201: (acme_contract.RenewalCampaignV1, "started")}))
    def start_renewal_campaign(self, request: Request):
        scope = self._begin(request)
        _raw, payload = parse_body(request, acme_contract.StartRenewalCampaignV1(),
                                   self.context.settings.max_body_bytes)
        scope.require_mrao("starting a renewal campaign")
        campaign = self._call(self.enrollment_rpc, "start_renewal_campaign", payload, scope.principal.admin_id)
        return json_response(201, campaign, {"Location": f"/api/v1/acme-renewal-campaigns/{campaign['campaign_id']}"})

    @api("GET", "/api/v1/acme-renewal-campaigns", doc=Operation(
        "List the renewal campaigns (MRAO), newest first", "acme",
        responses={200: (RenewalCampaignList, "the campaigns")}))
    def list_renewal_campaigns(self, request: Request):
        scope = self._begin(request)
        scope.require_mrao("listing renewal campaigns")
        return json_response(200, self._call(self.enrollment_rpc, "list_renewal_campaigns", 0, 500))

    @api("GET", "/api/v1/acme-renewal-campaigns/<campaign_id>", doc=Operation(
        "A renewal campaign (MRAO): ARI's explanationURL", "acme",
        responses={200: (acme_contract.RenewalCampaignV1, "the campaign")}))
    def get_renewal_campaign(self, request: Request, campaign_id: str):
        scope = self._begin(request)
        scope.require_mrao("reading a renewal campaign")
        return json_response(200, self._call(self.enrollment_rpc, "get_renewal_campaign", campaign_id))

    # ---- the protocol ----------------------------------------------------------------------------------------
    @api("GET", "/acme/<path:resource>", doc=Operation(
        "ACME (RFC 8555) GET resources: the directory, newNonce (GET and HEAD), renewalInfo (RFC 9773). Answers "
        "as RFC 8555 says (JSON, problem documents), not in the REST error format", "acme", public=True,
        responses={200: (_OBJECT, "the resource", ("application/json",)), 204: (None, "a nonce (GET newNonce)"),
                   **{status: (_PROBLEM, what, PROBLEM_MEDIA) for status, what in _GET_PROBLEMS.items()}}))
    def acme_get(self, request: Request, resource: str):
        return self._acme(request, resource, b"")

    @api("POST", "/acme/<path:resource>", doc=Operation(
        "ACME (RFC 8555) requests: a flattened JWS as application/jose+json (newAccount with External Account "
        "Binding, newOrder, authorizations, challenges, finalize, certificate, revokeCert, keyChange)", "acme",
        public=True, raw_body="application/jose+json",
        responses={200: (("application/json", "application/pem-certificate-chain"), "the resource (JSON, or "
                         "the certificate chain, PEM)"),
                   201: (_OBJECT, "created", ("application/json",)),
                   **{status: (_PROBLEM, what, PROBLEM_MEDIA) for status, what in _POST_PROBLEMS.items()}}))
    def acme_post(self, request: Request, resource: str):
        if request.mimetype != "application/jose+json":
            body = b""                      # enrollment answers the content type's problem
        else:
            body = read_body(request, ACME_BODY_LIMIT, ("application/jose+json",))
        return self._acme(request, resource, body)

    def _acme(self, request: Request, resource: str, body: bytes) -> Response:
        self.context.actor = "acme-client"
        envelope = {"method": request.method, "path": resource,
                    "headers": {k: request.headers[k] for k in _PASSED_HEADERS if k in request.headers},
                    "body_b64": base64.b64encode(body).decode()}
        try:
            answer = self._call(self.enrollment_rpc, "acme_request", envelope)
        except (TimeoutError, DomainError) as exc:
            problem = {"type": "urn:ietf:params:acme:error:serverInternal", "status": 503,
                       "detail": f"the ACME service did not answer ({type(exc).__name__}); try again shortly"}
            return Response(json.dumps(problem), status=503, mimetype="application/problem+json",
                            headers={"Retry-After": "5"})
        headers = dict(answer["headers"])
        content_type = headers.pop("Content-Type", None)
        raw = base64.b64decode(answer["body_b64"])
        if request.method == "HEAD":
            raw = b""
        return Response(raw, status=answer["status"], headers=headers, content_type=content_type)
