"""decide/evolve for administrators and persons: given events, when a command, then events or a refusal."""
from datetime import datetime, timedelta, timezone

import pytest

from contracts.access import DRAO, MRAO, RAO, Principal, Role
from contracts.errors import Conflict, Forbidden, InvalidRequest, NotFound
from services.identity import domain
from services.identity.commands import (ChangeAccess, ChangeStatus, CreateAdmin, CreateApiKey, CreatePerson,
                                        DeleteAdmin, DeletePerson, Login, Logout, RevokeApiKey, SetPassword,
                                        UpdateAdmin, UpdatePerson)
from services.identity.events import (AdminAccessChanged, AdminCreated, AdminDeleted, AdminLoggedIn,
                                      AdminLoginFailed, AdminPasswordSet, AdminStatusChanged, AdminUpdated,
                                      ApiKeyCreated, ApiKeyRevoked, PersonCreated, PersonDeleted,
                                      PersonIdentityChanged, PersonSecretChanged, PersonUpdated, SessionEnded)

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)

ORG_A = "0a000000-0000-4000-8000-00000000000a"
ORG_B = "0b000000-0000-4000-8000-00000000000b"
DEPT_A1 = "a1000000-0000-4000-8000-0000000000a1"
DEPT_A2 = "a2000000-0000-4000-8000-0000000000a2"
DEPT_B1 = "b1000000-0000-4000-8000-0000000000b1"
UNKNOWN = "00000000-0000-4000-8000-000000000000"
DEPT_ORG = {DEPT_A1: ORG_A, DEPT_A2: ORG_A, DEPT_B1: ORG_B}
ORGS = {ORG_A, ORG_B}

TARGET = "7a000000-0000-4000-8000-000000000001"      # the admin being created / changed
ACTOR = "ac000000-0000-4000-8000-000000000002"       # the admin acting
CRED = "c0000000-0000-4000-8000-000000000003"
SESSION_1 = "51000000-0000-4000-8000-000000000001"
SESSION_2 = "52000000-0000-4000-8000-000000000002"
SESSION_3 = "53000000-0000-4000-8000-000000000003"
KEY_1 = "1e000000-0000-4000-8000-000000000001"
KEY_2 = "2e000000-0000-4000-8000-000000000002"
TOKEN_SHA = "ab" * 32
PROFILE = {"email": "alice@example.com", "forename": "Alice", "surname": "Smith", "title": None, "telephone": None,
           "street": None, "locality": None, "state": None, "postal_code": None, "country": None}


def rao(cert_type, *organization_ids):
    return Role(RAO, cert_type, frozenset(organization_ids))


def drao(cert_type, *department_ids):
    return Role(DRAO, cert_type, department_ids=frozenset(department_ids))


MRAO_ROLE = Role(MRAO)


def actor(*roles, privileges=(), admin_id=ACTOR):
    return Principal(admin_id, "actor", tuple(roles), frozenset(privileges))


OPERATOR = None
ROOT = actor(MRAO_ROLE)
ROOT_OTHER = actor(MRAO_ROLE, admin_id="ad000000-0000-4000-8000-0000000000dd")


def admin_state(*events):
    return domain.fold(events, domain.Admin())


def created(roles=(rao("ssl", ORG_A),), privileges=(), status="active", credential_id=CRED,
            created_by="operator:cli", admin_id=TARGET):
    return AdminCreated(admin_id=admin_id, username="alice", roles=[r.to_dict() for r in roles],
                        privileges=sorted(privileges), status=status, credential_id=credential_id,
                        must_change_password=False, created_by=created_by, **PROFILE)


def encoded(events):
    """The events, after checking each still fits its public contract (what the store does before appending)."""
    for event in events:
        event.encode()
    return events


# ---- create -------------------------------------------------------------------------------------------------

def create(by, roles, privileges=(), credential_id=CRED, state=None):
    cmd = CreateAdmin(TARGET, "alice", PROFILE, tuple(roles), frozenset(privileges), credential_id, by)
    return domain.decide_create_admin(state or admin_state(), cmd, ORGS.__contains__, DEPT_ORG.get)


def test_an_mrao_creates_an_active_admin_who_must_change_the_password_set_for_them():
    events = encoded(create(ROOT, [rao("ssl", ORG_A)], ["allow_dcv"]))
    assert events == [AdminCreated(admin_id=TARGET, username="alice", roles=[rao("ssl", ORG_A).to_dict()],
                                   privileges=["allow_dcv"], status="active", credential_id=CRED,
                                   must_change_password=True, created_by=f"admin:{ACTOR}", **PROFILE)]
    after = admin_state(*events)
    assert after.exists and after.status is domain.AdminStatus.ACTIVE and after.must_change_password
    assert after.roles == (rao("ssl", ORG_A),) and after.privileges == {"allow_dcv"}


