"""Domains, delegations and domain control validation: /api/v1/domains/..., and the public page an email DCV
links to (/dcv/<dcv_id>). Scoped (DESIGN §6): a domain is visible through its delegations (contracts/access.py
sees_domain), and a caller sees only the delegations in its scope (visible_delegations): on a domain shared by
organizations A and B, an RAO of A neither sees B's delegation nor can act on it (404). Who may delegate, approve
or validate is decided here, what the domain allows in `domains`.

DelegatedRoutes holds what domains and IP networks (api_networks.py) share at the edge — visibility, who may
delegate, change, remove, approve and reject — so the two are one mechanism with two sets of paths."""
from __future__ import annotations

import html
from dataclasses import dataclass
from urllib.parse import parse_qs

from werkzeug.wrappers import Request, Response

from contracts import access
from contracts import domains as domains_contract
from contracts.errors import Forbidden, InvalidRequest, NotFound
from gateway import schemas, views
from gateway.base import json_object, json_response, parse_body, parse_query, read_body
from gateway.http import api
from gateway.openapi import Operation

TAG = "domains"
_DOMAIN = "/api/v1/domains/<domain_id>"
_DELEGATION = _DOMAIN + "/delegations/<delegation_id>"
FORM_TYPES = ("application/x-www-form-urlencoded", "application/json")
LOOKUP_FAILED = ("a DNS or HTTP(S) lookup got no answer (code caa_lookup_failed, txt_lookup_failed, "
                 "cname_lookup_failed, address_lookup_failed or http_lookup_failed; details name the server); "
                 "nothing was recorded")


@dataclass(frozen=True)
class Delegated:
    """What the routes of a delegated kind (domains, networks) differ in: its name, paths and RPC methods."""
    kind: str            # "domain" | "network": the key of the RPC answers, and in messages
    collection: str      # "/api/v1/domains"
    create: str          # the domains service's RPC methods
    list: str
    get: str
    update: str
    delete: str
    add: str
    remove: str
    decide: str


DOMAINS = Delegated("domain", "/api/v1/domains", "create_domain", "list_domains", "get_domain", "update_domain",
                    "delete_domain", "add_delegation", "remove_delegation", "decide_delegation")


