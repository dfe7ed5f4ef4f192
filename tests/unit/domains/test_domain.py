"""Domains, delegations, DCV and "may O get N": given events, when a command, then events or a refusal. Pure, with
a fixed `now` (the clock is injected here: evidence and token expiry are decided on it)."""
from datetime import datetime, timedelta, timezone

import pytest

from contracts.errors import Conflict, Forbidden, InvalidRequest
from contracts import names
from services.domains import domain
from services.domains.commands import (AddDelegation, Caa, CreateDomain, DecideDelegation, DeleteDomain,
                                       NewDelegation, RecordCheck, StartDcv)

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)
ORG, DEPT, OTHER_ORG = "o-1", "d-1", "o-2"
RAO, MRAO = "admin-rao", "admin-mrao"
PERMIT = Caa(True, "no_records", None, "no CAA", "example.com", None, ())


def created(name="example.com", approved=False, cert_types=("ssl",), department=None):
    cmd = CreateDomain("dom-1", name, None, True, (NewDelegation("del-1", ORG, department, cert_types),), RAO,
                       approved)
    return domain.decide_create_domain(domain.Domain(), cmd)


def state_of(events):
    return domain.fold(events)


def start(state, method="txt", now=NOW, **kw):
    cmd = StartDcv("dom-1", kw.pop("dcv_id", "dcv-1"), method, kw.pop("email_address", None), "v" * 40, "l" * 32,
                   kw.pop("code_sha256", None), MRAO, now, 30, (80, 443), "dcv.example.net")
    return domain.decide_start_dcv(state, cmd)


def check(state, proven=True, caa=PERMIT, now=NOW, dcv_id="dcv-1", reuse_days=200):
    return domain.decide_record_check(state, RecordCheck("dom-1", dcv_id, proven, None if proven else "dns_value_missing",
                                                         "detail", caa if proven else None, now, reuse_days))


# ---- delegation ------------------------------------------------------------------------------------------

def test_a_delegation_made_by_an_rao_waits_and_the_requester_cannot_approve_it():
    state = state_of(created())
    assert state.delegations["del-1"].status == "requested"
    with pytest.raises(Forbidden):
        domain.decide_delegation(state, DecideDelegation("dom-1", "del-1", RAO, True))
    approved = domain.decide_delegation(state, DecideDelegation("dom-1", "del-1", MRAO, True))
    assert [type(e).__name__ for e in approved] == ["DelegationApproved"]


def test_the_second_approval_and_an_approval_after_rejection_are_conflicts():
    events = created()
    approved = events + domain.decide_delegation(state_of(events), DecideDelegation("dom-1", "del-1", MRAO, True))
    with pytest.raises(Conflict):
        domain.decide_delegation(state_of(approved), DecideDelegation("dom-1", "del-1", "admin-3", True))
    rejected = events + domain.decide_delegation(state_of(events), DecideDelegation("dom-1", "del-1", MRAO, False,
                                                                                     "no"))
    with pytest.raises(Conflict):
        domain.decide_delegation(state_of(rejected), DecideDelegation("dom-1", "del-1", "admin-3", True))


def test_one_delegation_per_organization_or_department():
    state = state_of(created())
    with pytest.raises(Conflict):
        domain.decide_add_delegation(state, AddDelegation("dom-1", NewDelegation("del-2", ORG, None, ("client",)),
                                                          MRAO, True))
    assert domain.decide_add_delegation(state, AddDelegation("dom-1", NewDelegation("del-2", ORG, DEPT, ("ssl",)),
                                                             MRAO, True))


def test_a_delegated_domain_is_not_deleted():
    with pytest.raises(Conflict):
        domain.decide_delete_domain(state_of(created()), DeleteDomain("dom-1"))


# ---- DCV -------------------------------------------------------------------------------------------------

def test_dcv_values_are_single_use_and_expire():
    events = created() + start(state_of(created()))
    assert state_of(events).dcv_status(NOW) == "submitted"
    with pytest.raises(Conflict, match="expired"):
        check(state_of(events), now=NOW + timedelta(days=30))
    validated = events + check(state_of(events))
    assert state_of(validated).dcv_status(NOW) == "validated"
    with pytest.raises(Conflict, match="already used"):
        check(state_of(validated))


