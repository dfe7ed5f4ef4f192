"""The SSL certificate screens in Chromium (issue 12): a certificate issued through the request wizard from a CSR
generated in the browser (its private key downloaded and checked against the issued certificate), the inventory
filtered, sorted and exported as CSV (exactly the filtered rows), a request under a profile that needs approval
approved by a second administrator in another browser context (the message in the history, the requester's page
updating by itself), the PEM download, revocation with a reason, and a bad CSR refused with the API's message
while the form keeps what was typed. Set up through the REST API on the shared `console` server: an organization
with a department and an internal domain delegated to both (a private profile needs no DCV for internal names)."""
from __future__ import annotations

import csv
import io
import re
import secrets

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests import factories
from tests.browser.conftest import go, login, screenshot
from tests.e2e.test_ssl_lifecycle import ORG, wait_for_profiles

TAG = secrets.token_hex(3)
DOMAIN = f"ui{TAG}.internal"


def make_admin(console, username: str, roles: list[dict]) -> tuple[str, str]:
    """An administrator with a password we know (first-login change done): (admin_id, password)."""
    first = f"initial-{secrets.token_hex(8)}"
    created = console.api("POST", "/api/v1/admins", json={
        "username": username, "email": f"{username}@example.com", "forename": username.title(),
        "surname": "Tester", "roles": roles, "privileges": [], "password": first})
    assert created.status_code == 201, created.text
    assert created.json()["status"] == "active", created.json()
    token = console.api.login(username, first)
    password = f"changed-{secrets.token_hex(8)}"
    changed = console.api.as_token(token)("POST", "/api/v1/auth/password", json={
        "current_password": first, "new_password": password})
    assert changed.status_code == 204, changed.text
    return created.json()["admin_id"], password


@pytest.fixture(scope="module")
def world(console):
    api = console.api
    org = api.create_org({"name": f"SSL UI Org {TAG}", **ORG})["organization_id"]
    other = api.create_org({"name": f"SSL UI Other {TAG}", **ORG})["organization_id"]
    made = api("POST", f"/api/v1/organizations/{org}/departments", json={"name": f"Web {TAG}"})
    assert made.status_code == 201, made.text
    department = made.json()["department_id"]
    domain = api("POST", "/api/v1/domains", json={"name": DOMAIN, "delegations": [
        {"organization_id": org, "cert_types": ["ssl"]},
        {"organization_id": org, "department_id": department, "cert_types": ["ssl"]}]})
    assert domain.status_code == 201, domain.text
    profiles = {p["name"]: p for p in wait_for_profiles(api)}
    private = profiles["Private TLS Server"]
    assert private["requires_approval"] is False and private["trust_class"] == "private"
    fields = {k: v for k, v in private.items() if k not in ("profile_id", "created_at", "updated_at")}
    approval = api("POST", "/api/v1/profiles", json={**fields, "name": f"TLS approval {TAG}",
                                                     "requires_approval": True})
    assert approval.status_code == 201, approval.text
    rao_id, rao_password = make_admin(console, f"sslui{TAG}", [
        {"role": "RAO", "cert_type": "ssl", "organization_ids": [org]}])
    return {"org": org, "other": other, "department": department, "private": private,
            "approval": approval.json(), "rao": (f"sslui{TAG}", rao_password, rao_id)}


def issue(console, world, name: str, **fields) -> dict:
    body = {"organization_id": world["org"], "profile_id": world["private"]["profile_id"], "term_days": 90,
            "csr": factories.csr("ec-p256", cn=name, sans=(name,)).decode(), "common_name": name, "sans": [name],
            **fields}
    made = console.api("POST", "/api/v1/ssl", json=body)
    assert made.status_code == 201, made.text
    return made.json()


def as_mrao(open_page, console, viewport=None):
    page = open_page(console, viewport)
    login(page, "admin", console.server.admin_password)
    settle(page)
    return page


def settle(page):
    """Let the first screen after login finish rendering: a render still under way when the hash changes can
    overwrite the next screen (app.js renders are not cancelled)."""
    page.locator("main h1").first.wait_for()
    page.wait_for_function("() => !document.querySelector('main .loading')")


def status_of(page):
    return page.get_by_test_id("ssl-status").inner_text().strip()


def wait_url(page, pattern: str):
    """Wait for the URL (a hash change: no load event) to match the regular expression `pattern`."""
    page.wait_for_function("pattern => new RegExp(pattern).test(window.location.href)", arg=pattern)


def open_inventory(page):
    """The inventory shown (its rows' tbody), or the test fails with what the page shows instead."""
    try:
        page.locator("[data-testid=ssl-rows]").wait_for(timeout=30_000)
    except Exception:
        raise AssertionError(f"no inventory: {page.url} {page.locator('main').inner_text()[:500]}") from None