class DelegatedRoutes:
    """The rules domains and networks share at the edge. Every answer that holds the object goes through
    `_shown`, so no route shows a delegation outside the caller's scope."""

    def _visible(self, scope, what: Delegated, object_id: str) -> dict:
        """The object with all its delegations (for the rules), or 404 when the caller sees none of them."""
        found = self._call(self.domains_rpc, what.get, object_id)
        if not access.sees_domain(scope.principal, found["delegations"]):
            raise NotFound.of(what.kind, object_id)
        return found

    @staticmethod
    def _shown(scope, found: dict) -> dict:
        """The object as the caller may see it: only the delegations in its scope."""
        return {**found, "delegations": access.visible_delegations(scope.principal, found["delegations"])}

    @staticmethod
    def _visible_delegation(scope, found: dict, delegation_id: str) -> dict:
        """One of the object's delegations the caller sees; 404 for any other, as if it did not exist."""
        delegation = next((d for d in found["delegations"] if d["delegation_id"] == delegation_id), None)
        if delegation is None or not access.sees_delegation(scope.principal, delegation):
            raise NotFound.of("delegation", delegation_id)
        return delegation

    def _list(self, request: Request, what: Delegated, query_schema, filters_of) -> Response:
        scope = self._begin(request)
        query = parse_query(request, query_schema())
        filters = filters_of(query)
        if query.get("organization_id"):
            filters["organization_id"] = str(query["organization_id"])
        found = self._call(self.domains_rpc, what.list, access.domain_scope(scope.principal), filters,
                           query["position"], query["size"])
        items = [self._shown(scope, item) for item in found["items"]]
        return json_response(200, views.page(items, found["total"], query["position"], query["size"]),
                             {"X-Total-Count": str(found["total"])})

    def _create(self, request: Request, what: Delegated, schema) -> Response:
        scope = self._begin(request)
        raw, payload = parse_body(request, schema(), self.context.settings.max_body_bytes)
        delegations = payload.get("delegations") or []
        if not delegations and not scope.principal.is_mrao:
            raise InvalidRequest(f"delegate the {what.kind} to one of your organizations or departments as you "
                                 "create it", {"delegations": ["at least one, in your scope"]})
        for delegation in delegations:
            self._may_delegate(scope, delegation)
        approved = access.delegation_approved_at_once(scope.principal)

        def run(derived_id):
            found = self._call(self.domains_rpc, what.create, payload, scope.principal.admin_id, approved,
                               derived_id)[what.kind]
            return json_response(201, self._shown(scope, found),
                                 {"Location": f"{what.collection}/{found[what.kind + '_id']}"})
        return self._idempotent(request, scope.principal, raw, run)

    def _get(self, request: Request, what: Delegated, object_id: str) -> Response:
        scope = self._begin(request)
        return json_response(200, self._shown(scope, self._visible(scope, what, object_id)))

    def _update(self, request: Request, what: Delegated, object_id: str, schema) -> Response:
        scope = self._begin(request)
        _raw, changes = parse_body(request, schema(), self.context.settings.max_body_bytes)
        self._may_change(scope, what, self._visible(scope, what, object_id))
        answer = self._call(self.domains_rpc, what.update, object_id, changes)[what.kind]
        return json_response(200, self._shown(scope, answer))

    def _delete(self, request: Request, what: Delegated, object_id: str) -> Response:
        scope = self._begin(request)
        self._may_change(scope, what, self._visible(scope, what, object_id))
        self._call(self.domains_rpc, what.delete, object_id)
        return Response(status=204)

    def _add_delegation(self, request: Request, what: Delegated, object_id: str) -> Response:
        scope = self._begin(request)
        _raw, payload = parse_body(request, domains_contract.DelegationFieldsV1(),
                                   self.context.settings.max_body_bytes)
        self._visible(scope, what, object_id)
        self._may_delegate(scope, payload)
        answer = self._call(self.domains_rpc, what.add, object_id, payload, scope.principal.admin_id,
                            access.delegation_approved_at_once(scope.principal))
        return json_response(201, self._shown(scope, answer[what.kind]),
                             {"Location": f"{what.collection}/{object_id}/delegations/{answer['delegation_id']}"})

    def _remove_delegation(self, request: Request, what: Delegated, object_id: str, delegation_id: str) -> Response:
        scope = self._begin(request)
        delegation = self._visible_delegation(scope, self._visible(scope, what, object_id), delegation_id)
        missing = access.missing_to_delegate(scope.principal, delegation["organization_id"],
                                             delegation["department_id"], delegation["cert_types"])
        if missing:
            raise Forbidden("removing this delegation needs a role that could make it", {"missing": missing})
        answer = self._call(self.domains_rpc, what.remove, object_id, delegation_id)[what.kind]
        return json_response(200, self._shown(scope, answer))

    def _decide_delegation(self, request: Request, what: Delegated, object_id: str, delegation_id: str,
                           approve: bool) -> Response:
        scope = self._begin(request)
        payload = {}
        if not approve and request.content_length:
            _raw, payload = parse_body(request, domains_contract.RejectDelegationV1(),
                                       self.context.settings.max_body_bytes)
        delegation = self._visible_delegation(scope, self._visible(scope, what, object_id), delegation_id)
        missing = access.missing_to_decide_delegation(scope.principal, delegation)
        if missing:
            raise Forbidden(f"{'approving' if approve else 'rejecting'} this delegation needs {missing}",
                            {"missing": missing}, code="own_request" if "requester" in missing else None)
        answer = self._call(self.domains_rpc, what.decide, object_id, delegation_id, scope.principal.admin_id,
                            approve, payload)
        return json_response(200, self._shown(scope, answer[what.kind]))

    # ---- rules ------------------------------------------------------------------------------------------
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
    def _may_change(scope, what: Delegated, found: dict) -> None:
        """MRAO, or an admin who could make every live delegation the object has. A delegation the caller does
        not see is not named: the answer says only that an MRAO is needed."""
        if scope.principal.is_mrao:
            return
        live = [d for d in found["delegations"] if d["status"] != "rejected"]
        for d in live:
            missing = access.missing_to_delegate(scope.principal, d["organization_id"], d["department_id"],
                                                 d["cert_types"])
            if missing:
                if not access.sees_delegation(scope.principal, d):
                    missing = "role MRAO"
                raise Forbidden(f"the {what.kind} is delegated beyond your roles; an MRAO can change it",
                                {"missing": missing})


