"""The follower: how a service keeps a read model of another service's events, exactly once and in order.

Each applied envelope and the new tracked position are written in one transaction, so a crash leaves the read
model and the position consistent. Position already seen: ignored (duplicate delivery). Position beyond the next
one: the missing range is pulled first through the producer's `read_events` RPC (gap fill). A timer and the
start-up also call `catch_up`, so a message dropped by the broker, a failed handler or a consumer that was not
running loses nothing. Replicas of the consumer may share one database: the tracking row is advanced with a
compare-and-set, and the loser of a race rolls back.
"""
from __future__ import annotations

import threading
from typing import Callable, Sequence

import sqlalchemy as sa
import structlog

from services.runtime.db import Database
from services.runtime.events import Envelope

log = structlog.get_logger(__name__)

ReadEvents = Callable[[int, int], Sequence[dict]]  # (after, limit) -> envelope messages, in position order


def tracking_table(metadata: sa.MetaData) -> sa.Table:
    if "tracking" in metadata.tables or f"{metadata.schema}.tracking" in metadata.tables:
        return metadata.tables[f"{metadata.schema}.tracking" if metadata.schema else "tracking"]
    return sa.Table("tracking", metadata,
                    sa.Column("source", sa.String(50), primary_key=True),
                    sa.Column("position", sa.BigInteger, nullable=False))


class Follower:
    def __init__(self, db: Database, metadata: sa.MetaData, source: str, projection, page: int = 500):
        self.db = db
        self.source = source
        self.projection = projection
        self.page = page
        self.tracking = tracking_table(metadata)
        self._lock = threading.Lock()
        self.caught_up = False   # set by the first complete catch-up in this process (readiness waits for it)
        self._position_query = sa.select(self.tracking.c.position).where(self.tracking.c.source == source)

    def setup(self) -> None:
        """Create the tracking row at position 0 if this consumer has never run."""
        try:
            with self.db.writer() as conn, conn.begin():
                if conn.execute(sa.select(self.tracking.c.source)
                                .where(self.tracking.c.source == self.source)).first():
                    return
                conn.execute(self.tracking.insert().values(source=self.source, position=0))
        except sa.exc.IntegrityError:
            pass  # a replica starting at the same moment created it

    def position(self, conn: sa.Connection | None = None) -> int:
        query = sa.select(self.tracking.c.position).where(self.tracking.c.source == self.source)
        if conn is not None:
            return conn.execute(query).scalar() or 0
        with self.db.engine.connect() as c:
            return c.execute(query).scalar() or 0

    def position_now(self) -> int:
        """The tracked position by the cheapest read there is (Database.quick_scalar), for per-request checks."""
        return self.db.quick_scalar(self._position_query) or 0

    def receive(self, message: dict, read_events: ReadEvents) -> str:
        """Handle one pushed envelope: 'applied', 'duplicate', or 'gap_filled' (the pull included it)."""
        envelope = Envelope.from_message(message)
        with self._lock:
            seen = self.position()
            if envelope.position <= seen:
                log.debug("follower_duplicate_ignored", source=self.source, position=envelope.position)
                return "duplicate"
            if envelope.position > seen + 1:
                pulled = self._pull(read_events, until=envelope.position)
                log.info("follower_gap_filled", source=self.source, after=seen, until=envelope.position,
                         pulled=pulled)
                return "gap_filled"
            self._apply([envelope], seen)
            return "applied"

    def catch_up(self, read_events: ReadEvents, until: int | None = None) -> int:
        """Pull everything after our position (or up to `until`); return how many events were applied."""
        with self._lock:
            applied = self._pull(read_events, until)
        if until is None:
            self.caught_up = True
        return applied

    def wait_for(self, position: int, read_events: ReadEvents) -> None:
        """Read-your-writes: make sure the read model includes `position`, pulling if the push is not here yet."""
        if self.position() < position:
            self.catch_up(read_events, until=position)

    def rewind(self) -> None:
        """Empty the read model and set the tracked position back to 0 (the next catch-up refills it)."""
        with self._lock, self.db.writer() as conn, conn.begin():
            self.projection.reset(conn)
            conn.execute(self.tracking.update().where(self.tracking.c.source == self.source).values(position=0))

    def rebuild(self, read_events: ReadEvents) -> int:
        """Rewind, then pull the producer's whole log."""
        self.rewind()
        return self.catch_up(read_events)

    # ---- internals ---------------------------------------------------------------------------------------
    def _pull(self, read_events: ReadEvents, until: int | None) -> int:
        applied = 0
        while True:
            seen = self.position()
            if until is not None and seen >= until:
                return applied
            limit = self.page if until is None else min(self.page, until - seen)
            batch = [Envelope.from_message(m) for m in read_events(seen, limit)]
            if not batch:
                return applied
            if not self._apply(batch, seen):
                continue  # another replica advanced meanwhile; look again
            applied += len(batch)

    def _apply(self, envelopes: list[Envelope], seen: int) -> bool:
        expected = seen + 1
        for envelope in envelopes:
            if envelope.position != expected:
                raise RuntimeError(f"{self.source} sent position {envelope.position}, expected {expected}")
            expected += 1
        try:
            with self.db.writer() as conn, conn.begin():
                # Claim the range first: the tracking row's lock makes a replica applying the same events wait
                # here and then find the position moved (and roll back), instead of colliding in the read model.
                advanced = conn.execute(self.tracking.update()
                                        .where(self.tracking.c.source == self.source,
                                               self.tracking.c.position == seen)
                                        .values(position=envelopes[-1].position)).rowcount
                if advanced != 1:
                    raise _Stale()
                for envelope in envelopes:
                    self.projection.apply(conn, envelope)
        except _Stale:
            return False  # rolled back: someone else applied these first
        return True


class _Stale(Exception):
    pass
