"""`orgs` service contracts: organization and department fields, events (V1) and RPC requests.

Lengths follow the X.509 upper bounds of RFC 5280 Appendix A (organization name 64, locality/state 128,
postal code 40) so anything accepted here fits a certificate subject later.
"""
from __future__ import annotations

from marshmallow import EXCLUDE, RAISE, Schema, fields, validate

from contracts.common import Country, text

SOURCE = "orgs"

VALIDATION_STATUSES = ("not_validated", "pending", "validated", "expired", "failed")
BUSINESS_CATEGORIES = ("Private Organization", "Government Entity", "Business Entity", "Non-Commercial Entity")
ADDRESS_FIELDS = ("address1", "address2", "address3", "city", "state", "postal_code", "country")


class EvDetailsV1(Schema):
    """Extended-validation subject details (CA/B Forum EV Guidelines 7.1.4.2), all optional."""
    class Meta:
        unknown = RAISE

    business_category = fields.String(validate=validate.OneOf(BUSINESS_CATEGORIES), allow_none=True)
    incorporation_country = Country(allow_none=True)
    incorporation_state = text(128, allow_none=True)
    incorporation_locality = text(128, allow_none=True)
    registration_number = text(64, allow_none=True)
    date_of_incorporation = fields.Date(allow_none=True)


class KeyEscrowV1(Schema):
    """Key-escrow options for client certificates: chosen when the organization is created, never changed."""
    class Meta:
        unknown = RAISE

    enabled = fields.Boolean(load_default=False)
    recovery_by_mrao = fields.Boolean(load_default=False)
    recovery_by_organization_admins = fields.Boolean(load_default=False)


class OrganizationFieldsV1(Schema):
    """What an administrator types on the Add/Edit organization form."""
    class Meta:
        unknown = RAISE

    name = text(64, required=True)
    address1 = text(128, required=True)
    address2 = text(128, allow_none=True, load_default=None)
    address3 = text(128, allow_none=True, load_default=None)
    city = text(128, required=True)
    state = text(128, required=True)
    postal_code = text(40, allow_none=True, load_default=None)
    country = Country(required=True)
    ev_details = fields.Nested(EvDetailsV1, allow_none=True, load_default=None)


class CreateOrganizationV1(OrganizationFieldsV1):
    key_escrow = fields.Nested(KeyEscrowV1, load_default=lambda: {"enabled": False, "recovery_by_mrao": False,
                                                                   "recovery_by_organization_admins": False})


class UpdateOrganizationV1(OrganizationFieldsV1):
    """Partial update: only the fields sent change. Key escrow is absent on purpose: it is fixed at creation."""
    class Meta:
        unknown = RAISE


UPDATE_ORGANIZATION = UpdateOrganizationV1(partial=True)


class DepartmentFieldsV1(Schema):
    class Meta:
        unknown = RAISE

    name = text(64, required=True)
    key_escrow_recovery_by_department_admins = fields.Boolean(load_default=False)


class UpdateDepartmentV1(Schema):
    class Meta:
        unknown = RAISE

    name = text(64, required=True)


class CompleteValidationV1(Schema):
    class Meta:
        unknown = RAISE

    outcome = fields.String(required=True, validate=validate.OneOf(("validated", "failed")))
    note = text(1024, allow_none=True, load_default=None)


# ---- RPC answers (V1): what get_organization / get_department return ------------------------------------------

class DepartmentV1(Schema):
    department_id = fields.UUID(required=True)
    organization_id = fields.UUID(required=True)
    name = fields.String(required=True)
    key_escrow_recovery_by_department_admins = fields.Boolean()
    created_at = fields.String(metadata={"description": "ISO 8601, UTC"})
    updated_at = fields.String(metadata={"description": "ISO 8601, UTC"})