def wait_status(page, status: str, timeout: float = 15_000):
    page.locator(f"[data-testid=ssl-status] .status-{status}").wait_for(timeout=timeout)


# ---- the wizard ----------------------------------------------------------------------------------------------
def test_issue_through_the_wizard_with_a_key_generated_in_the_browser(console, world, open_page):
    page = as_mrao(open_page, console)
    go(page, "/ssl")
    open_inventory(page)
    page.get_by_test_id("ssl-request").click()
    page.get_by_test_id("ssl-request-form").wait_for()
    page.get_by_test_id("ssl-organization").select_option(world["org"])
    page.get_by_test_id("ssl-department").select_option(world["department"])
    page.get_by_test_id("ssl-profile").select_option(world["private"]["profile_id"])
    assert "no approval needed" in page.get_by_test_id("ssl-profile").locator("option:checked").inner_text()
    assert "private" in page.get_by_test_id("ssl-profile-info").inner_text()
    page.get_by_test_id("ssl-term").select_option(str(min(world["private"]["terms"])))
    name = f"www.{DOMAIN}"
    page.get_by_test_id("ssl-common-name").fill(name)
    page.get_by_test_id("ssl-sans").fill(f"{name}\napi.{DOMAIN}\n")
    page.get_by_test_id("ssl-comments").fill("through the wizard")
    page.get_by_test_id("ssl-external-requester").fill("web-team@example.com")
    page.get_by_test_id("ssl-csr-mode-generate").check()
    assert "never leaves it" in page.get_by_test_id("ssl-csr").inner_text()
    page.get_by_test_id("ssl-csr-key-type").select_option("ec-p384")
    with page.expect_download() as key_download:
        page.get_by_test_id("ssl-csr-generate").click()
    key_pem = open(key_download.value.path(), "rb").read()
    assert key_download.value.suggested_filename == f"{name}.key"
    private_key = serialization.load_pem_private_key(key_pem, password=None)
    page.get_by_test_id("ssl-csr-generated").wait_for(state="attached")
    csr_pem = page.get_by_test_id("ssl-csr-generated").text_content()
    csr = x509.load_pem_x509_csr(csr_pem.encode())
    assert csr.public_key() == private_key.public_key()
    screenshot(page, "ssl-wizard-generated-csr")

    with page.expect_request(lambda r: r.url.endswith("/api/v1/ssl") and r.method == "POST") as sent:
        page.get_by_role("button", name="Request certificate").click()
    body = sent.value.post_data
    assert "PRIVATE KEY" not in body and "BEGIN CERTIFICATE REQUEST" in body      # only the CSR is sent
    wait_url(page, r"#/ssl/[0-9a-f-]{36}$")
    wait_status(page, "issued")
    ssl_id = page.url.rsplit("/", 1)[1]
    page.get_by_test_id("ssl-certificate").wait_for()
    assert page.get_by_test_id("ssl-key").inner_text().startswith("ECDSA, curve secp384r1")
    assert "through the wizard" in page.locator("main").inner_text()
    assert f"Web {TAG}" in page.locator("main").inner_text()

    with page.expect_download() as pem_download:
        page.get_by_test_id("ssl-download-pem").click()
    certificate = x509.load_pem_x509_certificate(open(pem_download.value.path(), "rb").read())
    assert certificate.public_key() == private_key.public_key()          # the downloaded key is its key
    assert set(certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
               .get_values_for_type(x509.DNSName)) == {name, f"api.{DOMAIN}"}
    shown = page.get_by_test_id("ssl-sha256").inner_text().replace(":", "").lower()
    from cryptography.hazmat.primitives import hashes
    assert shown == certificate.fingerprint(hashes.SHA256()).hex()
    page.get_by_test_id("ssl-chain").wait_for()
    screenshot(page, "ssl-certificate-issued")
    assert console.api("GET", f"/api/v1/ssl/{ssl_id}").json()["status"] == "downloaded"


