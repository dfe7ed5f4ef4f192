"""`notify` service contracts: the record of every outgoing mail, as events (V1) and RPC answers.

notify sends mail that other services' events call for (today: the email-DCV mail for `dcv_started.v1` with
method `email`). Each mail is one stream, `mail-<causation_event_id>`, named by the event that caused it, so a
causing event delivered twice (push and catch-up, a redelivery, a replica) still makes one mail.

A mail's body never goes into an event: an email-DCV mail carries a secret code. Events carry who, what and
how it went; the body exists only in the mail itself and, when no SMTP host is configured, in notify's outbox
table (readable by MRAOs through `GET /api/v1/outbox`).
"""
from __future__ import annotations

from marshmallow import EXCLUDE, Schema, fields, validate

SOURCE = "notify"

MAIL_KINDS = ("dcv_email", "ssl_collection", "cert_invitation", "cert_collection")   # what the mail is for
TRANSPORTS = ("smtp", "outbox")
MAIL_STATUSES = ("queued", "retrying", "sent", "failed")   # retrying: failed, another attempt is due; failed: final
MAX_ATTEMPTS = 5


# ---- RPC answers (V1) ------------------------------------------------------------------------------------

class OutboxMessageV1(Schema):
    """A mail written to the outbox instead of being sent (no SMTP host configured). `text` is the whole body,
    DCV code included: the outbox is for trying Certplane out without a mail server, and only MRAOs read it."""
    class Meta:
        unknown = EXCLUDE

    message_id = fields.UUID(required=True)
    to = fields.String(required=True)
    subject = fields.String(required=True)
    text = fields.String(required=True)
    created_at = fields.String(required=True, metadata={"description": "ISO 8601, UTC"})
    causation_event_id = fields.UUID(required=True, metadata={"description": "the event this mail answers"})
    kind = fields.String(required=True, validate=validate.OneOf(MAIL_KINDS))


class MailMessageV1(Schema):
    """One outgoing mail as notify records it (no body): what `list_messages` returns."""
    class Meta:
        unknown = EXCLUDE

    message_id = fields.UUID(required=True)
    causation_event_id = fields.UUID(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(MAIL_KINDS))
    to = fields.String(allow_none=True, metadata={"description": "null when the mail failed before its "
                                                                 "recipient was known"})
    subject = fields.String(allow_none=True)
    transport = fields.String(allow_none=True, validate=validate.OneOf(TRANSPORTS),
                              metadata={"description": "how it left, once sent"})
    status = fields.String(required=True, validate=validate.OneOf(MAIL_STATUSES))
    attempts = fields.Integer(required=True, metadata={"description": "attempts made so far"})
    last_error = fields.String(allow_none=True)
    retry_at = fields.String(allow_none=True, metadata={"description": "when the next attempt is due (retrying)"})
    created_at = fields.String(required=True, metadata={"description": "ISO 8601, UTC"})
    updated_at = fields.String(required=True)
    sent_at = fields.String(allow_none=True)


# ---- events (V1). Event schemas tolerate unknown fields so producers can add optional ones. -----------------

class _Event(Schema):
    class Meta:
        unknown = EXCLUDE


class MailQueuedV1(_Event):
    """The mail is composed and about to be sent; a causing event gets at most one of these."""
    message_id = fields.UUID(required=True)
    causation_event_id = fields.UUID(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(MAIL_KINDS))
    to = fields.String(required=True)
    subject = fields.String(required=True)


class MailSentV1(_Event):
    """The SMTP server accepted the mail (`smtp`), or it was written to the outbox (`outbox`)."""
    message_id = fields.UUID(required=True)
    causation_event_id = fields.UUID(required=True)
    transport = fields.String(required=True, validate=validate.OneOf(TRANSPORTS))
    to = fields.String(required=True)
    subject = fields.String(required=True)


class MailFailedV1(_Event):
    """An attempt failed. `final`: no more attempts (a permanent refusal, or the last of MAX_ATTEMPTS);
    otherwise `retry_at` says when the next is due. `kind` and `to` are there because a mail can fail before it
    was queued (its content could not be fetched); `to` is then the address the causing event named, if any."""
    message_id = fields.UUID(required=True)
    causation_event_id = fields.UUID(required=True)
    attempt = fields.Integer(required=True, validate=validate.Range(min=1))
    reason = fields.String(required=True)
    final = fields.Boolean(required=True)
    retry_at = fields.String(allow_none=True, load_default=None)
    kind = fields.String(allow_none=True, load_default=None)
    to = fields.String(allow_none=True, load_default=None)


EVENTS = {
    "mail_queued.v1": MailQueuedV1,
    "mail_sent.v1": MailSentV1,
    "mail_failed.v1": MailFailedV1,
}

_MESSAGE = "5b0c2f8e-7d41-5a2b-9c3e-8f1a2b3c4d5e"
_CAUSE = "0b8f8d0e-3c52-4f57-a8a4-2a5f4a0e6f11"
_SUBJECT = "Domain control validation for example.com"
EXAMPLES = {
    "mail_queued.v1": {"message_id": _MESSAGE, "causation_event_id": _CAUSE, "kind": "dcv_email",
                       "to": "admin@example.com", "subject": _SUBJECT},
    "mail_sent.v1": {"message_id": _MESSAGE, "causation_event_id": _CAUSE, "transport": "smtp",
                     "to": "admin@example.com", "subject": _SUBJECT},
    "mail_failed.v1": {"message_id": _MESSAGE, "causation_event_id": _CAUSE, "attempt": 1,
                       "reason": "smtp_temporary: 451 try again later", "final": False,
                       "retry_at": "2026-11-27T09:31:00+00:00", "kind": "dcv_email", "to": "admin@example.com"},
}
