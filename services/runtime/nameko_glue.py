"""Everything Certplane services need from nameko, in one place, so the transport could change behind it.

- `EventStoreProvider`: a service's event store (and its relay, started with the container).
- `EventSourced`: the `read_events` RPC every producer offers followers.
- `follows(source, projection)` / `processes(source, policy=...)`: one line declares a read model of another
  service's events, or a processor acting on them (Following makes the entrypoints: the pushed events, the
  periodic pull, the producer's RPC proxy).
- `Context`: correlation id, actor and causation id of the current worker (propagated over RPC by nameko).
- `periodic(setting=...)`: periodic work (profile seeding, auto-renew, CRLs) at start and every N seconds.
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
from kombu import Queue, binding
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
from services.runtime.follower import Follower, PreparedPolicy, Processor
from services.runtime.publisher import BatchPublisher
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
        self.publisher = BatchPublisher(settings.amqp_uri, exchange, self.container.config.get("TRANSPORT_OPTIONS"))
        lock_path = None if db.is_postgres else str(Path(settings.var_dir) / f"{service}.relay.lock")
        self.relay = Relay(self.store, self.publisher.publish_batch, RelayLock(self.store, lock_path))

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
        self.publisher.close()

    def kill(self):
        self.relay.stop()

    def get_dependency(self, worker_ctx):
        return StoreHandle(self.store, WorkerInfo(worker_ctx))


class Following:
    """Base of every service that follows another's events. For each `follows(...)` / `processes(...)` attribute it
    adds, when the class is made: the producer's RPC proxy, a `@follow` entrypoint for the pushed events and a
    periodic pull (`_catch_up_timer`, also at start) — what each relation used to spell out in four pieces."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "name" not in vars(cls):
            return                  # a base class, not a service
        for attribute, provider in list(vars(cls).items()):
            if isinstance(provider, FollowerProvider) and provider.declared:
                _wire(cls, attribute, provider)


def _wire(cls, attribute: str, provider: "FollowerProvider") -> None:
    source, proxy_name = provider.source, f"_{provider.source}_events_rpc"
    if not hasattr(cls, proxy_name):
        from nameko.rpc import RpcProxy
        setattr(cls, proxy_name, RpcProxy(source))

    def reader(self):
        proxy = getattr(self, proxy_name)
        if provider.types:
            types = list(provider.types)
            return lambda after, limit: rpc_call(proxy.read_page, after, limit, types, timeout=READ_EVENTS_TIMEOUT)
        return lambda after, limit: rpc_call(proxy.read_events, after, limit, timeout=READ_EVENTS_TIMEOUT)

    def policy(self):
        if not provider.policy:
            return None
        if getattr(provider, "prepare", None):
            return PreparedPolicy(getattr(self, provider.policy), getattr(self, provider.prepare))
        return getattr(self, provider.policy)

    def on_event(self, message: dict) -> None:
        follower = getattr(self, attribute)
        follower.receive(message, reader(self), policy(self))
        if provider.then:
            getattr(self, provider.then)()

    def pull(self) -> bool:
        follower = getattr(self, attribute)
        if not catch_up(follower, reader(self), policy(self)):
            return False
        if provider.then:
            getattr(self, provider.then)()
        return True

    on_event.__name__ = on_event.__qualname__ = f"on_{attribute}_event"
    pull.__name__ = pull.__qualname__ = f"catch_up_{attribute}"
    on_event.__doc__ = f"{source}'s events, pushed: applied in batches to `{attribute}`."
    pull.__doc__ = f"At start and every catch_up_interval: pull what `{attribute}` missed of {source}'s events."
    setattr(cls, on_event.__name__, follow(source, cls.name, provider.types)(on_event))
    setattr(cls, pull.__name__, _catch_up_timer()(pull))


def follows(source: str, projection_cls, database_name: str | None = None, then: str | None = None,
            types: tuple[str, ...] | None = None):
    """`facts = follows("orgs", OrgFacts)` in a Following service: a read model of `source`'s events in this
    service's database. `then`: a method of the service to call after each pushed event and each pull. `types`:
    only these event types are pushed, and a push nudges a pull of those (read_page) — for a follower that needs
    few of a busy producer's events."""
    return FollowerProvider(source, projection_cls, database_name, declared=True, then=then, types=types)


def processes(source: str, policy: str, types: tuple[str, ...] | None = None, tracking_key: str | None = None,
              prepare: str | None = None):
    """`outcomes = processes("ca", policy="record_outcomes", types=(...))`: a processor of `source`'s events —
    the service's method `policy(unit, envelopes)` acts on each batch inside the store transaction that also
    records the tracking row (follower.Processor). `prepare`: a method `prepare(envelopes)` run before that
    transaction for the batch's slow outside work; the policy is then `policy(unit, envelopes, prepared)`
    (follower.PreparedPolicy). `tracking_key`: the tracking row's key when the service also follows `source` with
    a read model (their positions differ), e.g. "domains:acme_checks"."""
    return ProcessorProvider(source, policy, types, tracking_key, prepare)