def test_a_bad_csr_shows_the_api_message_and_keeps_the_form(console, world, open_page):
    page = as_mrao(open_page, console)
    go(page, "/ssl/new")
    page.get_by_test_id("ssl-organization").select_option(world["org"])
    page.get_by_test_id("ssl-common-name").fill(f"bad.{DOMAIN}")
    page.get_by_test_id("ssl-sans").fill(f"bad.{DOMAIN}")
    page.get_by_test_id("ssl-comments").fill("kept comment")
    page.get_by_test_id("ssl-csr-text").fill("-----BEGIN CERTIFICATE REQUEST-----\nnot a csr\n"
                                            "-----END CERTIFICATE REQUEST-----")
    page.get_by_role("button", name="Request certificate").click()
    error = page.get_by_test_id("ssl-request-form").get_by_test_id("error")
    error.wait_for()
    assert error.get_by_test_id("correlation-id").inner_text()
    assert "csr" in error.inner_text().lower()
    assert page.get_by_test_id("ssl-common-name").input_value() == f"bad.{DOMAIN}"
    assert page.get_by_test_id("ssl-comments").input_value() == "kept comment"
    assert "not a csr" in page.get_by_test_id("ssl-csr-text").input_value()
    screenshot(page, "ssl-wizard-refused")

    # a name not delegated to the organization: the 422 names it, the form stays
    page.get_by_test_id("ssl-csr-text").fill(factories.csr("ec-p256", cn="www.not-delegated.example",
                                                           sans=("www.not-delegated.example",)).decode())
    page.get_by_test_id("ssl-common-name").fill("www.not-delegated.example")
    page.get_by_test_id("ssl-sans").fill("www.not-delegated.example")
    page.get_by_role("button", name="Request certificate").click()
    page.wait_for_function("() => (document.querySelector('[data-testid=ssl-request-form] [data-testid=error]')"
                           "?.textContent || '').includes('not-delegated')")
    assert "HTTP 422" in error.inner_text()
    assert page.get_by_test_id("ssl-common-name").input_value() == "www.not-delegated.example"
    assert re.search(r"#/ssl/new", page.url)


# ---- the inventory --------------------------------------------------------------------------------------------
def test_inventory_filter_sort_and_export(console, world, open_page):
    made = [issue(console, world, f"{n}.inv.{DOMAIN}") for n in ("charlie", "alpha", "bravo")]
    made.append(issue(console, world, f"delta.inv.{DOMAIN}", department_id=world["department"]))
    page = as_mrao(open_page, console)
    go(page, "/ssl")
    page.locator("[data-testid=ssl-rows] tr").first.wait_for()
    screenshot(page, "ssl-inventory")

    page.get_by_test_id("ssl-filter-q").fill(f"inv.{DOMAIN}")
    page.get_by_test_id("ssl-filter-organization").select_option(world["org"])
    page.get_by_test_id("ssl-filter-status").select_option("issued")
    page.get_by_role("button", name="Filter").click()
    wait_url(page, r"organization_id=")
    rows = page.locator("[data-testid=ssl-rows] tr")
    page.wait_for_function("() => document.querySelectorAll('[data-testid=ssl-rows] tr').length === 4")
    text = page.get_by_test_id("ssl-rows").inner_text()
    assert f"SSL UI Org {TAG}" in text and f"SSL UI Org {TAG} / Web {TAG}" in text
    assert world["org"] not in text                                 # names, never ids

    # sort by common name, both ways
    page.get_by_role("button", name="Common name").click()
    wait_url(page, r"sort=common_name")
    page.wait_for_function("() => (document.querySelector('[data-testid=ssl-rows] tr a')?.textContent || '').startsWith('alpha')")
    names = [rows.nth(i).get_by_test_id("ssl-row-link").inner_text() for i in range(4)]
    assert names == sorted(names) and names[0].startswith("alpha")
    page.get_by_role("button", name=re.compile("Common name")).click()
    wait_url(page, r"sort=-common_name")
    page.wait_for_function("() => (document.querySelector('[data-testid=ssl-rows] tr a')?.textContent || '').startsWith('delta')")

    # the department narrows it to one; the URL holds the filters (a link the dashboard can make)
    page.get_by_test_id("ssl-filter-department").select_option(world["department"])
    page.get_by_role("button", name="Filter").click()
    page.wait_for_function("() => document.querySelectorAll('[data-testid=ssl-rows] tr').length === 1")
    assert "delta" in page.get_by_test_id("ssl-rows").inner_text()
    page.get_by_test_id("ssl-filter-department").select_option("")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_function("() => document.querySelectorAll('[data-testid=ssl-rows] tr').length === 4")
    screenshot(page, "ssl-inventory-filtered")

    # expiry bounds as ISO timestamps in the URL, from date inputs
    page.get_by_test_id("ssl-filter-expires-before").fill("2000-01-01")
    page.get_by_role("button", name="Filter").click()
    wait_url(page, r"expires_before=2000-01-01T00%3A00%3A00Z")
    page.locator("[data-testid=ssl-rows] tr.empty").wait_for()
    page.get_by_test_id("ssl-filter-expires-before").fill("")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_function("() => document.querySelectorAll('[data-testid=ssl-rows] tr:not(.empty)').length === 4")

    # the CSV export has exactly the filtered rows
    with page.expect_download() as exported:
        page.get_by_test_id("ssl-export").click()
    rows_csv = list(csv.DictReader(io.StringIO(open(exported.value.path(), encoding="utf-8-sig").read())))
    assert sorted(r["ssl_id"] for r in rows_csv) == sorted(m["ssl_id"] for m in made)
    assert [r["common_name"].lstrip("'") for r in rows_csv][0].startswith("delta")     # in the list's order
    href = page.get_by_test_id("ssl-export").get_attribute("href")
    assert "status=issued" in href and f"organization_id={world['org']}" in href and "sort=-common_name" in href

    # a row opens the certificate page
    page.locator("[data-testid=ssl-rows] tr a", has_text="bravo").click()
    page.get_by_test_id("ssl-certificate").wait_for()
    assert f"bravo.inv.{DOMAIN}" in page.locator("main h1").inner_text()

    # a link straight to a filter (as the dashboard makes them)
    go(page, f"/ssl?status=issued&organization_id={world['org']}&q=bravo.inv")
    page.wait_for_function("() => document.querySelectorAll('[data-testid=ssl-rows] tr').length === 1")
    assert page.get_by_test_id("ssl-filter-status").input_value() == "issued"