class DomainRoutes(DelegatedRoutes):
    @api("GET", "/api/v1/domains", doc=Operation(
        "List the domains you see (by name), each with the delegations you see. organization_id and "
        "delegation_status match a delegation in your scope: an organization outside it lists nothing.", TAG,
        query=schemas.DomainListQuery,
        responses={200: (schemas.DomainList, "a page of domains; X-Total-Count has the total")}))
    def list_domains(self, request: Request):
        return self._list(request, DOMAINS, schemas.DomainListQuery, lambda query: {
            "name": query.get("q"), "delegation_status": query.get("delegation_status"),
            "dcv_status": query.get("dcv_status"), "active": query.get("active"),
            "dcv_expires_before": query["dcv_expires_before"].isoformat()
            if query.get("dcv_expires_before") else None})

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
        return self._create(request, DOMAINS, domains_contract.CreateDomainV1)

    @api("GET", _DOMAIN, doc=Operation("Get a domain with its DCV state and the delegations you see", TAG,
                                       responses={200: (schemas.Domain, "the domain")}))
    def get_domain(self, request: Request, domain_id: str):
        return self._get(request, DOMAINS, domain_id)

    @api("PATCH", _DOMAIN, doc=Operation(
        "Change a domain's description or active flag (no certificate names an inactive domain). MRAO, or an "
        "admin who could make every delegation the domain has.", TAG, body=domains_contract.UpdateDomainV1,
        responses={200: (schemas.Domain, "the domain after the change")}))
    def update_domain(self, request: Request, domain_id: str):
        return self._update(request, DOMAINS, domain_id, domains_contract.UpdateDomainV1)

    @api("DELETE", _DOMAIN, doc=Operation(
        "Delete a domain that is no longer delegated (409 domain_in_use otherwise)", TAG,
        responses={204: (None, "deleted")}))
    def delete_domain(self, request: Request, domain_id: str):
        return self._delete(request, DOMAINS, domain_id)

    # ---- delegations ------------------------------------------------------------------------------------
    @api("POST", _DOMAIN + "/delegations", doc=Operation(
        "Delegate the domain to an organization or department for certificate types", TAG,
        body=domains_contract.DelegationFieldsV1, responses={201: (schemas.Domain, "the domain with it")}))
    def add_delegation(self, request: Request, domain_id: str):
        return self._add_delegation(request, DOMAINS, domain_id)

    @api("DELETE", _DELEGATION, doc=Operation(
        "Remove a delegation (one outside your scope answers 404)", TAG,
        responses={200: (schemas.Domain, "the domain")}))
    def remove_delegation(self, request: Request, domain_id: str, delegation_id: str):
        return self._remove_delegation(request, DOMAINS, domain_id, delegation_id)

    @api("POST", _DELEGATION + "/approve", doc=Operation(
        "Approve a requested delegation: an MRAO, or an RAO of its organization with \"approve domain "
        "delegation\"; never its requester. Of two racing approvals one wins, the other gets 409. A delegation "
        "outside your scope answers 404.", TAG, responses={200: (schemas.Domain, "the domain")}))
    def approve_delegation(self, request: Request, domain_id: str, delegation_id: str):
        return self._decide_delegation(request, DOMAINS, domain_id, delegation_id, approve=True)

    @api("POST", _DELEGATION + "/reject", doc=Operation(
        "Reject a requested delegation (same rights as approving); a rejection ends it", TAG,
        body=domains_contract.RejectDelegationV1, responses={200: (schemas.Domain, "the domain")}))
    def reject_delegation(self, request: Request, domain_id: str, delegation_id: str):
        return self._decide_delegation(request, DOMAINS, domain_id, delegation_id, approve=False)

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
        return json_response(201, self._shown(scope, answer["domain"]))

    @api("POST", _DOMAIN + "/dcv/check", doc=Operation(
        "Check the open HTTP(S)/CNAME/TXT attempt now. Proven control is recorded as evidence only if CAA "
        "permits this CA; otherwise the failure and its reason are recorded and answered. A lookup that gets no "
        "answer (DNS server failing or silent, web server unreachable) records nothing and is a 422 naming the "
        "lookup and the server.", TAG,
        responses={200: (schemas.DcvOutcome, "validated, or not and why"),
                   409: (schemas.Error, "no open attempt, value used or expired"),
                   422: (schemas.Error, LOOKUP_FAILED)}))
    def check_dcv(self, request: Request, domain_id: str):
        scope = self._begin(request)
        self._may_validate(scope, domain_id)
        answer = self._call(self.domains_rpc, "check_dcv", domain_id)
        return json_response(200, {**answer["outcome"], "domain": self._shown(scope, answer["domain"])})

    @api("POST", _DOMAIN + "/dcv/submit", doc=Operation(
        "Complete an email DCV with the code from the mail (400 dcv_code_wrong if it is not that code). CAA is "
        "looked up then; if that lookup fails, nothing is recorded, the code stays usable, and the answer is a "
        "422 caa_lookup_failed naming the DNS server.", TAG, body=domains_contract.SubmitDcvCodeV1,
        responses={200: (schemas.DcvOutcome, "validated, or not and why"), 422: (schemas.Error, LOOKUP_FAILED)}))
    def submit_dcv(self, request: Request, domain_id: str):
        scope = self._begin(request)
        _raw, payload = parse_body(request, domains_contract.SubmitDcvCodeV1(), self.context.settings.max_body_bytes)
        found = self._may_validate(scope, domain_id)
        if not found["dcv"]["dcv_id"]:
            raise InvalidRequest("no DCV was started for this domain", {"dcv": ["not started"]},
                                 code="dcv_not_started")
        answer = self._call(self.domains_rpc, "submit_dcv_code", found["dcv"]["dcv_id"], payload)
        return json_response(200, {**answer["outcome"], "domain": self._shown(scope, answer["domain"])})

    @api("GET", "/dcv/<dcv_id>", doc=Operation(
        "The page an email DCV links to: a form for the code from the mail (HTML; no login)", "dcv", public=True,
        responses={200: (("text/html",), "the form")}))
    def dcv_page(self, request: Request, dcv_id: str):
        return _html(200, "Confirm domain control", _FORM.format(action=html.escape(f"/dcv/{dcv_id}")))

    @api("POST", "/dcv/<dcv_id>", doc=Operation(
        "Submit the code from an email DCV mail (form field or JSON `code`; no login: the code is the proof). "
        "Answers HTML to a form, JSON to JSON; the domain in the answer lists no delegations (the code's holder "
        "is no administrator).", "dcv", public=True, body=domains_contract.SubmitDcvCodeV1,
        responses={200: (schemas.DcvOutcome, "validated, or not and why"), 422: (schemas.Error, LOOKUP_FAILED)}))
    def dcv_submit_public(self, request: Request, dcv_id: str):
        raw = read_body(request, 4096, FORM_TYPES)
        as_json = request.mimetype == "application/json"
        if as_json:
            payload = json_object(raw)
        else:
            codes = parse_qs(raw.decode("utf-8", errors="replace")).get("code", [""])
            if len(codes) > 1:
                raise InvalidRequest("the form sends a field more than once that takes one value",
                                     {"code": ["sent more than once"]}, code="duplicate_key")
            payload = {"code": codes[0]}
        self.context.actor = "dcv-link"
        answer = self._call(self.domains_rpc, "submit_dcv_code", dcv_id, payload)
        outcome = {**answer["outcome"], "domain": {**answer["domain"], "delegations": []}}
        if as_json:
            return json_response(200, outcome)
        name = html.escape(answer["domain"]["name"])
        text = (f"Thank you: control of {name} is confirmed." if outcome["validated"] else
                f"Control of {name} was confirmed, but validation failed: {html.escape(outcome['detail'])}")
        return _html(200, "Domain control", f"<p>{text}</p>")

    def _may_validate(self, scope, domain_id: str) -> dict:
        found = self._visible(scope, DOMAINS, domain_id)
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
