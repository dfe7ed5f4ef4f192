"""Logging in and out, and changing one's password: /api/v1/auth/..."""
from __future__ import annotations

from werkzeug.wrappers import Request, Response

from contracts import identity as identity_contract
from contracts.errors import InvalidRequest
from gateway import schemas
from gateway.auth import SESSION_PREFIX, new_token, sha256
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

    @api("POST", "/api/v1/auth/logout", doc=Operation(
        "End this session: its token stops working at once", TAG, responses={204: (None, "logged out")}))
    def logout(self, request: Request):
        scope = self._begin(request, password_change_allowed=True)
        if scope.principal.via != "session":
            raise InvalidRequest("an API key has no session to end; revoke the key instead", code="not_a_session")
        self._identity("logout", scope.principal.admin_id, scope.principal.credential_id)
        return Response(status=204)

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
        return json_response(200, {"admin_id": p.admin_id, "username": p.username, "via": p.via,
                                   "roles": [r.to_dict() for r in p.roles], "privileges": sorted(p.privileges),
                                   "must_change_password": p.must_change_password})
