"""Organizations and departments through the REST API, as a client sees them."""
import json

import pytest

from tests import factories

ORGS = "/api/v1/organizations"


def error_of(response):
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details", "correlation_id"}
    return body["error"]


def test_create_organization_then_department_then_list(api):
    org = api.create_org(factories.organization(name="Globex", country="DE", city="Berlin", state="Berlin"))
    assert org["validation_status"] == "not_validated" and org["departments"] == []
    created = api("POST", f"{ORGS}/{org['organization_id']}/departments", json={"name": "Engineering"})
    assert created.status_code == 201, created.text
    assert created.headers["Location"].endswith(created.json()["department_id"])
    assert created.json()["organization_name"] == "Globex"

    listed = api("GET", ORGS, params={"name": "globex"}).json()
    assert listed["total"] == 1
    assert listed["items"][0]["department_count"] == 1
    departments = api("GET", f"{ORGS}/{org['organization_id']}/departments").json()
    assert [(d["name"], d["organization_name"]) for d in departments["items"]] == [("Engineering", "Globex")]
    full = api("GET", f"{ORGS}/{org['organization_id']}").json()
    assert [d["name"] for d in full["departments"]] == ["Engineering"]


def test_lists_are_sorted_filtered_paged_and_counted(api):
    for name in ("Zeta Pharma", "alpha pharma", "Mid Pharma"):
        api.create_org(factories.organization(name=name, country="FR"))
    page = api("GET", ORGS, params={"q": "PHARMA", "size": 2}).json()
    assert [o["name"] for o in page["items"]] == ["alpha pharma", "Mid Pharma"]
    assert page["total"] == 3
    rest = api("GET", ORGS, params={"q": "pharma", "size": 2, "position": 2}).json()
    assert [o["name"] for o in rest["items"]] == ["Zeta Pharma"]
    head = api("HEAD", ORGS, params={"q": "pharma", "country": "FR"})
    assert head.status_code == 200 and head.headers["X-Total-Count"] == "3" and head.content == b""


def test_update_and_validation_lifecycle(api):
    org = api.create_org(factories.organization())
    path = f"{ORGS}/{org['organization_id']}"
    assert api("PATCH", path, json={"city": "Chicago"}).json()["city"] == "Chicago"
    assert api("POST", f"{path}/validation/start").json()["validation_status"] == "pending"
    assert api("GET", ORGS, params={"validation_status": "pending", "name": org["name"]}).json()["total"] == 1
    done = api("POST", f"{path}/validation/complete", json={"outcome": "validated", "note": "register checked"})
    assert done.json()["validation_status"] == "validated"
    assert api("PATCH", path, json={"city": "Peoria"}).json()["city"] == "Peoria"  # unlocked again


def test_delete_department_then_organization(api):
    org = api.create_org(factories.organization())
    path = f"{ORGS}/{org['organization_id']}"
    dept = api("POST", f"{path}/departments", json={"name": "Ops"}).json()
    assert api("PATCH", f"{path}/departments/{dept['department_id']}", json={"name": "Operations"}).json()[
        "name"] == "Operations"
    assert api("DELETE", f"{path}/departments/{dept['department_id']}").status_code == 204
    assert api("DELETE", path).status_code == 204
    assert error_of(api("GET", path))["code"] == "not_found"
    assert api("GET", ORGS, params={"name": org["name"]}).json()["total"] == 0


# ---- bad input: a clear 4xx, and nothing changes ------------------------------------------------------------

@pytest.mark.parametrize("body,field", [
    ({"address1": "1 Main St", "city": "Berlin", "state": "Berlin", "country": "DE"}, "name"),
    (factories.organization(name="x" * 65), "name"),
    (factories.organization(address1="y" * 129), "address1"),
    (factories.organization(country="XX"), "country"),
    (factories.organization(country="Germany"), "country"),
    (factories.organization(colour="blue"), "colour"),
    (factories.organization(key_escrow={"enabled": True, "surprise": 1}), "key_escrow"),
])
def test_invalid_organization_fields_are_400_and_create_nothing(api, body, field):
    before = api.count_orgs()
    response = api("POST", ORGS, json=body)
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "invalid_request" and field in error["details"]
    assert api.count_orgs() == before


