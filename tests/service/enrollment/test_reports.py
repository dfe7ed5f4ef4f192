"""EnrollmentService's dashboard counts and a request's history, with a real event store on SQLite (nameko's
worker_factory; events appended as the service records them). Every count is checked against the inventory
list's X-Total-Count source (list_ssl's total) for the filter the dashboard names: the two must never disagree."""
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from nameko.testing.services import worker_factory

from contracts.enrollment import SSL_STATUSES
from contracts.errors import NotFound
from services.enrollment.events import (SslApplied, SslApproved, SslDeclined, SslDownloaded, SslIssuanceFailed,
                                        SslIssued, SslRequested, SslRevoked)
from services.enrollment.service import EnrollmentService
from services.runtime.config import Settings
from services.runtime.nameko_glue import StoreHandle
from tests import factories

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)
ORG, OTHER_ORG = str(uuid.uuid4()), str(uuid.uuid4())
DEPT = str(uuid.uuid4())
PROFILE, CA = str(uuid.uuid4()), str(uuid.uuid4())
ALICE, BOB = str(uuid.uuid4()), str(uuid.uuid4())
ALL = {"all": True}


@pytest.fixture
def service(tmp_path):
    store = EnrollmentService.store.build_store(Settings(var_dir=str(tmp_path)), "enrollment")
    store.clock = lambda: NOW
    return worker_factory(EnrollmentService, store=StoreHandle(store, factories.WorkerInfo())), store


def record(store, status="issued", expires_in=timedelta(days=60), org=ORG, dept=None, by=ALICE, **extra) -> str:
    """A request taken to `status` by the events the service records for it."""
    ssl_id = str(uuid.uuid4())
    events = [SslRequested(ssl_id, org, dept, PROFILE, 90, "www.example.com", ["www.example.com"], "ec-p256",
                           "-----BEGIN CERTIFICATE REQUEST-----", {}, extra.get("comments"), None, False, by,
                           renewal_of=extra.get("renewal_of"), replaces=extra.get("replaces", False))]
    if status in ("issued", "downloaded", "revoked", "failed"):
        events += [SslApproved(ssl_id, BOB, "looks right", False), SslApplied(ssl_id)]
    if status == "failed":
        events.append(SslIssuanceFailed(ssl_id, "lint: the CA refused", []))
    if status in ("issued", "downloaded", "revoked"):
        not_after = NOW + expires_in
        events.append(SslIssued(ssl_id, "1a2b3c", CA, (not_after - timedelta(days=90)).isoformat(),
                                not_after.isoformat(), "ab" * 32, "-----BEGIN CERTIFICATE-----", []))
    if status == "downloaded":
        events.append(SslDownloaded(ssl_id, "pem", ALICE))
    if status == "revoked":
        events.append(SslRevoked(ssl_id, "1a2b3c", "key_compromise", BOB))
    if status == "declined":
        events.append(SslDeclined(ssl_id, BOB, "wrong name"))
    store.append(f"ssl-{ssl_id}", 0, [e.encode() for e in events], {"actor": f"admin:{by}"})
    return ssl_id


def listed(enrollment, scope=ALL, **filters) -> int:
    return enrollment.list_ssl(scope, filters, 0, 1)["total"]


def test_counts_by_status_are_the_lists_counts_and_past_not_after_is_expired(service):
    enrollment, store = service
    for status in ("requested", "issued", "issued", "downloaded", "revoked", "declined", "failed"):
        record(store, status)
    record(store, "issued", expires_in=timedelta(days=-1))
    record(store, "downloaded", expires_in=timedelta(days=-30))
    summary = enrollment.ssl_summary(ALL, None)
    # a refusal after the application is `failed` (before the pipeline it left the request `approved`)
    assert summary["by_status"] == {"requested": 1, "approved": 0, "applied": 0, "issued": 2, "downloaded": 1,
                                    "declined": 1, "revoked": 1, "expired": 2, "failed": 1}
    assert set(summary["by_status"]) == set(SSL_STATUSES)
    for status in SSL_STATUSES:
        assert summary["by_status"][status] == listed(enrollment, status=status), status


