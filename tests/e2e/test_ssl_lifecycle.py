"""SSL certificates end to end through HTTP, checked with the tools a PKI administrator uses: request from a CSR,
approval by someone else, download in every format, `openssl verify` against the downloaded chain, pkilint's
own command line, revocation seen by `openssl ocsp` against /ocsp and by `openssl verify -crl_check`."""
import base64
import subprocess
import threading
import time

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509 import ocsp

from tests import factories
from tests.e2e.conftest import Embedded

ORG = {"address1": "1 Main St", "city": "Berlin", "state": "Berlin", "country": "DE"}
VENV_BIN = factories.__file__.rsplit("/tests/", 1)[0] + "/.venv/bin"


@pytest.fixture(scope="module")
def cp(tmp_path_factory):
    server = Embedded(tmp_path_factory.mktemp("var"), tmp_path_factory.mktemp("logs"),
                      CERTPLANE_CRL_CHECK_INTERVAL="1",
                      # every auto-renew certificate is "due" (90-day terms, renewed 365 days ahead), checked each second
                      CERTPLANE_AUTO_RENEW_DAYS="365", CERTPLANE_AUTO_RENEW_CHECK_INTERVAL="1",
                      # CRL and OCSP URLs in certificates must name a public DNS name (BR; pkilint refuses 127.0.0.1)
                      CERTPLANE_PUBLIC_BASE_URL="http://pki.certplane-e2e.example.com").start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def world(cp):
    api = cp.api
    org = api.create_org({"name": "SSL Org", **ORG})
    other = api.create_org({"name": "SSL Other Org", **ORG})
    org_id = org["organization_id"]
    for name, types, target in (("ssl-e2e.example.com", ["ssl"], org_id), ("client-only.example.com", ["client"], org_id),
                                ("inactive.example.com", ["ssl"], org_id),
                                ("elsewhere.example.com", ["ssl"], other["organization_id"])):
        created = api("POST", "/api/v1/domains", json={"name": name, "delegations": [
            {"organization_id": target, "cert_types": types}]})
        assert created.status_code == 201, created.text
        if name == "inactive.example.com":
            api("PATCH", f"/api/v1/domains/{created.json()['domain_id']}", json={"active": False})
    profiles = {p["name"]: p for p in wait_for_profiles(api)}
    rao = cp.admin("ssl-rao", [{"role": "RAO", "cert_type": "ssl", "organization_ids": [org_id]}])[1]
    auto = cp.admin("ssl-auto", [{"role": "RAO", "cert_type": "ssl", "organization_ids": [org_id]}],
                    ["ssl_auto_approve"])[1]
    client_rao = cp.admin("ssl-client-rao", [{"role": "RAO", "cert_type": "client", "organization_ids": [org_id]}])[1]
    # the default private TLS profile, made to need approval: the lifecycle is request, approve, issue
    tls = api("PATCH", f"/api/v1/profiles/{profiles['Private TLS Server']['profile_id']}",
              json={"requires_approval": True})
    assert tls.status_code == 200, tls.text
    return {"org": org_id, "tls": tls.json(), "rao": rao, "auto": auto, "client_rao": client_rao}


