"""identity's read models, updated in the append transaction, and its index of orgs' organizations and departments.

`IdentityView` also guards the rules that span aggregates: usernames are unique (in any case), and a person's
email is unique within the organization. Both run under the store's append lock.
`OrgIndex` is a follower of `orgs` events: which organizations and departments exist (roles and persons must name
real ones), and department names (the CSV import names departments).
"""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from contracts.access import MRAO
from contracts.errors import Conflict
from contracts.identity import PROFILE_FIELDS
from services.runtime.events import Envelope, utc

PASSWORD_HISTORY = 5   # how many passwords a new one must differ from (the current one included)
PERSON_COLUMNS = ("organization_id", "department_id", "email", "first_name", "middle_name", "last_name",
                  "alternative_emails", "validation_type")


class IdentityView:
    def __init__(self, metadata: sa.MetaData):
        self.admins = sa.Table(
            "admins", metadata,
            sa.Column("admin_id", sa.String(36), primary_key=True),
            sa.Column("username", sa.String(64), nullable=False),
            sa.Column("username_key", sa.String(64), nullable=False, unique=True),
            *[sa.Column(f, sa.String(254)) for f in PROFILE_FIELDS],
            sa.Column("status", sa.String(20), nullable=False),
            sa.Column("roles", sa.JSON, nullable=False),
            sa.Column("privileges", sa.JSON, nullable=False),
            sa.Column("is_mrao", sa.Boolean, nullable=False),
            sa.Column("credential_id", sa.String(36)),
            sa.Column("password_history", sa.JSON, nullable=False),   # newest first, credential ids
            sa.Column("must_change_password", sa.Boolean, nullable=False),
            sa.Column("consecutive_failures", sa.Integer, nullable=False),
            sa.Column("locked_until", sa.DateTime(timezone=True)),
            sa.Column("created_by", sa.String(80)),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        )
        self.api_keys = sa.Table(
            "api_keys", metadata,
            sa.Column("key_id", sa.String(36), primary_key=True),
            sa.Column("admin_id", sa.String(36), nullable=False, index=True),
            sa.Column("name", sa.String(64), nullable=False),
            sa.Column("prefix", sa.String(16), nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("revoked", sa.Boolean, nullable=False),
        )
        self.persons = sa.Table(
            "persons", metadata,
            sa.Column("person_id", sa.String(36), primary_key=True),
            sa.Column("organization_id", sa.String(36), nullable=False),
            sa.Column("department_id", sa.String(36)),
            sa.Column("email", sa.String(254), nullable=False),
            sa.Column("email_key", sa.String(254), nullable=False),
            sa.Column("first_name", sa.String(64), nullable=False),
            sa.Column("middle_name", sa.String(64)),
            sa.Column("last_name", sa.String(64), nullable=False),
            sa.Column("alternative_emails", sa.JSON, nullable=False),
            sa.Column("validation_type", sa.String(20), nullable=False),
            sa.Column("has_secret_id", sa.Boolean, nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
            sa.UniqueConstraint("organization_id", "email_key", name="persons_email_per_organization"),
        )

    # ---- updating -----------------------------------------------------------------------------------------
    def apply(self, conn: sa.Connection, event: Envelope) -> None:
        p, at = event.payload, event.occurred_at
        admins, persons = self.admins, self.persons
        by_admin = admins.c.admin_id == p.get("admin_id")
        by_person = persons.c.person_id == p.get("person_id")
        match event.event_type:
            case "admin_created.v1":
                self._ensure_username_free(conn, p["username"])
                conn.execute(admins.insert().values(
                    admin_id=p["admin_id"], username=p["username"], username_key=p["username"].casefold(),
                    status=p["status"], roles=p["roles"], privileges=p["privileges"],
                    is_mrao=any(r["role"] == MRAO for r in p["roles"]), credential_id=p["credential_id"],
                    password_history=[p["credential_id"]] if p["credential_id"] else [],
                    must_change_password=p["must_change_password"], consecutive_failures=0,
                    created_by=p["created_by"], created_at=at, updated_at=at,
                    **{f: p.get(f) for f in PROFILE_FIELDS}))
            case "admin_updated.v1":
                conn.execute(admins.update().where(by_admin).values(updated_at=at,
                                                                     **{f: p.get(f) for f in PROFILE_FIELDS}))
            case "admin_access_changed.v1":
                conn.execute(admins.update().where(by_admin).values(
                    roles=p["roles"], privileges=p["privileges"], updated_at=at,
                    is_mrao=any(r["role"] == MRAO for r in p["roles"])))
            case "admin_status_changed.v1":
                conn.execute(admins.update().where(by_admin).values(status=p["status"], updated_at=at))
            case "admin_deleted.v1":
                conn.execute(self.api_keys.delete().where(self.api_keys.c.admin_id == p["admin_id"]))
                conn.execute(admins.delete().where(by_admin))
            case "admin_password_set.v1":
                history = conn.execute(sa.select(admins.c.password_history).where(by_admin)).scalar() or []
                conn.execute(admins.update().where(by_admin).values(
                    credential_id=p["credential_id"], must_change_password=p["must_change_password"],
                    password_history=[p["credential_id"], *history][:PASSWORD_HISTORY],
                    consecutive_failures=0, locked_until=None, updated_at=at))
            case "admin_logged_in.v1":
                conn.execute(admins.update().where(by_admin).values(consecutive_failures=0, locked_until=None))
            case "admin_login_failed.v1":
                values = {"consecutive_failures": p["consecutive_failures"]}
                if p.get("locked_until"):
                    values["locked_until"] = datetime.fromisoformat(p["locked_until"])
                conn.execute(admins.update().where(by_admin).values(**values))
            case "api_key_created.v1":
                conn.execute(self.api_keys.insert().values(key_id=p["key_id"], admin_id=p["admin_id"],
                                                           name=p["name"], prefix=p["prefix"], created_at=at,
                                                           revoked=False))
            case "api_key_revoked.v1":
                conn.execute(self.api_keys.update().where(self.api_keys.c.key_id == p["key_id"])
                             .values(revoked=True))
            case "person_created.v1":
                self._ensure_email_free(conn, p["organization_id"], p["email"], p["person_id"])
                conn.execute(persons.insert().values(
                    person_id=p["person_id"], email_key=p["email"].casefold(),
                    has_secret_id=p.get("secret_credential_id") is not None, created_at=at, updated_at=at,
                    **{c: p.get(c) for c in PERSON_COLUMNS}))
            case "person_updated.v1" | "person_identity_changed.v1":
                self._ensure_email_free(conn, p["organization_id"], p["email"], p["person_id"])
                conn.execute(persons.update().where(by_person).values(
                    email_key=p["email"].casefold(), updated_at=at, **{c: p.get(c) for c in PERSON_COLUMNS}))
            case "person_secret_changed.v1":
                conn.execute(persons.update().where(by_person).values(
                    has_secret_id=p.get("secret_credential_id") is not None, updated_at=at))
            case "person_deleted.v1":
                conn.execute(persons.delete().where(by_person))

    def reset(self, conn: sa.Connection) -> None:
        for table in (self.persons, self.api_keys, self.admins):
            conn.execute(table.delete())

    def _ensure_username_free(self, conn, username: str) -> None:
        if conn.execute(sa.select(self.admins.c.admin_id)
                        .where(self.admins.c.username_key == username.casefold())).first():
            raise Conflict(f"the username {username!r} is taken", {"username": username}, code="duplicate_username")

    def _ensure_email_free(self, conn, organization_id: str, email: str, person_id: str) -> None:
        holder = conn.execute(sa.select(self.persons.c.person_id).where(
            self.persons.c.organization_id == organization_id, self.persons.c.email_key == email.casefold(),
            self.persons.c.person_id != person_id)).scalar()
        if holder is not None:
            raise Conflict(f"a person with the email {email!r} already exists in this organization",
                           {"email": email, "person_id": holder}, code="duplicate_email")

    # ---- queries ------------------------------------------------------------------------------------------
    def admin_row(self, conn, admin_id: str):
        return conn.execute(sa.select(self.admins).where(self.admins.c.admin_id == admin_id)).mappings().first()

    def admin_by_username(self, conn, username: str):
        return conn.execute(sa.select(self.admins)
                            .where(self.admins.c.username_key == username.casefold())).mappings().first()

    def admin(self, conn, admin_id: str) -> dict | None:
        row = self.admin_row(conn, admin_id)
        if row is None:
            return None
        keys = conn.execute(sa.select(self.api_keys).where(self.api_keys.c.admin_id == admin_id)
                            .order_by(self.api_keys.c.created_at)).mappings()
        return {**_admin_public(row), "api_keys": [
            {"key_id": k["key_id"], "name": k["name"], "prefix": k["prefix"],
             "created_at": utc(k["created_at"]).isoformat(), "revoked": k["revoked"]} for k in keys]}

    def active_mraos(self, conn, excluding: str) -> int:
        return conn.execute(sa.select(sa.func.count()).select_from(self.admins).where(
            self.admins.c.is_mrao.is_(True), self.admins.c.status == "active",
            self.admins.c.admin_id != excluding)).scalar_one()

    def count_admins(self, conn) -> int:
        return conn.execute(sa.select(sa.func.count()).select_from(self.admins)).scalar_one()

    def person(self, conn, person_id: str) -> dict | None:
        row = conn.execute(sa.select(self.persons).where(self.persons.c.person_id == person_id)).mappings().first()
        return _person_public(row) if row else None

    def persons_page(self, conn, *, organizations: list[str] | None, departments: list[str], offset: int,
                     limit: int, organization_id: str | None = None, email: str | None = None) -> dict:
        """Persons in scope: in `organizations` (None: all), or in one of `departments`."""
        persons = self.persons
        conditions = []
        if organizations is not None:
            conditions.append(sa.or_(persons.c.organization_id.in_(organizations),
                                     persons.c.department_id.in_(departments)))
        if organization_id is not None:
            conditions.append(persons.c.organization_id == organization_id)
        if email is not None:
            conditions.append(persons.c.email_key == email.casefold())
        total = conn.execute(sa.select(sa.func.count()).select_from(persons).where(*conditions)).scalar_one()
        rows = conn.execute(sa.select(persons).where(*conditions)
                            .order_by(persons.c.email_key, persons.c.person_id).offset(offset).limit(limit))
        return {"items": [_person_public(r._mapping) for r in rows], "total": total}

    def emails_taken(self, conn, organization_id: str, emails: list[str]) -> set[str]:
        keys = [e.casefold() for e in emails]
        return set(conn.execute(sa.select(self.persons.c.email_key).where(
            self.persons.c.organization_id == organization_id, self.persons.c.email_key.in_(keys))).scalars())


def _admin_public(row) -> dict:
    values = {k: row[k] for k in ("admin_id", "username", *PROFILE_FIELDS, "status", "roles", "privileges",
                                  "must_change_password", "created_by")}
    values["api_only"] = "ws_api_only" in (row["privileges"] or [])
    values["locked_until"] = utc(row["locked_until"]).isoformat() if row["locked_until"] else None
    values["created_at"] = utc(row["created_at"]).isoformat()
    values["updated_at"] = utc(row["updated_at"]).isoformat()
    return values


def _person_public(row) -> dict:
    values = {k: row[k] for k in ("person_id", *PERSON_COLUMNS, "has_secret_id")}
    values["created_at"] = utc(row["created_at"]).isoformat()
    values["updated_at"] = utc(row["updated_at"]).isoformat()
    return values


class OrgIndex:
    """Which organizations and departments exist, followed from `orgs` events."""

    def __init__(self, metadata: sa.MetaData):
        self.organizations = sa.Table("known_organizations", metadata,
                                      sa.Column("organization_id", sa.String(36), primary_key=True))
        self.departments = sa.Table(
            "known_departments", metadata,
            sa.Column("department_id", sa.String(36), primary_key=True),
            sa.Column("organization_id", sa.String(36), nullable=False, index=True),
            sa.Column("name_key", sa.String(64), nullable=False))

    def apply(self, conn: sa.Connection, event: Envelope) -> None:
        p = event.payload
        match event.event_type:
            case "organization_created.v1":
                conn.execute(self.organizations.insert().values(organization_id=p["organization_id"]))
            case "organization_deleted.v1":
                conn.execute(self.organizations.delete()
                             .where(self.organizations.c.organization_id == p["organization_id"]))
            case "department_created.v1":
                conn.execute(self.departments.insert().values(department_id=p["department_id"],
                                                              organization_id=p["organization_id"],
                                                              name_key=p["name"].casefold()))
            case "department_renamed.v1":
                conn.execute(self.departments.update()
                             .where(self.departments.c.department_id == p["department_id"])
                             .values(name_key=p["name"].casefold()))
            case "department_deleted.v1":
                conn.execute(self.departments.delete()
                             .where(self.departments.c.department_id == p["department_id"]))

    def reset(self, conn: sa.Connection) -> None:
        conn.execute(self.departments.delete())
        conn.execute(self.organizations.delete())

    def snapshot(self, conn: sa.Connection) -> "OrgFacts":
        orgs = set(conn.execute(sa.select(self.organizations.c.organization_id)).scalars())
        depts = {r.department_id: (r.organization_id, r.name_key) for r in conn.execute(sa.select(self.departments))}
        return OrgFacts(orgs, depts)


class OrgFacts:
    """An in-memory copy of the index for one command: the pure rules ask it questions."""

    def __init__(self, organizations: set[str], departments: dict[str, tuple[str, str]]):
        self._organizations = organizations
        self._departments = departments

    def organization_exists(self, organization_id: str) -> bool:
        return str(organization_id) in self._organizations

    def dept_org(self, department_id: str) -> str | None:
        found = self._departments.get(str(department_id))
        return found[0] if found else None

    def department_named(self, organization_id: str, name: str) -> str | None:
        key = name.casefold()
        return next((d for d, (o, n) in self._departments.items() if o == organization_id and n == key), None)
