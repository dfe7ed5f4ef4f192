"""gateway.ocsp: when a signed OCSP response may be answered again from memory, and when the ca must sign anew.
Real DER requests and responses (cryptography), a fixed clock, the read model's status given by the test."""
import datetime as dt
import io

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID

from gateway.ocsp import (HTTP_MAX_AGE, MISSED, CertId, OcspResponder, ResponseCache, cacheable_cert_id, signed_answer)

DER = serialization.Encoding.DER
NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.timezone.utc)
VALIDITY = dt.timedelta(hours=12)
STATUS = {"good": ocsp.OCSPCertStatus.GOOD, "revoked": ocsp.OCSPCertStatus.REVOKED,
          "unknown": ocsp.OCSPCertStatus.UNKNOWN}


@pytest.fixture(scope="module")
def ca():
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Unit Issuing CA")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(NOW - dt.timedelta(days=1)).not_valid_after(NOW + dt.timedelta(days=9))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True).sign(key, hashes.SHA256()))
    return cert, key


def request_der(ca, serial: int, nonce: bytes | None = None) -> bytes:
    cert, _key = ca
    name_hash = hashes.Hash(hashes.SHA1())
    name_hash.update(cert.subject.public_bytes())
    builder = ocsp.OCSPRequestBuilder().add_certificate_by_hash(
        name_hash.finalize(), x509.SubjectKeyIdentifier.from_public_key(cert.public_key()).digest, serial,
        hashes.SHA1())
    if nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    return builder.build().public_bytes(DER)


def _tlv(der: bytes, at: int = 0) -> tuple[int, int]:
    """(start of the content, end) of the DER element at `at`."""
    length = der[at + 1]
    if length < 0x80:
        return at + 2, at + 2 + length
    size = length & 0x7F
    return at + 2 + size, at + 2 + size + int.from_bytes(der[at + 2:at + 2 + size], "big")


def _seq(content: bytes) -> bytes:
    n = len(content)
    length = bytes([n]) if n < 0x80 else b"\x81" + bytes([n]) if n < 0x100 else b"\x82" + n.to_bytes(2, "big")
    return b"\x30" + length + content


def two_cert_ids(ca, first: int, second: int) -> bytes:
    """An OCSPRequest asking about two serials (cryptography's builder makes only one CertID)."""
    requests = []
    for serial in (first, second):
        der = request_der(ca, serial)
        tbs = _tlv(der)[0]                       # OCSPRequest -> tbsRequest
        request_list = _tlv(der, tbs)[0]         # tbsRequest -> requestList
        start, end = _tlv(der, request_list)     # requestList -> the one Request
        requests.append(der[request_list:end])
    return _seq(_seq(_seq(b"".join(requests))))


def response_der(ca, request: bytes, status: str, this_update=NOW, echo_nonce=True, serial=None) -> bytes:
    """What the ca answers: signed by the issuing CA, nextUpdate 12 h on, the nonce echoed."""
    cert, key = ca
    parsed = ocsp.load_der_ocsp_request(request)
    builder = ocsp.OCSPResponseBuilder().add_response_by_hash(
        issuer_name_hash=parsed.issuer_name_hash, issuer_key_hash=parsed.issuer_key_hash,
        serial_number=parsed.serial_number if serial is None else serial, algorithm=hashes.SHA1(),
        cert_status=STATUS[status], this_update=this_update, next_update=this_update + VALIDITY,
        revocation_time=this_update - dt.timedelta(hours=1) if status == "revoked" else None,
        revocation_reason=None).responder_id(ocsp.OCSPResponderEncoding.HASH, cert)
    try:
        nonce = parsed.extensions.get_extension_for_class(x509.OCSPNonce).value
        if echo_nonce:
            builder = builder.add_extension(nonce, critical=False)
    except x509.ExtensionNotFound:
        pass
    return builder.sign(key, hashes.SHA256()).public_bytes(DER)


