"""Event records as the store keeps them and as they travel (the envelope of contracts/envelope.py)."""
from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from typing import Any, ClassVar

GENESIS_HASH = "0" * 64


@dataclass(frozen=True)
class NewEvent:
    """An event decided but not yet stored."""

    event_type: str                 # public name with version: organization_created.v1
    payload: dict[str, Any]
    event_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def schema_version(self) -> int:
        return int(self.event_type.rsplit(".v", 1)[1])


@dataclass(frozen=True)
class Envelope:
    """One committed event, as projections apply it and as the relay publishes it."""

    event_id: str
    event_type: str
    source: str
    stream_id: str
    stream_version: int
    position: int
    occurred_at: datetime
    correlation_id: str | None
    causation_id: str | None
    actor: str | None
    payload: dict[str, Any]
    hash: str | None = None

    def to_message(self) -> dict[str, Any]:
        message = asdict(self)
        message["occurred_at"] = self.occurred_at.isoformat()
        return message

    @classmethod
    def from_message(cls, message: dict[str, Any]) -> "Envelope":
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in message.items() if k in known}
        values["occurred_at"] = datetime.fromisoformat(message["occurred_at"])
        return cls(**values)


@dataclass(frozen=True)
class RecordedEvent:
    """A row of a service's `events` table."""

    position: int
    event_id: str
    stream_id: str
    stream_version: int
    event_type: str
    schema_version: int
    payload: dict[str, Any]
    metadata: dict[str, Any]
    recorded_at: datetime
    prev_hash: str
    hash: str

    def envelope(self, source: str) -> Envelope:
        return Envelope(
            event_id=self.event_id, event_type=self.event_type, source=source, stream_id=self.stream_id,
            stream_version=self.stream_version, position=self.position, occurred_at=self.recorded_at,
            correlation_id=self.metadata.get("correlation_id"), causation_id=self.metadata.get("causation_id"),
            actor=self.metadata.get("actor"), payload=self.payload, hash=self.hash)


def utc(moment: datetime) -> datetime:
    """Databases hand back naive (SQLite) or session-zone (PostgreSQL) datetimes; the store means UTC."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def canonical_parts(event_id: str, stream_id: str, stream_version: int, event_type: str, schema_version: int,
                    payload: dict, metadata: dict, recorded_at: datetime) -> tuple[str, str]:
    """An event's canonical text is `before + str(position) + after`: compact JSON of every column with the keys in
    sorted order (nested objects too). It comes in two parts because PostgreSQL appends learn the position only
    under the append lock and hash there (services/runtime/store.py); both hash the same text."""
    def dump(value) -> str:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    before = (f'{{"event_id":{dump(event_id)},"event_type":{dump(event_type)},"metadata":{dump(metadata)},'
              f'"payload":{dump(payload)},"position":')
    after = (f',"recorded_at":{dump(utc(recorded_at).isoformat())},"schema_version":{dump(schema_version)},'
             f'"stream_id":{dump(stream_id)},"stream_version":{dump(stream_version)}}}')
    return before, after


def chain_hash(prev_hash: str, position: int, event_id: str, stream_id: str, stream_version: int,
               event_type: str, schema_version: int, payload: dict, metadata: dict, recorded_at: datetime) -> str:
    """sha256(prev_hash || canonical event), hex."""
    before, after = canonical_parts(event_id, stream_id, stream_version, event_type, schema_version, payload,
                                    metadata, recorded_at)
    return hashlib.sha256(f"{prev_hash}{before}{position}{after}".encode("utf-8")).hexdigest()


class DomainEvent:
    """Base of a service's event dataclasses: each names its public type and contract schema.

    `encode` checks the payload against the contract, so an event that would break a consumer never gets stored.
    """

    event_type: ClassVar[str]
    schema: ClassVar[Any]  # a marshmallow Schema class from contracts/

    def encode(self) -> NewEvent:
        payload = asdict(self)  # type: ignore[call-overload]
        errors = self.schema().validate(payload)
        if errors:
            raise ValueError(f"{self.event_type} payload breaks its contract: {errors}")
        return NewEvent(self.event_type, payload)


def decoder(*event_classes: type) -> "callable":
    """Build `decode(event_type, payload) -> DomainEvent` for a service's event classes."""
    by_type = {cls.event_type: cls for cls in event_classes}

    def decode(event_type: str, payload: dict[str, Any]):
        cls = by_type[event_type]
        names = {f.name for f in fields(cls)}
        return cls(**{k: payload.get(k) for k in names})

    return decode
