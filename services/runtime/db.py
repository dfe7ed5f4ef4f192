"""Database engines for both run modes: SQLite files (embedded) and PostgreSQL through psycopg 3 (distributed).

psycopg 3 waits for the server with a C function that blocks the whole eventlet hub; `green_psycopg()` swaps in
its select()-based wait, which eventlet's monkey patching makes cooperative. It is called before any engine is
made, and tests/contract/test_psycopg_green.py proves two queries in greenthreads overlap.
"""
from __future__ import annotations

import time
import zlib
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy import event as sa_event

POOL_SIZE = 12  # at least nameko's max_workers (10), plus the relay and follower
IDLE_PING_SECONDS = 5.0
_QUICK_SQL: dict = {}   # (statement, dialect, bound) -> how quick_scalar runs it (a handful per process)


def green_psycopg() -> None:
    import psycopg.waiting

    psycopg.waiting.wait = psycopg.waiting.wait_select


@dataclass(frozen=True)
class Database:
    """An engine plus the schema this service's tables live in (None for SQLite: one file per service)."""

    engine: sa.Engine
    schema: str | None

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    def lock_key(self, purpose: str) -> int:
        """A stable 31-bit key for PostgreSQL advisory locks, one per (schema, purpose)."""
        return zlib.crc32(f"certplane:{self.schema}:{purpose}".encode()) & 0x7FFFFFFF

    def writer(self) -> sa.Connection:
        """A connection whose transactions take the database write lock at BEGIN (SQLite) — see make_engine."""
        return self.engine.connect().execution_options(certplane_write=True)

    def create_tables(self, metadata: sa.MetaData) -> None:
        """Create the schema and any missing tables. Replicas starting together would race on PostgreSQL's
        catalog (CREATE ... IF NOT EXISTS is not atomic there), so DDL runs under one advisory lock."""
        with self.writer() as conn, conn.begin():
            if self.is_postgres:
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(zlib.crc32(b"certplane:ddl") & 0x7FFFFFFF)))
                conn.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"'))
            metadata.create_all(conn)
            _add_missing_columns(conn, metadata)
            _add_missing_indexes(conn, metadata)

    def quick_scalar(self, query: sa.Select, params: dict | None = None):
        """The first column of the first row of `query` (None if no row), read as cheaply as the database allows,
        for checks made on every request: the statement is compiled once and run on a pooled DB-API connection
        without SQLAlchemy's transaction handling, which a one-row read does not need. About 0.02 ms on SQLite
        against 0.2 ms through a Connection.

        Without `params`, the statement's values are inlined into its SQL when it is compiled: use that only for
        statements built from the code's own constants. With `params` (values for the statement's
        `sa.bindparam()` placeholders, e.g. a serial from a request), every value goes to the driver as a bound
        parameter in the driver's own paramstyle, never into the SQL text."""
        key = (query, self.engine.dialect.name, params is not None)
        compiled = _QUICK_SQL.get(key)
        if compiled is None:
            compiled = _QUICK_SQL[key] = DriverStatement.of(query, self.engine.dialect, bound=params is not None)
        sql, args = compiled.sql, compiled.arguments(params)
        raw = self.engine.raw_connection()
        driver = raw.driver_connection
        try:
            if self.is_postgres:
                # one round trip: no BEGIN before, and no ROLLBACK after (psycopg skips it on an idle connection)
                driver.autocommit = True
            cursor = raw.cursor()
            if args is None:
                cursor.execute(sql)
            else:
                cursor.execute(sql, args)
            row = cursor.fetchone()
            cursor.close()
        finally:
            if self.is_postgres:
                driver.autocommit = False
            raw.close()      # back to the pool, which rolls back whatever the driver began
        return row[0] if row else None

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()


