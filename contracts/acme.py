"""ACME (RFC 8555) contracts: the events enrollment records for ACME accounts, registrations, orders and
authorizations; the challenge check that `domains` performs for enrollment (a pipeline, DESIGN §3.6); the RPC
payloads of the ACME account screens.

Words: an **ACME account** is SCM's — an administrator makes it for an organization (optionally a department) with
the profiles it may use, and gets its External Account Binding credentials (key id + HMAC key, shown once). A
**registration** is RFC 8555's "account": a client's key, registered with newAccount under an ACME account's EAB.

The challenge pipeline: enrollment appends `acme_challenge_submitted.v1` (the client said "ready"); domains'
processor checks it (http-01, dns-01, tls-alpn-01; CAA for public profiles) and appends `acme_challenge_checked.v1`
on the covering domain's stream — valid, or not with an ACME problem type; a valid check of the domain's own name
by a method that proves it (names.evidence_covers) also becomes the domain's DCV evidence, reusable by REST and
forms. enrollment's processor turns the check into `acme_challenge_validated.v1` / `acme_challenge_invalid.v1`.
"""
from __future__ import annotations

from marshmallow import EXCLUDE, RAISE, Schema, fields, validate

from contracts.common import text

SOURCE = "enrollment"
CHALLENGE_TYPES = ("http-01", "dns-01", "tls-alpn-01")
# the DCV methods an ACME challenge counts as in domains (contracts.domains.DCV_METHODS holds them too)
# (at most 10 characters: the evidence_method columns of the read models are that wide)
DCV_METHOD_OF_CHALLENGE = {"http-01": "acme-http", "dns-01": "acme-dns", "tls-alpn-01": "acme-alpn"}
# RFC 8555 §6.7 problem types (urn:ietf:params:acme:error:<type>) a challenge check may end with
CHECK_PROBLEMS = ("connection", "dns", "incorrectResponse", "caa", "tls", "unauthorized", "serverInternal")
SUBMITTED_EVENTS = ("acme_challenge_submitted.v1",)     # what domains' challenge processor subscribes to
CHECKED_EVENTS = ("acme_challenge_checked.v1",)         # what enrollment's challenge processor subscribes to
ACCOUNT_STATUSES = ("active", "deactivated")


# ---- RPC: ACME accounts (the screens) -----------------------------------------------------------------------

class CreateAcmeAccountV1(Schema):
    class Meta:
        unknown = RAISE

    name = text(128, required=True, metadata={"description": "e.g. web team"})
    organization_id = fields.UUID(required=True)
    department_id = fields.UUID(allow_none=True, load_default=None)
    profile_ids = fields.List(fields.UUID(), required=True, validate=validate.Length(min=1, max=20), metadata={
        "description": "SSL profiles its clients may order under; the first is the default"})


class AcmeAccountV1(Schema):
    acme_account_id = fields.UUID(required=True)
    name = fields.String(required=True)
    organization_id = fields.UUID(required=True)
    department_id = fields.UUID(allow_none=True)
    profile_ids = fields.List(fields.UUID(), required=True)
    eab_kid = fields.String(required=True, metadata={"description": "the EAB key id (the HMAC key is shown once)"})
    status = fields.String(required=True, validate=validate.OneOf(ACCOUNT_STATUSES))
    created_by = fields.String(required=True)
    created_at = fields.String(required=True)
    registrations = fields.Integer(required=True, metadata={"description": "client keys registered with it"})
    certificates = fields.Integer(required=True, metadata={"description": "certificates issued through it"})


class StartRenewalCampaignV1(Schema):
    """A mass-reissue campaign (ARI, RFC 9773): certificates issued before it that match every criterion given
    get a renewal window open at once. At least one criterion."""
    class Meta:
        unknown = RAISE

    ca_id = fields.UUID(allow_none=True, load_default=None)
    profile_id = fields.UUID(allow_none=True, load_default=None)
    organization_id = fields.UUID(allow_none=True, load_default=None)
    key_type = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=16),
                             metadata={"description": "e.g. rsa-2048, ec-p256"})
    reason = text(512, required=True)


