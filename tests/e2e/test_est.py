"""EST (RFC 7030, RFC 8951) with curl and openssl, as the RFCs' flows go, against the shared device Certplane
(`device_env`, tests/e2e/device_env.py): cacerts, simpleenroll with HTTP Basic, simplereenroll with the first
certificate as the TLS client certificate, csrattrs, serverkeygen; the TLS listener's certificate verifies against
Certplane's root; EST on the plain HTTP port is refused with the reason. Nothing here mocks the server."""
from __future__ import annotations

import base64
import email
import email.policy
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID

from tests.e2e.device_env import DOMAIN, ORG

PEM = serialization.Encoding.PEM


def device_name(kind: str) -> str:
    return f"{kind}-{uuid.uuid4().hex[:8]}.{DOMAIN}"


def curl(*args, ok=True) -> tuple[int, dict, bytes]:
    """(status, headers lower-cased, body) of a curl call."""
    done = subprocess.run(["curl", "-sS", "-D", "-", "-o", "-", "--max-time", "60", *map(str, args)],
                          capture_output=True)
    if ok:
        assert done.returncode == 0, done.stderr.decode()
    head, _, body = done.stdout.partition(b"\r\n\r\n")
    while head.startswith(b"HTTP/1.1 100"):
        head, _, body = body.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1]) if lines and lines[0] else 0
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return status, headers, body


def make_csr(tmp: Path, name: str, stem: str = "device") -> tuple[Path, Path]:
    """A P-256 key and a CSR (base64 DER with line breaks, as EST sends it) for `name`."""
    key = ec.generate_private_key(ec.SECP256R1())
    csr = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, name)])).add_extension(
        x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False).sign(key, hashes.SHA256())
    key_path, csr_path = tmp / f"{stem}.key", tmp / f"{stem}.csr.b64"
    key_path.write_bytes(key.private_bytes(PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    csr_path.write_bytes(base64.encodebytes(csr.public_bytes(serialization.Encoding.DER)))
    return key_path, csr_path


def pkcs7_certs(tmp: Path, body: bytes, stem: str) -> Path:
    """base64 -d, then openssl pkcs7 -print_certs: the PEM file."""
    der, out = tmp / f"{stem}.p7", tmp / f"{stem}.pem"
    der.write_bytes(subprocess.run(["base64", "-d"], input=body, capture_output=True, check=True).stdout)
    printed = subprocess.run(["openssl", "pkcs7", "-inform", "DER", "-print_certs", "-in", str(der), "-out",
                              str(out)], capture_output=True, text=True)
    assert printed.returncode == 0, printed.stderr
    return out


@pytest.fixture(scope="module")
def est(device_env, tmp_path_factory):
    """An est endpoint (profile `auto`), its URL, credentials, and its chain (root.pem, chain.pem) from cacerts."""
    made = device_env.endpoint("est", "auto")
    tmp = tmp_path_factory.mktemp("est")
    url = made["est_url"]
    assert url.endswith(f"/.well-known/est/{made['uri_extension']}/")
    status, headers, body = curl("-k", url + "cacerts")
    assert status == 200, body
    assert headers["content-type"].startswith("application/pkcs7-mime")
    assert headers["content-transfer-encoding"].lower() == "base64"
    chain = pkcs7_certs(tmp, body, "cacerts")
    certs = x509.load_pem_x509_certificates(chain.read_bytes())
    root = [c for c in certs if c.issuer == c.subject]
    assert root, "cacerts holds the root"
    (tmp / "root.pem").write_bytes(root[0].public_bytes(PEM))
    return {"endpoint": made, "url": url, "user": made["credentials"]["username"],
            "password": made["credentials"]["password"], "root": tmp / "root.pem", "chain": chain}


def enroll(est, csr: Path, *extra, operation="simpleenroll"):
    return curl("--cacert", est["root"], *extra, "--data-binary", f"@{csr}", "-H", "Content-Type: application/pkcs10",
                est["url"] + operation)


def verified(est, cert: Path) -> None:
    checked = subprocess.run(["openssl", "verify", "-CAfile", str(est["root"]), "-untrusted", str(est["chain"]),
                              str(cert)], capture_output=True, text=True)
    assert checked.returncode == 0 and ": OK" in checked.stdout, checked.stdout + checked.stderr


def serial(cert: Path) -> str:
    return format(x509.load_pem_x509_certificate(cert.read_bytes()).serial_number, "x")


def serials(device_env, endpoint_id: str) -> set[str]:
    return {str(d.get("serial") or "").lower().lstrip("0") for d in device_env.devices(endpoint_id)}


# ---- the listener --------------------------------------------------------------------------------------------
def test_the_est_listener_certificate_verifies_against_certplanes_root(est, device_env):
    done = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{device_env.est_port}",
                           "-servername", "localhost", "-verify_return_error", "-CAfile", str(est["root"])],
                          input="", capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "Verify return code: 0 (ok)" in done.stdout, done.stdout + done.stderr


def test_est_on_the_plain_http_port_is_refused_with_the_reason(device_env, est):
    status, headers, body = curl(device_env.base_url + f"/.well-known/est/{est['endpoint']['uri_extension']}/cacerts")
    assert status == 403 and b"EST is served over" in body and str(device_env.est_port).encode() in body


# ---- cacerts, simpleenroll, simplereenroll --------------------------------------------------------------------
def test_simpleenroll_with_basic_then_simplereenroll_with_the_certificate(device_env, est, tmp_path):
    name = device_name("sensor")
    key, csr = make_csr(tmp_path, name)
    status, headers, body = enroll(est, csr, "--user", f"{est['user']}:{est['password']}")
    assert status == 200, body
    assert headers["content-type"].startswith("application/pkcs7-mime")
    first = pkcs7_certs(tmp_path, body, "first")
    verified(est, first)
    certificate = x509.load_pem_x509_certificate(first.read_bytes())
    assert [a.value for a in certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)] == [ORG["name"]]
    assert certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == name
    endpoint_id = est["endpoint"]["endpoint_id"]
    assert serial(first).lstrip("0") in serials(device_env, endpoint_id)

    key2, csr2 = make_csr(tmp_path, name, "renewal")
    status, _, body = enroll(est, csr2, "--cert", first, "--key", key, operation="simplereenroll")
    assert status == 200, body
    second = pkcs7_certs(tmp_path, body, "second")
    verified(est, second)
    assert serial(second) != serial(first)
    assert {serial(first).lstrip("0"), serial(second).lstrip("0")} <= serials(device_env, endpoint_id)

    # an earlier enrollment's certificate authenticates a simpleenroll too
    _, csr3 = make_csr(tmp_path, device_name("sensor2"), "third")
    status, _, body = enroll(est, csr3, "--cert", second, "--key", key2)
    assert status == 200, body


