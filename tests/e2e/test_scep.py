"""SCEP (RFC 8894) with real clients against the shared device Certplane (`device_env`, tests/e2e/device_env.py):
micromdm's `scepclient` (Debian scep 2.1.0) and certmonger's `scep-submit` helper, each certificate checked as a
device owner would — `openssl verify` against the endpoint's chain, the organization's subject, present in the
device inventory under the endpoint.

scepclient encrypts its request to EVERY certificate GetCACert returns and panics on an EC one (Certplane's CAs
are P-256), so it is given `-ca-fingerprint <SHA-256 of the RA certificate>`, the documented way to pick the RA
(the first certificate of GetCACert). It keeps its files next to its key (csr.pem, self.pem, client.pem): each
run has its own directory. While PENDING it sleeps 30 s and sends the same message again.

certmonger's daemon builds its pkiMessages itself and hands them to scep-submit; here the test builds them as a
device does (scep_codec.request_message: the CSR encrypted to the RA, signed with the device's self-signed
certificate) and scep-submit sends them, checks the CertRep's signature with the RA certificate and prints what it
read. Nothing here mocks the server."""
from __future__ import annotations

import base64
import concurrent.futures
import datetime
import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import AttributeOID, ExtensionOID, NameOID

from services.enrollment import scep_codec as sc
from tests.e2e.device_env import DOMAIN, KEY_TYPES, ORG

SCEPCLIENT = shutil.which("scepclient")
SCEP_SUBMIT = "/usr/lib/certmonger/scep-submit"
# CI installs both (.ci/run) and, with CERTPLANE_REQUIRE_INTEGRATION set, a missing one fails instead of skipping
pytestmark = pytest.mark.skipif((SCEPCLIENT is None or not Path(SCEP_SUBMIT).exists())
                                and not os.environ.get("CERTPLANE_REQUIRE_INTEGRATION"),
                                reason="needs Debian's scep (scepclient) and certmonger (scep-submit)")
_ENDPOINTS = "/api/v1/device-endpoints"
DER = serialization.Encoding.DER
PEM = serialization.Encoding.PEM


# ---- helpers ------------------------------------------------------------------------------------------------
def get(url: str, operation: str, **params) -> requests.Response:
    return requests.get(url, params={"operation": operation, **params}, timeout=30)


def ca_certificates(url: str) -> list[x509.Certificate]:
    """GetCACert's certificates as a client tells them apart (a SET OF has no order): the RA (the one that is not
    a CA), then the CA that issued it, and so on up to the root."""
    answer = get(url, "GetCACert")
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"] == "application/x-x509-ca-ra-cert"
    certificates = pkcs7.load_der_pkcs7_certificates(answer.content)
    ras = [c for c in certificates if not c.extensions.get_extension_for_oid(ExtensionOID.BASIC_CONSTRAINTS).value.ca]
    assert len(ras) == 1, certificates
    ordered = ras
    while ordered[-1].issuer != ordered[-1].subject:
        ordered += [c for c in certificates if c.subject == ordered[-1].issuer and c not in ordered][:1]
    assert len(ordered) == len(certificates), certificates
    return ordered


def ra_fingerprint(url: str) -> str:
    return ca_certificates(url)[0].fingerprint(hashes.SHA256()).hex()


