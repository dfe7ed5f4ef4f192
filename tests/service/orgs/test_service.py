"""OrgsService entrypoints with a real event store on SQLite (nameko's worker_factory; no mocks for the store)."""
import eventlet
import pytest
from nameko.testing.services import worker_factory

from contracts.errors import Conflict, InvalidRequest, NotFound
from contracts.orgs import OrganizationV1
from services.orgs.projections import OrganizationsView
from services.orgs.service import OrgsService
from services.runtime.db import make_database
from services.runtime.nameko_glue import StoreHandle
from services.runtime.store import EventStore
from tests import factories


@pytest.fixture
def store(tmp_path):
    s = EventStore(make_database(f"sqlite:///{tmp_path / 'orgs.sqlite3'}", None), "orgs", [OrganizationsView])
    s.create_schema()
    return s


@pytest.fixture
def orgs(store):
    return worker_factory(OrgsService, store=StoreHandle(store, factories.WorkerInfo()))


def test_create_returns_the_organization_and_records_who_did_it(orgs, store):
    result = orgs.create_organization(factories.organization(name="Acme"))
    assert result["organization"]["name"] == "Acme"
    assert result["organization"]["validation_status"] == "not_validated"
    [event] = store.read_events(0, 10)
    assert event.event_type == "organization_created.v1"
    assert event.metadata == {"correlation_id": "test-correlation", "actor": "admin:test", "causation_id": None}
    assert result["position"] == event.position


def test_organization_names_are_unique_in_any_case_and_the_loser_stores_nothing(orgs, store):
    orgs.create_organization(factories.organization(name="Acme"))
    with pytest.raises(Conflict) as refused:
        orgs.create_organization(factories.organization(name="ACME"))
    assert refused.value.code == "duplicate_name"
    assert store.head() == 1


def test_renaming_onto_another_organizations_name_is_refused(orgs, store):
    orgs.create_organization(factories.organization(name="Acme"))
    other = orgs.create_organization(factories.organization(name="Other"))["organization"]
    with pytest.raises(Conflict):
        orgs.update_organization(other["organization_id"], {"name": "acme"})
    assert store.head() == 2


def test_concurrent_creates_of_one_name_produce_one_organization(orgs, store):
    def create():
        try:
            return orgs.create_organization(factories.organization(name="Race"))
        except Conflict as exc:
            return exc

    results = [t.wait() for t in [eventlet.spawn(create) for _ in range(5)]]
    assert sum(isinstance(r, dict) for r in results) == 1
    assert store.head() == 1


def test_invalid_fields_are_refused_before_anything_is_stored(orgs, store):
    with pytest.raises(InvalidRequest) as refused:
        orgs.create_organization(factories.organization(country="Germany", colour="blue"))
    assert set(refused.value.details) == {"country", "colour"}
    assert store.head() == 0


def test_ev_details_are_stored_as_json(orgs):
    ev = {"business_category": "Private Organization", "incorporation_country": "DE",
          "date_of_incorporation": "2001-02-03", "registration_number": "HRB 1234"}
    org = orgs.create_organization(factories.organization(ev_details=ev))["organization"]
    assert org["ev_details"]["date_of_incorporation"] == "2001-02-03"


def test_unknown_ids_are_not_found(orgs):
    with pytest.raises(NotFound):
        orgs.get_organization("not-a-uuid")
    with pytest.raises(NotFound):
        orgs.create_department("6f1c2b1e-3c1a-4f3e-9a55-6d2f0d6f7f10", factories.department())


def test_departments_show_in_the_organization(orgs):
    org = orgs.create_organization(factories.organization())["organization"]
    dept = orgs.create_department(org["organization_id"], {"name": "Engineering"})["department"]
    found = orgs.get_organization(org["organization_id"])
    assert [d["name"] for d in found["departments"]] == ["Engineering"]
    assert OrganizationV1().validate(found) == {}   # the RPC answer keeps its contract
    assert orgs.get_department(org["organization_id"], dept["department_id"])["name"] == "Engineering"


def test_a_create_repeated_with_the_same_id_changes_nothing(orgs, store):
    body = factories.organization()
    first = orgs.create_organization(body, organization_id="6f1c2b1e-3c1a-4f3e-9a55-6d2f0d6f7f10")
    again = orgs.create_organization(body, organization_id="6f1c2b1e-3c1a-4f3e-9a55-6d2f0d6f7f10")
    assert first["organization"] == again["organization"]
    assert store.head() == 1


def test_read_events_serves_envelopes_in_position_order(orgs):
    org = orgs.create_organization(factories.organization())["organization"]
    orgs.create_department(org["organization_id"], factories.department())
    envelopes = orgs.read_events(0, 10)
    assert [e["position"] for e in envelopes] == [1, 2]
    assert [e["event_type"] for e in envelopes] == ["organization_created.v1", "department_created.v1"]
    assert envelopes[0]["source"] == "orgs" and envelopes[0]["actor"] == "admin:test"
    assert orgs.read_events(1, 10)[0]["position"] == 2