def test_malformed_json_is_400(api):
    before = api.count_orgs()
    response = api("POST", ORGS, data=b'{"name": "Broken",', headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and error_of(response)["code"] == "malformed_json"
    response = api("POST", ORGS, json=["not", "an", "object"])
    assert response.status_code == 400
    assert api.count_orgs() == before


def test_a_body_that_is_not_json_is_415(api):
    response = api("POST", ORGS, data="name=Acme", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 415 and error_of(response)["code"] == "unsupported_media_type"


def test_a_body_over_the_limit_is_413(api):
    before = api.count_orgs()
    body = json.dumps(factories.organization(address2="z" * 70_000))
    response = api("POST", ORGS, data=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 413 and error_of(response)["code"] == "request_entity_too_large"

    def chunked():  # no Content-Length: the limit must hold while reading too
        yield body[:1000].encode()
        yield body[1000:].encode()
    response = api("POST", ORGS, data=chunked(), headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert api.count_orgs() == before


def test_duplicate_organization_name_is_409(api):
    org = api.create_org(factories.organization())
    before = api.count_orgs()
    response = api("POST", ORGS, json=factories.organization(name=org["name"].upper()))
    assert response.status_code == 409
    error = error_of(response)
    assert error["code"] == "duplicate_name" and error["details"]["organization_id"] == org["organization_id"]
    assert api.count_orgs() == before


def test_department_under_an_unknown_organization_is_404(api):
    unknown = "00000000-0000-4000-8000-000000000000"
    response = api("POST", f"{ORGS}/{unknown}/departments", json={"name": "Ghost"})
    assert response.status_code == 404 and error_of(response)["details"] == {"kind": "organization", "id": unknown}
    assert api("GET", f"{ORGS}/{unknown}/departments").status_code == 404
    assert api("GET", f"{ORGS}/not-a-uuid").status_code == 404


def test_duplicate_department_name_is_409(api):
    org = api.create_org(factories.organization())
    api("POST", f"{ORGS}/{org['organization_id']}/departments", json={"name": "Sales"})
    response = api("POST", f"{ORGS}/{org['organization_id']}/departments", json={"name": "SALES"})
    assert response.status_code == 409 and error_of(response)["code"] == "duplicate_name"
    assert api("GET", f"{ORGS}/{org['organization_id']}/departments").json()["total"] == 1


def test_editing_the_address_while_validation_is_pending_is_409(api):
    org = api.create_org(factories.organization())
    path = f"{ORGS}/{org['organization_id']}"
    api("POST", f"{path}/validation/start")
    response = api("PATCH", path, json={"address1": "2 Other Road", "city": "Elsewhere"})
    assert response.status_code == 409
    error = error_of(response)
    assert error["code"] == "address_locked" and sorted(error["details"]["locked_fields"]) == ["address1", "city"]
    after = api("GET", path).json()
    assert (after["address1"], after["city"], after["version"]) == (org["address1"], org["city"], 2)


def test_key_escrow_cannot_change_after_creation(api):
    org = api.create_org(factories.organization())
    response = api("PATCH", f"{ORGS}/{org['organization_id']}", json={"key_escrow": {"enabled": True}})
    assert response.status_code == 400 and "key_escrow" in error_of(response)["details"]


def test_deleting_an_organization_with_departments_is_409(api):
    org = api.create_org(factories.organization())
    api("POST", f"{ORGS}/{org['organization_id']}/departments", json={"name": "Legal"})
    response = api("DELETE", f"{ORGS}/{org['organization_id']}")
    assert response.status_code == 409
    assert error_of(response)["code"] == "has_dependents" and error_of(response)["details"]["departments"] == ["Legal"]
    assert api("GET", f"{ORGS}/{org['organization_id']}").status_code == 200


def test_completing_a_validation_that_was_not_started_is_409(api):
    org = api.create_org(factories.organization())
    response = api("POST", f"{ORGS}/{org['organization_id']}/validation/complete", json={"outcome": "validated"})
    assert response.status_code == 409 and error_of(response)["code"] == "validation_not_pending"
    response = api("POST", f"{ORGS}/{org['organization_id']}/validation/complete", json={"outcome": "maybe"})
    assert response.status_code == 400


@pytest.mark.parametrize("params,field", [({"size": "1000"}, "size"), ({"position": "-1"}, "position"),
                                          ({"validation_status": "great"}, "validation_status"),
                                          ({"sort": "name"}, "sort"), ({"size": "ten"}, "size")])
def test_bad_query_parameters_are_400(api, params, field):
    response = api("GET", ORGS, params=params)
    assert response.status_code == 400 and field in error_of(response)["details"]


def test_unknown_paths_and_methods_answer_in_the_error_format(api):
    assert api("GET", "/api/v1/nothing-here").status_code == 404
    assert error_of(api("GET", "/api/v1/nothing-here"))["code"] == "not_found"
    response = api("PUT", ORGS, json={})
    assert response.status_code == 405 and error_of(response)["code"] == "method_not_allowed"


# ---- Idempotency-Key ------------------------------------------------------------------------------------------

def test_same_idempotency_key_same_body_gives_the_same_answer_and_one_organization(api):
    body = factories.organization()
    before = api.count_orgs()
    first = api("POST", ORGS, json=body, headers={"Idempotency-Key": "create-once-1"})
    again = api("POST", ORGS, json=body, headers={"Idempotency-Key": "create-once-1"})
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert again.headers["Idempotent-Replayed"] == "true" and again.headers["Location"] == first.headers["Location"]
    assert api.count_orgs() == before + 1


def test_reusing_an_idempotency_key_with_another_body_is_409(api):
    api("POST", ORGS, json=factories.organization(), headers={"Idempotency-Key": "create-once-2"})
    before = api.count_orgs()
    response = api("POST", ORGS, json=factories.organization(), headers={"Idempotency-Key": "create-once-2"})
    assert response.status_code == 409 and error_of(response)["code"] == "idempotency_key_reused"
    assert api.count_orgs() == before


def test_a_refused_request_releases_its_idempotency_key(api):
    taken = api.create_org(factories.organization())
    body = factories.organization(name=taken["name"])
    assert api("POST", ORGS, json=body, headers={"Idempotency-Key": "fix-and-retry"}).status_code == 409
    fixed = {**body, "name": body["name"] + " II"}
    assert api("POST", ORGS, json=fixed, headers={"Idempotency-Key": "fix-and-retry"}).status_code == 201


def test_an_invalid_idempotency_key_is_400(api):
    response = api("POST", ORGS, json=factories.organization(), headers={"Idempotency-Key": "x" * 256})
    assert response.status_code == 400


# ---- correlation ----------------------------------------------------------------------------------------------

def test_the_correlation_id_is_echoed_in_headers_and_errors(api):
    response = api("POST", ORGS, json={}, headers={"X-Correlation-Id": "trace-abc-123"})
    assert response.headers["X-Correlation-Id"] == "trace-abc-123"
    assert error_of(response)["correlation_id"] == "trace-abc-123"
    assert api("GET", "/healthz").headers["X-Correlation-Id"]
