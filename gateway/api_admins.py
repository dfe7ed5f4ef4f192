"""Administrators: /api/v1/admins/... The gateway decides what the caller sees (404 otherwise); identity applies
who may create, change, approve or delete whom (contracts/access.py), answering 403 with the missing right."""
from __future__ import annotations

from werkzeug.wrappers import Request, Response

from contracts import identity as identity_contract
from gateway import schemas, views
from gateway.auth import API_KEY_PREFIX, KEY_PREFIX_SHOWN, new_token, sha256
from gateway.base import json_response, parse_body, parse_query
from gateway.http import api
from gateway.openapi import Operation

TAG = "administrators"
_ADMIN = "/api/v1/admins/<admin_id>"


class AdminRoutes:
    @api("GET", "/api/v1/admins", doc=Operation(
        "List the administrators you see (sorted by username)", TAG, query=schemas.AdminListQuery,
        responses={200: (schemas.AdminList, "a page of administrators; X-Total-Count has the total")}))
    def list_admins(self, request: Request):
        scope = self._begin(request)
        query = parse_query(request, schemas.AdminListQuery())
        rows = self._principals_read(lambda p, c: p.all_admins(c))
        dept_org = self._dept_org_of({d for r in rows for role in r["roles"] for d in role["department_ids"]})
        visible = [views.admin_summary(r) for r in rows if scope.sees_admin(r["admin_id"], r["roles"], dept_org)
                   and query.get("status") in (None, r["status"])]
        page = visible[query["position"]:query["position"] + query["size"]]
        return json_response(200, views.page(page, len(visible), query["position"], query["size"]),
                             {"X-Total-Count": str(len(visible))})

    @api("POST", "/api/v1/admins", doc=Operation(
        "Create an administrator. An MRAO's are active at once; an RAO's or DRAO's wait for an MRAO's approval. "
        "Nobody grants a role, scope or privilege they do not hold.", TAG, body=identity_contract.CreateAdminV1,
        idempotent_post=True, responses={201: (schemas.Admin, "created; Location names it")}))
    def create_admin(self, request: Request):
        scope = self._begin(request)
        raw, payload = parse_body(request, identity_contract.CreateAdminV1(), self.context.settings.max_body_bytes)

        def run(derived_id):
            admin = self._identity("create_admin", payload, self._orgs_position, derived_id)["admin"]
            return json_response(201, self._admin_view(admin), {"Location": f"/api/v1/admins/{admin['admin_id']}"})
        return self._idempotent(request, scope.principal, raw, run)

    @api("GET", _ADMIN, doc=Operation("Get an administrator", TAG, responses={200: (schemas.Admin, "the admin")}))
    def get_admin(self, request: Request, admin_id: str):
        self._visible_admin(request, admin_id)
        return json_response(200, self._admin_view(self._call(self.identity_rpc, "get_admin", admin_id)))

    @api("PATCH", _ADMIN, doc=Operation("Change an administrator's profile (email, names, address)", TAG,
                                        body=identity_contract.UPDATE_ADMIN,
                                        responses={200: (schemas.Admin, "the admin after the change")}))
    def update_admin(self, request: Request, admin_id: str):
        self._visible_admin(request, admin_id)
        _raw, changes = parse_body(request, identity_contract.UPDATE_ADMIN, self.context.settings.max_body_bytes)
        return json_response(200, self._admin_view(self._identity("update_admin", admin_id, changes)["admin"]))

    @api("PUT", _ADMIN + "/access", doc=Operation(
        "Replace an administrator's roles and privileges", TAG, body=identity_contract.AdminAccessV1,
        responses={200: (schemas.Admin, "the admin after the change")}))
    def change_admin_access(self, request: Request, admin_id: str):
        self._visible_admin(request, admin_id)
        _raw, payload = parse_body(request, identity_contract.AdminAccessV1(), self.context.settings.max_body_bytes)
        admin = self._identity("change_admin_access", admin_id, payload, self._orgs_position)["admin"]
        return json_response(200, self._admin_view(admin))

    @api("POST", _ADMIN + "/approve", doc=Operation(
        "Approve an administrator an RAO or DRAO created (an MRAO other than the creator)", TAG,
        responses={200: (schemas.Admin, "the admin, active")}))
    def approve_admin(self, request: Request, admin_id: str):
        return self._change_status(request, admin_id, "approve")

    @api("POST", _ADMIN + "/suspend", doc=Operation(
        "Suspend an administrator: their sessions and API keys stop working at once", TAG,
        responses={200: (schemas.Admin, "the admin, suspended")}))
    def suspend_admin(self, request: Request, admin_id: str):
        return self._change_status(request, admin_id, "suspend")

    @api("POST", _ADMIN + "/reactivate", doc=Operation("Reactivate a suspended administrator", TAG,
                                                       responses={200: (schemas.Admin, "the admin, active")}))
    def reactivate_admin(self, request: Request, admin_id: str):
        return self._change_status(request, admin_id, "reactivate")

    @api("DELETE", _ADMIN, doc=Operation("Delete an administrator (never the last active MRAO)", TAG,
                                         responses={204: (None, "deleted")}))
    def delete_admin(self, request: Request, admin_id: str):
        self._visible_admin(request, admin_id)
        self._identity("delete_admin", admin_id)
        return Response(status=204)

    @api("POST", _ADMIN + "/password", doc=Operation(
        "Set another administrator's password; they must change it at their next login", TAG,
        body=identity_contract.SetPasswordV1, responses={204: (None, "set")}))
    def set_admin_password(self, request: Request, admin_id: str):
        self._visible_admin(request, admin_id)
        _raw, payload = parse_body(request, identity_contract.SetPasswordV1(), self.context.settings.max_body_bytes)
        self._identity("set_admin_password", admin_id, payload)
        return Response(status=204)

    @api("POST", _ADMIN + "/api-keys", doc=Operation(
        "Issue an API key (shown once) for yourself or an administrator you manage", TAG,
        body=identity_contract.CreateApiKeyV1, responses={201: (schemas.ApiKeyIssued, "the key, shown this once")}))
    def create_api_key(self, request: Request, admin_id: str):
        self._visible_admin(request, admin_id)
        _raw, payload = parse_body(request, identity_contract.CreateApiKeyV1(), self.context.settings.max_body_bytes)
        key = new_token(API_KEY_PREFIX)
        prefix = key[:KEY_PREFIX_SHOWN]
        result = self._identity("create_api_key", admin_id, payload, sha256(key), prefix)
        return json_response(201, {"key": key, "key_id": result["key_id"], "name": payload["name"],
                                   "prefix": prefix})

    @api("DELETE", _ADMIN + "/api-keys/<key_id>", doc=Operation(
        "Revoke an API key: it stops working at once", TAG, responses={204: (None, "revoked")}))
    def revoke_api_key(self, request: Request, admin_id: str, key_id: str):
        self._visible_admin(request, admin_id)
        self._identity("revoke_api_key", admin_id, key_id)
        return Response(status=204)

    # ---- helpers ------------------------------------------------------------------------------------------
    def _change_status(self, request: Request, admin_id: str, action: str):
        self._visible_admin(request, admin_id)
        return json_response(200, self._admin_view(self._identity("change_admin_status", admin_id, action)["admin"]))

    def _visible_admin(self, request: Request, admin_id: str):
        scope = self._begin(request)
        row = self._principals_read(lambda p, c: p.admin(c, admin_id))
        roles = row["roles"] if row is not None else None
        dept_org = self._dept_org_of({d for role in roles or () for d in role["department_ids"]})
        scope.admin(admin_id, roles, dept_org)
        return scope

    def _admin_view(self, admin: dict) -> dict:
        used = self.api_key_usage.last_used([k["key_id"] for k in admin.get("api_keys", ())])
        return views.admin(admin, used)
