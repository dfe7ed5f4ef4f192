"""The pure rules of scope in contracts/access.py: what an MRAO, an RAO (per certificate type) and a DRAO see,
whom they may manage, and what they may grant."""
import pytest

from contracts.access import (DRAO, MRAO, RAO, Principal, Role, covers, missing_privileges, missing_to_manage,
                              sees_admin, sees_department, sees_organization, sees_person)

ORG_A = "0a000000-0000-4000-8000-00000000000a"
ORG_B = "0b000000-0000-4000-8000-00000000000b"
DEPT_A1 = "a1000000-0000-4000-8000-0000000000a1"
DEPT_A2 = "a2000000-0000-4000-8000-0000000000a2"
DEPT_B1 = "b1000000-0000-4000-8000-0000000000b1"
DEPT_ORG = {DEPT_A1: ORG_A, DEPT_A2: ORG_A, DEPT_B1: ORG_B}.get
ME = "ac000000-0000-4000-8000-000000000001"
OTHER = "7a000000-0000-4000-8000-000000000002"


def rao(cert_type, *organization_ids):
    return Role(RAO, cert_type, frozenset(organization_ids))


def drao(cert_type, *department_ids):
    return Role(DRAO, cert_type, department_ids=frozenset(department_ids))


def who(*roles, privileges=()):
    return Principal(ME, "me", tuple(roles), frozenset(privileges))


MRAO_P = who(Role(MRAO))
RAO_SSL_A = who(rao("ssl", ORG_A))
RAO_CLIENT_A = who(rao("client", ORG_A))
RAO_CODE_A = who(rao("code_signing", ORG_A))
DRAO_SSL_A1 = who(drao("ssl", DEPT_A1))
DRAO_CLIENT_A1 = who(drao("client", DEPT_A1))
NOBODY = who()


# ---- organizations and departments ------------------------------------------------------------------------------

@pytest.mark.parametrize("principal,org,seen", [
    (MRAO_P, ORG_A, True), (MRAO_P, ORG_B, True),
    (RAO_SSL_A, ORG_A, True), (RAO_SSL_A, ORG_B, False),
    (RAO_CLIENT_A, ORG_A, True), (RAO_CLIENT_A, ORG_B, False),
    (DRAO_SSL_A1, ORG_A, True), (DRAO_SSL_A1, ORG_B, False),
    (NOBODY, ORG_A, False),
])
def test_sees_organization(principal, org, seen):
    assert sees_organization(principal, org, DEPT_ORG) is seen


def test_a_drao_of_an_unknown_department_sees_no_organization():
    assert not sees_organization(who(drao("ssl", "ffffffff-0000-4000-8000-000000000000")), ORG_A, DEPT_ORG)


@pytest.mark.parametrize("principal,org,dept,seen", [
    (MRAO_P, ORG_B, DEPT_B1, True),
    (RAO_SSL_A, ORG_A, DEPT_A1, True), (RAO_SSL_A, ORG_A, DEPT_A2, True), (RAO_SSL_A, ORG_B, DEPT_B1, False),
    (DRAO_SSL_A1, ORG_A, DEPT_A1, True), (DRAO_SSL_A1, ORG_A, DEPT_A2, False),
    (DRAO_SSL_A1, ORG_B, DEPT_B1, False),
])
def test_sees_department(principal, org, dept, seen):
    assert sees_department(principal, org, dept) is seen


# ---- persons: end users of client and code-signing certificates -------------------------------------------------

@pytest.mark.parametrize("principal,org,dept,seen", [
    (MRAO_P, ORG_B, None, True),
    (RAO_SSL_A, ORG_A, None, False), (RAO_SSL_A, ORG_A, DEPT_A1, False),          # SSL admins see no persons
    (RAO_CLIENT_A, ORG_A, None, True), (RAO_CLIENT_A, ORG_A, DEPT_A2, True),
    (RAO_CLIENT_A, ORG_B, None, False),
    (RAO_CODE_A, ORG_A, DEPT_A1, True),
    (who(rao("device", ORG_A)), ORG_A, None, False),
    (DRAO_CLIENT_A1, ORG_A, DEPT_A1, True), (DRAO_CLIENT_A1, ORG_A, DEPT_A2, False),
    (DRAO_CLIENT_A1, ORG_A, None, False),                                          # no department: the RAO's
    (DRAO_SSL_A1, ORG_A, DEPT_A1, False),
    (who(rao("ssl", ORG_A), drao("client", DEPT_A1)), ORG_A, DEPT_A1, True),
    (who(rao("ssl", ORG_A), drao("client", DEPT_A1)), ORG_A, DEPT_A2, False),
])
def test_sees_person(principal, org, dept, seen):
    assert sees_person(principal, org, dept) is seen


# ---- covers: could the actor hold this role itself? -------------------------------------------------------------

@pytest.mark.parametrize("principal,role,covered", [
    (MRAO_P, Role(MRAO), True), (MRAO_P, rao("device", ORG_B), True),
    (RAO_SSL_A, Role(MRAO), False),
    (RAO_SSL_A, rao("ssl", ORG_A), True), (RAO_SSL_A, rao("ssl", ORG_A, ORG_B), False),
    (RAO_SSL_A, rao("client", ORG_A), False),
    (RAO_SSL_A, drao("ssl", DEPT_A1, DEPT_A2), True), (RAO_SSL_A, drao("ssl", DEPT_A1, DEPT_B1), False),
    (RAO_SSL_A, drao("client", DEPT_A1), False),
    (RAO_SSL_A, rao("ssl"), False), (RAO_SSL_A, drao("ssl"), False),               # an empty scope is no role
    (DRAO_SSL_A1, drao("ssl", DEPT_A1), True), (DRAO_SSL_A1, drao("ssl", DEPT_A2), False),
    (DRAO_SSL_A1, drao("client", DEPT_A1), False), (DRAO_SSL_A1, rao("ssl", ORG_A), False),
    (who(rao("ssl", ORG_A), rao("client", ORG_B)), rao("client", ORG_A), False),
    (who(rao("ssl", ORG_A), rao("client", ORG_B)), drao("client", DEPT_B1), True),
])
def test_covers(principal, role, covered):
    assert covers(principal, role, DEPT_ORG) is covered


