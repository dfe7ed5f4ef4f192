"""Who sees and does what, through HTTP (issue 3; DESIGN §1, §6).

Each table row reads as: this actor, doing this to this target, sees this answer. Out of scope is 404 and absent
from lists and counts; visible but without the right is 403 naming the missing right; allowed is 2xx. A refusal
changes nothing. The world (tests/e2e/actors.py): org A with departments A1 and A2, org B with B1, persons in A
(no department), A1 and B1; every actor below is made by the initial MRAO."""
import pytest

from tests import factories
from tests.e2e.actors import (ADMINS, ORGS, PERSONS, admin_body, build_world, error_of, identity_events,
                              make_admin, person_body, unique)

MRAO = "MRAO"
RAO_SSL_A = "RAO SSL A"
RAO_CLIENT_A = "RAO Client A"
DRAO_SSL_A1 = "DRAO SSL A1"
DRAO_CLIENT_B1 = "DRAO Client B1"
API_ONLY = "API-only RAO SSL A"


def denied(missing: str) -> tuple[int, str]:
    """403, and the error's details name `missing`."""
    return 403, missing


NEEDS_MRAO = denied("role MRAO")
NEEDS_ORG_RAO = denied("role RAO for the organization")
NEEDS_PERSON_ROLE = denied("role RAO/DRAO client or code_signing here")
OUT_OF_OWN_ROLES = denied("scope:")
PEER_CREATE = denied("privilege create_peer_admins")
PEER_EDIT = denied("privilege edit_peer_admins")
PEER_DELETE = denied("privilege delete_peer_admins")


@pytest.fixture(scope="module")
def world(embedded):
    return build_world(embedded)


def check(response, expected) -> bool:
    """Assert the answer; True when the request was allowed."""
    if isinstance(expected, tuple):
        status, missing = expected
        assert response.status_code == status, response.text
        error = error_of(response)
        assert error["code"] == "forbidden", error
        assert missing in str(error["details"]["missing"]), error
        return False
    assert response.status_code == expected, response.text
    if expected == 404:
        assert error_of(response)["code"] == "not_found"
        return False
    return True


def listed(api, path, **params):
    response = api("GET", path, params={"size": 200, **params})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["total"] == int(response.headers["X-Total-Count"]) == len(body["items"]), body
    return body["items"]


# ---- organizations ------------------------------------------------------------------------------------------

ORGANIZATIONS = [
    # actor             action      target  expected
    (MRAO,              "read",     "A",    200),
    (MRAO,              "read",     "B",    200),
    (MRAO,              "create",   None,   201),
    (MRAO,              "edit",     "A",    200),
    (MRAO,              "delete",   "new",  204),
    (MRAO,              "validate", "new",  200),
    (RAO_SSL_A,         "read",     "A",    200),
    (RAO_SSL_A,         "read",     "B",    404),
    (RAO_SSL_A,         "create",   None,   NEEDS_MRAO),
    (RAO_SSL_A,         "edit",     "A",    NEEDS_MRAO),
    (RAO_SSL_A,         "edit",     "B",    404),
    (RAO_SSL_A,         "delete",   "A",    NEEDS_MRAO),
    (RAO_SSL_A,         "delete",   "B",    404),
    (RAO_SSL_A,         "validate", "A",    NEEDS_MRAO),
    (RAO_CLIENT_A,      "read",     "A",    200),
    (RAO_CLIENT_A,      "read",     "B",    404),
    (RAO_CLIENT_A,      "create",   None,   NEEDS_MRAO),
    (RAO_CLIENT_A,      "edit",     "A",    NEEDS_MRAO),
    (RAO_CLIENT_A,      "delete",   "A",    NEEDS_MRAO),
    (DRAO_SSL_A1,       "read",     "A",    200),        # the organization of its department
    (DRAO_SSL_A1,       "read",     "B",    404),
    (DRAO_SSL_A1,       "create",   None,   NEEDS_MRAO),
    (DRAO_SSL_A1,       "edit",     "A",    NEEDS_MRAO),
    (DRAO_SSL_A1,       "delete",   "A",    NEEDS_MRAO),
    (DRAO_SSL_A1,       "validate", "B",    404),
    (DRAO_CLIENT_B1,    "read",     "B",    200),
    (DRAO_CLIENT_B1,    "read",     "A",    404),
    (DRAO_CLIENT_B1,    "create",   None,   NEEDS_MRAO),
    (DRAO_CLIENT_B1,    "edit",     "B",    NEEDS_MRAO),
    (DRAO_CLIENT_B1,    "edit",     "A",    404),
    (DRAO_CLIENT_B1,    "delete",   "A",    404),
    (API_ONLY,          "read",     "A",    200),
    (API_ONLY,          "read",     "B",    404),
    (API_ONLY,          "create",   None,   NEEDS_MRAO),
    (API_ONLY,          "edit",     "A",    NEEDS_MRAO),
    (API_ONLY,          "delete",   "B",    404),
]


