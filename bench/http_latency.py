"""Latency of POST /api/v1/organizations through the real gateway, in distributed and in embedded mode.

    .venv/bin/python bench/http_latency.py [--requests 400] [--warmup 20] [--clients 1,20]
                                           [--modes distributed,embedded] [--keep-logs]

Distributed mode (what production runs): the script makes a fresh PostgreSQL database and a fresh RabbitMQ vhost
(through the management API on :15672), starts `certplane run orgs` and `certplane run gateway` as two processes
(AMQP_URI=amqp://guest:guest@127.0.0.1:5672/<vhost>, CERTPLANE_DATABASE_URL=postgresql+psycopg://.../<db>, free
HTTP and health ports), waits for the gateway's GET /readyz = 200, then measures. Each request is one
`POST /api/v1/organizations` with a unique organization name and must answer 201: the gateway validates, calls
`orgs.create_organization` over RabbitMQ RPC, orgs appends organization_created to its PostgreSQL event store
(projection in the same transaction) and answers; the relay publishes the event afterwards, off the request path.

Embedded mode (for comparison, same run): one `certplane run` process, kombu's in-memory transport, SQLite files
in a temporary CERTPLANE_VAR_DIR.

For each mode and each client count: `--warmup` requests (not counted), then `--requests` requests spread over
that many threads, each with its own requests.Session (keep-alive). Reported: p50, p99 (nearest rank), mean,
max, requests/s (completed requests / wall time), and any non-201 answers. Afterwards the processes get SIGTERM
(SIGKILL after 10 s), the database and the vhost are dropped, and the processes' logs are scanned for tracebacks
(printed if any).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import requests

from load import rank_ms, run_clients

ROOT = Path(__file__).resolve().parent.parent
CERTPLANE = os.environ.get("CERTPLANE_BIN", str(ROOT / ".venv" / "bin" / "certplane"))
PG_ADMIN = os.environ.get("CERTPLANE_BENCH_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
RABBIT_API = os.environ.get("CERTPLANE_BENCH_RABBIT_API", "http://127.0.0.1:15672/api")
RABBIT_AMQP = os.environ.get("CERTPLANE_BENCH_AMQP", "amqp://guest:guest@127.0.0.1:5672")
RABBIT_AUTH = ("guest", "guest")
STOP_GRACE = 10.0
READY_TIMEOUT = 90.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- servers: a database and a vhost of our own --------------------------------------------------------------

@contextlib.contextmanager
def postgres_database(tag: str):
    import psycopg

    name = f"certplane_bench_{tag}"
    with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(PG_ADMIN)
    url = urlunsplit(parts._replace(scheme="postgresql+psycopg", path=f"/{name}"))
    try:
        yield url
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def rabbit_vhost(tag: str):
    try:
        requests.get(f"{RABBIT_API}/overview", auth=RABBIT_AUTH, timeout=5).raise_for_status()
    except requests.RequestException as exc:
        raise SystemExit(f"RabbitMQ's management API is not answering at {RABBIT_API} ({exc}). Enable it with "
                         "`rabbitmq-plugins enable rabbitmq_management` (needs a running broker), then re-run.")
    vhost = f"certplane-bench-{tag}"
    path = quote(vhost, safe="")
    requests.put(f"{RABBIT_API}/vhosts/{path}", auth=RABBIT_AUTH, timeout=10).raise_for_status()
    requests.put(f"{RABBIT_API}/permissions/{path}/guest", auth=RABBIT_AUTH, timeout=10,
                 json={"configure": ".*", "write": ".*", "read": ".*"}).raise_for_status()
    try:
        yield f"{RABBIT_AMQP}/{path}"
    finally:
        requests.delete(f"{RABBIT_API}/vhosts/{path}", auth=RABBIT_AUTH, timeout=30)


# ---- certplane processes ----------------------------------------------------------------------------------

class Process:
    def __init__(self, name: str, args: list[str], env: dict[str, str], workdir: Path):
        self.name, self.args, self.workdir = name, args, workdir
        base = {k: v for k, v in os.environ.items()
                if not (k.startswith("CERTPLANE_") or k in ("AMQP_URI",))}  # nothing of ours leaks in
        self.env = {**base, **env, "PYTHONUNBUFFERED": "1"}
        self.log = workdir / f"{name}.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Process":
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen([CERTPLANE, *self.args], env=self.env, cwd=self.workdir, stdout=out,
                                         stderr=subprocess.STDOUT)
        return self

    def wait_ready(self, url: str, timeout: float = READY_TIMEOUT) -> float:
        started, last = time.monotonic(), None
        while time.monotonic() - started < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}; log:\n{self.tail()}")
            try:
                response = requests.get(url, timeout=3)
                if response.status_code == 200:
                    return time.monotonic() - started
                last = f"{response.status_code} {response.text[:300]}"
            except requests.RequestException as exc:
                last = type(exc).__name__
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} not ready at {url} after {timeout:.0f} s (last answer: {last}); "
                           f"log:\n{self.tail()}")

    def tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    def stop(self) -> str:
        """SIGTERM once, SIGKILL after STOP_GRACE seconds; say which it took."""
        if self.proc is None or self.proc.poll() is not None:
            return f"{self.name}: already exited ({self.proc.returncode if self.proc else 'never started'})"
        self.proc.send_signal(signal.SIGTERM)
        started = time.monotonic()
        try:
            code = self.proc.wait(STOP_GRACE)
            return f"{self.name}: stopped on SIGTERM in {time.monotonic() - started:.1f} s (exit {code})"
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return f"{self.name}: did not stop within {STOP_GRACE:.0f} s of SIGTERM; killed"

    def problems(self) -> list[tuple[int, str]]:
        """Error-level log lines and tracebacks in this process's output, grouped: [(count, summary)]."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        found: dict[str, int] = {}
        for line in text.splitlines():
            summary = None
            try:
                record = json.loads(line)
            except ValueError:
                record = None
            if isinstance(record, dict):
                if record.get("level") in ("error", "critical") or "exception" in record:
                    where = [f.strip() for f in str(record.get("exception", "")).splitlines()
                             if f.strip().startswith('File "' + str(ROOT))]
                    last = str(record.get("exception", "")).strip().splitlines()[-1:] or [""]
                    event = re.sub(r"0x[0-9a-f]+", "0x…", str(record.get("event")))
                    summary = (f"{record.get('level')}: {event[:160]} {record.get('error', '')}"
                               + (f"\n      at {where[-1]}" if where else "")
                               + (f"\n      {last[0]}" if last[0] else ""))
            elif line.startswith("Traceback") or re.match(r"^\w*(Error|Exception)\b", line):
                summary = line.strip()
            if summary:
                found[summary] = found.get(summary, 0) + 1
        return sorted(((n, s) for s, n in found.items()), reverse=True)


