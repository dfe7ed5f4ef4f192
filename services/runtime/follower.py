"""The follower: how a service keeps a read model of another service's events, exactly once and in order — and the
processor, a follower whose policy may append events of its own (DESIGN §3.6).

Each applied batch of envelopes and the new tracked position are written in one transaction, so a crash leaves the
read model and the position consistent. Position already seen: ignored (duplicate delivery). Position beyond the
next one: the missing range is pulled first through the producer's `read_events` RPC (gap fill). A timer and the
start-up also call `catch_up`, so a message dropped by the broker, a failed handler or a consumer that was not
running loses nothing. Replicas of the consumer may share one database: the tracking row is advanced with a
compare-and-set, and the loser of a race rolls back.

Batches (group commit): a pushed envelope is put with the others waiting in this process; whichever handler gets
the follower's lock applies every waiting envelope that follows the tracked position, in position order, in one
transaction; the handlers whose envelopes went into it find their position applied and return. Under load the
batch grows with the messages in flight (up to the consumer's prefetch); alone, a message is its own batch.

A processor (`Processor`) runs its policy in the service's own store transaction (EventStore.transaction): the
policy's appends, the tracking row and the service's projections commit together, so "consumed" and "acted on"
never part (as pyeventsourcing's `Follower.process_event` records the tracking in the policy's transaction).
"""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager
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
    def __init__(self, db: Database, metadata: sa.MetaData, source: str, projection, page: int = 500,
                 types: tuple[str, ...] | None = None, tracking_key: str | None = None):
        self.db = db
        self.source = source
        # the tracking row's key: the source, unless two consumers of one source share a database (a read model
        # and a processor of the same producer each need their own position)
        self.tracking_key = tracking_key or source
        self.projection = projection
        self.page = page
        # only these event types: pushes are nudges, and `read_events` answers pages {"events", "until"} (the
        # producer's read_page) that cover the positions in between, which this follower never sees
        self.types = types
        self.tracking = tracking_table(metadata)
        self._lock = threading.Lock()
        self._waiting: dict[int, Envelope] = {}   # pushed envelopes not yet applied, by position
        self._seen = 0                            # the tracked position as this process last read or wrote it
        self.caught_up = False   # set by the first complete catch-up in this process (readiness waits for it)
        self.last_caught_up: float | None = None  # time.monotonic() of the last complete catch-up
        self._position_query = sa.select(self.tracking.c.position).where(
            self.tracking.c.source == self.tracking_key)

    def setup(self) -> None:
        """Create the tracking row at position 0 if this consumer has never run."""
        try:
            with self.db.writer() as conn, conn.begin():
                if conn.execute(sa.select(self.tracking.c.source)
                                .where(self.tracking.c.source == self.tracking_key)).first():
                    return
                conn.execute(self.tracking.insert().values(source=self.tracking_key, position=0))
        except sa.exc.IntegrityError:
            pass  # a replica starting at the same moment created it

    def position(self, conn: sa.Connection | None = None) -> int:
        if conn is not None:
            return conn.execute(self._position_query).scalar() or 0
        with self.db.engine.connect() as c:
            return c.execute(self._position_query).scalar() or 0

    def position_now(self) -> int:
        """The tracked position by the cheapest read there is (Database.quick_scalar), for per-request checks."""
        return self.db.quick_scalar(self._position_query) or 0

    def receive(self, message: dict, read_events: ReadEvents, policy=None) -> str:
        """Handle one pushed envelope: 'applied' (in a batch, perhaps another handler's), 'duplicate', or
        'gap_filled' (the pull included it). `policy`: a processor's, see Processor."""
        envelope = Envelope.from_message(message)
        if envelope.position <= self._seen:
            log.debug("follower_duplicate_ignored", source=self.source, position=envelope.position)
            return "duplicate"
        if self.types:
            return self._nudged(envelope, read_events, policy)
        self._waiting[envelope.position] = envelope
        with self._lock:
            seen = self._seen = self.position_now()
            if envelope.position <= seen:
                # gone from the waiting ones: a batch of this process applied it; still there: someone else did
                outcome = "duplicate" if self._waiting.pop(envelope.position, None) else "applied"
                self._forget_waiting(seen)
                return outcome
            while True:
                run = self._waiting_run(seen + 1)
                if not run:
                    break
                if not self._apply(run, seen, policy):
                    seen = self._seen = self.position_now()    # another replica applied some: look again
                    self._forget_waiting(seen)
                    continue
                seen = run[-1].position
                for applied in run:
                    self._waiting.pop(applied.position, None)
                if seen >= envelope.position:
                    return "applied"
            if envelope.position <= seen:
                return "applied"
            pulled = self._pull(read_events, until=envelope.position, policy=policy)
            log.info("follower_gap_filled", source=self.source, after=seen, until=envelope.position, pulled=pulled)
            self._forget_waiting(self._seen)
            return "gap_filled"

    def catch_up(self, read_events: ReadEvents, until: int | None = None, policy=None) -> int:
        """Pull everything after our position (or up to `until`); return how many events were applied."""
        with self._lock:
            applied = self._pull(read_events, until, policy)
        if until is None:
            self.caught_up = True
            self.last_caught_up = time.monotonic()
        return applied

    def wait_for(self, position: int, read_events: ReadEvents) -> None:
        """Read-your-writes: make sure the read model includes `position`, pulling if the push is not here yet."""
        if self.position() < position:
            self.catch_up(read_events, until=position)

    def rewind(self) -> None:
        """Empty the read model and set the tracked position back to 0 (the next catch-up refills it)."""
        with self._lock, self.db.writer() as conn, conn.begin():
            self.projection.reset(conn)
            conn.execute(self.tracking.update().where(self.tracking.c.source == self.tracking_key).values(position=0))
        self._seen = 0

    def rebuild(self, read_events: ReadEvents) -> int:
        """Rewind, then pull the producer's whole log."""
        self.rewind()
        return self.catch_up(read_events)

    # ---- internals ---------------------------------------------------------------------------------------
    def _nudged(self, envelope: Envelope, read_events: ReadEvents, policy) -> str:
        """A typed follower's push: pull pages of its types until they cover the pushed position. Whoever holds
        the lock pulls for everyone waiting behind it: under load one pull (one RPC) serves many pushes."""
        with self._lock:
            seen = self._seen = self.position_now()
            if envelope.position <= seen:
                return "applied"
            self._pull(read_events, until=envelope.position, policy=policy)
            return "pulled"

    def _waiting_run(self, first: int) -> list[Envelope]:
        run = []
        while first in self._waiting and len(run) < self.page:
            run.append(self._waiting[first])
            first += 1
        return run

    def _forget_waiting(self, seen: int) -> None:
        for position in [p for p in self._waiting if p <= seen]:
            self._waiting.pop(position, None)

    def _pull(self, read_events: ReadEvents, until: int | None, policy=None) -> int:
        applied = 0
        while True:
            seen = self._seen = self.position()
            if until is not None and seen >= until:
                return applied
            if self.types:
                page = read_events(seen, self.page)
                batch, covered = [Envelope.from_message(m) for m in page["events"]], int(page["until"])
                if covered <= seen:
                    return applied       # nothing after our position yet
            else:
                limit = self.page if until is None else min(self.page, until - seen)
                batch = [Envelope.from_message(m) for m in read_events(seen, limit)]
                if not batch:
                    return applied
                covered = batch[-1].position
            if not self._apply(batch, seen, policy, covered):
                continue  # another replica advanced meanwhile; look again
            applied += len(batch)

    def _apply(self, envelopes: list[Envelope], seen: int, policy=None, covered: int | None = None) -> bool:
        """Apply `envelopes` and advance the tracking row from `seen` to `covered` (default: the last envelope)."""
        covered = envelopes[-1].position if covered is None else covered
        if not self.types:
            expected = seen + 1
            for envelope in envelopes:
                if envelope.position != expected:
                    raise RuntimeError(f"{self.source} sent position {envelope.position}, expected {expected}")
                expected += 1
        try:
            with self._transaction() as unit:
                # Claim the range first: the tracking row's lock makes a replica applying the same events wait
                # here and then find the position moved (and roll back), instead of colliding in the read model.
                advanced = unit.conn.execute(self.tracking.update()
                                             .where(self.tracking.c.source == self.tracking_key,
                                                    self.tracking.c.position == seen)
                                             .values(position=covered)).rowcount
                if advanced != 1:
                    raise _Stale()
                if envelopes:
                    self._act(unit, envelopes, policy)
        except _Stale:
            return False  # rolled back: someone else applied these first
        self._seen = covered
        return True

    @contextmanager
    def _transaction(self):
        with self.db.writer() as conn, conn.begin():
            yield _ConnectionUnit(conn)

    def _act(self, unit, envelopes: list[Envelope], policy) -> None:
        for envelope in envelopes:
            self.projection.apply(unit.conn, envelope)


