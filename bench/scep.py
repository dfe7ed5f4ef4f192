"""SCEP (RFC 8894) enrollments per second with one generator, against Certplane (distributed mode) and against
micromdm's `scepserver` (Debian scep 2.1.0) in the same run, counting failures and duplicate serials for both.

    .venv/bin/python bench/scep.py [--clients 1,4,16] [--count 40,96,96] [--duration 60] [--warmup 3]
                                   [--scepserver-key-size 2048] [--skip-scepserver] [--skip-certplane] [--keep-logs]

**The generator** (the same for both servers): micromdm's `scepclient` (Debian scep 2.1.0), one OS process per
enrollment, N of them running at a time (N = the point's client count: N threads here, each starting the next
`scepclient` when its last one exited). Every enrollment has its own directory and its own RSA-2048 key
(PKCS#1 PEM, as scepclient writes them), all made before anything is timed, in a pool of os.cpu_count()
processes. One enrollment is one whole `scepclient -private-key <dir>/key.pem -server-url <url> -challenge <the
challenge> -cn <a name never used> -ca-fingerprint <sha256 of the recipient certificate>` run: its CSR and
self-signed certificate (made by scepclient), GetCACert, GetCACaps, PKIOperation (PKCSReq, the CSR encrypted to
the recipient and signed with the self-signed certificate), the CertRep checked and decrypted, client.pem written.
It counts when scepclient exits 0 and client.pem holds a certificate for that key and that CN; anything else
(an exit code, a timeout of 60 s, a wrong certificate) is a failure.

**The recipient**: scepclient 2.1.0 encrypts to every certificate GetCACert returns and panics on an EC
certificate, so it is given `-ca-fingerprint`: the SHA-256 of the one RSA certificate that is not a CA (Certplane's
RA, from GetCACert's degenerate PKCS#7), or of the only certificate (scepserver answers its RSA CA certificate
alone). Read once per server before the points.

**Certplane** (bench/issue.py's `certplane()`: a fresh PostgreSQL database and RabbitMQ vhost, `certplane db
upgrade`, then orgs, identity, domains, ca, enrollment and gateway as processes; the vhost made with rabbitmqctl
when RabbitMQ's management API does not answer, as bench/acme.py does). Through the REST API as the MRAO: an
organization, the domain `bench-scep.example.com` delegated to it, a device profile "Bench Device (no approval)"
(a copy of the default "Private Device" with requires_approval false), and a device endpoint of type `scep` with
that profile (its create answer carries the challenge password, once). The URL is
`<gateway>/scep/<uri_extension>`. Names: `s<i>-<run>.bench-scep.example.com`.

**scepserver** (`/usr/bin/scepserver`; `apt-get install -y scep` when missing): `scepserver ca -init` (RSA key of
`--scepserver-key-size` bits, default 2048 — the size of an RSA RA; its own default is 4096, which would make it
slower) in a fresh depot, then `scepserver -depot <depot> -port <free port> -challenge <random>` on the same
machine. It does not lint, keeps its depot in files, and is a reference, not a target.

**Points**: the client counts (`--clients`, default 1, 4, 16) in that order, at each one scepserver then Certplane
(after `--warmup` enrollments per server at 1 client, not counted), each point `--count` enrollments (default 40,
96, 96) or `--duration` seconds, whichever comes first. Per server and point: enrollments/s (enrollments / first
scepclient started -> last exited), p50/p95 (nearest rank) of one scepclient run, failures, and **duplicate
serials**: every issued certificate's serial is read from its client.pem; a certificate whose (issuer, serial) is
also another certificate's counts as a duplicate (within the point, and over all of the server's certificates of
the run). Also the CPU per enrollment of the server side (scepserver's process; Certplane's processes,
PostgreSQL and RabbitMQ) and of the scepclient processes, at the highest client count. Per point, the p50 of
each request scepclient logs (GetCACert, GetCACaps, PKIOperation, with the time it took), and for Certplane what
of PKIOperation is the issuance pipeline, from the event stores in PostgreSQL (bench/issue_pipeline.py's
EventStores): enrollment's cert_requested.v1 -> ca's certificate_issued.v1 -> enrollment's cert_issued.v1. After
the points: requests ca signed twice over its whole event table (EventStores.signed_twice). Then the ratio
Certplane/scepserver at 1 client and the issue's targets: **>= 1.0x scepserver at 1 client; 0 duplicates and 0
failures at 4 and 16 clients** (printed met / NOT met; the exit code is non-zero only when the bench itself
crashed).

Afterwards scepserver and the Certplane processes get SIGTERM (SIGKILL after 10 s), the database and vhost are
dropped, the temporary directory is removed (kept with --keep-logs or on a crash) and error-level lines of the
service logs are printed.
"""
from __future__ import annotations

