"""Liveness and readiness: what /healthz and /readyz report (the gateway serves them on its API port; a process
without the gateway serves them on `health_port` for Kubernetes probes)."""
from __future__ import annotations

import json
from http import HTTPStatus

import eventlet
from kombu import Connection

from services.runtime import listener
from services.runtime.db import Database


def broker_check(amqp_uri: str, timeout: float = 3.0) -> str:
    if amqp_uri.startswith("memory"):
        return "ok"
    try:
        with Connection(amqp_uri, connect_timeout=timeout) as conn:
            conn.ensure_connection(max_retries=1, timeout=timeout)
        return "ok"
    except Exception as exc:  # noqa: BLE001 — any failure means not ready; say which
        return f"unreachable: {type(exc).__name__}"


def database_check(db: Database) -> str:
    try:
        db.ping()
        return "ok"
    except Exception as exc:  # noqa: BLE001
        return f"unreachable: {type(exc).__name__}"


def readiness(amqp_uri: str, databases: dict[str, Database]) -> tuple[bool, dict[str, str]]:
    checks = {"broker": broker_check(amqp_uri)}
    for name, db in databases.items():
        checks[f"database:{name}"] = database_check(db)
    return all(v == "ok" for v in checks.values()), checks


def _error(code: str, message: str) -> dict:
    return {"error": {"code": code, "message": message, "details": {}, "correlation_id": None}}


def serve(host: str, port: int, ready, limits: listener.Limits) -> None:
    """A two-route HTTP server for processes that run no gateway: GET /healthz, GET /readyz, behind the same
    listener limits as the gateway's port (header and body deadlines, connection caps)."""

    def app(environ, start_response):
        status, body = answer(environ)
        start_response(status, [("Content-Type", "application/json")])
        return [json.dumps(body).encode()]

    def answer(environ) -> tuple[str, dict]:
        try:
            listener.buffer_body(environ, limits.max_body_bytes, limits.body_timeout)
        except listener.BodyRefused as refused:
            listener.close_after_response(environ)
            return f"{refused.status} {HTTPStatus(refused.status).phrase}", _error(refused.code, refused.message)
        path = environ.get("PATH_INFO")
        if path == "/healthz":
            status, body = "200 OK", {"status": "ok"}
        elif path == "/readyz":
            ok, checks = ready()
            status, body = ("200 OK" if ok else "503 Service Unavailable"), {
                "status": "ok" if ok else "unavailable", "checks": checks}
        else:
            status, body = "404 Not Found", _error("not_found", "no such path")
        return status, body

    sock = eventlet.listen((host, port))
    listener.accept_loop(sock, listener.make_server(sock, app, limits), listener.ConnectionGate(limits),
                         eventlet.spawn)
