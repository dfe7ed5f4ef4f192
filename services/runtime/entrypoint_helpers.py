"""What every service entrypoint does before and around `store.execute`: load the payload with its contract
schema, parse ids, and adapt a pure decide function to the store."""
from __future__ import annotations

import uuid
from typing import Callable

from marshmallow import ValidationError

from contracts.errors import InvalidRequest, NotFound


def load_payload(schema, payload):
    """The payload loaded by its contract schema, or InvalidRequest naming each bad field."""
    try:
        return schema.load(payload if payload is not None else {})
    except ValidationError as exc:
        raise InvalidRequest("the request has invalid fields", exc.messages_dict) from None


def parse_id(value, kind: str) -> str:
    """A UUID in canonical form; anything else names no object, so it is NotFound (never a 500)."""
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise NotFound.of(kind, value) from None


def decider(fold: Callable, decode: Callable, decide: Callable, *args) -> Callable:
    """`history -> new events` for the store: fold the stream's events into state, call the pure
    `decide(state, *args)`, and encode what it returns."""
    def run(history):
        state = fold(decode(r.event_type, r.payload) for r in history)
        return [event.encode() for event in decide(state, *args)]
    return run
