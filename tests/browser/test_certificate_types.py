"""Client, code-signing and device certificates in Chromium (issue 15): the MRAO requests a device certificate
from the console with a pasted CSR whose O and C are somebody else's, under a device profile that needs no
approval, for a name delegated to the organization for SSL: the answer says issued, the device inventory lists it
issued, its page shows it, and the PEM downloaded from there names the organization, not the CSR's O. And the MRAO
invites a person to a client certificate: the form says where the invitation went, and the client inventory shows
the request `invited`. Set up through the REST API on the shared `console` server."""
from __future__ import annotations

import secrets
import time

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from tests import factories
from tests.browser.conftest import go, screenshot
from tests.browser.test_ssl import as_mrao, wait_url
from tests.e2e.test_ssl_lifecycle import ORG

TAG = secrets.token_hex(3)
DOMAIN = f"types{TAG}.example.com"
ORG_NAME = f"Types UI Org {TAG}"


def profiles_by_name(api, names: tuple[str, ...], timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        found = {p["name"]: p for p in api("GET", "/api/v1/profiles").json()["items"]}
        if all(name in found for name in names):
            return found
        assert time.monotonic() < deadline, f"no default profiles {names}: {sorted(found)}"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def world(console):
    """An organization with a domain delegated to it for ssl (device names) and client (persons' emails), a device
    profile that needs no approval (a copy of the default one), and a person of the organization."""
    api = console.api
    org = api.create_org({"name": ORG_NAME, **ORG})["organization_id"]
    domain = api("POST", "/api/v1/domains", json={"name": DOMAIN, "delegations": [
        {"organization_id": org, "cert_types": ["ssl", "client"]}]})
    assert domain.status_code == 201, domain.text
    profiles = profiles_by_name(api, ("Private Device", "Private Client (S/MIME)"))
    device = profiles["Private Device"]
    fields = {k: v for k, v in device.items() if k not in ("profile_id", "created_at", "updated_at")}
    made = api("POST", "/api/v1/profiles", json={**fields, "name": f"Device at once {TAG}", "requires_approval": False})
    assert made.status_code == 201, made.text
    person = api("POST", "/api/v1/persons", json={"organization_id": org, "email": f"ada.{TAG}@{DOMAIN}",
                                                 "first_name": "Ada", "last_name": f"Lovelace{TAG}"})
    assert person.status_code == 201, person.text
    return {"org": org, "device": made.json(), "client": profiles["Private Client (S/MIME)"],
            "person": person.json()}


def submit(page, resource: str) -> list:
    """Send the request form and wait for its answer on the page: the POST's responses as the browser got them
    (not page.expect_response, which hangs under eventlet: tests/browser/conftest.py)."""
    answers = []

    def seen(response):
        if response.url.endswith(f"/api/v1/{resource}") and response.request.method == "POST":
            answers.append(response)

    page.on("response", seen)
    page.get_by_role("button", name="Request certificate" if resource != "client" else "Send the invitation").click()
    try:
        page.wait_for_function(
            "() => document.querySelector('[data-testid=cert-answer], [data-testid=cert-invited], "
            "[data-testid=cert-failed]') || document.querySelector('[data-testid=cert-request-form] [data-testid=error]')",
            timeout=30_000)
    finally:
        page.remove_listener("response", seen)
    assert answers, f"the form's POST /api/v1/{resource} was not seen"
    return answers


def test_a_device_csr_with_another_o_is_issued_listed_and_downloaded(console, world, open_page):
    page = as_mrao(open_page, console)
    assert page.locator("nav.sidebar a", has_text="Device certificates").count() == 1
    assert page.locator("nav.sidebar a", has_text="Client certificates").count() == 1
    assert page.locator("nav.sidebar a", has_text="Code signing").count() == 1
    page.locator("nav.sidebar a", has_text="Device certificates").click()
    wait_url(page, r"#/device$")
    page.get_by_test_id("cert-rows").wait_for()
    page.get_by_test_id("cert-request").click()
    wait_url(page, r"#/device/new$")
    page.get_by_test_id("cert-request-form").wait_for()
    page.get_by_test_id("cert-organization").select_option(world["org"])
    page.get_by_test_id("cert-profile").select_option(world["device"]["profile_id"])
    assert "no approval needed" in page.get_by_test_id("cert-profile").locator("option:checked").inner_text()
    # only device profiles are offered
    offered = page.get_by_test_id("cert-profile").locator("option").all_inner_texts()
    assert not any(text.startswith(("Private TLS", "Private Client", "Private Code")) for text in offered), offered
    page.get_by_test_id("cert-term").select_option(str(min(world["device"]["terms"])))
    name = f"printer-7.{DOMAIN}"
    csr = factories.csr("ec-p256", cn=name, sans=(name,), organization="Somebody Else Inc", country="US")
    page.get_by_test_id("cert-csr").fill(csr.decode())
    page.get_by_test_id("cert-custom-add").click()
    row = page.get_by_test_id("cert-custom-row").first
    row.get_by_label("Field name").fill("asset_tag")
    row.get_by_label("Value").fill("A-7")
    answers = submit(page, "device")
    assert answers[0].status == 201, answers[0].text()
    made = answers[0].json()
    assert made["status"] == "issued" and made["custom_fields"] == {"asset_tag": "A-7"}, made
    assert page.get_by_test_id("cert-answer-status").inner_text().strip() == "issued"
    screenshot(page, "device-certificate-requested")

    # the inventory: the row, issued, with its common name, order number and SAN
    go(page, "/device")
    row = page.locator("[data-testid=cert-rows] tr", has_text=made["cert_id"][:8])
    row.wait_for()
    assert row.get_by_test_id("cert-row-status").inner_text().strip() == "issued"
    cells = row.locator("td").all_inner_texts()
    assert cells[1] == name and cells[2] == made["cert_id"][:8] and name in cells[8], cells
    assert f"O={ORG_NAME}" in cells[7], cells
    screenshot(page, "device-certificates")

    # its page, and the PEM from there: the organization's O and C, not the CSR's
    row.get_by_test_id("cert-row-link").click()
    wait_url(page, rf"#/device/{made['cert_id']}$")
    page.locator("[data-testid=cert-status] .status-issued").wait_for()
    assert page.get_by_role("heading", level=1).inner_text() == name
    assert "asset_tag" in page.get_by_test_id("cert-custom").inner_text()
    assert page.get_by_test_id("cert-revoke-button").count() == 1
    screenshot(page, "device-certificate")
    with page.expect_download() as downloaded:
        page.get_by_test_id("cert-download-pem").click()
    certificate = x509.load_pem_x509_certificate(open(downloaded.value.path(), "rb").read())
    assert certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == ORG_NAME
    assert certificate.subject.get_attributes_for_oid(NameOID.COUNTRY_NAME)[0].value == "DE"
    assert format(certificate.serial_number, "x") == made["serial"].replace(":", "").lower().lstrip("0")
    assert console.api("GET", f"/api/v1/device/{made['cert_id']}").json()["status"] == "downloaded"


def test_invite_a_person_to_a_client_certificate(console, world, open_page):
    page = as_mrao(open_page, console)
    go(page, "/client")
    page.get_by_test_id("cert-rows").wait_for()
    page.get_by_test_id("cert-request").click()
    wait_url(page, r"#/client/new$")
    page.get_by_test_id("cert-request-form").wait_for()
    person = world["person"]
    page.get_by_test_id("cert-person-search").fill(f"lovelace{TAG}")
    assert page.get_by_test_id("cert-person").locator("option").count() == 1     # the search narrowed the list
    page.get_by_test_id("cert-person").select_option(person["person_id"])
    page.get_by_test_id("cert-profile").select_option(world["client"]["profile_id"])
    offered = page.get_by_test_id("cert-profile").locator("option").all_inner_texts()
    assert all(not text.startswith(("Private Device", "Private TLS")) for text in offered), offered
    page.get_by_test_id("cert-comments").fill("from the console")
    answers = submit(page, "client")
    assert answers[0].status == 201, answers[0].text()
    made = answers[0].json()
    assert made["status"] == "invited" and made["person_id"] == person["person_id"], made
    assert f"Invitation sent to {person['email']}" in page.get_by_test_id("cert-invited").inner_text()
    screenshot(page, "client-certificate-invited")

    go(page, "/client?status=invited")
    row = page.locator("[data-testid=cert-rows] tr", has_text=made["cert_id"][:8])
    row.wait_for()
    assert row.get_by_test_id("cert-row-status").inner_text().strip() == "invited"
    assert person["email"] in row.inner_text()
    assert page.get_by_test_id("cert-filter-status").input_value() == "invited"
    screenshot(page, "client-certificates")
