"""PEM files for a TLS listener under test, made at test time: a test root and issuing CA (tests/factories.py) and
server certificates for localhost and 127.0.0.1 under them, written where Certplane's tls_cert_file /
tls_key_file and a client's CA bundle (requests' `verify`, REQUESTS_CA_BUNDLE, LEGO_CA_CERTIFICATES) point."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from tests import factories

SERVER_NAMES = (("dns", "localhost"), ("ip", "127.0.0.1"))


@dataclass
class TlsFiles:
    directory: Path
    ca_file: Path        # the test root: what clients trust
    cert_file: Path      # the server certificate, then the issuing CA
    key_file: Path
    serial: str = ""     # hex: the server certificate written last
    _chain: object = None

    def write_server_certificate(self, common_name: str = "localhost") -> str:
        """A new server key and certificate (the chain with it) written in place of the old ones, the key first
        then the certificate, each by rename (as a rotation tool does); returns the new certificate's serial (hex)."""
        from services.ca import x509build

        key = x509build.generate_key("ec-p256")
        spec = factories.leaf_spec(key.public_key(), self._chain.now, dns_names=(), common_name=common_name,
                                   sans=SERVER_NAMES, days=30)
        leaf = x509build.build_leaf(spec, self._chain.issuing, self._chain.issuing_key)
        pem = lambda cert: cert.public_bytes(serialization.Encoding.PEM)   # noqa: E731
        _replace(self.key_file, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                  serialization.NoEncryption()))
        _replace(self.cert_file, pem(leaf) + pem(self._chain.issuing))
        return format(leaf.serial_number, "x")

    @classmethod
    def make(cls, directory: Path) -> "TlsFiles":
        directory.mkdir(parents=True, exist_ok=True)
        files = cls(directory, directory / "test-root.pem", directory / "server.pem", directory / "server-key.pem",
                    _chain=factories.ca_chain("ec-p256"))
        files.ca_file.write_bytes(files._chain.root.public_bytes(serialization.Encoding.PEM))
        files.serial = files.write_server_certificate()
        return files


def _replace(path: Path, data: bytes) -> None:
    temporary = path.with_name(path.name + ".new")
    temporary.write_bytes(data)
    os.chmod(temporary, 0o600)
    os.replace(temporary, path)
