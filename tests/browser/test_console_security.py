"""The console's browser security (issue 12): the session cookie's flags as the browser keeps them, the
Content-Security-Policy on the page and its files (no inline script, no other host, no framing), a cross-site form
post and a request without the CSRF token refused with nothing changed, no request from the page to any other
host on any screen, and logout ending the session."""
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import requests

from tests import factories
from tests.browser.conftest import go, login, screenshot
from tests.e2e.actors import unique
from tests.support import free_port


@pytest.fixture
def mrao_page(console, open_page):
    page = open_page(console)
    login(page, "admin", console.server.admin_password)
    return page


def test_the_session_cookie_is_httponly_samesite_strict_and_unreadable_by_the_page(mrao_page):
    cookies = {c["name"]: c for c in mrao_page.context.cookies()}
    session = cookies["certplane_session"]
    assert session["httpOnly"] is True and session["sameSite"] == "Strict" and session["path"] == "/"
    assert session["secure"] is False            # served over plain HTTP here; Secure over HTTPS (e2e test)
    assert "certplane_session" not in mrao_page.evaluate("document.cookie")


def test_the_page_and_its_files_carry_a_policy_with_no_inline_script_no_other_host_and_no_framing(console):
    for path in ("/", "/console/js/app.js", "/console/css/console.css"):
        response = requests.get(console.url + path, timeout=30)
        assert response.status_code == 200
        policy = response.headers["Content-Security-Policy"]
        directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
        assert directives["script-src"] == "'self'" and "unsafe-inline" not in policy and "http" not in policy
        assert directives["frame-ancestors"] == "'none'" and directives["default-src"] == "'none'"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    page = requests.get(console.url + "/", timeout=30).text
    assert "<script" in page and all("src=" in tag.split(">")[0] for tag in page.split("<script")[1:])
    assert "style=" not in page and "onload" not in page