def test_an_rao_creates_a_drao_of_its_organization_that_waits_for_mrao_approval():
    events = encoded(create(actor(rao("ssl", ORG_A)), [drao("ssl", DEPT_A1)]))
    assert [e.status for e in events] == ["pending_approval"]
    assert admin_state(*events).status is domain.AdminStatus.PENDING_APPROVAL


def test_the_operator_on_the_command_line_creates_an_active_mrao():
    events = encoded(create(OPERATOR, [MRAO_ROLE]))
    assert (events[0].status, events[0].created_by, events[0].must_change_password) == (
        "active", "operator:cli", True)


def test_an_api_only_admin_has_no_password_and_nothing_to_change():
    events = encoded(create(ROOT, [rao("client", ORG_A)], ["ws_api_only"], credential_id=None))
    assert events[0].credential_id is None and events[0].must_change_password is False
    assert admin_state(*events).api_only


def test_creating_an_admin_that_exists_is_a_conflict():
    with pytest.raises(Conflict):
        create(ROOT, [rao("ssl", ORG_A)], state=admin_state(created()))


@pytest.mark.parametrize("role,field", [(rao("ssl", ORG_A, UNKNOWN), "organization_ids"),
                                        (drao("ssl", UNKNOWN), "department_ids")])
def test_a_role_naming_an_unknown_organization_or_department_is_invalid(role, field):
    with pytest.raises(InvalidRequest) as refused:
        create(ROOT, [role])
    assert refused.value.details[field] == [UNKNOWN]


def test_an_api_only_admin_with_a_password_is_refused():
    with pytest.raises(InvalidRequest) as refused:
        create(ROOT, [rao("client", ORG_A)], ["ws_api_only"], credential_id=CRED)
    assert "password" in refused.value.details


def test_a_console_admin_without_a_password_is_refused():
    with pytest.raises(InvalidRequest) as refused:
        create(ROOT, [rao("client", ORG_A)], credential_id=None)
    assert refused.value.details == {"password": ["required"]}


@pytest.mark.parametrize("by,role", [
    (actor(rao("ssl", ORG_A), privileges=["create_peer_admins"]), MRAO_ROLE),
    (actor(drao("ssl", DEPT_A1), privileges=["create_peer_admins"]), rao("ssl", ORG_A)),
], ids=["rao_creates_mrao", "drao_creates_rao"])
def test_nobody_creates_an_admin_above_themselves(by, role):
    with pytest.raises(Forbidden) as refused:
        create(by, [role])
    assert refused.value.details["missing"]


@pytest.mark.parametrize("by,role", [
    (actor(rao("ssl", ORG_A)), drao("ssl", DEPT_B1)),                       # another organization's department
    (actor(rao("ssl", ORG_A)), drao("client", DEPT_A1)),                    # another certificate type
    (actor(rao("ssl", ORG_A), privileges=["create_peer_admins"]), rao("ssl", ORG_A, ORG_B)),
    (actor(drao("ssl", DEPT_A1), privileges=["create_peer_admins"]), drao("ssl", DEPT_A2)),
], ids=["other_org", "other_type", "wider_rao", "other_department"])
def test_nobody_creates_an_admin_outside_their_own_scope(by, role):
    with pytest.raises(Forbidden) as refused:
        create(by, [role])
    assert refused.value.details["missing"].startswith("scope")


@pytest.mark.parametrize("by,role", [(actor(rao("ssl", ORG_A)), rao("ssl", ORG_A)),
                                     (actor(drao("ssl", DEPT_A1)), drao("ssl", DEPT_A1))], ids=["rao", "drao"])
def test_a_peer_admin_needs_the_create_peer_admins_privilege(by, role):
    with pytest.raises(Forbidden) as refused:
        create(by, [role])
    assert refused.value.details == {"missing": "privilege create_peer_admins"}
    allowed = Principal(by.admin_id, by.username, by.roles, frozenset({"create_peer_admins"}))
    assert [e.status for e in create(allowed, [role])] == ["pending_approval"]


def test_a_peer_drao_needs_the_privilege_even_when_the_actor_is_rao_of_something_else():
    # The actor is only a DRAO for client certificates of A1; being an RAO for SSL of B must not make it the
    # superior of another client DRAO of A1 ("peer create needs the matching privilege").
    by = actor(rao("ssl", ORG_B), drao("client", DEPT_A1))
    with pytest.raises(Forbidden):
        create(by, [drao("client", DEPT_A1)])


