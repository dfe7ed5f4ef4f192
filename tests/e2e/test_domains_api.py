"""Domains through HTTP, as an administrator uses them: create and delegate (with dual approval), validate control
by HTTP file, DNS TXT and DNS CNAME against real servers the test starts (an authoritative DNS server, an HTTP and
an HTTPS server), CAA, and bad input. Certplane runs as `make run` starts it, pointed at those servers."""
import threading

import pytest

from tests.dns_server import DnsServer
from tests.e2e.conftest import Embedded
from tests.http_server import HttpServer

ORG = {"address1": "1 Main St", "city": "Berlin", "state": "Berlin", "country": "DE"}


@pytest.fixture(scope="module")
def net():
    dns, web, tls = DnsServer().start(), HttpServer().start(), HttpServer(tls=True).start()
    yield dns, web, tls
    for server in (dns, web, tls):
        server.stop()


@pytest.fixture(scope="module")
def cp(tmp_path_factory, net):
    dns, web, tls = net
    server = Embedded(tmp_path_factory.mktemp("var"), tmp_path_factory.mktemp("logs"),
                      CERTPLANE_DNS_RESOLVER=dns.address, CERTPLANE_DNS_TIMEOUT="1",
                      CERTPLANE_DCV_HTTP_ALLOW_PRIVATE="true", CERTPLANE_DCV_HTTP_PORT=str(web.port),
                      CERTPLANE_DCV_HTTPS_PORT=str(tls.port), CERTPLANE_DCV_HTTP_TIMEOUT="2",
                      CERTPLANE_CAA_IDENTITIES="certplane.test").start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def world(cp):
    """Two organizations with a department each, and the admins of the matrix."""
    a = cp.api.create_org({"name": "Domains Org A", **ORG})
    b = cp.api.create_org({"name": "Domains Org B", **ORG})
    a1 = cp.api("POST", f"/api/v1/organizations/{a['organization_id']}/departments", json={"name": "A1"}).json()
    b1 = cp.api("POST", f"/api/v1/organizations/{b['organization_id']}/departments", json={"name": "B1"}).json()
    org_a, org_b = a["organization_id"], b["organization_id"]
    rao = lambda t, o: {"role": "RAO", "cert_type": t, "organization_ids": [o]}          # noqa: E731
    admins = {
        "rao_a": cp.admin("dom-rao-a", [rao("ssl", org_a)], ["allow_dcv"]),
        "rao_a_approver": cp.admin("dom-rao-a-appr", [rao("ssl", org_a)], ["approve_domain_delegation"]),
        "rao_a_direct": cp.admin("dom-rao-a-direct", [rao("ssl", org_a)],
                                 ["domain_validation_without_dual_approval"]),
        "rao_a_client": cp.admin("dom-rao-a-client", [rao("client", org_a)]),
        "rao_b_approver": cp.admin("dom-rao-b-appr", [rao("ssl", org_b)], ["approve_domain_delegation"]),
        "drao_a1": cp.admin("dom-drao-a1", [{"role": "DRAO", "cert_type": "ssl",
                                             "department_ids": [a1["department_id"]]}]),
    }
    return {"org_a": org_a, "org_b": org_b, "a1": a1["department_id"], "b1": b1["department_id"],
            **{k: v[1] for k, v in admins.items()}}


def create(api, name, delegations, expect=201):
    response = api("POST", "/api/v1/domains", json={"name": name, "delegations": delegations})
    assert response.status_code == expect, response.text
    return response.json()


def delegation(org, types=("ssl",), department=None):
    return {"organization_id": org, "department_id": department, "cert_types": list(types)}


# ---- creation, names, delegation ------------------------------------------------------------------------

def test_an_mrao_creates_a_domain_delegated_and_approved_at_once(cp, world):
    created = create(cp.api, "Bücher.Example.", [delegation(world["org_a"], ("ssl", "client"))])
    assert created["name"] == "xn--bcher-kva.example"
    assert [d["status"] for d in created["delegations"]] == ["approved"]
    assert created["dcv"]["status"] == "not_validated"
    assert "hostmaster@xn--bcher-kva.example" in created["dcv_email_addresses"]
    again = cp.api("POST", "/api/v1/domains", json={"name": "bücher.example"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "domain_exists"


@pytest.mark.parametrize("name, why", [
    ("my_host.example.com", "'_'"), ("*.*.example.com", "leftmost"), ("*.com", "public suffix"),
    ("a" * 64 + ".example.com", "63"), (".".join(["abcdefghij"] * 25) + ".com", "253"),
    ("192.0.2.1", "IP address"), ("co.uk", "public suffix"), ("github.io", "public suffix"),
    ("-host.example.com", "hyphen"),
])
def test_invalid_names_are_refused_and_nothing_is_stored(cp, world, name, why):
    before = int(cp.api("HEAD", "/api/v1/domains").headers["X-Total-Count"])
    response = cp.api("POST", "/api/v1/domains", json={"name": name})
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_domain_name", response.text
    assert why in response.json()["error"]["message"]
    assert int(cp.api("HEAD", "/api/v1/domains").headers["X-Total-Count"]) == before


def test_an_rao_requests_and_only_an_eligible_other_admin_approves(cp, world):
    requested = create(world["rao_a"], "requested.example", [delegation(world["org_a"])])
    pending = requested["delegations"][0]
    assert pending["status"] == "requested"
    path = f"/api/v1/domains/{requested['domain_id']}/delegations/{pending['delegation_id']}"
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
    requested = create(world["rao_a"], "race.example", [delegation(world["org_a"])])
    path = (f"/api/v1/domains/{requested['domain_id']}/delegations/"
            f"{requested['delegations'][0]['delegation_id']}/approve")
    answers = []
    threads = [threading.Thread(target=lambda api=api: answers.append(api("POST", path).status_code))
               for api in (cp.api, world["rao_a_approver"])]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(answers) == [200, 409]
    events = cp.api("GET", f"/api/v1/domains/{requested['domain_id']}").json()
    assert events["delegations"][0]["status"] == "approved"


def test_a_rejection_ends_the_request(cp, world):
    requested = create(world["drao_a1"], "dept.example", [delegation(world["org_a"], department=world["a1"])])
    path = (f"/api/v1/domains/{requested['domain_id']}/delegations/"
            f"{requested['delegations'][0]['delegation_id']}")
    rejected = cp.api("POST", path + "/reject", json={"reason": "not ours"})
    assert rejected.status_code == 200 and rejected.json()["delegations"][0]["status"] == "rejected"
    assert cp.api("POST", path + "/approve").status_code == 409


def test_privilege_without_dual_approval_delegates_at_once(cp, world):
    created = create(world["rao_a_direct"], "direct.example", [delegation(world["org_a"])])
    assert created["delegations"][0]["status"] == "approved"


def test_nobody_delegates_beyond_their_roles(cp, world):
    assert create(world["rao_a"], "other-org.example", [delegation(world["org_b"])], 404)["error"]["code"] \
        == "not_found"
    assert create(world["rao_a"], "other-type.example", [delegation(world["org_a"], ("client",))], 403)
    assert create(world["drao_a1"], "whole-org.example", [delegation(world["org_a"])], 403)
    assert create(world["drao_a1"], "b1.example", [delegation(world["org_b"], department=world["b1"])], 404)
    assert create(cp.api, "mismatch.example", [delegation(world["org_a"], department=world["b1"])], 404)
    assert create(world["rao_a"], "undelegated.example", [], 400)
    names = [d["name"] for d in cp.api("GET", "/api/v1/domains", params={"size": 200}).json()["items"]]
    assert not {"other-org.example", "other-type.example", "whole-org.example", "b1.example",
                "mismatch.example", "undelegated.example"} & set(names)


def test_lists_and_counts_show_only_domains_in_scope(cp, world):
    create(cp.api, "only-b.example", [delegation(world["org_b"])])
    create(cp.api, "a-client.example", [delegation(world["org_a"], ("client",))])
    seen_by_rao_a = {d["name"] for d in world["rao_a"]("GET", "/api/v1/domains", params={"size": 200}).json()["items"]}
    assert "only-b.example" not in seen_by_rao_a and "a-client.example" not in seen_by_rao_a
    assert "requested.example" in seen_by_rao_a
    assert int(world["rao_a"]("HEAD", "/api/v1/domains").headers["X-Total-Count"]) == len(seen_by_rao_a)
    client_view = {d["name"] for d in world["rao_a_client"]("GET", "/api/v1/domains").json()["items"]}
    assert "a-client.example" in client_view and "requested.example" not in client_view
    hidden = cp.api("GET", "/api/v1/domains", params={"q": "only-b"}).json()["items"][0]["domain_id"]
    assert world["rao_a"]("GET", f"/api/v1/domains/{hidden}").status_code == 404


# ---- domain control validation ----------------------------------------------------------------------------

def start(api, domain_id, method, **extra):
    response = api("POST", f"/api/v1/domains/{domain_id}/dcv", json={"method": method, **extra})
    assert response.status_code == 201, response.text
    return response.json()["dcv"]


def check(api, domain_id):
    response = api("POST", f"/api/v1/domains/{domain_id}/dcv/check")
    assert response.status_code == 200, response.text
    return response.json()


def test_dns_txt_validates_and_the_value_is_single_use(cp, world, net):
    dns = net[0]
    found = create(cp.api, "txt.example", [delegation(world["org_a"])])
    dcv = start(world["rao_a"], found["domain_id"], "txt")
    assert dcv["status"] == "submitted" and dcv["dns_name"] == "_pki-validation.txt.example"
    assert len(dcv["expected_value"]) >= 28                 # ≥ 112 bits of randomness, base64url
    missing = check(world["rao_a"], found["domain_id"])
    assert not missing["validated"] and missing["reason"] == "dns_value_missing"
    dns.set(dcv["dns_name"], "TXT", [f'"{dcv["expected_value"]}"'])
    done = check(world["rao_a"], found["domain_id"])
    assert done["validated"], done
    assert done["domain"]["dcv"]["status"] == "validated" and done["domain"]["dcv"]["caa"]["result"] == "no_records"
    reuse = world["rao_a"]("POST", f"/api/v1/domains/{found['domain_id']}/dcv/check")
    assert reuse.status_code == 409 and reuse.json()["error"]["code"] == "dcv_token_used"


def test_dns_cname_validates(cp, world, net):
    dns = net[0]
    found = create(cp.api, "cname.example", [delegation(world["org_a"])])
    dcv = start(cp.api, found["domain_id"], "cname")
    assert dcv["dns_name"].startswith("_") and dcv["dns_name"].endswith(".cname.example")
    dns.set(dcv["dns_name"], "CNAME", ["somewhere-else.example."])
    assert check(cp.api, found["domain_id"])["reason"] == "dns_value_missing"
    dns.set(dcv["dns_name"], "CNAME", [dcv["expected_value"] + "."])
    assert check(cp.api, found["domain_id"])["validated"]


@pytest.mark.parametrize("method", ["http", "https"])
def test_http_file_validates_and_wrong_content_or_a_foreign_redirect_fails(cp, world, net, method):
    dns, web, tls = net
    server = web if method == "http" else tls
    name = f"{method}-file.example"
    dns.set(name, "A", ["127.0.0.1"])
    found = create(cp.api, name, [delegation(world["org_a"])])
    dcv = start(cp.api, found["domain_id"], method)
    path = dcv["http_url"].split(str(server.port), 1)[1]
    assert path.startswith("/.well-known/pki-validation/") and path.endswith(".txt")
    assert check(cp.api, found["domain_id"])["reason"] == "http_status"                     # 404: not there yet
    server.serve(path, "wrong value")
    assert check(cp.api, found["domain_id"])["reason"] == "http_wrong_content"
    server.redirect(path, f"{method}://{name}:{server.port + 1}/elsewhere")
    assert check(cp.api, found["domain_id"])["reason"] == "http_redirect_refused"
    server.serve(path, dcv["expected_value"] + "\n")
    assert check(cp.api, found["domain_id"])["validated"]
    assert any(host.startswith(name) for _m, _p, host in server.requests)


def test_http_file_is_refused_for_a_wildcard(cp, world):
    found = create(cp.api, "*.wild-http.example", [delegation(world["org_a"])])
    response = cp.api("POST", f"/api/v1/domains/{found['domain_id']}/dcv", json={"method": "http"})
    assert response.status_code == 400 and response.json()["error"]["code"] == "dcv_method_wildcard"


@pytest.mark.parametrize("records, wildcard, validated, reason", [
    (['0 issue "certplane.test"'], False, True, None),
    (['0 issue "other-ca.example"'], False, False, "caa_forbids"),
    (['0 issue "certplane.test"', '0 issuewild ";"'], True, False, "caa_forbids"),
    (['128 tbs "unknown"'], False, False, "caa_unknown_critical"),
])
def test_caa_is_checked_before_evidence_is_recorded(cp, world, net, records, wildcard, validated, reason):
    dns = net[0]
    base = f"caa-{abs(hash((tuple(records), wildcard))) % 10**8}.example"
    dns.set(base, "CAA", records)
    name = f"*.{base}" if wildcard else base
    found = create(cp.api, name, [delegation(world["org_a"])])
    dcv = start(cp.api, found["domain_id"], "txt")
    dns.set(dcv["dns_name"], "TXT", [f'"{dcv["expected_value"]}"'])
    outcome = check(cp.api, found["domain_id"])
    assert outcome["validated"] is validated and outcome["reason"] == reason, outcome
    assert outcome["domain"]["dcv"]["status"] == ("validated" if validated else "submitted")


@pytest.mark.parametrize("mode, failure", [("servfail", "answered SERVFAIL"), ("timeout", "no answer")])
def test_a_caa_lookup_failure_is_a_422_naming_the_lookup_and_server_and_records_nothing(cp, world, net, mode,
                                                                                      failure):
    dns = net[0]
    name = f"caa-{mode}.example"
    found = create(cp.api, name, [delegation(world["org_a"])])
    dcv = start(cp.api, found["domain_id"], "txt")
    dns.set(dcv["dns_name"], "TXT", [f'"{dcv["expected_value"]}"'])
    dns.fail(name, mode)
    try:
        refused = cp.api("POST", f"/api/v1/domains/{found['domain_id']}/dcv/check")
    finally:
        dns.fail(name, None)
    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert error["code"] == "caa_lookup_failed"
    assert f"CAA lookup for {name}" in error["message"] and dns.address in error["message"]
    assert failure in error["message"]
    assert error["details"]["server"] == dns.address and error["details"]["lookup"] == "CAA"
    after = cp.api("GET", f"/api/v1/domains/{found['domain_id']}").json()["dcv"]
    assert after["status"] == "submitted" and after["validated_at"] is None and after["last_failure"] is None
    assert check(cp.api, found["domain_id"])["validated"]          # the value is still unused: it works now


def test_a_txt_lookup_failure_is_a_422_and_records_nothing(cp, world, net):
    dns = net[0]
    found = create(cp.api, "txt-servfail.example", [delegation(world["org_a"])])
    dcv = start(cp.api, found["domain_id"], "txt")
    dns.fail(dcv["dns_name"], "servfail")
    try:
        refused = cp.api("POST", f"/api/v1/domains/{found['domain_id']}/dcv/check")
    finally:
        dns.fail(dcv["dns_name"], None)
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "txt_lookup_failed", refused.text
    assert f"TXT lookup for {dcv['dns_name']}" in refused.json()["error"]["message"]
    assert cp.api("GET", f"/api/v1/domains/{found['domain_id']}").json()["dcv"]["last_failure"] is None


def test_a_web_server_that_is_not_there_is_a_422_naming_it(cp, world, net):
    dns = net[0]
    dns.set("no-web.example", "A", ["127.0.0.2"])              # nothing listens on the DCV port there
    found = create(cp.api, "no-web.example", [delegation(world["org_a"])])
    dcv = start(cp.api, found["domain_id"], "http")
    refused = cp.api("POST", f"/api/v1/domains/{found['domain_id']}/dcv/check")
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "http_lookup_failed", refused.text
    error = refused.json()["error"]
    assert f"HTTP lookup of {dcv['http_url']}" in error["message"] and "127.0.0.2" in error["message"]
    assert cp.api("GET", f"/api/v1/domains/{found['domain_id']}").json()["dcv"]["last_failure"] is None


def test_dcv_bad_input(cp, world):
    found = create(cp.api, "dcv-bad.example", [delegation(world["org_a"])])
    path = f"/api/v1/domains/{found['domain_id']}/dcv"
    wrong_mailbox = cp.api("POST", path, json={"method": "email", "email_address": "ceo@dcv-bad.example"})
    assert wrong_mailbox.status_code == 400 and wrong_mailbox.json()["error"]["code"] == "dcv_email_not_allowed"
    assert cp.api("POST", path, json={"method": "carrier-pigeon"}).status_code == 400
    assert cp.api("POST", path + "/check").json()["error"]["code"] == "dcv_not_started"
    no_privilege = world["rao_a_approver"]("POST", path, json={"method": "txt"})
    assert no_privilege.status_code == 403 and no_privilege.json()["error"]["details"]["missing"] == \
        "privilege allow_dcv"
    start(cp.api, found["domain_id"], "txt")
    cp.api("PATCH", f"/api/v1/domains/{found['domain_id']}", json={"active": False})
    assert cp.api("POST", path + "/check").json()["error"]["code"] == "domain_inactive"
    inactive = cp.api("POST", path, json={"method": "txt"})
    assert inactive.status_code == 409 and inactive.json()["error"]["code"] == "domain_inactive"
    assert cp.api("GET", f"/api/v1/domains/{found['domain_id']}").json()["dcv"]["validated_at"] is None


def test_a_delegated_domain_cannot_be_deleted_until_its_delegations_are_removed(cp, world):
    found = create(cp.api, "delete-me.example", [delegation(world["org_a"])])
    path = f"/api/v1/domains/{found['domain_id']}"
    assert cp.api("DELETE", path).json()["error"]["code"] == "domain_in_use"
    assert world["rao_a_client"]("DELETE", path).status_code == 404
    removed = cp.api("DELETE", f"{path}/delegations/{found['delegations'][0]['delegation_id']}")
    assert removed.status_code == 200 and removed.json()["delegations"] == []
    assert cp.api("DELETE", path).status_code == 204
    assert cp.api("GET", path).status_code == 404
