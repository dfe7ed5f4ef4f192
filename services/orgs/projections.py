"""The orgs service's read model: organizations and departments as tables, updated in the append transaction.

It also guards the one rule that spans organizations: names are unique (case-insensitively). The check runs under
the store's append lock, so two concurrent creates of "Acme" cannot both pass; the loser's transaction rolls back
and nothing is stored.
"""
from __future__ import annotations

import sqlalchemy as sa

from contracts.errors import Conflict
from services.runtime.events import Envelope, utc

ORGANIZATION_COLUMNS = ("name", "address1", "address2", "address3", "city", "state", "postal_code", "country",
                        "ev_details")


class OrganizationsView:
    def __init__(self, metadata: sa.MetaData):
        self.organizations = sa.Table(
            "organizations", metadata,
            sa.Column("organization_id", sa.String(36), primary_key=True),
            sa.Column("name", sa.String(64), nullable=False),
            sa.Column("name_key", sa.String(64), nullable=False, unique=True),
            sa.Column("address1", sa.String(128), nullable=False),
            sa.Column("address2", sa.String(128)),
            sa.Column("address3", sa.String(128)),
            sa.Column("city", sa.String(128), nullable=False),
            sa.Column("state", sa.String(128), nullable=False),
            sa.Column("postal_code", sa.String(40)),
            sa.Column("country", sa.String(2), nullable=False),
            sa.Column("ev_details", sa.JSON),
            sa.Column("key_escrow", sa.JSON, nullable=False),
            sa.Column("validation_status", sa.String(20), nullable=False),
            sa.Column("version", sa.Integer, nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        )
        self.departments = sa.Table(
            "departments", metadata,
            sa.Column("department_id", sa.String(36), primary_key=True),
            sa.Column("organization_id", sa.String(36), nullable=False, index=True),
            sa.Column("name", sa.String(64), nullable=False),
            sa.Column("key_escrow_recovery_by_department_admins", sa.Boolean, nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        )

    # ---- updating -----------------------------------------------------------------------------------------
    def apply(self, conn: sa.Connection, event: Envelope) -> None:
        p, at, orgs, depts = event.payload, event.occurred_at, self.organizations, self.departments
        match event.event_type:
            case "organization_created.v1":
                self._ensure_name_free(conn, p["name"], p["organization_id"])
                conn.execute(orgs.insert().values(
                    organization_id=p["organization_id"], name_key=_key(p["name"]), key_escrow=p["key_escrow"],
                    validation_status="not_validated", version=event.stream_version, created_at=at, updated_at=at,
                    **{c: p.get(c) for c in ORGANIZATION_COLUMNS}))
            case "organization_updated.v1":
                self._ensure_name_free(conn, p["name"], p["organization_id"])
                conn.execute(orgs.update().where(orgs.c.organization_id == p["organization_id"]).values(
                    name_key=_key(p["name"]), version=event.stream_version, updated_at=at,
                    **{c: p.get(c) for c in ORGANIZATION_COLUMNS}))
            case "organization_validation_changed.v1":
                conn.execute(orgs.update().where(orgs.c.organization_id == p["organization_id"]).values(
                    validation_status=p["validation_status"], version=event.stream_version, updated_at=at))
            case "organization_deleted.v1":
                conn.execute(orgs.delete().where(orgs.c.organization_id == p["organization_id"]))
            case "department_created.v1":
                conn.execute(depts.insert().values(
                    department_id=p["department_id"], organization_id=p["organization_id"], name=p["name"],
                    key_escrow_recovery_by_department_admins=p["key_escrow_recovery_by_department_admins"],
                    created_at=at, updated_at=at))
                self._touch(conn, event)
            case "department_renamed.v1":
                conn.execute(depts.update().where(depts.c.department_id == p["department_id"])
                             .values(name=p["name"], updated_at=at))
                self._touch(conn, event)
            case "department_deleted.v1":
                conn.execute(depts.delete().where(depts.c.department_id == p["department_id"]))
                self._touch(conn, event)

    def reset(self, conn: sa.Connection) -> None:
        conn.execute(self.departments.delete())
        conn.execute(self.organizations.delete())

    def _touch(self, conn, event: Envelope) -> None:
        conn.execute(self.organizations.update()
                     .where(self.organizations.c.organization_id == event.payload["organization_id"])
                     .values(version=event.stream_version, updated_at=event.occurred_at))

    def _ensure_name_free(self, conn, name: str, organization_id: str) -> None:
        holder = conn.execute(sa.select(self.organizations.c.organization_id)
                              .where(self.organizations.c.name_key == _key(name),
                                     self.organizations.c.organization_id != organization_id)).scalar()
        if holder is not None:
            raise Conflict(f"an organization named {name!r} already exists",
                           {"name": name, "organization_id": holder}, code="duplicate_name")

    # ---- queries ------------------------------------------------------------------------------------------
    def get(self, conn: sa.Connection, organization_id: str) -> dict | None:
        row = conn.execute(sa.select(self.organizations)
                           .where(self.organizations.c.organization_id == organization_id)).mappings().first()
        if row is None:
            return None
        organization = _public(row)
        organization["departments"] = [
            _public(d) for d in conn.execute(sa.select(self.departments)
                                             .where(self.departments.c.organization_id == organization_id)
                                             .order_by(self.departments.c.name)).mappings()]
        return organization

    def get_department(self, conn: sa.Connection, organization_id: str, department_id: str) -> dict | None:
        row = conn.execute(sa.select(self.departments)
                           .where(self.departments.c.department_id == department_id,
                                  self.departments.c.organization_id == organization_id)).mappings().first()
        return _public(row) if row else None

    def page(self, conn: sa.Connection, offset: int, limit: int) -> dict:
        total = conn.execute(sa.select(sa.func.count()).select_from(self.organizations)).scalar_one()
        rows = conn.execute(sa.select(self.organizations).order_by(self.organizations.c.name_key)
                            .offset(offset).limit(limit)).mappings()
        return {"items": [_public(r) for r in rows], "total": total}


def _key(name: str) -> str:
    return name.casefold()


def _public(row) -> dict:
    values = {k: v for k, v in dict(row).items() if k != "name_key"}
    for name in ("created_at", "updated_at"):
        if values.get(name) is not None:
            values[name] = utc(values[name]).isoformat()
    return values
