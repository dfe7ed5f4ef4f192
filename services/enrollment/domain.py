"""Certificate profiles and SSL requests: state, evolve, decide. Pure: no I/O, no clock, no logging.

Streams: `profile-<id>` and `ssl-<id>`. The SSL lifecycle is `requested → approved → applied → issued →
downloaded`, with `declined` (from requested or failed), `failed` (the CA refused the application: from applied),
`revoked` (from issued or downloaded) and `expired` (derived from notAfter when read). `applied` is recorded
together with the approval and carries the signing request the CA's processor signs (the issuance pipeline,
DESIGN §3.6), so of two racing approvals only one reaches the CA (the other's append fails: 409). A failed request
may be approved again (a new application) or declined. Who may approve is the gateway's decision; "never the
requester" is also enforced here.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum

from contracts.errors import Conflict, Forbidden, InvalidRequest, NotFound
from services.enrollment import profiles
from services.enrollment.events import (ProfileCreated, ProfileDeleted, ProfileUpdated, SslApplied, SslApproved,
                                        SslDeclined, SslDownloaded, SslIssuanceFailed, SslIssued, SslRequested,
                                        SslRevoked)


class Status(StrEnum):
    REQUESTED = "requested"
    APPROVED = "approved"
    APPLIED = "applied"
    ISSUED = "issued"
    DOWNLOADED = "downloaded"
    DECLINED = "declined"
    REVOKED = "revoked"
    EXPIRED = "expired"
    FAILED = "failed"


@dataclass(frozen=True)
class Profile:
    profile_id: str | None = None
    fields: dict = field(default_factory=dict)
    created: bool = False
    deleted: bool = False

    @property
    def exists(self) -> bool:
        return self.created and not self.deleted


@dataclass(frozen=True)
class Ssl:
    ssl_id: str | None = None
    status: Status | None = None
    requested_by: str | None = None
    serial: str | None = None
    request: SslRequested | None = None

    @property
    def exists(self) -> bool:
        return self.status is not None


def evolve_profile(state: Profile, event) -> Profile:
    match event:
        case ProfileCreated():
            return Profile(event.profile_id, dict(event.profile), True)
        case ProfileUpdated():
            return replace(state, fields=dict(event.profile))
        case ProfileDeleted():
            return replace(state, deleted=True)
    raise TypeError(f"enrollment cannot evolve a profile with {type(event).__name__}")


def fold_profile(events) -> Profile:
    state = Profile()
    for event in events:
        state = evolve_profile(state, event)
    return state


def evolve(state: Ssl, event) -> Ssl:
    match event:
        case SslRequested():
            return Ssl(event.ssl_id, Status.REQUESTED, event.requested_by, request=event)
        case SslApproved():
            return replace(state, status=Status.APPROVED)
        case SslApplied():
            return replace(state, status=Status.APPLIED)
        case SslIssuanceFailed():
            return replace(state, status=Status.FAILED)
        case SslIssued():
            return replace(state, status=Status.ISSUED, serial=event.serial)
        case SslDownloaded():
            return replace(state, status=Status.DOWNLOADED)
        case SslDeclined():
            return replace(state, status=Status.DECLINED)
        case SslRevoked():
            return replace(state, status=Status.REVOKED)
    raise TypeError(f"enrollment cannot evolve an SSL request with {type(event).__name__}")


def fold(events) -> Ssl:
    state = Ssl()
    for event in events:
        state = evolve(state, event)
    return state


# ---- profiles -----------------------------------------------------------------------------------------------

def decide_create_profile(state: Profile, profile_id: str, values: dict) -> list:
    if state.created:
        raise Conflict("a profile with this id exists", code="profile_exists")
    return [ProfileCreated(profile_id, values)]


def decide_update_profile(state: Profile, profile_id: str, changes: dict) -> list:
    """A change of the profile's fields; its trust class is fixed (certificates issued under it were judged by
    that class's rules: a public profile turned private would keep their name while changing what it means)."""
    _profile(state, profile_id)
    check_trust_class_kept(state.fields, changes)
    merged = {**state.fields, **changes}
    changed = sorted(k for k in changes if state.fields.get(k) != changes[k])
    return [ProfileUpdated(profile_id, merged, changed)] if changed else []


def check_trust_class_kept(fields: dict, changes: dict) -> None:
    """400 `trust_class_fixed` when `changes` would change the trust class of a profile with `fields`."""
    before = profiles.trust_class(fields)
    if "trust_class" in changes and changes["trust_class"] != before:
        raise InvalidRequest(f"the trust class of a profile is fixed once it exists (it is {before}); create a new "
                             "profile instead", {"trust_class": [f"fixed: {before}"]}, code="trust_class_fixed")