# ---- seeing administrators ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("principal,target_roles,target_id,seen", [
    (MRAO_P, [Role(MRAO)], OTHER, True),
    (RAO_SSL_A, [drao("ssl", DEPT_A1)], OTHER, True),
    (RAO_SSL_A, [rao("ssl", ORG_A)], OTHER, True),
    (RAO_SSL_A, [drao("ssl", DEPT_A1), drao("client", DEPT_A1)], OTHER, False),   # every role must be inside
    (RAO_SSL_A, [Role(MRAO)], OTHER, False),
    (RAO_SSL_A, [rao("ssl", ORG_B)], OTHER, False),
    (RAO_SSL_A, [], OTHER, False),
    (DRAO_SSL_A1, [rao("ssl", ORG_A)], OTHER, False),
    (DRAO_SSL_A1, [rao("ssl", ORG_A)], ME, True),                                  # always oneself
])
def test_sees_admin(principal, target_roles, target_id, seen):
    assert sees_admin(principal, target_roles, target_id, DEPT_ORG) is seen


# ---- managing administrators ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("principal,action,target_roles", [
    (MRAO_P, "create", [Role(MRAO)]),
    (MRAO_P, "delete", [Role(MRAO), rao("ssl", ORG_B)]),
    (RAO_SSL_A, "create", [drao("ssl", DEPT_A1)]),                          # below: nothing more needed
    (RAO_SSL_A, "delete", [drao("ssl", DEPT_A1, DEPT_A2)]),
    (who(rao("ssl", ORG_A), privileges=["create_peer_admins"]), "create", [rao("ssl", ORG_A)]),
    (who(rao("ssl", ORG_A), privileges=["edit_peer_admins"]), "edit", [rao("ssl", ORG_A)]),
    (who(drao("ssl", DEPT_A1), privileges=["delete_peer_admins"]), "delete", [drao("ssl", DEPT_A1)]),
])
def test_may_manage(principal, action, target_roles):
    assert missing_to_manage(principal, action, target_roles, DEPT_ORG) is None


@pytest.mark.parametrize("principal,action,target_roles,missing", [
    (RAO_SSL_A, "create", [rao("ssl", ORG_A)], "privilege create_peer_admins"),
    (RAO_SSL_A, "edit", [rao("ssl", ORG_A)], "privilege edit_peer_admins"),
    (who(rao("ssl", ORG_A), privileges=["create_peer_admins"]), "delete", [rao("ssl", ORG_A)],
     "privilege delete_peer_admins"),                                      # the privilege must match the action
    (DRAO_SSL_A1, "edit", [drao("ssl", DEPT_A1)], "privilege edit_peer_admins"),
])
def test_a_peer_needs_the_matching_privilege(principal, action, target_roles, missing):
    assert missing_to_manage(principal, action, target_roles, DEPT_ORG) == missing


@pytest.mark.parametrize("principal,target_roles", [
    (who(rao("ssl", ORG_A), privileges=["create_peer_admins"]), [Role(MRAO)]),
    (who(drao("ssl", DEPT_A1), privileges=["create_peer_admins"]), [rao("ssl", ORG_A)]),
    (RAO_SSL_A, [rao("client", ORG_A)]),
    (RAO_SSL_A, [drao("ssl", DEPT_B1)]),
    (RAO_SSL_A, [drao("ssl", DEPT_A1), drao("client", DEPT_A1)]),
    (who(drao("ssl", DEPT_A1), privileges=["create_peer_admins"]), [drao("ssl", DEPT_A2)]),
])
def test_nobody_manages_an_admin_above_or_outside_themselves(principal, target_roles):
    missing = missing_to_manage(principal, "create", target_roles, DEPT_ORG)
    assert missing is not None and ("scope" in missing or "above" in missing)


# ---- privileges -----------------------------------------------------------------------------------------------------

def test_an_mrao_may_grant_any_privilege():
    assert missing_privileges(MRAO_P, ["download_keys", "ssl_auto_approve"]) == set()
    assert MRAO_P.has_privilege("download_keys")


def test_others_grant_only_privileges_they_hold():
    holder = who(rao("ssl", ORG_A), privileges=["allow_dcv"])
    assert missing_privileges(holder, ["allow_dcv"]) == set()
    assert missing_privileges(holder, ["allow_dcv", "download_keys", "ssl_auto_approve"]) == {
        "download_keys", "ssl_auto_approve"}
    assert not holder.has_privilege("download_keys") and holder.has_privilege("allow_dcv")


def test_principal_scope_by_certificate_type():
    p = who(rao("ssl", ORG_A), rao("client", ORG_B), drao("code_signing", DEPT_A1))
    assert p.organizations() == {ORG_A, ORG_B}
    assert p.organizations(["client", "code_signing"]) == {ORG_B}
    assert p.departments(["ssl"]) == set() and p.departments() == {DEPT_A1}
    assert (p.level, p.is_mrao) == (2, False) and MRAO_P.level == 3 and NOBODY.level == 0
