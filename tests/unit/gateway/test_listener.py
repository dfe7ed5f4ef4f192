"""The listener's body framing and connection caps (services/runtime/listener.py), without a socket."""
import io

import pytest
from eventlet import wsgi

from services.runtime.listener import BodyRefused, ConnectionGate, Limits, buffer_body

LIMIT = 64
LIMITS = Limits(header_timeout=1, body_timeout=1, max_body_bytes=LIMIT, max_connections=3,
                max_connections_per_client=2)


def environ_for(raw: bytes, chunked: bool = True, length: str | None = None) -> dict:
    source = wsgi.Input(io.BufferedReader(io.BytesIO(raw)), length, None, chunked_input=chunked)
    env = {"eventlet.input": source, "wsgi.input": source}
    if chunked:
        env["HTTP_TRANSFER_ENCODING"] = "chunked"
    if length is not None:
        env["CONTENT_LENGTH"] = length
    return env


def test_a_chunked_body_becomes_a_plain_body_with_its_length():
    env = environ_for(b"3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nTrailer: x\r\n\r\nGET / HTTP/1.1\r\n")
    buffer_body(env, LIMIT, 1)
    assert env["wsgi.input"].read() == b"abcde" and env["CONTENT_LENGTH"] == "5"
    assert "HTTP_TRANSFER_ENCODING" not in env
    assert env["eventlet.input"].rfile.read() == b"GET / HTTP/1.1\r\n"   # the next request is left alone


@pytest.mark.parametrize("raw", [b"zz\r\n", b" 3\r\nabc\r\n0\r\n\r\n", b"+3\r\nabc\r\n0\r\n\r\n",
                                 b"0x3\r\nabc\r\n0\r\n\r\n", b"3\nabc\r\n0\r\n\r\n", b"3\r\nabcX\r\n0\r\n\r\n",
                                 b"1" * 2000 + b"\r\n"])
def test_malformed_chunked_framing_is_400(raw):
    with pytest.raises(BodyRefused) as refused:
        buffer_body(environ_for(raw), LIMIT, 1)
    assert (refused.value.status, refused.value.code) == (400, "malformed_chunked_body")


def test_a_declared_chunk_over_the_limit_is_413_before_its_bytes():
    with pytest.raises(BodyRefused) as refused:
        buffer_body(environ_for(b"ffffffffffffffffff\r\nab"), LIMIT, 1)
    assert refused.value.status == 413
    with pytest.raises(BodyRefused) as refused:
        buffer_body(environ_for(b"20\r\n" + b"a" * 32 + b"\r\n21\r\n"), LIMIT, 1)   # 32 + 33 > 64
    assert refused.value.status == 413


def test_content_length_over_the_limit_is_413_and_a_short_body_400():
    with pytest.raises(BodyRefused) as refused:
        buffer_body(environ_for(b"", chunked=False, length=str(LIMIT + 1)), LIMIT, 1)
    assert refused.value.status == 413
    with pytest.raises(BodyRefused) as refused:
        buffer_body(environ_for(b"abc", chunked=False, length="10"), LIMIT, 1)
    assert (refused.value.status, refused.value.code) == (400, "incomplete_body")


def test_connections_are_capped_per_address_and_in_total():
    gate = ConnectionGate(LIMITS)
    assert gate.admit("a") and gate.admit("a") and not gate.admit("a")
    assert gate.admit("b") and not gate.admit("c")          # total 3
    gate.release("a")
    assert gate.admit("c") and not gate.admit("d")
    for host in ("a", "b", "c"):
        gate.release(host)
    assert gate.total == 0 and not gate.per_client
