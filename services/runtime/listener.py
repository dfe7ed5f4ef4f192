"""Every HTTP listener Certplane opens (the gateway's API port, the health port): what a client may cost it.

- the request line and headers arrive within `header_timeout` seconds, counted from when the server starts waiting
  for them (the accept, or the end of the previous response on a kept-alive connection) — a total deadline, not a
  per-recv timeout, so a byte every second (slowloris) does not extend it; past it the connection is closed;
- the whole body arrives within `body_timeout` (408) and within `max_body_bytes` (413), read into memory before
  the application sees it, so a slow body holds a cheap connection greenthread, never a nameko worker; chunked
  framing is parsed strictly (400 `malformed_chunked_body`); after any of these answers the connection is closed;
- one client address holds at most `max_connections_per_client` connections, the listener `max_connections`;
  a connection over either cap is closed at once, before anything is read from it.

A TLS listener (the gateway's `tls_port`) is the same listener with a TLS handshake first, done in the
connection's own greenthread under the header deadline — never in the accept loop, so a client that connects and
says nothing holds one greenthread, not the accepting. Its certificate and key (`TlsCertificates`) are re-read when
either file changes (looked at, at accept time, at most every TLS_RECHECK_SECONDS): a rotated certificate is served
without a restart; a rotation caught half-way (the new certificate, the old key) keeps the old pair until both fit.

The EST listener (`est_port`) is the same again with a `ServiceTls`: its certificate is Certplane's own (the gateway
asks its CA for one and installs it, gateway/api_est.py), it asks for a client certificate but does not require one
(CERT_OPTIONAL), verified against Certplane's CA certificates; the verified client certificate's DER is in the
WSGI environ under CLIENT_CERT_DER. Until a certificate is installed, its connections are closed at once.
"""
from __future__ import annotations

import errno
import io
import os
import re
import socket
import ssl
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from functools import partial

import eventlet
import structlog
from eventlet import wsgi
from eventlet.green import ssl as green_ssl

log = structlog.get_logger(__name__)

CLOSE_CONNECTION = "certplane.close_connection"   # environ key: call it to close the connection after the answer
CLIENT_CERT_DER = "certplane.client_cert_der"      # environ key: the TLS client certificate (DER), when one was sent
MAX_CHUNK_LINE = 1024                              # a chunk-size line with its extensions
MAX_TRAILER_LINES = 32
LINGER_SECONDS = 2.0                               # reading what the client still sends after a refusal
_CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]+)(;[^\r\n]*)?\r\n")
_ACCEPT_RETRY = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)
TLS_RECHECK_SECONDS = 2.0                          # how often, at most, the TLS files' stamps are looked at
TLS_ENVIRON = {"wsgi.url_scheme": "https", "HTTPS": "on"}
_TLS_RECORD_HANDSHAKE = 0x16                       # the first byte a TLS client sends
PLAIN_HTTP_ON_TLS_PORT = (b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n"
                          b"Content-Length: 45\r\n\r\nThis port speaks HTTPS: use https:// for it.\n")


@dataclass(frozen=True)
class Limits:
    header_timeout: float
    body_timeout: float
    max_body_bytes: int
    max_connections: int
    max_connections_per_client: int

    @classmethod
    def of(cls, settings) -> "Limits":
        return cls(settings.http_header_timeout, settings.http_body_timeout, settings.max_body_bytes,
                   settings.http_max_connections, settings.http_max_connections_per_client)


class HeaderTimeout(socket.timeout):
    """Raised into the connection's greenthread at the header deadline; eventlet.wsgi closes on socket.timeout."""


class BodyRefused(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class GuardedProtocol(wsgi.HttpProtocol):
    _deadline = None
    _linger = False

    def handle_one_request(self):
        self._deadline = eventlet.Timeout(self.server.limits.header_timeout, HeaderTimeout("header deadline"))
        try:
            super().handle_one_request()
        finally:
            self._deadline.cancel()

    def parse_request(self):
        try:
            return super().parse_request()
        finally:
            self._deadline.cancel()   # the headers are in: the application's time is not the client's

    def get_environ(self):
        environ = super().get_environ()
        environ[CLOSE_CONNECTION] = self._close_after_response
        getpeercert = getattr(self.connection, "getpeercert", None)
        if getpeercert is not None:
            try:
                der = getpeercert(binary_form=True)
            except (ValueError, OSError):
                der = None
            if der:
                environ[CLIENT_CERT_DER] = der
        return environ

    def _close_after_response(self):
        self.close_connection = 1   # eventlet then sends Connection: close and reads nothing more
        self._linger = True

    def finish(self):
        if self._linger:
            # Closing with unread input makes the kernel answer RST, which can destroy our answer before the
            # client reads it: stop writing, read what still comes for a moment, then close.
            try:
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_WR)
                with eventlet.Timeout(LINGER_SECONDS, False):
                    drained = 0
                    while drained < 4 * self.server.limits.max_body_bytes:
                        data = self.connection.recv(65536)
                        if not data:
                            break
                        drained += len(data)
            except OSError:
                pass
        super().finish()