def rsa_key_file(path: Path) -> Path:
    """A device key made beforehand (scepclient would make one, slowly, inside the measured run)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path.write_bytes(key.private_bytes(PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                       serialization.NoEncryption()))
    return path


def scepclient(directory: Path, url: str, cn: str, challenge: str | None = None, certificate: Path | None = None,
               timeout: float = 120) -> subprocess.CompletedProcess:
    key = directory / "key.pem"
    if not key.exists():
        rsa_key_file(key)
    args = [SCEPCLIENT, "-private-key", str(key), "-server-url", url, "-cn", cn,
            "-ca-fingerprint", ra_fingerprint(url)]
    if challenge is not None:
        args += ["-challenge", challenge]
    if certificate is not None:
        args += ["-certificate", str(certificate)]
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout)


def device_name(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:8]}.{DOMAIN}"


def chain_files(tmp: Path, url: str) -> tuple[Path, Path]:
    """(root, the issuing CA and any intermediates) from GetCACert, as PEM files for openssl verify."""
    certs = ca_certificates(url)[1:]
    root, untrusted = tmp / "root.pem", tmp / "untrusted.pem"
    root.write_bytes(certs[-1].public_bytes(PEM))
    untrusted.write_bytes(b"".join(c.public_bytes(PEM) for c in certs[:-1]))
    return root, untrusted


def verified(tmp: Path, url: str, certificate: Path) -> None:
    root, untrusted = chain_files(tmp, url)
    checked = subprocess.run(["openssl", "verify", "-CAfile", str(root), "-untrusted", str(untrusted),
                              str(certificate)], capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0 and ": OK" in checked.stdout, checked.stdout + checked.stderr


def serial_of(path: Path) -> str:
    return format(x509.load_pem_x509_certificate(path.read_bytes()).serial_number, "x")


def devices(device_env, endpoint_id: str) -> list[dict]:
    """The device inventory's certificates issued through the endpoint (GET /api/v1/device?endpoint_id=)."""
    answer = device_env.api("GET", "/api/v1/device", params={"endpoint_id": endpoint_id, "size": 200})
    assert answer.status_code == 200, answer.text
    assert all(c["endpoint_id"] == endpoint_id for c in answer.json()["items"])
    return answer.json()["items"]


def in_inventory(device_env, endpoint_id: str) -> dict:
    return {c["serial"].lower().lstrip("0"): c for c in devices(device_env, endpoint_id) if c.get("serial")}


def self_signed(key, cn: str) -> bytes:
    now = datetime.datetime.now(datetime.timezone.utc)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256())).public_bytes(DER)


