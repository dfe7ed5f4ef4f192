"""EST (RFC 7030, RFC 8951) for device enrollment endpoints of type `est` (issue 16): entrypoints mixed into
EnrollmentService. The gateway passes `/.well-known/est/...` requests here as envelopes (gateway/api_est.py)
{method, path ("<uri_extension>/<operation>" or "<operation>"), query, headers, body_b64, client_cert_b64} and
returns the answer {status, headers, body_b64} unchanged.

Operations:
- cacerts (GET, no authentication): the endpoint's CA chain as a certs-only PKCS#7, base64
  (application/pkcs7-mime, Content-Transfer-Encoding: base64);
- simpleenroll (POST, a base64 PKCS#10 — line breaks allowed, RFC 8951): authenticated with HTTP Basic (the
  endpoint's username and password; a one-time challenge as the password, any username) or with the TLS client
  certificate of an earlier enrollment of the endpoint's organization. No credential: 401 with
  `WWW-Authenticate: Basic realm="certplane-est"`; a wrong one: 401 too, nothing issued;
- simplereenroll (POST): the TLS client certificate (one this endpoint's organization was issued, in use) is
  renewed with the new CSR; without one 401;
- csrattrs (GET): the CSR attributes the profile wants (RFC 7030 §4.5.2: challengePassword, the key types it
  allows, the signature algorithms), base64 DER;
- serverkeygen (POST): the server makes the key (P-256 when the profile allows ec-p256, else its smallest RSA) and a CSR
  with the request's subject and SANs, enrolls it as simpleenroll does, and answers multipart/mixed: the key
  (application/pkcs8, unencrypted PKCS#8) and the certificate. Asking for an encrypted key is refused (400).

Answers: issued → 200 certs-only PKCS#7 (base64); awaiting approval or being issued → 202 + Retry-After: 60 (the
device sends the same request again: its certificate id is derived from the endpoint and the CSR, so the resend is
the same request, answered without its credential being checked again); declined or failed → 400 text with the
reason. Bad input (not base64, not a CSR, too large) → 400 text, nothing issued; refusals (names not delegated,
lint) → their status, text. The CA not answering → 503 + Retry-After.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import secrets

import structlog
from asn1crypto import core
from asn1crypto import csr as asn1_csr
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from nameko.rpc import rpc

from contracts.errors import EXPECTED, DomainError, Forbidden, NotFound, Unauthenticated
from services.enrollment import scep_codec as codec
from services.enrollment.csr import parse_csr
from services.enrollment.device_protocols import message_cert_id, protocol_failure

log = structlog.get_logger(__name__)

PROTOCOL = "est"
TEXT = "text/plain; charset=utf-8"
PKCS7 = "application/pkcs7-mime"
CERTS_ONLY = "application/pkcs7-mime; smime-type=certs-only"
REALM = 'Basic realm="certplane-est"'
MAX_BODY = 64 * 1024
RETRY_AFTER = "60"
PENDING_STATUSES = ("requested", "approved", "applied")
SUCCESS_STATUSES = ("issued", "downloaded")
OPERATIONS = {"cacerts": "GET", "csrattrs": "GET", "simpleenroll": "POST", "simplereenroll": "POST",
              "serverkeygen": "POST"}
ENCRYPTED_KEY_OIDS = ("1.2.840.113549.1.9.16.2.37", "1.2.840.113549.1.9.16.2.54")
CURVES = {"ec-p256": "1.2.840.10045.3.1.7", "ec-p384": "1.3.132.0.34", "ec-p521": "1.3.132.0.35"}


class _Answer(Exception):
    """An EST answer that is text: its status, text and headers."""

    def __init__(self, status: int, text: str, headers: dict | None = None):
        super().__init__(text)
        self.status, self.text, self.headers = status, text, headers or {}


# ---- CsrAttrs (RFC 7030 §4.5.2) ------------------------------------------------------------------------------
class _AnySet(core.SetOf):
    _child_spec = core.Any


class _Attribute(core.Sequence):
    _fields = [("type", core.ObjectIdentifier), ("values", _AnySet)]


class _AttrOrOid(core.Choice):
    _alternatives = [("oid", core.ObjectIdentifier), ("attribute", _Attribute)]


class CsrAttrs(core.SequenceOf):
    _child_spec = _AttrOrOid


def csr_attrs(key_types) -> bytes:
    """The DER CsrAttrs for a profile allowing `key_types`: challengePassword, id-ecPublicKey with the curves
    allowed, rsaEncryption when RSA is, and the signature algorithms to use."""
    items = [_AttrOrOid(name="oid", value=core.ObjectIdentifier("1.2.840.113549.1.9.7"))]
    curves = [CURVES[k] for k in key_types if k in CURVES]
    if curves:
        items.append(_AttrOrOid(name="attribute", value=_Attribute({
            "type": "1.2.840.10045.2.1", "values": [core.ObjectIdentifier(c) for c in curves]})))
        items.append(_AttrOrOid(name="oid", value=core.ObjectIdentifier("1.2.840.10045.4.3.2")))
    if any(k.startswith("rsa-") for k in key_types):
        items.append(_AttrOrOid(name="oid", value=core.ObjectIdentifier("1.2.840.113549.1.1.1")))
        items.append(_AttrOrOid(name="oid", value=core.ObjectIdentifier("1.2.840.113549.1.1.11")))
    return CsrAttrs(items).dump()


class EstEntrypoints:
    """Mixed into EnrollmentService: uses its store, get_profile, cert_pem, _call and DeviceProtocols."""

    @rpc(expected_exceptions=EXPECTED)
    def est_request(self, envelope: dict) -> dict:
        operation = None
        try:
            label, operation = self._est_path(str(envelope.get("path") or ""))
            status, headers, body = self._est_answer(envelope, label, operation)
        except _Answer as answer:
            status, headers, body = answer.status, {"Content-Type": TEXT, **answer.headers}, \
                (answer.text + "\n").encode()
        except NotFound:
            status, headers, body = 404, {"Content-Type": TEXT}, b"no EST endpoint has this URL\n"
        except (DomainError, TimeoutError) as exc:
            if isinstance(exc, DomainError) and exc.http_status < 500:
                status, headers = exc.http_status, {"Content-Type": TEXT}
                if status == 401:
                    headers["WWW-Authenticate"] = REALM
                body = (protocol_failure(exc) + "\n").encode()
            else:
                log.warning("est_request_unavailable", operation=operation, error=type(exc).__name__)
                status, headers = 503, {"Content-Type": TEXT, "Retry-After": "5"}
                body = b"the EST service cannot answer now; try again shortly\n"
        except Exception:                       # noqa: BLE001 — a bug is a 500 text, logged, never a traceback
            log.exception("est_request_failed", operation=operation)
            status, headers, body = 500, {"Content-Type": TEXT}, b"the server failed on this request; try again\n"
        return {"status": status, "headers": headers, "body_b64": base64.b64encode(body).decode()}

    def _est_path(self, path: str) -> tuple[str, str]:
        parts = [p for p in path.split("/") if p]
        if len(parts) == 1:
            label = self.context.settings.est_default_endpoint
            if not label:
                raise _Answer(404, "name the endpoint: /.well-known/est/<endpoint>/<operation> (no default "
                                   "EST endpoint is configured)")
            return label, parts[0]
        if len(parts) != 2:
            raise NotFound("no such EST URL")
        return parts[0], parts[1]

    def _est_answer(self, envelope: dict, label: str, operation: str) -> tuple[int, dict, bytes]:
        if operation not in OPERATIONS:
            raise _Answer(404, f"no EST operation {operation[:40]!r}: cacerts, simpleenroll, simplereenroll, "
                               "csrattrs or serverkeygen")
        method = str(envelope.get("method") or "GET").upper()
        if method != OPERATIONS[operation]:
            raise _Answer(405, f"{operation} is {OPERATIONS[operation]}", {"Allow": OPERATIONS[operation]})
        endpoint = self._protocol_endpoint(label, PROTOCOL)
        if operation == "cacerts":
            chain = self._endpoint_chain(endpoint)
            return 200, {"Content-Type": PKCS7, "Content-Transfer-Encoding": "base64"}, \
                _b64(codec.degenerate([_der(pem) for pem in chain]))
        if operation == "csrattrs":
            profile = self.get_profile(endpoint["profile_ids"][0])
            return 200, {"Content-Type": "application/csrattrs", "Content-Transfer-Encoding": "base64"}, \
                _b64(csr_attrs(profile.get("key_types") or ()))
        csr_der = _request_csr(envelope)
        client_der = _client_cert(envelope)
        endpoint_id = endpoint["endpoint_id"]
        requested_by = f"{PROTOCOL}:{endpoint_id}"
        if operation == "simplereenroll":
            if client_der is None:
                raise _Answer(401, "simplereenroll needs the TLS client certificate to renew", {
                    "WWW-Authenticate": REALM})
            current = hashlib.sha256(client_der).hexdigest()
            cert_id = message_cert_id(endpoint_id, "simplereenroll", current, hashlib.sha256(csr_der).hexdigest())
            cert = self._device_renew(endpoint, current, _pem(csr_der), cert_id, PROTOCOL, None, requested_by)
            return self._est_certificate(cert)
        key = None
        if operation == "serverkeygen":
            key, csr_der = self._est_server_key(endpoint, csr_der)
        # serverkeygen: the CSR is the one made with the new key, so each request is a new one
        cert_id = message_cert_id(endpoint_id, operation, hashlib.sha256(csr_der).hexdigest())
        existing = self._existing_cert(cert_id)
        if existing is None:
            self._est_authenticate(endpoint, envelope, client_der, cert_id)
            existing = self._device_enroll(endpoint, _pem(csr_der), cert_id, PROTOCOL, None, requested_by)
        return self._est_certificate(existing, key)

    def _est_authenticate(self, endpoint: dict, envelope: dict, client_der: bytes | None, cert_id: str) -> None:
        authorization = str((envelope.get("headers") or {}).get("authorization") or "")
        if authorization:
            scheme, _, value = authorization.partition(" ")
            if scheme.lower() != "basic":
                raise _Answer(401, "send HTTP Basic credentials", {"WWW-Authenticate": REALM})
            try:
                user, sep, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                sep, password = "", ""
            if not sep:
                raise _Answer(401, "the Basic credentials are not base64 user:password", {"WWW-Authenticate": REALM})
            checked = self._check_device_secret(endpoint, password, PROTOCOL, cert_id)
            if checked["via"] == "endpoint" and user != endpoint["uri_extension"]:
                # the endpoint's own password goes with its username (a one-time challenge: any username)
                raise _Answer(401, "wrong username for the endpoint's password", {"WWW-Authenticate": REALM})
            return
        if client_der is not None:
            try:
                self._renewable(endpoint, hashlib.sha256(client_der).hexdigest())
                return
            except Forbidden as exc:
                raise _Answer(401, f"the client certificate does not authenticate here: {exc.message}", {
                    "WWW-Authenticate": REALM}) from None
        raise Unauthenticated("the endpoint's username and password (HTTP Basic), a one-time challenge, or the "
                              "client certificate of an earlier enrollment is needed", code="wrong_credentials")

    def _est_server_key(self, endpoint: dict, csr_der: bytes):
        """The key the server makes, and a CSR for it with the request's subject and SANs."""
        request = asn1_csr.CertificationRequest.load(csr_der)
        for attribute in request["certification_request_info"]["attributes"]:
            if attribute["type"].dotted in ENCRYPTED_KEY_OIDS:
                raise _Answer(400, "encrypted server-generated keys are not supported")
        profile = self.get_profile(endpoint["profile_ids"][0])
        if profile.get("requires_approval"):        # the key would have to be kept while the request waits
            raise _Answer(400, "serverkeygen needs a profile that issues without approval: the server does not "
                               "keep a key while its request waits; use simpleenroll")
        key_types = profile.get("key_types") or ()
        key = _server_key(key_types)
        template = x509.load_der_x509_csr(csr_der)
        builder = x509.CertificateSigningRequestBuilder().subject_name(template.subject)
        try:
            san = template.extensions.get_extension_for_class(x509.SubjectAlternativeName)
            builder = builder.add_extension(san.value, critical=False)
        except x509.ExtensionNotFound:
            pass
        made = builder.sign(key, hashes.SHA256())
        return key, made.public_bytes(serialization.Encoding.DER)

    def _est_certificate(self, cert: dict, key=None) -> tuple[int, dict, bytes]:
        status = cert["status"]
        if status in SUCCESS_STATUSES:
            der = _der(self.cert_pem(cert["cert_id"])["certificate_pem"])
            certs = _b64(codec.degenerate([der]))
            if key is None:
                return 200, {"Content-Type": CERTS_ONLY, "Content-Transfer-Encoding": "base64"}, certs
            pkcs8 = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())
            boundary = "est-" + secrets.token_hex(12)
            body = (f"--{boundary}\r\nContent-Type: application/pkcs8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
                    ).encode() + _b64(pkcs8) + (
                f"\r\n--{boundary}\r\nContent-Type: {CERTS_ONLY}\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            ).encode() + certs + f"\r\n--{boundary}--\r\n".encode()
            return 200, {"Content-Type": f"multipart/mixed; boundary={boundary}"}, body
        if status in PENDING_STATUSES:
            if key is not None:
                raise _Answer(400, "serverkeygen needs a profile that issues without approval (the key is not "
                                   "kept while a request waits)")
            raise _Answer(202, f"the request awaits approval ({status}); send it again later",
                          {"Retry-After": RETRY_AFTER})
        reason = cert.get("declined_reason") or cert.get("last_error") or status
        raise _Answer(400, f"the request was {status}: {reason}")


def _request_csr(envelope: dict) -> bytes:
    """The PKCS#10 DER of the body: base64 (line breaks allowed, RFC 8951). 400 with the reason otherwise."""
    raw = base64.b64decode(str(envelope.get("body_b64") or ""))
    if len(raw) > MAX_BODY:
        raise _Answer(413, f"the request body is over {MAX_BODY} bytes")
    content_type = str((envelope.get("headers") or {}).get("content-type") or "").split(";")[0].strip().lower()
    if content_type not in ("application/pkcs10", ""):
        raise _Answer(415, f"the body must be application/pkcs10 (base64), not {content_type[:60]}")
    if not raw.strip():
        raise _Answer(400, "the body is empty: send a base64 PKCS#10 CSR")
    try:
        der = base64.b64decode(b"".join(raw.split()), validate=True)
    except (binascii.Error, ValueError):
        raise _Answer(400, "the body is not base64 (EST sends the PKCS#10 base64-encoded)") from None
    parse_csr(der)                  # InvalidRequest (400) with the reason: not a CSR, a bad signature …
    return der


def _server_key(key_types):
    """P-256 when the profile allows it, else the smallest RSA key it allows (RSA-2048 as a rule), else P-384."""
    if "ec-p256" in key_types:
        return ec.generate_private_key(ec.SECP256R1())
    sizes = sorted(int(k.split("-")[1]) for k in key_types if k.startswith("rsa-"))
    if sizes:
        return rsa.generate_private_key(65537, sizes[0])
    return ec.generate_private_key(ec.SECP384R1() if "ec-p384" in key_types else ec.SECP521R1())


def _client_cert(envelope: dict) -> bytes | None:
    value = envelope.get("client_cert_b64")
    return base64.b64decode(value) if value else None


def _b64(der: bytes) -> bytes:
    return base64.encodebytes(der)


def _der(pem: str) -> bytes:
    return x509.load_pem_x509_certificate(pem.encode()).public_bytes(serialization.Encoding.DER)


def _pem(csr_der: bytes) -> str:
    return "-----BEGIN CERTIFICATE REQUEST-----\n" + base64.encodebytes(csr_der).decode() + \
        "-----END CERTIFICATE REQUEST-----\n"
