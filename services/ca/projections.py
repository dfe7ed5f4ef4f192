"""The ca service's read model, updated in the append transaction: the authorities (their current certificate,
every certificate their key has had, and their revocation), every certificate by serial with its status (what OCSP
answers from; an issuing CA's own certificates are rows too, under the root that signed them), each revocation's
CRL entry as DER (what CRLs and the root's ARL are made of), and the latest CRL of each CA."""
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
        # Every application (an enrollment event with a signing_request) the CA answered, and how: the primary key
        # is what makes "one certificate per application" hold even if two ca replicas raced (the loser's
        # transaction fails here and rolls back its signature's record).
        self.applications = sa.Table(
            "applications", metadata,
            sa.Column("application_id", sa.String(36), primary_key=True),
            sa.Column("request_id", sa.String(80), nullable=False, index=True),
            sa.Column("serial", sa.String(42)),             # null: refused
            sa.Column("code", sa.String(40)),
        )
        # Every certificate a CA's key has had (ca_created, then each ca_certificate_reissued); `cas` holds the
        # current one. Tables of their own, not columns of `cas`: create_all never alters a table (see below).
        self.ca_certificates = sa.Table(
            "ca_certificates", metadata,
            sa.Column("serial", sa.String(42), primary_key=True),
            sa.Column("ca_id", sa.String(36), nullable=False, index=True),
            sa.Column("certificate_pem", sa.Text, nullable=False),
            sa.Column("not_before", sa.DateTime(timezone=True), nullable=False),
            sa.Column("not_after", sa.DateTime(timezone=True), nullable=False),
            sa.Column("sha256_fingerprint", sa.String(64), nullable=False),
            sa.Column("position", sa.Integer, nullable=False),     # of its event: the order they were made in
        )
        # Each CA's revocation (pending or done) and the version of its stream: the sum of the versions grows
        # with every event on any ca-<id> stream, so CaService caches the CA rows by it (`version_query`).
        self.ca_states = sa.Table(
            "ca_states", metadata,
            sa.Column("ca_id", sa.String(36), primary_key=True),
            sa.Column("version", sa.Integer, nullable=False),
            sa.Column("revocation_status", sa.String(10)),
            sa.Column("revocation_reason", sa.String(30)),
            sa.Column("revocation_requested_by", sa.String(80)),
            sa.Column("revocation_requested_at", sa.DateTime(timezone=True)),
            sa.Column("revocation_approved_by", sa.String(80)),
            sa.Column("revoked_at", sa.DateTime(timezone=True)),
        )
        self.version_query = sa.select(
            sa.select(sa.func.coalesce(sa.func.sum(self.ca_states.c.version), 0)).scalar_subquery()
            + sa.select(sa.func.count()).select_from(self.cas).scalar_subquery())
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
                conn.execute(self.ca_states.insert().values(ca_id=p["ca_id"], version=event.stream_version))
                self._add_ca_certificate(conn, p, event.position)
            case "ca_certificate_reissued.v1":
                conn.execute(self.cas.update().where(self.cas.c.ca_id == p["ca_id"]).values(
                    certificate_pem=p["certificate_pem"], serial=p["serial"], subject=p["subject"],
                    not_before=datetime.fromisoformat(p["not_before"]),
                    not_after=datetime.fromisoformat(p["not_after"]), sha256_fingerprint=p["sha256_fingerprint"]))
                self._ca_state(conn, event)
                self._add_ca_certificate(conn, p, event.position)
            case "ca_revocation_requested.v1":
                self._ca_state(conn, event, revocation_status="requested", revocation_reason=p["reason"],
                               revocation_requested_by=p["requested_by"],
                               revocation_requested_at=datetime.fromisoformat(p["requested_at"]))
            case "ca_revocation_rejected.v1":
                self._ca_state(conn, event, revocation_status=None, revocation_reason=None,
                               revocation_requested_by=None, revocation_requested_at=None)
            case "ca_revoked.v1":
                revoked_at = datetime.fromisoformat(p["revoked_at"])
                self._ca_state(conn, event, revocation_status="revoked", revocation_reason=p["reason"],
                               revocation_requested_by=p["requested_by"], revocation_approved_by=p["approved_by"],
                               revoked_at=revoked_at)
                # each certificate of the CA's key is revoked by its parent: in the parent's ARL, and OCSP says so
                conn.execute(certs.update().where(certs.c.serial.in_(p["serials"])).values(
                    status="revoked", revoked_at=revoked_at, reason=p["reason"]))
                conn.execute(self.crl_entries.insert(), [
                    {"ca_id": p["parent_ca_id"], "serial": serial,
                     "der": x509build.crl_entry(int(serial, 16), revoked_at, p["reason"])} for serial in p["serials"]])
            case "certificate_signing.v1":
                conn.execute(certs.insert().values(
                    serial=p["serial"], ca_id=p["ca_id"], request_id=p["request_id"], status="signing",
                    not_before=datetime.fromisoformat(p["not_before"]),
                    not_after=datetime.fromisoformat(p["not_after"])))
            case "certificate_issued.v1":
                conn.execute(certs.update().where(certs.c.serial == p["serial"]).values(
                    status="issued", certificate_pem=p["certificate_pem"]))
                if p.get("application_id"):
                    conn.execute(self.applications.insert().values(
                        application_id=p["application_id"], request_id=p["request_id"], serial=p["serial"]))
            case "certificate_refused.v1":
                conn.execute(self.applications.insert().values(
                    application_id=p["application_id"], request_id=p["request_id"], code=p["code"]))
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

    def _ca_state(self, conn, event: Envelope, **values) -> None:
        conn.execute(self.ca_states.update().where(self.ca_states.c.ca_id == event.payload["ca_id"]).values(
            version=event.stream_version, **values))

    def _add_ca_certificate(self, conn, p: dict, position: int) -> None:
        """A certificate of a CA's key: listed with the CA, and — when a parent of ours signed it — a row of
        `certificates` under that parent, which OCSP answers from and the parent's ARL counts."""
        not_before, not_after = datetime.fromisoformat(p["not_before"]), datetime.fromisoformat(p["not_after"])
        conn.execute(self.ca_certificates.insert().values(
            serial=p["serial"], ca_id=p["ca_id"], certificate_pem=p["certificate_pem"], not_before=not_before,
            not_after=not_after, sha256_fingerprint=p["sha256_fingerprint"], position=position))
        if p.get("parent_ca_id"):
            conn.execute(self.certificates.insert().values(
                serial=p["serial"], ca_id=p["parent_ca_id"], request_id=f"ca:{p['ca_id']}", status="issued",
                not_before=not_before, not_after=not_after, certificate_pem=p["certificate_pem"]))

    def add_missing_ca_rows(self, conn) -> int:
        """CAs created before the ca_states and ca_certificates tables existed have no rows there (nor, for an
        issuing CA, its certificate in `certificates`): made from the `cas` row, which is then all there is
        (nothing else could happen to a CA then). Rows a replica added meanwhile are left as they are. Returns
        how many CAs were missing; `certplane projections rebuild ca` makes the same rows."""
        known = sa.select(self.ca_states.c.ca_id)
        missing = [dict(r) for r in conn.execute(sa.select(self.cas).where(self.cas.c.ca_id.not_in(known)))
                   .mappings()]
        insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
        for ca in missing:
            conn.execute(insert(self.ca_states).on_conflict_do_nothing(), {"ca_id": ca["ca_id"], "version": 1})
            conn.execute(insert(self.ca_certificates).on_conflict_do_nothing(), {
                "position": 0, **{k: ca[k] for k in ("serial", "ca_id", "certificate_pem", "not_before", "not_after",
                                                     "sha256_fingerprint")}})
            if ca["parent_ca_id"]:
                conn.execute(insert(self.certificates).on_conflict_do_nothing(), {
                    "serial": ca["serial"], "ca_id": ca["parent_ca_id"], "request_id": f"ca:{ca['ca_id']}",
                    "status": "issued", "not_before": ca["not_before"], "not_after": ca["not_after"],
                    "certificate_pem": ca["certificate_pem"]})
        return len(missing)

    def reset(self, conn: sa.Connection) -> None:
        for table in (self.crls, self.crl_entries, self.applications, self.certificates, self.ca_certificates,
                      self.ca_states, self.cas):
            conn.execute(table.delete())

    # ---- queries ------------------------------------------------------------------------------------------
    def all_cas(self, conn) -> list[dict]:
        """Every CA, oldest first: its `cas` row, its revocation (`revocation_*`, `revoked_at`: None when there is
        none) and `certificates`, every certificate of its key oldest first (the last is the current one)."""
        s = self.ca_states
        query = sa.select(self.cas, s.c.revocation_status, s.c.revocation_reason, s.c.revocation_requested_by,
                          s.c.revocation_requested_at, s.c.revocation_approved_by, s.c.revoked_at) \
            .select_from(self.cas.outerjoin(s, s.c.ca_id == self.cas.c.ca_id)).order_by(self.cas.c.created_at)
        rows = [dict(r) for r in conn.execute(query).mappings()]
        certificates: dict[str, list[dict]] = {}
        for r in conn.execute(sa.select(self.ca_certificates).order_by(self.ca_certificates.c.position)).mappings():
            certificates.setdefault(r["ca_id"], []).append(dict(r))
        for row in rows:
            row["certificates"] = certificates.get(row["ca_id"]) or [
                {k: row[k] for k in ("serial", "ca_id", "certificate_pem", "not_before", "not_after",
                                     "sha256_fingerprint")}]
        return rows

    def answered(self, conn, application_ids: list[str]) -> set[str]:
        """Which of these applications the CA has answered already (signed or refused)."""
        if not application_ids:
            return set()
        table = self.applications
        return set(conn.execute(sa.select(table.c.application_id)
                                .where(table.c.application_id.in_(application_ids))).scalars())

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
