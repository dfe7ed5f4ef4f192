"""`/.well-known/est/...` (RFC 7030, RFC 8951): passed as a request envelope to enrollment, which owns EST
(DESIGN §5), and its answer returned unchanged. No console login: a device authenticates with HTTP Basic (the
endpoint's username and password, or a one-time challenge as the password) or with the TLS client certificate of
an earlier enrollment; enrollment checks both. The Authorization header and the verified client certificate go
in the envelope.

EST is TLS only (RFC 7030 §3.2.1): the routes answer on the EST listener (`est_port`, its certificate issued by
Certplane's own CA), and on the plain HTTP or the `tls_port` listener they answer 403 text "EST is served over
TLS at <est_base_url>". EST clients read text, not the REST error format: a body over the limit
and a silent enrollment are answered as text/plain too (503 + Retry-After, so a device retries).

The listener's certificate: a timer (every est_tls_check_interval seconds, first at start; every second until the
CA answers) makes a P-256 key in memory and asks the CA for a tls_server certificate for the host of est_base_url,
localhost and 127.0.0.1; it is renewed at 2/3 of its life. The CA certificates client certificates are verified against are read from the CA with it; a CA
added or renewed is trusted at the next tick.
"""
from __future__ import annotations

import hashlib
import ipaddress
from datetime import datetime, timezone
from urllib.parse import urlsplit

import structlog
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from werkzeug.wrappers import Request, Response

from gateway import device_protocols as protocols
from gateway import http as gateway_http
from gateway.http import api
from gateway.openapi import Operation
from services.runtime.nameko_glue import periodic

log = structlog.get_logger(__name__)

EST_BODY_LIMIT = 64 * 1024
EST_TLS_DAYS = 30
EST_OPERATIONS = ("cacerts", "simpleenroll", "simplereenroll", "csrattrs", "serverkeygen")
TEXT = ("text/plain",)
_PASSED_HEADERS = ("content-type", "user-agent", "content-transfer-encoding", "accept", "authorization")
_ERRORS = {400: (TEXT, "a bad request: not base64, not a PKCS#10, an unknown operation (the reason as text)"),
           401: (TEXT, "no or wrong credentials (WWW-Authenticate: Basic)"),
           403: (TEXT, "not the EST listener, the endpoint is disabled, or the client certificate is not one "
                       "this endpoint issued"),
           404: (TEXT, "no EST endpoint has this URL, no such operation, or no endpoint named (no default)"),
           405: (TEXT, "the operation is GET (cacerts, csrattrs) or POST (the others) (Allow)"),
           415: (TEXT, "the body is not application/pkcs10"),
           503: (TEXT, "the enrollment service did not answer (Retry-After)")}
_GET_ANSWERS = ("application/pkcs7-mime", "application/csrattrs")
_POST_ANSWERS = ("application/pkcs7-mime", "multipart/mixed")


def _get(label: str) -> Operation:
    return Operation(
        "EST (RFC 7030) GET operations" + label + ": cacerts (the endpoint's CA chain, a certs-only PKCS#7, "
        "base64), csrattrs (the CSR attributes the profile wants, base64 DER). TLS only, on the EST port", "est",
        public=True, responses={200: (_GET_ANSWERS, "the CA certificates or the CSR attributes"), **_ERRORS})


def _post(label: str) -> Operation:
    return Operation(
        "EST (RFC 7030) POST operations" + label + ": simpleenroll and simplereenroll (a base64 PKCS#10; the "
        "issued certificate as a certs-only PKCS#7, base64; 202 + Retry-After while it awaits approval), "
        "serverkeygen (multipart/mixed: the key as PKCS#8 and the certificate). TLS only, on the EST port", "est",
        public=True, raw_body="application/pkcs10",
        responses={200: (_POST_ANSWERS, "the certificate (and with serverkeygen its key)"),
                   202: (TEXT, "the request awaits an administrator's approval (Retry-After)"),
                   413: (TEXT, f"the body is over {EST_BODY_LIMIT} bytes"), **_ERRORS})


