"""Every public schema round-trips its example; requests reject unknown fields, events tolerate them."""
import pytest
from marshmallow import ValidationError

from contracts import orgs
from contracts.envelope import ENVELOPE_EXAMPLE, EnvelopeV1
from services.runtime.events import Envelope


@pytest.mark.parametrize("event_type", sorted(orgs.EVENTS))
def test_every_orgs_event_has_an_example_that_round_trips(event_type):
    schema = orgs.EVENTS[event_type]()
    example = orgs.EXAMPLES[event_type]
    assert schema.validate(example) == {}
    assert schema.dump(schema.load(example)) == schema.dump(example)


@pytest.mark.parametrize("event_type", sorted(orgs.EVENTS))
def test_events_tolerate_fields_added_later(event_type):
    schema = orgs.EVENTS[event_type]()
    assert schema.validate({**orgs.EXAMPLES[event_type], "added_in_a_later_release": 1}) == {}


def test_the_envelope_example_round_trips_and_matches_the_runtime_envelope():
    loaded = EnvelopeV1().load(ENVELOPE_EXAMPLE)
    assert loaded["position"] == 42
    runtime = Envelope.from_message(ENVELOPE_EXAMPLE)
    assert EnvelopeV1().validate(runtime.to_message()) == {}
    assert set(runtime.to_message()) == set(EnvelopeV1().fields)


def test_requests_reject_unknown_fields():
    body = {"name": "Acme", "address1": "1 Main St", "city": "Berlin", "state": "Berlin", "country": "DE"}
    orgs.CreateOrganizationV1().load(body)
    with pytest.raises(ValidationError) as refused:
        orgs.CreateOrganizationV1().load({**body, "colour": "blue"})
    assert "colour" in refused.value.messages


def test_key_escrow_cannot_be_sent_in_an_update():
    with pytest.raises(ValidationError) as refused:
        orgs.UPDATE_ORGANIZATION.load({"key_escrow": {"enabled": True}})
    assert "key_escrow" in refused.value.messages


@pytest.mark.parametrize("field,value,reason", [
    ("country", "XX", "ISO 3166"),
    ("country", "de", "ISO 3166"),
    ("country", "DEU", "ISO 3166"),
    ("name", "x" * 65, "between 1 and 64"),
    ("name", "", "between 1 and 64"),
    ("name", " padded", "white space"),
    ("city", "line\nbreak", "control characters"),
    ("postal_code", "1" * 41, "between 1 and 40"),
])
def test_organization_fields_are_checked(field, value, reason):
    body = {"name": "Acme", "address1": "1 Main St", "city": "Berlin", "state": "Berlin", "country": "DE",
            field: value}
    with pytest.raises(ValidationError) as refused:
        orgs.CreateOrganizationV1().load(body)
    assert reason in " ".join(refused.value.messages[field])


# ---- identity ---------------------------------------------------------------------------------------------------

from contracts import identity  # noqa: E402  (appended section: the tests above stay as they were)
from services.identity import events as identity_events  # noqa: E402


_ADMIN = "7a000000-0000-4000-8000-000000000001"
_PERSON = "9e000000-0000-4000-8000-000000000001"
_ORG = "0a000000-0000-4000-8000-00000000000a"
_DEPT = "a1000000-0000-4000-8000-0000000000a1"
_SESSION = "51000000-0000-4000-8000-000000000001"
_KEY = "1e000000-0000-4000-8000-000000000001"
_PROFILE = {"admin_id": _ADMIN, "email": "alice@example.com", "forename": "Alice", "surname": "Smith",
            "title": None, "telephone": "+49 30 1234567", "street": None, "locality": "Berlin", "state": None,
            "postal_code": "10115", "country": "DE"}
_PERSON_FIELDS = {"person_id": _PERSON, "organization_id": _ORG, "department_id": _DEPT, "email": "bob@example.com",
                  "first_name": "Bob", "middle_name": None, "last_name": "Builder",
                  "alternative_emails": ["robert@example.com"], "validation_type": "standard"}
