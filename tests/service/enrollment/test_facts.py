"""Enrollment's read models of domains and orgs (services/enrollment/facts.py) give the answers the producers give.

The REAL domains and orgs services (nameko's worker_factory over real event stores on SQLite, as their own service
tests build them) go through a scenario in phases: delegations to an organization and to a department, pending,
rejected, removed, an inactive domain, wildcards and subdomains, DCV evidence fresh and expired by email, DNS and
HTTP, networks of both IP versions, certificate types, a renamed organization, a deleted department and
organization, a domain deleted and made again. After each phase the events they recorded so far are fed into
DomainFacts and OrgSubjects — on SQLite, and on PostgreSQL in a fresh schema when it answers — and every answer
for every (organization, department, type, name) must equal what domains' own `may_issue_names` (its projection
and contracts/coverage.py) and what enrollment's subject rule over orgs' `get_organization` answer. A rebuild
(reset, replay) gives the same answers, and a lookup stays a couple of indexed reads at 100k domains."""
from __future__ import annotations

import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from nameko.testing.services import worker_factory

from contracts.domains import MayIssueV1
from contracts.errors import InvalidRequest, NotFound
from services.domains import domain
from services.domains.commands import Caa, RecordCheck
from services.domains.events import decode as decode_domain_event
from services.enrollment.facts import DomainFacts, OrgSubjects
from services.orgs.projections import OrganizationsView
from services.orgs.service import OrgsService
from services.runtime.db import make_database
from services.runtime.entrypoint_helpers import decider
from services.runtime.nameko_glue import StoreHandle
from services.runtime.store import EventStore
from tests import factories
from tests.service.domains.test_service import build as build_domains

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=timezone.utc)
MRAO, RAO = "admin-mrao", "admin-rao"
ORG_A, ORG_B, ORG_C = (str(uuid.UUID(int=0xA << 120 | i)) for i in (1, 2, 3))
A1, A2, B1 = (str(uuid.UUID(int=0xD << 120 | i)) for i in (1, 2, 3))
UNKNOWN_ORG, UNKNOWN_DEPT = str(uuid.uuid4()), str(uuid.uuid4())

HOLDERS = [(ORG_A, None), (ORG_A, A1), (ORG_A, A2), (ORG_B, None), (ORG_B, B1), (ORG_A, B1), (ORG_C, None),
           (UNKNOWN_ORG, None)]
TYPES = ("ssl", "client", "code_signing")
NAMES = [
    "example.com", "www.example.com", "a.b.example.com", "*.example.com", "Bücher.Example.com.",
    "dept.example.org", "x.dept.example.org", "*.dept.example.org", "example.org",
    "pending.example.net", "rejected.example.net", "removed.example.net", "www.removed.example.net",
    "inactive.example.com", "www.inactive.example.com",
    "wild.example.com", "foo.wild.example.com", "*.wild.example.com", "a.foo.wild.example.com",
    "host.example.info", "www.host.example.info", "*.host.example.info",
    "client.example.com", "gone.example.com", "shop.example.com", "www.shop.example.com",
    "off.example.org", "www.off.example.org", "corp.internal", "printer.corp.internal", "nothing.invalid", "intranet",
    "10.20.1.5", "10.20.255.255", "10.21.0.0", "fd00:1::5", "FD00:0001:0000::7", "[fd00:1::9]", "fd00:2::1",
    "10.30.0.9", "192.168.0.1", "10.40.0.1", "172.16.5.5", "172.31.255.255", "10.50.0.1", "2001:db8::1",
    "2001:db8:ffff::1", "10.99.0.1",
]
SUBJECT_ORGS = [ORG_A, ORG_B, ORG_C, UNKNOWN_ORG]
SUBJECT_DEPTS = [None, A1, A2, B1, UNKNOWN_DEPT]


def delegated(organization, department=None, types=("ssl",)):
    return {"organization_id": organization, "department_id": department, "cert_types": list(types)}


# ---- the scenario, run once through the real services --------------------------------------------------------