def test_evidence_expires_after_the_reuse_period():
    events = created() + start(state_of(created()))
    events += check(state_of(events), reuse_days=200)
    state = state_of(events)
    assert state.dcv_status(NOW + timedelta(days=199)) == "validated"
    assert state.dcv_status(NOW + timedelta(days=200)) == "expired"


def test_a_caa_refusal_records_no_evidence():
    events = created() + start(state_of(created()))
    refused = check(state_of(events), caa=Caa(False, None, "caa_forbids", "forbidden", "example.com",
                                              "example.com", ('0 issue "other"',)))
    assert [type(e).__name__ for e in refused] == ["DcvFailed"] and refused[0].reason == "caa_forbids"
    assert state_of(events + refused).dcv_status(NOW) == "submitted"


def test_email_dcv_only_to_the_five_addresses_and_never_on_an_inactive_domain():
    state = state_of(created())
    with pytest.raises(InvalidRequest):
        start(state, "email", email_address="ceo@example.com")
    started = start(state, "email", email_address="Hostmaster@Example.com", code_sha256="ab" * 32)
    assert started[0].email_address == "hostmaster@example.com" and started[0].expected_value is None
    inactive = state_of(created()).__class__(**{**state.__dict__, "active": False})
    with pytest.raises(Conflict):
        start(inactive)


def test_http_dcv_names_the_file_and_refuses_wildcards():
    started = start(state_of(created()), "https")[0]
    assert started.http_url == "https://example.com/.well-known/pki-validation/" + "l" * 32 + ".txt"
    with pytest.raises(InvalidRequest):
        start(state_of(created("*.example.com")), "http")


# ---- "may O get N" --------------------------------------------------------------------------------------

def entry(name, grants, active=True, method=None, expires=None):
    return {"domain_id": f"id-{name}", "name": name, "active": active, "evidence_method": method,
            "evidence_expires_at": expires, "grants": grants}


def test_may_issue_for_subdomains_of_an_approved_delegation():
    covering = [entry("example.com", [(ORG, None, "ssl", "approved")], method="txt",
                      expires=NOW + timedelta(days=1))]
    answer = domain.may_issue("www.example.com", covering, ORG, DEPT, "ssl", NOW)
    assert answer["allowed"] and answer["fresh_dcv"] and answer["dcv_status"] == "validated"
    assert not domain.may_issue("www.example.com", covering, ORG, None, "client", NOW)["allowed"]
    assert domain.may_issue("www.example.com", covering, OTHER_ORG, None, "ssl", NOW)["reason"] == "not_delegated"


@pytest.mark.parametrize("grants, active, reason", [
    ([(ORG, None, "ssl", "requested")], True, "delegation_pending"),
    ([(ORG, None, "client", "approved")], True, "not_delegated_for_type"),
    ([(ORG, None, "ssl", "approved")], False, "domain_inactive"),
    ([(ORG, "other-dept", "ssl", "approved")], True, "not_delegated"),
])
def test_may_issue_says_why_not(grants, active, reason):
    answer = domain.may_issue("example.com", [entry("example.com", grants, active)], ORG, DEPT, "ssl", NOW)
    assert not answer["allowed"] and answer["reason"] == reason


def test_http_evidence_covers_only_its_own_name():
    covering = [entry("example.com", [(ORG, None, "ssl", "approved")], method="http",
                      expires=NOW + timedelta(days=1))]
    assert domain.may_issue("example.com", covering, ORG, None, "ssl", NOW)["fresh_dcv"]
    assert not domain.may_issue("www.example.com", covering, ORG, None, "ssl", NOW)["fresh_dcv"]
    assert not domain.may_issue("*.example.com", covering, ORG, None, "ssl", NOW)["fresh_dcv"]


def test_expired_evidence_is_not_fresh():
    covering = [entry("example.com", [(ORG, None, "ssl", "approved")], method="txt", expires=NOW)]
    answer = domain.may_issue("example.com", covering, ORG, None, "ssl", NOW)
    assert answer["allowed"] and not answer["fresh_dcv"] and answer["dcv_status"] == "expired"


# ---- names -----------------------------------------------------------------------------------------------

def test_covering_entries_walk_up_with_wildcards():
    assert names.covering_entries("a.b.example.com") == ["a.b.example.com", "b.example.com", "*.b.example.com",
                                                         "example.com", "*.example.com"]   # never a TLD
    assert names.covering_entries("*.example.com")[:2] == ["*.example.com", "example.com"]
