"""Enrollment form accounts and device enrollment endpoints: state, evolve, decide. Pure: no I/O, no clock, no
logging — `now`, the profiles named (looked up by the entrypoint) and whether an access code matched (argon2,
checked by the entrypoint) come in as arguments.

The access-code lockout is identity's login lockout (services/identity/domain.py decide_login) for an account's
form: each wrong code counts (`form_access_failed.v1` with consecutive_failures); the one that reaches
`max_failures` sets locked_until = now + lockout; until then every attempt is refused with identity's words and code
(`account_locked`), the right code too, and records nothing (so a flood of attempts cannot flood the log); the
right code after wrong ones resets the count (`form_access_reset.v1`). The count is in the events, so it holds
across replicas and restarts.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from contracts import enrollment_forms as contract
from contracts.errors import Conflict, Forbidden, InvalidRequest, NotFound, PolicyViolation, Unauthenticated
from services.enrollment.forms_events import (DeviceChallengeIssued, DeviceEndpointCreated,
                                              DeviceEndpointCredentialRotated, DeviceEndpointDeleted,
                                              DeviceEndpointUpdated, FormAccessFailed, FormAccessReset, FormAccountCreated,
                                              FormAccountDeleted, FormAccountUpdated)

# identity's LOCKED refusal ("too many failed logins: the account is locked for a while", account_locked)
LOCKED_MESSAGE = "too many wrong access codes: the account is locked for a while"
LOCKED_CODE = "account_locked"
ACCOUNT_KIND, ENDPOINT_KIND = "form_account", "device_endpoint"
ACCOUNT_SETTINGS = ("name", "profile_ids", "csr_generation", "auto_approve", "auto_renew",
                    "allow_empty_pkcs12_password", "status")
ENDPOINT_SETTINGS = ("name", "profile_ids", "help_link_text", "help_text", "status")
PROTOCOL_ENDPOINT_TYPES = contract.PROTOCOL_ENDPOINT_TYPES
CHALLENGE_KIND = "device_challenge"


# ---- enrollment form accounts ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class FormAccount:
    form_account_id: str | None = None
    name: str = ""
    cert_type: str = ""
    organization_id: str = ""
    department_id: str | None = None
    profile_ids: tuple[str, ...] = ()
    csr_generation: tuple[str, ...] = ()
    auto_approve: bool = False
    auto_renew: bool = False
    allow_empty_pkcs12_password: bool = False
    status: str = "active"
    deleted: bool = False
    consecutive_failures: int = 0
    locked_until: datetime | None = None

    @property
    def exists(self) -> bool:
        return self.form_account_id is not None and not self.deleted

    def locked(self, now: datetime) -> bool:
        return self.locked_until is not None and self.locked_until > now

    def settings(self) -> dict:
        return {"name": self.name, "profile_ids": list(self.profile_ids), "csr_generation": list(self.csr_generation),
                "auto_approve": self.auto_approve, "auto_renew": self.auto_renew,
                "allow_empty_pkcs12_password": self.allow_empty_pkcs12_password, "status": self.status}


def evolve_account(state: FormAccount, event) -> FormAccount:
    match event:
        case FormAccountCreated():
            return FormAccount(event.form_account_id, event.name, event.cert_type, event.organization_id,
                               event.department_id, tuple(event.profile_ids), tuple(event.csr_generation),
                               event.auto_approve, event.auto_renew, event.allow_empty_pkcs12_password)
        case FormAccountUpdated():
            return replace(state, name=event.name, profile_ids=tuple(event.profile_ids),
                           csr_generation=tuple(event.csr_generation), auto_approve=event.auto_approve,
                           auto_renew=event.auto_renew, allow_empty_pkcs12_password=event.allow_empty_pkcs12_password,
                           status=event.status,
                           # a new code starts a new count
                           **({"consecutive_failures": 0, "locked_until": None} if event.access_code_changed_at
                              else {}))
        case FormAccountDeleted():
            return replace(state, deleted=True)
        case FormAccessFailed():
            locked = datetime.fromisoformat(event.locked_until) if event.locked_until else state.locked_until
            return replace(state, consecutive_failures=event.consecutive_failures, locked_until=locked)
        case FormAccessReset():
            return replace(state, consecutive_failures=0, locked_until=None)
    raise TypeError(f"a form account cannot evolve {type(event).__name__}")


def fold_account(events) -> FormAccount:
    state = FormAccount()
    for event in events:
        state = evolve_account(state, event)
    return state


def check_profiles(cert_type: str, profile_ids, profiles: dict) -> list[str]:
    """The profile ids (canonical, each once, in the order given) if every one exists (`profiles`: id -> profile,
    None for an unknown one) and is of `cert_type`; else PolicyViolation naming each that is not."""
    wanted = list(dict.fromkeys(str(p) for p in profile_ids))
    unknown = {p: "no such profile" for p in wanted if profiles.get(p) is None}
    if unknown:
        raise PolicyViolation("unknown profiles: " + ", ".join(unknown), {"profile_ids": unknown},
                              code="profile_unknown")
    other = {p: f"a {profiles[p]['cert_type']} profile ({profiles[p]['name']})" for p in wanted
             if profiles[p]["cert_type"] != cert_type}
    if other:
        raise PolicyViolation(f"every profile must be a {cert_type} profile: "
                              + "; ".join(f"{p} is {why}" for p, why in other.items()),
                              {"profile_ids": other}, code="profile_not_of_type")
    return wanted


def check_account_settings(cert_type: str, values: dict) -> None:
    """The rules of an account's settings that depend on its type (the schema checked each field alone)."""
    if values.get("allow_empty_pkcs12_password") and cert_type != "client":
        raise InvalidRequest("only a client account may allow an empty PKCS#12 password",
                             {"allow_empty_pkcs12_password": [f"not for a {cert_type} account"]},
                             code="pkcs12_option_not_client")
    allowed = contract.CSR_GENERATION_BY_TYPE[cert_type]
    refused = [m for m in values.get("csr_generation", ()) if m not in allowed]
    if refused:
        raise InvalidRequest(f"a {cert_type} form offers {', '.join(allowed)} CSR generation only",
                             {"csr_generation": refused}, code="csr_generation_not_allowed")