class FakeCa:
    """The `ca.ocsp` RPC as the responder sees it: the status it signs is set by the test; calls are counted."""

    def __init__(self, ca, status="good"):
        self.ca, self.status, self.calls = ca, status, 0
        self.unauthorized = False
        self.this_update = NOW

    def __call__(self, der: bytes) -> bytes:
        self.calls += 1
        if self.unauthorized:
            return ocsp.OCSPResponseBuilder.build_unsuccessful(ocsp.OCSPResponseStatus.UNAUTHORIZED).public_bytes(DER)
        return response_der(self.ca, der, self.status, this_update=self.this_update)


class Clock:
    def __init__(self):
        self.now = NOW

    def __call__(self):
        return self.now


@pytest.fixture
def world(ca):
    statuses: dict[int, str] = {}
    clock = Clock()
    responder = OcspResponder(lambda serial: statuses.get(serial, "unknown"), clock=clock)
    return responder, statuses, FakeCa(ca), clock


# ---- which requests may be answered from the cache -----------------------------------------------------------

def test_a_request_with_one_cert_id_and_no_nonce_is_cacheable_by_its_cert_id(ca):
    cert_id = cacheable_cert_id(request_der(ca, 0x1234))
    assert cert_id is not None and cert_id.serial == 0x1234 and cert_id.hash_algorithm == "sha1"
    assert cacheable_cert_id(request_der(ca, 0x1234)) == cert_id            # the same CertID, the same key
    assert cacheable_cert_id(request_der(ca, 0x1235)) != cert_id


@pytest.mark.parametrize("kind", ["nonce", "two_cert_ids", "garbage", "empty"])
def test_nonces_several_cert_ids_and_malformed_requests_are_not_cacheable(ca, kind):
    der = {"nonce": lambda: request_der(ca, 7, nonce=b"\x01" * 16), "two_cert_ids": lambda: two_cert_ids(ca, 7, 8),
           "garbage": lambda: b"\x30\x03\x02\x01", "empty": lambda: b""}[kind]()
    if kind == "two_cert_ids":
        with pytest.raises(ValueError):           # well formed, but more than one CertID
            ocsp.load_der_ocsp_request(der)
    assert cacheable_cert_id(der) is None


def test_a_successful_answer_is_kept_until_half_its_validity(ca):
    der = request_der(ca, 42)
    answer = signed_answer(cacheable_cert_id(der), response_der(ca, der, "revoked"))
    assert answer.status == "revoked" and answer.this_update == NOW and answer.next_update == NOW + VALIDITY
    assert answer.refresh_at == NOW + VALIDITY / 2


def test_error_answers_and_answers_about_something_else_are_not_kept(ca):
    der = request_der(ca, 42)
    cert_id = cacheable_cert_id(der)
    unauthorized = ocsp.OCSPResponseBuilder.build_unsuccessful(ocsp.OCSPResponseStatus.UNAUTHORIZED)
    assert signed_answer(cert_id, unauthorized.public_bytes(DER)) is None
    assert signed_answer(cert_id, response_der(ca, der, "good", serial=43)) is None
    with_nonce = request_der(ca, 42, nonce=b"\x02" * 16)
    assert signed_answer(cert_id, response_der(ca, with_nonce, "good")) is None
    assert signed_answer(cert_id, b"not DER") is None


# ---- the cache ------------------------------------------------------------------------------------------------

def test_the_cache_answers_only_the_same_status_before_the_refresh_time(ca):
    der = request_der(ca, 42)
    cert_id = cacheable_cert_id(der)
    cache = ResponseCache()
    cache.keep(cert_id, signed_answer(cert_id, response_der(ca, der, "good")))
    assert cache.lookup(cert_id, "good", NOW + dt.timedelta(hours=5, minutes=59)).status == "good"
    assert cache.lookup(cert_id, "revoked", NOW) is None                  # the status changed since it was signed
    assert cache.lookup(cert_id, None, NOW) is None                       # the status could not be read
    assert cache.lookup(cert_id, "good", NOW + dt.timedelta(hours=6)) is None   # stale: the ca signs a new one
    other = CertId("sha1", cert_id.issuer_name_hash, cert_id.issuer_key_hash, 43)
    assert cache.lookup(other, "good", NOW) is None


