"""Schema migrations (Alembic): each database owner — every service and the gateway — has its own script
directory (`<package>/migrations/versions/`) and its own version table (`alembic_version`, in the service's
PostgreSQL schema; in its SQLite file in embedded mode). The scripts are written without a schema: on PostgreSQL
the migration's transaction sets `search_path` to the service's schema, so one script serves both dialects.

- `target_metadata(owner)`: every table the owner's code uses, built from its service class without starting nameko
  (what autogenerate and the tests compare the head revision with);
- `upgrade(db, owner)`: under an advisory lock (replicas and jobs racing), stamps a database made before
  migrations existed at the baseline, then runs the scripts up to the head (`certplane db upgrade`);
- `ensure_schemas(settings, owners)`: the start-up check — embedded mode upgrades by itself (the quick start keeps
  its two commands), distributed mode refuses to start on a schema older or newer than the code.

Revisions are made with autogenerate and then read and kept explicit (`write_revision`, `certplane db revision`).
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from services.runtime.db import VERSION_TABLE, Database

TEMPLATE_DIR = Path(__file__).with_name("alembic_template")   # script.py.mako for new revisions
BASELINE = "0001"   # the schema of main before migrations (d472f08): what an unversioned database is stamped at

OWNER_PACKAGES = {"orgs": "services.orgs", "identity": "services.identity", "domains": "services.domains",
                  "notify": "services.notify", "ca": "services.ca", "enrollment": "services.enrollment",
                  "gateway": "gateway"}


class SchemaNotCurrent(SystemExit):
    """The start-up refusal: one line that names the owner, both revisions and `certplane db upgrade`."""


def versions_dir(owner: str) -> Path:
    package = importlib.import_module(OWNER_PACKAGES[owner])
    return Path(package.__file__).parent / "migrations" / "versions"


def script_directory(owner: str) -> ScriptDirectory:
    return ScriptDirectory(str(TEMPLATE_DIR), version_locations=[str(versions_dir(owner))])


def head(owner: str) -> str:
    return script_directory(owner).get_current_head()


def index_name(rest: str) -> str:
    """The name SQLAlchemy gives an `index=True` index (ix_<table>_<column>), as a script must spell it: on
    PostgreSQL the column's label includes the schema (ix_<schema>_<table>_<column>), so the same script makes
    the names the code's metadata (and main before migrations) has on either dialect."""
    from alembic import op
    schema = op.get_context().version_table_schema
    return op.f(f"ix_{schema}_{rest}" if schema else f"ix_{rest}")


# ---- the code's tables ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Collecting(Database):
    """A Database whose create_tables keeps the metadata instead of touching a database: the table-owning classes
    are built on it as the service builds them on its own, and what they would create is collected."""

    found: list = field(default_factory=list)

    def create_tables(self, metadata: sa.MetaData) -> None:
        self.found.append(metadata)


def _owned_elsewhere(owner: str):
    """The tables an owner's code makes outside the event store and its followers (its adapters' own tables)."""
    from services.runtime.kept_secrets import KeptSecrets
    if owner == "identity":
        from services.identity.adapters.credentials import CredentialStore
        return [CredentialStore]
    if owner == "domains":
        return [lambda db: KeptSecrets(db, "dcv_mail_secrets")]
    if owner == "enrollment":
        from services.enrollment.acme_projections import AcmeNonces
        return [AcmeNonces]
    if owner == "notify":
        from services.notify.adapters.smtp import OutboxSender
        return [lambda db: OutboxSender(db).create_table()]
    if owner == "ca":
        from services.ca.adapters.keystore import KEK_BYTES, KeyStore
        from services.ca.service import CrlFiles
        return [lambda db: KeyStore(db, bytes(KEK_BYTES)), CrlFiles]
    if owner == "gateway":
        from gateway.api_key_usage import ApiKeyUsage
        from gateway.console_sessions import ConsoleSessions
        from gateway.idempotency import IdempotencyKeys
        return [IdempotencyKeys, ApiKeyUsage, lambda db: ConsoleSessions(db, 1800.0)]
    return []


def target_metadata(owner: str, schema: str | None = None) -> sa.MetaData:
    """Every table of `owner`'s database as its code defines them (events, relay state, projections, followers'
    read models and tracking, adapters' tables), in `schema`; built from the service class, nameko not started.
    The tables shared by several parts (the followers' one `tracking` table) appear once."""
    from services.runtime.cli import service_class
    from services.runtime.follower import Follower, Processor
    from services.runtime.kept_secrets import KeptSecrets, KeptSecretsProvider
    from services.runtime.nameko_glue import EventStoreProvider, FollowerProvider, ProcessorProvider
    from services.runtime.store import EventStore

    db = _Collecting(sa.create_engine("sqlite://"), schema)
    cls = service_class(owner)
    providers = [getattr(cls, name) for name in dir(cls)]
    store = None
    for provider in providers:
        if isinstance(provider, EventStoreProvider):
            store = EventStore(db, owner, provider.projections)
            store.create_schema()
    for provider in providers:
        if isinstance(provider, KeptSecretsProvider):
            KeptSecrets(db, provider.name)
        elif isinstance(provider, ProcessorProvider):
            db.create_tables(Processor(store or SimpleNamespace(db=db), provider.source).tracking.metadata)
        elif isinstance(provider, FollowerProvider):
            if provider.database_name not in (None, owner):
                continue            # kept in another owner's database
            metadata = sa.MetaData(schema=schema)
            Follower(db, metadata, provider.source, provider.projection_cls(metadata))
            db.create_tables(metadata)
    for make in _owned_elsewhere(owner):
        make(db)
    merged = sa.MetaData(schema=schema)
    for metadata in db.found:
        for table in metadata.tables.values():
            if table.key not in merged.tables:
                table.to_metadata(merged)
    return merged