class World:
    """The two services, their stores, and after each phase: the heads and the producers' answers."""

    def __init__(self, base):
        self.domains, self.domain_store = build_domains(base / "domains", dns_resolver="127.0.0.1:9",
                                                        rpc_timeout=2.0)
        self.domain_store.clock = lambda: NOW
        self.org_store = EventStore(make_database(f"sqlite:///{base / 'orgs.sqlite3'}", None), "orgs",
                                    [OrganizationsView])
        self.org_store.create_schema()
        self.orgs = worker_factory(OrgsService, store=StoreHandle(self.org_store, factories.WorkerInfo()))
        self.phases: list[dict] = []
        self.ids: dict[str, str] = {}

    def snapshot(self) -> None:
        """What the producers answer now, for every question asked of the read models."""
        self.phases.append({
            "domains_head": self.domain_store.head(), "orgs_head": self.org_store.head(),
            "answers": {(org, dept, t): self.domains.may_issue_names(org, dept, t, NAMES)
                        for org, dept in HOLDERS for t in TYPES},
            "subjects": {(org, dept): outcome(lambda: self.subject_from_orgs(org, dept))
                         for org in SUBJECT_ORGS for dept in SUBJECT_DEPTS}})

    def subject_from_orgs(self, organization_id, department_id) -> dict:
        """Enrollment's subject rule over orgs' RPC (services/enrollment/service.py _subject, before the facts)."""
        organization = self.orgs.get_organization(organization_id)
        department = None
        if department_id is not None:
            department = next((d for d in organization["departments"] if d["department_id"] == department_id), None)
            if department is None:
                raise NotFound.of("department", department_id)
        return {"organization": organization["name"],
                "organizational_unit": department["name"] if department else None,
                "country": organization["country"], "state": organization["state"],
                "locality": organization["city"]}

    # ---- domains helpers ----------------------------------------------------------------------------------
    def domain(self, key, name, delegations=(), requested_by=MRAO, approved=True, active=True):
        made = self.domains.create_domain({"name": name, "active": active, "delegations": list(delegations)},
                                          requested_by, approved)["domain"]
        self.ids[key] = made["domain_id"]
        for i, d in enumerate(made["delegations"]):
            self.ids[f"{key}/{i}"] = d["delegation_id"]
        return made

    def network(self, key, cidr, delegations=(), requested_by=MRAO, approved=True):
        made = self.domains.create_network({"cidr": cidr, "delegations": list(delegations)}, requested_by,
                                           approved)["network"]
        self.ids[key] = made["network_id"]
        for i, d in enumerate(made["delegations"]):
            self.ids[f"{key}/{i}"] = d["delegation_id"]
        return made

    def validate(self, key, method, at=NOW, email=None):
        """Evidence as domains records it: start_dcv, then the check's outcome through decide_record_check at
        `at` (a moment long past gives evidence that has expired by NOW)."""
        domain_id = self.ids[key]
        fields = {"method": method, **({"email_address": email} if email else {})}
        dcv_id = self.domains.start_dcv(domain_id, fields, MRAO)["dcv_id"]
        found = self.domains.get_domain(domain_id)
        caa = Caa(True, "no_records", None, "no CAA records", found["name"], None, ())
        cmd = RecordCheck(domain_id, dcv_id, True, None, "proven", caa, at, 200)
        result = self.domain_store.execute(f"domain-{domain_id}",
                                           decider(domain.fold, decode_domain_event, domain.decide_record_check,
                                                   cmd))
        assert [e.event_type for e in result.events] == ["dcv_validated.v1"]

    # ---- the phases ---------------------------------------------------------------------------------------
    def run(self) -> "World":
        orgs = self.orgs
        orgs.create_organization(factories.organization(name="Acme", city="Springfield", state="Illinois",
                                                        country="US"), ORG_A)
        orgs.create_organization(factories.organization(name="Beta", city="Munich", state="Bavaria",
                                                        country="DE"), ORG_B)
        orgs.create_organization(factories.organization(name="Gamma"), ORG_C)
        orgs.create_department(ORG_A, {"name": "Engineering"}, A1)
        orgs.create_department(ORG_A, {"name": "Sales"}, A2)
        orgs.create_department(ORG_B, {"name": "Research"}, B1)

        self.domain("d1", "example.com", [delegated(ORG_A)])
        self.domain("d2", "dept.example.org", [delegated(ORG_A, A1, ("ssl", "client"))])
        self.domain("d3", "pending.example.net", [delegated(ORG_A)], RAO, False)
        self.domain("d4", "rejected.example.net", [delegated(ORG_A)], RAO, False)
        self.domain("d5", "removed.example.net", [delegated(ORG_B)])
        self.domain("d6", "inactive.example.com", [delegated(ORG_A)])
        self.domain("d7", "*.wild.example.com", [delegated(ORG_B)])
        self.domain("d8", "host.example.info", [delegated(ORG_A)])
        self.domain("d9", "client.example.com", [delegated(ORG_B, None, ("client",))])
        self.domain("d10", "gone.example.com", [delegated(ORG_A)], RAO, False)
        self.domain("d11", "shop.example.com", [delegated(ORG_B)])
        self.domains.add_delegation(self.ids["d11"], delegated(ORG_A, A2, ("code_signing", "ssl")), RAO, False)
        self.domain("d12", "corp.internal", [delegated(ORG_A, A1), delegated(ORG_A, None, ("client",))])
        self.domain("d13", "off.example.org", [delegated(ORG_B)], active=False)
        self.network("n1", "10.20.0.0/16", [delegated(ORG_A)])
        self.network("n2", "fd00:1::/48", [delegated(ORG_A, A1)])
        self.network("n3", "10.30.0.0/24", [delegated(ORG_B)], RAO, False)
        self.network("n4", "192.168.0.0/24", [delegated(ORG_A)], RAO, False)
        self.network("n5", "10.40.0.0/16", [delegated(ORG_A, None, ("ssl", "client"))])
        self.network("n6", "172.16.0.0/12", [delegated(ORG_B, None, ("client",))])
        self.network("n7", "10.50.0.0/16", [delegated(ORG_A)])
        self.network("n8", "2001:db8::/32", [delegated(ORG_B), delegated(ORG_A, A1, ("client",))])
        self.validate("d1", "email", email="admin@example.com")
        self.validate("d2", "txt", at=NOW - timedelta(days=300))
        self.validate("d8", "http")
        self.validate("d7", "email", email="hostmaster@wild.example.com")
        self.validate("d11", "cname")
        self.snapshot()

        ids, domains = self.ids, self.domains
        orgs.update_organization(ORG_A, {"name": "Acme Holdings", "city": "Chicago"})
        orgs.update_department(ORG_A, A1, {"name": "R&D"})
        orgs.delete_department(ORG_A, A2)
        orgs.delete_organization(ORG_C)
        domains.decide_delegation(ids["d4"], ids["d4/0"], MRAO, False, {"reason": "not theirs"})
        domains.remove_delegation(ids["d5"], ids["d5/0"])
        domains.update_domain(ids["d6"], {"active": False})
        domains.decide_delegation(ids["d10"], ids["d10/0"], MRAO, False)
        domains.delete_domain(ids["d10"])
        self.domain("d10b", "gone.example.com", [delegated(ORG_B)])
        shop = domains.get_domain(ids["d11"])
        a2_request = next(d["delegation_id"] for d in shop["delegations"] if d["department_id"] == A2)
        domains.decide_delegation(ids["d11"], a2_request, MRAO, True)
        self.validate("d1", "txt", at=NOW - timedelta(days=250))     # newer evidence, expired by NOW
        self.validate("d2", "email", email="webmaster@dept.example.org")               # fresh again
        domains.decide_network_delegation(ids["n3"], ids["n3/0"], MRAO, True)
        domains.decide_network_delegation(ids["n4"], ids["n4/0"], MRAO, False)
        domains.update_network(ids["n5"], {"active": False})
        domains.remove_network_delegation(ids["n7"], ids["n7/0"])
        domains.delete_network(ids["n7"])
        self.network("n7b", "10.50.0.0/24", [delegated(ORG_B)])
        self.snapshot()

        domains.update_domain(ids["d6"], {"active": True})
        domains.update_domain(ids["d13"], {"description": "still off"})
        domains.update_domain(ids["d13"], {"active": True})
        domains.update_network(ids["n5"], {"active": True, "description": "back"})
        domains.add_network_delegation(ids["n6"], delegated(ORG_B, B1, ("ssl",)), MRAO, True)
        orgs.update_organization(ORG_B, {"state": "Bayern"})
        self.snapshot()
        return self


