"""The gateway: the only HTTP surface. Authenticates (gateway/auth.py), validates, calls services over RPC,
assembles views, and keeps the organization directory (a follower of `orgs` events) for lists and names."""
from __future__ import annotations

import functools
import json

import structlog
from marshmallow import ValidationError
from nameko.rpc import RpcProxy
from werkzeug.exceptions import RequestEntityTooLarge, UnsupportedMediaType
from werkzeug.wrappers import Request, Response

from contracts import orgs as orgs_contract
from contracts.errors import DomainError, InvalidRequest, NotFound
from gateway import schemas, views
from gateway.auth import Actor, authenticate
from gateway.directory import OrgDirectory
from gateway.http import api
from gateway.idempotency import IdempotencyProvider
from gateway.openapi import Operation, build_spec
from services.runtime.health import readiness
from services.runtime.nameko_glue import Context, FollowerProvider, catch_up_timer, follow, rpc_call

log = structlog.get_logger(__name__)

ORGS = "organizations"
READ_EVENTS_TIMEOUT = 3.0   # one page of read_events; a reply lost at start-up then costs 3 s, not rpc_timeout
_ORG = "/api/v1/organizations/<organization_id>"
_DEPT = _ORG + "/departments/<department_id>"


def _json(status: int, body, headers: dict | None = None) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json", headers=headers)


