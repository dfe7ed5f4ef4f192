"""Certificates in distributed mode: two `ca` replicas (which must create one CA hierarchy between them, keys
encrypted under the configured key-encryption key), `enrollment` and `domains`, as their own processes on
RabbitMQ and PostgreSQL. A certificate is requested through the gateway, issued, revoked, and its revocation
answered by OCSP and listed in the CRL. OCSP runs on two gateway replicas, each of which keeps the signed "good"
in memory (gateway/ocsp.py): the revocation must still reach a request without a nonce on both within a minute,
here by push alone (the cluster's gateways pull only hourly)."""
import base64
import os
import time

import pytest
import requests
import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from tests import factories
from tests.support import CertplaneProcess, free_port

ORG = {"address1": "1 Main St", "city": "Berlin", "state": "Berlin", "country": "DE"}


@pytest.fixture(scope="module")
def certificate_services(cluster, tmp_path_factory):
    logs = tmp_path_factory.mktemp("certificate-logs")
    env = {k: v for k, v in cluster.gateway.env.items() if k.startswith(("AMQP", "CERTPLANE"))
           and k != "CERTPLANE_HTTP_PORT"}
    env.update(CERTPLANE_CA_KEK=base64.b64encode(os.urandom(32)).decode(), CERTPLANE_CRL_CHECK_INTERVAL="1",
               CERTPLANE_CATCH_UP_INTERVAL="1", CERTPLANE_PUBLIC_BASE_URL="http://pki.certplane-it.example.com")
    processes = []
    for name, service in (("ca", "ca"), ("ca-2", "ca"), ("enrollment", "enrollment"), ("domains-c", "domains")):
        port = free_port()
        process = CertplaneProcess(name, ["run", service], {**env, "CERTPLANE_HEALTH_PORT": str(port)}, logs)
        processes.append((process.start(), port))
    try:
        for process, port in processes:
            process.wait_ready(f"http://127.0.0.1:{port}/readyz")
        yield
    finally:
        for process, _port in reversed(processes):
            process.stop()


def _wait(predicate, what: str, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"{what} within {timeout:.0f} s")


def _ocsp(base_url: str, der: bytes) -> requests.Response:
    answer = requests.post(f"{base_url}/ocsp", data=der, headers={"Content-Type": "application/ocsp-request"},
                           timeout=30)
    assert answer.status_code == 200 and answer.headers["Content-Type"] == "application/ocsp-response"
    return answer


def _same_twice(base_url: str, der: bytes) -> bytes | None:
    first, again = _ocsp(base_url, der).content, _ocsp(base_url, der).content
    return first if again == first else None


@pytest.fixture
def second_gateway(cluster, tmp_path):
    port = free_port()
    replica = CertplaneProcess("gateway-2", ["run", "gateway"], {
        **{k: v for k, v in cluster.gateway.env.items() if k.startswith(("AMQP", "CERTPLANE"))},
        "CERTPLANE_HTTP_PORT": str(port)}, tmp_path)
    replica.start().wait_ready(f"http://127.0.0.1:{port}/readyz")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        replica.stop()


def test_one_hierarchy_with_encrypted_keys_and_a_certificate_revoked_in_ocsp_and_crl(cluster, certificate_services,
                                                                                     second_gateway):
    cas = _wait(lambda: cluster.http("GET", "/api/v1/cas").json().get("items"), "the CAs exist")
    # two replicas, one hierarchy: the root, the TLS issuing CA, and the S/MIME and code-signing issuing CAs
    cas = _wait(lambda: len(cluster.http("GET", "/api/v1/cas").json().get("items", [])) == 4 and
                cluster.http("GET", "/api/v1/cas").json()["items"], "the type CAs exist")
    assert sorted(c["kind"] for c in cas) == ["issuing", "issuing", "issuing", "root"]
    with cluster.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM ca.cas")).scalar() == 4
        wrapped = [bytes(r[0]) for r in conn.execute(sa.text("SELECT wrapped FROM ca.ca_keys"))]
    assert wrapped and all(b"PRIVATE KEY" not in w and len(w) > 32 for w in wrapped)

    org = cluster.http("POST", "/api/v1/organizations", json={"name": "Dist Certificates", **ORG}).json()
    domain = cluster.http("POST", "/api/v1/domains", json={"name": "dist-certs.example.com", "delegations": [
        {"organization_id": org["organization_id"], "cert_types": ["ssl"]}]})
    assert domain.status_code == 201, domain.text
    profiles = _wait(lambda: cluster.http("GET", "/api/v1/profiles").json().get("items"), "default profiles")
    tls = next(p for p in profiles if p["cert_type"] == "ssl")
    name = "www.dist-certs.example.com"
    issued = cluster.http("POST", "/api/v1/ssl", json={
        "organization_id": org["organization_id"], "profile_id": tls["profile_id"], "term_days": 90,
        "csr": factories.csr("ec-p256", cn=name, sans=(name,)).decode()})
    assert issued.status_code == 201, issued.text                        # the operator (MRAO) auto-approves
    issued = issued.json()
    assert issued["status"] == "issued"
    pem = cluster.http("GET", f"/api/v1/ssl/{issued['ssl_id']}/download", params={"format": "fullchain"}).content
    leaf, issuing, _root = x509.load_pem_x509_certificates(pem)

    # no nonce: each replica keeps the signed "good" and answers it again with the same bytes
    der = ocsp.OCSPRequestBuilder().add_certificate(leaf, issuing, hashes.SHA1()).build() \
        .public_bytes(serialization.Encoding.DER)
    replicas = {"gateway": cluster.base_url, "gateway-2": second_gateway}
    for base in replicas.values():
        # until the issuance's events reach the gateways' read model (by push, moments after the 201), the ca
        # answers each request; from then on the kept answer does
        first = _wait(lambda: _same_twice(base, der), "a replica answers the same bytes twice", timeout=30)
        assert ocsp.load_der_ocsp_response(first).certificate_status == ocsp.OCSPCertStatus.GOOD

    revoked = cluster.http("POST", f"/api/v1/ssl/{issued['ssl_id']}/revoke", json={"reason": "superseded"})
    assert revoked.status_code == 200, revoked.text
    started = time.monotonic()
    seen_after = {}
    while len(seen_after) < len(replicas):
        for name, base in replicas.items():
            if name in seen_after:
                continue
            parsed = ocsp.load_der_ocsp_response(_ocsp(base, der).content)
            if parsed.certificate_status == ocsp.OCSPCertStatus.REVOKED:
                assert parsed.revocation_reason == x509.ReasonFlags.superseded
                seen_after[name] = time.monotonic() - started
        assert time.monotonic() - started < 60, f"OCSP still says good after 60 s on {set(replicas) - set(seen_after)}"
        time.sleep(0.2)
    print("\nrevocation answered by OCSP (no nonce): "
          + ", ".join(f"{name} after {took:.2f} s" for name, took in seen_after.items()))

    def in_crl():
        response = requests.get(f"{cluster.base_url}/crl/{issued['ca_id']}.crl", timeout=30)
        if response.status_code != 200:
            return None
        crl = x509.load_der_x509_crl(response.content)
        return crl if crl.get_revoked_certificate_by_serial_number(leaf.serial_number) else None
    crl = _wait(in_crl, "the revocation is in the CRL")
    assert crl.is_signature_valid(issuing.public_key())