def test_nobody_grants_a_privilege_they_do_not_hold():
    by = actor(rao("ssl", ORG_A), privileges=["allow_dcv"])
    with pytest.raises(Forbidden) as refused:
        create(by, [drao("ssl", DEPT_A1)], ["allow_dcv", "ssl_auto_approve"])
    assert refused.value.details == {"missing": ["ssl_auto_approve"]}
    assert create(by, [drao("ssl", DEPT_A1)], ["allow_dcv"])[0].privileges == ["allow_dcv"]


def test_an_mrao_grants_any_privilege():
    assert create(ROOT, [rao("ssl", ORG_A)], ["ssl_auto_approve", "download_keys"])[0].privileges == [
        "download_keys", "ssl_auto_approve"]


# ---- profile ------------------------------------------------------------------------------------------------

def test_an_admin_edits_their_own_profile_and_the_event_names_what_changed():
    me = actor(drao("ssl", DEPT_A1), admin_id=TARGET)
    events = encoded(domain.decide_update_admin(admin_state(created()), UpdateAdmin(
        TARGET, {"surname": "Jones", "forename": "Alice"}, me), DEPT_ORG.get))
    assert events == [AdminUpdated(admin_id=TARGET, changed=["surname"], **{**PROFILE, "surname": "Jones"})]
    assert admin_state(created(), *events).profile["surname"] == "Jones"


def test_editing_a_peer_profile_needs_the_edit_privilege():
    with pytest.raises(Forbidden):
        domain.decide_update_admin(admin_state(created()), UpdateAdmin(
            TARGET, {"surname": "Jones"}, actor(rao("ssl", ORG_A))), DEPT_ORG.get)


# ---- change access ------------------------------------------------------------------------------------------

def change_access(by, roles, privileges=(), state=None, others=1, target=TARGET):
    cmd = ChangeAccess(target, tuple(roles), frozenset(privileges), by, others)
    return domain.decide_change_access(state or admin_state(created()), cmd, ORGS.__contains__, DEPT_ORG.get)


def test_an_mrao_changes_roles_and_privileges():
    events = encoded(change_access(ROOT, [rao("client", ORG_A, ORG_B)], ["allow_dcv"]))
    assert events == [AdminAccessChanged(TARGET, [rao("client", ORG_A, ORG_B).to_dict()], ["allow_dcv"],
                                         f"admin:{ACTOR}")]
    after = admin_state(created(), *events)
    assert after.roles == (rao("client", ORG_A, ORG_B),) and after.privileges == {"allow_dcv"}


def test_changing_access_to_what_it_is_is_a_no_op():
    assert change_access(ROOT, [rao("ssl", ORG_A)]) == []


def test_a_non_mrao_cannot_change_their_own_access():
    me = actor(rao("ssl", ORG_A), privileges=["edit_peer_admins"], admin_id=TARGET)
    with pytest.raises(Forbidden):
        change_access(me, [rao("ssl", ORG_A)], ["edit_peer_admins", "allow_dcv"])
    with pytest.raises(Forbidden):
        change_access(me, [drao("ssl", DEPT_A1)])      # not even to narrow it


def test_the_last_active_mrao_cannot_be_demoted():
    me = actor(MRAO_ROLE, admin_id=TARGET)
    state = admin_state(created(roles=[MRAO_ROLE]))
    with pytest.raises(Conflict) as refused:
        change_access(me, [rao("ssl", ORG_A)], state=state, others=0)
    assert refused.value.code == "last_mrao"
    with pytest.raises(Conflict):
        change_access(ROOT, [rao("ssl", ORG_A)], state=state, others=0)
    assert change_access(me, [rao("ssl", ORG_A)], state=state, others=1)


def test_an_rao_narrows_a_drao_inside_its_organization():
    by = actor(rao("ssl", ORG_A))
    state = admin_state(created(roles=[drao("ssl", DEPT_A1, DEPT_A2)]))
    events = change_access(by, [drao("ssl", DEPT_A2)], state=state)
    assert events[0].roles == [drao("ssl", DEPT_A2).to_dict()]


@pytest.mark.parametrize("roles", [[drao("ssl", DEPT_A1, DEPT_B1)], [drao("ssl", DEPT_A1), drao("client", DEPT_A1)],
                                   [drao("ssl", DEPT_A1), MRAO_ROLE]],
                         ids=["other_org", "other_type", "mrao"])
def test_an_rao_cannot_widen_an_admin_beyond_its_own_scope(roles):
    by = actor(rao("ssl", ORG_A), privileges=["edit_peer_admins"])
    with pytest.raises(Forbidden):
        change_access(by, roles, state=admin_state(created(roles=[drao("ssl", DEPT_A1)])))