def outcome(call):
    try:
        return call()
    except NotFound as exc:
        return ("NotFound", exc.details)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return World(tmp_path_factory.mktemp("facts-world")).run()


# ---- enrollment's database: SQLite, or a fresh PostgreSQL schema ----------------------------------------------

class Facts:
    def __init__(self, db):
        self.db = db
        self.metadata = sa.MetaData(schema=db.schema)
        self.domains = DomainFacts(self.metadata)
        self.orgs = OrgSubjects(self.metadata)
        db.create_tables(self.metadata)
        self.domains_at = self.orgs_at = 0

    def feed(self, world: World, domains_until: int, orgs_until: int) -> None:
        """Apply the producers' envelopes up to the given heads, each in its own transaction (as a follower
        applies a push), in position order."""
        for store, projection, after, until in (
                (world.domain_store, self.domains, self.domains_at, domains_until),
                (world.org_store, self.orgs, self.orgs_at, orgs_until)):
            for record in store.read_events(after, until - after):
                with self.db.writer() as conn, conn.begin():
                    projection.apply(conn, record.envelope(store.source))
        self.domains_at, self.orgs_at = domains_until, orgs_until

    def answers(self) -> dict:
        with self.db.engine.connect() as conn:
            return {(org, dept, t): self.domains.may_issue_names(conn, org, dept, t, NAMES, NOW)
                    for org, dept in HOLDERS for t in TYPES}

    def subjects(self) -> dict:
        with self.db.engine.connect() as conn:
            return {(org, dept): outcome(lambda: self.orgs.subject(conn, org, dept))
                    for org in SUBJECT_ORGS for dept in SUBJECT_DEPTS}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def facts(request, tmp_path):
    if request.param == "sqlite":
        db = make_database(f"sqlite:///{tmp_path / 'enrollment.sqlite3'}", None)
        yield Facts(db)
        db.dispose()
        return
    from tests.support import PG_ADMIN_URL, postgres_reachable, unavailable
    problem = postgres_reachable()
    if problem:
        unavailable(problem)
    schema = f"facts_test_{uuid.uuid4().hex[:12]}"
    db = make_database(PG_ADMIN_URL.replace("postgresql://", "postgresql+psycopg://"), schema)
    try:
        yield Facts(db)
    finally:
        with db.engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        db.dispose()


