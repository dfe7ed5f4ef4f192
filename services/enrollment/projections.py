"""The enrollment service's read model, updated in the append transaction: profiles, and the SSL inventory (one row
per request, with its certificate once issued) that lists, filters, counts and downloads answer from."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from contracts import enrollment as contract
from contracts.errors import Conflict, InvalidRequest
from services.runtime.events import Envelope, utc


SSL_SORT_VALUES = contract.SSL_SORT_VALUES
DEFAULT_SSL_SORT = contract.DEFAULT_SSL_SORT
NULLABLE_SORTS = ("not_after", "-not_after", "serial", "-serial")


class EnrollmentView:
    def __init__(self, metadata: sa.MetaData):
        self.profiles = sa.Table(
            "profiles", metadata,
            sa.Column("profile_id", sa.String(36), primary_key=True),
            sa.Column("name", sa.String(64), nullable=False, unique=True),
            sa.Column("cert_type", sa.String(20), nullable=False),
            sa.Column("fields", sa.JSON, nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        )
        self.ssl = sa.Table(
            "ssl_certificates", metadata,
            sa.Column("ssl_id", sa.String(36), primary_key=True),
            sa.Column("status", sa.String(12), nullable=False),
            sa.Column("organization_id", sa.String(36), nullable=False),
            sa.Column("department_id", sa.String(36), index=True),
            sa.Column("profile_id", sa.String(36), nullable=False),
            sa.Column("term_days", sa.Integer, nullable=False),
            # "" for a certificate without a CN (no name fits in 64 characters): the column predates that, and
            # only nullable columns are added to an existing table (Database.create_tables)
            sa.Column("common_name", sa.String(64), nullable=False),
            sa.Column("sans", sa.JSON, nullable=False),
            sa.Column("names", sa.Text, nullable=False),            # " cn san1 san2 " for "contains" filters
            sa.Column("key_type", sa.String(16), nullable=False),
            sa.Column("comments", sa.String(1024)),
            sa.Column("external_requester", sa.String(254)),
            sa.Column("auto_renew", sa.Boolean, nullable=False),
            sa.Column("requested_by", sa.String(80), nullable=False),
            sa.Column("approved_by", sa.String(80)),
            sa.Column("declined_reason", sa.String(1024)),
            sa.Column("last_error", sa.String(2000)),
            sa.Column("last_findings", sa.JSON),               # the lint's findings of the last refusal
            sa.Column("last_error_code", sa.String(40)),         # and the CA's code for it (lint_failed, ...)
            sa.Column("serial", sa.String(42), index=True),
            sa.Column("ca_id", sa.String(36)),
            sa.Column("not_before", sa.DateTime(timezone=True)),
            sa.Column("not_after", sa.DateTime(timezone=True)),
            sa.Column("sha256_fingerprint", sa.String(64)),
            sa.Column("certificate_pem", sa.Text),
            sa.Column("chain_pem", sa.JSON),
            sa.Column("revocation_reason", sa.String(30)),
            sa.Column("requester_email", sa.String(254)),
            sa.Column("collection_sha256", sa.String(64), index=True),
            sa.Column("renewal_of", sa.String(36)),
            sa.Column("renewed_by", sa.String(36)),
            sa.Column("trust_class", sa.String(10)),            # null: requested before trust classes (private)
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
            # The inventory's indexes (ssl_page), each ending in ssl_id, the tie-breaker of every sort, so that a
            # page is read from the index in order instead of sorting the filtered rows (bench/README.md,
            # bench-console, has the plans and timings at 100,000 rows). Existing databases get them at start
            # (Database.create_tables); the single-column indexes of status, organization_id and not_after that
            # older versions made are prefixes of these and stay there, unused, until a migration drops them.
            # the default sort; with names, a text search (q: LIKE '%x%', which no b-tree can seek) walks this
            # narrow index instead of the table's wide rows
            sa.Index("ssl_certificates_created_names", "created_at", "ssl_id", "names"),
            # status filters (issued/downloaded/expired also compare not_after): counted and paged in the index
            sa.Index("ssl_certificates_status_not_after", "status", "not_after", "created_at", "ssl_id"),
            sa.Index("ssl_certificates_organization_created", "organization_id", "created_at", "ssl_id"),
            # an organization's certificates by status or expiry (the dashboard's per-organization links)
            sa.Index("ssl_certificates_organization_status", "organization_id", "status", "not_after", "created_at",
                     "ssl_id"),
            sa.Index("ssl_certificates_not_after", "not_after", "ssl_id"),
            sa.Index("ssl_certificates_common_name", "common_name", "ssl_id"),
            # an ACME account's certificates (requested_by acme:<id>), newest first
            sa.Index("ssl_certificates_requested_by_created", "requested_by", "created_at", "ssl_id"),
        )

        self.status_query = sa.select(self.ssl.c.status).where(self.ssl.c.ssl_id == sa.bindparam("ssl_id"))

    # ---- updating -----------------------------------------------------------------------------------------
    def apply(self, conn: sa.Connection, event: Envelope) -> None:
        p, at, ssl = event.payload, event.occurred_at, self.ssl
        one = ssl.c.ssl_id == p.get("ssl_id")
        match event.event_type:
            case "profile_created.v1":
                self._name_free(conn, p["profile"]["name"], p["profile_id"])
                conn.execute(self.profiles.insert().values(
                    profile_id=p["profile_id"], name=p["profile"]["name"], cert_type=p["profile"]["cert_type"],
                    fields=p["profile"], created_at=at, updated_at=at))
            case "profile_updated.v1":
                self._name_free(conn, p["profile"]["name"], p["profile_id"])
                conn.execute(self.profiles.update().where(self.profiles.c.profile_id == p["profile_id"]).values(
                    name=p["profile"]["name"], cert_type=p["profile"]["cert_type"], fields=p["profile"],
                    updated_at=at))
            case "profile_deleted.v1":
                conn.execute(self.profiles.delete().where(self.profiles.c.profile_id == p["profile_id"]))
            case "ssl_requested.v1":
                names = [*([p["common_name"]] if p["common_name"] else []),
                         *[n for n in p["sans"] if n != p["common_name"]]]
                conn.execute(ssl.insert().values(
                    ssl_id=p["ssl_id"], status="requested", organization_id=p["organization_id"],
                    department_id=p["department_id"], profile_id=p["profile_id"], term_days=p["term_days"],
                    common_name=p["common_name"] or "", sans=p["sans"], names=" " + " ".join(names) + " ",
                    trust_class=p.get("trust_class") or "private",
                    key_type=p["key_type"], comments=p["comments"], external_requester=p["external_requester"],
                    auto_renew=p["auto_renew"], requested_by=p["requested_by"], renewal_of=p.get("renewal_of"),
                    requester_email=p.get("requester_email"),
                    created_at=at, updated_at=at))
                if p.get("renewal_of"):
                    conn.execute(ssl.update().where(ssl.c.ssl_id == p["renewal_of"]).values(renewed_by=p["ssl_id"]))
            case "ssl_approved.v1":
                conn.execute(ssl.update().where(one).values(status="approved", approved_by=p["approved_by"],
                                                            updated_at=at))
            case "ssl_applied.v1":
                conn.execute(ssl.update().where(one).values(status="applied", last_error=None, last_findings=None,
                                                            last_error_code=None, updated_at=at))
            case "ssl_issuance_failed.v1":
                # before the pipeline (no code) a refusal left the request approved, at rest; now it is failed
                conn.execute(ssl.update().where(one).values(
                    status="failed" if "code" in p else "approved", last_error=p["reason"][:2000],
                    last_findings=p["findings"] or None, last_error_code=p.get("code"), updated_at=at))
            case "ssl_issued.v1":
                conn.execute(ssl.update().where(one).values(
                    status="issued", serial=p["serial"], ca_id=p["ca_id"],
                    not_before=datetime.fromisoformat(p["not_before"]),
                    not_after=datetime.fromisoformat(p["not_after"]), sha256_fingerprint=p["sha256_fingerprint"],
                    certificate_pem=p["certificate_pem"], chain_pem=p["chain_pem"],
                    collection_sha256=p.get("collection_sha256"), updated_at=at))
            case "ssl_downloaded.v1":
                conn.execute(ssl.update().where(one).values(status="downloaded", updated_at=at))
            case "ssl_declined.v1":
                conn.execute(ssl.update().where(one).values(status="declined", declined_reason=p["reason"],
                                                            updated_at=at))
            case "ssl_revoked.v1":
                conn.execute(ssl.update().where(one).values(status="revoked", revocation_reason=p["reason"],
                                                            updated_at=at))

    def _name_free(self, conn, name: str, profile_id: str) -> None:
        taken = conn.execute(sa.select(self.profiles.c.profile_id).where(self.profiles.c.name == name)).scalar()
        if taken is not None and taken != profile_id:
            raise Conflict(f"a profile named {name!r} exists", {"name": ["exists"]}, code="duplicate_name")

    def reset(self, conn: sa.Connection) -> None:
        for table in (self.ssl, self.profiles):
            conn.execute(table.delete())

    # ---- queries ------------------------------------------------------------------------------------------
    def profile(self, conn, profile_id: str) -> dict | None:
        row = conn.execute(sa.select(self.profiles).where(self.profiles.c.profile_id == profile_id)).mappings().first()
        return _profile(row) if row else None

    def all_profiles(self, conn) -> list[dict]:
        return [_profile(r) for r in conn.execute(sa.select(self.profiles).order_by(self.profiles.c.name)).mappings()]

    def ssl_by_collection(self, conn, collection_sha256: str) -> dict | None:
        row = conn.execute(sa.select(self.ssl).where(self.ssl.c.collection_sha256 == collection_sha256)) \
            .mappings().first()
        return dict(row) if row else None

    def ssl_by_serial(self, conn, serial: str) -> dict | None:
        row = conn.execute(sa.select(self.ssl).where(self.ssl.c.serial == _serial_text(serial))).mappings().first()
        return dict(row) if row else None

    def ssl_record(self, conn, ssl_id: str) -> dict | None:
        row = conn.execute(sa.select(self.ssl).where(self.ssl.c.ssl_id == ssl_id)).mappings().first()
        return dict(row) if row else None

    def due_for_renewal(self, conn, before: datetime, now: datetime, limit: int = 100) -> list[str]:
        """Issued certificates marked auto-renew whose notAfter is before `before`, still valid, not renewed yet."""
        s = self.ssl
        rows = conn.execute(sa.select(s.c.ssl_id).where(
            s.c.auto_renew.is_(True), s.c.status.in_(("issued", "downloaded")), s.c.renewed_by.is_(None),
            s.c.not_after < before, s.c.not_after > now).order_by(s.c.not_after).limit(limit))
        return [r.ssl_id for r in rows]

    def ssl_page(self, conn, scope: dict, filters: dict, offset: int, limit: int, now: datetime) -> dict:
        """`scope`: {"all": true} or {"organizations": [...], "departments": [...]} (RAO/DRAO of type ssl).
        `filters["sort"]`: one of SSL_SORTS (default "-created_at"); ties are broken by ssl_id in the same
        direction, so paging is stable and a page is read in index order."""
        s = self.ssl
        conditions = []
        if not scope.get("all"):
            conditions.append(sa.or_(s.c.organization_id.in_(scope.get("organizations") or []),
                                     s.c.department_id.in_(scope.get("departments") or [])))
        status = filters.get("status")
        if status == "expired":
            conditions += [s.c.status.in_(("issued", "downloaded")), s.c.not_after <= now]
        elif status in ("issued", "downloaded"):
            conditions += [s.c.status == status, s.c.not_after > now]
        elif status == contract.VALID:
            conditions += [s.c.status.in_(("issued", "downloaded")), s.c.not_after > now]
        elif status:
            conditions.append(s.c.status == status)
        for column in ("organization_id", "department_id", "profile_id", "requested_by"):
            if filters.get(column):
                conditions.append(s.c[column] == filters[column])
        if filters.get("serial"):
            conditions.append(s.c.serial == _serial_text(filters["serial"]))
        if filters.get("q"):
            conditions.append(self._matching(filters["q"]))
        if filters.get("expires_before"):
            conditions.append(s.c.not_after < _instant(filters["expires_before"]))
        if filters.get("expires_after"):
            conditions.append(s.c.not_after > _instant(filters["expires_after"]))
        order = self._order(filters.get("sort") or DEFAULT_SSL_SORT, now, conn.dialect.name == "postgresql")
        total = conn.execute(sa.select(sa.func.count()).select_from(s).where(*conditions)).scalar_one()
        # the page's ids first (an index-only walk where an index covers the filter), then only those rows: the
        # sort and OFFSET never carry the wide columns (PEM, chain) of the rows they skip
        page = sa.select(s.c.ssl_id).where(*conditions).order_by(*order).offset(offset).limit(limit).subquery()
        rows = conn.execute(sa.select(s).join(page, page.c.ssl_id == s.c.ssl_id).order_by(*order)).mappings()
        return {"items": [ssl_view(r, now) for r in rows], "total": total}

    def _matching(self, q: str):
        """`q` as part of the CN or a SAN (any case), or of the serial: hex with or without colons, any case, and
        as openssl prints it (leading zero bytes, which the stored serial drops: "00:a1:..." finds "a1...")."""
        s = self.ssl
        found = [s.c.names.contains(q.lower(), autoescape=True)]
        digits = q.lower().replace(":", "")
        if digits and all(c in "0123456789abcdef" for c in digits):
            found.append(s.c.serial.contains(digits, autoescape=True))
            if digits.startswith("0") and digits.lstrip("0"):
                found.append(s.c.serial.startswith(digits.lstrip("0"), autoescape=True))
        return sa.or_(*found)

    def _order(self, sort: str, now: datetime, postgres: bool) -> list:
        """ORDER BY for `sort`. NULL (not issued yet: no notAfter, no serial) sorts as the smallest value on both
        databases: SQLite's own rule, asked for explicitly on PostgreSQL (whose default is the opposite)."""
        if sort not in SSL_SORT_VALUES:
            raise InvalidRequest(f"sort must be one of {', '.join(SSL_SORT_VALUES)}", {"sort": ["unknown"]},
                                 code="unknown_sort")
        s, descending = self.ssl, sort.startswith("-")
        key = {"created_at": s.c.created_at, "not_after": s.c.not_after, "common_name": s.c.common_name,
               "serial": s.c.serial,
               # the status shown (an issued certificate past its notAfter is "expired"), so not an index walk
               "status": sa.case((sa.and_(s.c.status.in_(("issued", "downloaded")), s.c.not_after <= now),
                                  "expired"), else_=s.c.status)}[sort.removeprefix("-")]
        if descending:
            first = key.desc().nulls_last() if postgres and sort in NULLABLE_SORTS else key.desc()
            return [first, s.c.ssl_id.desc()]
        return [key.asc().nulls_first() if postgres and sort in NULLABLE_SORTS else key.asc(), s.c.ssl_id.asc()]


