"""What the console's dashboard and certificate page read from enrollment: counts over the SSL inventory (one SQL
COUNT/GROUP BY each, never a listing — the inventory may hold 100,000 certificates) and a request's history from
its own event stream.

The counts use the rules of the inventory list (EnrollmentView.ssl_page), so every count the dashboard shows is
the X-Total-Count of a list filter (tests/e2e/test_console_api.py checks that they agree):
- a certificate `issued` or `downloaded` whose notAfter has passed is `expired` (as ssl_view and the list's
  status filter say), `issued`/`downloaded` are the ones still valid;
- scope is {"all": true} or {"organizations": [...], "departments": [...]} (contracts/access.py ssl_scope);
- `expires_after`/`expires_before` bounds are exclusive, as the list's filters.
"""
from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from contracts.enrollment import SSL_STATUSES, VALID
from services.runtime.events import RecordedEvent, utc

LIVE = ("issued", "downloaded")     # statuses of a certificate that is out there (until its notAfter)
# the expiry timeline's buckets, disjoint: (name, from days, to days) from now; "expired" is notAfter <= now
EXPIRY_WINDOWS = (("within_7", 0, 7), ("within_30", 7, 30), ("within_90", 30, 90))
WAITING_IDS = 5                     # how many ids of the waiting requests the answer names


def effective_status(s: sa.Table, now: datetime):
    """The status the API shows, as SQL: ssl_view's rule (issued/downloaded past notAfter is expired)."""
    return sa.case((sa.and_(s.c.status.in_(LIVE), s.c.not_after <= now), sa.literal("expired")),
                   else_=s.c.status)


def scope_clause(s: sa.Table, scope: dict) -> list:
    if scope.get("all"):
        return []
    return [sa.or_(s.c.organization_id.in_(scope.get("organizations") or []),
                   s.c.department_id.in_(scope.get("departments") or []))]


def windows(now: datetime) -> dict:
    """Each bucket's bounds (ISO) as the list's expires_after/expires_before take them, and `filters`: the list
    query (GET /api/v1/ssl, add organization_id) whose X-Total-Count is the bucket's count: status=valid (issued
    or downloaded, not expired) within the bounds. "expired" is the list's status=expired
    (notAfter <= now)."""
    found = {"expired": {"expires_after": None, "expires_before": now.isoformat(),
                         "filters": [{"status": "expired"}]}}
    for name, start, end in EXPIRY_WINDOWS:
        bounds = {"expires_after": (now + timedelta(days=start)).isoformat(),
                  "expires_before": (now + timedelta(days=end)).isoformat()}
        found[name] = {**bounds, "filters": [{"status": VALID, **bounds}]}
    return found


def ssl_summary(conn: sa.Connection, s: sa.Table, scope: dict, admin_id: str | None, now: datetime) -> dict:
    """{now, by_status: {status: n} (every SSL_STATUSES key), expiry: [{organization_id, expired, within_7,
    within_30, within_90}] (organizations with a live certificate in scope), windows, waiting: {count, ids}
    (requests in `requested` status not requested by `admin_id`: those the caller may approve, as the approve
    route decides: visible and not their own)}."""
    in_scope = scope_clause(s, scope)
    status = effective_status(s, now).label("effective")
    shown = sa.select(status).where(*in_scope).subquery()
    by_status = dict.fromkeys(SSL_STATUSES, 0)
    for row in conn.execute(sa.select(shown.c.effective, sa.func.count()).group_by(shown.c.effective)):
        by_status[row[0]] = row[1]

    def bucket(*conditions):
        return sa.func.sum(sa.case((sa.and_(*conditions), 1), else_=0))

    na = s.c.not_after
    columns = [bucket(na <= now).label("expired")]
    for name, start, end in EXPIRY_WINDOWS:
        columns.append(bucket(na > now + timedelta(days=start), na < now + timedelta(days=end)).label(name))
    expiry = [{"organization_id": row.organization_id, "expired": int(row.expired or 0),
               **{name: int(getattr(row, name) or 0) for name, _s, _e in EXPIRY_WINDOWS}}
              for row in conn.execute(sa.select(s.c.organization_id, *columns)
                                      .where(s.c.status.in_(LIVE), *in_scope)
                                      .group_by(s.c.organization_id).order_by(s.c.organization_id))]

    waiting = [s.c.status == "requested", *in_scope]
    if admin_id is not None:
        waiting.append(s.c.requested_by != admin_id)
    count = conn.execute(sa.select(sa.func.count()).select_from(s).where(*waiting)).scalar_one()
    ids = [r.ssl_id for r in conn.execute(sa.select(s.c.ssl_id).where(*waiting)
                                          .order_by(s.c.created_at, s.c.ssl_id).limit(WAITING_IDS))]
    return {"now": now.isoformat(), "by_status": by_status, "expiry": expiry, "windows": windows(now),
            "waiting": {"count": count, "ids": ids}}


# ---- a request's history ----------------------------------------------------------------------------------------

# event type -> (what the history calls it, the payload field naming who did it, the payload field of the message)
HISTORY = {
    "ssl_requested.v1": ("requested", "requested_by", "comments"),
    "ssl_approved.v1": ("approved", "approved_by", "message"),
    "ssl_applied.v1": ("applied", None, None),
    "ssl_issuance_failed.v1": ("failed", None, "reason"),
    "ssl_issued.v1": ("issued", None, None),
    "ssl_downloaded.v1": ("downloaded", "downloaded_by", None),
    "ssl_declined.v1": ("declined", "declined_by", "reason"),
    "ssl_revoked.v1": ("revoked", "revoked_by", "reason"),
}


def ssl_history(records: list[RecordedEvent], successor: RecordedEvent | None = None) -> list[dict]:
    """The request's events as the certificate page shows them, oldest first: {at, event, by, message, details}.
    `by` is the actor as the event stores it (an admin id, `system:auto-renew`, `collection-link`), else the
    actor of the command that caused it (its metadata); `successor` is the ssl_requested event of the request
    that renewed or replaced this one, shown as `renewed` / `replaced`."""
    entries = []
    for record in records:
        name, by_field, message_field = HISTORY[record.event_type]
        p = record.payload
        details = {}
        if record.event_type == "ssl_requested.v1" and p.get("renewal_of"):
            name = "replacement requested" if p.get("replaces") else "renewal requested"
            details["renewal_of"] = p["renewal_of"]
        elif record.event_type == "ssl_approved.v1" and p.get("automatic"):
            details["automatic"] = True
        elif record.event_type == "ssl_issued.v1":
            details = {"serial": p["serial"], "not_after": p["not_after"]}
        elif record.event_type == "ssl_downloaded.v1":
            details["format"] = p["format"]
        entries.append({"at": utc(record.recorded_at).isoformat(), "event": name,
                        "by": (p.get(by_field) if by_field else None) or _metadata_actor(record),
                        "message": p.get(message_field) if message_field else None, "details": details})
    if successor is not None:
        p = successor.payload
        entries.append({"at": utc(successor.recorded_at).isoformat(),
                        "event": "replaced" if p.get("replaces") else "renewed",
                        "by": p.get("requested_by") or _metadata_actor(successor), "message": None,
                        "details": {"renewed_by": p["ssl_id"]}})
    return entries


def _metadata_actor(record: RecordedEvent) -> str | None:
    actor = (record.metadata or {}).get("actor")
    return actor.removeprefix("admin:") if isinstance(actor, str) else None
