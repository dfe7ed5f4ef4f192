"""The gateway: the only HTTP surface. It authenticates (auth.py) against its copy of identity's principals,
checks scope (scope.py), validates, calls services over RPC and assembles views. It keeps three read models, all
followers of other services' events: the organization directory (orgs), the principal directory (identity) and
the certificate statuses (ca), by which it reuses signed OCSP responses (ocsp.py) instead of asking the ca.
The routes live in api_*.py, one module per resource family."""
from __future__ import annotations

import functools

from nameko.rpc import RpcProxy
from werkzeug.wrappers import Request

from gateway import schemas
from gateway.api_acme_accounts import AcmeAccountRoutes
from gateway.api_acme import AcmeRoutes
from gateway.api_admins import AdminRoutes
from gateway.api_auth import AuthRoutes
from gateway.api_console import ConsoleRoutes
from gateway.api_dashboard import DashboardRoutes
from gateway.api_certs import TypedCertificateRoutes
from gateway.api_domains import DomainRoutes
from gateway.api_enrollment_forms import EnrollmentFormRoutes
from gateway.api_escrow import EscrowRoutes
from gateway.api_est import EstRoutes
from gateway.api_key_usage import ApiKeyUsageProvider
from gateway.api_networks import NetworkRoutes
from gateway.api_orgs import OrganizationRoutes
from gateway.api_outbox import OutboxRoutes
from gateway.api_persons import PersonRoutes
from gateway.api_public_forms import PublicFormRoutes
from gateway.api_scep import ScepRoutes
from gateway.api_ssl import CertificateRoutes
from gateway.api_ssl_details import SslDetailsRoutes
from gateway.base import GatewayBase, json_response
from gateway.console_sessions import ConsoleSessionsProvider
from gateway.directory import OrgDirectory
from gateway.http import api
from gateway.idempotency import IdempotencyProvider
from gateway.ocsp import OcspProvider
from gateway.openapi import Operation, build_spec
from gateway.principals import PrincipalDirectory
from services.runtime.health import readiness
from services.runtime.nameko_glue import Context, Following, catch_up, catch_up_timer, follow, follows


class GatewayService(ConsoleRoutes, AuthRoutes, OrganizationRoutes, AdminRoutes, PersonRoutes, DomainRoutes,
                     NetworkRoutes, OutboxRoutes, CertificateRoutes, SslDetailsRoutes, AcmeAccountRoutes,
                     DashboardRoutes, AcmeRoutes, TypedCertificateRoutes, EscrowRoutes, EnrollmentFormRoutes, PublicFormRoutes,
                     ScepRoutes, EstRoutes,
                     GatewayBase,
                     Following):
    name = "gateway"

    context = Context()
    orgs_rpc = RpcProxy("orgs")
    identity_rpc = RpcProxy("identity")
    domains_rpc = RpcProxy("domains")
    notify_rpc = RpcProxy("notify")
    ca_rpc = RpcProxy("ca")
    enrollment_rpc = RpcProxy("enrollment")
    orgs_directory = follows("orgs", OrgDirectory)
    principals = follows("identity", PrincipalDirectory)
    ocsp = OcspProvider()   # the certificate-status read model (ca), the OCSP response cache and its fast path
    idempotency = IdempotencyProvider()
    api_key_usage = ApiKeyUsageProvider()
    console_sessions = ConsoleSessionsProvider()

    # ---- the certificate statuses: their provider is also the OCSP fast path, so wired by hand ----------
    @follow("ca", "gateway")
    def on_ca_event(self, message: dict) -> None:
        self.ocsp.follower.receive(message, self._read_ca_events)

    @catch_up_timer()
    def catch_up_ca(self) -> bool:
        return catch_up(self.ocsp.follower, self._read_ca_events)

    # ---- health and the API description -------------------------------------------------------------------
    @api("GET", "/healthz", doc=Operation("Liveness: the process answers", "health", public=True,
                                          responses={200: (schemas.Health, "alive")}))
    def healthz(self, request: Request):
        return json_response(200, {"status": "ok"})

    @api("GET", "/readyz", doc=Operation("Readiness: database and broker reachable, read models caught up once",
                                         "health", public=True,
                                         responses={200: (schemas.Health, "ready"),
                                                    503: (schemas.Health, "not ready")}))
    def readyz(self, request: Request):
        ok, checks = readiness(self.context.settings.amqp_uri, {"gateway": self.orgs_directory.db})
        for name, follower in (("directory:orgs", self.orgs_directory), ("principals:identity", self.principals)):
            checks[name] = "ok" if follower.caught_up else "catching up"
            ok = ok and follower.caught_up
        # shown, but not a condition: while it catches up OCSP answers come from the ca (right, only slower), and
        # a ca that is down must not take the whole HTTP surface out of service
        checks["certificate_status:ca"] = "ok" if self.ocsp.follower.caught_up else "catching up"
        return json_response(200 if ok else 503, {"status": "ok" if ok else "unavailable", "checks": checks})

    @api("GET", "/api/v1/openapi.json", doc=Operation("This document", "meta", public=True,
                                                      responses={200: (None, "OpenAPI 3.1 document")}))
    def openapi(self, request: Request):
        return json_response(200, _spec(self.context.settings.base_url))


@functools.cache
def _spec(base_url: str) -> dict:
    return build_spec(GatewayService, base_url)