class PreparedPolicy:
    """A processor's policy in two steps: `prepare(envelopes)` does the slow outside work (network checks) before
    the transaction, `act(unit, envelopes, prepared)` decides and appends inside it — so no lock (SQLite's write
    lock, PostgreSQL's tracking row) is held while a remote server takes its time. A batch that another replica
    applied first was prepared in vain, never acted on twice."""

    def __init__(self, act, prepare):
        self.act, self.prepare = act, prepare

    def __call__(self, unit, envelopes, prepared=None):
        return self.act(unit, envelopes, prepared)


class Processor(Follower):
    """A follower that may append to its own service's store: `policy(unit, envelopes)` (the handler passes the
    service's method) decides on a batch of the source's events and appends through `unit` (store.Unit), in the
    transaction that also advances the tracking row. A crash before the commit leaves neither; the batch is
    applied again after the restart. A processor is not a read model: `rewind` would act on every event again,
    so it refuses."""

    def __init__(self, store, source: str, page: int = 100, types: tuple[str, ...] | None = None,
                 tracking_key: str | None = None):
        metadata = sa.MetaData(schema=store.db.schema)
        super().__init__(store.db, metadata, source, projection=None, page=page, types=types,
                         tracking_key=tracking_key)
        self.store = store

    @contextmanager
    def _transaction(self):
        with self.store.transaction() as unit:
            yield unit

    def _apply(self, envelopes: list[Envelope], seen: int, policy=None, covered: int | None = None) -> bool:
        if isinstance(policy, PreparedPolicy) and envelopes:
            prepared = policy.prepare(envelopes)
            act = policy.act
            policy = lambda unit, batch: act(unit, batch, prepared)        # noqa: E731 — bound to this batch
        return super()._apply(envelopes, seen, policy, covered)

    def _act(self, unit, envelopes: list[Envelope], policy) -> None:
        if policy is None:
            raise RuntimeError(f"the processor of {self.source} events was called without its policy")
        policy(unit, envelopes)

    def rewind(self) -> None:
        raise RuntimeError("a processor acts on events (it appends); it is not rewound like a read model")


class _ConnectionUnit:
    def __init__(self, conn: sa.Connection):
        self.conn = conn


class _Stale(Exception):
    pass