class OrganizationV1(OrganizationFieldsV1):
    class Meta:
        unknown = EXCLUDE

    organization_id = fields.UUID(required=True)
    key_escrow = fields.Nested(KeyEscrowV1, required=True)
    validation_status = fields.String(required=True, validate=validate.OneOf(VALIDATION_STATUSES))
    version = fields.Integer(required=True, metadata={"description": "how many changes the organization has had"})
    created_at = fields.String(required=True, metadata={"description": "ISO 8601, UTC"})
    updated_at = fields.String(required=True, metadata={"description": "ISO 8601, UTC"})
    departments = fields.List(fields.Nested(DepartmentV1), required=True)


# ---- events (V1). Event schemas tolerate unknown fields so producers can add optional ones. -----------------

class _Event(Schema):
    class Meta:
        unknown = EXCLUDE


class _OrganizationSnapshot(_Event):
    organization_id = fields.UUID(required=True)
    name = fields.String(required=True)
    address1 = fields.String(required=True)
    address2 = fields.String(allow_none=True)
    address3 = fields.String(allow_none=True)
    city = fields.String(required=True)
    state = fields.String(required=True)
    postal_code = fields.String(allow_none=True)
    country = fields.String(required=True)
    ev_details = fields.Dict(allow_none=True)


class OrganizationCreatedV1(_OrganizationSnapshot):
    key_escrow = fields.Dict(required=True)


class OrganizationUpdatedV1(_OrganizationSnapshot):
    """The whole editable state after the change, plus which fields changed."""
    changed = fields.List(fields.String(), required=True)


class OrganizationDeletedV1(_Event):
    organization_id = fields.UUID(required=True)


class OrganizationValidationChangedV1(_Event):
    organization_id = fields.UUID(required=True)
    validation_status = fields.String(required=True, validate=validate.OneOf(VALIDATION_STATUSES))
    previous_status = fields.String(required=True, validate=validate.OneOf(VALIDATION_STATUSES))
    note = fields.String(allow_none=True)


class DepartmentCreatedV1(_Event):
    organization_id = fields.UUID(required=True)
    department_id = fields.UUID(required=True)
    name = fields.String(required=True)
    key_escrow_recovery_by_department_admins = fields.Boolean(required=True)


class DepartmentRenamedV1(_Event):
    organization_id = fields.UUID(required=True)
    department_id = fields.UUID(required=True)
    name = fields.String(required=True)


class DepartmentDeletedV1(_Event):
    organization_id = fields.UUID(required=True)
    department_id = fields.UUID(required=True)


EVENTS = {
    "organization_created.v1": OrganizationCreatedV1,
    "organization_updated.v1": OrganizationUpdatedV1,
    "organization_deleted.v1": OrganizationDeletedV1,
    "organization_validation_changed.v1": OrganizationValidationChangedV1,
    "department_created.v1": DepartmentCreatedV1,
    "department_renamed.v1": DepartmentRenamedV1,
    "department_deleted.v1": DepartmentDeletedV1,
}

_ORG = "6f1c2b1e-3c1a-4f3e-9a55-6d2f0d6f7f10"
_DEPT = "1d7e3a52-92b4-4d0b-8f61-0f1f3f4b2a77"
_ADDRESS = {"name": "Example Corp", "address1": "1 Main Street", "address2": None, "address3": None,
            "city": "Springfield", "state": "Illinois", "postal_code": "62701", "country": "US", "ev_details": None}
EXAMPLES = {
    "organization_created.v1": {"organization_id": _ORG, **_ADDRESS,
                                "key_escrow": {"enabled": False, "recovery_by_mrao": False,
                                               "recovery_by_organization_admins": False}},
    "organization_updated.v1": {"organization_id": _ORG, **_ADDRESS, "changed": ["city"]},
    "organization_deleted.v1": {"organization_id": _ORG},
    "organization_validation_changed.v1": {"organization_id": _ORG, "validation_status": "pending",
                                           "previous_status": "not_validated", "note": None},
    "department_created.v1": {"organization_id": _ORG, "department_id": _DEPT, "name": "Engineering",
                              "key_escrow_recovery_by_department_admins": False},
    "department_renamed.v1": {"organization_id": _ORG, "department_id": _DEPT, "name": "R&D"},
    "department_deleted.v1": {"organization_id": _ORG, "department_id": _DEPT},
}
