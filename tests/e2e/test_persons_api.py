"""Persons through the REST API, as the MRAO and as scoped administrators, including CSV import."""
import itertools
import sqlite3

import pytest

from tests import factories

PERSONS = "/api/v1/persons"
HEADER = "email,first_name,middle_name,last_name,department,alternative_emails,validation_type,secret_id"
_n = itertools.count(1)


def error_of(response):
    body = response.json()
    assert set(body) == {"error"}
    return body["error"]


MAIL_DOMAINS = ("example.com", "example.org", "example.net", "old.example")


def new_org(api) -> str:
    """An organization whose persons may have emails in MAIL_DOMAINS (delegated to it for client certificates)."""
    organization_id = api.create_org(factories.organization())["organization_id"]
    api.delegate_mail_domains(organization_id, MAIL_DOMAINS)
    return organization_id


def unique_email(prefix="p"):
    return f"{prefix}{next(_n)}@example.com"


def person_body(organization_id, **overrides):
    body = {"organization_id": organization_id, "email": unique_email(), "first_name": "Pat", "last_name": "Doe"}
    body.update(overrides)
    return body


def create_person(api, organization_id, **overrides) -> dict:
    response = api("POST", PERSONS, json=person_body(organization_id, **overrides))
    assert response.status_code == 201, response.text
    return response.json()


def count_persons(api, organization_id) -> int:
    response = api("GET", PERSONS, params={"organization_id": organization_id, "size": 1})
    assert response.status_code == 200, response.text
    assert response.headers["X-Total-Count"] == str(response.json()["total"])
    return response.json()["total"]


def listed_emails(api, organization_id) -> set[str]:
    response = api("GET", PERSONS, params={"organization_id": organization_id, "size": 200})
    return {p["email"] for p in response.json()["items"]}


def import_csv(api, organization_id, text: str | bytes, content_type="text/csv"):
    data = text.encode() if isinstance(text, str) else text
    return api("POST", f"/api/v1/organizations/{organization_id}/persons/import", data=data,
               headers={"Content-Type": content_type})


def keys_of(value) -> set[str]:
    """Every key of every object in a JSON answer."""
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in keys_of(v)}
    if isinstance(value, list):
        return {k for v in value for k in keys_of(v)}
    return set()


def identity_event_types(embedded, person_id) -> list[str]:
    with sqlite3.connect(embedded.var_dir / "identity.sqlite3") as db:
        rows = db.execute("SELECT event_type FROM events WHERE stream_id = ? ORDER BY position",
                          (f"person-{person_id}",)).fetchall()
    return [r[0] for r in rows]


class World:
    """Organization A (departments A1 'Engineering', A2 'Sales') and B (department B1), made by the MRAO."""

    def __init__(self, api):
        self.org_a = new_org(api)
        self.org_b = new_org(api)
        self.a1 = self._department(api, self.org_a, "Engineering")
        self.a2 = self._department(api, self.org_a, "Sales")
        self.b1 = self._department(api, self.org_b, "Engineering")

    @staticmethod
    def _department(api, organization_id, name) -> str:
        response = api("POST", f"/api/v1/organizations/{organization_id}/departments", json={"name": name})
        assert response.status_code == 201, response.text
        return response.json()["department_id"]


@pytest.fixture(scope="module")
def world(api) -> World:
    return World(api)


def scoped_admin(api, username: str, roles: list[dict]):
    """An active administrator made by the MRAO, logged in with its first-login password change done.
    (Not conftest's Embedded.admin: the password it sets contains the username, which the policy refuses.)"""
    first, second = "initial passphrase for tests", "changed passphrase for tests"
    created = api("POST", "/api/v1/admins", json={
        "username": username, "email": f"{username}@example.com", "forename": "Scoped", "surname": "Admin",
        "roles": roles, "privileges": [], "password": first})
    assert created.status_code == 201, created.text
    token = api.login(username, first)
    changed = api.as_token(token)("POST", "/api/v1/auth/password",
                                  json={"current_password": first, "new_password": second})
    assert changed.status_code == 204, changed.text
    return api.as_token(token)