import argparse
import collections
import contextlib
import importlib.util
import multiprocessing
import os
import re
import resource
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import ExtensionOID, NameOID

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
import http_latency  # noqa: E402
import issue  # noqa: E402
from http_latency import Process, free_port  # noqa: E402
from issue_pipeline import EventStores, rank  # noqa: E402

DOMAIN = "bench-scep.example.com"
ORG = {"name": "Bench SCEP Org", "address1": "1 Main St", "city": "Berlin", "state": "Berlin", "country": "DE"}
RATIO_TARGET = 1.0          # Certplane / scepserver, at 1 client
ZERO_AT = (4, 16)           # client counts where duplicates and failures must be 0
ENROLL_TIMEOUT = 60.0       # seconds one scepclient run may take before it counts as failed
OPERATIONS = ("GetCACert", "GetCACaps", "PKIOperation")
# scepclient logs each operation it made with its duration (Go's format: 844ns, 47.16µs, 5.6ms, 1.2s)
OP_LINE = re.compile(r"op=(\w+) error=null took=([0-9.]+)(ns|µs|us|ms|s)\b")
UNIT_MS = {"ns": 1e-6, "µs": 1e-3, "us": 1e-3, "ms": 1.0, "s": 1000.0}
SCEPCLIENT = shutil.which("scepclient") or "/usr/bin/scepclient"


# ---- what bench/acme.py already has (its file shares its name with the acme library: load it by path) -------

