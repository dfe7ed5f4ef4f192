"""Database.create_tables on a table made by an older version: the nullable columns the code has gained since are
added (rows already there read NULL), on SQLite and PostgreSQL; a second start changes nothing."""
import sqlalchemy as sa


def _table(db, *extra: sa.Column) -> sa.Table:
    metadata = sa.MetaData(schema=db.schema)
    table = sa.Table("grown", metadata, sa.Column("ssl_id", sa.String(36), primary_key=True),
                     sa.Column("common_name", sa.String(64), nullable=False), *extra)
    db.create_tables(metadata)
    return table


def test_a_nullable_column_added_in_code_is_added_to_the_existing_table(database):
    old = _table(database)
    with database.writer() as conn, conn.begin():
        conn.execute(old.insert().values(ssl_id="a", common_name="old.example.com"))

    new = _table(database, sa.Column("trust_class", sa.String(10)))        # the next version starts
    _table(database, sa.Column("trust_class", sa.String(10)))             # and again: nothing to add

    with database.writer() as conn, conn.begin():
        conn.execute(new.insert().values(ssl_id="b", common_name="new.example.com", trust_class="public"))
        rows = conn.execute(sa.select(new.c.ssl_id, new.c.trust_class).order_by(new.c.ssl_id)).all()
    assert [tuple(r) for r in rows] == [("a", None), ("b", "public")]
