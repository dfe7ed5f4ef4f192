"""Administrators and persons: state, evolve, decide. Pure: no I/O, no clock (time comes in commands).

One aggregate per administrator (`admin-<id>`: profile, roles, privileges, status, credentials by reference,
sessions, API keys, failed-login count) and one per person (`person-<id>`). Rules that span aggregates are checked
where all of them are visible: unique usernames and per-organization person emails in projections.py (inside the
append transaction), "is this the last active MRAO" by the service, which passes the count in the command.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Callable

from contracts.access import (LEVEL, MRAO, Principal, Role, covering_level, missing_privileges,
                             missing_to_manage)
from contracts.errors import Conflict, Forbidden, InvalidRequest, NotFound
from contracts.identity import PERSON_IDENTITY_FIELDS, PROFILE_FIELDS
from services.identity.commands import (ChangeAccess, ChangeStatus, CreateAdmin, CreateApiKey, CreatePerson,
                                        DeleteAdmin, DeletePerson, Login, Logout, RevokeApiKey, SetPassword,
                                        UpdateAdmin, UpdatePerson)
from services.identity.events import (AdminAccessChanged, AdminCreated, AdminDeleted, AdminLoggedIn,
                                      AdminLoginFailed, AdminPasswordSet, AdminStatusChanged, AdminUpdated,
                                      ApiKeyCreated, ApiKeyRevoked, PersonCreated, PersonDeleted,
                                      PersonIdentityChanged, PersonSecretChanged, PersonUpdated, SessionEnded,
                                      UnknownUserLoginFailed)

WS_API_ONLY = "ws_api_only"
MIN_PASSWORD_LENGTH = 12
COMMON_PASSWORDS = frozenset({
    "123456789012", "1234567890123", "password1234", "password12345", "passwordpassword", "qwertyuiopas",
    "qwerty123456", "administrator", "administrator1", "letmeinletmein", "iloveyou1234", "welcome12345",
    "changeme1234", "changemechangeme", "abc123abc123", "111111111111", "000000000000", "aaaaaaaaaaaa",
    "trustno1trustno1", "correcthorsebatterystaple", "p@ssw0rd1234", "passw0rd1234", "certplane1234",
    "certificate1", "certificates", "sectigo12345", "adminadmin12", "rootroot1234", "summer202520",
    "winter202520", "football1234", "baseball1234", "superman1234", "monkey123456", "dragon123456",
})


def password_problems(password: str, username: str) -> list[str]:
    """The password policy: at least 12 characters, not the username, not a common password."""
    problems = []
    if len(password) < MIN_PASSWORD_LENGTH:
        problems.append(f"shorter than {MIN_PASSWORD_LENGTH} characters")
    folded = password.casefold()
    if username and username.casefold() in folded:
        problems.append("contains the username")
    if folded in COMMON_PASSWORDS or len(set(folded)) <= 2:
        problems.append("too common")
    return problems


class AdminStatus(StrEnum):
    PENDING_APPROVAL = "pending_approval"
    ACTIVE = "active"
    SUSPENDED = "suspended"


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    name: str
    prefix: str
    revoked: bool = False


@dataclass(frozen=True)
class Admin:
    admin_id: str | None = None
    created: bool = False
    deleted: bool = False
    username: str = ""
    profile: dict[str, Any] = field(default_factory=dict)
    roles: tuple[Role, ...] = ()
    privileges: frozenset[str] = frozenset()
    status: AdminStatus = AdminStatus.ACTIVE
    created_by: str | None = None
    pending_by: str | None = None            # whose action made the admin wait for approval
    credential_id: str | None = None
    must_change_password: bool = False
    consecutive_failures: int = 0
    locked_until: datetime | None = None
    sessions: dict[str, datetime] = field(default_factory=dict)     # open session id -> expires at
    api_keys: dict[str, ApiKey] = field(default_factory=dict)

    @property
    def exists(self) -> bool:
        return self.created and not self.deleted

    @property
    def api_only(self) -> bool:
        return WS_API_ONLY in self.privileges

    @property
    def is_mrao(self) -> bool:
        return any(r.role == MRAO for r in self.roles)

    def principal(self, **extra) -> Principal:
        return Principal(self.admin_id, self.username, self.roles, self.privileges, self.status.value,
                         self.must_change_password, **extra)


def _roles(data: list[dict]) -> tuple[Role, ...]:
    return tuple(Role.from_dict(r) for r in data)


def evolve(state, event):
    match event:
        case AdminCreated():
            return Admin(admin_id=event.admin_id, created=True, username=event.username,
                         profile={f: getattr(event, f) for f in PROFILE_FIELDS}, roles=_roles(event.roles),
                         privileges=frozenset(event.privileges), status=AdminStatus(event.status),
                         created_by=event.created_by, credential_id=event.credential_id,
                         pending_by=event.created_by if event.status == AdminStatus.PENDING_APPROVAL else None,
                         must_change_password=event.must_change_password)
        case AdminUpdated():
            return replace(state, profile={f: getattr(event, f) for f in PROFILE_FIELDS})
        case AdminAccessChanged():
            return replace(state, roles=_roles(event.roles), privileges=frozenset(event.privileges))
        case AdminStatusChanged():
            pending_by = event.changed_by if event.status == AdminStatus.PENDING_APPROVAL else None
            return replace(state, status=AdminStatus(event.status), pending_by=pending_by)
        case AdminDeleted():
            return replace(state, deleted=True, sessions={})
        case AdminPasswordSet():
            return replace(state, credential_id=event.credential_id, must_change_password=event.must_change_password,
                           consecutive_failures=0, locked_until=None)
        case AdminLoggedIn():
            return replace(state, consecutive_failures=0, locked_until=None,
                           sessions={**state.sessions, event.session_id: datetime.fromisoformat(event.expires_at)})
        case AdminLoginFailed():
            locked = datetime.fromisoformat(event.locked_until) if event.locked_until else state.locked_until
            return replace(state, consecutive_failures=event.consecutive_failures, locked_until=locked)
        case SessionEnded():
            return replace(state, sessions={k: v for k, v in state.sessions.items() if k != event.session_id})
        case ApiKeyCreated():
            key = ApiKey(event.key_id, event.name, event.prefix)
            return replace(state, api_keys={**state.api_keys, event.key_id: key})
        case ApiKeyRevoked():
            revoked = replace(state.api_keys[event.key_id], revoked=True)
            return replace(state, api_keys={**state.api_keys, event.key_id: revoked})
        case UnknownUserLoginFailed():
            return state
        case PersonCreated():
            return Person(person_id=event.person_id, created=True, fields=_person_fields(event),
                          secret_credential_id=event.secret_credential_id)
        case PersonUpdated() | PersonIdentityChanged():
            return replace(state, fields=_person_fields(event))
        case PersonSecretChanged():
            return replace(state, secret_credential_id=event.secret_credential_id)
        case PersonDeleted():
            return replace(state, deleted=True)
    raise TypeError(f"identity cannot evolve {type(event).__name__}")


def fold(events, initial):
    state = initial
    for event in events:
        state = evolve(state, event)
    return state


# ---- administrators ------------------------------------------------------------------------------------------

def _actor_id(actor: Principal | None) -> str | None:
    return f"admin:{actor.admin_id}" if actor else "operator:cli"


def _existing(state: Admin, admin_id: str) -> Admin:
    if not state.exists:
        raise NotFound.of("admin", admin_id)
    return state


def _check_scope_exists(roles, organization_exists: Callable[[str], bool], dept_org) -> None:
    unknown_orgs = sorted({o for r in roles for o in r.organization_ids if not organization_exists(o)})
    unknown_depts = sorted({d for r in roles for d in r.department_ids if dept_org(d) is None})
    if unknown_orgs or unknown_depts:
        raise InvalidRequest("a role names an organization or department that does not exist",
                             {"organization_ids": unknown_orgs, "department_ids": unknown_depts})


def _may_manage(actor: Principal, action: str, roles, dept_org) -> None:
    missing = missing_to_manage(actor, action, roles, dept_org)
    if missing:
        raise Forbidden(f"you may not {action} this admin: missing {missing}", {"missing": missing})


def _may_grant(actor: Principal, privileges) -> None:
    missing = missing_privileges(actor, privileges)
    if missing:
        raise Forbidden("nobody grants a privilege they do not hold", {"missing": sorted(missing)})


def decide_create_admin(state: Admin, cmd: CreateAdmin, organization_exists, dept_org) -> list:
    if state.created:
        raise Conflict(f"admin {cmd.admin_id} already exists", {"admin_id": cmd.admin_id})
    if cmd.actor is not None:   # scope first: an unknown and an out-of-scope organization look the same
        _may_manage(cmd.actor, "create", cmd.roles, dept_org)
        _may_grant(cmd.actor, cmd.privileges)
    _check_scope_exists(cmd.roles, organization_exists, dept_org)
    api_only = WS_API_ONLY in cmd.privileges
    if api_only and cmd.credential_id:
        raise InvalidRequest("a ws_api_only admin has no password: it authenticates with API keys",
                             {"password": ["not allowed with ws_api_only"]})
    if not api_only and not cmd.credential_id:
        raise InvalidRequest("a console admin needs an initial password", {"password": ["required"]})
    status = AdminStatus.ACTIVE if cmd.actor is None or cmd.actor.is_mrao else AdminStatus.PENDING_APPROVAL
    return [AdminCreated(admin_id=cmd.admin_id, username=cmd.username, roles=[r.to_dict() for r in cmd.roles],
                         privileges=sorted(cmd.privileges), status=status.value, credential_id=cmd.credential_id,
                         must_change_password=cmd.credential_id is not None,
                         created_by=_actor_id(cmd.actor), **{f: cmd.profile.get(f) for f in PROFILE_FIELDS})]


def decide_update_admin(state: Admin, cmd: UpdateAdmin, dept_org) -> list:
    _existing(state, cmd.admin_id)
    if cmd.actor.admin_id != cmd.admin_id:
        _may_manage(cmd.actor, "edit", state.roles, dept_org)
    changed = [f for f in PROFILE_FIELDS if f in cmd.changes and cmd.changes[f] != state.profile.get(f)]
    if not changed:
        return []
    profile = {**state.profile, **{f: cmd.changes[f] for f in changed}}
    return [AdminUpdated(admin_id=cmd.admin_id, changed=changed, **profile)]


def _last_mrao_guard(state: Admin, others: int, losing_mrao: bool) -> None:
    if losing_mrao and state.is_mrao and state.status is AdminStatus.ACTIVE and others == 0:
        raise Conflict("this is the last active MRAO: nobody could administer Certplane afterwards",
                       code="last_mrao")


def decide_change_access(state: Admin, cmd: ChangeAccess, organization_exists, dept_org) -> list:
    _existing(state, cmd.admin_id)
    if cmd.actor.admin_id == cmd.admin_id and not cmd.actor.is_mrao:
        raise Forbidden("you cannot change your own roles or privileges", {"missing": "role MRAO"})
    if cmd.actor.admin_id != cmd.admin_id:
        _may_manage(cmd.actor, "edit", state.roles, dept_org)     # the admin as it is ...
    _may_manage(cmd.actor, "edit", cmd.roles, dept_org)           # ... and as it would be
    _may_grant(cmd.actor, cmd.privileges - state.privileges)
    _check_scope_exists(cmd.roles, organization_exists, dept_org)
    _last_mrao_guard(state, cmd.other_active_mraos, losing_mrao=not any(r.role == MRAO for r in cmd.roles))
    if set(cmd.roles) == set(state.roles) and cmd.privileges == state.privileges:
        return []
    events: list = [AdminAccessChanged(cmd.admin_id, [r.to_dict() for r in cmd.roles], sorted(cmd.privileges),
                                       _actor_id(cmd.actor))]
    had = state.principal()
    gains = any(covering_level(had, role, dept_org) < LEVEL[role.role] for role in cmd.roles)
    if gains and not cmd.actor.is_mrao and state.status is AdminStatus.ACTIVE:
        # A role granted by an RAO or DRAO waits for an MRAO, as an admin they create does.
        events.append(AdminStatusChanged(cmd.admin_id, AdminStatus.PENDING_APPROVAL.value, state.status.value,
                                         _actor_id(cmd.actor)))
        events += [SessionEnded(cmd.admin_id, sid, "suspended") for sid in sorted(state.sessions)]
    return events


def decide_change_status(state: Admin, cmd: ChangeStatus, dept_org) -> list:
    _existing(state, cmd.admin_id)
    actor = cmd.actor
    if cmd.action == "approve":
        if state.status is not AdminStatus.PENDING_APPROVAL:
            return []
        if not actor.is_mrao:
            raise Forbidden("only an MRAO approves an admin created by an RAO or DRAO", {"missing": "role MRAO"})
        if state.pending_by == _actor_id(actor):
            raise Forbidden("nobody approves what they asked for themselves", {"missing": "another MRAO"})
        target = AdminStatus.ACTIVE
    elif cmd.action in ("suspend", "reactivate"):
        if actor.admin_id == cmd.admin_id:
            raise Forbidden(f"you cannot {cmd.action} yourself", {"missing": "another admin"})
        _may_manage(actor, "edit", state.roles, dept_org)
        if state.status is AdminStatus.PENDING_APPROVAL:
            raise Conflict("the admin is still waiting for approval", code="pending_approval")
        target = AdminStatus.SUSPENDED if cmd.action == "suspend" else AdminStatus.ACTIVE
        if target is AdminStatus.SUSPENDED:
            _last_mrao_guard(state, cmd.other_active_mraos, losing_mrao=True)
    else:
        raise InvalidRequest(f"unknown status action {cmd.action!r}", {"action": ["approve|suspend|reactivate"]})
    if state.status is target:
        return []
    events: list = [AdminStatusChanged(cmd.admin_id, target.value, state.status.value, _actor_id(actor))]
    if target is AdminStatus.SUSPENDED:   # a reactivated admin logs in again; old tokens stay dead
        events += [SessionEnded(cmd.admin_id, sid, "suspended") for sid in sorted(state.sessions)]
    return events


def decide_delete_admin(state: Admin, cmd: DeleteAdmin, dept_org) -> list:
    _existing(state, cmd.admin_id)
    if cmd.actor.admin_id != cmd.admin_id:
        _may_manage(cmd.actor, "delete", state.roles, dept_org)
    _last_mrao_guard(state, cmd.other_active_mraos, losing_mrao=True)
    return [AdminDeleted(cmd.admin_id, _actor_id(cmd.actor))]


def decide_set_password(state: Admin, cmd: SetPassword, dept_org) -> list:
    _existing(state, cmd.admin_id)
    if state.api_only:
        raise Conflict("a ws_api_only admin has no password; it uses API keys", code="api_only")
    if cmd.actor is not None and not cmd.by_self and cmd.actor.admin_id != cmd.admin_id:
        _may_manage(cmd.actor, "edit", state.roles, dept_org)
    events: list = [AdminPasswordSet(cmd.admin_id, cmd.credential_id, must_change_password=not cmd.by_self,
                                     set_by=_actor_id(cmd.actor))]
    events += [SessionEnded(cmd.admin_id, sid, "password_changed") for sid in sorted(state.sessions)
               if sid != cmd.keep_session_id]
    return events


def decide_login(state: Admin, cmd: Login) -> list:
    """A login attempt always leaves an event. The caller reads the outcome from the last event."""
    _existing(state, cmd.admin_id)

    def failed(reason: str, failures: int, locked_until: datetime | None = None):
        return [AdminLoginFailed(cmd.admin_id, reason, failures, locked_until.isoformat() if locked_until else None,
                                 cmd.client)]

    if state.locked_until is not None and state.locked_until > cmd.now:
        return failed("locked", state.consecutive_failures)
    if not cmd.password_ok:
        failures = state.consecutive_failures + 1
        locked = cmd.now + timedelta(seconds=cmd.lockout_seconds) if failures >= cmd.max_failures else None
        return failed("wrong_password", failures, locked)
    if state.api_only:
        return failed("api_only", state.consecutive_failures)
    if state.status is not AdminStatus.ACTIVE:
        return failed(state.status.value, state.consecutive_failures)
    return [AdminLoggedIn(cmd.admin_id, cmd.session_id, cmd.token_sha256, cmd.expires_at.isoformat(), cmd.client)]


def decide_unknown_user_login(username: str, client: str | None) -> list:
    return [UnknownUserLoginFailed(username, client)]


def decide_logout(state: Admin, cmd: Logout) -> list:
    if not state.exists or cmd.session_id not in state.sessions:
        return []
    return [SessionEnded(cmd.admin_id, cmd.session_id, "logout")]


def decide_create_api_key(state: Admin, cmd: CreateApiKey, dept_org) -> list:
    _existing(state, cmd.admin_id)
    if cmd.actor.admin_id != cmd.admin_id:
        _may_manage(cmd.actor, "edit", state.roles, dept_org)
    if state.status is not AdminStatus.ACTIVE:
        raise Conflict(f"the admin is {state.status.value}", code=state.status.value)
    if any(k.name.casefold() == cmd.name.casefold() and not k.revoked for k in state.api_keys.values()):
        raise Conflict(f"an API key named {cmd.name!r} already exists", {"name": cmd.name}, code="duplicate_name")
    return [ApiKeyCreated(cmd.admin_id, cmd.key_id, cmd.name, cmd.prefix, cmd.key_sha256, _actor_id(cmd.actor))]


def decide_revoke_api_key(state: Admin, cmd: RevokeApiKey, dept_org) -> list:
    _existing(state, cmd.admin_id)
    if cmd.actor.admin_id != cmd.admin_id:
        _may_manage(cmd.actor, "edit", state.roles, dept_org)
    key = state.api_keys.get(cmd.key_id)
    if key is None:
        raise NotFound.of("api_key", cmd.key_id)
    if key.revoked:
        return []
    return [ApiKeyRevoked(cmd.admin_id, cmd.key_id, _actor_id(cmd.actor))]


# ---- persons -------------------------------------------------------------------------------------------------

PERSON_FIELDS = ("organization_id", "department_id", "email", "first_name", "middle_name", "last_name",
                 "alternative_emails", "validation_type")


@dataclass(frozen=True)
class Person:
    person_id: str | None = None
    created: bool = False
    deleted: bool = False
    fields: dict[str, Any] = field(default_factory=dict)
    secret_credential_id: str | None = None

    @property
    def exists(self) -> bool:
        return self.created and not self.deleted


def _person_fields(event) -> dict[str, Any]:
    return {f: getattr(event, f) for f in PERSON_FIELDS}


def _check_department(fields: dict, dept_org) -> None:
    department_id = fields.get("department_id")
    if department_id is not None and dept_org(department_id) != fields["organization_id"]:
        raise InvalidRequest("the department is not one of the organization's",
                             {"department_id": [f"{department_id} is not in {fields['organization_id']}"]})


def decide_create_person(state: Person, cmd: CreatePerson, organization_exists, dept_org) -> list:
    if state.created:
        if state.exists and state.fields == cmd.fields:
            return []
        raise Conflict(f"person {cmd.person_id} already exists", {"person_id": cmd.person_id})
    if not organization_exists(cmd.fields["organization_id"]):
        raise NotFound.of("organization", cmd.fields["organization_id"])
    _check_department(cmd.fields, dept_org)
    return [PersonCreated(person_id=cmd.person_id, secret_credential_id=cmd.secret_credential_id,
                          **{f: cmd.fields.get(f) for f in PERSON_FIELDS})]


def decide_update_person(state: Person, cmd: UpdatePerson, dept_org) -> list:
    if not state.exists:
        raise NotFound.of("person", cmd.person_id)
    after = {**state.fields, **{f: v for f, v in cmd.changes.items() if f in PERSON_FIELDS}}
    _check_department(after, dept_org)
    changed = [f for f in PERSON_FIELDS if after[f] != state.fields[f]]
    identity = [f for f in changed if f in PERSON_IDENTITY_FIELDS]
    other = [f for f in changed if f not in PERSON_IDENTITY_FIELDS]
    events: list = []
    if identity:
        events.append(PersonIdentityChanged(person_id=cmd.person_id, changed=identity,
                                            previous={f: state.fields[f] for f in identity}, **after))
    if other:
        events.append(PersonUpdated(person_id=cmd.person_id, changed=other, **after))
    if cmd.secret_credential_id is not None:
        events.append(PersonSecretChanged(cmd.person_id, after["organization_id"], cmd.secret_credential_id))
    return events


def decide_delete_person(state: Person, cmd: DeletePerson) -> list:
    if not state.exists:
        raise NotFound.of("person", cmd.person_id)
    return [PersonDeleted(cmd.person_id, state.fields["organization_id"])]

