"""The self-enrollment forms' JSON API (issue 15) over HTTP, without a login: an enrollment account's access code
and a delegated email get an SSL or device certificate from a CSR (the collection mail goes to the email), or an
invitation mail for a client or code-signing certificate (a person of the organization, made if new); a device
endpoint's URL gets a device certificate. Refused, each with its 4xx and nothing recorded: a wrong code (403,
counted: 5 lock the account, 401 then, the right code too), a POST from another origin (403 cross_origin, not
counted), a code with control characters or of 10,000 characters (400), an email outside the organization's
domains (422), a profile the form does not offer (422), an account of another type (404). The pages are served
with the console's CSP."""
import re
import subprocess
import time

import pytest
import requests
from cryptography import x509

from tests import factories
from tests.e2e.actors import error_of, unique
from tests.e2e.conftest import Embedded
from tests.e2e.test_ssl_lifecycle import ORG, wait_for_profiles

CODE = "public forms code 42"
DOMAIN = "pubforms-e2e.example.com"
PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def cp(tmp_path_factory):
    server = Embedded(tmp_path_factory.mktemp("var"), tmp_path_factory.mktemp("logs")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def world(cp):
    api = cp.api
    org = api.create_org({"name": unique("Public forms org "), **ORG})["organization_id"]
    made = api("POST", "/api/v1/domains", json={"name": DOMAIN, "delegations": [
        {"organization_id": org, "cert_types": ["ssl", "client", "code_signing"]}]})
    assert made.status_code == 201, made.text
    other = api.create_org({"name": unique("Public forms other "), **ORG})["organization_id"]
    made = api("POST", "/api/v1/domains", json={"name": "pubforms-other.example.com", "delegations": [
        {"organization_id": other, "cert_types": ["ssl", "client", "code_signing"]}]})
    assert made.status_code == 201, made.text
    profiles = {p["name"]: p for p in wait_for_profiles(api)}
    device = profiles["Private Device"]
    fields = {k: v for k, v in device.items() if k not in ("profile_id", "created_at", "updated_at")}
    at_once = api("POST", "/api/v1/profiles", json={**fields, "name": unique("Device at once "),
                                                    "requires_approval": False})
    assert at_once.status_code == 201, at_once.text
    return {"org": org, "profiles": profiles, "device_at_once": at_once.json()}


def account(cp, world, cert_type, profile, **extra) -> str:
    made = cp.api("POST", "/api/v1/enrollment-accounts", json={
        "name": unique(f"{cert_type} form "), "cert_type": cert_type, "organization_id": world["org"],
        "profile_ids": [profile["profile_id"]], "csr_generation": ["browser", "provided"], "access_code": CODE,
        "auto_approve": True, **extra})
    assert made.status_code == 201, made.text
    return made.json()["form_account_id"]


@pytest.fixture(scope="module")
def accounts(cp, world):
    p = world["profiles"]
    return {"ssl": account(cp, world, "ssl", p["Private TLS Server"]),
            "client": account(cp, world, "client", p["Private Client (S/MIME)"]),
            "device": account(cp, world, "device", p["Private Device"]),
            "cscert": account(cp, world, "code_signing", p["Private Code Signing"])}


def public(cp):
    return cp.api.as_token(None)


def count(cp, resource) -> int:
    answer = cp.api("HEAD", f"/api/v1/{resource}")
    assert answer.status_code == 200
    return int(answer.headers["X-Total-Count"])


def mail_to(cp, email, word, timeout=20.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for mail in cp.api("GET", "/api/v1/outbox", params={"size": 200}).json()["items"]:
            if email in mail["to"] and word in mail["subject"].lower():
                return mail
        time.sleep(0.2)
    raise AssertionError(f"no {word!r} mail to {email} within {timeout} s")


def form_request(cp, form_type, account_id, code=CODE, email=f"pat@{DOMAIN}", **fields):
    return public(cp)("POST", f"/forms/api/{form_type}/requests", json={
        "form_account_id": account_id, "access_code": code, "email": email, **fields})


# ---- the pages ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/forms/invitations/abcdefghijklmnopqrstuvwxyz", "/forms/ssl?account=x",
                                  "/forms/client", "/forms/device", "/forms/cscert", "/forms/device/printers"])
