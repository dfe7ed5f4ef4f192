"""HTTP shapes of the REST API (marshmallow): query parameters and responses. Request bodies are the contract
schemas of contracts/ themselves, so the API and the services validate with one definition."""
from __future__ import annotations

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from contracts import domains, names, orgs

MAX_PAGE = 200
MAX_POSITION = 2**31 - 1   # far past any list; past 2**63 - 1 SQLite's OFFSET overflowed (a 500)


class ErrorBody(Schema):
    code = fields.String(required=True, metadata={"description": "stable machine-readable reason"})
    message = fields.String(required=True)
    details = fields.Raw(required=True, metadata={"description": "per-field reasons or extra facts"})
    correlation_id = fields.String(required=True)


class Error(Schema):
    error = fields.Nested(ErrorBody, required=True)


class PageQuery(Schema):
    class Meta:
        unknown = RAISE

    position = fields.Integer(load_default=0, validate=validate.Range(min=0, max=MAX_POSITION),
                              metadata={"description": "how many items to skip"})
    size = fields.Integer(load_default=50, validate=validate.Range(min=1, max=MAX_PAGE))


class OrganizationListQuery(PageQuery):
    name = fields.String(validate=validate.Length(min=1, max=64), metadata={"description": "exact name (any case)"})
    q = fields.String(validate=validate.Length(min=1, max=64), metadata={"description": "part of the name"})
    country = fields.String(validate=validate.Length(equal=2))
    validation_status = fields.String(validate=validate.OneOf(orgs.VALIDATION_STATUSES))


class DepartmentListQuery(PageQuery):
    name = fields.String(validate=validate.Length(min=1, max=64))


class OrganizationSummary(Schema):
    organization_id = fields.UUID(required=True)
    name = fields.String(required=True)
    city = fields.String(required=True)
    state = fields.String(required=True)
    country = fields.String(required=True)
    validation_status = fields.String(required=True, validate=validate.OneOf(orgs.VALIDATION_STATUSES))
    department_count = fields.Integer(required=True)


class Department(orgs.DepartmentV1):
    organization_name = fields.String(required=True, metadata={"description": "resolved by the gateway"})


Organization = orgs.OrganizationV1


class OrganizationList(Schema):
    items = fields.List(fields.Nested(OrganizationSummary), required=True)
    total = fields.Integer(required=True)
    position = fields.Integer(required=True)
    size = fields.Integer(required=True)


class DepartmentList(Schema):
    items = fields.List(fields.Nested(Department), required=True)
    total = fields.Integer(required=True)
    position = fields.Integer(required=True)
    size = fields.Integer(required=True)


class Health(Schema):
    status = fields.String(required=True)
    checks = fields.Dict(keys=fields.String(), values=fields.String())


# ---- identity -------------------------------------------------------------------------------------------------
from contracts import identity as identity_contract  # noqa: E402

Admin = identity_contract.AdminV1
Person = identity_contract.PersonV1


class LoginAnswer(Schema):
    token = fields.String(required=True, metadata={"description": "send as Authorization: Bearer <token>"})
    token_type = fields.String(required=True)
    expires_at = fields.String(required=True)
    admin_id = fields.UUID(required=True)
    must_change_password = fields.Boolean(required=True)


class ConsoleLoginAnswer(Schema):
    admin_id = fields.UUID(required=True)
    expires_at = fields.String(required=True)
    must_change_password = fields.Boolean(required=True)
    csrf_token = fields.String(required=True, metadata={"description": "send as X-CSRF-Token on every request "
                                                                       "that changes something"})
    idle_timeout_seconds = fields.Float(required=True)


class Me(Schema):
    admin_id = fields.UUID(required=True)
    username = fields.String(required=True)
    via = fields.String(required=True, metadata={"description": "session or api_key"})
    roles = fields.List(fields.Nested(identity_contract.RoleV1), required=True)
    privileges = fields.List(fields.String(), required=True)
    must_change_password = fields.Boolean(required=True)
    csrf_token = fields.String(metadata={"description": "the console session's CSRF token (cookie sessions only)"})
    idle_timeout_seconds = fields.Float(metadata={"description": "cookie sessions only"})


class AdminSummary(Schema):
    admin_id = fields.UUID(required=True)
    username = fields.String(required=True)
    email = fields.String(required=True)
    forename = fields.String(required=True)
    surname = fields.String(required=True)
    status = fields.String(required=True)
    roles = fields.List(fields.Nested(identity_contract.RoleV1), required=True)
    privileges = fields.List(fields.String(), required=True)


class AdminList(Schema):
    items = fields.List(fields.Nested(AdminSummary), required=True)
    total = fields.Integer(required=True)
    position = fields.Integer(required=True)
    size = fields.Integer(required=True)


