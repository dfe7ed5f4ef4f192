"""The ca service's read model, updated in the append transaction: the authorities, every certificate by serial
with its status (what OCSP answers from), each revocation's CRL entry as DER (what CRLs are made of), and the
latest CRL of each CA."""
from __future__ import annotations

from datetime import datetime
from typing import Iterator

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from services.ca import x509build
from services.runtime.db import DriverStatement
from services.runtime.events import Envelope, utc

CRL_ENTRY_BATCH = 50_000        # rows per fetch when a CRL's entries are read: ~2.5 MB, one round trip on PostgreSQL


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
        # Each revocation's revokedCertificates element (x509build.crl_entry), encoded once when the revocation is
        # applied; a CRL is these bytes put together (x509build.crl_tbs). A table of its own, not a column of
        # `certificates`: create_all makes a missing table on start but never alters one, and nothing else
        # migrates schemas. The primary key starts with the CA, and on SQLite the table has no rowid, so one CA's
        # entries are one range of the key, read without a lookup per row; PostgreSQL reads them with a
        # sequential scan (1 s for a million, against 4 s in key order through the index).
        self.crl_entries = sa.Table(
            "crl_entries", metadata,
            sa.Column("ca_id", sa.String(36), primary_key=True),
            sa.Column("serial", sa.String(42), primary_key=True),
            sa.Column("der", sa.LargeBinary, nullable=False),
            sqlite_with_rowid=False,
        )
        self._crl_entries_query = sa.select(self.crl_entries.c.der) \
            .where(self.crl_entries.c.ca_id == sa.bindparam("ca_id"))
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
                revoked_at = datetime.fromisoformat(p["revoked_at"])
                conn.execute(certs.update().where(certs.c.serial == p["serial"]).values(
                    status="revoked", revoked_at=revoked_at, reason=p["reason"]))
                conn.execute(self.crl_entries.insert().values(
                    ca_id=p["ca_id"], serial=p["serial"],
                    der=x509build.crl_entry(int(p["serial"], 16), revoked_at, p["reason"])))
            case "crl_published.v1":
                conn.execute(self.crls.delete().where(self.crls.c.ca_id == p["ca_id"]))
                conn.execute(self.crls.insert().values(
                    ca_id=p["ca_id"], crl_number=p["crl_number"],
                    this_update=datetime.fromisoformat(p["this_update"]),
                    next_update=datetime.fromisoformat(p["next_update"])))

    def reset(self, conn: sa.Connection) -> None:
        for table in (self.crls, self.crl_entries, self.certificates, self.cas):
            conn.execute(table.delete())

    # ---- queries ------------------------------------------------------------------------------------------
    def all_cas(self, conn) -> list[dict]:
        return [dict(r) for r in conn.execute(sa.select(self.cas).order_by(self.cas.c.created_at)).mappings()]

    def certificate(self, conn, serial: str) -> dict | None:
        row = conn.execute(sa.select(self.certificates).where(self.certificates.c.serial == serial)).mappings().first()
        return dict(row) if row else None

    def crl_entry_batches(self, engine: sa.Engine, ca_id: str, batch: int = CRL_ENTRY_BATCH) \
            -> Iterator[list[bytes]]:
        """The CA's CRL entries (DER), one per revocation it made, in lists of up to `batch`, in the order the
        database keeps them — SQLite by serial (the primary key), PostgreSQL as written (in revocation order) —
        which is the same order every time while no revocation is added; RFC 5280 asks for none. A million
        entries are ~50 MB, so they are read through the driver's own cursor, not as a SQLAlchemy row each:
        sqlite3's (rows come as they are stepped), or on PostgreSQL a server-side cursor in binary format (bytea
        without hex; one round trip per batch, during which eventlet serves others)."""
        statement = DriverStatement.of(self._crl_entries_query, engine.dialect, bound=True)
        raw = engine.raw_connection()
        try:
            if engine.dialect.name == "postgresql":
                # a scan that another one is making joins it midway, so the rows would start elsewhere: not here
                raw.cursor().execute("SET LOCAL synchronize_seqscans = off")
                cursor = raw.driver_connection.cursor(name="certplane_crl_entries", binary=True)
            else:
                cursor = raw.cursor()
            cursor.execute(statement.sql, statement.arguments({"ca_id": ca_id}))
            while rows := cursor.fetchmany(batch):
                yield [row[0] for row in rows]
            cursor.close()
        finally:
            raw.close()      # back to the pool, which rolls back the transaction the driver began

    def revoked_count(self, conn, ca_id: str) -> int:
        """How many of the CA's certificates are revoked: as many as it has CRL entries, unless some were revoked
        before the crl_entries table existed (then see `revoked_without_crl_entry`). ~0.3-0.5 s for a million."""
        c = self.certificates
        return conn.execute(sa.select(sa.func.count()).where(c.c.ca_id == ca_id, c.c.status == "revoked")).scalar()

    def revoked_without_crl_entry(self, conn, ca_id: str) -> list[tuple[str, datetime, str]]:
        """(serial, revoked_at, reason) of the CA's revoked certificates that have no CRL entry: revoked before
        the crl_entries table existed (see `add_crl_entries`). An anti-join over all the CA's revoked
        certificates: 2 s on PostgreSQL and 9 s on SQLite for a million, so only asked when `revoked_count` says
        some are missing."""
        c, e = self.certificates, self.crl_entries
        missing = ~sa.exists().where(e.c.ca_id == c.c.ca_id, e.c.serial == c.c.serial)
        rows = conn.execute(sa.select(c.c.serial, c.c.revoked_at, c.c.reason)
                            .where(c.c.ca_id == ca_id, c.c.status == "revoked", missing))
        return [(r.serial, utc(r.revoked_at), r.reason) for r in rows]

    def add_crl_entries(self, conn, ca_id: str, revoked: list[tuple[str, datetime, str]]) -> None:
        """Encode and store the CRL entries of `revoked` (from `revoked_without_crl_entry`). One that is there by
        now (another replica added it) is left as it is."""
        rows = [{"ca_id": ca_id, "serial": serial, "der": x509build.crl_entry(int(serial, 16), revoked_at, reason)}
                for serial, revoked_at, reason in revoked]
        if not rows:
            return
        insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
        conn.execute(insert(self.crl_entries).on_conflict_do_nothing(), rows)

    def last_revocation(self, conn, ca_id: str) -> datetime | None:
        c = self.certificates
        at = conn.execute(sa.select(sa.func.max(c.c.revoked_at)).where(c.c.ca_id == ca_id)).scalar()
        return utc(at) if at else None

    def latest_crl(self, conn, ca_id: str) -> dict | None:
        row = conn.execute(sa.select(self.crls).where(self.crls.c.ca_id == ca_id)).mappings().first()
        return dict(row) if row else None