def test_the_pages_are_served_with_the_consoles_csp(cp, path):
    page = public(cp)("GET", path)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert "<script>" not in page.text and "style=" not in page.text
    script = re.search(r'src="(/console/[0-9a-f]{16}/forms/forms\.js)"', page.text).group(1)
    assert public(cp)("GET", script).status_code == 200
    assert public(cp)("GET", "/forms/unknown").status_code == 404


# ---- each type ------------------------------------------------------------------------------------------------

def test_the_form_offers_the_accounts_profiles(cp, world, accounts):
    offer = public(cp)("POST", f"/forms/api/accounts/{accounts['ssl']}/form",
                       json={"access_code": CODE, "email": f"pat@{DOMAIN}"})
    assert offer.status_code == 200, offer.text
    body = offer.json()
    assert body["form_account"]["cert_type"] == "ssl" and "created_by" not in body["form_account"]
    assert [p["name"] for p in body["profiles"]] == ["Private TLS Server"]
    assert body["profiles"][0]["terms"] and body["profiles"][0]["key_types"]


def test_an_ssl_form_request_is_issued_and_its_collection_mail_goes_to_the_applicant(cp, world, accounts):
    name = f"www.{DOMAIN}"
    answer = form_request(cp, "ssl", accounts["ssl"], email=f"sam@{DOMAIN}", term_days=90, common_name=name,
                          sans=[name], csr=factories.csr("ec-p256", cn=name, sans=(name,)).decode())
    assert answer.status_code == 201, answer.text
    assert answer.json()["status"] == "issued" and f"sam@{DOMAIN}" in answer.json()["message"]
    mail = mail_to(cp, f"sam@{DOMAIN}", name)
    link = re.search(r"(http\S+/collect/[A-Za-z0-9_-]+)\?format=pem", mail["text"]).group(1)
    pem = requests.get(link, params={"format": "pem"}, timeout=30)
    assert pem.status_code == 200
    assert x509.load_pem_x509_certificate(pem.content).subject.rfc4514_string().startswith(f"CN={name}")
    listed = cp.api("GET", "/api/v1/ssl", params={"requested_by": f"form:{accounts['ssl']}"}).json()["items"]
    assert len(listed) == 1


def test_a_device_form_request_is_issued(cp, world, accounts):
    name = f"printer-1.{DOMAIN}"
    answer = form_request(cp, "device", accounts["device"], email=f"dev@{DOMAIN}", term_days=365,
                          csr=factories.csr("ec-p256", cn=name, sans=(name,)).decode())
    assert answer.status_code == 201, answer.text
    assert answer.json()["status"] == "issued" and answer.json()["cert_type"] == "device"
    mail = mail_to(cp, f"dev@{DOMAIN}", "your certificate")
    assert "/collect/cert/" in mail["text"]
    listed = cp.api("GET", "/api/v1/device", params={"requested_by": f"form:{accounts['device']}"}).json()["items"]
    assert [c["requested_via"] for c in listed] == ["form"]


def test_a_client_form_sends_an_invitation_that_gives_a_pkcs12(cp, world, accounts, tmp_path):
    email = f"ada@{DOMAIN}"
    answer = form_request(cp, "client", accounts["client"], email=email, first_name="Ada", last_name="Lovelace")
    assert answer.status_code == 201, answer.text
    assert answer.json()["status"] == "invited" and answer.json()["message"] == f"an invitation was sent to {email}"
    assert "cert_id" not in answer.json() and "person_id" not in answer.json()
    persons = cp.api("GET", "/api/v1/persons", params={"email": email}).json()["items"]
    assert [(p["first_name"], p["last_name"]) for p in persons] == [("Ada", "Lovelace")]
    # again: the same answer, and the same person (never saying whether the person existed)
    again = form_request(cp, "client", accounts["client"], email=email, first_name="Other", last_name="Name")
    assert again.status_code == 201 and again.json()["message"] == answer.json()["message"]
    assert len(cp.api("GET", "/api/v1/persons", params={"email": email}).json()["items"]) == 1
    token = re.search(r"/forms/invitations/([A-Za-z0-9_-]+)", mail_to(cp, email, "invitation")["text"]).group(1)
    answered = public(cp)("POST", f"/forms/api/invitations/{token}", json={"password": PASSWORD})
    assert answered.status_code == 201, answered.text
    assert answered.json()["status"] == "issued"           # the account auto-approves
    p12 = public(cp)("POST", f"/forms/api/invitations/{token}/download", json={"password": PASSWORD})
    assert p12.status_code == 200
    (tmp_path / "ada.p12").write_bytes(p12.content)
    info = subprocess.run(["openssl", "pkcs12", "-info", "-in", str(tmp_path / "ada.p12"), "-passin",
                           f"pass:{PASSWORD}", "-noenc"], capture_output=True, text=True, timeout=60)
    assert info.returncode == 0 and "BEGIN CERTIFICATE" in info.stdout, info.stderr