# ---- the answers agree, phase by phase -------------------------------------------------------------------------

def test_every_answer_equals_the_producers_answer_after_each_phase(world, facts):
    for number, phase in enumerate(world.phases, start=1):
        facts.feed(world, phase["domains_head"], phase["orgs_head"])
        answers = facts.answers()
        for question, expected in phase["answers"].items():
            assert answers[question] == expected, f"phase {number}, {question}"
        assert facts.subjects() == phase["subjects"], f"phase {number}"


def test_the_scenario_covers_every_kind_of_answer(world):
    """Guards the comparison above against a scenario that no longer exercises what it claims to."""
    seen = [a for phase in world.phases for answers in phase["answers"].values() for a in answers.values()]
    assert all(MayIssueV1().validate(a) == {} for a in seen[:200])
    assert {a["reason"] for a in seen if a["domain_id"] or a["dcv_status"] != "not_applicable"} >= {
        None, "not_delegated", "delegation_pending", "not_delegated_for_type", "domain_inactive"}
    assert {a["dcv_status"] for a in seen} == {"validated", "expired", "not_validated", "not_applicable"}
    addresses = [a for a in seen if a["dcv_status"] == "not_applicable"]
    assert any(a["allowed"] for a in addresses) and any("awaits approval" in (a["reason"] or "") for a in addresses)
    assert any("inactive" in (a["reason"] or "") for a in addresses)
    assert any(a["allowed"] and ":" in a["name"] for a in addresses)                    # IPv6
    subjects = [s for phase in world.phases for s in phase["subjects"].values()]
    assert {s[1]["kind"] for s in subjects if isinstance(s, tuple)} == {"organization", "department"}
    assert {s["organization"] for s in subjects if isinstance(s, dict)} >= {"Acme", "Acme Holdings", "Beta"}
    final = world.phases[-1]["subjects"]
    assert final[(ORG_A, A1)]["organizational_unit"] == "R&D" and final[(ORG_A, A2)][1]["kind"] == "department"
    assert final[(ORG_C, None)][1]["kind"] == "organization"