def make_server(sock, app, limits: Limits, **kwargs) -> wsgi.Server:
    # socket_timeout bounds each write too: a client that stops reading its answer is dropped after that long
    server = wsgi.Server(sock, sock.getsockname(), app, protocol=GuardedProtocol, log_output=False,
                         socket_timeout=max(limits.header_timeout, limits.body_timeout), **kwargs)
    server.limits = limits
    return server


class ConnectionGate:
    """Open connections per client address and in total (one hub thread: no lock needed, nothing yields)."""

    def __init__(self, limits: Limits):
        self.limits = limits
        self.per_client: Counter = Counter()
        self.total = 0
        self.refused: Counter = Counter()

    def admit(self, host: str) -> bool:
        if self.total >= self.limits.max_connections:
            return self._refuse(host, "max_connections")
        if self.per_client[host] >= self.limits.max_connections_per_client:
            return self._refuse(host, "max_connections_per_client")
        self.per_client[host] += 1
        self.total += 1
        return True

    def release(self, host: str) -> None:
        self.total -= 1
        self.per_client[host] -= 1
        if self.per_client[host] <= 0:
            del self.per_client[host]

    def _refuse(self, host: str, reason: str) -> bool:
        self.refused[reason] += 1
        count = self.refused[reason]
        if count & (count - 1) == 0:   # 1, 2, 4, 8 ...: a flood is visible without flooding the log
            log.warning("http_connection_refused", reason=reason, client=host, refused_so_far=count)
        return False


def accept_loop(sock, server: wsgi.Server, gate: ConnectionGate, spawn, accepting=lambda: True,
                tls: "TlsCertificates | ServiceTls | None" = None) -> None:
    """Accept connections for `server` until `accepting()` is false; `spawn(fn)` runs each connection. With `tls`,
    each connection is TLS (its handshake in its own greenthread, under the header deadline)."""
    while accepting():
        try:
            conn, address = sock.accept()
        except OSError as exc:
            if exc.errno in _ACCEPT_RETRY:   # out of descriptors: wait for some to close instead of dying
                log.error("http_accept_failed", error=str(exc))
                eventlet.sleep(0.1)
                continue
            raise
        host = address[0] if isinstance(address, tuple) else str(address)
        if not gate.admit(host):
            conn.close()
            continue
        conn.settimeout(server.socket_timeout)
        if conn.family in (socket.AF_INET, socket.AF_INET6):
            # answers leave at once: without it, the second small write of a response on a kept-alive connection
            # waits for the client's delayed ACK (Nagle), ~40 ms a request, which a browser's page of many
            # requests pays on every one (measured by bench-console)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        context = tls.context() if tls is not None else None
        if tls is not None and context is None:   # a ServiceTls without its certificate yet
            gate.release(host)
            conn.close()
            continue
        spawn(partial(_serve, server, gate, conn, address, host, context))


def _serve(server, gate, conn, address, host, context=None) -> None:
    try:
        if context is not None:
            tls = _tls_handshake(conn, context, server.limits.header_timeout, server.socket_timeout)
            if tls is None:
                return
            conn = tls
        server.process_request([address, conn, wsgi.STATE_IDLE])
    except OSError:
        pass   # resets, timeouts, eventlet's "raw readinto() returned invalid length": the client is gone
    except (Exception, eventlet.Timeout):  # noqa: BLE001 — one connection's bug must not stop the listener
        log.exception("http_connection_failed", client=host)
    finally:
        gate.release(host)
        conn.close()


# ---- TLS ----------------------------------------------------------------------------------------------------

class TlsSettingsError(Exception):
    """The TLS listener's certificate or key cannot be used (at start: the process does not start)."""


