"""ACME's read model in enrollment's database, updated in the append transaction: what the protocol looks up by
something other than a stream id (an EAB key id, a key's thumbprint, an account's orders, a valid authorization
to reuse, the orders of the last hour for the rate limits) and what the ACME account screens list. The nonces
are not a read model: AcmeNonces, below."""
from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from contracts.errors import Conflict
from services.runtime.db import Database
from services.runtime.events import Envelope, utc


class AcmeView:
    def __init__(self, metadata: sa.MetaData):
        self.accounts = sa.Table(
            "acme_accounts", metadata,
            sa.Column("acme_account_id", sa.String(36), primary_key=True),
            sa.Column("name", sa.String(128), nullable=False),
            sa.Column("organization_id", sa.String(36), nullable=False, index=True),
            sa.Column("department_id", sa.String(36), index=True),
            sa.Column("profile_ids", sa.JSON, nullable=False),
            sa.Column("eab_kid", sa.String(64), nullable=False, unique=True),
            sa.Column("status", sa.String(12), nullable=False),
            sa.Column("created_by", sa.String(80), nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        )
        self.registrations = sa.Table(
            "acme_registrations", metadata,
            sa.Column("registration_id", sa.String(36), primary_key=True),
            sa.Column("acme_account_id", sa.String(36), index=True),
            sa.Column("thumbprint", sa.String(64), nullable=False, unique=True),
            sa.Column("status", sa.String(12), nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        )
        self.orders = sa.Table(
            "acme_orders", metadata,
            sa.Column("order_id", sa.String(36), primary_key=True),
            sa.Column("registration_id", sa.String(36), nullable=False),
            sa.Column("acme_account_id", sa.String(36)),
            sa.Column("organization_id", sa.String(36), nullable=False),
            sa.Column("identifiers", sa.JSON, nullable=False),
            sa.Column("ssl_id", sa.String(36), unique=True),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Index("acme_orders_registration_created", "registration_id", "created_at"),
            sa.Index("acme_orders_account_created", "acme_account_id", "created_at"),
            sa.Index("acme_orders_organization_created", "organization_id", "created_at"),
        )
        self.authorizations = sa.Table(
            "acme_authorizations", metadata,
            sa.Column("authorization_id", sa.String(36), primary_key=True),
            sa.Column("registration_id", sa.String(36), nullable=False),
            sa.Column("identifier", sa.String(255), nullable=False),
            sa.Column("wildcard", sa.Boolean, nullable=False),
            sa.Column("status", sa.String(12), nullable=False),       # pending | valid | invalid | deactivated
            sa.Column("trust_class", sa.String(10), nullable=False),
            sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Index("acme_authorizations_reuse", "registration_id", "identifier", "wildcard", "status"),
        )

        self.campaigns = sa.Table(
            "acme_renewal_campaigns", metadata,
            sa.Column("campaign_id", sa.String(36), primary_key=True),
            sa.Column("ca_id", sa.String(36)),
            sa.Column("profile_id", sa.String(36)),
            sa.Column("organization_id", sa.String(36)),
            sa.Column("key_type", sa.String(16)),
            sa.Column("reason", sa.String(512), nullable=False),
            sa.Column("started_by", sa.String(80), nullable=False),
            sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        )

    # ---- updating -----------------------------------------------------------------------------------------
    def apply(self, conn: sa.Connection, event: Envelope) -> None:
        p, at = event.payload, event.occurred_at
        match event.event_type:
            case "acme_renewal_campaign_started.v1":
                conn.execute(self.campaigns.insert().values(
                    campaign_id=p["campaign_id"], ca_id=p["ca_id"], profile_id=p["profile_id"],
                    organization_id=p["organization_id"], key_type=p["key_type"], reason=p["reason"][:512],
                    started_by=p["started_by"], started_at=at))
            case "acme_account_created.v1":
                conn.execute(self.accounts.insert().values(
                    acme_account_id=p["acme_account_id"], name=p["name"], organization_id=p["organization_id"],
                    department_id=p["department_id"], profile_ids=p["profile_ids"], eab_kid=p["eab_kid"],
                    status="active", created_by=p["created_by"], created_at=at))
            case "acme_account_deactivated.v1":
                conn.execute(self.accounts.update().where(
                    self.accounts.c.acme_account_id == p["acme_account_id"]).values(status="deactivated"))
            case "acme_registration_created.v1":
                self._key_free(conn, p["thumbprint"])
                conn.execute(self.registrations.insert().values(
                    registration_id=p["registration_id"], acme_account_id=p["acme_account_id"],
                    thumbprint=p["thumbprint"], status="valid", created_at=at))
            case "acme_registration_key_changed.v1":
                self._key_free(conn, p["thumbprint"])
                conn.execute(self.registrations.update().where(
                    self.registrations.c.registration_id == p["registration_id"]).values(thumbprint=p["thumbprint"]))
            case "acme_registration_deactivated.v1":
                conn.execute(self.registrations.update().where(
                    self.registrations.c.registration_id == p["registration_id"]).values(status="deactivated"))
            case "acme_order_created.v1":
                conn.execute(self.orders.insert().values(
                    order_id=p["order_id"], registration_id=p["registration_id"],
                    acme_account_id=p["acme_account_id"], organization_id=p["organization_id"],
                    identifiers=p["identifiers"], created_at=at))
            case "acme_order_finalized.v1":
                conn.execute(self.orders.update().where(self.orders.c.order_id == p["order_id"]).values(
                    ssl_id=p["ssl_id"]))
            case "acme_authorization_created.v1":
                conn.execute(self.authorizations.insert().values(
                    authorization_id=p["authorization_id"], registration_id=p["registration_id"],
                    identifier=p["identifier"], wildcard=p["wildcard"],
                    status="valid" if p.get("valid_by") else "pending", trust_class=p.get("trust_class") or "private",
                    expires_at=datetime.fromisoformat(p["expires_at"]), created_at=at))
            case "acme_challenge_validated.v1" | "acme_challenge_invalid.v1" | "acme_authorization_deactivated.v1":
                status = {"acme_challenge_validated.v1": "valid", "acme_challenge_invalid.v1": "invalid"}.get(
                    event.event_type, "deactivated")
                conn.execute(self.authorizations.update().where(
                    self.authorizations.c.authorization_id == p["authorization_id"]).values(status=status))

    def _key_free(self, conn, thumbprint: str) -> None:
        """One key, one account (§7.3.1, §7.3.5): checked in the append transaction, so two newAccount requests
        with the same key racing make one account."""
        taken = conn.execute(sa.select(self.registrations.c.registration_id).where(
            self.registrations.c.thumbprint == thumbprint)).scalar()
        if taken is not None:
            raise Conflict("this key is registered to another account", {"registration_id": taken},
                           code="acme_key_taken")

    def reset(self, conn: sa.Connection) -> None:
        for table in (self.authorizations, self.orders, self.registrations, self.accounts, self.campaigns):
            conn.execute(table.delete())

    # ---- queries ------------------------------------------------------------------------------------------
    def account_by_kid(self, conn, kid: str) -> dict | None:
        row = conn.execute(sa.select(self.accounts).where(self.accounts.c.eab_kid == kid)).mappings().first()
        return dict(row) if row else None

    def account(self, conn, acme_account_id: str) -> dict | None:
        row = conn.execute(sa.select(self.accounts).where(
            self.accounts.c.acme_account_id == acme_account_id)).mappings().first()
        return self._account_view(conn, row) if row else None

    def account_page(self, conn, scope: dict, offset: int, limit: int) -> dict:
        a = self.accounts
        conditions = []
        if not scope.get("all"):
            conditions.append(sa.or_(a.c.organization_id.in_(scope.get("organizations") or []),
                                     a.c.department_id.in_(scope.get("departments") or [])))
        total = conn.execute(sa.select(sa.func.count()).select_from(a).where(*conditions)).scalar_one()
        rows = conn.execute(sa.select(a).where(*conditions).order_by(a.c.created_at.desc(), a.c.acme_account_id)
                            .offset(offset).limit(limit)).mappings()
        return {"items": [self._account_view(conn, r) for r in rows], "total": total}

    def _account_view(self, conn, row) -> dict:
        registrations = conn.execute(sa.select(sa.func.count()).select_from(self.registrations).where(
            self.registrations.c.acme_account_id == row["acme_account_id"])).scalar_one()
        certificates = conn.execute(sa.select(sa.func.count()).select_from(self.orders).where(
            self.orders.c.acme_account_id == row["acme_account_id"], self.orders.c.ssl_id.is_not(None))).scalar_one()
        return {"acme_account_id": row["acme_account_id"], "name": row["name"],
                "organization_id": row["organization_id"], "department_id": row["department_id"],
                "profile_ids": list(row["profile_ids"]), "eab_kid": row["eab_kid"], "status": row["status"],
                "created_by": row["created_by"], "created_at": utc(row["created_at"]).isoformat(),
                "registrations": registrations, "certificates": certificates}

    def registration_by_thumbprint(self, conn, thumbprint: str) -> str | None:
        return conn.execute(sa.select(self.registrations.c.registration_id).where(
            self.registrations.c.thumbprint == thumbprint)).scalar()

    def orders_of(self, conn, column: str, value: str, offset: int, limit: int) -> tuple[list[dict], int]:
        o = self.orders
        total = conn.execute(sa.select(sa.func.count()).select_from(o).where(o.c[column] == value)).scalar_one()
        rows = conn.execute(sa.select(o).where(o.c[column] == value).order_by(o.c.created_at.desc(), o.c.order_id)
                            .offset(offset).limit(limit)).mappings()
        return [dict(r) for r in rows], total

    def orders_since(self, conn, column: str, value: str, since: datetime) -> int:
        o = self.orders
        return conn.execute(sa.select(sa.func.count()).select_from(o).where(
            o.c[column] == value, o.c.created_at >= since)).scalar_one()

    def reusable_authorization(self, conn, registration_id: str, identifier: str, wildcard: bool,
                               created_after: datetime, valid_until: datetime, public: bool) -> str | None:
        """A valid authorization of this account for the identifier, made after `created_after` (the reuse window)
        and valid until at least `valid_until` (§7.1.3: the server may reuse); for a public order, only one
        validated for a public order (its CAA was checked)."""
        z = self.authorizations
        return conn.execute(sa.select(z.c.authorization_id).where(
            z.c.registration_id == registration_id, z.c.identifier == identifier, z.c.wildcard == wildcard,
            z.c.status == "valid", z.c.created_at >= created_after, z.c.expires_at >= valid_until,
            *([z.c.trust_class == "public"] if public else []))
            .order_by(z.c.created_at.desc()).limit(1)).scalar()

    def campaign_for(self, conn, row: dict) -> dict | None:
        """The first renewal campaign that names this certificate (every criterion it sets matches) and started
        after it was issued."""
        c = self.campaigns
        found = conn.execute(sa.select(c).where(
            sa.or_(c.c.ca_id.is_(None), c.c.ca_id == row["ca_id"]),
            sa.or_(c.c.profile_id.is_(None), c.c.profile_id == row["profile_id"]),
            sa.or_(c.c.organization_id.is_(None), c.c.organization_id == row["organization_id"]),
            sa.or_(c.c.key_type.is_(None), c.c.key_type == row["key_type"]),
            c.c.started_at > row["not_before"]).order_by(c.c.started_at).limit(1)).mappings().first()
        return dict(found) if found else None

    def campaigns_page(self, conn, offset: int, limit: int, campaign_id: str | None = None) -> dict:
        c = self.campaigns
        where = [c.c.campaign_id == campaign_id] if campaign_id else []
        total = conn.execute(sa.select(sa.func.count()).select_from(c).where(*where)).scalar_one()
        rows = conn.execute(sa.select(c).where(*where).order_by(c.c.started_at.desc(), c.c.campaign_id)
                            .offset(offset).limit(limit)).mappings()
        return {"items": [{**dict(r), "started_at": utc(r["started_at"]).isoformat()} for r in rows],
                "total": total}

    def order_of_ssl(self, conn, ssl_id: str) -> dict | None:
        row = conn.execute(sa.select(self.orders).where(self.orders.c.ssl_id == ssl_id)).mappings().first()
        return dict(row) if row else None


class AcmeNonces:
    """Replay-Nonce values (§6.5) in a table of enrollment's database: a nonce is good once, on any replica and
    after a restart, until it expires. Not event-sourced (a nonce is no fact worth keeping); a lost table only
    makes clients retry with a fresh one (badNonce)."""

    LIFETIME_SECONDS = 3600

    def __init__(self, db: Database):
        self.db = db
        metadata = sa.MetaData(schema=db.schema)
        self.table = sa.Table("acme_nonces", metadata,
                              sa.Column("nonce", sa.String(43), primary_key=True),
                              sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False, index=True))
        db.create_tables(metadata)

    def issue(self, nonce: str, now: datetime) -> str:
        with self.db.writer() as conn, conn.begin():
            conn.execute(self.table.insert().values(nonce=nonce,
                                                    expires_at=now + timedelta(seconds=self.LIFETIME_SECONDS)))
        return nonce

    def use(self, nonce: str, now: datetime) -> bool:
        """True once for a nonce we issued that has not expired: deleting it is the use."""
        with self.db.writer() as conn, conn.begin():
            used = conn.execute(self.table.delete().where(self.table.c.nonce == nonce,
                                                          self.table.c.expires_at > now)).rowcount
        return used == 1

    def sweep(self, now: datetime) -> int:
        with self.db.writer() as conn, conn.begin():
            return conn.execute(self.table.delete().where(self.table.c.expires_at <= now)).rowcount