def device_request(url: str, cn: str, challenge: str | None, transaction_id: str | None = None):
    """(the pkiMessage a device sends for PKCSReq, its key, its self-signed certificate, its transactionID)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
    if challenge is not None:
        builder = builder.add_attribute(AttributeOID.CHALLENGE_PASSWORD, challenge.encode())
    csr = builder.sign(key, hashes.SHA256()).public_bytes(DER)
    signer = self_signed(key, cn)
    transaction_id = transaction_id or uuid.uuid4().hex
    ra = ca_certificates(url)[0].public_bytes(DER)
    message = sc.request_message(sc.MessageType.PKCS_REQ, transaction_id, csr, key, signer, ra,
                                 datetime.datetime.now(datetime.timezone.utc))
    return message, key, signer, transaction_id


def cert_rep(answer: requests.Response) -> sc.PkiMessage:
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"] == "application/x-pki-message"
    return sc.read_pki_message(answer.content)


# ---- fixtures -----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def auto(device_env) -> dict:
    """An scep endpoint whose profile issues at once: (endpoint, challenge password)."""
    made = device_env.endpoint("scep", "auto")
    assert made["scep_url"].endswith(f"/scep/{made['uri_extension']}")
    return {"endpoint": made, "url": made["scep_url"], "challenge": made["credentials"]["challenge_password"]}


@pytest.fixture(scope="module")
def approver(device_env):
    """A second administrator: who approves what a device requested."""
    return device_env.server.admin(f"scep-approver-{uuid.uuid4().hex[:6]}", [
        {"role": "RAO", "cert_type": "device", "organization_ids": [device_env.org_id]}])[1]


# ---- GetCACaps, GetCACert --------------------------------------------------------------------------------
def test_getcacaps_lists_what_the_server_offers(auto):
    answer = get(auto["url"], "GetCACaps")
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/plain")
    assert set(answer.text.split()) >= {"POSTPKIOperation", "SHA-256", "SHA-512", "AES", "SCEPStandard", "Renewal"}


def test_getcacert_gives_the_ra_certificate_then_the_endpoints_chain(auto, tmp_path):
    ra, *chain = ca_certificates(auto["url"])
    assert isinstance(ra.public_key(), rsa.RSAPublicKey) and ra.public_key().key_size >= 2048
    usage = ra.extensions.get_extension_for_oid(ExtensionOID.KEY_USAGE).value
    assert usage.digital_signature and usage.key_encipherment
    assert not ra.extensions.get_extension_for_oid(ExtensionOID.BASIC_CONSTRAINTS).value.ca
    assert ra.issuer == chain[0].subject and chain[-1].issuer == chain[-1].subject      # up to the root
    (tmp_path / "ra.pem").write_bytes(ra.public_bytes(PEM))
    verified(tmp_path, auto["url"], tmp_path / "ra.pem")
    assert ca_certificates(auto["url"] + "/pkiclient.exe")[0] == ra                     # the old clients' path


# ---- scepclient: PKCSReq, RenewalReq ---------------------------------------------------------------------
def test_scepclient_enrolls_then_renews_with_its_certificate(device_env, auto, tmp_path):
    name = device_name("printer")
    run = scepclient(tmp_path / "device", auto["url"], name, challenge=auto["challenge"])
    assert run.returncode == 0, run.stdout + run.stderr
    first = tmp_path / "device" / "client.pem"
    verified(tmp_path, auto["url"], first)
    certificate = x509.load_pem_x509_certificate(first.read_bytes())
    organization = certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    assert [a.value for a in organization] == [ORG["name"]]           # the organization's, not the CSR's
    assert certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == name
    listed = in_inventory(device_env, auto["endpoint"]["endpoint_id"])[serial_of(first)]
    assert listed["organization_id"] == device_env.org_id and listed["status"] in ("issued", "downloaded")

    kept = tmp_path / "first.pem"
    shutil.copy(first, kept)
    renewed = scepclient(tmp_path / "device", auto["url"], name, certificate=first)   # signed by the first
    assert renewed.returncode == 0, renewed.stdout + renewed.stderr
    assert serial_of(first) != serial_of(kept)
    verified(tmp_path, auto["url"], first)
    inventory = in_inventory(device_env, auto["endpoint"]["endpoint_id"])
    assert {serial_of(kept), serial_of(first)} <= set(inventory)


def test_a_wrong_challenge_fails_and_nothing_is_issued(device_env, auto, tmp_path):
    before = len(devices(device_env, auto["endpoint"]["endpoint_id"]))
    run = scepclient(tmp_path / "device", auto["url"], device_name("wrong"), challenge="not-the-password")
    assert run.returncode != 0 and "badRequest" in run.stdout, run.stdout + run.stderr
    missing = scepclient(tmp_path / "other", auto["url"], device_name("none"))
    assert missing.returncode != 0 and "badRequest" in missing.stdout, missing.stdout
    assert len(devices(device_env, auto["endpoint"]["endpoint_id"])) == before


def test_a_one_time_challenge_works_once(device_env, auto, tmp_path):
    endpoint_id = auto["endpoint"]["endpoint_id"]
    issued = device_env.api("POST", f"{_ENDPOINTS}/{endpoint_id}/challenges",
                            json={"device_name": "badge-reader", "valid_hours": 1})
    assert issued.status_code == 201, issued.text
    challenge = issued.json()["challenge"]
    first = scepclient(tmp_path / "first", auto["url"], device_name("badge"), challenge=challenge)
    assert first.returncode == 0, first.stdout + first.stderr
    cert_id = in_inventory(device_env, endpoint_id)[serial_of(tmp_path / "first" / "client.pem")]["cert_id"]
    listed = device_env.api("GET", f"{_ENDPOINTS}/{endpoint_id}/challenges").json()["items"]
    used = next(c for c in listed if c["challenge_id"] == issued.json()["challenge_id"])
    assert used["status"] == "used" and used["cert_id"] == cert_id          # the admin sees which device used it
    before = len(devices(device_env, endpoint_id))
    again = scepclient(tmp_path / "second", auto["url"], device_name("badge"), challenge=challenge)
    assert again.returncode != 0 and "badRequest" in again.stdout, again.stdout
    assert len(devices(device_env, endpoint_id)) == before


def test_pending_until_an_administrator_approves_then_success(device_env, approver, tmp_path):
    made = device_env.endpoint("scep", "approval")
    url, endpoint_id = made["scep_url"], made["endpoint_id"]
    directory = tmp_path / "device"
    rsa_key_file(directory / "key.pem")
    client = subprocess.Popen([SCEPCLIENT, "-private-key", str(directory / "key.pem"), "-server-url", url,
                               "-cn", device_name("camera"), "-challenge", made["credentials"]["challenge_password"],
                               "-ca-fingerprint", ra_fingerprint(url)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        waiting = []
        deadline = time.monotonic() + 60
        while not waiting and time.monotonic() < deadline:
            waiting = [c for c in devices(device_env, endpoint_id) if c["status"] == "requested"]
            time.sleep(0.3)
        assert len(waiting) == 1, devices(device_env, endpoint_id)
        assert client.poll() is None                                      # PENDING: it waits and resends
        approved = approver("POST", f"/api/v1/device/{waiting[0]['cert_id']}/approve")
        assert approved.status_code == 200, approved.text
        output, _ = client.communicate(timeout=120)
    finally:
        if client.poll() is None:
            client.kill()
    assert client.returncode == 0, output
    assert "PENDING" in output and "SUCCESS" in output
    verified(tmp_path, url, directory / "client.pem")
    assert [c["status"] for c in devices(device_env, endpoint_id)] in (["issued"], ["downloaded"])


def test_a_declined_request_answers_failure_with_the_reason_to_its_resend_and_its_poll(device_env, approver):
    made = device_env.endpoint("scep", "approval")
    url, endpoint_id = made["scep_url"], made["endpoint_id"]
    message, key, signer, transaction_id = device_request(url, device_name("kiosk"),
                                                          made["credentials"]["challenge_password"])

    def send(der: bytes) -> sc.PkiMessage:
        return cert_rep(requests.post(f"{url}?operation=PKIOperation", data=der, timeout=60,
                                      headers={"Content-Type": "application/x-pki-message"}))

    assert send(message).pki_status == sc.PkiStatus.PENDING
    assert send(message).pki_status == sc.PkiStatus.PENDING                  # a resend: the same request
    [waiting] = devices(device_env, endpoint_id)
    declined = approver("POST", f"/api/v1/device/{waiting['cert_id']}/decline", json={"reason": "not ours"})
    assert declined.status_code == 200, declined.text
    resent = send(message)
    assert resent.pki_status == sc.PkiStatus.FAILURE and resent.fail_info == sc.FailInfo.BAD_REQUEST
    assert "declined" in resent.fail_info_text and "not ours" in resent.fail_info_text
    ca = ca_certificates(url)[1]
    poll = sc.request_message(sc.MessageType.CERT_POLL, transaction_id, sc.issuer_and_subject(
        ca.subject.public_bytes(), x509.load_der_x509_certificate(signer).subject.public_bytes()), key, signer,
        ca_certificates(url)[0].public_bytes(DER), datetime.datetime.now(datetime.timezone.utc))
    assert send(poll).pki_status == sc.PkiStatus.FAILURE
    assert [c["status"] for c in devices(device_env, endpoint_id)] == ["declined"]


# ---- certmonger's scep-submit ----------------------------------------------------------------------------
def test_certmonger_scep_submit_caps_certs_enrollment_and_initial_cert(device_env, auto, tmp_path):
    url = auto["url"]
    caps = subprocess.run([SCEP_SUBMIT, "-u", url, "-c"], capture_output=True, text=True, timeout=30)
    assert caps.returncode == 0 and "SCEPStandard" in caps.stdout.split(), caps.stdout + caps.stderr
    certs = subprocess.run([SCEP_SUBMIT, "-u", url, "-C"], capture_output=True, text=True, timeout=30)
    assert certs.returncode == 0, certs.stderr
    printed = x509.load_pem_x509_certificates(certs.stdout.encode())
    expected = ca_certificates(url)
    assert printed[0] == expected[0] and sorted(map(bytes, (c.public_bytes(DER) for c in printed))) == sorted(
        c.public_bytes(DER) for c in expected)          # the RA first; then a CA and the others, as it tells them
    (tmp_path / "ra.pem").write_bytes(printed[0].public_bytes(PEM))
    (tmp_path / "ca.pem").write_bytes(printed[1].public_bytes(PEM))
    (tmp_path / "others.pem").write_bytes(b"".join(c.public_bytes(PEM) for c in printed[2:]))
    trust = ["-r", str(tmp_path / "ra.pem"), "-N", str(tmp_path / "ca.pem"), "-I", str(tmp_path / "others.pem")]

    name = device_name("cm")
    message, key, signer, transaction_id = device_request(url, name, auto["challenge"])
    request = tmp_path / "request.pem"
    request.write_text("-----BEGIN PKCS7-----\n" + base64.encodebytes(message).decode() + "-----END PKCS7-----\n")
    submitted = subprocess.run([SCEP_SUBMIT, "-u", url, *trust, "-p", str(request)],
                               capture_output=True, text=True, timeout=60)
    assert submitted.returncode == 0, submitted.stdout + submitted.stderr       # 0: issued
    issued = _opened(submitted.stdout, key, signer)
    assert issued.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == name

    # GetCertInitial (CertPoll) for the same transaction: the same certificate
    ra = printed[0].public_bytes(DER)
    poll = sc.request_message(sc.MessageType.CERT_POLL, transaction_id, sc.issuer_and_subject(
        printed[1].subject.public_bytes(), issued.subject.public_bytes()), key, signer, ra,
        datetime.datetime.now(datetime.timezone.utc))
    request.write_text("-----BEGIN PKCS7-----\n" + base64.encodebytes(poll).decode() + "-----END PKCS7-----\n")
    polled = subprocess.run([SCEP_SUBMIT, "-u", url, *trust, "-g", str(request)],
                            capture_output=True, text=True, timeout=60)
    assert polled.returncode == 0, polled.stdout + polled.stderr
    assert _opened(polled.stdout, key, signer) == issued
    assert format(issued.serial_number, "x") in in_inventory(device_env, auto["endpoint"]["endpoint_id"])


def _opened(pem_envelope: str, key, signer: bytes) -> x509.Certificate:
    """The certificate in the pkcsPKIEnvelope scep-submit printed, decrypted with the device's key."""
    der = base64.b64decode("".join(line for line in pem_envelope.splitlines() if "-----" not in line))
    holder = sc.PkiMessage(3, "t", b"", b"", "sha256", None, der)
    plaintext, _cipher = sc.open_envelope(holder, key, signer)
    return x509.load_der_x509_certificate(sc.certificates_of(plaintext)[0])


