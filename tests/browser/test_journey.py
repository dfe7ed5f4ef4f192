"""The console end to end, as a new user meets it (issue 12): from a fresh install — log in with the password the
start banner printed, change it, make an organization and a department, an RAO through the role grid (who logs in
in a browser of its own and changes its first password), a domain delegated to the organization and validated by
DNS TXT (the record read from the page, published in the test DNS server), an approval profile, the RAO's request
through the wizard with a key made in its browser, the MRAO's approval from the dashboard's "waiting for me", the
download (the certificate's key is the RAO's key), revocation — the dashboard's counts following every step. And
the scope an RAO sees in the browser: organization B's name nowhere on any screen it can open, no MRAO-only
screens, and every one of its screens at phone width without horizontal scrolling.

Playwright's client-side waits (wait_for_url, expect_response, networkidle) hang under the suite's eventlet
patching: only locator waits and wait_for_function here."""
from __future__ import annotations

import re
import secrets
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from playwright.sync_api import expect

from tests import factories
from tests.browser.conftest import Console, go, login, screenshot
from tests.e2e.test_ssl_lifecycle import ORG, wait_for_profiles

TAG = secrets.token_hex(3)
LIVE = 30_000             # the dashboard refreshes itself every 10 s (and its numbers come from projections)


# ---- helpers -------------------------------------------------------------------------------------------------
def settle(page):
    """Let the screen shown finish loading (a render still under way could paint over the next screen)."""
    page.locator("main h1").first.wait_for()
    page.wait_for_function("() => !document.querySelector('main .loading')")


def open_screen(page, fragment: str, ready: str | None = None, attempts: int = 10):
    """Open a screen and wait for `ready` (a CSS selector) in it; reopen it while a projection lags behind."""
    for attempt in range(attempts):
        go(page, fragment)
        settle(page)
        if ready is None:
            return
        try:
            page.locator(ready).first.wait_for(timeout=3_000, state="attached")
            return
        except Exception:
            if attempt == attempts - 1:
                raise AssertionError(f"{ready} not on {fragment}: {page.locator('main').inner_text()[:600]}")
            page.goto("/#/")
            settle(page)


def wait_url(page, pattern: str):
    page.wait_for_function("pattern => new RegExp(pattern).test(window.location.href)", arg=pattern)


def wait_status(page, status: str, timeout: float = 20_000):
    page.locator(f"[data-testid=ssl-status] .status-{status}").wait_for(timeout=timeout)


def dashboard(page):
    go(page, "/")
    page.get_by_test_id("ssl-status-chart").wait_for()


def expect_counts(page, **counts):
    """The dashboard's SSL-by-status table (inside its <details>: textContent) and the chart's aria-labels."""
    for status, count in counts.items():
        expect(page.get_by_test_id(f"ssl-status-{status}")).to_have_text(str(count), timeout=LIVE)
        expect(page.locator(f"[data-testid=ssl-status-chart] a[data-segment={status}]")).to_have_attribute(
            "aria-label", f"{status}: {count} certificates", timeout=LIVE)


def expect_dcv(page, status: str, count: int):
    expect(page.locator(f"[data-testid=dcv-chart] a[data-segment={status}]")).to_have_attribute(
        "aria-label", f"{status.replace('_', ' ')}: {count} domains", timeout=LIVE)


def change_first_password(page, current: str, new: str):
    form = page.get_by_test_id("password-form")
    form.wait_for()
    form.get_by_label("Current password").fill(current)
    form.get_by_label("New password", exact=True).fill(new)
    form.get_by_label("Confirm new password").fill(new)
    return form


# ---- 1. the journey, from a fresh install ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    """A server of its own, its initial password not changed yet (what `make run` leaves)."""
    server = Console(tmp_path_factory, first_login=False)
    yield server
    server.stop()


def printed_password(server) -> str:
    """The first login's password as the start banner printed it, the same as initial-admin.txt keeps."""
    password = server.initial_password()
    assert f"password: {password}" in (server.server.var_dir / "initial-admin.txt").read_text()
    return password