class TlsCertificates:
    """The TLS listener's certificate chain and key (PEM files): an SSLContext (TLS 1.2 at least) made from them,
    made again when either file's (mtime, size, inode) changes. A pair that does not load at start is a
    TlsSettingsError naming the setting; one that does not load later is logged and the previous pair served
    until the files change again."""

    def __init__(self, cert_file: str, key_file: str, recheck_seconds: float = TLS_RECHECK_SECONDS,
                 clock=time.monotonic):
        self.cert_file, self.key_file = cert_file, key_file
        self.recheck_seconds, self._clock = recheck_seconds, clock
        self._stamp = self._stamps()
        self._context = self._load()
        self._failed_stamp = None
        self._checked_at = clock()

    @classmethod
    def of(cls, settings) -> "TlsCertificates":
        missing = [f"{name} (CERTPLANE_{name.upper()})" for name in ("tls_cert_file", "tls_key_file")
                   if not getattr(settings, name)]
        if missing:
            raise TlsSettingsError(f"setting tls_port is {settings.tls_port}, so the TLS listener needs "
                                   f"{' and '.join(missing)}: PEM files of its certificate chain and key")
        return cls(settings.tls_cert_file, settings.tls_key_file)

    def context(self) -> ssl.SSLContext:
        """The context for a connection accepted now (a reload first, when due and the files changed)."""
        now = self._clock()
        if now - self._checked_at < self.recheck_seconds:
            return self._context
        self._checked_at = now
        try:
            stamp = self._stamps()
        except TlsSettingsError as exc:
            stamp = str(exc)
        if stamp in (self._stamp, self._failed_stamp):
            return self._context
        try:
            context = self._load()
        except TlsSettingsError as exc:
            self._failed_stamp = stamp
            log.warning("tls_certificate_reload_failed", error=str(exc), cert_file=self.cert_file)
            return self._context
        self._context, self._stamp, self._failed_stamp = context, stamp, None
        log.info("tls_certificate_reloaded", cert_file=self.cert_file, key_file=self.key_file)
        return context

    def _stamps(self):
        return tuple(_stamp_of(path, setting) for path, setting in
                     ((self.cert_file, "tls_cert_file"), (self.key_file, "tls_key_file")))

    def _load(self) -> ssl.SSLContext:
        for path, setting in ((self.cert_file, "tls_cert_file"), (self.key_file, "tls_key_file")):
            try:
                with open(path, "rb") as readable:
                    readable.read(1)
            except OSError as exc:
                raise TlsSettingsError(f"setting {setting} (CERTPLANE_{setting.upper()}): cannot read {path}: "
                                       f"{exc.strerror or exc}") from None
        context = green_ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.set_alpn_protocols(["http/1.1"])
        try:
            context.load_cert_chain(self.cert_file, self.key_file)
        except (ssl.SSLError, ValueError) as exc:
            raise TlsSettingsError(
                f"settings tls_cert_file and tls_key_file (CERTPLANE_TLS_CERT_FILE={self.cert_file}, "
                f"CERTPLANE_TLS_KEY_FILE={self.key_file}): not a PEM certificate chain and its matching private "
                f"key ({exc})") from None
        return context


class ServiceTls:
    """The TLS of a listener whose certificate Certplane's own CA issues (the EST listener): `install` a key, its
    chain and the CA certificates client certificates are verified against; connections get the newest context.
    Client certificates are asked for, not required (CERT_OPTIONAL): one that does not verify fails the
    handshake. `context()` is None until the first install."""

    def __init__(self):
        self._context: ssl.SSLContext | None = None
        self.not_after = None          # the served certificate's end (a datetime), once installed
        self.renew_at = None           # when the gateway asks for the next one
        self.ca_fingerprints: tuple = ()

    def context(self) -> ssl.SSLContext | None:
        return self._context

    def install(self, key_pem: str, chain_pem: str, ca_pems: list[str], not_after=None, renew_at=None,
                ca_fingerprints: tuple = ()) -> None:
        context = green_ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.set_alpn_protocols(["http/1.1"])
        with tempfile.TemporaryDirectory(prefix="certplane-tls-") as folder:   # load_cert_chain reads files
            cert_path, key_path = os.path.join(folder, "chain.pem"), os.path.join(folder, "key.pem")
            with open(cert_path, "w") as writable:
                writable.write(chain_pem)
            fd = os.open(key_path, os.O_WRONLY | os.O_CREAT, 0o600)
            with os.fdopen(fd, "w") as writable:
                writable.write(key_pem)
            context.load_cert_chain(cert_path, key_path)
        if ca_pems:
            context.load_verify_locations(cadata="\n".join(ca_pems))
            context.verify_mode = ssl.CERT_OPTIONAL
        self._context, self.not_after, self.renew_at = context, not_after, renew_at
        self.ca_fingerprints = tuple(ca_fingerprints)


def _stamp_of(path: str, setting: str) -> tuple:
    try:
        st = os.stat(path)
    except OSError as exc:
        raise TlsSettingsError(f"setting {setting} (CERTPLANE_{setting.upper()}): cannot read {path}: "
                               f"{exc.strerror or exc}") from None
    return st.st_mtime_ns, st.st_size, st.st_ino


