"""DomainsService's dashboard counts (domain_summary) with a real event store on SQLite: domains by DCV status and
evidence about to expire equal what list_domains answers for the same filters, and the delegations counted as
waiting for an administrator are exactly those the approve route's rule (contracts/access.py sees_delegation and
missing_to_decide_delegation) lets it decide."""
from datetime import timedelta

import pytest

from contracts import access
from contracts.access import Principal, Role
from contracts.domains import CAA_RESULTS, DCV_STATUSES
from services.domains.events import DcvValidated
from tests.service.domains.test_service import DEPT, MRAO, ORG, OTHER_ORG, RAO, build, delegated


CAA_OK = CAA_RESULTS[0]


@pytest.fixture
def service(tmp_path):
    return build(tmp_path, dns_resolver="127.0.0.1:9", rpc_timeout=2.0)


def validated(store, domain: dict, expires_in: timedelta) -> None:
    """Evidence recorded as a DCV check records it (the check itself is tested in test_service.py)."""
    now = store.clock()
    stream = f"domain-{domain['domain_id']}"
    version = len(store.load(stream))
    store.append(stream, version, [DcvValidated(domain["domain_id"], domain["name"],
                                                "00000000-0000-4000-8000-000000000001", "email", now.isoformat(),
                                                (now + expires_in).isoformat(),
                                                {"result": CAA_OK, "checked_name": domain["name"],
                                                 "records": []}).encode()])


def test_domains_by_dcv_status_and_expiring_evidence_match_the_list(service):
    domains, store = service
    made = [domains.create_domain({"name": f"d{i}.example.com", "delegations": [delegated()]}, MRAO, True)["domain"]
            for i in range(4)]
    validated(store, made[0], timedelta(days=10))
    validated(store, made[1], timedelta(days=200))
    validated(store, made[2], timedelta(days=-1))
    domains.create_domain({"name": "other.example.com", "delegations": [delegated(OTHER_ORG)]}, MRAO, True)
    everyone, rao = {"all": True}, access.domain_scope(Principal(RAO, "rao", (Role("RAO", "ssl", frozenset({ORG})),)))
    summary = domains.domain_summary(everyone, None)
    assert summary["by_dcv_status"] == {"not_validated": 2, "submitted": 0, "validated": 2, "expired": 1}
    assert domains.domain_summary(rao, None)["by_dcv_status"]["not_validated"] == 1
    for scope in (everyone, rao):
        summary = domains.domain_summary(scope, None)
        for status in DCV_STATUSES:
            assert summary["by_dcv_status"][status] == domains.list_domains(scope, {"dcv_status": status})["total"]
        expiring = summary["evidence_expiring"]
        assert expiring["count"] == 1 and expiring["days"] == 30
        assert domains.list_domains(scope, expiring["filters"])["items"][0]["name"] == "d0.example.com"
        assert domains.list_domains(scope, expiring["filters"])["total"] == 1


PRINCIPALS = [
    Principal(MRAO, "mrao", (Role("MRAO"),)),
    Principal("rao-approver", "a", (Role("RAO", "ssl", frozenset({ORG})),), frozenset({"approve_domain_delegation"})),
    Principal("rao-client-approver", "c", (Role("RAO", "client", frozenset({ORG})),),
              frozenset({"approve_domain_delegation"})),
    Principal("rao-plain", "p", (Role("RAO", "ssl", frozenset({ORG})),)),
    Principal("drao", "d", (Role("DRAO", "ssl", department_ids=frozenset({DEPT})),),
              frozenset({"approve_domain_delegation"})),
    Principal(RAO, "requester", (Role("RAO", "ssl", frozenset({ORG, OTHER_ORG})),),
              frozenset({"approve_domain_delegation"})),
]


@pytest.mark.parametrize("principal", PRINCIPALS, ids=lambda p: p.username)
def test_waiting_delegations_are_exactly_those_the_approve_rule_allows(service, principal):
    domains, _store = service
    for i, (target, types, by) in enumerate([
            (delegated(), ["ssl"], RAO), (delegated(), ["client"], RAO), (delegated(department=DEPT), ["ssl"], RAO),
            (delegated(OTHER_ORG), ["ssl"], RAO), (delegated(), ["ssl"], "rao-approver"), (delegated(), ["ssl"], MRAO)]):
        domains.create_domain({"name": f"w{i}.example.com", "delegations": [{**target, "cert_types": types}]}, by,
                              by == MRAO)
    domains.create_network({"cidr": "10.9.0.0/16", "delegations": [delegated()]}, RAO, False)
    everything = domains.list_domains({"all": True}, {}, 0, 100)["items"]
    allowed = sorted(d["delegation_id"] for domain in everything for d in domain["delegations"]
                     if d["status"] == "requested" and access.sees_delegation(principal, d)
                     and access.missing_to_decide_delegation(principal, d) is None)
    answer = domains.domain_summary(access.domain_scope(principal), access.delegation_decider_scope(principal), 50)
    waiting = answer["waiting_domain_delegations"]
    assert waiting["count"] == len(allowed)
    assert sorted(i["delegation_id"] for i in waiting["items"]) == allowed
    network_waiting = answer["waiting_network_delegations"]["count"]
    assert network_waiting == (1 if principal.username in ("mrao", "a") else 0)
