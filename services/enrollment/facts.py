"""Enrollment's own read models of the facts issuance needs from other services, followed from their PUBLIC events
(contracts/domains.py, contracts/orgs.py) into enrollment's database, so a certificate request asks no RPC:

- DomainFacts: domains (name, active, DCV evidence) and IP networks (range, active), each with its grants — one row
  per (delegation, certificate type) — answering "may O (D) get type T for these names and addresses" with the
  rule domains itself answers with (contracts/coverage.py). Same events, same rule: the same answer as domains'
  `may_issue_names`, as of the position this model has reached.
- OrgSubjects: organizations (name, country, state, city) and departments (name, organization), answering the
  certificate subject an organization (and department) gives.

Each is a Projection (services/runtime/store.py): `apply` ignores event types it does not need, `reset` empties its
tables (a rebuild replays the producer's log). Nothing here imports services/domains or services/orgs: services
talk only through contracts. Table names start with `facts_`.
"""
from __future__ import annotations

import ipaddress
from datetime import datetime

import sqlalchemy as sa

from contracts import coverage
from contracts import names as name_rules
from contracts.errors import NotFound
from services.runtime.events import Envelope, utc

# compared as bytes on every database (SQLite's default; PostgreSQL's "C" collation, not the locale's)
_ADDRESS_KEY = sa.String(32).with_variant(sa.String(32, collation="C"), "postgresql")


def _grants_table(metadata: sa.MetaData, name: str, owner: str) -> sa.Table:
    """A row per (delegation, certificate type) of a domain or network (`owner` names its id column): what the
    coverage rule reads, found by the owner's id; decided or removed by the delegation's id (the key's prefix)."""
    return sa.Table(
        name, metadata,
        sa.Column("delegation_id", sa.String(36), primary_key=True),
        sa.Column("cert_type", sa.String(20), primary_key=True),
        sa.Column(owner, sa.String(36), nullable=False, index=True),
        sa.Column("organization_id", sa.String(36), nullable=False),
        sa.Column("department_id", sa.String(36)),
        sa.Column("status", sa.String(10), nullable=False),
    )


