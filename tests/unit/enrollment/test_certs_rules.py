"""The lifecycle of client, code-signing and device certificate requests (certs_domain): given events, when a
command, then events or the refusal."""
from datetime import datetime, timedelta, timezone

import pytest

from contracts.errors import Conflict, Forbidden, NotFound
from services.enrollment import certs_domain as domain
from services.enrollment.certs_events import (CertApplied, CertApproved, CertDeclined, CertDownloaded, CertInvited,
                                              CertIssuanceFailed, CertIssued, CertRequested, CertRevoked)

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=timezone.utc)
CERT = "11111111-1111-1111-1111-111111111111"
ADMIN, OTHER = "admin-1", "admin-2"


def invited(expires=NOW + timedelta(days=7)) -> CertInvited:
    return CertInvited(CERT, "client", "org", None, "profile", 365, "person", "ada@example.com",
                       ["ada@example.com"], "Ada", ADMIN, "ab" * 32, expires.isoformat(), False, "console", None)


def requested(cert_type="client") -> CertRequested:
    return CertRequested(CERT, cert_type, "org", None, "profile", 365, "ada@example.com", [], ["ada@example.com"],
                         "ec-p256", "server", "CSR", {}, "person", "Ada", "ada@example.com", ADMIN, "invitation", {},
                         None)


def issued() -> CertIssued:
    return CertIssued(CERT, "client", "0abc", "ca", NOW.isoformat(), NOW.isoformat(), "ff" * 32, "PEM", [], None, None)


def state(*events):
    return domain.fold(events)


def test_an_open_invitation_is_answered_once():
    answered = domain.decide_request(state(invited()), requested(), None, {}, NOW)
    assert [type(e) for e in answered] == [CertRequested]
    with pytest.raises(Conflict) as refused:
        domain.decide_request(state(invited(), requested()), requested(), None, {}, NOW)
    assert refused.value.code == "cert_exists"
    with pytest.raises(Conflict) as used:
        domain.check_invitation_open(state(invited(), requested()), NOW)
    assert used.value.code == "invitation_used"


def test_an_expired_invitation_cannot_be_answered():
    with pytest.raises(Conflict) as refused:
        domain.decide_request(state(invited(expires=NOW - timedelta(seconds=1))), requested(), None, {}, NOW)
    assert refused.value.code == "invitation_expired"


def test_a_declined_invitation_counts_as_used():
    with pytest.raises(Conflict) as refused:
        domain.check_invitation_open(state(invited(), CertDeclined(CERT, "client", ADMIN, "gone")), NOW)
    assert refused.value.code == "invitation_used"


def test_no_approval_needed_means_approved_and_applied_in_one_append():
    events = domain.decide_request(domain.Cert(), requested("device"), ADMIN, {"request_id": "x"}, NOW)
    assert [type(e) for e in events] == [CertRequested, CertApproved, CertApplied]
    assert events[1].automatic is True and events[2].signing_request == {"request_id": "x"}


def test_the_requester_cannot_approve_and_another_admin_applies_it():
    waiting = state(requested())
    with pytest.raises(Forbidden):
        domain.decide_approve(waiting, CERT, ADMIN, None, {})
    events = domain.decide_approve(waiting, CERT, OTHER, "fine", {"request_id": "x"})
    assert [type(e) for e in events] == [CertApproved, CertApplied]


def test_a_failed_request_may_be_approved_again_but_an_issued_one_not():
    failed = state(requested(), CertApproved(CERT, "client", OTHER, None, False), CertApplied(CERT, "client", {}),
                   CertIssuanceFailed(CERT, "client", "lint", [], "lint_failed"))
    assert [type(e) for e in domain.decide_approve(failed, CERT, OTHER, None, {})] == [CertApproved, CertApplied]
    done = state(requested(), CertApproved(CERT, "client", OTHER, None, False), CertApplied(CERT, "client", {}),
                 issued())
    with pytest.raises(Conflict):
        domain.decide_approve(done, CERT, OTHER, None, {})


def test_an_outcome_counts_only_for_the_last_application_of_an_applied_request():
    applied = state(requested(), CertApproved(CERT, "client", OTHER, None, False), CertApplied(CERT, "client", {}))
    assert domain.decide_outcome(applied, True, issued()) == [issued()]
    assert domain.decide_outcome(applied, False, issued()) == []
    assert domain.decide_outcome(state(requested()), True, issued()) == []


def test_the_first_download_is_recorded_and_revocation_needs_an_issued_certificate():
    done = state(requested(), CertApproved(CERT, "client", OTHER, None, False), CertApplied(CERT, "client", {}),
                 issued())
    assert [type(e) for e in domain.decide_downloaded(done, CERT, "pem", ADMIN)] == [CertDownloaded]
    assert domain.decide_downloaded(state(*done_events(), CertDownloaded(CERT, "client", "pem", ADMIN)), CERT, "der",
                                    ADMIN) == []
    revoked = domain.decide_revoke(done, CERT, "key_compromise", ADMIN)
    assert revoked == [CertRevoked(CERT, "client", "0abc", "key_compromise", ADMIN)]
    with pytest.raises(Conflict):
        domain.decide_revoke(state(requested()), CERT, "unspecified", ADMIN)
    with pytest.raises(Conflict) as again:
        domain.decide_revoke(state(*done_events(), revoked[0]), CERT, "unspecified", ADMIN)
    assert again.value.code == "already_revoked"
    with pytest.raises(NotFound):
        domain.decide_revoke(domain.Cert(), CERT, "unspecified", ADMIN)


def done_events():
    return (requested(), CertApproved(CERT, "client", OTHER, None, False), CertApplied(CERT, "client", {}), issued())