# ---- PKIOperation over GET and what the server refuses ---------------------------------------------------
def test_pkioperation_over_get_with_a_bare_plus_in_the_query(device_env, auto):
    message = b""
    while b"+" not in base64.b64encode(message):          # a message whose base64 has a '+', sent unencoded
        message, key, signer, transaction_id = device_request(auto["url"], device_name("get"), auto["challenge"])
    query = "operation=PKIOperation&message=" + base64.b64encode(message).decode().replace("/", "%2F")
    rep = cert_rep(requests.get(f"{auto['url']}?{query}", timeout=60))
    sc.check_signature(rep)
    assert rep.pki_status == sc.PkiStatus.SUCCESS and rep.transaction_id == transaction_id
    plaintext, _ = sc.open_envelope(rep, key, signer)
    assert x509.load_der_x509_certificate(sc.certificates_of(plaintext)[0])


def test_a_post_body_in_base64_is_read_when_the_client_says_so(auto):
    message, key, signer, transaction_id = device_request(auto["url"], device_name("b64"), auto["challenge"])
    rep = cert_rep(requests.post(f"{auto['url']}/pkiclient.exe?operation=PKIOperation", timeout=60,
                                 data=base64.encodebytes(message), headers={
                                     "Content-Type": "application/x-pki-message",
                                     "Content-Transfer-Encoding": "base64"}))
    assert rep.pki_status == sc.PkiStatus.SUCCESS and rep.transaction_id == transaction_id


