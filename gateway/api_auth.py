"""Logging in and out, and changing one's password: /api/v1/auth/... An API client logs in for a bearer token
(`login`); the console logs in for a session cookie and its CSRF token (`login_console`, auth.py says why)."""
from __future__ import annotations

from datetime import datetime, timezone

from werkzeug.wrappers import Request, Response

from contracts import identity as identity_contract
from contracts.errors import InvalidRequest
from gateway import schemas
from gateway.auth import SESSION_COOKIE, SESSION_PREFIX, csrf_token_of, new_token, sha256
from gateway.base import json_response, parse_body
from gateway.http import api
from gateway.openapi import Operation

TAG = "authentication"


class AuthRoutes:
    @api("POST", "/api/v1/auth/login", doc=Operation(
        "Log in with username and password: a bearer token for the console and the API", TAG,
        body=identity_contract.LoginV1, public=True,
        responses={200: (schemas.LoginAnswer, "logged in"),
                   401: (schemas.Error, "wrong username or password, locked, suspended, waiting for approval, or "
                                        "an API-only admin")}))
    def login(self, request: Request):
        _raw, payload = parse_body(request, identity_contract.LoginV1(), self.context.settings.max_body_bytes)
        token = new_token(SESSION_PREFIX)
        result = self._identity("login", payload, sha256(token), request.remote_addr)
        return json_response(200, {"token": token, "token_type": "Bearer", "expires_at": result["expires_at"],
                                   "admin_id": result["admin_id"],
                                   "must_change_password": result["must_change_password"]})

    @api("POST", "/api/v1/auth/session", doc=Operation(
        "Log in from a browser: the session is an HttpOnly, SameSite=Strict cookie (Secure over HTTPS); every "
        "request that changes something must then send the answer's `csrf_token` as X-CSRF-Token. The session "
        "ends after `idle_timeout_seconds` without activity, at `expires_at` at the latest.", TAG,
        body=identity_contract.LoginV1, public=True,
        responses={200: (schemas.ConsoleLoginAnswer, "logged in; Set-Cookie carries the session"),
                   401: (schemas.Error, "wrong username or password, locked, suspended, waiting for approval, or "
                                        "an API-only admin")}))
    def login_console(self, request: Request):
        _raw, payload = parse_body(request, identity_contract.LoginV1(), self.context.settings.max_body_bytes)
        token = new_token(SESSION_PREFIX)
        result = self._identity("login", payload, sha256(token), request.remote_addr)
        self.console_sessions.started(str(result["session_id"]), datetime.now(timezone.utc))
        settings = self.context.settings
        response = json_response(200, {"admin_id": result["admin_id"], "expires_at": result["expires_at"],
                                       "must_change_password": result["must_change_password"],
                                       "csrf_token": csrf_token_of(token),
                                       "idle_timeout_seconds": settings.session_idle_timeout})
        response.set_cookie(SESSION_COOKIE, token, max_age=int(settings.session_ttl), path="/", httponly=True,
                            samesite="Strict", secure=_over_https(request, settings.base_url))
        return response

    @api("POST", "/api/v1/auth/logout", doc=Operation(
        "End this session: its token (or the console's session cookie) stops working at once", TAG,
        responses={204: (None, "logged out")}))
    def logout(self, request: Request):
        scope = self._begin(request, password_change_allowed=True)
        if scope.principal.via != "session":
            raise InvalidRequest("an API key has no session to end; revoke the key instead", code="not_a_session")
        self._identity("logout", scope.principal.admin_id, scope.principal.credential_id)
        response = Response(status=204)
        if "csrf_token" in scope.principal.extra:
            self.console_sessions.ended(scope.principal.credential_id)
            response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="Strict",
                                   secure=_over_https(request, self.context.settings.base_url))
        return response

    @api("POST", "/api/v1/auth/password", doc=Operation(
        "Change your own password (other sessions end)", TAG, body=identity_contract.ChangePasswordV1,
        responses={204: (None, "changed")}))
    def change_password(self, request: Request):
        scope = self._begin(request, password_change_allowed=True)
        _raw, payload = parse_body(request, identity_contract.ChangePasswordV1(),
                                   self.context.settings.max_body_bytes)
        session_id = scope.principal.credential_id if scope.principal.via == "session" else None
        self._identity("change_password", scope.principal.admin_id, session_id, payload)
        return Response(status=204)

    @api("GET", "/api/v1/auth/me", doc=Operation("Who you are, as the gateway sees you", TAG,
                                                 responses={200: (schemas.Me, "you")}))
    def me(self, request: Request):
        p = self._begin(request, password_change_allowed=True).principal
        answer = {"admin_id": p.admin_id, "username": p.username, "via": p.via,
                  "roles": [r.to_dict() for r in p.roles], "privileges": sorted(p.privileges),
                  "must_change_password": p.must_change_password}
        if "csrf_token" in p.extra:       # the console, reloaded: its CSRF token again (only this origin reads it)
            answer |= {"csrf_token": p.extra["csrf_token"],
                       "idle_timeout_seconds": self.context.settings.session_idle_timeout}
        return json_response(200, answer)


def _over_https(request: Request, base_url: str) -> bool:
    """Whether the browser reached us over HTTPS: directly, through a proxy that says so, or as configured."""
    return (request.scheme == "https" or request.headers.get("X-Forwarded-Proto", "").lower() == "https"
            or base_url.startswith("https://"))
