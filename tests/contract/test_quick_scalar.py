"""Database.quick_scalar on SQLite and PostgreSQL: constants inlined once, request values bound, never inlined."""
import sqlalchemy as sa


def _table(db):
    metadata = sa.MetaData(schema=db.schema)
    table = sa.Table("quick", metadata, sa.Column("serial", sa.String(80), primary_key=True),
                     sa.Column("kind", sa.String(10), nullable=False), sa.Column("status", sa.String(10)))
    db.create_tables(metadata)
    with db.writer() as conn, conn.begin():
        conn.execute(table.insert(), [{"serial": "1f", "kind": "leaf", "status": "issued"},
                                      {"serial": "it's 100%", "kind": "leaf", "status": "revoked"},
                                      {"serial": "2a", "kind": "ca", "status": "issued"}])
    return table


def test_a_bound_value_is_a_parameter_and_constants_still_apply(database):
    table = _table(database)
    query = sa.select(table.c.status).where(table.c.serial == sa.bindparam("serial"), table.c.kind == "leaf")
    assert database.quick_scalar(query, {"serial": "1f"}) == "issued"
    # quotes and percent signs reach the database as data: the SQL text is never built from them
    assert database.quick_scalar(query, {"serial": "it's 100%"}) == "revoked"
    assert database.quick_scalar(query, {"serial": "1f' OR '1'='1"}) is None
    assert database.quick_scalar(query, {"serial": "2a"}) is None          # the constant kind == 'leaf' holds
    assert database.quick_scalar(query, {"serial": "ff"}) is None


def test_a_statement_of_constants_needs_no_parameters(database):
    table = _table(database)
    assert database.quick_scalar(sa.select(sa.func.count()).select_from(table)
                                 .where(table.c.kind == "leaf")) == 2
