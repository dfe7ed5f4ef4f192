"""A CA's own stream (`ca-<id>`): the dual-controlled revocation of an issuing CA, reissue, and what a revoked CA
may still do — given events, when a command, then events (services/ca/domain.py, pure, a fixed `now`). And when a
CA publishes its next CRL: a root's ARL by BR 7.2's CA limits, an issuing CA's by the settings."""
import datetime as dt

import pytest

from contracts.errors import Conflict, Forbidden, InvalidRequest, NotFound, PolicyViolation
from services.ca import domain
from services.ca.events import (CaCertificateReissued, CaCreated, CaRevocationRejected, CaRevocationRequested,
                                CaRevoked)

NOW = dt.datetime(2027, 2, 1, 10, 0, tzinfo=dt.timezone.utc)
ROOT, ISSUING = "5c0a0000-0000-4000-8000-0000000000c0", "5c0a0000-0000-4000-8000-0000000000c1"
ALICE, BOB = "admin-alice", "admin-bob"


def created(ca_id=ISSUING, kind="issuing", parent=ROOT, serial="0a1b") -> CaCreated:
    return CaCreated(ca_id, "Issuing", kind, parent, "k-1", "ec-p256", "ab" * 32, "PEM", serial, "CN=Issuing",
                     "2027-01-01T00:00:00+00:00", "2037-01-01T00:00:00+00:00", "cd" * 32)


def reissued(serial="0a1c", previous="") -> CaCertificateReissued:
    return CaCertificateReissued(ISSUING, ROOT, "PEM2", serial, "CN=Issuing", "2027-01-10T00:00:00+00:00",
                                 "2037-01-08T00:00:00+00:00", "ce" * 32, previous)


def requested(by=ALICE, reason="ca_compromise") -> CaRevocationRequested:
    return CaRevocationRequested(ISSUING, reason, by, (NOW - dt.timedelta(hours=1)).isoformat())


def state(*events) -> domain.Authority:
    return domain.fold_authority(events)


def refused(error, code, decide, *args):
    with pytest.raises(error) as caught:
        decide(*args)
    assert caught.value.code == code
    return caught.value


# ---- asking -----------------------------------------------------------------------------------------------------
def test_an_mrao_asks_and_the_ca_records_a_pending_revocation():
    [event] = domain.decide_request_ca_revocation(state(created()), ISSUING, ALICE, "key_compromise", NOW)
    assert event == CaRevocationRequested(ISSUING, "key_compromise", ALICE, NOW.isoformat())
    after = domain.evolve_authority(state(created()), event)
    assert after.revocation.status is domain.CaRevocationStatus.REQUESTED and not after.revoked


def test_a_root_is_not_revocable():
    refused(PolicyViolation, "root_not_revocable", domain.decide_request_ca_revocation,
            state(created(ROOT, "root", None)), ROOT, ALICE, "ca_compromise", NOW)


def test_an_unknown_ca_is_not_found():
    refused(NotFound, "not_found", domain.decide_request_ca_revocation, state(), ISSUING, ALICE, "superseded", NOW)


@pytest.mark.parametrize("reason", ["certificate_hold", "aa_compromise", "remove_from_crl", ""])
def test_a_reason_a_ca_certificate_may_not_carry_is_refused(reason):
    refused(InvalidRequest, "unknown_reason", domain.decide_request_ca_revocation, state(created()), ISSUING, ALICE,
            reason, NOW)


def test_a_second_request_while_one_waits_is_a_conflict():
    error = refused(Conflict, "revocation_pending", domain.decide_request_ca_revocation,
                    state(created(), requested()), ISSUING, BOB, "superseded", NOW)
    assert error.details == {"requested_by": ALICE, "reason": "ca_compromise"}


def test_a_revoked_ca_cannot_be_asked_again():
    revoked = state(created(), requested(), *domain.decide_approve_ca_revocation(
        state(created(), requested()), ISSUING, BOB, None, NOW))
    refused(Conflict, "already_revoked", domain.decide_request_ca_revocation, revoked, ISSUING, ALICE,
            "superseded", NOW)


