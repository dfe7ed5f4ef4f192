"""Key escrow, enrollment accounts and device endpoints in Chromium (issue 15). The MRAO opens the page of an
organization created with key escrow (through the REST API), initializes its encryption with a passphrase typed
twice, and sees the master private key once — a PEM that opens with that passphrase, downloadable — and after a
reload only that the encryption is initialized. The MRAO creates an enrollment account (client) and a device
endpoint (URI extension generated in the form) in the console and sees them listed with their form URLs. And a
person's edit names the client certificates a name change revokes; an escrowed key is recovered from the
certificate's page with a second MRAO's approval. Set up
through the REST API on the shared `console` server."""
from __future__ import annotations

import re
import secrets

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from tests.browser.conftest import go, screenshot
from tests.browser.test_certificate_types import profiles_by_name
from tests.browser.test_ssl import as_mrao, wait_url
from tests.e2e.test_certificate_types import PASSWORD, _invitation_link
from tests.e2e.test_ssl_lifecycle import ORG

TAG = secrets.token_hex(3)
PASSPHRASE = f"correct horse battery {TAG}"


@pytest.fixture(scope="module")
def world(console):
    api = console.api
    escrow_org = api.create_org({"name": f"Escrow UI Org {TAG}", **ORG,
                                 "key_escrow": {"enabled": True, "recovery_by_mrao": True}})
    plain_org = api.create_org({"name": f"Forms UI Org {TAG}", **ORG})
    profiles = profiles_by_name(api, ("Private Device", "Private Client (S/MIME)"))
    return {"escrow_org": escrow_org["organization_id"], "org": plain_org["organization_id"],
            "org_name": plain_org["name"], "profiles": profiles}


def test_initialize_key_escrow_shows_the_private_key_once(console, world, open_page):
    page = as_mrao(open_page, console)
    org_id = world["escrow_org"]
    go(page, f"/organizations/{org_id}")
    section = page.get_by_test_id("escrow-section")
    section.get_by_test_id("escrow-initialize").wait_for()
    assert "not initialized" in section.inner_text()

    # a confirmation that differs is refused in the page, nothing is sent
    section.get_by_test_id("escrow-passphrase").fill(PASSPHRASE)
    section.get_by_test_id("escrow-passphrase-confirm").fill(PASSPHRASE + "x")
    section.get_by_role("button", name="Initialize encryption").click()
    assert "differ" in section.get_by_test_id("error").inner_text()

    answers = []

    def seen(response):
        if response.request.method == "POST" and response.url.endswith(f"/organizations/{org_id}/key-escrow"):
            answers.append(response)

    page.on("response", seen)
    try:
        section.get_by_test_id("escrow-passphrase-confirm").fill(PASSPHRASE)
        section.get_by_role("button", name="Initialize encryption").click()
        page.wait_for_function("() => document.querySelector('[data-testid=escrow-private-key-panel]') || "
                               "document.querySelector('[data-testid=escrow-section] [data-testid=error]')",
                               timeout=30_000)
    finally:
        page.remove_listener("response", seen)
    assert answers and answers[0].status == 201, answers and answers[0].text()
    panel = page.get_by_test_id("escrow-private-key-panel")
    assert "never shown again" in panel.inner_text()
    pem = page.get_by_test_id("escrow-private-key").inner_text().strip()
    assert pem == answers[0].json()["private_key_pem"].strip()
    key = serialization.load_pem_private_key(pem.encode(), PASSPHRASE.encode())
    assert isinstance(key, rsa.RSAPrivateKey) and key.key_size >= 3072
    assert page.get_by_test_id("escrow-initialized").count() == 1
    assert page.get_by_test_id("escrow-initialize").count() == 0
    screenshot(page, "key-escrow-initialized-private-key-once")
    with page.expect_download() as downloaded:
        page.get_by_test_id("escrow-key-download").click()
    assert open(downloaded.value.path(), "rb").read().decode().strip() == pem

    # a reload: the status, never the key again
    page.reload()
    page.get_by_test_id("escrow-section").get_by_test_id("escrow-initialized").wait_for()
    assert page.get_by_test_id("escrow-private-key-panel").count() == 0
    assert page.get_by_test_id("escrow-initialize").count() == 0
    assert "BEGIN" not in page.locator("main").inner_text()
    screenshot(page, "key-escrow-after-reload")


