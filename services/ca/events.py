"""What happened in the CA: authorities created, reissued and revoked (after a second MRAO approved), certificates
about to be signed and signed, revocations, CRLs.
Each event is its public V1 contract (contracts/ca.py)."""
from __future__ import annotations

from dataclasses import dataclass

from contracts import ca as contract
from services.runtime.events import DomainEvent, decoder


@dataclass(frozen=True)
class CaCreated(DomainEvent):
    event_type = "ca_created.v1"
    schema = contract.CaCreatedV1

    ca_id: str
    name: str
    kind: str
    parent_ca_id: str | None
    key_ref: str
    key_algorithm: str
    public_key_sha256: str
    certificate_pem: str
    serial: str
    subject: str
    not_before: str
    not_after: str
    sha256_fingerprint: str


@dataclass(frozen=True)
class CertificateSigning(DomainEvent):
    event_type = "certificate_signing.v1"
    schema = contract.CertificateSigningV1

    ca_id: str
    serial: str
    request_id: str
    subject: str
    sans: list[str]
    not_before: str
    not_after: str
    tbs_sha256: str


@dataclass(frozen=True)
class CertificateIssued(DomainEvent):
    event_type = "certificate_issued.v1"
    schema = contract.CertificateIssuedV1

    ca_id: str
    serial: str
    request_id: str
    certificate_pem: str
    sha256_fingerprint: str
    not_before: str
    not_after: str
    application_id: str | None = None
    chain_pem: list[str] | None = None


@dataclass(frozen=True)
class CertificateRefused(DomainEvent):
    """Stream `application-<application_id>`: an application the CA would not sign."""
    event_type = "certificate_refused.v1"
    schema = contract.CertificateRefusedV1

    ca_id: str | None
    request_id: str
    application_id: str
    code: str
    reason: str
    findings: list[dict]


@dataclass(frozen=True)
class CertificateRevoked(DomainEvent):
    event_type = "certificate_revoked.v1"
    schema = contract.CertificateRevokedV1

    ca_id: str
    serial: str
    reason: str
    revoked_at: str


@dataclass(frozen=True)
class CrlPublished(DomainEvent):
    event_type = "crl_published.v1"
    schema = contract.CrlPublishedV1

    ca_id: str
    crl_number: int
    this_update: str
    next_update: str
    entries: int
    sha256: str


@dataclass(frozen=True)
class CaCertificateReissued(DomainEvent):
    event_type = "ca_certificate_reissued.v1"
    schema = contract.CaCertificateReissuedV1

    ca_id: str
    parent_ca_id: str | None
    certificate_pem: str
    serial: str
    subject: str
    not_before: str
    not_after: str
    sha256_fingerprint: str
    previous_serial: str


@dataclass(frozen=True)
class CaRevocationRequested(DomainEvent):
    event_type = "ca_revocation_requested.v1"
    schema = contract.CaRevocationRequestedV1

    ca_id: str
    reason: str
    requested_by: str
    requested_at: str


@dataclass(frozen=True)
class CaRevocationRejected(DomainEvent):
    event_type = "ca_revocation_rejected.v1"
    schema = contract.CaRevocationRejectedV1

    ca_id: str
    rejected_by: str
    rejected_at: str
    message: str | None


@dataclass(frozen=True)
class CaRevoked(DomainEvent):
    event_type = "ca_revoked.v1"
    schema = contract.CaRevokedV1

    ca_id: str
    parent_ca_id: str
    serials: list[str]
    reason: str
    requested_by: str
    approved_by: str
    revoked_at: str
    message: str | None


decode = decoder(CaCreated, CertificateSigning, CertificateIssued, CertificateRefused, CertificateRevoked, CrlPublished,
                 CaCertificateReissued, CaRevocationRequested, CaRevocationRejected, CaRevoked)