def _tls_handshake(conn, context: ssl.SSLContext, deadline: float, socket_timeout):
    """The TLS connection over `conn` once its handshake is done within `deadline` seconds (HeaderTimeout past
    it), or None when the client spoke plain HTTP (it is told so) or failed the handshake."""
    timer = eventlet.Timeout(deadline, HeaderTimeout("tls handshake deadline"))
    try:
        first = conn.recv(1, socket.MSG_PEEK)
        if not first:
            return None
        if first[0] != _TLS_RECORD_HANDSHAKE:
            if first.isalpha():   # "GET ..." to the https port: say so, as nginx does, instead of a silent close
                conn.sendall(PLAIN_HTTP_ON_TLS_PORT)
                conn.shutdown(socket.SHUT_WR)
                conn.recv(65536)   # the rest of the request (what fits): a close with it unread would be a RST
            return None
        tls = context.wrap_socket(conn, server_side=True, do_handshake_on_connect=False)   # takes conn's fd
        try:
            tls.do_handshake()
        except OSError as exc:   # ssl.SSLError is one; so is the deadline's HeaderTimeout, re-raised
            tls.close()
            if isinstance(exc, HeaderTimeout):
                raise
            log.debug("tls_handshake_failed", error=str(exc))
            return None
        except BaseException:
            tls.close()
            raise
        tls.settimeout(socket_timeout)
        return tls
    finally:
        timer.cancel()


# ---- the body ------------------------------------------------------------------------------------------------

def buffer_body(environ: dict, limit: int, timeout: float) -> None:
    """Read the request body into memory under one deadline and give it back as a plain `wsgi.input` with its
    Content-Length (a chunked body de-chunked). Raises BodyRefused (400, 408, 413); the caller answers it and
    calls `close_after_response(environ)`."""
    source = environ.get("eventlet.input")
    if source is None:
        return
    chunked = source.chunked_input
    length = source.content_length or 0
    if not chunked and length == 0:
        return
    if not chunked and length > limit:
        raise BodyRefused(413, "request_entity_too_large", f"the request body is over the limit of {limit} bytes")
    timer = eventlet.Timeout(timeout)
    try:
        body = _read_chunked(source, limit) if chunked else _read_exactly(source, length)
    except eventlet.Timeout as exc:
        if exc is not timer:
            raise
        raise BodyRefused(408, "request_timeout", f"the request body did not arrive within {timeout:g} s") from None
    except OSError:
        raise BodyRefused(400, "incomplete_body", "the connection failed before the body was complete") from None
    finally:
        timer.cancel()
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    environ.pop("HTTP_TRANSFER_ENCODING", None)


def close_after_response(environ: dict) -> None:
    close = environ.get(CLOSE_CONNECTION)
    if close is not None:
        close()


def _read_exactly(source, length: int) -> bytes:
    parts, remaining = [], length
    while remaining:
        data = source.read(min(remaining, 65536))
        if not data:
            raise BodyRefused(400, "incomplete_body", "the connection closed before the body was complete")
        parts.append(data)
        remaining -= len(data)
    return b"".join(parts)


def _malformed(message: str) -> BodyRefused:
    return BodyRefused(400, "malformed_chunked_body", message)


def _line(rfile) -> bytes:
    line = rfile.readline(MAX_CHUNK_LINE + 1)
    if not line:
        raise BodyRefused(400, "incomplete_body", "the connection closed before the body was complete")
    if not line.endswith(b"\r\n"):
        raise _malformed("a chunk-size or trailer line is too long or does not end with CRLF")
    return line


def _read_chunked(source, limit: int) -> bytes:
    """RFC 9112 §7.1, strictly: hex digits only (no sign, space, 0x or _ that int() would take), CRLF after
    every line and every chunk, the declared sizes within the limit before any of their bytes is read."""
    if source.should_send_hundred_continue:
        source.send_hundred_continue_response()
        source.is_hundred_continue_response_sent = True
    rfile = source.rfile
    parts, total = [], 0
    while True:
        match = _CHUNK_SIZE.fullmatch(_line(rfile))
        if match is None:
            raise _malformed("a chunk size must be hexadecimal digits followed by CRLF")
        size = int(match.group(1), 16)
        if size == 0:
            break
        if size > limit - total:
            raise BodyRefused(413, "request_entity_too_large",
                              f"the request body is over the limit of {limit} bytes")
        data = rfile.read(size)
        if len(data) < size:
            raise BodyRefused(400, "incomplete_body", "the connection closed before the body was complete")
        if rfile.read(2) != b"\r\n":
            raise _malformed("a chunk must be followed by CRLF")
        parts.append(data)
        total += size
    for _ in range(MAX_TRAILER_LINES):
        if _line(rfile) == b"\r\n":
            break
    else:
        raise _malformed(f"more than {MAX_TRAILER_LINES} trailer lines")
    source.chunk_length = 0   # eventlet then has nothing left to discard
    return b"".join(parts)
