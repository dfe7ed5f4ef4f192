"""The whole chain can be checked, as a relying party checks it: the root publishes an ARL at the URL the issuing
CA's certificate names and answers OCSP for the issuing CAs' certificates; `openssl verify -crl_check_all` with
the downloaded root ARL and issuing CA CRL passes for a good leaf and fails for a revoked one; an issuing CA is
revoked only when a second MRAO approves, and then every leaf under it fails. And a CA certificate made with
other links than CERTPLANE_PUBLIC_BASE_URL is reported at start and fixed by `reissue`, the old certificate still
downloadable. One embedded Certplane for the module; the revocation is of an issuing CA made here for it, so the
default one keeps issuing for the other tests."""
import base64
import json
import os
import subprocess
import time

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from services.ca.hierarchy import DEFAULT_ISSUING, DEFAULT_ROOT
from tests import factories
from tests.e2e.actors import error_of
from tests.e2e.conftest import Embedded
from tests.support import CERTPLANE

PUBLIC_BASE = "http://pki.chain-e2e.example.com"
DOMAIN = "chain-e2e.example.com"
PEM = serialization.Encoding.PEM
DER = serialization.Encoding.DER


@pytest.fixture(scope="module")
def cp(tmp_path_factory):
    """Certplane whose default CAs were made (`certplane ca init`) before CERTPLANE_PUBLIC_BASE_URL was set, so
    they name http://127.0.0.1:<port>; it runs with the public base URL set."""
    server = Embedded(tmp_path_factory.mktemp("var"), tmp_path_factory.mktemp("logs"),
                      CERTPLANE_CRL_CHECK_INTERVAL="1", CERTPLANE_PUBLIC_BASE_URL=PUBLIC_BASE)
    made = subprocess.run([CERTPLANE, "ca", "init"], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **server.env, "CERTPLANE_PUBLIC_BASE_URL": ""})
    assert made.returncode == 0, made.stdout + made.stderr
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def world(cp):
    """An organization with the domain delegated for ssl, a second MRAO, an RAO, and an issuing CA of its own
    with a profile that issues from it at once."""
    api = cp.api
    org = api.create_org({"name": "Chain Org", "address1": "1 Main St", "city": "Berlin", "state": "Berlin",
                          "country": "DE"})["organization_id"]
    delegated = api("POST", "/api/v1/domains", json={"name": DOMAIN, "delegations": [
        {"organization_id": org, "cert_types": ["ssl"]}]})
    assert delegated.status_code == 201, delegated.text
    made = api("POST", "/api/v1/cas", json={"name": "Chain e2e Issuing CA"})
    assert made.status_code == 201, made.text
    ca_id = made.json()["ca_id"]
    profile = api("POST", "/api/v1/profiles", json={
        "name": "Chain e2e TLS", "ca_id": ca_id, "cert_type": "ssl", "terms": [90], "key_types": ["ec-p256"],
        "extended_key_usage": ["server_auth"], "requires_approval": False})
    assert profile.status_code == 201, profile.text
    second = cp.admin("chain-mrao-2", [{"role": "MRAO"}])[1]
    rao = cp.admin("chain-rao", [{"role": "RAO", "cert_type": "ssl", "organization_ids": [org]}])[1]
    return {"org": org, "ca_id": ca_id, "profile": profile.json()["profile_id"], "mrao2": second, "rao": rao}


# ---- helpers ------------------------------------------------------------------------------------------------------
def issue(cp, world, name: str) -> tuple[dict, list[x509.Certificate]]:
    """A leaf from the module's own issuing CA: (the SSL record, [leaf, issuing, root])."""
    body = {"organization_id": world["org"], "profile_id": world["profile"], "term_days": 90,
            "csr": factories.csr("ec-p256", cn=name, sans=(name,)).decode()}
    answer = cp.api("POST", "/api/v1/ssl", json=body)
    assert answer.status_code == 201, answer.text
    found = answer.json()
    assert found["status"] == "issued", found
    chain = cp.api("GET", f"/api/v1/ssl/{found['ssl_id']}/download", params={"format": "fullchain"})
    assert chain.status_code == 200, chain.text
    return found, x509.load_pem_x509_certificates(chain.content)


