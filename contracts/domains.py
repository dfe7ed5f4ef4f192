"""`domains` service contracts: domains, their delegations to organizations and departments, domain control
validation (DCV) and CAA, as events (V1), RPC requests and answers; and IP networks (CIDR), delegated the same way
for private TLS (DESIGN §1): one delegation model, one set of approval rules, separate streams (`network-<id>`) and
events (`network_*.v1`).

Names arrive as typed and leave normalised (lower case, IDN as A-labels, no trailing dot); the rules are in
contracts/names.py. A DCV random value for HTTP or DNS is public by design (it is published in DNS or on
the web server) and travels in events; the code of an email DCV is a secret and never does: notify fetches the
mail to send with the `dcv_mail` RPC, and events carry only that it was sent.
"""
from __future__ import annotations

from marshmallow import EXCLUDE, RAISE, Schema, fields, validate

from contracts import acme
from contracts.common import text

SOURCE = "domains"

DELEGATION_CERT_TYPES = ("ssl", "client", "code_signing")
DELEGATION_STATUSES = ("requested", "approved", "rejected")
DCV_START_METHODS = ("email", "http", "https", "cname", "txt")     # what an administrator starts (start_dcv)
# every method evidence may have: an ACME challenge checked valid for the domain's own name is evidence too
DCV_METHODS = DCV_START_METHODS + tuple(acme.DCV_METHOD_OF_CHALLENGE.values())
DCV_STATUSES = ("not_validated", "submitted", "validated", "expired")
DCV_EMAIL_LOCAL_PARTS = ("admin", "administrator", "webmaster", "hostmaster", "postmaster")
HTTP_FILE_PATH = "/.well-known/pki-validation/"     # + <file name>.txt (BR 3.2.2.4.18)
TXT_LABEL = "_pki-validation"                       # TXT at _pki-validation.<domain> holds the random value
CAA_RESULTS = ("permitted", "no_records")           # a refusal is a failed DCV, never evidence
DCV_NOT_APPLICABLE = "not_applicable"               # may_issue's dcv_status for an IP address: no DCV exists for one
MAY_ISSUE_DCV_STATUSES = DCV_STATUSES + (DCV_NOT_APPLICABLE,)
# The broadest network that may be delegated, per IP version: a /8 of IPv4, a /16 of IPv6. Anything broader
# (0.0.0.0/0, ::/0, 10.0.0.0/7) is refused with network_too_broad.
NETWORK_BROADEST_PREFIX = {4: 8, 6: 16}


# ---- RPC requests (V1): reject unknown fields ----------------------------------------------------------------

class DelegationFieldsV1(Schema):
    """One row of the Create-domain grid: an organization or one of its departments, and certificate types."""
    class Meta:
        unknown = RAISE

    organization_id = fields.UUID(required=True)
    department_id = fields.UUID(allow_none=True, load_default=None)
    cert_types = fields.List(fields.String(validate=validate.OneOf(DELEGATION_CERT_TYPES)), required=True,
                             validate=validate.Length(min=1, max=len(DELEGATION_CERT_TYPES)))


class CreateDomainV1(Schema):
    class Meta:
        unknown = RAISE

    name = fields.String(required=True, validate=validate.Length(min=1, max=300),
                         metadata={"description": "e.g. example.com, *.example.com or an IDN (stored as A-labels)"})
    description = text(1024, allow_none=True, load_default=None)
    active = fields.Boolean(load_default=True)
    delegations = fields.List(fields.Nested(DelegationFieldsV1), load_default=list,
                              validate=validate.Length(max=200))


class UpdateDomainV1(Schema):
    class Meta:
        unknown = RAISE

    description = text(1024, allow_none=True)
    active = fields.Boolean()


class CreateNetworkV1(Schema):
    class Meta:
        unknown = RAISE

    cidr = fields.String(required=True, validate=validate.Length(min=1, max=100), metadata={
        "description": "an IPv4 or IPv6 network in CIDR notation, host bits zero: 10.20.0.0/16, fd00:1::/48 "
                       "(stored compressed); at most /8 (IPv4) or /16 (IPv6) broad"})
    description = text(1024, allow_none=True, load_default=None)
    active = fields.Boolean(load_default=True)
    delegations = fields.List(fields.Nested(DelegationFieldsV1), load_default=list,
                              validate=validate.Length(max=200))


