"""ACME's aggregates — ACME accounts (SCM's, with their EAB), registrations (RFC 8555 accounts), authorizations
and orders: state, evolve, decide. Pure: no I/O, no clock (`now` comes in), no logging.

Statuses follow RFC 8555 §7.1.6. An authorization is valid once one of its challenges is (or at once, when DCV
evidence of its domain covers the name: `valid_by`); invalid when a challenge failed; expired after expires_at.
An order's status is derived: from its authorizations until it is finalized, then from its SSL request (the
issuance pipeline: applied → processing, issued → valid, failed or declined → invalid).
"""
from __future__ import annotations

import base64
import hashlib
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from services.enrollment.acme_events import (AcmeAccountCreated, AcmeAccountDeactivated, AcmeAuthorizationCreated,
                                             AcmeAuthorizationDeactivated, AcmeChallengeInvalid,
                                             AcmeChallengeSubmitted, AcmeChallengeValidated, AcmeOrderCreated,
                                             AcmeOrderFinalized, AcmeRegistrationCreated, AcmeRegistrationDeactivated,
                                             AcmeRegistrationKeyChanged, AcmeRegistrationUpdated)
from services.enrollment.acme_problems import Problem

AUTHORIZATION_LIFETIME = timedelta(days=7)
ORDER_LIFETIME = timedelta(days=7)
MAX_IDENTIFIERS = 100


# ---- ACME accounts (SCM's) ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class AcmeAccount:
    acme_account_id: str | None = None
    name: str = ""
    organization_id: str = ""
    department_id: str | None = None
    profile_ids: tuple[str, ...] = ()
    eab_kid: str = ""
    active: bool = False


def evolve_account(state: AcmeAccount, event) -> AcmeAccount:
    match event:
        case AcmeAccountCreated():
            return AcmeAccount(event.acme_account_id, event.name, event.organization_id, event.department_id,
                               tuple(event.profile_ids), event.eab_kid, True)
        case AcmeAccountDeactivated():
            return replace(state, active=False)
    raise TypeError(f"an ACME account cannot evolve {type(event).__name__}")


def decide_deactivate_account(state: AcmeAccount, by: str) -> list:
    if state.acme_account_id is None:
        raise LookupError("acme account")
    return [AcmeAccountDeactivated(state.acme_account_id, by)] if state.active else []


# ---- registrations (RFC 8555 accounts) ------------------------------------------------------------------------

@dataclass(frozen=True)
class Registration:
    registration_id: str | None = None
    acme_account_id: str | None = None
    jwk: dict = field(default_factory=dict)
    thumbprint: str = ""
    contact: tuple[str, ...] = ()
    active: bool = False

    @property
    def status(self) -> str:
        return "valid" if self.active else "deactivated"


def evolve_registration(state: Registration, event) -> Registration:
    match event:
        case AcmeRegistrationCreated():
            return Registration(event.registration_id, event.acme_account_id, dict(event.jwk), event.thumbprint,
                                tuple(event.contact), True)
        case AcmeRegistrationUpdated():
            return replace(state, contact=tuple(event.contact))
        case AcmeRegistrationKeyChanged():
            return replace(state, jwk=dict(event.jwk), thumbprint=event.thumbprint)
        case AcmeRegistrationDeactivated():
            return replace(state, active=False)
    raise TypeError(f"a registration cannot evolve {type(event).__name__}")


def check_contact(contact) -> list[str]:
    """§7.3: a list of mailto: URLs (the only scheme we support), each one address, no query or fields."""
    if contact is None:
        return []
    if not isinstance(contact, list) or not all(isinstance(c, str) for c in contact):
        raise Problem.malformed("contact must be a list of URLs")
    if len(contact) > 10:
        raise Problem("invalidContact", "at most 10 contact URLs")
    for url in contact:
        if not url.startswith("mailto:"):
            raise Problem("unsupportedContact", f"only mailto: contacts are supported, not {url!r}")
        address = url[len("mailto:"):]
        if "," in address or "?" in address or "%" in address or address.count("@") != 1 \
                or not address.split("@")[0] or "." not in address.split("@")[1] or len(address) > 254:
            raise Problem("invalidContact", f"{url!r} is not one email address")
    return contact


def decide_update_registration(state: Registration, contact: list[str]) -> list:
    _active(state)
    return [AcmeRegistrationUpdated(state.registration_id, contact)] if tuple(contact) != state.contact else []


