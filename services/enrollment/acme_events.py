"""What happened to ACME accounts, registrations, authorizations and orders. Each event is its public V1
contract (contracts/acme.py)."""
from __future__ import annotations

from dataclasses import dataclass

from contracts import acme as contract
from services.runtime.events import DomainEvent, decoder


@dataclass(frozen=True)
class AcmeAccountCreated(DomainEvent):
    event_type = "acme_account_created.v1"
    schema = contract.AcmeAccountCreatedV1

    acme_account_id: str
    name: str
    organization_id: str
    department_id: str | None
    profile_ids: list
    eab_kid: str
    eab_hmac_sha256: str
    created_by: str


@dataclass(frozen=True)
class AcmeAccountDeactivated(DomainEvent):
    event_type = "acme_account_deactivated.v1"
    schema = contract.AcmeAccountDeactivatedV1

    acme_account_id: str
    deactivated_by: str


@dataclass(frozen=True)
class AcmeRegistrationCreated(DomainEvent):
    event_type = "acme_registration_created.v1"
    schema = contract.AcmeRegistrationCreatedV1

    registration_id: str
    acme_account_id: str | None
    jwk: dict
    thumbprint: str
    contact: list


@dataclass(frozen=True)
class AcmeRegistrationUpdated(DomainEvent):
    event_type = "acme_registration_updated.v1"
    schema = contract.AcmeRegistrationUpdatedV1

    registration_id: str
    contact: list


@dataclass(frozen=True)
class AcmeRegistrationKeyChanged(DomainEvent):
    event_type = "acme_registration_key_changed.v1"
    schema = contract.AcmeRegistrationKeyChangedV1

    registration_id: str
    jwk: dict
    thumbprint: str
    old_thumbprint: str


@dataclass(frozen=True)
class AcmeRegistrationDeactivated(DomainEvent):
    event_type = "acme_registration_deactivated.v1"
    schema = contract.AcmeRegistrationDeactivatedV1

    registration_id: str


@dataclass(frozen=True)
class AcmeAuthorizationCreated(DomainEvent):
    event_type = "acme_authorization_created.v1"
    schema = contract.AcmeAuthorizationCreatedV1

    authorization_id: str
    registration_id: str
    identifier_type: str
    identifier: str
    wildcard: bool
    expires_at: str
    challenges: list
    valid_by: str | None = None
    trust_class: str = "private"


@dataclass(frozen=True)
class AcmeAuthorizationDeactivated(DomainEvent):
    event_type = "acme_authorization_deactivated.v1"
    schema = contract.AcmeAuthorizationDeactivatedV1

    authorization_id: str


@dataclass(frozen=True)
class AcmeChallengeSubmitted(DomainEvent):
    event_type = "acme_challenge_submitted.v1"
    schema = contract.AcmeChallengeSubmittedV1

    authorization_id: str
    challenge_id: str
    method: str
    identifier: str
    wildcard: bool
    token: str
    key_authorization: str
    organization_id: str
    department_id: str | None
    account_uri: str
    trust_class: str


@dataclass(frozen=True)
class AcmeChallengeValidated(DomainEvent):
    event_type = "acme_challenge_validated.v1"
    schema = contract.AcmeChallengeValidatedV1

    authorization_id: str
    challenge_id: str
    validated_at: str


@dataclass(frozen=True)
class AcmeChallengeInvalid(DomainEvent):
    event_type = "acme_challenge_invalid.v1"
    schema = contract.AcmeChallengeInvalidV1

    authorization_id: str
    challenge_id: str
    problem_type: str
    detail: str


@dataclass(frozen=True)
class AcmeOrderCreated(DomainEvent):
    event_type = "acme_order_created.v1"
    schema = contract.AcmeOrderCreatedV1

    order_id: str
    registration_id: str
    acme_account_id: str | None
    organization_id: str
    department_id: str | None
    profile_id: str
    identifiers: list
    authorization_ids: list
    not_before: str | None
    not_after: str | None
    expires_at: str
    replaces: str | None = None
    replaces_cert_id: str | None = None


@dataclass(frozen=True)
class AcmeOrderFinalized(DomainEvent):
    event_type = "acme_order_finalized.v1"
    schema = contract.AcmeOrderFinalizedV1

    order_id: str
    ssl_id: str


@dataclass(frozen=True)
class AcmeRenewalCampaignStarted(DomainEvent):
    event_type = "acme_renewal_campaign_started.v1"
    schema = contract.AcmeRenewalCampaignStartedV1

    campaign_id: str
    ca_id: str | None
    profile_id: str | None
    organization_id: str | None
    key_type: str | None
    reason: str
    started_by: str


decode = decoder(AcmeRenewalCampaignStarted, AcmeAccountCreated, AcmeAccountDeactivated, AcmeRegistrationCreated, AcmeRegistrationUpdated,
                 AcmeRegistrationKeyChanged, AcmeRegistrationDeactivated, AcmeAuthorizationCreated,
                 AcmeAuthorizationDeactivated, AcmeChallengeSubmitted, AcmeChallengeValidated, AcmeChallengeInvalid,
                 AcmeOrderCreated, AcmeOrderFinalized)
