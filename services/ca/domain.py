"""Certificates as the CA sees them: state, evolve, decide. Pure: no I/O, no clock, no logging, no keys.

One stream per certificate, `certificate-<serial>`: `certificate_signing` (recorded after the lint passed and
before the signature), `certificate_issued`, `certificate_revoked`. A serial is used once: the first event is
appended at version 0, so two signings that drew the same serial cannot both be recorded. CRLs of a CA are the
stream `crl-<ca_id>`: each publication takes the next CRL number.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from contracts.errors import Conflict, NotFound
from services.ca.events import CertificateIssued, CertificateRevoked, CertificateSigning, CrlPublished


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
