"""Domains and their DCV: state, evolve, decide. Pure: no I/O, no clock, no logging.

One aggregate per domain (stream `domain-<id>`). Its delegations follow the one set of delegation rules shared
with IP networks (delegation.py): the pending state lives here, so "the requester never approves their own", "two
approvals make one transition" (the second finds it approved: 409) and "a rejection ends it" are decided without
looking elsewhere; who is *eligible* to approve is the gateway's decision (DESIGN §6).
Domain names are unique across domains: checked in projections.py inside the append transaction.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from contracts.acme import DCV_METHOD_OF_CHALLENGE
from contracts.domains import DCV_EMAIL_LOCAL_PARTS, HTTP_FILE_PATH, TXT_LABEL
from contracts.errors import Conflict, InvalidRequest, NotFound
from contracts import coverage, names
from services.domains import delegation
from services.domains.commands import (AddDelegation, CreateDomain, DecideDelegation, DeleteDomain,
                                       RecordAcmeCheck, RecordCheck, RemoveDelegation, StartDcv, UpdateDomain)
from services.domains.delegation import Delegation, DelegationStatus  # noqa: F401  (part of this module's state)
from services.domains.events import (AcmeChallengeChecked, DcvFailed, DcvStarted, DcvValidated, DelegationAdded,
                                     DelegationApproved, DelegationRejected, DelegationRemoved, DomainCreated,
                                     DomainDeleted, DomainUpdated)

DELEGATION_EVENTS = delegation.Kinds("domain", DelegationAdded, DelegationApproved, DelegationRejected,
                                     DelegationRemoved)


class DcvStatus(StrEnum):
    NOT_VALIDATED = "not_validated"
    SUBMITTED = "submitted"
    VALIDATED = "validated"
    EXPIRED = "expired"


@dataclass(frozen=True)
class DcvAttempt:
    dcv_id: str
    method: str
    email_address: str | None
    http_url: str | None
    dns_name: str | None
    expected_value: str | None
    token_expires_at: datetime
    code_sha256: str | None
    used: bool = False                 # a random value or code proves control once
    last_failure: str | None = None


@dataclass(frozen=True)
class Evidence:
    dcv_id: str
    method: str
    validated_at: datetime
    evidence_expires_at: datetime
    caa: dict


@dataclass(frozen=True)
class Domain:
    domain_id: str | None = None
    name: str = ""
    description: str | None = None
    active: bool = True
    created: bool = False
    deleted: bool = False
    delegations: dict[str, Delegation] = field(default_factory=dict)
    attempt: DcvAttempt | None = None
    evidence: Evidence | None = None

    @property
    def exists(self) -> bool:
        return self.created and not self.deleted

    def dcv_status(self, now: datetime) -> DcvStatus:
        return dcv_status(self.evidence.evidence_expires_at if self.evidence else None,
                          self.attempt.token_expires_at if self.attempt else None,
                          self.attempt.used if self.attempt else False, now)


def dcv_status(evidence_expires_at: datetime | None, token_expires_at: datetime | None, used: bool,
               now: datetime) -> DcvStatus:
    """validated while fresh evidence exists; else submitted while an attempt is open (unused, unexpired); else
    expired if there was evidence once; else not_validated."""
    if evidence_expires_at is not None and now < evidence_expires_at:
        return DcvStatus.VALIDATED
    if token_expires_at is not None and not used and now < token_expires_at:
        return DcvStatus.SUBMITTED
    return DcvStatus.EXPIRED if evidence_expires_at is not None else DcvStatus.NOT_VALIDATED


def evolve(state: Domain, event) -> Domain:
    match event:
        case DomainCreated():
            return replace(state, domain_id=event.domain_id, name=event.name, description=event.description,
                           active=event.active, created=True)
        case DomainUpdated():
            return replace(state, description=event.description, active=event.active)
        case DomainDeleted():
            return replace(state, deleted=True)
        case DelegationAdded():
            return replace(state, delegations=delegation.added(state.delegations, event))
        case DelegationApproved():
            return replace(state, delegations=delegation.approved(state.delegations, event))
        case DelegationRejected():
            return replace(state, delegations=delegation.rejected(state.delegations, event))
        case DelegationRemoved():
            return replace(state, delegations=delegation.removed(state.delegations, event))
        case DcvStarted():
            attempt = DcvAttempt(event.dcv_id, event.method, event.email_address, event.http_url, event.dns_name,
                                 event.expected_value, datetime.fromisoformat(event.token_expires_at),
                                 event.code_sha256)
            return replace(state, attempt=attempt)
        case DcvFailed():
            if state.attempt is None or state.attempt.dcv_id != event.dcv_id:
                return state
            return replace(state, attempt=replace(state.attempt, last_failure=f"{event.reason}: {event.detail}"))
        case DcvValidated():
            evidence = Evidence(event.dcv_id, event.method, datetime.fromisoformat(event.validated_at),
                                datetime.fromisoformat(event.evidence_expires_at), dict(event.caa))
            attempt = state.attempt
            if attempt is not None and attempt.dcv_id == event.dcv_id:     # ACME evidence leaves an attempt open
                attempt = replace(attempt, used=True)
            return replace(state, evidence=evidence, attempt=attempt)
        case AcmeChallengeChecked():
            return state                  # enrollment's answer; the evidence it gave is its own DcvValidated
    raise TypeError(f"domains cannot evolve {type(event).__name__}")


def fold(events) -> Domain:
    state = Domain()
    for event in events:
        state = evolve(state, event)
    return state


# ---- deciding ---------------------------------------------------------------------------------------------

def _existing(state: Domain, domain_id: str) -> Domain:
    if not state.exists:
        raise NotFound.of("domain", domain_id)
    return state


def decide_create_domain(state: Domain, cmd: CreateDomain) -> list:
    if state.created:
        raise Conflict("a domain with this id exists", {"domain_id": cmd.domain_id}, code="domain_exists")
    return [DomainCreated(cmd.domain_id, cmd.name, cmd.description, cmd.active),
            *delegation.decide_on_create(DELEGATION_EVENTS, cmd.domain_id, cmd.name, cmd.delegations,
                                         cmd.requested_by, cmd.approved)]


def decide_update_domain(state: Domain, cmd: UpdateDomain) -> list:
    _existing(state, cmd.domain_id)
    description, active, changed = delegation.described_changes(state.description, state.active, cmd.changes)
    if not changed:
        return []
    return [DomainUpdated(cmd.domain_id, state.name, description, active, changed)]


def decide_delete_domain(state: Domain, cmd: DeleteDomain) -> list:
    _existing(state, cmd.domain_id)
    delegation.refuse_while_delegated(state.delegations, "domain")
    return [DomainDeleted(cmd.domain_id, state.name)]


def decide_add_delegation(state: Domain, cmd: AddDelegation) -> list:
    _existing(state, cmd.target_id)
    return delegation.decide_add(DELEGATION_EVENTS, state.name, state.delegations, cmd)


def decide_remove_delegation(state: Domain, cmd: RemoveDelegation) -> list:
    _existing(state, cmd.target_id)
    return delegation.decide_remove(DELEGATION_EVENTS, state.name, state.delegations, cmd)


def decide_delegation(state: Domain, cmd: DecideDelegation) -> list:
    """Approve or reject a requested delegation (delegation.decide)."""
    _existing(state, cmd.target_id)
    return delegation.decide(DELEGATION_EVENTS, state.name, state.delegations, cmd)


# ---- DCV ----------------------------------------------------------------------------------------------------

def dcv_email_addresses(name: str) -> list[str]:
    base = names.base_name(name)
    return [f"{local}@{base}" for local in DCV_EMAIL_LOCAL_PARTS]


def decide_start_dcv(state: Domain, cmd: StartDcv) -> list:
    """Open a DCV attempt (replacing any open one). Its random value is single use and expires after
    `token_days`."""
    _existing(state, cmd.domain_id)
    if not state.active:
        raise Conflict("the domain is inactive; activate it before validating it", code="domain_inactive")
    base = names.base_name(state.name)
    email = http_url = dns_name = expected = None
    if cmd.method == "email":
        allowed = dcv_email_addresses(state.name)
        email = (cmd.email_address or "").strip().lower()
        if email not in allowed:
            raise InvalidRequest("email DCV goes to one of: " + ", ".join(allowed),
                                 {"email_address": [f"must be one of {', '.join(allowed)}"]},
                                 code="dcv_email_not_allowed")
    elif cmd.email_address is not None:
        raise InvalidRequest("email_address is only for the email method", {"email_address": ["not allowed"]})
    if cmd.method in ("http", "https"):
        if names.is_wildcard(state.name):
            raise InvalidRequest("the HTTP file method cannot validate a wildcard domain (BR 3.2.2.4.18); use "
                                 "email, cname or txt", {"method": ["not for wildcards"]}, code="dcv_method_wildcard")
        port = cmd.http_ports[0] if cmd.method == "http" else cmd.http_ports[1]
        default = 80 if cmd.method == "http" else 443
        authority = base if port == default else f"{base}:{port}"
        http_url = f"{cmd.method}://{authority}{HTTP_FILE_PATH}{cmd.random_label}.txt"
        expected = cmd.random_value
    elif cmd.method == "txt":
        dns_name, expected = f"{TXT_LABEL}.{base}", cmd.random_value
    elif cmd.method == "cname":
        dns_name, expected = f"_{cmd.random_label}.{base}", f"{cmd.random_value}.{cmd.cname_zone}"
    expires = cmd.now + timedelta(days=cmd.token_days)
    return [DcvStarted(cmd.domain_id, state.name, cmd.dcv_id, cmd.method, email, http_url, dns_name, expected,
                       expires.isoformat(), cmd.started_by, cmd.code_sha256 if cmd.method == "email" else None)]


def open_attempt(state: Domain, domain_id: str, now: datetime, dcv_id: str | None = None) -> DcvAttempt:
    """The attempt a check or a code is for: it must exist, be unused and unexpired (409 otherwise)."""
    _existing(state, domain_id)
    if not state.active:
        raise Conflict("the domain is inactive; activate it before validating it", code="domain_inactive")
    attempt = state.attempt
    if attempt is None or (dcv_id is not None and attempt.dcv_id != dcv_id):
        raise Conflict("no DCV is open for this domain; start one", code="dcv_not_started")
    if attempt.used:
        raise Conflict("this DCV value was already used; start a new DCV", code="dcv_token_used")
    if now >= attempt.token_expires_at:
        raise Conflict("this DCV value has expired; start a new DCV", code="dcv_token_expired")
    return attempt


def decide_record_check(state: Domain, cmd: RecordCheck) -> list:
    """Evidence only when control was proven AND CAA permits; otherwise a failure with its reason."""
    open_attempt(state, cmd.domain_id, cmd.now, cmd.dcv_id)
    if not cmd.proven:
        return [DcvFailed(cmd.domain_id, state.name, cmd.dcv_id, cmd.reason or "dcv_failed", cmd.detail)]
    caa = cmd.caa
    if caa is None or not caa.permitted:
        reason = caa.reason if caa is not None else "caa_not_checked"
        detail = caa.detail if caa is not None else "CAA was not checked"
        return [DcvFailed(cmd.domain_id, state.name, cmd.dcv_id, reason or "caa_forbids", detail)]
    expires = cmd.now + timedelta(days=cmd.reuse_days)
    caa_record = {"result": caa.result, "checked_name": caa.checked_name, "relevant_name": caa.relevant_name,
                  "records": list(caa.records)}
    return [DcvValidated(cmd.domain_id, state.name, cmd.dcv_id, state.attempt.method, cmd.now.isoformat(),
                         expires.isoformat(), caa_record)]


# ---- ACME challenges (checked by the service's processor, DESIGN §3.6) -----------------------------------------

def acme_evidence_applies(domain_name: str, identifier: str, wildcard: bool, challenge_type: str) -> bool:
    """Does a valid ACME challenge for `identifier` (without "*.") prove control of the domain entry itself, so
    that it becomes the entry's DCV evidence? Only for the entry's own name (dns-01 also for `*.<name>`: the TXT
    is at `_acme-challenge.<name>` either way), and only by a method whose evidence covers the entry
    (names.evidence_covers: http-01 and tls-alpn-01 prove one host, never a wildcard entry)."""
    method = DCV_METHOD_OF_CHALLENGE.get(challenge_type)
    if method is None or identifier != names.base_name(domain_name):
        return False
    if wildcard and challenge_type != "dns-01":
        return False
    return names.evidence_covers(domain_name, method, domain_name)


def _keeps_broader_evidence(state: Domain, method: str, now: datetime) -> bool:
    """Fresh evidence that covers the names below the domain (email, cname, txt, acme-dns) is not replaced by
    evidence that covers the one host only (http, https, acme-http, acme-alpn)."""
    old = state.evidence
    if old is None or now >= old.evidence_expires_at:
        return False
    below = "below." + names.base_name(state.name)
    return names.evidence_covers(state.name, old.method, below) and not names.evidence_covers(state.name, method,
                                                                                              below)


def acme_not_covered(cmd: RecordAcmeCheck) -> str:
    name = f"*.{cmd.identifier}" if cmd.wildcard else cmd.identifier
    return (f"{name} is not covered by a domain (or network) delegated, approved and active for SSL certificates "
            "to this ACME account's organization or department")


def decide_record_acme_check(state: Domain, cmd: RecordAcmeCheck) -> list:
    """`acme_challenge_checked` — valid only when a domain (existing, active) covers the identifier — and, when
    the check is valid for the domain's own name (acme_evidence_applies) and CAA permits, the domain's DCV
    evidence (`dcv_validated`, dcv_id = the ACME authorization): needing no DCV attempt, leaving an open one
    open, and never replacing fresh evidence that covers more."""
    valid, problem, detail = cmd.valid, cmd.problem_type, cmd.detail
    domain_id = cmd.domain_id if cmd.domain_id is not None and state.exists else None
    if domain_id is None:
        valid, problem, detail = False, "unauthorized", acme_not_covered(cmd)
    elif not state.active:
        valid, problem, detail = False, "unauthorized", f"the domain {state.name} covering {cmd.identifier} is inactive"
    evidence = []
    if valid and acme_evidence_applies(state.name, cmd.identifier, cmd.wildcard, cmd.challenge_type):
        method = DCV_METHOD_OF_CHALLENGE[cmd.challenge_type]
        caa = cmd.evidence_caa
        if caa is not None and caa.permitted and not _keeps_broader_evidence(state, method, cmd.now):
            expires = cmd.now + timedelta(days=cmd.reuse_days)
            evidence = [DcvValidated(state.domain_id, state.name, cmd.authorization_id, method, cmd.now.isoformat(),
                                     expires.isoformat(),
                                     {"result": caa.result, "checked_name": caa.checked_name,
                                      "relevant_name": caa.relevant_name, "records": list(caa.records)})]
    return [acme_checked(cmd, domain_id, valid, problem, detail, evidence[0].evidence_expires_at if evidence
                         else None), *evidence]


def acme_checked(cmd: RecordAcmeCheck, domain_id: str | None, valid: bool, problem: str | None, detail: str,
                 evidence_expires_at: str | None = None) -> AcmeChallengeChecked:
    return AcmeChallengeChecked(cmd.authorization_id, cmd.challenge_id, domain_id, cmd.identifier,
                                cmd.challenge_type, valid, None if valid else (problem or "serverInternal"), detail,
                                cmd.now.isoformat() if valid else None, evidence_expires_at, cmd.caa)


# ---- "may organization O (department D) get a certificate of type T for name N?" -------------------------

def may_issue(name: str, covering: list[dict], organization_id: str, department_id: str | None, cert_type: str,
              now: datetime) -> dict:
    """The answer (contracts MayIssueV1) from the domains covering `name`, closest first (projections.covering).
    The rule is contracts/coverage.py's, shared with enrollment's own read model of these domains."""
    return coverage.may_issue_name(name, covering, organization_id, department_id, cert_type, now)