def _bench_acme():
    spec = importlib.util.spec_from_file_location("bench_acme", BENCH / "acme.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def use_rabbitmqctl_if_needed() -> str | None:
    """bench/acme.py's fallback: without RabbitMQ's management API, bench/issue.py's certplane() makes its vhost
    with rabbitmqctl. A note when it does."""
    bench_acme = _bench_acme()
    if not bench_acme.management_api_answers() and shutil.which("rabbitmqctl"):
        issue.rabbit_vhost = bench_acme.rabbit_vhost_ctl
        return (f"RabbitMQ's management API does not answer at {http_latency.RABBIT_API}: the vhost is made with "
                "rabbitmqctl instead")
    return None


# ---- Certplane's device world (shared with bench/est.py) ------------------------------------------------------

def set_up_devices(base_url: str, token: str, domain: str, org: dict) -> dict:
    """As an administrator over REST: the organization, `domain` delegated to it, and a device profile without
    approval (a copy of the default "Private Device"). {"organization_id", "profile"}."""
    with requests.Session() as s:
        s.headers["Authorization"] = f"Bearer {token}"
        org_id = issue.call(s, "POST", f"{base_url}/api/v1/organizations", 201, json=org).json()["organization_id"]
        issue.call(s, "POST", f"{base_url}/api/v1/domains", 201, json={"name": domain, "delegations": [
            {"organization_id": org_id, "cert_types": ["ssl"]}]})
        deadline = time.monotonic() + 60
        while True:         # enrollment makes the default profiles on its first timer tick
            items = issue.call(s, "GET", f"{base_url}/api/v1/profiles", 200).json()["items"]
            default = next((p for p in items if p["name"] == "Private Device"), None)
            if default is not None:
                break
            if time.monotonic() > deadline:
                raise RuntimeError("no default profile 'Private Device' after 60 s")
            time.sleep(0.3)
        body = {k: v for k, v in default.items() if k not in ("profile_id", "created_at", "updated_at")}
        body.update(name="Bench Device (no approval)", requires_approval=False)
        profile = issue.call(s, "POST", f"{base_url}/api/v1/profiles", 201, json=body).json()
    return {"organization_id": org_id, "profile": profile}


def device_endpoint(base_url: str, token: str, kind: str, world: dict) -> dict:
    """A device endpoint of type `kind` (scep | est) with the world's profile: the REST create answer (the
    endpoint and its `credentials`, shown this once)."""
    with requests.Session() as s:
        s.headers["Authorization"] = f"Bearer {token}"
        return issue.call(s, "POST", f"{base_url}/api/v1/device-endpoints", 201, json={
            "name": f"bench {kind}", "type": kind, "organization_id": world["organization_id"],
            "profile_ids": [world["profile"]["profile_id"]], "generate": True}).json()


def device_count(base_url: str, token: str, endpoint_id: str) -> int | None:
    """How many certificates the device inventory lists under the endpoint (None if it does not say)."""
    answer = requests.get(f"{base_url}/api/v1/device", params={"endpoint_id": endpoint_id, "size": 1},
                          headers={"Authorization": f"Bearer {token}"}, timeout=60)
    if answer.status_code != 200:
        return None
    body = answer.json()
    return body.get("total") if isinstance(body.get("total"), int) else None


# ---- the recipient certificate ---------------------------------------------------------------------------------

def recipient_fingerprint(url: str) -> tuple[str, str]:
    """(sha256 hex, what it is) of the certificate scepclient should encrypt to: from GetCACert, the only
    certificate, or among several the RSA one that is not a CA (the RA)."""
    answer = requests.get(url, params={"operation": "GetCACert"}, timeout=30)
    if answer.status_code != 200:
        raise RuntimeError(f"GetCACert at {url}: {answer.status_code} {answer.text[:300]}")
    if answer.headers.get("Content-Type", "").startswith("application/x-x509-ca-cert"):
        certificates = [x509.load_der_x509_certificate(answer.content)]
    else:
        certificates = pkcs7.load_der_pkcs7_certificates(answer.content)
    if len(certificates) == 1:
        chosen = certificates[0]
    else:
        def is_ca(c: x509.Certificate) -> bool:
            try:
                return c.extensions.get_extension_for_oid(ExtensionOID.BASIC_CONSTRAINTS).value.ca
            except x509.ExtensionNotFound:
                return False
        ras = [c for c in certificates if isinstance(c.public_key(), rsa.RSAPublicKey) and not is_ca(c)]
        if len(ras) != 1:
            raise RuntimeError(f"GetCACert at {url}: {len(certificates)} certificates, {len(ras)} RSA non-CA ones")
        chosen = ras[0]
    name = chosen.subject.rfc4514_string()
    return chosen.fingerprint(hashes.SHA256()).hex(), f"{name} ({len(certificates)} in GetCACert)"


# ---- the generator ----------------------------------------------------------------------------------------------

def _rsa_key_pem(_n: int) -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption())


def make_key_dirs(root: Path, count: int) -> list[Path]:
    """`count` directories, each with its own RSA-2048 key.pem (PKCS#1, as scepclient writes them), made on
    every core."""
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(os.cpu_count() or 1) as pool:
        pems = pool.map(_rsa_key_pem, range(count), chunksize=8)
    dirs = []
    for n, pem in enumerate(pems):
        directory = root / f"{n:05d}"
        directory.mkdir(parents=True)
        (directory / "key.pem").write_bytes(pem)
        dirs.append(directory)
    return dirs


class Keys:
    """The prepared key directories of one server, handed out in order."""

    def __init__(self, dirs: list[Path]):
        self.dirs, self.next = dirs, 0

    def take(self, count: int) -> list[Path]:
        if self.next + count > len(self.dirs):
            raise RuntimeError(f"only {len(self.dirs) - self.next} prepared keys left, {count} wanted")
        taken = self.dirs[self.next:self.next + count]
        self.next += count
        return taken


@dataclass
class Server:
    """One SCEP server as the generator sees it."""
    name: str
    url: str
    challenge: str
    fingerprint: str
    keys: Keys
    cpu: object = None                      # () -> {label: cpu seconds} of the server side, or None
    endpoint: dict | None = None            # Certplane: the device endpoint; base: (gateway URL, token)
    base: tuple = ()
    serials: collections.Counter = field(default_factory=collections.Counter)   # (issuer, serial) -> count