@pytest.fixture(scope="module")
def rao_client_a(api, world):
    return scoped_admin(api, "persons-rao-client-a", [{"role": "RAO", "cert_type": "client",
                                                       "organization_ids": [world.org_a]}])


@pytest.fixture(scope="module")
def rao_ssl_a(api, world):
    return scoped_admin(api, "persons-rao-ssl-a", [{"role": "RAO", "cert_type": "ssl",
                                                    "organization_ids": [world.org_a]}])


@pytest.fixture(scope="module")
def drao_client_a1(api, world):
    return scoped_admin(api, "persons-drao-client-a1", [{"role": "DRAO", "cert_type": "client",
                                                         "department_ids": [world.a1]}])


# ---- create, get, list, edit, delete as the MRAO ---------------------------------------------------------------

def test_create_get_edit_and_delete_a_person(api, world):
    body = person_body(world.org_a, department_id=world.a1, middle_name="Q", alternative_emails=["pq@example.org"],
                       validation_type="high", secret_id="first-secret")
    created = api("POST", PERSONS, json=body)
    assert created.status_code == 201, created.text
    person = created.json()
    assert created.headers["Location"] == f"{PERSONS}/{person['person_id']}"
    assert {k: person[k] for k in ("organization_id", "department_id", "email", "first_name", "middle_name",
                                   "last_name", "alternative_emails", "validation_type", "has_secret_id")} == {
        **{k: v for k, v in body.items() if k != "secret_id"}, "has_secret_id": True}

    path = f"{PERSONS}/{person['person_id']}"
    assert api("GET", path).json() == person

    edited = api("PATCH", path, json={"last_name": "Dee", "department_id": world.a2, "alternative_emails": []})
    assert edited.status_code == 200, edited.text
    assert (edited.json()["last_name"], edited.json()["department_id"], edited.json()["alternative_emails"]) == (
        "Dee", world.a2, [])
    assert api("GET", path).json()["last_name"] == "Dee"

    assert api("DELETE", path).status_code == 204
    assert api("GET", path).status_code == 404
    assert api("DELETE", path).status_code == 404
    assert body["email"] not in listed_emails(api, world.org_a)


def test_a_person_needs_a_known_organization_and_a_department_of_it(api, world):
    unknown = "00000000-0000-4000-8000-000000000000"
    assert api("POST", PERSONS, json=person_body(unknown)).status_code == 404
    before = count_persons(api, world.org_a)
    response = api("POST", PERSONS, json=person_body(world.org_a, department_id=world.b1))
    assert response.status_code == 400 and "department_id" in error_of(response)["details"]
    assert count_persons(api, world.org_a) == before


@pytest.mark.parametrize("change", [{"organization_id": "00000000-0000-4000-8000-000000000000"},
                                    {"email": "not-an-email"}, {"favourite_colour": "blue"},
                                    {"validation_type": "extreme"}])
def test_a_bad_edit_is_400_and_changes_nothing(api, world, change):
    person = create_person(api, world.org_a)
    response = api("PATCH", f"{PERSONS}/{person['person_id']}", json=change)
    assert response.status_code == 400 and set(change) <= set(error_of(response)["details"])
    assert api("GET", f"{PERSONS}/{person['person_id']}").json() == person


def test_list_filters_by_organization_and_email_in_any_case(api, world):
    in_a = create_person(api, world.org_a, email=unique_email("filter"))
    in_b = create_person(api, world.org_b, email=in_a["email"])
    by_org = api("GET", PERSONS, params={"organization_id": world.org_a, "size": 200}).json()
    assert in_a["person_id"] in {p["person_id"] for p in by_org["items"]}
    assert {p["organization_id"] for p in by_org["items"]} == {world.org_a}

    both = api("GET", PERSONS, params={"email": in_a["email"].upper()})
    assert both.headers["X-Total-Count"] == "2"
    assert {p["person_id"] for p in both.json()["items"]} == {in_a["person_id"], in_b["person_id"]}
    one = api("GET", PERSONS, params={"email": in_a["email"], "organization_id": world.org_b}).json()
    assert [p["person_id"] for p in one["items"]] == [in_b["person_id"]]
    assert api("GET", PERSONS, params={"email": "nobody@example.com"}).json()["total"] == 0