@pytest.mark.parametrize("actor,action,target,expected", ORGANIZATIONS)
def test_organizations(world, actor, action, target, expected):
    api, root = world.actors[actor].api, world.root
    organization_id = world.new_org() if target == "new" else world.orgs.get(target)
    path = f"{ORGS}/{organization_id}"
    before, count = (root("GET", path).json() if organization_id else None), root.count_orgs()
    response = {
        "read": lambda: api("GET", path),
        "create": lambda: api("POST", ORGS, json=factories.organization(name=unique("Made by actor "))),
        "edit": lambda: api("PATCH", path, json={"city": unique("City ")}),
        "delete": lambda: api("DELETE", path),
        "validate": lambda: api("POST", f"{path}/validation/start"),
    }[action]()
    allowed = check(response, expected)
    if allowed and action == "create":
        assert root.count_orgs() == count + 1
    elif allowed and action == "delete":
        assert root("GET", path).status_code == 404
    elif allowed and action == "read":
        assert response.json()["organization_id"] == organization_id
    elif allowed and action in ("edit", "validate"):
        assert root("GET", path).json() == response.json()
    else:
        assert root.count_orgs() == count
        if before is not None:
            assert root("GET", path).json() == before


@pytest.mark.parametrize("actor,sees", [
    (MRAO,           {"A", "B"}),
    (RAO_SSL_A,      {"A"}),
    (RAO_CLIENT_A,   {"A"}),
    (DRAO_SSL_A1,    {"A"}),
    (DRAO_CLIENT_B1, {"B"}),
    (API_ONLY,       {"A"}),
])
def test_organization_list_and_count_hold_exactly_the_scope(world, actor, sees):
    api = world.actors[actor].api
    expected = {world.orgs[o] for o in sees}
    mine = [o["organization_id"] for o in listed(api, ORGS, q="Matrix org")]
    assert set(mine) == expected and len(mine) == len(expected)
    everything = listed(api, ORGS)
    head = api("HEAD", ORGS)
    assert head.status_code == 200
    if actor == MRAO:
        assert expected <= {o["organization_id"] for o in everything}
        assert int(head.headers["X-Total-Count"]) == world.root.count_orgs()
    else:
        assert {o["organization_id"] for o in everything} == expected
        assert int(head.headers["X-Total-Count"]) == len(expected)


# ---- departments --------------------------------------------------------------------------------------------

DEPARTMENTS = [
    # actor             action      target      expected
    (MRAO,              "read",     "B1",       200),
    (MRAO,              "create",   "B",        201),
    (MRAO,              "edit",     "B1",       200),
    (MRAO,              "delete",   "new in B", 204),
    (RAO_SSL_A,         "read",     "A1",       200),
    (RAO_SSL_A,         "read",     "A2",       200),
    (RAO_SSL_A,         "read",     "B1",       404),
    (RAO_SSL_A,         "create",   "A",        201),
    (RAO_SSL_A,         "create",   "B",        404),
    (RAO_SSL_A,         "edit",     "A1",       200),
    (RAO_SSL_A,         "edit",     "B1",       404),
    (RAO_SSL_A,         "delete",   "new in A", 204),
    (RAO_SSL_A,         "delete",   "new in B", 404),
    (RAO_CLIENT_A,      "read",     "A2",       200),
    (RAO_CLIENT_A,      "read",     "B1",       404),
    (RAO_CLIENT_A,      "create",   "A",        201),
    (RAO_CLIENT_A,      "edit",     "A2",       200),
    (RAO_CLIENT_A,      "delete",   "new in A", 204),
    (DRAO_SSL_A1,       "read",     "A1",       200),
    (DRAO_SSL_A1,       "read",     "A2",       404),
    (DRAO_SSL_A1,       "read",     "B1",       404),
    (DRAO_SSL_A1,       "create",   "A",        NEEDS_ORG_RAO),
    (DRAO_SSL_A1,       "create",   "B",        404),
    (DRAO_SSL_A1,       "edit",     "A1",       NEEDS_ORG_RAO),
    (DRAO_SSL_A1,       "edit",     "A2",       404),
    (DRAO_SSL_A1,       "delete",   "A1",       NEEDS_ORG_RAO),
    (DRAO_SSL_A1,       "delete",   "new in A", 404),
    (DRAO_CLIENT_B1,    "read",     "B1",       200),
    (DRAO_CLIENT_B1,    "read",     "A1",       404),
    (DRAO_CLIENT_B1,    "create",   "B",        NEEDS_ORG_RAO),
    (DRAO_CLIENT_B1,    "create",   "A",        404),
    (DRAO_CLIENT_B1,    "edit",     "B1",       NEEDS_ORG_RAO),
    (DRAO_CLIENT_B1,    "edit",     "A1",       404),
    (DRAO_CLIENT_B1,    "delete",   "B1",       NEEDS_ORG_RAO),
    (DRAO_CLIENT_B1,    "delete",   "new in A", 404),
    (API_ONLY,          "read",     "A1",       200),
    (API_ONLY,          "read",     "B1",       404),
    (API_ONLY,          "create",   "A",        201),
    (API_ONLY,          "edit",     "A2",       200),
    (API_ONLY,          "delete",   "new in A", 204),
    (API_ONLY,          "delete",   "new in B", 404),
]