def enroll(server: Server, directory: Path, cn: str) -> dict:
    """One scepclient run in `directory` (its key.pem made beforehand), nothing else inside the clock:
    {"directory", "cn", "started", "ended", "error" (None when it exited 0)}."""
    args = [SCEPCLIENT, "-private-key", str(directory / "key.pem"), "-server-url", server.url,
            "-challenge", server.challenge, "-cn", cn, "-ca-fingerprint", server.fingerprint]
    out = {"directory": directory, "cn": cn, "started": time.time(), "error": None}
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=ENROLL_TIMEOUT, cwd=directory)
    except subprocess.TimeoutExpired:
        out.update(ended=time.time(), error=f"{cn}: no answer within {ENROLL_TIMEOUT:.0f} s")
        return out
    out["ended"] = time.time()
    out["ops"] = {op: float(value) * UNIT_MS[unit] for op, value, unit in OP_LINE.findall(done.stderr)}
    if done.returncode != 0:
        tail = " | ".join((done.stderr + done.stdout).strip().splitlines()[-2:])   # its error is on stdout
        out["error"] = f"{cn}: scepclient exited {done.returncode}: {tail[:400]}"
    return out


def judge(result: dict) -> dict:
    """After the point: an enrollment counts when client.pem holds a certificate for its key and its CN (adds
    "ok", "serial", "issuer")."""
    result["ok"] = False
    if result["error"] is not None:
        return result
    directory, cn = result["directory"], result["cn"]
    try:
        cert = x509.load_pem_x509_certificate((directory / "client.pem").read_bytes())
        key = serialization.load_pem_private_key((directory / "key.pem").read_bytes(), None,
                                                 unsafe_skip_rsa_key_validation=True)
        names = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    except Exception as exc:  # noqa: BLE001 — a missing or unreadable answer is a failed enrollment
        result["error"] = f"{cn}: scepclient exited 0 but client.pem is missing or unreadable: {exc!r}"
        return result
    if cert.public_key().public_numbers() != key.public_key().public_numbers() or cn not in names:
        result["error"] = f"{cn}: the certificate is not for this key and CN (its CN: {names})"
        return result
    result.update(ok=True, serial=cert.serial_number, issuer=cert.issuer.rfc4514_string())
    return result


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_point(server: Server, clients: int, count: int, duration: float, tag: str, measure_cpu: bool = False) -> dict:
    """`count` enrollments (or `duration` seconds) with `clients` scepclient processes at a time; the summary."""
    dirs = server.keys.take(count)
    jobs = iter(range(count))
    lock = threading.Lock()
    results: list[dict] = []
    gate = threading.Barrier(clients + 1)
    deadline = [0.0]

    def client() -> None:
        gate.wait()
        while True:
            with lock:
                n = next(jobs, None) if time.monotonic() < deadline[0] else None
            if n is None:
                return
            result = enroll(server, dirs[n], f"s{n}-{tag}.{DOMAIN}")
            with lock:
                results.append(result)

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    before = (server.cpu() if server.cpu and measure_cpu else None), children_cpu()
    deadline[0] = time.monotonic() + duration
    gate.wait()
    for thread in threads:
        thread.join()
    after = (server.cpu() if server.cpu and measure_cpu else None), children_cpu()
    results = [judge(r) for r in results]
    ok = [r for r in results if r["ok"]]
    failures = [r["error"] for r in results if not r["ok"]]
    point_serials = collections.Counter((r["issuer"], r["serial"]) for r in ok)
    server.serials.update(point_serials)
    span = (max(r["ended"] for r in results) - min(r["started"] for r in results)) if results else float("nan")
    seconds = sorted((r["ended"] - r["started"]) * 1000 for r in ok)
    ops = {op: sorted(r["ops"][op] for r in ok if op in r.get("ops", {})) for op in OPERATIONS}
    row = {"server": server.name, "clients": clients, "ok": len(ok), "failed": len(failures),
           "failures": failures[:3], "span": span,
           "rps": len(ok) / span if ok and span > 0 else 0.0,
           "p50": rank(seconds, 0.50), "p95": rank(seconds, 0.95), "max": max(seconds, default=float("nan")),
           "ops": {op: rank(values, 0.50) for op, values in ops.items()},
           "duplicates": sum(n for n in point_serials.values() if n > 1),
           "distinct": len(point_serials), "client_cpu": after[1] - before[1]}
    if before[0] is not None:
        row["cpu"] = {k: after[0][k] - before[0][k] for k in after[0]}
    if results:
        row["window"] = (min(r["started"] for r in results), max(r["ended"] for r in results))
    return row


