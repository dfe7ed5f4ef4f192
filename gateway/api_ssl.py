"""Certificates: the CAs (/api/v1/cas, public CA certificates, CRLs and OCSP), certificate profiles
(/api/v1/profiles) and SSL requests (/api/v1/ssl). Scoped (DESIGN §6): an SSL request is visible to MRAOs and to
RAO/DRAO roles of type ssl over its organization/department (contracts/access.py sees_ssl)."""
from __future__ import annotations

import base64
import uuid

import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from werkzeug.wrappers import Request, Response

from contracts import access
from contracts import ca as ca_contract
from contracts import enrollment as enrollment_contract
from contracts.errors import Forbidden, InvalidRequest, NotFound, PolicyViolation
from gateway import csv_export, schemas, views
from gateway.base import json_response, parse_body, parse_query, read_body
from gateway.errors import error_response
from gateway.http import api
from gateway.ocsp import (MISSED as OCSP_MISSED, OCSP_REQUEST_LIMIT, REQUEST_MIMETYPE, RESPONSE_MIMETYPE,
                          decode_get_request)
from gateway.openapi import Operation

_SSL = "/api/v1/ssl/<ssl_id>"
# the CSR may also be uploaded as a file in a multipart/form-data body (PEM or DER; gateway/base.py form_object)
CSR_UPLOAD = {"csr": "application/pkcs10, application/x-pem-file, application/octet-stream"}
DOWNLOAD_MEDIA_TYPES = tuple(sorted({media_type for media_type, _extension, _text
                                     in enrollment_contract.DOWNLOAD_FORMATS.values()}))