class RenewalCampaignV1(Schema):
    campaign_id = fields.UUID(required=True)
    ca_id = fields.UUID(allow_none=True)
    profile_id = fields.UUID(allow_none=True)
    organization_id = fields.UUID(allow_none=True)
    key_type = fields.String(allow_none=True)
    reason = fields.String(required=True)
    started_by = fields.String(required=True)
    started_at = fields.String(required=True)


# ---- events (V1) --------------------------------------------------------------------------------------------

class _Event(Schema):
    class Meta:
        unknown = EXCLUDE


class AcmeAccountCreatedV1(_Event):
    acme_account_id = fields.UUID(required=True)
    name = fields.String(required=True)
    organization_id = fields.UUID(required=True)
    department_id = fields.UUID(allow_none=True)
    profile_ids = fields.List(fields.UUID(), required=True)
    eab_kid = fields.String(required=True)
    eab_hmac_sha256 = fields.String(required=True, metadata={"description": "sha256 of the HMAC key (never the key)"})
    created_by = fields.String(required=True)


class AcmeAccountDeactivatedV1(_Event):
    acme_account_id = fields.UUID(required=True)
    deactivated_by = fields.String(required=True)


class AcmeRegistrationCreatedV1(_Event):
    registration_id = fields.UUID(required=True)
    acme_account_id = fields.UUID(allow_none=True, metadata={"description": "null only where EAB is not required"})
    jwk = fields.Dict(required=True, metadata={"description": "the client's public key (RFC 7517)"})
    thumbprint = fields.String(required=True, metadata={"description": "RFC 7638 SHA-256, base64url"})
    contact = fields.List(fields.String(), required=True)


class AcmeRegistrationUpdatedV1(_Event):
    registration_id = fields.UUID(required=True)
    contact = fields.List(fields.String(), required=True)


class AcmeRegistrationKeyChangedV1(_Event):
    registration_id = fields.UUID(required=True)
    jwk = fields.Dict(required=True)
    thumbprint = fields.String(required=True)
    old_thumbprint = fields.String(required=True)


class AcmeRegistrationDeactivatedV1(_Event):
    registration_id = fields.UUID(required=True)


class ChallengeV1(Schema):
    class Meta:
        unknown = EXCLUDE

    challenge_id = fields.String(required=True)
    type = fields.String(required=True, validate=validate.OneOf(CHALLENGE_TYPES))
    token = fields.String(required=True)


class AcmeAuthorizationCreatedV1(_Event):
    authorization_id = fields.UUID(required=True)
    registration_id = fields.UUID(required=True)
    identifier_type = fields.String(required=True, validate=validate.OneOf(("dns", "ip")))
    identifier = fields.String(required=True, metadata={"description": "normalised; a wildcard without its *."})
    wildcard = fields.Boolean(required=True)
    expires_at = fields.String(required=True)
    challenges = fields.List(fields.Nested(ChallengeV1), required=True)
    valid_by = fields.String(allow_none=True, load_default=None, metadata={
        "description": "valid at once: the DCV evidence of this domain that covers the name (no challenge)"})
    trust_class = fields.String(load_default="private", metadata={
        "description": "of the order's profile: a public one checks CAA, and only public authorizations serve "
                       "public orders"})


class AcmeAuthorizationDeactivatedV1(_Event):
    authorization_id = fields.UUID(required=True)


class AcmeChallengeSubmittedV1(_Event):
    """The client answered a challenge ("ready"): domains checks it. key_authorization = token + "." + the
    registration's thumbprint; for dns-01 the TXT value is its SHA-256, base64url."""
    authorization_id = fields.UUID(required=True)
    challenge_id = fields.String(required=True)
    method = fields.String(required=True, validate=validate.OneOf(CHALLENGE_TYPES))
    identifier = fields.String(required=True)
    wildcard = fields.Boolean(required=True)
    token = fields.String(required=True)
    key_authorization = fields.String(required=True)
    organization_id = fields.UUID(required=True)
    department_id = fields.UUID(allow_none=True)
    account_uri = fields.String(required=True, metadata={"description": "for CAA's accounturi parameter"})
    trust_class = fields.String(required=True, metadata={"description": "public: CAA is checked (fail closed)"})