IDENTITY_EXAMPLES = {
    "admin_created.v1": {**_PROFILE, "username": "alice",
                         "roles": [{"role": "RAO", "cert_type": "ssl", "organization_ids": [_ORG],
                                    "department_ids": []}],
                         "privileges": ["allow_dcv"], "status": "pending_approval",
                         "credential_id": "c0000000-0000-4000-8000-000000000003", "must_change_password": True,
                         "created_by": "admin:ac000000-0000-4000-8000-000000000002"},
    "admin_updated.v1": {**_PROFILE, "changed": ["telephone", "locality"]},
    "admin_access_changed.v1": {"admin_id": _ADMIN, "privileges": [], "changed_by": "operator:cli",
                                "roles": [{"role": "DRAO", "cert_type": "client", "organization_ids": [],
                                           "department_ids": [_DEPT]}]},
    "admin_status_changed.v1": {"admin_id": _ADMIN, "status": "suspended", "previous_status": "active",
                                "changed_by": "admin:ac000000-0000-4000-8000-000000000002"},
    "admin_deleted.v1": {"admin_id": _ADMIN, "deleted_by": None},
    "admin_password_set.v1": {"admin_id": _ADMIN, "credential_id": "c1000000-0000-4000-8000-000000000004",
                              "must_change_password": False, "set_by": f"admin:{_ADMIN}"},
    "admin_logged_in.v1": {"admin_id": _ADMIN, "session_id": _SESSION, "token_sha256": "ab" * 32,
                           "expires_at": "2025-03-01T20:00:00+00:00", "client": "203.0.113.9"},
    "admin_login_failed.v1": {"admin_id": _ADMIN, "reason": "wrong_password", "consecutive_failures": 5,
                              "locked_until": "2025-03-01T12:15:00+00:00", "client": None},
    "unknown_user_login_failed.v1": {"username": "mallory", "client": "198.51.100.7"},
    "session_ended.v1": {"admin_id": _ADMIN, "session_id": _SESSION, "reason": "logout"},
    "api_key_created.v1": {"admin_id": _ADMIN, "key_id": _KEY, "name": "ci", "prefix": "cp_abcd",
                           "key_sha256": "cd" * 32, "created_by": "admin:ac000000-0000-4000-8000-000000000002"},
    "api_key_revoked.v1": {"admin_id": _ADMIN, "key_id": _KEY, "revoked_by": f"admin:{_ADMIN}"},
    "person_created.v1": {**_PERSON_FIELDS, "secret_credential_id": "5e000000-0000-4000-8000-000000000001"},
    "person_updated.v1": {**_PERSON_FIELDS, "changed": ["alternative_emails"]},
    "person_identity_changed.v1": {**_PERSON_FIELDS, "changed": ["email"],
                                   "previous": {"email": "old@example.com"}},
    "person_secret_changed.v1": {"person_id": _PERSON, "organization_id": _ORG, "secret_credential_id": None},
    "person_deleted.v1": {"person_id": _PERSON, "organization_id": _ORG},
}


def test_every_identity_event_type_has_an_example():
    assert set(IDENTITY_EXAMPLES) == set(identity.EVENTS)


@pytest.mark.parametrize("event_type", sorted(identity.EVENTS))
def test_every_identity_event_example_validates_and_round_trips(event_type):
    schema = identity.EVENTS[event_type]()
    example = IDENTITY_EXAMPLES[event_type]
    assert schema.validate(example) == {}
    assert schema.dump(schema.load(example)) == schema.dump(example)
    assert schema.validate({**example, "added_in_a_later_release": 1}) == {}


@pytest.mark.parametrize("event_type", sorted(identity.EVENTS))
def test_identity_events_carry_exactly_the_contract_fields(event_type):
    """The service's event dataclass and the public schema name the same fields, so what identity stores is
    what consumers read."""
    event = identity_events.decode(event_type, IDENTITY_EXAMPLES[event_type])
    assert event.encode().payload == IDENTITY_EXAMPLES[event_type]
    assert set(IDENTITY_EXAMPLES[event_type]) == set(identity.EVENTS[event_type]().fields)


