"""SCEP (RFC 8894) for device enrollment endpoints of type `scep` (issue 16): entrypoints mixed into
EnrollmentService. The gateway passes `/scep/<endpoint>` requests here as envelopes (gateway/api_scep.py)
{method, path (the endpoint's URI extension), query (raw), headers, body_b64} and returns the answer
{status, headers, body_b64} unchanged.

Operations (the `operation` query parameter):
- GetCACaps: what scep_codec offers, one capability a line (text/plain);
- GetCACert: the RA certificate, the endpoint's issuing CA and its parents up to the root, as a degenerate
  PKCS#7 (application/x-x509-ca-ra-cert; a SET OF, so in DER's order: clients tell the RA — not a CA — apart);
- PKIOperation, over GET (base64 `message`, either alphabet, a bare '+' kept) and POST (the DER body —
  application/x-pki-message, or application/octet-stream as scepclient sends it; base64 when the client says
  Content-Transfer-Encoding: base64): PKCSReq with the endpoint's challenge
  password or a one-time challenge (device_protocols._check_device_secret), RenewalReq signed with a certificate
  the endpoint issued (no challenge), CertPoll (GetCertInitial) by transactionID. GetCert and GetCRL answer
  FAILURE badRequest (a certificate's CRL is at its CRL distribution point).

The RA: one RSA-2048 key and certificate (keyUsage digitalSignature + keyEncipherment, from the CA's
`issue_service_certificate`) per issuing CA, made at the first request that needs it and kept in the
`scep_ra_keys` table (PKCS#8, not encrypted: the server uses it on every request, as it does ACME's EAB keys; a
replica racing to make it loses the insert and reads the winner's); a new one is made
when the kept one is within RA_RENEW_BEFORE of its end or was issued by another CA certificate. Devices encrypt
their requests to it and verify its signature on each CertRep.

Resends: scepclient sends the same message again every 30 s while PENDING. A request's certificate id is derived
from the message (endpoint, transactionID, messageType, the CSR's SHA-256, the signer certificate's SHA-256), so a
resend is answered from the request the first one made — without checking its challenge again (a one-time
challenge is used up by the first message) and without a second certificate.

Answers: a message with no signer to answer (not a SignedData …) is HTTP 400 text/plain with the reason; every
other outcome of a PKIOperation is a CertRep: SUCCESS (issued/downloaded), PENDING (awaiting approval or being
issued), FAILURE with badRequest (a wrong or missing challenge, a refused request: the reason is in failInfoText,
nothing is issued), badMessageCheck (a signature that does not verify, an envelope not for this RA), badAlg,
badTime (a new request whose signingTime is more than SIGNING_TIME_TOLERANCE from the server's clock), badCertId
(CertPoll for an unknown transaction). No such endpoint (or not of type scep): 404; a disabled one: 403; the CA
not answering (to make the RA, or the chain): 503 with Retry-After. All of those are text/plain.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import threading
import time
import urllib.parse
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
import structlog
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from nameko.rpc import rpc

from contracts.errors import EXPECTED, Conflict, DomainError, Forbidden, NotFound, Unauthenticated
from services.enrollment import scep_codec as codec
from services.enrollment.device_protocols import message_cert_id, protocol_failure
from services.runtime.kept_secrets import KeptSecretsProvider

log = structlog.get_logger(__name__)

PROTOCOL = "scep"
RA_DAYS = 365
RA_RENEW_BEFORE = timedelta(days=30)
RA_COMMON_NAME = "Certplane SCEP RA"
SIGNING_TIME_TOLERANCE = timedelta(hours=24)
CHAIN_SECONDS = 60.0
TEXT = "text/plain; charset=utf-8"
CA_RA_CERT = "application/x-x509-ca-ra-cert"
PKI_MESSAGE = "application/x-pki-message"
POST_TYPES = ("application/x-pki-message", "application/octet-stream", "")   # scepclient sends octet-stream
PENDING_STATUSES = ("requested", "approved", "applied")
SUCCESS_STATUSES = ("issued", "downloaded")


@dataclass(frozen=True)
class Ra:
    key: rsa.RSAPrivateKey
    cert_der: bytes
    not_after: datetime
    issuer_der: bytes               # the issuing CA certificate it was made under


class _Answer(Exception):
    """An HTTP answer that is not a CertRep (a 400/404/403/415 text)."""

    def __init__(self, status: int, text: str):
        super().__init__(text)
        self.status, self.text = status, text


_RA_CACHE: dict[str, Ra] = {}          # the kept row's certificate SHA-256 -> the parsed RA (keys parse slowly)
_CHAIN_CACHE: dict[str, tuple[float, list[str]]] = {}     # ca_id or "default" -> (monotonic time, chain PEMs)
_RA_LOCK = threading.Lock()


class ScepEntrypoints:
    """Mixed into EnrollmentService: uses its store, context, ca_rpc, get_profile, _call and DeviceProtocols."""

    # the RA's key and certificate per issuing CA ({ca_id or "default"}: key PEM, certificate PEM, not_after)
    scep_ra_keys = KeptSecretsProvider("scep_ra_keys")

    @rpc(expected_exceptions=EXPECTED)
    def scep_request(self, envelope: dict) -> dict:
        query = {}
        try:
            query = scep_query(str(envelope.get("query") or ""))
            status, content_type, body = self._scep_answer(envelope, query)
        except _Answer as answer:
            status, content_type, body = answer.status, TEXT, (answer.text + "\n").encode()
        except NotFound:
            status, content_type, body = 404, TEXT, b"no SCEP endpoint has this URL\n"
        except Forbidden as exc:
            status, content_type, body = 403, TEXT, f"{exc.message}\n".encode()
        except (DomainError, TimeoutError) as exc:     # the CA did not answer, or would not make the RA
            log.warning("scep_request_unavailable", operation=query.get("operation"), error=type(exc).__name__,
                        code=getattr(exc, "code", None))
            status, content_type = 503, TEXT
            body = f"the SCEP service cannot answer now ({getattr(exc, 'code', type(exc).__name__)}); try again " \
                   "shortly\n".encode()
        except Exception:                       # noqa: BLE001 — a bug is a 500 text, logged, never a traceback
            log.exception("scep_request_failed", operation=query.get("operation"))
            status, content_type, body = 500, TEXT, b"the server failed on this request; try again\n"
        headers = {"Content-Type": content_type, **({"Retry-After": "5"} if status == 503 else {})}
        return {"status": status, "headers": headers, "body_b64": base64.b64encode(body).decode()}

    def _scep_answer(self, envelope: dict, query: dict) -> tuple[int, str, bytes]:
        operation = query.get("operation")
        if operation not in ("GetCACaps", "GetCACert", "PKIOperation"):
            raise _Answer(400, "the operation query parameter must be GetCACaps, GetCACert or PKIOperation"
                          + (f", not {operation[:40]!r}" if operation else ""))
        endpoint = self._protocol_endpoint(str(envelope.get("path") or ""), PROTOCOL)
        if operation == "GetCACaps":
            return 200, TEXT, ("\n".join(codec.CAPABILITIES) + "\n").encode()
        ra, chain = self._scep_ra(endpoint)
        if operation == "GetCACert":
            certificates = [ra.cert_der] + [_der(pem) for pem in chain]
            return 200, CA_RA_CERT, codec.degenerate(certificates)
        der = _pki_message(envelope, query)
        now = self.store.clock()
        try:
            request = codec.read_request(der, ra.key, ra.cert_der)
        except codec.Unreadable as exc:
            log.info("scep_message_unreadable", endpoint_id=endpoint["endpoint_id"], reason=str(exc)[:200])
            raise _Answer(400, f"not a SCEP pkiMessage: {exc}") from None
        except codec.Refused as refused:
            return self._scep_reply(endpoint, refused.message, ra, now, codec.PkiStatus.FAILURE,
                                    refused.fail_info, refused.reason)
        message = request.message
        status, fail_info, reason, certificate = self._scep_outcome(endpoint, request, now)
        cipher = codec.reply_cipher(request.cipher)
        return self._scep_reply(endpoint, message, ra, now, status, fail_info, reason, certificate, cipher)

    def _scep_reply(self, endpoint: dict, message: codec.PkiMessage, ra: Ra, now: datetime,
                    status: codec.PkiStatus, fail_info: codec.FailInfo | None = None, reason: str | None = None,
                    certificate: bytes | None = None, cipher: str | None = None) -> tuple[int, str, bytes]:
        log.info("scep_cert_rep", endpoint_id=endpoint["endpoint_id"], message_type=message.message_type,
                 transaction_id=message.transaction_id[:64], pki_status=status.name,
                 fail_info=codec.FAIL_NAMES[fail_info] if fail_info else None)
        body = codec.cert_rep(message, status, ra.key, ra.cert_der, now, fail_info=fail_info, reason=reason,
                              certificates=[certificate] if certificate else (), cipher=cipher)
        return 200, PKI_MESSAGE, body

    # ---- the requests -------------------------------------------------------------------------------------
    def _scep_outcome(self, endpoint: dict, request: codec.Request, now: datetime):
        """(pkiStatus, failInfo, reason, the issued certificate's DER) for an opened request."""
        message = request.message
        if message.message_type == codec.MessageType.CERT_POLL:
            found = self._device_cert_by_ref(endpoint["endpoint_id"], message.transaction_id)
            if found is None:
                return (codec.PkiStatus.FAILURE, codec.FailInfo.BAD_CERT_ID,
                        "no request of this endpoint has this transactionID", None)
            return self._scep_status(found)
        if message.message_type not in codec.CSR_REQUESTS:
            return (codec.PkiStatus.FAILURE, codec.FailInfo.BAD_REQUEST,
                    "GetCert and GetCRL are not offered: a certificate's CRL is at its CRL distribution point", None)
        csr_sha256 = hashlib.sha256(request.csr_der).hexdigest()
        cert_id = message_cert_id(endpoint["endpoint_id"], message.transaction_id, str(message.message_type),
                                  csr_sha256, message.signer_sha256)
        existing = self._existing_cert(cert_id)
        if existing is not None:                      # a resend: answered from the first message's request
            return self._scep_status(existing)
        try:
            codec.check_signing_time(message, now, SIGNING_TIME_TOLERANCE)
        except codec.Refused as refused:
            return codec.PkiStatus.FAILURE, refused.fail_info, refused.reason, None
        requested_by = f"{PROTOCOL}:{endpoint['endpoint_id']}"
        protocol_ref = message.transaction_id
        try:
            if message.message_type == codec.MessageType.PKCS_REQ:
                self._check_device_secret(endpoint, request.challenge_password, PROTOCOL, cert_id)
                cert = self._device_enroll(endpoint, request.csr_pem, cert_id, PROTOCOL, protocol_ref, requested_by)
            else:
                cert = self._device_renew(endpoint, message.signer_sha256, request.csr_pem, cert_id, PROTOCOL,
                                          protocol_ref, requested_by)
        except Unauthenticated as exc:
            log.info("scep_challenge_refused", endpoint_id=endpoint["endpoint_id"], reason=exc.message[:120])
            return codec.PkiStatus.FAILURE, codec.FailInfo.BAD_REQUEST, exc.message, None
        except Conflict as exc:
            if exc.code != "concurrent_update":
                return codec.PkiStatus.FAILURE, codec.FailInfo.BAD_REQUEST, protocol_failure(exc), None
            return codec.PkiStatus.PENDING, None, None, None       # a resend raced the first message: again
        except DomainError as exc:
            log.info("scep_request_refused", endpoint_id=endpoint["endpoint_id"], code=exc.code)
            return codec.PkiStatus.FAILURE, codec.FailInfo.BAD_REQUEST, protocol_failure(exc), None
        return self._scep_status(cert)

    def _scep_status(self, cert: dict):
        """(pkiStatus, failInfo, reason, the certificate's DER on SUCCESS) of a device certificate."""
        status, fail_info, reason = pki_status_of(cert)
        if status == codec.PkiStatus.SUCCESS:
            return status, None, None, _der(self.cert_pem(cert["cert_id"])["certificate_pem"])
        return status, fail_info, reason, None

    # ---- the RA ---------------------------------------------------------------------------------------------
    def _scep_ra(self, endpoint: dict) -> tuple[Ra, list[str]]:
        """The RA of the endpoint's issuing CA, made on first use and when it is due, and the CA chain (PEMs,
        issuing CA first). The chain is asked of the CA at most every CHAIN_SECONDS per CA: every enrollment
        asks GetCACert and PKIOperation, and a CA certificate changes rarely."""
        ca_id = self.get_profile(endpoint["profile_ids"][0]).get("ca_id")
        ca_ref = str(ca_id or "default")
        moment = time.monotonic()
        cached = _CHAIN_CACHE.get(ca_ref)
        if cached is None or moment - cached[0] > CHAIN_SECONDS:
            cached = (moment, list(self._endpoint_chain(endpoint)))
            _CHAIN_CACHE[ca_ref] = cached
        chain = cached[1]
        issuer_der = _der(chain[0])
        now = self.store.clock()
        kept = self.scep_ra_keys.get(ca_ref)
        ra = _ra_of(kept) if kept else None
        if ra is None or ra.issuer_der != issuer_der or ra.not_after - RA_RENEW_BEFORE <= now:
            ra = self._new_scep_ra(ca_ref, ca_id, issuer_der, kept)
        return ra, chain

    def _new_scep_ra(self, ca_ref: str, ca_id: str | None, issuer_der: bytes, replacing: dict | None) -> Ra:
        """A new RA key and certificate, kept unless another replica kept one first (then that one)."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        csr = (x509.CertificateSigningRequestBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, RA_COMMON_NAME)]))
               .sign(key, hashes.SHA256()))
        issued = self._call(self.ca_rpc.issue_service_certificate, {
            "purpose": "scep_ra", "csr_pem": csr.public_bytes(serialization.Encoding.PEM).decode(),
            "common_name": RA_COMMON_NAME, "ca_id": ca_id, "days": RA_DAYS})
        value = {"key_pem": key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()).decode(),
                 "certificate_pem": issued["certificate_pem"], "issuer_pem": issued["chain_pem"][0],
                 "not_after": issued["not_after"]}
        if _der(value["issuer_pem"]) != issuer_der:
            log.warning("scep_ra_issuer_differs", ca_ref=ca_ref)
        table = self.scep_ra_keys.table
        try:
            with self.scep_ra_keys.db.writer() as conn, conn.begin():
                current = conn.execute(sa.select(table.c.value).where(table.c.key == ca_ref)
                                       .with_for_update()).scalar()
                if current is None:
                    conn.execute(table.insert().values(key=ca_ref, value=value))
                    won = True
                elif replacing is not None and current.get("certificate_pem") == replacing.get("certificate_pem"):
                    conn.execute(table.update().where(table.c.key == ca_ref).values(value=value))
                    won = True
                else:                    # a replica kept one (or replaced the one we read) a moment earlier
                    won = False
        except sa.exc.IntegrityError:    # a replica inserted the first one at the same moment
            won = False
        if not won:
            kept = self.scep_ra_keys.get(ca_ref)
            if kept:
                log.info("scep_ra_raced", ca_ref=ca_ref)
                return _ra_of(kept)
        log.info("scep_ra_created", ca_ref=ca_ref, serial=issued["serial"], not_after=issued["not_after"])
        return _ra_of(value)


# ---- pure helpers -------------------------------------------------------------------------------------------
def scep_query(raw: str) -> dict:
    """The query parameters of a SCEP request. `message` keeps its '+' (a client that does not percent-encode
    base64 sends them bare; form decoding would make them spaces); a parameter sent twice is a 400."""
    found: dict[str, str] = {}
    for part in raw.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        name = urllib.parse.unquote_plus(name)
        if name in found:
            raise _Answer(400, f"the query parameter {name[:40]!r} is sent more than once")
        found[name] = urllib.parse.unquote(value) if name == "message" else urllib.parse.unquote_plus(value)
    return found


def pki_status_of(cert: dict) -> tuple[codec.PkiStatus, codec.FailInfo | None, str | None]:
    """A device certificate (CertificateV1) as SCEP says its state: issued → SUCCESS; awaiting approval or being
    issued → PENDING (the device asks again); declined, failed, revoked, expired → FAILURE badRequest, why."""
    status = cert["status"]
    if status in SUCCESS_STATUSES:
        return codec.PkiStatus.SUCCESS, None, None
    if status in PENDING_STATUSES:
        return codec.PkiStatus.PENDING, None, None
    why = cert.get("declined_reason") or cert.get("last_error")
    return codec.PkiStatus.FAILURE, codec.FailInfo.BAD_REQUEST, f"the request is {status}" + (f": {why}" if why else "")


def _pki_message(envelope: dict, query: dict) -> bytes:
    """The pkiMessage's DER: the POST body, or GET's base64 `message` (either alphabet, padding optional)."""
    method = str(envelope.get("method") or "GET").upper()
    if method == "POST":
        content_type = str((envelope.get("headers") or {}).get("content-type") or "").split(";")[0].strip().lower()
        if content_type not in POST_TYPES:
            raise _Answer(415, f"a PKIOperation body is {PKI_MESSAGE} (DER), not {content_type[:60]}")
        der = base64.b64decode(envelope.get("body_b64") or "")
        encoding = str((envelope.get("headers") or {}).get("content-transfer-encoding") or "").strip().lower()
        if encoding == "base64":                  # some clients send the body base64 and say so
            try:
                der = base64.b64decode(b"".join(der.split()), validate=True)
            except (binascii.Error, ValueError):
                raise _Answer(400, "the body says Content-Transfer-Encoding: base64 but is not base64") from None
    else:
        text = "".join(str(query.get("message") or "").split())            # base64 wrapped in lines too
        text = text.replace("-", "+").replace("_", "/")                         # scepclient's URL-safe alphabet
        try:
            der = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
        except (binascii.Error, ValueError):
            raise _Answer(400, "the message query parameter is not base64") from None
    if not der:
        raise _Answer(400, "PKIOperation needs a pkiMessage: the POST body, or the base64 message parameter")
    if len(der) > codec.MAX_MESSAGE:
        raise _Answer(413, f"the pkiMessage is larger than {codec.MAX_MESSAGE} bytes")
    return der


def _ra_of(kept: dict) -> Ra:
    fingerprint = hashlib.sha256(kept["certificate_pem"].encode()).hexdigest()
    with _RA_LOCK:
        cached = _RA_CACHE.get(fingerprint)
    if cached is not None:
        return cached
    certificate = x509.load_pem_x509_certificate(kept["certificate_pem"].encode())
    ra = Ra(serialization.load_pem_private_key(kept["key_pem"].encode(), password=None),
            certificate.public_bytes(serialization.Encoding.DER), certificate.not_valid_after_utc,
            _der(kept["issuer_pem"]))
    with _RA_LOCK:
        _RA_CACHE[fingerprint] = ra
    return ra


def _der(pem: str) -> bytes:
    return x509.load_pem_x509_certificate(pem.encode()).public_bytes(serialization.Encoding.DER)
