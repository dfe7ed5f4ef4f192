"""CA private keys at rest: PKCS#8 DER wrapped with AES-256-GCM under a key-encryption key (KEK).

Table `ca_keys(key_ref, algorithm, nonce, wrapped, created_at)`. Each key gets a fresh 12-byte nonce and its
key_ref as associated data, so a wrapped key copied onto another row does not open. The KEK comes from
CERTPLANE_CA_KEK (distributed mode) or `<var_dir>/ca-kek` (embedded mode; see `load_kek`). Not event-sourced on
purpose: key material has no place in a replayable, exported log; events carry key_ref and public_fingerprint.
Nothing here logs, and no repr shows a key or the KEK.
"""
from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import os
import stat
import uuid
from pathlib import Path

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from services.ca.x509build import key_algorithm

KEK_BYTES = 32
NONCE_BYTES = 12
KEK_FILE = "ca-kek"
KEK_ENV = "CERTPLANE_CA_KEK"


class KeyStoreLocked(Exception):
    """The configured KEK does not open the stored CA keys (a different CERTPLANE_CA_KEK or ca-kek file)."""


class UnknownKeyRef(LookupError):
    """No CA key is stored under this key_ref."""


def public_fingerprint(key) -> str:
    """sha256 of the SubjectPublicKeyInfo DER of a private or public key, lowercase hex."""
    public = key.public_key() if hasattr(key, "public_key") else key
    spki = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(spki).hexdigest()


class KeyStore:
    """put/get CA private keys, wrapped in the service's database; unwrapped keys stay cached in this process."""

    public_fingerprint = staticmethod(public_fingerprint)

    def __init__(self, db, kek: bytes):
        if len(kek) != KEK_BYTES:
            raise ValueError(f"the CA key-encryption key must be {KEK_BYTES} bytes")
        self.db = db
        self._aead = AESGCM(kek)
        self._cache: dict[str, object] = {}
        metadata = sa.MetaData(schema=db.schema)
        self.table = sa.Table("ca_keys", metadata,
                              sa.Column("key_ref", sa.String(36), primary_key=True),
                              sa.Column("algorithm", sa.String(32), nullable=False),
                              sa.Column("nonce", sa.LargeBinary, nullable=False),
                              sa.Column("wrapped", sa.LargeBinary, nullable=False),
                              sa.Column("created_at", sa.DateTime(timezone=True), nullable=False))
        db.create_tables(metadata)

    def __repr__(self) -> str:
        return f"KeyStore(schema={self.db.schema!r}, cached_keys={len(self._cache)})"

    def put(self, key) -> str:
        """Wrap and store `key`; its new key_ref (a uuid4)."""
        key_ref = str(uuid.uuid4())
        der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        nonce = os.urandom(NONCE_BYTES)
        wrapped = self._aead.encrypt(nonce, der, key_ref.encode())
        with self.db.writer() as conn, conn.begin():
            conn.execute(self.table.insert().values(key_ref=key_ref, algorithm=key_algorithm(key), nonce=nonce,
                                                    wrapped=wrapped, created_at=dt.datetime.now(dt.timezone.utc)))
        self._cache[key_ref] = key
        return key_ref

    def get(self, key_ref: str):
        """The private key stored under `key_ref`. UnknownKeyRef if there is none; KeyStoreLocked if the KEK
        does not open it."""
        key = self._cache.get(key_ref)
        if key is None:
            key = self._cache[key_ref] = self._unwrap(key_ref, self._row(key_ref))
        return key

    def check_kek(self) -> None:
        """KeyStoreLocked now, at start, rather than at the first signature, if the KEK does not open a key."""
        with self.db.engine.connect() as conn:
            row = conn.execute(sa.select(self.table).limit(1)).mappings().first()
        if row is not None:
            self._unwrap(row["key_ref"], row)

    def _row(self, key_ref: str):
        with self.db.engine.connect() as conn:
            row = conn.execute(sa.select(self.table).where(self.table.c.key_ref == key_ref)).mappings().first()
        if row is None:
            raise UnknownKeyRef(key_ref)
        return row

    def _unwrap(self, key_ref: str, row):
        try:
            der = self._aead.decrypt(row["nonce"], row["wrapped"], key_ref.encode())
        except InvalidTag:
            raise KeyStoreLocked(f"the CA key-encryption key does not open CA key {key_ref}: "
                                 f"{KEK_ENV} (or {KEK_FILE} in the var directory) is not the one the key was "
                                 "stored with") from None
        return serialization.load_der_private_key(der, password=None)


def load_kek(kek_b64: str | None, var_dir: str, embedded: bool) -> bytes:
    """The 32-byte KEK: the configured base64 value if any; else, embedded, `<var_dir>/ca-kek` (made on first
    start, mode 0600); else SystemExit naming CERTPLANE_CA_KEK."""
    if kek_b64:
        return _decode_kek(kek_b64, KEK_ENV)
    if not embedded:
        raise SystemExit(f"distributed mode needs {KEK_ENV}: the base64 of 32 random bytes that wrap the CA "
                         "private keys (for example: openssl rand -base64 32); keep it in a secret store")
    path = Path(var_dir) / KEK_FILE
    if not path.exists():
        _create_kek_file(path)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise SystemExit(f"{path} is readable by others (mode {mode:04o}); run chmod 600 {path}")
    return _decode_kek(path.read_text(encoding="ascii").strip(), str(path))


def _decode_kek(text: str, source: str) -> bytes:
    try:
        kek = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise SystemExit(f"{source} is not base64") from None
    if len(kek) != KEK_BYTES:
        raise SystemExit(f"{source} must decode to exactly {KEK_BYTES} bytes, not {len(kek)}")
    return kek


def _create_kek_file(path: Path) -> None:
    """Write a new KEK to a private temporary file (O_CREAT|O_EXCL, 0600) and link it into place, so a second
    process starting at the same moment either sees the whole file or keeps the one that won."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, base64.b64encode(os.urandom(KEK_BYTES)) + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass                        # another process made it first: use theirs
    finally:
        os.unlink(tmp)
