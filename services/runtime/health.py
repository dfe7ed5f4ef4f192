"""Liveness and readiness: what /healthz and /readyz report (the gateway serves them on its API port; a process
without the gateway serves them on `health_port` for Kubernetes probes)."""
from __future__ import annotations

import json

import eventlet
from eventlet import wsgi
from kombu import Connection

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


def serve(host: str, port: int, ready) -> None:
    """A two-route HTTP server for processes that run no gateway: GET /healthz, GET /readyz."""

    def app(environ, start_response):
        path = environ.get("PATH_INFO")
        if path == "/healthz":
            status, body = "200 OK", {"status": "ok"}
        elif path == "/readyz":
            ok, checks = ready()
            status, body = ("200 OK" if ok else "503 Service Unavailable"), {
                "status": "ok" if ok else "unavailable", "checks": checks}
        else:
            status, body = "404 Not Found", {"error": {"code": "not_found", "message": "no such path",
                                                       "details": {}, "correlation_id": None}}
        start_response(status, [("Content-Type", "application/json")])
        return [json.dumps(body).encode()]

    wsgi.server(eventlet.listen((host, port)), app, log_output=False)
