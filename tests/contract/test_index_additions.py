"""Database.create_tables on a table made by an older version: the indexes the code has gained since are created
(create_all makes indexes only with a new table), on SQLite and PostgreSQL; a second start changes nothing. And
the SSL inventory's indexes exist on a database that predates them, and its sort values are the gateway's."""
import sqlalchemy as sa

from services.enrollment.projections import EnrollmentView


def _table(db, *extra) -> sa.Table:
    metadata = sa.MetaData(schema=db.schema)
    table = sa.Table("grown", metadata, sa.Column("ssl_id", sa.String(36), primary_key=True),
                     sa.Column("status", sa.String(12), nullable=False),
                     sa.Column("created_at", sa.DateTime(timezone=True)), *extra)
    db.create_tables(metadata)
    return table


def _indexes(db, table: str) -> dict[str, list[str]]:
    with db.engine.connect() as conn:
        return {i["name"]: i["column_names"] for i in sa.inspect(conn).get_indexes(table, schema=db.schema)}


def test_an_index_added_in_code_is_created_on_the_existing_table(database):
    old = _table(database)
    with database.writer() as conn, conn.begin():
        conn.execute(old.insert().values(ssl_id="a", status="issued"))
    assert "grown_status_created" not in _indexes(database, "grown")

    _table(database, sa.Index("grown_status_created", "status", "created_at", "ssl_id"))   # the next version
    _table(database, sa.Index("grown_status_created", "status", "created_at", "ssl_id"))   # and again

    assert _indexes(database, "grown")["grown_status_created"] == ["status", "created_at", "ssl_id"]
    with database.engine.connect() as conn:                                                 # the rows stay
        assert conn.execute(sa.select(old.c.ssl_id)).scalars().all() == ["a"]


def test_the_ssl_inventory_gets_its_indexes_on_a_database_made_before_them(database):
    metadata = sa.MetaData(schema=database.schema)
    current = EnrollmentView(metadata).ssl
    before = sa.MetaData(schema=database.schema)
    sa.Table(current.name, before, *[sa.Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable)
                                     for c in current.columns])                      # the table, no index at all
    database.create_tables(before)
    assert not set(_indexes(database, current.name)) & {i.name for i in current.indexes}

    database.create_tables(metadata)

    present = _indexes(database, current.name)
    for index in current.indexes:
        assert present[index.name] == [c.name for c in index.columns]
