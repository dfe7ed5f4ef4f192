"""The first administrator, and `certplane admin create`: MRAOs made by the operator, straight into identity's
store (the relay publishes the events once the service runs)."""
from __future__ import annotations

import os
import secrets
import uuid
from pathlib import Path

from contracts.access import MRAO, Role
from services.identity import domain
from services.identity.adapters.credentials import CredentialStore
from services.identity.commands import CreateAdmin
from services.identity.projections import IdentityView
from services.runtime.store import EventStore

INITIAL_USERNAME = "admin"
INITIAL_FILE = "initial-admin.txt"


def create_mrao(store: EventStore, credentials: CredentialStore, username: str, email: str, forename: str,
                surname: str, password: str | None = None) -> tuple[str, str]:
    """(admin_id, password). A generated password is 24 random URL-safe characters; either way the admin must
    change it at the first login."""
    password = password or secrets.token_urlsafe(18)
    problems = domain.password_problems(password, username)
    if problems:
        raise SystemExit(f"the password does not meet the policy: {', '.join(problems)}")
    cmd = CreateAdmin(str(uuid.uuid4()), username, {"email": email, "forename": forename, "surname": surname},
                      (Role(MRAO),), frozenset(), credentials.put("password", password), actor=None)
    events = domain.decide_create_admin(domain.Admin(), cmd, lambda _o: False, lambda _d: None)
    store.append(f"admin-{cmd.admin_id}", 0, [e.encode() for e in events], {"actor": "operator:cli",
                                                                            "correlation_id": str(uuid.uuid4()),
                                                                            "causation_id": None})
    return cmd.admin_id, password


def ensure_initial_admin(store: EventStore, credentials: CredentialStore, var_dir: str) -> list[str]:
    """On the first start (no administrator at all): create `admin` as MRAO, write its password to a file only
    the user can read, and return the lines to print once."""
    if store.read(lambda c: store.projection(IdentityView).count_admins(c)) > 0:
        return []
    _, password = create_mrao(store, credentials, INITIAL_USERNAME, "admin@localhost", "Initial", "Administrator")
    path = Path(var_dir) / INITIAL_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(f"username: {INITIAL_USERNAME}\npassword: {password}\n")
    return [f"  First login: username {INITIAL_USERNAME!r}, password {password!r}",
            f"  (shown once; also in {path.resolve()}, readable only by you; change it at the first login)"]
