"""The identity service: nameko entrypoints only. Administrators (roles, privileges, status, passwords, sessions,
API keys) and persons. Secrets are checked and hashed by adapters/credentials.py before a command is built."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

from nameko.extensions import DependencyProvider
from nameko.rpc import RpcProxy, rpc

from contracts import identity as contract
from contracts.access import Principal, Role
from contracts.errors import EXPECTED, InvalidRequest, NotFound, Unauthenticated
from services.identity import csv_import, domain
from services.identity.adapters.credentials import CredentialStore
from services.identity.commands import (ChangeAccess, ChangeStatus, CreateAdmin, CreateApiKey, CreatePerson,
                                        DeleteAdmin, DeletePerson, Login, Logout, RevokeApiKey, SetPassword,
                                        UpdateAdmin, UpdatePerson)
from services.identity.events import decode
from services.identity.projections import PASSWORD_HISTORY, IdentityView, OrgFacts, OrgIndex
from services.runtime.entrypoint_helpers import decider, load_payload, parse_id
from services.runtime.nameko_glue import (READ_EVENTS_TIMEOUT, Context, EventSourced, EventStoreProvider, follows,
                                          open_database, rpc_call, settings_of)
from services.runtime.store import StreamAppend

LOGIN_REFUSALS = {
    "wrong_password": ("wrong username or password", "wrong_credentials"),
    "locked": ("too many failed logins: the account is locked for a while", "account_locked"),
    "suspended": ("the account is suspended", "account_suspended"),
    "pending_approval": ("the account waits for an MRAO's approval", "account_pending_approval"),
    "api_only": ("this admin uses the API with API keys only, not the console", "api_only"),
}


def admin_stream(admin_id: str) -> str:
    return f"admin-{admin_id}"


def person_stream(person_id: str) -> str:
    return f"person-{person_id}"


def _admin_decider(decide, *args):
    return decider(lambda events: domain.fold(events, domain.Admin()), decode, decide, *args)


def _person_decider(decide, *args):
    return decider(lambda events: domain.fold(events, domain.Person()), decode, decide, *args)


def _roles(loaded: list[dict]) -> tuple[Role, ...]:
    return tuple(Role.from_dict(contract.role_payload(r)) for r in loaded)


class CredentialsProvider(DependencyProvider):
    def setup(self):
        self.credentials = CredentialStore(open_database(settings_of(self.container), self.container.service_name))

    def get_dependency(self, worker_ctx):
        return self.credentials


class IdentityService(EventSourced):
    name = contract.SOURCE

    store = EventStoreProvider(projections=[IdentityView])
    context = Context()
    credentials = CredentialsProvider()
    orgs_rpc = RpcProxy("orgs")
    org_index = follows("orgs", OrgIndex)         # which organizations and departments exist

    # ---- login, sessions, passwords ----------------------------------------------------------------------
    @rpc(expected_exceptions=EXPECTED)
    def login(self, payload: dict, token_sha256: str, client: str | None = None) -> dict:
        """Check a username and password; on success open a session for the token whose sha256 is given (the
        gateway made the token and never sends it). Every attempt, good or bad, is an event."""
        values = load_payload(contract.LoginV1(), payload)
        row = self.store.read(lambda c: self._view.admin_by_username(c, values["username"]))
        if row is None:
            self.credentials.verify(None, values["password"])          # same cost as a real check
            stream = f"login-failures-{values['username'].casefold()}"[:200]
            self.store.execute(stream, lambda history: [e.encode() for e in domain.decide_unknown_user_login(
                values["username"], client)])
            raise Unauthenticated(LOGIN_REFUSALS["wrong_password"][0], code="wrong_credentials")
        password_ok = self.credentials.verify(row["credential_id"], values["password"])
        settings = self.context.settings
        now = datetime.now(timezone.utc)
        cmd = Login(row["admin_id"], password_ok, str(uuid.uuid4()), token_sha256,
                    now + timedelta(seconds=settings.session_ttl), now, settings.login_max_failures,
                    settings.lockout_seconds, client)
        result = self.store.execute(admin_stream(cmd.admin_id), _admin_decider(domain.decide_login, cmd))
        last = result.events[-1]
        if last.event_type == "admin_login_failed.v1":
            message, code = LOGIN_REFUSALS[last.payload["reason"]]
            raise Unauthenticated(message, {"locked_until": last.payload["locked_until"]}
                                  if last.payload["reason"] in ("locked", "wrong_password") and
                                  last.payload["locked_until"] else {}, code=code)
        return self.command_result(result, admin_id=cmd.admin_id, session_id=cmd.session_id,
                                   expires_at=cmd.expires_at.isoformat(),
                                   must_change_password=bool(row["must_change_password"]))

    @rpc(expected_exceptions=EXPECTED)
    def logout(self, admin_id: str, session_id: str) -> dict:
        cmd = Logout(parse_id(admin_id, "admin"), parse_id(session_id, "session"))
        return self.command_result(self.store.execute(admin_stream(cmd.admin_id),
                                                      _admin_decider(domain.decide_logout, cmd)))

    @rpc(expected_exceptions=EXPECTED)
    def change_password(self, admin_id: str, session_id: str | None, payload: dict) -> dict:
        """The admin's own change: the current password proves it is them; other sessions end."""
        values = load_payload(contract.ChangePasswordV1(), payload)
        row = self._admin_row(admin_id)
        if not self.credentials.verify(row["credential_id"], values["current_password"]):
            raise Unauthenticated("the current password is wrong", code="wrong_credentials")
        credential_id = self._new_password(row, values["new_password"])
        cmd = SetPassword(row["admin_id"], credential_id, self._actor(), by_self=True, keep_session_id=session_id)
        return self._run_admin(cmd.admin_id, domain.decide_set_password, cmd, self._facts().dept_org)

    @rpc(expected_exceptions=EXPECTED)
    def set_admin_password(self, admin_id: str, payload: dict) -> dict:
        """Another admin sets it: the admin must change it at the next login."""
        values = load_payload(contract.SetPasswordV1(), payload)
        row = self._admin_row(admin_id)
        credential_id = self._new_password(row, values["password"])
        cmd = SetPassword(row["admin_id"], credential_id, self._actor(), by_self=False)
        return self._run_admin(cmd.admin_id, domain.decide_set_password, cmd, self._facts().dept_org)

    # ---- administrators ----------------------------------------------------------------------------------
    @rpc(expected_exceptions=EXPECTED)
    def create_admin(self, payload: dict, orgs_position: int = 0, admin_id: str | None = None) -> dict:
        values = load_payload(contract.CreateAdminV1(), payload)
        facts = self._facts(orgs_position)
        actor = self._actor()
        credential_id = None
        if values["password"] is not None:
            self._check_password(values["password"], values["username"])
            credential_id = self.credentials.put("password", values["password"])
        cmd = CreateAdmin(parse_id(admin_id or uuid.uuid4(), "admin"), values["username"],
                          {f: values.get(f) for f in contract.PROFILE_FIELDS}, _roles(values["roles"]),
                          frozenset(values["privileges"]), credential_id, actor)
        result = self.store.execute(admin_stream(cmd.admin_id), _admin_decider(
            domain.decide_create_admin, cmd, facts.organization_exists, facts.dept_org))
        return self.command_result(result, admin=self.get_admin(cmd.admin_id))

    @rpc(expected_exceptions=EXPECTED)
    def get_admin(self, admin_id: str) -> dict:
        admin_id = parse_id(admin_id, "admin")
        found = self.store.read(lambda c: self._view.admin(c, admin_id))
        if found is None:
            raise NotFound.of("admin", admin_id)
        return found

    @rpc(expected_exceptions=EXPECTED)
    def update_admin(self, admin_id: str, changes: dict) -> dict:
        values = load_payload(contract.UPDATE_ADMIN, changes)
        cmd = UpdateAdmin(parse_id(admin_id, "admin"), values, self._actor())
        return self._run_admin(cmd.admin_id, domain.decide_update_admin, cmd, self._facts().dept_org,
                               answer=True)

    @rpc(expected_exceptions=EXPECTED)
    def change_admin_access(self, admin_id: str, payload: dict, orgs_position: int = 0) -> dict:
        values = load_payload(contract.AdminAccessV1(), payload)
        facts = self._facts(orgs_position)
        admin_id = parse_id(admin_id, "admin")
        cmd = ChangeAccess(admin_id, _roles(values["roles"]), frozenset(values["privileges"]), self._actor(),
                           self._other_mraos(admin_id))
        return self._run_admin(admin_id, domain.decide_change_access, cmd, facts.organization_exists,
                               facts.dept_org, answer=True)

    @rpc(expected_exceptions=EXPECTED)
    def change_admin_status(self, admin_id: str, action: str) -> dict:
        admin_id = parse_id(admin_id, "admin")
        cmd = ChangeStatus(admin_id, action, self._actor(), self._other_mraos(admin_id))
        return self._run_admin(admin_id, domain.decide_change_status, cmd, self._facts().dept_org, answer=True)

    @rpc(expected_exceptions=EXPECTED)
    def delete_admin(self, admin_id: str) -> dict:
        admin_id = parse_id(admin_id, "admin")
        cmd = DeleteAdmin(admin_id, self._actor(), self._other_mraos(admin_id))
        return self._run_admin(admin_id, domain.decide_delete_admin, cmd, self._facts().dept_org)

    @rpc(expected_exceptions=EXPECTED)
    def create_api_key(self, admin_id: str, payload: dict, key_sha256: str, prefix: str) -> dict:
        """The gateway made the key and shows it once; identity keeps its sha256 and its first characters."""
        values = load_payload(contract.CreateApiKeyV1(), payload)
        cmd = CreateApiKey(parse_id(admin_id, "admin"), str(uuid.uuid4()), values["name"], key_sha256, prefix,
                           self._actor())
        result = self._run_admin(cmd.admin_id, domain.decide_create_api_key, cmd, self._facts().dept_org)
        return {**result, "key_id": cmd.key_id}

    @rpc(expected_exceptions=EXPECTED)
    def revoke_api_key(self, admin_id: str, key_id: str) -> dict:
        cmd = RevokeApiKey(parse_id(admin_id, "admin"), parse_id(key_id, "api_key"), self._actor())
        return self._run_admin(cmd.admin_id, domain.decide_revoke_api_key, cmd, self._facts().dept_org)

    # ---- persons -----------------------------------------------------------------------------------------
    @rpc(expected_exceptions=EXPECTED)
    def create_person(self, payload: dict, orgs_position: int = 0, person_id: str | None = None) -> dict:
        values = load_payload(contract.PersonFieldsV1(), payload)
        facts = self._facts(orgs_position)
        secret = values.pop("secret_id")
        fields = _person_fields(values)
        secret_credential_id = self.credentials.put("secret_id", secret) if secret else None
        cmd = CreatePerson(parse_id(person_id or uuid.uuid4(), "person"), fields, secret_credential_id)
        result = self.store.execute(person_stream(cmd.person_id), _person_decider(
            domain.decide_create_person, cmd, facts.organization_exists, facts.dept_org))
        return self.command_result(result, person=self.get_person(cmd.person_id))

    @rpc(expected_exceptions=EXPECTED)
    def get_person(self, person_id: str) -> dict:
        person_id = parse_id(person_id, "person")
        found = self.store.read(lambda c: self._view.person(c, person_id))
        if found is None:
            raise NotFound.of("person", person_id)
        return found

    @rpc(expected_exceptions=EXPECTED)
    def update_person(self, person_id: str, changes: dict, orgs_position: int = 0) -> dict:
        values = load_payload(contract.UPDATE_PERSON, changes)
        facts = self._facts(orgs_position)
        secret = values.pop("secret_id", None)
        cmd = UpdatePerson(parse_id(person_id, "person"), _person_fields(values),
                           self.credentials.put("secret_id", secret) if secret else None)
        result = self.store.execute(person_stream(cmd.person_id),
                                    _person_decider(domain.decide_update_person, cmd, facts.dept_org))
        return self.command_result(result, person=self.get_person(cmd.person_id))

    @rpc(expected_exceptions=EXPECTED)
    def delete_person(self, person_id: str) -> dict:
        cmd = DeletePerson(parse_id(person_id, "person"))
        return self.command_result(self.store.execute(person_stream(cmd.person_id),
                                                      _person_decider(domain.decide_delete_person, cmd)))

    @rpc(expected_exceptions=EXPECTED)
    def list_persons(self, scope: dict, offset: int = 0, limit: int = 50, organization_id: str | None = None,
                     email: str | None = None) -> dict:
        """`scope`: {"organizations": [...] or None for all, "departments": [...]} — the gateway computes it
        from the caller's roles."""
        return self.store.read(lambda c: self._view.persons_page(
            c, organizations=scope.get("organizations"), departments=scope.get("departments") or [],
            offset=max(0, int(offset)), limit=min(200, int(limit)), organization_id=organization_id, email=email))

    @rpc(expected_exceptions=EXPECTED)
    def import_persons(self, organization_id: str, csv_text: str, orgs_position: int = 0,
                       department_ids: list[str] | None = None) -> dict:
        """All or nothing (csv_import.py says why). `department_ids`: the departments the caller may import
        into (None: any); naming another is reported like an unknown department."""
        organization_id = parse_id(organization_id, "organization")
        facts = self._facts(orgs_position)
        if not facts.organization_exists(organization_id):
            raise NotFound.of("organization", organization_id)

        def department_named(name):
            found = facts.department_named(organization_id, name)
            return found if department_ids is None or found in department_ids else None

        rows, errors = csv_import.parse(csv_text, organization_id, department_named, lambda emails: self.store.read(
            lambda c: self._view.emails_taken(c, organization_id, emails)),
            department_required=department_ids is not None)
        if errors:
            raise InvalidRequest(f"{len(errors)} row(s) are wrong; nothing was imported",
                                 {"rows": [e.to_dict() for e in errors]}, code="csv_rows_invalid")
        batch = []
        for loaded in rows:
            secret = loaded.pop("secret_id")
            cmd = CreatePerson(str(uuid.uuid4()), _person_fields(loaded),
                               self.credentials.put("secret_id", secret) if secret else None)
            events = domain.decide_create_person(domain.Person(), cmd, facts.organization_exists, facts.dept_org)
            batch.append(StreamAppend(person_stream(cmd.person_id), 0, tuple(e.encode() for e in events)))
        result = self.store.append_streams(batch, self.context.metadata())
        return self.command_result(result, imported=len(batch))

    # ---- helpers ------------------------------------------------------------------------------------------
    @property
    def _view(self) -> IdentityView:
        return self.store.projection(IdentityView)

    def _read_orgs_events(self, after: int, limit: int) -> list[dict]:
        return rpc_call(self.orgs_rpc.read_events, after, limit, timeout=READ_EVENTS_TIMEOUT)

    def _facts(self, orgs_position: int = 0) -> OrgFacts:
        """What identity knows of organizations, at least as recent as the caller's `orgs_position`."""
        if orgs_position:
            self.org_index.wait_for(int(orgs_position), self._read_orgs_events)
        with self.org_index.db.engine.connect() as conn:
            return self.org_index.projection.snapshot(conn)

    def _actor(self) -> Principal:
        actor = self.context.actor or ""
        if not actor.startswith("admin:"):
            raise Unauthenticated("this needs an authenticated administrator")
        row = self.store.read(lambda c: self._view.admin_row(c, actor.removeprefix("admin:")))
        if row is None or row["status"] != "active":
            raise Unauthenticated("the acting administrator is not active")
        return Principal(row["admin_id"], row["username"], tuple(Role.from_dict(r) for r in row["roles"]),
                         frozenset(row["privileges"]), row["status"], row["must_change_password"])

    def _admin_row(self, admin_id: str):
        admin_id = parse_id(admin_id, "admin")
        row = self.store.read(lambda c: self._view.admin_row(c, admin_id))
        if row is None:
            raise NotFound.of("admin", admin_id)
        return row

    def _other_mraos(self, admin_id: str) -> int:
        return self.store.read(lambda c: self._view.active_mraos(c, admin_id))

    def _check_password(self, password: str, username: str) -> None:
        problems = domain.password_problems(password, username)
        if problems:
            raise InvalidRequest("the password does not meet the policy", {"password": problems},
                                 code="weak_password")

    def _new_password(self, row, password: str) -> str:
        """Check the policy and the last PASSWORD_HISTORY passwords, then store the new one."""
        self._check_password(password, row["username"])
        if any(self.credentials.verify(cid, password) for cid in row["password_history"] or ()):
            raise InvalidRequest(f"the password was used before (the last {PASSWORD_HISTORY} are remembered)",
                                 {"password": ["reused"]}, code="reused_password")
        return self.credentials.put("password", password)

    def _run_admin(self, admin_id: str, decide, *args, answer: bool = False) -> dict:
        result = self.store.execute(admin_stream(admin_id), _admin_decider(decide, *args))
        if answer:
            return self.command_result(result, admin=self.get_admin(admin_id))
        return self.command_result(result)


def _person_fields(values: dict) -> dict:
    """JSON-safe person fields (UUIDs as strings) of a loaded contract payload."""
    fields = dict(values)
    for key in ("organization_id", "department_id"):
        if fields.get(key) is not None:
            fields[key] = str(fields[key])
    return fields

