"""The domains service's read models, updated in the append transaction: domains (with their DCV state) and IP
networks, each with its delegations (DelegationRows: one row per delegation, and one per (delegation, certificate
type) so "may O/D get type T for name N or address A" and scoped lists are single indexed queries).

They also guard the rules that span aggregates: domain names are unique, and networks never overlap. The checks
run under the store's append lock, so two concurrent creates of example.com (or of 10.0.0.0/8 and 10.1.0.0/16)
cannot both pass.
"""
from __future__ import annotations

import ipaddress
from datetime import datetime, timedelta

import sqlalchemy as sa

from contracts.errors import Conflict
from contracts import names
from contracts.domains import DCV_STATUSES
from services.domains.domain import dcv_email_addresses, dcv_status
from services.domains.network import address_key, network_range
from services.runtime.events import Envelope, utc


class DelegationRows:
    """The delegations of one kind of delegated object (domains or networks, the `owner` column): a row per
    delegation, and its grants, a row per (delegation, certificate type). `label` names the grants' copy of the
    owner's name (domains keep one), or None."""

    def __init__(self, metadata: sa.MetaData, delegations: str, grants: str, owner: str, label: str | None = None):
        self.owner = owner
        self.label = label
        self.rows = sa.Table(
            delegations, metadata,
            sa.Column("delegation_id", sa.String(36), primary_key=True),
            sa.Column(owner, sa.String(36), nullable=False, index=True),
            sa.Column("organization_id", sa.String(36), nullable=False),
            sa.Column("department_id", sa.String(36)),
            sa.Column("cert_types", sa.JSON, nullable=False),
            sa.Column("status", sa.String(10), nullable=False),
            sa.Column("requested_by", sa.String(80), nullable=False),
            sa.Column("decided_by", sa.String(80)),
            sa.Column("reason", sa.String(1024)),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        )
        label_columns = [sa.Column(label, sa.String(255), nullable=False, index=True)] if label else []
        self.grants = sa.Table(
            grants, metadata,
            sa.Column("delegation_id", sa.String(36), primary_key=True),
            sa.Column("cert_type", sa.String(20), primary_key=True),
            sa.Column(owner, sa.String(36), nullable=False, index=True),
            *label_columns,
            sa.Column("organization_id", sa.String(36), nullable=False, index=True),
            sa.Column("department_id", sa.String(36), index=True),
            sa.Column("status", sa.String(10), nullable=False),
        )

    # ---- updating -----------------------------------------------------------------------------------------
    def add(self, conn: sa.Connection, p: dict, at) -> None:
        conn.execute(self.rows.insert().values(
            delegation_id=p["delegation_id"], **{self.owner: p[self.owner]}, organization_id=p["organization_id"],
            department_id=p["department_id"], cert_types=p["cert_types"], status=p["status"],
            requested_by=p["requested_by"], decided_by=p["requested_by"] if p["status"] == "approved" else None,
            created_at=at))
        label = {self.label: p[self.label]} if self.label else {}
        conn.execute(self.grants.insert(), [
            {"delegation_id": p["delegation_id"], "cert_type": t, self.owner: p[self.owner], **label,
             "organization_id": p["organization_id"], "department_id": p["department_id"], "status": p["status"]}
            for t in p["cert_types"]])

    def decide(self, conn: sa.Connection, p: dict, status: str) -> None:
        one = self.rows.c.delegation_id == p["delegation_id"]
        conn.execute(self.rows.update().where(one).values(
            status=status, decided_by=p.get("approved_by") or p.get("rejected_by"), reason=p.get("reason")))
        conn.execute(self.grants.update().where(self.grants.c.delegation_id == p["delegation_id"])
                     .values(status=status))

    def remove(self, conn: sa.Connection, delegation_id: str) -> None:
        conn.execute(self.rows.delete().where(self.rows.c.delegation_id == delegation_id))
        conn.execute(self.grants.delete().where(self.grants.c.delegation_id == delegation_id))

    def remove_all_of(self, conn: sa.Connection, owner_id: str) -> None:
        conn.execute(self.rows.delete().where(self.rows.c[self.owner] == owner_id))
        conn.execute(self.grants.delete().where(self.grants.c[self.owner] == owner_id))

    def reset(self, conn: sa.Connection) -> None:
        conn.execute(self.grants.delete())
        conn.execute(self.rows.delete())

    # ---- queries ------------------------------------------------------------------------------------------
    def of(self, conn: sa.Connection, owner_ids: list[str]) -> dict[str, list[dict]]:
        """Every delegation of each owner, oldest first (the gateway shows each caller those in its scope)."""
        if not owner_ids:
            return {}
        t = self.rows
        out: dict[str, list[dict]] = {}
        for r in conn.execute(sa.select(t).where(t.c[self.owner].in_(owner_ids))
                              .order_by(t.c.created_at, t.c.delegation_id)).mappings():
            out.setdefault(r[self.owner], []).append({
                "delegation_id": r["delegation_id"], "organization_id": r["organization_id"],
                "department_id": r["department_id"], "cert_types": list(r["cert_types"]), "status": r["status"],
                "requested_by": r["requested_by"], "decided_by": r["decided_by"], "reason": r["reason"]})
        return out

    def owners(self, scope: dict, organization_id: str | None = None, status: str | None = None):
        """The owners with a delegation in `scope` ({"all": true} or {"organizations": {type: [ids]},
        "departments": {type: [ids]}}, contracts/access.py domain_scope) — and, when given, that delegation is to
        `organization_id` and has `status`: a filter only ever matches delegations the caller sees. None when
        nothing restricts (an MRAO without those filters also sees undelegated domains)."""
        g = self.grants
        clauses = [] if scope.get("all") else [_grant_scope(g, scope)]
        if organization_id:
            clauses.append(g.c.organization_id == organization_id)
        if status:
            clauses.append(g.c.status == status)
        return sa.select(g.c[self.owner]).where(*clauses) if clauses else None

    def decidable(self, conn: sa.Connection, decider: dict | None, limit: int) -> dict:
        """The delegations in `requested` status that the decider (contracts/access.py delegation_decider_scope)
        may approve: {count, items: the oldest `limit` as {delegation_id, <owner>}}."""
        if decider is None:
            return {"count": 0, "items": []}
        t, g = self.rows, self.grants
        clauses = [t.c.status == "requested", t.c.requested_by != decider["not_requested_by"]]
        if not decider.get("all"):
            clauses += [t.c.organization_id.in_(decider["organizations"]),
                        t.c.delegation_id.in_(sa.select(g.c.delegation_id).where(_grant_scope(g,
                                                                                            decider["visible"])))]
        count = conn.execute(sa.select(sa.func.count()).select_from(t).where(*clauses)).scalar_one()
        rows = conn.execute(sa.select(t.c.delegation_id, t.c[self.owner]).where(*clauses)
                            .order_by(t.c.created_at, t.c.delegation_id).limit(limit))
        return {"count": count, "items": [{"delegation_id": r[0], self.owner: r[1]} for r in rows]}