def decide_deactivate_registration(state: Registration) -> list:
    _active(state)
    return [AcmeRegistrationDeactivated(state.registration_id)]


def decide_key_change(state: Registration, new_jwk: dict, new_thumbprint: str, old_jwk_thumbprint: str) -> list:
    _active(state)
    if old_jwk_thumbprint != state.thumbprint:
        raise Problem.malformed("the inner payload's oldKey is not this account's key")
    if new_thumbprint == state.thumbprint:
        raise Problem.malformed("the new key is the account's current key")
    return [AcmeRegistrationKeyChanged(state.registration_id, new_jwk, new_thumbprint, state.thumbprint)]


def _active(state: Registration) -> None:
    if not state.active:
        raise Problem("unauthorized", "this account is deactivated")


# ---- authorizations ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Challenge:
    challenge_id: str
    type: str
    token: str
    status: str = "pending"                # pending | processing | valid | invalid
    validated_at: str | None = None
    error: dict | None = None              # {type, detail} once invalid


@dataclass(frozen=True)
class Authorization:
    authorization_id: str | None = None
    registration_id: str = ""
    identifier_type: str = "dns"
    identifier: str = ""
    wildcard: bool = False
    expires_at: datetime | None = None
    challenges: tuple[Challenge, ...] = ()
    valid_by: str | None = None
    deactivated: bool = False
    trust_class: str = "private"

    def status(self, now: datetime) -> str:
        if self.deactivated:
            return "deactivated"
        if any(c.status == "invalid" for c in self.challenges):
            return "invalid"
        if now >= self.expires_at:
            return "expired"
        if self.valid_by or any(c.status == "valid" for c in self.challenges):
            return "valid"
        return "pending"

    def challenge(self, challenge_id: str) -> Challenge | None:
        return next((c for c in self.challenges if c.challenge_id == challenge_id), None)


def evolve_authorization(state: Authorization, event) -> Authorization:
    match event:
        case AcmeAuthorizationCreated():
            return Authorization(event.authorization_id, event.registration_id, event.identifier_type,
                                 event.identifier, event.wildcard, datetime.fromisoformat(event.expires_at),
                                 tuple(Challenge(c["challenge_id"], c["type"], c["token"]) for c in event.challenges),
                                 event.valid_by, trust_class=event.trust_class or "private")
        case AcmeChallengeSubmitted():
            return _challenge(state, event.challenge_id, status="processing")
        case AcmeChallengeValidated():
            return _challenge(state, event.challenge_id, status="valid", validated_at=event.validated_at)
        case AcmeChallengeInvalid():
            return _challenge(state, event.challenge_id, status="invalid",
                              error={"type": event.problem_type, "detail": event.detail})
        case AcmeAuthorizationDeactivated():
            return replace(state, deactivated=True)
    raise TypeError(f"an authorization cannot evolve {type(event).__name__}")


def _challenge(state: Authorization, challenge_id: str, **changes) -> Authorization:
    return replace(state, challenges=tuple(replace(c, **changes) if c.challenge_id == challenge_id else c
                                           for c in state.challenges))


def challenge_types(identifier_type: str, wildcard: bool) -> tuple[str, ...]:
    """What may prove an identifier: a wildcard only by dns-01 (§7.1.3); an IP address by http-01 and
    tls-alpn-01 (RFC 8738 §7); a DNS name by any of the three."""
    if identifier_type == "ip":
        return ("http-01", "tls-alpn-01")
    return ("dns-01",) if wildcard else ("http-01", "dns-01", "tls-alpn-01")


def key_authorization(token: str, thumbprint: str) -> str:
    return f"{token}.{thumbprint}"


def decide_submit_challenge(state: Authorization, challenge_id: str, registration: Registration, now: datetime,
                            submitted: dict) -> list:
    """The client says it is ready (§7.5.1): the challenge goes to processing once; asking again changes
    nothing. `submitted`: the rest of the AcmeChallengeSubmittedV1 payload (organization, account URI, …)."""
    challenge = state.challenge(challenge_id)
    if challenge is None or state.registration_id != registration.registration_id:
        raise LookupError("challenge")
    status = state.status(now)
    if challenge.status != "pending" or status != "pending":
        if status in ("pending", "valid") or challenge.status in ("processing", "valid"):
            return []
        raise Problem.malformed(f"the authorization is {status}; its challenges can no longer be answered")
    return [AcmeChallengeSubmitted(state.authorization_id, challenge_id, challenge.type, state.identifier,
                                   state.wildcard, challenge.token,
                                   key_authorization(challenge.token, registration.thumbprint), **submitted)]


