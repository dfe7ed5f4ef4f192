"""SCEP and EST device enrollment endpoints in Chromium (issue 16), on the shared `console` server. The MRAO creates
an SCEP endpoint in the console and sees its URL and challenge password once (the answer's, with the words "shown
once"; never after a reload, nor in a GET), issues a one-time challenge for a device (shown once, then listed as
issued), and rotates the credential (after a confirmation: a new one, shown once). An endpoint's page lists the
device certificates issued through it, each linking to its page in the device inventory — through a web form's
request, and through the SCEP endpoint with Debian's `scepclient` using the one-time challenge (which the list
then shows as used). Set up through the REST API; the answers the page got are read with page.on("response")
(eventlet: never expect_response)."""
from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess

import pytest
import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import ExtensionOID

from tests import factories
from tests.browser.conftest import go, screenshot
from tests.browser.test_certificate_types import profiles_by_name
from tests.browser.test_ssl import as_mrao, wait_url
from tests.e2e.test_ssl_lifecycle import ORG

TAG = secrets.token_hex(3)
DOMAIN = f"devices-ui-{TAG}.example.com"
ENDPOINTS = "/api/v1/device-endpoints"
SCEPCLIENT = shutil.which("scepclient")


@pytest.fixture(scope="module")
def world(console):
    """An organization with a domain delegated for device names and a device profile that issues at once."""
    api = console.api
    org = api.create_org({"name": f"Device UI Org {TAG}", **ORG})
    made = api("POST", "/api/v1/domains", json={"name": DOMAIN, "delegations": [
        {"organization_id": org["organization_id"], "cert_types": ["ssl"]}]})
    assert made.status_code == 201, made.text
    device = profiles_by_name(api, ("Private Device",))["Private Device"]
    fields = {k: v for k, v in device.items() if k not in ("profile_id", "created_at", "updated_at")}
    at_once = api("POST", "/api/v1/profiles", json={**fields, "name": f"Device at once {TAG}",
                                                    "requires_approval": False})
    assert at_once.status_code == 201, at_once.text
    return {"org": org["organization_id"], "profile": at_once.json()}


class Answers:
    """The answers the page got to one kind of request (page.on("response"): eventlet cannot run
    expect_response), and a wait for what the page shows of them."""

    def __init__(self, page, method: str, pattern: str):
        self.page, self.method, self.pattern, self.seen = page, method, re.compile(pattern), []
        page.on("response", self._response)

    def _response(self, response):
        if response.request.method == self.method and self.pattern.search(response.url):
            self.seen.append(response)

    def after(self, shown_selector: str, scope: str = "main"):
        """Wait until the page shows `shown_selector` or an error in `scope`; then the one answer, as JSON."""
        self.page.wait_for_function(
            "([shown, scope]) => document.querySelector(shown) || "
            "document.querySelector(`${scope} [data-testid=error]`)", arg=[shown_selector, scope], timeout=30_000)
        self.page.remove_listener("response", self._response)
        assert len(self.seen) == 1, [r.url for r in self.seen]
        answer = self.seen[0]
        assert answer.status < 300, answer.text()
        return answer.status, answer.json(), answer.headers


def create_in_console(page, world, kind: str, name: str) -> tuple[int, dict]:
    go(page, "/device-endpoints/new")
    page.get_by_test_id("endpoint-form").wait_for()
    page.get_by_test_id("endpoint-name").fill(name)
    page.get_by_test_id("endpoint-type").select_option(kind)
    page.get_by_test_id("endpoint-organization").select_option(world["org"])
    page.get_by_test_id("endpoint-profiles").get_by_label(world["profile"]["name"], exact=True).check()
    page.get_by_test_id("endpoint-generate").click()
    extension = page.get_by_test_id("endpoint-uri").input_value()
    path = {"scep": "/scep/", "est": "/.well-known/est/"}[kind]
    assert f"{path}{extension}" in page.get_by_test_id("endpoint-url-preview").inner_text()
    assert not page.get_by_test_id("endpoint-help-text").is_visible()      # a form's texts: no form here
    answers = Answers(page, "POST", rf"{ENDPOINTS}$")
    page.get_by_role("button", name="Create endpoint").click()
    status, made, headers = answers.after("[data-testid=endpoint-credentials]")
    assert status == 201 and made["uri_extension"] == extension and headers.get("cache-control") == "no-store"
    return status, made


