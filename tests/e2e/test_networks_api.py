"""IP networks through HTTP, as an administrator uses them: create a CIDR and delegate it (with the domains' dual
approval), every bad CIDR refused with its reason, overlaps refused, scope, lists and Idempotency-Key. Certplane
runs as `make run` starts it."""
import threading

import pytest

from tests.e2e.conftest import Embedded

ORG = {"address1": "1 Main St", "city": "Berlin", "state": "Berlin", "country": "DE"}
NETWORKS = "/api/v1/networks"


@pytest.fixture(scope="module")
def cp(tmp_path_factory):
    server = Embedded(tmp_path_factory.mktemp("var"), tmp_path_factory.mktemp("logs")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def world(cp):
    a = cp.api.create_org({"name": "Networks Org A", **ORG})
    b = cp.api.create_org({"name": "Networks Org B", **ORG})
    a1 = cp.api("POST", f"/api/v1/organizations/{a['organization_id']}/departments", json={"name": "A1"}).json()
    b1 = cp.api("POST", f"/api/v1/organizations/{b['organization_id']}/departments", json={"name": "B1"}).json()
    org_a, org_b = a["organization_id"], b["organization_id"]
    rao = lambda t, o: {"role": "RAO", "cert_type": t, "organization_ids": [o]}          # noqa: E731
    admins = {
        "rao_a": cp.admin("net-rao-a", [rao("ssl", org_a)]),
        "rao_a_approver": cp.admin("net-rao-a-appr", [rao("ssl", org_a)], ["approve_domain_delegation"]),
        "rao_a_direct": cp.admin("net-rao-a-direct", [rao("ssl", org_a)],
                                 ["domain_validation_without_dual_approval"]),
        "rao_a_client": cp.admin("net-rao-a-client", [rao("client", org_a)]),
        "rao_b_approver": cp.admin("net-rao-b-appr", [rao("ssl", org_b)], ["approve_domain_delegation"]),
        "drao_a1": cp.admin("net-drao-a1", [{"role": "DRAO", "cert_type": "ssl",
                                             "department_ids": [a1["department_id"]]}]),
    }
    return {"org_a": org_a, "org_b": org_b, "a1": a1["department_id"], "b1": b1["department_id"],
            **{k: v[1] for k, v in admins.items()}}


def create(api, cidr, delegations, expect=201, **headers):
    response = api("POST", NETWORKS, json={"cidr": cidr, "delegations": delegations}, headers=headers)
    assert response.status_code == expect, response.text
    return response.json()


def delegation(org, types=("ssl",), department=None):
    return {"organization_id": org, "department_id": department, "cert_types": list(types)}


def count(api, **params) -> int:
    return int(api("HEAD", NETWORKS, params=params).headers["X-Total-Count"])


def events(cp) -> int:
    import sqlite3
    with sqlite3.connect(f"file:{cp.var_dir / 'domains.sqlite3'}?mode=ro", uri=True, timeout=10) as conn:
        return conn.execute("SELECT count(*) FROM events").fetchone()[0]


# ---- creating, normalising, refusing -----------------------------------------------------------------------

def test_an_mrao_creates_a_network_delegated_and_approved_at_once(cp, world):
    response = cp.api("POST", NETWORKS, json={"cidr": "FD00:0001::/48", "description": "lab",
                                              "delegations": [delegation(world["org_a"], ("ssl", "client"))]})
    assert response.status_code == 201, response.text
    created = response.json()
    assert (created["cidr"], created["ip_version"], created["active"]) == ("fd00:1::/48", 6, True)
    assert [d["status"] for d in created["delegations"]] == ["approved"]
    assert response.headers["Location"] == f"{NETWORKS}/{created['network_id']}"
    assert cp.api("GET", response.headers["Location"]).json() == created


@pytest.mark.parametrize("cidr, code, reason", [
    ("10.0.0.0/33", "invalid_network", "CIDR notation"),
    ("abc", "invalid_network", "CIDR notation"),
    ("10.1.2.3", "invalid_network", "prefix length"),
    ("10.0.0.1/8", "network_host_bits", "the network is 10.0.0.0/8"),
    ("::/0", "network_too_broad", "broader than /16"),
    ("0.0.0.0/0", "network_too_broad", "broader than /8"),
    ("", None, "Length"),
])
def test_a_bad_network_gets_a_400_with_the_reason_and_nothing_is_stored(cp, world, cidr, code, reason):
    before, recorded = count(cp.api), events(cp)
    response = cp.api("POST", NETWORKS, json={"cidr": cidr, "delegations": [delegation(world["org_a"])]})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    if code is not None:
        assert error["code"] == code and reason in error["message"] and reason in error["details"]["cidr"][0]
    else:
        assert "cidr" in error["details"]
    assert count(cp.api) == before and events(cp) == recorded


@pytest.mark.parametrize("overlapping", ["10.40.0.0/16", "10.40.7.0/24", "10.0.0.0/8", "10.40.1.1/32"])
def test_an_overlapping_network_gets_a_409_naming_the_other_and_nothing_is_stored(cp, world, overlapping):
    if not any(n["cidr"] == "10.40.0.0/16" for n in cp.api("GET", NETWORKS, params={"size": 200}).json()["items"]):
        create(cp.api, "10.40.0.0/16", [delegation(world["org_a"])])
    before, recorded = count(cp.api), events(cp)
    response = cp.api("POST", NETWORKS, json={"cidr": overlapping, "delegations": [delegation(world["org_a"])]})
    assert response.status_code == 409, response.text
    error = response.json()["error"]
    assert error["code"] == "overlapping_network" and "10.40.0.0/16" in error["message"]
    assert count(cp.api) == before and events(cp) == recorded


def test_an_idempotency_key_makes_a_repeated_create_one_network(cp, world):
    key = {"Idempotency-Key": "net-create-1"}
    first = cp.api("POST", NETWORKS, json={"cidr": "172.16.0.0/12", "delegations": [delegation(world["org_a"])]},
                   headers=key)
    again = cp.api("POST", NETWORKS, json={"cidr": "172.16.0.0/12", "delegations": [delegation(world["org_a"])]},
                   headers=key)
    assert first.status_code == again.status_code == 201, again.text
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert first.json()["network_id"] == again.json()["network_id"]
    assert count(cp.api, q="172.16.") == 1


# ---- delegation and dual approval ---------------------------------------------------------------------------

def test_an_rao_requests_and_only_an_eligible_other_admin_approves(cp, world):
    requested = create(world["rao_a"], "192.168.10.0/24", [delegation(world["org_a"])])
    pending = requested["delegations"][0]
    assert pending["status"] == "requested"
    path = f"{NETWORKS}/{requested['network_id']}/delegations/{pending['delegation_id']}"
    own = world["rao_a"]("POST", path + "/approve")
    assert own.status_code == 403 and own.json()["error"]["code"] == "own_request"
    no_privilege = world["rao_a_direct"]("POST", path + "/approve")
    assert no_privilege.status_code == 403
    assert no_privilege.json()["error"]["details"]["missing"] == "privilege approve_domain_delegation"
    assert world["rao_b_approver"]("POST", path + "/approve").status_code == 404     # not in its scope
    assert world["drao_a1"]("POST", path + "/approve").status_code == 404            # DRAO A1 does not see it
    approved = world["rao_a_approver"]("POST", path + "/approve")
    assert approved.status_code == 200, approved.text
    assert approved.json()["delegations"][0]["status"] == "approved"
    assert cp.api("POST", path + "/approve").json()["error"]["code"] == "delegation_approved"   # 409 after


def test_two_racing_approvals_make_one_transition(cp, world):
    requested = create(world["rao_a"], "192.168.11.0/24", [delegation(world["org_a"])])
    path = (f"{NETWORKS}/{requested['network_id']}/delegations/"
            f"{requested['delegations'][0]['delegation_id']}/approve")
    answers = []
    threads = [threading.Thread(target=lambda api=api: answers.append(api("POST", path).status_code))
               for api in (cp.api, world["rao_a_approver"])]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(answers) == [200, 409]


def test_a_rejection_ends_the_request(cp, world):
    requested = create(world["drao_a1"], "192.168.12.0/24", [delegation(world["org_a"], department=world["a1"])])
    path = f"{NETWORKS}/{requested['network_id']}/delegations/{requested['delegations'][0]['delegation_id']}"
    rejected = cp.api("POST", path + "/reject", json={"reason": "not ours"})
    assert rejected.status_code == 200
    assert rejected.json()["delegations"][0] | {"status": "rejected", "reason": "not ours"} == \
        rejected.json()["delegations"][0]
    assert cp.api("POST", path + "/approve").status_code == 409


def test_privilege_without_dual_approval_delegates_at_once(cp, world):
    assert create(world["rao_a_direct"], "192.168.13.0/24",
                  [delegation(world["org_a"])])["delegations"][0]["status"] == "approved"


def test_nobody_delegates_beyond_their_roles(cp, world):
    before = count(cp.api)
    assert create(world["rao_a"], "10.81.0.0/16", [delegation(world["org_b"])], 404)["error"]["code"] == "not_found"
    assert create(world["rao_a"], "10.82.0.0/16", [delegation(world["org_a"], ("client",))], 403)
    assert create(world["drao_a1"], "10.83.0.0/16", [delegation(world["org_a"])], 403)
    assert create(world["drao_a1"], "10.84.0.0/16", [delegation(world["org_b"], department=world["b1"])], 404)
    assert create(cp.api, "10.85.0.0/16", [delegation(world["org_a"], department=world["b1"])], 404)
    assert create(world["rao_a"], "10.86.0.0/16", [], 400)["error"]["details"] == {
        "delegations": ["at least one, in your scope"]}
    assert count(cp.api) == before


def test_adding_and_removing_a_delegation(cp, world):
    found = create(cp.api, "10.90.0.0/16", [delegation(world["org_a"])])
    path = f"{NETWORKS}/{found['network_id']}"
    added = world["drao_a1"]("POST", f"{path}/delegations", json=delegation(world["org_a"], department=world["a1"]))
    assert added.status_code == 404                      # DRAO A1 does not see it until it is delegated to A1
    added = cp.api("POST", f"{path}/delegations", json=delegation(world["org_a"], department=world["a1"]))
    assert added.status_code == 201, added.text
    new_id = added.headers["Location"].rsplit("/", 1)[1]
    assert {d["delegation_id"] for d in added.json()["delegations"]} >= {new_id}
    twice = cp.api("POST", f"{path}/delegations", json=delegation(world["org_a"], department=world["a1"]))
    assert twice.status_code == 409 and twice.json()["error"]["code"] == "delegation_exists"
    client_only = world["rao_a_client"]("DELETE", f"{path}/delegations/{new_id}")
    assert client_only.status_code == 404                 # an RAO client of A sees no ssl delegation
    removed = world["rao_a"]("DELETE", f"{path}/delegations/{new_id}")
    assert removed.status_code == 200 and new_id not in removed.text


# ---- changing, deleting, scope ------------------------------------------------------------------------------

def test_a_delegated_network_cannot_be_deleted_until_its_delegations_are_removed(cp, world):
    found = create(cp.api, "10.91.0.0/16", [delegation(world["org_a"])])
    path = f"{NETWORKS}/{found['network_id']}"
    assert cp.api("DELETE", path).json()["error"]["code"] == "network_in_use"
    assert world["rao_a_client"]("DELETE", path).status_code == 404
    removed = cp.api("DELETE", f"{path}/delegations/{found['delegations'][0]['delegation_id']}")
    assert removed.status_code == 200 and removed.json()["delegations"] == []
    assert cp.api("DELETE", path).status_code == 204
    assert cp.api("GET", path).status_code == 404
    create(cp.api, "10.91.0.0/16", [delegation(world["org_a"])])       # its range is free again


def test_an_admin_who_could_make_every_delegation_may_change_the_network(cp, world):
    found = create(world["rao_a_direct"], "10.92.0.0/16", [delegation(world["org_a"])])
    path = f"{NETWORKS}/{found['network_id']}"
    changed = world["rao_a"]("PATCH", path, json={"active": False, "description": "parked"})
    assert changed.status_code == 200 and (changed.json()["active"], changed.json()["description"]) == \
        (False, "parked")
    assert world["rao_a"]("PATCH", path, json={"cidr": "10.93.0.0/16"}).status_code == 400   # the CIDR is fixed
    assert count(cp.api, active="false") >= 1
    assert world["drao_a1"]("PATCH", path, json={"active": True}).status_code == 404


def test_lists_and_counts_show_only_networks_in_scope(cp, world):
    only_b = create(cp.api, "10.100.0.0/16", [delegation(world["org_b"])])
    create(cp.api, "10.101.0.0/16", [delegation(world["org_a"], ("client",))])
    seen = {n["cidr"] for n in world["rao_a"]("GET", NETWORKS, params={"size": 200}).json()["items"]}
    assert "10.100.0.0/16" not in seen and "10.101.0.0/16" not in seen and "192.168.10.0/24" in seen
    assert count(world["rao_a"]) == len(seen)
    client_view = {n["cidr"] for n in world["rao_a_client"]("GET", NETWORKS).json()["items"]}
    assert "10.101.0.0/16" in client_view and "192.168.10.0/24" not in client_view
    assert world["rao_a"]("GET", f"{NETWORKS}/{only_b['network_id']}").status_code == 404
    assert world["rao_a"]("GET", NETWORKS, params={"contains": "10.100.3.4"}).json()["items"] == []
    assert [n["cidr"] for n in cp.api("GET", NETWORKS, params={"contains": "10.100.3.4"}).json()["items"]] == \
        ["10.100.0.0/16"]
    bad = cp.api("GET", NETWORKS, params={"contains": "10.100.3.400"})
    assert bad.status_code == 400 and bad.json()["error"]["details"] == {"contains": ["not an IPv4 or IPv6 address"]}
    page = cp.api("GET", NETWORKS, params={"size": 2, "position": 1}).json()
    assert len(page["items"]) == 2 and page["total"] == count(cp.api) and page["position"] == 1


def test_the_openapi_document_describes_the_network_routes(cp):
    spec = cp.api("GET", "/api/v1/openapi.json").json()
    paths = spec["paths"]
    assert set(paths[NETWORKS]) == {"get", "head", "post"}
    assert set(paths[NETWORKS + "/{network_id}"]) == {"get", "patch", "delete"}
    assert "post" in paths[NETWORKS + "/{network_id}/delegations"]
    assert "delete" in paths[NETWORKS + "/{network_id}/delegations/{delegation_id}"]
    for action in ("approve", "reject"):
        assert "post" in paths[f"{NETWORKS}/{{network_id}}/delegations/{{delegation_id}}/{action}"]
    create_op = paths[NETWORKS]["post"]
    assert any(p["name"] == "Idempotency-Key" for p in create_op["parameters"])
    assert "overlapping_network" in create_op["responses"]["409"]["description"]
