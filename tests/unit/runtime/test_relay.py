"""The relay publishes committed events in position order and advances only after the broker confirmed them."""
import eventlet
import pytest

from services.runtime.db import make_database
from services.runtime.events import NewEvent
from services.runtime.relay import Relay, RelayLock
from services.runtime.store import EventStore


@pytest.fixture
def store(tmp_path):
    s = EventStore(make_database(f"sqlite:///{tmp_path / 'svc.sqlite3'}", None), "svc")
    s.create_schema()
    return s


class Broker:
    def __init__(self, fail_at=None):
        self.received = []
        self.fail_at = fail_at
        self.batches = 0

    def publish(self, batch):
        """A batch is confirmed as a whole: failing at its k-th message, none of it counts as confirmed (those
        before it may have reached the broker; the relay republishes them: at least once)."""
        self.batches += 1
        for message, routing_key in batch:
            if self.fail_at is not None and len(self.received) + 1 == self.fail_at:
                self.fail_at = None
                raise ConnectionError("broker went away")    # the ones before reached the broker, unconfirmed
            self.received.append((routing_key, message["position"]))


def append(store, n):
    for i in range(n):
        store.append(f"s-{store.head() + 1}", 0, [NewEvent("thing_happened.v1", {"i": i})])


def test_publishes_in_position_order_with_the_event_type_as_routing_key(store, tmp_path):
    append(store, 5)
    broker = Broker()
    relay = Relay(store, broker.publish, RelayLock(store, str(tmp_path / "l")), batch=2)
    while relay.publish_pending():
        pass
    assert broker.received == [("thing_happened.v1", p) for p in range(1, 6)]
    assert broker.batches == 3                  # one confirm per batch of 2, not one per event
    assert store.published_position() == 5


def test_an_unconfirmed_batch_is_published_again(store, tmp_path):
    append(store, 3)
    broker = Broker(fail_at=3)
    relay = Relay(store, broker.publish, RelayLock(store, str(tmp_path / "l")), batch=10)
    with pytest.raises(ConnectionError):
        relay.publish_pending()
    assert store.published_position() == 0
    relay.publish_pending()
    assert [p for _, p in broker.received] == [1, 2, 1, 2, 3]  # at least once; consumers dedupe by position
    assert store.published_position() == 3


def test_the_running_relay_wakes_on_append_and_a_standby_waits(store, tmp_path):
    broker, standby_broker = Broker(), Broker()
    leader = Relay(store, broker.publish, RelayLock(store, str(tmp_path / "l")), poll_interval=5)
    standby = Relay(store, standby_broker.publish, RelayLock(store, str(tmp_path / "l")), standby_interval=0.05)
    threads = [eventlet.spawn(leader.run), eventlet.spawn(standby.run)]
    eventlet.sleep(0.1)
    append(store, 2)
    for _ in range(100):
        if len(broker.received) == 2:
            break
        eventlet.sleep(0.01)
    assert [p for _, p in broker.received] == [1, 2]   # woken by the append, not by the 5 s poll
    assert standby_broker.received == []
    leader.stop()
    threads[0].wait()
    append(store, 1)
    for _ in range(200):
        if standby_broker.received:
            break
        eventlet.sleep(0.01)
    assert [p for _, p in standby_broker.received] == [3]  # the standby took over where the leader stopped
    standby.stop()
    threads[1].wait()