@dataclass(frozen=True)
class DriverStatement:
    """A statement compiled for the DB-API driver (Database.quick_scalar, raw batch reads): its SQL text and, for a
    bound one, how to turn the
    caller's values into the driver's arguments (a tuple in placeholder order for positional paramstyles such as
    SQLite's qmark, a dict for named ones such as psycopg's pyformat)."""

    sql: str
    compiled: sa.engine.Compiled | None     # None: every value inlined
    order: tuple[str, ...] | None          # positional paramstyles: the parameter names in placeholder order

    @classmethod
    def of(cls, query: sa.Select, dialect, bound: bool) -> "DriverStatement":
        if not bound:
            return cls(str(query.compile(dialect=dialect, compile_kwargs={"literal_binds": True})), None, None)
        compiled = query.compile(dialect=dialect)
        order = tuple(compiled.positiontup) if dialect.positional else None
        return cls(str(compiled), compiled, order)

    def arguments(self, params: dict | None):
        if self.compiled is None:
            return None
        values = self.compiled.construct_params(params)   # the caller's values plus the statement's constants
        return tuple(values[name] for name in self.order) if self.order is not None else values


def make_database(url: str, schema: str | None) -> Database:
    if url.startswith("postgresql"):
        green_psycopg()
        engine = sa.create_engine(url, pool_size=POOL_SIZE, max_overflow=4, pool_recycle=1800)
        _ping_when_idle(engine)
        return Database(engine, schema)
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        _sqlite_transactions(engine)
        return Database(engine, None)
    raise ValueError(f"unsupported database URL scheme: {url.split(':', 1)[0]} (use postgresql+psycopg or sqlite)")


def _ping_when_idle(engine: sa.Engine) -> None:
    """SQLAlchemy's pool_pre_ping costs a round trip on every checkout (a third of a hot append). Connections
    that were busy a moment ago are alive; only one idle for a while is pinged, and a dead one is replaced before
    anyone uses it (a PostgreSQL restart then costs no failed request)."""

    @sa_event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_connection, record):
        record.info["idle_since"] = time.monotonic()

    @sa_event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection, record, _proxy):
        if time.monotonic() - record.info.get("idle_since", float("inf")) < IDLE_PING_SECONDS:
            return
        try:
            dbapi_connection.execute("SELECT 1")
            dbapi_connection.rollback()
        except Exception as exc:  # noqa: BLE001 — whatever broke it, the pool must not hand it out
            raise sa.exc.DisconnectionError(str(exc)) from exc


def _sqlite_transactions(engine: sa.Engine) -> None:
    """Let SQLAlchemy, not pysqlite, issue BEGIN: IMMEDIATE for writers so two writers queue on the file lock
    instead of failing at COMMIT; WAL so readers never wait for a writer."""

    @sa_event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @sa_event.listens_for(engine, "begin")
    def _begin(conn):
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("certplane_write") else "BEGIN")


def _add_missing_columns(conn: sa.Connection, metadata: sa.MetaData) -> None:
    """Add the nullable columns a table of `metadata` has gained since it was created: `create_all` makes missing
    tables but never alters an existing one. Only additions of nullable columns are handled here (the read models
    can be rebuilt from events for anything else); a schema-migration tool replaces this when one is adopted."""
    inspector = sa.inspect(conn)
    for table in metadata.sorted_tables:
        present = {column["name"] for column in inspector.get_columns(table.name, schema=table.schema)}
        for column in table.columns:
            if column.name in present or not column.nullable:
                continue
            kind = column.type.compile(dialect=conn.dialect)
            name = conn.dialect.identifier_preparer.format_table(table)
            conn.execute(sa.text(f'ALTER TABLE {name} ADD COLUMN "{column.name}" {kind}'))


def _add_missing_indexes(conn: sa.Connection, metadata: sa.MetaData) -> None:
    """Create the indexes a table of `metadata` has gained since it was created: like columns, `create_all` makes
    a table's indexes only with the table. Looked up by name (SQLAlchemy names the `index=True` ones); an index of
    the same name with other columns is left alone. On a large table this runs once, at the start that brings the
    index (a CREATE INDEX over 100,000 rows takes about a second on SQLite)."""
    inspector = sa.inspect(conn)
    for table in metadata.sorted_tables:
        present = {index["name"] for index in inspector.get_indexes(table.name, schema=table.schema)}
        for index in table.indexes:
            if index.name not in present:
                index.create(conn)
