"""What happened to profiles and SSL requests. Each event is its public V1 contract (contracts/enrollment.py)."""
from __future__ import annotations

from dataclasses import dataclass

from contracts import enrollment as contract
from services.runtime.events import DomainEvent, decoder


@dataclass(frozen=True)
class ProfileCreated(DomainEvent):
    event_type = "profile_created.v1"
    schema = contract.ProfileCreatedV1

    profile_id: str
    profile: dict


@dataclass(frozen=True)
class ProfileUpdated(DomainEvent):
    event_type = "profile_updated.v1"
    schema = contract.ProfileUpdatedV1

    profile_id: str
    profile: dict
    changed: list[str]


@dataclass(frozen=True)
class ProfileDeleted(DomainEvent):
    event_type = "profile_deleted.v1"
    schema = contract.ProfileDeletedV1

    profile_id: str


@dataclass(frozen=True)
class SslRequested(DomainEvent):
    event_type = "ssl_requested.v1"
    schema = contract.SslRequestedV1

    ssl_id: str
    organization_id: str
    department_id: str | None
    profile_id: str
    term_days: int
    common_name: str | None
    sans: list[str]
    key_type: str
    csr_pem: str
    subject: dict
    comments: str | None
    external_requester: str | None
    auto_renew: bool
    requested_by: str
    requester_email: str | None = None
    renewal_of: str | None = None
    replaces: bool = False
    trust_class: str = "private"


@dataclass(frozen=True)
class SslApproved(DomainEvent):
    event_type = "ssl_approved.v1"
    schema = contract.SslApprovedV1

    ssl_id: str
    approved_by: str
    message: str | None
    automatic: bool


@dataclass(frozen=True)
class SslDeclined(DomainEvent):
    event_type = "ssl_declined.v1"
    schema = contract.SslDeclinedV1

    ssl_id: str
    declined_by: str
    reason: str


@dataclass(frozen=True)
class SslApplied(DomainEvent):
    event_type = "ssl_applied.v1"
    schema = contract.SslAppliedV1

    ssl_id: str
    signing_request: dict | None = None


@dataclass(frozen=True)
class SslIssuanceFailed(DomainEvent):
    event_type = "ssl_issuance_failed.v1"
    schema = contract.SslIssuanceFailedV1

    ssl_id: str
    reason: str
    findings: list[dict]
    code: str | None = None


@dataclass(frozen=True)
class SslIssued(DomainEvent):
    event_type = "ssl_issued.v1"
    schema = contract.SslIssuedV1

    ssl_id: str
    serial: str
    ca_id: str
    not_before: str
    not_after: str
    sha256_fingerprint: str
    certificate_pem: str
    chain_pem: list[str]
    collection_sha256: str | None = None
    collection_mail: bool = True


@dataclass(frozen=True)
class SslDownloaded(DomainEvent):
    event_type = "ssl_downloaded.v1"
    schema = contract.SslDownloadedV1

    ssl_id: str
    format: str
    downloaded_by: str


@dataclass(frozen=True)
class SslRevoked(DomainEvent):
    event_type = "ssl_revoked.v1"
    schema = contract.SslRevokedV1

    ssl_id: str
    serial: str
    reason: str
    revoked_by: str


decode = decoder(ProfileCreated, ProfileUpdated, ProfileDeleted, SslRequested, SslApproved, SslDeclined, SslApplied,
                 SslIssuanceFailed, SslIssued, SslDownloaded, SslRevoked)
