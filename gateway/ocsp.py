"""OCSP (RFC 6960) at the gateway: signed responses reused from memory while the certificate's status holds, so
a repeated request costs no RPC, no signature and no nameko worker (DESIGN §5, hot public read paths).

How a request is answered (`OcspResponder`):
1. A request with exactly one CertID and no extensions is *cacheable*; its key is that CertID (hash algorithm,
   issuer name hash, issuer key hash, serial). A nonce asks for a fresh signature, so a request with one (or any
   other extension), with several CertIDs, or that does not parse, is not cacheable.
2. For a cacheable request the serial's current status is read from the gateway's certificate-status read model
   (gateway/certificate_status.py, a follower of ca's events): one indexed row through `Database.quick_scalar`,
   the serial a bound parameter. No row is "unknown".
3. If the cache holds a response for that CertID that says that same status and whose refresh time (thisUpdate
   plus half its validity, so before nextUpdate) has not passed, those exact bytes are the answer. (A CertID that
   names another of our CAs than the serial's gets "unknown" from the ca, which the read model's "good" never
   matches: such requests always go to the ca.)
4. Otherwise the ca answers (the `ca.ocsp` RPC: it parses, looks the serial up and signs with the key of the CA
   the request names — an issuing CA for its leaves, a root for the issuing CAs' own certificates — which the
   gateway never holds). A SUCCESSFUL answer to a cacheable request, with nextUpdate and for that
   CertID, is kept. Everything else — nonces, several CertIDs, malformed requests, `unauthorized` (not our CA) —
   goes to the ca every time and is never kept.

Where it runs: `OcspProvider` is a `gateway.http.FastPath`. The gateway's WSGI app asks it first, before URL
routing and before nameko spawns a worker for the request, so a cached answer costs eventlet's HTTP parsing, one
request parse, one row read and a dictionary lookup. When it cannot answer (step 4, or anything unexpected: wrong
content type, a body over the limit or without Content-Length) the request goes on to the route
(`CertificateRoutes.ocsp_post` / `ocsp_get`), which makes every error response and asks the ca through
`OcspResponder.answer`, filling the cache. The route's handler and the fast path share one `OcspResponder` per
process: the provider's, which is also what `self.ocsp` is in a worker.

Revocation: every request re-reads the status, and all replicas of the gateway share the read model's database.
A revocation applied by any replica's follower therefore stops every replica from reusing its cached "good" on
the very next request. An issuing CA's certificates are rows of the read model like leaves (under the root), and
`ca_revoked` marks all of them at once; the route that approves a CA revocation applies its events before it
answers, so the next request after the approval already gets "revoked". Otherwise the lag is the follower's: a
pushed event arrives within milliseconds, a lost one is pulled by the catch-up timer (`catch_up_interval`, 5 s by
default) — inside the minute within which DESIGN and `POST /api/v1/ssl/{id}/revoke` promise that OCSP shows a
revocation. Until then the kept "good" is answered. Lag behind an issuance costs only speed: the new serial is
still "unknown" here, which the ca's "good" does not match, so the ca answers each request until the read model
has the certificate.

HTTP caching (RFC 5019 §6.2, GET only): Last-Modified = thisUpdate, Expires = nextUpdate, an ETag, and
`Cache-Control: max-age` of at most `HTTP_MAX_AGE` (30 s). A cache in front may keep a "good" that long after a
revocation; 30 s plus the read model's lag stays within the minute. (max-age wins over Expires in HTTP/1.1.)

Memory: at most `MAX_ENTRIES` responses per process (under 1 KB each, so under 100 MB when full), the oldest
evicted first. Several requests missing at once for the same CertID each ask the ca; the last answer is kept.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import io
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

import structlog
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.x509 import ocsp
from werkzeug.http import http_date

from gateway.certificate_status import OCSP_STATUS, CertificateStatus, OcspStatus
from gateway.http import FastPath
from services.runtime.follower import Follower
from services.runtime.nameko_glue import FollowerProvider, settings_of

log = structlog.get_logger(__name__)

OCSP_REQUEST_LIMIT = 8192
REQUEST_MIMETYPE = "application/ocsp-request"
RESPONSE_MIMETYPE = "application/ocsp-response"
MAX_ENTRIES = 100_000
HTTP_MAX_AGE = 30
_GET_PREFIX = "/ocsp/"
MISSED = "certplane.ocsp_missed"      # WSGI environ key: the fast path's miss, for the route
_STATUS_NAMES = {ocsp.OCSPCertStatus.GOOD: OcspStatus.GOOD, ocsp.OCSPCertStatus.REVOKED: OcspStatus.REVOKED,
                 ocsp.OCSPCertStatus.UNKNOWN: OcspStatus.UNKNOWN}

Wsgi = tuple[str, list[tuple[str, str]], bytes]       # status line, headers, body


@dataclass(frozen=True, slots=True)
class CertId:
    hash_algorithm: str          # cryptography's name: "sha1", "sha256", ...
    issuer_name_hash: bytes
    issuer_key_hash: bytes
    serial: int


@dataclass(frozen=True, slots=True)
class SignedAnswer:
    """A SUCCESSFUL response of the ca, as kept: the status it signed, its bytes and its times."""
    status: OcspStatus
    der: bytes
    this_update: datetime
    next_update: datetime
    refresh_at: datetime         # thisUpdate + half the validity: from then on the ca signs a new one
    etag: str


def decode_get_request(encoded: str) -> bytes:
    """The DER request of `GET /ocsp/<base64>` (RFC 6960 appendix A; the path is already URL-decoded). Characters
    outside base64 are skipped, as RFC 4648 decoders may; anything undecodable is an empty (malformed) request."""
    try:
        return base64.b64decode(encoded, validate=False)
    except (binascii.Error, ValueError):
        return b""


def cacheable_cert_id(der: bytes) -> CertId | None:
    """The CertID of a request whose answer may come from the cache (see the module docstring, step 1)."""
    try:
        request = ocsp.load_der_ocsp_request(der)       # refuses requests with more than one CertID
        if len(request.extensions):
            return None
        return CertId(request.hash_algorithm.name, request.issuer_name_hash, request.issuer_key_hash,
                      request.serial_number)
    except (ValueError, UnsupportedAlgorithm):
        return None


def signed_answer(cert_id: CertId, der: bytes) -> SignedAnswer | None:
    """The ca's response to the cacheable request `cert_id`, as a cache entry; None when it must not be reused:
    not SUCCESSFUL, not exactly one response about this CertID, carrying a nonce, or without nextUpdate."""
    try:
        response = ocsp.load_der_ocsp_response(der)
        if response.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
            return None
        singles = list(response.responses)
        if len(singles) != 1:
            return None
        single = singles[0]
        about = CertId(single.hash_algorithm.name, single.issuer_name_hash, single.issuer_key_hash,
                       single.serial_number)
        if about != cert_id or _has_nonce(response.extensions) or single.next_update_utc is None:
            return None
        this_update, next_update = single.this_update_utc, single.next_update_utc
        status = _STATUS_NAMES[single.certificate_status]
    except (ValueError, UnsupportedAlgorithm):
        return None
    return SignedAnswer(status, der, this_update, next_update, this_update + (next_update - this_update) / 2,
                        hashlib.sha256(der).hexdigest())


def _has_nonce(extensions: x509.Extensions) -> bool:
    try:
        extensions.get_extension_for_class(x509.OCSPNonce)
    except x509.ExtensionNotFound:
        return False
    return True


class ResponseCache:
    """Signed responses by CertID, at most `max_entries` (the oldest entry is evicted first). No method yields to
    another greenthread, so eventlet's cooperative scheduling needs no lock."""

    def __init__(self, max_entries: int = MAX_ENTRIES):
        self.max_entries = max_entries
        self._entries: OrderedDict[CertId, SignedAnswer] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def lookup(self, cert_id: CertId, status: OcspStatus | None, now: datetime) -> SignedAnswer | None:
        """The kept answer for `cert_id` if it says `status` (the serial's status now) and is not due for
        refresh; None otherwise (the caller asks the ca and keeps the new answer)."""
        entry = self._entries.get(cert_id)
        if entry is None or entry.status != status or now >= entry.refresh_at:
            return None
        return entry

    def keep(self, cert_id: CertId, answer: SignedAnswer) -> None:
        self._entries[cert_id] = answer
        self._entries.move_to_end(cert_id)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