class UpdateNetworkV1(Schema):
    class Meta:
        unknown = RAISE

    description = text(1024, allow_none=True)
    active = fields.Boolean()


class RejectDelegationV1(Schema):
    class Meta:
        unknown = RAISE

    reason = text(1024, allow_none=True, load_default=None)


class StartDcvV1(Schema):
    class Meta:
        unknown = RAISE

    method = fields.String(required=True, validate=validate.OneOf(DCV_START_METHODS))
    email_address = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=254),
                                  metadata={"description": "email only: one of admin@, administrator@, "
                                                           "webmaster@, hostmaster@, postmaster@ the domain"})


class SubmitDcvCodeV1(Schema):
    class Meta:
        unknown = RAISE

    code = fields.String(required=True, validate=validate.Length(min=1, max=200))


# ---- RPC answers (V1) ------------------------------------------------------------------------------------

class DelegationV1(Schema):
    delegation_id = fields.UUID(required=True)
    organization_id = fields.UUID(required=True)
    department_id = fields.UUID(allow_none=True)
    cert_types = fields.List(fields.String(), required=True)
    status = fields.String(required=True, validate=validate.OneOf(DELEGATION_STATUSES))
    requested_by = fields.String(required=True, metadata={"description": "admin id"})
    decided_by = fields.String(allow_none=True)
    reason = fields.String(allow_none=True)


class CaaV1(Schema):
    result = fields.String(required=True, validate=validate.OneOf(CAA_RESULTS))
    checked_name = fields.String(required=True, metadata={"description": "the name whose CAA was looked up"})
    relevant_name = fields.String(allow_none=True, metadata={"description": "where the closest CAA RRset was"})
    records = fields.List(fields.String(), required=True, metadata={"description": "as presented, e.g. "
                                                                     '0 issue "certplane.invalid"'})


class DcvV1(Schema):
    dcv_id = fields.UUID(allow_none=True)
    status = fields.String(required=True, validate=validate.OneOf(DCV_STATUSES))
    method = fields.String(allow_none=True)
    email_address = fields.String(allow_none=True)
    http_url = fields.String(allow_none=True, metadata={"description": "http/https: where the file must be"})
    dns_name = fields.String(allow_none=True, metadata={"description": "cname/txt: the name to create"})
    expected_value = fields.String(allow_none=True, metadata={
        "description": "http/https: the file's content; txt: the TXT value; cname: the CNAME target"})
    token_expires_at = fields.String(allow_none=True)
    last_failure = fields.String(allow_none=True)
    validated_at = fields.String(allow_none=True)
    evidence_expires_at = fields.String(allow_none=True)
    caa = fields.Nested(CaaV1, allow_none=True)


class DomainV1(Schema):
    domain_id = fields.UUID(required=True)
    name = fields.String(required=True)
    description = fields.String(allow_none=True)
    active = fields.Boolean(required=True)
    wildcard = fields.Boolean(required=True)
    delegations = fields.List(fields.Nested(DelegationV1), required=True)
    dcv = fields.Nested(DcvV1, required=True)
    dcv_email_addresses = fields.List(fields.String(), required=True, metadata={
        "description": "where an email DCV may go: admin@, administrator@, webmaster@, hostmaster@, postmaster@"})
    created_at = fields.String(required=True)
    updated_at = fields.String(required=True)


class NetworkV1(Schema):
    network_id = fields.UUID(required=True)
    cidr = fields.String(required=True, metadata={"description": "normalised: 10.20.0.0/16, fd00:1::/48"})
    ip_version = fields.Integer(required=True, validate=validate.OneOf((4, 6)))
    description = fields.String(allow_none=True)
    active = fields.Boolean(required=True)
    delegations = fields.List(fields.Nested(DelegationV1), required=True)
    created_at = fields.String(required=True)
    updated_at = fields.String(required=True)


