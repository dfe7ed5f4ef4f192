import uuid

import pytest

from services.runtime.db import make_database
from tests.support import pg_database


@pytest.fixture(scope="session")
def pg_url():
    with pg_database() as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request, tmp_path):
    """A fresh, empty database of each kind: a SQLite file, or a new schema in a PostgreSQL test database."""
    if request.param == "sqlite":
        db = make_database(f"sqlite:///{tmp_path / 'store.sqlite3'}", None)
    else:
        db = make_database(request.getfixturevalue("pg_url"), f"s_{uuid.uuid4().hex[:10]}")
    yield db
    db.dispose()
