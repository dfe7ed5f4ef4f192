"""The caller's scope for one request (DESIGN §6): what they may see (else 404) and do (else 403 naming the
missing right). The rules are contracts/access.py; this binds them to the gateway's organization directory."""
from __future__ import annotations

from contracts.access import (PERSON_CERT_TYPES, Principal, Role, sees_admin, sees_department,
                              sees_organization, sees_person)
from contracts.errors import Forbidden, NotFound


class Scope:
    def __init__(self, principal: Principal, department_organizations: dict[str, str]):
        self.principal = principal
        self._dept_org = department_organizations   # the caller's DRAO departments -> their organizations

    def dept_org(self, department_id: str) -> str | None:
        return self._dept_org.get(department_id)

    # ---- organizations and departments --------------------------------------------------------------------
    @property
    def organizations(self) -> set[str] | None:
        """Organizations the caller sees; None: all of them."""
        if self.principal.is_mrao:
            return None
        return self.principal.organizations() | set(self._dept_org.values())

    def departments_of(self, organization_id: str) -> set[str] | None:
        """Departments of the organization the caller sees; None: all of them."""
        if self.principal.is_mrao or organization_id in self.principal.organizations():
            return None
        return {d for d, o in self._dept_org.items() if o == organization_id}

    def organization(self, organization_id: str) -> None:
        if not sees_organization(self.principal, organization_id, self.dept_org):
            raise NotFound.of("organization", organization_id)

    def department(self, organization_id: str, department_id: str) -> None:
        self.organization(organization_id)
        if not sees_department(self.principal, organization_id, department_id):
            raise NotFound.of("department", department_id)

    def require_mrao(self, doing: str) -> None:
        if not self.principal.is_mrao:
            raise Forbidden(f"{doing} needs the MRAO role", {"missing": "role MRAO"})

    def require_organization_admin(self, organization_id: str, doing: str) -> None:
        """MRAO, or an RAO of this organization (of any certificate type)."""
        if not (self.principal.is_mrao or organization_id in self.principal.organizations()):
            raise Forbidden(f"{doing} needs the MRAO role or an RAO role for this organization",
                            {"missing": "role RAO for the organization"})

    # ---- persons ------------------------------------------------------------------------------------------
    def sees_person(self, organization_id: str, department_id: str | None) -> bool:
        return sees_person(self.principal, organization_id, department_id)

    def person_rights(self, organization_id: str, department_id: str | None) -> None:
        """May the caller manage persons here? 404 if it cannot even see the organization."""
        self.organization(organization_id)
        if not sees_person(self.principal, organization_id, department_id):
            raise Forbidden("managing persons needs an MRAO role, or an RAO or DRAO role of type client or "
                            "code_signing that covers this organization or department",
                            {"missing": "role RAO/DRAO client or code_signing here"})

    def person_filter(self) -> dict:
        """What identity's list_persons needs to list only persons in scope."""
        if self.principal.is_mrao:
            return {"organizations": None, "departments": []}
        return {"organizations": sorted(self.principal.organizations(PERSON_CERT_TYPES)),
                "departments": sorted(self.principal.departments(PERSON_CERT_TYPES))}

    def person_departments(self, organization_id: str) -> list[str] | None:
        """Departments of the organization the caller may put persons into; None: any."""
        if self.principal.is_mrao or organization_id in self.principal.organizations(PERSON_CERT_TYPES):
            return None
        return sorted(d for d in self.principal.departments(PERSON_CERT_TYPES) if self.dept_org(d) == organization_id)

    # ---- administrators ------------------------------------------------------------------------------------
    def sees_admin(self, admin_id: str, roles: list[dict] | None, dept_org) -> bool:
        return roles is not None and sees_admin(self.principal, (Role.from_dict(r) for r in roles), admin_id,
                                                dept_org)

    def admin(self, admin_id: str, roles: list[dict] | None, dept_org) -> None:
        if not self.sees_admin(admin_id, roles, dept_org):
            raise NotFound.of("admin", admin_id)