class GatewayService:
    name = "gateway"

    context = Context()
    orgs_rpc = RpcProxy("orgs")
    orgs_directory = FollowerProvider("orgs", OrgDirectory)
    idempotency = IdempotencyProvider()

    # ---- the organization directory: pushed events, and a periodic pull that also runs at start ----------
    @follow("orgs", "gateway")
    def on_orgs_event(self, message: dict) -> None:
        self.orgs_directory.receive(message, self._read_orgs_events)

    @catch_up_timer()
    def catch_up_orgs(self) -> bool:
        try:
            applied = self.orgs_directory.catch_up(self._read_orgs_events)
        except TimeoutError:
            log.warning("follower_catch_up_failed", source="orgs", reason="orgs did not answer")
            return False
        if applied:
            log.info("follower_caught_up", source="orgs", applied=applied)
        return True

    # ---- health and the API description -------------------------------------------------------------------
    @api("GET", "/healthz", doc=Operation("Liveness: the process answers", "health", public=True,
                                          responses={200: (schemas.Health, "alive")}))
    def healthz(self, request: Request):
        return _json(200, {"status": "ok"})

    @api("GET", "/readyz", doc=Operation("Readiness: database and broker reachable, directory caught up once",
                                         "health", public=True,
                                         responses={200: (schemas.Health, "ready"),
                                                    503: (schemas.Health, "not ready")}))
    def readyz(self, request: Request):
        settings = self.context.settings
        ok, checks = readiness(settings.amqp_uri, {"gateway": self.orgs_directory.db})
        checks["directory:orgs"] = "ok" if self.orgs_directory.caught_up else "catching up"
        ok = ok and self.orgs_directory.caught_up
        return _json(200 if ok else 503, {"status": "ok" if ok else "unavailable", "checks": checks})

    @api("GET", "/api/v1/openapi.json", doc=Operation("This document", "meta", public=True,
                                                      responses={200: (None, "OpenAPI 3.1 document")}))
    def openapi(self, request: Request):
        return _json(200, _spec(self.context.settings.base_url))

    # ---- organizations ------------------------------------------------------------------------------------
    @api("GET", "/api/v1/organizations", doc=Operation(
        "List organizations (sorted by name)", ORGS, query=schemas.OrganizationListQuery,
        responses={200: (schemas.OrganizationList, "a page of organizations; X-Total-Count has the total")}))
    def list_organizations(self, request: Request):
        self._begin(request)
        query = _query(request, schemas.OrganizationListQuery())
        rows, total = self._directory_read(lambda d, c: d.organizations_page(
            c, offset=query["position"], limit=query["size"], name=query.get("name"),
            name_contains=query.get("q"), country=query.get("country"),
            validation_status=query.get("validation_status")))
        body = views.page([views.organization_summary(r) for r in rows], total, query["position"], query["size"])
        return _json(200, body, {"X-Total-Count": str(total)})

    @api("HEAD", "/api/v1/organizations", doc=Operation(
        "Count organizations (X-Total-Count), with the same filters as the list", ORGS,
        query=schemas.OrganizationListQuery, responses={200: (None, "X-Total-Count has the count")}))
    def count_organizations(self, request: Request):
        response = self.list_organizations(request)
        return Response(status=200, headers={"X-Total-Count": response.headers["X-Total-Count"]})

    @api("POST", "/api/v1/organizations", doc=Operation(
        "Create an organization", ORGS, body=orgs_contract.CreateOrganizationV1, idempotent_post=True,
        responses={201: (schemas.Organization, "created; Location names it")}))
    def create_organization(self, request: Request):
        actor = self._begin(request)
        raw, fields = _body(request, orgs_contract.CreateOrganizationV1(), self.context.settings.max_body_bytes)

        def run(derived_id):
            result = self._orgs("create_organization", fields, derived_id)
            organization = result["organization"]
            return _json(201, organization,
                         {"Location": f"/api/v1/organizations/{organization['organization_id']}"})
        return self._idempotent(request, actor, raw, run)

    @api("GET", _ORG, doc=Operation("Get an organization with its departments", ORGS,
                                    responses={200: (schemas.Organization, "the organization")}))
    def get_organization(self, request: Request, organization_id: str):
        self._begin(request)
        return _json(200, self._orgs_query("get_organization", organization_id))

    @api("PATCH", _ORG, doc=Operation(
        "Change an organization's name, address or EV details (address is locked while validation is pending)",
        ORGS, body=orgs_contract.UPDATE_ORGANIZATION,
        responses={200: (schemas.Organization, "the organization after the change")}))
    def update_organization(self, request: Request, organization_id: str):
        self._begin(request)
        _raw, changes = _body(request, orgs_contract.UPDATE_ORGANIZATION, self.context.settings.max_body_bytes)
        result = self._orgs("update_organization", organization_id, changes)
        return _json(200, result["organization"])

    @api("DELETE", _ORG, doc=Operation("Delete an organization that has no departments", ORGS,
                                       responses={204: (None, "deleted")}))
    def delete_organization(self, request: Request, organization_id: str):
        self._begin(request)
        self._orgs("delete_organization", organization_id)
        return Response(status=204)

    @api("POST", _ORG + "/validation/start", doc=Operation(
        "Start (or restart) organization validation: status becomes pending and the address locks", ORGS,
        responses={200: (schemas.Organization, "the organization, validation pending")}))
    def start_validation(self, request: Request, organization_id: str):
        self._begin(request)
        result = self._orgs("start_validation", organization_id)
        return _json(200, result["organization"])

    @api("POST", _ORG + "/validation/complete", doc=Operation(
        "Complete a pending validation as validated or failed", ORGS, body=orgs_contract.CompleteValidationV1,
        responses={200: (schemas.Organization, "the organization with its new validation status")}))
    def complete_validation(self, request: Request, organization_id: str):
        self._begin(request)
        _raw, payload = _body(request, orgs_contract.CompleteValidationV1(), self.context.settings.max_body_bytes)
        result = self._orgs("complete_validation", organization_id, payload)
        return _json(200, result["organization"])

    # ---- departments --------------------------------------------------------------------------------------
    @api("GET", _ORG + "/departments", doc=Operation(
        "List an organization's departments", ORGS, query=schemas.DepartmentListQuery,
        responses={200: (schemas.DepartmentList, "a page of departments; X-Total-Count has the total")}))
    def list_departments(self, request: Request, organization_id: str):
        self._begin(request)
        query = _query(request, schemas.DepartmentListQuery())
        name, (rows, total) = self._directory_read(lambda d, c: (
            d.organization_name(c, organization_id),
            d.departments_page(c, organization_id, offset=query["position"], limit=query["size"],
                               name=query.get("name"))))
        if name is None:
            raise NotFound.of("organization", organization_id)
        items = [views.department(r, name) for r in rows]
        return _json(200, views.page(items, total, query["position"], query["size"]),
                     {"X-Total-Count": str(total)})

    @api("POST", _ORG + "/departments", doc=Operation(
        "Create a department in an organization", ORGS, body=orgs_contract.DepartmentFieldsV1,
        idempotent_post=True, responses={201: (schemas.Department, "created; Location names it")}))
    def create_department(self, request: Request, organization_id: str):
        actor = self._begin(request)
        raw, fields = _body(request, orgs_contract.DepartmentFieldsV1(), self.context.settings.max_body_bytes)

        def run(derived_id):
            result = self._orgs("create_department", organization_id, fields, derived_id)
            department = self._department_view(result["department"])
            return _json(201, department, {"Location": f"/api/v1/organizations/{department['organization_id']}"
                                                       f"/departments/{department['department_id']}"})
        return self._idempotent(request, actor, raw, run)

    @api("GET", _DEPT, doc=Operation("Get a department", ORGS,
                                     responses={200: (schemas.Department, "the department")}))
    def get_department(self, request: Request, organization_id: str, department_id: str):
        self._begin(request)
        return _json(200, self._department_view(self._orgs_query("get_department", organization_id, department_id)))

    @api("PATCH", _DEPT, doc=Operation("Rename a department", ORGS, body=orgs_contract.UpdateDepartmentV1,
                                       responses={200: (schemas.Department, "the department after the change")}))
    def update_department(self, request: Request, organization_id: str, department_id: str):
        self._begin(request)
        _raw, changes = _body(request, orgs_contract.UpdateDepartmentV1(), self.context.settings.max_body_bytes)
        result = self._orgs("update_department", organization_id, department_id, changes)
        return _json(200, self._department_view(result["department"]))

    @api("DELETE", _DEPT, doc=Operation("Delete a department", ORGS, responses={204: (None, "deleted")}))
    def delete_department(self, request: Request, organization_id: str, department_id: str):
        self._begin(request)
        self._orgs("delete_department", organization_id, department_id)
        return Response(status=204)

    # ---- helpers ------------------------------------------------------------------------------------------
    def _begin(self, request: Request) -> Actor:
        """Authenticate (the seam of gateway/auth.py) and record the actor for logs, RPCs and events."""
        actor = authenticate(request)
        self.context.actor = str(actor)
        structlog.contextvars.bind_contextvars(actor=str(actor))
        return actor

    def _read_orgs_events(self, after: int, limit: int) -> list[dict]:
        return rpc_call(self.orgs_rpc.read_events, after, limit, timeout=READ_EVENTS_TIMEOUT)

    def _orgs_query(self, method: str, *args):
        return rpc_call(getattr(self.orgs_rpc, method), *args, timeout=self.context.settings.rpc_timeout)

    def _orgs(self, method: str, *args) -> dict:
        """A command to orgs; returns once the directory includes its events (read your own writes): the answer
        carries them, so they are applied here at once and the push arrives later as a duplicate."""
        result = self._orgs_query(method, *args)
        for message in result["events"]:
            self.orgs_directory.receive(message, self._read_orgs_events)
        self.orgs_directory.wait_for(result["position"], self._read_orgs_events)
        return result

    def _directory_read(self, query):
        directory = self.orgs_directory
        with directory.db.engine.connect() as conn:
            return query(directory.projection, conn)

    def _department_view(self, record: dict) -> dict:
        name = self._directory_read(lambda d, c: d.organization_name(c, record["organization_id"]))
        return views.department(record, name)

    def _idempotent(self, request: Request, actor: Actor, raw: bytes, run) -> Response:
        key = request.headers.get("Idempotency-Key")
        if key is None:
            return run(None)
        claim = self.idempotency.claim(str(actor), request.method, request.path, key, raw)
        if claim.replay is not None:
            stored = claim.replay
            return Response(stored["body"], status=stored["status"], mimetype="application/json",
                            headers={**stored["headers"], "Idempotent-Replayed": "true"})
        try:
            response = run(claim.derived_id)
        except DomainError:
            self.idempotency.release(claim)
            raise
        headers = {k: v for k, v in response.headers.items() if k == "Location"}
        self.idempotency.complete(claim, response.status_code, headers, response.get_data(as_text=True))
        return response