def test_a_role_an_rao_grants_waits_for_an_mrao_like_an_admin_it_creates():
    by = actor(rao("ssl", ORG_A), privileges=["edit_peer_admins"])
    state = admin_state(created(roles=[drao("ssl", DEPT_A1)]),
                        AdminLoggedIn(TARGET, SESSION_1, TOKEN_SHA, "2026-11-28T00:00:00+00:00", None))
    events = encoded(change_access(by, [rao("ssl", ORG_A)], state=state))
    assert [type(e).__name__ for e in events] == ["AdminAccessChanged", "AdminStatusChanged", "SessionEnded"]
    assert events[1].status == "pending_approval"
    after = admin_state(created(roles=[drao("ssl", DEPT_A1)]), *events)
    with pytest.raises(Forbidden):   # the RAO that asked for it cannot approve it (nor could any non-MRAO)
        change_status(actor(MRAO_ROLE, admin_id=ACTOR), "approve", after)
    assert change_status(ROOT_OTHER, "approve", after)[0].status == "active"


def test_narrowing_by_an_rao_needs_no_approval():
    by = actor(rao("ssl", ORG_A))
    events = change_access(by, [drao("ssl", DEPT_A2)], state=admin_state(created(roles=[drao("ssl", DEPT_A1,
                                                                                             DEPT_A2)])))
    assert [type(e).__name__ for e in events] == ["AdminAccessChanged"]


def test_an_rao_cannot_lift_a_drao_to_its_own_level_without_the_edit_privilege():
    by = actor(rao("ssl", ORG_A))
    with pytest.raises(Forbidden) as refused:
        change_access(by, [rao("ssl", ORG_A)], state=admin_state(created(roles=[drao("ssl", DEPT_A1)])))
    assert refused.value.details == {"missing": "privilege edit_peer_admins"}


def test_an_admin_outside_the_actor_scope_cannot_be_changed():
    by = actor(rao("ssl", ORG_A), privileges=["edit_peer_admins"])
    with pytest.raises(Forbidden):
        change_access(by, [drao("ssl", DEPT_A1)], state=admin_state(created(roles=[drao("ssl", DEPT_B1)])))


def test_change_access_grants_only_privileges_the_actor_holds_but_keeps_existing_ones():
    by = actor(rao("ssl", ORG_A), privileges=["allow_dcv"])
    state = admin_state(created(roles=[drao("ssl", DEPT_A1)], privileges=["ssl_auto_approve"]))
    with pytest.raises(Forbidden) as refused:
        change_access(by, [drao("ssl", DEPT_A1)], ["ssl_auto_approve", "download_keys"], state=state)
    assert refused.value.details == {"missing": ["download_keys"]}
    events = change_access(by, [drao("ssl", DEPT_A1)], ["ssl_auto_approve", "allow_dcv"], state=state)
    assert events[0].privileges == ["allow_dcv", "ssl_auto_approve"]


def test_a_role_naming_an_unknown_department_is_invalid_in_a_change_too():
    with pytest.raises(InvalidRequest):
        change_access(ROOT, [drao("ssl", UNKNOWN)])


# ---- status ---------------------------------------------------------------------------------------------------

def change_status(by, action, state, others=1):
    return domain.decide_change_status(state, ChangeStatus(TARGET, action, by, others), DEPT_ORG.get)


RAO_CREATOR = "ac000000-0000-4000-8000-0000000000cc"


def pending_drao():
    return admin_state(created(roles=[drao("ssl", DEPT_A1)], status="pending_approval",
                               created_by=f"admin:{RAO_CREATOR}"))


def test_an_mrao_approves_a_pending_admin():
    events = encoded(change_status(ROOT, "approve", pending_drao()))
    assert events == [AdminStatusChanged(TARGET, "active", "pending_approval", f"admin:{ACTOR}")]
    assert change_status(ROOT, "approve", admin_state(created(), *events)) == []


def test_only_an_mrao_approves():
    with pytest.raises(Forbidden) as refused:
        change_status(actor(rao("ssl", ORG_A), privileges=["edit_peer_admins"]), "approve", pending_drao())
    assert refused.value.details == {"missing": "role MRAO"}


def test_the_creator_never_approves_its_own_admin_even_after_becoming_mrao():
    creator_now_mrao = actor(MRAO_ROLE, admin_id=RAO_CREATOR)
    with pytest.raises(Forbidden):
        change_status(creator_now_mrao, "approve", pending_drao())


