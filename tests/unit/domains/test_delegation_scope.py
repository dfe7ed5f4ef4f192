"""Which delegations of a shared domain or network a caller sees (contracts/access.py): the rule the gateway applies
to every answer, and `domain_scope`, which the domains service's list filters match against."""
import pytest

from contracts import access
from contracts.access import Principal, Role

A, B, A1, A2 = "org-a", "org-b", "dept-a1", "dept-a2"


def principal(*roles: Role) -> Principal:
    return Principal("admin-1", "someone", roles)


MRAO = principal(Role("MRAO"))
RAO_SSL_A = principal(Role("RAO", "ssl", frozenset({A})))
RAO_CLIENT_A = principal(Role("RAO", "client", frozenset({A})))
DRAO_SSL_A1 = principal(Role("DRAO", "ssl", department_ids=frozenset({A1})))


def delegation(organization, department=None, types=("ssl",), name=None):
    return {"delegation_id": name or f"{organization}/{department}", "organization_id": organization,
            "department_id": department, "cert_types": list(types)}


SHARED = [delegation(A), delegation(A, A1), delegation(A, A2), delegation(B), delegation(A, types=("client",),
                                                                                            name="a-client")]


@pytest.mark.parametrize("who, seen", [
    (MRAO, ["org-a/None", "org-a/dept-a1", "org-a/dept-a2", "org-b/None", "a-client"]),
    (RAO_SSL_A, ["org-a/None", "org-a/dept-a1", "org-a/dept-a2"]),
    (RAO_CLIENT_A, ["a-client"]),
    (DRAO_SSL_A1, ["org-a/dept-a1"]),
])
def test_a_caller_sees_only_the_delegations_in_its_scope(who, seen):
    assert [d["delegation_id"] for d in access.visible_delegations(who, SHARED)] == seen
    assert access.sees_domain(who, SHARED)


def test_a_domain_delegated_only_outside_the_scope_is_not_seen():
    assert not access.sees_domain(RAO_SSL_A, [delegation(B)])
    assert not access.sees_domain(DRAO_SSL_A1, [delegation(A, A2)])
    assert not access.sees_domain(RAO_SSL_A, [])
    assert access.sees_domain(MRAO, [])


def test_the_list_scope_is_the_same_rule():
    assert access.domain_scope(MRAO) == {"all": True}
    assert access.domain_scope(RAO_SSL_A)["organizations"]["ssl"] == [A]
    assert access.domain_scope(DRAO_SSL_A1)["departments"]["ssl"] == [A1]
    assert access.domain_scope(DRAO_SSL_A1)["organizations"]["ssl"] == []
