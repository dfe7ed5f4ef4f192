"""What authentication and scope cost on GET /api/v1/organizations: requests/s with a bearer token (warm), against
the same request on the same code with authentication taken out, in the same run.

    .venv/bin/python bench/auth.py [--requests 2000] [--warmup 200] [--clients 1,8] [--rounds 3]
                                   [--orgs 200] [--departments 50] [--keep-logs]

Two embedded-mode processes (SQLite, each in its own temporary CERTPLANE_VAR_DIR, each on its own free port), both
from this checkout and both holding the same data (`--orgs` organizations and `--departments` departments created
through the API before measuring):

- **auth**: `certplane run`, unchanged. The script logs in as the initial MRAO (var/initial-admin.txt, first-login
  password change done), issues that MRAO an API key, and creates an RAO (ssl) of 5 of the organizations, logged
  in the same way.
- **bypass**: `python <tmp>/bypass.py`, a wrapper this script writes into its temporary directory. It replaces
  `gateway.auth.authenticate` (and `gateway.base.authenticate`, which imported the name) with a function that
  returns a fixed Principal without reading the Authorization header's token from any table, then calls
  `services.runtime.cli.main(["run"])`. Everything after authentication (`_begin`'s department->organization map,
  Scope, the query, the view, the JSON) is the same code as in the auth process. No Authorization header: a fixed
  MRAO. `Authorization: Bearer bench-rao:<id>,<id>,...`: an RAO (ssl) of those organizations, parsed from the
  header itself, so the scoped case has a baseline that answers the same rows.

Cases (every one is `GET /api/v1/organizations`, default page of 50, and must answer 200 with the expected
X-Total-Count):

    mrao-session   auth process, MRAO, session token           baseline: mrao-bypass
    mrao-api-key   auth process, MRAO, API key                 baseline: mrao-bypass
    rao-session    auth process, RAO of 5 orgs, session token  baseline: rao-bypass
    mrao-bypass    bypass process, no Authorization header (fixed MRAO)
    rao-bypass     bypass process, RAO of the same 5 orgs (ids in the header, no table read)

For each client count (`--clients`, default 1 and 8) and each round (`--rounds`, default 3), every case runs
`--requests` requests spread over that many threads, each thread with its own requests.Session (keep-alive).
The cases are interleaved, and their order rotates from round to round, because the machine is noisy. Before
the rounds each case gets `--warmup` requests (token cached in the session directory's pages, SQLite statement
cache, connection pools, the API key's last-used write).

Printed per case and client count, the median over the rounds: requests/s, p50 and p99 latency (nearest rank),
and the server process's CPU time per request (utime+stime from /proc/<pid>/stat, so client CPU on the same
machine does not dilute it). Then the overhead of each authenticated case over its baseline: requests/s
(rps_bypass / rps_auth - 1) and server CPU per request (cpu_auth / cpu_bypass - 1). The target (issue 3) is
under 10 %.

Afterwards both processes get SIGTERM (SIGKILL after 10 s), their logs are scanned for error lines (printed if
any), and the temporary directory is removed (kept with --keep-logs or on failure).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import requests

from load import rank_ms, run_clients

ROOT = Path(__file__).resolve().parent.parent
PYTHON = os.environ.get("CERTPLANE_PYTHON", str(ROOT / ".venv" / "bin" / "python"))
CERTPLANE = os.environ.get("CERTPLANE_BIN", str(ROOT / ".venv" / "bin" / "certplane"))
STOP_GRACE = 10.0
READY_TIMEOUT = 90.0
CLK_TCK = os.sysconf("SC_CLK_TCK")
TARGET = 0.10
RAO_ORGS = 5
BYPASS_RAO_PREFIX = "bench-rao:"
IDLE_WINDOW = 5.0

# The bypass server: the gateway with authentication replaced by a fixed principal (no table read, no hashing).
BYPASS = textwrap.dedent('''\
    """Written by bench/auth.py: `certplane run` with gateway authentication replaced (benchmark baseline only)."""
    import sys
    import warnings

    warnings.filterwarnings("ignore", message=r"\\s*Eventlet is deprecated")
    import eventlet
    eventlet.monkey_patch()          # before anything else imports threading; cli.main() patches again (no-op)

    import gateway.auth
    import gateway.base
    from contracts.access import MRAO, RAO, Principal, Role
    from services.runtime.cli import main

    MRAO_PRINCIPAL = Principal("00000000-0000-4000-8000-00000000b1a5", "bench-bypass", (Role(MRAO),),
                               frozenset(), "active", False, "session", None)


    def authenticate(request, principals, now=None):
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer {prefix}"):
            ids = frozenset(header[len("Bearer {prefix}"):].split(","))
            return Principal("00000000-0000-4000-8000-00000000b1a6", "bench-bypass-rao",
                             (Role(RAO, "ssl", ids),), frozenset(), "active", False, "session", None)
        return MRAO_PRINCIPAL


    gateway.auth.authenticate = authenticate
    gateway.base.authenticate = authenticate
    sys.exit(main(["run"]))
''').replace("{prefix}", BYPASS_RAO_PREFIX)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- the two processes --------------------------------------------------------------------------------------

class Server:
    """One embedded Certplane (its own var dir and ports) run by `command`, its output in workdir/<name>.log."""

    def __init__(self, name: str, command: list[str], workdir: Path):
        self.name, self.command, self.workdir = name, command, workdir
        self.var_dir = workdir / f"{name}-var"
        self.var_dir.mkdir()
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        base = {k: v for k, v in os.environ.items()
                if not (k.startswith("CERTPLANE_") or k in ("AMQP_URI",))}  # nothing of ours leaks in
        self.env = {**base, "CERTPLANE_VAR_DIR": str(self.var_dir), "CERTPLANE_HTTP_PORT": str(self.port),
                    "CERTPLANE_HEALTH_PORT": str(free_port()), "PYTHONUNBUFFERED": "1"}
        self.log = workdir / f"{name}.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Server":
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(self.command, env=self.env, cwd=self.workdir, stdout=out,
                                         stderr=subprocess.STDOUT)
        return self

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> float:
        started, last = time.monotonic(), None
        while time.monotonic() - started < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}; log:\n{self.tail()}")
            try:
                response = requests.get(f"{self.base_url}/readyz", timeout=3)
                if response.status_code == 200:
                    return time.monotonic() - started
                last = f"{response.status_code} {response.text[:300]}"
            except requests.RequestException as exc:
                last = type(exc).__name__
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} not ready after {timeout:.0f} s (last answer: {last}); log:\n{self.tail()}")

    def cpu_seconds(self) -> float:
        """utime + stime of the server process (all its threads)."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    def stop(self) -> str:
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
        """Error-level log lines and tracebacks in the output, grouped: [(count, summary)]."""
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
                    last = str(record.get("exception", "")).strip().splitlines()[-1:] or [""]
                    event = re.sub(r"0x[0-9a-f]+", "0x…", str(record.get("event")))
                    summary = f"{record.get('level')}: {event[:160]}" + (f" — {last[0]}" if last[0] else "")
            elif line.startswith("Traceback") or re.match(r"^\w*(Error|Exception)\b", line):
                summary = line.strip()
            if summary:
                found[summary] = found.get(summary, 0) + 1
        return sorted(((n, s) for s, n in found.items()), reverse=True)


