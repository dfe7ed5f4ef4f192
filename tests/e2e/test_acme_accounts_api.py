"""ACME accounts over REST (issue 14: "ACME accounts as SCM has them"): an MRAO, an RAO ssl of the organization or a
DRAO ssl of the department creates one and gets its EAB credentials — the HMAC key in that answer only, never in a
later answer nor in enrollment's event log; lists, gets, counts and orders are scoped like the SSL inventory (an
account outside the caller's scope is 404 and never listed); deactivation; and every bad input a clear 4xx that
creates nothing."""
import base64
import sqlite3
import uuid

import pytest

from gateway import schemas
from tests.e2e.actors import drao, error_of, rao, unique
from tests.e2e.conftest import Embedded
from tests.e2e.test_ssl_lifecycle import ORG, wait_for_profiles

ACCOUNTS = "/api/v1/acme-accounts"


@pytest.fixture(scope="module")
def cp(tmp_path_factory):
    server = Embedded(tmp_path_factory.mktemp("var"), tmp_path_factory.mktemp("logs")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def world(cp):
    """Organization A (departments A1, A2) and B (department B1); the SSL and a client profile; and the actors:
    RAO ssl A, RAO client A, DRAO ssl A1, RAO ssl B (the initial MRAO is cp.api)."""
    api = cp.api
    orgs, departments = {}, {}
    for org, names in (("A", ("A1", "A2")), ("B", ("B1",))):
        orgs[org] = api.create_org({"name": unique(f"ACME org {org} "), **ORG})["organization_id"]
        for name in names:
            made = api("POST", f"/api/v1/organizations/{orgs[org]}/departments", json={"name": name})
            assert made.status_code == 201, made.text
            departments[name] = made.json()["department_id"]
    profiles = wait_for_profiles(api)
    actors = {}
    for name, role in (("RAO ssl A", rao("ssl", orgs["A"])), ("RAO client A", rao("client", orgs["A"])),
                       ("DRAO ssl A1", drao("ssl", departments["A1"])), ("RAO ssl B", rao("ssl", orgs["B"]))):
        _record, actors[name] = cp.admin(unique(name.lower().replace(" ", "-") + "-"), [role])
    return {"orgs": orgs, "departments": departments, "actors": actors,
            "tls": next(p for p in profiles if p["name"] == "Private TLS Server"),
            "public": next(p for p in profiles if p["name"] == "Public TLS"),
            "client": next(p for p in profiles if p["cert_type"] == "client")}


def body(world, org="A", department=None, **overrides) -> dict:
    made = {"name": unique("web team "), "organization_id": world["orgs"][org],
            "department_id": world["departments"][department] if department else None,
            "profile_ids": [world["tls"]["profile_id"]]}
    made.update(overrides)
    return made


def create(api, world, expect=201, **kwargs) -> dict:
    response = api("POST", ACCOUNTS, json=body(world, **kwargs))
    assert response.status_code == expect, response.text
    return response.json()


def listed(api) -> dict:
    response = api("GET", ACCOUNTS, params={"size": 200})
    assert response.status_code == 200, response.text
    page = response.json()
    assert response.headers["X-Total-Count"] == str(page["total"]) and len(page["items"]) == page["total"]
    assert schemas.AcmeAccountList().validate(page) == {}
    return page


def listed_ids(api) -> set[str]:
    return {a["acme_account_id"] for a in listed(api)["items"]}


def enrollment_events(cp: Embedded) -> str:
    """Every payload enrollment recorded, as one text (its SQLite store)."""
    path = cp.var_dir / "enrollment.sqlite3"
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10) as conn:
        return "\n".join(str(p) for (p,) in conn.execute("SELECT payload FROM events ORDER BY position"))


# ---- creating one: the EAB credentials, shown once -----------------------------------------------------------

def test_an_mrao_creates_an_account_and_sees_its_hmac_key_this_once(cp, world):
    sent = body(world, profile_ids=[world["tls"]["profile_id"], world["public"]["profile_id"]])
    response = cp.api("POST", ACCOUNTS, json=sent)
    assert response.status_code == 201, response.text
    created = response.json()
    assert schemas.AcmeAccountCreated().validate(created) == {}, created
    account_id = created["acme_account_id"]
    assert response.headers["Location"] == f"{ACCOUNTS}/{account_id}"
    assert "no-store" in response.headers["Cache-Control"]          # a secret: no cache keeps the answer
    assert created["name"] == sent["name"] and created["organization_id"] == world["orgs"]["A"]
    assert created["department_id"] is None and created["profile_ids"] == sent["profile_ids"]
    assert created["status"] == "active" and created["registrations"] == 0 and created["certificates"] == 0
    assert created["directory_url"] == f"{cp.api.base_url}/acme/directory"
    eab = created["eab"]
    assert eab["kid"] == created["eab_kid"] and eab["kid"]
    key = eab["hmac_key"]
    assert "=" not in key and len(base64.urlsafe_b64decode(key + "=" * (-len(key) % 4))) >= 32   # base64url
    assert "once" in created["note"]

    # never again: not in the account's page, the list, its orders, nor in what enrollment recorded
    shown = cp.api("GET", f"{ACCOUNTS}/{account_id}")
    assert shown.status_code == 200, shown.text
    assert schemas.AcmeAccount().validate(shown.json()) == {}
    assert {k: v for k, v in shown.json().items()} == {k: v for k, v in created.items() if k not in ("eab", "note")}
    for text in (shown.text, cp.api("GET", ACCOUNTS, params={"size": 200}).text,
                 cp.api("GET", f"{ACCOUNTS}/{account_id}/orders").text, enrollment_events(cp)):
        assert key not in text
    assert account_id in enrollment_events(cp)


