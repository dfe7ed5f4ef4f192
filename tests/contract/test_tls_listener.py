"""The TLS listener (services/runtime/listener.py TlsCertificates, accept_loop(tls=...); the gateway's tls_port):
HTTPS with a certificate from a test CA, a clear answer to plain HTTP on the TLS port, a rotated certificate served
without a restart, a client that connects and says nothing stalls no one, and the connection caps apply.

The listener tests run it in this process with a tiny WSGI app (fast, and they can see the environ); the last ones
start `certplane run` with CERTPLANE_TLS_PORT as an operator would.

HTTPS clients run in a child process (`client_get`): in this process eventlet has patched `ssl` after a pytest
plugin imported urllib3, and urllib3's TLS 1.2 floor then recurses inside eventlet's SSLContext."""
from __future__ import annotations

import json
import socket
import ssl
import subprocess
import sys
import time

import eventlet
import pytest
from cryptography import x509

from services.runtime import listener
from tests.e2e.conftest import Embedded
from tests.support import free_port
from tests.tls_files import TlsFiles

LIMITS = listener.Limits(header_timeout=1.5, body_timeout=2, max_body_bytes=4096, max_connections=8,
                         max_connections_per_client=4)


_CLIENT = """
import json, sys, requests
url, verify, body = sys.argv[1], sys.argv[2], int(sys.argv[3])
try:
    r = requests.request("POST" if body else "GET", url, verify=verify if verify != "-" else True, timeout=10,
                         data=b"x" * body or None)
    print(json.dumps({"status": r.status_code, "text": r.text, "headers": dict(r.headers)}))
except requests.exceptions.SSLError as exc:
    print(json.dumps({"error": "ssl", "detail": str(exc)}))
except requests.exceptions.ConnectionError as exc:
    print(json.dumps({"error": "connection", "detail": str(exc)}))
"""