def wait_for_profiles(api, timeout: float = 30.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        items = api("GET", "/api/v1/profiles").json()["items"]
        if items:
            return items
        time.sleep(0.2)
    raise AssertionError("no default profiles")


def request(api, world, name="www.ssl-e2e.example.com", csr=None, expect=201, **fields):
    body = {"organization_id": world["org"], "profile_id": world["tls"]["profile_id"], "term_days": 90,
            "csr": (csr or factories.csr("ec-p256", cn=name, sans=(name,))).decode() if isinstance(
                csr or b"", bytes) else csr, **fields}
    response = api("POST", "/api/v1/ssl", json=body)
    assert response.status_code == expect, response.text
    return response.json()


def download(api, ssl_id, fmt) -> bytes:
    response = api("GET", f"/api/v1/ssl/{ssl_id}/download", params={"format": fmt})
    assert response.status_code == 200, response.text
    return response.content


def openssl(*args, input=None) -> subprocess.CompletedProcess:
    return subprocess.run(["openssl", *args], capture_output=True, text=True, timeout=60, input=input)


def test_request_approve_issue_verify_revoke(cp, world, tmp_path):
    api = cp.api
    requested = request(world["rao"], world)
    assert requested["status"] == "requested" and requested["serial"] is None
    own = world["rao"]("POST", f"/api/v1/ssl/{requested['ssl_id']}/approve")
    assert own.status_code == 403 and own.json()["error"]["code"] == "own_request"
    approved = api("POST", f"/api/v1/ssl/{requested['ssl_id']}/approve", json={"message": "ok"})
    assert approved.status_code == 200, approved.text
    issued = approved.json()
    assert issued["status"] == "issued" and int(issued["serial"], 16) >= 2 ** 64

    leaf, chain, fullchain = (tmp_path / n for n in ("leaf.pem", "chain.pem", "fullchain.pem"))
    leaf.write_bytes(download(world["rao"], issued["ssl_id"], "pem"))
    chain.write_bytes(download(world["rao"], issued["ssl_id"], "chain"))
    fullchain.write_bytes(download(world["rao"], issued["ssl_id"], "fullchain"))
    assert api("GET", f"/api/v1/ssl/{issued['ssl_id']}").json()["status"] == "downloaded"
    certs = x509.load_pem_x509_certificates(fullchain.read_bytes())
    assert len(certs) == 3 and certs[0].serial_number == int(issued["serial"], 16)
    (tmp_path / "root.pem").write_bytes(certs[2].public_bytes(serialization.Encoding.PEM))
    (tmp_path / "issuing.pem").write_bytes(certs[1].public_bytes(serialization.Encoding.PEM))
    verified = openssl("verify", "-CAfile", str(tmp_path / "root.pem"), "-untrusted", str(tmp_path / "issuing.pem"),
                       str(leaf))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    der = download(world["rao"], issued["ssl_id"], "der")
    assert x509.load_der_x509_certificate(der) == certs[0]
    p7 = download(world["rao"], issued["ssl_id"], "p7b")
    assert len(pkcs7.load_der_pkcs7_certificates(p7)) == 3
    subject = certs[0].subject
    assert subject.get_attributes_for_oid(x509.NameOID.ORGANIZATION_NAME)[0].value == "SSL Org"
    san = certs[0].extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["www.ssl-e2e.example.com"]

    linted = subprocess.run([f"{VENV_BIN}/lint_pkix_cert", "lint", "-s", "ERROR", str(leaf)],
                            capture_output=True, text=True, timeout=120)
    assert linted.returncode == 0 and "ERROR" not in linted.stdout, linted.stdout + linted.stderr

    ocsp_before = ocsp_status(api, certs[0], certs[1], tmp_path)
    assert "good" in ocsp_before
    revoked = api("POST", f"/api/v1/ssl/{issued['ssl_id']}/revoke", json={"reason": "key_compromise"})
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    twice = api("POST", f"/api/v1/ssl/{issued['ssl_id']}/revoke")
    assert twice.status_code == 409 and twice.json()["error"]["code"] == "already_revoked"
    assert "revoked" in ocsp_status(api, certs[0], certs[1], tmp_path)

    crl_path = tmp_path / "issuing.crl"
    deadline = time.monotonic() + 60
    while True:        # the next CRL is published within a minute of a revocation (here: checked every second)
        crl = requests.get(f"{api.base_url}/crl/{issued['ca_id']}.crl", timeout=30)
        assert crl.status_code == 200 and crl.headers["Content-Type"] == "application/pkix-crl"
        parsed = x509.load_der_x509_crl(crl.content)
        if parsed.get_revoked_certificate_by_serial_number(certs[0].serial_number) is not None:
            break
        assert time.monotonic() < deadline, "the revocation is not in the CRL after 60 s"
        time.sleep(0.5)
    assert parsed.next_update_utc - parsed.last_update_utc <= __import__("datetime").timedelta(days=7)
    crl_path.write_bytes(crl.content)
    crl_pem = tmp_path / "issuing.crl.pem"
    assert openssl("crl", "-inform", "DER", "-in", str(crl_path), "-out", str(crl_pem)).returncode == 0
    checked = openssl("verify", "-crl_check", "-CAfile", str(tmp_path / "root.pem"), "-untrusted",
                      str(tmp_path / "issuing.pem"), "-CRLfile", str(crl_pem), str(leaf))
    assert checked.returncode != 0 and "certificate revoked" in (checked.stdout + checked.stderr)


def ocsp_status(api, leaf, issuer, tmp_path) -> str:
    (tmp_path / "o-leaf.pem").write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "o-issuer.pem").write_bytes(issuer.public_bytes(serialization.Encoding.PEM))
    result = openssl("ocsp", "-issuer", str(tmp_path / "o-issuer.pem"), "-cert", str(tmp_path / "o-leaf.pem"),
                     "-url", f"{api.base_url}/ocsp", "-VAfile", str(tmp_path / "o-issuer.pem"), "-resp_text")
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.split("o-leaf.pem:", 1)[1].splitlines()[0] if "o-leaf.pem:" in result.stdout \
        else result.stdout


