"""decide/evolve for organizations and departments: given events, when a command, then events or a refusal."""
import pytest

from contracts.errors import Conflict, InvalidRequest, NotFound
from services.orgs import domain
from services.orgs.commands import (CompleteValidation, CreateDepartment, CreateOrganization, DeleteDepartment,
                                    DeleteOrganization, RenameDepartment, StartValidation, UpdateOrganization)
from services.orgs.events import (DepartmentCreated, DepartmentDeleted, DepartmentRenamed, OrganizationCreated,
                                  OrganizationDeleted, OrganizationUpdated, OrganizationValidationChanged)

ORG = "6f1c2b1e-3c1a-4f3e-9a55-6d2f0d6f7f10"
DEPT = "1d7e3a52-92b4-4d0b-8f61-0f1f3f4b2a77"
DEPT2 = "2d7e3a52-92b4-4d0b-8f61-0f1f3f4b2a77"
FIELDS = {"name": "Acme", "address1": "1 Main St", "address2": None, "address3": None, "city": "Berlin",
          "state": "Berlin", "postal_code": "10115", "country": "DE", "ev_details": None}
NO_ESCROW = {"enabled": False, "recovery_by_mrao": False, "recovery_by_organization_admins": False}
ESCROW = {"enabled": True, "recovery_by_mrao": True, "recovery_by_organization_admins": False}


def created(escrow=NO_ESCROW, **changes):
    return OrganizationCreated(organization_id=ORG, key_escrow=escrow, **{**FIELDS, **changes})


def state(*events):
    return domain.fold(events)


def pending():
    return OrganizationValidationChanged(ORG, "pending", "not_validated")


def dept_created(department_id=DEPT, name="Engineering"):
    return DepartmentCreated(ORG, department_id, name, False)


# ---- create -------------------------------------------------------------------------------------------------

def test_create_organization_records_fields_and_escrow():
    events = domain.decide_create_organization(state(), CreateOrganization(ORG, FIELDS, ESCROW))
    assert events == [created(ESCROW)]
    after = state(*events)
    assert after.exists and after.fields["name"] == "Acme"
    assert after.validation_status is domain.ValidationStatus.NOT_VALIDATED


def test_repeating_the_same_create_is_a_no_op():
    assert domain.decide_create_organization(state(created()), CreateOrganization(ORG, FIELDS, NO_ESCROW)) == []


def test_create_with_an_existing_id_and_other_fields_is_refused():
    with pytest.raises(Conflict):
        domain.decide_create_organization(state(created()),
                                          CreateOrganization(ORG, {**FIELDS, "city": "Paris"}, NO_ESCROW))


def test_create_again_after_delete_is_refused():
    with pytest.raises(Conflict):
        domain.decide_create_organization(state(created(), OrganizationDeleted(ORG)),
                                          CreateOrganization(ORG, FIELDS, NO_ESCROW))


def test_key_escrow_without_any_recovery_is_refused():
    escrow = {"enabled": True, "recovery_by_mrao": False, "recovery_by_organization_admins": False}
    with pytest.raises(InvalidRequest) as refused:
        domain.decide_create_organization(state(), CreateOrganization(ORG, FIELDS, escrow))
    assert "key_escrow" in refused.value.details


def test_recovery_options_without_key_escrow_are_refused():
    escrow = {"enabled": False, "recovery_by_mrao": True, "recovery_by_organization_admins": False}
    with pytest.raises(InvalidRequest):
        domain.decide_create_organization(state(), CreateOrganization(ORG, FIELDS, escrow))


# ---- update -------------------------------------------------------------------------------------------------

def test_update_emits_the_whole_state_and_what_changed():
    events = domain.decide_update_organization(state(created()), UpdateOrganization(ORG, {"city": "Hamburg",
                                                                                          "state": "Berlin"}))
    assert events == [OrganizationUpdated(organization_id=ORG, changed=["city"], **{**FIELDS, "city": "Hamburg"})]
    assert state(created(), *events).fields["city"] == "Hamburg"


def test_update_without_a_change_is_a_no_op():
    assert domain.decide_update_organization(state(created()), UpdateOrganization(ORG, {"city": "Berlin"})) == []


def test_update_of_an_unknown_organization_is_not_found():
    with pytest.raises(NotFound):
        domain.decide_update_organization(state(), UpdateOrganization(ORG, {"city": "Hamburg"}))


def test_update_of_a_deleted_organization_is_not_found():
    with pytest.raises(NotFound):
        domain.decide_update_organization(state(created(), OrganizationDeleted(ORG)),
                                          UpdateOrganization(ORG, {"city": "Hamburg"}))


@pytest.mark.parametrize("field", ["address1", "address2", "address3", "city", "state", "postal_code", "country"])
def test_address_is_locked_while_validation_is_pending(field):
    with pytest.raises(Conflict) as refused:
        domain.decide_update_organization(state(created(), pending()), UpdateOrganization(ORG, {field: "XX"}))
    assert refused.value.code == "address_locked"
    assert refused.value.details["locked_fields"] == [field]


def test_name_can_change_while_validation_is_pending():
    events = domain.decide_update_organization(state(created(), pending()), UpdateOrganization(ORG, {"name": "B"}))
    assert events[0].changed == ["name"]


def test_address_unlocks_when_validation_completes():
    history = (created(), pending(), OrganizationValidationChanged(ORG, "validated", "pending"))
    assert domain.decide_update_organization(state(*history), UpdateOrganization(ORG, {"city": "Bonn"}))


# ---- delete -------------------------------------------------------------------------------------------------