class EventSourced(Following):
    """Base of every service that owns an event store (`store = EventStoreProvider(...)`)."""

    def command_result(self, result: AppendResult, with_events: bool = True, **answer) -> dict:
        """A command's RPC answer: what it returns, plus the store's `position` after it and the `events` it
        recorded (envelope messages), so a caller that follows this service can apply them at once instead of
        waiting for the push or pulling them (read your own writes). `with_events=False` for callers that do not
        follow this service (the events of a certificate request are kilobytes of CSR for nobody)."""
        events = [r.envelope(self.name).to_message() for r in result.events] if with_events else []
        return {**answer, "position": result.position, "events": events}

    @rpc(expected_exceptions=EXPECTED)
    def read_events(self, after: int, limit: int = 500) -> list[dict]:
        """Committed events after `after`, in position order, as envelope messages (followers' catch-up)."""
        limit = max(1, min(int(limit), READ_EVENTS_MAX))
        return [r.envelope(self.name).to_message() for r in self.store.read_events(int(after), limit)]

    @rpc(expected_exceptions=EXPECTED)
    def read_page(self, after: int, limit: int, types: list[str]) -> dict:
        """The committed events of `types` after `after` (a follower that wants only those): {"events": envelope
        messages, "until": every position up to this one was looked at}."""
        limit = max(1, min(int(limit), READ_EVENTS_MAX))
        records, until = self.store.read_page(int(after), limit, [str(t) for t in types][:50])
        return {"events": [r.envelope(self.name).to_message() for r in records], "until": until}


# ---- following another service's events --------------------------------------------------------------------

def follow(source: str, consumer: str, types: tuple[str, ...] | None = None):
    """Entrypoint: every event `source` publishes (or only those of `types`), in one durable queue per consuming
    service, pushed in order."""
    exchange = get_event_exchange(source, {})
    if types:
        queue = Queue(f"follow-{source}--{consumer}", bindings=[binding(exchange, routing_key=t) for t in types],
                      durable=True)
    else:
        queue = Queue(f"follow-{source}--{consumer}", exchange=exchange, routing_key="#", durable=True)
    return Consumer.decorator(queue, requeue_on_error=False)


class FollowerProvider(DependencyProvider):
    """A read model of `source`'s events kept in this service's own database, with its tracking row."""

    policy: str | None = None

    def __init__(self, source: str, projection_cls, database_name: str | None = None, declared: bool = False,
                 then: str | None = None, types: tuple[str, ...] | None = None):
        self.source = source
        self.types = tuple(types) if types else None
        self.projection_cls = projection_cls
        self.database_name = database_name   # whose database holds the read model (default: this service's)
        self.declared = declared             # made by follows(): Following wires its entrypoints
        self.then = then
        self.follower: Follower | None = None

    def setup(self):
        self.follower = self.build(settings_of(self.container), self.container.service_name)

    def build(self, settings: Settings, service: str) -> Follower:
        """The follower with its database tables created and its tracking row in place."""
        db = open_database(settings, self.database_name or service)
        metadata = sa.MetaData(schema=db.schema)
        follower = Follower(db, metadata, self.source, self.projection_cls(metadata), types=self.types)
        db.create_tables(metadata)
        follower.setup()
        return follower

    @property
    def database(self) -> Database | None:
        return self.follower.db if self.follower else None

    def get_dependency(self, worker_ctx):
        return self.follower


class ProcessorProvider(FollowerProvider):
    """A processor of `source`'s events (follower.Processor) on this service's own store: its tracking row in the
    store's database, its appends in the store's transaction. Built on first use (nameko starts extensions
    together, so the first pull may come before this provider's start; every setup is done by then)."""

    def __init__(self, source: str, policy: str, types: tuple[str, ...] | None = None,
                 tracking_key: str | None = None, prepare: str | None = None):
        super().__init__(source, None, declared=True, types=types)
        self.policy = policy
        self.tracking_key = tracking_key
        self.prepare = prepare
        self._building = threading.Lock()

    def setup(self):
        pass

    def get_dependency(self, worker_ctx):
        if self.follower is None:
            with self._building:
                if self.follower is None:
                    store = next(d for d in self.container.dependencies if isinstance(d, EventStoreProvider)).store
                    self.follower = self.build_on(store)
        return self.follower

    def build_on(self, store: EventStore) -> Processor:
        processor = Processor(store, self.source, types=self.types, tracking_key=self.tracking_key)
        store.db.create_tables(processor.tracking.metadata)
        processor.setup()
        return processor

    def build(self, settings: Settings, service: str):
        raise RuntimeError("a processor is not rebuilt or rewound: it acts on events")


class CatchUpTimer(Timer):
    """Runs the method at start, then every `settings.catch_up_interval` seconds (or the setting named by
    `setting=`) — or after `RETRY_SECONDS` while the method returns False or fails (the producer did not answer,
    e.g. at start-up before its RPC consumer or ours is ready). `periodic(setting=...)` names periodic work;
    the followers' pulls use it through Following."""

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


_catch_up_timer = CatchUpTimer.decorator
catch_up_timer = CatchUpTimer.decorator     # the followers not yet declared with follows()


def periodic(setting: str):
    """`@periodic(setting="crl_check_interval")`: work done at start and then every `settings.<setting>` seconds
    (sooner again after a failure or a False return): profile seeding, auto-renew, CRL publishing."""
    return CatchUpTimer.decorator(setting=setting)


READ_EVENTS_TIMEOUT = 3.0   # one page of read_events: a reply lost at start-up then costs 3 s, not rpc_timeout


def catch_up(follower: Follower, read_events, policy=None) -> bool:
    """The body of a CatchUpTimer method: pull what the follower missed; False if the producer did not answer."""
    try:
        applied = follower.catch_up(read_events, policy=policy)
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


__all__ = ["Context", "EventStoreProvider", "EventSourced", "FollowerProvider", "Following", "follows", "processes",
           "follow", "catch_up_timer", "catch_up", "periodic", "rpc_call", "settings_of", "open_database",
           "CertplaneContainer"]
