"""The notify service: mail that other services' events call for — today the email-DCV mail — sent by SMTP, or
written to the outbox when no SMTP host is configured. Entrypoints first; below them, the one path every mail
takes (`_send_due`), because each step of it is I/O the entrypoints share.

How a mail comes about:
1. `domains` records `dcv_started.v1` (method email). The follower below (pushed events, and a pull at start and
   on a timer) applies it to `mail_requests` in the follower's transaction: one `pending` row per causing event
   (projections.MailRequests). No I/O there.
2. Outside that transaction — right after a pushed event, and on every catch-up tick — due rows are claimed
   (compare-and-set, so one worker of one replica has a row at a time) and attempted: load the mail's stream
   `mail-<causation_event_id>`; ask `domains.dcv_mail(dcv_id)` for to/subject/text; append `mail_queued.v1` at the
   version we loaded (0 the first time: a second attempt for the same causing event finds the stream and does not
   queue again); send; append `mail_sent.v1`, or `mail_failed.v1` with a retry time (domain.BACKOFF, at most
   MAX_ATTEMPTS attempts); mark the row done. The body is never stored, except by the outbox transport.

Dedupe is by causing event id: however often `dcv_started.v1` arrives, it names one stream and one message id.
The limit is honest and stated: delivery is at least once. If the process dies (or loses its database) after the
SMTP server accepted a mail and before `mail_sent.v1` is recorded, the stream still says `queued`; when the claim
expires another attempt sends the mail again. No order of the two steps avoids that — SMTP has no transaction to
commit together with ours, and recording `sent` before sending would turn the same crash into a mail never sent,
which blocks the administrator's validation, where a duplicate (same code, same Message-ID) costs nothing. With
the outbox transport the write is idempotent on message_id, so there it is exactly once.
"""
from __future__ import annotations

from datetime import timedelta

import structlog
from nameko.extensions import DependencyProvider
from nameko.rpc import RpcProxy, rpc

from contracts import notify as contract
from contracts.errors import EXPECTED, ConcurrencyConflict, DomainError, InvalidRequest
from services.notify import domain
from services.notify.adapters import OutgoingMail, SendFailed
from services.notify.adapters.smtp import OutboxSender, SmtpSender
from services.notify.commands import QueueMail, RecordFailure, RecordSent
from services.notify.events import decode
from services.notify.projections import CollectionMailRequests, DcvMailRequests, MailRequest, MessagesView
from services.runtime.nameko_glue import (Context, EventSourced, EventStoreProvider, follows, open_database, rpc_call,
                                          settings_of)
from services.runtime.store import system_clock

log = structlog.get_logger(__name__)

SEND_BATCH = 50                      # rows attempted per pass; the next push or tick takes the rest
CLAIM = timedelta(minutes=5)         # a sender that dies holding a row loses it after this
MAX_PAGE = 500


class MailProvider(DependencyProvider):
    """`self.mail.sender`: SMTP when `smtp_host` is set, else the outbox. `self.mail.outbox` is always there
    (list_outbox reads it; it stays empty while SMTP is configured)."""

    def setup(self):
        settings = settings_of(self.container)
        self.outbox = OutboxSender(open_database(settings, self.container.service_name))
        self.outbox.create_table()
        if settings.smtp_host:
            self.sender = SmtpSender(settings.smtp_host, settings.smtp_port, settings.smtp_security,
                                     settings.smtp_username, settings.smtp_password, settings.mail_from)
            log.info("mail_transport", transport="smtp", host=settings.smtp_host, port=settings.smtp_port,
                     security=settings.smtp_security)
        else:
            self.sender = self.outbox
            if settings.embedded:
                log.info("mail_transport", transport="outbox")
            else:
                log.warning("mail_goes_to_outbox", reason="no smtp_host configured",
                            hint="set CERTPLANE_SMTP_HOST; until then MRAOs read mail at GET /api/v1/outbox")

    def get_dependency(self, worker_ctx):
        return self


