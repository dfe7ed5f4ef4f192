"""Who may see and do what (DESIGN §1, §6): roles, privileges, the principal, and the pure rules of scope.

This is shared code on purpose: the gateway decides visibility (404) and rights (403) on every request with these
rules, and the identity service applies the same rules when an administrator creates, edits or deletes another,
so the two can never disagree. Pure functions only; department → organization facts come in as arguments.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable

CERT_TYPES = ("ssl", "client", "code_signing", "device")
MRAO, RAO, DRAO = "MRAO", "RAO", "DRAO"
ROLES = (MRAO, RAO, DRAO)
LEVEL = {MRAO: 3, RAO: 2, DRAO: 1}

PRIVILEGES = (
    "create_peer_admins", "edit_peer_admins", "delete_peer_admins",
    "domain_validation_without_dual_approval", "allow_dcv", "ssl_details_changing", "ssl_auto_approve",
    "ws_api_only", "approve_domain_delegation", "ms_ad_discovery", "download_keys",
)
PERSON_CERT_TYPES = frozenset({"client", "code_signing"})   # persons are end users of these certificate types

DeptOrg = Callable[[str], str | None]   # department id -> its organization id (None: unknown department)


@dataclass(frozen=True)
class Role:
    role: str                                        # MRAO | RAO | DRAO
    cert_type: str | None = None                     # RAO and DRAO: one of CERT_TYPES
    organization_ids: frozenset[str] = frozenset()   # RAO
    department_ids: frozenset[str] = frozenset()     # DRAO

    def to_dict(self) -> dict:
        return {"role": self.role, "cert_type": self.cert_type,
                "organization_ids": sorted(self.organization_ids), "department_ids": sorted(self.department_ids)}

    @classmethod
    def from_dict(cls, data: dict) -> "Role":
        return cls(data["role"], data.get("cert_type"), frozenset(data.get("organization_ids") or ()),
                   frozenset(data.get("department_ids") or ()))


@dataclass(frozen=True)
class Principal:
    """An authenticated administrator as the rules see them."""

    admin_id: str
    username: str
    roles: tuple[Role, ...] = ()
    privileges: frozenset[str] = frozenset()
    status: str = "active"
    must_change_password: bool = False
    via: str = "session"                                 # session | api_key
    credential_id: str | None = None                     # the session or API key used
    extra: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def is_mrao(self) -> bool:
        return any(r.role == MRAO for r in self.roles)

    @property
    def level(self) -> int:
        return max((LEVEL[r.role] for r in self.roles), default=0)

    def has_privilege(self, name: str) -> bool:
        return self.is_mrao or name in self.privileges

    def organizations(self, types: Iterable[str] | None = None) -> set[str]:
        """Organizations this admin holds an RAO role for (of the given certificate types, else any)."""
        wanted = set(types) if types is not None else None
        return {o for r in self.roles if r.role == RAO and (wanted is None or r.cert_type in wanted)
                for o in r.organization_ids}

    def departments(self, types: Iterable[str] | None = None) -> set[str]:
        wanted = set(types) if types is not None else None
        return {d for r in self.roles if r.role == DRAO and (wanted is None or r.cert_type in wanted)
                for d in r.department_ids}


# ---- visibility: what a principal may see --------------------------------------------------------------------

def sees_organization(p: Principal, organization_id: str, dept_org: DeptOrg) -> bool:
    """MRAO: all. RAO: its organizations. DRAO: the organizations its departments belong to."""
    if p.is_mrao or organization_id in p.organizations():
        return True
    return any(dept_org(d) == organization_id for d in p.departments())


def sees_department(p: Principal, organization_id: str, department_id: str) -> bool:
    return p.is_mrao or organization_id in p.organizations() or department_id in p.departments()


def sees_person(p: Principal, organization_id: str, department_id: str | None) -> bool:
    """Persons are client / code-signing end users: only roles of those types see them."""
    if p.is_mrao or organization_id in p.organizations(PERSON_CERT_TYPES):
        return True
    return department_id is not None and department_id in p.departments(PERSON_CERT_TYPES)


def covers(actor: Principal, role: Role, dept_org: DeptOrg) -> bool:
    """Could `actor` hold `role` itself? Nobody grants a role or scope they do not hold."""
    return covering_level(actor, role, dept_org) > 0


def sees_admin(actor: Principal, target_roles: Iterable[Role], target_id: str, dept_org: DeptOrg) -> bool:
    """MRAO: everyone. Others: themselves, and admins whose every role lies inside their own scope."""
    target_roles = tuple(target_roles)
    if actor.is_mrao or actor.admin_id == target_id:
        return True
    return bool(target_roles) and all(covers(actor, r, dept_org) for r in target_roles)


def covering_level(actor: Principal, role: Role, dept_org: DeptOrg) -> int:
    """The level of the actor's own role that covers `role` (3 MRAO, 2 RAO, 1 DRAO), 0 if none does."""
    if actor.is_mrao:
        return LEVEL[MRAO]
    if role.role == MRAO:
        return 0
    orgs = actor.organizations([role.cert_type])
    if role.role == RAO:
        return LEVEL[RAO] if role.organization_ids and role.organization_ids <= orgs else 0
    if not role.department_ids:
        return 0
    if all(dept_org(d) in orgs for d in role.department_ids):
        return LEVEL[RAO]
    if all(d in actor.departments([role.cert_type]) or dept_org(d) in orgs for d in role.department_ids):
        return LEVEL[DRAO]
    return 0


