"""Everything Certplane services need from nameko, in one place, so the transport could change behind it.

- `EventStoreProvider`: a service's event store (and its relay, started with the container).
- `EventSourced`: the `read_events` RPC every producer offers followers.
- `FollowerProvider` + `follow(source)`: keep a read model of another service's events.
- `Context`: correlation id, actor and causation id of the current worker (propagated over RPC by nameko).
- `CatchUpTimer`: the follower's periodic pull (interval from configuration, quick retry after a failure).
- `CertplaneContainer`: nameko's container with the worker count per service (MAX_WORKERS_BY_SERVICE).
- `rpc_call`: an RPC with a timeout (nameko 2.14's RpcProxy waits forever for a dead service).
"""
from __future__ import annotations

import threading
import uuid
from pathlib import Path
from typing import Any

import eventlet
import sqlalchemy as sa
import structlog
from kombu import Queue
from nameko.amqp.publish import Publisher
from nameko.containers import ServiceContainer, get_service_name
from nameko.exceptions import UnknownService
from nameko.extensions import DependencyProvider
from nameko.messaging import Consumer
from nameko.rpc import rpc
from nameko.standalone.events import get_event_exchange
from nameko.timer import Timer

from contracts.errors import EXPECTED
from services.runtime.config import Settings
from services.runtime.db import Database, make_database
from services.runtime.follower import Follower
from services.runtime.relay import Relay, RelayLock
from services.runtime.store import AppendResult, EventStore, system_clock

log = structlog.get_logger(__name__)

READ_EVENTS_MAX = 1000


def settings_of(container) -> Settings:
    return container.config["CERTPLANE"]


_databases: dict[tuple[str, str | None], Database] = {}
_databases_lock = threading.Lock()


def open_database(settings: Settings, service: str) -> Database:
    """The service's database; dependencies of one service in one process share its engine (and pool)."""
    url, schema = settings.database_url_for(service)
    with _databases_lock:   # nameko sets dependencies up concurrently
        if (url, schema) not in _databases:
            if url.startswith("sqlite"):
                Path(settings.var_dir).mkdir(parents=True, exist_ok=True)
            _databases[(url, schema)] = make_database(url, schema)
        return _databases[(url, schema)]


class CertplaneContainer(ServiceContainer):
    """nameko's container, except that `max_workers` may differ per service: the gateway's workers mostly wait
    on RPCs (hundreds are cheap greenthreads), while a service's workers hold one of its database connections
    (db.POOL_SIZE is sized for nameko's 10). The worker count is also the consumers' prefetch on RabbitMQ."""

    def __init__(self, service_cls, config):
        workers = config.get("MAX_WORKERS_BY_SERVICE", {}).get(get_service_name(service_cls))
        super().__init__(service_cls, {**config, "max_workers": workers} if workers else config)


# ---- worker context ----------------------------------------------------------------------------------------

class WorkerInfo:
    """What a worker knows about the request that caused it."""

    def __init__(self, worker_ctx):
        self._data = worker_ctx.data
        self.settings: Settings = worker_ctx.config["CERTPLANE"]

    @property
    def correlation_id(self) -> str:
        if not self._data.get("correlation_id"):
            self._data["correlation_id"] = str(uuid.uuid4())
        return self._data["correlation_id"]

    @property
    def actor(self) -> str | None:
        return self._data.get("actor")

    @actor.setter
    def actor(self, value: str | None) -> None:
        self._data["actor"] = value

    @property
    def causation_id(self) -> str | None:
        return self._data.get("causation_id")

    def metadata(self) -> dict[str, Any]:
        return {"correlation_id": self.correlation_id, "actor": self.actor, "causation_id": self.causation_id}


class Context(DependencyProvider):
    """`self.context` in a service: WorkerInfo, and the structlog context bound for every line the worker logs."""

    def get_dependency(self, worker_ctx):
        return WorkerInfo(worker_ctx)

    def worker_setup(self, worker_ctx):
        info = WorkerInfo(worker_ctx)
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(service=worker_ctx.service_name,
                                               entrypoint=worker_ctx.entrypoint.method_name,
                                               correlation_id=info.correlation_id, actor=info.actor)

    def worker_result(self, worker_ctx, result=None, exc_info=None):
        if exc_info is None:
            return
        exc = exc_info[1]
        if isinstance(exc, EXPECTED):
            log.info("request_refused", code=exc.code, reason=exc.message, actor=WorkerInfo(worker_ctx).actor)
        else:
            log.error("worker_failed", error=repr(exc), exc_info=exc_info)


# ---- the event store and its relay -------------------------------------------------------------------------

class StoreHandle:
    """The store as a worker sees it: commands carry the worker's correlation id, actor and causation."""

    def __init__(self, store: EventStore, info: WorkerInfo):
        self._store = store
        self._info = info

    def execute(self, stream_id, decide):
        return self._store.execute(stream_id, decide, metadata=self._info.metadata())

    def __getattr__(self, name):  # reads (load, read, read_events, head, projection) go straight through
        return getattr(self._store, name)


