"""`Idempotency-Key` on POST: the same key with the same request gives the same response and no second event.

The first request with a key claims it (a row in the gateway's database) before calling the service; its response
is stored when it completes. A repeat with the same key and the same request replays that response; with a
different request it is refused (409). A repeat that finds the claim still open — the first is in flight, or the
gateway died mid-request — runs the command again: commands that create something take an id derived from the
key (`derived_id`), so the second run finds the object already created and changes nothing.
A command refused with a 4xx releases the key, so the client can correct the request and retry with it.
Keys are kept for 24 hours.
"""
from __future__ import annotations

import hashlib
import json
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa
from nameko.extensions import DependencyProvider

from contracts.errors import Conflict, InvalidRequest
from services.runtime.db import Database
from services.runtime.events import utc
from services.runtime.nameko_glue import open_database, settings_of

KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,255}$")
RETENTION = timedelta(hours=24)
_NAMESPACE = uuid.UUID("8a6b5b8e-6c3b-4f9a-9a49-6f0e1f6c2c11")


@dataclass(frozen=True)
class Claim:
    scope_key: str               # sha256 of (actor, method, path, key)
    derived_id: str              # the id a create made under this key uses
    replay: dict | None = None   # {"status", "headers", "body"} of the first completed request


class IdempotencyKeys:
    def __init__(self, db: Database, clock=lambda: datetime.now(timezone.utc)):
        self.db = db
        self.clock = clock
        metadata = sa.MetaData(schema=db.schema)
        self.table = sa.Table(
            "idempotency_keys", metadata,
            sa.Column("scope_key", sa.String(64), primary_key=True),
            sa.Column("request_hash", sa.String(64), nullable=False),
            sa.Column("response", sa.JSON),           # null while the first request is in flight
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        )
        db.create_tables(metadata)

    def claim(self, actor: str, method: str, path: str, key: str, body: bytes) -> Claim:
        if not KEY_PATTERN.match(key):
            raise InvalidRequest("Idempotency-Key must be 1 to 255 visible ASCII characters",
                                 {"Idempotency-Key": ["invalid"]})
        scope_key = hashlib.sha256(json.dumps([actor, method, path, key]).encode()).hexdigest()
        request_hash = hashlib.sha256(body).hexdigest()
        derived_id = str(uuid.uuid5(_NAMESPACE, scope_key))
        now = self.clock()
        table = self.table
        try:
            with self.db.writer() as conn, conn.begin():
                row = conn.execute(sa.select(table).where(table.c.scope_key == scope_key)).first()
                if row is not None and utc(row.created_at) < now - RETENTION:
                    conn.execute(table.delete().where(table.c.scope_key == scope_key))
                    row = None
                if row is None:
                    conn.execute(table.insert().values(scope_key=scope_key, request_hash=request_hash,
                                                       created_at=now))
                    return Claim(scope_key, derived_id)
        except sa.exc.IntegrityError:  # a concurrent request with the same key claimed it first
            with self.db.engine.connect() as conn:
                row = conn.execute(sa.select(table).where(table.c.scope_key == scope_key)).one()
        if row.request_hash != request_hash:
            raise Conflict("this Idempotency-Key was already used with a different request",
                           {"Idempotency-Key": key}, code="idempotency_key_reused")
        if row.response is not None:
            return Claim(scope_key, derived_id, row.response)
        return Claim(scope_key, derived_id)

    def complete(self, claim: Claim, status: int, headers: dict, body: str) -> None:
        with self.db.writer() as conn, conn.begin():
            conn.execute(self.table.update().where(self.table.c.scope_key == claim.scope_key)
                         .values(response={"status": status, "headers": headers, "body": body}))

    def release(self, claim: Claim) -> None:
        with self.db.writer() as conn, conn.begin():
            conn.execute(self.table.delete().where(self.table.c.scope_key == claim.scope_key,
                                                   self.table.c.response.is_(None)))


class IdempotencyProvider(DependencyProvider):
    def setup(self):
        self.keys = IdempotencyKeys(open_database(settings_of(self.container), self.container.service_name))

    def get_dependency(self, worker_ctx):
        return self.keys