# ---- load ---------------------------------------------------------------------------------------------------

def organization(mode: str, run: str, n: int) -> dict:
    return {"name": f"Bench {mode[:4]} {run} {n}", "address1": "1 Main St", "city": "Berlin", "state": "Berlin",
            "country": "DE"}


def log_in(base_url: str, username: str, password: str) -> str:
    """A session token for the first administrator, past the first-login password change."""
    token = requests.post(f"{base_url}/api/v1/auth/login", json={"username": username, "password": password},
                          timeout=60).json()["token"]
    changed = requests.post(f"{base_url}/api/v1/auth/password", headers={"Authorization": f"Bearer {token}"},
                            json={"current_password": password, "new_password": "load-test passphrase 2026"}, timeout=60)
    if changed.status_code != 204:
        raise RuntimeError(f"password change failed: {changed.status_code} {changed.text[:300]}")
    return token


def measure(base_url: str, token: str, mode: str, clients: int, total: int, warmup: int,
            max_failures: int = 10) -> dict:
    url = f"{base_url}/api/v1/organizations"
    run = secrets.token_hex(3)
    auth = {"Authorization": f"Bearer {token}"}
    # warm-up: not counted (connections, prepared plans, first RPC reply queue ...)
    with requests.Session() as session:
        session.headers.update(auth)
        for n in range(warmup):
            session.post(url, json=organization(mode, run + "w", n), timeout=60)
    def one(session: requests.Session, n: int, _thread: int) -> str | None:
        response = session.post(url, json=organization(mode, run, n), timeout=60)
        return None if response.status_code == 201 else f"{response.status_code}: {response.text[:300]}"

    ordered, failures, wall = run_clients(clients, total, one, auth, max_failures)
    return {"mode": mode, "clients": clients, "ok": len(ordered), "failed": len(failures),
            "aborted": len(failures) >= max_failures and len(ordered) + len(failures) < total,
            "failures": failures[:5], "p50": rank_ms(ordered, 0.50), "p99": rank_ms(ordered, 0.99),
            "mean": statistics.fmean(ordered) * 1000 if ordered else float("nan"),
            "max": ordered[-1] * 1000 if ordered else float("nan"), "rps": len(ordered) / wall, "wall": wall}