class DomainFacts:
    """Domains and networks with their grants, from the domains service's events."""

    def __init__(self, metadata: sa.MetaData):
        self.domains = sa.Table(
            "facts_domains", metadata,
            sa.Column("domain_id", sa.String(36), primary_key=True),
            sa.Column("name", sa.String(255), nullable=False, index=True),
            sa.Column("active", sa.Boolean, nullable=False),
            sa.Column("evidence_method", sa.String(10)),
            sa.Column("evidence_expires_at", sa.DateTime(timezone=True)),
        )
        self.domain_grants = _grants_table(metadata, "facts_domain_grants", "domain_id")
        self.networks = sa.Table(
            "facts_networks", metadata,
            sa.Column("network_id", sa.String(36), primary_key=True),
            sa.Column("cidr", sa.String(50), nullable=False),
            sa.Column("ip_version", sa.Integer, nullable=False),
            sa.Column("first_address", _ADDRESS_KEY, nullable=False),
            sa.Column("last_address", _ADDRESS_KEY, nullable=False),
            sa.Column("active", sa.Boolean, nullable=False),
            sa.Index("facts_networks_range", "ip_version", "first_address", "last_address"),
        )
        self.network_grants = _grants_table(metadata, "facts_network_grants", "network_id")

    # ---- updating -----------------------------------------------------------------------------------------
    def apply(self, conn: sa.Connection, envelope: Envelope) -> None:
        p = envelope.payload
        d, n = self.domains, self.networks
        match envelope.event_type:
            case "domain_created.v1":
                conn.execute(d.insert().values(domain_id=p["domain_id"], name=p["name"], active=p["active"]))
            case "domain_updated.v1":
                conn.execute(d.update().where(d.c.domain_id == p["domain_id"]).values(active=p["active"]))
            case "domain_deleted.v1":
                conn.execute(d.delete().where(d.c.domain_id == p["domain_id"]))
                conn.execute(self.domain_grants.delete().where(self.domain_grants.c.domain_id == p["domain_id"]))
            case "dcv_validated.v1":
                conn.execute(d.update().where(d.c.domain_id == p["domain_id"]).values(
                    evidence_method=p["method"],
                    evidence_expires_at=datetime.fromisoformat(p["evidence_expires_at"])))
            case "delegation_added.v1":
                _add_grants(conn, self.domain_grants, "domain_id", p)
            case "delegation_approved.v1":
                _decide(conn, self.domain_grants, p, "approved")
            case "delegation_rejected.v1":
                _decide(conn, self.domain_grants, p, "rejected")
            case "delegation_removed.v1":
                _remove(conn, self.domain_grants, p)
            case "network_created.v1":
                version, first, last = coverage.network_range(ipaddress.ip_network(p["cidr"]))
                conn.execute(n.insert().values(network_id=p["network_id"], cidr=p["cidr"], ip_version=version,
                                               first_address=first, last_address=last, active=p["active"]))
            case "network_updated.v1":
                conn.execute(n.update().where(n.c.network_id == p["network_id"]).values(active=p["active"]))
            case "network_deleted.v1":
                conn.execute(n.delete().where(n.c.network_id == p["network_id"]))
                conn.execute(self.network_grants.delete()
                             .where(self.network_grants.c.network_id == p["network_id"]))
            case "network_delegation_added.v1":
                _add_grants(conn, self.network_grants, "network_id", p)
            case "network_delegation_approved.v1":
                _decide(conn, self.network_grants, p, "approved")
            case "network_delegation_rejected.v1":
                _decide(conn, self.network_grants, p, "rejected")
            case "network_delegation_removed.v1":
                _remove(conn, self.network_grants, p)

    def reset(self, conn: sa.Connection) -> None:
        for table in (self.domain_grants, self.domains, self.network_grants, self.networks):
            conn.execute(table.delete())

    # ---- queries ------------------------------------------------------------------------------------------
    def may_issue_names(self, conn: sa.Connection, organization_id: str, department_id: str | None,
                        cert_type: str, names: list[str], now: datetime) -> dict[str, dict]:
        """{name as given: MayIssueV1 answer} — what domains' `may_issue_names` RPC answers (a name normalised,
        an IP address answered from the networks), from this read model. A name that is neither a valid DNS
        name nor an IP address raises InvalidRequest, as the RPC does. The DNS names cost one indexed query
        together (their covering entries by name, with their grants); each address one range query."""
        wanted: dict[str, tuple[str, str]] = {}          # as given -> ("address" | "name", normalised)
        for typed in names:
            if name_rules.is_ip_address(typed):
                wanted[typed] = ("address", name_rules.ip_address(typed))
            else:
                wanted[typed] = ("name", name_rules.normalise(typed))
        entries = {normal: name_rules.covering_entries(normal) for kind, normal in wanted.values() if kind == "name"}
        found = self._domains_named(conn, sorted({e for listed in entries.values() for e in listed}))
        answers = {}
        for typed, (kind, normal) in wanted.items():
            if kind == "address":
                containing = self._containing(conn, ipaddress.ip_address(normal))
                answers[typed] = coverage.may_issue_address(normal, containing, organization_id, department_id,
                                                            cert_type)
            else:
                covering = [entry for name in entries[normal] for entry in found.get(name, ())]
                answers[typed] = coverage.may_issue_name(normal, covering, organization_id, department_id,
                                                         cert_type, now)
        return answers

    def _domains_named(self, conn: sa.Connection, entry_names: list[str]) -> dict[str, list[dict]]:
        """The domains with these names, each with its grants: {name: [entry]} (a name has one domain; a list
        keeps the rule's input whole should a replay ever hold two)."""
        if not entry_names:
            return {}
        d, g = self.domains, self.domain_grants
        rows = conn.execute(
            sa.select(d.c.domain_id, d.c.name, d.c.active, d.c.evidence_method, d.c.evidence_expires_at,
                      g.c.organization_id, g.c.department_id, g.c.cert_type, g.c.status)
            .select_from(d.outerjoin(g, g.c.domain_id == d.c.domain_id))
            .where(d.c.name.in_(entry_names))).mappings()
        by_id: dict[str, dict] = {}
        for r in rows:
            entry = by_id.get(r["domain_id"])
            if entry is None:
                expires = r["evidence_expires_at"]
                entry = by_id[r["domain_id"]] = {
                    "domain_id": r["domain_id"], "name": r["name"], "active": r["active"],
                    "evidence_method": r["evidence_method"], "evidence_expires_at": utc(expires) if expires else None,
                    "grants": []}
            if r["cert_type"] is not None:
                entry["grants"].append((r["organization_id"], r["department_id"], r["cert_type"], r["status"]))
        out: dict[str, list[dict]] = {}
        for entry in by_id.values():
            out.setdefault(entry["name"], []).append(entry)
        return out

    def _containing(self, conn: sa.Connection, address) -> dict | None:
        """The network holding the address (networks never overlap), with its grants; None if none does."""
        n, g = self.networks, self.network_grants
        key = coverage.address_key(address)
        rows = conn.execute(
            sa.select(n.c.network_id, n.c.cidr, n.c.active, g.c.organization_id, g.c.department_id, g.c.cert_type,
                      g.c.status)
            .select_from(n.outerjoin(g, g.c.network_id == n.c.network_id))
            .where(n.c.ip_version == address.version, n.c.first_address <= key, n.c.last_address >= key)).all()
        if not rows:
            return None
        first = rows[0]
        return {"network_id": first.network_id, "cidr": first.cidr, "active": first.active,
                "grants": [(r.organization_id, r.department_id, r.cert_type, r.status) for r in rows
                           if r.cert_type is not None and r.network_id == first.network_id]}