def test_an_unknown_serial_and_a_foreign_ca_get_no_good_answer(cp, world):
    api = cp.api
    chain = factories.ca_chain()
    spec = factories.leaf_spec(factories.private_key("ec-p256").public_key(), chain.now)
    from services.ca import x509build
    foreign = x509build.build_leaf(spec, chain.issuing, chain.issuing_key)
    query = ocsp.OCSPRequestBuilder().add_certificate(foreign, chain.issuing, hashes.SHA1()).build()
    answer = requests.post(f"{api.base_url}/ocsp", data=query.public_bytes(serialization.Encoding.DER),
                           headers={"Content-Type": "application/ocsp-request"}, timeout=30)
    assert answer.status_code == 200
    assert ocsp.load_der_ocsp_response(answer.content).response_status == ocsp.OCSPResponseStatus.UNAUTHORIZED

    ours = x509.load_pem_x509_certificates(
        requests.get(f"{api.base_url}/ca/{api('GET', '/api/v1/cas').json()['items'][1]['ca_id']}.crt",
                     params={"format": "pem"}, timeout=30).content)[0]
    unknown = ocsp.OCSPRequestBuilder().add_certificate_by_hash(
        _issuer_name_hash(ours), _issuer_key_hash(ours), 12345678901234567890, hashes.SHA1()).build()
    encoded = base64.b64encode(unknown.public_bytes(serialization.Encoding.DER)).decode()
    answer = requests.get(f"{api.base_url}/ocsp/{encoded}", timeout=30)
    parsed = ocsp.load_der_ocsp_response(answer.content)
    assert parsed.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
    assert parsed.certificate_status == ocsp.OCSPCertStatus.UNKNOWN


def _issuer_name_hash(ca: x509.Certificate) -> bytes:
    digest = hashes.Hash(hashes.SHA1())
    digest.update(ca.subject.public_bytes())
    return digest.finalize()


def _issuer_key_hash(ca: x509.Certificate) -> bytes:
    return x509.SubjectKeyIdentifier.from_public_key(ca.public_key()).digest


