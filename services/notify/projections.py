"""notify's read models, both in notify's own database.

- `MailRequests`: fed by the followers of `domains` and `enrollment` (in the follower's transaction, no I/O): one
  row per event that calls for a mail — `dcv_started.v1` with method `email` (DcvMailRequests) and
  `ssl_issued.v1`, the collection mail (CollectionMailRequests). Both write one table; each rebuilds only its kind.
  It is the senders' work list: `pending` rows are
  claimed, attempted and marked `done`. The row is only a trigger; what happened to the mail is in notify's own
  `mail-<causation_event_id>` stream, so emptying and refilling this table (a rebuild) sends nothing twice.
- `MessagesView`: fed by notify's own events: the record of every outgoing mail (`list_messages`).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from services.runtime.events import Envelope, utc

PENDING = "pending"
DONE = "done"


@dataclass(frozen=True)
class MailRequest:
    causation_event_id: str
    kind: str
    reference: str                  # dcv_email: the dcv_id whose mail domains renders
    recipient: str | None           # the address the causing event named
    expires_at: datetime | None     # after this the mail is of no use
    correlation_id: str | None
    actor: str | None


class MailRequests:
    def __init__(self, metadata: sa.MetaData):
        self.table = sa.Table(
            "mail_requests", metadata,
            sa.Column("causation_event_id", sa.String(36), primary_key=True),
            sa.Column("kind", sa.String(50), nullable=False),
            sa.Column("reference", sa.String(36), nullable=False),
            sa.Column("recipient", sa.String(320)),
            sa.Column("expires_at", sa.DateTime(timezone=True)),
            sa.Column("correlation_id", sa.String(100)),
            sa.Column("actor", sa.String(100)),
            sa.Column("status", sa.String(10), nullable=False),
            sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),   # next attempt, or end of a claim
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
            sa.Index("mail_requests_due", "status", "due_at"),
        )

    KIND = ""                       # the kind of mail this follower's events call for
    KINDS: tuple[str, ...] = ()     # or the kinds, when they are several

    # ---- updating (the follower's transaction) ------------------------------------------------------------
    def apply(self, conn: sa.Connection, event: Envelope) -> None:
        wanted = self.mail_for(event)
        if wanted is None:
            return
        reference, recipient, expires, *kind = wanted
        conn.execute(self.table.insert().values(
            causation_event_id=event.event_id, kind=kind[0] if kind else self.KIND, reference=reference, recipient=recipient,
            expires_at=expires, correlation_id=event.correlation_id, actor=event.actor, status=PENDING,
            due_at=utc(event.occurred_at), created_at=utc(event.occurred_at), updated_at=utc(event.occurred_at)))

    def mail_for(self, event: Envelope) -> tuple | None:
        """(reference, recipient, expires_at), or (…, kind) for a follower of several KINDS, when the event calls
        for a mail, else None."""
        raise NotImplementedError

    def reset(self, conn: sa.Connection) -> None:
        conn.execute(self.table.delete().where(self.table.c.kind.in_(self.KINDS or (self.KIND,))))

    # ---- the senders' work list ---------------------------------------------------------------------------
    def due(self, conn: sa.Connection, now: datetime, limit: int) -> list[MailRequest]:
        t = self.table
        rows = conn.execute(sa.select(t).where(t.c.status == PENDING, t.c.due_at <= now)
                            .order_by(t.c.due_at, t.c.causation_event_id).limit(limit)).mappings()
        return [MailRequest(r["causation_event_id"], r["kind"], r["reference"], r["recipient"],
                            utc(r["expires_at"]) if r["expires_at"] else None, r["correlation_id"], r["actor"])
                for r in rows]

    def claim(self, conn: sa.Connection, causation_event_id: str, now: datetime, until: datetime) -> bool:
        """Take the row until `until` (compare-and-set): False when another worker or replica has it. A sender
        that dies holding it loses it at `until`, and another attempt follows."""
        t = self.table
        return conn.execute(t.update().where(t.c.causation_event_id == causation_event_id, t.c.status == PENDING,
                                             t.c.due_at <= now)
                            .values(due_at=until, updated_at=now)).rowcount == 1

    def reschedule(self, conn: sa.Connection, causation_event_id: str, now: datetime, due_at: datetime) -> None:
        t = self.table
        conn.execute(t.update().where(t.c.causation_event_id == causation_event_id)
                     .values(due_at=due_at, updated_at=now))

    def finish(self, conn: sa.Connection, causation_event_id: str, now: datetime) -> None:
        t = self.table
        conn.execute(t.update().where(t.c.causation_event_id == causation_event_id)
                     .values(status=DONE, updated_at=now))

    def counts(self, conn: sa.Connection) -> dict[str, int]:
        t = self.table
        return dict(conn.execute(sa.select(t.c.status, sa.func.count()).group_by(t.c.status)).all())


class DcvMailRequests(MailRequests):
    """`domains` → the email-DCV mail (domains renders it with `dcv_mail`, and holds its code)."""
    KIND = "dcv_email"

    def mail_for(self, event: Envelope):
        p = event.payload
        if event.event_type != "dcv_started.v1" or p.get("method") != "email":
            return None
        expires = p.get("token_expires_at")
        return p["dcv_id"], p.get("email_address"), utc(datetime.fromisoformat(expires)) if expires else None


class CollectionMailRequests(MailRequests):
    """`enrollment` → the collection mail of an issued certificate (enrollment renders it with `collection_mail`,
    and holds the collection id), and for client, code-signing and device certificates their invitation and
    collection mails (`invitation_mail`, `cert_collection_mail`)."""
    KIND = "ssl_collection"
    KINDS = ("ssl_collection", "cert_invitation", "cert_collection")
    TYPES = ("ssl_issued.v1", "cert_invited.v1", "cert_issued.v1")

    def mail_for(self, event: Envelope):
        p = event.payload
        if event.event_type == "cert_invited.v1":          # the invitation link, to the person
            return p["cert_id"], p["email"], utc(datetime.fromisoformat(p["expires_at"])), "cert_invitation"
        if event.event_type == "cert_issued.v1":
            return (p["cert_id"], p["collection_to"], None, "cert_collection") if p.get("collection_to") else None
        if event.event_type != "ssl_issued.v1" or p.get("collection_mail") is False:
            return None                  # no requester to mail (an ACME client's request, say)
        return p["ssl_id"], None, None


class MessagesView:
    def __init__(self, metadata: sa.MetaData):
        self.messages = sa.Table(
            "messages", metadata,
            sa.Column("message_id", sa.String(36), primary_key=True),
            sa.Column("causation_event_id", sa.String(36), nullable=False, unique=True),
            sa.Column("kind", sa.String(50)),
            sa.Column("to_address", sa.String(320)),
            sa.Column("subject", sa.Text),
            sa.Column("transport", sa.String(10)),
            sa.Column("status", sa.String(10), nullable=False),
            sa.Column("attempts", sa.Integer, nullable=False),
            sa.Column("last_error", sa.Text),
            sa.Column("retry_at", sa.DateTime(timezone=True)),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, index=True),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("sent_at", sa.DateTime(timezone=True)),
        )

    # ---- updating (the append transaction) ----------------------------------------------------------------
    def apply(self, conn: sa.Connection, event: Envelope) -> None:
        p, at, m = event.payload, event.occurred_at, self.messages
        if event.event_type not in ("mail_queued.v1", "mail_sent.v1", "mail_failed.v1"):
            return
        current = conn.execute(sa.select(m).where(m.c.message_id == p["message_id"])).mappings().first()
        if current is None:
            conn.execute(m.insert().values(message_id=p["message_id"], causation_event_id=p["causation_event_id"],
                                           kind=p.get("kind"), to_address=p.get("to"), status="queued",
                                           attempts=0, created_at=at, updated_at=at))
            current = {"attempts": 0, "kind": p.get("kind"), "to_address": p.get("to")}
        where = m.c.message_id == p["message_id"]
        match event.event_type:
            case "mail_queued.v1":
                conn.execute(m.update().where(where).values(kind=p["kind"], to_address=p["to"], subject=p["subject"],
                                                            status="queued", retry_at=None, updated_at=at))
            case "mail_sent.v1":
                conn.execute(m.update().where(where).values(
                    to_address=p["to"], subject=p["subject"], transport=p["transport"], status="sent",
                    attempts=current["attempts"] + 1, last_error=None, retry_at=None, sent_at=at, updated_at=at))
            case "mail_failed.v1":
                conn.execute(m.update().where(where).values(
                    kind=current["kind"] or p.get("kind"), to_address=current["to_address"] or p.get("to"),
                    status="failed" if p["final"] else "retrying", attempts=p["attempt"], last_error=p["reason"],
                    retry_at=utc(datetime.fromisoformat(p["retry_at"])) if p.get("retry_at") else None,
                    updated_at=at))

    def reset(self, conn: sa.Connection) -> None:
        conn.execute(self.messages.delete())

    # ---- queries ------------------------------------------------------------------------------------------
    def page(self, conn: sa.Connection, offset: int, limit: int) -> dict:
        """Newest first."""
        m = self.messages
        total = conn.execute(sa.select(sa.func.count()).select_from(m)).scalar_one()
        rows = conn.execute(sa.select(m).order_by(m.c.created_at.desc(), m.c.message_id)
                            .offset(offset).limit(limit)).mappings()
        return {"items": [_public(r) for r in rows], "total": total}


def _public(row) -> dict:
    values = dict(row)
    values["to"] = values.pop("to_address")
    for name in ("retry_at", "created_at", "updated_at", "sent_at"):
        if values.get(name) is not None:
            values[name] = utc(values[name]).isoformat()
    return values