class AcmeChallengeCheckedV1(_Event):
    """domains' answer to a submitted challenge. On the covering domain's stream (`domain-<id>`), or — when no
    domain covers the name any more — on `acme-check-<challenge_id>` with domain_id null and valid false."""
    authorization_id = fields.UUID(required=True)
    challenge_id = fields.String(required=True)
    domain_id = fields.UUID(allow_none=True)
    identifier = fields.String(required=True)
    method = fields.String(required=True, validate=validate.OneOf(CHALLENGE_TYPES))
    valid = fields.Boolean(required=True)
    problem_type = fields.String(allow_none=True, validate=validate.OneOf(CHECK_PROBLEMS), metadata={
        "description": "when not valid: the RFC 8555 error type (without its urn:ietf:params:acme:error: prefix)"})
    detail = fields.String(allow_none=True)
    validated_at = fields.String(allow_none=True)
    evidence_expires_at = fields.String(allow_none=True, metadata={
        "description": "when it also became the domain's DCV evidence"})
    caa = fields.Dict(allow_none=True, load_default=None)


class AcmeChallengeValidatedV1(_Event):
    authorization_id = fields.UUID(required=True)
    challenge_id = fields.String(required=True)
    validated_at = fields.String(required=True)


class AcmeChallengeInvalidV1(_Event):
    authorization_id = fields.UUID(required=True)
    challenge_id = fields.String(required=True)
    problem_type = fields.String(required=True)
    detail = fields.String(required=True)


class AcmeOrderCreatedV1(_Event):
    order_id = fields.UUID(required=True)
    registration_id = fields.UUID(required=True)
    acme_account_id = fields.UUID(allow_none=True)
    organization_id = fields.UUID(required=True)
    department_id = fields.UUID(allow_none=True)
    profile_id = fields.UUID(required=True)
    identifiers = fields.List(fields.Dict(), required=True, metadata={"description": "[{type, value}] as ordered"})
    authorization_ids = fields.List(fields.UUID(), required=True)
    not_before = fields.String(allow_none=True)
    not_after = fields.String(allow_none=True)
    expires_at = fields.String(required=True)
    replaces = fields.String(allow_none=True, load_default=None, metadata={
        "description": "ARI: the certificate this order renews (its ssl_id)"})
    replaces_cert_id = fields.String(allow_none=True, load_default=None, metadata={
        "description": "ARI: the certID the client named it by"})


class AcmeOrderFinalizedV1(_Event):
    """finalize: the order's SSL request is `ssl_id` (its own stream, the issuance pipeline)."""
    order_id = fields.UUID(required=True)
    ssl_id = fields.UUID(required=True)


class AcmeRenewalCampaignStartedV1(_Event):
    """By an MRAO, or by enrollment itself when an issuing CA is revoked (started_by system:ca-revoked)."""
    campaign_id = fields.UUID(required=True)
    ca_id = fields.UUID(allow_none=True)
    profile_id = fields.UUID(allow_none=True)
    organization_id = fields.UUID(allow_none=True)
    key_type = fields.String(allow_none=True)
    reason = fields.String(required=True)
    started_by = fields.String(required=True)


EVENTS = {
    "acme_renewal_campaign_started.v1": AcmeRenewalCampaignStartedV1,
    "acme_account_created.v1": AcmeAccountCreatedV1,
    "acme_account_deactivated.v1": AcmeAccountDeactivatedV1,
    "acme_registration_created.v1": AcmeRegistrationCreatedV1,
    "acme_registration_updated.v1": AcmeRegistrationUpdatedV1,
    "acme_registration_key_changed.v1": AcmeRegistrationKeyChangedV1,
    "acme_registration_deactivated.v1": AcmeRegistrationDeactivatedV1,
    "acme_authorization_created.v1": AcmeAuthorizationCreatedV1,
    "acme_authorization_deactivated.v1": AcmeAuthorizationDeactivatedV1,
    "acme_challenge_submitted.v1": AcmeChallengeSubmittedV1,
    "acme_challenge_validated.v1": AcmeChallengeValidatedV1,
    "acme_challenge_invalid.v1": AcmeChallengeInvalidV1,
    "acme_order_created.v1": AcmeOrderCreatedV1,
    "acme_order_finalized.v1": AcmeOrderFinalizedV1,
}
# domains' event (source "domains")
DOMAINS_EVENTS = {"acme_challenge_checked.v1": AcmeChallengeCheckedV1}