def test_an_admin_creates_an_scep_endpoint_and_sees_its_url_and_password_once(console, world, open_page):
    page = as_mrao(open_page, console)
    _status, made = create_in_console(page, world, "scep", f"Badge printers {TAG}")
    password = made["credentials"]["challenge_password"]
    panel = page.get_by_test_id("endpoint-credentials")
    assert "shown once" in panel.inner_text()
    assert page.get_by_test_id("endpoint-credentials-url").inner_text() == made["scep_url"]
    assert made["scep_url"] == f"{console.url}/scep/{made['uri_extension']}"
    assert page.get_by_test_id("endpoint-challenge-password").inner_text() == password
    assert password in page.get_by_test_id("endpoint-scepclient").inner_text()
    assert panel.get_by_role("button", name="Copy challenge password to clipboard").count() == 1
    screenshot(page, "scep-endpoint-created-password-once")

    shown = console.api("GET", f"{ENDPOINTS}/{made['endpoint_id']}")
    assert "credentials" not in shown.json() and password not in shown.text
    page.get_by_test_id("endpoint-stored").click()
    wait_url(page, rf"#/device-endpoints/{made['endpoint_id']}$")
    page.get_by_test_id("endpoint-protocol-url").wait_for()
    assert page.get_by_test_id("endpoint-protocol-url").inner_text() == made["scep_url"]
    assert page.get_by_test_id("endpoint-type-words").inner_text() == "SCEP"
    assert "shown once" in page.get_by_test_id("endpoint-credential-state").inner_text()
    assert password not in page.locator("main").inner_text()

    # a one-time challenge for one device: shown once, then listed as issued
    page.get_by_test_id("challenge-list").locator("tr.empty").wait_for()
    page.get_by_test_id("challenge-hours").fill("0")
    page.get_by_role("button", name="Issue one-time challenge").click()
    assert "Valid for (hours)" in page.get_by_test_id("challenge-form").get_by_test_id("error").inner_text()
    page.get_by_test_id("challenge-device").fill("badge-printer-lobby")
    page.get_by_test_id("challenge-hours").fill("2")
    answers = Answers(page, "POST", rf"{ENDPOINTS}/{made['endpoint_id']}/challenges$")
    page.get_by_role("button", name="Issue one-time challenge").click()
    status, issued, _headers = answers.after("[data-testid=challenge-once]")
    assert status == 201 and issued["device_name"] == "badge-printer-lobby"
    once = page.get_by_test_id("challenge-once")
    assert page.get_by_test_id("challenge-secret").inner_text() == issued["challenge"]
    assert "shown once" in once.inner_text() and "badge-printer-lobby" in once.inner_text()
    row = page.get_by_test_id("challenge-rows").locator("tr", has_text="badge-printer-lobby")
    row.wait_for()
    assert row.get_by_test_id("challenge-row-status").inner_text() == "issued"
    assert "admin" in row.inner_text()                                    # who issued it, by name
    assert page.get_by_test_id("challenge-device").input_value() == ""   # ready for the next device
    assert page.get_by_test_id("challenge-hours").input_value() == "2"
    screenshot(page, "scep-endpoint-one-time-challenge")

    # a reload: the list, never the challenge or the password again
    page.reload()
    row = page.get_by_test_id("challenge-rows").locator("tr", has_text="badge-printer-lobby")
    row.wait_for()
    assert page.get_by_test_id("challenge-once").count() == 0
    text = page.locator("main").inner_text()
    assert issued["challenge"] not in text and password not in text
    listed = console.api("GET", f"{ENDPOINTS}/{made['endpoint_id']}/challenges")
    assert issued["challenge"] not in listed.text and listed.json()["items"][0]["status"] == "issued"

    # rotate the credential: confirmed, then the new one shown once
    answers = Answers(page, "POST", rf"{ENDPOINTS}/{made['endpoint_id']}/credentials$")
    page.get_by_test_id("endpoint-rotate").click()
    page.get_by_test_id("confirm").click()
    status, rotated, _headers = answers.after("[data-testid=endpoint-credentials]")
    new_password = rotated["credentials"]["challenge_password"]
    assert new_password != password
    assert page.get_by_test_id("endpoint-challenge-password").inner_text() == new_password
    assert "shown once" in page.get_by_test_id("endpoint-credentials").inner_text()
    screenshot(page, "scep-endpoint-rotated")


def test_an_est_endpoint_shows_its_username_and_password_once(console, world, open_page):
    page = as_mrao(open_page, console)
    _status, made = create_in_console(page, world, "est", f"Routers {TAG}")
    credentials = made["credentials"]
    assert page.get_by_test_id("endpoint-est-username").inner_text() == made["uri_extension"] == \
        credentials["username"]
    assert page.get_by_test_id("endpoint-est-password").inner_text() == credentials["password"]
    assert "shown once" in page.get_by_test_id("endpoint-credentials").inner_text()
    if made["est_url"] is None:        # the shared console runs no EST listener: the panel says so
        assert "EST listener is off" in page.get_by_test_id("endpoint-credentials-url").inner_text()
    else:
        assert page.get_by_test_id("endpoint-credentials-url").inner_text() == made["est_url"]
    page.get_by_test_id("endpoint-stored").click()
    wait_url(page, rf"#/device-endpoints/{made['endpoint_id']}$")
    page.get_by_test_id("challenge-section").wait_for()
    assert credentials["password"] not in page.locator("main").inner_text()
    screenshot(page, "est-endpoint")

    # on a phone: the page and the panel a rotation shows fit its width
    page.set_viewport_size({"width": 390, "height": 844})
    answers = Answers(page, "POST", rf"{ENDPOINTS}/{made['endpoint_id']}/credentials$")
    page.get_by_test_id("endpoint-rotate").click()
    page.get_by_test_id("confirm").click()
    _status, rotated, _headers = answers.after("[data-testid=endpoint-credentials]")
    assert page.get_by_test_id("endpoint-est-password").inner_text() == rotated["credentials"]["password"]
    assert page.evaluate("document.documentElement.scrollWidth") <= 391
    screenshot(page, "phone-est-endpoint-rotated")