class CertificateRoutes:
    # ---- CAs, public CA material, CRL and OCSP ----------------------------------------------------------
    @api("GET", "/api/v1/cas", doc=Operation("List the certificate authorities", "cas",
                                             responses={200: (schemas.CaList, "the CAs")}))
    def list_cas(self, request: Request):
        self._begin(request)
        items = self._call(self.ca_rpc, "list_cas")
        return json_response(200, {"items": items, "total": len(items)})

    @api("POST", "/api/v1/cas", doc=Operation(
        "Add an issuing CA under a root (MRAO); its certificates are then issued when a profile names it", "cas",
        body=ca_contract.CreateIssuingCaV1, idempotent_post=True, responses={201: (schemas.Ca, "created")}))
    def create_ca(self, request: Request):
        scope = self._begin(request)
        raw, payload = parse_body(request, ca_contract.CreateIssuingCaV1(), self.context.settings.max_body_bytes)
        scope.require_mrao("adding a CA")

        def run(derived_id):
            ca = self._call(self.ca_rpc, "create_issuing_ca", payload, derived_id)["ca"]
            return json_response(201, ca, {"Location": f"/api/v1/cas/{ca['ca_id']}"})
        return self._idempotent(request, scope.principal, raw, run)

    @api("GET", "/api/v1/cas/<ca_id>", doc=Operation("Get a CA (with its certificate, PEM)", "cas",
                                                     responses={200: (schemas.Ca, "the CA")}))
    def get_ca(self, request: Request, ca_id: str):
        self._begin(request)
        return json_response(200, self._call(self.ca_rpc, "get_ca", ca_id))

    @api("POST", "/api/v1/cas/<ca_id>/reissue", doc=Operation(
        "Give the CA a new certificate for the same key (MRAO): a new validity and, for an issuing CA, the CRL, "
        "OCSP and caIssuers links of the current CERTPLANE_PUBLIC_BASE_URL. Chains name it from now on; the "
        "earlier certificates stay listed in `certificates` and at /ca/{id}.crt?serial=. A root is self-signed "
        "again; a revoked CA is refused (409 ca_revoked)", "cas", responses={200: (schemas.Ca, "reissued")}))
    def reissue_ca(self, request: Request, ca_id: str):
        scope = self._begin(request)
        scope.require_mrao("reissuing a CA certificate")
        return json_response(200, self._ca_changed("reissue_ca", ca_id)["ca"])

    @api("POST", "/api/v1/cas/<ca_id>/revoke", doc=Operation(
        "Ask to revoke an issuing CA (MRAO; dual control): recorded as `revocation: {status: requested}` until "
        "ANOTHER MRAO approves it (…/revoke/approve) or anyone rejects it (…/revoke/reject). A root is not "
        "revocable (422 root_not_revocable); a pending or done revocation is 409", "cas",
        body=ca_contract.CaRevocationRequestV1, responses={202: (schemas.Ca, "requested, waiting for approval"),
                                                           422: (schemas.Error, "a root (root_not_revocable)")}))
    def request_ca_revocation(self, request: Request, ca_id: str):
        scope = self._begin(request)
        scope.require_mrao("revoking a CA")
        _raw, payload = parse_body(request, ca_contract.CaRevocationRequestV1(), self.context.settings.max_body_bytes)
        return json_response(202, self._ca_changed("request_ca_revocation", ca_id, scope.principal.admin_id,
                                                   payload)["ca"])

    @api("POST", "/api/v1/cas/<ca_id>/revoke/approve", doc=Operation(
        "Approve a CA revocation asked by another MRAO (not your own: 403 own_request): every certificate of the "
        "CA's key is revoked — in its root's ARL at once, OCSP answers revoked — and the CA signs nothing more",
        "cas", body=ca_contract.CaRevocationDecisionV1, responses={200: (schemas.Ca, "revoked")}))
    def approve_ca_revocation(self, request: Request, ca_id: str):
        scope = self._begin(request)
        scope.require_mrao("approving a CA revocation")
        payload = self._optional_body(request, ca_contract.CaRevocationDecisionV1())
        pending = self._call(self.ca_rpc, "get_ca", ca_id)["revocation"]
        if pending and pending["status"] == "requested" and pending["requested_by"] == scope.principal.admin_id:
            raise Forbidden("the administrator who asked for the revocation cannot approve it",
                            {"missing": "another MRAO"}, code="own_request")
        return json_response(200, self._ca_changed("approve_ca_revocation", ca_id, scope.principal.admin_id,
                                                   payload)["ca"])

    @api("POST", "/api/v1/cas/<ca_id>/revoke/reject", doc=Operation(
        "Reject (or, as its requester, withdraw) a pending CA revocation (MRAO); the CA stays as it was", "cas",
        body=ca_contract.CaRevocationDecisionV1, responses={200: (schemas.Ca, "the request ended")}))
    def reject_ca_revocation(self, request: Request, ca_id: str):
        scope = self._begin(request)
        scope.require_mrao("rejecting a CA revocation")
        payload = self._optional_body(request, ca_contract.CaRevocationDecisionV1())
        return json_response(200, self._ca_changed("reject_ca_revocation", ca_id, scope.principal.admin_id,
                                                   payload)["ca"])

    def _ca_changed(self, method: str, *args) -> dict:
        """A ca command whose events the certificate-status read model applies before the answer (read your own
        writes): the next OCSP request already sees a CA revoked or reissued."""
        return self._apply(self.ocsp.follower, self._read_ca_events, self._call(self.ca_rpc, method, *args))

    @api("GET", "/ca/<ca_id>.crt", doc=Operation(
        "A CA certificate, DER (the AIA caIssuers link; `?format=pem` for PEM, `?format=chain` for the CA and its "
        "parents in PEM). The current one; `?serial=` (hex) for another certificate of the CA's key, e.g. the one "
        "before a reissue", "cas", public=True,
        responses={200: (("application/pkix-cert", "application/x-pem-file"), "the certificate or chain")}))
    def ca_certificate(self, request: Request, ca_id: str):
        fmt = request.args.get("format", "der")
        serial = request.args.get("serial")
        if fmt not in ("der", "pem", "chain"):
            raise InvalidRequest("format must be der, pem or chain", {"format": ["unknown"]}, code="unknown_format")
        if fmt == "chain":
            if serial is not None:
                raise InvalidRequest("serial goes with format der or pem; a chain is of the current certificates",
                                     {"serial": ["not with format=chain"]})
            return Response("".join(self._call(self.ca_rpc, "chain", ca_id)), mimetype="application/x-pem-file")
        pem = self._call(self.ca_rpc, "ca_certificate", ca_id, serial)
        if fmt == "pem":
            return Response(pem, mimetype="application/x-pem-file")
        der = x509.load_pem_x509_certificate(pem.encode()).public_bytes(Encoding.DER)
        return Response(der, mimetype="application/pkix-cert")

    @api("GET", "/crl/<ca_id>.crl", doc=Operation("The CA's latest CRL (DER)", "cas", public=True,
                                                  responses={200: (("application/pkix-crl",), "the CRL")}))
    def crl(self, request: Request, ca_id: str):
        der = base64.b64decode(self._call(self.ca_rpc, "get_crl", ca_id))
        return Response(der, mimetype="application/pkix-crl")

    @api("POST", "/ocsp", doc=Operation(
        "OCSP (RFC 6960): a DER request as application/ocsp-request. A request without a nonce may be answered with "
        "a response the gateway signed earlier and keeps while the certificate's status is unchanged (a revocation "
        "shows within seconds); with a nonce, it is always signed anew", "cas", public=True,
        raw_body=REQUEST_MIMETYPE, responses={200: ((RESPONSE_MIMETYPE,), "the OCSP response")}))
    def ocsp_post(self, request: Request):
        raw = read_body(request, OCSP_REQUEST_LIMIT, (REQUEST_MIMETYPE,))
        return self._ocsp(request, raw, http_caching=False)

    @api("GET", "/ocsp/<path:encoded>", doc=Operation(
        "OCSP (RFC 6960 appendix A): the DER request, base64 then URL-encoded, as the path; answered like POST, "
        "with RFC 5019 caching headers (max-age at most 30 s) on a response that may be reused", "cas", public=True,
        responses={200: ((RESPONSE_MIMETYPE,), "the OCSP response")}))
    def ocsp_get(self, request: Request, encoded: str):
        return self._ocsp(request, decode_get_request(encoded), http_caching=True)

    def _ocsp(self, request: Request, raw: bytes, http_caching: bool):
        """A kept answer if one may be reused (gateway/ocsp.py; most leave from its fast path before this route),
        else the ca's, kept for the next request when it may be."""
        der, entry = self.ocsp.answer(raw, self._ca_ocsp, request.environ.get(OCSP_MISSED))
        return Response(der, headers=self.ocsp.headers(der, entry, http_caching))

    def _ca_ocsp(self, raw: bytes) -> bytes:
        return base64.b64decode(self._call(self.ca_rpc, "ocsp", base64.b64encode(raw).decode()))

    # ---- profiles ---------------------------------------------------------------------------------------
    @api("GET", "/api/v1/profiles", doc=Operation("List certificate profiles", "profiles",
                                                  responses={200: (schemas.ProfileList, "the profiles")}))
    def list_profiles(self, request: Request):
        self._begin(request)
        items = self._call(self.enrollment_rpc, "list_profiles")
        return json_response(200, {"items": items, "total": len(items)})

    @api("POST", "/api/v1/profiles", doc=Operation("Create a certificate profile (MRAO)", "profiles",
                                                   body=schemas.ProfileFields, idempotent_post=True,
                                                   responses={201: (schemas.Profile, "created")}))
    def create_profile(self, request: Request):
        scope = self._begin(request)
        raw, payload = parse_body(request, schemas.ProfileFields(), self.context.settings.max_body_bytes)
        scope.require_mrao("creating a certificate profile")

        def run(derived_id):
            profile = self._call(self.enrollment_rpc, "create_profile", payload, derived_id)["profile"]
            return json_response(201, profile, {"Location": f"/api/v1/profiles/{profile['profile_id']}"})
        return self._idempotent(request, scope.principal, raw, run)

    @api("GET", "/api/v1/profiles/<profile_id>", doc=Operation("Get a profile", "profiles",
                                                               responses={200: (schemas.Profile, "the profile")}))
    def get_profile(self, request: Request, profile_id: str):
        self._begin(request)
        return json_response(200, self._call(self.enrollment_rpc, "get_profile", profile_id))

    @api("PATCH", "/api/v1/profiles/<profile_id>", doc=Operation(
        "Change a profile (MRAO)", "profiles", body=schemas.ProfileChanges,
        responses={200: (schemas.Profile, "the profile after the change")}))
    def update_profile(self, request: Request, profile_id: str):
        scope = self._begin(request)
        _raw, changes = parse_body(request, schemas.ProfileChanges(), self.context.settings.max_body_bytes)
        scope.require_mrao("changing a certificate profile")
        return json_response(200, self._call(self.enrollment_rpc, "update_profile", profile_id, changes)["profile"])

    @api("DELETE", "/api/v1/profiles/<profile_id>", doc=Operation("Delete a profile (MRAO)", "profiles",
                                                                  responses={204: (None, "deleted")}))
    def delete_profile(self, request: Request, profile_id: str):
        scope = self._begin(request)
        scope.require_mrao("deleting a certificate profile")
        self._call(self.enrollment_rpc, "delete_profile", profile_id)
        return Response(status=204)

    # ---- SSL requests -----------------------------------------------------------------------------------
    @api("GET", "/api/v1/ssl", doc=Operation(
        "The SSL inventory you see: filtered, sorted by `sort` (default `-created_at`, newest first), paged",
        "ssl", query=schemas.SslListQuery,
        responses={200: (schemas.SslList, "a page; X-Total-Count has the total")}))
    def list_ssl(self, request: Request):
        scope = self._begin(request)
        query = parse_query(request, schemas.SslListQuery())
        filters = {k: (str(v) if k.endswith("_id") else v) for k, v in query.items()
                   if k not in ("position", "size") and v is not None}
        for key in ("expires_before", "expires_after"):
            if key in filters:
                filters[key] = filters[key].isoformat()
        found = self._call(self.enrollment_rpc, "list_ssl", access.ssl_scope(scope.principal), filters,
                           query["position"], query["size"])
        return json_response(200, views.page(found["items"], found["total"], query["position"], query["size"]),
                             {"X-Total-Count": str(found["total"])})

    @api("HEAD", "/api/v1/ssl", doc=Operation("Count the SSL certificates you see (X-Total-Count)", "ssl",
                                              query=schemas.SslListQuery,
                                              responses={200: (None, "X-Total-Count has the count")}))
    def count_ssl(self, request: Request):
        response = self.list_ssl(request)
        return Response(status=200, headers={"X-Total-Count": response.headers["X-Total-Count"]})

    @api("POST", "/api/v1/ssl", doc=Operation(
        "Request an SSL certificate from a CSR. Every name must be delegated (approved, active) to the "
        "organization or department for ssl: a DNS name through a domain, an IP address through a network. The "
        "profile's trust class decides what is allowed: `private` (internal names, IP addresses, the department "
        "as OU, a CN-only CSR's CN as its name) or `public` (CA/Browser Forum rules, fresh DCV). Issued at once "
        "when the profile needs no approval or you hold \"SSL auto approve\" (the answer waits up to "
        "CERTPLANE_ISSUANCE_WAIT for the certificate: 201 issued, else 202 while the CA has it); otherwise it waits "
        "for another eligible administrator (201 requested).", "ssl",
        body=enrollment_contract.SslRequestV1, upload=CSR_UPLOAD, idempotent_post=True,
        responses={201: (schemas.Ssl, "requested (or issued)"),
                   202: (schemas.Ssl, "recorded and applied: the certificate follows (GET the Location)"),
                   422: (schemas.Error, "names not allowed, a name the trust class forbids, key or term refused "
                                        "by the profile (nothing recorded); lint failed or the CA refused (the "
                                        "request is recorded as failed: details.ssl_id, Location)")}))
    def request_ssl(self, request: Request):
        scope = self._begin(request)
        raw, payload = parse_body(request, enrollment_contract.SslRequestV1(), self.context.settings.max_body_bytes,
                                  upload=CSR_UPLOAD)
        organization_id = str(payload["organization_id"])
        department_id = str(payload["department_id"]) if payload.get("department_id") else None
        scope.organization(organization_id)
        if department_id is not None:
            scope.department(organization_id, department_id)
        if not access.sees_ssl(scope.principal, organization_id, department_id):
            raise Forbidden("requesting SSL certificates here needs an MRAO role, or an RAO or DRAO role of type "
                            "ssl for this organization or department", {"missing": "role RAO/DRAO ssl here"})
        auto = scope.principal.has_privilege("ssl_auto_approve")
        email = self._admin_email(scope.principal.admin_id)

        def run(derived_id):
            # always an id from here: should enrollment die after recording the request, RabbitMQ hands the call
            # to its restart, and the same id then finds the request recorded (409) instead of recording it twice
            found = self._call(self.enrollment_rpc, "request_ssl", payload, scope.principal.admin_id, auto,
                               derived_id or str(uuid.uuid4()), email)["ssl"]
            return issuance_answer(found, 201)
        return self._idempotent(request, scope.principal, raw, run)

    @api("GET", _SSL, doc=Operation("Get an SSL request/certificate", "ssl",
                                    responses={200: (schemas.Ssl, "the request")}))
    def get_ssl(self, request: Request, ssl_id: str):
        scope = self._begin(request)
        return json_response(200, self._visible_ssl(scope, ssl_id))

    @api("POST", _SSL + "/approve", doc=Operation(
        "Approve a waiting request (not your own), or a failed one again (a retry); the certificate is issued at "
        "once. If the CA refuses (422, with the findings) the request is `failed` with `last_error` and "
        "`last_findings`: approve it again to retry, or decline it", "ssl",
        body=enrollment_contract.ApproveV1, responses={200: (schemas.Ssl, "issued"),
                                                       202: (schemas.Ssl, "applied: the certificate follows")}))
    def approve_ssl(self, request: Request, ssl_id: str):
        scope = self._begin(request)
        payload = self._optional_body(request, enrollment_contract.ApproveV1())
        found = self._visible_ssl(scope, ssl_id)
        if found["requested_by"] == scope.principal.admin_id:
            raise Forbidden("the requester cannot approve their own request", {"missing": "another administrator"},
                            code="own_request")
        answer = self._call(self.enrollment_rpc, "approve_ssl", ssl_id, scope.principal.admin_id, payload)
        return issuance_answer(answer["ssl"], 200)

    @api("POST", _SSL + "/decline", doc=Operation("Decline a waiting request (or one whose issuance failed), with a reason", "ssl",
                                                  body=enrollment_contract.DeclineV1,
                                                  responses={200: (schemas.Ssl, "declined")}))
    def decline_ssl(self, request: Request, ssl_id: str):
        scope = self._begin(request)
        _raw, payload = parse_body(request, enrollment_contract.DeclineV1(), self.context.settings.max_body_bytes)
        self._visible_ssl(scope, ssl_id)
        answer = self._call(self.enrollment_rpc, "decline_ssl", ssl_id, scope.principal.admin_id, payload)
        return json_response(200, answer["ssl"])

    @api("POST", _SSL + "/revoke", doc=Operation(
        "Revoke the certificate (RFC 5280 reason); CRL and OCSP show it within a minute; again is 409", "ssl",
        body=enrollment_contract.RevokeV1, responses={200: (schemas.Ssl, "revoked")}))
    def revoke_ssl(self, request: Request, ssl_id: str):
        scope = self._begin(request)
        payload = self._optional_body(request, enrollment_contract.RevokeV1())
        self._visible_ssl(scope, ssl_id)
        answer = self._call(self.enrollment_rpc, "revoke_ssl", ssl_id, scope.principal.admin_id, payload)
        return json_response(200, answer["ssl"])

    @api("POST", _SSL + "/renew", doc=Operation(
        "Renew: a new request with the same details and a new CSR (without one, the stored CSR: the same key). "
        "It follows the same approval rules as any request.", "ssl", body=enrollment_contract.RenewV1,
        upload=CSR_UPLOAD,
        responses={201: (schemas.Ssl, "the new request (issued at once when no approval is needed)"),
                   202: (schemas.Ssl, "applied: the certificate follows")}))
    def renew_ssl(self, request: Request, ssl_id: str):
        return self._renew(request, ssl_id, replace=False)

    @api("POST", _SSL + "/replace", doc=Operation(
        "Replace: renew, and revoke this certificate (superseded) once the new one is issued", "ssl",
        body=enrollment_contract.RenewV1, upload=CSR_UPLOAD, responses={201: (schemas.Ssl, "the new request"),
                                                                        202: (schemas.Ssl, "applied: it follows")}))
    def replace_ssl(self, request: Request, ssl_id: str):
        return self._renew(request, ssl_id, replace=True)

    def _renew(self, request: Request, ssl_id: str, replace: bool):
        scope = self._begin(request)
        payload = self._optional_body(request, enrollment_contract.RenewV1(), upload=CSR_UPLOAD)
        self._visible_ssl(scope, ssl_id)
        found = self._call(self.enrollment_rpc, "renew_ssl", ssl_id, scope.principal.admin_id,
                           scope.principal.has_privilege("ssl_auto_approve"), payload, replace, str(uuid.uuid4()),
                           self._admin_email(scope.principal.admin_id))["ssl"]
        return issuance_answer(found, 201)

    @api("GET", _SSL + "/download", doc=Operation(
        "Download the certificate: `format` one of " + ", ".join(
            f"`{k}` ({v[2]})" for k, v in enrollment_contract.DOWNLOAD_FORMATS.items()), "ssl",
        query=schemas.DownloadQuery, responses={200: (DOWNLOAD_MEDIA_TYPES, "the file")}))
    def download_ssl(self, request: Request, ssl_id: str):
        scope = self._begin(request)
        query = parse_query(request, schemas.DownloadQuery())
        self._visible_ssl(scope, ssl_id)
        return _file(self._call(self.enrollment_rpc, "download_ssl", ssl_id, query["format"],
                                scope.principal.admin_id))

    @api("GET", "/collect/<token>", doc=Operation(
        "Collect an issued certificate through the link of its collection mail (no login: the link is the "
        "credential); `format` as for the download", "ssl", public=True, query=schemas.DownloadQuery,
        responses={200: (DOWNLOAD_MEDIA_TYPES, "the file")}))
    def collect(self, request: Request, token: str):
        query = parse_query(request, schemas.DownloadQuery())
        self.context.actor = "collection-link"
        return _file(self._call(self.enrollment_rpc, "collect", token, query["format"]))

    def _admin_email(self, admin_id: str) -> str | None:
        row = self._principals_read(lambda p, c: p.admin(c, admin_id))
        return row["email"] if row else None

    def _visible_ssl(self, scope, ssl_id: str) -> dict:
        try:
            found = self._call(self.enrollment_rpc, "get_ssl", ssl_id)
        except NotFound:
            raise NotFound.of("ssl", ssl_id) from None
        if not access.sees_ssl(scope.principal, found["organization_id"], found["department_id"]):
            raise NotFound.of("ssl", ssl_id)
        return found

    def _optional_body(self, request: Request, schema, upload=()) -> dict:
        if not request.content_length:
            return {}
        return parse_body(request, schema, self.context.settings.max_body_bytes, upload)[1]

    # ---- the console: a request's history, the inventory as CSV ----------------------------------------------
    EXPORT_COLUMNS = ("ssl_id", "status", "common_name", "sans", "organization", "department", "profile",
                      "trust_class", "serial", "not_before", "not_after", "requested_by")
    EXPORT_LIMIT = 100_000      # rows in one CSV export; more is a 422 asking for a narrower filter
    EXPORT_CHUNK = 500          # rows per list_ssl call (its own maximum page)

    @api("GET", _SSL + "/history", doc=Operation(
        "The request's history from its events, oldest first: requested (or renewal/replacement requested), "
        "approved, applied, failed, issued, downloaded, declined, revoked, and renewed or replaced by its "
        "successor. `by` is the actor as recorded (`actor`: an admin id, `system:auto-renew`, "
        "`collection-link`) with the administrator's `username` when it is one; `message` the approval message, "
        "decline or revocation reason, request comment or CA error. Visible as GET /api/v1/ssl/{ssl_id}",
        "ssl", responses={200: (schemas.SslHistory, "the history")}))
    def ssl_history(self, request: Request, ssl_id: str):
        scope = self._begin(request)
        self._visible_ssl(scope, ssl_id)
        entries = self._call(self.enrollment_rpc, "ssl_history", ssl_id)
        usernames = self._usernames({e["by"] for e in entries if e["by"]})
        items = [{**e, "by": {"actor": e["by"], "username": usernames.get(e["by"])}} for e in entries]
        return json_response(200, {"ssl_id": ssl_id, "items": items})

    @api("GET", "/api/v1/ssl/export", doc=Operation(
        "The SSL inventory you see as CSV (a spreadsheet download), with exactly the filters of GET /api/v1/ssl "
        "(no paging) and in its order (`sort`): the columns " + ", ".join(EXPORT_COLUMNS) + " (organization, "
        "department and profile by name, requested_by by username when an administrator, sans separated by "
        "spaces). Every cell is written as text a spreadsheet does not run as a formula. At most "
        f"{EXPORT_LIMIT:,} rows: a filter matching more answers 422 export_too_large (narrow the filter, e.g. by "
        "organization, status or expiry)", "ssl", query=schemas.SslExportQuery,
        responses={200: ((csv_export.MIMETYPE,), "the CSV file (attachment)"),
                   422: (schemas.Error, f"more than {EXPORT_LIMIT:,} certificates match (export_too_large)")}))
    def export_ssl(self, request: Request):
        scope = self._begin(request)
        query = parse_query(request, schemas.SslExportQuery())
        filters = {k: (str(v) if k.endswith("_id") else v) for k, v in query.items() if v is not None}
        for key in ("expires_before", "expires_after"):          # as list_ssl passes them
            if key in filters:
                filters[key] = filters[key].isoformat()
        ssl_scope = access.ssl_scope(scope.principal)
        page = self._call(self.enrollment_rpc, "list_ssl", ssl_scope, filters, 0, self.EXPORT_CHUNK)
        if page["total"] > self.EXPORT_LIMIT:
            raise PolicyViolation(f"{page['total']:,} certificates match; an export holds at most "
                                  f"{self.EXPORT_LIMIT:,}: narrow the filter (organization, status, profile, expiry)",
                                  {"total": page["total"], "limit": self.EXPORT_LIMIT}, code="export_too_large")
        rows, seen = [], set()
        while page["items"]:
            # paged by offset, newest first: a request made meanwhile shifts a row into the next page again
            rows += [item for item in page["items"] if item["ssl_id"] not in seen]
            seen.update(item["ssl_id"] for item in page["items"])
            if len(seen) >= min(page["total"], self.EXPORT_LIMIT) or len(page["items"]) < self.EXPORT_CHUNK:
                break
            page = self._call(self.enrollment_rpc, "list_ssl", ssl_scope, filters, len(seen), self.EXPORT_CHUNK)
        body = csv_export.csv_bytes(self.EXPORT_COLUMNS, self._export_rows(rows[:self.EXPORT_LIMIT]))
        return Response(body, mimetype=csv_export.MIMETYPE,
                        headers={"Content-Disposition": 'attachment; filename="certplane-ssl.csv"'})

    def _export_rows(self, items: list[dict]):
        profiles = {p["profile_id"]: p["name"] for p in self._call(self.enrollment_rpc, "list_profiles")}
        organizations = {i["organization_id"] for i in items}
        departments = {i["department_id"] for i in items if i["department_id"]}

        def names(directory, conn):
            o, d = directory.organizations, directory.departments
            return (dict(conn.execute(sa.select(o.c.organization_id, o.c.name)
                                      .where(o.c.organization_id.in_(sorted(organizations)))).all()),
                    dict(conn.execute(sa.select(d.c.department_id, d.c.name)
                                      .where(d.c.department_id.in_(sorted(departments)))).all()))
        org_names, dept_names = self._directory_read(names)
        usernames = self._usernames({i["requested_by"] for i in items})
        for i in items:
            yield (i["ssl_id"], i["status"], i["common_name"], " ".join(i["sans"]),
                   org_names.get(i["organization_id"], i["organization_id"]),
                   dept_names.get(i["department_id"], i["department_id"]) if i["department_id"] else None,
                   profiles.get(i["profile_id"], i["profile_id"]), i["trust_class"], i["serial"], i["not_before"],
                   i["not_after"], usernames.get(i["requested_by"], i["requested_by"]))

    def _usernames(self, actors: set[str]) -> dict[str, str]:
        """Actor (admin id) -> username, for the administrators the principal directory knows."""
        if not actors:
            return {}

        def query(directory, conn):
            a = directory.admins
            return dict(conn.execute(sa.select(a.c.admin_id, a.c.username)
                                     .where(a.c.admin_id.in_(sorted(actors)))).all())
        return self._principals_read(query)



def issuance_answer(found: dict, done_status: int):
    """The answer to a request, renewal or approval once enrollment waited for the pipeline (issuance_wait):
    `done_status` (201 for a new request, 200 for an approval) when it is issued or waits for an approver; 202
    while the CA has it (status applied; the GET shows the outcome); 422 with the CA's code and findings when the
    CA refused it — the request is recorded (status failed) and named in the details and in Location."""
    location = {"Location": f"/api/v1/ssl/{found['ssl_id']}"}
    if found["status"] == "applied":
        return json_response(202, found, location)
    if found["status"] == "failed":
        return error_response(422, found["last_error_code"] or "issuance_refused", found["last_error"] or "refused",
                              {"findings": found["last_findings"], "ssl_id": found["ssl_id"], "status": "failed"},
                              None, location)
    return json_response(done_status, found, location)


def _file(answer: dict) -> Response:
    """A download answer of enrollment ({content_b64, mimetype, filename}) as an attachment."""
    return Response(base64.b64decode(answer["content_b64"]), mimetype=answer["mimetype"],
                    headers={"Content-Disposition": f'attachment; filename="{answer["filename"]}"'})