# ---- Certplane's pipeline, from its event stores ---------------------------------------------------------------

PIPELINE = ("requested→signed", "signed→issued")


def pipeline_steps(stores: EventStores, since: float, until: float) -> dict[str, list[float]]:
    """Milliseconds per device certificate recorded between `since` and `until` (epoch seconds): from
    enrollment's cert_requested.v1 (stream cert-<id>) to ca's certificate_issued.v1 (request_id device:<id>),
    and from there to enrollment's cert_issued.v1. What of PKIOperation is the issuance pipeline."""
    window = (since, until)
    enrollment: dict[str, dict[str, float]] = {}
    for stream_id, event_type, recorded_at in stores.conn.execute(
            f"SELECT stream_id, event_type, recorded_at FROM {stores.enrollment_events} WHERE recorded_at BETWEEN "
            "to_timestamp(%s) AND to_timestamp(%s) AND event_type IN ('cert_requested.v1', 'cert_issued.v1') "
            "AND stream_id LIKE 'cert-%%'", window):
        enrollment.setdefault(stream_id.removeprefix("cert-"), {})[event_type] = recorded_at.timestamp()
    signed: dict[str, float] = {}
    for request_id, recorded_at in stores.conn.execute(
            f"SELECT payload->>'request_id', recorded_at FROM {stores.ca_events} WHERE recorded_at BETWEEN "
            "to_timestamp(%s) AND to_timestamp(%s) AND event_type = 'certificate_issued.v1'", window):
        if request_id and request_id.startswith("device:"):
            signed.setdefault(request_id.removeprefix("device:"), recorded_at.timestamp())
    steps: dict[str, list[float]] = {name: [] for name in PIPELINE}
    for cert_id, times in enrollment.items():
        requested, issued, ca_at = times.get("cert_requested.v1"), times.get("cert_issued.v1"), signed.get(cert_id)
        if requested and ca_at:
            steps["requested→signed"].append((ca_at - requested) * 1000)
        if ca_at and issued:
            steps["signed→issued"].append((issued - ca_at) * 1000)
    return steps


# ---- scepserver ----------------------------------------------------------------------------------------------

def ensure_scepserver() -> tuple[str | None, str]:
    found = shutil.which("scepserver")
    if found and shutil.which("scepclient"):
        return found, "installed"
    print("  scepserver/scepclient missing: running `apt-get install -y scep`", flush=True)
    try:
        done = subprocess.run(["apt-get", "install", "-y", "scep"], capture_output=True, text=True, timeout=600,
                              env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"apt-get install scep failed: {exc!r}"
    found = shutil.which("scepserver")
    if done.returncode != 0 or not found:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["?"]
        return None, f"apt-get install scep exited {done.returncode}: {tail[0][:200]}"
    return found, "installed now with apt-get"


class ScepServer(issue.PeerProcess):
    NAME = "scepserver"

    def __init__(self, binary: str, workdir: Path, key_size: int):
        self.binary, self.dir = binary, workdir / "scepserver"
        self.dir.mkdir()
        self.depot = self.dir / "depot"
        self.port = free_port()
        self.challenge = secrets.token_urlsafe(18)
        self.url = f"http://127.0.0.1:{self.port}/scep"
        self.log = workdir / "scepserver.log"
        self.key_size = key_size
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 30.0) -> float:
        subprocess.run([self.binary, "ca", "-init", "-depot", str(self.depot), "-keySize", str(self.key_size),
                        "-organization", "Bench SCEP reference"], cwd=self.dir, check=True, capture_output=True,
                       timeout=300)
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen([self.binary, "-depot", str(self.depot), "-port", str(self.port),
                                          "-challenge", self.challenge], cwd=self.dir, stdout=out,
                                         stderr=subprocess.STDOUT)
        started, last = time.monotonic(), None
        while time.monotonic() - started < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"scepserver exited with {self.proc.returncode}: {self.tail()}")
            try:
                if requests.get(self.url, params={"operation": "GetCACaps"}, timeout=3).status_code == 200:
                    return time.monotonic() - started
            except requests.RequestException as exc:
                last = type(exc).__name__
            time.sleep(0.1)
        raise RuntimeError(f"scepserver not answering after {timeout:.0f} s (last: {last}): {self.tail()}")

    def version(self) -> str:
        return subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "scep"], capture_output=True,
                              text=True).stdout.strip() or "?"


