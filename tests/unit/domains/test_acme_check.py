"""An ACME challenge checked by domains (decide_record_acme_check): the checked event, and when it becomes the
domain's DCV evidence. Pure, with a fixed `now`."""
from datetime import timedelta

import pytest

from contracts import names
from services.domains import domain
from services.domains.commands import Caa, RecordAcmeCheck
from tests.unit.domains.test_domain import NOW, PERMIT, check, created, start, state_of

AUTHZ = "7e0c1d2a-4b3f-4c5d-8e6f-708192a3b4c5"
FORBID = Caa(False, None, "caa_forbids", "CAA names another CA", "example.com", "example.com",
             ('0 issue "other.ca"',))


def acme(identifier="example.com", challenge_type="dns-01", wildcard=False, valid=True, domain_id="dom-1",
         evidence_caa=PERMIT, now=NOW, problem=None):
    return RecordAcmeCheck(AUTHZ, "chall-1", challenge_type, identifier, wildcard, domain_id, valid,
                           None if valid else (problem or "incorrectResponse"), "what the check found", None,
                           evidence_caa, now, 200)


def approved(name="example.com"):
    return created(name, approved=True)


def kinds(events):
    return [type(e).__name__ for e in events]


def test_a_valid_dns_01_for_the_domains_own_name_is_its_evidence_without_a_dcv_attempt():
    events = domain.decide_record_acme_check(state_of(approved()), acme())
    assert kinds(events) == ["AcmeChallengeChecked", "DcvValidated"]
    checked, evidence = events
    assert (checked.valid, checked.problem_type, checked.domain_id) == (True, None, "dom-1")
    assert checked.validated_at == NOW.isoformat()
    assert checked.evidence_expires_at == evidence.evidence_expires_at == (NOW + timedelta(days=200)).isoformat()
    assert (evidence.method, evidence.dcv_id) == ("acme-dns", AUTHZ)
    state = state_of(approved() + events)
    assert state.dcv_status(NOW) == "validated" and state.evidence.method == "acme-dns"


@pytest.mark.parametrize("entry, identifier, challenge_type, wildcard, evidence", [
    ("example.com", "example.com", "http-01", False, "acme-http"),
    ("example.com", "example.com", "tls-alpn-01", False, "acme-alpn"),
    ("example.com", "example.com", "dns-01", True, "acme-dns"),          # *.example.com: the same TXT name
    ("*.example.com", "example.com", "dns-01", True, "acme-dns"),
    ("*.example.com", "example.com", "http-01", False, None),             # one host never proves a wildcard
    ("example.com", "www.example.com", "dns-01", False, None),            # a subdomain is not the domain
    ("example.com", "example.com", "http-01", True, None),
])
def test_evidence_only_for_the_domains_own_name_by_a_method_that_covers_it(entry, identifier, challenge_type,
                                                                           wildcard, evidence):
    events = domain.decide_record_acme_check(state_of(approved(entry)), acme(identifier, challenge_type, wildcard))
    assert events[0].valid
    assert [e.method for e in events[1:]] == ([evidence] if evidence else [])


def test_a_valid_check_is_no_evidence_when_caa_forbids_or_was_not_looked_up():
    for caa in (FORBID, None):
        events = domain.decide_record_acme_check(state_of(approved()), acme(evidence_caa=caa))
        assert kinds(events) == ["AcmeChallengeChecked"] and events[0].valid
        assert events[0].evidence_expires_at is None


def test_an_invalid_check_keeps_its_problem_and_is_no_evidence():
    [checked] = domain.decide_record_acme_check(state_of(approved()), acme(valid=False))
    assert (checked.valid, checked.problem_type, checked.validated_at) == (False, "incorrectResponse", None)


def test_nothing_covering_or_an_inactive_domain_is_unauthorized():
    [checked] = domain.decide_record_acme_check(domain.Domain(), acme(domain_id=None))
    assert (checked.valid, checked.problem_type, checked.domain_id) == (False, "unauthorized", None)
    assert "not covered" in checked.detail
    inactive = state_of(approved() + domain.decide_update_domain(state_of(approved()),
                                                                domain.UpdateDomain("dom-1", {"active": False})))
    [checked] = domain.decide_record_acme_check(inactive, acme())
    assert (checked.valid, checked.problem_type) == (False, "unauthorized") and "inactive" in checked.detail


def test_fresh_evidence_that_covers_more_is_not_replaced_by_one_host_evidence():
    txt = approved() + start(state_of(approved()))
    txt += check(state_of(txt))
    assert state_of(txt).evidence.method == "txt"
    events = domain.decide_record_acme_check(state_of(txt), acme(challenge_type="http-01"))
    assert kinds(events) == ["AcmeChallengeChecked"] and events[0].valid
    later = NOW + timedelta(days=201)                                    # the txt evidence has expired by then
    assert kinds(domain.decide_record_acme_check(state_of(txt), acme(challenge_type="http-01", now=later))) == [
        "AcmeChallengeChecked", "DcvValidated"]
    assert kinds(domain.decide_record_acme_check(state_of(txt), acme(challenge_type="dns-01"))) == [
        "AcmeChallengeChecked", "DcvValidated"]


def test_broader_acme_evidence_replaces_one_host_evidence():
    http = approved() + domain.decide_record_acme_check(state_of(approved()), acme(challenge_type="http-01"))
    assert state_of(http).evidence.method == "acme-http"
    events = domain.decide_record_acme_check(state_of(http), acme(challenge_type="dns-01"))
    assert [e.method for e in events[1:]] == ["acme-dns"]


def test_acme_evidence_leaves_an_open_dcv_attempt_usable():
    opened = approved() + start(state_of(approved()))
    acme_events = domain.decide_record_acme_check(state_of(opened), acme())
    state = state_of(opened + acme_events)
    assert state.attempt is not None and not state.attempt.used
    assert kinds(check(state)) == ["DcvValidated"]                       # the attempt still proves control


def test_acme_methods_cover_names_as_the_dcv_methods_they_resemble():
    assert names.evidence_covers("example.com", "acme-dns", "www.example.com")
    assert names.evidence_covers("example.com", "acme-dns", "*.example.com")
    for method in ("acme-http", "acme-alpn"):
        assert names.evidence_covers("example.com", method, "example.com")
        assert not names.evidence_covers("example.com", method, "www.example.com")
        assert not names.evidence_covers("example.com", method, "*.example.com")


def test_every_acme_dcv_method_fits_the_read_models_columns_and_the_contract():
    from contracts.acme import DCV_METHOD_OF_CHALLENGE
    from contracts.domains import DCV_METHODS, DCV_START_METHODS, StartDcvV1
    assert all(len(m) <= 10 and m in DCV_METHODS for m in DCV_METHOD_OF_CHALLENGE.values())
    assert not set(DCV_METHOD_OF_CHALLENGE.values()) & set(DCV_START_METHODS)
    assert "method" in StartDcvV1().validate({"method": "acme-dns"})    # not something an administrator starts