@pytest.mark.parametrize("actor,action,target,expected", DEPARTMENTS)
def test_departments(world, actor, action, target, expected):
    api, root = world.actors[actor].api, world.root
    if action == "create":
        org = target
        path = f"{ORGS}/{world.orgs[org]}/departments"
    else:
        org = target[-1] if target.startswith("new") else target[0]
        department_id = world.new_department(org) if target.startswith("new") else world.departments[target]
        path = f"{ORGS}/{world.orgs[org]}/departments/{department_id}"
    departments = f"{ORGS}/{world.orgs[org]}/departments"
    before = listed(root, departments)
    response = {
        "read": lambda: api("GET", path),
        "create": lambda: api("POST", path, json={"name": unique("Made by actor ")}),
        "edit": lambda: api("PATCH", path, json={"name": unique(f"{target} renamed ")}),
        "delete": lambda: api("DELETE", path),
    }[action]()
    allowed = check(response, expected)
    after = listed(root, departments)
    if allowed and action == "create":
        assert len(after) == len(before) + 1
    elif allowed and action == "delete":
        assert root("GET", path).status_code == 404 and len(after) == len(before) - 1
    elif allowed and action == "edit":
        assert root("GET", path).json()["name"] == response.json()["name"]
    elif allowed:
        assert response.json()["department_id"] == department_id
    else:
        assert after == before


@pytest.mark.parametrize("actor,org,sees", [
    (MRAO,           "A", "all"),
    (RAO_SSL_A,      "A", "all"),
    (RAO_CLIENT_A,   "A", "all"),
    (API_ONLY,       "A", "all"),
    (DRAO_SSL_A1,    "A", {"A1"}),
    (DRAO_CLIENT_B1, "B", {"B1"}),
    (DRAO_CLIENT_B1, "A", 404),
    (RAO_SSL_A,      "B", 404),
])
def test_department_lists_and_counts_hold_exactly_the_scope(world, actor, org, sees):
    api = world.actors[actor].api
    path = f"{ORGS}/{world.orgs[org]}"
    if sees == 404:
        assert api("GET", f"{path}/departments").status_code == 404
        assert api("GET", path).status_code == 404
        return
    expected = ({d["department_id"] for d in listed(world.root, f"{path}/departments")} if sees == "all"
                else {world.departments[d] for d in sees})
    assert {d["department_id"] for d in listed(api, f"{path}/departments")} == expected
    assert {d["department_id"] for d in api("GET", path).json()["departments"]} == expected
    summary, = [o for o in listed(api, ORGS) if o["organization_id"] == world.orgs[org]]
    assert summary["department_count"] == len(expected)   # counts hold only what the caller sees


# ---- persons ------------------------------------------------------------------------------------------------

PERSONS_MATRIX = [
    # actor             action      target          expected
    (MRAO,              "read",     "in A",         200),
    (MRAO,              "read",     "in B1",        200),
    (MRAO,              "create",   "in A",         201),
    (MRAO,              "edit",     "in B1",        200),
    (MRAO,              "delete",   "new in B1",    204),
    (RAO_SSL_A,         "read",     "in A",         404),
    (RAO_SSL_A,         "read",     "in A1",        404),
    (RAO_SSL_A,         "create",   "in A",         NEEDS_PERSON_ROLE),
    (RAO_SSL_A,         "create",   "in A1",        NEEDS_PERSON_ROLE),
    (RAO_SSL_A,         "create",   "in B1",        404),
    (RAO_SSL_A,         "edit",     "in A",         404),
    (RAO_SSL_A,         "delete",   "new in A",     404),
    (RAO_CLIENT_A,      "read",     "in A",         200),
    (RAO_CLIENT_A,      "read",     "in A1",        200),
    (RAO_CLIENT_A,      "read",     "in B1",        404),
    (RAO_CLIENT_A,      "create",   "in A",         201),
    (RAO_CLIENT_A,      "create",   "in A1",        201),
    (RAO_CLIENT_A,      "create",   "in B1",        404),
    (RAO_CLIENT_A,      "edit",     "in A1",        200),
    (RAO_CLIENT_A,      "edit",     "in B1",        404),
    (RAO_CLIENT_A,      "delete",   "new in A",     204),
    (RAO_CLIENT_A,      "delete",   "new in B1",    404),
    (DRAO_SSL_A1,       "read",     "in A1",        404),
    (DRAO_SSL_A1,       "create",   "in A1",        NEEDS_PERSON_ROLE),
    (DRAO_SSL_A1,       "create",   "in B1",        404),
    (DRAO_SSL_A1,       "edit",     "in A1",        404),
    (DRAO_SSL_A1,       "delete",   "new in A1",    404),
    (DRAO_CLIENT_B1,    "read",     "in B1",        200),
    (DRAO_CLIENT_B1,    "read",     "in A",         404),
    (DRAO_CLIENT_B1,    "create",   "in B1",        201),
    (DRAO_CLIENT_B1,    "create",   "in B",         NEEDS_PERSON_ROLE),   # its organization, no department
    (DRAO_CLIENT_B1,    "create",   "in A1",        404),
    (DRAO_CLIENT_B1,    "edit",     "in B1",        200),
    (DRAO_CLIENT_B1,    "edit",     "in A",         404),
    (DRAO_CLIENT_B1,    "delete",   "new in B1",    204),
    (DRAO_CLIENT_B1,    "delete",   "new in A1",    404),
    (API_ONLY,          "read",     "in A",         404),
    (API_ONLY,          "create",   "in A",         NEEDS_PERSON_ROLE),
    (API_ONLY,          "edit",     "in A",         404),
    (API_ONLY,          "delete",   "new in A",     404),
]