def test_a_rebuild_gives_the_same_answers(world, facts):
    last = world.phases[-1]
    facts.feed(world, last["domains_head"], last["orgs_head"])
    before = facts.answers(), facts.subjects()
    with facts.db.writer() as conn, conn.begin():
        facts.domains.reset(conn)
        facts.orgs.reset(conn)
    with facts.db.engine.connect() as conn:
        for table in facts.metadata.sorted_tables:
            assert conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one() == 0, table.name
    emptied = facts.answers()
    assert not any(a["allowed"] for answers in emptied.values() for a in answers.values())
    facts.domains_at = facts.orgs_at = 0
    facts.feed(world, last["domains_head"], last["orgs_head"])
    assert (facts.answers(), facts.subjects()) == before
    assert before[0] == last["answers"] and before[1] == last["subjects"]


def test_a_name_that_is_no_name_is_refused_as_the_rpc_refuses_it(world, facts):
    for bad in ("exa mple.com", "fe80::1%eth0", "com"):
        with pytest.raises(InvalidRequest) as ours:
            with facts.db.engine.connect() as conn:
                facts.domains.may_issue_names(conn, ORG_A, None, "ssl", ["example.com", bad], NOW)
        with pytest.raises(InvalidRequest) as theirs:
            world.domains.may_issue_names(ORG_A, None, "ssl", ["example.com", bad])
        assert (ours.value.code, ours.value.details) == (theirs.value.code, theirs.value.details)


def test_events_of_other_types_are_ignored(facts):
    from services.runtime.events import Envelope
    with facts.db.writer() as conn, conn.begin():
        for event_type in ("dcv_started.v1", "dcv_failed.v1", "organization_validation_changed.v1",
                           "ssl_requested.v1"):
            envelope = Envelope(str(uuid.uuid4()), event_type, "domains", "x", 1, 1, NOW, None, None, None, {})
            facts.domains.apply(conn, envelope)
            facts.orgs.apply(conn, envelope)


# ---- at scale ------------------------------------------------------------------------------------------------

def test_a_lookup_is_a_couple_of_indexed_reads_at_100k_domains(tmp_path):
    db = make_database(f"sqlite:///{tmp_path / 'big.sqlite3'}", None)
    metadata = sa.MetaData()
    facts, subjects = DomainFacts(metadata), OrgSubjects(metadata)
    db.create_tables(metadata)
    count = 100_000
    with db.writer() as conn, conn.begin():
        conn.execute(facts.domains.insert(), [{"domain_id": f"d-{i}", "name": f"host{i}.example{i % 97}.com",
                                               "active": True} for i in range(count)])
        conn.execute(facts.domain_grants.insert(), [
            {"delegation_id": f"g-{i}", "cert_type": "ssl", "domain_id": f"d-{i}", "organization_id": ORG_A,
             "department_id": None, "status": "approved"} for i in range(count)])
        conn.execute(subjects.organizations.insert(), [{"organization_id": f"o-{i}", "name": f"Org {i}",
                                                        "country": "US", "state": "Illinois", "city": "Chicago"}
                                                       for i in range(count // 10)])
    with db.engine.connect() as conn:
        for query in (_compiled(conn, facts.domains.c.name.in_(["a.example.com", "example.com"]), facts),
                      f"SELECT name FROM facts_organizations WHERE organization_id = 'o-5'"):
            plan = " ".join(str(r[-1]) for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {query}"))
            assert "SCAN facts_domains" not in plan and "SCAN facts_domain_grants" not in plan, plan
            assert "SCAN facts_organizations" not in plan, plan
        asked = [f"www.host{i}.example{i % 97}.com" for i in range(0, count, count // 200)]
        started = time.perf_counter()
        for name in asked:
            answer = facts.may_issue_names(conn, ORG_A, None, "ssl", [name, "10.0.0.1"], NOW)[name]
            assert answer["allowed"], answer
        per_lookup = (time.perf_counter() - started) / len(asked)
        assert subjects.subject(conn, "o-5", None)["organization"] == "Org 5"
    db.dispose()
    print(f"{per_lookup * 1000:.3f} ms per lookup (2 names) at {count} domains")
    assert per_lookup < 0.02, f"{per_lookup * 1000:.2f} ms per lookup"


def _compiled(conn, clause, facts: DomainFacts) -> str:
    d, g = facts.domains, facts.domain_grants
    query = sa.select(d.c.domain_id, g.c.cert_type).select_from(d.outerjoin(g, g.c.domain_id == d.c.domain_id)) \
        .where(clause)
    return str(query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
