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
