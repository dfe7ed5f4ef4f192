"""The ca service's read model, updated in the append transaction: the authorities, every certificate by serial
with its status (what CRLs and OCSP answer from), and the latest CRL of each CA."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from services.runtime.events import Envelope, utc


class CaView:
    def __init__(self, metadata: sa.MetaData):
        self.cas = sa.Table(
            "cas", metadata,
            sa.Column("ca_id", sa.String(36), primary_key=True),
            sa.Column("name", sa.String(64), nullable=False),
            sa.Column("kind", sa.String(10), nullable=False),
            sa.Column("parent_ca_id", sa.String(36)),
            sa.Column("key_ref", sa.String(64), nullable=False),
            sa.Column("key_algorithm", sa.String(16), nullable=False),
            sa.Column("certificate_pem", sa.Text, nullable=False),
            sa.Column("serial", sa.String(42), nullable=False),
            sa.Column("subject", sa.String(400), nullable=False),
            sa.Column("not_before", sa.DateTime(timezone=True), nullable=False),
            sa.Column("not_after", sa.DateTime(timezone=True), nullable=False),
            sa.Column("sha256_fingerprint", sa.String(64), nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        )
        self.certificates = sa.Table(
            "certificates", metadata,
            sa.Column("serial", sa.String(42), primary_key=True),
            sa.Column("ca_id", sa.String(36), nullable=False, index=True),
            sa.Column("request_id", sa.String(80), nullable=False),
            sa.Column("status", sa.String(10), nullable=False),
            sa.Column("not_before", sa.DateTime(timezone=True), nullable=False),
            sa.Column("not_after", sa.DateTime(timezone=True), nullable=False),
            sa.Column("revoked_at", sa.DateTime(timezone=True)),
            sa.Column("reason", sa.String(30)),
            sa.Column("certificate_pem", sa.Text),
        )
        self.count_query = sa.select(sa.func.count()).select_from(self.cas)   # CaService caches the rows by it
        self.crls = sa.Table(
            "crls", metadata,
            sa.Column("ca_id", sa.String(36), primary_key=True),
            sa.Column("crl_number", sa.Integer, nullable=False),
            sa.Column("this_update", sa.DateTime(timezone=True), nullable=False),
            sa.Column("next_update", sa.DateTime(timezone=True), nullable=False),
        )

    def apply(self, conn: sa.Connection, event: Envelope) -> None:
        p, certs = event.payload, self.certificates
        match event.event_type:
            case "ca_created.v1":
                conn.execute(self.cas.insert().values(
                    ca_id=p["ca_id"], name=p["name"], kind=p["kind"], parent_ca_id=p["parent_ca_id"],
                    key_ref=p["key_ref"], key_algorithm=p["key_algorithm"], certificate_pem=p["certificate_pem"],
                    serial=p["serial"], subject=p["subject"], not_before=datetime.fromisoformat(p["not_before"]),
                    not_after=datetime.fromisoformat(p["not_after"]), sha256_fingerprint=p["sha256_fingerprint"],
                    created_at=event.occurred_at))
            case "certificate_signing.v1":
                conn.execute(certs.insert().values(
                    serial=p["serial"], ca_id=p["ca_id"], request_id=p["request_id"], status="signing",
                    not_before=datetime.fromisoformat(p["not_before"]),
                    not_after=datetime.fromisoformat(p["not_after"])))
            case "certificate_issued.v1":
                conn.execute(certs.update().where(certs.c.serial == p["serial"]).values(
                    status="issued", certificate_pem=p["certificate_pem"]))
            case "certificate_revoked.v1":
                conn.execute(certs.update().where(certs.c.serial == p["serial"]).values(
                    status="revoked", revoked_at=datetime.fromisoformat(p["revoked_at"]), reason=p["reason"]))
            case "crl_published.v1":
                conn.execute(self.crls.delete().where(self.crls.c.ca_id == p["ca_id"]))
                conn.execute(self.crls.insert().values(
                    ca_id=p["ca_id"], crl_number=p["crl_number"],
                    this_update=datetime.fromisoformat(p["this_update"]),
                    next_update=datetime.fromisoformat(p["next_update"])))

    def reset(self, conn: sa.Connection) -> None:
        for table in (self.crls, self.certificates, self.cas):
            conn.execute(table.delete())

    # ---- queries ------------------------------------------------------------------------------------------
    def all_cas(self, conn) -> list[dict]:
        return [dict(r) for r in conn.execute(sa.select(self.cas).order_by(self.cas.c.created_at)).mappings()]

    def certificate(self, conn, serial: str) -> dict | None:
        row = conn.execute(sa.select(self.certificates).where(self.certificates.c.serial == serial)).mappings().first()
        return dict(row) if row else None

    def revoked(self, conn, ca_id: str) -> list[tuple[int, datetime, str]]:
        """(serial, revoked_at, reason) of the CA's revoked certificates that have not expired yet (RFC 5280
        5.1.2.6 lets an entry go once the certificate expired)."""
        c = self.certificates
        rows = conn.execute(sa.select(c.c.serial, c.c.revoked_at, c.c.reason)
                            .where(c.c.ca_id == ca_id, c.c.status == "revoked"))
        return [(int(r.serial, 16), utc(r.revoked_at), r.reason) for r in rows]

    def last_revocation(self, conn, ca_id: str) -> datetime | None:
        c = self.certificates
        at = conn.execute(sa.select(sa.func.max(c.c.revoked_at)).where(c.c.ca_id == ca_id)).scalar()
        return utc(at) if at else None

    def latest_crl(self, conn, ca_id: str) -> dict | None:
        row = conn.execute(sa.select(self.crls).where(self.crls.c.ca_id == ca_id)).mappings().first()
        return dict(row) if row else None