class EstRoutes:
    @api("GET", "/.well-known/est/<operation>", doc=_get(" of the default endpoint (est_default_endpoint)"))
    def est_get_default(self, request: Request, operation: str):
        return self._est(request, "", operation)

    @api("POST", "/.well-known/est/<operation>", doc=_post(" of the default endpoint (est_default_endpoint)"))
    def est_post_default(self, request: Request, operation: str):
        return self._est(request, "", operation)

    @api("GET", "/.well-known/est/<uri_extension>/<operation>", doc=_get(" of an endpoint (its URI extension)"))
    def est_get(self, request: Request, uri_extension: str, operation: str):
        return self._est(request, uri_extension, operation)

    @api("POST", "/.well-known/est/<uri_extension>/<operation>", doc=_post(" of an endpoint (its URI extension)"))
    def est_post(self, request: Request, uri_extension: str, operation: str):
        return self._est(request, uri_extension, operation)

    def _est(self, request: Request, uri_extension: str, operation: str) -> Response:
        self.context.actor = "est-client"
        settings = self.context.settings
        if not request.environ.get(gateway_http.EST_LISTENER):
            where = settings.est_base_url or "no EST port is configured (CERTPLANE_EST_PORT)"
            return _text(403, f"EST is served over TLS at {where}")
        body = protocols.read_body(request, EST_BODY_LIMIT)
        if body is None:
            return _text(413, f"the request body is over the limit of {EST_BODY_LIMIT} bytes")
        path = f"{uri_extension}/{operation}" if uri_extension else operation
        return protocols.pass_to_enrollment(self, "est_request", "EST", request, path, _PASSED_HEADERS, body,
                                            request.environ.get(gateway_http.listener.CLIENT_CERT_DER))[1]

    # ---- the EST listener's certificate ----------------------------------------------------------------------
    @periodic("est_tls_check_interval")
    def est_tls_refresh(self):
        """Install (first tick), renew (2/3 of its life) the EST listener's certificate, and refresh the CA
        certificates client certificates are verified against. Until the CA answers (at start, before its RPC
        consumer is up) it is tried again every second (False)."""
        settings = self.context.settings
        if not settings.est_port:
            return
        tls = gateway_http.EST_TLS
        try:
            cas = self._call(self.ca_rpc, "list_cas")
            ca_pems = [ca["certificate_pem"] for ca in cas if ca.get("status") == "active"]
            fingerprints = tuple(sorted(ca["sha256_fingerprint"] for ca in cas if ca.get("status") == "active"))
            now = datetime.now(timezone.utc)
            due = tls.context() is None or tls.renew_at is None or now >= tls.renew_at
            if not due and fingerprints == tls.ca_fingerprints:
                return
            if due:
                key_pem, chain_pem, not_after, renew_at = self._est_certificate(settings, now)
            else:
                key_pem, chain_pem, not_after, renew_at = _SERVED["key_pem"], _SERVED["chain_pem"], \
                    tls.not_after, tls.renew_at
            tls.install(key_pem, chain_pem, ca_pems, not_after, renew_at, fingerprints)
            _SERVED.update(key_pem=key_pem, chain_pem=chain_pem)
            log.info("est_tls_installed", not_after=str(not_after), renewed=due, cas=len(ca_pems))
        except Exception as exc:  # noqa: BLE001 — the CA (or its RPC exchange) not up yet at start: try again soon
            log.warning("est_tls_unavailable", error=type(exc).__name__, code=getattr(exc, "code", None),
                        detail=str(exc)[:200])
            return False
        return True

    def _est_certificate(self, settings, now: datetime):
        host = urlsplit(settings.est_base_url).hostname or "localhost"
        key = ec.generate_private_key(ec.SECP256R1())
        csr = x509.CertificateSigningRequestBuilder().subject_name(
            x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])).sign(key, hashes.SHA256())
        dns, ips = {"localhost"}, {"127.0.0.1"}
        try:
            ips.add(str(ipaddress.ip_address(host)))
        except ValueError:
            dns.add(host)
        issued = self._call(self.ca_rpc, "issue_service_certificate", {
            "purpose": "tls_server", "csr_pem": csr.public_bytes(serialization.Encoding.PEM).decode(),
            "common_name": host, "dns_names": sorted(dns), "ip_addresses": sorted(ips), "ca_id": None,
            "days": EST_TLS_DAYS})
        chain = [issued["certificate_pem"]] + [pem for pem in issued["chain_pem"] if "BEGIN" in pem]
        chain_pem = "".join(pem if pem.endswith("\n") else pem + "\n" for pem in chain)
        certificate = x509.load_pem_x509_certificate(issued["certificate_pem"].encode())
        not_before, not_after = certificate.not_valid_before_utc, certificate.not_valid_after_utc
        renew_at = not_before + (not_after - not_before) * 2 / 3
        key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()).decode()
        log.info("est_tls_certificate_issued", serial=issued["serial"],
                 sha256=hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest())
        return key_pem, chain_pem, not_after, renew_at


_SERVED: dict = {}   # the installed key and chain (PEM), reinstalled with new CA certificates


_text = protocols.text
