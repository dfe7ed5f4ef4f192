"""Run a list of services in this process with nameko's ServiceRunner (both modes)."""
from __future__ import annotations

import fcntl
import os
import signal
import sys
from pathlib import Path

import eventlet
from eventlet.event import Event
import structlog
from nameko.runners import ServiceRunner

from services.runtime import health, listener, transport
from services.runtime.config import load_settings
from services.runtime.logs import configure_logging

log = structlog.get_logger(__name__)

STOP_GRACE_SECONDS = 10


def run_services(names: list[str], service_class, first_start=None) -> int:
    """`first_start(settings, names)` runs before the services start and returns lines for the banner."""
    settings = load_settings()
    settings.check()
    if "gateway" in names and settings.tls_port:
        try:
            listener.TlsCertificates.of(settings)          # an unusable certificate: one line, not tracebacks
        except listener.TlsSettingsError as exc:
            raise SystemExit(str(exc)) from None
    configure_logging(settings.log_level)
    if settings.embedded:
        _lock_var_dir(settings.var_dir)
    # embedded: migrate; distributed: refuse a schema older or newer than the code (`certplane db upgrade`)
    from services.runtime.migrations import ensure_schemas
    ensure_schemas(settings, names)
    transport.install()
    notes = first_start(settings, names) if first_start else []
    runner = ServiceRunner(settings.nameko_config())
    for name in names:
        runner.add_service(service_class(name))

    stopping = Event()

    def on_signal(signum, _frame):
        if not stopping.ready():
            stopping.send(signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    runner.start()
    mode = "embedded" if settings.embedded else "distributed"
    log.info("certplane_started", services=names, mode=mode)
    if "gateway" in names:
        print(f"Certplane is running at {settings.base_url}/  ({mode} mode, services: {', '.join(names)})",
              flush=True)
        print(f"  API: {settings.base_url}/api/v1/openapi.json   health: {settings.base_url}/readyz", flush=True)
        if settings.tls_port:
            print(f"  HTTPS: https://{settings.http_host}:{settings.tls_port}/  (the same routes over TLS; "
                  f"certificate {settings.tls_cert_file}, re-read when it changes)", flush=True)
        if settings.est_port:
            print(f"  EST: {settings.est_base_url}/.well-known/est/<endpoint>/  (TLS; its certificate from "
                  f"Certplane's CA, on {settings.est_host or settings.http_host}:{settings.est_port})", flush=True)
        for line in notes:
            print(line, flush=True)
        print("  Ctrl-C stops.", flush=True)
    else:
        databases = {f"{c.service_name}": d for c in runner.containers for d in _databases(c)}
        eventlet.spawn(health.serve, settings.http_host, settings.health_port,
                       lambda: health.readiness(settings.amqp_uri, databases), listener.Limits.of(settings))
        print(f"Certplane services running ({mode}): {', '.join(names)}; "
              f"health on http://{settings.http_host}:{settings.health_port}/readyz", flush=True)

    stopping.wait()
    log.info("certplane_stopping")
    # One stop; a second SIGTERM can hang nameko 2.14 (RUNTIME-NOTES), so kill after a grace period instead.
    stopper = eventlet.spawn(runner.stop)
    with eventlet.Timeout(STOP_GRACE_SECONDS, False):
        stopper.wait()
        return 0
    runner.kill()
    sys.stdout.flush()
    return 0


def _databases(container):
    """The databases a container's dependencies use (each provider exposes `database` once set up)."""
    return [provider.database for provider in container.dependencies if getattr(provider, "database", None)]


def _lock_var_dir(var_dir: str) -> None:
    """One embedded Certplane per var/ directory: a second would share the SQLite files but not the in-memory
    broker, so its events would never reach the first one's read models."""
    Path(var_dir).mkdir(parents=True, exist_ok=True)
    fd = os.open(Path(var_dir) / "certplane.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise SystemExit(f"another embedded Certplane is already running with {Path(var_dir).resolve()}; "
                         "stop it first (or set CERTPLANE_VAR_DIR to another directory)") from None
    _held_locks.append(fd)   # held until the process exits


_held_locks: list[int] = []