def _where(target: str) -> tuple[str, str | None]:
    where = target.split()[-1]
    return where[0], (where if len(where) > 1 else None)


@pytest.mark.parametrize("actor,action,target,expected", PERSONS_MATRIX)
def test_persons(world, actor, action, target, expected):
    api, root = world.actors[actor].api, world.root
    org, department = _where(target)

    def total() -> int:
        return int(root("GET", PERSONS, params={"size": 1}).headers["X-Total-Count"])

    if action == "create":
        body = person_body(world.orgs[org], world.departments[department] if department else None)
        count = total()
        response = api("POST", PERSONS, json=body)
    else:
        person_id = world.new_person(org, department) if target.startswith("new") else world.persons[
            target.split()[-1]]
        path = f"{PERSONS}/{person_id}"
        count, before = total(), root("GET", path).json()
        response = {
            "read": lambda: api("GET", path),
            "edit": lambda: api("PATCH", path, json={"alternative_emails": [f"{unique('alt')}@example.com"]}),
            "delete": lambda: api("DELETE", path),
        }[action]()
    allowed = check(response, expected)
    if allowed and action == "create":
        assert total() == count + 1
        assert root("GET", f"{PERSONS}/{response.json()['person_id']}").json()["email"] == body["email"]
    elif allowed and action == "delete":
        assert total() == count - 1 and root("GET", path).status_code == 404
    elif allowed:
        assert root("GET", path).json() == response.json()
    else:
        assert total() == count
        if action != "create":
            assert root("GET", path).json() == before


@pytest.mark.parametrize("actor,sees", [
    (MRAO,           {"A", "A1", "B1"}),
    (RAO_SSL_A,      set()),
    (RAO_CLIENT_A,   {"A", "A1"}),
    (DRAO_SSL_A1,    set()),
    (DRAO_CLIENT_B1, {"B1"}),
    (API_ONLY,       set()),
])
def test_person_lists_and_counts_hold_exactly_the_scope(world, actor, sees):
    api = world.actors[actor].api
    items = listed(api, PERSONS)
    ids = {p["person_id"] for p in items}
    assert {where for where, pid in world.persons.items() if pid in ids} == sees
    for person in items:                  # whatever a list shows, the caller may also read
        assert api("GET", f"{PERSONS}/{person['person_id']}").status_code == 200
    if not sees:
        assert items == []
    for org in ("A", "B"):                # filtering by an organization never widens the scope
        assert {p["person_id"] for p in listed(api, PERSONS, organization_id=world.orgs[org])} <= ids


def test_a_drao_cannot_move_a_person_out_of_its_department(world):
    api, root = world.actors[DRAO_CLIENT_B1].api, world.root
    person_id = world.new_person("B", "B1")
    before = root("GET", f"{PERSONS}/{person_id}").json()
    response = api("PATCH", f"{PERSONS}/{person_id}", json={"department_id": None})
    check(response, NEEDS_PERSON_ROLE)
    assert root("GET", f"{PERSONS}/{person_id}").json() == before


CSV_HEADER = "email,first_name,middle_name,last_name,department,alternative_emails,validation_type,secret_id\n"


def _import(world, api, org: str, department: str | None):
    name = world.root("GET", world.department_path(department)).json()["name"] if department else ""
    email = f"{unique('imported')}@example.com"
    response = api("POST", f"{ORGS}/{world.orgs[org]}/persons/import",
                   data=f"{CSV_HEADER}{email},Ima,,Port,{name},,,\n", headers={"Content-Type": "text/csv"})
    return response, email


@pytest.mark.parametrize("actor,org,department,expected", [
    (MRAO,              "A",    "A1",   201),
    (RAO_CLIENT_A,      "A",    None,   201),
    (RAO_CLIENT_A,      "A",    "A2",   201),
    (RAO_SSL_A,         "A",    None,   NEEDS_PERSON_ROLE),
    (DRAO_SSL_A1,       "A",    "A1",   NEEDS_PERSON_ROLE),
    (DRAO_CLIENT_B1,    "B",    "B1",   201),
    (DRAO_CLIENT_B1,    "A",    None,   404),
    (API_ONLY,          "A",    None,   NEEDS_PERSON_ROLE),
])
def test_person_import(world, actor, org, department, expected):
    response, email = _import(world, world.actors[actor].api, org, department)
    allowed = check(response, expected)
    found = listed(world.root, PERSONS, email=email)
    assert len(found) == (1 if allowed else 0)
    if allowed:
        assert found[0]["department_id"] == (world.departments[department] if department else None)


def test_a_drao_cannot_import_persons_outside_its_department(world):
    """DRAO Client B1 may not create a person in org B without a department (POST answers 403); a CSV row with
    an empty department column must not do it either."""
    response, email = _import(world, world.actors[DRAO_CLIENT_B1].api, "B", None)
    assert response.status_code in (400, 403), response.text
    assert listed(world.root, PERSONS, email=email) == []


# ---- administrators -----------------------------------------------------------------------------------------