def missing_to_manage(actor: Principal, action: str, target_roles: Iterable[Role], dept_org: DeptOrg) -> str | None:
    """Why `actor` may not create/edit/delete (`action`) an admin holding `target_roles`, or None if it may.

    Judged per role, against the actor's own role that covers it: below that level needs nothing more; the same
    level (a peer) needs the matching privilege (an MRAO holds all privileges); above is never allowed; and a role
    no role of the actor covers is outside its scope. (An RAO of one organization is only a DRAO's peer where it
    holds just a DRAO role.)"""
    for role in target_roles:
        level = covering_level(actor, role, dept_org)
        name = f"{role.role} {role.cert_type}" if role.cert_type else role.role
        if level == 0:
            return f"scope: {name} outside your own roles"
        if LEVEL[role.role] > level:
            return f"role {name} above your own"
        if LEVEL[role.role] == level and not actor.has_privilege(f"{action}_peer_admins"):
            return f"privilege {action}_peer_admins"
    return None


def missing_privileges(actor: Principal, privileges: Iterable[str]) -> set[str]:
    """Privileges `actor` would grant without holding them."""
    return set() if actor.is_mrao else set(privileges) - set(actor.privileges)


# ---- domains, IP networks and their delegations (DESIGN §1: delegation made by an MRAO is approved, others wait;
# networks are delegated the same way as domains, by these same rules) -------------------------------------------

def sees_delegation(p: Principal, delegation: dict) -> bool:
    """MRAO: every delegation. Others: a delegation (of any status) of one of their certificate types to one of
    their organizations (a department delegation counts for the organization's RAO) or departments. The same rule
    for domains and IP networks."""
    if p.is_mrao:
        return True
    for cert_type in delegation["cert_types"]:
        if delegation["organization_id"] in p.organizations([cert_type]):
            return True
        if delegation.get("department_id") and delegation["department_id"] in p.departments([cert_type]):
            return True
    return False


def visible_delegations(p: Principal, delegations: Iterable[dict]) -> list[dict]:
    """The delegations of a domain or network that `p` sees: on a domain shared by organizations A and B, an RAO
    of A sees A's delegations only (B's ids, status and approver are none of its business)."""
    return [d for d in delegations if sees_delegation(p, d)]


def sees_domain(p: Principal, delegations: Iterable[dict]) -> bool:
    """MRAO: every domain (or network). Others: one with a delegation they see (sees_delegation)."""
    return p.is_mrao or any(sees_delegation(p, d) for d in delegations)


def domain_scope(p: Principal) -> dict:
    """What the domains service needs to list only the domains (and networks) `p` sees, and to match list filters
    against the delegations `p` sees only (the same rule as sees_delegation)."""
    if p.is_mrao:
        return {"all": True}
    types = ("ssl", "client", "code_signing")
    return {"organizations": {t: sorted(p.organizations([t])) for t in types},
            "departments": {t: sorted(p.departments([t])) for t in types}}


def missing_to_delegate(p: Principal, organization_id: str, department_id: str | None,
                        cert_types: Iterable[str]) -> str | None:
    """Why `p` may not delegate (or remove a delegation of) a domain to this organization or department for these
    types, or None. MRAO: anything. RAO: its organizations (and their departments) for the types it holds.
    DRAO: its departments for the types it holds. Nobody delegates what they do not hold."""
    if p.is_mrao:
        return None
    for cert_type in cert_types:
        if organization_id in p.organizations([cert_type]):
            continue
        if department_id is not None and department_id in p.departments([cert_type]):
            continue
        where = f"department {department_id}" if department_id else f"organization {organization_id}"
        return f"role RAO or DRAO {cert_type} for {where}"
    return None


def delegation_approved_at_once(p: Principal) -> bool:
    """Made by an MRAO, or by an admin with "domain validation without dual approval": approved when made."""
    return p.has_privilege("domain_validation_without_dual_approval")