def decide_create_account(state: FormAccount, form_account_id: str, values: dict, profiles: dict, created_by: str,
                          now: datetime) -> list:
    if state.form_account_id is not None:
        raise Conflict(f"form account {form_account_id} exists already", {"form_account_id": form_account_id},
                       code="form_account_exists")
    cert_type = values["cert_type"]
    check_account_settings(cert_type, values)
    profile_ids = check_profiles(cert_type, values["profile_ids"], profiles)
    return [FormAccountCreated(form_account_id, values["name"], cert_type, values["organization_id"],
                               values["department_id"], profile_ids, list(values["csr_generation"]),
                               values["auto_approve"], values["auto_renew"], values["allow_empty_pkcs12_password"],
                               now.isoformat(), created_by)]


def decide_update_account(state: FormAccount, changes: dict, profiles: dict, code_changed: bool, updated_by: str,
                          now: datetime) -> list:
    """`changes`: the settings sent (UpdateFormAccountV1, without the access code); `code_changed`: a new access
    code was sent (its hash is kept by the entrypoint in the same transaction). Nothing changed: no event."""
    _existing_account(state)
    merged = {**state.settings(), **{k: v for k, v in changes.items() if k in ACCOUNT_SETTINGS}}
    check_account_settings(state.cert_type, merged)
    if "profile_ids" in changes:
        merged["profile_ids"] = check_profiles(state.cert_type, changes["profile_ids"], profiles)
    merged["csr_generation"] = list(merged["csr_generation"])
    if merged == state.settings() and not code_changed:
        return []
    return [FormAccountUpdated(state.form_account_id, **merged,
                               access_code_changed_at=now.isoformat() if code_changed else None,
                               updated_by=updated_by)]