def test_lists_are_sorted_by_email_and_paged(api):
    org = new_org(api)
    for local in ("carol", "Alice", "bob"):
        create_person(api, org, email=f"{local}@example.com")
    first = api("GET", PERSONS, params={"organization_id": org, "size": 2}).json()
    assert [p["email"] for p in first["items"]] == ["Alice@example.com", "bob@example.com"]
    assert first["total"] == 3
    rest = api("GET", PERSONS, params={"organization_id": org, "size": 2, "position": 2}).json()
    assert [p["email"] for p in rest["items"]] == ["carol@example.com"]


def test_the_same_email_twice_in_an_organization_is_409_in_any_case(api, world):
    email = unique_email("dup")
    first = create_person(api, world.org_a, email=email)
    before = count_persons(api, world.org_a)
    response = api("POST", PERSONS, json=person_body(world.org_a, email=email.upper()))
    assert response.status_code == 409
    error = error_of(response)
    assert error["code"] == "duplicate_email" and error["details"]["person_id"] == first["person_id"]
    assert count_persons(api, world.org_a) == before

    elsewhere = api("POST", PERSONS, json=person_body(world.org_b, email=email))
    assert elsewhere.status_code == 201, elsewhere.text

    other = create_person(api, world.org_a)
    response = api("PATCH", f"{PERSONS}/{other['person_id']}", json={"email": email.title()})
    assert response.status_code == 409 and error_of(response)["code"] == "duplicate_email"
    assert api("GET", f"{PERSONS}/{other['person_id']}").json()["email"] == other["email"]


# ---- identity changes versus secret changes ------------------------------------------------------------------------

def test_a_new_email_or_name_is_an_identity_change_and_a_new_secret_is_not(api, embedded, world):
    person = create_person(api, world.org_a, secret_id="secret-one")
    path = f"{PERSONS}/{person['person_id']}"
    assert identity_event_types(embedded, person["person_id"]) == ["person_created.v1"]

    assert api("PATCH", path, json={"secret_id": "secret-two"}).status_code == 200
    assert identity_event_types(embedded, person["person_id"])[1:] == ["person_secret_changed.v1"]

    assert api("PATCH", path, json={"email": unique_email("renamed")}).status_code == 200
    assert identity_event_types(embedded, person["person_id"])[2:] == ["person_identity_changed.v1"]

    assert api("PATCH", path, json={"first_name": "Patricia", "validation_type": "high"}).status_code == 200
    assert identity_event_types(embedded, person["person_id"])[3:] == ["person_identity_changed.v1",
                                                                       "person_updated.v1"]

    assert api("PATCH", path, json={"alternative_emails": ["alt@example.net"]}).status_code == 200
    assert identity_event_types(embedded, person["person_id"])[5:] == ["person_updated.v1"]

    assert api("PATCH", path, json={"first_name": "Patricia"}).status_code == 200       # no change, no event
    assert len(identity_event_types(embedded, person["person_id"])) == 6


def test_the_secret_id_never_appears_in_an_answer_or_on_disk(api, embedded, world):
    secret = "s3cret-Z9-never-shown"
    body = person_body(world.org_a, secret_id=secret)
    created = api("POST", PERSONS, json=body, headers={"Idempotency-Key": "person-with-secret"})
    assert created.status_code == 201, created.text
    person = created.json()
    path = f"{PERSONS}/{person['person_id']}"
    second = "s3cret-Y8-never-shown"
    answers = [created, api("POST", PERSONS, json=body, headers={"Idempotency-Key": "person-with-secret"}),
               api("GET", path), api("GET", PERSONS, params={"organization_id": world.org_a, "size": 200}),
               api("PATCH", path, json={"secret_id": second}), api("PATCH", path, json={"last_name": "Other"})]
    for answer in answers:
        assert answer.status_code in (200, 201), answer.text
        assert "secret_id" not in keys_of(answer.json())
        assert secret not in answer.text and second not in answer.text
    assert api("GET", path).json()["has_secret_id"] is True
    for stored in embedded.var_dir.rglob("*"):
        if stored.is_file():
            content = stored.read_bytes()
            assert secret.encode() not in content and second.encode() not in content, stored
    assert secret not in embedded.process.output()