def test_a_tampered_message_is_bad_message_check_and_nothing_is_issued(device_env, auto):
    endpoint_id = auto["endpoint"]["endpoint_id"]
    before = len(devices(device_env, endpoint_id))
    message, *_rest, transaction_id = device_request(auto["url"], device_name("tamper"), auto["challenge"],
                                                     transaction_id="tamper-AAAA")
    tampered = message.replace(b"tamper-AAAA", b"tamper-BBBB")
    rep = cert_rep(requests.post(f"{auto['url']}?operation=PKIOperation", data=tampered, timeout=60,
                                 headers={"Content-Type": "application/x-pki-message"}))
    assert rep.pki_status == sc.PkiStatus.FAILURE and rep.fail_info == sc.FailInfo.BAD_MESSAGE_CHECK
    assert "signature" in rep.fail_info_text
    assert len(devices(device_env, endpoint_id)) == before


def test_bad_time_bad_alg_and_bad_cert_id_are_failures_with_nothing_issued(device_env, auto):
    endpoint_id, url = auto["endpoint"]["endpoint_id"], auto["url"]
    before = len(devices(device_env, endpoint_id))
    ra = ca_certificates(url)[0].public_bytes(DER)

    def post(der: bytes) -> sc.PkiMessage:
        return cert_rep(requests.post(f"{url}?operation=PKIOperation", data=der, timeout=60,
                                      headers={"Content-Type": "application/x-pki-message"}))

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = device_name("clock")
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    csr = (x509.CertificateSigningRequestBuilder().subject_name(subject)
           .add_attribute(AttributeOID.CHALLENGE_PASSWORD, auto["challenge"].encode())
           .sign(key, hashes.SHA256()).public_bytes(DER))
    two_days_ago = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=2)
    stale = sc.request_message(sc.MessageType.PKCS_REQ, uuid.uuid4().hex, csr, key, self_signed(key, name), ra,
                               two_days_ago)
    assert post(stale).fail_info == sc.FailInfo.BAD_TIME

    ec_key = ec.generate_private_key(ec.SECP256R1())
    ec_signed = sc.request_message(sc.MessageType.PKCS_REQ, uuid.uuid4().hex, csr, ec_key,
                                   self_signed(ec_key, name), ra, datetime.datetime.now(datetime.timezone.utc))
    refused = post(ec_signed)
    assert refused.fail_info == sc.FailInfo.BAD_ALG and "RSA" in refused.fail_info_text

    poll = sc.request_message(sc.MessageType.CERT_POLL, "never-sent-" + uuid.uuid4().hex, sc.issuer_and_subject(
        ca_certificates(url)[1].subject.public_bytes(), x509.Name([]).public_bytes()), key, self_signed(key, name),
        ra, datetime.datetime.now(datetime.timezone.utc))
    assert post(poll).fail_info == sc.FailInfo.BAD_CERT_ID
    assert len(devices(device_env, endpoint_id)) == before