def test_two_accounts_get_different_credentials(cp, world):
    first, second = create(cp.api, world), create(cp.api, world)
    assert first["eab"]["kid"] != second["eab"]["kid"]
    assert first["eab"]["hmac_key"] != second["eab"]["hmac_key"]


# ---- who may create one ----------------------------------------------------------------------------------------

def test_an_rao_ssl_creates_for_its_organization_and_its_departments(world):
    rao_a = world["actors"]["RAO ssl A"]
    assert create(rao_a, world)["organization_id"] == world["orgs"]["A"]
    assert create(rao_a, world, department="A1")["department_id"] == world["departments"]["A1"]


def test_an_rao_of_another_organization_is_told_it_does_not_exist(cp, world):
    before = listed(cp.api)["total"]
    for department in (None, "A1"):
        refused = world["actors"]["RAO ssl B"]("POST", ACCOUNTS, json=body(world, department=department))
        assert refused.status_code == 404, refused.text              # outside its scope: 404, never 403
        assert error_of(refused)["details"]["kind"] == "organization"
    assert listed(cp.api)["total"] == before


def test_an_rao_without_the_ssl_role_may_not(cp, world):
    refused = world["actors"]["RAO client A"]("POST", ACCOUNTS, json=body(world))
    assert refused.status_code == 403, refused.text                  # it sees A, but may not request SSL there
    assert "ssl" in error_of(refused)["details"]["missing"]


def test_a_drao_creates_for_its_department_only(cp, world):
    drao_a1 = world["actors"]["DRAO ssl A1"]
    made = create(drao_a1, world, department="A1")
    assert made["department_id"] == world["departments"]["A1"] and made["eab"]["hmac_key"]
    whole = drao_a1("POST", ACCOUNTS, json=body(world))              # the whole organization: not its role
    assert whole.status_code == 403, whole.text
    other = drao_a1("POST", ACCOUNTS, json=body(world, department="A2"))
    assert other.status_code == 404, other.text                      # a department it does not see
    assert error_of(other)["details"]["kind"] == "department"


# ---- what each one sees ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def placed(cp, world):
    """One account of A, one of A1, one of A2 and one of B (made by the MRAO)."""
    return {"A": create(cp.api, world), "A1": create(cp.api, world, department="A1"),
            "A2": create(cp.api, world, department="A2"), "B": create(cp.api, world, org="B")}


def test_lists_and_counts_show_what_the_role_covers(cp, world, placed):
    ids = {where: a["acme_account_id"] for where, a in placed.items()}
    mine = set(ids.values())
    assert mine <= listed_ids(cp.api)
    assert listed_ids(world["actors"]["RAO ssl A"]) & mine == {ids["A"], ids["A1"], ids["A2"]}
    assert listed_ids(world["actors"]["DRAO ssl A1"]) & mine == {ids["A1"]}
    assert listed_ids(world["actors"]["RAO ssl B"]) & mine == {ids["B"]}
    assert listed_ids(world["actors"]["RAO client A"]) == set()
    for actor in ("RAO ssl A", "DRAO ssl A1", "RAO ssl B", "RAO client A"):
        api = world["actors"][actor]
        every = listed(api)
        assert all(a["organization_id"] in (world["orgs"]["A"], world["orgs"]["B"]) for a in every["items"])
        counted = api("HEAD", ACCOUNTS)
        assert counted.status_code == 200 and counted.headers["X-Total-Count"] == str(every["total"]), actor
        assert not any("hmac_key" in a or "eab" in a for a in every["items"])


def test_a_list_is_paged(cp, world, placed):
    total = listed(cp.api)["total"]
    first = cp.api("GET", ACCOUNTS, params={"size": 2}).json()
    second = cp.api("GET", ACCOUNTS, params={"size": 2, "position": 2}).json()
    assert first["total"] == second["total"] == total and (first["position"], first["size"]) == (0, 2)
    assert len(first["items"]) == 2
    assert not {a["acme_account_id"] for a in first["items"]} & {a["acme_account_id"] for a in second["items"]}
    assert cp.api("GET", ACCOUNTS, params={"size": 201}).status_code == 400


