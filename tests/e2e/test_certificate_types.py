"""Client (S/MIME), code-signing and device certificates end to end through HTTP (issue 15), checked with the tools
their users have: `openssl pkcs12 -info` opens the PKCS#12 with its password (and refuses a wrong one), `openssl
smime -sign/-verify` with a client certificate against the chain, `openssl cms -sign/-verify` of a file with a
code-signing certificate, pkilint's own S/MIME linter on the client certificate, and a device CSR whose O and C
differ getting the organization's. Each bad input of the issue gets its 4xx and records nothing."""
import base64
import re
import subprocess
import time

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests import factories
from tests.e2e.conftest import Embedded
from tests.e2e.test_ssl_lifecycle import VENV_BIN, wait_for_profiles

ORG = {"address1": "1 Main St", "city": "Berlin", "state": "Berlin", "country": "DE"}
PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def cp(tmp_path_factory):
    server = Embedded(tmp_path_factory.mktemp("var"), tmp_path_factory.mktemp("logs"),
                      CERTPLANE_PUBLIC_BASE_URL="http://pki.certplane-e2e.example.com").start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def world(cp):
    api = cp.api
    org = api.create_org({"name": "Types Org", **ORG})
    other = api.create_org({"name": "Types Other Org", **ORG})
    org_id, other_id = org["organization_id"], other["organization_id"]
    for name, types, target in (("types-e2e.example.com", ["ssl", "client", "code_signing"], org_id),
                                ("client-only-types.example.com", ["client"], org_id),
                                ("elsewhere-types.example.com", ["ssl", "client"], other_id)):
        created = api("POST", "/api/v1/domains", json={"name": name, "delegations": [
            {"organization_id": target, "cert_types": types}]})
        assert created.status_code == 201, created.text
    profiles = {p["name"]: p for p in wait_for_profiles(api)}
    for name in ("Private Device", "Private Code Signing"):     # issued at once: one MRAO runs this module
        changed = api("PATCH", f"/api/v1/profiles/{profiles[name]['profile_id']}", json={"requires_approval": False})
        assert changed.status_code == 200, changed.text
    approver = cp.admin("types-approver", [{"role": "RAO", "cert_type": "client", "organization_ids": [org_id]}])[1]
    return {"org": org_id, "other": other_id, "profiles": profiles, "approver": approver}


def _count(api, resource: str) -> int:
    answer = api("HEAD", f"/api/v1/{resource}")
    assert answer.status_code == 200
    return int(answer.headers["X-Total-Count"])


def _run(args, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=60, **kwargs)


def _chain_file(cp, tmp_path) -> str:
    cas = cp.api("GET", "/api/v1/cas").json()["items"]
    path = tmp_path / "cas.pem"
    path.write_text("".join(ca["certificate_pem"] for ca in cas))
    return str(path)


# ---- device ---------------------------------------------------------------------------------------------------

def test_a_device_csr_with_another_o_and_c_gets_the_organizations(cp, world):
    csr = factories.csr("ec-p256", cn="printer-7.types-e2e.example.com", sans=("printer-7.types-e2e.example.com",),
                        organization="Somebody Else Inc", country="US")
    answer = cp.api("POST", "/api/v1/device", json={
        "organization_id": world["org"], "profile_id": world["profiles"]["Private Device"]["profile_id"],
        "term_days": 365, "csr": csr.decode(), "custom_fields": {"asset_tag": "A-7"}})
    assert answer.status_code == 201, answer.text
    device = answer.json()
    assert device["status"] == "issued" and device["cert_type"] == "device"
    assert device["custom_fields"] == {"asset_tag": "A-7"} and device["requested_via"] == "api"
    pem = cp.api("GET", f"/api/v1/device/{device['cert_id']}/download", params={"format": "pem"})
    assert pem.status_code == 200
    cert = x509.load_pem_x509_certificate(pem.content)
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "Types Org"
    assert cert.subject.get_attributes_for_oid(NameOID.COUNTRY_NAME)[0].value == "DE"
    assert cert.subject.get_attributes_for_oid(NameOID.LOCALITY_NAME)[0].value == "Berlin"
    assert cp.api("GET", f"/api/v1/device/{device['cert_id']}").json()["status"] == "downloaded"
    # the device inventory lists it; the client inventory does not
    assert device["cert_id"] in [c["cert_id"] for c in cp.api("GET", "/api/v1/device").json()["items"]]
    assert cp.api("GET", f"/api/v1/client/{device['cert_id']}").status_code == 404


