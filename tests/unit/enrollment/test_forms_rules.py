"""Enrollment form accounts and device endpoints, their pure parts: the contract's field rules (access code, help
text, URI extension, fixed fields) and the aggregates' decisions (forms_domain), lockout included."""
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from marshmallow import ValidationError

from contracts import enrollment_forms as c
from contracts.errors import Conflict, Forbidden, InvalidRequest, NotFound, PolicyViolation, Unauthenticated
from services.enrollment import forms_domain as fd
from services.enrollment.forms_events import FormAccessFailed, FormAccountCreated, FormAccountUpdated

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=timezone.utc)
ORG = str(uuid.uuid4())
CLIENT, SSL, DEVICE = (str(uuid.uuid4()) for _ in range(3))
PROFILES = {CLIENT: {"cert_type": "client", "name": "Client"}, SSL: {"cert_type": "ssl", "name": "TLS"},
            DEVICE: {"cert_type": "device", "name": "Device"}}
ACCOUNT_ID = str(uuid.uuid4())


def account_body(**overrides) -> dict:
    body = {"name": "Sales", "cert_type": "client", "organization_id": ORG, "profile_ids": [CLIENT],
            "csr_generation": ["browser"], "access_code": "correct horse"}
    body.update(overrides)
    return body


def loaded(**overrides) -> dict:
    values = c.CreateFormAccountV1().load(account_body(**overrides))
    values["organization_id"] = str(values["organization_id"])
    values["profile_ids"] = [str(p) for p in values["profile_ids"]]
    return values


def created(**overrides) -> fd.FormAccount:
    events = fd.decide_create_account(fd.FormAccount(), ACCOUNT_ID, loaded(**overrides), PROFILES, "admin-1", NOW)
    return fd.fold_account(events)


def attempt(state, ok, now=NOW, max_failures=5, lockout=900.0):
    events = fd.decide_access(state, ok, now, max_failures, lockout)
    return fd.fold_account([*_history(state), *events]) if events else state, events


def _history(state):
    """The state as events (a created account with its failures) to fold again."""
    events = [FormAccountCreated(state.form_account_id, state.name, state.cert_type, state.organization_id,
                                 state.department_id, list(state.profile_ids), list(state.csr_generation),
                                 state.auto_approve, state.auto_renew, state.allow_empty_pkcs12_password,
                                 NOW.isoformat(), "admin-1")]
    if state.consecutive_failures:
        events.append(FormAccessFailed(state.form_account_id, "wrong_access_code", state.consecutive_failures,
                                       state.locked_until.isoformat() if state.locked_until else None))
    return events


# ---- the access code ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("code,reason", [
    ("short", "at least 8"),
    ("x" * 129, "at most 128"),
    ("x" * 10_000, "at most 128"),
    ("tab\there!!", "control characters"),
    ("line\nbreak!!", "control characters"),
    ("nul\x00char!!", "control characters"),
    ("del\x7fchar!!", "control characters"),
    ("c1\x85control", "control characters"),
])
def test_a_bad_access_code_is_refused_with_its_reason(code, reason):
    with pytest.raises(ValidationError) as refused:
        c.CreateFormAccountV1().load(account_body(access_code=code))
    assert reason in str(refused.value.messages["access_code"])
    assert code not in str(refused.value.messages)                  # never echoed


def test_a_printable_code_with_spaces_and_unicode_is_accepted_and_never_dumped():
    values = c.CreateFormAccountV1().load(account_body(access_code="Grüße aus Köln 42"))
    assert values["access_code"] == "Grüße aus Köln 42"
    assert "access_code" not in c.CreateFormAccountV1().dump(values)


def test_the_length_is_judged_before_anything_else():
    assert c.access_code_problem("\x00" * 10_000) == "at most 128 characters"


# ---- account fields -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("change,field", [
    ({"name": "x" * 129}, "name"),
    ({"cert_type": "smime"}, "cert_type"),
    ({"csr_generation": []}, "csr_generation"),
    ({"csr_generation": ["browser", "browser"]}, "csr_generation"),
    ({"csr_generation": ["server"]}, "csr_generation"),
    ({"profile_ids": []}, "profile_ids"),
    ({"profile_ids": [str(uuid.uuid4()) for _ in range(21)]}, "profile_ids"),
    ({"access_code": None}, "access_code"),
])
def test_account_fields_are_checked(change, field):
    with pytest.raises(ValidationError) as refused:
        c.CreateFormAccountV1().load(account_body(**change))
    assert field in refused.value.messages


