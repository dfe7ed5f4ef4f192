"""ACME accounts in Chromium (issue 14): an MRAO creates one for a department in the console; the one-time panel
shows the EAB key id and HMAC key the API answered, with copy buttons and a certbot command line that names them,
and the key is gone once the admin leaves the panel; the list shows the account (organization, department, key
id, status); its page shows its (empty) orders and links to its certificates in the SSL inventory; Deactivate asks
first and then shows it deactivated. A DRAO is offered only its own department, and the screens fit a phone."""
from __future__ import annotations

import secrets

import pytest

from tests.browser.conftest import go, login, screenshot
from tests.browser.test_ssl import settle, wait_url
from tests.e2e.test_ssl_lifecycle import ORG, wait_for_profiles

TAG = secrets.token_hex(3)
UUID = r"[0-9a-f-]{36}"


@pytest.fixture(scope="module")
def world(console):
    """An organization with departments "Web" and "Ops", the default SSL profiles, and a DRAO ssl of "Ops"."""
    api = console.api
    org = api.create_org({"name": f"ACME UI Org {TAG}", **ORG})["organization_id"]
    departments = {}
    for name in ("Web", "Ops"):
        made = api("POST", f"/api/v1/organizations/{org}/departments", json={"name": f"{name} {TAG}"})
        assert made.status_code == 201, made.text
        departments[name] = made.json()["department_id"]
    profiles = {p["name"]: p for p in wait_for_profiles(api)}
    username = f"acmedrao{TAG}"
    _record, password = console.new_admin(username, [{"role": "DRAO", "cert_type": "ssl",
                                                       "department_ids": [departments["Ops"]]}])
    return {"org": org, "departments": departments, "tls": profiles["Private TLS Server"],
            "public": profiles["Public TLS"], "drao": (username, password)}


def create_in_console(page, world, name: str):
    """Fill the form for the Web department with both default SSL profiles and send it: the POST's answer."""
    go(page, "/acme-accounts")
    page.get_by_role("link", name="Create ACME account").click()
    wait_url(page, r"#/acme-accounts/new$")
    page.get_by_test_id("acme-form").wait_for()
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_test_id("acme-organization").select_option(world["org"])
    page.get_by_test_id("acme-department").select_option(world["departments"]["Web"])
    page.get_by_label(f"{world['tls']['name']} (private trust)").check()
    page.get_by_label(f"{world['public']['name']} (public trust)").check()
    # the POST's answer as the browser got it. Not page.expect_response: Playwright's client-side waits hang under
    # eventlet's monkey patching (tests/browser/conftest.py); its events are delivered during any driver call
    answers = []

    def seen(response):
        if response.url.endswith("/api/v1/acme-accounts") and response.request.method == "POST":
            answers.append(response)

    page.on("response", seen)
    page.get_by_role("button", name="Create ACME account").click()
    try:
        page.wait_for_function("() => document.querySelector('[data-testid=acme-credentials]') || "
                               "document.querySelector('[data-testid=acme-form] [data-testid=error]')")
    finally:
        page.remove_listener("response", seen)
    assert answers, "the form's POST /api/v1/acme-accounts was not seen"
    return answers[0]