@pytest.mark.parametrize("event_type,field,value", [
    ("admin_created.v1", "status", "suspended"),           # an admin is created active or pending, never suspended
    ("admin_status_changed.v1", "status", "deleted"),
    ("admin_logged_in.v1", "token_sha256", "ab" * 31),
    ("admin_login_failed.v1", "reason", "tired"),
    ("session_ended.v1", "reason", "bored"),
    ("session_ended.v1", "session_id", "not-a-uuid"),
    ("api_key_created.v1", "key_sha256", "short"),
    ("person_created.v1", "organization_id", "acme"),
])
def test_identity_events_refuse_wrong_values(event_type, field, value):
    errors = identity.EVENTS[event_type]().validate({**IDENTITY_EXAMPLES[event_type], field: value})
    assert field in errors


_ROLE_RAO = {"role": "RAO", "cert_type": "ssl", "organization_ids": [_ORG]}
IDENTITY_REQUESTS = [
    (identity.CreateAdminV1(), {"username": "alice", "email": "alice@example.com", "forename": "Alice",
                                "surname": "Smith", "roles": [_ROLE_RAO], "password": "a fine long passphrase"}),
    (identity.UPDATE_ADMIN, {"telephone": "+49 30 1234567"}),
    (identity.AdminAccessV1(), {"roles": [{"role": "MRAO"}], "privileges": ["allow_dcv"]}),
    (identity.LoginV1(), {"username": "alice", "password": "secret"}),
    (identity.ChangePasswordV1(), {"current_password": "old one", "new_password": "new one"}),
    (identity.SetPasswordV1(), {"password": "a fine long passphrase"}),
    (identity.CreateApiKeyV1(), {"name": "ci"}),
    (identity.PersonFieldsV1(), {"organization_id": _ORG, "email": "bob@example.com", "first_name": "Bob",
                                 "last_name": "Builder"}),
    (identity.UPDATE_PERSON, {"first_name": "Robert"}),
    (identity.RoleV1(), _ROLE_RAO),
]


@pytest.mark.parametrize("schema,body", IDENTITY_REQUESTS, ids=lambda v: type(v).__name__ if not isinstance(v, dict)
                         else "")
def test_identity_requests_reject_unknown_fields(schema, body):
    schema.load(body)
    with pytest.raises(ValidationError) as refused:
        schema.load({**body, "colour": "blue"})
    assert "colour" in refused.value.messages


def test_a_role_inside_a_request_rejects_unknown_fields_too():
    with pytest.raises(ValidationError) as refused:
        identity.AdminAccessV1().load({"roles": [{**_ROLE_RAO, "colour": "blue"}], "privileges": []})
    assert "colour" in str(refused.value.messages)


def test_a_person_update_cannot_move_the_person_to_another_organization():
    with pytest.raises(ValidationError) as refused:
        identity.UPDATE_PERSON.load({"organization_id": _ORG})
    assert "organization_id" in refused.value.messages


def test_privileges_are_from_the_known_list():
    with pytest.raises(ValidationError) as refused:
        identity.AdminAccessV1().load({"roles": [{"role": "MRAO"}], "privileges": ["god_mode"]})
    assert "privileges" in refused.value.messages


@pytest.mark.parametrize("role", [
    {"role": "MRAO"},
    {"role": "RAO", "cert_type": "client", "organization_ids": [_ORG, "0b000000-0000-4000-8000-00000000000b"]},
    {"role": "DRAO", "cert_type": "device", "department_ids": [_DEPT]},
])
def test_consistent_roles_load(role):
    identity.RoleV1().load(role)


