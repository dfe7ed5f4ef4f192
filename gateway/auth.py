"""The one place the gateway decides who is asking: `Authorization: Bearer <token>`, where the token is a session
token from POST /api/v1/auth/login (`cps_…`) or an API key (`cpk_…`). Both are 256-bit random values the gateway
makes and shows once; only their sha256 is ever stored, here and in identity's events."""
from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timezone

from werkzeug.wrappers import Request

from contracts.access import Principal, Role
from contracts.errors import Unauthenticated

SESSION_PREFIX = "cps_"
API_KEY_PREFIX = "cpk_"
KEY_PREFIX_SHOWN = 12        # how much of an API key lists show, to tell keys apart


def new_token(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


def sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def bearer(request: Request) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        raise Unauthenticated("log in (POST /api/v1/auth/login) and send Authorization: Bearer <token>, "
                              "or send an API key the same way", code="unauthenticated")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("the Authorization header must be: Bearer <token>", code="invalid_token")
    return token.strip()


def authenticate(request: Request, principals, now: datetime | None = None) -> Principal:
    """The caller, from the gateway's principal directory; Unauthenticated (401) says why not."""
    token = bearer(request)
    now = now or datetime.now(timezone.utc)
    if token.startswith(SESSION_PREFIX):
        row = principals.lookup_session(sha256(token))
        if row is None:
            raise Unauthenticated("the token is not valid (logged out, replaced or never issued)",
                                  code="invalid_token")
        if _utc(row["expires_at"]) <= now:
            raise Unauthenticated("the session has expired; log in again", code="token_expired")
        via, credential_id = "session", row["session_id"]
        if "ws_api_only" in (row["privileges"] or []):
            raise Unauthenticated("this admin uses the API with API keys only", code="api_only")
    elif token.startswith(API_KEY_PREFIX):
        row = principals.lookup_api_key(sha256(token))
        if row is None:
            raise Unauthenticated("the API key is not valid (revoked or never issued)", code="invalid_api_key")
        via, credential_id = "api_key", row["key_id"]
    else:
        raise Unauthenticated("the token is not valid", code="invalid_token")
    if row["status"] != "active":
        raise Unauthenticated(f"the account is {row['status'].replace('_', ' ')}", code=f"account_{row['status']}")
    return Principal(row["admin_id"], row["username"], tuple(Role.from_dict(r) for r in row["roles"]),
                     frozenset(row["privileges"]), row["status"], bool(row["must_change_password"]), via,
                     credential_id)


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment
