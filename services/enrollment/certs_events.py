"""What happened to client, code-signing and device certificate requests (stream `cert-<id>`). Each event is
its public V1 contract (contracts/certificates.py); every one names the request and its certificate type."""
from __future__ import annotations

from dataclasses import dataclass

from contracts import certificates as contract
from services.runtime.events import DomainEvent, decoder


@dataclass(frozen=True)
class CertInvited(DomainEvent):
    event_type = "cert_invited.v1"
    schema = contract.CertInvitedV1

    cert_id: str
    cert_type: str
    organization_id: str
    department_id: str | None
    profile_id: str
    term_days: int
    person_id: str
    email: str
    emails: list[str]
    name: str | None
    invited_by: str
    invitation_sha256: str
    expires_at: str
    allow_empty_password: bool
    requested_via: str
    comments: str | None
    auto_approve: bool = False


@dataclass(frozen=True)
class CertRequested(DomainEvent):
    event_type = "cert_requested.v1"
    schema = contract.CertRequestedV1

    cert_id: str
    cert_type: str
    organization_id: str
    department_id: str | None
    profile_id: str
    term_days: int
    common_name: str | None
    sans: list[str]
    emails: list[str]
    key_type: str
    key_origin: str
    csr_pem: str
    subject: dict
    person_id: str | None
    name: str | None
    email: str | None
    requested_by: str
    requested_via: str
    custom_fields: dict
    comments: str | None
    escrowed: bool = False
    endpoint_id: str | None = None
    protocol_ref: str | None = None


@dataclass(frozen=True)
class CertApproved(DomainEvent):
    event_type = "cert_approved.v1"
    schema = contract.CertApprovedV1

    cert_id: str
    cert_type: str
    approved_by: str
    message: str | None
    automatic: bool


@dataclass(frozen=True)
class CertDeclined(DomainEvent):
    event_type = "cert_declined.v1"
    schema = contract.CertDeclinedV1

    cert_id: str
    cert_type: str
    declined_by: str
    reason: str


@dataclass(frozen=True)
class CertApplied(DomainEvent):
    event_type = contract.APPLIED_EVENT
    schema = contract.CertAppliedV1

    cert_id: str
    cert_type: str
    signing_request: dict


@dataclass(frozen=True)
class CertIssuanceFailed(DomainEvent):
    event_type = "cert_issuance_failed.v1"
    schema = contract.CertIssuanceFailedV1

    cert_id: str
    cert_type: str
    reason: str
    findings: list[dict]
    code: str | None


@dataclass(frozen=True)
class CertIssued(DomainEvent):
    event_type = "cert_issued.v1"
    schema = contract.CertIssuedV1

    cert_id: str
    cert_type: str
    serial: str
    ca_id: str
    not_before: str
    not_after: str
    sha256_fingerprint: str
    certificate_pem: str
    chain_pem: list[str]
    collection_sha256: str | None
    collection_to: str | None


@dataclass(frozen=True)
class CertDownloaded(DomainEvent):
    event_type = "cert_downloaded.v1"
    schema = contract.CertDownloadedV1

    cert_id: str
    cert_type: str
    format: str
    downloaded_by: str


@dataclass(frozen=True)
class CertRevoked(DomainEvent):
    event_type = "cert_revoked.v1"
    schema = contract.CertRevokedV1

    cert_id: str
    cert_type: str
    serial: str
    reason: str
    revoked_by: str


@dataclass(frozen=True)
class CertRecoveryRequested(DomainEvent):
    event_type = "cert_recovery_requested.v1"
    schema = contract.CertRecoveryRequestedV1

    cert_id: str
    cert_type: str
    requested_by: str
    reason: str


@dataclass(frozen=True)
class CertRecoveryApproved(DomainEvent):
    event_type = "cert_recovery_approved.v1"
    schema = contract.CertRecoveryApprovedV1

    cert_id: str
    cert_type: str
    approved_by: str


@dataclass(frozen=True)
class CertKeyRecovered(DomainEvent):
    event_type = "cert_key_recovered.v1"
    schema = contract.CertKeyRecoveredV1

    cert_id: str
    cert_type: str
    recovered_by: str


@dataclass(frozen=True)
class EscrowInitialized(DomainEvent):
    event_type = "escrow_initialized.v1"
    schema = contract.EscrowInitializedV1

    organization_id: str
    public_key_pem: str
    public_key_sha256: str
    key_origin: str
    initialized_by: str


decode = decoder(CertInvited, CertRequested, CertApproved, CertDeclined, CertApplied, CertIssuanceFailed, CertIssued,
                 CertDownloaded, CertRevoked, CertRecoveryRequested, CertRecoveryApproved, CertKeyRecovered,
                 EscrowInitialized)