def test_the_cache_keeps_at_most_its_bound_and_evicts_the_oldest(ca):
    cache = ResponseCache(max_entries=3)
    ids = []
    for serial in range(1, 6):
        der = request_der(ca, serial)
        cert_id = cacheable_cert_id(der)
        cache.keep(cert_id, signed_answer(cert_id, response_der(ca, der, "good")))
        ids.append(cert_id)
    assert len(cache) == 3
    assert [cache.lookup(i, "good", NOW) is not None for i in ids] == [False, False, True, True, True]


# ---- the responder: cache or ca ---------------------------------------------------------------------------------

def test_a_repeated_request_is_answered_from_the_cache_with_the_same_bytes(ca, world):
    responder, statuses, ask_ca, _clock = world
    statuses[42] = "good"
    der = request_der(ca, 42)
    first, entry = responder.answer(der, ask_ca)
    second, again = responder.answer(der, ask_ca)
    assert ask_ca.calls == 1 and first == second and entry is again
    assert ocsp.load_der_ocsp_response(second).certificate_status == ocsp.OCSPCertStatus.GOOD
    assert responder.cached(der) is entry


def test_a_revocation_in_the_read_model_makes_the_ca_sign_again(ca, world):
    responder, statuses, ask_ca, _clock = world
    statuses[42] = "good"
    der = request_der(ca, 42)
    responder.answer(der, ask_ca)
    statuses[42] = "revoked"                                 # the follower applied certificate_revoked
    assert responder.cached(der) is None
    ask_ca.status = "revoked"
    answer, entry = responder.answer(der, ask_ca)
    assert ask_ca.calls == 2 and entry.status == "revoked"
    assert ocsp.load_der_ocsp_response(answer).certificate_status == ocsp.OCSPCertStatus.REVOKED
    responder.answer(der, ask_ca)
    assert ask_ca.calls == 2                                 # the revoked answer is reused in turn


def test_while_the_read_model_lags_the_ca_answers_every_time(ca, world):
    responder, statuses, ask_ca, _clock = world
    der = request_der(ca, 42)                                # issued, but not in the read model yet: "unknown"
    for _ in range(3):
        answer, _entry = responder.answer(der, ask_ca)
        assert ocsp.load_der_ocsp_response(answer).certificate_status == ocsp.OCSPCertStatus.GOOD
    assert ask_ca.calls == 3
    statuses[42] = "good"
    responder.answer(der, ask_ca)
    assert ask_ca.calls == 3                                 # now the kept answer matches


def test_an_unknown_serial_is_kept_as_unknown(ca, world):
    responder, _statuses, ask_ca, _clock = world
    ask_ca.status = "unknown"
    der = request_der(ca, 99)
    responder.answer(der, ask_ca)
    answer, entry = responder.answer(der, ask_ca)
    assert ask_ca.calls == 1 and entry.status == "unknown"


def test_a_stale_answer_is_signed_again(ca, world):
    responder, statuses, ask_ca, clock = world
    statuses[42] = "good"
    der = request_der(ca, 42)
    first, _ = responder.answer(der, ask_ca)
    clock.now = ask_ca.this_update = NOW + dt.timedelta(hours=6)
    second, entry = responder.answer(der, ask_ca)
    assert ask_ca.calls == 2 and first != second and entry.this_update == clock.now


@pytest.mark.parametrize("kind", ["nonce", "two_cert_ids", "unauthorized", "status_unreadable"])
def test_these_always_go_to_the_ca(ca, world, kind):
    responder, statuses, ask_ca, _clock = world
    statuses[7] = "good"
    der = request_der(ca, 7)
    if kind == "nonce":
        der = request_der(ca, 7, nonce=b"\x03" * 16)
    elif kind == "two_cert_ids":
        der = two_cert_ids(ca, 7, 8)
        ask_ca.unauthorized = True           # what the ca answers to a request it cannot parse does not matter here
    elif kind == "unauthorized":
        ask_ca.unauthorized = True
    elif kind == "status_unreadable":
        def broken(_serial):
            raise ConnectionError("database down")
        responder.status_of = broken
    for _ in range(3):
        answer, entry = responder.answer(der, ask_ca)
        if kind == "nonce":
            assert ocsp.load_der_ocsp_response(answer).extensions.get_extension_for_class(x509.OCSPNonce)
    assert ask_ca.calls == 3


