"""IP networks delegated for private TLS (DESIGN §1): the CIDR rule, state, evolve, decide, and "may O get address
A". Pure: no I/O, no clock, no logging.

One aggregate per network (stream `network-<id>`). A network is delegated exactly as a domain is — the same rules
(delegation.py), the same approval rights (the gateway's), the same "organization covers its departments" — and an
IP address in a certificate is allowed when it lies in a network delegated (approved, active) for the type.
Networks never overlap (neither contains the other), so an address lies in at most one: checked in projections.py
inside the append transaction.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field, replace

from contracts import coverage
from contracts.coverage import address_key, network_range  # noqa: F401  (projections.py reads them here)
from contracts.domains import NETWORK_BROADEST_PREFIX
from contracts.errors import Conflict, InvalidRequest, NotFound
from services.domains import delegation
from services.domains.commands import (AddDelegation, CreateNetwork, DecideDelegation, DeleteNetwork,
                                       RecordAcmeCheck, RemoveDelegation, UpdateNetwork)
from services.domains.delegation import Delegation
from services.domains.domain import acme_checked, acme_not_covered  # the checked event's one shape
from services.domains.events import (AcmeChallengeChecked, NetworkCreated, NetworkDelegationAdded,
                                     NetworkDelegationApproved, NetworkDelegationRejected, NetworkDelegationRemoved,
                                     NetworkDeleted, NetworkUpdated)

DELEGATION_EVENTS = delegation.Kinds("network", NetworkDelegationAdded, NetworkDelegationApproved,
                                     NetworkDelegationRejected, NetworkDelegationRemoved)

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def _bad(typed: str, why: str, code: str) -> InvalidRequest:
    return InvalidRequest(f"{typed!r} is not a network that can be delegated: {why}", {"cidr": [why]}, code=code)


def parse_network(typed: str) -> IpNetwork:
    """The network a typed CIDR names, or InvalidRequest (400) saying why not:
    invalid_network (not CIDR: `abc`, `10.0.0.0/33`, no prefix length, a zone index, an IPv4-mapped IPv6 network),
    network_host_bits (`10.0.0.1/8`: the address has bits set beyond the prefix), network_too_broad (broader than
    /8 for IPv4 or /16 for IPv6: `0.0.0.0/0`, `::/0`)."""
    text = str(typed).strip()
    if "/" not in text:
        raise _bad(typed, "write it in CIDR notation with a prefix length, e.g. 10.20.0.0/16 (a single address is "
                          "/32, or /128 for IPv6)", "invalid_network")
    if "%" in text:
        raise _bad(typed, "a zone index (%...) has no place in a certificate's network", "invalid_network")
    try:
        network = ipaddress.ip_network(text, strict=True)
    except ValueError as exc:
        if "has host bits set" in str(exc):
            exact = ipaddress.ip_network(text, strict=False)
            raise _bad(typed, f"the address has host bits set beyond the /{exact.prefixlen} prefix; the network is "
                              f"{exact}", "network_host_bits") from None
        raise _bad(typed, "not an IPv4 or IPv6 network in CIDR notation (address/prefix length, e.g. "
                          "10.20.0.0/16 or fd00:1::/48)", "invalid_network") from None
    if network.version == 6 and network.network_address.ipv4_mapped is not None:
        raise _bad(typed, "an IPv4-mapped IPv6 network; delegate the IPv4 network itself", "invalid_network")
    broadest = NETWORK_BROADEST_PREFIX[network.version]
    if network.prefixlen < broadest:
        raise _bad(typed, f"broader than /{broadest} (the broadest IPv{network.version} network that may be "
                          "delegated)", "network_too_broad")
    return network


@dataclass(frozen=True)
class Network:
    network_id: str | None = None
    cidr: str = ""
    description: str | None = None
    active: bool = True
    created: bool = False
    deleted: bool = False
    delegations: dict[str, Delegation] = field(default_factory=dict)

    @property
    def exists(self) -> bool:
        return self.created and not self.deleted


def evolve(state: Network, event) -> Network:
    match event:
        case NetworkCreated():
            return replace(state, network_id=event.network_id, cidr=event.cidr, description=event.description,
                           active=event.active, created=True)
        case NetworkUpdated():
            return replace(state, description=event.description, active=event.active)
        case NetworkDeleted():
            return replace(state, deleted=True)
        case NetworkDelegationAdded():
            return replace(state, delegations=delegation.added(state.delegations, event))
        case NetworkDelegationApproved():
            return replace(state, delegations=delegation.approved(state.delegations, event))
        case NetworkDelegationRejected():
            return replace(state, delegations=delegation.rejected(state.delegations, event))
        case NetworkDelegationRemoved():
            return replace(state, delegations=delegation.removed(state.delegations, event))
        case AcmeChallengeChecked():
            return state                  # an ACME challenge for an address in it (no DCV exists for addresses)
    raise TypeError(f"networks cannot evolve {type(event).__name__}")


def fold(events) -> Network:
    state = Network()
    for event in events:
        state = evolve(state, event)
    return state


# ---- deciding ---------------------------------------------------------------------------------------------

def _existing(state: Network, network_id: str) -> Network:
    if not state.exists:
        raise NotFound.of("network", network_id)
    return state


def decide_create_network(state: Network, cmd: CreateNetwork) -> list:
    if state.created:
        raise Conflict("a network with this id exists", {"network_id": cmd.network_id}, code="network_exists")
    return [NetworkCreated(cmd.network_id, cmd.cidr, cmd.description, cmd.active),
            *delegation.decide_on_create(DELEGATION_EVENTS, cmd.network_id, cmd.cidr, cmd.delegations,
                                         cmd.requested_by, cmd.approved)]


def decide_update_network(state: Network, cmd: UpdateNetwork) -> list:
    _existing(state, cmd.network_id)
    description, active, changed = delegation.described_changes(state.description, state.active, cmd.changes)
    if not changed:
        return []
    return [NetworkUpdated(cmd.network_id, state.cidr, description, active, changed)]


def decide_delete_network(state: Network, cmd: DeleteNetwork) -> list:
    _existing(state, cmd.network_id)
    delegation.refuse_while_delegated(state.delegations, "network")
    return [NetworkDeleted(cmd.network_id, state.cidr)]


def decide_add_delegation(state: Network, cmd: AddDelegation) -> list:
    _existing(state, cmd.target_id)
    return delegation.decide_add(DELEGATION_EVENTS, state.cidr, state.delegations, cmd)


def decide_remove_delegation(state: Network, cmd: RemoveDelegation) -> list:
    _existing(state, cmd.target_id)
    return delegation.decide_remove(DELEGATION_EVENTS, state.cidr, state.delegations, cmd)


def decide_delegation(state: Network, cmd: DecideDelegation) -> list:
    """Approve or reject a requested delegation (delegation.decide)."""
    _existing(state, cmd.target_id)
    return delegation.decide(DELEGATION_EVENTS, state.cidr, state.delegations, cmd)


def decide_record_acme_check(state: Network, cmd: RecordAcmeCheck) -> list:
    """An ACME challenge for an IP address (RFC 8738) in this network: valid only while the network exists and is
    active (the service found it delegated to the challenge's organization); never DCV evidence."""
    if not state.exists:
        return [acme_checked(cmd, None, False, "unauthorized", acme_not_covered(cmd))]
    if not state.active:
        return [acme_checked(cmd, None, False, "unauthorized", f"the network {state.cidr} holding "
                                                                f"{cmd.identifier} is inactive")]
    return [acme_checked(cmd, None, cmd.valid, cmd.problem_type, cmd.detail)]


# ---- "may organization O (department D) get a certificate of type T for address A?" ----------------------

def may_issue(address: str, containing: dict | None, organization_id: str, department_id: str | None,
              cert_type: str) -> dict:
    """The answer (contracts MayIssueV1) from the network containing the (normalised) address, if any
    (projections.NetworksView.containing). The rule is contracts/coverage.py's, shared with enrollment."""
    return coverage.may_issue_address(address, containing, organization_id, department_id, cert_type)
