"""Issue 13's issuance answers in Chromium. A request the CA refuses after it was recorded ends `failed`: made the
real way — a public-trust profile without approval on the shared `console` server, whose CRL and OCSP links are on
http://127.0.0.1:<port> (CERTPLANE_PUBLIC_BASE_URL not set), so the CA/B Forum lint reports ERRORs
(tests/e2e/test_lint_before_sign.py) — the wizard shows the 422's findings and links to the failed request; its
page shows the error and the findings, the requester may not approve it again; the inventory filters on `failed`
and its badge is readable; the dashboard counts it; another administrator declines it. And an answer of 202 (a
server that does not wait for the outcome) opens the certificate's page, which turns issued by itself."""
from __future__ import annotations

import re
import secrets
import time

import pytest

from tests import factories
from tests.browser.conftest import go, login, screenshot
from tests.browser.test_ssl import as_mrao, open_inventory, settle, status_of, wait_status, wait_url
from tests.dns_server import DnsServer
from tests.e2e.conftest import Embedded, validate_by_email
from tests.e2e.test_ssl_lifecycle import ORG, wait_for_profiles

TAG = secrets.token_hex(3)
DOMAIN = f"failed{TAG}.example.com"
UUID = r"[0-9a-f-]{36}"


@pytest.fixture(scope="module")
def world(console):
    """An organization with DOMAIN delegated for ssl and validated by email, a copy of Public TLS without approval
    (its lint fails on this server) and an RAO (ssl) of the organization, who requests."""
    api = console.api
    org = api.create_org({"name": f"Failed UI Org {TAG}", **ORG})["organization_id"]
    created = api("POST", "/api/v1/domains", json={"name": DOMAIN, "delegations": [
        {"organization_id": org, "cert_types": ["ssl"]}]})
    assert created.status_code == 201, created.text
    validate_by_email(api, created.json())
    tls = next(p for p in wait_for_profiles(api) if p["name"] == "Public TLS")
    assert tls["trust_class"] == "public"
    fields = {k: v for k, v in tls.items() if k not in ("profile_id", "created_at", "updated_at")}
    made = api("POST", "/api/v1/profiles", json={**fields, "name": f"Public TLS at once {TAG}",
                                                 "requires_approval": False})
    assert made.status_code == 201, made.text
    username = f"sslfail{TAG}"
    record, password = console.new_admin(username, [{"role": "RAO", "cert_type": "ssl", "organization_ids": [org]}])
    return {"org": org, "profile": made.json(), "rao": (username, password, record["admin_id"])}


def contrast(foreground: str, background: str) -> float:
    """WCAG 2.x contrast ratio of two computed CSS colours (rgb(…) / rgba(…))."""
    def luminance(css: str) -> float:
        red, green, blue = (int(x) / 255 for x in re.findall(r"[\d.]+", css)[:3])
        lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in (red, green, blue)]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]
    high, low = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def request_in_wizard(page, profile_id: str, name: str):
    go(page, "/ssl/new")
    page.get_by_test_id("ssl-request-form").wait_for()
    page.get_by_test_id("ssl-profile").select_option(profile_id)
    page.get_by_test_id("ssl-common-name").fill(name)
    page.get_by_test_id("ssl-sans").fill(name)
    page.get_by_test_id("ssl-comments").fill(f"kept {TAG}")
    page.get_by_test_id("ssl-csr-text").fill(factories.csr("ec-p256", cn=name, sans=(name,)).decode())
    # the POST's answer as the browser got it. Not page.expect_response: Playwright's client-side waits hang under
    # eventlet's monkey patching (tests/browser/conftest.py); its events are delivered during any driver call
    answers = []

    def seen(response):
        if response.url.endswith("/api/v1/ssl") and response.request.method == "POST":
            answers.append(response)

    page.on("response", seen)
    page.get_by_role("button", name="Request certificate").click()
    try:
        page.wait_for_function("() => !location.hash.startsWith('#/ssl/new') || "
                               "document.querySelector('[data-testid=ssl-refusal] [data-testid=ssl-findings]') || "
                               "document.querySelector('[data-testid=ssl-request-form] [data-testid=error]')")
    finally:
        page.remove_listener("response", seen)
    assert answers, "the wizard's POST /api/v1/ssl was not seen"
    return answers[0]


