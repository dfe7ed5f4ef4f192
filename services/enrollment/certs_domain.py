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
                                              CertIssuanceFailed, CertIssued, CertKeyRecovered, CertRecoveryApproved,
                                              CertRecoveryRequested, CertRequested, CertRevoked, EscrowInitialized)


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


class RecoveryStatus(StrEnum):
    REQUESTED = "requested"
    APPROVED = "approved"
    RECOVERED = "recovered"


@dataclass(frozen=True)
class Recovery:
    status: RecoveryStatus
    requested_by: str
    approved_by: str | None = None


@dataclass(frozen=True)
class Escrow:
    organization_id: str | None = None
    initialized: EscrowInitialized | None = None


@dataclass(frozen=True)
class Cert:
    cert_id: str | None = None
    cert_type: str | None = None
    status: Status | None = None
    requested_by: str | None = None
    serial: str | None = None
    invitation: CertInvited | None = None
    request: CertRequested | None = None
    recovery: Recovery | None = None

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
        case CertRecoveryRequested():
            return replace(state, recovery=Recovery(RecoveryStatus.REQUESTED, event.requested_by))
        case CertRecoveryApproved():
            return replace(state, recovery=replace(state.recovery, status=RecoveryStatus.APPROVED,
                                                   approved_by=event.approved_by))
        case CertKeyRecovered():
            return replace(state, recovery=replace(state.recovery, status=RecoveryStatus.RECOVERED))
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


# ---- key escrow (stream `escrow-<organization_id>`; the recovery is in the certificate's stream) ---------------

def fold_escrow(events) -> Escrow:
    state = Escrow()
    for event in events:
        if isinstance(event, EscrowInitialized):
            state = Escrow(event.organization_id, event)
    return state


def decide_initialize_escrow(state: Escrow, initialized: EscrowInitialized, options: dict) -> list:
    """"Initialize encryption": once per organization, and only for one created with key escrow."""
    if not options.get("enabled"):
        raise Conflict("this organization was not created with key escrow", {"organization_id": ["no key escrow"]},
                       code="escrow_not_enabled")
    if state.initialized is not None:
        raise Conflict("encryption is initialized already for this organization (its master key is fixed)",
                       {"organization_id": ["initialized"]}, code="escrow_initialized")
    return [initialized]


def check_escrow_ready(options: dict, state: Escrow) -> EscrowInitialized | None:
    """The master key client keys are escrowed to, None for an organization without key escrow; 409
    `escrow_not_initialized` while an escrow organization has none (SCM: no client certificates until then)."""
    if not options.get("enabled"):
        return None
    if state.initialized is None:
        raise Conflict("this organization escrows client keys and its encryption is not initialized yet: an "
                       "administrator who recovers keys must \"initialize encryption\" first",
                       {"organization_id": ["key escrow not initialized"]}, code="escrow_not_initialized")
    return state.initialized


def decide_request_recovery(state: Cert, cert_id: str, by: str, reason: str) -> list:
    _existing(state, cert_id)
    if state.request is None or not state.request.escrowed:
        raise Conflict("this certificate's key is not escrowed: there is nothing to recover",
                       {"cert_id": ["not escrowed"]}, code="not_escrowed")
    if state.recovery is not None and state.recovery.status is not RecoveryStatus.RECOVERED:
        raise Conflict(f"a recovery of this key is {state.recovery.status} already", code="recovery_pending")
    if state.recovery is not None:
        raise Conflict("this key was recovered already (its certificate is revoked)", code="recovered")
    return [CertRecoveryRequested(cert_id, state.cert_type, by, reason)]


def decide_approve_recovery(state: Cert, cert_id: str, approver: str) -> list:
    """Dual control (DESIGN §6): another administrator than the one who asked."""
    _existing(state, cert_id)
    if state.recovery is None or state.recovery.status is not RecoveryStatus.REQUESTED:
        raise Conflict("no recovery of this key waits for approval", code="no_recovery_requested")
    if approver == state.recovery.requested_by:
        raise Forbidden("a key recovery needs a second administrator: you asked for this one",
                        {"missing": "another administrator"}, code="own_request")
    return [CertRecoveryApproved(cert_id, state.cert_type, approver)]


def decide_recover(state: Cert, cert_id: str, by: str, reason: str) -> list:
    """The key leaves the escrow (once, to the administrator who asked, after the approval), and the certificate
    is revoked (SCM's rule): its key is no longer its holder's alone."""
    _existing(state, cert_id)
    if state.recovery is None or state.recovery.status is not RecoveryStatus.APPROVED:
        raise Conflict("the recovery of this key is not approved", code="recovery_not_approved")
    if by != state.recovery.requested_by:
        raise Forbidden("only the administrator who asked for the recovery receives the key",
                        {"missing": "the requester"}, code="not_the_requester")
    events: list = [CertKeyRecovered(cert_id, state.cert_type, by)]
    if state.status in IN_USE:
        events.append(CertRevoked(cert_id, state.cert_type, state.serial, reason, by))
    return events