def decide_record_check(state: Authorization, checked: dict) -> list:
    """domains' check of a submitted challenge (contracts.acme.AcmeChallengeCheckedV1) as the challenge's
    outcome; a check of a challenge no longer processing (a redelivery) changes nothing."""
    challenge = state.challenge(checked["challenge_id"])
    if challenge is None or challenge.status != "processing" or state.deactivated:
        return []
    if checked["valid"]:
        return [AcmeChallengeValidated(state.authorization_id, challenge.challenge_id, checked["validated_at"])]
    return [AcmeChallengeInvalid(state.authorization_id, challenge.challenge_id,
                                 checked.get("problem_type") or "unauthorized",
                                 checked.get("detail") or "the challenge was not met")]


def decide_deactivate_authorization(state: Authorization, registration_id: str, now: datetime) -> list:
    if state.authorization_id is None or state.registration_id != registration_id:
        raise LookupError("authorization")
    if state.status(now) not in ("pending", "valid"):
        raise Problem.malformed(f"the authorization is {state.status(now)}; only pending or valid ones can be "
                                "deactivated")
    return [AcmeAuthorizationDeactivated(state.authorization_id)]


# ---- orders -----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Order:
    order_id: str | None = None
    registration_id: str = ""
    acme_account_id: str | None = None
    organization_id: str = ""
    department_id: str | None = None
    profile_id: str = ""
    identifiers: tuple[dict, ...] = ()
    authorization_ids: tuple[str, ...] = ()
    not_before: str | None = None
    not_after: str | None = None
    expires_at: datetime | None = None
    replaces: str | None = None
    ssl_id: str | None = None
    replaces_cert_id: str | None = None


def evolve_order(state: Order, event) -> Order:
    match event:
        case AcmeOrderCreated():
            return Order(event.order_id, event.registration_id, event.acme_account_id, event.organization_id,
                         event.department_id, event.profile_id, tuple(event.identifiers),
                         tuple(event.authorization_ids), event.not_before, event.not_after,
                         datetime.fromisoformat(event.expires_at), event.replaces,
                         replaces_cert_id=event.replaces_cert_id)
        case AcmeOrderFinalized():
            return replace(state, ssl_id=event.ssl_id)
    raise TypeError(f"an order cannot evolve {type(event).__name__}")


SSL_TO_ORDER = {"requested": "processing", "approved": "processing", "applied": "processing", "issued": "valid",
                "downloaded": "valid", "revoked": "valid", "expired": "valid", "failed": "invalid",
                "declined": "invalid"}


def order_status(order: Order, authorization_statuses: list[str], ssl_status: str | None, now: datetime) -> str:
    if order.ssl_id is not None:
        return SSL_TO_ORDER.get(ssl_status or "requested", "processing")
    if any(s in ("invalid", "deactivated", "expired", "revoked") for s in authorization_statuses):
        return "invalid"
    if now >= order.expires_at:
        return "invalid"
    return "ready" if all(s == "valid" for s in authorization_statuses) else "pending"


def decide_finalize(order: Order, status: str, ssl_id: str) -> list:
    """finalize (§7.4) once, on a ready order; a second finalize of a finalized order is orderNotReady."""
    if status != "ready":
        raise Problem("orderNotReady", f"the order is {status}, not ready: "
                      + ("it was finalized already" if order.ssl_id else "its authorizations are not all valid"))
    return [AcmeOrderFinalized(order.order_id, ssl_id)]


def ssl_id_of_order(order_id: str) -> str:
    """The SSL request of an order, a fixed id: a finalize that is retried after a lost answer finds it."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"certplane:acme-order:{order_id}"))


def fold(evolve, empty, events):
    state = empty
    for event in events:
        state = evolve(state, event)
    return state


def new_token(random_bytes: bytes) -> str:
    """A challenge token: 128 bits or more of entropy, base64url (§8.1)."""
    return base64.urlsafe_b64encode(random_bytes).rstrip(b"=").decode()


def eab_hmac_sha256(hmac_key: bytes) -> str:
    return hashlib.sha256(hmac_key).hexdigest()