def test_a_device_csr_naming_another_organizations_domain_is_refused(cp, world):
    before = _count(cp.api, "device")
    csr = factories.csr("ec-p256", cn="cam.elsewhere-types.example.com", sans=("cam.elsewhere-types.example.com",))
    answer = cp.api("POST", "/api/v1/device", json={
        "organization_id": world["org"], "profile_id": world["profiles"]["Private Device"]["profile_id"],
        "term_days": 365, "csr": csr.decode()})
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["code"] == "names_not_allowed"
    assert _count(cp.api, "device") == before


# ---- code signing -------------------------------------------------------------------------------------------------

def test_a_code_signing_certificate_signs_a_file_that_verifies(cp, world, tmp_path):
    key = factories.private_key("rsa-3072")
    csr = factories.csr("rsa-3072", cn="anything", sans=(), key=key)
    answer = cp.api("POST", "/api/v1/cscert", json={
        "organization_id": world["org"], "profile_id": world["profiles"]["Private Code Signing"]["profile_id"],
        "term_days": 365, "csr": csr.decode()})
    assert answer.status_code == 201, answer.text
    found = answer.json()
    assert found["status"] == "issued" and found["common_name"] == "Types Org"
    pem = cp.api("GET", f"/api/v1/cscert/{found['cert_id']}/download", params={"format": "pem"}).content
    cert = x509.load_pem_x509_certificate(pem)
    assert cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value == \
        x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING])
    (tmp_path / "cs.pem").write_bytes(pem)
    (tmp_path / "cs.key").write_bytes(factories.pem_key(key))
    (tmp_path / "app.bin").write_bytes(b"\x7fELF pretend program " * 100)
    signed = _run(["openssl", "cms", "-sign", "-binary", "-in", str(tmp_path / "app.bin"), "-signer",
                   str(tmp_path / "cs.pem"), "-inkey", str(tmp_path / "cs.key"), "-outform", "DER", "-out",
                   str(tmp_path / "app.sig"), "-md", "sha256"])
    assert signed.returncode == 0, signed.stderr
    verified = _run(["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", str(tmp_path / "app.sig"),
                     "-content", str(tmp_path / "app.bin"), "-CAfile", _chain_file(cp, tmp_path), "-purpose", "any",
                     "-out", "/dev/null"])
    assert verified.returncode == 0, verified.stderr
    (tmp_path / "app.bin").write_bytes(b"tampered")
    tampered = _run(["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", str(tmp_path / "app.sig"),
                     "-content", str(tmp_path / "app.bin"), "-CAfile", _chain_file(cp, tmp_path), "-purpose", "any",
                     "-out", "/dev/null"])
    assert tampered.returncode != 0
    # Authenticode with Debian's osslsigncode: a PowerShell script signed and verified against the chain
    (tmp_path / "deploy.ps1").write_text("Write-Output 'deployed'\r\n")
    chain = _chain_file(cp, tmp_path)
    authenticode = _run(["osslsigncode", "sign", "-certs", str(tmp_path / "cs.pem"), "-key", str(tmp_path / "cs.key"),
                         "-h", "sha256", "-in", str(tmp_path / "deploy.ps1"), "-out", str(tmp_path / "signed.ps1")])
    assert authenticode.returncode == 0, authenticode.stdout + authenticode.stderr
    # the CRL its certificate names, fetched from Certplane (the test's PKI host name resolves nowhere)
    crl_url = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value[0].full_name[0].value
    (tmp_path / "cs.crl").write_bytes(cp.api("GET", "/crl/" + crl_url.rsplit("/crl/", 1)[1]).content)
    as_pem = _run(["openssl", "crl", "-inform", "DER", "-in", str(tmp_path / "cs.crl"), "-out",
                   str(tmp_path / "crl.pem")])
    assert as_pem.returncode == 0, as_pem.stderr
    checked = _run(["osslsigncode", "verify", "-CAfile", chain, "-CRLfile", str(tmp_path / "crl.pem"), "-in",
                    str(tmp_path / "signed.ps1")])
    assert checked.returncode == 0 and "Signature verification: ok" in checked.stdout, checked.stdout + checked.stderr