# ---- CSV import ---------------------------------------------------------------------------------------------------

def test_a_good_csv_imports_every_row(api, world):
    org = new_org(api)
    World._department(api, org, "Research")
    text = "\r\n".join([HEADER,
                        "ann@example.com,Ann,,Able,research,ann@old.example;a@example.org,high,ann-secret-1",
                        "ben@example.com,Ben,B,Baker,,,,",
                        "cal@example.com,Cal,,Cole,Research,,standard,"]) + "\r\n"
    response = import_csv(api, org, "\ufeff" + text)                          # Excel's byte order mark is fine
    assert response.status_code == 201, response.text
    assert response.json() == {"imported": 3}
    listed = api("GET", PERSONS, params={"organization_id": org}).json()
    assert [(p["email"], p["validation_type"], p["has_secret_id"], p["department_id"] is not None)
            for p in listed["items"]] == [("ann@example.com", "high", True, True),
                                          ("ben@example.com", "standard", False, False),
                                          ("cal@example.com", "standard", False, True)]
    assert listed["items"][0]["alternative_emails"] == ["ann@old.example", "a@example.org"]


def test_a_csv_with_any_bad_row_imports_nothing_and_names_every_bad_row(api, world):
    taken = create_person(api, world.org_a)["email"]
    before = count_persons(api, world.org_a)
    text = "\n".join([HEADER,
                      f"{unique_email()},Good,,Row,Engineering,,,",
                      f"{unique_email()},Too,,Few,,,",
                      f"not-an-email,Bad,,Email,,,,",
                      f"{unique_email()},Unknown,,Department,Marketing,,,",
                      f"{taken.upper()},Taken,,Email,,,,",
                      f"{unique_email()},Another,,Good,Sales,,,"]) + "\n"
    response = import_csv(api, world.org_a, text)
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "csv_rows_invalid"
    rows = {int(r["row"]): r["errors"] for r in error["details"]["rows"]}
    assert sorted(rows) == [3, 4, 5, 6]
    assert "columns" in rows[3] and "email" in rows[4] and "department" in rows[5] and "email" in rows[6]
    assert count_persons(api, world.org_a) == before


def test_a_csv_repeating_an_email_names_the_rows_and_imports_nothing(api, world):
    before = count_persons(api, world.org_a)
    email = unique_email("twice")
    response = import_csv(api, world.org_a, f"{HEADER}\n{email},A,,B,,,,\n{email.upper()},C,,D,,,,\n")
    assert response.status_code == 400
    [row] = error_of(response)["details"]["rows"]
    assert (int(row["row"]), row["errors"]) == (3, {"email": ["also on line 2"]})
    assert count_persons(api, world.org_a) == before


def test_csv_row_numbers_in_the_report_are_json_numbers(api, world):
    response = import_csv(api, world.org_a, f"{HEADER}\nnot-an-email,A,,B,,,,\n")
    assert response.status_code == 400
    assert error_of(response)["details"]["rows"] == [
        {"row": 2, "errors": {"email": ["Not a valid email address."]}}]


@pytest.mark.parametrize("text", ["", HEADER + "\n", "name,mail\nx,y\n"], ids=["empty", "header_only", "header"])
def test_a_csv_without_usable_rows_is_400(api, world, text):
    before = count_persons(api, world.org_a)
    response = import_csv(api, world.org_a, text)
    assert response.status_code == 400 and error_of(response)["code"] == "csv_rows_invalid"
    assert count_persons(api, world.org_a) == before


def test_an_oversized_csv_is_413_and_imports_nothing(api, world):
    before = count_persons(api, world.org_a)
    lines = [HEADER] + [f"big{i}-{next(_n)}@example.com,Big,,File,,,," for i in range(3000)]
    text = "\n".join(lines) + "\n"
    assert len(text.encode()) > 65536
    response = import_csv(api, world.org_a, text)
    assert response.status_code == 413 and error_of(response)["code"] == "request_entity_too_large"
    assert count_persons(api, world.org_a) == before