def test_the_journey_from_a_fresh_install_to_a_revoked_certificate(fresh, open_page):
    initial = printed_password(fresh)
    mrao_password = f"journey MRAO passphrase {TAG}"
    org_name, department = f"Journey Org {TAG}", f"Web team {TAG}"
    rao_name, rao_first, rao_password = f"journey-rao-{TAG}", f"rao first passphrase {TAG}", f"rao own pass {TAG}"
    domain = "journey.example.com"
    profile_name = f"Journey approval TLS {TAG}"

    # 01 — log in with the printed password: the first-login form asks for a new one
    page = open_page(fresh)
    login(page, "admin", initial, expect_home=False)
    form = change_first_password(page, initial, mrao_password)
    assert "first login" in page.locator("main").inner_text()
    screenshot(page, "journey-01-first-login")
    form.get_by_role("button", name="Change password").click()
    page.get_by_test_id("who").wait_for()
    settle(page)
    token = fresh.api.login("admin", mrao_password)          # the new password works for the API too
    api = fresh.api.as_token(token)
    assert api("GET", "/api/v1/auth/me").json()["must_change_password"] is False
    page.get_by_test_id("ssl-status-chart").wait_for()
    expect_counts(page, requested=0, issued=0, revoked=0)
    expect(page.get_by_test_id("waiting-ssl")).to_have_text("0")
    expect_dcv(page, "validated", 0)
    screenshot(page, "journey-02-dashboard-empty")

    # 03 — an organization and a department (Organizations screen)
    open_screen(page, "/organizations/new", "[data-testid=organization-form]")
    org_form = page.get_by_test_id("organization-form")
    org_form.get_by_label("Name", exact=True).fill(org_name)
    org_form.get_by_label("Address 1").fill("1 Journey Street")
    org_form.get_by_label("City").fill("Springfield")
    org_form.get_by_label("State or province").fill("Oregon")
    org_form.get_by_label("Country (ISO 3166, two letters)").fill("us")
    screenshot(page, "journey-03-add-organization")
    org_form.get_by_role("button", name="Add organization").click()
    page.locator("main h1", has_text=org_name).wait_for()
    wait_url(page, r"#/organizations/[0-9a-f-]{36}$")
    org_id = page.url.rsplit("/", 1)[1]
    page.get_by_test_id("department-form").get_by_label("New department name").fill(department)
    page.get_by_test_id("department-form").get_by_role("button", name="Add department").click()
    page.get_by_test_id("department-rows").get_by_text(department).wait_for()
    screenshot(page, "journey-04-organization-with-department")
    assert api("GET", f"/api/v1/organizations/{org_id}").json()["country"] == "US"
    open_screen(page, "/organizations", "[data-testid=organization-rows] a")
    assert org_name in page.get_by_test_id("organization-rows").inner_text()

    # 05 — an RAO of the organization for SSL, through the Admins screen's grid
    open_screen(page, "/admins/new", f"[data-testid=grid-{org_id}-ssl]")
    admin_form = page.get_by_test_id("admin-form")
    admin_form.get_by_label("Username").fill(rao_name)
    admin_form.get_by_label("Forename").fill("Rhea")
    admin_form.get_by_label("Surname").fill("Journey")
    admin_form.get_by_label("Email").fill(f"{rao_name}@example.com")
    admin_form.get_by_label("Password", exact=True).fill(rao_first)
    admin_form.get_by_label("Confirm password").fill(rao_first)
    page.get_by_test_id(f"grid-{org_id}-ssl").check()
    screenshot(page, "journey-05-add-rao")
    admin_form.get_by_role("button", name="Add admin").click()
    page.get_by_test_id("admin-roles").wait_for()
    assert f"RAO SSL: {org_name}" in page.get_by_test_id("admin-roles").inner_text()
    page.locator(".page-head .badge", has_text="active").wait_for()
    rao_id = page.url.split("/admins/")[1].split("?")[0]
    record = api("GET", f"/api/v1/admins/{rao_id}").json()
    assert record["privileges"] == [] and [(r["role"], r["cert_type"]) for r in record["roles"]] == [("RAO", "ssl")]
    screenshot(page, "journey-06-rao-page")

    # 07 — the RAO, in a browser context of its own: first login, its own password
    rao = open_page(fresh)
    login(rao, rao_name, rao_first, expect_home=False)
    change_first_password(rao, rao_first, rao_password).get_by_role("button", name="Change password").click()
    rao.get_by_test_id("who").wait_for()
    settle(rao)
    assert rao_name in rao.get_by_test_id("who").inner_text()
    assert rao.locator('[data-nav="/profiles"]').count() == 0
    screenshot(rao, "journey-07-rao-first-dashboard")

    # 08 — the MRAO adds the domain, delegated to the organization for SSL (the grid)
    open_screen(page, "/domains/new", "[data-testid=domain-form]")
    page.get_by_label("Domain name").fill(domain)
    page.get_by_label("Find an organization or department").fill(org_name)
    page.get_by_label(f"SSL for {org_name}", exact=True).check()
    screenshot(page, "journey-08-add-domain")
    page.get_by_test_id("domain-form").get_by_role("button", name="Add domain").click()
    page.locator("main h1", has_text=domain).wait_for()
    rows = page.get_by_test_id("delegation-rows")
    assert org_name in rows.inner_text() and "approved" in rows.inner_text()

    # 09 — DCV by DNS TXT: the record from the page, published, Check
    page.get_by_test_id("dcv-method").select_option("txt")
    page.get_by_test_id("dcv-start").get_by_role("button", name="Start validation").click()
    page.locator("[data-testid=dcv-open][data-method=txt]").wait_for()
    record_name = page.get_by_test_id("dcv-record-name").inner_text().strip()
    value = page.get_by_test_id("dcv-record-value").inner_text().strip()
    assert page.get_by_test_id("dcv-record-type").inner_text().strip() == "TXT"
    assert record_name.endswith(f".{domain}") and value
    screenshot(page, "journey-09-dcv-txt")
    fresh.dns.set(record_name, "TXT", [f'"{value}"'])
    page.get_by_test_id("dcv-check").click()
    page.locator("[data-testid=dcv-outcome][data-outcome=validated]").wait_for()
    assert "validated" in page.get_by_test_id("dcv-state").inner_text()
    screenshot(page, "journey-10-domain-validated")
    dashboard(page)
    expect_dcv(page, "validated", 1)
    expect_dcv(page, "not_validated", 0)
    expect(page.get_by_test_id("evidence-expiring")).to_have_text("0")       # fresh evidence: not expiring
    screenshot(page, "journey-11-dashboard-domain-validated")

    # 12 — a profile that needs approval. The default Public TLS needs approval too, but this server's CRL and
    # OCSP URLs are on 127.0.0.1, which the public-trust lint refuses before signing (tests/e2e/
    # test_lint_before_sign.py): so the MRAO makes a private profile with approval through the Profiles screen.
    profiles = {p["name"]: p for p in wait_for_profiles(api)}
    assert profiles["Public TLS"]["requires_approval"] is True
    open_screen(page, "/profiles", "[data-testid=profile-create]")
    page.get_by_test_id("profile-create").click()
    profile_form = page.get_by_test_id("profile-form")
    profile_form.wait_for()
    profile_form.get_by_label("Name", exact=True).fill(profile_name)
    profile_form.get_by_label("Certificate type").select_option("ssl")
    assert profile_form.get_by_test_id("trust-private").is_checked()
    profile_form.get_by_label("Terms (days, separated by commas)").fill("90, 180")
    assert profile_form.get_by_test_id("profile-requires-approval").is_checked()
    screenshot(page, "journey-12-approval-profile")
    profile_form.get_by_role("button", name="Create profile").click()
    page.locator("main h1", has_text=profile_name).wait_for()
    wait_url(page, r"#/profiles/[0-9a-f-]{36}$")
    profile_id = page.url.rsplit("/", 1)[1]
    assert api("GET", f"/api/v1/profiles/{profile_id}").json()["requires_approval"] is True

    # 13 — the RAO requests the certificate through the wizard, the key made in its browser
    open_screen(rao, "/ssl/new", f"[data-testid=ssl-profile] option[value='{profile_id}']")
    assert rao.get_by_test_id("ssl-organization").locator("option").all_inner_texts() == [org_name]
    rao.get_by_test_id("ssl-profile").select_option(profile_id)
    assert "needs approval" in rao.get_by_test_id("ssl-profile-info").inner_text().lower()
    rao.get_by_test_id("ssl-term").select_option("90")
    rao.get_by_test_id("ssl-common-name").fill(domain)
    rao.get_by_test_id("ssl-sans").fill(domain)
    rao.get_by_test_id("ssl-comments").fill(f"journey {TAG}")
    rao.get_by_test_id("ssl-csr-mode-generate").check()
    rao.get_by_test_id("ssl-csr-key-type").select_option("ec-p256")
    with rao.expect_download() as key_download:
        rao.get_by_test_id("ssl-csr-generate").click()
    private_key = serialization.load_pem_private_key(open(key_download.value.path(), "rb").read(), password=None)
    rao.get_by_test_id("ssl-csr-generated").wait_for(state="attached")
    csr = x509.load_pem_x509_csr(rao.get_by_test_id("ssl-csr-generated").text_content().encode())
    assert csr.public_key() == private_key.public_key()
    screenshot(rao, "journey-13-rao-wizard")
    rao.get_by_role("button", name="Request certificate").click()
    wait_url(rao, r"#/ssl/[0-9a-f-]{36}$")
    wait_status(rao, "requested")
    ssl_id = rao.url.rsplit("/", 1)[1]
    assert rao.get_by_test_id("ssl-approve-form").count() == 0            # never one's own request
    assert "another administrator" in rao.locator("main").inner_text()
    screenshot(rao, "journey-14-rao-request-waiting")

    # 15 — the MRAO's dashboard: one SSL request waiting for it (live), requested 1
    dashboard(page)
    expect(page.get_by_test_id("waiting-ssl")).to_have_text("1", timeout=LIVE)
    expect_counts(page, requested=1, issued=0)
    screenshot(page, "journey-15-dashboard-waiting")

    # 16 — open it from the count, approve with a message
    page.get_by_test_id("waiting-ssl").click()
    page.locator("[data-testid=ssl-rows] [data-testid=ssl-row-link]", has_text=domain).click()
    page.get_by_test_id("ssl-approve-form").wait_for()
    assert rao_name in page.locator("main").inner_text()
    page.get_by_test_id("ssl-approve-message").fill(f"approved on the journey {TAG}")
    screenshot(page, "journey-16-approve")
    page.get_by_role("button", name="Approve", exact=True).click()
    wait_status(page, "issued")
    assert f"approved on the journey {TAG}" in page.get_by_test_id("ssl-history").inner_text()
    screenshot(page, "journey-17-issued")
    dashboard(page)
    expect(page.get_by_test_id("waiting-ssl")).to_have_text("0", timeout=LIVE)
    expect_counts(page, requested=0, issued=1)
    expiry = page.get_by_test_id("expiry-table")
    expiry.wait_for()
    assert org_name in expiry.inner_text()
    live = sum(int(expiry.get_by_test_id(f"expiry-{b}").text_content()) for b in
               ("expired", "within_7", "within_30", "within_90"))
    assert live == 1
    screenshot(page, "journey-18-dashboard-issued")

    # 19 — the RAO's page updates by itself; it downloads the PEM: the certificate's key is the browser's key
    wait_status(rao, "issued", timeout=30_000)
    with rao.expect_download() as pem:
        rao.get_by_test_id("ssl-download-pem").click()
    certificate = x509.load_pem_x509_certificate(open(pem.value.path(), "rb").read())
    assert certificate.public_key() == private_key.public_key()
    assert certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value \
        .get_values_for_type(x509.DNSName) == [domain]
    screenshot(rao, "journey-19-rao-downloaded")
    deadline = time.monotonic() + 15
    while api("GET", f"/api/v1/ssl/{ssl_id}").json()["status"] != "downloaded":
        assert time.monotonic() < deadline, "the download did not mark the certificate downloaded"
        time.sleep(0.2)
    expect_counts(page, issued=0, downloaded=1)            # the MRAO's dashboard, by its own refresh
    screenshot(page, "journey-20-dashboard-downloaded")

    # 21 — the MRAO revokes it with a reason
    open_screen(page, f"/ssl/{ssl_id}", "[data-testid=ssl-revoke-button]")
    wait_status(page, "downloaded")
    page.get_by_test_id("ssl-revoke-reason").select_option("key_compromise")
    page.get_by_test_id("ssl-revoke-button").click()
    page.locator("dialog").wait_for()
    page.get_by_test_id("confirm").click()
    wait_status(page, "revoked")
    assert "key compromise" in page.locator("main").inner_text().lower()
    screenshot(page, "journey-21-revoked")
    assert api("GET", f"/api/v1/ssl/{ssl_id}").json()["revocation_reason"] == "key_compromise"
    dashboard(page)
    expect_counts(page, requested=0, issued=0, downloaded=0, revoked=1)
    expect_dcv(page, "validated", 1)
    screenshot(page, "journey-22-dashboard-revoked")
    rao.reload()
    wait_status(rao, "revoked")


