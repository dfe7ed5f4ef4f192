"""What happened to domains, IP networks, their delegations and DCV. Each event is its public V1 contract
(contracts/domains.py); a domain's `name` (a network's `cidr`) rides on every event so a consumer (notify, a SIEM)
needs no lookup. A network's delegation events have the fields of a domain's, in the same order."""
from __future__ import annotations

from dataclasses import dataclass

from contracts import acme as acme_contract
from contracts import domains as contract
from services.runtime.events import DomainEvent, decoder


@dataclass(frozen=True)
class DomainCreated(DomainEvent):
    event_type = "domain_created.v1"
    schema = contract.DomainCreatedV1

    domain_id: str
    name: str
    description: str | None
    active: bool


@dataclass(frozen=True)
class DomainUpdated(DomainEvent):
    event_type = "domain_updated.v1"
    schema = contract.DomainUpdatedV1

    domain_id: str
    name: str
    description: str | None
    active: bool
    changed: list[str]


@dataclass(frozen=True)
class DomainDeleted(DomainEvent):
    event_type = "domain_deleted.v1"
    schema = contract.DomainDeletedV1

    domain_id: str
    name: str


@dataclass(frozen=True)
class DelegationAdded(DomainEvent):
    event_type = "delegation_added.v1"
    schema = contract.DelegationAddedV1

    domain_id: str
    name: str
    delegation_id: str
    organization_id: str
    department_id: str | None
    cert_types: list[str]
    status: str
    requested_by: str


@dataclass(frozen=True)
class DelegationApproved(DomainEvent):
    event_type = "delegation_approved.v1"
    schema = contract.DelegationApprovedV1

    domain_id: str
    name: str
    delegation_id: str
    approved_by: str


@dataclass(frozen=True)
class DelegationRejected(DomainEvent):
    event_type = "delegation_rejected.v1"
    schema = contract.DelegationRejectedV1

    domain_id: str
    name: str
    delegation_id: str
    rejected_by: str
    reason: str | None


@dataclass(frozen=True)
class DelegationRemoved(DomainEvent):
    event_type = "delegation_removed.v1"
    schema = contract.DelegationRemovedV1

    domain_id: str
    name: str
    delegation_id: str


@dataclass(frozen=True)
class DcvStarted(DomainEvent):
    event_type = "dcv_started.v1"
    schema = contract.DcvStartedV1

    domain_id: str
    name: str
    dcv_id: str
    method: str
    email_address: str | None
    http_url: str | None
    dns_name: str | None
    expected_value: str | None
    token_expires_at: str
    started_by: str
    code_sha256: str | None = None      # email: the sha256 of the mailed code (the code itself is never here)


@dataclass(frozen=True)
class DcvFailed(DomainEvent):
    event_type = "dcv_failed.v1"
    schema = contract.DcvFailedV1

    domain_id: str
    name: str
    dcv_id: str
    reason: str
    detail: str


@dataclass(frozen=True)
class DcvValidated(DomainEvent):
    event_type = "dcv_validated.v1"
    schema = contract.DcvValidatedV1

    domain_id: str
    name: str
    dcv_id: str
    method: str
    validated_at: str
    evidence_expires_at: str
    caa: dict


@dataclass(frozen=True)
class AcmeChallengeChecked(DomainEvent):
    """An ACME challenge enrollment submitted, checked: on the covering domain's stream, the network's for an IP
    address, or `acme-check-<challenge_id>` when nothing covers the name (then valid is false, domain_id null)."""
    event_type = "acme_challenge_checked.v1"
    schema = acme_contract.AcmeChallengeCheckedV1

    authorization_id: str
    challenge_id: str
    domain_id: str | None
    identifier: str
    method: str                          # the challenge type: http-01, dns-01, tls-alpn-01
    valid: bool
    problem_type: str | None             # contracts.acme.CHECK_PROBLEMS, when not valid
    detail: str | None
    validated_at: str | None
    evidence_expires_at: str | None      # when the check also became the domain's DCV evidence
    caa: dict | None                     # public profiles: the CAA the check found


@dataclass(frozen=True)
class NetworkCreated(DomainEvent):
    event_type = "network_created.v1"
    schema = contract.NetworkCreatedV1

    network_id: str
    cidr: str
    description: str | None
    active: bool


@dataclass(frozen=True)
class NetworkUpdated(DomainEvent):
    event_type = "network_updated.v1"
    schema = contract.NetworkUpdatedV1

    network_id: str
    cidr: str
    description: str | None
    active: bool
    changed: list[str]


@dataclass(frozen=True)
class NetworkDeleted(DomainEvent):
    event_type = "network_deleted.v1"
    schema = contract.NetworkDeletedV1

    network_id: str
    cidr: str


@dataclass(frozen=True)
class NetworkDelegationAdded(DomainEvent):
    event_type = "network_delegation_added.v1"
    schema = contract.NetworkDelegationAddedV1

    network_id: str
    cidr: str
    delegation_id: str
    organization_id: str
    department_id: str | None
    cert_types: list[str]
    status: str
    requested_by: str


@dataclass(frozen=True)
class NetworkDelegationApproved(DomainEvent):
    event_type = "network_delegation_approved.v1"
    schema = contract.NetworkDelegationApprovedV1

    network_id: str
    cidr: str
    delegation_id: str
    approved_by: str


@dataclass(frozen=True)
class NetworkDelegationRejected(DomainEvent):
    event_type = "network_delegation_rejected.v1"
    schema = contract.NetworkDelegationRejectedV1

    network_id: str
    cidr: str
    delegation_id: str
    rejected_by: str
    reason: str | None


@dataclass(frozen=True)
class NetworkDelegationRemoved(DomainEvent):
    event_type = "network_delegation_removed.v1"
    schema = contract.NetworkDelegationRemovedV1

    network_id: str
    cidr: str
    delegation_id: str


decode = decoder(DomainCreated, DomainUpdated, DomainDeleted, DelegationAdded, DelegationApproved,
                 DelegationRejected, DelegationRemoved, DcvStarted, DcvFailed, DcvValidated, AcmeChallengeChecked,
                 NetworkCreated, NetworkUpdated, NetworkDeleted, NetworkDelegationAdded, NetworkDelegationApproved,
                 NetworkDelegationRejected, NetworkDelegationRemoved)