def test_a_code_signing_form_invitation_answered_with_a_csr_gives_the_certificate(cp, world, accounts):
    email = f"grace@{DOMAIN}"
    answer = form_request(cp, "cscert", accounts["cscert"], email=email, first_name="Grace", last_name="Hopper")
    assert answer.status_code == 201, answer.text
    assert answer.json()["status"] == "invited"
    token = re.search(r"/forms/invitations/([A-Za-z0-9_-]+)", mail_to(cp, email, "invitation")["text"]).group(1)
    early = public(cp)("GET", f"/forms/api/invitations/{token}/certificate")
    assert early.status_code == 409 and error_of(early)["code"] == "cert_invited"
    answered = public(cp)("POST", f"/forms/api/invitations/{token}", json={
        "csr": factories.csr("ec-p256", cn="Grace", sans=()).decode()})
    assert answered.status_code == 201, answered.text
    assert answered.json()["status"] == "issued"
    pem = public(cp)("GET", f"/forms/api/invitations/{token}/certificate")
    assert pem.status_code == 200, pem.text
    cert = x509.load_pem_x509_certificate(pem.json()["certificate_pem"].encode())
    assert "Grace Hopper" in cert.subject.rfc4514_string()
    assert public(cp)("GET", "/forms/api/invitations/" + "x" * 32 + "/certificate").status_code == 404


def test_a_code_signing_form_with_a_csr_is_a_request_for_the_organization(cp, world, accounts):
    answer = form_request(cp, "cscert", accounts["cscert"], email=f"build@{DOMAIN}", first_name="Build",
                          last_name="Bot", csr=factories.csr("rsa-3072", cn="x", sans=()).decode())
    assert answer.status_code == 201, answer.text
    assert answer.json()["status"] == "issued" and answer.json()["cert_type"] == "code_signing"


def test_a_device_endpoint_form_request_is_issued(cp, world):
    made = cp.api("POST", "/api/v1/device-endpoints", json={
        "name": unique("printers "), "organization_id": world["org"],
        "profile_ids": [world["device_at_once"]["profile_id"]], "help_text": "Ask IT for help.",
        "help_link_text": "IT service desk"})
    assert made.status_code == 201, made.text
    ext = made.json()["uri_extension"]
    shown = public(cp)("GET", f"/forms/api/device/{ext}")
    assert shown.status_code == 200 and shown.json()["help_text"] == "Ask IT for help."
    assert [p["profile_id"] for p in shown.json()["profiles"]] == [world["device_at_once"]["profile_id"]]
    name = f"cam-2.{DOMAIN}"
    answer = public(cp)("POST", f"/forms/api/device/{ext}/requests", json={
        "email": f"cams@{DOMAIN}", "term_days": 365, "csr": factories.csr("ec-p256", cn=name, sans=(name,)).decode()})
    assert answer.status_code == 201, answer.text
    assert answer.json()["status"] == "issued"
    listed = cp.api("GET", "/api/v1/device", params={"requested_by": f"endpoint:{made.json()['endpoint_id']}"})
    assert len(listed.json()["items"]) == 1
    assert public(cp)("GET", "/forms/api/device/no-such-endpoint").status_code == 404
    before = count(cp, "device")
    other = public(cp)("POST", f"/forms/api/device/{ext}/requests", json={
        "email": f"cams@{DOMAIN}", "term_days": 365, "profile_id": world["profiles"]["Private Device"]["profile_id"],
        "csr": factories.csr("ec-p256", cn=name, sans=(name,)).decode()})
    assert other.status_code == 422 and error_of(other)["code"] == "profile_not_offered"
    assert count(cp, "device") == before


# ---- refusals -------------------------------------------------------------------------------------------------