# ---- data and callers ---------------------------------------------------------------------------------------

def call(session: requests.Session, method: str, url: str, expect: int, **kwargs) -> requests.Response:
    response = session.request(method, url, timeout=60, **kwargs)
    if response.status_code != expect:
        raise RuntimeError(f"{method} {url}: expected {expect}, got {response.status_code}: {response.text[:500]}")
    return response


def first_login(server: Server) -> tuple[str, str]:
    """What a new user does (tests/e2e/conftest.py): read the initial password, log in, change it. (token, id)"""
    initial = dict(line.split(": ", 1) for line in (server.var_dir / "initial-admin.txt").read_text().splitlines())
    with requests.Session() as s:
        login = call(s, "POST", f"{server.base_url}/api/v1/auth/login", 200,
                     json={"username": initial["username"], "password": initial["password"]}).json()
        call(s, "POST", f"{server.base_url}/api/v1/auth/password", 204,
             headers={"Authorization": f"Bearer {login['token']}"},
             json={"current_password": initial["password"], "new_password": "bench first-login passphrase"})
    return login["token"], login["admin_id"]


def populate(server: Server, headers: dict, orgs: int, departments: int) -> list[str]:
    """`orgs` organizations and `departments` departments (spread over the first organizations, 2 each);
    the organization ids in creation order."""
    ids = []
    with requests.Session() as s:
        s.headers.update(headers)
        for n in range(orgs):
            body = {"name": f"Bench Org {n:04d}", "address1": f"{n} Main St", "city": "Berlin", "state": "Berlin",
                    "country": ("DE", "FR", "US", "GB")[n % 4]}
            ids.append(call(s, "POST", f"{server.base_url}/api/v1/organizations", 201, json=body)
                       .json()["organization_id"])
        for n in range(departments):
            organization_id = ids[(n // 2) % len(ids)]
            call(s, "POST", f"{server.base_url}/api/v1/organizations/{organization_id}/departments", 201,
                 json={"name": f"Bench Dept {n:03d}"})
    return ids


def rao_organizations(ids: list[str]) -> list[str]:
    """5 organizations spread over the list (the first ones have departments)."""
    step = max(1, len(ids) // RAO_ORGS)
    return [ids[i * step] for i in range(RAO_ORGS)]


def authenticated_callers(server: Server, orgs: int, departments: int) -> dict[str, dict]:
    token, admin_id = first_login(server)
    mrao = {"Authorization": f"Bearer {token}"}
    ids = populate(server, mrao, orgs, departments)
    with requests.Session() as s:
        s.headers.update(mrao)
        key = call(s, "POST", f"{server.base_url}/api/v1/admins/{admin_id}/api-keys", 201,
                   json={"name": "bench"}).json()["key"]
        password = "bench rao first password"
        call(s, "POST", f"{server.base_url}/api/v1/admins", 201, json={
            "username": "bench-rao", "email": "bench-rao@example.com", "forename": "Bench", "surname": "Rao",
            "roles": [{"role": "RAO", "cert_type": "ssl", "organization_ids": rao_organizations(ids)}],
            "password": password})
    with requests.Session() as s:
        rao = call(s, "POST", f"{server.base_url}/api/v1/auth/login", 200,
                   json={"username": "bench-rao", "password": password}).json()["token"]
        call(s, "POST", f"{server.base_url}/api/v1/auth/password", 204, headers={"Authorization": f"Bearer {rao}"},
             json={"current_password": password, "new_password": "bench rao second password"})
    return {"mrao-session": {"headers": mrao, "total": orgs},
            "mrao-api-key": {"headers": {"Authorization": f"Bearer {key}"}, "total": orgs},
            "rao-session": {"headers": {"Authorization": f"Bearer {rao}"}, "total": RAO_ORGS}}


def bypass_callers(server: Server, orgs: int, departments: int) -> dict[str, dict]:
    ids = populate(server, {}, orgs, departments)
    return {"mrao-bypass": {"headers": {}, "total": orgs},
            "rao-bypass": {"headers": {"Authorization": f"Bearer {BYPASS_RAO_PREFIX}"
                                                        + ",".join(rao_organizations(ids))}, "total": RAO_ORGS}}


BASELINE = {"mrao-session": "mrao-bypass", "mrao-api-key": "mrao-bypass", "rao-session": "rao-bypass"}
CASES = ("mrao-session", "mrao-api-key", "rao-session", "mrao-bypass", "rao-bypass")


# ---- load ---------------------------------------------------------------------------------------------------

def check_answer(response: requests.Response, total: int) -> None:
    if response.status_code != 200:
        raise RuntimeError(f"GET /api/v1/organizations: {response.status_code}: {response.text[:500]}")
    body = response.json()
    if response.headers.get("X-Total-Count") != str(total) or len(body["items"]) != min(total, 50):
        raise RuntimeError(f"GET /api/v1/organizations: expected {total} organizations, got X-Total-Count "
                           f"{response.headers.get('X-Total-Count')} and {len(body['items'])} items")


def measure(server: Server, headers: dict, clients: int, total: int) -> dict:
    url = f"{server.base_url}/api/v1/organizations"
    cpu_before = 0.0

    def one(session: requests.Session, _n: int, _thread: int) -> str | None:
        response = session.get(url, timeout=60)
        return None if response.status_code == 200 else f"{response.status_code}: {response.text[:300]}"

    def ready() -> None:
        nonlocal cpu_before
        cpu_before = server.cpu_seconds()

    ordered, failures, wall = run_clients(clients, total, one, headers, max_failures=1, on_ready=ready)
    cpu = server.cpu_seconds() - cpu_before
    if failures:
        raise RuntimeError(f"GET /api/v1/organizations on {server.name}: {failures[0]}")
    return {"rps": len(ordered) / wall, "p50": rank_ms(ordered, 0.50), "p99": rank_ms(ordered, 0.99),
            "cpu_ms": cpu * 1000 / len(ordered)}


def median(results: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in results)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="measured requests per case, client count, round")
    parser.add_argument("--warmup", type=int, default=200, help="requests per case before the rounds")
    parser.add_argument("--clients", default="1,8", help="comma-separated concurrent client counts")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--orgs", type=int, default=200)
    parser.add_argument("--departments", type=int, default=50)
    parser.add_argument("--keep-logs", action="store_true", help="keep the processes' logs (path printed)")
    args = parser.parse_args(argv)
    client_counts = [int(c) for c in args.clients.split(",") if c.strip()]
    if args.orgs < RAO_ORGS * 2:
        parser.error(f"--orgs must be at least {RAO_ORGS * 2}")
    for path in (PYTHON, CERTPLANE):
        if not Path(path).exists():
            raise SystemExit(f"{path} not found: run `make bench-auth` (installs the venv)")

    workdir = Path(tempfile.mkdtemp(prefix="certplane-bench-auth-"))
    (workdir / "bypass.py").write_text(BYPASS)
    print(f"bench/auth.py — {time.strftime('%Y-%m-%d %H:%M:%S %Z')} — {os.cpu_count()} CPUs; GET "
          f"/api/v1/organizations (page of 50 of {args.orgs} organizations, {args.departments} departments), "
          f"{args.requests} requests per case, client count and round; {args.rounds} rounds, median shown",
          flush=True)
    servers = {"auth": Server("auth", [CERTPLANE, "run"], workdir),
               "bypass": Server("bypass", [PYTHON, str(workdir / "bypass.py")], workdir)}
    results: dict[tuple[str, int], list[dict]] = {}
    notes: list[str] = []
    failed = False
    try:
        for server in servers.values():
            server.start()
        for server in servers.values():
            notes.append(f"{server.name}: ready after {server.wait_ready():.1f} s")
        setup_started = time.monotonic()
        cases = {name: {**spec, "server": servers["auth"]}
                 for name, spec in authenticated_callers(servers["auth"], args.orgs, args.departments).items()}
        cases.update({name: {**spec, "server": servers["bypass"]}
                      for name, spec in bypass_callers(servers["bypass"], args.orgs, args.departments).items()})
        print(f"  data and callers ready in {time.monotonic() - setup_started:.1f} s; warming up", flush=True)
        idle = {name: server.cpu_seconds() for name, server in servers.items()}
        time.sleep(IDLE_WINDOW)
        notes.append("idle CPU before the rounds (timers, in-memory broker polling; counted in srv CPU ms/req "
                     "alike): " + ", ".join(f"{name} {(server.cpu_seconds() - idle[name]) / IDLE_WINDOW * 100:.1f} %"
                                            for name, server in servers.items()))
        for name in CASES:
            case = cases[name]
            with requests.Session() as session:
                session.headers.update(case["headers"])
                for _ in range(args.warmup):
                    check_answer(session.get(f"{case['server'].base_url}/api/v1/organizations", timeout=60),
                                 case["total"])
        for round_no in range(args.rounds):
            order = CASES[round_no % len(CASES):] + CASES[:round_no % len(CASES)]
            for clients in client_counts:
                line = []
                for name in order:
                    case = cases[name]
                    result = measure(case["server"], case["headers"], clients, args.requests)
                    results.setdefault((name, clients), []).append(result)
                    line.append(f"{name} {result['rps']:.0f} ({result['cpu_ms']:.2f})")
                print(f"  round {round_no + 1}, {clients} client(s), req/s (srv CPU ms/req): {', '.join(line)}",
                      flush=True)
    except BaseException:
        failed = True
        raise
    finally:
        for server in servers.values():
            notes.append(server.stop())
        print()
        if results:
            print(f"{'case':<14} {'clients':>7} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'srv CPU ms/req':>15} "
                  f"{'baseline':<12} {'overhead req/s':>14} {'overhead CPU':>12}")
            print("-" * 108)
            verdicts = []
            for clients in client_counts:
                for name in CASES:
                    rows = results.get((name, clients))
                    if not rows:
                        continue
                    rps, cpu = median(rows, "rps"), median(rows, "cpu_ms")
                    extra = ""
                    base = BASELINE.get(name)
                    if base and results.get((base, clients)):
                        over_rps = median(results[(base, clients)], "rps") / rps - 1
                        over_cpu = cpu / median(results[(base, clients)], "cpu_ms") - 1
                        extra = f"{base:<12} {over_rps * 100:>13.1f}% {over_cpu * 100:>11.1f}%"
                        verdicts.append((name, clients, over_rps))
                    print(f"{name:<14} {clients:>7} {rps:>8.1f} {median(rows, 'p50'):>8.2f} "
                          f"{median(rows, 'p99'):>8.2f} {cpu:>15.2f} {extra}")
                print("-" * 108)
            missed = [f"{n} at {c} client(s) ({o * 100:.1f} %)" for n, c, o in verdicts if o >= TARGET]
            print(f"target: authentication + scope add under {TARGET * 100:.0f} % (req/s): "
                  + ("met in every case" if not missed else "NOT met for " + "; ".join(missed)))
        for note in notes:
            print(note)
        for server in servers.values():
            problems = server.problems()
            if problems:
                failed = True
                print(f"\n{server.name}: {sum(n for n, _ in problems)} error line(s) in its log, by kind:")
                for count, problem in problems[:8]:
                    print(f"  {count:>5} x {problem}")
        if args.keep_logs or failed:
            print(f"\nprocess logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