def test_suspend_and_reactivate():
    by = actor(rao("ssl", ORG_A))
    start = admin_state(created(roles=[drao("ssl", DEPT_A1)]))
    suspended = encoded(change_status(by, "suspend", start))
    assert suspended == [AdminStatusChanged(TARGET, "suspended", "active", f"admin:{ACTOR}")]
    assert change_status(by, "suspend", admin_state(created(roles=[drao("ssl", DEPT_A1)]), *suspended)) == []
    back = change_status(by, "reactivate", admin_state(created(roles=[drao("ssl", DEPT_A1)]), *suspended))
    assert back == [AdminStatusChanged(TARGET, "active", "suspended", f"admin:{ACTOR}")]


def test_suspension_ends_every_open_session_and_reactivation_opens_none():
    state = with_sessions(SESSION_1, SESSION_2, roles=[drao("ssl", DEPT_A1)])
    events = encoded(change_status(actor(rao("ssl", ORG_A)), "suspend", state))
    assert events[1:] == [SessionEnded(TARGET, SESSION_1, "suspended"), SessionEnded(TARGET, SESSION_2, "suspended")]
    suspended = domain.fold(events, state)
    assert suspended.sessions == {}
    assert change_status(actor(rao("ssl", ORG_A)), "reactivate", suspended) == [
        AdminStatusChanged(TARGET, "active", "suspended", f"admin:{ACTOR}")]


def test_nobody_suspends_themselves():
    with pytest.raises(Forbidden):
        change_status(actor(MRAO_ROLE, admin_id=TARGET), "suspend", admin_state(created(roles=[MRAO_ROLE])))


def test_the_last_active_mrao_cannot_be_suspended():
    state = admin_state(created(roles=[MRAO_ROLE]))
    with pytest.raises(Conflict) as refused:
        change_status(ROOT, "suspend", state, others=0)
    assert refused.value.code == "last_mrao"
    assert change_status(ROOT, "suspend", state, others=1)


def test_a_pending_admin_is_approved_not_suspended():
    with pytest.raises(Conflict) as refused:
        change_status(ROOT, "suspend", pending_drao())
    assert refused.value.code == "pending_approval"


def test_suspending_an_admin_outside_the_actor_scope_is_forbidden():
    with pytest.raises(Forbidden):
        change_status(actor(rao("ssl", ORG_A)), "suspend", admin_state(created(roles=[drao("ssl", DEPT_B1)])))


def test_an_unknown_status_action_is_invalid():
    with pytest.raises(InvalidRequest):
        change_status(ROOT, "promote", admin_state(created()))


# ---- delete ---------------------------------------------------------------------------------------------------

def test_an_mrao_deletes_an_admin_which_then_no_longer_exists():
    state = admin_state(created())
    events = encoded(domain.decide_delete_admin(state, DeleteAdmin(TARGET, ROOT, 1), DEPT_ORG.get))
    assert events == [AdminDeleted(TARGET, f"admin:{ACTOR}")]
    with pytest.raises(NotFound):
        domain.decide_delete_admin(admin_state(created(), *events), DeleteAdmin(TARGET, ROOT, 1), DEPT_ORG.get)


def test_the_last_active_mrao_cannot_be_deleted():
    state = admin_state(created(roles=[MRAO_ROLE]))
    for by in (ROOT, actor(MRAO_ROLE, admin_id=TARGET)):
        with pytest.raises(Conflict) as refused:
            domain.decide_delete_admin(state, DeleteAdmin(TARGET, by, 0), DEPT_ORG.get)
        assert refused.value.code == "last_mrao"


def test_deleting_a_peer_needs_the_delete_privilege():
    state = admin_state(created(roles=[drao("ssl", DEPT_A1)]))
    with pytest.raises(Forbidden) as refused:
        domain.decide_delete_admin(state, DeleteAdmin(TARGET, actor(drao("ssl", DEPT_A1)), 1), DEPT_ORG.get)
    assert refused.value.details == {"missing": "privilege delete_peer_admins"}
    allowed = actor(drao("ssl", DEPT_A1), privileges=["delete_peer_admins"])
    assert domain.decide_delete_admin(state, DeleteAdmin(TARGET, allowed, 1), DEPT_ORG.get)


# ---- passwords ------------------------------------------------------------------------------------------------

NEW_CRED = "c1000000-0000-4000-8000-000000000004"


def with_sessions(*session_ids, roles=(rao("ssl", ORG_A),)):
    return admin_state(created(roles=roles), *[
        AdminLoggedIn(TARGET, sid, TOKEN_SHA, (NOW + timedelta(hours=1)).isoformat(), None) for sid in session_ids])


