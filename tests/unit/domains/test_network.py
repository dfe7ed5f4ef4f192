"""IP networks: the CIDR rule, delegation with dual approval (the domains' rules), and "may O get address A".
Given events, when a command, then events or a refusal. Pure."""
import ipaddress

import pytest

from contracts.errors import Conflict, Forbidden, InvalidRequest, NotFound
from services.domains import network
from services.domains.commands import (AddDelegation, CreateNetwork, DecideDelegation, DeleteNetwork, NewDelegation,
                                       RemoveDelegation, UpdateNetwork)

ORG, DEPT, OTHER_ORG, OTHER_DEPT = "o-1", "d-1", "o-2", "d-2"
RAO, MRAO = "admin-rao", "admin-mrao"


def created(cidr="10.20.0.0/16", approved=False, cert_types=("ssl",), department=None, organization=ORG):
    cmd = CreateNetwork("net-1", cidr, None, True, (NewDelegation("del-1", organization, department, cert_types),),
                        RAO, approved)
    return network.decide_create_network(network.Network(), cmd)


# ---- the CIDR rule -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("typed, normalised", [
    ("10.20.0.0/16", "10.20.0.0/16"), (" 192.168.1.0/24 ", "192.168.1.0/24"), ("10.0.0.0/8", "10.0.0.0/8"),
    ("10.0.0.5/32", "10.0.0.5/32"), ("FD00:0001::/48", "fd00:1::/48"), ("2001:DB8::/32", "2001:db8::/32"),
    ("fd00::1/128", "fd00::1/128"),
])
def test_a_network_is_normalised(typed, normalised):
    assert str(network.parse_network(typed)) == normalised


@pytest.mark.parametrize("typed, code, why", [
    ("abc", "invalid_network", "CIDR notation"),
    ("10.0.0.0/33", "invalid_network", "CIDR notation"),
    ("10.0.0.5", "invalid_network", "prefix length"),
    ("300.0.0.0/8", "invalid_network", "CIDR notation"),
    ("fe80::%eth0/64", "invalid_network", "zone index"),
    ("::ffff:10.0.0.0/104", "invalid_network", "IPv4-mapped"),
    ("10.0.0.1/8", "network_host_bits", "the network is 10.0.0.0/8"),
    ("fd00:1::1/48", "network_host_bits", "the network is fd00:1::/48"),
    ("0.0.0.0/0", "network_too_broad", "broader than /8"),
    ("10.0.0.0/7", "network_too_broad", "broader than /8"),
    ("::/0", "network_too_broad", "broader than /16"),
    ("fd00::/8", "network_too_broad", "broader than /16"),
])
def test_a_bad_network_is_refused_saying_why(typed, code, why):
    with pytest.raises(InvalidRequest) as refused:
        network.parse_network(typed)
    assert refused.value.code == code
    assert why in refused.value.message and why in refused.value.details["cidr"][0]


def test_address_keys_order_addresses():
    keys = [network.address_key(ipaddress.ip_address(a)) for a in ("0.0.0.9", "0.0.0.10", "10.0.0.0", "10.255.0.1")]
    assert keys == sorted(keys) and all(len(k) == 32 for k in keys)
    assert network.network_range(ipaddress.ip_network("10.20.0.0/16")) == (
        4, network.address_key(ipaddress.ip_address("10.20.0.0")),
        network.address_key(ipaddress.ip_address("10.20.255.255")))


# ---- delegation: the domains' rules ------------------------------------------------------------------------

def test_a_network_delegated_by_an_rao_waits_and_the_requester_cannot_approve_it():
    state = network.fold(created())
    assert state.cidr == "10.20.0.0/16" and state.delegations["del-1"].status == "requested"
    with pytest.raises(Forbidden) as own:
        network.decide_delegation(state, DecideDelegation("net-1", "del-1", RAO, True))
    assert own.value.code == "own_request"
    [approved] = network.decide_delegation(state, DecideDelegation("net-1", "del-1", MRAO, True))
    assert approved.event_type == "network_delegation_approved.v1" and approved.cidr == "10.20.0.0/16"


def test_an_approved_network_delegation_stays_decided_and_a_rejection_ends_it():
    events = created()
    approved = events + network.decide_delegation(network.fold(events), DecideDelegation("net-1", "del-1", MRAO, True))
    with pytest.raises(Conflict) as again:
        network.decide_delegation(network.fold(approved), DecideDelegation("net-1", "del-1", "admin-3", True))
    assert again.value.code == "delegation_approved"
    rejected = events + network.decide_delegation(network.fold(events),
                                                  DecideDelegation("net-1", "del-1", MRAO, False, "not ours"))
    assert network.fold(rejected).delegations["del-1"].reason == "not ours"
    with pytest.raises(Conflict) as after:
        network.decide_delegation(network.fold(rejected), DecideDelegation("net-1", "del-1", "admin-3", True))
    assert after.value.code == "delegation_rejected"


def test_an_mrao_delegation_is_approved_at_once():
    assert network.fold(created(approved=True)).delegations["del-1"].status == "approved"


