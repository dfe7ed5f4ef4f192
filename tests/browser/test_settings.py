"""The settings screens in the browser (issue 12): certificate profiles, CAs (downloads, add issuing CA, revocation
under dual control) and the outbox — and what an RAO does not see of them. Shares the `console` server with the
other browser modules: everything here has its own unique name, and the default CAs are never revoked (only an
issuing CA this module adds)."""
from __future__ import annotations

import re
import secrets

from cryptography import x509

from tests.browser.conftest import go, login, screenshot

ORG = {"address1": "1 Main St", "city": "Berlin", "state": "Berlin", "country": "DE"}


def unique(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


def new_admin(console, username: str, roles: list[dict]) -> tuple[dict, str]:
    """An administrator with a password the browser can log in with (first-login change done): (record, password)."""
    return console.new_admin(username, roles)


def as_mrao(page, console):
    login(page, "admin", console.server.admin_password)


# ---- profiles -----------------------------------------------------------------------------------------------

def test_create_a_private_profile_through_the_form(console, open_page):
    page = open_page(console)
    as_mrao(page, console)
    assert page.locator('[data-nav="/profiles"]').is_visible()
    go(page, "/profiles")
    page.get_by_test_id("profile-rows").get_by_role("link", name="Private TLS Server").wait_for()
    screenshot(page, "settings-profiles")

    page.get_by_test_id("profile-create").click()
    form = page.get_by_test_id("profile-form")
    form.wait_for()
    name = unique("G private TLS")
    form.get_by_label("Name", exact=True).fill(name)
    form.get_by_label("Certificate type").select_option("ssl")
    form.get_by_label("Description").fill("made by the settings browser test")
    assert form.get_by_test_id("trust-private").is_checked()
    form.get_by_label("Terms (days, separated by commas)").fill("0")
    screenshot(page, "settings-profile-form")

    # a term of 0 days: the API's 400, the typed values stay
    form.get_by_role("button", name="Create profile").click()
    error = form.get_by_test_id("error")
    error.wait_for()
    assert "invalid fields" in error.inner_text()
    assert "terms" in error.inner_text() and "398" in error.inner_text()
    assert error.get_by_test_id("correlation-id").inner_text()
    assert form.get_by_label("Name", exact=True).input_value() == name
    assert form.get_by_label("Description").input_value() == "made by the settings browser test"
    assert form.get_by_label("Terms (days, separated by commas)").input_value() == "0"

    # over the ceiling (398 days for a private certificate): refused again
    form.get_by_label("Terms (days, separated by commas)").fill("90, 500")
    form.get_by_role("button", name="Create profile").click()
    form.get_by_test_id("error").filter(has_text="terms: 1: Must be").wait_for()
    assert form.get_by_label("Name", exact=True).input_value() == name

    form.get_by_label("Terms (days, separated by commas)").fill("90, 180")
    form.get_by_label("Requests need an administrator's approval").uncheck()
    form.get_by_role("button", name="Create profile").click()
    page.locator("main h1", has_text=name).wait_for()
    assert page.get_by_test_id("profile-trust").inner_text() == "private"
    screenshot(page, "settings-profile")
    created = next(p for p in console.api("GET", "/api/v1/profiles").json()["items"] if p["name"] == name)
    assert created["terms"] == [90, 180] and created["trust_class"] == "private"
    assert created["requires_approval"] is False and created["extended_key_usage"] == ["server_auth"]

    go(page, "/profiles")
    row = page.get_by_test_id("profile-rows").locator("tr", has_text=name)
    row.wait_for()
    cells = row.inner_text()
    assert "private" in cells and "SSL" in cells and "90, 180" in cells and "no" in cells

    # the trust class is shown read-only on edit; forcing a change is the API's 400 trust_class_fixed
    row.get_by_role("link", name=name).click()
    edit = page.get_by_test_id("profile-edit")
    edit.wait_for()
    trust = edit.get_by_test_id("profile-trust-class")
    assert trust.get_attribute("readonly") is not None and trust.input_value() == "private"
    trust.evaluate("input => { input.readOnly = false; input.value = 'public'; }")
    edit.get_by_label("Terms (days, separated by commas)").fill("90")
    edit.get_by_role("button", name="Save").click()
    fixed = edit.get_by_test_id("error")
    fixed.wait_for()
    assert "trust_class_fixed" in fixed.inner_text()
    assert edit.get_by_label("Terms (days, separated by commas)").input_value() == "90"

    # a real change: saved, the page shows it
    trust.evaluate("input => { input.value = 'private'; }")
    edit.get_by_role("button", name="Save").click()
    page.locator("dd", has_text=re.compile(r"^90$")).wait_for()

    # delete
    page.get_by_test_id("profile-delete").click()
    page.get_by_test_id("confirm").click()
    page.get_by_test_id("profile-rows").wait_for()
    assert page.get_by_test_id("profile-rows").locator("tr", has_text=name).count() == 0
    assert all(p["name"] != name for p in console.api("GET", "/api/v1/profiles").json()["items"])


# ---- CAs ----------------------------------------------------------------------------------------------------

def test_ca_list_page_and_downloads(console, open_page):
    page = open_page(console)
    as_mrao(page, console)
    go(page, "/cas")
    rows = page.get_by_test_id("ca-rows")
    rows.get_by_role("link", name="Certplane Root CA").wait_for()
    assert "root" in rows.locator("tr", has_text="Certplane Root CA").inner_text()
    screenshot(page, "settings-cas")
    rows.get_by_role("link", name="Certplane Issuing CA").click()
    page.locator("main h1", has_text="Certplane Issuing CA").wait_for()
    screenshot(page, "settings-ca")
    ca = next(c for c in console.api("GET", "/api/v1/cas").json()["items"] if c["name"] == "Certplane Issuing CA")

    with page.expect_download() as pem:
        page.get_by_test_id("download-pem").click()
    certificate = x509.load_pem_x509_certificate(open(pem.value.path(), "rb").read())
    assert certificate.serial_number == int(ca["serial"], 16)
    assert "Certplane Issuing CA" in certificate.subject.rfc4514_string()

    with page.expect_download() as der:
        page.get_by_test_id("download-der").click()
    assert x509.load_der_x509_certificate(open(der.value.path(), "rb").read()) == certificate

    with page.expect_download() as chain:
        page.get_by_test_id("download-chain").click()
    chained = x509.load_pem_x509_certificates(open(chain.value.path(), "rb").read())
    assert chained[0] == certificate and len(chained) == 2

    with page.expect_download() as crl:
        page.get_by_test_id("download-crl").click()
    revocations = x509.load_der_x509_crl(open(crl.value.path(), "rb").read())
    assert revocations.issuer == certificate.subject

    # narrow screen: the page still works
    page.set_viewport_size({"width": 390, "height": 800})
    screenshot(page, "settings-ca-narrow")


def test_add_an_issuing_ca_and_revoke_it_under_dual_control(console, open_page):
    page = open_page(console)
    as_mrao(page, console)
    go(page, "/cas")
    page.get_by_test_id("ca-add").click()
    form = page.get_by_test_id("ca-form")
    form.wait_for()
    screenshot(page, "settings-ca-form")
    name = unique("G issuing")
    form.get_by_label("Name", exact=True).fill(name)
    form.get_by_label("Root CA (signs it)").select_option(label="Certplane Root CA")
    form.get_by_label("Key algorithm").select_option("ec-p384")
    form.get_by_role("button", name="Add issuing CA").click()
    page.locator("main h1", has_text=name).wait_for()
    ca = next(c for c in console.api("GET", "/api/v1/cas").json()["items"] if c["name"] == name)
    assert ca["kind"] == "issuing" and ca["key_algorithm"] == "ec-p384" and ca["default"] is False
    go(page, "/cas")
    assert "issuing" in page.get_by_test_id("ca-rows").locator("tr", has_text=name).inner_text()
    page.get_by_test_id("ca-rows").get_by_role("link", name=name).click()
    page.locator("main h1", has_text=name).wait_for()

    # reissue: a second certificate of the same key, both listed
    page.get_by_test_id("ca-reissue").click()
    page.get_by_test_id("confirm").click()
    page.get_by_test_id("ca-certificates").locator("tr", has_text="earlier").wait_for()
    assert page.get_by_test_id("ca-certificates").locator("tr").count() == 2

    # the first MRAO asks; it is not offered the approval, only to withdraw
    page.get_by_test_id("revocation-reason").select_option("superseded")
    page.get_by_test_id("revocation-form").get_by_role("button", name="Ask to revoke").click()
    page.get_by_test_id("confirm").click()
    pending = page.get_by_test_id("revocation-pending")
    pending.wait_for()
    assert "admin" in pending.inner_text() and "Superseded" in pending.inner_text()
    assert page.get_by_test_id("revocation-approve").count() == 0
    assert page.get_by_test_id("revocation-reject").inner_text() == "Withdraw request"
    screenshot(page, "settings-ca-revocation-requested")
    ca_id = ca["ca_id"]
    # the server agrees: its own approval is 403 own_request
    assert console.api("POST", f"/api/v1/cas/{ca_id}/revoke/approve", json={}).json()["error"]["code"] == "own_request"

    # a second MRAO rejects it
    second, password = new_admin(console, unique("mrao2"), [{"role": "MRAO"}])
    other = open_page(console)
    login(other, second["username"], password)
    go(other, f"/cas/{ca_id}")
    other.get_by_test_id("revocation-pending").wait_for()
    assert "admin" in other.get_by_test_id("revocation-pending").inner_text()
    assert other.get_by_test_id("revocation-approve").is_visible()
    other.get_by_test_id("revocation-message").fill("not superseded after all")
    other.get_by_test_id("revocation-reject").click()
    other.get_by_test_id("revocation-form").wait_for()
    assert console.api("GET", f"/api/v1/cas/{ca_id}").json()["revocation"] is None

    # asked again, and this time the second MRAO approves: this module's own CA is revoked
    asked = console.api("POST", f"/api/v1/cas/{ca_id}/revoke", json={"reason": "cessation_of_operation"})
    assert asked.status_code == 202, asked.text
    other.reload()
    other.get_by_test_id("revocation-approve").click()
    other.get_by_test_id("confirm").click()
    other.locator("main .badge.status-revoked").first.wait_for()
    assert "approved by " + second["username"] in other.locator("main").inner_text()
    screenshot(other, "settings-ca-revoked")
    assert console.api("GET", f"/api/v1/cas/{ca_id}").json()["status"] == "revoked"
    assert other.get_by_test_id("ca-reissue").count() == 0


# ---- outbox -------------------------------------------------------------------------------------------------

def test_outbox_shows_a_dcv_mail_live(console, open_page):
    page = open_page(console)
    as_mrao(page, console)
    go(page, "/outbox")
    page.get_by_test_id("outbox-live").wait_for()

    org = console.api.create_org({"name": unique("G Outbox Org"), **ORG})
    domain_name = f"{unique('g-outbox')}.example.com"
    domain = console.api("POST", "/api/v1/domains", json={"name": domain_name, "delegations": [
        {"organization_id": org["organization_id"], "cert_types": ["ssl"]}]})
    assert domain.status_code == 201, domain.text
    started = console.api("POST", f"/api/v1/domains/{domain.json()['domain_id']}/dcv",
                          json={"method": "email", "email_address": f"hostmaster@{domain_name}"})
    assert started.status_code == 201, started.text

    # no reload: the 5-second background refresh brings it
    mail = page.get_by_test_id("mail").filter(has_text=f"hostmaster@{domain_name}")
    mail.wait_for(timeout=20_000)
    text = mail.get_by_test_id("mail-text").inner_text()
    assert re.search(r"Code: \S+", text)
    assert mail.get_by_test_id("mail-text").locator("a", has_text="/dcv/").count() == 1
    assert page.get_by_test_id("mail").first.get_attribute("data-message-id") == \
        console.api("GET", "/api/v1/outbox", params={"size": 1}).json()["items"][0]["message_id"]
    assert page.get_by_test_id("pager-status").inner_text()
    screenshot(page, "settings-outbox")


# ---- what an RAO sees ---------------------------------------------------------------------------------------

def test_an_rao_sees_no_profiles_outbox_or_ca_actions(console, open_page):
    org = console.api.create_org({"name": unique("G RAO Org"), **ORG})
    rao, password = new_admin(console, unique("g-rao"),
                              [{"role": "RAO", "cert_type": "ssl", "organization_ids": [org["organization_id"]]}])
    page = open_page(console)
    login(page, rao["username"], password)
    assert page.locator('[data-nav="/cas"]').is_visible()
    assert page.locator('[data-nav="/profiles"]').count() == 0
    assert page.locator('[data-nav="/outbox"]').count() == 0

    go(page, "/cas")
    page.get_by_test_id("ca-rows").get_by_role("link", name="Certplane Issuing CA").click()
    page.locator("main h1", has_text="Certplane Issuing CA").wait_for()
    page.get_by_test_id("download-pem").wait_for()
    assert page.get_by_test_id("ca-add").count() == 0
    for hook in ("ca-reissue", "revocation-form", "revocation-approve", "revocation-reject"):
        assert page.get_by_test_id(hook).count() == 0, hook
    screenshot(page, "settings-ca-rao")

    go(page, "/cas")
    assert page.get_by_test_id("ca-add").count() == 0
    for fragment in ("/profiles", "/outbox", "/profiles/new", "/cas/new"):
        go(page, fragment)
        assert page.get_by_test_id("profile-form").count() == 0 and page.get_by_test_id("ca-form").count() == 0
        assert page.get_by_test_id("outbox-rows").count() == 0