EVIDENCE_EXPIRING_DAYS = 30     # the dashboard's "evidence about to expire": validated, expiring within this


class DomainsView:
    def __init__(self, metadata: sa.MetaData):
        self.domains = sa.Table(
            "domains", metadata,
            sa.Column("domain_id", sa.String(36), primary_key=True),
            sa.Column("name", sa.String(255), nullable=False, unique=True),
            sa.Column("description", sa.String(1024)),
            sa.Column("active", sa.Boolean, nullable=False),
            sa.Column("dcv_id", sa.String(36)),
            sa.Column("dcv_method", sa.String(10)),
            sa.Column("dcv_email_address", sa.String(254)),
            sa.Column("dcv_http_url", sa.String(600)),
            sa.Column("dcv_dns_name", sa.String(300)),
            sa.Column("dcv_expected_value", sa.String(300)),
            sa.Column("dcv_token_expires_at", sa.DateTime(timezone=True)),
            sa.Column("dcv_used", sa.Boolean, nullable=False, default=False),
            sa.Column("dcv_last_failure", sa.String(1200)),
            sa.Column("evidence_method", sa.String(10)),
            sa.Column("validated_at", sa.DateTime(timezone=True)),
            sa.Column("evidence_expires_at", sa.DateTime(timezone=True)),
            sa.Column("caa", sa.JSON),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        )
        self.delegations = DelegationRows(metadata, "delegations", "delegation_grants", "domain_id", "name")
        self.grants = self.delegations.grants

    # ---- updating -----------------------------------------------------------------------------------------
    def apply(self, conn: sa.Connection, event: Envelope) -> None:
        p, at = event.payload, event.occurred_at
        domains = self.domains
        by_domain = domains.c.domain_id == p.get("domain_id")
        match event.event_type:
            case "domain_created.v1":
                taken = conn.execute(sa.select(domains.c.domain_id).where(domains.c.name == p["name"])).first()
                if taken is not None:
                    raise Conflict(f"the domain {p['name']} exists already", {"name": ["exists"]},
                                   code="domain_exists")
                conn.execute(domains.insert().values(domain_id=p["domain_id"], name=p["name"],
                                                     description=p["description"], active=p["active"],
                                                     dcv_used=False, created_at=at, updated_at=at))
            case "domain_updated.v1":
                conn.execute(domains.update().where(by_domain).values(description=p["description"],
                                                                      active=p["active"], updated_at=at))
            case "domain_deleted.v1":
                conn.execute(domains.delete().where(by_domain))
            case "delegation_added.v1":
                self.delegations.add(conn, p, at)
                self._touch(conn, p["domain_id"], at)
            case "delegation_approved.v1":
                self.delegations.decide(conn, p, "approved")
                self._touch(conn, p["domain_id"], at)
            case "delegation_rejected.v1":
                self.delegations.decide(conn, p, "rejected")
                self._touch(conn, p["domain_id"], at)
            case "delegation_removed.v1":
                self.delegations.remove(conn, p["delegation_id"])
                self._touch(conn, p["domain_id"], at)
            case "dcv_started.v1":
                conn.execute(domains.update().where(by_domain).values(
                    dcv_id=p["dcv_id"], dcv_method=p["method"], dcv_email_address=p["email_address"],
                    dcv_http_url=p["http_url"], dcv_dns_name=p["dns_name"], dcv_expected_value=p["expected_value"],
                    dcv_token_expires_at=datetime.fromisoformat(p["token_expires_at"]), dcv_used=False,
                    dcv_last_failure=None, updated_at=at))
            case "dcv_failed.v1":
                conn.execute(domains.update().where(by_domain, domains.c.dcv_id == p["dcv_id"]).values(
                    dcv_last_failure=f"{p['reason']}: {p['detail']}"[:1200], updated_at=at))
            case "dcv_validated.v1":        # an attempt's evidence uses it up; ACME evidence leaves it open
                conn.execute(domains.update().where(by_domain).values(
                    dcv_used=sa.case((domains.c.dcv_id == p["dcv_id"], True), else_=domains.c.dcv_used),
                    evidence_method=p["method"],
                    validated_at=datetime.fromisoformat(p["validated_at"]),
                    evidence_expires_at=datetime.fromisoformat(p["evidence_expires_at"]), caa=p["caa"],
                    updated_at=at))

    def _touch(self, conn, domain_id: str, at) -> None:
        conn.execute(self.domains.update().where(self.domains.c.domain_id == domain_id).values(updated_at=at))

    def reset(self, conn: sa.Connection) -> None:
        self.delegations.reset(conn)
        conn.execute(self.domains.delete())

    # ---- queries ------------------------------------------------------------------------------------------
    def get(self, conn: sa.Connection, domain_id: str, now: datetime) -> dict | None:
        row = conn.execute(sa.select(self.domains).where(self.domains.c.domain_id == domain_id)).mappings().first()
        if row is None:
            return None
        return self._view(row, self.delegations.of(conn, [domain_id]).get(domain_id, []), now)

    def page(self, conn: sa.Connection, scope: dict, filters: dict, offset: int, limit: int,
             now: datetime) -> dict:
        """Domains in scope, by name. A domain is in scope when one of its delegations (any status) grants one of
        the scope's types to one of its organizations (or their departments) or departments; `organization_id`
        and `delegation_status` match such a delegation only (DelegationRows.owners)."""
        d = self.domains
        query = sa.select(d)
        visible = self.delegations.owners(scope, filters.get("organization_id"), filters.get("delegation_status"))
        if visible is not None:
            query = query.where(d.c.domain_id.in_(visible))
        if filters.get("name"):
            query = query.where(d.c.name.contains(filters["name"].lower(), autoescape=True))
        if filters.get("active") is not None:
            query = query.where(d.c.active == filters["active"])
        if filters.get("dcv_status"):
            query = query.where(_dcv_status_clause(d, filters["dcv_status"], now))
        if filters.get("dcv_expires_before"):
            query = query.where(d.c.evidence_expires_at < _moment(filters["dcv_expires_before"]))
        total = conn.execute(sa.select(sa.func.count()).select_from(query.subquery())).scalar_one()
        rows = list(conn.execute(query.order_by(d.c.name).offset(offset).limit(limit)).mappings())
        delegations = self.delegations.of(conn, [r["domain_id"] for r in rows])
        return {"items": [self._view(r, delegations.get(r["domain_id"], []), now) for r in rows], "total": total}

    def summary(self, conn: sa.Connection, scope: dict, now: datetime) -> dict:
        """The domains in scope (page's rule) by DCV status (page's dcv_status filter, one SUM each), and how many
        are validated with evidence expiring before now + EVIDENCE_EXPIRING_DAYS (page's dcv_status=validated
        with dcv_expires_before)."""
        d = self.domains
        visible = self.delegations.owners(scope)
        where = [d.c.domain_id.in_(visible)] if visible is not None else []
        before = now + timedelta(days=EVIDENCE_EXPIRING_DAYS)
        expiring = sa.and_(_dcv_status_clause(d, "validated", now), d.c.evidence_expires_at < before)
        counts = [sa.func.coalesce(sa.func.sum(sa.case((clause, 1), else_=0)), 0)
                  for clause in [*(_dcv_status_clause(d, s, now) for s in DCV_STATUSES), expiring]]
        row = conn.execute(sa.select(*counts).where(*where)).one()
        return {"by_dcv_status": {s: int(n) for s, n in zip(DCV_STATUSES, row)},
                "evidence_expiring": {"count": int(row[-1]), "days": EVIDENCE_EXPIRING_DAYS,
                                      "filters": {"dcv_status": "validated",
                                                  "dcv_expires_before": before.isoformat()}}}

    def covering(self, conn: sa.Connection, name: str) -> list[dict]:
        """Domains whose entry covers the certificate name, closest first, each with its grants."""
        entries = names.covering_entries(name)
        d, g = self.domains, self.grants
        rows = conn.execute(
            sa.select(d.c.domain_id, d.c.name, d.c.active, d.c.evidence_method, d.c.evidence_expires_at,
                      g.c.organization_id, g.c.department_id, g.c.cert_type, g.c.status)
            .select_from(d.outerjoin(g, g.c.domain_id == d.c.domain_id))
            .where(d.c.name.in_(entries))).mappings()
        found: dict[str, dict] = {}
        for r in rows:
            entry = found.setdefault(r["domain_id"], {
                "domain_id": r["domain_id"], "name": r["name"], "active": r["active"],
                "evidence_method": r["evidence_method"],
                "evidence_expires_at": utc(r["evidence_expires_at"]) if r["evidence_expires_at"] else None,
                "grants": []})
            if r["cert_type"] is not None:
                entry["grants"].append((r["organization_id"], r["department_id"], r["cert_type"], r["status"]))
        return sorted(found.values(), key=lambda e: entries.index(e["name"]))

    def has_name(self, conn: sa.Connection, name: str) -> bool:
        return conn.execute(sa.select(self.domains.c.domain_id).where(self.domains.c.name == name)).first() \
            is not None

    @staticmethod
    def _view(row, delegations: list[dict], now: datetime) -> dict:
        expires = utc(row["evidence_expires_at"]) if row["evidence_expires_at"] else None
        token_expires = utc(row["dcv_token_expires_at"]) if row["dcv_token_expires_at"] else None
        open_attempt = token_expires is not None and not row["dcv_used"]
        dcv = {"dcv_id": row["dcv_id"], "status": str(dcv_status(expires, token_expires, row["dcv_used"], now)),
               # the open attempt's method; else how the evidence was obtained (an ACME one has no attempt)
               "method": row["dcv_method"] if open_attempt or not row["evidence_method"] else
               row["evidence_method"],
               "email_address": row["dcv_email_address"] if open_attempt else None,
               "http_url": row["dcv_http_url"] if open_attempt else None,
               "dns_name": row["dcv_dns_name"] if open_attempt else None,
               "expected_value": row["dcv_expected_value"] if open_attempt else None,
               "token_expires_at": token_expires.isoformat() if token_expires else None,
               "last_failure": row["dcv_last_failure"],
               "validated_at": utc(row["validated_at"]).isoformat() if row["validated_at"] else None,
               "evidence_expires_at": expires.isoformat() if expires else None,
               "caa": row["caa"]}
        return {"domain_id": row["domain_id"], "name": row["name"], "description": row["description"],
                "active": row["active"], "wildcard": names.is_wildcard(row["name"]), "delegations": delegations,
                "dcv": dcv, "dcv_email_addresses": dcv_email_addresses(row["name"]), "created_at": utc(row["created_at"]).isoformat(),
                "updated_at": utc(row["updated_at"]).isoformat()}


