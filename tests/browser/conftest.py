"""The browser tier: the console in Debian's Chromium, driven by Playwright for Python (never its own browser
download: `executable_path=/usr/bin/chromium`). CI installs both and sets CERTPLANE_REQUIRE_BROWSER=1, which turns
a missing browser into a failure instead of a skip (tests/conftest.py counts the tier).

One Chromium for the whole session; each test gets a fresh context (no cookies shared between tests). Every page
fails its test if it asks any host other than the console's own, or if a script error is thrown. A screenshot of
each screen a test visits goes to reports/screens/ (CI keeps reports/)."""
from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path
from urllib.parse import urlsplit

import eventlet
import pytest

from tests.dns_server import DnsServer
from tests.e2e.conftest import Embedded

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
REQUIRE_BROWSER = os.environ.get("CERTPLANE_REQUIRE_BROWSER") == "1"
SCREENS = Path(__file__).resolve().parents[2] / "reports" / "screens"
CAA_IDENTITY = "certplane.test"


def _browser_missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -e '.[test]')"
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} is missing (apt-get install chromium)"
    return None


@pytest.fixture(scope="session")
def browser():
    missing = _browser_missing()
    if missing:
        if REQUIRE_BROWSER:
            pytest.fail(f"CERTPLANE_REQUIRE_BROWSER=1 but {missing}")
        pytest.skip(missing)
    from playwright.sync_api import sync_playwright
    manager = sync_playwright()
    playwright = manager.start()
    try:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
    finally:
        _stop_playwright(manager)


def _stop_playwright(manager) -> None:
    """Stop Playwright's driver. Under the root conftest's eventlet monkey-patching, asyncio is never told that the
    driver process has exited, so the context manager's exit would wait for ever: give it a few seconds, then end
    the driver process (our own child, by its pid) if it is still there."""
    proc = getattr(getattr(getattr(manager, "_client", None), "_transport", None), "_proc", None)
    with eventlet.Timeout(10, False):
        manager.__exit__(None, None, None)
    if proc is not None and proc.returncode is None:
        try:
            os.kill(proc.pid, signal.SIGTERM)
            os.waitpid(proc.pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass


class Console:
    """A Certplane server for browser tests, with a DNS server the DCV checks ask (TXT, CAA)."""

    def __init__(self, tmp_path_factory, first_login: bool):
        self.dns = DnsServer().start()
        self.server = Embedded(tmp_path_factory.mktemp("var"), tmp_path_factory.mktemp("logs"),
                               CERTPLANE_DNS_RESOLVER=self.dns.address, CERTPLANE_CAA_IDENTITIES=CAA_IDENTITY)
        if first_login:
            self.server.start()
        else:       # a fresh install as a new user meets it: the initial password not changed yet
            self.server.process.start().wait_ready(f"{self.server.api.base_url}/readyz")
        self.url = self.server.api.base_url

    @property
    def api(self):
        return self.server.api

    def new_admin(self, username: str, roles: list[dict], privileges=()) -> tuple[dict, str]:
        """An admin the browser can log in as, made by the initial MRAO with its first-login password change done,
        once it sees the organizations of its roles (they reach the gateway's directory a moment later):
        (its record, its password)."""
        record, as_admin = self.server.admin(username, roles, privileges)
        deadline = time.monotonic() + 10
        for role in roles:
            for organization_id in role.get("organization_ids", []):
                while as_admin("GET", f"/api/v1/organizations/{organization_id}").status_code != 200:
                    assert time.monotonic() < deadline, f"{username} does not see its organization"
                    time.sleep(0.1)
        return record, record.get("password")

    def initial_password(self) -> str:
        """The first login's password, as `make run` printed it."""
        found = re.search(r"password '([^']+)'", self.server.process.output())
        assert found, "the start banner printed no initial password"
        return found.group(1)

    def stop(self):
        self.server.stop()
        self.dns.stop()


@pytest.fixture(scope="session")
def console(tmp_path_factory):
    """A console shared by the browser modules (the initial MRAO logged in through the API: `console.api`)."""
    server = Console(tmp_path_factory, first_login=True)
    yield server
    server.stop()


class PageWatch:
    """What a page did that a test must not let pass: requests to another host, script errors."""

    def __init__(self, origin: str):
        self.origin = origin
        self.foreign: list[str] = []
        self.errors: list[str] = []

    def request(self, request):
        url = request.url
        if url.startswith(("data:", "blob:", "about:")):
            return
        parts = urlsplit(url)
        if f"{parts.scheme}://{parts.netloc}" != self.origin:
            self.foreign.append(url)

    def check(self):
        assert not self.foreign, f"the page asked other hosts: {self.foreign}"
        assert not self.errors, f"script errors on the page: {self.errors}"


@pytest.fixture
def open_page(browser):
    """open_page(console, viewport=None) -> a page in a fresh browser context, watched (PageWatch) until the
    test ends."""
    made = []

    def open_(console: Console, viewport: dict | None = None, **context_options):
        context = browser.new_context(base_url=console.url, viewport=viewport or {"width": 1280, "height": 800},
                                      accept_downloads=True, **context_options)
        page = context.new_page()
        page.set_default_timeout(15_000)
        watch = PageWatch(console.url)
        page.on("request", watch.request)
        page.on("pageerror", lambda error: watch.errors.append(str(error)))
        page.watch = watch
        made.append((context, watch))
        return page

    yield open_
    for context, watch in made:
        context.close()
        watch.check()


def screenshot(page, name: str) -> Path:
    """A picture of the screen for the report (reports/screens/<name>.png)."""
    SCREENS.mkdir(parents=True, exist_ok=True)
    path = SCREENS / f"{re.sub(r'[^a-z0-9_-]+', '-', name.lower())}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def login(page, username: str, password: str, expect_home: bool = True) -> None:
    page.goto("/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Log in").click()
    if expect_home:
        page.get_by_test_id("who").wait_for()


def go(page, fragment: str) -> None:
    """Open a screen by its URL fragment (#/ssl?status=issued) and wait for its heading."""
    page.goto(f"/#{fragment}" if not fragment.startswith("#") else f"/{fragment}")
    page.locator("main h1").first.wait_for()