class AdminListQuery(PageQuery):
    status = fields.String(validate=validate.OneOf(identity_contract.ADMIN_STATUSES))


class ApiKeyIssued(Schema):
    key = fields.String(required=True, metadata={"description": "shown this once; store it now"})
    key_id = fields.UUID(required=True)
    name = fields.String(required=True)
    prefix = fields.String(required=True)


class PersonList(Schema):
    items = fields.List(fields.Nested(identity_contract.PersonV1), required=True)
    total = fields.Integer(required=True)
    position = fields.Integer(required=True)
    size = fields.Integer(required=True)


class PersonListQuery(PageQuery):
    organization_id = fields.UUID()
    email = fields.String(validate=validate.Length(min=3, max=254))


class ImportAnswer(Schema):
    imported = fields.Integer(required=True)


class DomainListQuery(PageQuery):
    q = fields.String(validate=validate.Length(min=1, max=253), metadata={"description": "part of the name"})
    organization_id = fields.UUID(metadata={"description": "delegated (any status) to this organization"})
    delegation_status = fields.String(validate=validate.OneOf(domains.DELEGATION_STATUSES),
                                      metadata={"description": "has a delegation with this status"})
    dcv_status = fields.String(validate=validate.OneOf(domains.DCV_STATUSES))
    dcv_expires_before = fields.AwareDateTime(default_timezone=None, metadata={
        "description": "DCV evidence expires before this moment (ISO 8601 with offset); with dcv_status=validated: "
                       "the evidence about to expire"})
    active = fields.Boolean()


class Domain(domains.DomainV1):
    pass


class DomainList(Schema):
    items = fields.List(fields.Nested(Domain), required=True)
    total = fields.Integer(required=True)
    position = fields.Integer(required=True)
    size = fields.Integer(required=True)


def _ip_address(value: str) -> None:
    if not names.is_ip_address(value):
        raise ValidationError("not an IPv4 or IPv6 address")


class NetworkListQuery(PageQuery):
    q = fields.String(validate=validate.Length(min=1, max=50), metadata={"description": "part of the CIDR"})
    contains = fields.String(validate=[validate.Length(max=50), _ip_address],
                             metadata={"description": "an IP address: the network it lies in"})
    organization_id = fields.UUID(metadata={"description": "delegated (any status) to this organization"})
    delegation_status = fields.String(validate=validate.OneOf(domains.DELEGATION_STATUSES),
                                      metadata={"description": "has a delegation with this status"})
    active = fields.Boolean()


class Network(domains.NetworkV1):
    pass


class NetworkList(Schema):
    items = fields.List(fields.Nested(Network), required=True)
    total = fields.Integer(required=True)
    position = fields.Integer(required=True)
    size = fields.Integer(required=True)


class DcvOutcome(Schema):
    validated = fields.Boolean(required=True)
    reason = fields.String(allow_none=True, metadata={"description": "why not: http_wrong_content, "
                                                                     "dns_value_missing, caa_forbids, …"})
    detail = fields.String(required=True)
    domain = fields.Nested(Domain, required=True)


# ---- certificates ---------------------------------------------------------------------------------------------

from contracts import ca as ca_contract  # noqa: E402
from contracts import enrollment as enrollment_contract  # noqa: E402


class Ca(ca_contract.CaV1):
    pass


class CaList(Schema):
    items = fields.List(fields.Nested(Ca), required=True)
    total = fields.Integer(required=True)


class ProfileFields(enrollment_contract.ProfileFieldsV1):
    pass


class ProfileChanges(enrollment_contract.ProfileFieldsV1):
    """Partial: only the fields sent change."""
    def __init__(self, **kwargs):
        super().__init__(partial=True, **kwargs)


class Profile(enrollment_contract.ProfileFieldsV1):
    class Meta:
        unknown = RAISE

    profile_id = fields.UUID(required=True)
    created_at = fields.String(required=True)
    updated_at = fields.String(required=True)


class ProfileList(Schema):
    items = fields.List(fields.Nested(Profile), required=True)
    total = fields.Integer(required=True)


class Ssl(enrollment_contract.SslV1):
    pass


class SslList(Schema):
    items = fields.List(fields.Nested(Ssl), required=True)
    total = fields.Integer(required=True)
    position = fields.Integer(required=True)
    size = fields.Integer(required=True)


