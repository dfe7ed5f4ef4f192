"""The relay: the event store is the outbox; this publishes every committed event, in position order.

One relay per service is active at a time (PostgreSQL: a session advisory lock held on a dedicated connection;
SQLite: an flock on a file next to the database), so replicas of a service are safe: the others wait as standbys.
The published position advances only after the broker confirmed the batch (one confirm for the batch:
publisher.BatchPublisher), so a crash republishes (at least once); consumers dedupe by (source, position).
"""
from __future__ import annotations

import fcntl
import os
from typing import Callable

import eventlet
import sqlalchemy as sa
import structlog
from eventlet.event import Event

from services.runtime.store import EventStore

log = structlog.get_logger(__name__)

# [(envelope message, routing key), ...] in position order -> returns after the broker confirmed them all
PublishBatch = Callable[[list[tuple[dict, str]]], None]


class RelayLock:
    """Leadership for the relay of one store."""

    def __init__(self, store: EventStore, sqlite_lock_path: str | None = None):
        self.store = store
        self.sqlite_lock_path = sqlite_lock_path
        self._conn: sa.Connection | None = None
        self._fd: int | None = None

    def try_acquire(self) -> bool:
        if self.store.db.is_postgres:
            conn = self.store.db.engine.connect()
            got = conn.execute(sa.select(sa.func.pg_try_advisory_lock(self.store.db.lock_key("relay")))).scalar()
            conn.commit()
            if got:
                self._conn = conn
                return True
            conn.close()
            return False
        if self.sqlite_lock_path is None:
            return True
        fd = os.open(self.sqlite_lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def still_held(self) -> bool:
        if self._conn is not None:
            try:
                self._conn.execute(sa.text("SELECT 1")).scalar()
                self._conn.commit()
                return True
            except sa.exc.DBAPIError:
                return False
        return True

    def release(self) -> None:
        if self._conn is not None:
            try:   # the pool keeps the session open, so unlock explicitly before handing the connection back
                self._conn.execute(sa.select(sa.func.pg_advisory_unlock(self.store.db.lock_key("relay"))))
                self._conn.commit()
                self._conn.close()
            except Exception:  # noqa: BLE001 — the connection is gone, and the session's lock with it
                self._conn.invalidate()
            self._conn = None
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class Relay:
    def __init__(self, store: EventStore, publish: PublishBatch, lock: RelayLock, batch: int = 200,
                 poll_interval: float = 0.5, standby_interval: float = 2.0):
        self.store = store
        self.publish = publish
        self.lock = lock
        self.batch = batch
        self.poll_interval = poll_interval
        self.standby_interval = standby_interval
        self._wakeup = Event()
        self._running = False
        self._published: int | None = None   # known while leader (only the leader moves it): one read less a batch
        store.on_append(self.wake)

    def wake(self, _head: int = 0) -> None:
        if not self._wakeup.ready():
            self._wakeup.send(True)

    def _sleep(self, seconds: float) -> None:
        with eventlet.Timeout(seconds, False):
            self._wakeup.wait()
        if self._wakeup.ready():
            self._wakeup.reset()

    def stop(self) -> None:
        self._running = False
        self.wake()

    def run(self) -> None:
        """Loop until stop(): be leader or standby; as leader, publish whatever is committed and unpublished."""
        self._running = True
        while self._running:
            if not self.lock.try_acquire():
                self._sleep(self.standby_interval)
                continue
            log.info("relay_leader", source=self.store.source)
            self._published = None
            try:
                while self._running:
                    if self.publish_pending() == 0:
                        self._sleep(self.poll_interval)
                        if not self.lock.still_held():
                            log.warning("relay_lock_lost", source=self.store.source)
                            break
            except Exception as exc:  # broker or database down: step back, let a standby (or us) retry
                log.warning("relay_failed", source=self.store.source, error=repr(exc))
                eventlet.sleep(1.0)
            finally:
                self.lock.release()

    def publish_pending(self) -> int:
        """Publish one batch after the published position; return how many went out."""
        after = self.store.published_position() if self._published is None else self._published
        records = self.store.read_events(after, self.batch)
        if records:
            envelopes = [record.envelope(self.store.source) for record in records]
            self.publish([(envelope.to_message(), envelope.event_type) for envelope in envelopes])
            self.store.set_published_position(records[-1].position)
            self._published = records[-1].position
            log.debug("relay_published", source=self.store.source, count=len(records),
                      position=records[-1].position)
        return len(records)
