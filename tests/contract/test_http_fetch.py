"""HttpFetcher against a real HTTP(S) server on 127.0.0.1: what a DCV file fetch returns, follows and refuses."""
import time

import pytest

from services.domains.adapters.deadline import Deadline
from services.domains.adapters.http_fetch import FetchFailed, HttpFetcher, forbidden_kind
from tests.http_server import HttpServer

FILE = "/.well-known/pki-validation/abc123.txt"
NAMES = {"example.test": ["127.0.0.1"], "other.test": ["127.0.0.1"], "nowhere.test": []}


def fetcher(allow_private=True, names=NAMES, **options) -> HttpFetcher:
    return HttpFetcher(lambda host, deadline: names[host], allow_private=allow_private, **options)


def failure(fetch: HttpFetcher, url: str) -> FetchFailed:
    with pytest.raises(FetchFailed) as caught:
        fetch.get(url)
    return caught.value


@pytest.fixture
def server():
    server = HttpServer().start()
    yield server
    server.stop()


@pytest.fixture
def other_server():
    server = HttpServer().start()
    yield server
    server.stop()


def test_200_returns_the_body_and_sends_the_original_host_name(server):
    server.serve(FILE, "token-value\n")
    assert fetcher().get(f"http://example.test:{server.port}{FILE}") == b"token-value\n"
    assert server.requests == [("GET", FILE, f"example.test:{server.port}")]


@pytest.mark.parametrize("status", [404, 500])
def test_non_2xx_is_http_status(server, status):
    server.serve(FILE, "no", status=status)
    failed = failure(fetcher(), f"http://example.test:{server.port}{FILE}")
    assert failed.reason == "http_status"
    assert str(status) in failed.detail


def test_unknown_path_is_http_status_404(server):
    failed = failure(fetcher(), f"http://example.test:{server.port}/.well-known/pki-validation/none.txt")
    assert (failed.reason, "404" in failed.detail) == ("http_status", True)


def test_redirect_to_same_host_and_port_is_followed(server):
    server.redirect("/start", "/middle")                                           # relative Location
    server.redirect("/middle", f"http://example.test:{server.port}{FILE}", 301)    # absolute, same origin
    server.serve(FILE, "token-value")
    assert fetcher().get(f"http://example.test:{server.port}/start") == b"token-value"
    assert [path for _, path, _ in server.requests] == ["/start", "/middle", FILE]


def test_redirect_to_another_port_is_refused(server, other_server):
    other_server.serve(FILE, "token-value")
    server.redirect(FILE, f"http://example.test:{other_server.port}{FILE}")
    assert failure(fetcher(), f"http://example.test:{server.port}{FILE}").reason == "http_redirect_refused"
    assert other_server.requests == []


def test_redirect_to_another_host_is_refused(server):
    server.redirect(FILE, f"http://other.test:{server.port}/elsewhere")
    server.serve("/elsewhere", "token-value")
    assert failure(fetcher(), f"http://example.test:{server.port}{FILE}").reason == "http_redirect_refused"
    assert [path for _, path, _ in server.requests] == [FILE]


def test_redirect_to_another_scheme_is_refused(server):
    server.redirect(FILE, f"https://example.test:{server.port}{FILE}")
    assert failure(fetcher(), f"http://example.test:{server.port}{FILE}").reason == "http_redirect_refused"


def test_redirect_loop_stops_after_max_redirects(server):
    server.redirect("/a", "/b")
    server.redirect("/b", "/a")
    failed = failure(fetcher(max_redirects=3), f"http://example.test:{server.port}/a")
    assert failed.reason == "http_too_many_redirects"
    assert len(server.requests) == 4


def test_body_over_max_bytes_is_too_large_and_max_bytes_is_fine(server):
    server.serve("/big", b"x" * 101)
    server.serve("/fits", b"x" * 100)
    assert failure(fetcher(max_bytes=100), f"http://example.test:{server.port}/big").reason == "http_too_large"
    assert fetcher(max_bytes=100).get(f"http://example.test:{server.port}/fits") == b"x" * 100


def test_slow_server_past_the_deadline_is_http_timeout(server):
    server.serve(FILE, "token-value")
    server.slow(FILE, 2.0)
    started = time.monotonic()
    assert failure(fetcher(timeout=0.5), f"http://example.test:{server.port}{FILE}").reason == "http_timeout"
    assert time.monotonic() - started < 1.5


def test_the_callers_deadline_ends_the_fetch_when_it_ends_first(server):
    server.serve(FILE, "token-value")
    server.slow(FILE, 2.0)
    with pytest.raises(FetchFailed) as caught:
        fetcher(timeout=30).get(f"http://example.test:{server.port}{FILE}", Deadline(0.5))
    assert caught.value.reason == "http_timeout" and "within 0.5 s" in caught.value.detail