def write(directory, name: str, *certs: x509.Certificate) -> str:
    path = directory / name
    path.write_bytes(b"".join(c.public_bytes(PEM) for c in certs))
    return str(path)


def download_crl(cp, directory, ca_id: str, name: str, has_serial: int | None = None) -> str:
    """The CA's CRL from its public URL, written as PEM; with `has_serial`, the first one that lists it (a leaf's
    revocation is in the next CRL, which the test server checks for every second)."""
    deadline = time.monotonic() + 60
    while True:
        answer = requests.get(f"{cp.api.base_url}/crl/{ca_id}.crl", timeout=30)
        if answer.status_code == 200:
            assert answer.headers["Content-Type"] == "application/pkix-crl"
            crl = x509.load_der_x509_crl(answer.content)
            if has_serial is None or crl.get_revoked_certificate_by_serial_number(has_serial) is not None:
                path = directory / name
                path.write_bytes(crl.public_bytes(PEM))
                return str(path)
        assert time.monotonic() < deadline, f"/crl/{ca_id}.crl: {answer.status_code}, or without the revocation"
        time.sleep(0.3)


def openssl(*args) -> subprocess.CompletedProcess:
    return subprocess.run(["openssl", *args], capture_output=True, text=True, timeout=60)


def verify_all(directory, leaf, issuing, root, root_crl: str, issuing_crl: str) -> subprocess.CompletedProcess:
    return openssl("verify", "-crl_check_all", "-CAfile", write(directory, "root.pem", root),
                   "-untrusted", write(directory, "issuing.pem", issuing), "-CRLfile", root_crl,
                   "-CRLfile", issuing_crl, write(directory, "leaf.pem", leaf))


def openssl_ocsp(cp, directory, cert, issuer) -> str:
    """`openssl ocsp` against /ocsp for `cert` (the response verified against `issuer`): its status line."""
    issuer_path = write(directory, "ocsp-issuer.pem", issuer)
    answer = openssl("ocsp", "-issuer", issuer_path, "-cert", write(directory, "ocsp-cert.pem", cert),
                     "-url", f"{cp.api.base_url}/ocsp", "-CAfile", issuer_path)
    assert "Response verify OK" in answer.stderr + answer.stdout, answer.stdout + answer.stderr
    return answer.stdout


def ocsp_post(cp, der: bytes) -> bytes:
    answer = requests.post(f"{cp.api.base_url}/ocsp", data=der, timeout=30,
                           headers={"Content-Type": "application/ocsp-request"})
    assert answer.status_code == 200
    return answer.content


def ocsp_status(der: bytes) -> ocsp.OCSPCertStatus:
    parsed = ocsp.load_der_ocsp_response(der)
    assert parsed.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
    return parsed.certificate_status


def cert_of(pem: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem.encode())


# ---- links and reissue ---------------------------------------------------------------------------------------
def test_the_start_says_which_ca_names_other_links_than_the_public_base_url(cp):
    output = cp.process.output()
    assert "ca_links_differ_from_public_base_url" in output                      # the ca service's log
    banner = [line for line in output.splitlines() if "WARNING" in line and DEFAULT_ISSUING in line]
    assert banner and f"http://127.0.0.1:{cp.port}" in banner[0] and PUBLIC_BASE in banner[0]
    assert f"certplane ca reissue {DEFAULT_ISSUING}" in banner[0]


def test_reissue_needs_an_mrao(cp, world):
    before = cp.api("GET", f"/api/v1/cas/{DEFAULT_ISSUING}").json()
    refused = world["rao"]("POST", f"/api/v1/cas/{DEFAULT_ISSUING}/reissue")
    assert refused.status_code == 403 and "MRAO" in error_of(refused)["message"]
    assert cp.api("GET", f"/api/v1/cas/{DEFAULT_ISSUING}").json()["certificates"] == before["certificates"]
    assert world["rao"]("POST", "/api/v1/cas/5c0a0000-0000-4000-8000-00000000dead/reissue").status_code == 403
    assert cp.api("POST", "/api/v1/cas/5c0a0000-0000-4000-8000-00000000dead/reissue").status_code == 404


