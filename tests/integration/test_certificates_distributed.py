"""Certificates in distributed mode: two `ca` replicas (which must create one CA hierarchy between them, keys
encrypted under the configured key-encryption key), `enrollment` and `domains`, as their own processes on
RabbitMQ and PostgreSQL. A certificate is requested through the gateway, issued, revoked, and its revocation
answered by OCSP and listed in the CRL."""
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


def test_one_hierarchy_with_encrypted_keys_and_a_certificate_revoked_in_ocsp_and_crl(cluster, certificate_services):
    cas = _wait(lambda: cluster.http("GET", "/api/v1/cas").json().get("items"), "the CAs exist")
    assert sorted(c["kind"] for c in cas) == ["issuing", "root"]        # two replicas, one hierarchy
    with cluster.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM ca.cas")).scalar() == 2
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

    revoked = cluster.http("POST", f"/api/v1/ssl/{issued['ssl_id']}/revoke", json={"reason": "superseded"})
    assert revoked.status_code == 200, revoked.text
    query = ocsp.OCSPRequestBuilder().add_certificate(leaf, issuing, hashes.SHA1()).build()
    answer = requests.post(f"{cluster.base_url}/ocsp", data=query.public_bytes(serialization.Encoding.DER),
                           headers={"Content-Type": "application/ocsp-request"}, timeout=30)
    parsed = ocsp.load_der_ocsp_response(answer.content)
    assert parsed.certificate_status == ocsp.OCSPCertStatus.REVOKED
    assert parsed.revocation_reason == x509.ReasonFlags.superseded

    def in_crl():
        response = requests.get(f"{cluster.base_url}/crl/{issued['ca_id']}.crl", timeout=30)
        if response.status_code != 200:
            return None
        crl = x509.load_der_x509_crl(response.content)
        return crl if crl.get_revoked_certificate_by_serial_number(leaf.serial_number) else None
    crl = _wait(in_crl, "the revocation is in the CRL")
    assert crl.is_signature_valid(issuing.public_key())