@functools.cache
def _spec(base_url: str) -> dict:
    return build_spec(GatewayService, base_url)


def _query(request: Request, schema) -> dict:
    repeated = [k for k in request.args if len(request.args.getlist(k)) > 1]
    if repeated:
        raise InvalidRequest("each query parameter may appear once", {k: ["repeated"] for k in repeated})
    try:
        return schema.load(request.args.to_dict())
    except ValidationError as exc:
        raise InvalidRequest("the query has invalid parameters", exc.messages_dict) from None


def _body(request: Request, schema, limit: int) -> tuple[bytes, dict]:
    """The JSON object of a request body, checked against `schema`: (raw bytes, the object as sent)."""
    if request.mimetype != "application/json":
        raise UnsupportedMediaType("send the body as application/json")
    # werkzeug reads nothing of a chunked body (no Content-Length); eventlet's wsgi.input decodes chunks itself
    stream = request.stream if request.content_length is not None else request.environ["wsgi.input"]
    raw = stream.read(limit + 1)
    if len(raw) > limit:
        raise RequestEntityTooLarge(f"the request body is over the limit of {limit} bytes")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequest(f"the body is not valid JSON: {exc}", {"body": ["malformed JSON"]},
                             code="malformed_json") from None
    if not isinstance(data, dict):
        raise InvalidRequest("the body must be a JSON object", {"body": ["not an object"]})
    try:
        schema.load(data)
    except ValidationError as exc:
        raise InvalidRequest("the request has invalid fields", exc.messages_dict) from None
    return raw, data
