"""Schema migrations (services/runtime/migrations.py) on SQLite and PostgreSQL: the head revision of every owner
makes exactly the tables its code defines; a database made by main before migrations (d472f08, its DDL dumped in
fixtures/) is recognised, stamped at the baseline and upgraded with its rows kept; a start on a schema older or
newer than the code is refused with the remedy."""
from __future__ import annotations

import json
import subprocess
import uuid
from datetime import datetime, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from services.runtime import migrations
from services.runtime.config import load_settings
from services.runtime.db import VERSION_TABLE, make_database
from tests.support import CERTPLANE

FIXTURES = Path(__file__).parent / "fixtures"
OWNERS = list(migrations.OWNER_PACKAGES)
# issue 13's additions (ca, enrollment 0002), issue 14's (enrollment 0003, domains 0002), issue 15's (enrollment
# 0004, 0005; issue 16: 0006); the others at baseline
HEADS = {"ca": "0002", "enrollment": "0006", "domains": "0002"}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def place(request, tmp_path):
    """Where an owner's database lives: a function (owner -> Database) on SQLite files or on a fresh PostgreSQL
    database (one schema per owner, as in distributed mode)."""
    made = []

    def open_for(owner):
        if request.param == "sqlite":
            db = make_database(f"sqlite:///{tmp_path / f'{owner}.sqlite3'}", None)
        else:
            db = make_database(request.getfixturevalue("fresh_pg_url"), owner)
        made.append(db)
        return db

    open_for.dialect = request.param
    yield open_for
    for db in made:
        db.dispose()


@pytest.fixture
def fresh_pg_url():
    from tests.support import pg_database
    with pg_database() as url:
        yield url


@pytest.mark.parametrize("owner", OWNERS)
def test_the_head_revision_makes_the_code_s_tables(place, owner):
    db = place(owner)
    done = migrations.upgrade(db, owner)
    assert done == {"service": owner, "from": None, "stamped": None, "to": HEADS.get(owner, "0001")}
    with db.engine.connect() as conn:
        assert migrations.schema_diff(conn, db, owner) == []
    assert migrations.upgrade(db, owner)["from"] == done["to"]        # again: nothing to do
    assert migrations.status(db, owner)["state"] == "current"


def _load_d472f08(place) -> dict:
    """The fixture's DDL, run as main at d472f08 made it; owner -> Database."""
    text = (FIXTURES / f"schema_d472f08_{'sqlite' if place.dialect == 'sqlite' else 'postgresql'}.sql").read_text()
    databases = {owner: place(owner) for owner in OWNERS}
    if place.dialect == "sqlite":
        for section in text.split("-- owner: ")[1:]:
            owner, _, ddl = section.partition("\n")
            raw = databases[owner].engine.raw_connection()
            raw.driver_connection.executescript(ddl)
            raw.close()
    else:
        with databases["orgs"].engine.begin() as conn:
            conn.exec_driver_sql(text)
    return databases


def _event(position: int) -> dict:
    return {"position": position, "event_id": str(uuid.uuid4()), "stream_id": "organization-1",
            "stream_version": position, "event_type": "organization_created.v1", "schema_version": 1,
            "payload": '{"name": "Example"}', "metadata": "{}", "recorded_at": datetime.now(timezone.utc),
            "prev_hash": "0" * 64, "hash": f"{position:064d}"}


def _insert(db, table: str, rows: list[dict]) -> None:
    with db.engine.begin() as conn:
        target = sa.table(table, *[sa.column(name) for name in rows[0]], schema=db.schema)
        conn.execute(sa.insert(target), rows)


def _count(db, table: str) -> int:
    with db.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(sa.table(table, schema=db.schema))).scalar()


def test_a_database_made_before_migrations_is_stamped_and_upgraded_with_its_rows(place):
    databases = _load_d472f08(place)
    stores = [owner for owner in OWNERS if owner != "gateway"]      # the gateway keeps no events
    for owner, db in databases.items():
        assert migrations.current_revision(db) is None
        if owner in stores:
            _insert(db, "events", [_event(1), _event(2)])
    enrollment = databases["enrollment"]
    now = datetime.now(timezone.utc)
    _insert(enrollment, "ssl_certificates", [{
        "ssl_id": "s-1", "status": "issued", "organization_id": "o-1", "profile_id": "p-1", "term_days": 90,
        "common_name": "a.example", "sans": '["a.example"]', "names": "a.example", "key_type": "ec-p256",
        "auto_renew": False, "requested_by": "admin:1", "created_at": now, "updated_at": now}])
    _insert(databases["gateway"], "tracking", [{"source": "orgs", "position": 7}])

    for owner, db in databases.items():
        done = migrations.upgrade(db, owner)
        assert done == {"service": owner, "from": None, "stamped": "0001", "to": HEADS.get(owner, "0001")}
        with db.engine.connect() as conn:
            assert migrations.schema_diff(conn, db, owner) == [], owner
        if owner in stores:
            assert _count(db, "events") == 2, owner
    assert _count(databases["gateway"], "tracking") == 1
    with enrollment.engine.connect() as conn:
        kept = conn.execute(sa.text(f"SELECT common_name, last_error_code FROM "
                                    f"{'enrollment.' if enrollment.schema else ''}ssl_certificates")).all()
    assert [tuple(row) for row in kept] == [("a.example", None)]
    with enrollment.engine.connect() as conn:
        columns = {c["name"] for c in sa.inspect(conn).get_columns("ssl_certificates", schema=enrollment.schema)}
    assert {"last_findings", "last_error_code"} <= columns