ADMINS_MATRIX = [
    # actor             action      target                  expected
    (MRAO,              "read",     RAO_CLIENT_A,           200),
    (MRAO,              "read",     DRAO_CLIENT_B1,         200),
    (MRAO,              "create",   "MRAO",                 201),
    (MRAO,              "create",   "RAO client B",         201),
    (MRAO,              "edit",     RAO_SSL_A,              200),
    (MRAO,              "delete",   "new RAO ssl A",        204),
    (RAO_SSL_A,         "read",     "self",                 200),
    (RAO_SSL_A,         "read",     DRAO_SSL_A1,            200),
    (RAO_SSL_A,         "read",     API_ONLY,               200),
    (RAO_SSL_A,         "read",     RAO_CLIENT_A,           404),
    (RAO_SSL_A,         "read",     DRAO_CLIENT_B1,         404),
    (RAO_SSL_A,         "read",     MRAO,                   404),
    (RAO_SSL_A,         "create",   "DRAO ssl A1",          201),          # waits for an MRAO's approval
    (RAO_SSL_A,         "create",   "RAO ssl A",            PEER_CREATE),
    (RAO_SSL_A,         "create",   "DRAO client A1",       OUT_OF_OWN_ROLES),
    (RAO_SSL_A,         "create",   "MRAO",                 OUT_OF_OWN_ROLES),
    (RAO_SSL_A,         "edit",     DRAO_SSL_A1,            200),
    (RAO_SSL_A,         "edit",     "self",                 200),
    (RAO_SSL_A,         "edit",     API_ONLY,               PEER_EDIT),
    (RAO_SSL_A,         "edit",     RAO_CLIENT_A,           404),
    (RAO_SSL_A,         "edit",     MRAO,                   404),
    (RAO_SSL_A,         "delete",   "new DRAO ssl A1",      204),
    (RAO_SSL_A,         "delete",   "new RAO ssl A",        PEER_DELETE),
    (RAO_SSL_A,         "delete",   "new DRAO client B1",   404),
    (RAO_CLIENT_A,      "read",     "self",                 200),
    (RAO_CLIENT_A,      "read",     RAO_SSL_A,              404),
    (RAO_CLIENT_A,      "read",     DRAO_SSL_A1,            404),
    (RAO_CLIENT_A,      "create",   "DRAO client A2",       201),
    (RAO_CLIENT_A,      "create",   "DRAO ssl A2",          OUT_OF_OWN_ROLES),
    (RAO_CLIENT_A,      "edit",     DRAO_SSL_A1,            404),
    (RAO_CLIENT_A,      "delete",   "new DRAO client A1",   204),
    (RAO_CLIENT_A,      "delete",   "new DRAO ssl A1",      404),
    (DRAO_SSL_A1,       "read",     "self",                 200),
    (DRAO_SSL_A1,       "read",     RAO_SSL_A,              404),
    (DRAO_SSL_A1,       "read",     DRAO_CLIENT_B1,         404),
    (DRAO_SSL_A1,       "create",   "DRAO ssl A1",          PEER_CREATE),
    (DRAO_SSL_A1,       "create",   "RAO ssl A",            OUT_OF_OWN_ROLES),
    (DRAO_SSL_A1,       "create",   "DRAO ssl A2",          OUT_OF_OWN_ROLES),
    (DRAO_SSL_A1,       "edit",     "self",                 200),
    (DRAO_SSL_A1,       "edit",     RAO_SSL_A,              404),
    (DRAO_SSL_A1,       "delete",   "new DRAO ssl A1",      PEER_DELETE),
    (DRAO_SSL_A1,       "delete",   "new DRAO ssl A2",      404),
    (DRAO_CLIENT_B1,    "read",     "self",                 200),
    (DRAO_CLIENT_B1,    "read",     DRAO_SSL_A1,            404),
    (DRAO_CLIENT_B1,    "create",   "DRAO client B1",       PEER_CREATE),
    (DRAO_CLIENT_B1,    "create",   "RAO client B",         OUT_OF_OWN_ROLES),
    (DRAO_CLIENT_B1,    "edit",     DRAO_SSL_A1,            404),
    (DRAO_CLIENT_B1,    "delete",   "new DRAO ssl A1",      404),
    (API_ONLY,          "read",     RAO_SSL_A,              200),
    (API_ONLY,          "read",     DRAO_SSL_A1,            200),
    (API_ONLY,          "read",     RAO_CLIENT_A,           404),
    (API_ONLY,          "create",   "DRAO ssl A2",          201),
    (API_ONLY,          "create",   "RAO ssl A",            PEER_CREATE),
    (API_ONLY,          "edit",     DRAO_SSL_A1,            200),
    (API_ONLY,          "edit",     RAO_SSL_A,              PEER_EDIT),
    (API_ONLY,          "delete",   "new DRAO ssl A1",      204),
    (API_ONLY,          "delete",   "new RAO ssl A",        PEER_DELETE),
]

_ADMIN_STATE = ("username", "email", "title", "status", "roles", "privileges")


def _state(record: dict) -> dict:
    return {k: record.get(k) for k in _ADMIN_STATE}


