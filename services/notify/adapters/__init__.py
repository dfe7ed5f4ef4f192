"""notify's only outside I/O: how a composed mail leaves (smtp.py: SMTP, or the outbox table)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class OutgoingMail:
    """A mail ready to leave. `text` holds the body (for DCV, the secret code): it lives in this object while it
    is being sent, and is stored only by the outbox, never in an event."""

    message_id: str
    causation_event_id: str
    kind: str
    to: str
    subject: str
    text: str

    def __repr__(self) -> str:   # logs and tracebacks must not show the body
        return f"OutgoingMail(message_id={self.message_id!r}, kind={self.kind!r}, to={self.to!r})"


class SendFailed(Exception):
    """The mail did not leave. `permanent`: trying again cannot help (the server refused it with a 5xx answer,
    or the mail cannot be expressed); otherwise it may work later (server down, 4xx, timeout)."""

    def __init__(self, reason: str, permanent: bool):
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