# ---- 2. what an RAO sees -------------------------------------------------------------------------------------
def new_admin(console, username: str, roles: list[dict]) -> str:
    """An admin the browser can log in as (first-login change done through the API); returns its password."""
    first, password = f"initial-{secrets.token_hex(8)}", f"changed-{secrets.token_hex(8)}"
    created = console.api("POST", "/api/v1/admins", json={
        "username": username, "email": f"{username}@example.com", "forename": "Scope", "surname": "Tester",
        "roles": roles, "privileges": [], "password": first})
    assert created.status_code == 201, created.text
    token = console.api.login(username, first)
    changed = console.api.as_token(token)("POST", "/api/v1/auth/password",
                                          json={"current_password": first, "new_password": password})
    assert changed.status_code == 204, changed.text
    as_admin = console.api.as_token(token)
    deadline = time.monotonic() + 10
    for role in roles:
        for organization_id in role.get("organization_ids", []):
            while as_admin("GET", f"/api/v1/organizations/{organization_id}").status_code != 200:
                assert time.monotonic() < deadline, "the new admin does not see its organization"
                time.sleep(0.1)
    return password


def organization_with_things(console, name: str, private: dict, tag: str) -> dict:
    """An organization with a department, an internal domain, a person and an issued certificate of its own."""
    org = console.api.create_org({"name": name, **ORG})["organization_id"]
    made = console.api("POST", f"/api/v1/organizations/{org}/departments", json={"name": f"{name} dept"})
    assert made.status_code == 201, made.text
    domain = f"{tag}.internal"
    created = console.api("POST", "/api/v1/domains", json={"name": domain, "delegations": [
        {"organization_id": org, "cert_types": ["ssl", "client"]}]})
    assert created.status_code == 201, created.text
    console.api.delegate_mail_domains(org, ("example.com",))      # persons' emails are in client domains
    person = console.api("POST", "/api/v1/persons", json={"organization_id": org, "email": f"{tag}@example.com",
                                                          "first_name": "Pat", "last_name": tag})
    assert person.status_code == 201, person.text
    cn = f"www.{domain}"
    issued = console.api("POST", "/api/v1/ssl", json={
        "organization_id": org, "profile_id": private["profile_id"], "term_days": 90, "common_name": cn,
        "sans": [cn], "csr": factories.csr("ec-p256", cn=cn, sans=(cn,)).decode()})
    assert issued.status_code == 201, issued.text
    return {"id": org, "name": name, "domain": domain, "email": f"{tag}@example.com", "cn": cn}