def test_an_endpoints_page_lists_the_certificates_issued_through_it(console, world, open_page):
    made = console.api("POST", ENDPOINTS, json={"name": f"Cameras {TAG}", "organization_id": world["org"],
                                                "profile_ids": [world["profile"]["profile_id"]]})
    assert made.status_code == 201, made.text
    endpoint = made.json()
    name = f"cam-1.{DOMAIN}"
    requested = console.api.as_token(None)("POST", f"/forms/api/device/{endpoint['uri_extension']}/requests", json={
        "email": f"cams@{DOMAIN}", "term_days": 365, "csr": factories.csr("ec-p256", cn=name, sans=(name,)).decode()})
    assert requested.status_code in (201, 202), requested.text
    [cert] = console.api("GET", "/api/v1/device", params={"endpoint_id": endpoint["endpoint_id"]}).json()["items"]
    cert_id = cert["cert_id"]

    page = as_mrao(open_page, console)
    go(page, f"/device-endpoints/{endpoint['endpoint_id']}")
    certificates = page.get_by_test_id("endpoint-certificates")
    certificates.get_by_test_id("endpoint-cert-link").wait_for()
    assert certificates.get_by_test_id("endpoint-cert-total").inner_text() == "1 device certificate."
    link = certificates.get_by_test_id("endpoint-cert-link")
    assert link.inner_text() == name and link.get_attribute("href") == f"#/device/{cert_id}"
    assert page.get_by_test_id("challenge-section").count() == 0            # a web form takes no challenges
    screenshot(page, "device-endpoint-certificates")
    link.click()
    wait_url(page, rf"#/device/{cert_id}$")
    page.get_by_test_id("cert-status").wait_for()
    assert page.locator("main h1").inner_text() == name


def _ra_fingerprint(url: str) -> str:
    """The SHA-256 of GetCACert's RA certificate (the one that is not a CA): scepclient encrypts to it."""
    answer = requests.get(url, params={"operation": "GetCACert"}, timeout=30)
    assert answer.status_code == 200, answer.text
    [ra] = [c for c in pkcs7.load_der_pkcs7_certificates(answer.content)
            if not c.extensions.get_extension_for_oid(ExtensionOID.BASIC_CONSTRAINTS).value.ca]
    return ra.fingerprint(hashes.SHA256()).hex()


@pytest.mark.skipif(SCEPCLIENT is None and not os.environ.get("CERTPLANE_REQUIRE_BROWSER"),
                    reason="needs Debian's scep (scepclient); CI installs it (.ci/run)")
def test_a_device_enrolled_with_scepclient_shows_its_challenge_used_and_its_certificate(console, world, open_page,
                                                                                       tmp_path):
    made = console.api("POST", ENDPOINTS, json={"name": f"Kiosks {TAG}", "type": "scep", "generate": True,
                                                "organization_id": world["org"],
                                                "profile_ids": [world["profile"]["profile_id"]]})
    assert made.status_code == 201, made.text
    endpoint = made.json()
    issued = console.api("POST", f"{ENDPOINTS}/{endpoint['endpoint_id']}/challenges",
                         json={"device_name": "kiosk-7", "valid_hours": 1})
    assert issued.status_code == 201, issued.text
    key = tmp_path / "key.pem"
    key.write_bytes(rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()))
    name = f"kiosk-7.{DOMAIN}"
    run = subprocess.run([SCEPCLIENT, "-private-key", str(key), "-server-url", endpoint["scep_url"], "-cn", name,
                          "-ca-fingerprint", _ra_fingerprint(endpoint["scep_url"]),
                          "-challenge", issued.json()["challenge"]],
                         capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr

    page = as_mrao(open_page, console)
    go(page, f"/device-endpoints/{endpoint['endpoint_id']}")
    row = page.get_by_test_id("challenge-rows").locator("tr", has_text="kiosk-7")
    row.wait_for()
    assert row.get_by_test_id("challenge-row-status").inner_text() == "used"
    assert "SCEP" in row.inner_text()
    link = page.get_by_test_id("endpoint-certificates").get_by_test_id("endpoint-cert-link")
    link.wait_for()
    assert link.inner_text() == name
    cert_id = link.get_attribute("href").rsplit("/", 1)[1]
    assert console.api("GET", f"/api/v1/device/{cert_id}").json()["endpoint_id"] == endpoint["endpoint_id"]
    screenshot(page, "scep-endpoint-certificate-enrolled")