def test_what_is_not_a_pkimessage_is_400_text_with_the_reason(auto):
    answer = requests.post(f"{auto['url']}?operation=PKIOperation", data=b"\x30\x03\x02\x01\x01", timeout=30,
                           headers={"Content-Type": "application/x-pki-message"})
    assert answer.status_code == 400 and answer.headers["Content-Type"].startswith("text/plain")
    assert "SignedData" in answer.text
    unknown = get(auto["url"], "GetNextCACert")
    assert unknown.status_code == 400 and "GetCACaps" in unknown.text
    assert requests.post(f"{auto['url']}?operation=PKIOperation", data=b"x" * 70000, timeout=30,
                         headers={"Content-Type": "application/x-pki-message"}).status_code == 413


def test_an_unknown_endpoint_is_404_and_a_disabled_one_403(device_env, auto):
    base = auto["url"].rsplit("/", 1)[0]
    missing = get(f"{base}/no-such-endpoint", "GetCACaps")
    assert missing.status_code == 404 and missing.headers["Content-Type"].startswith("text/plain")
    made = device_env.endpoint("scep", "auto")
    disabled = device_env.api("PATCH", f"/api/v1/device-endpoints/{made['endpoint_id']}",
                              json={"status": "disabled"})
    assert disabled.status_code == 200, disabled.text
    refused = get(made["scep_url"], "GetCACert")
    assert refused.status_code == 403 and "disabled" in refused.text
    web_form = device_env.endpoint("web_form", "auto")
    assert get(f"{base}/{web_form['uri_extension']}", "GetCACaps").status_code == 404    # not an scep one


