"""Root of the test suite. eventlet must patch the standard library before anything else is imported
(nameko's own `nameko test` runner does the same)."""
import warnings

warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")  # known; see RUNTIME-NOTES
import eventlet  # noqa: E402

eventlet.monkey_patch()

import os  # noqa: E402

import pytest  # noqa: E402

from services.runtime import transport  # noqa: E402

transport.install()

REQUIRE_INTEGRATION = os.environ.get("CERTPLANE_REQUIRE_INTEGRATION") == "1"
REQUIRE_BROWSER = os.environ.get("CERTPLANE_REQUIRE_BROWSER") == "1"
_integration = {"passed": 0, "failed": 0, "skipped": 0}
_browser = {"passed": 0, "failed": 0, "skipped": 0}


def pytest_collection_modifyitems(config, items):
    for item in items:
        path = str(item.fspath).replace(os.sep, "/")
        if "tests/integration/" in path:
            item.add_marker(pytest.mark.integration)
        if "tests/browser/" in path:
            item.add_marker(pytest.mark.browser)
    # the browser tier last: Playwright's synchronous API keeps an asyncio loop marked running on the process's one
    # OS thread for as long as the browser is open, and under eventlet every "thread" is a greenlet of that thread,
    # so any later test that runs an asyncio loop of its own (aiosmtpd's SMTP server) would find it taken
    items[:] = sorted(items, key=lambda item: "tests/browser/" in str(item.fspath).replace(os.sep, "/"))


def _count(tally: dict, report) -> None:
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        tally[report.outcome] = tally.get(report.outcome, 0) + 1


def pytest_runtest_logreport(report):
    if "browser" in report.keywords:
        _count(_browser, report)
    if "integration" in report.keywords or "postgres" in report.keywords:
        _count(_integration, report)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    counts = ", ".join(f"{k} {v}" for k, v in _integration.items())
    terminalreporter.write_sep("=", f"tests needing RabbitMQ/PostgreSQL: {counts}")
    terminalreporter.write_sep("=", "browser tests (Chromium): " + ", ".join(f"{k} {v}" for k, v in _browser.items()))
    if not REQUIRE_BROWSER and _browser["skipped"]:
        terminalreporter.write_line("The browser tier was SKIPPED: /usr/bin/chromium (Debian's chromium) or the "
                                    "playwright package is missing. CI requires it.", yellow=True)
    if not REQUIRE_INTEGRATION and _integration["skipped"]:
        terminalreporter.write_line("The integration tier was SKIPPED: RabbitMQ (with its management plugin) or "
                                    "PostgreSQL is not reachable on 127.0.0.1. CI requires it.", yellow=True)


def pytest_sessionfinish(session, exitstatus):
    if REQUIRE_INTEGRATION and (_integration["skipped"] or not _integration["passed"]):
        print("\nCERTPLANE_REQUIRE_INTEGRATION=1 but the integration tier did not run in full "
              f"({_integration}); failing.")
        session.exitstatus = 1
    if REQUIRE_BROWSER and (_browser["skipped"] or not _browser["passed"]):
        print(f"\nCERTPLANE_REQUIRE_BROWSER=1 but the browser tier did not run in full ({_browser}); failing.")
        session.exitstatus = 1
