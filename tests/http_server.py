"""A real HTTP(S) server for tests, on 127.0.0.1 and an ephemeral port.

The root conftest has monkey-patched the standard library with eventlet, yet this server must keep answering while
the test blocks (for instance waiting on a `certplane` process that fetches from it). So it runs on real OS threads
and real sockets from `eventlet.patcher.original`; http.server's handler only parses and writes through them. TLS
goes through `ssl.MemoryBIO`, because even `patcher.original("ssl")` builds its sockets on the green socket class.
"""
from __future__ import annotations

import datetime
import http.server
import io
import ipaddress
import tempfile
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from eventlet import patcher

socket = patcher.original("socket")
ssl = patcher.original("ssl")
threading = patcher.original("threading")
time = patcher.original("time")


class HttpServer:
    def __init__(self, tls: bool = False):
        """`tls`: serve HTTPS with a self-signed certificate (for localhost and 127.0.0.1) made at start."""
        self.tls = tls
        self.port = 0
        self.requests: list[tuple[str, str, str]] = []      # (method, path, Host header) as received
        self._routes: dict[str, tuple[int, dict, bytes]] = {}
        self._delays: dict[str, float] = {}
        self._context = None
        self._listener = None
        self._stopping = threading.Event()
        self._thread = None

    def serve(self, path: str, body: bytes | str, status: int = 200, headers: dict | None = None) -> None:
        """Answer GET of exactly `path` (the request target, query included). Unknown paths answer 404."""
        self._routes[path] = (status, dict(headers or {}), body.encode() if isinstance(body, str) else body)

    def redirect(self, path: str, location: str, status: int = 302) -> None:
        self.serve(path, b"", status, {"Location": location})

    def slow(self, path: str, seconds: float) -> None:
        """Wait `seconds` after reading a request for `path`, before answering."""
        self._delays[path] = seconds

    def start(self) -> HttpServer:
        if self.tls:
            self._context = _self_signed_context()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self._listener.settimeout(0.1)                       # so the accept loop sees stop() soon
        self.port = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._accept_loop, name=f"http-server-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(5)
        if self._listener is not None:
            self._listener.close()

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, address = self._listener.accept()
            except TimeoutError:
                continue
            threading.Thread(target=self._handle, args=(conn, address), daemon=True).start()

    def _handle(self, conn, address) -> None:
        try:
            conn.settimeout(10)
            _Handler(_TlsConnection(conn, self._context) if self._context else conn, address, self)
        except OSError:                                      # ssl.SSLError too
            pass                                             # a client that gave up (a timeout test) or bad TLS
        finally:
            conn.close()

    def _answer(self, handler: _Handler) -> None:
        self.requests.append((handler.command, handler.path, handler.headers.get("Host", "")))
        time.sleep(self._delays.get(handler.path, 0))
        status, headers, body = self._routes.get(handler.path, (404, {}, b"not found\n"))
        handler.send_response(status)
        for name, value in {"Content-Length": str(len(body)), **headers}.items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(body)


class _Handler(http.server.BaseHTTPRequestHandler):
    server: HttpServer

    def do_GET(self) -> None:
        self.server._answer(self)

    def log_message(self, format, *args) -> None:
        pass


class _TlsConnection:
    """Server-side TLS over a real socket: what the handler uses of a socket (makefile, sendall)."""

    def __init__(self, sock, context):
        self._sock = sock
        self._incoming, self._outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self._tls = context.wrap_bio(self._incoming, self._outgoing, server_side=True)
        self._run(self._tls.do_handshake)

    def _run(self, operation, *args):
        """Call `operation`, moving TLS records between the socket and the memory buffers until it completes."""
        while True:
            try:
                result = operation(*args)
                self._flush()
                return result
            except ssl.SSLWantReadError:
                self._flush()
                data = self._sock.recv(65536)
                if data:
                    self._incoming.write(data)
                else:
                    self._incoming.write_eof()

    def _flush(self) -> None:
        data = self._outgoing.read()
        if data:
            self._sock.sendall(data)

    def recv_into(self, buffer) -> int:
        try:
            data = self._run(self._tls.read, len(buffer))
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
            return 0
        buffer[:len(data)] = data
        return len(data)

    def sendall(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[self._run(self._tls.write, view):]

    def makefile(self, mode: str, buffering: int = -1) -> io.BufferedReader:
        return io.BufferedReader(_Reader(self))


class _Reader(io.RawIOBase):
    def __init__(self, connection: _TlsConnection):
        self._connection = connection

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        return self._connection.recv_into(buffer)


def _self_signed_context():
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                    x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .sign(key, hashes.SHA256())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory() as tmp:                 # load_cert_chain reads files only
        cert_file, key_file = Path(tmp, "cert.pem"), Path(tmp, "key.pem")
        cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        context.load_cert_chain(cert_file, key_file)
    return context