def test_a_request_the_lint_refuses_is_failed_shown_with_its_findings_and_declined(console, world, open_page):
    username, password, _rao_id = world["rao"]
    name = f"www.{DOMAIN}"

    # the requester: the wizard's answer is 422 lint_failed, the findings under the form, a link to the request
    requester = open_page(console)
    login(requester, username, password)
    settle(requester)
    answer = request_in_wizard(requester, world["profile"]["profile_id"], name)
    assert answer.status == 422, answer.text()
    error = answer.json()["error"]
    assert error["code"] == "lint_failed" and error["details"]["ssl_id"], error
    ssl_id = error["details"]["ssl_id"]
    refusal = requester.get_by_test_id("ssl-refusal")
    refusal.get_by_test_id("ssl-findings").locator("tr").first.wait_for()
    shown = refusal.inner_text()
    assert "cabf.internal_domain_name" in shown and "ERROR" in shown
    assert "authorityInfoAccess" in shown and "cRLDistributionPoints" in shown
    box = requester.get_by_test_id("ssl-request-form").get_by_test_id("error")
    assert "lint_failed" in box.inner_text() and "HTTP 422" in box.inner_text()
    assert box.get_by_test_id("correlation-id").inner_text()
    assert requester.get_by_test_id("ssl-common-name").input_value() == name          # the form stays
    assert requester.get_by_test_id("ssl-comments").input_value() == f"kept {TAG}"
    assert re.search(r"#/ssl/new", requester.url)
    screenshot(requester, "ssl-wizard-lint-failed")

    link = requester.get_by_test_id("ssl-failed-link")
    assert link.get_attribute("href") == f"#/ssl/{ssl_id}"
    link.click()
    wait_url(requester, rf"#/ssl/{ssl_id}$")
    wait_status(requester, "failed")
    seen = console.api("GET", f"/api/v1/ssl/{ssl_id}").json()
    assert seen["status"] == "failed" and seen["last_error"] and seen["serial"] is None, seen
    assert {f["code"] for f in seen["last_findings"]} == {"cabf.internal_domain_name"}
    assert requester.get_by_test_id("ssl-last-error").inner_text().strip() == seen["last_error"].strip()
    why = requester.get_by_test_id("ssl-why-failed")
    assert why.locator("[data-testid=ssl-findings] tr").count() == len(seen["last_findings"])
    assert "cabf.internal_domain_name" in why.inner_text()
    assert requester.get_by_test_id("ssl-approve-form").count() == 0        # never one's own request
    assert requester.get_by_test_id("ssl-decline-form").count() == 1        # but they may withdraw it
    assert "failed" in requester.get_by_test_id("ssl-history").inner_text()
    screenshot(requester, "ssl-certificate-failed")

    # another administrator: the inventory filtered on failed, its badge readable, the dashboard counts it
    approver = as_mrao(open_page, console)
    go(approver, f"/ssl?organization_id={world['org']}")
    open_inventory(approver)
    assert "failed" in approver.get_by_test_id("ssl-filter-status").locator("option").all_inner_texts()
    approver.get_by_test_id("ssl-filter-status").select_option("failed")
    approver.get_by_role("button", name="Filter").click()
    wait_url(approver, r"status=failed")
    approver.wait_for_function("() => document.querySelectorAll('[data-testid=ssl-rows] tr:not(.empty)').length === 1")
    row = approver.locator("[data-testid=ssl-rows] tr").first
    assert name in row.get_by_test_id("ssl-row-link").inner_text()
    badge = row.locator("[data-testid=ssl-row-status] .badge.status-failed")
    assert badge.inner_text().strip() == "failed"
    colours = badge.evaluate("e => [getComputedStyle(e).color, getComputedStyle(e).backgroundColor]")
    assert contrast(*colours) >= 4.5, colours
    declined_look = approver.evaluate("""() => { const b = document.createElement('span');
        b.className = 'badge ssl-badge status-declined'; document.body.append(b);
        const c = getComputedStyle(b).backgroundColor; b.remove(); return c; }""")
    assert colours[1] != declined_look                 # failed asks for an action: not the look of an end
    screenshot(approver, "ssl-inventory-failed")

    go(approver, "/")
    segment = approver.locator("[data-testid=ssl-status-chart] a[data-segment=failed]")
    segment.wait_for()
    assert segment.get_attribute("href") == "#/ssl?status=failed"
    count = int(re.search(r"failed: (\d+)", segment.get_attribute("aria-label")).group(1))
    assert count >= 1

    # the failed request: Approve again (a retry) and Decline offered; declined with a reason
    go(approver, f"/ssl/{ssl_id}")
    wait_status(approver, "failed")
    approve = approver.get_by_test_id("ssl-approve-form")
    assert approve.get_by_role("button").inner_text().strip() == "Approve again (retry)"
    approver.get_by_test_id("ssl-decline-reason").fill(f"the CRL and OCSP links are internal {TAG}")
    approver.get_by_role("button", name="Decline", exact=True).click()
    wait_status(approver, "declined")
    assert f"the CRL and OCSP links are internal {TAG}" in approver.locator("main").inner_text()
    assert approver.get_by_test_id("ssl-approval").count() == 0
    assert console.api("GET", f"/api/v1/ssl/{ssl_id}").json()["status"] == "declined"
    wait_status(requester, "declined", timeout=20_000)       # the requester's page follows by itself
    screenshot(approver, "ssl-certificate-failed-declined")