def test_delete_an_organization_without_departments():
    assert domain.decide_delete_organization(state(created()), DeleteOrganization(ORG)) == [OrganizationDeleted(ORG)]


def test_delete_is_refused_while_departments_exist():
    with pytest.raises(Conflict) as refused:
        domain.decide_delete_organization(state(created(), dept_created()), DeleteOrganization(ORG))
    assert refused.value.code == "has_dependents"
    assert refused.value.details == {"departments": ["Engineering"]}


def test_delete_is_allowed_once_departments_are_gone():
    history = (created(), dept_created(), DepartmentDeleted(ORG, DEPT))
    assert domain.decide_delete_organization(state(*history), DeleteOrganization(ORG)) == [OrganizationDeleted(ORG)]


def test_delete_of_an_unknown_organization_is_not_found():
    with pytest.raises(NotFound):
        domain.decide_delete_organization(state(), DeleteOrganization(ORG))


# ---- validation ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("before", ["not_validated", "validated", "expired", "failed"])
def test_start_validation_makes_it_pending(before):
    history = [created()]
    if before != "not_validated":
        history += [pending(), OrganizationValidationChanged(ORG, before, "pending")]
    events = domain.decide_start_validation(state(*history), StartValidation(ORG))
    assert events == [OrganizationValidationChanged(ORG, "pending", before)]


def test_start_validation_when_pending_is_a_no_op():
    assert domain.decide_start_validation(state(created(), pending()), StartValidation(ORG)) == []


@pytest.mark.parametrize("outcome", ["validated", "failed"])
def test_complete_validation(outcome):
    events = domain.decide_complete_validation(state(created(), pending()),
                                               CompleteValidation(ORG, outcome, "checked the register"))
    assert events == [OrganizationValidationChanged(ORG, outcome, "pending", "checked the register")]
    assert state(created(), pending(), *events).validation_status == outcome


def test_complete_validation_that_was_not_started_is_refused():
    with pytest.raises(Conflict) as refused:
        domain.decide_complete_validation(state(created()), CompleteValidation(ORG, "validated"))
    assert refused.value.code == "validation_not_pending"


@pytest.mark.parametrize("outcome", ["pending", "expired", "nonsense"])
def test_complete_validation_with_another_outcome_is_refused(outcome):
    with pytest.raises(InvalidRequest):
        domain.decide_complete_validation(state(created(), pending()), CompleteValidation(ORG, outcome))


def test_validation_of_an_unknown_organization_is_not_found():
    with pytest.raises(NotFound):
        domain.decide_start_validation(state(), StartValidation(ORG))


# ---- departments --------------------------------------------------------------------------------------------

def test_create_department():
    events = domain.decide_create_department(state(created()), CreateDepartment(ORG, DEPT, "Engineering"))
    assert events == [dept_created()]
    assert state(created(), *events).departments[DEPT].name == "Engineering"


def test_department_under_an_unknown_organization_is_not_found():
    with pytest.raises(NotFound):
        domain.decide_create_department(state(), CreateDepartment(ORG, DEPT, "Engineering"))


def test_department_names_are_unique_within_the_organization_in_any_case():
    with pytest.raises(Conflict) as refused:
        domain.decide_create_department(state(created(), dept_created()),
                                        CreateDepartment(ORG, DEPT2, "ENGINEERING"))
    assert refused.value.code == "duplicate_name"


def test_repeating_the_same_department_create_is_a_no_op():
    assert domain.decide_create_department(state(created(), dept_created()),
                                           CreateDepartment(ORG, DEPT, "Engineering")) == []


def test_department_escrow_recovery_needs_organization_escrow():
    with pytest.raises(InvalidRequest):
        domain.decide_create_department(state(created()), CreateDepartment(ORG, DEPT, "Eng", True))
    assert domain.decide_create_department(state(created(ESCROW)), CreateDepartment(ORG, DEPT, "Eng", True))


def test_rename_department():
    events = domain.decide_rename_department(state(created(), dept_created()), RenameDepartment(ORG, DEPT, "R&D"))
    assert events == [DepartmentRenamed(ORG, DEPT, "R&D")]
    assert state(created(), dept_created(), *events).departments[DEPT].name == "R&D"


def test_rename_to_the_same_name_is_a_no_op():
    assert domain.decide_rename_department(state(created(), dept_created()),
                                           RenameDepartment(ORG, DEPT, "Engineering")) == []


def test_rename_to_a_sibling_name_is_refused():
    history = (created(), dept_created(), dept_created(DEPT2, "Sales"))
    with pytest.raises(Conflict):
        domain.decide_rename_department(state(*history), RenameDepartment(ORG, DEPT, "sales"))


def test_rename_or_delete_of_an_unknown_department_is_not_found():
    with pytest.raises(NotFound):
        domain.decide_rename_department(state(created()), RenameDepartment(ORG, DEPT, "R&D"))
    with pytest.raises(NotFound):
        domain.decide_delete_department(state(created()), DeleteDepartment(ORG, DEPT))


def test_delete_department_frees_its_name():
    history = (created(), dept_created(), DepartmentDeleted(ORG, DEPT))
    assert domain.decide_create_department(state(*history), CreateDepartment(ORG, DEPT2, "Engineering"))


def test_every_event_satisfies_its_public_contract():
    for event in (created(ESCROW), OrganizationUpdated(organization_id=ORG, changed=["city"], **FIELDS),
                  OrganizationDeleted(ORG), pending(), dept_created(), DepartmentRenamed(ORG, DEPT, "R&D"),
                  DepartmentDeleted(ORG, DEPT)):
        event.encode()  # raises if the payload breaks contracts/orgs.py
