"""The event store: one per service, SQLAlchemy Core over PostgreSQL (a schema per service) or SQLite.

Appends are serialised per store (PostgreSQL: a transaction-scoped advisory lock; SQLite: BEGIN IMMEDIATE) so that
`position` is assigned and committed in order and without holes: a follower that sees position N+2 after N knows
N+1 was lost in transit, never that it is still being written. (A database sequence would leave holes on rollback,
which a follower could not tell from a lost message.) Under that lock the store checks the stream's expected
version — optimistic concurrency — links the event into the hash chain, and updates the service's projections in
the same transaction.

On PostgreSQL the lock, the version check, the link and (without projections) the COMMIT go to the server as one
psycopg pipeline, and the chain hash is computed in SQL over the same canonical text Python hashes
(events.canonical_parts): the lock is then held for one round trip instead of five, which is what makes appends
as fast as a plain INSERT-based recorder (bench/README.md). SQLite does the same steps one by one.
"""
from __future__ import annotations

import json
import threading
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable, Iterable, Protocol, Sequence

import sqlalchemy as sa
import structlog

from contracts.errors import ConcurrencyConflict, Conflict
from services.runtime.db import Database
from services.runtime.events import (GENESIS_HASH, Envelope, NewEvent, RecordedEvent, canonical_parts, chain_hash,
                                      utc)

log = structlog.get_logger(__name__)

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(timezone.utc)


class Projection(Protocol):
    """A read model kept in the same database as the events (or, for a follower, as its tracking table)."""

    def __init__(self, metadata: sa.MetaData) -> None: ...

    def apply(self, conn: sa.Connection, event: Envelope) -> None: ...

    def reset(self, conn: sa.Connection) -> None: ...