@pytest.mark.parametrize("role", [
    {"role": "MRAO", "cert_type": "ssl"},
    {"role": "MRAO", "organization_ids": [_ORG]},
    {"role": "MRAO", "department_ids": [_DEPT]},
    {"role": "RAO", "cert_type": "ssl"},
    {"role": "RAO", "cert_type": "ssl", "organization_ids": []},
    {"role": "RAO", "organization_ids": [_ORG]},
    {"role": "RAO", "cert_type": "ssl", "organization_ids": [_ORG], "department_ids": [_DEPT]},
    {"role": "DRAO", "cert_type": "ssl", "organization_ids": [_ORG]},
    {"role": "DRAO", "cert_type": "ssl", "department_ids": [_DEPT], "organization_ids": [_ORG]},
    {"role": "DRAO", "cert_type": "ssl"},
    {"role": "DRAO", "department_ids": [_DEPT]},
    {"role": "RAO", "cert_type": "email", "organization_ids": [_ORG]},
    {"role": "SUPERUSER"},
    {"role": "RAO", "cert_type": "ssl", "organization_ids": ["acme"]},
], ids=["mrao_cert_type", "mrao_orgs", "mrao_depts", "rao_no_orgs", "rao_empty_orgs", "rao_no_type", "rao_depts",
        "drao_orgs_only", "drao_orgs_and_depts", "drao_no_depts", "drao_no_type", "unknown_type", "unknown_role",
        "org_not_uuid"])
def test_inconsistent_roles_are_rejected(role):
    with pytest.raises(ValidationError):
        identity.RoleV1().load(role)


# ---- domains ----------------------------------------------------------------------------------------------------

from contracts import domains  # noqa: E402
from services.domains import events as domains_events  # noqa: E402


def test_every_domains_event_type_has_an_example():
    assert set(domains.EXAMPLES) == set(domains.EVENTS)


@pytest.mark.parametrize("event_type", sorted(domains.EVENTS))
def test_every_domains_event_example_validates_round_trips_and_tolerates_new_fields(event_type):
    schema = domains.EVENTS[event_type]()
    example = domains.EXAMPLES[event_type]
    assert schema.validate(example) == {}
    assert schema.dump(schema.load(example)) == schema.dump(example)
    assert schema.validate({**example, "added_in_a_later_release": 1}) == {}


@pytest.mark.parametrize("event_type", sorted(domains.EVENTS))
def test_domains_events_carry_exactly_the_contract_fields(event_type):
    event = domains_events.decode(event_type, domains.EXAMPLES[event_type])
    assert event.encode().payload == domains.EXAMPLES[event_type]
    assert set(domains.EXAMPLES[event_type]) == set(domains.EVENTS[event_type]().fields)


def test_an_email_dcv_event_cannot_carry_the_code():
    """The mailed code is a secret: the public event has a field for its hash, none for the code."""
    assert "code" not in domains.DcvStartedV1().fields and "code_sha256" in domains.DcvStartedV1().fields


# ---- notify -----------------------------------------------------------------------------------------------------

from contracts import notify  # noqa: E402


@pytest.mark.parametrize("event_type", sorted(notify.EVENTS))
def test_every_notify_event_example_validates_and_round_trips(event_type):
    schema = notify.EVENTS[event_type]()
    example = notify.EXAMPLES[event_type]
    assert schema.validate(example) == {}
    assert schema.dump(schema.load(example)) == schema.dump(example)
    assert schema.validate({**example, "added_in_a_later_release": 1}) == {}


def test_no_notify_event_can_carry_a_mail_body():
    assert all(not {"text", "body"} & set(schema().fields) for schema in notify.EVENTS.values())


# ---- ca -----------------------------------------------------------------------------------------------------------

from contracts import ca  # noqa: E402
from services.ca import events as ca_events  # noqa: E402


@pytest.mark.parametrize("event_type", sorted(ca.EVENTS))
def test_every_ca_event_example_validates_and_matches_the_service_event(event_type):
    schema = ca.EVENTS[event_type]()
    example = ca.EXAMPLES[event_type]
    assert schema.validate(example) == {}
    assert schema.validate({**example, "added_in_a_later_release": 1}) == {}
    assert ca_events.decode(event_type, example).encode().payload == example


def test_no_ca_event_can_carry_a_private_key():
    assert all(not {"key", "private_key", "key_pem"} & set(schema().fields) for schema in ca.EVENTS.values())