def test_an_rsa_2048_code_signing_csr_is_refused_and_records_nothing(cp, world):
    before = _count(cp.api, "cscert")
    answer = cp.api("POST", "/api/v1/cscert", json={
        "organization_id": world["org"], "profile_id": world["profiles"]["Private Code Signing"]["profile_id"],
        "term_days": 365, "csr": factories.csr("rsa-2048", cn="x", sans=()).decode()})
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["code"] == "key_type_not_allowed"
    assert _count(cp.api, "cscert") == before


# ---- client (S/MIME) through an invitation ------------------------------------------------------------------------

def _person(cp, world, email: str, **extra) -> dict:
    created = cp.api("POST", "/api/v1/persons", json={"organization_id": world["org"], "email": email,
                                                      "first_name": "Ada", "last_name": "Lovelace", **extra})
    assert created.status_code == 201, created.text
    return created.json()


def _invitation_link(cp, email: str, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for mail in cp.api("GET", "/api/v1/outbox", params={"size": 200}).json()["items"]:
            if mail["to"] == email and "invitation" in mail["subject"].lower():
                return re.search(r"/forms/invitations/([A-Za-z0-9_-]+)", mail["text"]).group(1)
        time.sleep(0.2)
    raise AssertionError(f"no invitation mail to {email} within {timeout} s")


def _invite(cp, world, person) -> dict:
    answer = cp.api("POST", "/api/v1/client", json={
        "person_id": person["person_id"], "profile_id": world["profiles"]["Private Client (S/MIME)"]["profile_id"],
        "term_days": 365})
    assert answer.status_code == 201, answer.text
    assert answer.json()["status"] == "invited"
    return answer.json()


def test_an_invited_person_gets_a_pkcs12_that_signs_mail_which_verifies(cp, world, tmp_path):
    person = _person(cp, world, "ada@types-e2e.example.com", alternative_emails=["a.lovelace@types-e2e.example.com"])
    invited = _invite(cp, world, person)
    token = _invitation_link(cp, "ada@types-e2e.example.com")
    page = cp.api.as_token(None)("GET", f"/forms/api/invitations/{token}")
    assert page.status_code == 200 and page.json()["open"] is True
    public = cp.api.as_token(None)
    # an empty password is refused (the invitation does not allow it) and changes nothing
    empty = public("POST", f"/forms/api/invitations/{token}", json={"password": ""})
    assert empty.status_code == 400 and empty.json()["error"]["code"] == "empty_password_not_allowed"
    answered = public("POST", f"/forms/api/invitations/{token}", json={"password": PASSWORD})
    assert answered.status_code == 201, answered.text
    assert answered.json()["status"] == "requested"
    again = public("POST", f"/forms/api/invitations/{token}", json={"password": PASSWORD})
    assert again.status_code == 409 and again.json()["error"]["code"] == "invitation_used"
    # the inviting admin may not approve; another one may
    own = cp.api("POST", f"/api/v1/client/{invited['cert_id']}/approve")
    assert own.status_code == 403
    approved = world["approver"]("POST", f"/api/v1/client/{invited['cert_id']}/approve")
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "issued"
    assert approved.json()["emails"] == ["ada@types-e2e.example.com", "a.lovelace@types-e2e.example.com"]
    wrong = public("POST", f"/forms/api/invitations/{token}/download", json={"password": "not the password"})
    assert wrong.status_code == 403
    p12 = public("POST", f"/forms/api/invitations/{token}/download", json={"password": PASSWORD})
    assert p12.status_code == 200 and p12.headers["Content-Type"].startswith("application/x-pkcs12")
    (tmp_path / "ada.p12").write_bytes(p12.content)
    info = _run(["openssl", "pkcs12", "-info", "-in", str(tmp_path / "ada.p12"), "-passin", f"pass:{PASSWORD}",
                 "-noenc"])
    assert info.returncode == 0, info.stderr
    assert "BEGIN PRIVATE KEY" in info.stdout and "BEGIN CERTIFICATE" in info.stdout
    refused = _run(["openssl", "pkcs12", "-info", "-in", str(tmp_path / "ada.p12"), "-passin", "pass:wrong",
                    "-noenc"])
    assert refused.returncode != 0
    for part, flag in (("ada.key", "-nocerts"), ("ada.crt", "-clcerts")):
        out = _run(["openssl", "pkcs12", "-in", str(tmp_path / "ada.p12"), "-passin", f"pass:{PASSWORD}", "-noenc",
                    flag, "-out", str(tmp_path / part)])
        assert out.returncode == 0, out.stderr
    (tmp_path / "mail.txt").write_text("Hello from Ada\n")
    signed = _run(["openssl", "smime", "-sign", "-in", str(tmp_path / "mail.txt"), "-signer", str(tmp_path / "ada.crt"),
                   "-inkey", str(tmp_path / "ada.key"), "-out", str(tmp_path / "mail.eml")])
    assert signed.returncode == 0, signed.stderr
    verified = _run(["openssl", "smime", "-verify", "-in", str(tmp_path / "mail.eml"), "-CAfile",
                     _chain_file(cp, tmp_path), "-out", "/dev/null"])
    assert verified.returncode == 0, verified.stderr
    assert cp.api("GET", f"/api/v1/client/{invited['cert_id']}").json()["status"] == "downloaded"
    # pkilint's own S/MIME linter finds no error in it
    plain = _run(["openssl", "x509", "-in", str(tmp_path / "ada.crt"), "-out", str(tmp_path / "ada.pem")])
    assert plain.returncode == 0, plain.stderr
    lint = _run([f"{VENV_BIN}/lint_cabf_smime_cert", "lint", "--detect", "--severity", "ERROR",
                 str(tmp_path / "ada.pem")])
    assert lint.returncode == 0 and "ERROR" not in lint.stdout and "FATAL" not in lint.stdout, lint.stdout
    # no clear private key anywhere the server writes: its databases and its log
    key_der = subprocess.run(["openssl", "pkey", "-in", str(tmp_path / "ada.key"), "-outform", "DER"],
                             capture_output=True, timeout=60).stdout
    assert len(key_der) > 60
    key_pem_body = "".join((tmp_path / "ada.key").read_text().splitlines()[1:-1])
    for path in [*cp.var_dir.rglob("*")]:
        if path.is_file():
            data = path.read_bytes()
            assert key_der not in data and key_pem_body.encode() not in data, f"a clear key in {path}"
    assert key_pem_body not in cp.process.output()
    # a secret ID change revokes nothing; a change of the person's name revokes their client certificates
    secret = cp.api("PATCH", f"/api/v1/persons/{person['person_id']}", json={"secret_id": "new-secret-123"})
    assert secret.status_code == 200, secret.text
    renamed = cp.api("PATCH", f"/api/v1/persons/{person['person_id']}", json={"last_name": "King"})
    assert renamed.status_code == 200, renamed.text
    deadline = time.monotonic() + 20
    while cp.api("GET", f"/api/v1/client/{invited['cert_id']}").json()["status"] != "revoked":
        assert time.monotonic() < deadline, "the person's client certificate was not revoked within 20 s"
        time.sleep(0.2)
    assert cp.api("GET", f"/api/v1/client/{invited['cert_id']}").json()["revocation_reason"] == "superseded"


def test_an_email_outside_the_delegated_domains_is_refused(cp, world):
    before = _count(cp.api, "client"), _count(cp.api, "cscert")
    # a person's emails must be in the organization's client domains: refused already when the person is made
    outside = cp.api("POST", "/api/v1/persons", json={"organization_id": world["org"], "first_name": "Bob",
                                                      "last_name": "B", "email": "bob@elsewhere-types.example.com"})
    assert outside.status_code == 422 and outside.json()["error"]["code"] == "email_not_delegated"
    # a code-signing invitation needs the person's domain delegated for code signing too
    person = _person(cp, world, "carl@client-only-types.example.com")
    answer = cp.api("POST", "/api/v1/cscert/invitations", json={
        "person_id": person["person_id"], "profile_id": world["profiles"]["Private Code Signing"]["profile_id"],
        "term_days": 365})
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["code"] == "email_not_delegated"
    assert (_count(cp.api, "client"), _count(cp.api, "cscert")) == before


def test_an_unknown_invitation_link_is_404_and_a_declined_one_is_used(cp, world):
    public = cp.api.as_token(None)
    assert public("GET", "/forms/api/invitations/" + "x" * 32).status_code == 404
    person = _person(cp, world, "carol@types-e2e.example.com")
    invited = _invite(cp, world, person)
    token = _invitation_link(cp, "carol@types-e2e.example.com")
    declined = cp.api("POST", f"/api/v1/client/{invited['cert_id']}/decline", json={"reason": "left the company"})
    assert declined.status_code == 200 and declined.json()["status"] == "declined"
    late = public("POST", f"/forms/api/invitations/{token}", json={"password": PASSWORD})
    assert late.status_code in (404, 409)


def test_the_inventory_download_never_gives_a_key(cp, world):
    listed = cp.api("GET", "/api/v1/client").json()["items"]
    issued = [c for c in listed if c["status"] in ("issued", "downloaded", "revoked")]
    assert issued
    answer = cp.api("GET", f"/api/v1/client/{issued[0]['cert_id']}/download", params={"format": "p12"})
    assert answer.status_code == 400



def test_a_person_invited_to_code_signing_answers_with_a_csr(cp, world):
    person = _person(cp, world, "dev@types-e2e.example.com", first_name="Grace", last_name="Hopper")
    invited = cp.api("POST", "/api/v1/cscert/invitations", json={
        "person_id": person["person_id"], "profile_id": world["profiles"]["Private Code Signing"]["profile_id"],
        "term_days": 365})
    assert invited.status_code == 201, invited.text
    assert invited.json()["status"] == "invited" and invited.json()["cert_type"] == "code_signing"
    token = _invitation_link(cp, "dev@types-e2e.example.com")
    public = cp.api.as_token(None)
    page = public("GET", f"/forms/api/invitations/{token}").json()
    assert page["key_generation"] == ["browser", "provided"]
    # the server never makes a code-signing key; an RSA-2048 key is refused; neither uses the link
    no_password = public("POST", f"/forms/api/invitations/{token}", json={"password": PASSWORD})
    assert no_password.status_code == 400 and no_password.json()["error"]["code"] == "csr_required"
    weak = public("POST", f"/forms/api/invitations/{token}", json={"csr": factories.csr("rsa-2048", cn="x", sans=()).decode()})
    assert weak.status_code == 422 and weak.json()["error"]["code"] == "key_type_not_allowed"
    answered = public("POST", f"/forms/api/invitations/{token}", json={
        "csr": factories.csr("ec-p384", cn="Grace", sans=()).decode()})
    assert answered.status_code == 201, answered.text
    found = answered.json()
    assert found["status"] == "issued" and found["common_name"] == "Grace Hopper"
    assert found["requested_via"] == "invitation" and found["email"] == "dev@types-e2e.example.com"
    pem = cp.api("GET", f"/api/v1/cscert/{found['cert_id']}/download").content
    cert = x509.load_pem_x509_certificate(pem)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "Grace Hopper"
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "Types Org"


# ---- key escrow: initialize, issue, recover with the master key and a second administrator's approval -----------

@pytest.fixture(scope="module")
def escrow_org(cp, world):
    api = cp.api
    org = api.create_org({"name": "Escrow Org", **ORG, "key_escrow": {"enabled": True, "recovery_by_mrao": True}})
    created = api("POST", "/api/v1/domains", json={"name": "escrow-e2e.example.com", "delegations": [
        {"organization_id": org["organization_id"], "cert_types": ["client"]}]})
    assert created.status_code == 201, created.text
    second_mrao = cp.admin("escrow-mrao-2", [{"role": "MRAO"}])[1]
    return {"org": org["organization_id"], "second_mrao": second_mrao}


def test_key_escrow_end_to_end_with_dual_control(cp, world, escrow_org, tmp_path):
    api, org_id = cp.api, escrow_org["org"]
    profile_id = world["profiles"]["Private Client (S/MIME)"]["profile_id"]
    person = cp.api("POST", "/api/v1/persons", json={"organization_id": org_id, "email": "eve@escrow-e2e.example.com",
                                                     "first_name": "Eve", "last_name": "Escrow"}).json()
    # no client certificate until encryption is initialized (SCM's rule); nothing recorded
    before = _count(api, "client")
    early = api("POST", "/api/v1/client", json={"person_id": person["person_id"], "profile_id": profile_id,
                                                "term_days": 365})
    assert early.status_code == 409 and early.json()["error"]["code"] == "escrow_not_initialized"
    assert _count(api, "client") == before
    # an organization created without key escrow has no encryption to initialize
    no_escrow = api("POST", f"/api/v1/organizations/{world['org']}/key-escrow", json={"passphrase": "x" * 20})
    assert no_escrow.status_code == 409 and no_escrow.json()["error"]["code"] == "escrow_not_enabled"
    # an RAO without the escrow level may not initialize it; the MRAO may, once
    assert world["approver"]("POST", f"/api/v1/organizations/{org_id}/key-escrow",
                             json={"passphrase": "master passphrase 1"}).status_code in (403, 404)
    master_passphrase = "the master key passphrase"
    initialized = api("POST", f"/api/v1/organizations/{org_id}/key-escrow", json={"passphrase": master_passphrase})
    assert initialized.status_code == 201, initialized.text
    master_pem = initialized.json()["private_key_pem"]
    assert "ENCRYPTED PRIVATE KEY" in master_pem
    assert api("GET", f"/api/v1/organizations/{org_id}/key-escrow").json().get("private_key_pem") is None
    again = api("POST", f"/api/v1/organizations/{org_id}/key-escrow", json={"passphrase": master_passphrase})
    assert again.status_code == 409 and again.json()["error"]["code"] == "escrow_initialized"
    # issue: invite, the person lets the server make the key (a browser-made one cannot be escrowed)
    invited = api("POST", "/api/v1/client", json={"person_id": person["person_id"], "profile_id": profile_id,
                                                  "term_days": 365})
    assert invited.status_code == 201, invited.text
    cert_id = invited.json()["cert_id"]
    token = _invitation_link(cp, "eve@escrow-e2e.example.com")
    public = api.as_token(None)
    browser_key = public("POST", f"/forms/api/invitations/{token}", json={
        "csr": factories.csr("ec-p256", cn="eve", sans=()).decode()})
    assert browser_key.status_code == 422 and browser_key.json()["error"]["code"] == "escrow_needs_server_key"
    assert public("POST", f"/forms/api/invitations/{token}", json={"password": PASSWORD}).status_code == 201
    issued = escrow_org["second_mrao"]("POST", f"/api/v1/client/{cert_id}/approve")
    assert issued.status_code == 200 and issued.json()["status"] == "issued", issued.text
    assert issued.json()["escrowed"] is True
    certificate = x509.load_pem_x509_certificate(api("GET", f"/api/v1/client/{cert_id}/download").content)
    # recovery: asked by one MRAO, the same one's approval refused, another's accepted
    assert api("POST", f"/api/v1/client/{cert_id}/recovery/key", json={
        "master_private_key_pem": master_pem, "passphrase": master_passphrase,
        "pkcs12_password": "recovered p12"}).status_code == 409          # nothing asked or approved yet
    asked = api("POST", f"/api/v1/client/{cert_id}/recovery", json={"reason": "Eve left; her mail must be read"})
    assert asked.status_code == 202 and asked.json()["recovery"]["status"] == "requested", asked.text
    own = api("POST", f"/api/v1/client/{cert_id}/recovery/approve")
    assert own.status_code == 403 and own.json()["error"]["code"] == "own_request"
    approved = escrow_org["second_mrao"]("POST", f"/api/v1/client/{cert_id}/recovery/approve")
    assert approved.status_code == 200 and approved.json()["recovery"]["status"] == "approved", approved.text
    wrong_passphrase = api("POST", f"/api/v1/client/{cert_id}/recovery/key", json={
        "master_private_key_pem": master_pem, "passphrase": "not it at all", "pkcs12_password": "recovered p12"})
    assert wrong_passphrase.status_code == 403
    recovered = api("POST", f"/api/v1/client/{cert_id}/recovery/key", json={
        "master_private_key_pem": master_pem, "passphrase": master_passphrase, "pkcs12_password": "recovered p12"})
    assert recovered.status_code == 200, recovered.text
    (tmp_path / "eve.p12").write_bytes(recovered.content)
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs12
    key, cert, _chain = pkcs12.load_key_and_certificates(recovered.content, b"recovered p12")
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    assert key.public_key().public_bytes(*spki) == certificate.public_key().public_bytes(*spki)   # the key matches
    info = _run(["openssl", "pkcs12", "-info", "-in", str(tmp_path / "eve.p12"), "-passin", "pass:recovered p12",
                 "-noenc"])
    assert info.returncode == 0, info.stderr
    after = api("GET", f"/api/v1/client/{cert_id}").json()
    assert after["status"] == "revoked" and after["revocation_reason"] == "key_compromise"
    assert after["recovery"]["status"] == "recovered"
    # no clear key — the person's, nor the master — in any table, event or log
    key_der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    master = serialization.load_pem_private_key(master_pem.encode(), master_passphrase.encode())
    master_der = master.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())
    scalar = key.private_numbers().private_value.to_bytes(32, "big")
    for path in cp.var_dir.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for secret in (key_der, master_der, scalar, master_pem.encode()):
                assert secret not in data, f"a private key's bytes in {path}"
    output = cp.process.output()
    assert master_pem.splitlines()[1] not in output
    assert base64.b64encode(key_der).decode()[:60] not in output
    # a certificate of an organization without key escrow has nothing to recover
    plain = _invite(cp, world, _person(cp, world, "frank@types-e2e.example.com"))
    assert plain["escrowed"] is False
    nothing = api("POST", f"/api/v1/client/{plain['cert_id']}/recovery", json={"reason": "try"})
    assert nothing.status_code == 409 and nothing.json()["error"]["code"] == "not_escrowed"