class MayIssueV1(Schema):
    """The answer to "may organization O (department D) get a certificate of type T for name N?". N is a DNS name
    or an IP address: an address is allowed when it lies in a network delegated (approved, active) for T, and has
    dcv_status `not_applicable`, fresh_dcv false, the network in network_id/network, domain_id/domain_name null."""
    allowed = fields.Boolean(required=True, metadata={"description": "delegated (approved) for T, domain or "
                                                                     "network active"})
    reason = fields.String(allow_none=True, metadata={"description": "why not, when not allowed: a code for a DNS "
                                                                     "name, a sentence for an IP address"})
    name = fields.String(required=True, metadata={"description": "N normalised"})
    domain_id = fields.UUID(allow_none=True)
    domain_name = fields.String(allow_none=True)
    network_id = fields.UUID(allow_none=True, metadata={"description": "IP address: the network it lies in"})
    network = fields.String(allow_none=True, metadata={"description": "IP address: that network's CIDR"})
    dcv_status = fields.String(required=True, validate=validate.OneOf(MAY_ISSUE_DCV_STATUSES))
    fresh_dcv = fields.Boolean(required=True, metadata={"description": "evidence exists and has not expired"})
    evidence_expires_at = fields.String(allow_none=True)


# ---- events (V1). Event schemas tolerate unknown fields so producers can add optional ones. -----------------

class _Event(Schema):
    class Meta:
        unknown = EXCLUDE


class DomainCreatedV1(_Event):
    domain_id = fields.UUID(required=True)
    name = fields.String(required=True)
    description = fields.String(allow_none=True)
    active = fields.Boolean(required=True)


class DomainUpdatedV1(_Event):
    domain_id = fields.UUID(required=True)
    name = fields.String(required=True)
    description = fields.String(allow_none=True)
    active = fields.Boolean(required=True)
    changed = fields.List(fields.String(), required=True)


class DomainDeletedV1(_Event):
    domain_id = fields.UUID(required=True)
    name = fields.String(required=True)


class DelegationAddedV1(_Event):
    """Status `approved` when an MRAO (or an admin with "domain validation without dual approval") made it."""
    domain_id = fields.UUID(required=True)
    name = fields.String(required=True)
    delegation_id = fields.UUID(required=True)
    organization_id = fields.UUID(required=True)
    department_id = fields.UUID(allow_none=True)
    cert_types = fields.List(fields.String(), required=True)
    status = fields.String(required=True, validate=validate.OneOf(("requested", "approved")))
    requested_by = fields.String(required=True)


class DelegationApprovedV1(_Event):
    domain_id = fields.UUID(required=True)
    name = fields.String(required=True)
    delegation_id = fields.UUID(required=True)
    approved_by = fields.String(required=True)


class DelegationRejectedV1(_Event):
    domain_id = fields.UUID(required=True)
    name = fields.String(required=True)
    delegation_id = fields.UUID(required=True)
    rejected_by = fields.String(required=True)
    reason = fields.String(allow_none=True)


class DelegationRemovedV1(_Event):
    domain_id = fields.UUID(required=True)
    name = fields.String(required=True)
    delegation_id = fields.UUID(required=True)


class DcvStartedV1(_Event):
    """A DCV attempt. For email: `email_address` set, `expected_value` null (the code is never in an event)."""
    domain_id = fields.UUID(required=True)
    name = fields.String(required=True)
    dcv_id = fields.UUID(required=True)
    method = fields.String(required=True, validate=validate.OneOf(DCV_START_METHODS))
    email_address = fields.String(allow_none=True)
    http_url = fields.String(allow_none=True)
    dns_name = fields.String(allow_none=True)
    expected_value = fields.String(allow_none=True)
    token_expires_at = fields.String(required=True)
    started_by = fields.String(required=True)
    code_sha256 = fields.String(allow_none=True, metadata={"description": "email: sha256 of the mailed code"})


class DcvFailedV1(_Event):
    """A check that did not prove control (or a CAA refusal); the attempt stays open until its token expires.
    A lookup that got no answer (DNS server failing or silent, web server unreachable) is no check: it is refused
    to the caller (422 `<lookup>_lookup_failed`) and recorded nowhere."""
    domain_id = fields.UUID(required=True)
    name = fields.String(required=True)
    dcv_id = fields.UUID(required=True)
    reason = fields.String(required=True, metadata={"description": "a code, e.g. http_wrong_content, "
                                                                    "dns_value_missing, caa_forbids"})
    detail = fields.String(required=True)


