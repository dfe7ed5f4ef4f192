"""`/scep/<endpoint>` (RFC 8894): passed as a request envelope to enrollment, which owns SCEP (DESIGN §5), and its
answer returned unchanged. No login here — a device authenticates with the endpoint's challenge password (or a
one-time challenge) inside its signed, encrypted pkiMessage, or renews with the signature of its current
certificate; enrollment checks both. `/scep/<endpoint>/pkiclient.exe` is the same, for clients that append the
path of the old Cisco/Microsoft servers. GetCACaps and GetCACert answers are kept here KEPT_SECONDS per endpoint.
SCEP clients read text, not the REST error format: a body over the limit and a silent enrollment are answered as
text/plain too (503 + Retry-After, so a device retries)."""
from __future__ import annotations

import time

from marshmallow import Schema, fields, validate
from werkzeug.wrappers import Request, Response

from gateway import device_protocols as protocols
from gateway.http import api
from gateway.openapi import Operation

SCEP_BODY_LIMIT = 64 * 1024
# Each enrollment asks GetCACaps and GetCACert before its PKIOperation; their answers are the same for every device
# of an endpoint, so the gateway keeps them KEPT_SECONDS (an endpoint disabled meanwhile still answers them that
# long — they are public — while its PKIOperations are refused at once).
KEPT_OPERATIONS = ("GetCACaps", "GetCACert")
KEPT_SECONDS = 30.0
KEPT_ENTRIES = 1000
_KEPT: dict[tuple[str, str], tuple[float, str | None, bytes]] = {}
TEXT = ("text/plain",)
PKI_MESSAGE = "application/x-pki-message"
_PASSED_HEADERS = ("content-type", "user-agent", "content-transfer-encoding", "accept")
_ANSWERS = ("text/plain", "application/x-x509-ca-ra-cert", PKI_MESSAGE)
_ERRORS = {400: (("text/plain", "application/json"), "not a SCEP request: an unknown operation, a message that is "
                 "not base64 or not a pkiMessage (the reason as text)"),
           403: (TEXT, "the endpoint is disabled"),
           404: (TEXT, "no SCEP endpoint has this URL"),
           503: (TEXT, "the enrollment service did not answer (Retry-After)")}
_BODY_ERRORS = {413: (("text/plain", "application/json"), f"the pkiMessage is over {SCEP_BODY_LIMIT} bytes"),
                415: (TEXT, "the body is not application/x-pki-message (or application/octet-stream)")}


class ScepQuery(Schema):
    operation = fields.String(required=True, validate=validate.OneOf(("GetCACaps", "GetCACert", "PKIOperation")),
                              metadata={"description": "the SCEP operation"})
    message = fields.String(metadata={"description": "GetCACaps/GetCACert: a CA name (ignored); PKIOperation "
                                                     "over GET: the pkiMessage, base64"})


def _get(path_doc: str) -> Operation:
    return Operation(
        "SCEP (RFC 8894) over GET" + path_doc + ": GetCACaps (text/plain), GetCACert (the RA certificate and the "
        "endpoint's CA chain as a degenerate PKCS#7), PKIOperation with the base64 pkiMessage in `message` "
        "(PKCSReq, RenewalReq, CertPoll; the answer is a CertRep). Answers as RFC 8894 says, not in the REST error "
        "format", "scep", public=True, query=ScepQuery,
        responses={200: (_ANSWERS, "the capabilities, the CA certificates or the CertRep"), **_ERRORS})


def _post(path_doc: str) -> Operation:
    return Operation(
        "SCEP (RFC 8894) PKIOperation over POST" + path_doc + ": the DER pkiMessage as the body "
        "(`?operation=PKIOperation`); the answer is a CertRep (SUCCESS, PENDING or FAILURE with its failInfo)",
        "scep", public=True, query=ScepQuery, raw_body=PKI_MESSAGE,
        responses={200: ((PKI_MESSAGE, "text/plain"), "the CertRep (or GetCACaps/GetCACert when asked by POST)"),
                   **_ERRORS, **_BODY_ERRORS})


class ScepRoutes:
    @api("GET", "/scep/<uri_extension>", doc=_get(""))
    def scep_get(self, request: Request, uri_extension: str):
        return self._scep(request, uri_extension)

    @api("POST", "/scep/<uri_extension>", doc=_post(""))
    def scep_post(self, request: Request, uri_extension: str):
        return self._scep(request, uri_extension)

    @api("GET", "/scep/<uri_extension>/pkiclient.exe", doc=_get(" (the old clients' path)"))
    def scep_get_pkiclient(self, request: Request, uri_extension: str):
        return self._scep(request, uri_extension)

    @api("POST", "/scep/<uri_extension>/pkiclient.exe", doc=_post(" (the old clients' path)"))
    def scep_post_pkiclient(self, request: Request, uri_extension: str):
        return self._scep(request, uri_extension)

    def _scep(self, request: Request, uri_extension: str) -> Response:
        self.context.actor = "scep-client"
        kept = _kept(request, uri_extension)
        if kept is not None:
            return kept
        body = protocols.read_body(request, SCEP_BODY_LIMIT)
        if body is None:
            return _text(413, f"the pkiMessage is over the limit of {SCEP_BODY_LIMIT} bytes")
        answer, response = protocols.pass_to_enrollment(self, "scep_request", "SCEP", request, uri_extension,
                                                        _PASSED_HEADERS, body)
        if answer is None:
            return response
        _keep(request, uri_extension, answer["status"], response.content_type, response.get_data())
        return response


def _cache_key(request: Request, uri_extension: str) -> tuple[str, str] | None:
    """GetCACaps and GetCACert over GET: the same answer for every device of an endpoint."""
    if request.method not in ("GET", "HEAD"):
        return None
    operations = request.args.getlist("operation")
    if len(operations) != 1 or operations[0] not in KEPT_OPERATIONS:
        return None
    return uri_extension, operations[0]


def _kept(request: Request, uri_extension: str) -> Response | None:
    key = _cache_key(request, uri_extension)
    found = _KEPT.get(key) if key else None
    if found is None or time.monotonic() - found[0] > KEPT_SECONDS:
        return None
    return Response(found[2], status=200, content_type=found[1])


def _keep(request: Request, uri_extension: str, status: int, content_type: str | None, raw: bytes) -> None:
    key = _cache_key(request, uri_extension)
    if key is None or status != 200:
        return
    if len(_KEPT) >= KEPT_ENTRIES:
        _KEPT.clear()
    _KEPT[key] = (time.monotonic(), content_type, raw)


_text = protocols.text
