"""The envelope every published event travels in (public interface: SIEM subscribers bind to it).

Exchange: `<source>.events` (topic, durable), one per service. Routing key: the envelope's `event_type`,
e.g. `organization_created.v1`. Bind with `#` for everything a service publishes, or `organization_*.v1`-style
patterns for a subset. Delivery is at least once and in `position` order per source; dedupe on
(`source`, `position`) or on `event_id`. See contracts/README.md.
"""
from __future__ import annotations

from marshmallow import EXCLUDE, Schema, fields, validate


class EnvelopeV1(Schema):
    class Meta:
        unknown = EXCLUDE  # consumers tolerate fields added later

    event_id = fields.UUID(required=True)
    event_type = fields.String(required=True, validate=validate.Regexp(r"^[a-z_]+\.v[0-9]+$"))
    source = fields.String(required=True)
    stream_id = fields.String(required=True)
    stream_version = fields.Integer(required=True, validate=validate.Range(min=1))
    position = fields.Integer(required=True, validate=validate.Range(min=1))
    occurred_at = fields.AwareDateTime(required=True)
    correlation_id = fields.String(required=True, allow_none=True)
    causation_id = fields.String(required=True, allow_none=True)
    actor = fields.String(required=True, allow_none=True)
    payload = fields.Dict(required=True)
    hash = fields.String(load_default=None)  # the event's link in its source's hash chain (sha256 hex)


ENVELOPE_EXAMPLE = {
    "event_id": "0b8f8d0e-3c52-4f57-a8a4-2a5f4a0e6f11",
    "event_type": "organization_created.v1",
    "source": "orgs",
    "stream_id": "organization-6f1c2b1e-3c1a-4f3e-9a55-6d2f0d6f7f10",
    "stream_version": 1,
    "position": 42,
    "occurred_at": "2026-11-27T09:30:00.123456+00:00",
    "correlation_id": "c0ffee00-0000-4000-8000-000000000001",
    "causation_id": None,
    "actor": "admin:bootstrap",
    "payload": {"organization_id": "6f1c2b1e-3c1a-4f3e-9a55-6d2f0d6f7f10", "name": "Example Corp"},
    "hash": "9f2c0a3b" + "0" * 56,
}


def exchange_name(source: str) -> str:
    return f"{source}.events"
