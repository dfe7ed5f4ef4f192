"""The one place the gateway decides who is asking: `Authorization: Bearer <token>`, where the token is a session
token from POST /api/v1/auth/login (`cps_…`) or an API key (`cpk_…`); or, from a browser, the same kind of session
token in the HttpOnly `certplane_session` cookie that POST /api/v1/auth/session sets (DESIGN §5). Tokens are
256-bit random values the gateway makes and shows once; only their sha256 is ever stored, here and in identity's
events.

A browser sends the cookie by itself, so a request it carries is only the user's own when it also carries the
session's CSRF token (`X-CSRF-Token`), which a page of another site cannot read: the cookie is HttpOnly and the
token is only ever in the answers of this origin. The token is derived from the session token (a hash under a
label of its own), so no replica has to store it and it dies with the session. Unsafe methods also need
`Sec-Fetch-Site` and `Origin`, where the browser sends them, to say the request comes from this origin.
A bearer token or an API key in the Authorization header is never a browser's ambient credential: those requests
need no CSRF token, exactly as before."""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import datetime, timezone
from urllib.parse import urlsplit

from werkzeug.wrappers import Request

from contracts.access import Principal, Role
from contracts.errors import Forbidden, Unauthenticated

SESSION_PREFIX = "cps_"
API_KEY_PREFIX = "cpk_"
KEY_PREFIX_SHOWN = 12        # how much of an API key lists show, to tell keys apart
SESSION_COOKIE = "certplane_session"
CSRF_HEADER = "X-CSRF-Token"
BACKGROUND_HEADER = "X-Certplane-Background"   # a console poll: not a sign of the user's activity
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


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


def csrf_token_of(session_token: str) -> str:
    """The CSRF token of a console session: what only a holder of the session token (the gateway, or the page it
    answered at login) can know."""
    digest = hashlib.sha256(b"certplane csrf token\0" + session_token.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def credential(request: Request) -> tuple[str, bool]:
    """(token, whether it came from the session cookie). The Authorization header wins over a cookie."""
    if not request.headers.get("Authorization"):
        cookie = request.cookies.get(SESSION_COOKIE)
        if cookie:
            if not cookie.startswith(SESSION_PREFIX):
                raise Unauthenticated("the session cookie is not valid; log in again", code="invalid_token")
            return cookie, True
    return bearer(request), False


def check_same_origin(request: Request, csrf_token: str, base_url: str) -> None:
    """A state-changing request made with the session cookie: refused (403) unless the page of this origin sent
    it with the session's CSRF token."""
    if request.method in SAFE_METHODS:
        return
    site = request.headers.get("Sec-Fetch-Site")
    origin = request.headers.get("Origin")
    if (site is not None and site not in ("same-origin", "none")) or (
            origin is not None and origin not in _origins(request, base_url)):
        raise Forbidden("a request from another site may not use your console session",
                        {"origin": origin, "sec_fetch_site": site}, code="cross_site_request")
    sent = request.headers.get(CSRF_HEADER, "")
    if not sent:
        raise Forbidden(f"a console request that changes something must carry the {CSRF_HEADER} header",
                        {"missing": CSRF_HEADER}, code="csrf_token_missing")
    if not hmac.compare_digest(sent.encode(), csrf_token.encode()):
        raise Forbidden(f"the {CSRF_HEADER} header does not belong to this session; reload the console",
                        code="csrf_token_invalid")


def _origins(request: Request, base_url: str) -> set[str]:
    public = urlsplit(base_url)
    return {request.host_url.rstrip("/"), f"{public.scheme}://{public.netloc}"}


def authenticate(request: Request, principals, now: datetime | None = None) -> Principal:
    """The caller, from the gateway's principal directory; Unauthenticated (401) says why not. A caller
    authenticated by the session cookie has `extra["csrf_token"]` set and is not yet checked for CSRF or idleness:
    the gateway does that (base.GatewayBase._begin)."""
    token, from_cookie = credential(request)
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
                     credential_id, {"csrf_token": csrf_token_of(token)} if from_cookie else {})


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment
