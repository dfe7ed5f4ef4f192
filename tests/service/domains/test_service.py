"""DomainsService entrypoints with a real event store on SQLite (nameko's worker_factory; the store and DcvTools
built as the service builds them, from Settings): IP networks, "may O get these names and addresses", and lookups
against DNS servers that fail or never answer."""
import socket
from types import SimpleNamespace

import eventlet
import pytest
from nameko.testing.services import worker_factory

from contracts.domains import MayIssueV1, NetworkV1
from contracts.errors import Conflict, Forbidden, InvalidRequest, NotFound, PolicyViolation
from services.domains.adapters.dns import DnsClient
from services.domains.service import DcvTools, DomainsService
from services.runtime.config import Settings
from services.runtime.nameko_glue import StoreHandle
from tests import factories
from tests.dns_server import DnsServer

ORG = "6f1c2b1e-3c1a-4f3e-9a55-6d2f0d6f7f10"
DEPT = "a1000000-0000-4000-8000-0000000000a1"
OTHER_DEPT = "a2000000-0000-4000-8000-0000000000a2"
OTHER_ORG = "0b000000-0000-4000-8000-00000000000b"
MRAO, RAO = "admin-mrao", "admin-rao"


def delegated(organization=ORG, department=None, types=("ssl",)):
    return {"organization_id": organization, "department_id": department, "cert_types": list(types)}


@pytest.fixture
def dns():
    with DnsServer() as server:
        yield server


@pytest.fixture
def dead_dns():
    """A DNS server that never answers: a bound UDP socket nobody reads."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    yield f"127.0.0.1:{sock.getsockname()[1]}"
    sock.close()


def build(tmp_path, **settings):
    settings = Settings(var_dir=str(tmp_path), caa_identities=("certplane.test",), **settings)
    tools = DcvTools()
    tools.container = SimpleNamespace(config={"CERTPLANE": settings}, service_name="domains")
    tools.setup()
    store = DomainsService.store.build_store(settings, "domains")
    return worker_factory(DomainsService, store=StoreHandle(store, factories.WorkerInfo()), tools=tools), store


@pytest.fixture
def service(tmp_path):
    """No lookup is made here: the resolver is a port nothing answers on."""
    return build(tmp_path, dns_resolver="127.0.0.1:9", rpc_timeout=2.0)


@pytest.fixture
def dns_service(tmp_path, dns):
    return build(tmp_path, dns_resolver=dns.address, rpc_timeout=2.0)


# ---- networks -------------------------------------------------------------------------------------------------

def test_a_network_is_stored_normalised_with_its_delegations(service):
    domains, store = service
    created = domains.create_network({"cidr": "FD00:0001::/48", "delegations": [delegated()]}, MRAO, True)
    found = created["network"]
    assert found["cidr"] == "fd00:1::/48" and found["ip_version"] == 6
    assert [d["status"] for d in found["delegations"]] == ["approved"]
    assert NetworkV1().validate(found) == {}
    assert [e.stream_id for e in store.read_events(0, 10)] == [f"network-{found['network_id']}"] * 2


@pytest.mark.parametrize("cidr, code", [
    ("10.0.0.0/33", "invalid_network"), ("abc", "invalid_network"), ("10.0.0.1/8", "network_host_bits"),
    ("::/0", "network_too_broad"), ("0.0.0.0/0", "network_too_broad"),
])
def test_a_bad_network_is_refused_and_nothing_is_stored(service, cidr, code):
    domains, store = service
    with pytest.raises(InvalidRequest) as refused:
        domains.create_network({"cidr": cidr, "delegations": [delegated()]}, MRAO, True)
    assert refused.value.code == code
    assert store.head() == 0


@pytest.mark.parametrize("second", ["10.20.0.0/16", "10.20.30.0/24", "10.0.0.0/8", "10.20.255.255/32"])
def test_a_network_that_overlaps_another_is_refused_and_nothing_is_stored(service, second):
    domains, store = service
    domains.create_network({"cidr": "10.20.0.0/16"}, MRAO, True)
    with pytest.raises(Conflict) as refused:
        domains.create_network({"cidr": second, "delegations": [delegated()]}, MRAO, True)
    assert refused.value.code == "overlapping_network" and refused.value.details["overlaps"] == "10.20.0.0/16"
    assert store.head() == 1


def test_neighbours_and_the_other_ip_version_do_not_overlap(service):
    domains, _store = service
    for cidr in ("10.20.0.0/16", "10.21.0.0/16", "10.19.255.0/24", "fd00::/16", "::a14:0/112"):
        domains.create_network({"cidr": cidr}, MRAO, True)
    listed = domains.list_networks({"all": True}, {}, 0, 50)
    assert [n["cidr"] for n in listed["items"]] == ["10.19.255.0/24", "10.20.0.0/16", "10.21.0.0/16", "::a14:0/112",
                                                    "fd00::/16"]


def test_concurrent_creates_of_overlapping_networks_produce_one(service):
    domains, store = service

    def create(cidr):
        try:
            return domains.create_network({"cidr": cidr}, MRAO, True)
        except Conflict as exc:
            return exc

    results = [t.wait() for t in [eventlet.spawn(create, c) for c in ("10.0.0.0/8", "10.1.0.0/16", "10.1.2.0/24",
                                                                      "10.0.0.0/8", "10.200.0.0/16")]]
    assert sum(isinstance(r, dict) for r in results) == 1
    assert store.head() == 1


def test_network_delegations_follow_the_domain_rules(service):
    domains, _store = service
    found = domains.create_network({"cidr": "192.168.0.0/16", "delegations": [delegated()]}, RAO, False)["network"]
    delegation_id = found["delegations"][0]["delegation_id"]
    with pytest.raises(Forbidden) as own:
        domains.decide_network_delegation(found["network_id"], delegation_id, RAO, True)
    assert own.value.code == "own_request"
    approved = domains.decide_network_delegation(found["network_id"], delegation_id, MRAO, True)["network"]
    assert approved["delegations"][0]["status"] == "approved" and approved["delegations"][0]["decided_by"] == MRAO
    with pytest.raises(Conflict):
        domains.decide_network_delegation(found["network_id"], delegation_id, "admin-3", True)
    with pytest.raises(Conflict) as in_use:
        domains.delete_network(found["network_id"])
    assert in_use.value.code == "network_in_use"
    domains.remove_network_delegation(found["network_id"], delegation_id)
    domains.delete_network(found["network_id"])
    with pytest.raises(NotFound):
        domains.get_network(found["network_id"])
    domains.create_network({"cidr": "192.168.0.0/16"}, MRAO, True)        # deleted: its range is free again


def test_list_filters_match_delegations_in_scope_only(service):
    domains, _store = service
    shared = domains.create_network({"cidr": "10.50.0.0/16", "delegations": [
        delegated(ORG), delegated(OTHER_ORG)]}, MRAO, True)["network"]
    domains.create_network({"cidr": "10.60.0.0/16", "delegations": [delegated(OTHER_ORG)]}, MRAO, True)
    scope_a = {"organizations": {"ssl": [ORG]}, "departments": {}}
    assert [n["network_id"] for n in domains.list_networks(scope_a, {}, 0, 50)["items"]] == [shared["network_id"]]
    assert domains.list_networks(scope_a, {"organization_id": OTHER_ORG}, 0, 50)["total"] == 0
    assert domains.list_networks({"all": True}, {"organization_id": OTHER_ORG}, 0, 50)["total"] == 2
    assert [n["cidr"] for n in domains.list_networks({"all": True}, {"contains": "10.60.1.1"}, 0, 50)["items"]] \
        == ["10.60.0.0/16"]


# ---- may O (D) get these names and addresses -----------------------------------------------------------------

def test_may_issue_names_answers_addresses_from_the_networks_and_names_from_the_domains(service):
    domains, _store = service
    domains.create_network({"cidr": "10.20.0.0/16", "delegations": [delegated()]}, MRAO, True)
    domains.create_network({"cidr": "fd00:1::/48", "delegations": [delegated(ORG, DEPT)]}, MRAO, True)
    domains.create_domain({"name": "corp.example", "delegations": [delegated()]}, MRAO, True)
    answers = domains.may_issue_names(ORG, DEPT, "ssl", ["10.20.1.5", "FD00:1::0:7", "www.corp.example",
                                                          "10.9.9.9"])
    assert set(answers) == {"10.20.1.5", "FD00:1::0:7", "www.corp.example", "10.9.9.9"}
    assert all(MayIssueV1().validate(a) == {} for a in answers.values())
    assert answers["10.20.1.5"]["allowed"] and answers["10.20.1.5"]["network"] == "10.20.0.0/16"
    assert answers["10.20.1.5"]["dcv_status"] == "not_applicable" and not answers["10.20.1.5"]["fresh_dcv"]
    assert answers["FD00:1::0:7"]["allowed"] and answers["FD00:1::0:7"]["name"] == "fd00:1::7"
    assert answers["www.corp.example"]["allowed"] and answers["www.corp.example"]["dcv_status"] == "not_validated"
    assert answers["10.9.9.9"] == {**answers["10.9.9.9"], "allowed": False, "reason":
                                   "10.9.9.9 lies in no network delegated to this department for ssl"}
    other_department = domains.may_issue_names(ORG, OTHER_DEPT, "ssl", ["fd00:1::7", "10.20.1.5"])
    assert not other_department["fd00:1::7"]["allowed"] and other_department["10.20.1.5"]["allowed"]
    assert not domains.may_issue_names(ORG, None, "client", ["10.20.1.5"])["10.20.1.5"]["allowed"]


def test_a_change_to_a_network_is_seen_by_the_next_answer(service):
    domains, _store = service
    found = domains.create_network({"cidr": "10.20.0.0/16", "delegations": [delegated()]}, MRAO, True)["network"]
    assert domains.may_issue_names(ORG, None, "ssl", ["10.20.0.1"])["10.20.0.1"]["allowed"]
    domains.update_network(found["network_id"], {"active": False})
    assert domains.may_issue_names(ORG, None, "ssl", ["10.20.0.1"])["10.20.0.1"]["reason"] == \
        "10.20.0.1 lies in 10.20.0.0/16, which is inactive"


# ---- lookups that fail say so, and record nothing ---------------------------------------------------------------

def open_txt_dcv(domains) -> dict:
    found = domains.create_domain({"name": "dead-dns.example", "delegations": [delegated()]}, MRAO, True)["domain"]
    return domains.start_dcv(found["domain_id"], {"method": "txt"}, MRAO)["domain"]


def test_a_dns_server_that_never_answers_is_named_before_the_rpc_timeout_and_nothing_is_recorded(tmp_path,
                                                                                              dead_dns):
    domains, store = build(tmp_path, dns_resolver=dead_dns, rpc_timeout=1.0)
    found = open_txt_dcv(domains)
    head = store.head()
    with pytest.raises(PolicyViolation) as refused:
        domains.check_dcv(found["domain_id"])
    assert refused.value.code == "txt_lookup_failed"
    assert refused.value.message.startswith(f"TXT lookup for _pki-validation.dead-dns.example failed at the DNS "
                                            f"server {dead_dns}: no answer")
    assert refused.value.details["server"] == dead_dns and refused.value.details["timed_out"] is True
    assert store.head() == head


def test_an_email_code_against_a_dead_dns_server_is_a_caa_lookup_failure_and_the_code_stays_usable(
        tmp_path, dead_dns, dns):
    domains, store = build(tmp_path, dns_resolver=dead_dns, rpc_timeout=1.0)
    found = domains.create_domain({"name": "mail-dead.example", "delegations": [delegated()]}, MRAO, True)["domain"]
    started = domains.start_dcv(found["domain_id"], {"method": "email",
                                                     "email_address": "admin@mail-dead.example"}, MRAO)
    code = domains.tools.mail_codes.get(started["dcv_id"])["code"]
    head = store.head()
    with pytest.raises(PolicyViolation) as refused:
        domains.submit_dcv_code(started["dcv_id"], {"code": code})
    assert refused.value.code == "caa_lookup_failed"
    assert f"CAA lookup for mail-dead.example failed at the DNS server {dead_dns}" in refused.value.message
    assert store.head() == head
    domains.tools.dns = DnsClient(dns.address, domains.tools.dns.timeout)       # the server is back
    assert domains.submit_dcv_code(started["dcv_id"], {"code": code})["outcome"]["validated"]


@pytest.mark.parametrize("mode, failure", [("servfail", "answered SERVFAIL"), ("refused", "answered REFUSED")])
def test_a_failing_dns_server_is_named_with_what_it_answered(dns_service, dns, mode, failure):
    domains, store = dns_service
    found = open_txt_dcv(domains)
    dns.fail(found["dcv"]["dns_name"], mode)
    head = store.head()
    with pytest.raises(PolicyViolation) as refused:
        domains.check_dcv(found["domain_id"])
    assert refused.value.code == "txt_lookup_failed" and failure in refused.value.message
    assert refused.value.details["timed_out"] is False and store.head() == head


def test_a_missing_record_is_a_failed_check_not_a_lookup_failure(dns_service):
    domains, store = dns_service
    found = open_txt_dcv(domains)
    outcome = domains.check_dcv(found["domain_id"])["outcome"]
    assert outcome == {"validated": False, "reason": "dns_value_missing",
                       "detail": "no TXT record at _pki-validation.dead-dns.example holds the value"}
    assert store.read_events(0, 10)[-1].event_type == "dcv_failed.v1"


def test_the_lookup_budget_is_a_share_of_the_rpc_timeout(tmp_path):
    domains, _store = build(tmp_path, dns_resolver="127.0.0.1:9", rpc_timeout=10.0, dns_timeout=5.0,
                            dcv_http_timeout=10.0)
    assert domains.tools.lookup_deadline().seconds == pytest.approx(6.0)
    assert domains.tools.dns.timeout == pytest.approx(3.0)          # two tries fit in the budget
    assert domains.tools.http.timeout == pytest.approx(6.0)
    short, _ = build(tmp_path / "short", dns_resolver="127.0.0.1:9", rpc_timeout=10.0, dns_timeout=1.0)
    assert short.tools.dns.timeout == pytest.approx(1.0)            # a shorter setting still holds


# ---- the range queries on both databases --------------------------------------------------------------------

@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def on_each_database(request, tmp_path):
    if request.param == "sqlite":
        yield build(tmp_path, dns_resolver="127.0.0.1:9")
        return
    from tests.support import pg_database
    with pg_database() as url:
        yield build(tmp_path, dns_resolver="127.0.0.1:9", database_url=url)


def test_addresses_find_their_network_and_overlaps_are_refused_on_each_database(on_each_database):
    domains, store = on_each_database
    for cidr in ("10.9.0.0/16", "10.160.0.0/16", "10.250.255.0/24", "fd00:abcd::/32"):
        domains.create_network({"cidr": cidr, "delegations": [delegated()]}, MRAO, True)
    answers = domains.may_issue_names(ORG, None, "ssl", ["10.160.5.5", "10.10.0.1", "10.250.255.255", "10.9.255.1",
                                                          "fd00:abcd:ffff::1", "fd00:abce::1"])
    assert {a: answers[a]["network"] for a in answers} == {
        "10.160.5.5": "10.160.0.0/16", "10.10.0.1": None, "10.250.255.255": "10.250.255.0/24",
        "10.9.255.1": "10.9.0.0/16", "fd00:abcd:ffff::1": "fd00:abcd::/32", "fd00:abce::1": None}
    head = store.head()

    def create(cidr):
        try:
            return domains.create_network({"cidr": cidr}, MRAO, True)
        except Conflict as exc:
            return exc

    results = [t.wait() for t in [eventlet.spawn(create, c) for c in ("10.160.10.0/24", "10.128.0.0/9",
                                                                      "10.250.0.0/16", "10.250.255.128/25")]]
    assert all(isinstance(r, Conflict) and r.code == "overlapping_network" for r in results)
    assert store.head() == head
    racing = [t.wait() for t in [eventlet.spawn(create, c) for c in ("10.32.0.0/11", "10.33.0.0/16",
                                                                     "10.33.1.0/24")]]
    assert sum(isinstance(r, dict) for r in racing) == 1 and store.head() == head + 1