def _add_grants(conn: sa.Connection, grants: sa.Table, owner: str, p: dict) -> None:
    rows = [{"delegation_id": p["delegation_id"], "cert_type": t, owner: p[owner],
             "organization_id": p["organization_id"], "department_id": p.get("department_id"),
             "status": p["status"]} for t in sorted(set(p["cert_types"]))]
    if rows:
        conn.execute(grants.insert(), rows)


def _decide(conn: sa.Connection, grants: sa.Table, p: dict, status: str) -> None:
    conn.execute(grants.update().where(grants.c.delegation_id == p["delegation_id"]).values(status=status))


def _remove(conn: sa.Connection, grants: sa.Table, p: dict) -> None:
    conn.execute(grants.delete().where(grants.c.delegation_id == p["delegation_id"]))


class OrgSubjects:
    """Organizations and departments, from the orgs service's events: what a certificate's subject takes from them.
    (Named so, not OrgFacts: services/identity has an OrgFacts of its own.)"""

    def __init__(self, metadata: sa.MetaData):
        self.organizations = sa.Table(
            "facts_organizations", metadata,
            sa.Column("organization_id", sa.String(36), primary_key=True),
            sa.Column("name", sa.String(64), nullable=False),
            sa.Column("country", sa.String(2), nullable=False),
            sa.Column("state", sa.String(128), nullable=False),
            sa.Column("city", sa.String(128), nullable=False),
            # {enabled, recovery_by_mrao, recovery_by_organization_admins}: fixed at creation (key escrow)
            sa.Column("key_escrow", sa.JSON),
        )
        self.departments = sa.Table(
            "facts_departments", metadata,
            sa.Column("department_id", sa.String(36), primary_key=True),
            sa.Column("organization_id", sa.String(36), nullable=False, index=True),
            sa.Column("name", sa.String(64), nullable=False),
        )

    # ---- updating -----------------------------------------------------------------------------------------
    def apply(self, conn: sa.Connection, envelope: Envelope) -> None:
        p = envelope.payload
        o, d = self.organizations, self.departments
        match envelope.event_type:
            case "organization_created.v1":
                conn.execute(o.insert().values(organization_id=p["organization_id"], key_escrow=p.get("key_escrow"),
                                               **_subject_fields(p)))
            case "organization_updated.v1":
                conn.execute(o.update().where(o.c.organization_id == p["organization_id"])
                             .values(**_subject_fields(p)))
            case "organization_deleted.v1":
                conn.execute(o.delete().where(o.c.organization_id == p["organization_id"]))
                conn.execute(d.delete().where(d.c.organization_id == p["organization_id"]))
            case "department_created.v1":
                conn.execute(d.insert().values(department_id=p["department_id"],
                                               organization_id=p["organization_id"], name=p["name"]))
            case "department_renamed.v1":
                conn.execute(d.update().where(d.c.department_id == p["department_id"]).values(name=p["name"]))
            case "department_deleted.v1":
                conn.execute(d.delete().where(d.c.department_id == p["department_id"]))

    def reset(self, conn: sa.Connection) -> None:
        conn.execute(self.departments.delete())
        conn.execute(self.organizations.delete())

    # ---- queries ------------------------------------------------------------------------------------------
    def key_escrow(self, conn: sa.Connection, organization_id: str) -> dict:
        """The organization's key-escrow options ({enabled, recovery_by_mrao, recovery_by_organization_admins});
        NotFound for an organization that does not exist."""
        o = self.organizations
        row = conn.execute(sa.select(o.c.key_escrow).where(o.c.organization_id == str(organization_id))).first()
        if row is None:
            raise NotFound.of("organization", organization_id)
        return {"enabled": False, "recovery_by_mrao": False, "recovery_by_organization_admins": False,
                **(row.key_escrow or {})}

    def subject(self, conn: sa.Connection, organization_id: str, department_id: str | None) -> dict:
        """O, C, ST, L from the organization and OU from the department (they override a CSR's subject):
        {organization, organizational_unit (None without a department), country, state, locality}. NotFound for
        an organization, or a department of it, that does not exist (or was deleted)."""
        o, d = self.organizations, self.departments
        organization = conn.execute(sa.select(o.c.name, o.c.country, o.c.state, o.c.city)
                                    .where(o.c.organization_id == str(organization_id))).first()
        if organization is None:
            raise NotFound.of("organization", organization_id)
        unit = None
        if department_id is not None:
            unit = conn.execute(sa.select(d.c.name).where(d.c.department_id == str(department_id),
                                                          d.c.organization_id == str(organization_id))).scalar()
            if unit is None:
                raise NotFound.of("department", department_id)
        return {"organization": organization.name, "organizational_unit": unit, "country": organization.country,
                "state": organization.state, "locality": organization.city}


def _subject_fields(p: dict) -> dict:
    return {"name": p["name"], "country": p["country"], "state": p["state"], "city": p["city"]}