SCREEN_READY = {"/": "[data-testid=dcv-chart]", "/organizations": "[data-testid=organization-rows]",
                "/admins": "[data-testid=admin-rows]", "/persons": "[data-testid=person-rows]",
                "/domains": "[data-testid=domain-rows]", "/networks": "[data-testid=network-rows]",
                "/ssl": "[data-testid=ssl-rows]", "/cas": "[data-testid=ca-rows]"}


def too_wide(page) -> list[str]:
    """The innermost elements reaching past the viewport's right edge (what makes a page scroll sideways)."""
    return page.evaluate("""() => {
        const past = (e) => e.getBoundingClientRect().right > window.innerWidth + 1;
        const name = (e) => e.tagName.toLowerCase()
          + (e.className ? "." + String(e.className).replaceAll(" ", ".") : "")
          + (e.dataset.testid ? "[" + e.dataset.testid + "]" : "");
        return [...document.querySelectorAll("main *")].filter((e) => past(e) && ![...e.children].some(past))
          .slice(0, 8).map((e) => `${name(e)} right=${Math.round(e.getBoundingClientRect().right)}`);
    }""")


def slug(fragment: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", fragment.strip("#/").lower()) or "dashboard"


def test_an_rao_sees_only_its_own_organization_on_every_screen_and_at_phone_width(console, open_page):
    private = {p["name"]: p for p in wait_for_profiles(console.api)}["Private TLS Server"]
    a = organization_with_things(console, f"Scope A {TAG}", private, f"scope-a-{TAG}")
    b = organization_with_things(console, f"Hidden Bee {TAG}", private, f"scope-b-{TAG}")
    hidden = [b["name"], b["domain"], b["email"], f"{b['name']} dept"]
    username = f"scope-rao-{TAG}"
    password = new_admin(console, username, [
        {"role": "RAO", "cert_type": "ssl", "organization_ids": [a["id"]]},
        {"role": "RAO", "cert_type": "client", "organization_ids": [a["id"]]}])

    page = open_page(console)
    login(page, username, password)
    settle(page)
    nav = [item.get_attribute("href") for item in page.locator("nav.sidebar a").all()]
    assert "#/profiles" not in nav and "#/outbox" not in nav
    assert page.locator('[data-nav="/profiles"]').count() == 0 and page.locator('[data-nav="/outbox"]').count() == 0
    assert {"#/", "#/organizations", "#/domains", "#/ssl", "#/persons"} <= set(nav), nav

    def nothing_of_b(where: str):
        text, html = page.locator("body").inner_text(), page.content()
        for secret in hidden:
            assert secret not in text and secret not in html, f"{secret!r} shown on {where}"

    # what it sees of its own organization, where the list should name it
    expected = {"/": a["name"], "/organizations": a["name"], "/domains": a["domain"], "/ssl": a["cn"],
                "/persons": a["email"]}
    for fragment in nav:
        path = fragment.lstrip("#")
        ready = SCREEN_READY.get(path)
        open_screen(page, path, f"{ready}" if ready else None)
        if path in expected:                          # the lists are projections: wait until ours shows
            page.locator("main", has_text=expected[path]).wait_for(timeout=LIVE)
        page.wait_for_timeout(300)
        nothing_of_b(path)
        screenshot(page, f"journey-rao-{slug(path)}")

    # the SSL inventory's organization filter offers A only; B's certificate is not listed even when asked for
    open_screen(page, "/ssl", "[data-testid=ssl-rows]")
    options = page.get_by_test_id("ssl-filter-organization").locator("option").all_inner_texts()
    assert a["name"] in options and b["name"] not in options
    open_screen(page, f"/ssl?q={b['cn']}", "[data-testid=ssl-rows]")
    assert b["cn"] not in page.get_by_test_id("ssl-rows").inner_text()
    open_screen(page, f"/ssl?organization_id={b['id']}", None)
    page.wait_for_timeout(300)
    nothing_of_b("the inventory filtered to B")
    # B's pages by their URLs: refused, and still nothing of B
    open_screen(page, f"/organizations/{b['id']}", None)
    page.wait_for_timeout(300)
    nothing_of_b("B's organization page")
    open_screen(page, f"/persons?organization_id={b['id']}", None)
    page.wait_for_timeout(300)
    nothing_of_b("the persons list filtered to B")

    # the MRAO-only screens by their URLs: no data
    for fragment in ("/profiles", "/profiles/new", "/outbox"):
        open_screen(page, fragment, None)
        page.wait_for_timeout(300)
        for hook in ("profile-rows", "profile-form", "outbox-rows", "mail"):
            assert page.get_by_test_id(hook).count() == 0, (fragment, hook)
        assert private["profile_id"] not in page.content()
        screenshot(page, f"journey-rao-{slug(fragment)}")

    # at phone width: every screen of its navigation, without horizontal scrolling
    phone = open_page(console, viewport={"width": 390, "height": 844})
    login(phone, username, password)
    settle(phone)
    overflowing = []
    for fragment in nav + ["#/ssl/new", "#/domains/new", "#/admins/new"]:
        path = fragment.lstrip("#")
        open_screen(phone, path, SCREEN_READY.get(path))
        phone.wait_for_timeout(300)
        screenshot(phone, f"journey-rao-phone-{slug(path)}")
        width = phone.evaluate("() => document.documentElement.scrollWidth")
        if width > 390 + 1:
            overflowing.append(f"{path} is {width} px wide at 390: {too_wide(phone)}")
    phone.get_by_role("button", name="Menu").click()
    phone.locator("nav.sidebar.open").wait_for()
    assert phone.evaluate("() => document.documentElement.scrollWidth") <= 391
    screenshot(phone, "journey-rao-phone-menu")
    assert not overflowing, overflowing