def test_reissue_gives_the_issuing_ca_the_public_links_and_the_old_certificate_stays_downloadable(cp, tmp_path):
    old = cp.api("GET", f"/api/v1/cas/{DEFAULT_ISSUING}").json()
    assert old["certificates"] == [{"serial": old["serial"], "not_before": old["not_before"],
                                    "not_after": old["not_after"], "sha256_fingerprint": old["sha256_fingerprint"],
                                    "current": True}]

    answer = cp.api("POST", f"/api/v1/cas/{DEFAULT_ISSUING}/reissue")

    assert answer.status_code == 200, answer.text
    new = answer.json()
    assert new["serial"] != old["serial"]
    assert [(c["serial"], c["current"]) for c in new["certificates"]] == [(old["serial"], False),
                                                                          (new["serial"], True)]
    old_cert, new_cert = cert_of(old["certificate_pem"]), cert_of(new["certificate_pem"])
    assert new_cert.public_key() == old_cert.public_key() and new_cert.subject == old_cert.subject
    links = new_cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value[0].full_name[0].value
    assert links == f"{PUBLIC_BASE}/crl/{DEFAULT_ROOT}.crl"
    aia = {a.access_location.value for a in new_cert.extensions.get_extension_for_class(
        x509.AuthorityInformationAccess).value}
    assert aia == {f"{PUBLIC_BASE}/ocsp", f"{PUBLIC_BASE}/ca/{DEFAULT_ROOT}.crt"}
    old_links = old_cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value[0].full_name[0].value
    assert old_links.startswith(f"http://127.0.0.1:{cp.port}/")

    base = cp.api.base_url
    served = requests.get(f"{base}/ca/{DEFAULT_ISSUING}.crt", timeout=30)
    assert served.status_code == 200 and x509.load_der_x509_certificate(served.content) == new_cert
    earlier = requests.get(f"{base}/ca/{DEFAULT_ISSUING}.crt", params={"serial": old["serial"], "format": "pem"},
                           timeout=30)
    assert earlier.status_code == 200 and cert_of(earlier.text) == old_cert
    chain = requests.get(f"{base}/ca/{DEFAULT_ISSUING}.crt", params={"format": "chain"}, timeout=30)
    assert x509.load_pem_x509_certificates(chain.content)[0] == new_cert
    assert requests.get(f"{base}/ca/{DEFAULT_ISSUING}.crt", params={"serial": "abcdef"}, timeout=30).status_code \
        == 404
    root = cert_of(cp.api("GET", f"/api/v1/cas/{DEFAULT_ROOT}").json()["certificate_pem"])
    assert "good" in openssl_ocsp(cp, tmp_path, new_cert, root).split(": ", 1)[1]
    assert "good" in openssl_ocsp(cp, tmp_path, old_cert, root).split(": ", 1)[1]


def test_the_cli_reissues_too_and_refuses_what_it_cannot(cp):
    old_root = cp.api("GET", f"/api/v1/cas/{DEFAULT_ROOT}").json()

    answer = cp.cli("ca", "reissue", DEFAULT_ROOT)

    assert answer.returncode == 0, answer.stdout + answer.stderr
    made = json.loads(answer.stdout)
    assert made["reissued"] is True and made["previous_serial"] == old_root["serial"]
    now = cp.api("GET", f"/api/v1/cas/{DEFAULT_ROOT}").json()
    assert now["serial"] == made["ca"]["serial"] != old_root["serial"]
    new_root = cert_of(now["certificate_pem"])
    new_root.verify_directly_issued_by(new_root)
    cert_of(cp.api("GET", f"/api/v1/cas/{DEFAULT_ISSUING}").json()["certificate_pem"]).verify_directly_issued_by(
        new_root)
    unknown = cp.cli("ca", "reissue", "no-such-ca")
    assert unknown.returncode == 1 and "no-such-ca does not exist" in unknown.stderr
    missing = cp.cli("ca", "reissue")
    assert missing.returncode == 2 and "needs the CA" in missing.stderr