def test_code_signing_invitations_from_csv_are_all_or_nothing(cp, world):
    path = "/api/v1/cscert/invitations/import"
    params = {"organization_id": world["org"], "profile_id": world["profiles"]["Private Code Signing"]["profile_id"]}
    header = "email,first_name,last_name,term_days,middle_name,department\n"
    before = _count(cp.api, "cscert")
    wrong = cp.api("POST", path, params=params, headers={"Content-Type": "text/csv"}, data=(
        header + "ok1@types-e2e.example.com,Ok,One,365,,\n"
        "outside@elsewhere-types.example.com,Out,Side,365,,\n"        # not delegated for code signing
        "ok2@types-e2e.example.com,Ok,Two,30,,\n"                     # not a term of the profile
        ",No,Email,365,,\n").encode())
    assert wrong.status_code == 400 and wrong.json()["error"]["code"] == "csv_rows_invalid", wrong.text
    assert sorted(r["row"] for r in wrong.json()["error"]["details"]["rows"]) == [4, 5]
    assert _count(cp.api, "cscert") == before                  # nothing invited
    not_delegated = cp.api("POST", path, params=params, headers={"Content-Type": "text/csv"}, data=(
        header + "outside@elsewhere-types.example.com,Out,Side,365,,\n").encode())
    assert not_delegated.status_code == 400
    assert not_delegated.json()["error"]["details"]["rows"][0]["row"] == 2
    bad_header = cp.api("POST", path, params=params, headers={"Content-Type": "text/csv"},
                        data=b"email,name\nx@types-e2e.example.com,X\n")
    assert bad_header.status_code == 400
    good = cp.api("POST", path, params=params, headers={"Content-Type": "text/csv"}, data=(
        header + "csv1@types-e2e.example.com,Csv,One,365,Q,\n"
        "ada@types-e2e.example.com,Ada,Lovelace,365,,\n").encode())    # Ada exists: invited as she is
    assert good.status_code == 201, good.text
    assert good.json()["invited"] == 2 and _count(cp.api, "cscert") == before + 2
    _invitation_link(cp, "csv1@types-e2e.example.com")


