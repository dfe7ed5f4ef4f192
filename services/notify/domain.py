"""One outgoing mail: state, evolve, decide. Pure: no I/O, no clock, no logging.

One aggregate per causing event (stream `mail-<causation_event_id>`): the event that calls for the mail names it,
so however often that event arrives, it has one stream and one mail.

    new ──queue──> queued ──sent──> sent
     │               │
     └──failure──> retrying (attempt n, retry_at) ──queue/sent/failure── ... ──> failed (final)

An attempt is: fetch the mail's content, queue it (once), send it. Any step can fail; each failure is attempt n.
A permanent refusal (5xx from the SMTP server, the DCV is gone) is final at once; otherwise the mail is retried
after BACKOFF[n-1] until MAX_ATTEMPTS attempts have failed.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from contracts.errors import Conflict
from contracts.notify import MAX_ATTEMPTS
from services.notify.commands import QueueMail, RecordFailure, RecordSent
from services.notify.events import MailFailed, MailQueued, MailSent

# How long to wait after failed attempt n (1..MAX_ATTEMPTS-1) before attempt n+1: about 43 minutes in all,
# enough to ride out a mail server restart, short enough that an administrator waiting for a DCV mail is told.
BACKOFF = (timedelta(seconds=30), timedelta(minutes=2), timedelta(minutes=10), timedelta(minutes=30))
assert len(BACKOFF) == MAX_ATTEMPTS - 1

_MESSAGE_IDS = uuid.UUID("8c3b0f4e-2f57-4c61-9b1a-6d0e4a7f2c19")


def message_id_for(causation_event_id: str) -> str:
    """The mail's id, derived from its cause: every attempt, replica and replay names the same message (and the
    mail's Message-ID header carries it, so a receiving system can spot the rare duplicate)."""
    return str(uuid.uuid5(_MESSAGE_IDS, causation_event_id))


def mail_stream(causation_event_id: str) -> str:
    return f"mail-{causation_event_id}"


class MailStatus(StrEnum):
    NEW = "new"
    QUEUED = "queued"
    RETRYING = "retrying"
    SENT = "sent"
    FAILED = "failed"


@dataclass(frozen=True)
class Mail:
    causation_event_id: str | None = None
    message_id: str | None = None
    kind: str | None = None
    to: str | None = None
    subject: str | None = None
    status: MailStatus = MailStatus.NEW
    queued: bool = False
    attempts: int = 0
    retry_at: datetime | None = None
    last_error: str | None = None

    @property
    def finished(self) -> bool:
        return self.status in (MailStatus.SENT, MailStatus.FAILED)


def evolve(state: Mail, event) -> Mail:
    match event:
        case MailQueued():
            return replace(state, causation_event_id=event.causation_event_id, message_id=event.message_id,
                           kind=event.kind, to=event.to, subject=event.subject, status=MailStatus.QUEUED,
                           queued=True, retry_at=None)
        case MailSent():
            return replace(state, to=event.to, subject=event.subject, status=MailStatus.SENT,
                           attempts=state.attempts + 1, retry_at=None, last_error=None)
        case MailFailed():
            return replace(state, causation_event_id=event.causation_event_id, message_id=event.message_id,
                           kind=state.kind or event.kind, to=state.to or event.to,
                           status=MailStatus.FAILED if event.final else MailStatus.RETRYING,
                           attempts=event.attempt, last_error=event.reason,
                           retry_at=datetime.fromisoformat(event.retry_at) if event.retry_at else None)
    raise TypeError(f"notify cannot evolve {type(event).__name__}")


def fold(events) -> Mail:
    state = Mail()
    for event in events:
        state = evolve(state, event)
    return state


# ---- what to do with a mail now ------------------------------------------------------------------------------

class Step(StrEnum):
    ATTEMPT = "attempt"     # fetch, queue (once), send
    WAIT = "wait"           # a retry is due later (`until`)
    EXPIRE = "expire"       # too late to be of use: record a final failure instead of sending
    DONE = "done"           # sent, or failed for good


@dataclass(frozen=True)
class Plan:
    step: Step
    until: datetime | None = None


def plan(state: Mail, now: datetime, expires_at: datetime | None = None) -> Plan:
    """What a sender that picks this mail up at `now` should do. `expires_at`: after it the mail is useless (an
    email-DCV code past its token's expiry) — e.g. when notify first starts on a long `domains` history."""
    if state.finished:
        return Plan(Step.DONE)
    if expires_at is not None and now >= expires_at:
        return Plan(Step.EXPIRE)
    if state.status is MailStatus.RETRYING and state.retry_at is not None and state.retry_at > now:
        return Plan(Step.WAIT, state.retry_at)
    return Plan(Step.ATTEMPT)


# ---- decisions -----------------------------------------------------------------------------------------------

def decide_queue(state: Mail, cmd: QueueMail, now: datetime) -> list:
    """Queue the mail once. A second queue for the same causing event (a redelivery, another replica that got
    here first) is a no-op, and so is queueing a mail that is already finished."""
    if state.queued or state.finished:
        return []
    return [MailQueued(message_id_for(cmd.causation_event_id), cmd.causation_event_id, cmd.kind, cmd.to,
                       cmd.subject)]


def decide_record_sent(state: Mail, cmd: RecordSent, now: datetime) -> list:
    if state.status is MailStatus.SENT:
        return []
    if not state.queued:
        raise Conflict(f"mail for {cmd.causation_event_id} was never queued, so it cannot have been sent",
                       {"causation_event_id": cmd.causation_event_id}, code="mail_not_queued")
    if state.status is MailStatus.FAILED:
        raise Conflict(f"mail for {cmd.causation_event_id} already failed for good",
                       {"causation_event_id": cmd.causation_event_id}, code="mail_failed")
    return [MailSent(state.message_id, cmd.causation_event_id, cmd.transport, state.to, state.subject)]


def decide_record_failure(state: Mail, cmd: RecordFailure, now: datetime) -> list:
    """Attempt n failed: final when permanent or when it was the last allowed attempt, else retry after
    BACKOFF[n-1]. A mail already sent or failed for good takes no more failures."""
    if state.finished:
        return []
    attempt = state.attempts + 1
    final = cmd.permanent or attempt >= MAX_ATTEMPTS
    retry_at = None if final else (now + BACKOFF[attempt - 1]).isoformat()
    return [MailFailed(message_id_for(cmd.causation_event_id), cmd.causation_event_id, attempt, cmd.reason, final,
                       retry_at, state.kind or cmd.kind, state.to or cmd.to)]