@pytest.mark.parametrize("actor,action,target,expected", ADMINS_MATRIX)
def test_administrators(world, actor, action, target, expected):
    me, root = world.actors[actor], world.root
    if action == "create":
        body = admin_body(unique("made-"), [world.role(target)])
        events = identity_events(world.embedded)
        response = me.api("POST", ADMINS, json=body)
        allowed = check(response, expected)
        assert (body["username"] in world.usernames()) is allowed
        assert (identity_events(world.embedded) != events) is allowed
        if allowed:
            assert response.json()["status"] == ("active" if actor == MRAO else "pending_approval")
        return
    if target.startswith("new "):
        admin_id = world.new_admin([world.role(target.removeprefix("new "))])["admin_id"]
    else:
        admin_id = (me if target == "self" else world.actors[target]).admin_id
    path = f"{ADMINS}/{admin_id}"
    before, events = root("GET", path).json(), identity_events(world.embedded)
    response = {
        "read": lambda: me.api("GET", path),
        "edit": lambda: me.api("PATCH", path, json={"title": unique("Title ")}),
        "delete": lambda: me.api("DELETE", path),
    }[action]()
    allowed = check(response, expected)
    after = root("GET", path)
    if allowed and action == "delete":
        assert after.status_code == 404 and before["username"] not in world.usernames()
    elif allowed and action == "edit":
        assert after.json()["title"] == response.json()["title"] != before["title"]
    elif allowed:
        assert response.json()["admin_id"] == admin_id
    else:
        assert _state(after.json()) == _state(before)
        assert identity_events(world.embedded) == events


@pytest.mark.parametrize("actor,sees", [
    (MRAO,           {"initial MRAO", MRAO, RAO_SSL_A, RAO_CLIENT_A, DRAO_SSL_A1, DRAO_CLIENT_B1, API_ONLY}),
    (RAO_SSL_A,      {RAO_SSL_A, DRAO_SSL_A1, API_ONLY}),
    (RAO_CLIENT_A,   {RAO_CLIENT_A}),
    (DRAO_SSL_A1,    {DRAO_SSL_A1}),
    (DRAO_CLIENT_B1, {DRAO_CLIENT_B1}),
    (API_ONLY,       {API_ONLY, RAO_SSL_A, DRAO_SSL_A1}),
])
def test_admin_lists_and_counts_hold_exactly_the_scope(world, actor, sees):
    api = world.actors[actor].api
    names = {a.admin_id: name for name, a in world.actors.items()}
    names[world.root("GET", "/api/v1/auth/me").json()["admin_id"]] = "initial MRAO"
    items = listed(api, ADMINS)
    assert {names[a["admin_id"]] for a in items if a["admin_id"] in names} == sees
    for admin in items:                   # whatever a list shows, the caller may also read
        assert api("GET", f"{ADMINS}/{admin['admin_id']}").status_code == 200
    if actor == MRAO:
        assert len(items) == len(listed(world.root, ADMINS))


# ---- privilege escalation: refused, and no event -------------------------------------------------------------

@pytest.fixture(scope="module")
def peer_rao(world):
    """An RAO SSL of org A that holds every peer privilege, so that what refuses it below is the role, scope or
    privilege it tries to hand out, not a missing peer right."""
    record, api = make_admin(world.embedded, unique("peer-rao-"), [world.role("RAO ssl A")],
                             ["create_peer_admins", "edit_peer_admins", "delete_peer_admins"])
    return record, api


def refused_without_event(world, request, status=403):
    before = identity_events(world.embedded)
    response = request()
    assert response.status_code == status, response.text
    assert identity_events(world.embedded) == before, "a refused command left an event"
    return error_of(response)


@pytest.mark.parametrize("role", ["RAO ssl B", "RAO client A", "DRAO client A1", "DRAO ssl B1", "RAO ssl A+B",
                                  "MRAO"])
def test_an_rao_cannot_grant_a_role_it_does_not_hold(world, peer_rao, role):
    _record, api = peer_rao
    body = admin_body(unique("escalate-"), [world.role(role)])
    error = refused_without_event(world, lambda: api("POST", ADMINS, json=body))
    assert "scope" in error["details"]["missing"]
    assert body["username"] not in world.usernames()


def test_an_rao_may_grant_what_it_holds(world, peer_rao):
    """The control for the refusals around it: the same actor, within what it holds, succeeds."""
    _record, api = peer_rao
    body = admin_body(unique("granted-"), [world.role("RAO ssl A"), world.role("DRAO ssl A2")],
                      ["create_peer_admins"])
    response = api("POST", ADMINS, json=body)
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "pending_approval"


@pytest.mark.parametrize("roles", [["RAO ssl A+B"], ["RAO ssl A", "RAO client A"], ["MRAO"]])
def test_an_rao_cannot_widen_its_own_scope(world, peer_rao, roles):
    record, api = peer_rao
    before = world.root("GET", f"{ADMINS}/{record['admin_id']}").json()
    error = refused_without_event(world, lambda: api("PUT", f"{ADMINS}/{record['admin_id']}/access", json={
        "roles": [world.role(r) for r in roles], "privileges": record["privileges"]}))
    assert error["code"] == "forbidden" and error["details"]["missing"]
    after = world.root("GET", f"{ADMINS}/{record['admin_id']}").json()
    assert (after["roles"], after["privileges"]) == (before["roles"], before["privileges"])
    assert api("GET", "/api/v1/auth/me").json()["roles"] == before["roles"]


def test_an_rao_cannot_widen_the_scope_of_an_admin_it_manages(world, peer_rao):
    _record, api = peer_rao
    target = world.new_admin([world.role("DRAO ssl A1")])
    path = f"{ADMINS}/{target['admin_id']}"
    assert api("GET", path).status_code == 200          # it sees and manages this DRAO ...
    error = refused_without_event(world, lambda: api("PUT", f"{path}/access", json={
        "roles": [world.role("DRAO ssl A1+B1")], "privileges": []}))     # ... but cannot give it B1
    assert "scope" in error["details"]["missing"]
    assert world.root("GET", path).json()["roles"] == target["roles"]


