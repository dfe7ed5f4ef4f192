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
VERSION_TABLE = "alembic_version"   # Alembic's, one per service schema (services/runtime/migrations.py)
_QUICK_SQL: dict = {}   # (statement, dialect, bound) -> how quick_scalar runs it (a handful per process)


class SchemaMismatch(RuntimeError):
    """The code needs tables or columns the migrated schema does not have."""


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

    def reader(self) -> sa.Connection:
        """A connection for reads only. On PostgreSQL in autocommit: no BEGIN before the query and no ROLLBACK
        when it goes back to the pool (two of a one-query read's three round trips; 6 % of enrollment's CPU under
        load, py-spy). Each statement then sees its own snapshot: a reader that needs several reads to agree must
        use `engine.connect()` instead."""
        if self.is_postgres:
            return self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        return self.engine.connect()

    def writer(self) -> sa.Connection:
        """A connection whose transactions take the database write lock at BEGIN (SQLite) — see make_engine."""
        return self.engine.connect().execution_options(certplane_write=True)

    def create_tables(self, metadata: sa.MetaData) -> None:
        """The schema is made by migrations (services/runtime/migrations.py, `certplane db upgrade`), not at run
        time: on a database they manage this only checks that every table and column of `metadata` is there, so
        code whose tables no revision makes stops at start with the remedy instead of failing on its first query.
        A database no migration has touched (a test's scratch file or schema) gets the tables made."""
        with self.writer() as conn, conn.begin():
            if self.is_postgres:
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(zlib.crc32(b"certplane:ddl") & 0x7FFFFFFF)))
            inspector = sa.inspect(conn)
            if inspector.has_table(VERSION_TABLE, schema=self.schema):
                missing = _missing(inspector, metadata)
                if missing:
                    raise SchemaMismatch(f"the database schema {self.schema or self.engine.url.database} lacks "
                                         f"{', '.join(missing)}: run `certplane db upgrade` (or add a migration)")
                return
            if self.is_postgres:
                conn.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"'))
            metadata.create_all(conn)

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


def _missing(inspector, metadata: sa.MetaData) -> list[str]:
    """The tables and columns of `metadata` that the database lacks."""
    missing = []
    for table in metadata.sorted_tables:
        if not inspector.has_table(table.name, schema=table.schema):
            missing.append(f"table {table.name}")
            continue
        present = {column["name"] for column in inspector.get_columns(table.name, schema=table.schema)}
        missing += [f"column {table.name}.{column.name}" for column in table.columns if column.name not in present]
    return missing