class DcvValidatedV1(_Event):
    """Evidence of control of the domain: from a DCV attempt (`dcv_id` is the attempt's), or from an ACME challenge
    checked valid for the domain's own name (method acme-http, acme-dns or acme-alpn; `dcv_id` is the ACME
    authorization's id, and no attempt is involved)."""
    domain_id = fields.UUID(required=True)
    name = fields.String(required=True)
    dcv_id = fields.UUID(required=True)
    method = fields.String(required=True, validate=validate.OneOf(DCV_METHODS))
    validated_at = fields.String(required=True)
    evidence_expires_at = fields.String(required=True)
    caa = fields.Nested(CaaV1, required=True)


class NetworkCreatedV1(_Event):
    network_id = fields.UUID(required=True)
    cidr = fields.String(required=True)
    description = fields.String(allow_none=True)
    active = fields.Boolean(required=True)


class NetworkUpdatedV1(_Event):
    network_id = fields.UUID(required=True)
    cidr = fields.String(required=True)
    description = fields.String(allow_none=True)
    active = fields.Boolean(required=True)
    changed = fields.List(fields.String(), required=True)


class NetworkDeletedV1(_Event):
    network_id = fields.UUID(required=True)
    cidr = fields.String(required=True)


class NetworkDelegationAddedV1(_Event):
    """Status `approved` when an MRAO (or an admin with "domain validation without dual approval") made it."""
    network_id = fields.UUID(required=True)
    cidr = fields.String(required=True)
    delegation_id = fields.UUID(required=True)
    organization_id = fields.UUID(required=True)
    department_id = fields.UUID(allow_none=True)
    cert_types = fields.List(fields.String(), required=True)
    status = fields.String(required=True, validate=validate.OneOf(("requested", "approved")))
    requested_by = fields.String(required=True)


class NetworkDelegationApprovedV1(_Event):
    network_id = fields.UUID(required=True)
    cidr = fields.String(required=True)
    delegation_id = fields.UUID(required=True)
    approved_by = fields.String(required=True)


class NetworkDelegationRejectedV1(_Event):
    network_id = fields.UUID(required=True)
    cidr = fields.String(required=True)
    delegation_id = fields.UUID(required=True)
    rejected_by = fields.String(required=True)
    reason = fields.String(allow_none=True)


class NetworkDelegationRemovedV1(_Event):
    network_id = fields.UUID(required=True)
    cidr = fields.String(required=True)
    delegation_id = fields.UUID(required=True)


EVENTS = {
    "domain_created.v1": DomainCreatedV1,
    "domain_updated.v1": DomainUpdatedV1,
    "domain_deleted.v1": DomainDeletedV1,
    "delegation_added.v1": DelegationAddedV1,
    "delegation_approved.v1": DelegationApprovedV1,
    "delegation_rejected.v1": DelegationRejectedV1,
    "delegation_removed.v1": DelegationRemovedV1,
    "dcv_started.v1": DcvStartedV1,
    "dcv_failed.v1": DcvFailedV1,
    "dcv_validated.v1": DcvValidatedV1,
    "network_created.v1": NetworkCreatedV1,
    "network_updated.v1": NetworkUpdatedV1,
    "network_deleted.v1": NetworkDeletedV1,
    "network_delegation_added.v1": NetworkDelegationAddedV1,
    "network_delegation_approved.v1": NetworkDelegationApprovedV1,
    "network_delegation_rejected.v1": NetworkDelegationRejectedV1,
    "network_delegation_removed.v1": NetworkDelegationRemovedV1,
    **acme.DOMAINS_EVENTS,      # acme_challenge_checked.v1: domains' answer to enrollment's submitted challenge
}

_DOMAIN = "0b6f3c1e-5a2d-4c7e-9f10-2a3b4c5d6e7f"
_DELEGATION = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
_DCV = "3c2b1a09-8f7e-4d6c-b5a4-392817161514"
_ORG = "6f1c2b1e-3c1a-4f3e-9a55-6d2f0d6f7f10"
_ADMIN = "4e5f6a7b-8c9d-4e0f-a1b2-c3d4e5f6a7b8"
_NETWORK = "5d4c3b2a-1f0e-4d9c-8b7a-6f5e4d3c2b1a"
_CAA = {"result": "permitted", "checked_name": "example.com", "relevant_name": "example.com",
        "records": ['0 issue "certplane.invalid"']}