def test_an_account_outside_the_scope_is_404_as_if_it_did_not_exist(cp, world, placed):
    a, b = placed["A"]["acme_account_id"], placed["B"]["acme_account_id"]
    rao_b, drao_a1 = world["actors"]["RAO ssl B"], world["actors"]["DRAO ssl A1"]
    assert rao_b("GET", f"{ACCOUNTS}/{b}").status_code == 200
    for api, account in ((rao_b, a), (drao_a1, a), (drao_a1, placed["A2"]["acme_account_id"]),
                         (world["actors"]["RAO client A"], a)):
        for method, path in (("GET", f"{ACCOUNTS}/{account}"), ("GET", f"{ACCOUNTS}/{account}/orders"),
                             ("POST", f"{ACCOUNTS}/{account}/deactivate")):
            answer = api(method, path)
            assert answer.status_code == 404, (method, path, answer.text)
            assert error_of(answer)["details"] == {"kind": "acme_account", "id": account}
    unknown = str(uuid.uuid4())
    assert error_of(cp.api("GET", f"{ACCOUNTS}/{unknown}"))["details"] == {"kind": "acme_account", "id": unknown}
    assert cp.api("GET", f"{ACCOUNTS}/not-an-id").status_code == 404
    assert cp.api("GET", f"{ACCOUNTS}/{a}").json()["status"] == "active"        # the refused deactivations


def test_a_new_account_has_no_orders(cp, world, placed):
    account = placed["A1"]["acme_account_id"]
    for api in (cp.api, world["actors"]["RAO ssl A"], world["actors"]["DRAO ssl A1"]):
        answer = api("GET", f"{ACCOUNTS}/{account}/orders")
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"items": [], "total": 0, "position": 0, "size": 50}
        assert answer.headers["X-Total-Count"] == "0"


def test_its_certificates_are_the_ssl_inventory_requested_by_it(cp, world, placed):
    account = placed["A"]["acme_account_id"]
    answer = cp.api("GET", "/api/v1/ssl", params={"requested_by": f"acme:{account}"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["total"] == 0 == placed["A"]["certificates"]


# ---- deactivation --------------------------------------------------------------------------------------------

def test_deactivating_ends_it_for_good(cp, world):
    made = create(world["actors"]["DRAO ssl A1"], world, department="A1")
    account = made["acme_account_id"]
    answer = world["actors"]["DRAO ssl A1"]("POST", f"{ACCOUNTS}/{account}/deactivate")
    assert answer.status_code == 200, answer.text
    assert schemas.AcmeAccount().validate(answer.json()) == {}
    assert answer.json()["status"] == "deactivated" and answer.json()["eab_kid"] == made["eab_kid"]
    assert cp.api("GET", f"{ACCOUNTS}/{account}").json()["status"] == "deactivated"
    assert next(a for a in listed(cp.api)["items"] if a["acme_account_id"] == account)["status"] == "deactivated"
    again = cp.api("POST", f"{ACCOUNTS}/{account}/deactivate")
    assert again.status_code in (200, 409), again.text                # a repeat changes nothing
    assert cp.api("GET", f"{ACCOUNTS}/{account}").json()["status"] == "deactivated"


# ---- bad input: a clear 4xx, nothing created -------------------------------------------------------------------

BAD = {
    # name: (the body's change, the statuses the rules allow, a word the answer must name)
    "unknown profile": (lambda w: {"profile_ids": [str(uuid.uuid4())]}, (400, 404, 422), "profile"),
    "non-SSL profile": (lambda w: {"profile_ids": [w["tls"]["profile_id"], w["client"]["profile_id"]]},
                        (400, 422), "ssl"),
    "missing name": (lambda w: {"name": None}, (400,), "name"),
    "empty name": (lambda w: {"name": ""}, (400,), "name"),
    "no profile": (lambda w: {"profile_ids": []}, (400,), "profile_ids"),
    "unknown organization": (lambda w: {"organization_id": str(uuid.uuid4())}, (404,), "organization"),
    "department of another organization": (lambda w: {"department_id": w["departments"]["B1"]}, (404,),
                                           "department"),
    "unknown field": (lambda w: {"hmac_key": "chosen by me"}, (400,), "hmac_key"),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_input_is_refused_with_its_reason_and_creates_nothing(cp, world, case):
    change, statuses, word = BAD[case]
    sent = {**body(world), **change(world)}
    sent = {k: v for k, v in sent.items() if v is not None or k == "department_id"}
    before = listed(cp.api)["total"]
    refused = cp.api("POST", ACCOUNTS, json=sent)
    assert refused.status_code in statuses, refused.text
    error = error_of(refused)
    assert word in (error["message"] + str(error["details"])).lower(), error
    assert listed(cp.api)["total"] == before
    assert not any(a["name"] == sent.get("name") for a in listed(cp.api)["items"])