# ---- revisions of a database ------------------------------------------------------------------------------------

def decide_schema_state(current: str | None, head_revision: str, known: set[str]) -> str:
    """"current", "behind" (an older revision, or none: `certplane db upgrade` brings it to the head) or "ahead"
    (a revision this code does not know: a newer release migrated it)."""
    if current == head_revision:
        return "current"
    if current is not None and current not in known:
        return "ahead"
    return "behind"


def _context(conn: sa.Connection, db: Database, **opts) -> MigrationContext:
    return MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE,
                                                  "version_table_schema": db.schema, **opts})


def _search_path(conn: sa.Connection, db: Database) -> None:
    if db.is_postgres:
        conn.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{db.schema}"'))
        conn.execute(sa.text(f'SET LOCAL search_path TO "{db.schema}"'))


def current_revision(db: Database) -> str | None:
    with db.engine.connect() as conn:
        if not sa.inspect(conn).has_table(VERSION_TABLE, schema=db.schema):
            return None
        return _context(conn, db).get_current_revision()


def schema_diff(conn: sa.Connection, db: Database, owner: str) -> list:
    """Alembic's differences between the database on `conn` and the code's tables (empty: they match)."""
    opts = {"compare_type": True}
    if db.schema:
        opts.update(include_schemas=True,
                    include_name=lambda name, type_, _parent: type_ != "schema" or name == db.schema)
    return compare_metadata(_context(conn, db, **opts), target_metadata(owner, db.schema))


def upgrade(db: Database, owner: str, target: str = "heads") -> dict:
    """Bring `owner`'s schema to `target` in one transaction, under a lock per schema (PostgreSQL: an advisory
    lock; SQLite: the write lock BEGIN IMMEDIATE takes). A database made before migrations (tables, no version
    table) is stamped first: at the head if its tables already match the code, else at the baseline."""
    script = script_directory(owner)
    with db.writer() as conn, conn.begin():
        if db.is_postgres:
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(db.lock_key("migrations"))))
        _search_path(conn, db)
        inspector = sa.inspect(conn)
        before = None
        if inspector.has_table(VERSION_TABLE, schema=db.schema):
            before = _context(conn, db).get_current_revision()
        stamped = None
        if before is None and set(inspector.get_table_names(schema=db.schema)) - {VERSION_TABLE}:
            stamped = script.get_current_head() if not schema_diff(conn, db, owner) else BASELINE
            _context(conn, db).stamp(script, stamped)
        config = Config()
        config.set_main_option("script_location", str(TEMPLATE_DIR))
        environment = EnvironmentContext(config, script, destination_rev=target,
                                         fn=lambda rev, _ctx: script._upgrade_revs(target, rev))
        with environment:
            environment.configure(connection=conn, version_table=VERSION_TABLE, version_table_schema=db.schema,
                                  transactional_ddl=True)
            environment.run_migrations()
            after = environment.get_context().get_current_revision()
    return {"service": owner, "from": before, "stamped": stamped, "to": after}


def status(db: Database, owner: str) -> dict:
    script = script_directory(owner)
    current = current_revision(db)
    code_head = script.get_current_head()
    known = {revision.revision for revision in script.walk_revisions()}
    return {"service": owner, "current": current, "head": code_head,
            "state": decide_schema_state(current, code_head, known)}


def refusal(found: dict) -> str:
    owner, current, code_head = found["service"], found["current"], found["head"]
    if found["state"] == "ahead":
        return (f"{owner}: the database schema is at revision {current}, newer than this code's {code_head}; "
                f"run the release that made it (whose `certplane db upgrade` did), not this one")
    return (f"{owner}: the database schema is at revision {current or 'none'}, this code needs {code_head}: "
            f"run `certplane db upgrade {owner}` first")


def owners_of(names: list[str]) -> list[str]:
    return [name for name in names if name in OWNER_PACKAGES]


def ensure_schemas(settings, names: list[str]) -> None:
    """The start-up check for the services of this process: embedded mode upgrades (one process owns var/);
    distributed mode refuses, with one line naming `certplane db upgrade`, on a schema not at the code's head."""
    from services.runtime.nameko_glue import open_database
    for owner in owners_of(names):
        db = open_database(settings, owner)
        if settings.embedded:
            upgrade(db, owner)
            continue
        found = status(db, owner)
        if found["state"] != "current":
            raise SchemaNotCurrent(refusal(found))


# ---- writing revisions ------------------------------------------------------------------------------------------

def write_revision(db: Database, owner: str, message: str, revision_id: str) -> str:
    """Autogenerate a draft revision of `owner`: from the database on `db` (upgraded to the current head) to the
    code's tables. Read it and keep it explicit and dialect-neutral; spell the names of `index=True` indexes
    `ix("<table>_<column>")` (index_name) instead of autogenerate's op.f("ix_<table>_<column>")."""
    from alembic.autogenerate import produce_migrations, render_python_code
    with db.writer() as conn, conn.begin():
        _search_path(conn, db)
        metadata = target_metadata(owner, None)
        ops = produce_migrations(_context(conn, db, compare_type=True, target_metadata=metadata), metadata)
    script = script_directory(owner)
    made = script.generate_revision(revision_id, message, head="head", imports="",
                                    upgrades=render_python_code(ops.upgrade_ops),
                                    downgrades=render_python_code(ops.downgrade_ops))
    return made.path
