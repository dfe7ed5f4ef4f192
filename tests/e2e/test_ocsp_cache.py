"""OCSP answered by the gateway (gateway/ocsp.py), end to end over HTTP on an embedded Certplane: a request
without a nonce is answered again from the gateway's memory (the same bytes: ECDSA signatures are randomised, so
the ca never signs the same bytes twice) until the certificate's status changes; a revocation reaches OCSP within
the promised minute; a nonce always gets a fresh signature that echoes it."""
import base64
import os
import time

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp

from tests.e2e.test_ssl_lifecycle import cp, download, request, world  # noqa: F401 — fixtures and helpers

REVOCATION_VISIBLE_WITHIN = 60.0


def issued_with_issuer(world, name: str) -> tuple[dict, x509.Certificate, x509.Certificate]:
    found = request(world["auto"], world, name=name)
    assert found["status"] == "issued", found
    leaf, issuing, _root = x509.load_pem_x509_certificates(download(world["auto"], found["ssl_id"], "fullchain"))
    return found, leaf, issuing


def query(leaf, issuing, nonce: bytes | None = None) -> bytes:
    builder = ocsp.OCSPRequestBuilder().add_certificate(leaf, issuing, hashes.SHA1())
    if nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    return builder.build().public_bytes(serialization.Encoding.DER)


def post(base_url: str, der: bytes, **headers) -> requests.Response:
    answer = requests.post(f"{base_url}/ocsp", data=der, timeout=30,
                           headers={"Content-Type": "application/ocsp-request", **headers})
    assert answer.status_code == 200 and answer.headers["Content-Type"] == "application/ocsp-response"
    return answer


def kept_answer(base_url: str, der: bytes, timeout: float = 10.0) -> requests.Response:
    """The first of two answers with the same bytes. Until the issuance's events reach the gateway's read model
    (pushed moments after the 201) the ca answers every request; from then on the kept answer does."""
    deadline = time.monotonic() + timeout
    while True:
        first = post(base_url, der)
        if post(base_url, der).content == first.content:
            return first
        assert time.monotonic() < deadline, f"no answer was reused within {timeout:.0f} s"
        time.sleep(0.05)


def checked(answer: requests.Response, issuing: x509.Certificate, serial: int) -> ocsp.OCSPResponse:
    """The parsed response, after checking it is SUCCESSFUL, about `serial` and signed by the issuing CA."""
    parsed = ocsp.load_der_ocsp_response(answer.content)
    assert parsed.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
    assert parsed.serial_number == serial
    issuing.public_key().verify(parsed.signature, parsed.tbs_response_bytes, ec.ECDSA(parsed.signature_hash_algorithm))
    return parsed


def test_a_request_without_nonce_is_answered_from_the_cache_until_the_certificate_is_revoked(cp, world):
    base = cp.api.base_url
    found, leaf, issuing = issued_with_issuer(world, "cached.ssl-e2e.example.com")
    der = query(leaf, issuing)

    first = kept_answer(base, der)
    second = post(base, der, **{"X-Correlation-Id": "ocsp-cache-e2e-1"})
    assert checked(first, issuing, leaf.serial_number).certificate_status == ocsp.OCSPCertStatus.GOOD
    assert second.content == first.content                      # from the gateway's cache, not signed again
    assert second.headers["X-Correlation-Id"] == "ocsp-cache-e2e-1"
    parsed = checked(second, issuing, leaf.serial_number)
    assert (parsed.next_update_utc - parsed.this_update_utc).total_seconds() == 12 * 3600

    by_get = requests.get(f"{base}/ocsp/{base64.b64encode(der).decode()}", timeout=30)
    assert by_get.status_code == 200 and by_get.content == first.content
    assert by_get.headers["Cache-Control"].startswith("max-age=")
    assert int(by_get.headers["Cache-Control"].split("=", 1)[1].split(",")[0]) <= 60
    assert by_get.headers["Last-Modified"] and by_get.headers["Expires"] and by_get.headers["ETag"]
    assert by_get.headers["X-Correlation-Id"]

    revoked = cp.api("POST", f"/api/v1/ssl/{found['ssl_id']}/revoke", json={"reason": "key_compromise"})
    assert revoked.status_code == 200, revoked.text
    started = time.monotonic()
    while True:
        answer = post(base, der)
        parsed = checked(answer, issuing, leaf.serial_number)
        if parsed.certificate_status == ocsp.OCSPCertStatus.REVOKED:
            break
        assert parsed.certificate_status == ocsp.OCSPCertStatus.GOOD
        assert time.monotonic() - started < REVOCATION_VISIBLE_WITHIN, "OCSP still says good after 60 s"
        time.sleep(0.2)
    took = time.monotonic() - started
    print(f"\nrevocation answered by OCSP (no nonce) {took:.2f} s after the revoke call returned")
    assert parsed.revocation_reason == x509.ReasonFlags.key_compromise
    assert post(base, der).content == answer.content            # the revoked answer is kept in turn


def test_a_nonce_gets_a_fresh_signature_that_echoes_it(cp, world):
    base = cp.api.base_url
    _found, leaf, issuing = issued_with_issuer(world, "nonce.ssl-e2e.example.com")
    answers = []
    for _ in range(2):
        nonce = os.urandom(16)
        answer = post(base, query(leaf, issuing, nonce))
        parsed = checked(answer, issuing, leaf.serial_number)
        assert parsed.certificate_status == ocsp.OCSPCertStatus.GOOD
        assert parsed.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == nonce
        answers.append(answer.content)
    assert answers[0] != answers[1]


def test_an_unknown_serial_is_unknown_from_the_cache_too(cp, world):
    base = cp.api.base_url
    _found, leaf, issuing = issued_with_issuer(world, "unknown-neighbour.ssl-e2e.example.com")
    name_hash = hashes.Hash(hashes.SHA1())
    name_hash.update(issuing.subject.public_bytes())
    der = ocsp.OCSPRequestBuilder().add_certificate_by_hash(
        name_hash.finalize(), x509.SubjectKeyIdentifier.from_public_key(issuing.public_key()).digest,
        leaf.serial_number ^ 0x5A5A5A5A, hashes.SHA1()).build().public_bytes(serialization.Encoding.DER)
    first = post(base, der)
    assert checked(first, issuing, leaf.serial_number ^ 0x5A5A5A5A).certificate_status == \
        ocsp.OCSPCertStatus.UNKNOWN
    assert post(base, der).content == first.content        # no row for the serial: "unknown" is kept at once