def event_tables(metadata: sa.MetaData) -> tuple[sa.Table, sa.Table]:
    events = sa.Table(
        "events", metadata,
        sa.Column("position", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
                  autoincrement=False),
        sa.Column("event_id", sa.String(36), nullable=False, unique=True),
        sa.Column("stream_id", sa.String(200), nullable=False),
        sa.Column("stream_version", sa.Integer, nullable=False),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("schema_version", sa.Integer, nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("metadata", sa.JSON, nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.UniqueConstraint("stream_id", "stream_version", name="events_stream_version_key"),
    )
    relay = sa.Table(
        "relay_state", metadata,
        sa.Column("name", sa.String(50), primary_key=True),
        sa.Column("position", sa.BigInteger, nullable=False),
    )
    return events, relay


@dataclass(frozen=True)
class StreamAppend:
    stream_id: str
    expected_version: int        # how many events the caller saw in the stream
    events: tuple[NewEvent, ...]


@dataclass(frozen=True)
class AppendResult:
    events: tuple[RecordedEvent, ...]
    stream_version: int          # the stream's version after the command
    position: int                # the store's head after the command (wait for this to read your writes)


@dataclass(frozen=True)
class VerifyResult:
    checked: int
    ok: bool
    first_bad_position: int | None = None
    reason: str | None = None


class EventStore:
    def __init__(self, db: Database, source: str, projections: Sequence[type] = (), clock: Clock = system_clock,
                 retries: int = 3):
        self.db = db
        self.source = source
        self.clock = clock
        self.retries = retries
        self.metadata = sa.MetaData(schema=db.schema)
        self.events, self.relay_state = event_tables(self.metadata)
        self.projections = [cls(self.metadata) for cls in projections]
        # SQLite: one appender at a time in this process keeps waiters off SQLite's busy loop, which would block the
        # eventlet hub; other processes queue on the database lock itself. PostgreSQL appends queue on the advisory
        # lock alone (see _append_postgres).
        self._append_lock = threading.Lock()
        self._listeners: list[Callable[[int], None]] = []
        table = db.engine.dialect.identifier_preparer.format_table(self.events)
        self._head_sql = sa.text(
            f"SELECT (SELECT coalesce(max(stream_version), 0) FROM {table} WHERE stream_id = :stream_id), "
            f"(SELECT position FROM {table} ORDER BY position DESC LIMIT 1), "
            f"(SELECT hash FROM {table} ORDER BY position DESC LIMIT 1)")
        self._linked_insert_sql = _linked_insert_sql(table)
        self._head_query = sa.select(sa.func.max(self.events.c.position))

    # ---- schema -------------------------------------------------------------------------------------------
    def create_schema(self) -> None:
        self.db.create_tables(self.metadata)

    def projection(self, cls: type):
        return next(p for p in self.projections if isinstance(p, cls))

    def on_append(self, listener: Callable[[int], None]) -> None:
        """Call `listener(head_position)` after each commit (the relay uses it to wake up)."""
        self._listeners.append(listener)

    # ---- reading ------------------------------------------------------------------------------------------
    def load(self, stream_id: str, conn: sa.Connection | None = None) -> list[RecordedEvent]:
        """The stream's events in order (`conn`: inside a transaction of this store, e.g. a Unit's)."""
        query = sa.select(self.events).where(self.events.c.stream_id == stream_id) \
            .order_by(self.events.c.stream_version)
        if conn is not None:
            return [_row(r) for r in conn.execute(query)]
        with self.db.reader() as c:
            return [_row(r) for r in c.execute(query)]

    def read_events(self, after: int, limit: int) -> list[RecordedEvent]:
        query = sa.select(self.events).where(self.events.c.position > after) \
            .order_by(self.events.c.position).limit(limit)
        with self.db.reader() as conn:
            return [_row(r) for r in conn.execute(query)]

    def read_page(self, after: int, limit: int, types: Sequence[str], scan: int = 5000) \
            -> tuple[list[RecordedEvent], int]:
        """The events of `types` after `after`, in position order, and how far that answer covers: every event up
        to `until` was looked at (positions have no holes, so a follower that wants only these types may advance
        its tracking to `until`). At most `limit` events, from at most `scan` positions."""
        head = self.head_now()
        scan_to = min(head, after + scan)
        query = sa.select(self.events).where(self.events.c.position > after, self.events.c.position <= scan_to,
                                             self.events.c.event_type.in_(list(types))) \
            .order_by(self.events.c.position).limit(limit)
        with self.db.reader() as conn:
            records = [_row(r) for r in conn.execute(query)]
        until = records[-1].position if len(records) == limit else max(scan_to, after)
        return records, until

    def head(self) -> int:
        with self.db.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.coalesce(sa.func.max(self.events.c.position), 0))).scalar_one()

    def head_now(self) -> int:
        """The head position by the cheapest read there is (Database.quick_scalar), for per-request checks such
        as a PositionCache over this store's projections."""
        return self.db.quick_scalar(self._head_query) or 0

    def read(self, query: Callable[[sa.Connection], object]):
        """Run a read-only query against this store's database (projections live here)."""
        with self.db.reader() as conn:
            return query(conn)

    # ---- writing ------------------------------------------------------------------------------------------
    def append(self, stream_id: str, expected_version: int, new_events: Iterable[NewEvent],
               metadata: dict | None = None) -> AppendResult:
        """Append at `expected_version` (the number of events the caller saw) or raise ConcurrencyConflict."""
        return self.append_streams([StreamAppend(stream_id, expected_version, tuple(new_events))], metadata)

    def append_streams(self, batch: Sequence["StreamAppend"], metadata: dict | None = None) -> AppendResult:
        """Append to several streams in one transaction: all of it, or (on any stale version) none of it.
        `stream_version` of the result is the last stream's."""
        planned = _planned(batch)
        metadata = dict(metadata or {})
        if self.db.is_postgres:
            records = self._append_postgres(batch, planned, metadata)
        else:
            with self._append_lock, self.db.writer() as conn, conn.begin():
                records = self._append_sqlite(conn, batch, planned, metadata)
        self._notify(records[-1].position)
        return AppendResult(tuple(records), batch[-1].expected_version + len(batch[-1].events), records[-1].position)

    @contextmanager
    def transaction(self):
        """A unit of work that other writes join: `with store.transaction() as unit:` — `unit.conn` for the
        caller's own statements (a processor's tracking row), `unit.append(...)` / `unit.append_streams(...)` for
        events, all committed together at the end of the block, or none of it. Appends in it take the store's
        append lock (PostgreSQL: at the first append, until the commit; SQLite: the file's write lock and the
        in-process lock from the start), so do the slow work before appending, not after."""
        guard = nullcontext() if self.db.is_postgres else self._append_lock
        with guard, self.db.writer() as conn, conn.begin():
            unit = Unit(self, conn)
            yield unit
        if unit.head is not None:
            self._notify(unit.head)
        for action in unit.after_commit:
            action()

    def _notify(self, head: int) -> None:
        for listener in self._listeners:
            listener(head)

    def _append_in(self, conn: sa.Connection, batch, metadata: dict | None) -> AppendResult:
        planned = _planned(batch)
        metadata = dict(metadata or {})
        if self.db.is_postgres:
            records = self._append_postgres(batch, planned, metadata, conn)
        else:
            records = self._append_sqlite(conn, batch, planned, metadata)
        return AppendResult(tuple(records), batch[-1].expected_version + len(batch[-1].events), records[-1].position)

    def _append_sqlite(self, conn: sa.Connection, batch, planned, metadata: dict) -> list[RecordedEvent]:
        """In a BEGIN IMMEDIATE transaction (the file's write lock): check each stream's version, link in Python,
        insert."""
        for part in batch:
            current, position, prev_hash = conn.execute(self._head_sql, {"stream_id": part.stream_id}).one()
            if current != part.expected_version:
                raise ConcurrencyConflict(part.stream_id, part.expected_version)
        position, prev_hash = position or 0, prev_hash or GENESIS_HASH
        recorded_at = self.clock()
        records = []
        for offset, (stream_id, stream_version, new) in enumerate(planned, start=1):
            record = _link(position + offset, stream_id, stream_version, new, metadata, recorded_at, prev_hash)
            prev_hash = record.hash
            records.append(record)
        conn.execute(self.events.insert(), [_columns(r) for r in records])
        self._project(conn, records)
        return records

    def _append_postgres(self, batch, planned, metadata: dict,
                         outer: sa.Connection | None = None) -> list[RecordedEvent]:
        """One pipeline: BEGIN; the advisory lock; per event an INSERT ... SELECT that checks the stream version,
        takes position and prev_hash from the head and computes the chain hash in SQL (sha256 over exactly
        chain_hash's canonical text, prepared here around the position); COMMIT too when there are no
        projections. No Python runs while the lock is held, and the client waits for the server 4 times per
        append (strace, pre-ping included; psycopg syncs after BEGIN) instead of 7. Each INSERT is its own
        statement after the lock, so its snapshot (READ COMMITTED) includes every append committed before the
        lock was granted. Waiters queue on the advisory lock, each holding a pooled connection (green under
        eventlet), so the in-process lock is not needed here."""
        recorded_at = self.clock()
        meta_text = json.dumps(metadata)
        rows = []
        previous: dict[str, str] = {}   # stream -> our event just before this one in the same batch
        for stream_id, stream_version, new in planned:
            before, after = canonical_parts(new.event_id, stream_id, stream_version, new.event_type,
                                            new.schema_version, new.payload, metadata, recorded_at)
            rows.append({"event_id": new.event_id, "stream_id": stream_id, "stream_version": stream_version,
                         "previous_version": stream_version - 1, "previous_event_id": previous.get(stream_id),
                         "event_type": new.event_type,
                         "schema_version": new.schema_version, "payload": json.dumps(new.payload),
                         "metadata": meta_text, "recorded_at": recorded_at, "before": before, "after": after,
                         "genesis": GENESIS_HASH})
            previous[stream_id] = new.event_id
        # COMMIT can ride in the pipeline only when a stale version means nothing went in: one stream (its later
        # rows need their predecessor from this batch), no projections still to run, and no outer transaction.
        commit_early = len(batch) == 1 and not self.projections and outer is None
        with (nullcontext(outer) if outer is not None else self.db.writer()) as conn, \
                (nullcontext() if outer is not None else conn.begin()):
            raw = conn.connection.driver_connection
            with raw.pipeline():
                raw.execute("SELECT pg_advisory_xact_lock(%s)", (self.db.lock_key("append"),), prepare=True)
                cursors = [raw.execute(self._linked_insert_sql, row, prepare=True) for row in rows]
                if commit_early:
                    raw.commit()   # SQLAlchemy's COMMIT at the end of the block then finds the connection idle
            linked = [cursor.fetchone() for cursor in cursors]
            stale = next((i for i, row in enumerate(linked) if row is None), None)
            if stale is not None:  # a stream had moved on: the block rolls back (or nothing went in, see above)
                stream_id, stream_version, _ = planned[stale]
                raise ConcurrencyConflict(stream_id, stream_version - 1)
            records = [RecordedEvent(position, new.event_id, stream_id, stream_version, new.event_type,
                                     new.schema_version, new.payload, metadata, recorded_at, prev_hash, digest)
                       for (stream_id, stream_version, new), (position, prev_hash, digest) in zip(planned, linked)]
            self._project(conn, records)
        return records

    def _project(self, conn: sa.Connection, records: list[RecordedEvent]) -> None:
        for record in records:
            envelope = record.envelope(self.source)
            for projection in self.projections:
                projection.apply(conn, envelope)

    def execute(self, stream_id: str, decide: Callable[[list[RecordedEvent]], list[NewEvent]],
                metadata: dict | None = None) -> AppendResult:
        """Load the stream, decide, append at the version decided on; on a concurrent append, do it again.

        `decide` is pure given the history it is passed, so re-running it after a conflict is safe.
        """
        for attempt in range(self.retries + 1):
            history = self.load(stream_id)
            new_events = decide(history)
            if not new_events:
                return AppendResult((), len(history), self.head())
            try:
                return self.append(stream_id, len(history), new_events, metadata)
            except ConcurrencyConflict:
                log.info("append_conflict_retried", stream_id=stream_id, attempt=attempt + 1)
        raise Conflict(f"{stream_id} was changed by someone else at the same time; try again",
                       {"stream_id": stream_id}, code="concurrent_update")

    # ---- projections ------------------------------------------------------------------------------------
    def rebuild_projections(self, batch: int = 1000) -> int:
        """Empty every projection and replay the whole log into it, in one transaction."""
        count = 0
        with self._append_lock, self.db.writer() as conn, conn.begin():
            if self.db.is_postgres:
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(self.db.lock_key("append"))))
            for projection in self.projections:
                projection.reset(conn)
            after = 0
            while True:
                rows = [_row(r) for r in conn.execute(
                    sa.select(self.events).where(self.events.c.position > after)
                    .order_by(self.events.c.position).limit(batch))]
                if not rows:
                    break
                for record in rows:
                    envelope = record.envelope(self.source)
                    for projection in self.projections:
                        projection.apply(conn, envelope)
                after = rows[-1].position
                count += len(rows)
        return count

    # ---- audit ------------------------------------------------------------------------------------------
    def verify(self, batch: int = 1000) -> VerifyResult:
        """Recompute the hash chain from position 1; report the first row that does not match."""
        prev_hash, expected_position, checked = GENESIS_HASH, 1, 0
        with self.db.engine.connect() as conn:
            while True:
                rows = [_row(r) for r in conn.execute(
                    sa.select(self.events).where(self.events.c.position >= expected_position)
                    .order_by(self.events.c.position).limit(batch))]
                if not rows:
                    return VerifyResult(checked, True)
                for record in rows:
                    if record.position != expected_position:
                        return VerifyResult(checked, False, expected_position, "position missing (row deleted)")
                    if record.prev_hash != prev_hash:
                        return VerifyResult(checked, False, record.position, "prev_hash does not link to the row before")
                    recomputed = chain_hash(prev_hash, record.position, record.event_id, record.stream_id,
                                            record.stream_version, record.event_type, record.schema_version,
                                            record.payload, record.metadata, record.recorded_at)
                    if recomputed != record.hash:
                        return VerifyResult(checked, False, record.position, "row content does not match its hash")
                    prev_hash, expected_position, checked = record.hash, expected_position + 1, checked + 1

    # ---- relay bookkeeping ------------------------------------------------------------------------------
    def published_position(self, name: str = "relay") -> int:
        with self.db.engine.connect() as conn:
            value = conn.execute(sa.select(self.relay_state.c.position)
                                 .where(self.relay_state.c.name == name)).scalar()
        return value or 0

    def set_published_position(self, position: int, name: str = "relay") -> None:
        with self.db.engine.begin() as conn:
            updated = conn.execute(self.relay_state.update().where(self.relay_state.c.name == name)
                                   .values(position=position)).rowcount
            if not updated:
                conn.execute(self.relay_state.insert().values(name=name, position=position))


