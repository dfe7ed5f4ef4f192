"""Slow and idle clients against one embedded Certplane, over raw sockets (issue 11): a client that trickles its
body holds no worker, slow headers and bodies are cut off at their deadlines, malformed chunked framing is a 400
that closes the connection, and one address holds no more than its share of connections. Nothing changes."""
import json
import socket
import threading
import time

import pytest

from tests.e2e.conftest import Embedded

HEADER_TIMEOUT = 2        # short for the test; the defaults are 10 s and 30 s
BODY_TIMEOUT = 3
PER_CLIENT = 40


@pytest.fixture(scope="module")
def cp(tmp_path_factory):
    server = Embedded(tmp_path_factory.mktemp("var"), tmp_path_factory.mktemp("logs"),
                      CERTPLANE_HTTP_HEADER_TIMEOUT=str(HEADER_TIMEOUT), CERTPLANE_HTTP_BODY_TIMEOUT=str(BODY_TIMEOUT),
                      CERTPLANE_HTTP_MAX_CONNECTIONS_PER_CLIENT=str(PER_CLIENT)).start()
    yield server
    server.stop()


def connect(cp, source: str = "127.0.0.1") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", cp.port), timeout=30, source_address=(source, 0))
    return sock


def read_all(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (a test timeout if it never does)."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def status_and_error(answer: bytes) -> tuple[int, dict]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(body)["error"]


def login_head(length: int = 1000) -> bytes:
    return (f"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {length}\r\n\r\n").encode()


def chunked_head(path: str = "/api/v1/organizations") -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\n\r\n").encode()


def test_trickling_bodies_hold_no_worker(cp):
    before = cp.api.count_orgs()
    stop = threading.Event()
    socks = [connect(cp, "127.0.0.2") for _ in range(20)]
    for sock in socks:
        sock.sendall(login_head())

    def trickle():
        while not stop.is_set():
            for sock in socks:
                try:
                    sock.send(b" ")
                except OSError:
                    pass
            time.sleep(0.5)
    trickler = threading.Thread(target=trickle, daemon=True)
    trickler.start()
    try:
        time.sleep(1)
        for _ in range(3):
            assert cp.api("GET", "/healthz", timeout=5).status_code == 200
            assert cp.api("GET", "/api/v1/organizations", timeout=5).status_code == 200
    finally:
        stop.set()
        trickler.join()
    # and each trickler got its 408 in the error format at the body deadline, the connection closed
    status, error = status_and_error(read_all(socks[0]))
    assert status == 408 and error["code"] == "request_timeout" and error["correlation_id"]
    for sock in socks:
        sock.close()
    assert cp.api.count_orgs() == before


def test_slow_headers_are_cut_off(cp):
    sock = connect(cp)
    sock.sendall(b"GET /healthz HTTP/1.1\r\n")
    answer = b""
    try:
        for _ in range(HEADER_TIMEOUT * 4):   # a header line every 0.5 s: a per-recv timeout would never fire
            sock.sendall(b"X-Slow: 1\r\n")
            time.sleep(0.5)
        answer = read_all(sock)
    except OSError:
        pass   # reset under us: closed, as wanted
    assert answer == b""                         # closed without an answer
    sock.close()


def test_a_body_that_never_arrives_is_408(cp):
    sock = connect(cp)
    sock.sendall(login_head(10) + b'{"us')
    status, error = status_and_error(read_all(sock))
    assert status == 408 and error["code"] == "request_timeout"
    assert set(error) == {"code", "message", "details", "correlation_id"}
    sock.close()


@pytest.mark.parametrize("framing, status, code", [
    (b"zz\r\n{}\r\n0\r\n\r\n", 400, "malformed_chunked_body"),
    (b"2\r\n{}0\r\n\r\n", 400, "malformed_chunked_body"),          # no CRLF after the chunk
    (b" 2\r\n{}\r\n0\r\n\r\n", 400, "malformed_chunked_body"),      # int() would take the space
    (b"ffffffffffffffffff\r\n{}", 413, "request_entity_too_large"),  # declared over the limit: not waited for
])
def test_malformed_chunked_framing_is_refused_and_closed(cp, framing, status, code):
    before = cp.api.count_orgs()
    sock = connect(cp)
    sock.sendall(chunked_head() + framing)
    answer = read_all(sock)                      # returns: the server closed the connection
    got, error = status_and_error(answer)
    assert (got, error["code"]) == (status, code)
    assert b"connection: close" in answer.lower()
    sock.close()
    assert cp.api.count_orgs() == before


def test_a_well_formed_chunked_body_still_works(cp):
    body = json.dumps({"username": "nobody", "password": "wrong"}).encode()
    sock = connect(cp)
    sock.sendall(chunked_head("/api/v1/auth/login") + b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))
    head = sock.recv(65536)
    assert head.split(b" ", 2)[1] == b"401"
    sock.close()


def test_connections_over_the_per_address_cap_are_refused(cp):
    held = [connect(cp, "127.0.0.3") for _ in range(PER_CLIENT)]
    time.sleep(0.5)
    over = connect(cp, "127.0.0.3")
    over.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    try:
        refused = read_all(over) == b""
    except ConnectionResetError:
        refused = True
    assert refused
    other = connect(cp, "127.0.0.4")                # another address is not affected
    other.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert read_all(other).split(b" ", 2)[1] == b"200"
    for sock in held + [over, other]:
        sock.close()
    assert cp.api("GET", "/healthz").status_code == 200