# ---- the fast path (WSGI, before routing) --------------------------------------------------------------------

def environ(method: str, path: str, body: bytes = b"", content_type="application/ocsp-request", length=None):
    return {"REQUEST_METHOD": method, "PATH_INFO": path, "CONTENT_TYPE": content_type,
            "CONTENT_LENGTH": str(len(body) if length is None else length), "wsgi.input": io.BytesIO(body)}


def test_the_fast_path_answers_a_kept_answer_and_puts_back_what_it_cannot(ca, world):
    responder, statuses, ask_ca, _clock = world
    statuses[42] = "good"
    der = request_der(ca, 42)
    missed = environ("POST", "/ocsp", der)
    assert responder.respond_early(missed) is None
    assert missed["wsgi.input"].read() == der              # the route reads the same body
    kept, _ = responder.answer(der, ask_ca)
    status, headers, body = responder.respond_early(environ("POST", "/ocsp", der))
    assert status == "200 OK" and body == kept and ask_ca.calls == 1
    assert dict(headers) == {"Content-Type": "application/ocsp-response", "Content-Length": str(len(kept))}


def test_after_a_fast_path_miss_the_route_asks_the_ca_without_reading_the_status_again(ca, world):
    responder, statuses, ask_ca, _clock = world
    reads = []
    status_of = responder.status_of
    responder.status_of = lambda serial: reads.append(serial) or status_of(serial)
    statuses[42] = "good"
    der = request_der(ca, 42)
    request = environ("POST", "/ocsp", der)
    assert responder.respond_early(request) is None and reads == [42]
    answer, entry = responder.answer(der, ask_ca, request[MISSED])
    assert reads == [42] and ask_ca.calls == 1 and entry is not None    # kept all the same
    assert responder.cached(der) is entry
    other = request_der(ca, 43)                    # what the fast path saw was another request: looked up anew
    responder.answer(other, ask_ca, request[MISSED])
    assert reads == [42, 42, 43] and ask_ca.calls == 2


def test_the_fast_path_answers_get_with_rfc5019_cache_headers(ca, world):
    import base64
    responder, statuses, ask_ca, clock = world
    statuses[42] = "good"
    der = request_der(ca, 42)
    kept, _ = responder.answer(der, ask_ca)
    clock.now = NOW + dt.timedelta(minutes=10)
    status, headers, body = responder.respond_early(environ("GET", "/ocsp/" + base64.b64encode(der).decode()))
    headers = dict(headers)
    assert body == kept
    assert headers["Cache-Control"] == f"max-age={HTTP_MAX_AGE}, public, no-transform, must-revalidate"
    assert headers["Last-Modified"] == "Tue, 01 Dec 2026 12:00:00 GMT"
    assert headers["Expires"] == "Wed, 02 Dec 2026 00:00:00 GMT"     # nextUpdate
    assert headers["ETag"].startswith('"') and len(headers["ETag"]) == 66


@pytest.mark.parametrize("case", ["content_type", "too_large", "no_length", "other_path", "other_method"])
def test_the_fast_path_leaves_anything_unexpected_to_the_route(ca, world, case):
    responder, statuses, ask_ca, _clock = world
    statuses[42] = "good"
    der = request_der(ca, 42)
    responder.answer(der, ask_ca)                            # a kept answer exists for this request
    request = {"content_type": environ("POST", "/ocsp", der, content_type="application/json"),
               "too_large": environ("POST", "/ocsp", der + b"\0" * 8192),
               "no_length": environ("POST", "/ocsp", der, length=""),
               "other_path": environ("POST", "/ocsp/", der),
               "other_method": environ("PUT", "/ocsp", der)}[case]
    assert responder.respond_early(request) is None
    assert request["wsgi.input"].read().startswith(der)      # unread, or put back