def _serial_text(serial: str) -> str:
    """A serial as stored: lower-case hex, no colons, no leading zeros."""
    return serial.lower().replace(":", "").lstrip("0")


def _instant(value) -> datetime:
    """A time filter as a datetime (the gateway sends ISO text over RPC): compared as text, it failed on PostgreSQL
    (timestamptz < varchar) and compared by characters on SQLite ("T" against the stored space, other offsets)."""
    return utc(datetime.fromisoformat(value)) if isinstance(value, str) else utc(value)


def _profile(row) -> dict:
    return {**row["fields"], "profile_id": row["profile_id"], "created_at": utc(row["created_at"]).isoformat(),
            "updated_at": utc(row["updated_at"]).isoformat()}


def ssl_view(row, now: datetime) -> dict:
    not_after = utc(row["not_after"]) if row["not_after"] else None
    status = row["status"]
    if status in ("issued", "downloaded") and not_after is not None and not_after <= now:
        status = "expired"
    return {"ssl_id": row["ssl_id"], "status": status, "organization_id": row["organization_id"],
            "department_id": row["department_id"], "profile_id": row["profile_id"], "term_days": row["term_days"],
            "trust_class": row["trust_class"] or "private",
            "common_name": row["common_name"] or None, "sans": list(row["sans"]), "key_type": row["key_type"],
            "comments": row["comments"], "external_requester": row["external_requester"],
            "auto_renew": row["auto_renew"], "requested_by": row["requested_by"], "approved_by": row["approved_by"],
            "declined_reason": row["declined_reason"], "last_error": row["last_error"],
            "last_findings": list(row["last_findings"] or []), "last_error_code": row["last_error_code"],
            "serial": row["serial"],
            "ca_id": row["ca_id"],
            "not_before": utc(row["not_before"]).isoformat() if row["not_before"] else None,
            "not_after": not_after.isoformat() if not_after else None,
            "sha256_fingerprint": row["sha256_fingerprint"], "revocation_reason": row["revocation_reason"],
            "renewal_of": row["renewal_of"], "renewed_by": row["renewed_by"],
            "created_at": utc(row["created_at"]).isoformat(), "updated_at": utc(row["updated_at"]).isoformat()}


def display_name(row) -> str:
    """What a certificate is called in mails and file names: its CN, or its first SAN when it has no CN."""
    return row["common_name"] or (list(row["sans"]) or ["certificate"])[0]