# compared as bytes on every database (SQLite's default; PostgreSQL's "C" collation, not the locale's)
_ADDRESS_KEY = sa.String(32).with_variant(sa.String(32, collation="C"), "postgresql")


class NetworksView:
    """IP networks and their delegations. A network's addresses are a range of 32-hex-digit keys
    (network.address_key), so "which network holds address A" and "does 10.1.0.0/16 overlap a network" are one
    indexed range query each."""

    def __init__(self, metadata: sa.MetaData):
        self.networks = sa.Table(
            "networks", metadata,
            sa.Column("network_id", sa.String(36), primary_key=True),
            sa.Column("cidr", sa.String(50), nullable=False, unique=True),
            sa.Column("ip_version", sa.Integer, nullable=False),
            sa.Column("first_address", _ADDRESS_KEY, nullable=False),
            sa.Column("last_address", _ADDRESS_KEY, nullable=False),
            sa.Column("description", sa.String(1024)),
            sa.Column("active", sa.Boolean, nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
            sa.Index("networks_range", "ip_version", "first_address", "last_address"),
        )
        self.delegations = DelegationRows(metadata, "network_delegations", "network_grants", "network_id")

    # ---- updating -----------------------------------------------------------------------------------------
    def apply(self, conn: sa.Connection, event: Envelope) -> None:
        p, at = event.payload, event.occurred_at
        n = self.networks
        by_network = n.c.network_id == p.get("network_id")
        match event.event_type:
            case "network_created.v1":
                network = ipaddress.ip_network(p["cidr"])
                clash = self.overlapping(conn, network)
                if clash is not None:
                    raise _overlap(network, clash)
                version, first, last = network_range(network)
                conn.execute(n.insert().values(network_id=p["network_id"], cidr=p["cidr"], ip_version=version,
                                               first_address=first, last_address=last,
                                               description=p["description"], active=p["active"], created_at=at,
                                               updated_at=at))
            case "network_updated.v1":
                conn.execute(n.update().where(by_network).values(description=p["description"], active=p["active"],
                                                                 updated_at=at))
            case "network_deleted.v1":
                conn.execute(n.delete().where(by_network))
                self.delegations.remove_all_of(conn, p["network_id"])
            case "network_delegation_added.v1":
                self.delegations.add(conn, p, at)
                self._touch(conn, p["network_id"], at)
            case "network_delegation_approved.v1":
                self.delegations.decide(conn, p, "approved")
                self._touch(conn, p["network_id"], at)
            case "network_delegation_rejected.v1":
                self.delegations.decide(conn, p, "rejected")
                self._touch(conn, p["network_id"], at)
            case "network_delegation_removed.v1":
                self.delegations.remove(conn, p["delegation_id"])
                self._touch(conn, p["network_id"], at)

    def _touch(self, conn, network_id: str, at) -> None:
        conn.execute(self.networks.update().where(self.networks.c.network_id == network_id).values(updated_at=at))

    def reset(self, conn: sa.Connection) -> None:
        self.delegations.reset(conn)
        conn.execute(self.networks.delete())

    # ---- queries ------------------------------------------------------------------------------------------
    def overlapping(self, conn: sa.Connection, network) -> str | None:
        """The CIDR of a network that overlaps `network` (one contains the other, or they are the same), if any."""
        version, first, last = network_range(network)
        n = self.networks
        row = conn.execute(sa.select(n.c.cidr).where(n.c.ip_version == version, n.c.first_address <= last,
                                                     n.c.last_address >= first).limit(1)).first()
        return row[0] if row else None

    def containing(self, conn: sa.Connection, address) -> dict | None:
        """The network that holds the address (there is at most one), with its grants
        [(organization_id, department_id, cert_type, status)]; None if none does."""
        n, g = self.networks, self.delegations.grants
        key = address_key(address)
        rows = conn.execute(
            sa.select(n.c.network_id, n.c.cidr, n.c.active, g.c.organization_id, g.c.department_id, g.c.cert_type,
                      g.c.status)
            .select_from(n.outerjoin(g, g.c.network_id == n.c.network_id))
            .where(n.c.ip_version == address.version, n.c.first_address <= key, n.c.last_address >= key)).all()
        if not rows:
            return None
        return {"network_id": rows[0].network_id, "cidr": rows[0].cidr, "active": rows[0].active,
                "grants": [(r.organization_id, r.department_id, r.cert_type, r.status) for r in rows
                           if r.cert_type is not None]}

    def get(self, conn: sa.Connection, network_id: str) -> dict | None:
        row = conn.execute(sa.select(self.networks).where(self.networks.c.network_id == network_id)).mappings().first()
        if row is None:
            return None
        return self._view(row, self.delegations.of(conn, [network_id]).get(network_id, []))

    def page(self, conn: sa.Connection, scope: dict, filters: dict, offset: int, limit: int) -> dict:
        """Networks in scope (the rule of DomainsView.page), in address order. Filters: `cidr` (part of the CIDR
        text), `contains` (an address: the network holding it), organization_id, delegation_status, active."""
        n = self.networks
        query = sa.select(n)
        visible = self.delegations.owners(scope, filters.get("organization_id"), filters.get("delegation_status"))
        if visible is not None:
            query = query.where(n.c.network_id.in_(visible))
        if filters.get("cidr"):
            query = query.where(n.c.cidr.contains(filters["cidr"].lower(), autoescape=True))
        if filters.get("contains") is not None:
            address = filters["contains"]
            key = address_key(address)
            query = query.where(n.c.ip_version == address.version, n.c.first_address <= key,
                                n.c.last_address >= key)
        if filters.get("active") is not None:
            query = query.where(n.c.active == filters["active"])
        total = conn.execute(sa.select(sa.func.count()).select_from(query.subquery())).scalar_one()
        rows = list(conn.execute(query.order_by(n.c.ip_version, n.c.first_address).offset(offset).limit(limit))
                    .mappings())
        delegations = self.delegations.of(conn, [r["network_id"] for r in rows])
        return {"items": [self._view(r, delegations.get(r["network_id"], [])) for r in rows], "total": total}

    @staticmethod
    def _view(row, delegations: list[dict]) -> dict:
        return {"network_id": row["network_id"], "cidr": row["cidr"], "ip_version": row["ip_version"],
                "description": row["description"], "active": row["active"], "delegations": delegations,
                "created_at": utc(row["created_at"]).isoformat(), "updated_at": utc(row["updated_at"]).isoformat()}


def _overlap(network, clash: str) -> Conflict:
    how = "is already a network" if clash == str(network) else f"overlaps the network {clash} (one contains the other)"
    return Conflict(f"{network} {how}; networks never overlap, so that every address lies in at most one",
                    {"cidr": [f"overlaps {clash}"], "overlaps": clash}, code="overlapping_network")


def _grant_scope(g: sa.Table, scope: dict):
    clauses = [sa.and_(g.c.organization_id.in_(ids), g.c.cert_type == cert_type)
               for cert_type, ids in (scope.get("organizations") or {}).items() if ids]
    clauses += [sa.and_(g.c.department_id.in_(ids), g.c.cert_type == cert_type)
                for cert_type, ids in (scope.get("departments") or {}).items() if ids]
    return sa.or_(*clauses) if clauses else sa.false()


def _moment(value) -> datetime:
    """A bound from an RPC's filters (ISO text) as an aware datetime: compared as text, SQLite would order
    "2026-01-01 10:00" (how it stores) before "2026-01-01T05:00+00:00"."""
    return utc(datetime.fromisoformat(value)) if isinstance(value, str) else utc(value)


def _dcv_status_clause(d: sa.Table, status: str, now: datetime):
    fresh = sa.and_(d.c.evidence_expires_at.is_not(None), d.c.evidence_expires_at > now)
    open_ = sa.and_(d.c.dcv_token_expires_at.is_not(None), d.c.dcv_used.is_(False), d.c.dcv_token_expires_at > now)
    match status:
        case "validated":
            return fresh
        case "submitted":
            return sa.and_(sa.not_(fresh), open_)
        case "expired":
            return sa.and_(d.c.evidence_expires_at.is_not(None), d.c.evidence_expires_at <= now, sa.not_(open_))
        case _:
            return sa.and_(d.c.evidence_expires_at.is_(None), sa.not_(open_))