# the inventory's sort values ("-": descending); services/enrollment/projections.py has the same list (checked
# by tests/contract/test_index_additions.py) and refuses any other
class SslListQuery(PageQuery):
    status = fields.String(validate=validate.OneOf(enrollment_contract.SSL_LIST_STATUSES), metadata={
        "description": "a status; `valid`: issued or downloaded and not expired (the dashboard's expiry buckets)"})
    q = fields.String(validate=validate.Length(min=1, max=253), metadata={
        "description": "part of the CN or a SAN (any case), or of the serial: hex, with or without colons, any case"})
    organization_id = fields.UUID()
    department_id = fields.UUID()
    profile_id = fields.UUID()
    requested_by = fields.String(validate=validate.Length(min=1, max=80), metadata={
        "description": "who requested it, as recorded: an admin id, `system:auto-renew`, or "
                       "`acme:<acme_account_id>` (the certificates an ACME account's clients got)"})
    serial = fields.String(validate=validate.Regexp(r"^[0-9A-Fa-f:]{1,64}$"))
    expires_before = fields.AwareDateTime(default_timezone=None)
    expires_after = fields.AwareDateTime(default_timezone=None)
    sort = fields.String(load_default=enrollment_contract.DEFAULT_SSL_SORT,
                         validate=validate.OneOf(enrollment_contract.SSL_SORT_VALUES), metadata={
        "description": "the order: a field, `-` before it for descending; ties in ssl_id order (the same "
                       "direction), so pages are stable. `status` sorts by the status shown (`expired` included); "
                       "`serial` as hex text. Not issued yet (no notAfter, no serial): first ascending, last "
                       "descending."})


class DownloadQuery(Schema):
    class Meta:
        unknown = RAISE

    format = fields.String(load_default="pem", validate=validate.OneOf(list(enrollment_contract.DOWNLOAD_FORMATS)))


# ---- the console: dashboard, a request's history, the CSV export ----------------------------------------------
class SslExportQuery(SslListQuery):
    """The list's filters without paging (position and size are refused as unknown parameters)."""
    class Meta:
        unknown = RAISE
        exclude = ("position", "size")


class SslHistoryActor(Schema):
    actor = fields.String(required=True, allow_none=True, metadata={
        "description": "as recorded: an admin id, system:auto-renew, collection-link"})
    username = fields.String(required=True, allow_none=True, metadata={"description": "when an administrator"})


class SslHistoryEntry(Schema):
    at = fields.String(required=True)
    event = fields.String(required=True, metadata={
        "description": "requested, renewal requested, replacement requested, approved, applied, failed, issued, "
                       "downloaded, declined, revoked, renewed, replaced"})
    by = fields.Nested(SslHistoryActor, required=True)
    message = fields.String(required=True, allow_none=True)
    details = fields.Dict(required=True, metadata={"description": "serial and not_after (issued), format "
                                                                  "(downloaded), renewal_of, renewed_by, automatic"})


class SslHistory(Schema):
    ssl_id = fields.UUID(required=True)
    items = fields.List(fields.Nested(SslHistoryEntry), required=True)


class DashboardSslFilter(Schema):
    status = fields.String(required=True, validate=validate.OneOf(enrollment_contract.SSL_LIST_STATUSES))
    expires_after = fields.String()
    expires_before = fields.String()


class DashboardExpiryWindow(Schema):
    expires_after = fields.String(required=True, allow_none=True)
    expires_before = fields.String(required=True)
    filters = fields.List(fields.Nested(DashboardSslFilter), required=True, metadata={
        "description": "the GET /api/v1/ssl query (add organization_id) whose X-Total-Count is the count"})


class DashboardOrganizationExpiry(Schema):
    organization_id = fields.UUID(required=True)
    organization_name = fields.String(required=True, allow_none=True)
    expired = fields.Integer(required=True)
    within_7 = fields.Integer(required=True)
    within_30 = fields.Integer(required=True)
    within_90 = fields.Integer(required=True)


class DashboardCount(Schema):
    count = fields.Integer(required=True)
    ids = fields.List(fields.String(), required=True, metadata={"description": "the oldest few"})


class DashboardWaitingDelegation(Schema):
    delegation_id = fields.UUID(required=True)
    domain_id = fields.UUID()
    network_id = fields.UUID()


class DashboardWaitingDelegations(Schema):
    count = fields.Integer(required=True)
    items = fields.List(fields.Nested(DashboardWaitingDelegation), required=True,
                        metadata={"description": "the oldest few"})


class DashboardWaiting(Schema):
    ssl_requests = fields.Nested(DashboardCount, required=True)
    domain_delegations = fields.Nested(DashboardWaitingDelegations, required=True)
    network_delegations = fields.Nested(DashboardWaitingDelegations, required=True)
    admins = fields.Nested(DashboardCount, required=True)


class DashboardDomainFilter(Schema):
    dcv_status = fields.String(required=True)
    dcv_expires_before = fields.String(required=True)


class DashboardEvidenceExpiring(Schema):
    count = fields.Integer(required=True)
    days = fields.Integer(required=True)
    filters = fields.Nested(DashboardDomainFilter, required=True,
                            metadata={"description": "the GET /api/v1/domains query that lists them"})