def test_a_csv_sent_as_another_content_type_is_415(api, world):
    text = f"{HEADER}\n{unique_email()},A,,B,,,,\n"
    for content_type in ("application/json", "text/plain"):
        response = import_csv(api, world.org_a, text, content_type=content_type)
        assert response.status_code == 415 and error_of(response)["code"] == "unsupported_media_type"


def test_a_csv_that_is_not_utf8_is_400(api, world):
    before = count_persons(api, world.org_a)
    response = import_csv(api, world.org_a, f"{HEADER}\n{unique_email()},Jos\u00e9,,B,,,,\n".encode("latin-1"))
    assert response.status_code == 400 and error_of(response)["code"] == "csv_not_utf8"
    assert count_persons(api, world.org_a) == before


def test_application_csv_is_accepted_too(api):
    org = new_org(api)
    response = import_csv(api, org, f"{HEADER}\n{unique_email()},A,,B,,,,\n", content_type="application/csv")
    assert response.status_code == 201 and response.json() == {"imported": 1}


def test_import_into_an_unknown_organization_is_404(api):
    response = import_csv(api, "00000000-0000-4000-8000-000000000000", f"{HEADER}\n{unique_email()},A,,B,,,,\n")
    assert response.status_code == 404


# ---- scoped administrators ----------------------------------------------------------------------------------------

def test_an_rao_client_manages_persons_of_its_organization_only(api, world, rao_client_a):
    mine = create_person(rao_client_a, world.org_a, department_id=world.a2)
    theirs = create_person(api, world.org_b)
    assert rao_client_a("GET", f"{PERSONS}/{mine['person_id']}").status_code == 200
    assert rao_client_a("GET", f"{PERSONS}/{theirs['person_id']}").status_code == 404
    assert rao_client_a("PATCH", f"{PERSONS}/{theirs['person_id']}", json={"first_name": "X"}).status_code == 404
    assert rao_client_a("DELETE", f"{PERSONS}/{theirs['person_id']}").status_code == 404
    listed = rao_client_a("GET", PERSONS, params={"size": 200}).json()
    assert {p["organization_id"] for p in listed["items"]} == {world.org_a}
    assert listed["total"] == count_persons(api, world.org_a)
    assert rao_client_a("GET", PERSONS, params={"organization_id": world.org_b}).json()["total"] == 0

    response = rao_client_a("POST", PERSONS, json=person_body(world.org_b))
    assert response.status_code == 404                                 # B is out of scope: not even seen
    edited = rao_client_a("PATCH", f"{PERSONS}/{mine['person_id']}", json={"department_id": world.a1})
    assert edited.status_code == 200 and edited.json()["department_id"] == world.a1
    assert rao_client_a("DELETE", f"{PERSONS}/{mine['person_id']}").status_code == 204
    assert api("GET", f"{PERSONS}/{theirs['person_id']}").status_code == 200


def test_an_rao_ssl_sees_no_persons_and_may_not_create_them(api, world, rao_ssl_a):
    person = create_person(api, world.org_a)
    assert rao_ssl_a("GET", f"{PERSONS}/{person['person_id']}").status_code == 404
    assert rao_ssl_a("DELETE", f"{PERSONS}/{person['person_id']}").status_code == 404
    listed = rao_ssl_a("GET", PERSONS)
    assert listed.status_code == 200 and listed.json()["total"] == 0 and listed.headers["X-Total-Count"] == "0"
    before = count_persons(api, world.org_a)
    response = rao_ssl_a("POST", PERSONS, json=person_body(world.org_a))
    assert response.status_code == 403 and error_of(response)["details"]["missing"]
    response = import_csv(rao_ssl_a, world.org_a, f"{HEADER}\n{unique_email()},A,,B,,,,\n")
    assert response.status_code == 403
    assert count_persons(api, world.org_a) == before