def decide_delete_profile(state: Profile, profile_id: str) -> list:
    _profile(state, profile_id)
    return [ProfileDeleted(profile_id)]


def _profile(state: Profile, profile_id: str) -> Profile:
    if not state.exists:
        raise NotFound.of("profile", profile_id)
    return state


# ---- SSL requests -------------------------------------------------------------------------------------------

def decide_request(state: Ssl, requested: SslRequested, approved_by: str | None,
                   signing_request: dict | None = None) -> list:
    """A new request; with `approved_by`, approved and applied (with `signing_request`, what the CA is to sign) in
    the same append: no approval needed, or the requester holds "SSL auto approve"."""
    if state.exists:
        raise Conflict("a request with this id exists", code="ssl_exists")
    events: list = [requested]
    if approved_by is not None:
        events += [SslApproved(requested.ssl_id, approved_by, None, True),
                   SslApplied(requested.ssl_id, signing_request)]
    return events


def check_renewable(state: Ssl, ssl_id: str, replace: bool) -> None:
    """Renew: a certificate that was issued (also revoked or expired: the details are what is reused). Replace: one
    still in use, since replacing revokes it."""
    _existing(state, ssl_id)
    allowed = (Status.ISSUED, Status.DOWNLOADED) if replace else (Status.ISSUED, Status.DOWNLOADED, Status.REVOKED)
    if state.status not in allowed:
        raise Conflict(f"the request is {state.status}; only an issued certificate can be "
                       f"{'replaced' if replace else 'renewed'}", {"status": str(state.status)},
                       code=f"ssl_{state.status}")


def decide_approve(state: Ssl, ssl_id: str, approver: str, message: str | None,
                   signing_request: dict | None = None) -> list:
    """Approve a waiting request — or approve again one whose issuance failed (`failed`; `approved` at rest is
    how versions before the pipeline left it), which applies it to the CA once more."""
    _existing(state, ssl_id)
    if state.status not in (Status.REQUESTED, Status.APPROVED, Status.FAILED):
        raise Conflict(f"the request is {state.status}, not waiting for approval", {"status": str(state.status)},
                       code=f"ssl_{state.status}")
    if approver == state.requested_by:
        raise Forbidden("the requester cannot approve their own request", {"missing": "another administrator"},
                        code="own_request")
    return [SslApproved(ssl_id, approver, message, False), SslApplied(ssl_id, signing_request)]


def decide_decline(state: Ssl, ssl_id: str, admin: str, reason: str) -> list:
    _existing(state, ssl_id)
    if state.status not in (Status.REQUESTED, Status.APPROVED, Status.FAILED):  # approved at rest: failed before
        raise Conflict(f"the request is {state.status}; only a waiting request can be declined",
                       {"status": str(state.status)}, code=f"ssl_{state.status}")
    return [SslDeclined(ssl_id, admin, reason)]


def decide_issued(state: Ssl, issued: SslIssued) -> list:
    if state.status is not Status.APPLIED:
        raise Conflict(f"the request is {state.status}, not applied", code=f"ssl_{state.status}")
    return [issued]


def decide_issuance_failed(state: Ssl, ssl_id: str, reason: str, findings: list[dict],
                           code: str | None = None) -> list:
    if state.status is not Status.APPLIED:
        return []
    return [SslIssuanceFailed(ssl_id, reason, findings, code)]


def decide_downloaded(state: Ssl, ssl_id: str, fmt: str, by: str) -> list:
    _existing(state, ssl_id)
    if state.status not in (Status.ISSUED, Status.DOWNLOADED, Status.REVOKED):
        raise Conflict(f"the request is {state.status}; there is no certificate to download yet",
                       code=f"ssl_{state.status}")
    if state.status is Status.ISSUED:
        return [SslDownloaded(ssl_id, fmt, by)]
    return []


def decide_revoke(state: Ssl, ssl_id: str, reason: str, admin: str) -> list:
    _existing(state, ssl_id)
    if state.status is Status.REVOKED:
        raise Conflict("the certificate is already revoked", code="already_revoked")
    if state.status not in (Status.ISSUED, Status.DOWNLOADED):
        raise Conflict(f"the request is {state.status}; only an issued certificate can be revoked",
                       code=f"ssl_{state.status}")
    return [SslRevoked(ssl_id, state.serial, reason, admin)]


def _existing(state: Ssl, ssl_id: str) -> Ssl:
    if not state.exists:
        raise NotFound.of("ssl", ssl_id)
    return state