def test_one_live_delegation_per_organization_or_department():
    state = network.fold(created())
    with pytest.raises(Conflict) as twice:
        network.decide_add_delegation(state, AddDelegation("net-1", NewDelegation("del-2", ORG, None, ("client",)),
                                                           MRAO, True))
    assert twice.value.code == "delegation_exists" and "network" in twice.value.message
    [added] = network.decide_add_delegation(state, AddDelegation("net-1", NewDelegation("del-2", ORG, DEPT, ("ssl",)),
                                                                 MRAO, True))
    assert added.event_type == "network_delegation_added.v1" and added.status == "approved"
    duplicate = CreateNetwork("net-2", "10.30.0.0/16", None, True,
                              (NewDelegation("a", ORG, None, ("ssl",)), NewDelegation("b", ORG, None, ("client",))),
                              MRAO, True)
    with pytest.raises(Conflict):
        network.decide_create_network(network.Network(), duplicate)


def test_a_delegated_network_cannot_be_deleted_until_its_delegations_are_removed():
    events = created(approved=True)
    with pytest.raises(Conflict) as in_use:
        network.decide_delete_network(network.fold(events), DeleteNetwork("net-1"))
    assert in_use.value.code == "network_in_use" and in_use.value.details == {"delegation_ids": ["del-1"]}
    events += network.decide_remove_delegation(network.fold(events), RemoveDelegation("net-1", "del-1"))
    [deleted] = network.decide_delete_network(network.fold(events), DeleteNetwork("net-1"))
    with pytest.raises(NotFound):
        network.decide_update_network(network.fold(events + [deleted]), UpdateNetwork("net-1", {"active": False}))


def test_an_unchanged_update_records_nothing_and_a_change_names_what_changed():
    state = network.fold(created())
    assert network.decide_update_network(state, UpdateNetwork("net-1", {"active": True})) == []
    [updated] = network.decide_update_network(state, UpdateNetwork("net-1", {"active": False, "description": "lab"}))
    assert updated.changed == ["description", "active"]


def test_unknown_networks_and_delegations_are_not_found():
    with pytest.raises(NotFound):
        network.decide_add_delegation(network.Network(), AddDelegation("net-9", NewDelegation("d", ORG, None, ("ssl",)),
                                                                       MRAO, True))
    with pytest.raises(NotFound):
        network.decide_delegation(network.fold(created()), DecideDelegation("net-1", "del-9", MRAO, True))


# ---- may O (D) get a certificate of type T for address A ----------------------------------------------------

def containing(grants, active=True, cidr="10.20.0.0/16"):
    return {"network_id": "net-1", "cidr": cidr, "active": active, "grants": grants}


def test_an_address_in_an_approved_network_delegation_is_allowed_without_dcv():
    answer = network.may_issue("10.20.1.5", containing([(ORG, None, "ssl", "approved")]), ORG, None, "ssl")
    assert answer == {"allowed": True, "reason": None, "name": "10.20.1.5", "domain_id": None, "domain_name": None,
                      "network_id": "net-1", "network": "10.20.0.0/16", "dcv_status": "not_applicable",
                      "fresh_dcv": False, "evidence_expires_at": None}


def test_an_organization_delegation_covers_its_departments_a_department_delegation_only_itself():
    org_wide = containing([(ORG, None, "ssl", "approved")])
    assert network.may_issue("10.20.1.5", org_wide, ORG, DEPT, "ssl")["allowed"]
    department_only = containing([(ORG, DEPT, "ssl", "approved")])
    assert network.may_issue("10.20.1.5", department_only, ORG, DEPT, "ssl")["allowed"]
    assert not network.may_issue("10.20.1.5", department_only, ORG, OTHER_DEPT, "ssl")["allowed"]
    assert not network.may_issue("10.20.1.5", department_only, ORG, None, "ssl")["allowed"]


@pytest.mark.parametrize("found, department, reason", [
    (None, None, "10.9.9.9 lies in no network delegated to this organization for ssl"),
    (None, DEPT, "10.9.9.9 lies in no network delegated to this department for ssl"),
    (containing([(OTHER_ORG, None, "ssl", "approved")]), None,
     "10.9.9.9 lies in no network delegated to this organization for ssl"),
    (containing([(ORG, None, "ssl", "requested")]), None,
     "10.9.9.9 lies in 10.20.0.0/16, whose delegation to this organization for ssl awaits approval"),
    (containing([(ORG, None, "client", "approved")]), None,
     "10.9.9.9 lies in 10.20.0.0/16, which is not delegated to this organization for ssl"),
    (containing([(ORG, None, "ssl", "rejected")]), None,
     "10.9.9.9 lies in 10.20.0.0/16, which is not delegated to this organization for ssl"),
    (containing([(ORG, None, "ssl", "approved")], active=False), None,
     "10.9.9.9 lies in 10.20.0.0/16, which is inactive"),
])
def test_may_issue_for_an_address_says_why_not(found, department, reason):
    answer = network.may_issue("10.9.9.9", found, ORG, department, "ssl")
    assert not answer["allowed"] and answer["reason"] == reason
    assert answer["dcv_status"] == "not_applicable" and answer["fresh_dcv"] is False


def test_a_network_delegated_only_to_others_is_not_named():
    answer = network.may_issue("10.20.1.5", containing([(OTHER_ORG, None, "ssl", "approved")]), ORG, None, "ssl")
    assert answer["network_id"] is None and answer["network"] is None
