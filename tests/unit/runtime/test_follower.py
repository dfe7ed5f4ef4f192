"""The follower keeps a read model of another service's events exactly once and in order.

The producer is a real EventStore (SQLite) and `read_events` reads it the way the producer's RPC does; the
consumer's database is another SQLite file, as in embedded mode."""
import eventlet
import pytest
import sqlalchemy as sa

from services.runtime.db import make_database
from services.runtime.events import NewEvent
from services.runtime.follower import Follower
from services.runtime.store import EventStore


class Seen:
    """Read model: every applied event in order; refuses an event whose payload says so (a crashing handler)."""
    fail_on: set = set()

    def __init__(self, metadata):
        self.table = sa.Table("seen", metadata, sa.Column("position", sa.Integer, primary_key=True),
                              sa.Column("n", sa.Integer, nullable=False))

    def apply(self, conn, event):
        if event.payload["n"] in self.fail_on:
            raise RuntimeError("handler crashed")
        conn.execute(self.table.insert().values(position=event.position, n=event.payload["n"]))

    def reset(self, conn):
        conn.execute(self.table.delete())


@pytest.fixture
def producer(tmp_path):
    store = EventStore(make_database(f"sqlite:///{tmp_path / 'producer.sqlite3'}", None), "producer")
    store.create_schema()
    return store


class Producer:
    def __init__(self, store):
        self.store = store
        self.pulls = []

    def append(self, n):
        return self.store.append(f"s-{n}", 0, [NewEvent("thing_happened.v1", {"n": n})]).events[0]

    def message(self, record):
        return record.envelope("producer").to_message()

    def read_events(self, after, limit):
        self.pulls.append((after, limit))
        return [self.message(r) for r in self.store.read_events(after, limit)]


def make_follower(path):
    db = make_database(f"sqlite:///{path}", None)
    metadata = sa.MetaData()
    follower = Follower(db, metadata, "producer", Seen(metadata), page=3)
    db.create_tables(metadata)
    follower.setup()
    return follower


def seen(follower):
    with follower.db.engine.connect() as conn:
        return [n for (n,) in conn.execute(sa.select(follower.projection.table.c.n)
                                           .order_by(follower.projection.table.c.position))]


@pytest.fixture
def follower(tmp_path):
    Seen.fail_on = set()
    return make_follower(tmp_path / "consumer.sqlite3")


def test_pushed_events_in_order_are_applied(producer, follower):
    p = Producer(producer)
    for n in range(3):
        assert follower.receive(p.message(p.append(n)), p.read_events) == "applied"
    assert seen(follower) == [0, 1, 2] and follower.position() == 3
    assert p.pulls == []


def test_a_duplicated_delivery_is_applied_once(producer, follower):
    p = Producer(producer)
    first = p.message(p.append(0))
    assert follower.receive(first, p.read_events) == "applied"
    assert follower.receive(first, p.read_events) == "duplicate"
    assert seen(follower) == [0]


def test_a_lost_message_is_recovered_by_gap_fill(producer, follower):
    p = Producer(producer)
    follower.receive(p.message(p.append(0)), p.read_events)
    p.append(1)  # this one never arrives
    p.append(2)  # nor this one
    third = p.append(3)
    assert follower.receive(p.message(third), p.read_events) == "gap_filled"
    assert seen(follower) == [0, 1, 2, 3] and follower.position() == 4
    assert p.pulls[0] == (1, 3)  # pulled exactly the missing range up to the pushed event


def test_catch_up_pulls_everything_in_pages_and_is_idempotent(producer, follower):
    p = Producer(producer)
    for n in range(8):
        p.append(n)
    assert follower.catch_up(p.read_events) == 8
    assert follower.catch_up(p.read_events) == 0
    assert seen(follower) == list(range(8))
    assert [after for after, _ in p.pulls[:3]] == [0, 3, 6]


def test_wait_for_pulls_only_when_behind(producer, follower):
    p = Producer(producer)
    record = p.append(0)
    follower.wait_for(record.position, p.read_events)
    assert seen(follower) == [0]
    pulls = len(p.pulls)
    follower.wait_for(record.position, p.read_events)
    assert len(p.pulls) == pulls


def test_a_crashing_handler_leaves_read_model_and_position_unchanged(producer, follower):
    p = Producer(producer)
    for n in range(3):
        p.append(n)
    Seen.fail_on = {1}
    with pytest.raises(RuntimeError):
        follower.catch_up(p.read_events)
    assert seen(follower) == [] and follower.position() == 0  # the page [0, 1, 2] rolled back as one
    Seen.fail_on = set()
    assert follower.catch_up(p.read_events) == 3
    assert seen(follower) == [0, 1, 2]


def test_replicas_sharing_a_database_apply_each_event_once(producer, tmp_path):
    Seen.fail_on = set()
    path = tmp_path / "shared.sqlite3"
    one, two = make_follower(path), make_follower(path)
    p = Producer(producer)
    messages = [p.message(p.append(n)) for n in range(12)]

    def deliver(f, order):
        for message in order:
            f.receive(message, p.read_events)
            eventlet.sleep(0)

    a = eventlet.spawn(deliver, one, messages)
    b = eventlet.spawn(deliver, two, list(reversed(messages)))
    a.wait()
    b.wait()
    assert seen(one) == list(range(12))


def test_rebuild_equals_incremental(producer, follower):
    p = Producer(producer)
    for n in range(5):
        follower.receive(p.message(p.append(n)), p.read_events)
    before = seen(follower)
    assert follower.rebuild(p.read_events) == 5
    assert seen(follower) == before


def test_position_now_reads_what_the_replica_next_door_applied(producer, tmp_path):
    """The cheap read the gateway makes per request sees a position moved by another replica at once."""
    path = tmp_path / "shared.sqlite3"
    one, two = make_follower(path), make_follower(path)
    p = Producer(producer)
    assert one.position_now() == 0
    for n in range(3):
        two.receive(p.message(p.append(n)), p.read_events)
    assert one.position_now() == two.position() == 3
