"""Certificates and authorities as the CA sees them: state, evolve, decide. Pure: no I/O, no clock, no logging,
no keys.

One stream per certificate, `certificate-<serial>`: `certificate_signing` (recorded after the lint passed and
before the signature), `certificate_issued`, `certificate_revoked`. A serial is used once: the first event is
appended at version 0, so two signings that drew the same serial cannot both be recorded. CRLs of a CA are the
stream `crl-<ca_id>`: each publication takes the next CRL number.

One stream per authority, `ca-<ca_id>`: `ca_created`, then any number of `ca_certificate_reissued` (a new
certificate for the same key), and for an issuing CA the dual-controlled revocation (DESIGN §6): an MRAO's
`ca_revocation_requested`, then either `ca_revocation_rejected` (the request ends; another may follow) or, from a
DIFFERENT MRAO, `ca_revoked`, which revokes every certificate the CA's key ever had. A revoked CA signs nothing
more (`check_can_issue`) and is never reissued; its CRL is still published.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from contracts.ca import CA_REVOCATION_REASONS
from contracts.errors import Conflict, Forbidden, InvalidRequest, NotFound, PolicyViolation
from services.ca.events import (CaCertificateReissued, CaCreated, CaRevocationRejected, CaRevocationRequested,
                                CaRevoked, CertificateIssued, CertificateRevoked, CertificateSigning, CrlPublished)

# A root's CRL of its CA certificates (ARL). BR 7.2 allows a nextUpdate up to 12 months ahead for a CA CRL
# (pkilint's arl-br: 365 days); a month keeps a relying party's cached ARL, and so a CA revocation it has not
# seen, short, and a new one each week (or at once after a CA revocation) leaves three weeks before it lapses.
ARL_VALIDITY = timedelta(days=30)
ARL_REFRESH = timedelta(days=7)


class Status(StrEnum):
    SIGNING = "signing"
    ISSUED = "issued"
    REVOKED = "revoked"


@dataclass(frozen=True)
class Certificate:
    serial: str | None = None
    ca_id: str | None = None
    status: Status | None = None
    reason: str | None = None

    @property
    def exists(self) -> bool:
        return self.status is not None


def evolve(state: Certificate, event) -> Certificate:
    match event:
        case CertificateSigning():
            return Certificate(event.serial, event.ca_id, Status.SIGNING)
        case CertificateIssued():
            return replace(state, status=Status.ISSUED)
        case CertificateRevoked():
            return replace(state, status=Status.REVOKED, reason=event.reason)
    raise TypeError(f"ca cannot evolve {type(event).__name__}")


def fold(events) -> Certificate:
    state = Certificate()
    for event in events:
        state = evolve(state, event)
    return state


def decide_revoke(state: Certificate, serial: str, reason: str, now: datetime) -> list:
    """A certificate known by serial — issued, or only about to be signed — is revoked once; again is 409."""
    if not state.exists:
        raise NotFound.of("certificate", serial)
    if state.status is Status.REVOKED:
        raise Conflict("the certificate is already revoked", {"reason": state.reason}, code="already_revoked")
    return [CertificateRevoked(state.ca_id, serial, reason, now.isoformat())]


def next_crl_number(published: list) -> int:
    """The number of the CA's next CRL: it follows the last one published (RFC 5280 5.2.3: monotonic)."""
    return max((e.crl_number for e in published), default=0) + 1


def crl_published(ca_id: str, number: int, this_update: datetime, next_update: datetime, entries: int,
                  sha256: str) -> CrlPublished:
    return CrlPublished(ca_id, number, this_update.isoformat(), next_update.isoformat(), entries, sha256)


# ---- CRL publication ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CrlPolicy:
    """How a CA's CRL is made and kept fresh: the lint profile it must pass, its validity (nextUpdate -
    thisUpdate) and how old it may get before a new one is published."""
    lint_profile: str
    validity: timedelta
    refresh: timedelta


def crl_policy(kind: str, crl_validity_days: float, crl_refresh_hours: float) -> CrlPolicy:
    """A root publishes an ARL (the CRL of the CA certificates it signed: BR 7.2 limits for CA CRLs, ARL_VALIDITY,
    refreshed every ARL_REFRESH); an issuing CA a CRL of subscriber certificates (nextUpdate ≤ 10 days, the
    CERTPLANE_CRL_VALIDITY_DAYS and CERTPLANE_CRL_REFRESH_HOURS settings)."""
    if kind == "root":
        return CrlPolicy("arl-br", ARL_VALIDITY, ARL_REFRESH)
    return CrlPolicy("crl-br", timedelta(days=crl_validity_days), timedelta(hours=crl_refresh_hours))


def crl_due(policy: CrlPolicy, last_this_update: datetime | None, last_revocation_at: datetime | None,
            now: datetime) -> bool:
    """Whether a CA publishes a new CRL now: it has none, its latest is `policy.refresh` old, or a certificate
    was revoked since the latest was made."""
    if last_this_update is None or now - last_this_update >= policy.refresh:
        return True
    return last_revocation_at is not None and last_revocation_at >= last_this_update


# ---- authorities ----------------------------------------------------------------------------------------------
class CaRevocationStatus(StrEnum):
    REQUESTED = "requested"
    REVOKED = "revoked"


@dataclass(frozen=True)
class CaRevocation:
    status: CaRevocationStatus
    reason: str
    requested_by: str
    requested_at: str
    approved_by: str | None = None
    revoked_at: str | None = None


