"""Operator commands that work on a service's databases directly: rebuild read models, verify the audit chain."""
from __future__ import annotations

from services.runtime.config import load_settings
from services.runtime.nameko_glue import EventStoreProvider, FollowerProvider, ProcessorProvider
from services.runtime.store import EventStore


def _providers(service_cls, kind):
    return [value for value in vars(service_cls).values() if isinstance(value, kind)]


def _store(service_cls) -> EventStore:
    providers = _providers(service_cls, EventStoreProvider)
    if not providers:
        raise SystemExit(f"{service_cls.name} keeps no event store")
    return providers[0].build_store(load_settings(), service_cls.name)


def rebuild_projections(service_cls) -> dict:
    """Own projections: replayed from position 0 now. Followed read models: emptied and rewound to position 0,
    so the running service's follower refills them from the producer (at its next catch-up tick or start)."""
    result: dict = {"service": service_cls.name}
    if _providers(service_cls, EventStoreProvider):
        result["replayed_events"] = _store(service_cls).rebuild_projections()
    settings = load_settings()
    for provider in _providers(service_cls, FollowerProvider):
        if isinstance(provider, ProcessorProvider):
            continue        # a processor acts on events (it appends); replaying them would act again
        follower = provider.build(settings, service_cls.name)
        follower.rewind()
        result.setdefault("rewound_followers", []).append(provider.source)
    return result


def verify_audit_log(service_cls) -> dict:
    outcome = _store(service_cls).verify()
    return {"service": service_cls.name, "ok": outcome.ok, "checked": outcome.checked,
            "first_bad_position": outcome.first_bad_position, "reason": outcome.reason}