# ---- the chain, checked with CRLs and OCSP ----------------------------------------------------------------------
def test_the_root_publishes_its_arl_where_the_issuing_ca_certificate_points(cp, world):
    issuing = cert_of(cp.api("GET", f"/api/v1/cas/{world['ca_id']}").json()["certificate_pem"])
    url = issuing.extensions.get_extension_for_class(x509.CRLDistributionPoints).value[0].full_name[0].value
    assert url == f"{PUBLIC_BASE}/crl/{DEFAULT_ROOT}.crl"
    answer = requests.get(f"{cp.api.base_url}/crl/{DEFAULT_ROOT}.crl", timeout=30)
    assert answer.status_code == 200
    arl = x509.load_der_x509_crl(answer.content)
    root = cert_of(cp.api("GET", f"/api/v1/cas/{DEFAULT_ROOT}").json()["certificate_pem"])
    assert arl.issuer == root.subject and arl.is_signature_valid(root.public_key())
    assert 7 < (arl.next_update_utc - arl.last_update_utc).days <= 365        # BR 7.2: a CA CRL, up to 12 months


def test_openssl_verifies_the_whole_chain_with_both_crls_and_finds_a_revoked_leaf(cp, world, tmp_path):
    good, (good_leaf, issuing, root) = issue(cp, world, f"good.{DOMAIN}")
    bad, (bad_leaf, _, _) = issue(cp, world, f"revoked.{DOMAIN}")
    assert good["ca_id"] == world["ca_id"]
    root_crl = download_crl(cp, tmp_path, DEFAULT_ROOT, "root.crl")
    issuing_crl = download_crl(cp, tmp_path, world["ca_id"], "issuing.crl")

    passed = verify_all(tmp_path, good_leaf, issuing, root, root_crl, issuing_crl)
    assert passed.returncode == 0 and "OK" in passed.stdout, passed.stdout + passed.stderr

    revoked = cp.api("POST", f"/api/v1/ssl/{bad['ssl_id']}/revoke", json={"reason": "key_compromise"})
    assert revoked.status_code == 200, revoked.text
    issuing_crl = download_crl(cp, tmp_path, world["ca_id"], "issuing.crl", has_serial=bad_leaf.serial_number)
    failed = verify_all(tmp_path, bad_leaf, issuing, root, root_crl, issuing_crl)
    assert failed.returncode != 0 and "certificate revoked" in failed.stdout + failed.stderr
    still = verify_all(tmp_path, good_leaf, issuing, root, root_crl, issuing_crl)
    assert still.returncode == 0, still.stdout + still.stderr


# ---- revoking an issuing CA: two MRAOs ---------------------------------------------------------------------------
@pytest.mark.parametrize("who, ca, body, status, code", [
    ("rao", "own", {"reason": "ca_compromise"}, 403, "forbidden"),
    ("mrao", "root", {"reason": "ca_compromise"}, 422, "root_not_revocable"),
    ("mrao", "unknown", {"reason": "ca_compromise"}, 404, "not_found"),
    ("mrao", "own", {"reason": "because"}, 400, "invalid_request"),
    ("mrao", "own", {"reason": "certificate_hold"}, 400, "invalid_request"),
    ("mrao", "own", {}, 400, "invalid_request"),
])
def test_bad_revocation_requests_are_refused_and_record_nothing(cp, world, who, ca, body, status, code):
    ca_id = {"own": world["ca_id"], "root": DEFAULT_ROOT, "unknown": "5c0a0000-0000-4000-8000-00000000dead"}[ca]
    caller = world["rao"] if who == "rao" else cp.api

    answer = caller("POST", f"/api/v1/cas/{ca_id}/revoke", json=body)

    assert answer.status_code == status, answer.text
    assert error_of(answer)["code"] == code
    assert cp.api("GET", f"/api/v1/cas/{world['ca_id']}").json()["revocation"] is None