# ---- the two modes ------------------------------------------------------------------------------------------

@contextlib.contextmanager
def distributed(workdir: Path, notes: list[str], processes: list[Process]):
    tag = secrets.token_hex(4)
    with postgres_database(tag) as database_url, rabbit_vhost(tag) as amqp_uri:
        http_port, gateway_health, orgs_health, identity_health = free_port(), free_port(), free_port(), free_port()
        common = {"AMQP_URI": amqp_uri, "CERTPLANE_DATABASE_URL": database_url}
        orgs = Process("distributed-orgs", ["run", "orgs"],
                       {**common, "CERTPLANE_HTTP_PORT": str(free_port()), "CERTPLANE_HEALTH_PORT": str(orgs_health)},
                       workdir)
        gateway = Process("distributed-gateway", ["run", "gateway"],
                          {**common, "CERTPLANE_HTTP_PORT": str(http_port),
                           "CERTPLANE_HEALTH_PORT": str(gateway_health)}, workdir)
        identity = Process("distributed-identity", ["run", "identity"],
                           {**common, "CERTPLANE_HEALTH_PORT": str(identity_health)}, workdir)
        processes += [orgs, identity, gateway]
        try:
            subprocess.run([CERTPLANE, "db", "upgrade", "orgs", "identity", "gateway"], env={**os.environ, **common},
                           cwd=workdir, check=True, capture_output=True, timeout=300)
            orgs.start()
            identity.start()
            gateway.start()
            t_orgs = orgs.wait_ready(f"http://127.0.0.1:{orgs_health}/readyz")
            identity.wait_ready(f"http://127.0.0.1:{identity_health}/readyz")
            t_gateway = gateway.wait_ready(f"http://127.0.0.1:{http_port}/readyz")
            created = subprocess.run([CERTPLANE, "admin", "create", "--username", "bench", "--email",
                                      "bench@example.com", "--forename", "Bench", "--surname", "Mark"],
                                     env=gateway.env, capture_output=True, text=True, timeout=120, check=True)
            base_url = f"http://127.0.0.1:{http_port}"
            token = log_in(base_url, "bench", json.loads(created.stdout)["password"])
            notes.append(f"distributed: database {urlsplit(database_url).path.lstrip('/')}, vhost "
                         f"{urlsplit(amqp_uri).path.lstrip('/')}; orgs ready after {t_orgs:.1f} s, gateway "
                         f"after {t_gateway:.1f} s")
            yield base_url, token
        finally:
            for process in (gateway, identity, orgs):
                notes.append("distributed: " + process.stop())