class OcspResponder:
    """Answers OCSP requests from the cache when it may and from the ca otherwise (the module docstring).
    `status_of(serial)` is the read model's answer for a serial; `follower` is that read model's follower, for the
    service's @follow handler, catch-up timer and /readyz."""

    def __init__(self, status_of: Callable[[int], OcspStatus], cache: ResponseCache | None = None,
                 request_limit: int = OCSP_REQUEST_LIMIT, clock: Callable[[], datetime] = _utcnow,
                 follower: Follower | None = None):
        self.status_of = status_of
        self.follower = follower
        self.cache = cache if cache is not None else ResponseCache()
        self.request_limit = request_limit
        self.clock = clock

    def cached(self, der: bytes) -> SignedAnswer | None:
        """The kept answer to the request `der`, if one may be reused now."""
        return self._look_up(der)[1]

    def _look_up(self, der: bytes) -> tuple[CertId | None, SignedAnswer | None]:
        cert_id = cacheable_cert_id(der)
        if cert_id is None:
            return None, None
        return cert_id, self.cache.lookup(cert_id, self._status(cert_id.serial), self.clock())

    def answer(self, der: bytes, ask_ca: Callable[[bytes], bytes],
               missed: tuple[bytes, CertId | None] | None = None) -> tuple[bytes, SignedAnswer | None]:
        """(the DER response, its cache entry or None): a kept answer if one may be reused, else what
        `ask_ca(der)` returns (kept when it may be reused later). `missed`: what the fast path found for these
        very bytes a moment ago (the request, its CertID or None, and no kept answer), so neither the parse nor
        the status read is made twice."""
        if missed is not None and missed[0] == der:
            cert_id = missed[1]
        else:
            cert_id, hit = self._look_up(der)
            if hit is not None:
                return hit.der, hit
        signed = ask_ca(der)
        entry = signed_answer(cert_id, signed) if cert_id is not None else None
        if entry is not None:
            self.cache.keep(cert_id, entry)
        return signed, entry

    def _status(self, serial: int) -> OcspStatus | None:
        """The serial's status in the read model; None (no kept answer matches) if it cannot be read now, so an
        outage of the gateway's database costs the cache, not OCSP: the ca still answers."""
        try:
            return self.status_of(serial)
        except Exception as exc:  # noqa: BLE001 — whatever failed, the answer must not come from the cache
            log.warning("ocsp_status_unreadable", error=repr(exc))
            return None

    def headers(self, der: bytes, entry: SignedAnswer | None, http_caching: bool) -> list[tuple[str, str]]:
        """Content type and length; with `http_caching` (a GET) and a reusable answer, RFC 5019's headers."""
        headers = [("Content-Type", RESPONSE_MIMETYPE), ("Content-Length", str(len(der)))]
        if http_caching and entry is not None:
            now = self.clock()
            max_age = max(0, min(HTTP_MAX_AGE, int((entry.next_update - now).total_seconds())))
            headers += [("Cache-Control", f"max-age={max_age}, public, no-transform, must-revalidate"),
                        ("Last-Modified", http_date(entry.this_update)), ("Expires", http_date(entry.next_update)),
                        ("ETag", f'"{entry.etag}"')]
        return headers

    def respond_early(self, environ: dict) -> Wsgi | None:
        """The fast path: a kept answer to `POST /ocsp` or `GET /ocsp/<request>`, or None to let the route answer
        (it makes every error). A POST body read here is put back for the route."""
        method, path = environ.get("REQUEST_METHOD"), environ.get("PATH_INFO", "")
        if method == "POST" and path == "/ocsp":
            der = self._post_body(environ)
        elif method == "GET" and path.startswith(_GET_PREFIX):
            der = decode_get_request(path[len(_GET_PREFIX):])
        else:
            return None
        if not der:
            return None
        cert_id, entry = self._look_up(der)
        if entry is None:
            environ[MISSED] = (der, cert_id)          # for the route: it asks the ca without looking again
            return None
        return "200 OK", self.headers(entry.der, entry, http_caching=method == "GET"), entry.der

    def _post_body(self, environ: dict) -> bytes | None:
        if environ.get("CONTENT_TYPE", "").partition(";")[0].strip().lower() != REQUEST_MIMETYPE:
            return None
        try:
            length = int(environ.get("CONTENT_LENGTH") or "")
        except ValueError:
            return None                   # none (chunked) or unreadable: the route deals with it
        if not 0 < length <= self.request_limit:
            return None
        der = environ["wsgi.input"].read(length)
        environ["wsgi.input"] = io.BytesIO(der)          # for the route, if the cache cannot answer
        return der


class OcspProvider(FollowerProvider, FastPath):
    """`ocsp = OcspProvider()` on the gateway: the certificate-status read model (a follower of `ca`, kept like
    the other read models by the service's @follow handler and catch-up timer), the process's response cache, and
    the fast path. In a worker, `self.ocsp` is the `OcspResponder`; its read model's follower is
    `self.ocsp.follower`."""

    def __init__(self):
        super().__init__("ca", CertificateStatus)
        self.responder: OcspResponder | None = None

    def setup(self):
        super().setup()
        follower = self.follower
        query = follower.projection.status_query

        def status_of(serial: int) -> OcspStatus:
            row = follower.db.quick_scalar(query, {"serial": format(serial, "x")})
            return OCSP_STATUS.get(row, OcspStatus.UNKNOWN)

        limit = min(OCSP_REQUEST_LIMIT, settings_of(self.container).max_body_bytes)
        self.responder = OcspResponder(status_of, request_limit=limit, follower=follower)

    def get_dependency(self, worker_ctx):
        return self.responder

    def respond_early(self, environ: dict) -> Wsgi | None:
        return self.responder.respond_early(environ)
