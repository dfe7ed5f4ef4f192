"""The domains service's only HTTP I/O: fetching `http(s)://<domain>:<port>/.well-known/pki-validation/<file>.txt`
for file-based domain control validation (BR 3.2.2.4.18). Standard library only, so it goes green under eventlet.

The URL's host is an attacker's choice, so the fetch is guarded against server-side request forgery: every address
the host resolves to is checked (`forbidden_kind`) and the socket connects to a checked address itself, with the
original name sent in `Host:` — there is no second lookup a rebinding DNS server could answer differently.
Redirects stay on the same scheme, host and port — or, for a fetcher given `redirect_ports` (ACME http-01, RFC 8555
§8.3), go to any host over http or https on those ports only, each new host's addresses checked like the first's;
one deadline bounds the whole fetch, redirects included — the fetcher's own timeout, or the caller's deadline
(adapters/deadline.py) when that ends first.
"""
from __future__ import annotations

import http.client
import io
import ipaddress
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from services.domains.adapters.deadline import Deadline

DEFAULT_PORTS = {"http": 80, "https": 443}
REDIRECT_STATUSES = {301, 302, 303, 307, 308}
_SHARED = ipaddress.ip_network("100.64.0.0/10")     # RFC 6598 carrier-grade NAT
_NAT64 = ipaddress.ip_network("64:ff9b::/96")       # RFC 6052: reaches the IPv4 address in its last 32 bits


class FetchFailed(Exception):
    """Why a fetch gave no body: `reason` is a code (http_address_refused, http_no_address, http_connect_failed,
    http_timeout, http_tls_failed, http_status, http_bad_response, http_redirect_refused, http_too_many_redirects,
    http_too_large, http_bad_url) and `detail` one sentence naming the URL, address or status."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def forbidden_kind(address: str) -> str | None:
    """What kind of address `address` is when it must not be fetched from ("loopback", "private", ...), or None
    for a public unicast address. IPv4-mapped and NAT64 IPv6 forms are judged by the IPv4 address they carry."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return "not an IP address"
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    elif ip in _NAT64:
        ip = ipaddress.IPv4Address(int(ip) & 0xFFFF_FFFF)
    checks = (("unspecified", ip.is_unspecified), ("loopback", ip.is_loopback), ("link-local", ip.is_link_local),
              ("multicast", ip.is_multicast), ("shared", ip in _SHARED), ("private", ip.is_private),
              ("reserved", ip.is_reserved), ("not globally routable", not ip.is_global))
    return next((kind for kind, matches in checks if matches), None)


class HttpFetcher:
    def __init__(self, resolve: Callable[[str, Deadline | None], list[str]], allow_private: bool,
                 timeout: float = 10.0, max_bytes: int = 16384, max_redirects: int = 3,
                 redirect_ports: dict[str, frozenset[int]] | None = None):
        """`resolve(host, deadline)` gives the host's addresses by the deadline; its own errors (e.g.
        DnsLookupFailed) propagate unchanged. `allow_private` lifts the address guard (tests, and private
        deployments validating internal names). `redirect_ports` ({"http": ports, "https": ports}): redirects may
        go to another host on those schemes and ports; None keeps them on the first URL's scheme, host and port."""
        self.resolve = resolve
        self.allow_private = allow_private
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.max_redirects = max_redirects
        self.redirect_ports = redirect_ports

    def get(self, url: str, deadline: Deadline | None = None) -> bytes:
        """The body of a 2xx answer to GET `url`, else FetchFailed; all of it, the address lookup included, by
        `deadline` (and within the fetcher's own timeout).

        HTTPS does not verify the server's certificate: BR 3.2.2.4.18 lets the file be served with any certificate,
        trusted or not, because control is proven by the content. SNI is still the host name."""
        deadline = Deadline(self.timeout).earliest(deadline)
        origin = _Url.parse(url)
        addresses = {origin.host: self.checked_addresses(origin.host, deadline)}    # one lookup per host
        current = origin
        for _ in range(self.max_redirects + 1):
            status, location, body = self._exchange(current, addresses[current.host], deadline)
            if 200 <= status < 300:
                return body
            if status not in REDIRECT_STATUSES or not location:
                raise FetchFailed("http_status", f"{current.text} answered HTTP {status}")
            target = _Url.parse(urljoin(current.text, location))
            if self.redirect_ports is None and target.origin != origin.origin:
                raise FetchFailed("http_redirect_refused", f"{current.text} redirected to {target.text}, which is "
                                                           f"not the same scheme, host and port")
            if self.redirect_ports is not None and target.port not in self.redirect_ports.get(target.scheme, ()):
                allowed = "; ".join(f"{scheme} on {', '.join(str(p) for p in sorted(ports))}"
                                    for scheme, ports in sorted(self.redirect_ports.items()))
                raise FetchFailed("http_redirect_refused", f"{current.text} redirected to {target.text}; redirects "
                                                           f"may go only to {allowed}")
            if target.host not in addresses:
                addresses[target.host] = self.checked_addresses(target.host, deadline)
            current = target
        raise FetchFailed("http_too_many_redirects", f"{url} redirected more than {self.max_redirects} times")

    def checked_addresses(self, host: str, deadline: Deadline) -> list[str]:
        """The addresses of `host` (an IP literal: itself) that may be connected to, or FetchFailed
        (http_no_address, http_address_refused)."""
        try:
            addresses = [str(ipaddress.ip_address(host))]
        except ValueError:
            addresses = list(self.resolve(host, deadline))
        if not addresses:
            raise FetchFailed("http_no_address", f"{host} has no A or AAAA address")
        if self.allow_private:
            return addresses
        allowed = [a for a in addresses if forbidden_kind(a) is None]
        if not allowed:
            refused = ", ".join(f"{a} ({forbidden_kind(a)})" for a in addresses)
            raise FetchFailed("http_address_refused", f"{host} resolves only to addresses that are not fetched "
                                                      f"from: {refused}")
        return allowed

    def _exchange(self, url: _Url, addresses: list[str], deadline: Deadline) -> tuple[int, str | None, bytes]:
        """One request and its answer: (status, Location header, body — read for 2xx only)."""
        try:
            sock = _connect(url, addresses, deadline)
            try:
                if url.scheme == "https":
                    sock = _start_tls(sock, url.host, deadline)
                conn = http.client.HTTPConnection(url.host, url.port)
                conn.sock = _DeadlineSocket(sock, deadline)      # pinned: http.client never looks the host up
                conn.request("GET", url.target, headers={"Host": url.host_header, "User-Agent": "Certplane-DCV",
                                                         "Accept": "*/*", "Connection": "close"})
                response = conn.getresponse()
                body = self._read_body(url, response) if 200 <= response.status < 300 else b""
                return response.status, response.getheader("Location"), body
            finally:
                sock.close()
        except TimeoutError:
            raise FetchFailed("http_timeout", f"{url.text} did not answer within {deadline.seconds:g} s") from None
        except ssl.SSLError as exc:
            raise FetchFailed("http_tls_failed", f"TLS with {url.host} port {url.port} failed: {exc}") from None
        except http.client.HTTPException as exc:
            raise FetchFailed("http_bad_response", f"{url.text} sent no valid HTTP answer: "
                                                   f"{type(exc).__name__} {exc}") from None
        except OSError as exc:
            raise FetchFailed("http_connect_failed", f"the connection for {url.text} failed: {exc}") from None

    def _read_body(self, url: _Url, response: http.client.HTTPResponse) -> bytes:
        body = b""
        while len(body) <= self.max_bytes:                       # read max_bytes + 1 at most, never more
            chunk = response.read(self.max_bytes + 1 - len(body))
            if not chunk:
                return body
            body += chunk
        raise FetchFailed("http_too_large", f"{url.text} answered with more than {self.max_bytes} bytes")