class EventStoreProvider(DependencyProvider):
    def __init__(self, projections=(), clock=system_clock):
        self.projections = projections
        self.clock = clock
        self.store: EventStore | None = None
        self.relay: Relay | None = None

    def setup(self):
        settings = settings_of(self.container)
        service = self.container.service_name
        self.store = self.build_store(settings, service)
        db = self.store.db
        exchange = get_event_exchange(service, self.container.config)
        publisher = Publisher(settings.amqp_uri, use_confirms=True, serializer="json", declare=[exchange])

        def publish(message: dict, routing_key: str) -> None:
            publisher.publish(message, exchange=exchange, routing_key=routing_key,
                              extra_headers={"nameko.correlation_id": message.get("correlation_id") or ""})

        lock_path = None if db.is_postgres else str(Path(settings.var_dir) / f"{service}.relay.lock")
        self.relay = Relay(self.store, publish, RelayLock(self.store, lock_path))

    def build_store(self, settings: Settings, service: str) -> EventStore:
        """The service's store, its tables created."""
        store = EventStore(open_database(settings, service), service, self.projections, clock=self.clock)
        store.create_schema()
        return store

    @property
    def database(self) -> Database | None:
        return self.store.db if self.store else None

    def start(self):
        self.container.spawn_managed_thread(self.relay.run, identifier=f"{self.container.service_name}.relay")

    def stop(self):
        self.relay.stop()

    def kill(self):
        self.relay.stop()

    def get_dependency(self, worker_ctx):
        return StoreHandle(self.store, WorkerInfo(worker_ctx))


class EventSourced:
    """Base of every service that owns an event store (`store = EventStoreProvider(...)`)."""

    def command_result(self, result: AppendResult, **answer) -> dict:
        """A command's RPC answer: what it returns, plus the store's `position` after it and the `events` it
        recorded (envelope messages), so a caller that follows this service can apply them at once instead of
        waiting for the push or pulling them (read your own writes)."""
        return {**answer, "position": result.position,
                "events": [r.envelope(self.name).to_message() for r in result.events]}

    @rpc(expected_exceptions=EXPECTED)
    def read_events(self, after: int, limit: int = 500) -> list[dict]:
        """Committed events after `after`, in position order, as envelope messages (followers' catch-up)."""
        limit = max(1, min(int(limit), READ_EVENTS_MAX))
        return [r.envelope(self.name).to_message() for r in self.store.read_events(int(after), limit)]


# ---- following another service's events --------------------------------------------------------------------

def follow(source: str, consumer: str):
    """Entrypoint: every event `source` publishes, in one durable queue per consuming service, pushed in order."""
    queue = Queue(f"follow-{source}--{consumer}", exchange=get_event_exchange(source, {}), routing_key="#",
                  durable=True)
    return Consumer.decorator(queue, requeue_on_error=False)


class FollowerProvider(DependencyProvider):
    """A read model of `source`'s events kept in this service's own database, with its tracking row."""

    def __init__(self, source: str, projection_cls, database_name: str | None = None):
        self.source = source
        self.projection_cls = projection_cls
        self.database_name = database_name   # whose database holds the read model (default: this service's)
        self.follower: Follower | None = None

    def setup(self):
        self.follower = self.build(settings_of(self.container), self.container.service_name)

    def build(self, settings: Settings, service: str) -> Follower:
        """The follower with its database tables created and its tracking row in place."""
        db = open_database(settings, self.database_name or service)
        metadata = sa.MetaData(schema=db.schema)
        follower = Follower(db, metadata, self.source, self.projection_cls(metadata))
        db.create_tables(metadata)
        follower.setup()
        return follower

    @property
    def database(self) -> Database | None:
        return self.follower.db if self.follower else None

    def get_dependency(self, worker_ctx):
        return self.follower


class CatchUpTimer(Timer):
    """`@catch_up_timer()`: runs the method at start, then every `settings.catch_up_interval` seconds (or the
    setting named by `setting=`) — or after `RETRY_SECONDS` while the method returns False or fails (the
    producer did not answer, e.g. at start-up before its RPC consumer or ours is ready)."""

    RETRY_SECONDS = 1.0

    def __init__(self, setting: str = "catch_up_interval", **kwargs):
        super().__init__(interval=5.0, eager=True, **kwargs)
        self.setting = setting
        self.succeeded = False

    def setup(self):
        self.interval = float(getattr(settings_of(self.container), self.setting))
        super().setup()

    def handle_result(self, worker_ctx, result=None, exc_info=None):
        self.succeeded = exc_info is None and result is not False
        return super().handle_result(worker_ctx, result, exc_info)

    def _run(self):
        delay = 0.0
        while True:
            with eventlet.Timeout(delay, exception=False):
                self.should_stop.wait()
                break
            self.handle_timer_tick()
            self.worker_complete.wait()
            self.worker_complete.reset()
            delay = self.interval if self.succeeded else self.RETRY_SECONDS


catch_up_timer = CatchUpTimer.decorator


def catch_up(follower: Follower, read_events) -> bool:
    """The body of a CatchUpTimer method: pull what the follower missed; False if the producer did not answer."""
    try:
        applied = follower.catch_up(read_events)
    except (TimeoutError, UnknownService) as exc:   # not started yet, or not answering: try again soon
        log.warning("follower_catch_up_failed", source=follower.source, reason=type(exc).__name__)
        return False
    if applied:
        log.info("follower_caught_up", source=follower.source, applied=applied)
    return True


def rpc_call(method, *args, timeout: float = 10.0, **kwargs):
    """Call an RPC method proxy and wait at most `timeout` seconds for the answer."""
    reply = method.call_async(*args, **kwargs)
    with eventlet.Timeout(timeout, exception=TimeoutError(f"no answer within {timeout}s")):
        return reply.result()


__all__ = ["Context", "EventStoreProvider", "EventSourced", "FollowerProvider", "follow", "catch_up_timer", "catch_up",
           "rpc_call", "settings_of", "open_database",
           "CertplaneContainer"]
