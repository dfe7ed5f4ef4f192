"""The gateway's organization directory: a read model of `orgs` events, kept by the follower.

The gateway lists, filters, counts and names organizations and departments from here without an RPC per request;
later it is what scope checks resolve against. It holds only what views need, never the authoritative record.
"""
from __future__ import annotations

import sqlalchemy as sa

from services.runtime.events import Envelope


class OrgDirectory:
    def __init__(self, metadata: sa.MetaData):
        self.organizations = sa.Table(
            "directory_organizations", metadata,
            sa.Column("organization_id", sa.String(36), primary_key=True),
            sa.Column("name", sa.String(64), nullable=False),
            sa.Column("name_key", sa.String(64), nullable=False, index=True),
            sa.Column("city", sa.String(128), nullable=False),
            sa.Column("state", sa.String(128), nullable=False),
            sa.Column("country", sa.String(2), nullable=False),
            sa.Column("validation_status", sa.String(20), nullable=False),
            sa.Column("department_count", sa.Integer, nullable=False),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        )
        self.departments = sa.Table(
            "directory_departments", metadata,
            sa.Column("department_id", sa.String(36), primary_key=True),
            sa.Column("organization_id", sa.String(36), nullable=False, index=True),
            sa.Column("name", sa.String(64), nullable=False),
            sa.Column("name_key", sa.String(64), nullable=False),
        )

    def apply(self, conn: sa.Connection, event: Envelope) -> None:
        p, orgs, depts = event.payload, self.organizations, self.departments
        where_org = orgs.c.organization_id == p.get("organization_id")
        match event.event_type:
            case "organization_created.v1":
                conn.execute(orgs.insert().values(
                    organization_id=p["organization_id"], name=p["name"], name_key=p["name"].casefold(),
                    city=p["city"], state=p["state"], country=p["country"], validation_status="not_validated",
                    department_count=0, updated_at=event.occurred_at))
            case "organization_updated.v1":
                conn.execute(orgs.update().where(where_org).values(
                    name=p["name"], name_key=p["name"].casefold(), city=p["city"], state=p["state"],
                    country=p["country"], updated_at=event.occurred_at))
            case "organization_validation_changed.v1":
                conn.execute(orgs.update().where(where_org).values(validation_status=p["validation_status"],
                                                                   updated_at=event.occurred_at))
            case "organization_deleted.v1":
                conn.execute(depts.delete().where(depts.c.organization_id == p["organization_id"]))
                conn.execute(orgs.delete().where(where_org))
            case "department_created.v1":
                conn.execute(depts.insert().values(department_id=p["department_id"],
                                                   organization_id=p["organization_id"], name=p["name"],
                                                   name_key=p["name"].casefold()))
                conn.execute(orgs.update().where(where_org).values(department_count=orgs.c.department_count + 1))
            case "department_renamed.v1":
                conn.execute(depts.update().where(depts.c.department_id == p["department_id"])
                             .values(name=p["name"], name_key=p["name"].casefold()))
            case "department_deleted.v1":
                conn.execute(depts.delete().where(depts.c.department_id == p["department_id"]))
                conn.execute(orgs.update().where(where_org).values(department_count=orgs.c.department_count - 1))
            # event types added later by orgs are ignored until the gateway needs them

    def reset(self, conn: sa.Connection) -> None:
        conn.execute(self.departments.delete())
        conn.execute(self.organizations.delete())

    # ---- queries ------------------------------------------------------------------------------------------
    def organizations_page(self, conn: sa.Connection, *, offset: int, limit: int, name: str | None = None,
                           name_contains: str | None = None, country: str | None = None,
                           validation_status: str | None = None,
                           within: set[str] | None = None) -> tuple[list[dict], int]:
        """`within`: only these organizations (the caller's scope); None: all."""
        orgs = self.organizations
        conditions = [] if within is None else [orgs.c.organization_id.in_(sorted(within))]
        if name is not None:
            conditions.append(orgs.c.name_key == name.casefold())
        if name_contains:
            conditions.append(orgs.c.name_key.contains(name_contains.casefold(), autoescape=True))
        if country is not None:
            conditions.append(orgs.c.country == country)
        if validation_status is not None:
            conditions.append(orgs.c.validation_status == validation_status)
        total = conn.execute(sa.select(sa.func.count()).select_from(orgs).where(*conditions)).scalar_one()
        rows = conn.execute(sa.select(orgs).where(*conditions)
                            .order_by(orgs.c.name_key, orgs.c.organization_id).offset(offset).limit(limit))
        return [dict(r._mapping) for r in rows], total

    def organization_name(self, conn: sa.Connection, organization_id: str) -> str | None:
        return conn.execute(sa.select(self.organizations.c.name)
                            .where(self.organizations.c.organization_id == organization_id)).scalar()

    def departments_page(self, conn: sa.Connection, organization_id: str, *, offset: int, limit: int,
                         name: str | None = None, within: set[str] | None = None) -> tuple[list[dict], int]:
        """`within`: only these departments (a DRAO's scope); None: all of the organization's."""
        depts = self.departments
        conditions = [depts.c.organization_id == organization_id]
        if within is not None:
            conditions.append(depts.c.department_id.in_(sorted(within)))
        if name is not None:
            conditions.append(depts.c.name_key == name.casefold())
        total = conn.execute(sa.select(sa.func.count()).select_from(depts).where(*conditions)).scalar_one()
        rows = conn.execute(sa.select(depts).where(*conditions).order_by(depts.c.name_key)
                            .offset(offset).limit(limit))
        return [dict(r._mapping) for r in rows], total

    def department_organizations(self, conn: sa.Connection, department_ids) -> dict[str, str]:
        """department id -> organization id, for the departments given (unknown ones are left out)."""
        ids = sorted(set(department_ids))
        if not ids:
            return {}
        rows = conn.execute(sa.select(self.departments.c.department_id, self.departments.c.organization_id)
                            .where(self.departments.c.department_id.in_(ids)))
        return {r.department_id: r.organization_id for r in rows}