def decide_delete_account(state: FormAccount, deleted_by: str) -> list:
    _existing_account(state)
    return [FormAccountDeleted(state.form_account_id, deleted_by)]


def decide_access(state: FormAccount, code_ok: bool, now: datetime, max_failures: int,
                  lockout_seconds: float) -> list:
    """An applicant's attempt with an access code (`code_ok`: it matched). Refused while locked (the right code
    too) and for a disabled account, recording nothing; a wrong code records the failure (and the lock when it is
    the max_failures-th in a row) — the caller refuses after the append; the right code after failures resets the
    count."""
    check_open(state, now)
    if not code_ok:
        failures = state.consecutive_failures + 1
        locked = now + timedelta(seconds=lockout_seconds) if failures >= max_failures else None
        return [FormAccessFailed(state.form_account_id, "wrong_access_code", failures,
                                 locked.isoformat() if locked else None)]
    return [FormAccessReset(state.form_account_id)] if state.consecutive_failures else []


def check_open(state: FormAccount, now: datetime) -> None:
    """An applicant may try a code: the account exists, is active and not locked."""
    _existing_account(state)
    if state.status != "active":
        raise Forbidden("this enrollment account is disabled", {"form_account_id": [state.status]},
                        code="form_account_disabled")
    if state.locked(now):
        raise locked_refusal(state.locked_until)


def locked_refusal(locked_until: datetime) -> Unauthenticated:
    """identity's answer to a locked login (the same class and code)."""
    return Unauthenticated(LOCKED_MESSAGE, {"locked_until": locked_until.isoformat()}, code=LOCKED_CODE)


def wrong_code_refusal(failed: dict) -> Forbidden:
    """The answer to the wrong code `failed` (a form_access_failed.v1 payload) recorded."""
    details = {"access_code": ["wrong access code"], "consecutive_failures": failed["consecutive_failures"]}
    if failed["locked_until"]:
        details["locked_until"] = failed["locked_until"]
    return Forbidden("wrong access code" + (": the account is now locked for a while" if failed["locked_until"]
                                            else ""), details, code="access_code_wrong")


def email_domain(email: str) -> str:
    """The domain part of an applicant's email (the schema checked its shape)."""
    return email.rsplit("@", 1)[1].strip().rstrip(".").lower()


def _existing_account(state: FormAccount) -> None:
    if not state.exists:
        raise NotFound.of(ACCOUNT_KIND, state.form_account_id or "?")


# ---- device enrollment endpoints ------------------------------------------------------------------------------

@dataclass(frozen=True)
class DeviceEndpoint:
    endpoint_id: str | None = None
    type: str = "web_form"
    name: str = ""
    organization_id: str = ""
    department_id: str | None = None
    profile_ids: tuple[str, ...] = ()
    uri_extension: str = ""
    help_link_text: str | None = None
    help_text: str | None = None
    status: str = "active"
    deleted: bool = False
    credential_set_at: str | None = None

    @property
    def exists(self) -> bool:
        return self.endpoint_id is not None and not self.deleted

    def settings(self) -> dict:
        return {"name": self.name, "profile_ids": list(self.profile_ids), "help_link_text": self.help_link_text,
                "help_text": self.help_text, "status": self.status}


def evolve_endpoint(state: DeviceEndpoint, event) -> DeviceEndpoint:
    match event:
        case DeviceEndpointCreated():
            return DeviceEndpoint(event.endpoint_id, event.type, event.name, event.organization_id,
                                  event.department_id, tuple(event.profile_ids), event.uri_extension,
                                  event.help_link_text, event.help_text, credential_set_at=event.credential_set_at)
        case DeviceEndpointCredentialRotated():
            return replace(state, credential_set_at=event.credential_set_at)
        case DeviceEndpointUpdated():
            return replace(state, name=event.name, profile_ids=tuple(event.profile_ids),
                           help_link_text=event.help_link_text, help_text=event.help_text, status=event.status)
        case DeviceEndpointDeleted():
            return replace(state, deleted=True)
    raise TypeError(f"a device endpoint cannot evolve {type(event).__name__}")