@contextlib.contextmanager
def embedded(workdir: Path, notes: list[str], processes: list[Process]):
    var_dir = workdir / "embedded-var"
    var_dir.mkdir()
    http_port = free_port()
    process = Process("embedded", ["run"], {"CERTPLANE_VAR_DIR": str(var_dir), "CERTPLANE_HTTP_PORT": str(http_port),
                                            "CERTPLANE_HEALTH_PORT": str(free_port())}, workdir)
    processes.append(process)
    try:
        process.start()
        ready = process.wait_ready(f"http://127.0.0.1:{http_port}/readyz")
        notes.append(f"embedded: SQLite under a temporary CERTPLANE_VAR_DIR; ready after {ready:.1f} s")
        initial = dict(line.split(": ", 1) for line in (var_dir / "initial-admin.txt").read_text().splitlines())
        base_url = f"http://127.0.0.1:{http_port}"
        yield base_url, log_in(base_url, initial["username"], initial["password"])
    finally:
        notes.append("embedded: " + process.stop())


MODES = {"distributed": distributed, "embedded": embedded}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=400, help="measured requests per (mode, client count)")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--clients", default="1,20", help="comma-separated concurrent client counts")
    parser.add_argument("--modes", default="distributed,embedded")
    parser.add_argument("--max-failures", type=int, default=10,
                        help="stop a row after this many non-201 answers (a stalled server costs 10 s each)")
    parser.add_argument("--keep-logs", action="store_true", help="keep the processes' logs (path printed)")
    args = parser.parse_args(argv)
    client_counts = [int(c) for c in args.clients.split(",") if c.strip()]
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = set(modes) - set(MODES)
    if unknown:
        parser.error(f"unknown modes {sorted(unknown)}; known: {sorted(MODES)}")
    if not Path(CERTPLANE).exists():
        raise SystemExit(f"{CERTPLANE} not found: run `make bench-http` (installs the venv) or set CERTPLANE_BIN")

    workdir = Path(tempfile.mkdtemp(prefix="certplane-bench-http-"))
    print(f"bench/http_latency.py — {time.strftime('%Y-%m-%d %H:%M:%S %Z')} — {os.cpu_count()} CPUs; "
          f"POST /api/v1/organizations, {args.requests} requests per row after {args.warmup} warm-up, "
          f"each a new organization (expect 201)", flush=True)
    results, notes, processes, failed = [], [], [], False
    try:
        for mode in modes:
            with MODES[mode](workdir, notes, processes) as (base_url, token):
                for clients in client_counts:
                    result = measure(base_url, token, mode, clients, args.requests, args.warmup,
                                     args.max_failures)
                    results.append(result)
                    print(f"  {mode:<11} {clients:>3} clients: p50 {result['p50']:7.1f} ms  p99 "
                          f"{result['p99']:7.1f} ms  {result['rps']:6.1f} req/s  ({result['ok']} x 201, "
                          f"{result['failed']} failed{'; row ABORTED' if result['aborted'] else ''})", flush=True)
    except BaseException:
        failed = True
        raise
    finally:
        print()
        if results:
            print(f"{'mode':<12} {'clients':>7} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8} {'max ms':>8} "
                  f"{'req/s':>7} {'201':>5} {'other':>5}")
            print("-" * 78)
            for r in results:
                print(f"{r['mode']:<12} {r['clients']:>7} {r['p50']:>8.1f} {r['p99']:>8.1f} {r['mean']:>8.1f} "
                      f"{r['max']:>8.1f} {r['rps']:>7.1f} {r['ok']:>5} {r['failed']:>5}"
                      f"{'  aborted after ' + str(r['failed']) + ' failures' if r['aborted'] else ''}")
            print("-" * 78)
        for r in results:
            for failure in r["failures"]:
                print(f"non-201 ({r['mode']}, {r['clients']} clients): {failure}")
        for note in notes:
            print(note)
        for process in processes:
            problems = process.problems()
            if problems:
                failed = True
                print(f"\n{process.name}: {sum(n for n, _ in problems)} error line(s) in its log, by kind:")
                for count, problem in problems[:8]:
                    print(f"  {count:>5} x {problem}")
        if args.keep_logs or failed:
            print(f"\nprocess logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 1 if any(r["failed"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
