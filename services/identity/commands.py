"""What the identity service is asked to do. Secrets never appear here: passwords are verified and hashed by
adapters/credentials.py before a command is built, and the command carries the outcome or a reference."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from contracts.access import Principal, Role


@dataclass(frozen=True)
class CreateAdmin:
    admin_id: str
    username: str
    profile: dict[str, Any]
    roles: tuple[Role, ...]
    privileges: frozenset[str]
    credential_id: str | None          # the initial password's credential (None: API-only)
    actor: Principal | None            # None: the operator, from the command line


@dataclass(frozen=True)
class UpdateAdmin:
    admin_id: str
    changes: dict[str, Any]
    actor: Principal


@dataclass(frozen=True)
class ChangeAccess:
    admin_id: str
    roles: tuple[Role, ...]
    privileges: frozenset[str]
    actor: Principal
    other_active_mraos: int            # besides this admin


@dataclass(frozen=True)
class ChangeStatus:
    admin_id: str
    action: str                        # approve | suspend | reactivate
    actor: Principal
    other_active_mraos: int


@dataclass(frozen=True)
class DeleteAdmin:
    admin_id: str
    actor: Principal
    other_active_mraos: int


@dataclass(frozen=True)
class SetPassword:
    admin_id: str
    credential_id: str
    actor: Principal | None            # None: the operator, from the command line
    by_self: bool                      # True: the admin changed their own (no change required afterwards)
    keep_session_id: str | None = None  # the session the change was made from stays open


@dataclass(frozen=True)
class Login:
    admin_id: str
    password_ok: bool
    session_id: str
    token_sha256: str
    expires_at: datetime
    now: datetime
    max_failures: int
    lockout_seconds: float
    client: str | None = None


@dataclass(frozen=True)
class Logout:
    admin_id: str
    session_id: str


@dataclass(frozen=True)
class CreateApiKey:
    admin_id: str
    key_id: str
    name: str
    key_sha256: str
    prefix: str
    actor: Principal


@dataclass(frozen=True)
class RevokeApiKey:
    admin_id: str
    key_id: str
    actor: Principal


@dataclass(frozen=True)
class CreatePerson:
    person_id: str
    fields: dict[str, Any]
    secret_credential_id: str | None


@dataclass(frozen=True)
class UpdatePerson:
    person_id: str
    changes: dict[str, Any]
    secret_credential_id: str | None   # a new secret ID's credential, when one was sent


@dataclass(frozen=True)
class DeletePerson:
    person_id: str
