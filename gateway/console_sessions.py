"""The idle timeout of console sessions (DESIGN §5): when a browser session last did something. A session token
lives `session_ttl` at most (identity decides that); a console session also ends after `session_idle_timeout`
without a request the user made. The console's own polls (the live pending counts) carry
`X-Certplane-Background: 1` and do not count as activity, so a tab left open still times out.

Kept in the gateway's database, so every replica sees the same activity; written at most once per RESOLUTION (or
a quarter of the timeout, if that is shorter) per session and process, so a busy session costs no write per
request. A process that thinks a session idle reads the database again before refusing it: another replica may
have seen it since. Operational state, like api_key_usage: not an event."""
from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from nameko.extensions import DependencyProvider

from services.runtime.db import Database
from services.runtime.events import utc
from services.runtime.nameko_glue import open_database, settings_of

RESOLUTION = timedelta(seconds=15)


class ConsoleSessions:
    def __init__(self, db: Database, idle_timeout: float):
        self.db = db
        self.idle = timedelta(seconds=idle_timeout)
        self.resolution = min(RESOLUTION, self.idle / 4)
        metadata = sa.MetaData(schema=db.schema)
        self.table = sa.Table("console_session_activity", metadata,
                              sa.Column("session_id", sa.String(36), primary_key=True),
                              sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False))
        db.create_tables(metadata)
        self._seen: dict[str, datetime] = {}

    def started(self, session_id: str, at: datetime) -> None:
        self._write(session_id, at)

    def is_idle(self, session_id: str, now: datetime) -> bool:
        """Whether the session has been idle too long. A session the gateway never saw start (one made before
        this table, or by a login of the API) starts its idle clock now."""
        last = self._seen.get(session_id)
        if last is None or now - last > self.idle:
            last = self._read(session_id)
            if last is None:
                self._write(session_id, now)
                return False
            self._seen[session_id] = last
        return now - last > self.idle

    def active(self, session_id: str, now: datetime) -> None:
        last = self._seen.get(session_id)
        if last is None or now - last >= self.resolution:
            self._write(session_id, now)

    def ended(self, session_id: str) -> None:
        self._seen.pop(session_id, None)
        with self.db.writer() as conn, conn.begin():
            conn.execute(self.table.delete().where(self.table.c.session_id == session_id))

    def _read(self, session_id: str) -> datetime | None:
        with self.db.engine.connect() as conn:
            found = conn.execute(sa.select(self.table.c.last_seen_at)
                                 .where(self.table.c.session_id == session_id)).scalar_one_or_none()
        return None if found is None else utc(found)

    def _write(self, session_id: str, at: datetime) -> None:
        self._seen[session_id] = at
        update = self.table.update().where(self.table.c.session_id == session_id).values(last_seen_at=at)
        try:
            with self.db.writer() as conn, conn.begin():
                if not conn.execute(update).rowcount:
                    conn.execute(self.table.insert().values(session_id=session_id, last_seen_at=at))
        except sa.exc.IntegrityError:      # another worker inserted it a moment ago
            with self.db.writer() as conn, conn.begin():
                conn.execute(update)


class ConsoleSessionsProvider(DependencyProvider):
    def setup(self):
        settings = settings_of(self.container)
        self.sessions = ConsoleSessions(open_database(settings, self.container.service_name),
                                        settings.session_idle_timeout)

    def get_dependency(self, worker_ctx):
        return self.sessions
