"""One conformance suite for every event store implementation, run on SQLite and on PostgreSQL."""
from datetime import datetime, timedelta, timezone

import eventlet
import pytest
import sqlalchemy as sa

from contracts.errors import ConcurrencyConflict, Conflict
from services.runtime.db import make_database
from services.runtime.events import GENESIS_HASH, NewEvent, chain_hash
from services.runtime.relay import RelayLock
from services.runtime.store import EventStore, StreamAppend

T0 = datetime(2026, 11, 27, 9, 30, tzinfo=timezone.utc)


class Ticking:
    def __init__(self):
        self.now = T0

    def __call__(self):
        self.now += timedelta(milliseconds=1, microseconds=7)
        return self.now


def new(n=1, kind="thing_happened.v1"):
    return [NewEvent(kind, {"n": i, "text": "grüße", "nested": {"b": [1, 2], "a": None}}) for i in range(n)]


class Counter:
    """A projection: counts events per stream; refuses payloads marked poison (to prove atomicity)."""

    def __init__(self, metadata):
        self.table = sa.Table("counter", metadata, sa.Column("stream_id", sa.String(200), primary_key=True),
                              sa.Column("count", sa.Integer, nullable=False))

    def apply(self, conn, event):
        if event.payload.get("poison"):
            raise Conflict("poisoned")
        updated = conn.execute(self.table.update().where(self.table.c.stream_id == event.stream_id)
                               .values(count=self.table.c.count + 1)).rowcount
        if not updated:
            conn.execute(self.table.insert().values(stream_id=event.stream_id, count=1))

    def reset(self, conn):
        conn.execute(self.table.delete())

    def counts(self, conn):
        return dict(conn.execute(sa.select(self.table.c.stream_id, self.table.c.count)).all())


@pytest.fixture
def store(database):
    s = EventStore(database, "test", projections=[Counter], clock=Ticking())
    s.create_schema()
    return s


def test_append_then_load_returns_the_stream_in_order(store):
    result = store.append("thing-1", 0, new(3), {"actor": "admin:1", "correlation_id": "c1"})
    assert result.stream_version == 3 and result.position == 3
    loaded = store.load("thing-1")
    assert [e.stream_version for e in loaded] == [1, 2, 3]
    assert [e.payload["n"] for e in loaded] == [0, 1, 2]
    assert loaded[0].payload["text"] == "grüße" and loaded[0].metadata["actor"] == "admin:1"
    assert loaded[0].recorded_at.tzinfo is not None


def test_append_at_a_stale_version_is_a_conflict_and_stores_nothing(store):
    store.append("thing-1", 0, new(1))
    with pytest.raises(ConcurrencyConflict):
        store.append("thing-1", 0, new(1))
    with pytest.raises(ConcurrencyConflict):
        store.append("thing-1", 5, new(1))
    assert len(store.load("thing-1")) == 1 and store.head() == 1


def test_a_multi_event_append_onto_a_stream_that_moved_inserts_none_of_them(store):
    store.append("thing-1", 0, new(1))
    store.append("thing-1", 1, new(1))                   # someone else's event: the stream is at 2
    with pytest.raises(ConcurrencyConflict):
        store.append("thing-1", 1, new(3))               # we saw 1; our 2nd and 3rd event must not slip in
    assert [e.stream_version for e in store.load("thing-1")] == [1, 2] and store.head() == 2
    assert store.verify().ok


def test_a_batch_over_several_streams_is_all_or_nothing(store):
    store.append("b", 0, new(1))
    with pytest.raises(ConcurrencyConflict):
        store.append_streams([StreamAppend("a", 0, tuple(new(2))), StreamAppend("b", 0, tuple(new(1)))])
    assert store.load("a") == [] and store.head() == 1
    result = store.append_streams([StreamAppend("a", 0, tuple(new(2))), StreamAppend("b", 1, tuple(new(1)))])
    assert [e.position for e in result.events] == [2, 3, 4] and store.verify().ok
    assert store.read(store.projection(Counter).counts) == {"a": 2, "b": 2}


def test_execute_retries_after_a_concurrent_append_and_decides_again(store):
    calls = []

    def decide(history):
        calls.append(len(history))
        if len(calls) == 1:  # someone else appends between our load and our append
            store.append("thing-1", len(history), new(1))
        return new(1)

    result = store.execute("thing-1", decide)
    assert calls == [0, 1]
    assert result.stream_version == 2 and len(store.load("thing-1")) == 2


def test_execute_gives_up_with_409_after_repeated_conflicts(store):
    def always_interfered(history):
        store.append("thing-1", len(history), new(1))
        return new(1)

    with pytest.raises(Conflict) as refused:
        store.execute("thing-1", always_interfered)
    assert refused.value.code == "concurrent_update"


def test_execute_with_nothing_to_do_appends_nothing(store):
    store.append("thing-1", 0, new(1))
    result = store.execute("thing-1", lambda history: [])
    assert result.events == () and result.stream_version == 1 and store.head() == 1


def test_positions_are_global_contiguous_and_in_commit_order(store):
    store.append("a", 0, new(2))
    store.append("b", 0, new(1))
    store.append("a", 2, new(1))
    events = store.read_events(0, 100)
    assert [e.position for e in events] == [1, 2, 3, 4]
    assert [(e.stream_id, e.stream_version) for e in events] == [("a", 1), ("a", 2), ("b", 1), ("a", 3)]
    assert [e.recorded_at for e in events] == sorted(e.recorded_at for e in events)