@pytest.mark.parametrize("privilege", ["download_keys", "approve_domain_delegation", "ssl_auto_approve"])
def test_nobody_grants_a_privilege_they_do_not_hold(world, peer_rao, privilege):
    _record, api = peer_rao
    body = admin_body(unique("privileged-"), [world.role("DRAO ssl A1")], [privilege])
    error = refused_without_event(world, lambda: api("POST", ADMINS, json=body))
    assert error["details"]["missing"] == [privilege]
    assert body["username"] not in world.usernames()

    target = world.new_admin([world.role("DRAO ssl A1")])
    path = f"{ADMINS}/{target['admin_id']}"
    error = refused_without_event(world, lambda: api("PUT", f"{path}/access", json={
        "roles": target["roles"], "privileges": [privilege]}))
    assert error["details"]["missing"] == [privilege]
    assert world.root("GET", path).json()["privileges"] == []


def test_the_creator_cannot_approve_its_own_pending_admin(world, peer_rao):
    _record, api = peer_rao
    body = admin_body(unique("pending-"), [world.role("DRAO ssl A1")])
    created = api("POST", ADMINS, json=body)
    assert created.status_code == 201 and created.json()["status"] == "pending_approval", created.text
    path = f"{ADMINS}/{created.json()['admin_id']}"
    error = refused_without_event(world, lambda: api("POST", f"{path}/approve"))
    assert error["details"]["missing"] == "role MRAO"
    assert world.root("GET", path).json()["status"] == "pending_approval"
    refused = api.as_token(None)("POST", "/api/v1/auth/login",
                                 json={"username": body["username"], "password": body["password"]})
    assert refused.status_code == 401 and error_of(refused)["code"] == "account_pending_approval"

    approved = world.actors[MRAO].api("POST", f"{path}/approve")      # an MRAO other than the creator
    assert approved.status_code == 200 and approved.json()["status"] == "active", approved.text
    assert api.as_token(None)("POST", "/api/v1/auth/login", json={
        "username": body["username"], "password": body["password"]}).status_code == 200


def test_an_admin_is_judged_per_role_a_drao_role_makes_it_only_a_peer_there(world):
    """RAO SSL of A plus DRAO SSL of B1, no peer privileges: below it in A, but only a peer in B1."""
    _record, api = make_admin(world.embedded, unique("mixed-"), [world.role("RAO ssl A"), world.role("DRAO ssl B1")])
    body = admin_body(unique("peer-in-b1-"), [world.role("DRAO ssl B1")])
    error = refused_without_event(world, lambda: api("POST", ADMINS, json=body))
    assert error["details"]["missing"] == "privilege create_peer_admins"
    assert body["username"] not in world.usernames()
    below = api("POST", ADMINS, json=admin_body(unique("below-in-a-"), [world.role("DRAO ssl A2")]))
    assert below.status_code == 201 and below.json()["status"] == "pending_approval", below.text


@pytest.mark.parametrize("role", ["RAO ssl A", "RAO client B", "MRAO"])
def test_a_drao_cannot_create_an_admin_above_itself(world, role):
    api = world.actors[DRAO_SSL_A1].api
    body = admin_body(unique("drao-made-"), [world.role(role)])
    refused_without_event(world, lambda: api("POST", ADMINS, json=body))
    assert body["username"] not in world.usernames()


def test_naming_an_organization_outside_ones_scope_reveals_no_more_than_naming_none(world, peer_rao):
    """DESIGN §6: what is out of scope is answered as if it did not exist. An RAO of A naming org B in a role
    must get the same answer as naming an organization that does not exist."""
    _record, api = peer_rao
    unknown = "00000000-0000-4000-8000-00000000000b"
    out_of_scope = api("POST", ADMINS, json=admin_body(unique("probe-"), [
        {"role": "RAO", "cert_type": "ssl", "organization_ids": [world.orgs["B"]]}]))
    missing = api("POST", ADMINS, json=admin_body(unique("probe-"), [
        {"role": "RAO", "cert_type": "ssl", "organization_ids": [unknown]}]))
    assert out_of_scope.status_code >= 400 and missing.status_code >= 400
    assert (out_of_scope.status_code, error_of(out_of_scope)["code"]) == \
           (missing.status_code, error_of(missing)["code"])


# ---- domains and networks shared by organizations A and B (issue 10, item 6) --------------------------------

KINDS = {"domain": "/api/v1/domains", "network": "/api/v1/networks"}
_networks = iter(range(100, 200))


def delegation_to(world, org: str, department: str | None = None) -> dict:
    return {"organization_id": world.orgs[org], "department_id": world.departments[department] if department else None,
            "cert_types": ["ssl"]}


def domains_events(world) -> int:
    """How many events the domains service has recorded (its SQLite store; no API shows them all)."""
    import sqlite3
    path = world.embedded.var_dir / "domains.sqlite3"
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10) as conn:
        return conn.execute("SELECT count(*) FROM events").fetchone()[0]


