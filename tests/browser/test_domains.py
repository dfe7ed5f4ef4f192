"""The Domains and Networks screens in the browser (issue 12), as an SCM administrator uses them: add a domain with
the delegation grid, validate control by DNS TXT (the record read from the page, published in the test DNS
server, then Check), a wrong value's reason, the other methods' instructions, an RAO's requested delegation that
the MRAO approves, the scope an RAO sees, delete explained, and IP networks. A screenshot of every screen goes to
reports/screens/ (domains-*)."""
from __future__ import annotations

import re
import secrets
import time

import pytest

from tests.browser.conftest import go, login, screenshot

ORG = {"address1": "1 Main St", "city": "Berlin", "state": "Berlin", "country": "DE"}


def unique(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


def new_org(console, name: str, departments=()) -> dict:
    org = console.api.create_org({"name": name, **ORG})
    for department in departments:
        made = console.api("POST", f"/api/v1/organizations/{org['organization_id']}/departments",
                           json={"name": department})
        assert made.status_code == 201, made.text
    return org


def new_admin(console, username: str, roles: list[dict], privileges=()) -> tuple[dict, str]:
    """An admin the browser can log in as (Console.new_admin): (record, password)."""
    return console.new_admin(username, roles, privileges)


def api_domain(console, name: str, org: dict) -> dict:
    """A domain the MRAO makes through the API, delegated to `org` for SSL; returned once the API shows it."""
    created = console.api("POST", "/api/v1/domains", json={"name": name, "delegations": [
        {"organization_id": org["organization_id"], "cert_types": ["ssl"]}]})
    assert created.status_code == 201, created.text
    deadline = time.monotonic() + 10
    while console.api("GET", f"/api/v1/domains/{created.json()['domain_id']}").status_code != 200:
        assert time.monotonic() < deadline, "the domain did not appear"
        time.sleep(0.1)
    return created.json()


def listed_for_mrao(page, fragment: str, name: str) -> None:
    """Open a filtered list and wait until it names `name` (the list is a projection: it may lag a moment)."""
    for _attempt in range(20):
        go(page, fragment)
        page.get_by_test_id("domain-rows").wait_for()
        if name in page.get_by_test_id("domain-rows").inner_text():
            return
        page.wait_for_timeout(500)
        page.goto("/#/")
    raise AssertionError(f"{name} is not listed at {fragment}: {page.get_by_test_id('domain-rows').inner_text()}")


def sign_in(page, username: str, password: str) -> None:
    """Log in and let the home screen (the dashboard) finish loading before a test opens another screen."""
    login(page, username, password)
    page.locator("main h1").first.wait_for()
    page.wait_for_function("!document.querySelector('main .loading')")


def as_mrao(page, console):
    sign_in(page, "admin", console.server.admin_password)


def add_domain_in_ui(page, name: str, org_name: str, types=("SSL",), shot: str | None = None, open_form=True):
    if open_form:
        go(page, "/domains/new")
    page.get_by_label("Domain name").fill(name)
    page.get_by_label("Find an organization or department").fill(org_name)
    for words in types:
        page.get_by_label(f"{words} for {org_name}", exact=True).check()
    if shot:
        screenshot(page, shot)
    page.get_by_test_id("domain-form").get_by_role("button", name="Add domain").click()
    page.locator("main h1", has_text=name).wait_for()


def start_dcv(page, method: str, address: str | None = None):
    page.get_by_test_id("dcv-method").select_option(method)
    if address:
        page.get_by_test_id("dcv-email-address").select_option(address)
    page.get_by_test_id("dcv-start").get_by_role("button", name="Start validation").click()
    page.locator(f"[data-testid=dcv-open][data-method={method}]").wait_for()


def test_add_a_domain_with_the_grid_and_validate_it_by_dns_txt(console, open_page):
    org_name = unique("Grid Org")
    org = new_org(console, org_name, departments=["Web team"])
    name = f"{unique('txt')}.example"
    page = open_page(console)
    as_mrao(page, console)

    go(page, "/domains/new")
    page.get_by_label("Find an organization or department").fill(org_name)
    page.get_by_role("button", name="Show departments (1)").click()
    expect_department = page.get_by_label(f"Client for {org_name} / Web team", exact=True)
    expect_department.wait_for()
    add_domain_in_ui(page, name, org_name, types=("SSL", "Client"), shot="domains-add-with-grid", open_form=False)
    rows = page.get_by_test_id("delegation-rows")
    assert org_name in rows.inner_text() and "approved" in rows.inner_text()     # an MRAO's: approved at once
    assert "SSL, Client" in rows.inner_text()
    created = console.api("GET", "/api/v1/domains", params={"q": name}).json()["items"][0]
    assert sorted(created["delegations"][0]["cert_types"]) == ["client", "ssl"]
    assert created["delegations"][0]["organization_id"] == org["organization_id"]

    start_dcv(page, "txt")
    record_name = page.get_by_test_id("dcv-record-name").inner_text().strip()
    record_type = page.get_by_test_id("dcv-record-type").inner_text().strip()
    value = page.get_by_test_id("dcv-record-value").inner_text().strip()
    assert record_name == f"_pki-validation.{name}" and record_type == "TXT" and len(value) >= 28
    screenshot(page, "domains-dcv-txt")

    console.dns.set(record_name, "TXT", ['"not-the-value"'], ttl=0)           # a wrong value: the reason is shown
    page.get_by_test_id("dcv-check").click()
    page.locator("[data-testid=dcv-outcome][data-outcome=failed]").wait_for()
    assert page.get_by_test_id("dcv-reason").inner_text() == "dns_value_missing"
    assert "Not validated" in page.get_by_test_id("dcv-outcome").inner_text()
    screenshot(page, "domains-dcv-txt-wrong-value")

    console.dns.set(record_name, "TXT", [f'"{value}"'])
    page.get_by_test_id("dcv-check").click()
    page.locator("[data-testid=dcv-outcome][data-outcome=validated]").wait_for()
    outcome = page.get_by_test_id("dcv-outcome").inner_text()
    assert re.search(r"expires in \d+ days", outcome), outcome
    state = page.get_by_test_id("dcv-state").inner_text()
    assert "validated" in state and re.search(r"expires in \d+ days", page.get_by_test_id(
        "dcv-evidence-expires").inner_text())
    assert "no records" in page.get_by_test_id("dcv-caa").inner_text()
    screenshot(page, "domains-page-validated")

    go(page, f"/domains?organization_id={org['organization_id']}")
    listed = page.get_by_test_id("domain-rows").inner_text()
    assert name in listed and "validated" in listed and "DNS TXT" in listed and "expires in" in listed
    screenshot(page, "domains-list")
    go(page, "/domains?dcv_status=validated&q=" + name)
    assert name in page.get_by_test_id("domain-rows").inner_text()
    go(page, "/domains?dcv_status=not_validated&q=" + name)
    assert name not in page.get_by_test_id("domain-rows").inner_text()
    go(page, "/domains?dcv_expires_before=2000-01-01T00:00:00%2B00:00&q=" + name)    # any key the API accepts
    assert name not in page.get_by_test_id("domain-rows").inner_text()
    assert "dcv expires before" in page.get_by_test_id("extra-filters").inner_text()
    page.set_viewport_size({"width": 390, "height": 800})
    go(page, f"/domains?organization_id={org['organization_id']}")
    screenshot(page, "domains-list-narrow")


def test_each_dcv_method_says_what_to_publish_where(console, open_page):
    org_name = unique("Methods Org")
    org = new_org(console, org_name)
    name = f"{unique('methods')}.example"
    created = api_domain(console, name, org)
    page = open_page(console)
    as_mrao(page, console)
    go(page, f"/domains/{created['domain_id']}")

    start_dcv(page, "cname")
    assert page.get_by_test_id("dcv-record-type").inner_text() == "CNAME"
    assert page.get_by_test_id("dcv-record-name").inner_text().endswith(f".{name}")
    assert page.get_by_test_id("dcv-record-value").inner_text()
    screenshot(page, "domains-dcv-cname")

    for method in ("http", "https"):
        start_dcv(page, method)
        url = page.get_by_test_id("dcv-url").inner_text()
        assert url.startswith(f"{method}://{name}") and "/.well-known/pki-validation/" in url
        assert page.get_by_test_id("dcv-file-content").inner_text()
        screenshot(page, f"domains-dcv-{method}")

    start_dcv(page, "email", f"hostmaster@{name}")
    assert f"hostmaster@{name}" in page.get_by_test_id("dcv-mailed").inner_text()
    assert page.get_by_test_id("dcv-outbox-link").get_attribute("href") == "#/outbox"
    screenshot(page, "domains-dcv-email")

    code = None                                      # no SMTP server: the mail waits in the outbox
    deadline = time.monotonic() + 20
    while code is None and time.monotonic() < deadline:
        for mail in console.api("GET", "/api/v1/outbox", params={"size": 200}).json()["items"]:
            if mail["to"] == f"hostmaster@{name}":
                code = re.search(r"Code: (\S+)", mail["text"]).group(1)
                break
        else:
            time.sleep(0.2)
    assert code, "no DCV mail in the outbox"
    page.get_by_label("Code from the mail").fill("not-the-code")
    page.get_by_test_id("dcv-code-form").get_by_role("button", name="Confirm code").click()
    assert "dcv_code_wrong" in page.get_by_test_id("dcv-code-form").get_by_test_id("error").inner_text()
    page.get_by_label("Code from the mail").fill(code)
    page.get_by_test_id("dcv-code-form").get_by_role("button", name="Confirm code").click()
    page.locator("[data-testid=dcv-outcome][data-outcome=validated]").wait_for()
    assert "Email" in page.get_by_test_id("dcv-state").inner_text()


def test_an_rao_requests_a_delegation_and_the_mrao_approves_it(console, open_page):
    mine, theirs = unique("RAO Own Org"), unique("RAO Other Org")
    org_a, org_b = new_org(console, mine), new_org(console, theirs)
    username = unique("dom-rao")
    _record, password = new_admin(console, username, [
        {"role": "RAO", "cert_type": "ssl", "organization_ids": [org_a["organization_id"]]}], ["allow_dcv"])
    shared = f"{unique('shared')}.example"                # delegated to both: the RAO sees only its own delegation
    answer = console.api("POST", "/api/v1/domains", json={"name": shared, "delegations": [
        {"organization_id": org_a["organization_id"], "cert_types": ["ssl"]},
        {"organization_id": org_b["organization_id"], "cert_types": ["ssl"]}]})
    assert answer.status_code == 201, answer.text
    name = f"{unique('requested')}.example"

    rao = open_page(console)
    sign_in(rao, username, password)
    go(rao, "/domains/new")
    grid = rao.get_by_test_id("delegation-grid").inner_text()
    assert mine in grid and theirs not in grid
    assert rao.get_by_label(f"Client for {mine}", exact=True).is_disabled()     # no client role: not offered
    screenshot(rao, "domains-add-as-rao")
    add_domain_in_ui(rao, name, mine)
    rows = rao.get_by_test_id("delegation-rows")
    assert "requested" in rows.inner_text() and "waiting for another approver" in rows.inner_text()
    assert rao.get_by_test_id("delegation-approve").count() == 0                 # never its own request
    assert "an approver (not you)" in rao.locator("main").inner_text()
    screenshot(rao, "domains-page-requested")
    go(rao, "/domains")
    assert theirs not in rao.locator("main").inner_text()
    go(rao, f"/domains?q={shared}")
    listed = rao.get_by_test_id("domain-rows").inner_text()
    assert shared in listed and mine in listed and theirs not in listed
    assert theirs not in rao.get_by_label("Organization").inner_text()
    found = console.api("GET", "/api/v1/domains", params={"q": shared}).json()["items"][0]
    go(rao, f"/domains/{found['domain_id']}")
    assert theirs not in rao.locator("main").inner_text()

    mrao = open_page(console)
    as_mrao(mrao, console)
    listed_for_mrao(mrao, f"/domains?delegation_status=requested&q={name}", name)
    mrao.get_by_role("link", name=name).click()
    mrao.get_by_test_id("delegation-approve").wait_for()
    screenshot(mrao, "domains-page-approve")
    mrao.get_by_test_id("delegation-approve").click()
    mrao.get_by_test_id("domain-flash").filter(has_text="approved").wait_for()
    assert "approved" in mrao.get_by_test_id("delegation-rows").inner_text()
    assert mrao.get_by_test_id("delegation-approve").count() == 0


def test_the_mrao_rejects_adds_and_removes_delegations_and_delete_is_explained(console, open_page):
    org_name = unique("Delete Org")
    org = new_org(console, org_name)
    username = unique("dom-rao-req")
    _record, password = new_admin(console, username, [
        {"role": "RAO", "cert_type": "ssl", "organization_ids": [org["organization_id"]]}])
    rao = open_page(console)
    sign_in(rao, username, password)
    name = f"{unique('delete')}.example"
    add_domain_in_ui(rao, name, org_name)

    page = open_page(console)
    as_mrao(page, console)
    go(page, "/domains?q=" + name)
    page.get_by_role("link", name=name).click()
    page.get_by_test_id("delegation-reject").click()
    page.get_by_test_id("reject-reason").fill("not ours")
    page.get_by_test_id("confirm").click()
    page.get_by_test_id("domain-flash").filter(has_text="rejected").wait_for()
    assert "not ours" in page.get_by_test_id("delegation-rows").inner_text()

    page.get_by_label("Find an organization or department").last.fill(org_name)
    page.get_by_test_id("delegation-add").get_by_label(f"Code signing for {org_name}", exact=True).check()
    page.get_by_test_id("delegation-add").get_by_role("button", name="Add delegation").click()
    page.get_by_test_id("domain-flash").filter(has_text="Delegation added").wait_for()
    assert "Code signing" in page.get_by_test_id("delegation-rows").inner_text()

    page.get_by_test_id("domain-delete").click()
    page.get_by_test_id("confirm").click()
    refusal = page.locator("[data-testid=error]").filter(has_text="domain_in_use")
    refusal.wait_for()
    assert "remove its delegations first" in refusal.inner_text()
    screenshot(page, "domains-delete-refused")

    for _ in range(2):
        page.get_by_test_id("delegation-remove").first.click()
        page.get_by_test_id("confirm").click()
        page.get_by_test_id("domain-flash").filter(has_text="removed").wait_for()
        page.get_by_test_id("domain-flash").evaluate("el => el.replaceChildren()")
    page.get_by_test_id("domain-delete").click()
    page.get_by_test_id("confirm").click()
    page.get_by_test_id("domain-rows").wait_for()
    assert console.api("GET", "/api/v1/domains", params={"q": name}).json()["total"] == 0


def test_networks_list_add_and_page_with_the_same_delegation_rules(console, open_page):
    org_name = unique("Net Org")
    org = new_org(console, org_name)
    username = unique("net-rao")
    _record, password = new_admin(console, username, [
        {"role": "RAO", "cert_type": "ssl", "organization_ids": [org["organization_id"]]}])
    cidr = f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.0/24"

    rao = open_page(console)
    sign_in(rao, username, password)
    go(rao, "/networks/new")
    rao.get_by_label("Network (CIDR)").fill(cidr)
    rao.get_by_label("Find an organization or department").fill(org_name)
    rao.get_by_label(f"SSL for {org_name}", exact=True).check()
    screenshot(rao, "networks-add")
    rao.get_by_test_id("network-form").get_by_role("button", name="Add network").click()
    rao.locator("main h1", has_text=cidr).wait_for()
    assert "requested" in rao.get_by_test_id("delegation-rows").inner_text()

    page = open_page(console)
    as_mrao(page, console)
    go(page, f"/networks?organization_id={org['organization_id']}")
    assert cidr in page.get_by_test_id("network-rows").inner_text()
    screenshot(page, "networks-list")
    page.get_by_role("link", name=cidr).click()
    page.get_by_test_id("delegation-approve").click()
    page.get_by_test_id("network-flash").filter(has_text="approved").wait_for()
    assert "approved" in page.get_by_test_id("delegation-rows").inner_text()
    screenshot(page, "networks-page")
    go(page, f"/networks?contains={cidr.rsplit('.', 1)[0]}.7")
    assert cidr in page.get_by_test_id("network-rows").inner_text()

    go(page, "/networks/new")
    page.get_by_label("Network (CIDR)").fill(cidr)                      # overlaps: refused, typed value kept
    page.get_by_test_id("network-form").get_by_role("button", name="Add network").click()
    error = page.get_by_test_id("network-form").get_by_test_id("error")
    error.wait_for()
    assert "overlapping_network" in error.inner_text()
    assert page.get_by_label("Network (CIDR)").input_value() == cidr


@pytest.mark.parametrize("viewport", [{"width": 390, "height": 800}])
def test_the_domain_page_works_narrow(console, open_page, viewport):
    org_name = unique("Narrow Org")
    org = new_org(console, org_name)
    name = f"{unique('narrow')}.example"
    created = api_domain(console, name, org)
    page = open_page(console, viewport=viewport)
    as_mrao(page, console)
    go(page, f"/domains/{created['domain_id']}")
    start_dcv(page, "txt")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 400, f"the page is {width} px wide at 390"
    screenshot(page, "domains-page-narrow")