# ---- the report ------------------------------------------------------------------------------------------------

def print_table(rows: list[dict], totals: dict[str, tuple[int, int]]) -> None:
    print(f"\n{'server':<11} {'clients':>7} {'enroll/s':>9} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'ok':>5} "
          f"{'failed':>6} {'dup serials':>11} {'distinct':>8}   p50 ms: " + " / ".join(OPERATIONS))
    print("-" * 132)
    for r in rows:
        ops = " / ".join(f"{r['ops'][op]:.1f}" for op in OPERATIONS)
        print(f"{r['server']:<11} {r['clients']:>7} {r['rps']:>9.2f} {r['p50']:>8.1f} {r['p95']:>8.1f} "
              f"{r['max']:>8.1f} {r['ok']:>5} {r['failed']:>6} {r['duplicates']:>11} {r['distinct']:>8}   {ops}")
    print("-" * 132)
    print("enroll/s: enrollments / (first scepclient started -> last exited); p50/p95/max: one scepclient run "
          "(its keys and CSR, GetCACert, GetCACaps, PKIOperation, the CertRep checked and decrypted; nearest "
          "rank); dup serials: certificates of the point whose (issuer, serial) another certificate of the point "
          "also has; GetCACert / GetCACaps / PKIOperation: each request's time as scepclient logs it")
    for server, (dups, certs) in totals.items():
        print(f"{server}: {dups} of {certs} certificates of the whole run (warm-up included) share their serial "
              "with another")


def report(rows: list[dict], totals: dict, cpu: dict[str, tuple[dict, int, float, float]],
           signed: dict | None) -> None:
    if not rows:
        return
    print_table(rows, totals)
    for r in rows:
        if r.get("pipeline"):
            steps = r["pipeline"]
            print(f"certplane at {r['clients']} client(s), from its event stores, p50 ms: "
                  + ", ".join(f"{name} {rank(steps[name], 0.5):.1f} ({len(steps[name])} certificates)"
                              for name in PIPELINE)
                  + f"; PKIOperation {r['ops']['PKIOperation']:.1f} (the rest of it comes before cert_requested "
                  "and after cert_issued: the SCEP work, the RPCs, noticing the outcome)")
    if signed is not None:
        twice = signed["by_request_id"] + signed["by_application_id"]
        print(f"certplane: requests signed twice over ca's whole event table: {signed['by_request_id']} request_id "
              f"value(s) with more than one certificate_issued.v1 among {signed['certificates']} certificates"
              + (" (0 as required)" if twice == 0 else " — MUST BE 0"))
    by = {(r["server"], r["clients"]): r for r in rows}
    for clients in sorted({r["clients"] for r in rows}):
        cp, ref = by.get(("certplane", clients)), by.get(("scepserver", clients))
        if cp and ref and ref["rps"] > 0:
            print(f"Certplane / scepserver at {clients} client(s): {cp['rps'] / ref['rps']:.3f} "
                  f"({cp['rps']:.2f} / {ref['rps']:.2f} enrollments/s; p50 {cp['p50']:.1f} / {ref['p50']:.1f} ms)")
    cp, ref = by.get(("certplane", 1)), by.get(("scepserver", 1))
    if cp and ref and ref["rps"] > 0:
        ratio = cp["rps"] / ref["rps"]
        print(f"target 1: Certplane >= {RATIO_TARGET:.1f}x scepserver at 1 client: "
              + ("met" if ratio >= RATIO_TARGET else "NOT met") + f" ({ratio:.3f}x)")
    else:
        print("target 1: Certplane >= 1.0x scepserver at 1 client: not measured (both servers at 1 client needed)")
    zero = [by[("certplane", c)] for c in ZERO_AT if ("certplane", c) in by]
    if zero:
        bad = [r for r in zero if r["duplicates"] or r["failed"]]
        print(f"target 2: Certplane 0 duplicate serials and 0 failures at "
              f"{' and '.join(str(r['clients']) for r in zero)} clients: " + ("met" if not bad else "NOT met")
              + " (" + "; ".join(f"{r['clients']} clients: {r['duplicates']} duplicates, {r['failed']} failed of "
                                 f"{r['ok'] + r['failed']}" for r in zero) + ")")
    else:
        print("target 2: Certplane 0 duplicates and 0 failures at 4 and 16 clients: not measured")
    for server, (total, certs, client_cpu, span) in cpu.items():
        if not certs:
            continue
        machine = total.pop("machine", None)
        total.pop("bench client", None)
        print(f"\nCPU during {server}'s highest-client point ({certs} enrollments, {span:.1f} s): ms per enrollment")
        for name, seconds in sorted(total.items(), key=lambda kv: -kv[1]):
            print(f"  {name:<13} {seconds * 1000 / certs:8.1f} ms" if seconds >= 0 else
                  f"  {name:<13}      n/a   (backends that exited during the point took their CPU time along)")
        known = sum(v for v in total.values() if v >= 0)
        print(f"  {'server side':<13} {known * 1000 / certs:8.1f} ms in all")
        print(f"  {'scepclients':<13} {client_cpu * 1000 / certs:8.1f} ms (the generator's processes)")
        if machine is not None:
            other = machine - known - client_cpu
            print(f"  {'other':<13} {other * 1000 / certs:8.1f} ms (machine busy time minus the above: this "
                  "script, other jobs)")