def test_concurrent_writers_leave_no_hole_and_no_broken_link(store):
    """Two stores on the same database stand for two processes (each has its own in-process lock)."""
    other = EventStore(store.db, "test", projections=[Counter])

    def writer(s, name):
        for i in range(15):
            s.append(f"{name}-{i}", 0, new(2))

    threads = [eventlet.spawn(writer, s, f"w{k}") for k, s in enumerate([store, other, store, other])]
    for t in threads:
        t.wait()
    events = store.read_events(0, 1000)
    assert [e.position for e in events] == list(range(1, 121))
    assert store.verify().ok


def test_the_hash_chain_links_every_event(store):
    store.append("a", 0, new(2))
    store.append("b", 0, new(1))
    events = store.read_events(0, 10)
    assert events[0].prev_hash == GENESIS_HASH
    assert all(later.prev_hash == earlier.hash for earlier, later in zip(events, events[1:]))
    assert store.verify().ok and store.verify().checked == 3


@pytest.mark.parametrize("tamper", ["payload", "metadata", "event_type", "recorded_at", "delete"])
def test_audit_verify_finds_an_edited_or_deleted_row(store, tamper):
    store.append("a", 0, new(3))
    store.append("b", 0, new(2))
    table = store.events
    with store.db.engine.begin() as conn:
        row = table.c.position == 3
        if tamper == "payload":
            conn.execute(table.update().where(row).values(payload={"n": 99}))
        elif tamper == "metadata":
            conn.execute(table.update().where(row).values(metadata={"actor": "someone else"}))
        elif tamper == "event_type":
            conn.execute(table.update().where(row).values(event_type="other_thing.v1"))
        elif tamper == "recorded_at":
            conn.execute(table.update().where(row).values(recorded_at=T0 - timedelta(days=1)))
        else:
            conn.execute(table.delete().where(row))
    outcome = store.verify()
    assert not outcome.ok
    assert outcome.first_bad_position == 3
    assert outcome.checked == 2


def test_audit_verify_finds_a_recomputed_row_by_its_broken_successor(store):
    """Someone who rewrites a row and its own hash still breaks the next row's prev_hash link."""
    store.append("a", 0, new(3))
    e2 = store.read_events(1, 1)[0]
    forged = chain_hash(e2.prev_hash, 2, e2.event_id, e2.stream_id, 2, e2.event_type, 1, {"n": 42}, e2.metadata,
                        e2.recorded_at)
    with store.db.engine.begin() as conn:
        conn.execute(store.events.update().where(store.events.c.position == 2).values(payload={"n": 42},
                                                                                       hash=forged))
    outcome = store.verify()
    assert not outcome.ok and outcome.first_bad_position == 3


def test_read_events_pages_by_position(store):
    for i in range(7):
        store.append(f"s{i}", 0, new(1))
    assert [e.position for e in store.read_events(0, 3)] == [1, 2, 3]
    assert [e.position for e in store.read_events(3, 3)] == [4, 5, 6]
    assert [e.position for e in store.read_events(6, 3)] == [7]
    assert store.read_events(7, 3) == []


def test_projections_update_in_the_same_transaction(store):
    store.append("a", 0, new(2))
    store.append("b", 0, new(1))
    assert store.read(store.projection(Counter).counts) == {"a": 2, "b": 1}


def test_a_failing_projection_stores_no_event(store):
    store.append("a", 0, new(1))
    with pytest.raises(Conflict):
        store.append("a", 1, [NewEvent("thing_happened.v1", {"poison": True})])
    assert store.head() == 1
    assert store.read(store.projection(Counter).counts) == {"a": 1}
    assert store.append("a", 1, new(1)).position == 2  # and the store goes on without a hole


def test_rebuilt_projections_equal_the_incremental_ones(store):
    for i in range(5):
        store.append(f"s{i % 2}", store.execute(f"s{i % 2}", lambda h: []).stream_version, new(1))
    before = store.read(store.projection(Counter).counts)
    with store.db.engine.begin() as conn:
        conn.execute(store.projection(Counter).table.update().values(count=0))
    assert store.rebuild_projections() == 5
    assert store.read(store.projection(Counter).counts) == before == {"s0": 3, "s1": 2}


def test_relay_leadership_is_exclusive(store, tmp_path):
    lock_path = str(tmp_path / "relay.lock")
    first, second = RelayLock(store, lock_path), RelayLock(store, lock_path)
    assert first.try_acquire()
    assert not second.try_acquire()
    first.release()
    assert second.try_acquire()
    second.release()


@pytest.mark.postgres
def test_services_sharing_a_postgres_database_keep_separate_schemas(pg_url):
    one_db, two_db = make_database(pg_url, "svc_one"), make_database(pg_url, "svc_two")
    one, two = EventStore(one_db, "one"), EventStore(two_db, "two")
    one.create_schema()
    two.create_schema()
    one.append("x", 0, new(2))
    two.append("x", 0, new(1))
    assert (one.head(), two.head()) == (2, 1)
    assert one.verify().ok and two.verify().ok
    one_db.dispose()
    two_db.dispose()


@pytest.mark.postgres
def test_a_connection_killed_while_idle_is_replaced_before_use(pg_url, monkeypatch):
    """A PostgreSQL restart (here: the server ending our idle sessions) costs no failed request."""
    from services.runtime import db as db_module
    monkeypatch.setattr(db_module, "IDLE_PING_SECONDS", 0.0)
    database = make_database(pg_url, "reconnect")
    store = EventStore(database, "test")
    store.create_schema()
    store.append("a", 0, new(1))
    with database.engine.connect() as conn:
        mine = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar()
    from tests.support import _pg_admin
    with _pg_admin() as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (mine,))
    assert store.append("a", 1, new(1)).position == 2
    assert store.head() == 2
    database.dispose()
