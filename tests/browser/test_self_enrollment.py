"""The public self-enrollment pages in Chromium (issue 15): one journey per type, from the form (or the mail's link)
to the downloaded file, with no login — the mails are read from the outbox as the MRAO, as a person reads them.

- client: the account's form → the invitation mail → the invitation page → a key made by the server, with a
  password → issued at once (an auto-approving account) → the PKCS#12 downloaded, which `openssl pkcs12 -info`
  opens with the password;
- ssl: the form with a pasted CSR → issued → the collection mail's link → the PEM downloaded;
- device: an enrollment endpoint's form (its help text shown), the key made in the browser (P-384) and saved →
  the collection mail → the PEM downloaded, which belongs to that key;
- code signing: the form → the invitation mail → the page makes an RSA-3072 key in the browser → issued → the key
  and the certificate PEM downloaded, and they belong together;
- five wrong access codes: the page says the form is locked, and the right code is then refused too.

Set up through the REST API on the shared `console` server."""
from __future__ import annotations

import re
import secrets
import subprocess
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests import factories
from tests.browser.conftest import screenshot
from tests.browser.test_certificate_types import profiles_by_name
from tests.e2e.test_ssl_lifecycle import ORG

TAG = secrets.token_hex(3)
DOMAIN = f"selfenroll{TAG}.example.com"
CODE = f"self enrollment {TAG}"
PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def world(console):
    api = console.api
    org = api.create_org({"name": f"Self-enrollment Org {TAG}", **ORG})["organization_id"]
    made = api("POST", "/api/v1/domains", json={"name": DOMAIN, "delegations": [
        {"organization_id": org, "cert_types": ["ssl", "client", "code_signing"]}]})
    assert made.status_code == 201, made.text
    profiles = profiles_by_name(api, ("Private Device", "Private Client (S/MIME)", "Private Code Signing",
                                      "Private TLS Server"))
    device = profiles["Private Device"]
    fields = {k: v for k, v in device.items() if k not in ("profile_id", "created_at", "updated_at")}
    at_once = api("POST", "/api/v1/profiles", json={**fields, "name": f"Device form {TAG}",
                                                    "requires_approval": False})
    assert at_once.status_code == 201, at_once.text

    def account(cert_type, profile_name, name):
        answer = api("POST", "/api/v1/enrollment-accounts", json={
            "name": name, "cert_type": cert_type, "organization_id": org,
            "profile_ids": [profiles[profile_name]["profile_id"]], "csr_generation": ["browser", "provided"],
            "access_code": CODE, "auto_approve": True})
        assert answer.status_code == 201, answer.text
        return answer.json()["form_account_id"]

    endpoint = api("POST", "/api/v1/device-endpoints", json={
        "name": f"Printers {TAG}", "organization_id": org, "profile_ids": [at_once.json()["profile_id"]],
        "help_text": "Paste the CSR your printer made.", "help_link_text": "IT service desk, room 101"})
    assert endpoint.status_code == 201, endpoint.text
    return {"client": account("client", "Private Client (S/MIME)", "Staff S/MIME"),
            "ssl": account("ssl", "Private TLS Server", "Intranet servers"),
            "cscert": account("code_signing", "Private Code Signing", "Build signing"),
            "locked": account("ssl", "Private TLS Server", "Locked servers"),
            "endpoint": endpoint.json()}