def test_create_an_enrollment_account_and_a_device_endpoint_with_their_form_urls(console, world, open_page):
    page = as_mrao(open_page, console)
    assert page.locator("nav.sidebar a", has_text="Enrollment accounts").count() == 1
    assert page.locator("nav.sidebar a", has_text="Device endpoints").count() == 1

    # an enrollment account of type client
    page.locator("nav.sidebar a", has_text="Enrollment accounts").click()
    wait_url(page, r"#/enrollment-accounts$")
    page.get_by_test_id("account-rows").wait_for()
    page.get_by_test_id("account-create").click()
    wait_url(page, r"#/enrollment-accounts/new$")
    account_form = page.get_by_test_id("account-form")
    account_form.wait_for()
    name = f"Sales S/MIME {TAG}"
    page.get_by_test_id("account-name").fill(name)
    page.get_by_test_id("account-type").select_option("client")
    client_profile = world["profiles"]["Private Client (S/MIME)"]
    profiles = page.get_by_test_id("account-profiles")
    profiles.get_by_label(client_profile["name"], exact=True).check()
    assert profiles.get_by_label("Private Device").count() == 0          # only the type's profiles
    assert page.get_by_test_id("account-empty-pkcs12").is_visible()     # client only
    page.get_by_test_id("account-organization").select_option(world["org"])
    page.get_by_test_id("account-auto-approve").check()
    code = f"code-{TAG}-secret"
    page.get_by_test_id("account-access-code").fill(code)
    page.get_by_test_id("account-access-code-confirm").fill(code + "!")
    page.get_by_role("button", name="Create account").click()
    assert "differ" in account_form.get_by_test_id("error").inner_text()
    page.get_by_test_id("account-access-code-confirm").fill(code)
    page.get_by_role("button", name="Create account").click()
    wait_url(page, r"#/enrollment-accounts/[0-9a-f-]{36}$")
    account_id = page.url.rsplit("/", 1)[1]
    url = page.get_by_test_id("account-form-url")
    url.wait_for()
    assert url.inner_text() == f"{console.url}/forms/client?account={account_id}"
    assert code not in page.locator("main").inner_text()
    made = console.api("GET", f"/api/v1/enrollment-accounts/{account_id}").json()
    assert made["cert_type"] == "client" and made["organization_id"] == world["org"], made
    assert made["profile_ids"] == [client_profile["profile_id"]] and made["auto_approve"] is True, made
    assert made["has_access_code"] is True and "access_code" not in made
    screenshot(page, "enrollment-account")

    go(page, "/enrollment-accounts")
    row = page.locator("[data-testid=account-rows] tr", has_text=name)
    row.wait_for()
    assert f"/forms/client?account={account_id}" in row.get_by_test_id("account-row-url").inner_text()
    assert world["org_name"] in row.inner_text()
    screenshot(page, "enrollment-accounts")

    # a device endpoint, its URI extension generated in the form
    page.locator("nav.sidebar a", has_text="Device endpoints").click()
    wait_url(page, r"#/device-endpoints$")
    page.get_by_test_id("endpoint-rows").wait_for()
    page.get_by_test_id("endpoint-create").click()
    wait_url(page, r"#/device-endpoints/new$")
    page.get_by_test_id("endpoint-form").wait_for()
    endpoint_name = f"Printers {TAG}"
    page.get_by_test_id("endpoint-name").fill(endpoint_name)
    page.get_by_test_id("endpoint-organization").select_option(world["org"])
    page.get_by_test_id("endpoint-profiles").get_by_label("Private Device", exact=True).check()
    page.get_by_test_id("endpoint-generate").click()
    extension = page.get_by_test_id("endpoint-uri").input_value()
    assert re.fullmatch(r"[a-z0-9]{16}", extension), extension
    assert page.get_by_test_id("endpoint-url-preview").inner_text().endswith(f"/forms/device/{extension}")
    page.get_by_test_id("endpoint-help-link").fill("Need help?")
    page.get_by_test_id("endpoint-help-text").fill("Ask the service desk.")
    assert page.get_by_test_id("endpoint-help-count").inner_text().startswith("21 / 2048")
    page.get_by_role("button", name="Create endpoint").click()
    wait_url(page, r"#/device-endpoints/[0-9a-f-]{36}$")
    endpoint_id = page.url.rsplit("/", 1)[1]
    form_url = page.get_by_test_id("endpoint-form-url")
    form_url.wait_for()
    assert form_url.inner_text().endswith(f"/forms/device/{extension}")
    made = console.api("GET", f"/api/v1/device-endpoints/{endpoint_id}").json()
    assert made["uri_extension"] == extension and made["form_url"] == form_url.inner_text(), made
    assert made["help_text"] == "Ask the service desk." and made["help_link_text"] == "Need help?", made
    screenshot(page, "device-endpoint")

    go(page, "/device-endpoints")
    row = page.locator("[data-testid=endpoint-rows] tr", has_text=endpoint_name)
    row.wait_for()
    assert row.get_by_test_id("endpoint-row-url").inner_text() == made["form_url"]
    screenshot(page, "device-endpoints")

    # disable from its page: the status says so
    row.get_by_test_id("endpoint-row-link").click()
    wait_url(page, rf"#/device-endpoints/{endpoint_id}$")
    page.get_by_test_id("endpoint-toggle").click()
    page.locator("[data-testid=endpoint-status] .status-disabled").wait_for()
    assert console.api("GET", f"/api/v1/device-endpoints/{endpoint_id}").json()["status"] == "disabled"


