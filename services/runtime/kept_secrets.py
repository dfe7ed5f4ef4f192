"""Secrets a service must hand out once more after it recorded their hash in an event — the code an email DCV
mail carries, the collection link of an issued certificate — kept in a small table of the service's own database,
never in an event (events are replayable, exported to SIEMs and kept for ever). Not event-sourced on purpose:
losing a row only means the mail cannot be rendered (the administrator starts the DCV again, or downloads the
certificate through the API)."""
from __future__ import annotations

import sqlalchemy as sa
from nameko.extensions import DependencyProvider

from services.runtime.db import Database
from services.runtime.nameko_glue import open_database, settings_of


class KeptSecrets:
    def __init__(self, db: Database, name: str):
        self.db = db
        metadata = sa.MetaData(schema=db.schema)
        self.table = sa.Table(name, metadata,
                              sa.Column("key", sa.String(64), primary_key=True),
                              sa.Column("value", sa.JSON, nullable=False))
        db.create_tables(metadata)

    def keep(self, key: str, value: dict, conn=None) -> None:
        """Keep `value` under `key`; `conn`: in that transaction (the event that records the hash commits with it)."""
        if conn is None:
            with self.db.writer() as own, own.begin():
                self.keep(key, value, own)
            return
        conn.execute(self.table.delete().where(self.table.c.key == key))
        conn.execute(self.table.insert().values(key=key, value=value))

    def get(self, key: str) -> dict | None:
        with self.db.engine.connect() as conn:
            return conn.execute(sa.select(self.table.c.value).where(self.table.c.key == key)).scalar()

    def forget(self, key: str) -> None:
        with self.db.writer() as conn, conn.begin():
            conn.execute(self.table.delete().where(self.table.c.key == key))



class KeptSecretsProvider(DependencyProvider):
    """A nameko dependency: the KeptSecrets table `name` in the service's own database."""

    def __init__(self, name: str):
        self.name = name

    def setup(self):
        self.secrets = KeptSecrets(open_database(settings_of(self.container), self.container.service_name), self.name)

    def get_dependency(self, worker_ctx):
        return self.secrets