# ---- main -------------------------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", default="1,4,16", help="comma-separated parallel scepclient counts")
    parser.add_argument("--count", default="40,96,96", help="enrollments per point, one per client count")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds per point at most")
    parser.add_argument("--warmup", type=int, default=3, help="enrollments per server at 1 client, not counted")
    parser.add_argument("--scepserver-key-size", type=int, default=2048, help="scepserver's CA key, bits")
    parser.add_argument("--skip-scepserver", action="store_true")
    parser.add_argument("--skip-certplane", action="store_true")
    parser.add_argument("--keep-logs", action="store_true")
    args = parser.parse_args(argv)
    counts = [int(c) for c in args.clients.split(",") if c.strip()]
    sizes = [int(c) for c in args.count.split(",") if c.strip()]
    sizes = (sizes + sizes[-1:] * len(counts))[:len(counts)]
    top = max(counts)
    tag = secrets.token_hex(3)
    workdir = Path(tempfile.mkdtemp(prefix="certplane-bench-scep-"))
    cores = os.cpu_count() or 1
    print(f"bench/scep.py — {time.strftime('%Y-%m-%d %H:%M:%S %Z')} — {cores} CPUs, load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}; scepclient processes at a time {counts}, "
          f"{sizes} enrollments or {args.duration:.0f} s per point", flush=True)
    rows: list[dict] = []
    notes: list[str] = []
    processes: dict[str, Process] = {}
    cpu: dict[str, tuple[dict, int, float, float]] = {}
    servers: dict[str, Server] = {}
    failed = False
    reference: ScepServer | None = None
    signed = None
    started_at = time.monotonic()
    per_server = args.warmup + sum(sizes)
    try:
        with contextlib.ExitStack() as stack:
            binary, how = ensure_scepserver()
            if binary is None:
                raise SystemExit(f"scepserver/scepclient not available: {how}")
            wanted = [s for s, skip in (("scepserver", args.skip_scepserver), ("certplane", args.skip_certplane))
                      if not skip]
            made = time.monotonic()
            all_dirs = make_key_dirs(workdir / "clients", per_server * len(wanted))
            print(f"  {len(all_dirs)} RSA-2048 client keys made in {time.monotonic() - made:.1f} s (before any "
                  "timing)", flush=True)
            keys = {s: Keys(all_dirs[i * per_server:(i + 1) * per_server]) for i, s in enumerate(wanted)}
            if "scepserver" in wanted:
                reference = ScepServer(binary, workdir, args.scepserver_key_size)
                waited = reference.start()
                fingerprint, what = recipient_fingerprint(reference.url)
                print(f"  scepserver {reference.version()} answering {reference.url} after {waited:.1f} s; CA "
                      f"RSA-{args.scepserver_key_size}; recipient {what}", flush=True)
                servers["scepserver"] = Server(
                    "scepserver", reference.url, reference.challenge, fingerprint, keys["scepserver"],
                    cpu=lambda: {"scepserver": issue.proc_cpu(reference.proc.pid), "machine": issue.machine_busy()})
            if "certplane" in wanted:
                note = use_rabbitmqctl_if_needed()
                if note:
                    print(f"  {note}", flush=True)
                cp = stack.enter_context(issue.certplane(workdir, notes, processes))
                world = set_up_devices(cp.base_url, cp.token, DOMAIN, ORG)
                made = device_endpoint(cp.base_url, cp.token, "scep", world)
                endpoint = made.get("device_endpoint", made)
                url = f"{cp.base_url}/scep/{endpoint['uri_extension']}"
                fingerprint, what = recipient_fingerprint(url)
                with contextlib.chdir(workdir):      # the services' cwd: load_settings also reads ./certplane.yaml
                    stores = EventStores.of(processes["enrollment"].env)
                cp.closers.append(stores.close)
                print(f"  certplane: {cp.base_url}; organization, {DOMAIN}, profile {world['profile']['name']}, "
                      f"SCEP endpoint {endpoint['endpoint_id']} "
                      f"at {url}; recipient {what}", flush=True)
                servers["certplane"] = Server(
                    "certplane", url, made["credentials"]["challenge_password"], fingerprint, keys["certplane"],
                    cpu=lambda: issue.cpu_snapshot(processes), endpoint=endpoint, base=(cp.base_url, cp.token))
            for server in servers.values():
                if args.warmup:
                    warm = run_point(server, 1, args.warmup, args.duration, f"{tag}-warm")
                    print(f"  warm-up {server.name}: {warm['ok']} enrollments at 1 client, {warm['rps']:.2f}/s"
                          + (f", {warm['failed']} failed: {warm['failures']}" if warm["failed"] else ""),
                          flush=True)
            for clients, count in zip(counts, sizes):
                for server in servers.values():
                    row = run_point(server, clients, count, args.duration, f"{tag}-{clients}",
                                    measure_cpu=clients == top)
                    if server.name == "certplane" and row.get("window"):
                        time.sleep(1.0)                 # the last cert_issued.v1 may follow the CertRep
                        row["pipeline"] = pipeline_steps(stores, row["window"][0], row["window"][1] + 1.0)
                    if "cpu" in row:
                        cpu[server.name] = (row.pop("cpu"), row["ok"], row["client_cpu"], row["span"])
                    rows.append(row)
                    print(f"  {server.name} at {clients} client(s): {row['rps']:.2f} enrollments/s, p50 "
                          f"{row['p50']:.1f} ms, {row['ok']} ok, {row['failed']} failed, {row['duplicates']} "
                          f"duplicate serials; load average {os.getloadavg()[0]:.2f}", flush=True)
            certplane = servers.get("certplane")
            if certplane is not None:
                listed = device_count(*certplane.base, certplane.endpoint["endpoint_id"])
                issued = sum(certplane.serials.values())
                if listed is not None:
                    notes.append(f"certplane: the device inventory lists {listed} certificates under the SCEP "
                                 f"endpoint; scepclient received {issued}")
                signed = stores.signed_twice()
    except BaseException:
        failed = True
        raise
    finally:
        if reference is not None:
            notes.append(reference.stop())
        totals = {s.name: (sum(n for n in s.serials.values() if n > 1), sum(s.serials.values()))
                  for s in servers.values()}
        report(rows, totals, cpu, signed)
        failures = [(f"{row['server']}, {row['clients']} clients", f) for row in rows for f in row["failures"]]
        issue.finish_run(failures, notes, processes, started_at, workdir, args.keep_logs or failed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
