"""The enrollment service's read model, updated in the append transaction: profiles, and the SSL inventory (one row
per request, with its certificate once issued) that lists, filters, counts and downloads answer from."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from contracts.errors import Conflict
from services.runtime.events import Envelope, utc


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
            sa.Column("status", sa.String(12), nullable=False, index=True),
            sa.Column("organization_id", sa.String(36), nullable=False, index=True),
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
            sa.Column("serial", sa.String(42), index=True),
            sa.Column("ca_id", sa.String(36)),
            sa.Column("not_before", sa.DateTime(timezone=True)),
            sa.Column("not_after", sa.DateTime(timezone=True), index=True),
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
        )

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
                conn.execute(ssl.update().where(one).values(status="applied", last_error=None, updated_at=at))
            case "ssl_issuance_failed.v1":
                conn.execute(ssl.update().where(one).values(status="approved", last_error=p["reason"][:2000],
                                                            updated_at=at))
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
        """`scope`: {"all": true} or {"organizations": [...], "departments": [...]} (RAO/DRAO of type ssl)."""
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
        elif status:
            conditions.append(s.c.status == status)
        for column in ("organization_id", "department_id", "profile_id"):
            if filters.get(column):
                conditions.append(s.c[column] == filters[column])
        if filters.get("serial"):
            conditions.append(s.c.serial == filters["serial"].lower().replace(":", "").lstrip("0"))
        if filters.get("q"):
            conditions.append(s.c.names.contains(filters["q"].lower(), autoescape=True))
        if filters.get("expires_before"):
            conditions.append(s.c.not_after < filters["expires_before"])
        if filters.get("expires_after"):
            conditions.append(s.c.not_after > filters["expires_after"])
        total = conn.execute(sa.select(sa.func.count()).select_from(s).where(*conditions)).scalar_one()
        rows = conn.execute(sa.select(s).where(*conditions).order_by(s.c.created_at.desc(), s.c.ssl_id)
                            .offset(offset).limit(limit)).mappings()
        return {"items": [ssl_view(r, now) for r in rows], "total": total}


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
            "declined_reason": row["declined_reason"], "last_error": row["last_error"], "serial": row["serial"],
            "ca_id": row["ca_id"],
            "not_before": utc(row["not_before"]).isoformat() if row["not_before"] else None,
            "not_after": not_after.isoformat() if not_after else None,
            "sha256_fingerprint": row["sha256_fingerprint"], "revocation_reason": row["revocation_reason"],
            "renewal_of": row["renewal_of"], "renewed_by": row["renewed_by"],
            "created_at": utc(row["created_at"]).isoformat(), "updated_at": utc(row["updated_at"]).isoformat()}


def display_name(row) -> str:
    """What a certificate is called in mails and file names: its CN, or its first SAN when it has no CN."""
    return row["common_name"] or (list(row["sans"]) or ["certificate"])[0]