def test_changing_ones_own_password_ends_the_other_sessions_and_keeps_this_one():
    me = actor(rao("ssl", ORG_A), admin_id=TARGET)
    state = with_sessions(SESSION_1, SESSION_2, SESSION_3)
    events = encoded(domain.decide_set_password(state, SetPassword(TARGET, NEW_CRED, me, by_self=True,
                                                                   keep_session_id=SESSION_2), DEPT_ORG.get))
    assert events == [AdminPasswordSet(TARGET, NEW_CRED, must_change_password=False, set_by=f"admin:{TARGET}"),
                      SessionEnded(TARGET, SESSION_1, "password_changed"),
                      SessionEnded(TARGET, SESSION_3, "password_changed")]
    after = domain.fold(events, state)
    assert set(after.sessions) == {SESSION_2} and after.credential_id == NEW_CRED


def test_a_password_set_by_another_admin_must_be_changed_and_ends_every_session():
    state = with_sessions(SESSION_1, SESSION_2)
    events = domain.decide_set_password(state, SetPassword(TARGET, NEW_CRED, ROOT, by_self=False), DEPT_ORG.get)
    assert events[0] == AdminPasswordSet(TARGET, NEW_CRED, must_change_password=True, set_by=f"admin:{ACTOR}")
    assert [e.session_id for e in events[1:]] == [SESSION_1, SESSION_2]
    assert domain.fold(events, state).must_change_password


def test_setting_the_password_of_an_admin_outside_ones_scope_is_forbidden():
    with pytest.raises(Forbidden):
        domain.decide_set_password(with_sessions(roles=[drao("ssl", DEPT_B1)]),
                                   SetPassword(TARGET, NEW_CRED, actor(rao("ssl", ORG_A)), by_self=False),
                                   DEPT_ORG.get)


def test_an_api_only_admin_has_no_password_to_set():
    state = admin_state(created(privileges=["ws_api_only"], credential_id=None))
    with pytest.raises(Conflict) as refused:
        domain.decide_set_password(state, SetPassword(TARGET, NEW_CRED, ROOT, by_self=False), DEPT_ORG.get)
    assert refused.value.code == "api_only"


@pytest.mark.parametrize("password,problem", [
    ("short pass", "shorter than 12 characters"),
    ("my name is alice!", "contains the username"),
    ("xx-ALICE-xx-long", "contains the username"),
    ("Password1234", "too common"),
    ("CorrectHorseBatteryStaple", "too common"),
    ("abababababababab", "too common"),
])
def test_the_password_policy(password, problem):
    assert problem in domain.password_problems(password, "alice")


def test_a_good_password_has_no_problems():
    assert domain.password_problems("purple tractor umbrella", "alice") == []


def test_a_short_common_password_reports_every_problem():
    assert domain.password_problems("aaaa", "alice") == ["shorter than 12 characters", "too common"]


# ---- login and logout -----------------------------------------------------------------------------------------

MAX_FAILURES, LOCKOUT_SECONDS = 3, 300


def login(state, password_ok, now=NOW, session_id=SESSION_1):
    cmd = Login(TARGET, password_ok, session_id, TOKEN_SHA, now + timedelta(hours=8), now, MAX_FAILURES,
                LOCKOUT_SECONDS, "203.0.113.9")
    return encoded(domain.decide_login(state, cmd))


def test_a_right_password_opens_a_session():
    state = admin_state(created())
    events = login(state, True)
    assert events == [AdminLoggedIn(TARGET, SESSION_1, TOKEN_SHA, (NOW + timedelta(hours=8)).isoformat(),
                                    "203.0.113.9")]
    assert set(domain.fold(events, state).sessions) == {SESSION_1}


def test_wrong_passwords_count_up_and_lock_at_the_maximum():
    history = [created()]
    for expected in range(1, MAX_FAILURES):
        [failed] = login(admin_state(*history), False)
        assert (failed.reason, failed.consecutive_failures, failed.locked_until) == (
            "wrong_password", expected, None)
        history.append(failed)
    [locking] = login(admin_state(*history), False)
    assert locking == AdminLoginFailed(TARGET, "wrong_password", MAX_FAILURES,
                                       (NOW + timedelta(seconds=LOCKOUT_SECONDS)).isoformat(), "203.0.113.9")
    locked = admin_state(*history, locking)
    assert locked.locked_until == NOW + timedelta(seconds=LOCKOUT_SECONDS)

    [refused] = login(locked, True, now=NOW + timedelta(seconds=LOCKOUT_SECONDS - 1))
    assert (refused.reason, refused.consecutive_failures) == ("locked", MAX_FAILURES)
    still_locked = domain.fold([refused], locked)
    assert still_locked.locked_until == NOW + timedelta(seconds=LOCKOUT_SECONDS)

    [ok] = login(still_locked, True, now=NOW + timedelta(seconds=LOCKOUT_SECONDS + 1))
    assert isinstance(ok, AdminLoggedIn)
    released = domain.fold([ok], still_locked)
    assert (released.consecutive_failures, released.locked_until) == (0, None)


