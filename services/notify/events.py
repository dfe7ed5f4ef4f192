"""What happened to an outgoing mail. Each event is its public V1 contract (contracts/notify.py); none carries the
mail's body."""
from __future__ import annotations

from dataclasses import dataclass

from contracts import notify as contract
from services.runtime.events import DomainEvent, decoder


@dataclass(frozen=True)
class MailQueued(DomainEvent):
    event_type = "mail_queued.v1"
    schema = contract.MailQueuedV1

    message_id: str
    causation_event_id: str
    kind: str
    to: str
    subject: str


@dataclass(frozen=True)
class MailSent(DomainEvent):
    event_type = "mail_sent.v1"
    schema = contract.MailSentV1

    message_id: str
    causation_event_id: str
    transport: str
    to: str
    subject: str


@dataclass(frozen=True)
class MailFailed(DomainEvent):
    event_type = "mail_failed.v1"
    schema = contract.MailFailedV1

    message_id: str
    causation_event_id: str
    attempt: int
    reason: str
    final: bool
    retry_at: str | None = None
    kind: str | None = None
    to: str | None = None


decode = decoder(MailQueued, MailSent, MailFailed)