def test_auto_approve_issues_at_once_and_500_serials_are_unique(cp, world):
    names = [f"host{n}.ssl-e2e.example.com" for n in range(500)]
    csrs = {name: factories.csr("ec-p256", cn=name, sans=(name,)).decode() for name in names}
    issued, failures = [], []

    def client(chunk):
        for name in chunk:
            response = world["auto"]("POST", "/api/v1/ssl", json={
                "organization_id": world["org"], "profile_id": world["tls"]["profile_id"], "term_days": 90,
                "csr": csrs[name]})
            (issued if response.status_code == 201 else failures).append(response.json())

    threads = [threading.Thread(target=client, args=(names[i::8],)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == [] and len(issued) == 500
    assert all(i["status"] == "issued" for i in issued)
    assert len({i["serial"] for i in issued}) == 500
    listed = world["rao"]("GET", "/api/v1/ssl", params={"q": "host1", "status": "issued", "size": 200}).json()
    assert listed["total"] == 111 and all("host1" in s["common_name"] for s in listed["items"])
    assert int(world["rao"]("HEAD", "/api/v1/ssl").headers["X-Total-Count"]) >= 501
    assert world["client_rao"]("GET", "/api/v1/ssl").json()["total"] == 0       # out of scope: not even counted


def test_two_racing_approvals_issue_one_certificate(cp, world):
    requested = request(world["rao"], world, name="race.ssl-e2e.example.com")
    path = f"/api/v1/ssl/{requested['ssl_id']}/approve"
    answers = []
    threads = [threading.Thread(target=lambda api=api: answers.append(api("POST", path).status_code))
               for api in (cp.api, world["auto"])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers) == [200, 409]
    found = world["rao"]("GET", "/api/v1/ssl", params={"q": "race.ssl-e2e"}).json()["items"]
    assert [f["status"] for f in found] == ["issued"]


def test_decline_then_approve_is_refused(cp, world):
    requested = request(world["rao"], world, name="declined.ssl-e2e.example.com")
    path = f"/api/v1/ssl/{requested['ssl_id']}"
    assert cp.api("POST", path + "/decline", json={"reason": "not needed"}).json()["status"] == "declined"
    again = cp.api("POST", path + "/approve")
    assert again.status_code == 409 and again.json()["error"]["code"] == "ssl_declined"


def _odd_csr(kind: str) -> str:
    good = factories.csr("ec-p256", cn="www.ssl-e2e.example.com", sans=("www.ssl-e2e.example.com",)).decode()
    body = "".join(good.splitlines()[1:-1])
    if kind == "junk":
        return "hello, I am not a CSR"
    if kind == "truncated":
        return "\n".join(good.splitlines()[:4]) + "\n-----END CERTIFICATE REQUEST-----\n"
    if kind == "bad-base64":
        return "-----BEGIN CERTIFICATE REQUEST-----\n" + body[:40] + "!!!*" + body[44:] + \
            "\n-----END CERTIFICATE REQUEST-----\n"
    if kind == "bad-signature":
        der = bytearray(x509.load_pem_x509_csr(good.encode()).public_bytes(serialization.Encoding.DER))
        der[-3] ^= 0x01
        return base64.b64encode(bytes(der)).decode()
    raise ValueError(kind)


@pytest.mark.parametrize("kind, code", [("junk", "csr_malformed"), ("truncated", "csr_malformed"),
                                        ("bad-base64", "csr_malformed"), ("bad-signature", "csr_signature_invalid")])
def test_a_broken_csr_is_refused(cp, world, kind, code):
    before = int(cp.api("HEAD", "/api/v1/ssl").headers["X-Total-Count"])
    answer = request(cp.api, world, csr=_odd_csr(kind), expect=400)
    assert answer["error"]["code"] == code
    assert int(cp.api("HEAD", "/api/v1/ssl").headers["X-Total-Count"]) == before


@pytest.mark.parametrize("key_type, code", [("rsa-1024", "csr_key_weak"), ("ec-secp256k1", "csr_key_unsupported"),
                                            ("ec-p192", "csr_key_unsupported")])
def test_a_weak_or_unsupported_key_is_refused(cp, world, key_type, code):
    name = "www.ssl-e2e.example.com"
    answer = request(cp.api, world, csr=factories.csr(key_type, cn=name, sans=(name,)).decode(), expect=400)
    assert answer["error"]["code"] == code


def test_an_rsa_modulus_not_divisible_by_8_is_refused(cp, world):
    from cryptography.hazmat.primitives.asymmetric import rsa
    key = rsa.generate_private_key(65537, 2050)
    name = "www.ssl-e2e.example.com"
    answer = request(cp.api, world, csr=factories.csr(cn=name, sans=(name,), key=key).decode(), expect=400)
    assert answer["error"]["code"] == "csr_key_weak"


@pytest.mark.parametrize("name, reason", [("www.not-delegated.example.com", "not_delegated"),
                                          ("www.client-only.example.com", "not_delegated_for_type"),
                                          ("www.inactive.example.com", "domain_inactive"),
                                          ("www.elsewhere.example.com", "not_delegated")])
def test_names_must_be_delegated_for_ssl_and_active(cp, world, name, reason):
    answer = request(cp.api, world, name=name, expect=422)
    assert answer["error"]["code"] == "names_not_allowed"
    assert answer["error"]["details"]["names"] == {name: reason}


def test_profile_limits(cp, world):
    long_name = "a" * 60 + ".ssl-e2e.example.com"
    csr = factories.csr(cn=None, sans=(long_name,)).decode()
    assert request(cp.api, world, csr=csr, common_name=long_name, expect=400)["error"]["code"] == \
        "common_name_too_long"
    many = tuple(f"n{i}.ssl-e2e.example.com" for i in range(world["tls"]["max_sans"] + 1))
    csr = factories.csr(cn=None, sans=many).decode()
    assert request(cp.api, world, csr=csr, expect=422)["error"]["code"] == "too_many_sans"
    assert request(cp.api, world, term_days=120, expect=400)["error"]["code"] == "term_not_allowed"
    assert request(cp.api, world, term_days=399, expect=422)["error"]["code"] == "term_over_limit"   # private: 398


def test_download_formats_come_from_an_allow_list(cp, world):
    issued = request(world["auto"], world, name="fmt.ssl-e2e.example.com")
    for bad in ("../../x", "pfx", ""):
        response = cp.api("GET", f"/api/v1/ssl/{issued['ssl_id']}/download", params={"format": bad})
        assert response.status_code == 400, bad


def test_a_profile_with_key_encipherment_for_ec_keys_cannot_be_made(cp, world):
    body = {**{k: v for k, v in world["tls"].items() if k not in ("profile_id", "created_at", "updated_at")},
            "name": "Broken TLS", "key_usage": ["digital_signature", "key_encipherment"]}
    answer = cp.api("POST", "/api/v1/profiles", json=body)
    assert answer.status_code == 400 and "key_encipherment" in str(answer.json()["error"]["details"])


def test_renew_keeps_the_details_and_replace_revokes_the_old_certificate(cp, world):
    first = request(world["auto"], world, name="renew.ssl-e2e.example.com")
    renewed = world["auto"]("POST", f"/api/v1/ssl/{first['ssl_id']}/renew")
    assert renewed.status_code == 201, renewed.text
    renewed = renewed.json()
    assert renewed["status"] == "issued" and renewed["renewal_of"] == first["ssl_id"]
    assert renewed["sans"] == first["sans"] and renewed["serial"] != first["serial"]
    assert cp.api("GET", f"/api/v1/ssl/{first['ssl_id']}").json()["renewed_by"] == renewed["ssl_id"]
    assert cp.api("GET", f"/api/v1/ssl/{first['ssl_id']}").json()["status"] == "issued"    # renew keeps it
    name = "renew.ssl-e2e.example.com"
    new_key = factories.csr(cn=name, sans=(name,), key=factories.private_key("rsa-3072")).decode()
    replaced = world["auto"]("POST", f"/api/v1/ssl/{renewed['ssl_id']}/replace", json={"csr": new_key})
    assert replaced.status_code == 201 and replaced.json()["key_type"] == "rsa-3072", replaced.text
    old = cp.api("GET", f"/api/v1/ssl/{renewed['ssl_id']}").json()
    assert old["status"] == "revoked" and old["revocation_reason"] == "superseded"
    again = world["auto"]("POST", f"/api/v1/ssl/{renewed['ssl_id']}/replace")
    assert again.status_code == 409


def test_an_auto_renew_certificate_gets_a_renewal_request_before_it_expires(cp, world):
    issued = request(world["auto"], world, name="auto-renew.ssl-e2e.example.com", auto_renew=True)
    assert issued["status"] == "issued"
    deadline = time.monotonic() + 30
    while (renewed_by := cp.api("GET", f"/api/v1/ssl/{issued['ssl_id']}").json()["renewed_by"]) is None:
        assert time.monotonic() < deadline, "no renewal request within 30 s"
        time.sleep(0.3)
    renewal = cp.api("GET", f"/api/v1/ssl/{renewed_by}").json()
    assert renewal["requested_by"] == "system:auto-renew" and renewal["status"] == "requested"
    assert renewal["sans"] == issued["sans"] and renewal["renewal_of"] == issued["ssl_id"]
    approved = cp.api("POST", f"/api/v1/ssl/{renewed_by}/approve")
    assert approved.status_code == 200 and approved.json()["status"] == "issued", approved.text


def test_the_requester_and_the_external_requester_get_a_collection_mail_whose_link_downloads(cp, world):
    issued = request(world["auto"], world, name="collect.ssl-e2e.example.com",
                     external_requester="owner@collect.example.com")
    deadline = time.monotonic() + 30
    while True:
        mails = [m for m in cp.api("GET", "/api/v1/outbox", params={"size": 200}).json()["items"]
                 if "collect.ssl-e2e.example.com" in m["subject"]]
        if mails:
            break
        assert time.monotonic() < deadline, "no collection mail in the outbox within 30 s"
        time.sleep(0.3)
    [mail] = mails
    assert mail["to"] == "ssl-auto@example.com, owner@collect.example.com"
    link = next(line.split()[0] for line in mail["text"].splitlines() if "format=fullchain" in line)
    token = link.split("/collect/", 1)[1].split("?", 1)[0]
    assert len(token) >= 32 and link.startswith("http://pki.certplane-e2e.example.com/collect/")
    link = link.replace("http://pki.certplane-e2e.example.com", cp.api.base_url)     # that name is not in DNS
    collected = requests.get(link, timeout=30)
    assert collected.status_code == 200
    assert x509.load_pem_x509_certificates(collected.content)[0].serial_number == int(issued["serial"], 16)
    wrong = requests.get(link.replace(token, token[:-2] + "xx"), timeout=30)
    assert wrong.status_code == 404
    evil = requests.get(link.replace("format=fullchain", "format=../../etc/passwd"), timeout=30)
    assert evil.status_code == 400


def test_an_mrao_adds_an_issuing_ca_and_a_profile_issues_from_it(cp, world, tmp_path):
    refused = world["rao"]("POST", "/api/v1/cas", json={"name": "Second Issuing CA"})
    assert refused.status_code == 403
    created = cp.api("POST", "/api/v1/cas", json={"name": "Second Issuing CA", "key_algorithm": "ec-p384"})
    assert created.status_code == 201, created.text
    second = created.json()
    assert second["kind"] == "issuing" and second["key_algorithm"] == "ec-p384" and not second["default"]
    assert cp.api("POST", "/api/v1/cas", json={"name": "Second Issuing CA"}).status_code == 409
    profile = {k: v for k, v in world["tls"].items() if k not in ("profile_id", "created_at", "updated_at")}
    made = cp.api("POST", "/api/v1/profiles", json={**profile, "name": "TLS from the second CA",
                                                     "ca_id": second["ca_id"], "requires_approval": False})
    assert made.status_code == 201, made.text
    issued = request(world["rao"], {**world, "tls": made.json()}, name="second-ca.ssl-e2e.example.com")
    assert issued["status"] == "issued" and issued["ca_id"] == second["ca_id"]
    chain = x509.load_pem_x509_certificates(download(world["rao"], issued["ssl_id"], "fullchain"))
    assert chain[1].subject.rfc4514_string() == second["subject"] and len(chain) == 3
