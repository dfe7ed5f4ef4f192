"""When each API key was last used, as SCM shows it: recorded by the gateway, which sees every use. Written at
most once a minute per key so a busy key costs no write per request. Operational telemetry, not business state."""
from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from nameko.extensions import DependencyProvider

from services.runtime.db import Database
from services.runtime.events import utc
from services.runtime.nameko_glue import open_database, settings_of

RESOLUTION = timedelta(minutes=1)


class ApiKeyUsage:
    def __init__(self, db: Database):
        self.db = db
        metadata = sa.MetaData(schema=db.schema)
        self.table = sa.Table("api_key_usage", metadata,
                              sa.Column("key_id", sa.String(36), primary_key=True),
                              sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=False))
        db.create_tables(metadata)
        self._written: dict[str, datetime] = {}

    def touch(self, key_id: str, at: datetime) -> None:
        previous = self._written.get(key_id)
        if previous is not None and at - previous < RESOLUTION:
            return
        self._written[key_id] = at
        with self.db.writer() as conn, conn.begin():
            if not conn.execute(self.table.update().where(self.table.c.key_id == key_id)
                                .values(last_used_at=at)).rowcount:
                conn.execute(self.table.insert().values(key_id=key_id, last_used_at=at))

    def last_used(self, key_ids: list[str]) -> dict[str, str]:
        if not key_ids:
            return {}
        with self.db.engine.connect() as conn:
            rows = conn.execute(sa.select(self.table).where(self.table.c.key_id.in_(key_ids)))
            return {r.key_id: utc(r.last_used_at).isoformat() for r in rows}


class ApiKeyUsageProvider(DependencyProvider):
    def setup(self):
        self.usage = ApiKeyUsage(open_database(settings_of(self.container), self.container.service_name))

    def get_dependency(self, worker_ctx):
        return self.usage
