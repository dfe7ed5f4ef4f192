"""The coverage rule (contracts/coverage.py) as both domains and enrollment apply it: who a delegation covers, which
domain entry answers for a name, which evidence counts, and the address keys a read model orders networks by.
(tests/unit/domains covers the same rule through domains' re-exports.)"""
import ipaddress
from datetime import datetime, timedelta, timezone

import pytest

from contracts import coverage

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=timezone.utc)
ORG, DEPT, OTHER_DEPT, OTHER_ORG = "o-1", "d-1", "d-2", "o-2"


def entry(name, grants, active=True, method=None, expires_in=None, domain_id=None):
    return {"domain_id": domain_id or f"id-{name}", "name": name, "active": active, "evidence_method": method,
            "evidence_expires_at": NOW + expires_in if expires_in is not None else None, "grants": grants}


@pytest.mark.parametrize("grant, asked, covered", [
    ((ORG, None), (ORG, None), True), ((ORG, None), (ORG, DEPT), True), ((ORG, DEPT), (ORG, DEPT), True),
    ((ORG, DEPT), (ORG, None), False), ((ORG, DEPT), (ORG, OTHER_DEPT), False), ((ORG, None), (OTHER_ORG, None), False),
])
def test_an_organizations_delegation_covers_its_departments_a_departments_only_itself(grant, asked, covered):
    assert coverage.grants_to(*grant, *asked) is covered


def test_the_closest_delegated_active_entry_answers_and_an_inactive_one_is_passed_over():
    covering = [entry("www.example.com", [(ORG, None, "ssl", "approved")], active=False),
                entry("example.com", [(ORG, None, "ssl", "approved")])]
    answer = coverage.may_issue_name("www.example.com", covering, ORG, DEPT, "ssl", NOW)
    assert answer["allowed"] and answer["domain_name"] == "example.com"
    alone = coverage.may_issue_name("www.example.com", covering[:1], ORG, DEPT, "ssl", NOW)
    assert alone == {**alone, "allowed": False, "reason": "domain_inactive", "domain_name": "www.example.com"}


@pytest.mark.parametrize("grants, reason", [
    ([], "not_delegated"), ([(ORG, None, "ssl", "requested")], "delegation_pending"),
    ([(ORG, None, "client", "approved")], "not_delegated_for_type"),
    ([(ORG, None, "ssl", "rejected")], "not_delegated"),
    ([(OTHER_ORG, None, "ssl", "approved")], "not_delegated"),
])
def test_a_name_not_allowed_says_why(grants, reason):
    answer = coverage.may_issue_name("example.com", [entry("example.com", grants)], ORG, None, "ssl", NOW)
    assert not answer["allowed"] and answer["reason"] == reason


def test_evidence_counts_when_fresh_and_its_method_covers_the_name():
    http = [entry("example.com", [(ORG, None, "ssl", "approved")], method="http", expires_in=timedelta(days=1))]
    assert coverage.may_issue_name("example.com", http, ORG, None, "ssl", NOW)["fresh_dcv"]
    assert coverage.may_issue_name("www.example.com", http, ORG, None, "ssl", NOW)["dcv_status"] == "not_validated"
    stale = [entry("example.com", [], method="email", expires_in=timedelta(seconds=0))]
    answer = coverage.may_issue_name("*.example.com", stale, ORG, None, "ssl", NOW)
    assert (answer["dcv_status"], answer["fresh_dcv"], answer["evidence_expires_at"]) == \
        ("expired", False, NOW.isoformat())


def test_an_address_is_answered_from_the_network_holding_it_and_others_networks_are_not_named():
    network = {"network_id": "n-1", "cidr": "10.20.0.0/16", "active": True,
               "grants": [(ORG, DEPT, "ssl", "approved"), (ORG, None, "client", "requested")]}
    assert coverage.may_issue_address("10.20.1.5", network, ORG, DEPT, "ssl")["allowed"]
    assert "awaits approval" in coverage.may_issue_address("10.20.1.5", network, ORG, None, "client")["reason"]
    hidden = coverage.may_issue_address("10.20.1.5", network, OTHER_ORG, None, "ssl")
    assert hidden["network"] is None and hidden["dcv_status"] == "not_applicable"


def test_address_keys_order_as_addresses_do():
    addresses = [ipaddress.ip_address(a) for a in ("10.0.0.2", "10.0.0.10", "9.255.255.255", "255.0.0.1")]
    assert sorted(addresses) == sorted(addresses, key=coverage.address_key)
    assert coverage.network_range(ipaddress.ip_network("fd00:1::/48"))[0] == 6