def missing_to_decide_delegation(p: Principal, delegation: dict) -> str | None:
    """Why `p` may not approve or reject this delegation, or None: an MRAO, or an RAO of its organization with
    the "approve domain delegation" privilege — never the admin who requested it."""
    if p.admin_id == delegation["requested_by"]:
        return "another administrator (the requester cannot decide their own delegation)"
    if p.is_mrao:
        return None
    if delegation["organization_id"] not in p.organizations():
        return "role MRAO, or RAO of the delegation's organization"
    if "approve_domain_delegation" not in p.privileges:
        return "privilege approve_domain_delegation"
    return None


def delegation_decider_scope(p: Principal) -> dict | None:
    """The delegations `p` may approve or reject — those it sees (sees_delegation) that missing_to_decide_delegation
    lets it decide — in the shape the domains service counts them with (DelegationRows.decidable): None if none;
    else `not_requested_by` (never the requester) and either `all` (MRAO) or `organizations` (its RAO
    organizations, of any type) and `visible` (the sees_delegation rule as grants: {"organizations": {type: [ids]},
    "departments": {type: [ids]}})."""
    if p.is_mrao:
        return {"all": True, "not_requested_by": p.admin_id}
    if "approve_domain_delegation" not in p.privileges or not p.organizations():
        return None
    return {"not_requested_by": p.admin_id, "organizations": sorted(p.organizations()),
            "visible": {"organizations": {t: sorted(p.organizations([t])) for t in CERT_TYPES},
                        "departments": {t: sorted(p.departments([t])) for t in CERT_TYPES}}}


# ---- certificates (RAO/DRAO roles per certificate type) -------------------------------------------------------

def sees_certificates(p: Principal, cert_type: str, organization_id: str, department_id: str | None) -> bool:
    """MRAO: every certificate. RAO of `cert_type`: those of its organizations (and their departments). DRAO of
    `cert_type`: those of its departments. The same rule decides who may request, approve, decline, download and
    revoke certificates of that type, and who manages its enrollment accounts and endpoints."""
    if p.is_mrao or organization_id in p.organizations([cert_type]):
        return True
    return department_id is not None and department_id in p.departments([cert_type])


def certificate_scope(p: Principal, cert_type: str) -> dict:
    """What enrollment needs to list only the certificates of `cert_type` that `p` sees (sees_certificates)."""
    if p.is_mrao:
        return {"all": True}
    return {"organizations": sorted(p.organizations([cert_type])), "departments": sorted(p.departments([cert_type]))}


def sees_ssl(p: Principal, organization_id: str, department_id: str | None) -> bool:
    """sees_certificates for SSL (TLS) certificates."""
    return sees_certificates(p, "ssl", organization_id, department_id)


def ssl_scope(p: Principal) -> dict:
    """certificate_scope for SSL (TLS) certificates."""
    return certificate_scope(p, "ssl")


# ---- ACME accounts (issue 14: SCM's ACME endpoint accounts, bound to an organization or department) ------------

def missing_to_manage_acme_account(p: Principal, organization_id: str, department_id: str | None) -> str | None:
    """Why `p` may not create, see or deactivate an ACME account of this organization (or department), or None.
    An ACME account's clients request SSL certificates in its organization's (department's) name, so the rule is
    the one for requesting them there (sees_ssl): MRAO; RAO ssl of the organization (any of its departments too);
    DRAO ssl of the department — never an account of the whole organization. Listing uses ssl_scope alike."""
    if sees_ssl(p, organization_id, department_id):
        return None
    where = f"department {department_id}" if department_id else f"organization {organization_id}"
    return f"role MRAO, or RAO or DRAO ssl for {where}"


# ---- key escrow (issue 15: "initialize encryption" and key recovery, per the organization's options) ----------

def missing_to_recover_keys(p: Principal, organization_id: str, options: dict) -> str | None:
    """Why `p` may not initialize an organization's key escrow nor ask for or approve a key recovery there, or
    None. The organization's options (fixed at creation) say whose level recovers keys: MRAOs
    (`recovery_by_mrao`, also when neither option is set) and/or the organization's RAOs of type client holding
    the "download keys" privilege (`recovery_by_organization_admins`). Dual control on top of this is the
    aggregate's: the one who asks is never the one who approves."""
    by_mrao = options.get("recovery_by_mrao") or not options.get("recovery_by_organization_admins")
    if p.is_mrao and by_mrao:
        return None
    if (options.get("recovery_by_organization_admins") and organization_id in p.organizations(["client"])
            and p.has_privilege("download_keys")):
        return None
    if options.get("recovery_by_organization_admins"):
        return "role MRAO, or RAO client of this organization with the download_keys privilege"
    return "role MRAO"
