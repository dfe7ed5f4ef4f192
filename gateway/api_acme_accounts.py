"""ACME accounts (issue 14; SCM: the ACME endpoint's accounts): /api/v1/acme-accounts. An administrator makes one
for an organization (optionally a department) with the SSL profiles its clients may order under, and gets its
External Account Binding credentials — a key id and an HMAC key, the key shown in the 201 answer only (no API
answers it again; its events record only its hash). ACME clients (certbot, lego) register with them at
/acme/new-account; what they get is an ordinary SSL certificate in the organization's inventory, requested_by
`acme:<acme_account_id>`.

Scoped (DESIGN §6) by the rule for requesting SSL certificates there (contracts/access.py
missing_to_manage_acme_account, the sees_ssl rule): MRAO; RAO ssl of the organization; DRAO ssl of the department.
An account outside the caller's scope answers 404 and is never listed or counted. enrollment owns the accounts and
decides what they allow (SSL profiles only, the profiles exist); the gateway checks who asks and that the
organization and department exist and belong together.

Creating one is not idempotent (no Idempotency-Key), as issuing an API key is not: a replay would have to keep the
HMAC key in the gateway's database to answer it again."""
from __future__ import annotations

import uuid

from werkzeug.wrappers import Request, Response

from contracts import access
from contracts import acme as acme_contract
from contracts.errors import Forbidden, NotFound
from gateway import schemas, views
from gateway.base import json_response, parse_body, parse_query
from gateway.http import api
from gateway.openapi import Operation

TAG = "acme-accounts"
_ACCOUNTS = "/api/v1/acme-accounts"
_ACCOUNT = _ACCOUNTS + "/<acme_account_id>"
KIND = "acme_account"
SHOWN_ONCE = ("The HMAC key is shown this once: no answer of Certplane shows it again. Store it with the key id "
              "now; if it is lost, deactivate this account and create another.")
_ACCOUNT_FIELDS = tuple(acme_contract.AcmeAccountV1().fields)
_ORDER_FIELDS = tuple(schemas.AcmeOrder().fields)


def account_view(account: dict, directory_url: str) -> dict:
    """enrollment's AcmeAccountV1 as the API shows it: its fields, and the directory its clients use."""
    return {**{k: account[k] for k in _ACCOUNT_FIELDS if k in account}, "directory_url": directory_url}


def created_view(answer: dict, directory_url: str) -> dict:
    """The 201 answer: the account, its EAB credentials (the HMAC key this once) and the note saying so."""
    eab = answer["eab"]
    return {**account_view(answer["acme_account"], directory_url),
            "eab": {"kid": eab["kid"], "hmac_key": eab["hmac_key"]}, "note": SHOWN_ONCE}


