"""Domains, delegations and domain control validation: /api/v1/domains/..., and the public page an email DCV
links to (/dcv/<dcv_id>). Scoped (DESIGN §6): a domain is visible through its delegations (contracts/access.py
sees_domain); who may delegate, approve or validate is decided here, what the domain allows in `domains`."""
from __future__ import annotations

import html
import json
from urllib.parse import parse_qs

from werkzeug.wrappers import Request, Response

from contracts import access
from contracts import domains as domains_contract
from contracts.errors import Forbidden, InvalidRequest, NotFound
from gateway import schemas, views
from gateway.base import json_response, parse_body, parse_query, read_body
from gateway.http import api
from gateway.openapi import Operation

TAG = "domains"
_DOMAIN = "/api/v1/domains/<domain_id>"
_DELEGATION = _DOMAIN + "/delegations/<delegation_id>"
FORM_TYPES = ("application/x-www-form-urlencoded", "application/json")


class DomainRoutes:
    @api("GET", "/api/v1/domains", doc=Operation(
        "List the domains you see (by name)", TAG, query=schemas.DomainListQuery,
        responses={200: (schemas.DomainList, "a page of domains; X-Total-Count has the total")}))
    def list_domains(self, request: Request):
        scope = self._begin(request)
        query = parse_query(request, schemas.DomainListQuery())
        filters = {"name": query.get("q"), "delegation_status": query.get("delegation_status"),
                   "dcv_status": query.get("dcv_status"), "active": query.get("active"),
                   "organization_id": str(query["organization_id"]) if query.get("organization_id") else None}
        found = self._call(self.domains_rpc, "list_domains", access.domain_scope(scope.principal), filters,
                           query["position"], query["size"])
        return json_response(200, views.page(found["items"], found["total"], query["position"], query["size"]),
                             {"X-Total-Count": str(found["total"])})

    @api("HEAD", "/api/v1/domains", doc=Operation(
        "Count the domains you see (X-Total-Count), with the same filters as the list", TAG,
        query=schemas.DomainListQuery, responses={200: (None, "X-Total-Count has the count")}))
    def count_domains(self, request: Request):
        response = self.list_domains(request)
        return Response(status=200, headers={"X-Total-Count": response.headers["X-Total-Count"]})

    @api("POST", "/api/v1/domains", doc=Operation(
        "Create a domain with its delegations. Delegations made by an MRAO (or an admin with \"domain validation "
        "without dual approval\") are approved at once; others are requested until approved.", TAG,
        body=domains_contract.CreateDomainV1, idempotent_post=True,
        responses={201: (schemas.Domain, "created; Location names it"),
                   409: (schemas.Error, "a domain of that name exists (code domain_exists)")}))
    def create_domain(self, request: Request):
        scope = self._begin(request)
        raw, payload = parse_body(request, domains_contract.CreateDomainV1(), self.context.settings.max_body_bytes)
        delegations = payload.get("delegations") or []
        if not delegations and not scope.principal.is_mrao:
            raise InvalidRequest("delegate the domain to one of your organizations or departments as you create "
                                 "it", {"delegations": ["at least one, in your scope"]})
        for delegation in delegations:
            self._may_delegate(scope, delegation)
        approved = access.delegation_approved_at_once(scope.principal)

        def run(derived_id):
            found = self._call(self.domains_rpc, "create_domain", payload, scope.principal.admin_id, approved,
                               derived_id)["domain"]
            return json_response(201, found, {"Location": f"/api/v1/domains/{found['domain_id']}"})
        return self._idempotent(request, scope.principal, raw, run)

    @api("GET", _DOMAIN, doc=Operation("Get a domain with its delegations and DCV state", TAG,
                                       responses={200: (schemas.Domain, "the domain")}))
    def get_domain(self, request: Request, domain_id: str):
        scope = self._begin(request)
        return json_response(200, self._visible_domain(scope, domain_id))

    @api("PATCH", _DOMAIN, doc=Operation(
        "Change a domain's description or active flag (no certificate names an inactive domain). MRAO, or an "
        "admin who could make every delegation the domain has.", TAG, body=domains_contract.UpdateDomainV1,
        responses={200: (schemas.Domain, "the domain after the change")}))
    def update_domain(self, request: Request, domain_id: str):
        scope = self._begin(request)
        _raw, changes = parse_body(request, domains_contract.UpdateDomainV1(), self.context.settings.max_body_bytes)
        self._may_change_domain(scope, self._visible_domain(scope, domain_id))
        return json_response(200, self._call(self.domains_rpc, "update_domain", domain_id, changes)["domain"])

    @api("DELETE", _DOMAIN, doc=Operation(
        "Delete a domain that is no longer delegated (409 domain_in_use otherwise)", TAG,
        responses={204: (None, "deleted")}))
    def delete_domain(self, request: Request, domain_id: str):
        scope = self._begin(request)
        self._may_change_domain(scope, self._visible_domain(scope, domain_id))
        self._call(self.domains_rpc, "delete_domain", domain_id)
        return Response(status=204)

    # ---- delegations ------------------------------------------------------------------------------------
    @api("POST", _DOMAIN + "/delegations", doc=Operation(
        "Delegate the domain to an organization or department for certificate types", TAG,
        body=domains_contract.DelegationFieldsV1, responses={201: (schemas.Domain, "the domain with it")}))
    def add_delegation(self, request: Request, domain_id: str):
        scope = self._begin(request)
        _raw, payload = parse_body(request, domains_contract.DelegationFieldsV1(),
                                   self.context.settings.max_body_bytes)
        self._visible_domain(scope, domain_id)
        self._may_delegate(scope, payload)
        answer = self._call(self.domains_rpc, "add_delegation", domain_id, payload, scope.principal.admin_id,
                            access.delegation_approved_at_once(scope.principal))
        return json_response(201, answer["domain"],
                             {"Location": f"/api/v1/domains/{domain_id}/delegations/{answer['delegation_id']}"})

    @api("DELETE", _DELEGATION, doc=Operation("Remove a delegation", TAG, responses={200: (schemas.Domain,
                                                                                           "the domain")}))
    def remove_delegation(self, request: Request, domain_id: str, delegation_id: str):
        scope = self._begin(request)
        delegation = self._delegation(self._visible_domain(scope, domain_id), delegation_id)
        missing = access.missing_to_delegate(scope.principal, delegation["organization_id"],
                                             delegation["department_id"], delegation["cert_types"])
        if missing:
            raise Forbidden("removing this delegation needs a role that could make it", {"missing": missing})
        return json_response(200, self._call(self.domains_rpc, "remove_delegation", domain_id,
                                             delegation_id)["domain"])

    @api("POST", _DELEGATION + "/approve", doc=Operation(
        "Approve a requested delegation: an MRAO, or an RAO of its organization with \"approve domain "
        "delegation\"; never its requester. Of two racing approvals one wins, the other gets 409.", TAG,
        responses={200: (schemas.Domain, "the domain")}))
    def approve_delegation(self, request: Request, domain_id: str, delegation_id: str):
        return self._decide_delegation(request, domain_id, delegation_id, approve=True)

    @api("POST", _DELEGATION + "/reject", doc=Operation(
        "Reject a requested delegation (same rights as approving); a rejection ends it", TAG,
        body=domains_contract.RejectDelegationV1, responses={200: (schemas.Domain, "the domain")}))
    def reject_delegation(self, request: Request, domain_id: str, delegation_id: str):
        return self._decide_delegation(request, domain_id, delegation_id, approve=False)

    # ---- domain control validation ----------------------------------------------------------------------
    @api("POST", _DOMAIN + "/dcv", doc=Operation(
        "Start domain control validation (needs \"allow DCV\"): email to one of the five allowed addresses, an "
        "HTTP(S) file, a DNS CNAME or a DNS TXT record. The answer's dcv part says what to publish where; a new "
        "start replaces an open attempt.", TAG, body=domains_contract.StartDcvV1,
        responses={201: (schemas.Domain, "started"), 409: (schemas.Error, "domain inactive (domain_inactive)")}))
    def start_dcv(self, request: Request, domain_id: str):
        scope = self._begin(request)
        _raw, payload = parse_body(request, domains_contract.StartDcvV1(), self.context.settings.max_body_bytes)
        self._may_validate(scope, domain_id)
        answer = self._call(self.domains_rpc, "start_dcv", domain_id, payload, scope.principal.admin_id)
        return json_response(201, answer["domain"])

    @api("POST", _DOMAIN + "/dcv/check", doc=Operation(
        "Check the open HTTP(S)/CNAME/TXT attempt now. Proven control is recorded as evidence only if CAA "
        "permits this CA; otherwise the failure and its reason are recorded and answered.", TAG,
        responses={200: (schemas.DcvOutcome, "validated, or not and why"),
                   409: (schemas.Error, "no open attempt, value used or expired")}))
    def check_dcv(self, request: Request, domain_id: str):
        scope = self._begin(request)
        self._may_validate(scope, domain_id)
        answer = self._call(self.domains_rpc, "check_dcv", domain_id)
        return json_response(200, {**answer["outcome"], "domain": answer["domain"]})

    @api("POST", _DOMAIN + "/dcv/submit", doc=Operation(
        "Complete an email DCV with the code from the mail (400 dcv_code_wrong if it is not that code)", TAG,
        body=domains_contract.SubmitDcvCodeV1, responses={200: (schemas.DcvOutcome, "validated, or not and why")}))
    def submit_dcv(self, request: Request, domain_id: str):
        scope = self._begin(request)
        _raw, payload = parse_body(request, domains_contract.SubmitDcvCodeV1(), self.context.settings.max_body_bytes)
        found = self._may_validate(scope, domain_id)
        if not found["dcv"]["dcv_id"]:
            raise InvalidRequest("no DCV was started for this domain", {"dcv": ["not started"]},
                                 code="dcv_not_started")
        answer = self._call(self.domains_rpc, "submit_dcv_code", found["dcv"]["dcv_id"], payload)
        return json_response(200, {**answer["outcome"], "domain": answer["domain"]})

    @api("GET", "/dcv/<dcv_id>", doc=Operation(
        "The page an email DCV links to: a form for the code from the mail (HTML; no login)", "dcv", public=True,
        responses={200: (None, "text/html form")}))
    def dcv_page(self, request: Request, dcv_id: str):
        return _html(200, "Confirm domain control", _FORM.format(action=html.escape(f"/dcv/{dcv_id}")))

    @api("POST", "/dcv/<dcv_id>", doc=Operation(
        "Submit the code from an email DCV mail (form field or JSON `code`; no login: the code is the proof). "
        "Answers HTML to a form, JSON to JSON.", "dcv", public=True, body=domains_contract.SubmitDcvCodeV1,
        responses={200: (schemas.DcvOutcome, "validated, or not and why")}))
    def dcv_submit_public(self, request: Request, dcv_id: str):
        raw = read_body(request, 4096, FORM_TYPES)
        as_json = request.mimetype == "application/json"
        if as_json:
            try:
                payload = json.loads(raw)
            except ValueError:
                raise InvalidRequest("the body is not valid JSON", {"body": ["malformed JSON"]},
                                     code="malformed_json") from None
        else:
            payload = {"code": parse_qs(raw.decode("utf-8", errors="replace")).get("code", [""])[0]}
        if not isinstance(payload, dict):
            raise InvalidRequest("the body must be a JSON object", {"body": ["not an object"]})
        self.context.actor = "dcv-link"
        answer = self._call(self.domains_rpc, "submit_dcv_code", dcv_id, payload)
        outcome = {**answer["outcome"], "domain": answer["domain"]}
        if as_json:
            return json_response(200, outcome)
        name = html.escape(answer["domain"]["name"])
        text = (f"Thank you: control of {name} is confirmed." if outcome["validated"] else
                f"Control of {name} was confirmed, but validation failed: {html.escape(outcome['detail'])}")
        return _html(200, "Domain control", f"<p>{text}</p>")

    # ---- rules ------------------------------------------------------------------------------------------
    def _visible_domain(self, scope, domain_id: str) -> dict:
        found = self._call(self.domains_rpc, "get_domain", domain_id)
        if not access.sees_domain(scope.principal, found["delegations"]):
            raise NotFound.of("domain", domain_id)
        return found

    @staticmethod
    def _delegation(found: dict, delegation_id: str) -> dict:
        delegation = next((d for d in found["delegations"] if d["delegation_id"] == delegation_id), None)
        if delegation is None:
            raise NotFound.of("delegation", delegation_id)
        return delegation

    def _may_delegate(self, scope, delegation: dict) -> None:
        """The organization (and department) must exist and be visible (404), belong together (404), and the
        caller must hold what it delegates (403)."""
        organization_id = str(delegation["organization_id"])
        department_id = str(delegation["department_id"]) if delegation.get("department_id") else None
        scope.organization(organization_id)
        if self._directory_read(lambda d, c: d.organization_name(c, organization_id)) is None:
            raise NotFound.of("organization", organization_id)
        if department_id is not None:
            scope.department(organization_id, department_id)
            if self._dept_org_of([department_id])(department_id) != organization_id:
                raise NotFound.of("department", department_id)
        missing = access.missing_to_delegate(scope.principal, organization_id, department_id,
                                             delegation["cert_types"])
        if missing:
            raise Forbidden("you can only delegate within your own roles", {"missing": missing})

    @staticmethod
    def _may_change_domain(scope, found: dict) -> None:
        if scope.principal.is_mrao:
            return
        live = [d for d in found["delegations"] if d["status"] != "rejected"]
        for d in live:
            missing = access.missing_to_delegate(scope.principal, d["organization_id"], d["department_id"],
                                                 d["cert_types"])
            if missing:
                raise Forbidden("the domain is delegated beyond your roles; an MRAO can change it",
                                {"missing": missing})

    def _decide_delegation(self, request: Request, domain_id: str, delegation_id: str, approve: bool):
        scope = self._begin(request)
        payload = {}
        if not approve and request.content_length:
            _raw, payload = parse_body(request, domains_contract.RejectDelegationV1(),
                                       self.context.settings.max_body_bytes)
        delegation = self._delegation(self._visible_domain(scope, domain_id), delegation_id)
        missing = access.missing_to_decide_delegation(scope.principal, delegation)
        if missing:
            raise Forbidden(f"{'approving' if approve else 'rejecting'} this delegation needs {missing}",
                            {"missing": missing}, code="own_request" if "requester" in missing else None)
        answer = self._call(self.domains_rpc, "decide_delegation", domain_id, delegation_id,
                            scope.principal.admin_id, approve, payload)
        return json_response(200, answer["domain"])

    def _may_validate(self, scope, domain_id: str) -> dict:
        found = self._visible_domain(scope, domain_id)
        if not scope.principal.has_privilege("allow_dcv"):
            raise Forbidden("domain control validation needs the \"allow DCV\" privilege",
                            {"missing": "privilege allow_dcv"})
        return found


_FORM = ('<p>Enter the code from the mail to confirm that you control the domain.</p>'
         '<form method="post" action="{action}"><label>Code <input name="code" autocomplete="off" required>'
         '</label> <button type="submit">Confirm</button></form>')


def _html(status: int, title: str, body: str) -> Response:
    page = (f"<!doctype html><html lang=en><meta charset=utf-8><title>{html.escape(title)} — Certplane</title>"
            f"<h1>{html.escape(title)}</h1>{body}</html>")
    return Response(page, status=status, mimetype="text/html")
