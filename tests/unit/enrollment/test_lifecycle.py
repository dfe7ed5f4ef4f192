"""The SSL request lifecycle and CA revocation as pure decisions: given events, when a command, then events or a
refusal."""
from datetime import datetime, timezone

import pytest

from contracts.errors import Conflict, Forbidden, NotFound
from services.ca import domain as ca_domain
from services.ca.events import CertificateIssued, CertificateSigning
from services.enrollment import domain
from services.enrollment.events import SslIssued, SslRequested

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)
REQUESTER, APPROVER = "admin-requester", "admin-approver"


def requested(ssl_id="s-1"):
    return SslRequested(ssl_id, "o-1", None, "p-1", 90, "www.example.com", ["www.example.com"], "ec-p256", "PEM",
                        {"organization": "Example"}, None, None, False, REQUESTER)


def issued(ssl_id="s-1"):
    return SslIssued(ssl_id, "abc123", "ca-1", NOW.isoformat(), NOW.isoformat(), "ff" * 32, "PEM", ["PEM"])


def test_a_request_waits_and_only_another_admin_approves_it_once():
    events = domain.decide_request(domain.Ssl(), requested(), None)
    state = domain.fold(events)
    assert state.status == "requested"
    with pytest.raises(Forbidden):
        domain.decide_approve(state, "s-1", REQUESTER, None)
    approval = domain.decide_approve(state, "s-1", APPROVER, "fine")
    assert [type(e).__name__ for e in approval] == ["SslApproved", "SslApplied"]
    with pytest.raises(Conflict):                       # the racing second approval finds it applied
        domain.decide_approve(domain.fold(events + approval), "s-1", "admin-3", None)


def test_auto_approval_records_request_approval_and_application_together():
    events = domain.decide_request(domain.Ssl(), requested(), REQUESTER)
    assert [type(e).__name__ for e in events] == ["SslRequested", "SslApproved", "SslApplied"]
    assert events[1].automatic


def test_a_declined_request_cannot_be_approved_and_an_issued_one_revokes_once():
    events = domain.decide_request(domain.Ssl(), requested(), None)
    declined = events + domain.decide_decline(domain.fold(events), "s-1", APPROVER, "no")
    with pytest.raises(Conflict, match="declined"):
        domain.decide_approve(domain.fold(declined), "s-1", APPROVER, None)
    done = events + domain.decide_approve(domain.fold(events), "s-1", APPROVER, None)
    done += domain.decide_issued(domain.fold(done), issued())
    revoked = done + domain.decide_revoke(domain.fold(done), "s-1", "superseded", APPROVER)
    with pytest.raises(Conflict, match="already revoked"):
        domain.decide_revoke(domain.fold(revoked), "s-1", "superseded", APPROVER)


def test_a_failed_issuance_leaves_the_request_failed_from_where_it_is_retried_or_declined():
    events = domain.decide_request(domain.Ssl(), requested(), None)
    events += domain.decide_approve(domain.fold(events), "s-1", APPROVER, None)
    events += domain.decide_issuance_failed(domain.fold(events), "s-1", "lint", [{"code": "x"}])
    assert domain.fold(events).status == "failed"
    with pytest.raises(Forbidden):                      # a retry is an approval: never the requester's own
        domain.decide_approve(domain.fold(events), "s-1", REQUESTER, None)
    retry = domain.decide_approve(domain.fold(events), "s-1", "admin-3", "setting fixed")
    assert [type(e).__name__ for e in retry] == ["SslApproved", "SslApplied"]
    assert domain.fold(events + retry).status == "applied"
    with pytest.raises(Conflict):                       # a racing second retry finds it applied
        domain.decide_approve(domain.fold(events + retry), "s-1", APPROVER, None)
    declined = domain.decide_decline(domain.fold(events), "s-1", APPROVER, "cannot be issued")
    assert domain.fold(events + declined).status == "declined"


def test_the_ca_revokes_a_certificate_known_only_by_its_pre_issuance_event_and_never_twice():
    signing = CertificateSigning("ca-1", "abc", "ssl:1", "CN=x", ["x"], NOW.isoformat(), NOW.isoformat(), "00")
    revoked = ca_domain.decide_revoke(ca_domain.fold([signing]), "abc", "key_compromise", NOW)
    assert revoked[0].reason == "key_compromise"
    issued_events = [signing, CertificateIssued("ca-1", "abc", "ssl:1", "PEM", "ff", NOW.isoformat(), NOW.isoformat())]
    with pytest.raises(Conflict):
        ca_domain.decide_revoke(ca_domain.fold(issued_events + revoked), "abc", "superseded", NOW)
    with pytest.raises(NotFound):
        ca_domain.decide_revoke(ca_domain.fold([]), "abc", "superseded", NOW)