def test_create_show_the_credentials_once_list_and_deactivate(console, world, open_page):
    page = open_page(console, permissions=["clipboard-read", "clipboard-write"])      # the copy buttons
    login(page, "admin", console.server.admin_password)
    settle(page)
    name = f"web team {TAG}"
    answer = create_in_console(page, world, name)
    assert answer.status == 201, answer.text()
    created = answer.json()
    account_id, kid, key = created["acme_account_id"], created["eab"]["kid"], created["eab"]["hmac_key"]
    assert created["department_id"] == world["departments"]["Web"]
    assert created["profile_ids"] == [world["tls"]["profile_id"], world["public"]["profile_id"]]

    # the one-time panel: what the API answered, the warning, copy buttons, a certbot line naming them
    panel = page.get_by_test_id("acme-credentials")
    assert panel.get_by_test_id("acme-kid").inner_text() == kid
    assert panel.get_by_test_id("acme-hmac").inner_text() == key
    assert panel.get_by_test_id("acme-directory").inner_text() == f"{console.url}/acme/directory"
    warning = panel.get_by_test_id("acme-once-warning").inner_text()
    assert "shown this once" in warning and "never" in warning
    assert page.evaluate("document.activeElement.textContent") == "External Account Binding credentials"
    command = panel.get_by_test_id("acme-certbot")
    assert command.inner_text() == (f"certbot certonly --server={console.url}/acme/directory --eab-kid={kid} "
                                    f"--eab-hmac-key={key} -d www.example.com")     # "=": a key may start with -
    page.get_by_label("Name to request").fill(f"shop.{TAG}.example.com")
    assert command.inner_text().endswith(f"-d shop.{TAG}.example.com")
    panel.get_by_role("button", name="Copy HMAC key to clipboard").click()
    assert page.evaluate("navigator.clipboard.readText()") == key
    panel.get_by_role("button", name="Copy command to clipboard").click()
    assert page.evaluate("navigator.clipboard.readText()") == command.inner_text()
    screenshot(page, "acme-account-credentials")

    # its page: never the key again; no orders; its certificates are the inventory's, requested by acme:<id>
    panel.get_by_test_id("acme-stored").click()
    wait_url(page, rf"#/acme-accounts/{account_id}$")
    page.get_by_test_id("acme-status").wait_for()
    assert page.get_by_role("heading", level=1).inner_text() == name
    assert page.get_by_test_id("acme-kid").inner_text() == kid
    assert key not in page.content()
    assert page.get_by_test_id("acme-profile-names").inner_text().splitlines() == [
        f"{world['tls']['name']} (default)", world["public"]["name"]]
    assert "No orders yet" in page.get_by_test_id("acme-orders").inner_text()
    assert page.get_by_test_id("acme-certificates").get_attribute("href") == (
        f"#/ssl?requested_by=acme%3A{account_id}")
    screenshot(page, "acme-account")
    page.go_back()                                       # back to the form: a new, empty one, not the key
    wait_url(page, r"#/acme-accounts/new$")
    page.get_by_test_id("acme-form").wait_for()
    assert key not in page.content()

    # the list
    go(page, "/acme-accounts")
    row = page.locator("[data-testid=acme-rows] tr", has_text=name)
    cells = row.locator("td").all_inner_texts()
    assert cells[:6] == [name, f"ACME UI Org {TAG}", f"Web {TAG}", kid, "active", "0"], cells
    assert page.get_by_test_id("acme-directory-url").inner_text() == f"{console.url}/acme/directory"
    screenshot(page, "acme-accounts")

    # deactivate: asked first; Cancel keeps it, Confirm ends it
    row.get_by_test_id("acme-row-link").click()
    wait_url(page, rf"#/acme-accounts/{account_id}$")
    page.get_by_test_id("acme-deactivate").click()
    dialog = page.locator("dialog")
    assert name in dialog.inner_text()
    dialog.get_by_role("button", name="Cancel").click()
    assert console.api("GET", f"/api/v1/acme-accounts/{account_id}").json()["status"] == "active"
    page.get_by_test_id("acme-deactivate").click()
    page.get_by_test_id("confirm").click()
    page.locator("[data-testid=acme-status] .status-deactivated").wait_for()
    assert f"{name} is deactivated" in page.locator("main").inner_text()
    assert page.get_by_test_id("acme-deactivate").count() == 0
    assert console.api("GET", f"/api/v1/acme-accounts/{account_id}").json()["status"] == "deactivated"
    screenshot(page, "acme-account-deactivated")
    go(page, "/acme-accounts")
    row = page.locator("[data-testid=acme-rows] tr", has_text=name)
    assert row.get_by_test_id("acme-row-status").inner_text().strip() == "deactivated"


def test_a_drao_is_offered_its_own_department_only_on_a_phone(console, world, open_page):
    username, password = world["drao"]
    page = open_page(console, viewport={"width": 390, "height": 844})
    login(page, username, password)
    settle(page)
    page.get_by_role("button", name="Menu").click()
    assert page.locator("nav.sidebar a", has_text="ACME accounts").count() == 1
    go(page, "/acme-accounts/new")
    page.get_by_test_id("acme-form").wait_for()
    assert page.get_by_test_id("acme-organization").locator("option").all_inner_texts() == [f"ACME UI Org {TAG}"]
    assert page.get_by_test_id("acme-department").locator("option").all_inner_texts() == [f"Ops {TAG}"]
    answer = create_in_console_as_drao(page, f"ops team {TAG}")
    assert answer.status == 201, answer.text()
    assert answer.json()["department_id"] == world["departments"]["Ops"]
    # the panel (long key, command line) and the account's page fit the phone's width
    assert page.evaluate("document.documentElement.scrollWidth") <= 391
    screenshot(page, "phone-acme-account-credentials")
    page.get_by_test_id("acme-stored").click()
    page.get_by_test_id("acme-status").wait_for()
    assert page.evaluate("document.documentElement.scrollWidth") <= 391
    go(page, "/acme-accounts")
    names = page.locator("[data-testid=acme-rows] [data-testid=acme-row-link]").all_inner_texts()
    assert names == [f"ops team {TAG}"]                  # the MRAO's account of Web is not its business


def create_in_console_as_drao(page, name: str):
    page.get_by_label("Name", exact=True).fill(name)
    answers = []

    def seen(response):
        if response.url.endswith("/api/v1/acme-accounts") and response.request.method == "POST":
            answers.append(response)

    page.on("response", seen)
    page.get_by_role("button", name="Create ACME account").click()
    try:
        page.get_by_test_id("acme-credentials").wait_for()
    finally:
        page.remove_listener("response", seen)
    assert answers
    return answers[0]