@dataclass(frozen=True)
class _Url:
    text: str
    scheme: str
    host: str        # lower case; an IPv6 literal without brackets
    port: int
    target: str      # path and query, as sent in the request line

    @classmethod
    def parse(cls, text: str) -> _Url:
        try:
            parts = urlsplit(text)
            port = parts.port
        except ValueError as exc:
            raise FetchFailed("http_bad_url", f"{text!r} is not a valid URL: {exc}") from None
        if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
            raise FetchFailed("http_bad_url", f"{text!r} is not an http or https URL with a host")
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return cls(text, parts.scheme, parts.hostname, port or DEFAULT_PORTS[parts.scheme], target)

    @property
    def origin(self) -> tuple[str, str, int]:
        return self.scheme, self.host, self.port

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"


def _connect(url: _Url, addresses: list[str], deadline: Deadline) -> socket.socket:
    """A TCP connection to the first of `addresses` (all checked already) that accepts one."""
    failures = []
    for address in addresses:
        sock = socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.settimeout(deadline.left())
            sock.connect((address, url.port))
            return sock
        except TimeoutError:
            sock.close()
            raise
        except OSError as exc:
            sock.close()
            failures.append(f"{address} ({exc.strerror or exc})")
    raise FetchFailed("http_connect_failed", f"could not connect to {url.host} port {url.port} at "
                                             f"{', '.join(failures)}")


def _start_tls(sock: socket.socket, host: str, deadline: Deadline) -> ssl.SSLSocket:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE                          # see HttpFetcher.get
    sock.settimeout(deadline.left())
    return context.wrap_socket(sock, server_hostname=host)       # no SNI is sent for an IP literal


class _DeadlineSocket:
    """The part of a socket http.client uses (sendall, makefile, close), each read and write given only the time
    left before the deadline — so a server sending one byte at a time cannot stretch the fetch."""

    def __init__(self, sock: socket.socket, deadline: Deadline):
        self._sock = sock
        self._deadline = deadline

    def sendall(self, data: bytes) -> None:
        self._sock.settimeout(self._deadline.left())
        self._sock.sendall(data)

    def makefile(self, mode: str) -> io.BufferedReader:
        return io.BufferedReader(_DeadlineReader(self._sock, self._deadline))

    def close(self) -> None:
        pass    # http.client closes as soon as it has the headers of a `Connection: close` answer; the fetch
                # closes the real socket once the body is read


class _DeadlineReader(io.RawIOBase):
    def __init__(self, sock: socket.socket, deadline: Deadline):
        self._sock = sock
        self._deadline = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        self._sock.settimeout(self._deadline.left())
        return self._sock.recv_into(buffer)