def test_a_rejected_request_changes_nothing_and_another_may_follow(cp, world):
    ca_id = world["ca_id"]
    asked = cp.api("POST", f"/api/v1/cas/{ca_id}/revoke", json={"reason": "superseded"})
    assert asked.status_code == 202 and asked.json()["revocation"]["status"] == "requested"
    twice = world["mrao2"]("POST", f"/api/v1/cas/{ca_id}/revoke", json={"reason": "ca_compromise"})
    assert twice.status_code == 409 and error_of(twice)["code"] == "revocation_pending"
    by_rao = world["rao"]("POST", f"/api/v1/cas/{ca_id}/revoke/reject")
    assert by_rao.status_code == 403

    rejected = world["mrao2"]("POST", f"/api/v1/cas/{ca_id}/revoke/reject", json={"message": "not this one"})

    assert rejected.status_code == 200 and rejected.json()["revocation"] is None
    assert rejected.json()["status"] == "active"
    nothing = world["mrao2"]("POST", f"/api/v1/cas/{ca_id}/revoke/approve")
    assert nothing.status_code == 409 and error_of(nothing)["code"] == "no_revocation_requested"


def test_an_issuing_ca_revoked_by_two_mraos_fails_every_leaf_under_it(cp, world, tmp_path):
    ca_id = world["ca_id"]
    _found, (leaf, issuing, root) = issue(cp, world, f"before-revocation.{DOMAIN}")
    _other, (other_leaf, _, _) = issue(cp, world, f"another.{DOMAIN}")
    assert "good" in openssl_ocsp(cp, tmp_path, issuing, root).split(": ", 1)[1]
    nonce_less = ocsp.OCSPRequestBuilder().add_certificate(issuing, root, hashes.SHA1()).build().public_bytes(DER)
    first = ocsp_post(cp, nonce_less)
    assert ocsp_status(first) == ocsp.OCSPCertStatus.GOOD
    assert ocsp_post(cp, nonce_less) == first                # kept by the gateway: the same signed bytes

    asked = cp.api("POST", f"/api/v1/cas/{ca_id}/revoke", json={"reason": "ca_compromise"})
    assert asked.status_code == 202, asked.text
    pending = asked.json()["revocation"]
    assert pending["status"] == "requested" and pending["reason"] == "ca_compromise"
    assert pending["requested_by"] == cp.api("GET", "/api/v1/auth/me").json()["admin_id"]
    own = cp.api("POST", f"/api/v1/cas/{ca_id}/revoke/approve")
    assert own.status_code == 403 and error_of(own)["code"] == "own_request"
    by_rao = world["rao"]("POST", f"/api/v1/cas/{ca_id}/revoke/approve")
    assert by_rao.status_code == 403
    assert ocsp_status(ocsp_post(cp, nonce_less)) == ocsp.OCSPCertStatus.GOOD     # nothing revoked yet

    approved = world["mrao2"]("POST", f"/api/v1/cas/{ca_id}/revoke/approve", json={"message": "confirmed"})

    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "revoked" and approved.json()["revocation"]["status"] == "revoked"
    assert ocsp_status(ocsp_post(cp, nonce_less)) == ocsp.OCSPCertStatus.REVOKED  # the very next request
    assert "revoked" in openssl_ocsp(cp, tmp_path, issuing, root).split(": ", 1)[1]
    root_crl = download_crl(cp, tmp_path, DEFAULT_ROOT, "root.crl", has_serial=issuing.serial_number)
    issuing_crl = download_crl(cp, tmp_path, ca_id, "issuing.crl")
    for each in (leaf, other_leaf):
        failed = verify_all(tmp_path, each, issuing, root, root_crl, issuing_crl)
        assert failed.returncode != 0 and "certificate revoked" in failed.stdout + failed.stderr
    again = world["mrao2"]("POST", f"/api/v1/cas/{ca_id}/revoke/approve")
    assert again.status_code == 409 and error_of(again)["code"] == "already_revoked"
    asked_again = cp.api("POST", f"/api/v1/cas/{ca_id}/revoke", json={"reason": "superseded"})
    assert asked_again.status_code == 409 and error_of(asked_again)["code"] == "already_revoked"
    reissue = cp.api("POST", f"/api/v1/cas/{ca_id}/reissue")
    assert reissue.status_code == 409 and error_of(reissue)["code"] == "ca_revoked"