def test_a_wrong_code_is_403_and_records_nothing(cp, accounts):
    before = count(cp, "client")
    wrong = form_request(cp, "client", accounts["client"], code="not the right code", first_name="A", last_name="B")
    assert wrong.status_code == 403 and error_of(wrong)["code"] == "access_code_wrong"
    assert count(cp, "client") == before


def test_five_wrong_codes_lock_the_account_and_then_the_right_one_is_refused(cp, world):
    account_id = account(cp, world, "ssl", world["profiles"]["Private TLS Server"])
    for failures in range(1, 6):
        wrong = public(cp)("POST", f"/forms/api/accounts/{account_id}/form",
                           json={"access_code": "not the right code", "email": f"pat@{DOMAIN}"})
        assert wrong.status_code == 403 and error_of(wrong)["details"]["consecutive_failures"] == failures
    name = f"locked.{DOMAIN}"
    locked = form_request(cp, "ssl", account_id, term_days=90,
                          csr=factories.csr("ec-p256", cn=name, sans=(name,)).decode())
    assert locked.status_code == 401 and error_of(locked)["code"] == "account_locked"


def test_a_cross_origin_post_is_403_and_not_counted(cp, world, accounts):
    before = count(cp, "client")
    evil = public(cp)("POST", "/forms/api/client/requests", headers={"Origin": "https://evil.example"}, json={
        "form_account_id": accounts["client"], "access_code": "wrong wrong", "email": f"x@{DOMAIN}",
        "first_name": "A", "last_name": "B"})
    assert evil.status_code == 403 and error_of(evil)["code"] == "cross_origin"
    site = public(cp)("POST", f"/forms/api/accounts/{accounts['client']}/form",
                      headers={"Sec-Fetch-Site": "cross-site"}, json={"access_code": CODE, "email": f"x@{DOMAIN}"})
    assert site.status_code == 403 and error_of(site)["code"] == "cross_origin"
    same = public(cp)("POST", f"/forms/api/accounts/{accounts['client']}/form",
                      headers={"Origin": cp.api.base_url}, json={"access_code": CODE, "email": f"x@{DOMAIN}"})
    assert same.status_code == 200, same.text
    assert "consecutive_failures" not in same.text and count(cp, "client") == before


@pytest.mark.parametrize("code", ["bad\x00code\x1b[0m!", "x" * 10_000])
def test_a_code_with_control_characters_or_10000_characters_is_400(cp, accounts, code):
    before = count(cp, "client")
    refused = form_request(cp, "client", accounts["client"], code=code, first_name="A", last_name="B")
    assert refused.status_code == 400, refused.text
    assert "access_code" in error_of(refused)["details"]
    assert count(cp, "client") == before


def test_an_email_outside_the_organizations_domains_is_422(cp, accounts):
    before = count(cp, "client")
    for email in ("pat@pubforms-other.example.com", "pat@nowhere.invalid"):
        refused = form_request(cp, "client", accounts["client"], email=email, first_name="A", last_name="B")
        assert refused.status_code == 422 and error_of(refused)["code"] == "email_not_delegated", refused.text
    assert count(cp, "client") == before
    assert cp.api("GET", "/api/v1/persons", params={"email": "pat@pubforms-other.example.com"}).json()["items"] == []


def test_an_account_of_another_type_a_bad_body_or_an_unoffered_profile_is_refused(cp, world, accounts):
    before = count(cp, "client")
    other_type = form_request(cp, "client", accounts["ssl"], first_name="A", last_name="B")
    assert other_type.status_code == 404
    unknown_field = form_request(cp, "client", accounts["client"], first_name="A", last_name="B", admin=True)
    assert unknown_field.status_code == 400
    no_names = form_request(cp, "client", accounts["client"])
    assert no_names.status_code == 400 and "first_name" in error_of(no_names)["details"]
    profile = form_request(cp, "client", accounts["client"], first_name="A", last_name="B",
                           profile_id=world["profiles"]["Private TLS Server"]["profile_id"])
    assert profile.status_code == 422 and error_of(profile)["code"] == "profile_not_offered"
    assert count(cp, "client") == before
    bad_csr = form_request(cp, "ssl", accounts["ssl"], term_days=90, csr="not a csr")
    assert bad_csr.status_code in (400, 422)