def test_device_and_code_signing_renew_with_the_same_key_and_a_client_renewal_is_a_new_invitation(cp, world):
    devices = [c for c in cp.api("GET", "/api/v1/device").json()["items"] if c["status"] in ("issued", "downloaded")]
    assert devices
    old = devices[0]
    renewed = cp.api("POST", f"/api/v1/device/{old['cert_id']}/renew")
    assert renewed.status_code == 201, renewed.text
    new = renewed.json()
    assert new["cert_id"] != old["cert_id"] and new["status"] == "issued"
    assert (new["common_name"], new["custom_fields"], new["profile_id"]) == (
        old["common_name"], old["custom_fields"], old["profile_id"])
    old_pem = cp.api("GET", f"/api/v1/device/{old['cert_id']}/download").content
    new_pem = cp.api("GET", f"/api/v1/device/{new['cert_id']}/download").content
    assert x509.load_pem_x509_certificate(old_pem).public_key() == x509.load_pem_x509_certificate(new_pem).public_key()
    waiting = [c for c in cp.api("GET", "/api/v1/client").json()["items"] if c["status"] == "invited"]
    assert cp.api("POST", f"/api/v1/client/{waiting[0]['cert_id']}/renew").status_code == 409   # nothing issued yet
    person = _person(cp, world, "renewing@types-e2e.example.com")
    invited = _invite(cp, world, person)
    token = _invitation_link(cp, "renewing@types-e2e.example.com")
    cp.api.as_token(None)("POST", f"/forms/api/invitations/{token}", json={"password": PASSWORD})
    assert world["approver"]("POST", f"/api/v1/client/{invited['cert_id']}/approve").json()["status"] == "issued"
    again = cp.api("POST", f"/api/v1/client/{invited['cert_id']}/renew")
    assert again.status_code == 201, again.text
    assert again.json()["status"] == "invited" and again.json()["person_id"] == person["person_id"]
    assert again.json()["emails"] == ["renewing@types-e2e.example.com"]
