"""The coverage rule: "may organization O (department D) get a certificate of type T for name N (or address A)?".
Pure: no I/O, no clock (`now` is passed), no logging.

It lives in contracts because two services answer it from their own read models of the same events: `domains`
(its projections, for its `may_issue` RPCs) and `enrollment` (services/enrollment/facts.py, followed from the
public domains events, so issuing asks no RPC). One rule, so the two answers cannot drift; the answer is contracts
MayIssueV1 either way.

- A delegation to an organization covers the organization and each of its departments; one to a department
  covers that department only (`grants_to`), for names and addresses alike.
- A name is allowed when a domain entry covering it (names.covering_entries: the name, its parents, their
  wildcards; closest first) is delegated (approved) for T and active. DCV evidence counts when its method covers
  the name (names.evidence_covers) and it is fresh at `now`.
- An address is allowed when the network holding it (networks never overlap: at most one) is delegated (approved)
  for T and active; no DCV exists for an address.

What the rule reads of a domain entry (`covering`, closest first): {domain_id, name, active, evidence_method,
evidence_expires_at (an aware datetime or None), grants: [(organization_id, department_id, cert_type, status)]};
of a network (`containing`): {network_id, cidr, active, grants}. Addresses are ordered as `address_key`s (32 hex
digits), so a read model finds "the network holding A" with one indexed range query (`network_range`).
"""
from __future__ import annotations

import ipaddress
from datetime import datetime

from contracts import names
from contracts.domains import DCV_NOT_APPLICABLE

Grant = tuple[str, str | None, str, str]       # (organization_id, department_id, cert_type, status)

VALIDATED, EXPIRED, NOT_VALIDATED = "validated", "expired", "not_validated"    # contracts.domains.DCV_STATUSES


def grants_to(grant_organization: str, grant_department: str | None, organization_id: str,
              department_id: str | None) -> bool:
    """Does a delegation to (grant_organization, grant_department) cover a certificate for the organization (and
    department)? An organization's delegation covers the organization and each of its departments; a department's
    covers that department only."""
    if grant_department is None:
        return grant_organization == organization_id
    return grant_department == department_id


def may_issue_name(name: str, covering: list[dict], organization_id: str, department_id: str | None,
                   cert_type: str, now: datetime) -> dict:
    """The answer (MayIssueV1) for a normalised DNS name from the domain entries covering it, closest first. The
    reason, when not allowed: domain_inactive (delegated, but the entry is inactive), delegation_pending (awaits
    approval), not_delegated_for_type (delegated for another type), not_delegated."""
    def granted(grant: Grant, statuses) -> bool:
        org, dept, grant_type, status = grant
        return grant_type == cert_type and status in statuses and grants_to(org, dept, organization_id,
                                                                            department_id)

    chosen, reason = None, "not_delegated"
    for entry in covering:
        if any(granted(g, ("approved",)) for g in entry["grants"]):
            if entry["active"]:
                chosen, reason = entry, None
                break
            reason = "domain_inactive"
        elif reason == "not_delegated" and any(granted(g, ("requested",)) for g in entry["grants"]):
            reason = "delegation_pending"
        elif reason == "not_delegated" and any(
                granted((g[0], g[1], cert_type, g[3]), ("approved",)) for g in entry["grants"]):
            reason = "not_delegated_for_type"
    evidence = [e for e in covering if e["evidence_expires_at"] is not None
                and names.evidence_covers(e["name"], e["evidence_method"], name)]
    fresh = [e for e in evidence if now < e["evidence_expires_at"]]
    closest = chosen or (covering[0] if covering else None)
    status = VALIDATED if fresh else EXPIRED if evidence else NOT_VALIDATED
    latest = max((e["evidence_expires_at"] for e in fresh or evidence), default=None)
    return {"allowed": chosen is not None, "reason": reason, "name": name,
            "domain_id": closest["domain_id"] if closest else None,
            "domain_name": closest["name"] if closest else None,
            "dcv_status": status, "fresh_dcv": bool(fresh),
            "evidence_expires_at": latest.isoformat() if latest else None}


def may_issue_address(address: str, containing: dict | None, organization_id: str, department_id: str | None,
                      cert_type: str) -> dict:
    """The answer (MayIssueV1) for a normalised IP address (names.ip_address) from the network holding it, if any.
    The reason is a sentence; a network delegated only to others is not named (the caller learns nothing of it);
    dcv_status is `not_applicable`."""
    holder = "department" if department_id is not None else "organization"
    ours = [g for g in containing["grants"] if grants_to(g[0], g[1], organization_id, department_id)] \
        if containing is not None else []
    if not ours:
        containing = None
        reason = f"{address} lies in no network delegated to this {holder} for {cert_type}"
    elif not any(t == cert_type and s == "approved" for _o, _d, t, s in ours):
        cidr = containing["cidr"]
        if any(t == cert_type and s == "requested" for _o, _d, t, s in ours):
            reason = f"{address} lies in {cidr}, whose delegation to this {holder} for {cert_type} awaits approval"
        else:                                                    # another type, or rejected
            reason = f"{address} lies in {cidr}, which is not delegated to this {holder} for {cert_type}"
    elif not containing["active"]:
        reason = f"{address} lies in {containing['cidr']}, which is inactive"
    else:
        reason = None
    return {"allowed": reason is None, "reason": reason, "name": address, "domain_id": None, "domain_name": None,
            "network_id": containing["network_id"] if containing else None,
            "network": containing["cidr"] if containing else None,
            "dcv_status": DCV_NOT_APPLICABLE, "fresh_dcv": False, "evidence_expires_at": None}


# ---- addresses as ordered keys (how a read model finds the network holding an address) ----------------------

def address_key(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """An address as 32 hex digits, so that comparing keys as text compares addresses (the read models' ranges)."""
    return f"{int(address):032x}"


def network_range(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> tuple[int, str, str]:
    """(IP version, first address key, last address key) of a network."""
    return network.version, address_key(network.network_address), address_key(network.broadcast_address)
