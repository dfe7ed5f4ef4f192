"""How a mail leaves notify: by SMTP (`SmtpSender`), or — when no SMTP host is configured — into the outbox table
of notify's own database (`OutboxSender`), where an MRAO reads it through `GET /api/v1/outbox`. Both have
`transport` (the value mail_sent.v1 records) and `send(mail)`, which returns when the mail is accepted and raises
SendFailed otherwise."""
from __future__ import annotations

import smtplib
import ssl
from datetime import datetime
from email.message import EmailMessage
from email.utils import formatdate
from typing import Callable

import sqlalchemy as sa

from services.notify.adapters import OutgoingMail, SendFailed
from services.runtime.db import Database
from services.runtime.events import utc
from services.runtime.store import system_clock

SECURITY = ("none", "starttls", "tls")
DEFAULT_TIMEOUT = 30.0   # seconds per SMTP conversation step (connect, each command)


class SmtpSender:
    """One SMTP conversation per mail: connect (implicit TLS for `tls`), EHLO, STARTTLS for `starttls`, AUTH when
    a username is set, MAIL/RCPT/DATA, QUIT. The certificate of a TLS server is verified against the system's CAs
    (or `ssl_context`). Each mail carries `Message-ID: <message_id@…>`, the same on every attempt, and
    `X-Certplane-Causation-Id`, so a duplicate delivered after a crash can be recognised (DESIGN §3.4)."""

    transport = "smtp"

    def __init__(self, host: str, port: int = 25, security: str = "none", username: str | None = None,
                 password: str | None = None, mail_from: str = "certplane@localhost",
                 timeout: float = DEFAULT_TIMEOUT, ssl_context: ssl.SSLContext | None = None,
                 local_hostname: str | None = None):
        if security not in SECURITY:
            raise ValueError(f"smtp security {security!r}: use one of {', '.join(SECURITY)}")
        self.host = host
        self.port = port
        self.security = security
        self.username = username
        self.password = password
        self.mail_from = mail_from
        self.timeout = timeout
        self.ssl_context = ssl_context
        self.local_hostname = local_hostname

    def compose(self, mail: OutgoingMail) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.mail_from
        message["To"] = mail.to
        message["Subject"] = mail.subject
        message["Date"] = formatdate(usegmt=True)
        message["Message-ID"] = f"<{mail.message_id}@{self.mail_from.rpartition('@')[2] or 'certplane'}>"
        message["Auto-Submitted"] = "auto-generated"          # RFC 3834: no vacation replies, please
        message["X-Certplane-Kind"] = mail.kind
        message["X-Certplane-Causation-Id"] = mail.causation_event_id
        message.set_content(mail.text)
        return message

    def send(self, mail: OutgoingMail) -> None:
        try:
            message = self.compose(mail)
        except (ValueError, TypeError) as exc:       # e.g. a line break in a header: no server will take it
            raise SendFailed(f"mail_invalid: {exc}", permanent=True) from None
        try:
            with self._connect() as smtp:
                if self.security == "starttls":
                    smtp.starttls(context=self._context())
                    smtp.ehlo()
                if self.username:
                    smtp.login(self.username, self.password or "")
                smtp.send_message(message, from_addr=self.mail_from, to_addrs=[mail.to])
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()))
            raise SendFailed(f"smtp_recipient_refused: {code} {_text(text)}", permanent=code >= 500) from None
        except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
            raise SendFailed(f"smtp_refused: {exc.smtp_code} {_text(exc.smtp_error)}",
                             permanent=exc.smtp_code >= 500) from None
        except smtplib.SMTPResponseException as exc:  # AUTH, HELO, connect refusals: our setup, not this mail
            raise SendFailed(f"smtp_error: {exc.smtp_code} {_text(exc.smtp_error)}", permanent=False) from None
        except (smtplib.SMTPException, OSError) as exc:  # unreachable, timeout, TLS failure, STARTTLS not offered
            raise SendFailed(f"smtp_unavailable: {type(exc).__name__}: {exc}", permanent=False) from None

    def _connect(self) -> smtplib.SMTP:
        if self.security == "tls":
            return smtplib.SMTP_SSL(self.host, self.port, local_hostname=self.local_hostname,
                                    timeout=self.timeout, context=self._context())
        return smtplib.SMTP(self.host, self.port, local_hostname=self.local_hostname, timeout=self.timeout)

    def _context(self) -> ssl.SSLContext:
        return self.ssl_context or ssl.create_default_context()


def _text(value) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


class OutboxSender:
    """The dev outbox: "sending" writes the mail, body included, into notify's `outbox` table. Idempotent on
    message_id, so a retried attempt never makes a second outbox row."""

    transport = "outbox"

    def __init__(self, db: Database, clock: Callable[[], datetime] = system_clock):
        self.db = db
        self.clock = clock
        self.metadata = sa.MetaData(schema=db.schema)
        self.table = sa.Table(
            "outbox", self.metadata,
            sa.Column("message_id", sa.String(36), primary_key=True),
            sa.Column("causation_event_id", sa.String(36), nullable=False),
            sa.Column("kind", sa.String(50), nullable=False),
            sa.Column("to_address", sa.String(320), nullable=False),
            sa.Column("subject", sa.Text, nullable=False),
            sa.Column("text", sa.Text, nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, index=True),
        )

    def create_table(self) -> None:
        self.db.create_tables(self.metadata)

    def send(self, mail: OutgoingMail) -> None:
        table = self.table
        try:
            with self.db.writer() as conn, conn.begin():
                if conn.execute(sa.select(table.c.message_id).where(table.c.message_id == mail.message_id)).first():
                    return
                conn.execute(table.insert().values(
                    message_id=mail.message_id, causation_event_id=mail.causation_event_id, kind=mail.kind,
                    to_address=mail.to, subject=mail.subject, text=mail.text, created_at=self.clock()))
        except sa.exc.IntegrityError:
            return       # written a moment ago by another replica
        except sa.exc.SQLAlchemyError as exc:
            raise SendFailed(f"outbox_unavailable: {type(exc).__name__}", permanent=False) from None

    def page(self, offset: int, limit: int) -> dict:
        """Newest first."""
        table = self.table
        with self.db.engine.connect() as conn:
            total = conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
            rows = conn.execute(sa.select(table).order_by(table.c.created_at.desc(), table.c.message_id)
                                .offset(offset).limit(limit)).mappings()
            items = [{"message_id": r["message_id"], "to": r["to_address"], "subject": r["subject"],
                      "text": r["text"], "created_at": utc(r["created_at"]).isoformat(),
                      "causation_event_id": r["causation_event_id"], "kind": r["kind"]} for r in rows]
        return {"items": items, "total": total}
