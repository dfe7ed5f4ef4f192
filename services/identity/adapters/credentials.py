"""The credential store: argon2id hashes of passwords and person secret IDs, in identity's own database.

Events refer to a credential by id and never carry the hash (an argon2 hash can still be attacked offline, and
events travel to every subscriber). A credential row is written before the event that refers to it; if that event
is then refused, the row is simply never referred to. Hashing runs in a real OS thread (eventlet's tpool) so the
~50 ms of argon2 work does not stall every other request of the process.
"""
from __future__ import annotations

import uuid
from datetime import datetime, timezone

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from eventlet import tpool

from services.runtime.db import Database

_hasher = PasswordHasher()   # argon2id, RFC 9106 "low memory" defaults of argon2-cffi (t=3, m=64 MiB, p=4)
_DUMMY_HASH = _hasher.hash("certplane: no such user")


class CredentialStore:
    def __init__(self, db: Database):
        self.db = db
        metadata = sa.MetaData(schema=db.schema)
        self.table = sa.Table(
            "credentials", metadata,
            sa.Column("credential_id", sa.String(36), primary_key=True),
            sa.Column("kind", sa.String(20), nullable=False),          # password | secret_id
            sa.Column("hash", sa.String(200), nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        )
        db.create_tables(metadata)

    def put(self, kind: str, secret: str) -> str:
        credential_id = str(uuid.uuid4())
        digest = tpool.execute(_hasher.hash, secret)
        with self.db.writer() as conn, conn.begin():
            conn.execute(self.table.insert().values(credential_id=credential_id, kind=kind, hash=digest,
                                                    created_at=datetime.now(timezone.utc)))
        return credential_id

    def verify(self, credential_id: str | None, secret: str) -> bool:
        """True if `secret` matches. An unknown credential still costs one hash, so timing tells nothing."""
        digest = None
        if credential_id is not None:
            with self.db.engine.connect() as conn:
                digest = conn.execute(sa.select(self.table.c.hash)
                                      .where(self.table.c.credential_id == credential_id)).scalar()
        try:
            return bool(tpool.execute(_hasher.verify, digest or _DUMMY_HASH, secret)) and digest is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