def fold_endpoint(events) -> DeviceEndpoint:
    state = DeviceEndpoint()
    for event in events:
        state = evolve_endpoint(state, event)
    return state


def decide_create_endpoint(state: DeviceEndpoint, endpoint_id: str, values: dict, uri_extension: str,
                           profiles: dict, created_by: str, now: datetime | None = None) -> list:
    """`uri_extension`: the one given, or the one generated. Its uniqueness is the projection's (checked in the
    append transaction). An scep or est endpoint's credential is made with it (`now`: when)."""
    if state.endpoint_id is not None:
        raise Conflict(f"device endpoint {endpoint_id} exists already", {"endpoint_id": endpoint_id},
                       code="device_endpoint_exists")
    profile_ids = check_profiles("device", values["profile_ids"], profiles)
    credential_set_at = now.isoformat() if values["type"] in PROTOCOL_ENDPOINT_TYPES and now else None
    return [DeviceEndpointCreated(endpoint_id, values["type"], values["name"], values["organization_id"],
                                  values["department_id"], profile_ids, uri_extension, values["help_link_text"],
                                  values["help_text"], created_by, credential_set_at)]


def decide_rotate_credential(state: DeviceEndpoint, rotated_by: str, now: datetime) -> list:
    """A new credential for an scep or est endpoint (409 `no_credential` for a web form: its URL is public)."""
    _existing_endpoint(state)
    if state.type not in PROTOCOL_ENDPOINT_TYPES:
        raise Conflict(f"a {state.type} endpoint has no credential: only scep and est endpoints do",
                       {"type": [state.type]}, code="no_credential")
    return [DeviceEndpointCredentialRotated(state.endpoint_id, now.isoformat(), rotated_by)]


def decide_issue_challenge(endpoint: DeviceEndpoint, history: list, challenge_id: str, values: dict,
                           issued_by: str, now: datetime) -> list:
    """A one-time challenge for an scep or est endpoint (`history`: the challenge's own stream). A disabled
    endpoint may get challenges too (for its devices once it is enabled again): it refuses their requests while
    disabled."""
    _existing_endpoint(endpoint)
    if endpoint.type not in PROTOCOL_ENDPOINT_TYPES:
        raise Conflict(f"a {endpoint.type} endpoint takes no challenges: only scep and est endpoints do",
                       {"type": [endpoint.type]}, code="no_credential")
    if history:
        raise Conflict(f"challenge {challenge_id} exists already", {"challenge_id": challenge_id},
                       code="challenge_exists")
    expires_at = now + timedelta(hours=values["valid_hours"])
    return [DeviceChallengeIssued(challenge_id, endpoint.endpoint_id, values["device_name"], expires_at.isoformat(),
                                  issued_by)]


def decide_update_endpoint(state: DeviceEndpoint, changes: dict, profiles: dict, updated_by: str) -> list:
    _existing_endpoint(state)
    merged = {**state.settings(), **{k: v for k, v in changes.items() if k in ENDPOINT_SETTINGS}}
    if "profile_ids" in changes:
        merged["profile_ids"] = check_profiles("device", changes["profile_ids"], profiles)
    if merged == state.settings():
        return []
    return [DeviceEndpointUpdated(state.endpoint_id, **merged, updated_by=updated_by)]


def decide_delete_endpoint(state: DeviceEndpoint, deleted_by: str) -> list:
    _existing_endpoint(state)
    return [DeviceEndpointDeleted(state.endpoint_id, deleted_by)]


def _existing_endpoint(state: DeviceEndpoint) -> None:
    if not state.exists:
        raise NotFound.of(ENDPOINT_KIND, state.endpoint_id or "?")
