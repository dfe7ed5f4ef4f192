"""The domains service's read model, updated in the append transaction: domains (with their DCV state), their
delegations, and one row per (delegation, certificate type) so "may O/D get type T for name N" and scoped lists
are single indexed queries.

It also guards the one rule that spans domains: names are unique. The check runs under the store's append lock,
so two concurrent creates of example.com cannot both pass.
"""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from contracts.errors import Conflict
from contracts import names
from services.domains.domain import dcv_email_addresses, dcv_status
from services.runtime.events import Envelope, utc


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
        self.delegations = sa.Table(
            "delegations", metadata,
            sa.Column("delegation_id", sa.String(36), primary_key=True),
            sa.Column("domain_id", sa.String(36), nullable=False, index=True),
            sa.Column("organization_id", sa.String(36), nullable=False),
            sa.Column("department_id", sa.String(36)),
            sa.Column("cert_types", sa.JSON, nullable=False),
            sa.Column("status", sa.String(10), nullable=False),
            sa.Column("requested_by", sa.String(80), nullable=False),
            sa.Column("decided_by", sa.String(80)),
            sa.Column("reason", sa.String(1024)),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        )
        self.grants = sa.Table(   # one row per (delegation, certificate type)
            "delegation_grants", metadata,
            sa.Column("delegation_id", sa.String(36), primary_key=True),
            sa.Column("cert_type", sa.String(20), primary_key=True),
            sa.Column("domain_id", sa.String(36), nullable=False, index=True),
            sa.Column("name", sa.String(255), nullable=False, index=True),
            sa.Column("organization_id", sa.String(36), nullable=False, index=True),
            sa.Column("department_id", sa.String(36), index=True),
            sa.Column("status", sa.String(10), nullable=False),
        )

    # ---- updating -----------------------------------------------------------------------------------------
    def apply(self, conn: sa.Connection, event: Envelope) -> None:
        p, at = event.payload, event.occurred_at
        domains, delegations, grants = self.domains, self.delegations, self.grants
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
                conn.execute(delegations.insert().values(
                    delegation_id=p["delegation_id"], domain_id=p["domain_id"], organization_id=p["organization_id"],
                    department_id=p["department_id"], cert_types=p["cert_types"], status=p["status"],
                    requested_by=p["requested_by"],
                    decided_by=p["requested_by"] if p["status"] == "approved" else None, created_at=at))
                conn.execute(grants.insert(), [
                    {"delegation_id": p["delegation_id"], "cert_type": t, "domain_id": p["domain_id"],
                     "name": p["name"], "organization_id": p["organization_id"],
                     "department_id": p["department_id"], "status": p["status"]} for t in p["cert_types"]])
                self._touch(conn, p["domain_id"], at)
            case "delegation_approved.v1" | "delegation_rejected.v1":
                status = "approved" if event.event_type == "delegation_approved.v1" else "rejected"
                one = delegations.c.delegation_id == p["delegation_id"]
                conn.execute(delegations.update().where(one).values(
                    status=status, decided_by=p.get("approved_by") or p.get("rejected_by"), reason=p.get("reason")))
                conn.execute(grants.update().where(grants.c.delegation_id == p["delegation_id"]).values(status=status))
                self._touch(conn, p["domain_id"], at)
            case "delegation_removed.v1":
                conn.execute(delegations.delete().where(delegations.c.delegation_id == p["delegation_id"]))
                conn.execute(grants.delete().where(grants.c.delegation_id == p["delegation_id"]))
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
            case "dcv_validated.v1":
                conn.execute(domains.update().where(by_domain).values(
                    dcv_used=True, evidence_method=p["method"],
                    validated_at=datetime.fromisoformat(p["validated_at"]),
                    evidence_expires_at=datetime.fromisoformat(p["evidence_expires_at"]), caa=p["caa"],
                    updated_at=at))

    def _touch(self, conn, domain_id: str, at) -> None:
        conn.execute(self.domains.update().where(self.domains.c.domain_id == domain_id).values(updated_at=at))

    def reset(self, conn: sa.Connection) -> None:
        for table in (self.grants, self.delegations, self.domains):
            conn.execute(table.delete())

    # ---- queries ------------------------------------------------------------------------------------------
    def get(self, conn: sa.Connection, domain_id: str, now: datetime) -> dict | None:
        row = conn.execute(sa.select(self.domains).where(self.domains.c.domain_id == domain_id)).mappings().first()
        if row is None:
            return None
        return self._view(row, self._delegations_of(conn, [domain_id]).get(domain_id, []), now)

    def page(self, conn: sa.Connection, scope: dict, filters: dict, offset: int, limit: int,
             now: datetime) -> dict:
        """Domains in scope, by name. `scope`: {"all": true} or {"organizations": {type: [ids]},
        "departments": {type: [ids]}} — a domain is in scope when one of its delegations (any status) grants
        one of those types to one of those organizations (or their departments) or departments."""
        d, g = self.domains, self.grants
        query = sa.select(d)
        if not scope.get("all"):
            visible = sa.select(g.c.domain_id).where(_grant_scope(g, scope))
            query = query.where(d.c.domain_id.in_(visible))
        if filters.get("name"):
            query = query.where(d.c.name.contains(filters["name"].lower(), autoescape=True))
        if filters.get("organization_id"):
            query = query.where(d.c.domain_id.in_(sa.select(g.c.domain_id)
                                                  .where(g.c.organization_id == filters["organization_id"])))
        if filters.get("delegation_status"):
            query = query.where(d.c.domain_id.in_(sa.select(g.c.domain_id)
                                                  .where(g.c.status == filters["delegation_status"])))
        if filters.get("active") is not None:
            query = query.where(d.c.active == filters["active"])
        if filters.get("dcv_status"):
            query = query.where(_dcv_status_clause(d, filters["dcv_status"], now))
        total = conn.execute(sa.select(sa.func.count()).select_from(query.subquery())).scalar_one()
        rows = list(conn.execute(query.order_by(d.c.name).offset(offset).limit(limit)).mappings())
        delegations = self._delegations_of(conn, [r["domain_id"] for r in rows])
        return {"items": [self._view(r, delegations.get(r["domain_id"], []), now) for r in rows], "total": total}

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

    def _delegations_of(self, conn, domain_ids: list[str]) -> dict[str, list[dict]]:
        if not domain_ids:
            return {}
        t = self.delegations
        out: dict[str, list[dict]] = {}
        for r in conn.execute(sa.select(t).where(t.c.domain_id.in_(domain_ids)).order_by(t.c.created_at,
                                                                                          t.c.delegation_id)):
            out.setdefault(r.domain_id, []).append({
                "delegation_id": r.delegation_id, "organization_id": r.organization_id,
                "department_id": r.department_id, "cert_types": list(r.cert_types), "status": r.status,
                "requested_by": r.requested_by, "decided_by": r.decided_by, "reason": r.reason})
        return out

    @staticmethod
    def _view(row, delegations: list[dict], now: datetime) -> dict:
        expires = utc(row["evidence_expires_at"]) if row["evidence_expires_at"] else None
        token_expires = utc(row["dcv_token_expires_at"]) if row["dcv_token_expires_at"] else None
        open_attempt = token_expires is not None and not row["dcv_used"]
        dcv = {"dcv_id": row["dcv_id"], "status": str(dcv_status(expires, token_expires, row["dcv_used"], now)),
               "method": row["dcv_method"],
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


def _grant_scope(g: sa.Table, scope: dict):
    clauses = [sa.and_(g.c.organization_id.in_(ids), g.c.cert_type == cert_type)
               for cert_type, ids in (scope.get("organizations") or {}).items() if ids]
    clauses += [sa.and_(g.c.department_id.in_(ids), g.c.cert_type == cert_type)
                for cert_type, ids in (scope.get("departments") or {}).items() if ids]
    return sa.or_(*clauses) if clauses else sa.false()


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