@dataclass
class Unit:
    """One transaction of a store (EventStore.transaction): the connection, and appends that join it."""

    store: EventStore
    conn: sa.Connection
    head: int | None = None     # the store's head after this unit's last append
    after_commit: list = field(default_factory=list)   # callables run once the unit committed (never on rollback)

    def append(self, stream_id: str, expected_version: int, new_events: Iterable[NewEvent],
               metadata: dict | None = None) -> AppendResult:
        return self.append_streams([StreamAppend(stream_id, expected_version, tuple(new_events))], metadata)

    def append_streams(self, batch: Sequence[StreamAppend], metadata: dict | None = None) -> AppendResult:
        result = self.store._append_in(self.conn, batch, metadata)
        self.head = result.position
        return result


def _planned(batch: Sequence[StreamAppend]) -> list[tuple[str, int, NewEvent]]:
    planned = [(part.stream_id, part.expected_version + offset, new)
               for part in batch for offset, new in enumerate(part.events, start=1)]
    if not planned:
        raise ValueError("append needs at least one event")
    return planned


def _link(position: int, stream_id: str, stream_version: int, new: NewEvent, metadata: dict,
          recorded_at: datetime, prev_hash: str) -> RecordedEvent:
    digest = chain_hash(prev_hash, position, new.event_id, stream_id, stream_version, new.event_type,
                        new.schema_version, new.payload, metadata, recorded_at)
    return RecordedEvent(position, new.event_id, stream_id, stream_version, new.event_type, new.schema_version,
                         new.payload, metadata, recorded_at, prev_hash, digest)