def test_a_wrong_password_is_401_and_nothing_is_issued(device_env, est, tmp_path):
    endpoint_id = est["endpoint"]["endpoint_id"]
    before = len(device_env.devices(endpoint_id))
    _, csr = make_csr(tmp_path, device_name("wrong"))
    status, headers, body = enroll(est, csr, "--user", f"{est['user']}:not-the-password")
    assert status == 401 and "basic" in headers.get("www-authenticate", "").lower(), body
    status, headers, _ = enroll(est, csr)
    assert status == 401 and headers["www-authenticate"] == 'Basic realm="certplane-est"'
    status, _, body = enroll(est, csr, "--user", f"someone-else:{est['password']}")    # its password, not its name
    assert status == 401 and b"username" in body, body
    assert len(device_env.devices(endpoint_id)) == before


def test_simplereenroll_without_a_client_certificate_is_refused(est, tmp_path):
    _, csr = make_csr(tmp_path, device_name("renew"))
    status, _, body = enroll(est, csr, "--user", f"{est['user']}:{est['password']}", operation="simplereenroll")
    assert status in (401, 403) and b"client certificate" in body


def test_not_a_csr_is_400_with_the_reason(device_env, est, tmp_path):
    endpoint_id = est["endpoint"]["endpoint_id"]
    before = len(device_env.devices(endpoint_id))
    bad = tmp_path / "bad.b64"
    bad.write_bytes(b"this is !! not base64")
    status, headers, body = enroll(est, bad, "--user", f"{est['user']}:{est['password']}")
    assert status == 400 and headers["content-type"].startswith("text/plain") and b"base64" in body
    bad.write_bytes(base64.encodebytes(b"\x30\x03\x02\x01\x01"))
    status, _, body = enroll(est, bad, "--user", f"{est['user']}:{est['password']}")
    assert status == 400 and body.strip()
    assert len(device_env.devices(endpoint_id)) == before


# ---- csrattrs, serverkeygen ---------------------------------------------------------------------------------
def test_csrattrs_names_the_challenge_password_and_the_key_types(est, tmp_path):
    status, headers, body = curl("--cacert", est["root"], est["url"] + "csrattrs")
    assert status == 200 and headers["content-type"].startswith("application/csrattrs")
    der = tmp_path / "attrs.der"
    der.write_bytes(base64.b64decode(body))
    parsed = subprocess.run(["openssl", "asn1parse", "-inform", "DER", "-in", str(der)], capture_output=True,
                            text=True)
    assert parsed.returncode == 0, parsed.stderr
    assert "challengePassword" in parsed.stdout and "id-ecPublicKey" in parsed.stdout
    assert "prime256v1" in parsed.stdout and "ecdsa-with-SHA256" in parsed.stdout


def test_serverkeygen_answers_the_key_and_its_certificate(est, tmp_path):
    _, csr = make_csr(tmp_path, device_name("keyless"))
    status, headers, body = enroll(est, csr, "--user", f"{est['user']}:{est['password']}", operation="serverkeygen")
    assert status == 200, body
    assert headers["content-type"].startswith("multipart/mixed")
    message = email.message_from_bytes(f"Content-Type: {headers['content-type']}\r\n\r\n".encode() + body,
                                       policy=email.policy.default)
    parts = {p.get_content_type(): p for p in message.iter_parts()}
    assert set(parts) == {"application/pkcs8", "application/pkcs7-mime"}
    key = serialization.load_der_private_key(parts["application/pkcs8"].get_payload(decode=True), None)
    certs = pkcs7.load_der_pkcs7_certificates(parts["application/pkcs7-mime"].get_payload(decode=True))
    assert certs[0].public_key().public_numbers() == key.public_key().public_numbers()