def test_an_unversioned_database_already_at_the_head_is_stamped_at_the_head(place):
    """Tables made by create_all of today's code (a scratch database, an earlier `admin create`) are not migrated
    twice."""
    db = place("enrollment")
    db.create_tables(migrations.target_metadata("enrollment", db.schema))
    assert migrations.upgrade(db, "enrollment") == {"service": "enrollment", "from": None, "stamped": "0006",
                                                    "to": "0006"}


def _distributed(url: str):
    return load_settings(environ={"AMQP_URI": "amqp://guest:guest@127.0.0.1:5672/", "CERTPLANE_DATABASE_URL": url})


def _set_revision(db, revision: str) -> None:
    with db.engine.begin() as conn:
        conn.execute(sa.update(sa.table(VERSION_TABLE, sa.column("version_num"), schema=db.schema))
                     .values(version_num=revision))


@pytest.mark.postgres
def test_distributed_start_refuses_a_schema_older_or_newer_than_the_code(fresh_pg_url):
    settings = _distributed(fresh_pg_url)
    from services.runtime.nameko_glue import open_database
    db = open_database(settings, "enrollment")
    with pytest.raises(migrations.SchemaNotCurrent, match=r"revision none, this code needs 0006: run `certplane "
                                                          r"db upgrade enrollment` first"):
        migrations.ensure_schemas(settings, ["enrollment"])
    migrations.upgrade(db, "enrollment", "0001")
    with pytest.raises(migrations.SchemaNotCurrent, match=r"revision 0001, this code needs 0006: run `certplane db "
                                                          r"upgrade enrollment` first"):
        migrations.ensure_schemas(settings, ["enrollment"])
    migrations.upgrade(db, "enrollment")
    migrations.ensure_schemas(settings, ["enrollment"])        # current: starts
    _set_revision(db, "0007")
    with pytest.raises(migrations.SchemaNotCurrent, match=r"revision 0007, newer than this code's 0006"):
        migrations.ensure_schemas(settings, ["enrollment"])


@pytest.mark.postgres
def test_certplane_run_stops_with_one_line_naming_the_upgrade(fresh_pg_url, tmp_path):
    env = {"PATH": "/usr/bin:/bin", "AMQP_URI": "amqp://guest:guest@127.0.0.1:5672/",
           "CERTPLANE_DATABASE_URL": fresh_pg_url, "CERTPLANE_VAR_DIR": str(tmp_path)}
    run = subprocess.run([CERTPLANE, "run", "orgs"], env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 1
    assert run.stderr.strip().splitlines()[-1] == ("orgs: the database schema is at revision none, this code needs "
                                                   "0001: run `certplane db upgrade orgs` first")
    upgraded = subprocess.run([CERTPLANE, "db", "upgrade", "orgs", "ca"], env=env, capture_output=True, text=True,
                              timeout=60)
    assert upgraded.returncode == 0, upgraded.stderr
    assert [json.loads(line)["to"] for line in upgraded.stdout.splitlines()] == ["0001", "0002"]
    current = subprocess.run([CERTPLANE, "db", "current"], env=env, capture_output=True, text=True, timeout=60)
    assert current.returncode == 1          # the others are not migrated yet
    states = {row["service"]: row["state"] for row in map(json.loads, current.stdout.splitlines())}
    assert states == {"orgs": "current", "ca": "current", **{o: "behind" for o in OWNERS if o not in ("orgs", "ca")}}


def test_embedded_start_upgrades_by_itself(tmp_path):
    settings = load_settings(environ={"CERTPLANE_VAR_DIR": str(tmp_path)})
    migrations.ensure_schemas(settings, ["orgs", "enrollment"])
    from services.runtime.nameko_glue import open_database
    assert migrations.status(open_database(settings, "enrollment"), "enrollment")["state"] == "current"