# ---- 202: the certificate follows; its page turns issued by itself ---------------------------------------------
@pytest.fixture(scope="module")
def at_once(tmp_path_factory):
    """A server that answers as soon as the request is recorded (CERTPLANE_ISSUANCE_WAIT=0): a 202."""
    dns = DnsServer().start()
    server = Embedded(tmp_path_factory.mktemp("var"), tmp_path_factory.mktemp("logs"), CERTPLANE_ISSUANCE_WAIT="0",
                      CERTPLANE_DNS_RESOLVER=dns.address, CERTPLANE_CAA_IDENTITIES="certplane.test").start()
    server.url = server.api.base_url
    yield server
    server.stop()
    dns.stop()


def test_a_202_opens_the_certificate_page_which_turns_issued_by_itself(at_once, open_page):
    api = at_once.api
    domain = f"later{TAG}.internal"
    org = api.create_org({"name": f"Later Org {TAG}", **ORG})["organization_id"]
    made = api("POST", "/api/v1/domains", json={"name": domain, "delegations": [
        {"organization_id": org, "cert_types": ["ssl"]}]})
    assert made.status_code == 201, made.text
    private = next(p for p in wait_for_profiles(api) if p["name"] == "Private TLS Server")
    page = open_page(at_once)
    login(page, "admin", at_once.admin_password)
    settle(page)
    answer = request_in_wizard(page, private["profile_id"], f"www.{domain}")
    assert answer.status == 202, answer.text()
    body = answer.json()
    assert answer.headers["location"] == f"/api/v1/ssl/{body['ssl_id']}"
    wait_url(page, rf"#/ssl/{body['ssl_id']}$")
    started = time.monotonic()
    wait_status(page, "issued", timeout=15_000)          # no reload: the page's own polling
    assert time.monotonic() - started < 15
    assert page.get_by_test_id("ssl-issuing").count() == 0
    page.get_by_test_id("ssl-certificate").wait_for()
    assert status_of(page) == "issued"
