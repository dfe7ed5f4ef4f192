"""Issue 14's "done when", end to end: an administrator makes an ACME account in the console, copies the EAB key
id and HMAC key from its one-time panel, and an unmodified certbot gets a certificate with them from a fresh
Certplane (TLS listener, http-01); the console then shows that certificate among the account's certificates, in
the account's organization."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from tests.browser.conftest import go, login, screenshot
from tests.browser.test_ssl import settle, wait_url
from tests.e2e.acme_env import AcmeEnv
from tests.e2e.test_acme_clients import certbot, certbot_files, check_certificate


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    started = AcmeEnv.start(tmp_path_factory.mktemp("acme-console"), tmp_path_factory.mktemp("acme-console-logs"))
    yield started
    started.stop()


def test_eab_credentials_made_in_the_console_get_certbot_a_certificate_in_the_organization(env, open_page,
                                                                                            tmp_path):
    console = SimpleNamespace(url=f"http://127.0.0.1:{env.cp.port}")          # the console on the plain port
    page = open_page(console)
    login(page, "admin", env.cp.admin_password)
    settle(page)
    go(page, "/acme-accounts")
    page.get_by_role("link", name="Create ACME account").click()
    wait_url(page, r"#/acme-accounts/new$")
    page.get_by_test_id("acme-form").wait_for()
    page.get_by_label("Name", exact=True).fill("certbot fleet")
    page.get_by_test_id("acme-organization").select_option(env.org_id)
    page.get_by_label("Private TLS Server (private trust)").check()
    page.get_by_role("button", name="Create ACME account").click()
    panel = page.get_by_test_id("acme-credentials")
    panel.wait_for()
    kid, hmac_key = panel.get_by_test_id("acme-kid").inner_text(), panel.get_by_test_id("acme-hmac").inner_text()
    assert panel.get_by_test_id("acme-directory").inner_text() == env.directory_url
    screenshot(page, "acme-certbot-credentials")

    name = env.name("console")
    home = tmp_path / "certbot"
    certbot(env, home, "certonly", "--standalone", "--preferred-challenges", "http-01",
            "--http-01-port", str(env.http01_port), "-d", name, "--agree-tos", "-m", "fleet@example.com",
            f"--eab-kid={kid}", f"--eab-hmac-key={hmac_key}")
    cert, chain = certbot_files(home, name)
    panel.get_by_test_id("acme-stored").click()
    page.get_by_test_id("acme-status").wait_for()
    account_id = page.url.rsplit("/", 1)[-1]                     # #/acme-accounts/<id>
    # openssl verify against the root, pkilint clean, in the organization's inventory requested by this account
    issued = check_certificate(env, cert, chain, [name], acme_account_id=account_id)
    assert issued["organization_id"] == env.org_id
    page.get_by_test_id("acme-certificates").click()
    wait_url(page, r"#/ssl\?requested_by=acme")
    page.get_by_text(name).first.wait_for()
    screenshot(page, "acme-certbot-certificate-in-inventory")
    assert f"requested_by=acme%3A{account_id}" in page.url
