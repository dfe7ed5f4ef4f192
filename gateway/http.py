"""The gateway's HTTP entrypoint: nameko's @http with Certplane's edge rules applied to every route.

- every error (ours, routing 404/405, body too large) leaves in the single JSON error format;
- the listener (services/runtime/listener.py) bounds the time for the headers and for the body and the connections
  per client address and in total; the body is read into memory here, before a worker is taken, so a slow client
  holds a greenthread, never one of the gateway's workers; a body over `max_body_bytes` is 413 (before it is read
  when Content-Length says so), one that does not arrive in time 408, malformed chunked framing 400, and each of
  those closes the connection;
- each request gets a correlation id (the client's X-Correlation-Id if well formed, else a new one), which
  nameko carries through every RPC into the events the request causes, and which every response echoes;
- a `FastPath` dependency of the service may answer a request before all of that (routing, a worker): hot public
  read paths answered from memory (gateway/ocsp.py). What it does not answer goes on as above.
"""
from __future__ import annotations

import re
import uuid
from functools import partial

import eventlet
import structlog
from eventlet.event import Event
from nameko.extensions import DependencyProvider
from nameko.web.handlers import HttpRequestHandler
from nameko.web.server import WebServer, WsgiApp
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.wrappers import Request, Response

from contracts.errors import EXPECTED
from gateway.errors import error_response, response_for_exception
from services.runtime import listener

log = structlog.get_logger(__name__)

_CORRELATION_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# on every answer of a route: nothing we send is a page to run or frame (the console's files say what they are)
DEFAULT_HEADERS = (("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'"),
                   ("X-Content-Type-Options", "nosniff"))


def correlation_id_of(request: Request) -> str:
    return _given_or_new(request.headers.get("X-Correlation-Id", ""))


def _given_or_new(given: str) -> str:
    return given if _CORRELATION_ID.match(given) else str(uuid.uuid4())


class FastPath(DependencyProvider):
    """A dependency that may answer a request before nameko's per-request machinery: URL routing, a worker with
    its context, the JSON error handling. The app asks every FastPath of the service, in no particular order,
    with the WSGI environ. `respond_early` returns (status line, headers, body), to which the app adds
    X-Correlation-Id, or None to let the routes answer; then it must leave the request as it found it (a body it
    read put back in `wsgi.input`). It runs outside any worker: no `self.context`, no RPC, nothing that can fail
    with an error the client should see — that is the routes' job."""

    def respond_early(self, environ: dict) -> tuple[str, list[tuple[str, str]], bytes] | None:
        return None


class _App(WsgiApp):
    def __init__(self, server):
        super().__init__(server)
        self.fast_paths = [d for d in server.container.dependencies if isinstance(d, FastPath)]

    def __call__(self, environ, start_response):
        settings = self.server.container.config["CERTPLANE"]
        try:
            listener.buffer_body(environ, settings.max_body_bytes, settings.http_body_timeout)
        except listener.BodyRefused as refused:
            listener.close_after_response(environ)
            correlation_id = _given_or_new(environ.get("HTTP_X_CORRELATION_ID", ""))
            log.info("http_body_refused", status=refused.status, code=refused.code, correlation_id=correlation_id,
                     client=environ.get("REMOTE_ADDR"))
            # eventlet adds Connection: close itself
            return error_response(refused.status, refused.code, refused.message, None,
                                  correlation_id)(environ, start_response)
        for fast_path in self.fast_paths:
            try:
                answered = fast_path.respond_early(environ)
            except Exception:  # noqa: BLE001 — a bug or an outage there must not cost the answer: the routes give it
                log.exception("fast_path_failed", fast_path=type(fast_path).__name__)
                answered = None
            if answered is not None:
                status, headers, body = answered
                start_response(status, headers + [
                    ("X-Correlation-Id", _given_or_new(environ.get("HTTP_X_CORRELATION_ID", "")))])
                return [body]
        request = Request(environ, shallow=True)
        correlation_id = correlation_id_of(request)
        environ["certplane.correlation_id"] = correlation_id
        limit = self.server.container.config["CERTPLANE"].max_body_bytes
        try:
            if request.content_length is not None and request.content_length > limit:
                raise RequestEntityTooLarge(f"the request body is over the limit of {limit} bytes")
            adapter = self.url_map.bind_to_environ(environ)
            provider, values = adapter.match()
            request.path_values = values
            response = provider.handle_request(request)
        except HTTPException as exc:
            response = response_for_exception(exc, correlation_id)
        return response(environ, start_response)


# The EST listener's TLS (one gateway a process): its certificate installed by gateway/api_est.py's timer
EST_TLS = listener.ServiceTls()
EST_LISTENER = "certplane.est_listener"
EST_ENVIRON = {**listener.TLS_ENVIRON, EST_LISTENER: True}