def test_a_password_set_releases_a_lock():
    locked = admin_state(created(), AdminLoginFailed(TARGET, "wrong_password", 3,
                                                     (NOW + timedelta(minutes=5)).isoformat(), None))
    released = domain.fold([AdminPasswordSet(TARGET, NEW_CRED, True, f"admin:{ACTOR}")], locked)
    assert isinstance(login(released, True)[0], AdminLoggedIn)


@pytest.mark.parametrize("state,reason", [
    (admin_state(created(), AdminStatusChanged(TARGET, "suspended", "active", None)), "suspended"),
    (admin_state(created(status="pending_approval")), "pending_approval"),
    (admin_state(created(privileges=["ws_api_only"], credential_id=None)), "api_only"),
])
def test_a_right_password_does_not_let_in(state, reason):
    [refused] = login(state, True)
    assert isinstance(refused, AdminLoginFailed) and refused.reason == reason
    assert refused.consecutive_failures == 0


def test_login_of_a_deleted_admin_is_not_found():
    with pytest.raises(NotFound):
        login(admin_state(created(), AdminDeleted(TARGET, None)), True)


def test_logout_ends_the_session_and_an_unknown_session_is_a_no_op():
    state = with_sessions(SESSION_1)
    events = encoded(domain.decide_logout(state, Logout(TARGET, SESSION_1)))
    assert events == [SessionEnded(TARGET, SESSION_1, "logout")]
    after = domain.fold(events, state)
    assert after.sessions == {}
    assert domain.decide_logout(after, Logout(TARGET, SESSION_1)) == []
    assert domain.decide_logout(state, Logout(TARGET, SESSION_2)) == []


# ---- API keys ---------------------------------------------------------------------------------------------------

def create_key(state, name, key_id=KEY_1, by=ROOT):
    return domain.decide_create_api_key(state, CreateApiKey(TARGET, key_id, name, "cd" * 32, "cp_abcd", by),
                                        DEPT_ORG.get)


def revoke_key(state, key_id=KEY_1, by=ROOT):
    return domain.decide_revoke_api_key(state, RevokeApiKey(TARGET, key_id, by), DEPT_ORG.get)


def test_an_api_key_is_created_and_revoked_once():
    state = admin_state(created(privileges=["ws_api_only"], credential_id=None))
    made = encoded(create_key(state, "ci"))
    assert made == [ApiKeyCreated(TARGET, KEY_1, "ci", "cp_abcd", "cd" * 32, f"admin:{ACTOR}")]
    state = domain.fold(made, state)
    revoked = encoded(revoke_key(state))
    assert revoked == [ApiKeyRevoked(TARGET, KEY_1, f"admin:{ACTOR}")]
    state = domain.fold(revoked, state)
    assert state.api_keys[KEY_1].revoked
    assert revoke_key(state) == []


def test_two_active_api_keys_cannot_share_a_name_in_any_case():
    state = domain.fold(create_key(admin_state(created()), "ci"), admin_state(created()))
    with pytest.raises(Conflict) as refused:
        create_key(state, "CI", key_id=KEY_2)
    assert refused.value.code == "duplicate_name"
    state = domain.fold(revoke_key(state), state)
    assert create_key(state, "CI", key_id=KEY_2)          # the name is free once revoked


def test_revoking_an_unknown_api_key_is_not_found():
    with pytest.raises(NotFound):
        revoke_key(admin_state(created()), KEY_2)


def test_a_suspended_admin_gets_no_api_key():
    with pytest.raises(Conflict) as refused:
        create_key(admin_state(created(), AdminStatusChanged(TARGET, "suspended", "active", None)), "ci")
    assert refused.value.code == "suspended"


def test_api_keys_of_an_admin_outside_ones_scope_are_forbidden():
    outsider = actor(rao("ssl", ORG_B), privileges=["edit_peer_admins"])
    with pytest.raises(Forbidden):
        create_key(admin_state(created()), "ci", by=outsider)


# ---- persons ----------------------------------------------------------------------------------------------------

PERSON = "9e000000-0000-4000-8000-000000000001"
SECRET = "5e000000-0000-4000-8000-000000000001"
PERSON_FIELDS = {"organization_id": ORG_A, "department_id": DEPT_A1, "email": "bob@example.com",
                 "first_name": "Bob", "middle_name": None, "last_name": "Builder",
                 "alternative_emails": ["robert@example.com"], "validation_type": "standard"}


def person_state(*events):
    return domain.fold(events, domain.Person())


def person_created(**changes):
    return PersonCreated(person_id=PERSON, secret_credential_id=SECRET, **{**PERSON_FIELDS, **changes})


