"""What notify decides about one mail. The facts of outside I/O (the rendered subject, how sending went) arrive
here as fields; domain.py never fetches them."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class QueueMail:
    causation_event_id: str
    kind: str
    to: str
    subject: str


@dataclass(frozen=True)
class RecordSent:
    causation_event_id: str
    transport: str                  # smtp | outbox


@dataclass(frozen=True)
class RecordFailure:
    causation_event_id: str
    kind: str
    reason: str                     # a code, then what the other side said: "smtp_refused: 550 no such user"
    permanent: bool                 # retrying cannot help (a 5xx answer, the DCV is gone): final at once
    to: str | None = None