def test_the_api_answers_are_no_page_to_run_or_frame(console):
    answer = requests.get(console.url + "/api/v1/auth/me", timeout=30)
    assert answer.headers["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'"


def test_the_console_cannot_be_framed_by_another_site(console, browser):
    context = browser.new_context()
    attacker = _AttackerSite(f'<iframe id="f" src="{console.url}/"></iframe>').start()
    try:
        page = context.new_page()
        blocked = []
        page.on("console", lambda message: blocked.append(message.text))
        page.goto(attacker.url)
        page.wait_for_timeout(1500)
        frame = page.frame_locator("#f")
        assert frame.locator("input").count() == 0              # the login form never rendered inside the frame
    finally:
        context.close()
        attacker.stop()


def test_a_cross_site_form_post_is_refused_and_creates_nothing(console, mrao_page):
    name = unique("Cross-site org ")
    before = console.api.count_orgs()
    attacker = _AttackerSite(
        f'<form id="f" method="post" action="{console.url}/api/v1/organizations" enctype="text/plain">'
        f'<input name=\'{{"name": "{name}", "address1": "x", "city": "x", "state": "x", "country": "US", "a": "\' '
        f'value=\'"}}\'><button>Win a prize</button></form>').start()
    try:
        other = mrao_page.context.new_page()           # the same browser, logged in to the console
        other.goto(attacker.url)
        other.get_by_role("button", name="Win a prize").click()
        # (a locator's wait: Playwright's client-side waits, like wait_for_url, hang under eventlet's patching)
        other.get_by_text('"error"').wait_for()
        assert other.url == f"{console.url}/api/v1/organizations"
        refused = json.loads(other.locator("body").inner_text())
        # SameSite=Strict: the browser does not even send the cookie with another site's post
        assert refused["error"]["code"] == "unauthenticated"
    finally:
        attacker.stop()
    assert console.api.count_orgs() == before
    assert not console.api("GET", "/api/v1/organizations", params={"name": name}).json()["items"]


def test_a_request_from_the_page_without_the_csrf_token_is_refused_and_changes_nothing(console, mrao_page):
    before = console.api.count_orgs()
    body = factories.organization(name=unique("No-token org "))
    answer = mrao_page.evaluate("""async (body) => {
        const r = await fetch("/api/v1/organizations", {method: "POST", headers: {"Content-Type": "application/json"},
                                                        body: JSON.stringify(body)});
        return {status: r.status, body: await r.json()};
    }""", body)
    assert answer["status"] == 403 and answer["body"]["error"]["code"] == "csrf_token_missing"
    forged = mrao_page.evaluate("""async (body) => {
        const r = await fetch("/api/v1/organizations", {method: "POST", body: JSON.stringify(body),
            headers: {"Content-Type": "application/json", "X-CSRF-Token": "guessed"}});
        return r.status;
    }""", body)
    assert forged == 403
    assert console.api.count_orgs() == before


def test_no_screen_asks_another_host(console, mrao_page):
    """Every screen in the navigation, opened in turn; the page watch fails the test on any foreign request."""
    for fragment in [a.get_attribute("href") for a in mrao_page.locator("nav.sidebar a").all()]:
        go(mrao_page, fragment)
        mrao_page.wait_for_timeout(300)        # what the screen fetches after its heading
    assert mrao_page.watch.foreign == []


def test_logout_ends_the_session_and_leaves_nothing_to_go_back_to(console, mrao_page):
    screenshot(mrao_page, "dashboard-mrao")
    mrao_page.get_by_test_id("logout").click()
    mrao_page.get_by_role("button", name="Log in").wait_for()
    assert "certplane_session" not in {c["name"] for c in mrao_page.context.cookies()}
    mrao_page.reload()
    mrao_page.get_by_role("button", name="Log in").wait_for()
    screenshot(mrao_page, "login")


def test_a_wrong_password_is_shown_on_the_login_page_with_the_apis_message(console, open_page):
    page = open_page(console)
    login(page, "admin", "not the password", expect_home=False)
    error = page.get_by_test_id("error")
    assert "wrong" in error.inner_text().lower() and page.get_by_test_id("correlation-id").inner_text()
    assert page.get_by_label("Username").input_value() == "admin"       # what was typed stays
    screenshot(page, "login-refused")


class _AttackerSite:
    """A page of another site (localhost is another site than 127.0.0.1 for the browser), served by a child
    process (`python -m http.server`): a server thread of this process would wait on the same eventlet hub that
    Playwright's synchronous calls block."""

    def __init__(self, body: str):
        self.folder = Path(tempfile.mkdtemp(prefix="attacker-"))
        (self.folder / "index.html").write_text(f"<!doctype html><html><body>{body}</body></html>")
        self.port = free_port()
        self.url = f"http://localhost:{self.port}/"
        self.process = None

    def start(self):
        self.process = subprocess.Popen([sys.executable, "-m", "http.server", str(self.port), "--bind", "127.0.0.1",
                                         "--directory", str(self.folder)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                if requests.get(f"http://127.0.0.1:{self.port}/", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                time.sleep(0.1)
        raise AssertionError("the attacker's page did not start")

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=10)
        shutil.rmtree(self.folder, ignore_errors=True)


def test_the_pages_files_are_cached_for_good_under_their_build_and_revalidated_otherwise(console):
    page = requests.get(console.url + "/", timeout=30)
    assert page.headers["Cache-Control"] == "no-cache" and page.headers["ETag"]
    build = re.search(r'src="/console/([0-9a-f]{16})/js/app.js"', page.text).group(1)
    assert f'<link rel="modulepreload" href="/console/{build}/js/api.js">' in page.text
    current = requests.get(f"{console.url}/console/{build}/js/app.js", timeout=30)
    assert current.status_code == 200 and current.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert current.headers["Content-Type"].startswith("text/javascript")
    for stale in ("/console/js/app.js", "/console/0123456789abcdef/js/app.js"):
        answer = requests.get(console.url + stale, timeout=30)
        assert answer.status_code == 200 and answer.headers["Cache-Control"] == "no-cache"
        assert answer.content == current.content
    again = requests.get(console.url + "/", headers={"If-None-Match": page.headers["ETag"]}, timeout=30)
    assert again.status_code == 304 and not again.content


@pytest.mark.parametrize("path", ["/console/../service.py", "/console/%2e%2e/service.py", "/console/js/",
                                  "/console/js/app.py", "/console/index.html/x", "/console/nothing.js"])
def test_nothing_but_the_consoles_own_files_is_served(console, path):
    answer = requests.get(console.url + path, timeout=30)
    assert answer.status_code == 404 and answer.json()["error"]["code"] == "not_found"