def test_the_person_edit_warns_and_an_escrowed_key_is_recovered_with_dual_control(console, world, open_page):
    """An escrowed client certificate of a person (set up through the REST API: the organization's encryption,
    the invitation answered with a server-made key, another MRAO's approval). The person's edit form says that
    changing the name revokes 1 client certificate; the MRAO asks to recover the key from the certificate's page,
    the other MRAO approves, and the MRAO receives the PKCS#12 there with the master private key: the certificate
    is revoked."""
    api = console.api
    org = api.create_org({"name": f"Recovery UI Org {TAG}", **ORG,
                          "key_escrow": {"enabled": True, "recovery_by_mrao": True}})["organization_id"]
    domain = f"recovery{TAG}.example.com"
    assert api("POST", "/api/v1/domains", json={"name": domain, "delegations": [
        {"organization_id": org, "cert_types": ["client"]}]}).status_code == 201
    initialized = api("POST", f"/api/v1/organizations/{org}/key-escrow", json={"passphrase": PASSPHRASE})
    assert initialized.status_code == 201, initialized.text
    master_pem = initialized.json()["private_key_pem"]
    email = f"eve.{TAG}@{domain}"
    person = api("POST", "/api/v1/persons", json={"organization_id": org, "email": email, "first_name": "Eve",
                                                 "last_name": f"Escrow{TAG}"}).json()
    invited = api("POST", "/api/v1/client", json={
        "person_id": person["person_id"], "term_days": 365,
        "profile_id": world["profiles"]["Private Client (S/MIME)"]["profile_id"]})
    assert invited.status_code == 201, invited.text
    cert_id = invited.json()["cert_id"]
    token = _invitation_link(console, email)
    assert api.as_token(None)("POST", f"/forms/api/invitations/{token}", json={"password": PASSWORD}).status_code == 201
    _record, second = console.server.admin(f"escrow-ui-{TAG}", [{"role": "MRAO"}])
    issued = second("POST", f"/api/v1/client/{cert_id}/approve")
    assert issued.status_code == 200 and issued.json()["escrowed"] is True, issued.text

    page = as_mrao(open_page, console)
    # the person's edit: a name change names the one valid certificate it revokes; Cancel saves nothing
    go(page, f"/persons/{person['person_id']}")
    edit = page.get_by_test_id("person-edit")
    edit.get_by_label("Last name").fill(f"Changed{TAG}")
    edit.get_by_role("button", name="Save").click()
    warning = page.get_by_test_id("revoke-warning")
    warning.wait_for()
    assert "1 client certificate of this person will be revoked" in warning.inner_text()
    screenshot(page, "person-edit-revokes-client-certificates")
    page.locator("dialog").get_by_role("button", name="Cancel").click()
    assert api("GET", f"/api/v1/persons/{person['person_id']}").json()["last_name"] == f"Escrow{TAG}"

    # ask, from the certificate's page
    go(page, f"/client/{cert_id}")
    recovery = page.get_by_test_id("recovery-section")
    recovery.get_by_test_id("recovery-reason").fill("Eve left; her mail must be read")
    recovery.get_by_role("button", name="Ask to recover the key").click()
    page.get_by_test_id("recovery-status").wait_for()
    assert "waiting for a second administrator" in page.get_by_test_id("recovery-status").inner_text()
    assert page.get_by_test_id("recovery-approve").count() == 0          # not for the one who asked
    # the other MRAO approves; the one who asked receives the key
    assert second("POST", f"/api/v1/client/{cert_id}/recovery/approve").status_code == 200
    page.reload()
    form = page.get_by_test_id("recovery-key")
    form.wait_for()
    page.get_by_test_id("recovery-master-pem").fill(master_pem)
    page.get_by_test_id("recovery-passphrase").fill(PASSPHRASE)
    page.get_by_test_id("recovery-pkcs12-password").fill(PASSWORD)
    page.get_by_test_id("recovery-pkcs12-confirm").fill(PASSWORD)
    screenshot(page, "client-certificate-key-recovery")
    with page.expect_download() as downloaded:
        form.get_by_role("button", name="Receive the key (PKCS#12)").click()
    key, certificate, _chain = pkcs12.load_key_and_certificates(open(downloaded.value.path(), "rb").read(),
                                                                PASSWORD.encode())
    assert key is not None and certificate.serial_number == int(issued.json()["serial"].replace(":", ""), 16)
    page.locator("[data-testid=cert-status] .status-revoked").wait_for()
    assert "recovered" in page.get_by_test_id("recovery-status").inner_text()