@pytest.mark.parametrize("field", ["cert_type", "organization_id", "department_id"])
def test_type_organization_and_department_are_fixed_once_created(field):
    with pytest.raises(ValidationError) as refused:
        c.UpdateFormAccountV1().load({field: ORG if field != "cert_type" else "ssl"})
    assert "fixed once" in str(refused.value.messages[field])


def test_an_update_is_partial():
    assert c.UpdateFormAccountV1().load({"name": "New name"}) == {"name": "New name"}


def test_an_empty_pkcs12_password_is_for_client_accounts_only():
    assert created(allow_empty_pkcs12_password=True).allow_empty_pkcs12_password
    with pytest.raises(InvalidRequest) as refused:
        created(cert_type="ssl", profile_ids=[SSL], allow_empty_pkcs12_password=True)
    assert refused.value.code == "pkcs12_option_not_client"
    with pytest.raises(InvalidRequest):
        fd.decide_update_account(created(cert_type="device", profile_ids=[DEVICE]),
                                 {"allow_empty_pkcs12_password": True}, {}, False, "admin-1", NOW)


def test_profiles_must_exist_and_be_of_the_accounts_type():
    with pytest.raises(PolicyViolation) as other:
        created(profile_ids=[CLIENT, SSL])
    assert other.value.code == "profile_not_of_type" and SSL in other.value.details["profile_ids"]
    unknown = str(uuid.uuid4())
    with pytest.raises(PolicyViolation) as missing:
        fd.decide_create_account(fd.FormAccount(), ACCOUNT_ID, loaded(profile_ids=[unknown]), {unknown: None},
                                 "admin-1", NOW)
    assert missing.value.code == "profile_unknown"


def test_an_account_is_made_once_and_events_hold_no_code():
    events = fd.decide_create_account(fd.FormAccount(), ACCOUNT_ID, loaded(), PROFILES, "admin-1", NOW)
    assert "correct horse" not in str([e.encode().payload for e in events])
    with pytest.raises(Conflict):
        fd.decide_create_account(fd.fold_account(events), ACCOUNT_ID, loaded(), PROFILES, "admin-1", NOW)


def test_an_update_that_changes_nothing_records_nothing_and_a_new_code_is_recorded_as_a_time():
    state = created()
    assert fd.decide_update_account(state, {"name": "Sales"}, {}, False, "admin-1", NOW) == []
    [changed] = fd.decide_update_account(state, {}, {}, True, "admin-1", NOW)
    assert isinstance(changed, FormAccountUpdated) and changed.access_code_changed_at == NOW.isoformat()


# ---- the lockout --------------------------------------------------------------------------------------------

def test_five_wrong_codes_lock_the_account_and_the_right_one_is_refused_until_it_passes():
    state = created()
    for failures in range(1, 5):
        state, [failed] = attempt(state, False)
        assert failed.consecutive_failures == failures and failed.locked_until is None
    state, [failed] = attempt(state, False)
    assert failed.consecutive_failures == 5
    assert failed.locked_until == (NOW + timedelta(seconds=900)).isoformat()
    for ok in (True, False):
        with pytest.raises(Unauthenticated) as refused:
            attempt(state, ok, now=NOW + timedelta(seconds=899))
        assert refused.value.code == "account_locked"
    later = NOW + timedelta(seconds=901)
    state, events = attempt(state, True, now=later)
    assert [e.event_type for e in events] == ["form_access_reset.v1"]
    assert state.consecutive_failures == 0 and state.locked_until is None


def test_a_success_resets_the_count_and_a_success_without_failures_records_nothing():
    state, _ = attempt(created(), False)
    state, [reset] = attempt(state, True)
    assert reset.event_type == "form_access_reset.v1" and state.consecutive_failures == 0
    assert attempt(state, True)[1] == []


def test_a_disabled_or_deleted_account_admits_nobody():
    state = created()
    [disabled] = fd.decide_update_account(state, {"status": "disabled"}, {}, False, "admin-1", NOW)
    with pytest.raises(Forbidden) as refused:
        fd.decide_access(fd.evolve_account(state, disabled), True, NOW, 5, 900)
    assert refused.value.code == "form_account_disabled"
    [deleted] = fd.decide_delete_account(state, "admin-1")
    with pytest.raises(NotFound):
        fd.decide_access(fd.evolve_account(state, deleted), True, NOW, 5, 900)


