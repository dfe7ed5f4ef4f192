"""The one error hierarchy every service raises and the gateway maps to HTTP.

Each class is registered with nameko's `deserialize_to_instance`, so an error raised inside an RPC entrypoint is
re-raised in the caller as the same class with the same code, message and details. nameko sends `exc.args` and
turns every non-string in them into a string (a row number 2 would arrive as "2", None as "None"), so the details
travel in the args as JSON text and are decoded on the way back in.
"""
from __future__ import annotations

import json

from nameko.exceptions import deserialize_to_instance

_WIRE = "\x00json:"   # marks details that crossed RPC as JSON text


class DomainError(Exception):
    """A refusal a client can act on. `code` is stable and machine-readable; `message` is for people."""

    http_status = 400
    default_code = "error"

    def __init__(self, message: str, details: dict | list | None = None, code: str | None = None):
        if isinstance(details, str) and details.startswith(_WIRE):
            details = json.loads(details[len(_WIRE):])
        super().__init__(message, _WIRE + json.dumps(details), code or self.default_code)

    @property
    def message(self) -> str:
        return self.args[0]

    @property
    def details(self):
        return json.loads(self.args[1][len(_WIRE):])

    @property
    def code(self) -> str:
        return self.args[2]

    def __str__(self) -> str:
        return self.message


@deserialize_to_instance
class InvalidRequest(DomainError):
    http_status = 400
    default_code = "invalid_request"


@deserialize_to_instance
class Unauthenticated(DomainError):
    http_status = 401
    default_code = "unauthenticated"


@deserialize_to_instance
class Forbidden(DomainError):
    http_status = 403
    default_code = "forbidden"


@deserialize_to_instance
class NotFound(DomainError):
    http_status = 404
    default_code = "not_found"

    @classmethod
    def of(cls, kind: str, ident) -> "NotFound":
        return cls(f"{kind} {ident} does not exist", {"kind": kind, "id": str(ident)})


@deserialize_to_instance
class Conflict(DomainError):
    http_status = 409
    default_code = "conflict"


@deserialize_to_instance
class PolicyViolation(DomainError):
    http_status = 422
    default_code = "policy_violation"


@deserialize_to_instance
class Unavailable(DomainError):
    """Not now, but soon: the gateway answers 503 with Retry-After."""
    http_status = 503
    default_code = "unavailable"


# Not an HTTP status of its own: an optimistic-concurrency clash the store retries; after the last retry it
# surfaces as Conflict with code "concurrent_update".
class ConcurrencyConflict(Exception):
    def __init__(self, stream_id: str, expected_version: int):
        super().__init__(f"stream {stream_id} moved past version {expected_version}")
        self.stream_id = stream_id
        self.expected_version = expected_version


EXPECTED = (DomainError,)
