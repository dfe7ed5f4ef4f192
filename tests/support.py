"""Real servers and real processes for tests: PostgreSQL databases, RabbitMQ vhosts, `certplane` processes.

Nothing here fakes a server. When PostgreSQL or RabbitMQ is not reachable the tests that need them are skipped
and reported — or fail, when CERTPLANE_REQUIRE_INTEGRATION=1 (CI).
"""
from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent
CERTPLANE = str(Path(sys.executable).parent / "certplane")
PG_ADMIN_URL = os.environ.get("CERTPLANE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
RABBIT_API = os.environ.get("CERTPLANE_TEST_RABBIT_API", "http://127.0.0.1:15672/api")
RABBIT_AUTH = ("guest", "guest")
RABBIT_AMQP = "amqp://guest:guest@127.0.0.1:5672"


def unavailable(reason: str):
    if os.environ.get("CERTPLANE_REQUIRE_INTEGRATION") == "1":
        pytest.fail(f"required server not reachable: {reason}", pytrace=False)
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- PostgreSQL --------------------------------------------------------------------------------------------

def _pg_admin():
    import psycopg
    return psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3)


def postgres_reachable() -> str | None:
    try:
        with _pg_admin() as conn:
            conn.execute("SELECT 1")
        return None
    except Exception as exc:  # noqa: BLE001
        return f"PostgreSQL at {PG_ADMIN_URL}: {exc}"


@contextlib.contextmanager
def pg_database():
    """A new, empty database; yields its SQLAlchemy URL; dropped afterwards."""
    problem = postgres_reachable()
    if problem:
        unavailable(problem)
    name = f"certplane_test_{uuid.uuid4().hex[:12]}"
    with _pg_admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    try:
        yield f"{base}/{name}"
    finally:
        with _pg_admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# ---- RabbitMQ ----------------------------------------------------------------------------------------------

def rabbit_reachable() -> str | None:
    try:
        response = requests.get(f"{RABBIT_API}/overview", auth=RABBIT_AUTH, timeout=3)
        response.raise_for_status()
        return None
    except Exception as exc:  # noqa: BLE001
        return f"RabbitMQ management API at {RABBIT_API} (rabbitmq-plugins enable rabbitmq_management): {exc}"


@contextlib.contextmanager
def rabbit_vhost():
    """A new vhost for guest; yields its AMQP URI; deleted afterwards (with every queue and exchange in it)."""
    problem = rabbit_reachable()
    if problem:
        unavailable(problem)
    vhost = f"certplane-test-{uuid.uuid4().hex[:12]}"
    requests.put(f"{RABBIT_API}/vhosts/{quote(vhost, safe='')}", auth=RABBIT_AUTH, timeout=10).raise_for_status()
    requests.put(f"{RABBIT_API}/permissions/{quote(vhost, safe='')}/guest", auth=RABBIT_AUTH, timeout=10,
                 json={"configure": ".*", "write": ".*", "read": ".*"}).raise_for_status()
    try:
        yield f"{RABBIT_AMQP}/{quote(vhost, safe='')}", vhost
    finally:
        requests.delete(f"{RABBIT_API}/vhosts/{quote(vhost, safe='')}", auth=RABBIT_AUTH, timeout=30)


def rabbit_api(method: str, path: str, **kwargs) -> requests.Response:
    response = requests.request(method, f"{RABBIT_API}{path}", auth=RABBIT_AUTH, timeout=10, **kwargs)
    response.raise_for_status()
    return response


# ---- certplane processes -----------------------------------------------------------------------------------

class CertplaneProcess:
    """`certplane run ...` as a child process, its output in files under `log_dir`."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log_dir: Path):
        self.name = name
        self.args = args
        self.env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
        self.log_dir = log_dir
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    def start(self) -> "CertplaneProcess":
        self.starts += 1
        out = open(self.log_dir / f"{self.name}.{self.starts}.log", "wb")
        if self.args[:1] == ["run"] and not (self.env.get("AMQP_URI") or "memory://").startswith("memory"):
            # distributed mode refuses a schema behind the code: the operator's step (a k8s Job) comes first
            migrated = subprocess.run([CERTPLANE, "db", "upgrade", *self.args[1:]], env=self.env, stdout=out,
                                      stderr=subprocess.STDOUT, cwd=self.env.get("CERTPLANE_WORKDIR", str(ROOT)),
                                      timeout=120)
            assert migrated.returncode == 0, f"certplane db upgrade for {self.name} failed:\n{self.output()}"
        self.proc = subprocess.Popen([CERTPLANE, *self.args], env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                     cwd=self.env.get("CERTPLANE_WORKDIR", str(ROOT)))
        return self

    def wait_ready(self, url: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited with {self.proc.returncode}:\n{self.output()[-4000:]}")
            try:
                if requests.get(url, timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise AssertionError(f"{self.name} not ready at {url} within {timeout}s:\n{self.output()[-4000:]}")

    def output(self) -> str:
        path = self.log_dir / f"{self.name}.{self.starts}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self, timeout: float = 15.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def kill9(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def wait_until(predicate, timeout: float = 20.0, interval: float = 0.1, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {message}")
        time.sleep(interval)
