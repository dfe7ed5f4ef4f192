"""Client, code-signing and device certificate requests: state, evolve, decide. Pure: no I/O, no clock, no
logging (`now` comes in).

Stream `cert-<id>`. The lifecycle (contracts/certificates.py): `invited → requested → approved → applied →
issued → downloaded`, with `declined` (from requested or failed), `failed` (the CA refused the application),
`revoked` (from issued or downloaded) and `expired` (derived when read). As for SSL requests (domain.py), the
approval and the application are one append, so of two racing approvals only one reaches the CA, and the
requester never approves their own request. An invitation is answered once: the first answer moves it to
`requested`, every later use of the link is refused (409), as is one after it expired (410-like 409 with its own
code).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from contracts.errors import Conflict, Forbidden, NotFound
from services.enrollment.certs_events import (CertApplied, CertApproved, CertDeclined, CertDownloaded, CertInvited,
                                              CertIssuanceFailed, CertIssued, CertRequested, CertRevoked)


class Status(StrEnum):
    INVITED = "invited"
    REQUESTED = "requested"
    APPROVED = "approved"
    APPLIED = "applied"
    ISSUED = "issued"
    DOWNLOADED = "downloaded"
    DECLINED = "declined"
    FAILED = "failed"
    REVOKED = "revoked"
    EXPIRED = "expired"


WAITING = (Status.REQUESTED, Status.FAILED)
IN_USE = (Status.ISSUED, Status.DOWNLOADED)


@dataclass(frozen=True)
class Cert:
    cert_id: str | None = None
    cert_type: str | None = None
    status: Status | None = None
    requested_by: str | None = None
    serial: str | None = None
    invitation: CertInvited | None = None
    request: CertRequested | None = None

    @property
    def exists(self) -> bool:
        return self.status is not None


def evolve(state: Cert, event) -> Cert:
    match event:
        case CertInvited():
            return Cert(event.cert_id, event.cert_type, Status.INVITED, event.invited_by, invitation=event)
        case CertRequested():
            return replace(state, cert_id=event.cert_id, cert_type=event.cert_type, status=Status.REQUESTED,
                           requested_by=event.requested_by, request=event)
        case CertApproved():
            return replace(state, status=Status.APPROVED)
        case CertApplied():
            return replace(state, status=Status.APPLIED)
        case CertIssuanceFailed():
            return replace(state, status=Status.FAILED)
        case CertIssued():
            return replace(state, status=Status.ISSUED, serial=event.serial)
        case CertDownloaded():
            return replace(state, status=Status.DOWNLOADED)
        case CertDeclined():
            return replace(state, status=Status.DECLINED)
        case CertRevoked():
            return replace(state, status=Status.REVOKED)
    raise TypeError(f"enrollment cannot evolve a certificate request with {type(event).__name__}")


def fold(events) -> Cert:
    state = Cert()
    for event in events:
        state = evolve(state, event)
    return state


def decide_invite(state: Cert, invited: CertInvited) -> list:
    if state.exists:
        raise Conflict("a request with this id exists", code="cert_exists")
    return [invited]


def check_invitation_open(state: Cert, now: datetime) -> CertInvited:
    """The invitation this link names, if it may still be answered: 409 `invitation_used` once answered (or
    declined), 409 `invitation_expired` after its time."""
    if state.invitation is None:
        raise NotFound.of("invitation", "link")
    if state.status is not Status.INVITED:
        raise Conflict("this invitation link was used already: it works once", {"invitation": ["used"]},
                       code="invitation_used")
    if datetime.fromisoformat(state.invitation.expires_at) <= now:
        raise Conflict("this invitation link has expired: ask your administrator for a new one",
                       {"invitation": [f"expired at {state.invitation.expires_at}"]}, code="invitation_expired")
    return state.invitation


def decide_request(state: Cert, requested: CertRequested, approved_by: str | None, signing_request: dict | None,
                   now: datetime) -> list:
    """A new request, or the answer to an open invitation; with `approved_by` (no approval needed, or an
    auto-approving account), approved and applied in the same append."""
    if state.exists:
        if state.status is Status.INVITED:
            check_invitation_open(state, now)
        else:
            raise Conflict("a request with this id exists", code="cert_exists")
    events: list = [requested]
    if approved_by is not None:
        events += [CertApproved(requested.cert_id, requested.cert_type, approved_by, None, True),
                   CertApplied(requested.cert_id, requested.cert_type, signing_request)]
    return events


def decide_approve(state: Cert, cert_id: str, approver: str, message: str | None, signing_request: dict) -> list:
    _existing(state, cert_id)
    if state.status not in WAITING:
        raise Conflict(f"the request is {state.status}, not waiting for approval", {"status": str(state.status)},
                       code=f"cert_{state.status}")
    if approver == state.requested_by:
        raise Forbidden("the requester cannot approve their own request", {"missing": "another administrator"},
                        code="own_request")
    return [CertApproved(cert_id, state.cert_type, approver, message, False),
            CertApplied(cert_id, state.cert_type, signing_request)]


def decide_decline(state: Cert, cert_id: str, admin: str, reason: str) -> list:
    _existing(state, cert_id)
    if state.status not in WAITING + (Status.INVITED,):
        raise Conflict(f"the request is {state.status}; only a waiting request or invitation can be declined",
                       {"status": str(state.status)}, code=f"cert_{state.status}")
    return [CertDeclined(cert_id, state.cert_type, admin, reason)]


def decide_outcome(state: Cert, application_is_last: bool, outcome) -> list:
    """The CA's answer to the request's last application (CertIssued or CertIssuanceFailed); nothing when the
    request is not applied or the answer is to an older application."""
    if state.status is not Status.APPLIED or not application_is_last:
        return []
    return [outcome]


def decide_downloaded(state: Cert, cert_id: str, fmt: str, by: str) -> list:
    _existing(state, cert_id)
    if state.status not in IN_USE + (Status.REVOKED,):
        raise Conflict(f"the request is {state.status}; there is no certificate to download yet",
                       {"status": str(state.status)}, code=f"cert_{state.status}")
    return [CertDownloaded(cert_id, state.cert_type, fmt, by)] if state.status is Status.ISSUED else []


def decide_revoke(state: Cert, cert_id: str, reason: str, admin: str) -> list:
    _existing(state, cert_id)
    if state.status is Status.REVOKED:
        raise Conflict("the certificate is already revoked", code="already_revoked")
    if state.status not in IN_USE:
        raise Conflict(f"the request is {state.status}; only an issued certificate can be revoked",
                       {"status": str(state.status)}, code=f"cert_{state.status}")
    return [CertRevoked(cert_id, state.cert_type, state.serial, reason, admin)]


def _existing(state: Cert, cert_id: str) -> Cert:
    if not state.exists:
        raise NotFound.of("certificate", cert_id)
    return state