def mail_to(console, email: str, word: str, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for mail in console.api("GET", "/api/v1/outbox", params={"size": 200}).json()["items"]:
            if email in mail["to"] and word in mail["subject"].lower():
                return mail
        time.sleep(0.3)
    raise AssertionError(f"no {word!r} mail to {email} within {timeout} s")


def link_path(text: str, pattern: str) -> str:
    """The path (and query) of the mail's link: the page opens it on the console's own origin."""
    found = re.search(rf"https?://[^/\s]+({pattern})", text)
    assert found, f"no link {pattern} in {text!r}"
    return found.group(1)


def open_form(page, form_type: str, account_id: str, email: str, code: str = CODE, names=None) -> None:
    page.goto(f"/forms/{form_type}?account={account_id}")
    page.get_by_test_id("access-code").fill(code)
    page.get_by_test_id("email").fill(email)
    if names:
        page.get_by_label("First name").fill(names[0])
        page.get_by_label("Last name").fill(names[1])
    page.get_by_test_id("form-continue").click()


def answer_of(page) -> str:
    page.wait_for_function("() => document.querySelector('[data-testid=form-answer], [data-testid=submit-errors] "
                           "[data-testid=error]')", timeout=30_000)
    errors = page.get_by_test_id("submit-errors").inner_text()
    assert not errors.strip(), errors
    return page.get_by_test_id("form-answer").inner_text()


def collect(page, path: str, tmp_path: Path, name: str) -> bytes:
    """Follow a collection link from the page (its answer is a file), as a click on it would."""
    with page.expect_download() as downloaded:
        page.evaluate("href => { const a = document.createElement('a'); a.href = href; document.body.append(a); "
                      "a.click(); a.remove(); }", path)
    target = tmp_path / name
    downloaded.value.save_as(str(target))
    return target.read_bytes()


def openssl(*args) -> subprocess.CompletedProcess:
    return subprocess.run(["openssl", *args], capture_output=True, text=True, timeout=60)


def test_client_form_invitation_server_key_pkcs12(console, world, open_page, tmp_path):
    page = open_page(console)
    email = f"ada.{TAG}@{DOMAIN}"
    open_form(page, "client", world["client"], email, names=("Ada", "Lovelace"))
    page.get_by_test_id("form-submit").wait_for()
    screenshot(page, "self-enrollment-client-form")
    page.get_by_test_id("form-submit").click()
    assert f"invitation was sent to {email}" in answer_of(page)
    screenshot(page, "self-enrollment-client-check-your-mail")

    page.goto(link_path(mail_to(console, email, "invitation")["text"], r"/forms/invitations/[A-Za-z0-9_-]+"))
    page.get_by_test_id("key-method-server").check()
    page.get_by_test_id("password").fill(PASSWORD)
    page.get_by_test_id("password-confirm").fill(PASSWORD + "x")
    screenshot(page, "self-enrollment-client-invitation")
    page.get_by_test_id("invitation-submit").click()
    page.locator("[data-testid=errors] [data-testid=error]", has_text="differ").wait_for()
    page.get_by_test_id("password-confirm").fill(PASSWORD)
    page.get_by_test_id("invitation-submit").click()
    page.get_by_test_id("download-p12").wait_for(timeout=30_000)
    assert page.get_by_test_id("invitation-status").inner_text() == "issued"
    screenshot(page, "self-enrollment-client-issued")
    with page.expect_download() as downloaded:
        page.get_by_test_id("download-p12").click()
    p12 = tmp_path / "client.p12"
    downloaded.value.save_as(str(p12))
    info = openssl("pkcs12", "-info", "-in", str(p12), "-passin", f"pass:{PASSWORD}", "-noenc")
    assert info.returncode == 0, info.stderr
    assert "BEGIN PRIVATE KEY" in info.stdout and "BEGIN CERTIFICATE" in info.stdout
    assert openssl("pkcs12", "-info", "-in", str(p12), "-passin", "pass:wrong", "-noenc").returncode != 0


def test_ssl_form_with_a_csr_then_the_collection_link(console, world, open_page, tmp_path):
    page = open_page(console)
    email = f"ops.{TAG}@{DOMAIN}"
    name = f"intranet.{DOMAIN}"
    open_form(page, "ssl", world["ssl"], email)
    page.get_by_test_id("csr").wait_for()
    assert page.get_by_test_id("profile").locator("option").all_inner_texts() == ["Private TLS Server"]
    page.get_by_test_id("common-name").fill(name)
    page.get_by_test_id("sans").fill(name)
    page.get_by_test_id("csr").fill(factories.csr("ec-p256", cn=name, sans=(name,)).decode())
    screenshot(page, "self-enrollment-ssl-form")
    page.get_by_test_id("form-submit").click()
    text = answer_of(page)
    assert "issued" in page.get_by_test_id("form-answer-status").inner_text() and email in text, text
    screenshot(page, "self-enrollment-ssl-issued")
    path = link_path(mail_to(console, email, name)["text"], r"/collect/[A-Za-z0-9_-]+\?format=pem")
    pem = collect(page, path, tmp_path, "ssl.pem")
    cert = x509.load_pem_x509_certificate(pem)
    assert cert.subject.rfc4514_string().startswith(f"CN={name}")


def test_device_endpoint_form_then_the_collection_link(console, world, open_page, tmp_path):
    page = open_page(console)
    email = f"printers.{TAG}@{DOMAIN}"
    name = f"printer-9.{DOMAIN}"
    page.goto(f"/forms/device/{world['endpoint']['uri_extension']}")
    assert page.get_by_test_id("help-text").inner_text() == "Paste the CSR your printer made."
    assert "IT service desk" in page.get_by_test_id("help-link").inner_text()
    page.get_by_test_id("email").fill(email)
    page.get_by_test_id("common-name").fill(name)
    page.get_by_test_id("sans").fill(name)
    page.get_by_test_id("csr-method-browser").check()           # the key made here, offered as a file at once
    page.get_by_test_id("key-type").select_option("ec-p384")
    screenshot(page, "self-enrollment-device-endpoint-form")
    with page.expect_download() as key_download:
        page.get_by_test_id("form-submit").click()
    key_path = tmp_path / "device-key.pem"
    key_download.value.save_as(str(key_path))
    assert email in answer_of(page)
    page.get_by_test_id("key-saved").wait_for()
    assert page.get_by_test_id("form-answer-status").inner_text() == "issued"
    screenshot(page, "self-enrollment-device-issued")
    path = link_path(mail_to(console, email, "your certificate")["text"],
                     r"/collect/cert/[A-Za-z0-9_-]+\?format=pem")
    cert = x509.load_pem_x509_certificate(collect(page, path, tmp_path, "device.pem"))
    assert any(n.value == name for n in cert.extensions.get_extension_for_class(
        x509.SubjectAlternativeName).value)
    key = serialization.load_pem_private_key(key_path.read_bytes(), None)
    assert key.curve.name == "secp384r1"
    assert cert.public_key().public_numbers() == key.public_key().public_numbers()


def test_code_signing_form_invitation_key_made_in_the_browser(console, world, open_page, tmp_path):
    page = open_page(console)
    email = f"grace.{TAG}@{DOMAIN}"
    open_form(page, "cscert", world["cscert"], email, names=("Grace", "Hopper"))
    page.get_by_test_id("cs-invitation").wait_for()
    page.get_by_test_id("form-submit").click()
    assert f"invitation was sent to {email}" in answer_of(page)

    page.goto(link_path(mail_to(console, email, "invitation")["text"], r"/forms/invitations/[A-Za-z0-9_-]+"))
    page.get_by_test_id("key-method-browser").check()
    page.get_by_test_id("key-type").select_option("rsa-3072")
    screenshot(page, "self-enrollment-code-signing-invitation")
    page.get_by_test_id("invitation-submit").click()
    page.get_by_test_id("download-pem").wait_for(timeout=60_000)
    assert page.get_by_test_id("invitation-status").inner_text() == "issued"
    screenshot(page, "self-enrollment-code-signing-issued")
    with page.expect_download() as key_download:
        page.get_by_test_id("key-save").click()
    key_path = tmp_path / "cs-key.pem"
    key_download.value.save_as(str(key_path))
    with page.expect_download() as cert_download:
        page.get_by_test_id("download-pem").click()
    cert_path = tmp_path / "cs.pem"
    cert_download.value.save_as(str(cert_path))
    key = serialization.load_pem_private_key(key_path.read_bytes(), None)
    cert = x509.load_pem_x509_certificates(cert_path.read_bytes())[0]
    assert key.key_size == 3072
    assert cert.public_key().public_numbers() == key.public_key().public_numbers()
    assert "Grace Hopper" in cert.subject.rfc4514_string()


def test_five_wrong_codes_lock_the_form(console, world, open_page):
    page = open_page(console)
    page.goto(f"/forms/ssl?account={world['locked']}")
    page.get_by_test_id("email").fill(f"pat.{TAG}@{DOMAIN}")
    for failures in range(1, 6):
        page.get_by_test_id("access-code").fill(f"wrong code {failures}")
        page.get_by_test_id("form-continue").click()
        page.locator("[data-testid=errors] [data-testid=error]",
                     has_text=f"({failures} wrong in a row)").wait_for()
    assert "locked" in page.get_by_test_id("errors").inner_text()
    page.get_by_test_id("access-code").fill(CODE)
    page.get_by_test_id("form-continue").click()
    page.locator("[data-testid=errors] [data-testid=error]", has_text="This form is locked").wait_for()
    assert page.get_by_test_id("form-details").inner_text().strip() == ""
    screenshot(page, "self-enrollment-locked")