def client_get(url: str, ca_file=None, post_bytes: int = 0) -> dict:
    """requests.get(url, verify=ca_file) in a child process (a POST of that many bytes with `post_bytes`):
    {status, text, headers} or {error: ssl|connection}."""
    done = subprocess.run([sys.executable, "-c", _CLIENT, url, str(ca_file) if ca_file else "-", str(post_bytes)],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def ok(url: str, ca_file) -> bool:
    return client_get(url, ca_file).get("status") == 200


def echo_scheme(environ, start_response):
    body = f"{environ['wsgi.url_scheme']} {environ.get('HTTPS', '-')}".encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


class Listening:
    """accept_loop on 127.0.0.1:<port> with TLS, in this process (green threads)."""

    def __init__(self, files: TlsFiles, recheck_seconds: float = 0.2, limits: listener.Limits = LIMITS):
        self.tls = listener.TlsCertificates(str(files.cert_file), str(files.key_file), recheck_seconds)
        self.sock = eventlet.listen(("127.0.0.1", 0), reuse_port=False)
        self.port = self.sock.getsockname()[1]
        self.gate = listener.ConnectionGate(limits)
        server = listener.make_server(self.sock, echo_scheme, limits, environ=listener.TLS_ENVIRON)
        self.accepting = True
        self.thread = eventlet.spawn(listener.accept_loop, self.sock, server, self.gate, eventlet.spawn,
                                     lambda: self.accepting, tls=self.tls)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def stop(self):
        self.accepting = False
        self.thread.kill()
        self.sock.close()


@pytest.fixture
def files(tmp_path) -> TlsFiles:
    return TlsFiles.make(tmp_path / "tls")


@pytest.fixture
def served(files):
    listening = Listening(files)
    yield listening
    listening.stop()


def served_serial(port: int, ca_file) -> str:
    context = ssl.create_default_context(cafile=str(ca_file))
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
            context.wrap_socket(raw, server_hostname="localhost") as tls:
        return format(x509.load_der_x509_certificate(tls.getpeercert(binary_form=True)).serial_number, "x")


def test_https_with_the_test_ca_says_its_scheme_is_https(served, files):
    answer = client_get(f"{served.url}/healthz", files.ca_file)
    assert answer["status"] == 200 and answer["text"] == "https on", answer
    assert ok(f"https://localhost:{served.port}/", files.ca_file)
    assert client_get(served.url)["error"] == "ssl"     # a client that does not trust the test CA refuses


def test_tls_below_1_2_is_refused(served, files):
    context = ssl.create_default_context(cafile=str(files.ca_file))
    context.minimum_version = context.maximum_version = ssl.TLSVersion.TLSv1_1
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    with socket.create_connection(("127.0.0.1", served.port), timeout=5) as raw:
        with pytest.raises(ssl.SSLError):
            context.wrap_socket(raw, server_hostname="localhost")
    assert ok(served.url, files.ca_file)   # and the listener goes on


def test_plain_http_to_the_tls_port_is_told_to_use_https(served, files):
    with socket.create_connection(("127.0.0.1", served.port), timeout=5) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 400 ") and b"https://" in answer
    assert client_get(f"http://127.0.0.1:{served.port}/healthz")["status"] == 400
    assert ok(served.url, files.ca_file)


def test_a_rotated_certificate_is_served_without_a_restart(served, files):
    assert served_serial(served.port, files.ca_file) == files.serial
    new_serial = files.write_server_certificate()
    deadline = time.monotonic() + 5
    while served_serial(served.port, files.ca_file) != new_serial:
        assert time.monotonic() < deadline, "the rotated certificate was not served within 5 s"
        time.sleep(0.1)


def test_a_broken_rotation_keeps_the_previous_certificate(served, files):
    good = files.cert_file.read_bytes()
    files.cert_file.write_bytes(b"-----BEGIN CERTIFICATE-----\nnot one\n-----END CERTIFICATE-----\n")
    time.sleep(0.5)
    assert served_serial(served.port, files.ca_file) == files.serial   # the old pair, still served
    files.cert_file.write_bytes(good)


def test_a_silent_client_stalls_no_one_and_is_dropped_at_the_header_deadline(served, files):
    silent = [socket.create_connection(("127.0.0.1", served.port), timeout=10) for _ in range(3)]
    started = time.monotonic()
    assert ok(served.url, files.ca_file)
    assert time.monotonic() - started < 1.2        # served while three connections wait in their handshakes
    for sock in silent:
        assert sock.recv(1) == b""                 # closed by the server ...
    assert time.monotonic() - started < LIMITS.header_timeout + 1.5   # ... at the header deadline
    for sock in silent:
        sock.close()


def test_the_connection_caps_apply_to_the_tls_listener(served, files):
    held = [socket.create_connection(("127.0.0.1", served.port), timeout=5) for _ in range(LIMITS.max_connections_per_client)]
    eventlet.sleep(0.2)
    # a fifth from 127.0.0.1 is closed unread: requests calls that a connection or an SSL error (EOF in handshake)
    assert client_get(served.url, files.ca_file).get("error") in ("connection", "ssl")
    assert served.gate.refused["max_connections_per_client"] >= 1
    for sock in held:
        sock.close()
    eventlet.sleep(0.3)
    assert ok(served.url, files.ca_file)


def test_unusable_files_are_an_error_naming_the_setting(files, tmp_path):
    with pytest.raises(listener.TlsSettingsError, match="tls_cert_file"):
        listener.TlsCertificates(str(tmp_path / "missing.pem"), str(files.key_file))
    with pytest.raises(listener.TlsSettingsError, match="tls_key_file"):
        listener.TlsCertificates(str(files.cert_file), str(tmp_path / "missing.pem"))
    other = TlsFiles.make(tmp_path / "other")
    with pytest.raises(listener.TlsSettingsError, match="matching private key"):
        listener.TlsCertificates(str(files.cert_file), str(other.key_file))


# ---- certplane run with CERTPLANE_TLS_PORT ---------------------------------------------------------------------

def test_certplane_serves_https_on_its_tls_port(tmp_path):
    files = TlsFiles.make(tmp_path / "tls")
    tls_port = free_port()
    server = Embedded(tmp_path / "var", tmp_path, CERTPLANE_TLS_PORT=str(tls_port),
                      CERTPLANE_TLS_CERT_FILE=str(files.cert_file), CERTPLANE_TLS_KEY_FILE=str(files.key_file))
    server.process.start().wait_ready(f"{server.api.base_url}/readyz")
    try:
        answer = client_get(f"https://localhost:{tls_port}/healthz", files.ca_file)
        assert answer["status"] == 200, answer
        assert "X-Correlation-Id" in answer["headers"]               # the gateway's own app, as on the plain port
        assert client_get(f"https://127.0.0.1:{tls_port}/api/v1/organizations", files.ca_file)["status"] == 401
        too_big = client_get(f"https://127.0.0.1:{tls_port}/api/v1/auth/login", files.ca_file, post_bytes=70000)
        assert too_big["status"] == 413, too_big                  # the body limit, answered over TLS too
        assert f"https://127.0.0.1:{tls_port}/" in server.process.output()   # the banner names it
    finally:
        server.stop()


def test_certplane_does_not_start_with_an_unreadable_certificate(tmp_path):
    files = TlsFiles.make(tmp_path / "tls")
    server = Embedded(tmp_path / "var", tmp_path, CERTPLANE_TLS_PORT=str(free_port()),
                      CERTPLANE_TLS_CERT_FILE=str(tmp_path / "nowhere.pem"), CERTPLANE_TLS_KEY_FILE=str(files.key_file))
    server.process.start()
    try:
        server.process.proc.wait(60)
    finally:
        server.stop()
    assert server.process.proc.returncode != 0
    assert "tls_cert_file" in server.process.output() and "nowhere.pem" in server.process.output()
    assert "Traceback" not in server.process.output()           # one line naming the setting, no stack