class NotifyService(EventSourced):
    name = contract.SOURCE

    store = EventStoreProvider(projections=[MessagesView])
    context = Context()
    mail = MailProvider()
    domains_rpc = RpcProxy("domains")
    # events that call for mail, pushed and pulled (at start and on a timer, which is also the retry timer:
    # whatever has become due is attempted after each)
    mail_requests = follows("domains", DcvMailRequests, then="_send_due")
    collection_requests = follows("enrollment", CollectionMailRequests, then="_send_due",
                                  types=CollectionMailRequests.TYPES)
    enrollment_rpc = RpcProxy("enrollment")

    # ---- queries ------------------------------------------------------------------------------------------
    @rpc(expected_exceptions=EXPECTED)
    def list_outbox(self, offset: int = 0, limit: int = 50) -> dict:
        """Mail written to the outbox, newest first: {"items": [OutboxMessageV1], "total": n}."""
        return self.mail.outbox.page(*_page(offset, limit))

    @rpc(expected_exceptions=EXPECTED)
    def list_messages(self, offset: int = 0, limit: int = 50) -> dict:
        """Every outgoing mail and how it went, newest first: {"items": [MailMessageV1], "total": n}."""
        offset, limit = _page(offset, limit)
        return self.store.read(lambda conn: self.store.projection(MessagesView).page(conn, offset, limit))

    # ---- sending ------------------------------------------------------------------------------------------
    def _send_due(self) -> None:
        follower = self.mail_requests
        with follower.db.engine.connect() as conn:
            due = follower.projection.due(conn, system_clock(), SEND_BATCH)
        for request in due:
            now = system_clock()
            with follower.db.writer() as conn, conn.begin():
                claimed = follower.projection.claim(conn, request.causation_event_id, now, now + CLAIM)
            if not claimed:
                continue            # another worker or replica has it
            try:
                self._attempt(request)
            except Exception:       # noqa: BLE001 — the claim runs out and the row is attempted again
                log.exception("mail_attempt_crashed", causation_event_id=request.causation_event_id)

    def _attempt(self, request: MailRequest) -> None:
        now = system_clock()
        cause = request.causation_event_id
        stream = domain.mail_stream(cause)
        history = self.store.load(stream)
        state = domain.fold(decode(r.event_type, r.payload) for r in history)
        version = len(history)
        plan = domain.plan(state, now, request.expires_at)
        if plan.step is domain.Step.DONE:
            return self._finish(request)
        if plan.step is domain.Step.WAIT:
            return self._reschedule(request, plan.until)
        try:
            if plan.step is domain.Step.EXPIRE:
                raise SendFailed("expired: the DCV token expired before the mail went out", permanent=True)
            rendered = self._render(request)
            queued = domain.decide_queue(state, QueueMail(cause, request.kind, rendered["to"], rendered["subject"]),
                                         now)
            version, state = self._record(stream, version, state, queued, request)
            self.mail.sender.send(OutgoingMail(state.message_id, cause, request.kind, state.to, state.subject,
                                               rendered["text"]))
        except SendFailed as failure:
            failed = domain.decide_record_failure(
                state, RecordFailure(cause, request.kind, failure.reason, failure.permanent, request.recipient), now)
            version, state = self._record(stream, version, state, failed, request)
            log.warning("mail_failed", causation_event_id=cause, message_id=state.message_id, kind=request.kind,
                        attempt=state.attempts, final=state.finished, reason=failure.reason)
            return self._finish(request) if state.finished else self._reschedule(request, state.retry_at)
        except ConcurrencyConflict:
            log.info("mail_taken_elsewhere", causation_event_id=cause)
            return None             # someone else wrote this stream meanwhile; the claim runs out, then we look again
        sent = domain.decide_record_sent(state, RecordSent(cause, self.mail.sender.transport), now)
        self._record(stream, version, state, sent, request)
        log.info("mail_sent", causation_event_id=cause, message_id=state.message_id, kind=request.kind,
                 transport=self.mail.sender.transport)
        self._finish(request)

    def _render(self, request: MailRequest) -> dict:
        """The mail's to/subject/text from its owner, which holds its secret: domains renders the email-DCV mail
        (the code), enrollment the collection mail (the collection link)."""
        render = {"dcv_email": self.domains_rpc.dcv_mail,
                  "ssl_collection": self.enrollment_rpc.collection_mail,
                  "cert_invitation": self.enrollment_rpc.invitation_mail,
                  "cert_collection": self.enrollment_rpc.cert_collection_mail}[request.kind]
        try:
            rendered = rpc_call(render, request.reference, timeout=self.context.settings.rpc_timeout)
        except DomainError as exc:   # NotFound (the DCV is gone), Conflict (no longer open): asking again won't help
            raise SendFailed(f"render_refused: {exc.code}: {exc.message}", permanent=True) from None
        except Exception as exc:     # noqa: BLE001 — timeout, domains not running, a crash there: try again later
            raise SendFailed(f"render_unavailable: {type(exc).__name__}: {exc}", permanent=False) from None
        if not isinstance(rendered, dict) or not all(isinstance(rendered.get(k), str) and rendered[k]
                                                     for k in ("to", "subject", "text")):
            raise SendFailed("render_invalid: the answer lacks to, subject or text", permanent=True)
        return rendered

    def _record(self, stream: str, version: int, state: domain.Mail, events: list, request: MailRequest):
        """Append what was decided at the version we loaded; (new version, new state)."""
        if not events:
            return version, state
        self.store.append(stream, version, [e.encode() for e in events],
                          {"correlation_id": request.correlation_id, "actor": request.actor,
                           "causation_id": request.causation_event_id})
        for event in events:
            state = domain.evolve(state, event)
        return version + len(events), state

    def _finish(self, request: MailRequest) -> None:
        follower = self.mail_requests
        with follower.db.writer() as conn, conn.begin():
            follower.projection.finish(conn, request.causation_event_id, system_clock())

    def _reschedule(self, request: MailRequest, due_at) -> None:
        follower = self.mail_requests
        with follower.db.writer() as conn, conn.begin():
            follower.projection.reschedule(conn, request.causation_event_id, system_clock(), due_at)



def _page(offset, limit) -> tuple[int, int]:
    try:
        return max(0, int(offset)), max(1, min(MAX_PAGE, int(limit)))
    except (TypeError, ValueError):
        raise InvalidRequest("offset and limit must be integers", {"offset": [str(offset)], "limit": [str(limit)]}) \
            from None