def test_a_drao_client_manages_persons_of_its_department_only(api, world, drao_client_a1):
    mine = create_person(drao_client_a1, world.org_a, department_id=world.a1)
    sales = create_person(api, world.org_a, department_id=world.a2)
    no_department = create_person(api, world.org_a)
    assert drao_client_a1("GET", f"{PERSONS}/{mine['person_id']}").status_code == 200
    assert drao_client_a1("GET", f"{PERSONS}/{sales['person_id']}").status_code == 404
    assert drao_client_a1("GET", f"{PERSONS}/{no_department['person_id']}").status_code == 404
    listed = drao_client_a1("GET", PERSONS, params={"size": 200}).json()
    assert listed["items"] and {p["department_id"] for p in listed["items"]} == {world.a1}

    before = count_persons(api, world.org_a)
    for body in (person_body(world.org_a, department_id=world.a2), person_body(world.org_a)):
        assert drao_client_a1("POST", PERSONS, json=body).status_code == 403
    moved = drao_client_a1("PATCH", f"{PERSONS}/{mine['person_id']}", json={"department_id": world.a2})
    assert moved.status_code == 403
    assert api("GET", f"{PERSONS}/{mine['person_id']}").json()["department_id"] == world.a1
    assert count_persons(api, world.org_a) == before


def test_a_drao_imports_into_its_department_and_another_department_is_a_bad_row(api, world, drao_client_a1):
    good = unique_email("drao")
    response = import_csv(drao_client_a1, world.org_a, f"{HEADER}\n{good},D,,R,Engineering,,,\n")
    assert response.status_code == 201, response.text
    assert good in listed_emails(drao_client_a1, world.org_a)

    before = count_persons(api, world.org_a)
    response = import_csv(drao_client_a1, world.org_a,
                          f"{HEADER}\n{unique_email()},D,,R,Engineering,,,\n{unique_email()},S,,T,Sales,,,\n")
    assert response.status_code == 400
    assert [int(r["row"]) for r in error_of(response)["details"]["rows"]] == [3]
    assert count_persons(api, world.org_a) == before
    assert import_csv(drao_client_a1, world.org_b, f"{HEADER}\n{unique_email()},A,,B,,,,\n").status_code == 404


def test_a_drao_cannot_import_persons_without_a_department(api, world, drao_client_a1):
    # A DRAO may not create a person outside its departments through POST /persons (403); the CSV import must not
    # let it do so by leaving the department column empty.
    before = count_persons(api, world.org_a)
    response = import_csv(drao_client_a1, world.org_a, f"{HEADER}\n{unique_email('nodept')},N,,D,,,,\n")
    assert response.status_code in (400, 403), response.text
    assert count_persons(api, world.org_a) == before


def test_a_persons_emails_must_be_in_domains_delegated_for_client(api):
    org = new_org(api)
    before = count_persons(api, org)
    outside = api("POST", PERSONS, json=person_body(org, email="eve@not-delegated.example"))
    assert outside.status_code == 422 and error_of(outside)["code"] == "email_not_delegated"
    assert error_of(outside)["details"]["emails"] == {"eve@not-delegated.example": "not_delegated"}
    alternative = api("POST", PERSONS, json=person_body(org, alternative_emails=["x@not-delegated.example"]))
    assert alternative.status_code == 422
    assert count_persons(api, org) == before                    # nothing recorded
    person = create_person(api, org)
    moved = api("PATCH", f"{PERSONS}/{person['person_id']}", json={"email": "pat@not-delegated.example"})
    assert moved.status_code == 422 and error_of(moved)["code"] == "email_not_delegated"
    assert api("GET", f"{PERSONS}/{person['person_id']}").json()["email"] == person["email"]
    imported = import_csv(api, org, f"{HEADER}\n{unique_email()},A,,B,,,,\nz@not-delegated.example,Z,,Y,,,,\n")
    assert imported.status_code == 400 and error_of(imported)["code"] == "csv_rows_invalid"
    assert [r["row"] for r in error_of(imported)["details"]["rows"]] == [3]
    assert count_persons(api, org) == before + 1