def test_expiry_buckets_are_disjoint_per_organization_and_each_is_the_sum_of_its_list_filters(service):
    enrollment, store = service
    for days in (-3, 1, 6, 8, 29, 31, 89, 91):
        record(store, "issued", expires_in=timedelta(days=days))
    record(store, "downloaded", expires_in=timedelta(days=2))
    record(store, "revoked", expires_in=timedelta(days=2))           # revoked: not in the timeline
    record(store, "issued", expires_in=timedelta(days=2), org=OTHER_ORG)
    summary = enrollment.ssl_summary(ALL, None)
    rows = {row["organization_id"]: row for row in summary["expiry"]}
    assert rows[ORG] == {"organization_id": ORG, "expired": 1, "within_7": 3, "within_30": 2, "within_90": 2}
    assert rows[OTHER_ORG]["within_7"] == 1
    for bucket, window in summary["windows"].items():
        total = sum(listed(enrollment, organization_id=ORG, **f) for f in window["filters"])
        assert total == rows[ORG][bucket], bucket
    assert summary["windows"]["within_7"]["expires_after"] == NOW.isoformat()
    assert summary["windows"]["within_90"]["expires_before"] == (NOW + timedelta(days=90)).isoformat()


def test_an_rao_counts_only_its_organizations_and_departments(service):
    enrollment, store = service
    record(store, "issued")
    record(store, "issued", org=OTHER_ORG)
    record(store, "issued", org=OTHER_ORG, dept=DEPT)
    rao = {"organizations": [ORG], "departments": []}
    drao = {"organizations": [], "departments": [DEPT]}
    assert enrollment.ssl_summary(rao, None)["by_status"]["issued"] == 1
    assert [r["organization_id"] for r in enrollment.ssl_summary(rao, None)["expiry"]] == [ORG]
    assert enrollment.ssl_summary(drao, None)["expiry"] == [
        {"organization_id": OTHER_ORG, "expired": 0, "within_7": 0, "within_30": 0, "within_90": 1}]
    assert enrollment.ssl_summary({"organizations": [], "departments": []}, None)["expiry"] == []


def test_waiting_requests_are_those_of_others_in_scope(service):
    enrollment, store = service
    mine = record(store, "requested", by=ALICE)
    theirs = record(store, "requested", by=BOB)
    record(store, "requested", by=BOB, org=OTHER_ORG)
    record(store, "issued", by=BOB)
    assert enrollment.ssl_summary({"organizations": [ORG]}, ALICE)["waiting"] == {"count": 1, "ids": [theirs]}
    assert enrollment.ssl_summary(ALL, BOB)["waiting"] == {"count": 1, "ids": [mine]}
    assert enrollment.ssl_summary(ALL, None)["waiting"]["count"] == 3


def test_history_tells_who_did_what_with_the_messages(service):
    enrollment, store = service
    ssl_id = record(store, "revoked", comments="for the shop")
    history = enrollment.ssl_history(ssl_id)
    # applied and issued name no actor: theirs is the command's (the append's metadata; here the requester's)
    assert [(e["event"], e["by"], e["message"]) for e in history] == [
        ("requested", ALICE, "for the shop"), ("approved", BOB, "looks right"), ("applied", ALICE, None),
        ("issued", ALICE, None), ("revoked", BOB, "key_compromise")]
    assert history[3]["details"] == {"serial": "1a2b3c", "not_after": (NOW + timedelta(days=60)).isoformat()}
    assert all(e["at"] == NOW.isoformat() for e in history)


def test_history_shows_a_failure_and_the_renewal_that_followed(service):
    enrollment, store = service
    failed = record(store, "failed")
    assert [(e["event"], e["message"]) for e in enrollment.ssl_history(failed)][-1] == \
        ("failed", "lint: the CA refused")
    old = record(store, "issued")
    new = record(store, "requested", by=BOB, renewal_of=old, replaces=True)
    assert enrollment.ssl_history(old)[-1] == {"at": NOW.isoformat(), "event": "replaced", "by": BOB,
                                               "message": None, "details": {"renewed_by": new}}
    assert enrollment.ssl_history(new)[0]["event"] == "replacement requested"


def test_history_of_an_unknown_request_is_not_found(service):
    enrollment, _store = service
    with pytest.raises(NotFound):
        enrollment.ssl_history(str(uuid.uuid4()))