def _linked_insert_sql(table: str) -> str:
    """INSERT one event linked to the log's head, if its stream is still where the caller saw it (else no row):
    the first event of a stream in a batch checks the stream's version; a later one checks that its predecessor is
    the batch's own previous event, so a stale first row fails the whole stream."""
    return (
        f"WITH head AS (SELECT coalesce((SELECT position FROM {table} ORDER BY position DESC LIMIT 1), 0) AS pos, "
        f"coalesce((SELECT hash FROM {table} ORDER BY position DESC LIMIT 1), %(genesis)s::text) AS hash) "
        f"INSERT INTO {table} (position, event_id, stream_id, stream_version, event_type, schema_version, "
        "payload, metadata, recorded_at, prev_hash, hash) "
        "SELECT head.pos + 1, %(event_id)s::text, %(stream_id)s::text, %(stream_version)s::int, "
        "%(event_type)s::text, %(schema_version)s::int, %(payload)s::json, %(metadata)s::json, "
        "%(recorded_at)s::timestamptz, head.hash, encode(sha256(convert_to("
        "head.hash || %(before)s::text || (head.pos + 1)::text || %(after)s::text, 'UTF8')), 'hex') "
        "FROM head WHERE CASE WHEN %(previous_event_id)s::text IS NULL "
        f"THEN (SELECT coalesce(max(stream_version), 0) FROM {table} WHERE stream_id = %(stream_id)s::text) "
        "= %(previous_version)s::int "
        f"ELSE EXISTS (SELECT 1 FROM {table} WHERE event_id = %(previous_event_id)s::text "
        "AND stream_id = %(stream_id)s::text AND stream_version = %(previous_version)s::int) END "
        "RETURNING position, prev_hash, hash")


def _columns(record: RecordedEvent) -> dict:
    return {"position": record.position, "event_id": record.event_id, "stream_id": record.stream_id,
            "stream_version": record.stream_version, "event_type": record.event_type,
            "schema_version": record.schema_version, "payload": record.payload, "metadata": record.metadata,
            "recorded_at": record.recorded_at, "prev_hash": record.prev_hash, "hash": record.hash}


def _row(row) -> RecordedEvent:
    return RecordedEvent(row.position, row.event_id, row.stream_id, row.stream_version, row.event_type,
                         row.schema_version, row.payload, row.metadata, utc(row.recorded_at), row.prev_hash, row.hash)
