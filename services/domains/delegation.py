"""Delegations of a domain or of an IP network to organizations and departments per certificate type: the one set of
rules both aggregates (domain.py, network.py) decide with. Pure: no I/O, no clock, no logging.

- A delegation made by an MRAO (or an admin with "domain validation without dual approval": the gateway decides
  that and says `approved`) is approved when made; any other is requested until another administrator decides it.
  Who is *eligible* to decide is the gateway's rule (contracts/access.py missing_to_decide_delegation).
- The requester never decides their own; a decided delegation stays decided (the loser of two racing approvals
  gets 409); a rejection ends it.
- One live (requested or approved) delegation per organization or department: a second is 409 delegation_exists.
- A delegation to an organization covers its departments; one to a department covers only that department
  (`grants_to`: may_issue applies it to names and addresses alike).

Each aggregate has its own events (a SIEM tells a domain's from a network's by type) with the same fields in the
same order after the first two (the target's id and its name or CIDR); `Kinds` names them.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Iterable

from contracts.coverage import grants_to  # noqa: F401  (the rule is shared with enrollment: contracts/coverage.py)
from contracts.errors import Conflict, Forbidden, NotFound
from services.domains.commands import AddDelegation, DecideDelegation, NewDelegation, RemoveDelegation


class DelegationStatus(StrEnum):
    REQUESTED = "requested"
    APPROVED = "approved"
    REJECTED = "rejected"


@dataclass(frozen=True)
class Delegation:
    delegation_id: str
    organization_id: str
    department_id: str | None
    cert_types: tuple[str, ...]
    status: DelegationStatus
    requested_by: str
    decided_by: str | None = None
    reason: str | None = None


Delegations = dict[str, Delegation]


@dataclass(frozen=True)
class Kinds:
    """An aggregate's delegation events: each is built as (target id, target label, delegation id, ...)."""
    target: str              # "domain" | "network", for messages
    added: type
    approved: type
    rejected: type
    removed: type


# ---- evolving ---------------------------------------------------------------------------------------------------

def added(delegations: Delegations, event) -> Delegations:
    status = DelegationStatus(event.status)
    new = Delegation(event.delegation_id, event.organization_id, event.department_id, tuple(event.cert_types),
                     status, event.requested_by, event.requested_by if status is DelegationStatus.APPROVED else None)
    return {**delegations, event.delegation_id: new}


def approved(delegations: Delegations, event) -> Delegations:
    return _changed(delegations, event.delegation_id, status=DelegationStatus.APPROVED, decided_by=event.approved_by)


def rejected(delegations: Delegations, event) -> Delegations:
    return _changed(delegations, event.delegation_id, status=DelegationStatus.REJECTED, decided_by=event.rejected_by,
                    reason=event.reason)


def removed(delegations: Delegations, event) -> Delegations:
    return {k: v for k, v in delegations.items() if k != event.delegation_id}


def _changed(delegations: Delegations, delegation_id: str, **changes) -> Delegations:
    return {**delegations, delegation_id: replace(delegations[delegation_id], **changes)}


def described_changes(description: str | None, active: bool, changes: dict) -> tuple[str | None, bool, list[str]]:
    """A PATCH of what every delegated target (a domain, a network) has besides its delegations: the description
    and the active flag after `changes`, and the names of those that changed."""
    new_description = changes.get("description", description)
    new_active = changes.get("active", active)
    changed = [name for name, old, new in (("description", description, new_description),
                                            ("active", active, new_active)) if old != new]
    return new_description, new_active, changed


def refuse_while_delegated(delegations: Delegations, what: str) -> None:
    """A domain or network is deleted only once nothing is delegated: 409 `<what>_in_use` naming the delegations."""
    still = live(delegations)
    if still:
        raise Conflict(f"the {what} is delegated; remove its delegations first", {"delegation_ids": still},
                       code=f"{what}_in_use")


def live(delegations: Delegations) -> list[str]:
    """The ids of the delegations still in force or waiting (not rejected)."""
    return sorted(d.delegation_id for d in delegations.values() if d.status is not DelegationStatus.REJECTED)


# ---- deciding ---------------------------------------------------------------------------------------------------

def decide_on_create(kinds: Kinds, target_id: str, label: str, news: Iterable[NewDelegation], requested_by: str,
                     approved_at_once: bool) -> list:
    """The delegations a create carries, each checked against those before it."""
    events, seen = [], []
    for new in news:
        _check_not_duplicate(kinds, seen, new)
        seen.append(Delegation(new.delegation_id, new.organization_id, new.department_id, new.cert_types,
                               DelegationStatus.REQUESTED, requested_by))
        events.append(_added(kinds, target_id, label, new, requested_by, approved_at_once))
    return events


def decide_add(kinds: Kinds, label: str, delegations: Delegations, cmd: AddDelegation) -> list:
    _check_not_duplicate(kinds, delegations.values(), cmd.delegation)
    return [_added(kinds, cmd.target_id, label, cmd.delegation, cmd.requested_by, cmd.approved)]


def decide_remove(kinds: Kinds, label: str, delegations: Delegations, cmd: RemoveDelegation) -> list:
    _existing(delegations, cmd.delegation_id)
    return [kinds.removed(cmd.target_id, label, cmd.delegation_id)]


def decide(kinds: Kinds, label: str, delegations: Delegations, cmd: DecideDelegation) -> list:
    """Approve or reject a requested delegation. The requester never decides their own; a decided delegation
    stays decided (the loser of two racing approvals gets 409)."""
    delegation = _existing(delegations, cmd.delegation_id)
    if delegation.status is not DelegationStatus.REQUESTED:
        raise Conflict(f"the delegation is already {delegation.status}", {"status": str(delegation.status)},
                       code=f"delegation_{delegation.status}")
    if cmd.admin_id == delegation.requested_by:
        raise Forbidden("the requester cannot approve or reject their own delegation",
                        {"missing": "another administrator"}, code="own_request")
    if cmd.approve:
        return [kinds.approved(cmd.target_id, label, cmd.delegation_id, cmd.admin_id)]
    return [kinds.rejected(cmd.target_id, label, cmd.delegation_id, cmd.admin_id, cmd.reason)]


def _added(kinds: Kinds, target_id: str, label: str, new: NewDelegation, requested_by: str, approved_at_once: bool):
    status = DelegationStatus.APPROVED if approved_at_once else DelegationStatus.REQUESTED
    return kinds.added(target_id, label, new.delegation_id, new.organization_id, new.department_id,
                       sorted(set(new.cert_types)), str(status), requested_by)


def _check_not_duplicate(kinds: Kinds, delegations: Iterable[Delegation], new: NewDelegation) -> None:
    for d in delegations:
        if d.status is not DelegationStatus.REJECTED and d.organization_id == new.organization_id \
                and d.department_id == new.department_id:
            raise Conflict(f"this {kinds.target} is already delegated (or requested) to that organization or "
                           "department; remove that delegation first", {"delegation_id": d.delegation_id},
                           code="delegation_exists")


def _existing(delegations: Delegations, delegation_id: str) -> Delegation:
    found = delegations.get(delegation_id)
    if found is None:
        raise NotFound.of("delegation", delegation_id)
    return found