def create_person(fields, state=None):
    return domain.decide_create_person(state or person_state(), CreatePerson(PERSON, fields, SECRET),
                                       ORGS.__contains__, DEPT_ORG.get)


def update_person(changes, secret=None, state=None):
    return encoded(domain.decide_update_person(state or person_state(person_created()),
                                               UpdatePerson(PERSON, changes, secret), DEPT_ORG.get))


def test_create_a_person():
    events = encoded(create_person(PERSON_FIELDS))
    assert events == [person_created()]
    after = person_state(*events)
    assert after.exists and after.fields == PERSON_FIELDS and after.secret_credential_id == SECRET


def test_a_person_without_a_department():
    assert create_person({**PERSON_FIELDS, "department_id": None})[0].department_id is None


def test_repeating_a_person_create_is_a_no_op_but_other_fields_conflict():
    state = person_state(person_created())
    assert create_person(PERSON_FIELDS, state) == []
    with pytest.raises(Conflict):
        create_person({**PERSON_FIELDS, "first_name": "Robert"}, state)


def test_a_person_in_an_unknown_organization_is_not_found():
    with pytest.raises(NotFound):
        create_person({**PERSON_FIELDS, "organization_id": UNKNOWN, "department_id": None})


@pytest.mark.parametrize("department_id", [DEPT_B1, UNKNOWN], ids=["other_org", "unknown"])
def test_a_person_department_must_be_one_of_the_organization(department_id):
    with pytest.raises(InvalidRequest) as refused:
        create_person({**PERSON_FIELDS, "department_id": department_id})
    assert "department_id" in refused.value.details
    with pytest.raises(InvalidRequest):
        update_person({"department_id": department_id})


@pytest.mark.parametrize("changes", [{"email": "bobby@example.com"}, {"first_name": "Robert"},
                                     {"middle_name": "T"}, {"last_name": "Baumeister"}])
def test_a_new_email_or_name_changes_the_person_identity_and_keeps_the_previous_values(changes):
    [field] = changes
    events = update_person(changes)
    assert events == [PersonIdentityChanged(person_id=PERSON, changed=[field],
                                            previous={field: PERSON_FIELDS[field]}, **{**PERSON_FIELDS, **changes})]
    assert person_state(person_created(), *events).fields[field] == changes[field]


def test_an_email_case_change_is_an_identity_change_too():
    events = update_person({"email": "Bob@Example.com"})
    assert [type(e) for e in events] == [PersonIdentityChanged]


def test_a_name_and_email_change_lists_all_with_previous_values():
    [event] = update_person({"email": "b@example.com", "first_name": "Rob", "last_name": "Builder"})
    assert event.changed == ["email", "first_name"]
    assert event.previous == {"email": "bob@example.com", "first_name": "Bob"}


@pytest.mark.parametrize("changes", [{"alternative_emails": []}, {"validation_type": "high"},
                                     {"department_id": DEPT_A2}, {"department_id": None}])
def test_other_changes_are_a_plain_update(changes):
    [field] = changes
    events = update_person(changes)
    assert events == [PersonUpdated(person_id=PERSON, changed=[field], **{**PERSON_FIELDS, **changes})]
    assert person_state(person_created(), *events).fields[field] == changes[field]


def test_identity_and_other_changes_give_both_events():
    events = update_person({"email": "b@example.com", "validation_type": "high"})
    assert [(type(e), e.changed) for e in events] == [(PersonIdentityChanged, ["email"]),
                                                      (PersonUpdated, ["validation_type"])]
    assert all(e.email == "b@example.com" and e.validation_type == "high" for e in events)


def test_only_a_new_secret_id_changes_only_the_secret():
    new_secret = "5e000000-0000-4000-8000-000000000002"
    events = update_person({}, secret=new_secret)
    assert events == [PersonSecretChanged(PERSON, ORG_A, new_secret)]
    after = person_state(person_created(), *events)
    assert after.secret_credential_id == new_secret and after.fields == PERSON_FIELDS


def test_an_update_that_changes_nothing_is_a_no_op():
    assert update_person({"email": "bob@example.com", "validation_type": "standard"}) == []


def test_delete_a_person_then_it_is_gone():
    state = person_state(person_created())
    events = encoded(domain.decide_delete_person(state, DeletePerson(PERSON)))
    assert events == [PersonDeleted(PERSON, ORG_A)]
    gone = person_state(person_created(), *events)
    with pytest.raises(NotFound):
        domain.decide_delete_person(gone, DeletePerson(PERSON))
    with pytest.raises(NotFound):
        update_person({"first_name": "Zombie"}, state=gone)