EXAMPLES = {
    "domain_created.v1": {"domain_id": _DOMAIN, "name": "example.com", "description": "main site", "active": True},
    "domain_updated.v1": {"domain_id": _DOMAIN, "name": "example.com", "description": None, "active": False,
                          "changed": ["active"]},
    "domain_deleted.v1": {"domain_id": _DOMAIN, "name": "example.com"},
    "delegation_added.v1": {"domain_id": _DOMAIN, "name": "example.com", "delegation_id": _DELEGATION,
                            "organization_id": _ORG, "department_id": None, "cert_types": ["ssl"],
                            "status": "requested", "requested_by": _ADMIN},
    "delegation_approved.v1": {"domain_id": _DOMAIN, "name": "example.com", "delegation_id": _DELEGATION,
                               "approved_by": _ADMIN},
    "delegation_rejected.v1": {"domain_id": _DOMAIN, "name": "example.com", "delegation_id": _DELEGATION,
                               "rejected_by": _ADMIN, "reason": "not ours"},
    "delegation_removed.v1": {"domain_id": _DOMAIN, "name": "example.com", "delegation_id": _DELEGATION},
    "dcv_started.v1": {"domain_id": _DOMAIN, "name": "example.com", "dcv_id": _DCV, "method": "txt",
                       "email_address": None, "http_url": None, "dns_name": "_pki-validation.example.com",
                       "expected_value": "k3Jx0x2tVq4lU8y0Hc0W0bq9tQzv6Z3t", "token_expires_at":
                       "2026-12-30T10:00:00+00:00", "started_by": _ADMIN, "code_sha256": None},
    "dcv_failed.v1": {"domain_id": _DOMAIN, "name": "example.com", "dcv_id": _DCV, "reason": "dns_value_missing",
                      "detail": "no TXT record at _pki-validation.example.com holds the value"},
    "dcv_validated.v1": {"domain_id": _DOMAIN, "name": "example.com", "dcv_id": _DCV, "method": "txt",
                         "validated_at": "2026-11-30T10:00:00+00:00",
                         "evidence_expires_at": "2027-06-18T10:00:00+00:00", "caa": _CAA},
    "network_created.v1": {"network_id": _NETWORK, "cidr": "10.20.0.0/16", "description": "lab", "active": True},
    "network_updated.v1": {"network_id": _NETWORK, "cidr": "10.20.0.0/16", "description": None, "active": False,
                           "changed": ["description", "active"]},
    "network_deleted.v1": {"network_id": _NETWORK, "cidr": "10.20.0.0/16"},
    "network_delegation_added.v1": {"network_id": _NETWORK, "cidr": "fd00:1::/48", "delegation_id": _DELEGATION,
                                    "organization_id": _ORG, "department_id": None, "cert_types": ["ssl"],
                                    "status": "requested", "requested_by": _ADMIN},
    "network_delegation_approved.v1": {"network_id": _NETWORK, "cidr": "fd00:1::/48",
                                       "delegation_id": _DELEGATION, "approved_by": _ADMIN},
    "network_delegation_rejected.v1": {"network_id": _NETWORK, "cidr": "fd00:1::/48",
                                       "delegation_id": _DELEGATION, "rejected_by": _ADMIN, "reason": "not ours"},
    "network_delegation_removed.v1": {"network_id": _NETWORK, "cidr": "fd00:1::/48",
                                      "delegation_id": _DELEGATION},
    "acme_challenge_checked.v1": {"authorization_id": "7e0c1d2a-4b3f-4c5d-8e6f-708192a3b4c5",
                                  "challenge_id": "Xq3vT0c1", "domain_id": _DOMAIN, "identifier": "example.com",
                                  "method": "dns-01", "valid": True, "problem_type": None, "detail":
                                  "TXT _acme-challenge.example.com holds the key authorization's digest",
                                  "validated_at": "2026-11-30T10:00:00+00:00",
                                  "evidence_expires_at": "2027-06-18T10:00:00+00:00", "caa": _CAA},
}