class Dashboard(Schema):
    generated_at = fields.String(required=True, metadata={"description": "the moment the counts are for"})
    ssl_by_status = fields.Dict(keys=fields.String(validate=validate.OneOf(enrollment_contract.SSL_STATUSES)),
                                values=fields.Integer(), required=True)
    expiry = fields.List(fields.Nested(DashboardOrganizationExpiry), required=True)
    expiry_windows = fields.Dict(keys=fields.String(), values=fields.Nested(DashboardExpiryWindow), required=True,
                                 metadata={"description": "expired, within_7, within_30, within_90"})
    waiting_for_me = fields.Nested(DashboardWaiting, required=True)
    domains_by_dcv_status = fields.Dict(keys=fields.String(validate=validate.OneOf(domains.DCV_STATUSES)),
                                        values=fields.Integer(), required=True)
    evidence_expiring = fields.Nested(DashboardEvidenceExpiring, required=True)


# ---- ACME accounts (issue 14): SCM's ACME endpoint accounts with their EAB credentials ---------------------------
from contracts import acme as acme_contract  # noqa: E402

ACME_ORDER_STATUSES = ("pending", "ready", "processing", "valid", "invalid")   # RFC 8555 §7.1.6


class AcmeAccount(acme_contract.AcmeAccountV1):
    directory_url = fields.String(required=True, metadata={
        "description": "the ACME directory its clients use (certbot --server, lego --server)"})


class AcmeAccountList(Schema):
    items = fields.List(fields.Nested(AcmeAccount), required=True)
    total = fields.Integer(required=True)
    position = fields.Integer(required=True)
    size = fields.Integer(required=True)


class AcmeEab(Schema):
    kid = fields.String(required=True, metadata={"description": "the EAB key id (also the account's eab_kid)"})
    hmac_key = fields.String(required=True, metadata={
        "description": "the EAB HMAC key, base64url without padding (what certbot --eab-hmac-key and lego --hmac "
                       "take). Shown in this answer only: no other answer shows it"})


class AcmeAccountCreated(AcmeAccount):
    eab = fields.Nested(AcmeEab, required=True)
    note = fields.String(required=True, metadata={"description": "that the HMAC key is shown this once"})


class AcmeIdentifier(Schema):
    type = fields.String(required=True, validate=validate.OneOf(("dns", "ip")))
    value = fields.String(required=True)


class AcmeOrder(Schema):
    order_id = fields.UUID(required=True)
    status = fields.String(required=True, validate=validate.OneOf(ACME_ORDER_STATUSES))
    identifiers = fields.List(fields.Nested(AcmeIdentifier), required=True)
    ssl_id = fields.UUID(required=True, allow_none=True, metadata={
        "description": "the SSL request its finalize made (GET /api/v1/ssl/{ssl_id}); null before finalize"})
    created_at = fields.String(required=True)


class AcmeOrderList(Schema):
    items = fields.List(fields.Nested(AcmeOrder), required=True)
    total = fields.Integer(required=True)
    position = fields.Integer(required=True)
    size = fields.Integer(required=True)


# ---- enrollment form accounts and device enrollment endpoints (issue 15) --------------------------------------
from contracts import enrollment_forms as _forms  # noqa: E402 — appended section: its own import


class FormAccountListQuery(PageQuery):
    cert_type = fields.String(validate=validate.OneOf(_forms.FORM_CERT_TYPES),
                              metadata={"description": "only accounts of this certificate type"})


class FormAccount(_forms.FormAccountV1):
    pass


class FormAccountList(Schema):
    items = fields.List(fields.Nested(FormAccount), required=True)
    total = fields.Integer(required=True)
    position = fields.Integer(required=True)
    size = fields.Integer(required=True)


class DeviceEndpoint(_forms.DeviceEndpointV1):
    pass


class DeviceEndpointList(Schema):
    items = fields.List(fields.Nested(DeviceEndpoint), required=True)
    total = fields.Integer(required=True)
    position = fields.Integer(required=True)
    size = fields.Integer(required=True)


class FormApplicantAccess(Schema):
    """What an applicant with the right access code learns of the account: what its form offers."""
    form_account_id = fields.UUID(required=True)
    name = fields.String(required=True)
    cert_type = fields.String(required=True)
    organization_id = fields.UUID(required=True)
    department_id = fields.UUID(allow_none=True)
    profile_ids = fields.List(fields.UUID(), required=True)
    csr_generation = fields.List(fields.String(), required=True)
    auto_approve = fields.Boolean(required=True)
    auto_renew = fields.Boolean(required=True)
    allow_empty_pkcs12_password = fields.Boolean(required=True)
