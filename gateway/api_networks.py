"""IP networks delegated for private TLS: /api/v1/networks/... (DESIGN §1). A network (CIDR) is delegated to
organizations and departments per certificate type exactly as a domain is — the same scope, the same rights to
delegate, change, approve and reject, the same 404s (DelegatedRoutes in api_domains.py) — and has no DCV: an IP
address in a private TLS certificate is allowed when it lies in a network delegated (approved, active) to the
requester's organization or department."""
from __future__ import annotations

from werkzeug.wrappers import Request, Response

from contracts import domains as domains_contract
from gateway import schemas
from gateway.api_domains import Delegated, DelegatedRoutes
from gateway.http import api
from gateway.openapi import Operation

TAG = "networks"
_NETWORK = "/api/v1/networks/<network_id>"
_DELEGATION = _NETWORK + "/delegations/<delegation_id>"

NETWORKS = Delegated("network", "/api/v1/networks", "create_network", "list_networks", "get_network",
                     "update_network", "delete_network", "add_network_delegation", "remove_network_delegation",
                     "decide_network_delegation")


def _filters(query: dict) -> dict:
    return {"cidr": query.get("q"), "contains": query.get("contains"),
            "delegation_status": query.get("delegation_status"), "active": query.get("active")}


class NetworkRoutes(DelegatedRoutes):
    @api("GET", "/api/v1/networks", doc=Operation(
        "List the networks you see (in address order, IPv4 first), each with the delegations you see. "
        "organization_id and delegation_status match a delegation in your scope: an organization outside it lists "
        "nothing.", TAG, query=schemas.NetworkListQuery,
        responses={200: (schemas.NetworkList, "a page of networks; X-Total-Count has the total")}))
    def list_networks(self, request: Request):
        return self._list(request, NETWORKS, schemas.NetworkListQuery, _filters)

    @api("HEAD", "/api/v1/networks", doc=Operation(
        "Count the networks you see (X-Total-Count), with the same filters as the list", TAG,
        query=schemas.NetworkListQuery, responses={200: (None, "X-Total-Count has the count")}))
    def count_networks(self, request: Request):
        response = self.list_networks(request)
        return Response(status=200, headers={"X-Total-Count": response.headers["X-Total-Count"]})

    @api("POST", "/api/v1/networks", doc=Operation(
        "Create an IP network (CIDR, host bits zero, at most /8 broad for IPv4 and /16 for IPv6) with its "
        "delegations. Delegations made by an MRAO (or an admin with \"domain validation without dual approval\") "
        "are approved at once; others are requested until approved. Networks never overlap.", TAG,
        body=domains_contract.CreateNetworkV1, idempotent_post=True,
        responses={201: (schemas.Network, "created; Location names it"),
                   400: (schemas.Error, "not a CIDR (invalid_network), host bits set (network_host_bits), or "
                                        "broader than /8 or /16 (network_too_broad)"),
                   409: (schemas.Error, "the network overlaps (contains, or lies in, or is) an existing one "
                                        "(code overlapping_network)")}))
    def create_network(self, request: Request):
        return self._create(request, NETWORKS, domains_contract.CreateNetworkV1)

    @api("GET", _NETWORK, doc=Operation("Get a network with the delegations you see", TAG,
                                        responses={200: (schemas.Network, "the network")}))
    def get_network(self, request: Request, network_id: str):
        return self._get(request, NETWORKS, network_id)

    @api("PATCH", _NETWORK, doc=Operation(
        "Change a network's description or active flag (no certificate names an address of an inactive "
        "network). MRAO, or an admin who could make every delegation the network has.", TAG,
        body=domains_contract.UpdateNetworkV1, responses={200: (schemas.Network, "the network after the change")}))
    def update_network(self, request: Request, network_id: str):
        return self._update(request, NETWORKS, network_id, domains_contract.UpdateNetworkV1)

    @api("DELETE", _NETWORK, doc=Operation(
        "Delete a network that is no longer delegated (409 network_in_use otherwise)", TAG,
        responses={204: (None, "deleted")}))
    def delete_network(self, request: Request, network_id: str):
        return self._delete(request, NETWORKS, network_id)

    # ---- delegations ------------------------------------------------------------------------------------
    @api("POST", _NETWORK + "/delegations", doc=Operation(
        "Delegate the network to an organization or department for certificate types", TAG,
        body=domains_contract.DelegationFieldsV1, responses={201: (schemas.Network, "the network with it")}))
    def add_network_delegation(self, request: Request, network_id: str):
        return self._add_delegation(request, NETWORKS, network_id)

    @api("DELETE", _DELEGATION, doc=Operation(
        "Remove a delegation (one outside your scope answers 404)", TAG,
        responses={200: (schemas.Network, "the network")}))
    def remove_network_delegation(self, request: Request, network_id: str, delegation_id: str):
        return self._remove_delegation(request, NETWORKS, network_id, delegation_id)

    @api("POST", _DELEGATION + "/approve", doc=Operation(
        "Approve a requested delegation: an MRAO, or an RAO of its organization with \"approve domain "
        "delegation\"; never its requester. Of two racing approvals one wins, the other gets 409. A delegation "
        "outside your scope answers 404.", TAG, responses={200: (schemas.Network, "the network")}))
    def approve_network_delegation(self, request: Request, network_id: str, delegation_id: str):
        return self._decide_delegation(request, NETWORKS, network_id, delegation_id, approve=True)

    @api("POST", _DELEGATION + "/reject", doc=Operation(
        "Reject a requested delegation (same rights as approving); a rejection ends it", TAG,
        body=domains_contract.RejectDelegationV1, responses={200: (schemas.Network, "the network")}))
    def reject_network_delegation(self, request: Request, network_id: str, delegation_id: str):
        return self._decide_delegation(request, NETWORKS, network_id, delegation_id, approve=False)