@dataclass(frozen=True)
class Authority:
    """A CA: its kind, its signer, every certificate serial its key has had (the last is the current one) and its
    revocation, pending or done (None: neither)."""
    ca_id: str | None = None
    kind: str | None = None
    parent_ca_id: str | None = None
    serials: tuple[str, ...] = ()
    revocation: CaRevocation | None = None

    @property
    def exists(self) -> bool:
        return self.ca_id is not None

    @property
    def revoked(self) -> bool:
        return self.revocation is not None and self.revocation.status is CaRevocationStatus.REVOKED


def evolve_authority(state: Authority, event) -> Authority:
    match event:
        case CaCreated():
            return Authority(event.ca_id, event.kind, event.parent_ca_id, (event.serial,))
        case CaCertificateReissued():
            return replace(state, serials=(*state.serials, event.serial))
        case CaRevocationRequested():
            return replace(state, revocation=CaRevocation(CaRevocationStatus.REQUESTED, event.reason,
                                                          event.requested_by, event.requested_at))
        case CaRevocationRejected():
            return replace(state, revocation=None)
        case CaRevoked():
            return replace(state, revocation=CaRevocation(CaRevocationStatus.REVOKED, event.reason,
                                                          event.requested_by, state.revocation.requested_at
                                                          if state.revocation else event.revoked_at,
                                                          event.approved_by, event.revoked_at))
    raise TypeError(f"ca cannot evolve an authority with {type(event).__name__}")


def fold_authority(events) -> Authority:
    state = Authority()
    for event in events:
        state = evolve_authority(state, event)
    return state


def _existing(state: Authority, ca_id: str) -> Authority:
    if not state.exists:
        raise NotFound.of("ca", ca_id)
    return state


def _not_revoked(state: Authority) -> None:
    if state.revoked:
        raise Conflict(f"CA {state.ca_id} is revoked", {"revoked_at": state.revocation.revoked_at,
                                                         "reason": state.revocation.reason}, code="already_revoked")


def decide_request_ca_revocation(state: Authority, ca_id: str, requested_by: str, reason: str,
                                 now: datetime) -> list:
    """An MRAO asks to revoke an issuing CA; nothing is revoked until another MRAO approves. A root is never
    revoked here (nobody above it publishes its status: a root is withdrawn by taking it out of trust stores)."""
    state = _existing(state, ca_id)
    if reason not in CA_REVOCATION_REASONS:
        raise InvalidRequest(f"unknown CA revocation reason {reason!r}",
                             {"reason": [f"one of {', '.join(CA_REVOCATION_REASONS)}"]}, code="unknown_reason")
    if state.kind == "root":
        raise PolicyViolation("a root CA is not revoked by Certplane: remove it from the trust stores that hold it",
                              {"kind": "root"}, code="root_not_revocable")
    _not_revoked(state)
    if state.revocation is not None:
        raise Conflict(f"CA {ca_id} has a revocation request waiting for approval",
                       {"requested_by": state.revocation.requested_by, "reason": state.revocation.reason},
                       code="revocation_pending")
    return [CaRevocationRequested(state.ca_id, reason, requested_by, now.isoformat())]


def decide_approve_ca_revocation(state: Authority, ca_id: str, approved_by: str, message: str | None,
                                 now: datetime) -> list:
    """A second MRAO approves: the CA and every certificate of its key are revoked. Approving one's own request is
    refused; of two approvals racing, the second finds the CA revoked (409)."""
    state = _existing(state, ca_id)
    _not_revoked(state)
    if state.revocation is None:
        raise Conflict(f"CA {ca_id} has no revocation request to approve", code="no_revocation_requested")
    if approved_by == state.revocation.requested_by:
        raise Forbidden("the administrator who asked for the revocation cannot approve it",
                        {"missing": "another MRAO"}, code="own_request")
    return [CaRevoked(state.ca_id, state.parent_ca_id, list(state.serials), state.revocation.reason,
                      state.revocation.requested_by, approved_by, now.isoformat(), message)]


def decide_reject_ca_revocation(state: Authority, ca_id: str, rejected_by: str, message: str | None,
                                now: datetime) -> list:
    """Any MRAO — the requester too, withdrawing it — ends a pending request; the CA stays as it was."""
    state = _existing(state, ca_id)
    _not_revoked(state)
    if state.revocation is None:
        raise Conflict(f"CA {ca_id} has no revocation request to reject", code="no_revocation_requested")
    return [CaRevocationRejected(state.ca_id, rejected_by, now.isoformat(), message)]


def check_can_reissue(state: Authority, ca_id: str) -> Authority:
    """A CA gets a new certificate unless it is revoked (409 `ca_revoked`)."""
    state = _existing(state, ca_id)
    if state.revoked:
        raise Conflict(f"CA {ca_id} is revoked: it gets no new certificate",
                       {"revoked_at": state.revocation.revoked_at}, code="ca_revoked")
    return state


def decide_reissue_ca(state: Authority, ca_id: str, reissued: CaCertificateReissued) -> list:
    """Record the new certificate (signed by the caller after `check_can_reissue`) as the CA's current one."""
    state = check_can_reissue(state, ca_id)
    return [replace(reissued, previous_serial=state.serials[-1])]


def check_can_issue(ca: Authority | Mapping) -> None:
    """Refuse (422 `ca_revoked`) to sign with a revoked CA. `ca` is the CA's state, or its row as the ca service
    reads it (CaView.all_cas: `revocation_status`)."""
    if isinstance(ca, Authority):
        revoked, ca_id = ca.revoked, ca.ca_id
    else:
        revoked, ca_id = ca.get("revocation_status") == CaRevocationStatus.REVOKED, ca.get("ca_id")
    if revoked:
        raise PolicyViolation(f"CA {ca_id} is revoked and signs nothing more; nothing was signed",
                              {"ca_id": str(ca_id)}, code="ca_revoked")