@pytest.fixture(scope="module")
def shared(world):
    """For each kind: one object delegated by the MRAO to A, A1 and B (approved), plus B1's delegation requested
    by an RAO of B (pending). {kind: (path of the object, {"A"|"A1"|"B"|"B1": delegation id})}."""
    _record, rao_b = make_admin(world.embedded, unique("rao-ssl-b-"), [world.role("RAO ssl B")])
    made = {}
    for kind, collection in KINDS.items():
        body = {"name": f"{unique('shared')}.example"} if kind == "domain" else {"cidr": f"10.{next(_networks)}.0.0/16"}
        created = world.root("POST", collection, json={**body, "delegations": [
            delegation_to(world, "A"), delegation_to(world, "A", "A1"), delegation_to(world, "B")]})
        assert created.status_code == 201, created.text
        found = created.json()
        path = f"{collection}/{found[kind + '_id']}"
        requested = rao_b("POST", f"{path}/delegations", json=delegation_to(world, "B", "B1"))
        assert requested.status_code == 201, requested.text
        ids = {}
        for d in requested.json()["delegations"]:
            department = next((name for name, i in world.departments.items() if i == d["department_id"]), None)
            org = next(name for name, i in world.orgs.items() if i == d["organization_id"])
            ids[department or org] = d["delegation_id"]
        assert set(ids) == {"B", "B1"}                       # the RAO of B sees B's only
        everything = world.root("GET", path).json()["delegations"]
        for d in everything:
            if d["organization_id"] == world.orgs["A"]:
                ids["A1" if d["department_id"] else "A"] = d["delegation_id"]
        made[kind] = (path, ids)
    return made


SHARED_VIEWS = [
    # actor          delegations seen
    (MRAO,           {"A", "A1", "B", "B1"}),
    (RAO_SSL_A,      {"A", "A1"}),
    (DRAO_SSL_A1,    {"A1"}),
]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("actor, seen", SHARED_VIEWS)
def test_on_a_shared_object_each_admin_sees_only_the_delegations_in_its_scope(world, shared, kind, actor, seen):
    path, ids = shared[kind]
    api = world.actors[actor].api
    expected = {ids[name] for name in seen}
    one = api("GET", path)
    assert one.status_code == 200, one.text
    assert {d["delegation_id"] for d in one.json()["delegations"]} == expected
    listed = [item for item in listed_all(api, KINDS[kind]) if f"{KINDS[kind]}/{item[kind + '_id']}" == path]
    assert [{d["delegation_id"] for d in item["delegations"]} for item in listed] == [expected]
    hidden = {ids[name] for name in {"A", "A1", "B", "B1"} - seen}
    assert not any(i in one.text for i in hidden)           # nor their ids anywhere in the answer


def listed_all(api, collection, **params):
    response = api("GET", collection, params={"size": 200, **params})
    assert response.status_code == 200, response.text
    return response.json()["items"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("actor", [RAO_SSL_A, DRAO_SSL_A1])
def test_filtering_by_an_organization_out_of_scope_lists_nothing(world, shared, kind, actor):
    api = world.actors[actor].api
    by_b = api("GET", KINDS[kind], params={"organization_id": world.orgs["B"]})
    assert by_b.status_code == 200 and by_b.json()["items"] == [] and by_b.json()["total"] == 0
    assert api("HEAD", KINDS[kind], params={"organization_id": world.orgs["B"]}).headers["X-Total-Count"] == "0"
    path, _ids = shared[kind]
    by_a = [f"{KINDS[kind]}/{i[kind + '_id']}" for i in listed_all(api, KINDS[kind], organization_id=world.orgs["A"])]
    assert path in by_a
    pending = [f"{KINDS[kind]}/{i[kind + '_id']}" for i in listed_all(api, KINDS[kind], delegation_status="requested")]
    assert path not in pending                              # only B1's delegation is pending
    everything = [f"{KINDS[kind]}/{i[kind + '_id']}" for i in
                  listed_all(world.root, KINDS[kind], organization_id=world.orgs["B"])]
    assert path in everything                               # the MRAO does find it by B


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("actor", [RAO_SSL_A, DRAO_SSL_A1])
@pytest.mark.parametrize("action, target", [("approve", "B1"), ("reject", "B1"), ("remove", "B"),
                                            ("remove", "B1"), ("approve", "B")])
def test_acting_on_a_delegation_out_of_scope_is_404_and_changes_nothing(world, shared, kind, actor, action, target):
    path, ids = shared[kind]
    api = world.actors[actor].api
    before_events, before = domains_events(world), world.root("GET", path).json()["delegations"]
    delegation = f"{path}/delegations/{ids[target]}"
    response = (api("DELETE", delegation) if action == "remove" else
                api("POST", f"{delegation}/{action}", json={} if action == "reject" else None))
    check(response, 404)
    assert error_of(response)["details"] == {"kind": "delegation", "id": ids[target]}
    assert domains_events(world) == before_events
    assert world.root("GET", path).json()["delegations"] == before


@pytest.mark.parametrize("kind", KINDS)
def test_changing_a_shared_object_needs_an_mrao_and_names_nothing_out_of_scope(world, shared, kind):
    path, _ids = shared[kind]
    before_events = domains_events(world)
    response = world.actors[RAO_SSL_A].api("PATCH", path, json={"description": "mine now"})
    check(response, denied("role MRAO"))
    assert world.orgs["B"] not in response.text and world.departments["B1"] not in response.text
    assert domains_events(world) == before_events