def test_the_callers_deadline_bounds_the_address_lookup_too():
    given = []

    def resolve(host, deadline):
        given.append(deadline.seconds)
        return []                                   # no address: http_no_address, nothing is fetched
    fetch = HttpFetcher(resolve, allow_private=True, timeout=30)
    assert failure(fetch, f"http://example.test{FILE}").reason == "http_no_address"
    with pytest.raises(FetchFailed):
        fetch.get(f"http://example.test{FILE}", Deadline(2))
    assert given == [30, 2]


def test_loopback_is_refused_without_allow_private_and_nothing_is_sent(server):
    server.serve(FILE, "token-value")
    failed = failure(fetcher(allow_private=False), f"http://example.test:{server.port}{FILE}")
    assert failed.reason == "http_address_refused"
    assert "127.0.0.1" in failed.detail
    assert server.requests == []


@pytest.mark.parametrize("address, kind", [
    ("127.0.0.1", "loopback"), ("::1", "loopback"), ("::ffff:127.0.0.1", "loopback"),
    ("169.254.169.254", "link-local"), ("fe80::1", "link-local"), ("::ffff:169.254.169.254", "link-local"),
    ("10.0.0.1", "private"), ("172.16.5.4", "private"), ("192.168.1.1", "private"), ("fd00::1", "private"),
    ("::ffff:10.0.0.1", "private"), ("64:ff9b::a00:1", "private"),
    ("100.64.0.1", "shared"), ("0.0.0.0", "unspecified"), ("::", "unspecified"),
    ("224.0.0.1", "multicast"), ("ff02::1", "multicast"), ("not-an-ip", "not an IP address"),
])
def test_guard_refuses_non_public_addresses(address, kind):
    assert forbidden_kind(address) == kind


def test_guard_refuses_reserved_addresses():
    assert forbidden_kind("240.0.0.1") is not None
    assert forbidden_kind("255.255.255.255") is not None


@pytest.mark.parametrize("address", ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_guard_allows_public_addresses(address):
    assert forbidden_kind(address) is None


@pytest.mark.parametrize("address", ["169.254.169.254", "10.0.0.1", "::1", "::ffff:127.0.0.1"])
def test_fetch_refuses_a_name_resolving_to_a_non_public_address(address):
    failed = failure(fetcher(allow_private=False, names={"example.test": [address]}),
                     f"http://example.test/{FILE}")
    assert failed.reason == "http_address_refused"
    assert address in failed.detail


@pytest.mark.parametrize("url", ["http://169.254.169.254/latest/meta-data/", "http://[::1]:8080/",
                                 "http://[::ffff:127.0.0.1]/", "https://10.0.0.1/"])
def test_fetch_refuses_a_non_public_ip_literal_without_resolving(url):
    def resolve(host, deadline):
        raise AssertionError(f"resolved {host}")
    assert failure(HttpFetcher(resolve, allow_private=False), url).reason == "http_address_refused"


def test_name_without_addresses_is_http_no_address():
    assert failure(fetcher(), f"http://nowhere.test{FILE}").reason == "http_no_address"


def test_next_address_is_tried_when_the_first_refuses_the_connection(server):
    server.serve(FILE, "token-value")       # the server listens on 127.0.0.1 only, so 127.0.0.2 refuses
    names = {"example.test": ["127.0.0.2", "127.0.0.1"]}
    assert fetcher(names=names).get(f"http://example.test:{server.port}{FILE}") == b"token-value"


def test_nothing_listening_is_http_connect_failed():
    unused = HttpServer().start()
    port = unused.port
    unused.stop()
    assert failure(fetcher(), f"http://example.test:{port}{FILE}").reason == "http_connect_failed"


def test_https_with_a_self_signed_certificate_works():
    server = HttpServer(tls=True).start()
    try:
        server.serve(FILE, "token-value")
        assert fetcher().get(f"https://example.test:{server.port}{FILE}") == b"token-value"
        assert server.requests == [("GET", FILE, f"example.test:{server.port}")]
    finally:
        server.stop()


def test_https_to_a_plain_http_server_is_http_tls_failed(server):
    assert failure(fetcher(), f"https://example.test:{server.port}{FILE}").reason == "http_tls_failed"


@pytest.mark.parametrize("url", ["ftp://example.test/x", "http:///x", "http://example.test:99999/x", "not a url"])
def test_bad_url_is_http_bad_url(url):
    assert failure(fetcher(), url).reason == "http_bad_url"