# ---- approval ------------------------------------------------------------------------------------------------
def test_202_with_retry_after_until_an_administrator_approves(device_env, tmp_path):
    made = device_env.endpoint("est", "approval")
    url = made["est_url"]
    status, _, body = curl("-k", url + "cacerts")
    assert status == 200
    root_pem = [c for c in x509.load_pem_x509_certificates(pkcs7_certs(tmp_path, body, "chain").read_bytes())
                if c.issuer == c.subject][0]
    (tmp_path / "root.pem").write_bytes(root_pem.public_bytes(PEM))
    waiting_est = {"url": url, "root": tmp_path / "root.pem"}
    _, csr = make_csr(tmp_path, device_name("gate"))
    basic = f"{made['credentials']['username']}:{made['credentials']['password']}"
    status, headers, body = enroll(waiting_est, csr, "--user", basic)
    assert status == 202 and headers.get("retry-after") == "60", body
    status, headers, _ = enroll(waiting_est, csr, "--user", basic)       # the retry is the same request
    assert status == 202
    waiting = [d for d in device_env.devices(made["endpoint_id"]) if d["status"] == "requested"]
    assert len(waiting) == 1
    approver = device_env.server.admin(f"est-approver-{uuid.uuid4().hex[:6]}", [
        {"role": "RAO", "cert_type": "device", "organization_ids": [device_env.org_id]}])[1]
    approved = approver("POST", f"/api/v1/device/{waiting[0]['cert_id']}/approve")
    assert approved.status_code in (200, 202), approved.text
    deadline = time.monotonic() + 60           # issuance follows the approval: the device retries
    status, headers, body = enroll(waiting_est, csr, "--user", basic)
    while status == 202 and time.monotonic() < deadline:
        time.sleep(0.5)
        status, headers, body = enroll(waiting_est, csr, "--user", basic)
    assert status == 200, body
    assert headers["content-type"].startswith("application/pkcs7-mime")


def test_a_one_time_challenge_works_once_as_the_basic_password(device_env, est, tmp_path):
    endpoint_id = est["endpoint"]["endpoint_id"]
    issued = device_env.api("POST", f"/api/v1/device-endpoints/{endpoint_id}/challenges",
                            json={"device_name": "door-lock", "valid_hours": 1})
    assert issued.status_code == 201, issued.text
    challenge = issued.json()["challenge"]
    _, csr = make_csr(tmp_path, device_name("lock"))
    status, _, body = enroll(est, csr, "--user", f"door-lock:{challenge}")
    assert status == 200, body
    before = len(device_env.devices(endpoint_id))
    _, other = make_csr(tmp_path, device_name("lock2"), "other")
    status, _, body = enroll(est, other, "--user", f"door-lock:{challenge}")
    assert status == 401, body                  # used up by the first
    assert len(device_env.devices(endpoint_id)) == before


def test_serverkeygen_refuses_an_encrypted_key_and_an_approval_profile(device_env, est, tmp_path):
    endpoint_id = est["endpoint"]["endpoint_id"]
    before = len(device_env.devices(endpoint_id))
    key = ec.generate_private_key(ec.SECP256R1())
    name = device_name("sealed")
    csr = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, name)])).add_attribute(
        x509.ObjectIdentifier("1.2.840.113549.1.9.16.2.37"), b"key-id").sign(key, hashes.SHA256())
    path = tmp_path / "sealed.b64"
    path.write_bytes(base64.encodebytes(csr.public_bytes(serialization.Encoding.DER)))
    status, _, body = enroll(est, path, "--user", f"{est['user']}:{est['password']}", operation="serverkeygen")
    assert status == 400 and b"encrypted server-generated keys are not supported" in body
    assert len(device_env.devices(endpoint_id)) == before

    made = device_env.endpoint("est", "approval")
    _, plain = make_csr(tmp_path, device_name("gated"))
    basic = f"{made['credentials']['username']}:{made['credentials']['password']}"
    status, _, body = curl("-k", "--user", basic, "--data-binary", f"@{plain}", "-H",
                           "Content-Type: application/pkcs10", made["est_url"] + "serverkeygen")
    assert status == 400 and b"approval" in body
    assert device_env.devices(made["endpoint_id"]) == []


def test_without_a_default_endpoint_the_short_url_asks_to_name_it(device_env, est):
    base = est["url"].rsplit("/.well-known/", 1)[0]
    status, headers, body = curl("--cacert", est["root"], base + "/.well-known/est/cacerts")
    assert status == 404 and b"name the endpoint" in body and headers["content-type"].startswith("text/plain")
    status, _, body = curl("--cacert", est["root"], base + "/.well-known/est/no-such-endpoint/cacerts")
    assert status == 404
