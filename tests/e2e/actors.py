"""The world and the actors of the access tests, all made through the API by the initial MRAO, and a look at
identity's own event log (which no API shows) to prove that a refused command left nothing behind."""
from __future__ import annotations

import itertools
import sqlite3
from dataclasses import dataclass, field

from tests import factories
from tests.e2e.conftest import Api, Embedded

ORGS = "/api/v1/organizations"
ADMINS = "/api/v1/admins"
PERSONS = "/api/v1/persons"

_n = itertools.count(1)


def unique(prefix: str) -> str:
    return f"{prefix}{next(_n)}"


# ---- roles as the API spells them ----------------------------------------------------------------------------

def mrao() -> dict:
    return {"role": "MRAO"}


def rao(cert_type: str, *organization_ids: str) -> dict:
    return {"role": "RAO", "cert_type": cert_type, "organization_ids": list(organization_ids)}


def drao(cert_type: str, *department_ids: str) -> dict:
    return {"role": "DRAO", "cert_type": cert_type, "department_ids": list(department_ids)}


def admin_body(username: str, roles: list[dict], privileges=(), password: str | None = "a fine long passphrase"):
    body = {"username": username, "email": f"{username}@example.com", "forename": "Test", "surname": "Admin",
            "roles": roles, "privileges": list(privileges)}
    if password is not None:
        body["password"] = password
    return body


def person_body(organization_id: str, department_id: str | None = None, **overrides) -> dict:
    body = {"organization_id": organization_id, "department_id": department_id,
            "email": f"{unique('person')}@example.com", "first_name": "Pat", "last_name": "Person"}
    body.update(overrides)
    return body


def error_of(response) -> dict:
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "details", "correlation_id"}, body
    return body["error"]


# ---- identity's event log ------------------------------------------------------------------------------------

def identity_events(embedded: Embedded) -> list[tuple[int, str, str]]:
    """(position, stream_id, event_type) of every event identity has recorded, read from its SQLite store."""
    path = embedded.var_dir / "identity.sqlite3"
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10) as conn:
        return conn.execute("SELECT position, stream_id, event_type FROM events ORDER BY position").fetchall()


# ---- the world ---------------------------------------------------------------------------------------------

@dataclass
class Actor:
    name: str
    record: dict
    api: Api

    @property
    def admin_id(self) -> str:
        return self.record["admin_id"]


@dataclass
class World:
    """Org A (departments A1, A2), org B (department B1), persons in A (no department), A1 and B1, and the six
    actors of the matrix. `root` is the initial MRAO that made all of it."""
    embedded: Embedded
    root: Api
    orgs: dict[str, str] = field(default_factory=dict)          # "A" -> organization id
    departments: dict[str, str] = field(default_factory=dict)   # "A1" -> department id
    persons: dict[str, str] = field(default_factory=dict)       # "A", "A1", "B1" -> person id
    actors: dict[str, Actor] = field(default_factory=dict)

    def org_of(self, department: str) -> str:
        return self.orgs[department[0]]

    def department_path(self, department: str) -> str:
        return f"{ORGS}/{self.org_of(department)}/departments/{self.departments[department]}"

    # fresh objects for tests that change or delete them (made by the initial MRAO)
    def new_org(self) -> str:
        organization_id = self.root.create_org(factories.organization(name=unique("Fresh org ")))["organization_id"]
        self.root.delegate_mail_domains(organization_id, ("example.com",))     # persons' emails are there
        return organization_id

    def new_department(self, org: str) -> str:
        created = self.root("POST", f"{ORGS}/{self.orgs[org]}/departments", json={"name": unique("Fresh dept ")})
        assert created.status_code == 201, created.text
        return created.json()["department_id"]

    def new_person(self, org: str, department: str | None = None) -> str:
        body = person_body(self.orgs[org], self.departments[department] if department else None)
        created = self.root("POST", PERSONS, json=body)
        assert created.status_code == 201, created.text
        return created.json()["person_id"]

    def new_admin(self, roles: list[dict], privileges=(), creator: Api | None = None) -> dict:
        created = (creator or self.root)("POST", ADMINS, json=admin_body(unique("fresh"), roles, privileges))
        assert created.status_code == 201, created.text
        return created.json()

    def role(self, spec: str) -> dict:
        """'MRAO', 'RAO ssl A', 'DRAO client B1', 'RAO ssl A+B' ... as a role of the API."""
        words = spec.split()
        if words[0] == "MRAO":
            return mrao()
        kind, cert_type, where = words
        if kind == "RAO":
            return rao(cert_type, *(self.orgs[o] for o in where.split("+")))
        return drao(cert_type, *(self.departments[d] for d in where.split("+")))

    def admin_exists(self, admin_id: str) -> bool:
        return self.root("GET", f"{ADMINS}/{admin_id}").status_code == 200

    def usernames(self) -> set[str]:
        listed = self.root("GET", ADMINS, params={"size": 200})
        assert listed.status_code == 200 and listed.json()["total"] <= 200, listed.text
        return {a["username"] for a in listed.json()["items"]}


