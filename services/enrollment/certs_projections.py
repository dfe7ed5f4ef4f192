"""Client, code-signing and device certificates: enrollment's read model of them (issue 15), one table for the
three inventories (`cert_type` tells them apart), updated in the append transaction and rebuildable from the
`cert_*` events. It holds what the lists show (SCM's columns: status, order number = cert_id, profile, term,
requested via, subject, SANs or emails, person, issuer, expiry, serial, requested/issued/downloaded times) and the
hashes by which an invitation or collection link finds its request. No private key is here."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from contracts import certificates as contract
from contracts.errors import InvalidRequest
from services.runtime.events import Envelope, utc

SORTS = ("created_at", "not_after", "common_name", "status", "serial")
SORT_VALUES = tuple(v for name in SORTS for v in (name, f"-{name}"))


class CertsView:
    def __init__(self, metadata: sa.MetaData):
        self.certs = sa.Table(
            "certificates", metadata,
            sa.Column("cert_id", sa.String(36), primary_key=True),
            sa.Column("cert_type", sa.String(16), nullable=False),
            sa.Column("status", sa.String(12), nullable=False),
            sa.Column("organization_id", sa.String(36), nullable=False),
            sa.Column("department_id", sa.String(36)),
            sa.Column("profile_id", sa.String(36), nullable=False),
            sa.Column("term_days", sa.Integer, nullable=False),
            sa.Column("requested_via", sa.String(12), nullable=False),
            sa.Column("subject", sa.String(1024)),
            sa.Column("common_name", sa.String(64)),
            sa.Column("sans", sa.JSON, nullable=False),
            sa.Column("emails", sa.JSON, nullable=False),
            sa.Column("names", sa.String(4096), nullable=False),          # lower-case CN, SANs, emails: for q
            sa.Column("person_id", sa.String(36)),
            sa.Column("name", sa.String(256)),
            sa.Column("email", sa.String(320)),
            sa.Column("key_type", sa.String(16)),
            sa.Column("key_origin", sa.String(8)),
            sa.Column("custom_fields", sa.JSON, nullable=False),
            sa.Column("comments", sa.String(1024)),
            sa.Column("requested_by", sa.String(80), nullable=False),
            sa.Column("approved_by", sa.String(80)),
            sa.Column("declined_reason", sa.String(1024)),
            sa.Column("last_error", sa.String(2048)),
            sa.Column("last_error_code", sa.String(64)),
            sa.Column("last_findings", sa.JSON),
            sa.Column("serial", sa.String(64), unique=True),
            sa.Column("ca_id", sa.String(36)),
            sa.Column("not_before", sa.DateTime(timezone=True)),
            sa.Column("not_after", sa.DateTime(timezone=True)),
            sa.Column("sha256_fingerprint", sa.String(64), index=True),
            sa.Column("certificate_pem", sa.Text),
            sa.Column("chain_pem", sa.JSON),
            sa.Column("revocation_reason", sa.String(32)),
            sa.Column("escrowed", sa.Boolean, nullable=False, default=False),
            sa.Column("endpoint_id", sa.String(36), index=True),
            sa.Column("protocol_ref", sa.String(128), index=True),
            sa.Column("recovery", sa.JSON),
            sa.Column("invitation_sha256", sa.String(64), unique=True),
            sa.Column("invitation_expires_at", sa.DateTime(timezone=True)),
            sa.Column("collection_sha256", sa.String(64), unique=True),
            sa.Column("collection_to", sa.String(320)),
            sa.Column("requested_at", sa.DateTime(timezone=True)),
            sa.Column("issued_at", sa.DateTime(timezone=True)),
            sa.Column("downloaded_at", sa.DateTime(timezone=True)),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
            sa.Index("certificates_type_created", "cert_type", "created_at", "cert_id"),
            sa.Index("certificates_type_organization", "cert_type", "organization_id"),
            sa.Index("certificates_person", "person_id"),
        )
        self.escrow_keys = sa.Table(
            "escrow_keys", metadata,
            sa.Column("organization_id", sa.String(36), primary_key=True),
            sa.Column("public_key_pem", sa.Text, nullable=False),
            sa.Column("public_key_sha256", sa.String(64), nullable=False),
            sa.Column("key_origin", sa.String(16), nullable=False),
            sa.Column("initialized_by", sa.String(80), nullable=False),
            sa.Column("initialized_at", sa.DateTime(timezone=True), nullable=False),
        )

    # ---- updating -----------------------------------------------------------------------------------------
    def apply(self, conn: sa.Connection, event: Envelope) -> None:
        if event.event_type not in contract.EVENTS:
            return
        p, at, t = event.payload, event.occurred_at, self.certs
        if event.event_type == "escrow_initialized.v1":
            conn.execute(self.escrow_keys.insert().values(
                organization_id=p["organization_id"], public_key_pem=p["public_key_pem"],
                public_key_sha256=p["public_key_sha256"], key_origin=p["key_origin"],
                initialized_by=p["initialized_by"], initialized_at=at))
            return
        this = t.c.cert_id == p["cert_id"]
        match event.event_type:
            case "cert_invited.v1":
                conn.execute(t.insert().values(
                    cert_id=p["cert_id"], cert_type=p["cert_type"], status="invited",
                    organization_id=p["organization_id"], department_id=p["department_id"],
                    profile_id=p["profile_id"], term_days=p["term_days"], requested_via=p["requested_via"],
                    sans=[], emails=[p["email"]], names=p["email"].lower(), person_id=p["person_id"],
                    name=p.get("name"), email=p["email"], custom_fields={}, comments=p.get("comments"),
                    requested_by=p["invited_by"], invitation_sha256=p["invitation_sha256"], escrowed=False,
                    invitation_expires_at=datetime.fromisoformat(p["expires_at"]), created_at=at, updated_at=at))
            case "cert_requested.v1":
                values = dict(
                    cert_type=p["cert_type"], status="requested", organization_id=p["organization_id"],
                    department_id=p["department_id"], profile_id=p["profile_id"], term_days=p["term_days"],
                    requested_via=p["requested_via"], subject=_subject_text(p),
                    common_name=p["common_name"], sans=list(p["sans"]), emails=list(p["emails"]),
                    names=" ".join(n.lower() for n in [p["common_name"] or "", *p["sans"], *p["emails"]] if n)[:4096],
                    person_id=p.get("person_id"), name=p.get("name"), email=p.get("email"), key_type=p["key_type"],
                    key_origin=p["key_origin"], custom_fields=dict(p.get("custom_fields") or {}),
                    comments=p.get("comments"), requested_by=p["requested_by"], escrowed=bool(p.get("escrowed")),
                    endpoint_id=p.get("endpoint_id"), protocol_ref=p.get("protocol_ref"),
                    requested_at=at, updated_at=at)
                if conn.execute(t.update().where(this).values(**values)).rowcount == 0:
                    conn.execute(t.insert().values(cert_id=p["cert_id"], created_at=at, **values))
            case "cert_approved.v1":
                conn.execute(t.update().where(this).values(status="approved", approved_by=p["approved_by"],
                                                           updated_at=at))
            case "cert_applied.v1":
                conn.execute(t.update().where(this).values(status="applied", last_error=None, last_error_code=None,
                                                           last_findings=[], updated_at=at))
            case "cert_issuance_failed.v1":
                conn.execute(t.update().where(this).values(status="failed", last_error=p["reason"][:2048],
                                                           last_error_code=p.get("code"),
                                                           last_findings=list(p["findings"]), updated_at=at))
            case "cert_issued.v1":
                conn.execute(t.update().where(this).values(
                    status="issued", serial=p["serial"].lower().lstrip("0"), ca_id=p["ca_id"],
                    not_before=datetime.fromisoformat(p["not_before"]),
                    not_after=datetime.fromisoformat(p["not_after"]), sha256_fingerprint=p["sha256_fingerprint"],
                    certificate_pem=p["certificate_pem"], chain_pem=list(p["chain_pem"]),
                    collection_sha256=p.get("collection_sha256"), collection_to=p.get("collection_to"),
                    issued_at=at, updated_at=at))
            case "cert_downloaded.v1":
                conn.execute(t.update().where(this).values(status="downloaded", downloaded_at=at, updated_at=at))
            case "cert_declined.v1":
                conn.execute(t.update().where(this).values(status="declined", declined_reason=p["reason"][:1024],
                                                           updated_at=at))
            case "cert_revoked.v1":
                conn.execute(t.update().where(this).values(status="revoked", revocation_reason=p["reason"],
                                                           updated_at=at))
            case "cert_recovery_requested.v1":
                conn.execute(t.update().where(this).values(recovery={
                    "status": "requested", "requested_by": p["requested_by"], "reason": p["reason"][:1024],
                    "approved_by": None}, updated_at=at))
            case "cert_recovery_approved.v1" | "cert_key_recovered.v1":
                recovery = conn.execute(sa.select(t.c.recovery).where(this)).scalar() or {}
                changed = ({"status": "approved", "approved_by": p["approved_by"]}
                           if event.event_type == "cert_recovery_approved.v1" else {"status": "recovered"})
                conn.execute(t.update().where(this).values(recovery={**recovery, **changed}, updated_at=at))

    def reset(self, conn: sa.Connection) -> None:
        conn.execute(self.certs.delete())
        conn.execute(self.escrow_keys.delete())

    # ---- queries ------------------------------------------------------------------------------------------
    def record(self, conn, cert_id: str) -> dict | None:
        row = conn.execute(sa.select(self.certs).where(self.certs.c.cert_id == cert_id)).mappings().first()
        return dict(row) if row else None

    def by_fingerprint(self, conn, sha256_fingerprint: str) -> dict | None:
        t = self.certs
        return conn.execute(sa.select(t).where(t.c.sha256_fingerprint == sha256_fingerprint)).mappings().first()

    def by_protocol_ref(self, conn, endpoint_id: str, protocol_ref: str) -> dict | None:
        """The newest request of an endpoint with that protocol reference (SCEP: its transactionID)."""
        t = self.certs
        return conn.execute(sa.select(t).where(t.c.endpoint_id == endpoint_id, t.c.protocol_ref == protocol_ref)
                            .order_by(t.c.created_at.desc(), t.c.cert_id).limit(1)).mappings().first()

    def by_invitation(self, conn, invitation_sha256: str) -> dict | None:
        row = conn.execute(sa.select(self.certs).where(self.certs.c.invitation_sha256 == invitation_sha256)) \
            .mappings().first()
        return dict(row) if row else None

    def by_collection(self, conn, collection_sha256: str) -> dict | None:
        row = conn.execute(sa.select(self.certs).where(self.certs.c.collection_sha256 == collection_sha256)) \
            .mappings().first()
        return dict(row) if row else None

    def escrow_key(self, conn, organization_id: str) -> dict | None:
        row = conn.execute(sa.select(self.escrow_keys).where(
            self.escrow_keys.c.organization_id == str(organization_id))).mappings().first()
        return dict(row) if row else None

    def in_use_of_person(self, conn, person_id: str, cert_type: str = "client") -> list[str]:
        t = self.certs
        rows = conn.execute(sa.select(t.c.cert_id).where(t.c.person_id == person_id, t.c.cert_type == cert_type,
                                                         t.c.status.in_(("issued", "downloaded"))))
        return [r.cert_id for r in rows]

    def page(self, conn, cert_type: str, scope: dict, filters: dict, offset: int, limit: int, now: datetime,
             count_only: bool = False) -> dict:
        """`scope`: {"all": true} or {"organizations": [...], "departments": [...]} (access.certificate_scope).
        Filters: status (one of LIST_STATUSES; `expired` and `valid` by notAfter), organization_id, department_id,
        profile_id, person_id, requested_by, serial, q (part of the CN, a SAN or an email, or of the serial)."""
        t = self.certs
        conditions = [t.c.cert_type == cert_type]
        if not scope.get("all"):
            conditions.append(sa.or_(t.c.organization_id.in_(scope.get("organizations") or []),
                                     t.c.department_id.in_(scope.get("departments") or [])))
        status = filters.get("status")
        if status == "expired":
            conditions += [t.c.status.in_(("issued", "downloaded")), t.c.not_after <= now]
        elif status in ("issued", "downloaded"):
            conditions += [t.c.status == status, t.c.not_after > now]
        elif status == contract.VALID:
            conditions += [t.c.status.in_(("issued", "downloaded")), t.c.not_after > now]
        elif status:
            conditions.append(t.c.status == status)
        for column in ("organization_id", "department_id", "profile_id", "person_id", "requested_by", "endpoint_id"):
            if filters.get(column):
                conditions.append(t.c[column] == str(filters[column]))
        if filters.get("serial"):
            conditions.append(t.c.serial == str(filters["serial"]).lower().replace(":", "").lstrip("0"))
        if filters.get("q"):
            q = str(filters["q"]).lower()
            conditions.append(sa.or_(t.c.names.contains(q, autoescape=True),
                                     t.c.serial.contains(q.replace(":", ""), autoescape=True)))
        total = conn.execute(sa.select(sa.func.count()).select_from(t).where(*conditions)).scalar_one()
        if count_only:
            return {"items": [], "total": total}
        order = self._order(filters.get("sort") or "-created_at", conn.dialect.name == "postgresql")
        rows = conn.execute(sa.select(t).where(*conditions).order_by(*order).offset(offset).limit(limit)).mappings()
        return {"items": [view(r, now) for r in rows], "total": total}

    def _order(self, sort: str, postgres: bool) -> list:
        if sort not in SORT_VALUES:
            raise InvalidRequest(f"sort must be one of {', '.join(SORT_VALUES)}", {"sort": ["unknown"]},
                                 code="unknown_sort")
        t, descending = self.certs, sort.startswith("-")
        key = t.c[sort.removeprefix("-")]
        nullable = sort.removeprefix("-") in ("not_after", "common_name", "serial")
        if descending:
            return [key.desc().nulls_last() if postgres and nullable else key.desc(), t.c.cert_id.desc()]
        return [key.asc().nulls_first() if postgres and nullable else key.asc(), t.c.cert_id.asc()]


def _subject_text(payload: dict) -> str | None:
    """The subject the certificate gets, as RFC 4514 text, for the lists (the CA builds the real one)."""
    subject = payload.get("subject") or {}
    parts = [f"CN={payload['common_name']}"] if payload.get("common_name") else []
    for key, label in (("organizational_unit", "OU"), ("organization", "O"), ("locality", "L"), ("state", "ST"),
                       ("country", "C")):
        if subject.get(key):
            parts.append(f"{label}={subject[key]}")
    return ",".join(parts)[:1024] or None


def view(row, now: datetime) -> dict:
    """A row as contracts.certificates.CertificateV1."""
    not_after = utc(row["not_after"]) if row["not_after"] else None
    status = row["status"]
    if status in ("issued", "downloaded") and not_after is not None and not_after <= now:
        status = "expired"

    def at(column):
        return utc(row[column]).isoformat() if row[column] else None

    return {"cert_id": row["cert_id"], "cert_type": row["cert_type"], "status": status,
            "organization_id": row["organization_id"], "department_id": row["department_id"],
            "profile_id": row["profile_id"], "term_days": row["term_days"], "requested_via": row["requested_via"],
            "subject": row["subject"], "common_name": row["common_name"], "sans": list(row["sans"] or []),
            "emails": list(row["emails"] or []), "person_id": row["person_id"], "name": row["name"],
            "email": row["email"], "key_type": row["key_type"], "key_origin": row["key_origin"],
            "custom_fields": dict(row["custom_fields"] or {}), "comments": row["comments"],
            "requested_by": row["requested_by"], "approved_by": row["approved_by"],
            "declined_reason": row["declined_reason"], "last_error": row["last_error"],
            "last_error_code": row["last_error_code"], "last_findings": list(row["last_findings"] or []),
            "serial": row["serial"], "ca_id": row["ca_id"], "not_before": at("not_before"),
            "not_after": not_after.isoformat() if not_after else None,
            "sha256_fingerprint": row["sha256_fingerprint"], "revocation_reason": row["revocation_reason"],
            "invitation_expires_at": at("invitation_expires_at"), "escrowed": bool(row["escrowed"]),
            "endpoint_id": row["endpoint_id"],
            "recovery": dict(row["recovery"]) if row["recovery"] else None, "requested_at": at("requested_at"),
            "issued_at": at("issued_at"), "downloaded_at": at("downloaded_at"), "created_at": at("created_at"),
            "updated_at": at("updated_at")}


def display_name(row) -> str:
    return row["common_name"] or (list(row["emails"] or []) + list(row["sans"] or []) or ["certificate"])[0]

