"""A real SMTP server for tests: aiosmtpd on 127.0.0.1 and a free port, keeping every mail it accepts.

    server = SmtpServer().start()          # plain SMTP, no AUTH
    ...                                    # point Certplane at 127.0.0.1:server.port
    server.wait_for(1)                     # -> [email.message.EmailMessage]
    server.stop()

Options: `username`/`password` (AUTH required, offered without TLS), `refuse` (recipient addresses answered with
550), `tls="starttls"` or `tls="implicit"` (a self-signed certificate for 127.0.0.1 made at start; a client
trusts it with `client_ssl_context()` or the `ca_file`).

The root conftest monkey-patches eventlet first, so aiosmtpd's "thread" is a green thread and its asyncio loop
waits in eventlet's green select: it serves while the test waits in any green way (time.sleep, a socket, another
greenthread). It lives beside tests/support.py, not in a tests/support/ package, because a package of that name
would shadow support.py and break every `from tests.support import ...`.
"""
from __future__ import annotations

import datetime as dt
import email
import email.policy
import ipaddress
import ssl
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.support import free_port

HOST = "127.0.0.1"


class _Handler:
    def __init__(self, server: "SmtpServer"):
        self.server = server

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower() in self.server.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        raw = (envelope.original_content or envelope.content).replace(b"\r\n", b"\n")   # as the mail was written
        message = email.message_from_bytes(raw, policy=email.policy.default)
        self.server.envelopes.append({"mail_from": envelope.mail_from, "rcpt_tos": list(envelope.rcpt_tos),
                                      "authenticated_as": self.server._login_of(session)})
        self.server.messages.append(message)
        return "250 Message accepted"


class SmtpServer:
    def __init__(self, *, username: str | None = None, password: str | None = None, refuse=(),
                 tls: str | None = None):
        if tls not in (None, "starttls", "implicit"):
            raise ValueError("tls: None, 'starttls' or 'implicit'")
        self.host = HOST
        self.port = free_port()
        self.username = username
        self.password = password
        self.refuse = {a.lower() for a in refuse}
        self.tls = tls
        self.messages: list[EmailMessage] = []
        self.envelopes: list[dict] = []     # mail_from, rcpt_tos and the AUTH login of each accepted mail
        self.failed_logins = 0
        self.ca_file: str | None = None
        self._controller: Controller | None = None
        self._dir: tempfile.TemporaryDirectory | None = None

    # ---- lifecycle ---------------------------------------------------------------------------------------
    def start(self) -> "SmtpServer":
        kwargs: dict = {}
        if self.username is not None:
            kwargs.update(authenticator=self._authenticate, auth_required=True, auth_require_tls=self.tls == "starttls")
        if self.tls:
            server_context = self._make_certificate()
            if self.tls == "starttls":
                kwargs.update(tls_context=server_context, require_starttls=True)
            else:
                kwargs.update(ssl_context=server_context)
        self._controller = Controller(_Handler(self), hostname=self.host, port=self.port,
                                      server_hostname="certplane-test-smtp", **kwargs)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

    def __enter__(self) -> "SmtpServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ---- what arrived ------------------------------------------------------------------------------------
    def wait_for(self, count: int, timeout: float = 10.0) -> list[EmailMessage]:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} mail(s) at the SMTP server within {timeout}s, "
                                     f"got {len(self.messages)}")
            time.sleep(0.02)
        return list(self.messages)

    def client_ssl_context(self) -> ssl.SSLContext:
        """What a client needs to trust this server's certificate (and check it names 127.0.0.1)."""
        return ssl.create_default_context(cafile=self.ca_file)

    # ---- internals ---------------------------------------------------------------------------------------
    def _authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        if isinstance(auth_data, LoginPassword) and auth_data.login.decode() == self.username \
                and auth_data.password.decode() == (self.password or ""):
            return AuthResult(success=True, auth_data=auth_data)
        self.failed_logins += 1
        return AuthResult(success=False, handled=False)

    @staticmethod
    def _login_of(session) -> str | None:
        data = getattr(session, "auth_data", None)
        return data.login.decode() if isinstance(data, LoginPassword) else None

    def _make_certificate(self) -> ssl.SSLContext:
        """A self-signed certificate for 127.0.0.1 (a P-256 key, valid for a day), written to a temporary dir."""
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "certplane test smtp")])
        now = dt.datetime.now(dt.timezone.utc)
        certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                       .serial_number(x509.random_serial_number())
                       .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
                       .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(HOST))]),
                                      critical=False)
                       .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                       .sign(key, hashes.SHA256()))
        self._dir = tempfile.TemporaryDirectory(prefix="certplane-smtp-")
        cert_file, key_file = Path(self._dir.name) / "cert.pem", Path(self._dir.name) / "key.pem"
        cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        self.ca_file = str(cert_file)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_file, key_file)
        return context