ACTOR_ROLES = {
    # name in the tables          roles                       privileges
    "MRAO":                     (["MRAO"],                    []),
    "RAO SSL A":                (["RAO ssl A"],               []),
    "RAO Client A":             (["RAO client A"],            []),
    "DRAO SSL A1":              (["DRAO ssl A1"],             []),
    "DRAO Client B1":           (["DRAO client B1"],          []),
    "API-only RAO SSL A":       (["RAO ssl A"],               ["ws_api_only"]),
}


def build_world(embedded: Embedded) -> World:
    root = embedded.api
    world = World(embedded, root)
    suffix = unique("")
    for org, departments in (("A", ("A1", "A2")), ("B", ("B1",))):
        world.orgs[org] = root.create_org(factories.organization(name=f"Matrix org {org} {suffix}"))["organization_id"]
        root.delegate_mail_domains(world.orgs[org], ("example.com",))          # persons' emails are there
        for department in departments:
            created = root("POST", f"{ORGS}/{world.orgs[org]}/departments", json={"name": department})
            assert created.status_code == 201, created.text
            world.departments[department] = created.json()["department_id"]
    for where in ("A", "A1", "B1"):
        department = where if len(where) > 1 else None
        world.persons[where] = world.new_person(where[0], department)
    for name, (roles, privileges) in ACTOR_ROLES.items():
        username = unique(name.lower().replace(" ", "-").replace("api-only-", "api-") + "-")
        record, acting = make_admin(embedded, username, [world.role(r) for r in roles], privileges)
        world.actors[name] = Actor(name, record, acting)
    return world


def make_admin(embedded: Embedded, username: str, roles: list[dict], privileges=(), creator: Api | None = None,
               password: str = "initial secret phrase") -> tuple[dict, Api]:
    """Like conftest's Embedded.admin — (record, an Api acting as the admin, first-login change done; an API key
    for an API-only admin) — but with known passwords (`password`, then SECOND_PASSWORD), which the
    authentication tests log in with."""
    creator = creator or embedded.api
    api_only = "ws_api_only" in privileges
    created = creator("POST", ADMINS, json=admin_body(username, roles, privileges,
                                                     None if api_only else password))
    assert created.status_code == 201, created.text
    record = created.json()
    if record["status"] != "active":
        return record, embedded.api.as_token(None)
    if api_only:
        issued = embedded.api("POST", f"{ADMINS}/{record['admin_id']}/api-keys", json={"name": "tests"})
        assert issued.status_code == 201, issued.text
        return record, embedded.api.as_token(issued.json()["key"])
    token = embedded.api.login(username, password)
    changed = embedded.api.as_token(token)("POST", "/api/v1/auth/password", json={
        "current_password": password, "new_password": SECOND_PASSWORD})
    assert changed.status_code == 204, changed.text
    return record, embedded.api.as_token(token)


SECOND_PASSWORD = "second secret phrase"