def test_a_new_code_ends_a_lockout():
    state = created()
    for _ in range(5):
        state, _ = attempt(state, False)
    assert state.locked(NOW)
    [changed] = fd.decide_update_account(state, {}, {}, True, "admin-1", NOW)
    assert not fd.evolve_account(state, changed).locked(NOW)


def test_the_wrong_code_answer_says_how_many_and_when_locked():
    refusal = fd.wrong_code_refusal({"consecutive_failures": 5, "locked_until": NOW.isoformat()})
    assert refusal.http_status == 403 and refusal.code == "access_code_wrong"
    assert refusal.details["locked_until"] == NOW.isoformat() and refusal.details["consecutive_failures"] == 5


def test_the_email_domain_is_its_last_part_lower_case():
    assert fd.email_domain("Pat.Person@Mail.Example.COM") == "mail.example.com"


# ---- device endpoints ---------------------------------------------------------------------------------------

def endpoint_body(**overrides) -> dict:
    body = {"name": "Printers", "organization_id": ORG, "profile_ids": [DEVICE]}
    body.update(overrides)
    return body


@pytest.mark.parametrize("extension", ["ab", "x" * 65, "Upper", "under_score", "sp ace", "dot.ted", "ü-nicode"])
def test_a_uri_extension_is_3_to_64_of_lower_case_digits_and_dashes(extension):
    with pytest.raises(ValidationError) as refused:
        c.CreateDeviceEndpointV1().load(endpoint_body(uri_extension=extension))
    assert "uri_extension" in refused.value.messages


def test_a_given_extension_and_generate_together_are_refused():
    with pytest.raises(ValidationError):
        c.CreateDeviceEndpointV1().load(endpoint_body(uri_extension="printers", generate=True))
    assert c.CreateDeviceEndpointV1().load(endpoint_body(uri_extension="printers-2"))["type"] == "web_form"


def test_help_text_is_at_most_2048_characters_and_may_have_line_breaks():
    assert c.CreateDeviceEndpointV1().load(endpoint_body(help_text="a\nb\r\n\t" + "x" * 2042))["help_text"]
    for text in ("x" * 2049, "bell\x07"):
        with pytest.raises(ValidationError) as refused:
            c.CreateDeviceEndpointV1().load(endpoint_body(help_text=text))
        assert "help_text" in refused.value.messages
    with pytest.raises(ValidationError):
        c.CreateDeviceEndpointV1().load(endpoint_body(help_link_text="x" * 129))


def test_an_endpoint_is_a_web_form_scep_or_est_and_the_fixed_fields_stay_fixed():
    assert c.ENDPOINT_TYPES == ("web_form", "scep", "est")
    for kind in c.ENDPOINT_TYPES:
        assert c.CreateDeviceEndpointV1().load(endpoint_body(type=kind))["type"] == kind
    for kind in ("cmp", "SCEP", "", None):
        with pytest.raises(ValidationError) as refused:
            c.CreateDeviceEndpointV1().load(endpoint_body(type=kind))
        assert "type" in refused.value.messages
    for field in ("uri_extension", "organization_id", "type"):
        with pytest.raises(ValidationError) as refused:
            c.UpdateDeviceEndpointV1().load({field: "x"})
        assert "fixed once" in str(refused.value.messages[field])


def test_an_endpoint_takes_device_profiles_only():
    values = {**c.CreateDeviceEndpointV1().load(endpoint_body()), "organization_id": ORG, "profile_ids": [DEVICE]}
    [made] = fd.decide_create_endpoint(fd.DeviceEndpoint(), "e-1", values, "printers", PROFILES, "admin-1")
    assert made.uri_extension == "printers" and made.profile_ids == [DEVICE]
    with pytest.raises(PolicyViolation) as refused:
        fd.decide_create_endpoint(fd.DeviceEndpoint(), "e-1", {**values, "profile_ids": [SSL]}, "printers",
                                  PROFILES, "admin-1")
    assert refused.value.code == "profile_not_of_type"
    state = fd.fold_endpoint([made])
    assert fd.decide_update_endpoint(state, {"name": "Printers"}, {}, "admin-1") == []
    [renamed] = fd.decide_update_endpoint(state, {"name": "Scanners"}, {}, "admin-1")
    assert fd.evolve_endpoint(state, renamed).name == "Scanners"