# ---- approval by a second administrator ----------------------------------------------------------------------
def test_approval_by_a_second_admin_with_a_message(console, world, open_page):
    username, password, rao_id = world["rao"]
    requester = open_page(console)
    login(requester, username, password)
    settle(requester)
    go(requester, "/ssl/new")
    requester.get_by_test_id("ssl-profile").select_option(world["approval"]["profile_id"])
    assert "needs approval" in requester.get_by_test_id("ssl-profile-info").inner_text().lower()
    name = f"approve.{DOMAIN}"
    requester.get_by_test_id("ssl-common-name").fill(name)
    requester.get_by_test_id("ssl-sans").fill(name)
    requester.get_by_test_id("ssl-csr-text").fill(factories.csr("ec-p256", cn=name, sans=(name,)).decode())
    requester.get_by_role("button", name="Request certificate").click()
    wait_url(requester, r"#/ssl/[0-9a-f-]{36}$")
    wait_status(requester, "requested")
    ssl_id = requester.url.rsplit("/", 1)[1]
    assert requester.get_by_test_id("ssl-approve-form").count() == 0       # not on one's own request
    assert "another administrator" in requester.locator("main").inner_text()

    approver = as_mrao(open_page, console)
    go(approver, f"/ssl/{ssl_id}")
    approver.get_by_test_id("ssl-approve-form").wait_for()
    assert username in approver.locator("main").inner_text()
    approver.get_by_test_id("ssl-approve-message").fill(f"approved for the web team {TAG}")
    screenshot(approver, "ssl-certificate-approval")
    approver.get_by_role("button", name="Approve", exact=True).click()
    wait_status(approver, "issued")
    history = approver.get_by_test_id("ssl-history")
    history.wait_for()
    assert f"approved for the web team {TAG}" in history.inner_text()
    assert "admin" in history.inner_text() and username in history.inner_text()

    wait_status(requester, "issued", timeout=20_000)                # the requester's page polls by itself
    assert f"approved for the web team {TAG}" in requester.get_by_test_id("ssl-history").inner_text()


# ---- download and revoke -------------------------------------------------------------------------------------
def test_download_pem_and_revoke_with_a_reason(console, world, open_page):
    name = f"revoke.{DOMAIN}"
    ssl = issue(console, world, name)
    page = as_mrao(open_page, console)
    go(page, f"/ssl/{ssl['ssl_id']}")
    wait_status(page, "issued")
    for fmt in ("der", "chain", "fullchain", "p7b"):
        assert page.get_by_test_id(f"ssl-download-{fmt}").get_attribute("href").endswith(f"format={fmt}")
    with page.expect_download() as downloaded:
        page.get_by_test_id("ssl-download-pem").click()
    certificate = x509.load_pem_x509_certificate(open(downloaded.value.path(), "rb").read())
    assert format(certificate.serial_number, "x") == ssl["serial"].lower().lstrip("0")

    page.get_by_test_id("ssl-revoke-reason").select_option("key_compromise")
    page.get_by_test_id("ssl-revoke-button").click()
    dialog = page.locator("dialog")
    dialog.wait_for()
    assert "Key compromise" in dialog.inner_text()
    page.get_by_test_id("confirm").click()
    wait_status(page, "revoked")
    assert "key compromise" in page.locator("main").inner_text().lower()
    assert page.get_by_test_id("ssl-revoke").count() == 0
    assert "revoked" in page.get_by_test_id("ssl-history").inner_text()
    screenshot(page, "ssl-certificate-revoked")
    assert console.api("GET", f"/api/v1/ssl/{ssl['ssl_id']}").json()["revocation_reason"] == "key_compromise"


def test_inventory_at_phone_width(console, world, open_page):
    issue(console, world, f"phone.{DOMAIN}")
    page = as_mrao(open_page, console, viewport={"width": 390, "height": 844})
    go(page, f"/ssl?q=phone.{DOMAIN}")
    page.locator("[data-testid=ssl-rows] tr").first.wait_for()
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 400, width
    screenshot(page, "ssl-inventory-phone")