class AcmeAccountRoutes:
    @api("GET", _ACCOUNTS, doc=Operation(
        "The ACME accounts you see (those of organizations and departments you may request SSL certificates "
        "for), newest first, paged", TAG, query=schemas.PageQuery,
        responses={200: (schemas.AcmeAccountList, "a page; X-Total-Count has the total")}))
    def list_acme_accounts(self, request: Request):
        scope = self._begin(request)
        query = parse_query(request, schemas.PageQuery())
        found = self._call(self.enrollment_rpc, "list_acme_accounts", access.ssl_scope(scope.principal),
                           query["position"], query["size"])
        directory_url = self._acme_directory_url()
        items = [account_view(item, directory_url) for item in found["items"]]
        return json_response(200, views.page(items, found["total"], query["position"], query["size"]),
                             {"X-Total-Count": str(found["total"])})

    @api("HEAD", _ACCOUNTS, doc=Operation("Count the ACME accounts you see (X-Total-Count)", TAG,
                                          query=schemas.PageQuery,
                                          responses={200: (None, "X-Total-Count has the count")}))
    def count_acme_accounts(self, request: Request):
        response = self.list_acme_accounts(request)
        return Response(status=200, headers={"X-Total-Count": response.headers["X-Total-Count"]})

    @api("POST", _ACCOUNTS, doc=Operation(
        "Create an ACME account for an organization (optionally one of its departments) with the SSL profiles its "
        "clients may order under (the first is the default): an MRAO, an RAO ssl of the organization, or a DRAO "
        "ssl of the department. The answer holds its External Account Binding credentials — `eab.kid` and "
        "`eab.hmac_key` (base64url) for certbot's --eab-kid/--eab-hmac-key or lego's --kid/--hmac at the "
        "`directory_url`. The HMAC key is shown in this answer only. Names its clients order must be delegated "
        "to the organization or department for ssl. Not idempotent: the key is not kept for a replay",
        TAG, body=acme_contract.CreateAcmeAccountV1,
        responses={201: (schemas.AcmeAccountCreated, "created, with the EAB credentials shown this once; Location "
                                                     "names it"),
                   422: (schemas.Error, "a profile that is not an SSL profile, or that its clients may not use")}))
    def create_acme_account(self, request: Request):
        scope = self._begin(request)
        _raw, payload = parse_body(request, acme_contract.CreateAcmeAccountV1(),
                                   self.context.settings.max_body_bytes)
        payload = _canonical(payload)
        organization_id, department_id = payload["organization_id"], payload["department_id"]
        self._existing_place(scope, organization_id, department_id)
        missing = access.missing_to_manage_acme_account(scope.principal, organization_id, department_id)
        if missing:
            raise Forbidden("creating an ACME account here needs an MRAO role, or an RAO or DRAO role of type ssl "
                            "for this organization or department", {"missing": missing})
        answer = self._call(self.enrollment_rpc, "create_acme_account", payload,
                            scope.principal.admin_id)
        body = created_view(answer, self._acme_directory_url())
        return json_response(201, body, {"Location": f"{_ACCOUNTS}/{body['acme_account_id']}",
                                         "Cache-Control": "no-store"})

    @api("GET", _ACCOUNT, doc=Operation(
        "Get an ACME account: its organization, department, profiles, EAB key id (never the HMAC key), status, "
        "how many client keys registered with it and how many certificates were issued through it (GET "
        "/api/v1/ssl?requested_by=acme:{acme_account_id} lists them)", TAG,
        responses={200: (schemas.AcmeAccount, "the account")}))
    def get_acme_account(self, request: Request, acme_account_id: str):
        scope = self._begin(request)
        return json_response(200, account_view(self._visible_acme_account(scope, acme_account_id),
                                               self._acme_directory_url()))

    @api("POST", _ACCOUNT + "/deactivate", doc=Operation(
        "Deactivate an ACME account (same rights as creating it): its EAB credentials and every client key "
        "registered with them stop working at once; its certificates stay valid (revoke them in the SSL "
        "inventory)", TAG, responses={200: (schemas.AcmeAccount, "deactivated")}))
    def deactivate_acme_account(self, request: Request, acme_account_id: str):
        scope = self._begin(request)
        self._visible_acme_account(scope, acme_account_id)
        answer = self._call(self.enrollment_rpc, "deactivate_acme_account", acme_account_id,
                            scope.principal.admin_id)
        return json_response(200, account_view(answer["acme_account"], self._acme_directory_url()))

    @api("GET", _ACCOUNT + "/orders", doc=Operation(
        "The ACME orders its clients placed, newest first, paged: status (RFC 8555), identifiers, and the SSL "
        "request its finalize made (`ssl_id`)", TAG, query=schemas.PageQuery,
        responses={200: (schemas.AcmeOrderList, "a page; X-Total-Count has the total")}))
    def acme_account_orders(self, request: Request, acme_account_id: str):
        scope = self._begin(request)
        query = parse_query(request, schemas.PageQuery())
        self._visible_acme_account(scope, acme_account_id)
        found = self._call(self.enrollment_rpc, "acme_account_orders", acme_account_id, query["position"],
                           query["size"])
        items = [{k: item.get(k) for k in _ORDER_FIELDS} for item in found["items"]]
        return json_response(200, views.page(items, found["total"], query["position"], query["size"]),
                             {"X-Total-Count": str(found["total"])})

    # ---- rules ------------------------------------------------------------------------------------------
    def _visible_acme_account(self, scope, acme_account_id: str) -> dict:
        """The account, or 404 when there is none or it is outside the caller's scope (the same answer)."""
        try:
            found = self._call(self.enrollment_rpc, "get_acme_account", acme_account_id)
        except NotFound:
            raise NotFound.of(KIND, acme_account_id) from None
        if access.missing_to_manage_acme_account(scope.principal, found["organization_id"],
                                                 found["department_id"]):
            raise NotFound.of(KIND, acme_account_id)
        return found

    def _existing_place(self, scope, organization_id: str, department_id: str | None) -> None:
        """The organization (and department) exist, are visible and belong together — else 404, as for a
        delegation (api_domains.py _may_delegate)."""
        scope.organization(organization_id)
        if self._directory_read(lambda d, c: d.organization_name(c, organization_id)) is None:
            raise NotFound.of("organization", organization_id)
        if department_id is not None:
            scope.department(organization_id, department_id)
            if self._dept_org_of([department_id])(department_id) != organization_id:
                raise NotFound.of("department", department_id)

    def _acme_directory_url(self) -> str:
        return f"{self.context.settings.base_url}/acme/directory"


def _canonical(payload: dict) -> dict:
    """The body as sent (and checked by its schema), its ids in canonical form: the directory and enrollment
    compare them as text."""
    department_id = payload.get("department_id")
    return {"name": payload["name"], "organization_id": str(uuid.UUID(payload["organization_id"])),
            "department_id": str(uuid.UUID(department_id)) if department_id else None,
            "profile_ids": [str(uuid.UUID(p)) for p in payload["profile_ids"]]}
