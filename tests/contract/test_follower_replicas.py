"""Replicas of a consumer sharing one PostgreSQL read model apply each event once, without colliding."""
import eventlet
import pytest
import sqlalchemy as sa

from services.runtime.db import make_database
from services.runtime.events import NewEvent
from services.runtime.follower import Follower
from services.runtime.store import EventStore


class Rows:
    """A read model with a unique key: applying an event twice would raise."""

    def __init__(self, metadata):
        self.table = sa.Table("rows", metadata, sa.Column("position", sa.Integer, primary_key=True))

    def apply(self, conn, event):
        conn.execute(self.table.insert().values(position=event.position))
        eventlet.sleep(0.001)   # widen the window in which the other replica works on the same event

    def reset(self, conn):
        conn.execute(self.table.delete())


@pytest.mark.postgres
def test_two_replicas_pushed_the_same_events_apply_each_once(pg_url, tmp_path):
    producer = EventStore(make_database(f"sqlite:///{tmp_path / 'producer.sqlite3'}", None), "producer")
    producer.create_schema()
    records = [producer.append(f"s-{i}", 0, [NewEvent("thing_happened.v1", {"i": i})]).events[0] for i in range(30)]
    messages = [r.envelope("producer").to_message() for r in records]

    def read_events(after, limit):
        return [r.envelope("producer").to_message() for r in producer.read_events(after, limit)]

    replicas = []
    for _ in range(2):   # two processes' worth: own engines and locks, one schema
        db = make_database(pg_url, "shared_read_model")
        metadata = sa.MetaData(schema="shared_read_model")
        follower = Follower(db, metadata, "producer", Rows(metadata))
        db.create_tables(metadata)
        follower.setup()
        replicas.append(follower)

    def deliver(follower):
        for message in messages:
            follower.receive(message, read_events)

    for thread in [eventlet.spawn(deliver, f) for f in replicas]:
        thread.wait()
    with replicas[0].db.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM shared_read_model.rows")).scalar() == 30
    assert replicas[0].position() == replicas[1].position() == 30
    assert replicas[0].position_now() == replicas[1].position_now() == 30   # the read the gateway makes per request


def test_a_prepared_policy_does_its_slow_work_outside_the_transaction(tmp_path):
    """The processor's `prepare` runs before the store transaction: while it waits (a remote server), the
    store takes other appends — here prepare itself appends, which inside the transaction would wait for the
    SQLite write lock the transaction holds, for ever. Two keys of one source keep two positions."""
    from services.runtime.follower import PreparedPolicy, Processor
    producer = EventStore(make_database(f"sqlite:///{tmp_path / 'producer.sqlite3'}", None), "producer")
    producer.create_schema()
    for i in range(3):
        producer.append(f"s-{i}", 0, [NewEvent("thing_happened.v1", {"i": i})])
    store = EventStore(make_database(f"sqlite:///{tmp_path / 'consumer.sqlite3'}", None), "consumer")
    store.create_schema()
    processors = []
    for key in (None, "producer:second"):
        processor = Processor(store, "producer", tracking_key=key)
        store.db.create_tables(processor.tracking.metadata)
        processor.setup()
        processors.append(processor)

    def read_events(after, limit):
        return [r.envelope("producer").to_message() for r in producer.read_events(after, limit)]

    def prepare(envelopes):
        store.append(f"prepared-{envelopes[0].position}", 0, [NewEvent("prepared.v1", {"n": len(envelopes)})])
        return [e.payload["i"] for e in envelopes]

    def act(unit, envelopes, prepared):
        unit.append(f"acted-{envelopes[0].position}", 0, [NewEvent("acted.v1", {"seen": prepared})])

    with eventlet.Timeout(10):
        processors[0].catch_up(read_events, policy=PreparedPolicy(act, prepare))
    types = [r.event_type for r in store.read_events(0, 100)]
    assert types == ["prepared.v1", "acted.v1"]
    assert store.read_events(0, 100)[1].payload == {"seen": [0, 1, 2]}
    assert processors[0].position() == 3 and processors[1].position() == 0        # its own tracking row