class ApiServer(WebServer):
    """The API port, and — when `tls_port` is set — the same routes over TLS on (http_host, tls_port), with the
    certificate of `tls_cert_file` (re-read when it changes). Both listeners share one ConnectionGate: a client's
    share of connections is the process's, whichever port it uses."""

    _tls = _tls_sock = _tls_serv = _tls_gt = None
    _est_sock = _est_serv = _est_gt = None

    def start(self):
        # nameko's own start() with one change: eventlet.listen sets SO_REUSEPORT by default, which lets a second
        # Certplane bind the same port silently and split the traffic; here a taken port is an error.
        if not self._starting:
            self._starting = True
            settings = self.container.config["CERTPLANE"]
            if settings.tls_port:   # before any port is bound: an unusable certificate stops the start
                try:
                    self._tls = listener.TlsCertificates.of(settings)
                except listener.TlsSettingsError as exc:
                    log.error("tls_listener_refused", error=str(exc))
                    raise
            self._sock = eventlet.listen(self.bind_addr, reuse_port=False)
            self._sock.settimeout(None)  # kombu#838, as in nameko
            limits = listener.Limits.of(settings)
            self._gate = listener.ConnectionGate(limits)
            app = self.get_wsgi_app()
            self._serv = listener.make_server(self._sock, app, limits)
            self._gt = self.container.spawn_managed_thread(self.run)
            if self._tls is not None:
                self._tls_sock = eventlet.listen((settings.http_host, settings.tls_port), reuse_port=False)
                self._tls_sock.settimeout(None)
                self._tls_serv = listener.make_server(self._tls_sock, app, limits, environ=listener.TLS_ENVIRON)
                self._tls_gt = self.container.spawn_managed_thread(self.run_tls)
            if settings.est_port:   # EST (gateway/api_est.py): its certificate from Certplane's CA, installed later
                self._est_sock = eventlet.listen((settings.est_host or settings.http_host, settings.est_port),
                                                 reuse_port=False)
                self._est_sock.settimeout(None)
                self._est_serv = listener.make_server(self._est_sock, app, limits, environ=EST_ENVIRON)
                self._est_gt = self.container.spawn_managed_thread(self.run_est)

    def run(self):
        # nameko's accept loop with the listener's caps; each connection is a managed thread, not a worker
        listener.accept_loop(self._sock, self._serv, self._gate, self.container.spawn_managed_thread,
                             lambda: self._is_accepting)

    def run_tls(self):
        listener.accept_loop(self._tls_sock, self._tls_serv, self._gate, self.container.spawn_managed_thread,
                             lambda: self._is_accepting, tls=self._tls)

    def run_est(self):
        listener.accept_loop(self._est_sock, self._est_serv, self._gate, self.container.spawn_managed_thread,
                             lambda: self._is_accepting, tls=EST_TLS)

    def stop(self):
        self._is_accepting = False
        if self._tls_gt is not None:
            self._tls_gt.kill()
            self._tls_sock.close()
        if self._est_gt is not None:
            self._est_gt.kill()
            self._est_sock.close()
        super().stop()

    def get_wsgi_app(self):
        return _App(self)

    def context_data_from_headers(self, request):
        return {"correlation_id": request.environ.get("certplane.correlation_id") or correlation_id_of(request)}


class ApiHandler(HttpRequestHandler):
    server = ApiServer()

    def __init__(self, method, url, doc=None, **kwargs):
        self.doc = doc   # gateway.openapi.Operation: what the OpenAPI document says of this route
        kwargs.setdefault("expected_exceptions", EXPECTED)
        super().__init__(method, url, **kwargs)

    def handle_request(self, request):
        request.shallow = False
        context_data = self.server.context_data_from_headers(request)
        try:
            args, kwargs = self.get_entrypoint_parameters(request)
            self.check_signature(args, kwargs)
            done = Event()
            self.container.spawn_worker(self, args, kwargs, context_data=context_data,
                                        handle_result=partial(self.handle_result, done))
            response = self.response_from_result(done.wait())
        except Exception as exc:  # noqa: BLE001 — every failure becomes the JSON error format
            response = response_for_exception(exc, context_data["correlation_id"])
        response.headers["X-Correlation-Id"] = context_data["correlation_id"]
        for name, value in DEFAULT_HEADERS:      # the console's own pages set a policy of their own
            response.headers.setdefault(name, value)
        return response

    def response_from_result(self, result):
        if isinstance(result, Response):
            return result
        return super().response_from_result(result)


api = ApiHandler.decorator