# ---- approving and rejecting ----------------------------------------------------------------------------------
def test_another_mrao_approves_and_every_certificate_of_the_key_is_revoked():
    before = state(created(), reissued(), requested())

    [event] = domain.decide_approve_ca_revocation(before, ISSUING, BOB, "confirmed", NOW)

    assert event == CaRevoked(ISSUING, ROOT, ["0a1b", "0a1c"], "ca_compromise", ALICE, BOB, NOW.isoformat(),
                              "confirmed")
    after = domain.evolve_authority(before, event)
    assert after.revoked and after.revocation.approved_by == BOB and after.revocation.requested_by == ALICE


def test_the_requester_cannot_approve_their_own_request():
    refused(Forbidden, "own_request", domain.decide_approve_ca_revocation, state(created(), requested()), ISSUING,
            ALICE, None, NOW)


def test_nothing_to_approve_or_reject_without_a_request():
    for decide in (domain.decide_approve_ca_revocation, domain.decide_reject_ca_revocation):
        refused(Conflict, "no_revocation_requested", decide, state(created()), ISSUING, BOB, None, NOW)


def test_the_second_of_two_approvals_finds_the_ca_revoked():
    pending = state(created(), requested())
    first = domain.decide_approve_ca_revocation(pending, ISSUING, BOB, None, NOW)
    refused(Conflict, "already_revoked", domain.decide_approve_ca_revocation, state(created(), requested(), *first),
            ISSUING, "admin-carol", None, NOW)


def test_a_rejection_by_anyone_ends_the_request_and_a_new_one_may_follow():
    for rejecter in (BOB, ALICE):                 # the requester withdraws it, or another MRAO rejects it
        [event] = domain.decide_reject_ca_revocation(state(created(), requested()), ISSUING, rejecter, "no", NOW)
        assert event == CaRevocationRejected(ISSUING, rejecter, NOW.isoformat(), "no")
        after = state(created(), requested(), event)
        assert after.revocation is None
        assert domain.decide_request_ca_revocation(after, ISSUING, BOB, "superseded", NOW)


# ---- reissue and issuing ----------------------------------------------------------------------------------------
def test_a_reissue_records_the_new_certificate_after_the_current_one():
    [event] = domain.decide_reissue_ca(state(created()), ISSUING, reissued())
    assert event.previous_serial == "0a1b" and event.serial == "0a1c"
    assert state(created(), event).serials == ("0a1b", "0a1c")


def test_a_revoked_ca_is_not_reissued_and_signs_nothing():
    revoked = state(created(), requested(),
                    *domain.decide_approve_ca_revocation(state(created(), requested()), ISSUING, BOB, None, NOW))
    refused(Conflict, "ca_revoked", domain.decide_reissue_ca, revoked, ISSUING, reissued())
    refused(PolicyViolation, "ca_revoked", domain.check_can_issue, revoked)
    refused(PolicyViolation, "ca_revoked", domain.check_can_issue, {"ca_id": ISSUING, "revocation_status": "revoked"})


def test_a_ca_with_a_pending_revocation_still_issues():
    domain.check_can_issue(state(created(), requested()))
    domain.check_can_issue({"ca_id": ISSUING, "revocation_status": "requested"})
    domain.check_can_issue({"ca_id": ISSUING, "revocation_status": None})


# ---- when the next CRL is due ------------------------------------------------------------------------------------
def test_a_root_publishes_an_arl_within_br_limits_and_an_issuing_ca_by_its_settings():
    arl = domain.crl_policy("root", 7, 24)
    crl = domain.crl_policy("issuing", 7, 24)
    assert arl.lint_profile == "arl-br" and arl.validity <= dt.timedelta(days=365)
    assert arl.refresh < arl.validity / 2                     # refreshed well before it lapses
    assert (crl.lint_profile, crl.validity, crl.refresh) == ("crl-br", dt.timedelta(days=7), dt.timedelta(hours=24))


@pytest.mark.parametrize("last, revoked, due", [
    (None, None, True),                                             # none yet
    (NOW - dt.timedelta(days=6), None, False),                      # fresh
    (NOW - dt.timedelta(days=7), None, True),                       # a week old
    (NOW - dt.timedelta(days=1), NOW - dt.timedelta(hours=1), True),    # a CA revoked since
    (NOW - dt.timedelta(days=1), NOW - dt.timedelta(days=2), False),    # revoked before the last ARL
])
def test_an_arl_is_due_when_missing_a_week_old_or_behind_a_revocation(last, revoked, due):
    assert domain.crl_due(domain.crl_policy("root", 7, 24), last, revoked, NOW) is due