def test_devices_racing_to_a_new_cas_first_request_all_get_its_one_ra(device_env, tmp_path):
    """The RA of an issuing CA is made at the first request that needs it; requests racing there get one."""
    ca = device_env.api("POST", "/api/v1/cas", json={"name": f"SCEP race CA {uuid.uuid4().hex[:6]}"})
    assert ca.status_code == 201, ca.text
    profile = device_env.api("POST", "/api/v1/profiles", json={
        "name": f"Device on {ca.json()['name']}", "cert_type": "device", "terms": [365], "key_types": KEY_TYPES,
        "extended_key_usage": ["client_auth"], "max_sans": 10, "requires_approval": False,
        "ca_id": ca.json()["ca_id"]})
    assert profile.status_code == 201, profile.text
    made = device_env.endpoint("scep", "auto", profile_ids=[profile.json()["profile_id"]])
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        ras = list(pool.map(lambda _: ca_certificates(made["scep_url"])[0], range(8)))
    assert len({ra.fingerprint(hashes.SHA256()) for ra in ras}) == 1
    assert ras[0].issuer.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == ca.json()["name"]
    run = scepclient(tmp_path / "device", made["scep_url"], device_name("race"),
                     challenge=made["credentials"]["challenge_password"])
    assert run.returncode == 0, run.stdout + run.stderr
    verified(tmp_path, made["scep_url"], tmp_path / "device" / "client.pem")


# ---- parallel enrollment ---------------------------------------------------------------------------------
@pytest.mark.parametrize("clients", [4, 16])
def test_parallel_scepclients_all_succeed_with_unique_serials(device_env, auto, tmp_path, clients):
    directories = [tmp_path / f"device-{i}" for i in range(clients)]
    for directory in directories:
        rsa_key_file(directory / "key.pem")                 # keys made beforehand, not inside the run
    names = [device_name(f"fleet{clients}-{i}") for i in range(clients)]
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        runs = list(pool.map(lambda pair: scepclient(pair[0], auto["url"], pair[1], challenge=auto["challenge"],
                                                     timeout=300), zip(directories, names)))
    failed = [r.stdout + r.stderr for r in runs if r.returncode != 0]
    assert not failed, failed
    serials = [serial_of(d / "client.pem") for d in directories]
    assert len(set(serials)) == clients                     # 0 duplicates
    inventory = in_inventory(device_env, auto["endpoint"]["endpoint_id"])
    assert set(serials) <= set(inventory)
