"""CSR -> issued certificate through the REST API (distributed mode): sustained certificates per second and the time
from request to issued certificate, against this machine's limit for the same lint + sign work in-process on all
cores, against `cfssl serve` signing the same CSRs, and with two ca replicas.

    .venv/bin/python bench/issue.py [--clients 1,4,16] [--requests 200,400,400] [--rounds 3] [--warmup 20]
                                    [--limit-certs 600] [--skip-cfssl] [--skip-floor] [--skip-replicas]
                                    [--replica-requests N] [--drain-timeout 60] [--keep-logs]

**Certplane, end to end** (distributed mode, what production runs): a fresh PostgreSQL database and a fresh
RabbitMQ vhost (management API on :15672, as bench/http_latency.py makes them), and one process per service the
path needs, each `certplane run <service>` on free ports: orgs, identity, domains, ca, enrollment, gateway (notify
is not on the path and not started). Environment: AMQP_URI, CERTPLANE_DATABASE_URL (one database; each service
keeps its tables in a schema named after it, services/runtime/config.py `database_url_for`), CERTPLANE_CA_KEK (32
random bytes, base64, made here), CERTPLANE_PUBLIC_BASE_URL=http://pki.bench.example.com (the CRL/OCSP/caIssuers
URLs in a leaf must be public DNS names, or the BR lint refuses it). The ca service creates its default P-256
hierarchy at first start. Set-up through the API: `certplane admin create` (an MRAO), log in, first-login password
change; one organization (O=Bench Issue Org, C=DE, ST=Berlin, L=Berlin); the domain `bench-issue.example.com`
delegated to it for ssl (an MRAO's delegation is approved at once); and a profile "Bench TLS (no approval)" created
with POST /api/v1/profiles as a copy of the default "Private TLS Server" with requires_approval false. (The MRAO
also holds "SSL auto approve", so the gateway passes auto_approve=true as well: both roads lead to the same path.)

One measured request is `POST /api/v1/ssl` {organization_id, profile_id, term_days: 90, csr} with a P-256 CSR for
a name never requested before (`h<i>.bench-issue.example.com`, CN and SAN; all CSRs are made before any timing).
It counts once its certificate is issued: at once if it answers 201 with status "issued"; if it answers 202 (status
applied: the wait for the outcome, CERTPLANE_ISSUANCE_WAIT, ran out), when enrollment records `ssl_issued.v1` on
stream `ssl-<id>`. The script reads that moment (`recorded_at`) from enrollment's event table in PostgreSQL
(`enrollment.events`) rather than polling GET /api/v1/ssl/<id>, which would add load to the processes measured;
after the load it polls that table (one indexed query per 0.1 s) until every 202 has its certificate or
`--drain-timeout` seconds passed. Any other answer (422 lint_failed, a 5xx, 201 requested), an
`ssl_issuance_failed.v1`, or no certificate by the deadline, is a failure. bench/issue_pipeline.py has the details.

Per point (a client count) it reports:
- **certificates/s**: issued certificates / the time from the first submit to the last certificate issued;
- **time to issued**, p50 and p95 (nearest rank): the response time of a 201; for a 202, ssl_issued's recorded_at
  minus the submit (the client's time.time(), the same machine's clock);
- how many answered 201 and 202.

**What each step of the pipeline costs**, from the recorded_at of the events of every issued request (enrollment's
by stream, ca's by payload request_id `ssl:<id>`), p50 and p95 per client count: submit→applied (gateway,
enrollment's checks, its append of requested + approved + applied), applied→certificate_signing (ca's pickup, lint
and — one append in the pipeline — sign), certificate_signing→certificate_issued, certificate_issued→ssl_issued
(enrollment's pickup) and ssl_issued→HTTP answer (201s only). On the synchronous RPC path (before issue 13's
pipeline) ca records before enrollment's single append, and applied→signing comes out negative; the script says
which path it measured.

**(a) This machine's limit for the same work**: the same CSRs through the CA's own code minus all I/O, in a
`multiprocessing` pool of os.cpu_count() workers (spawned; each builds pkilint's validators with `lint.warm_up()`
before the clock starts). Per certificate: load the CSR's public key, make the `x509build.LeafSpec` the ca makes
(same subject fields, SAN, key usage, EKU, 90 days, fresh serial, the CRL/OCSP URLs of
http://pki.bench.example.com), `x509build.tbs_for_lint`, `lint.lint_certificate(tbs, "rfc5280")` (any ERROR
counts as a failure), `x509build.build_leaf` with a P-256 issuing CA built in this process, then the PEM, the
sha256 fingerprint and the tbs hash the ca also computes. Not included: the CSR signature check, the CA-key
decryption, JSON, RPC, SQL. Certificates/s = certificates / wall time of the pool run.

**(b) `cfssl serve`** (Debian `golang-cfssl`; installed with `apt-get install -y golang-cfssl` if `cfssl` is not on
PATH, skipped with a printed reason if that fails): the same P-256 issuing CA as (a) as PEM files, a config whose
default signing profile has usages "digital signature", "server auth" and expiry 2160h; each request is
`POST /api/v1/cfssl/sign` {"certificate_request": <the same CSR PEM>} and counts if it answers 200 with
success true and a certificate (its time to issued is its response time). cfssl neither lints nor stores
anything: a reference, not a target.

**Load** (the same client for both servers): for each client count (`--clients`, default 1, 4, 16) `--requests`
requests (default 200, 400, 400) spread over that many threads, each thread with its own requests.Session
(keep-alive), each taking the next request when its last one answered. Before the rounds, `--warmup` requests per
server. The points are interleaved: every round runs, for each client count, Certplane and cfssl (which one first
alternates), then (a) once (`--limit-certs`). The table shows the median over `--rounds` rounds (default 3) of
certificates/s, p50 and p95, and failures summed. The targets printed: Certplane at least 50 % of (a) at 16 clients
(the highest count when 16 is not measured), and p95 time to issued under 250 ms at 1 client (the lowest count; the
p95 over all that point's requests of every round). Nothing here asserts on time.

**Two ca replicas** (unless --skip-replicas), after the rounds and the floor: a second `certplane run ca` (its own
health and HTTP ports, the same database and vhost) joins, `--warmup` requests at 1 client, then `--rounds` runs
of `--replica-requests` (default: the requests of the highest client count) at the highest client count.
Reported: certificates/s, p50/p95 time to issued, each ca's CPU per certificate, and **requests signed twice**: over
ca's whole event table, the request_id values (and, where ca's events carry it, application_id values) with more
than one certificate_issued.v1 — it must be 0.

**Where the time goes**: over every 16-client Certplane run (from before the first submit to the last certificate
issued, the drain included), the CPU seconds (utime+stime from /proc/<pid>/stat) of each service process, of all
`postgres` processes, of RabbitMQ's `beam.smp`, of this bench process (the HTTP client), and the machine's busy
time from /proc/stat (so CPU used by anything else on the machine shows as "other"); printed as ms per certificate
and as share of one core.

**The architecture's floor** (unless --skip-floor): after the rounds, bench/rpc_floor.py on the same vhost — two
bare nameko services, one calling the other's echo RPC 2000 times at the highest client count, with a 2000-char
payload — gives the CPU of one RPC (caller + callee + RabbitMQ) with no Certplane code at either end, and of one
event published as a relay does (one confirm per event: an upper bound for relays that batch their confirms). The
synchronous path makes four RPCs per certificate (gateway → enrollment → domains, orgs, ca), the pipeline one
(gateway → enrollment); both record six events. The summary prints what lint + sign plus those alone allow cp/(a)
to be.

Afterwards: the Certplane processes and cfssl get SIGTERM (SIGKILL after 10 s), the database and the vhost are
dropped, the temporary directory (logs, CA files) is removed (kept with --keep-logs or on failure), and error-level
lines of the service logs are grouped and printed.
"""
from __future__ import annotations

import argparse
import base64
import contextlib
import datetime as dt
import hashlib
import json
import math
import multiprocessing
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

sys.path.insert(0, str(Path(__file__).resolve().parent))
import rpc_floor  # noqa: E402
from load import rank_ms, run_clients  # noqa: E402
from http_latency import (CERTPLANE, Process, free_port, log_in, postgres_database,  # noqa: E402
                          rabbit_vhost)
from issue_pipeline import (STEPS, EventStores, Submission, is_pipeline, judge_answer, point_summary,  # noqa: E402
                            rank, step_durations)

BASE_URL = "http://pki.bench.example.com"
DOMAIN = "bench-issue.example.com"
ORG = {"name": "Bench Issue Org", "address1": "1 Main St", "city": "Berlin", "state": "Berlin", "country": "DE"}
SERVICES = ("orgs", "identity", "domains", "ca", "enrollment", "gateway")
TERM_DAYS = 90
TARGET = 0.5          # of (a), at 16 clients
P95_TARGET_MS = 250.0  # time to issued, at 1 client
EVENTS_PER_CERT = 6   # ca: certificate_signing, certificate_issued; enrollment: ssl_requested, _approved, _applied,
                      # _issued — each relayed to RabbitMQ (RPCs per certificate: see report(), by the path measured)
CLK_TCK = os.sysconf("SC_CLK_TCK")
STOP_GRACE = 10.0


def name_of(i: int) -> str:
    return f"h{i}.{DOMAIN}"


def make_csrs(count: int) -> list[str]:
    """`count` P-256 CSRs, CN and SAN h<i>.bench-issue.example.com, each with its own key."""
    out = []
    for i in range(count):
        key = ec.generate_private_key(ec.SECP256R1())
        name = name_of(i)
        csr = (x509.CertificateSigningRequestBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
               .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
               .sign(key, hashes.SHA256()))
        out.append(csr.public_bytes(serialization.Encoding.PEM).decode())
    return out


# ---- (a): the CA's lint + sign in-process on every core -----------------------------------------------------

def bench_ca() -> dict:
    """A P-256 root and issuing CA built by the CA's own x509build, as the ca service does at first start."""
    from services.ca import x509build

    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) - dt.timedelta(minutes=5)
    root_key, issuing_key = x509build.generate_key("ec-p256"), x509build.generate_key("ec-p256")
    root_id, issuing_id = str(uuid.uuid4()), str(uuid.uuid4())
    root = x509build.build_root(root_key, "Bench Root CA", now, 20 * 365, organization="Certplane Bench",
                                country="US")
    issuing = x509build.build_issuing(issuing_key, root_key, root, "Bench Issuing CA", now, 10 * 365,
                                      x509build.CaUrls.of(BASE_URL, root_id), organization="Certplane Bench",
                                      country="US")
    return {"issuing_id": issuing_id,
            "root_pem": root.public_bytes(serialization.Encoding.PEM),
            "issuing_pem": issuing.public_bytes(serialization.Encoding.PEM),
            "issuing_key_pem": issuing_key.private_bytes(serialization.Encoding.PEM,
                                                         serialization.PrivateFormat.TraditionalOpenSSL,
                                                         serialization.NoEncryption())}


_WORKER: dict = {}


def _worker_init(ca: dict, csrs: list[str], barrier) -> None:
    from services.ca import lint, x509build

    lint.warm_up()
    _WORKER.update(lint=lint, x509build=x509build, csrs=csrs,
                   issuer=x509.load_pem_x509_certificate(ca["issuing_pem"]),
                   key=serialization.load_pem_private_key(ca["issuing_key_pem"], None),
                   urls=x509build.CaUrls.of(BASE_URL, ca["issuing_id"]))
    _issue_in_process(0)          # first certificate: any lazy import or cache, before the clock
    barrier.wait()


def _issue_in_process(i: int) -> int:
    """What ca.issue_certificate computes for CSR i, minus I/O; 1 if the lint found an error, else 0."""
    w = _WORKER
    x509build, lint = w["x509build"], w["lint"]
    csr = x509.load_pem_x509_csr(w["csrs"][i].encode())
    name = name_of(i)
    not_before = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=60)
    spec = x509build.LeafSpec(
        common_name=name, organization=ORG["name"], organizational_unit=None, country=ORG["country"],
        state=ORG["state"], locality=ORG["city"], sans=[("dns", name)], not_before=not_before,
        not_after=x509build.validity_end(not_before, TERM_DAYS), key_usage={"digital_signature"},
        extended_key_usage=["server_auth"], serial=x509build.new_serial(), public_key=csr.public_key(),
        urls=w["urls"], certificate_policies=())          # a private certificate asserts no CA/B Forum policy
    tbs = x509build.tbs_for_lint(spec, w["issuer"])
    if lint.errors(lint.lint_certificate(tbs, "rfc5280")):
        return 1
    hashlib.sha256(tbs).hexdigest()
    certificate = x509build.build_leaf(spec, w["issuer"], w["key"])
    certificate.public_bytes(serialization.Encoding.PEM)
    certificate.fingerprint(hashes.SHA256())
    return 0


def limit_run(pool, count: int, csr_count: int) -> dict:
    """(a) once: `count` certificates over the pool; also the workers' CPU per certificate and the machine's
    busy time meanwhile (so a run slowed by other jobs shows as such)."""
    indices = [i % csr_count for i in range(count)]
    pids = [worker.pid for worker in pool._pool]        # no maxtasksperchild: the same workers throughout
    cpu_before, busy_before = sum(proc_cpu(pid) for pid in pids), machine_busy()
    started = time.perf_counter()
    failed = sum(pool.imap_unordered(_issue_in_process, indices, chunksize=8))
    wall = time.perf_counter() - started
    cpu = sum(proc_cpu(pid) for pid in pids) - cpu_before
    other = machine_busy() - busy_before - cpu
    return {"rps": count / wall, "failed": failed, "wall": wall, "cpu_ms": cpu * 1000 / count,
            "other": other / wall}


# ---- the client (the same for Certplane and cfssl) -------------------------------------------------------------

def measure(url: str, headers: dict, body_for, check, indices: list[int], clients: int,
            max_failures: int = 20) -> dict:
    """cfssl: POST body_for(i) to url for every i, over `clients` threads; check(response) -> None or a failure
    text. Its certificate is there when it answers, so its time to issued is the response time."""
    def one(session: requests.Session, n: int, _thread: int) -> str | None:
        return check(session.post(url, json=body_for(indices[n]), timeout=120))

    ordered, failures, wall = run_clients(clients, len(indices), one, headers, max_failures)
    return {"rps": len(ordered) / wall, "p50": rank_ms(ordered, 0.50), "p95": rank_ms(ordered, 0.95),
            "p99": rank_ms(ordered, 0.99), "to_issued_ms": [s * 1000 for s in ordered],
            "ok": len(ordered), "failed": len(failures), "failures": failures[:3], "wall": wall}


def measure_certplane(url: str, headers: dict, body_for, indices: list[int], clients: int,
                      stores: EventStores, drain_timeout: float, max_failures: int = 20) -> dict:
    """Certplane: POST body_for(i) for every i over `clients` threads, noting each submit's and answer's wall clock;
    then the 202s' certificates from enrollment's event store (issue_pipeline.EventStores.wait_for_outcomes).
    Returns issue_pipeline.point_summary plus the submissions and the drain's duration."""
    submissions: list[Submission] = []
    lock = threading.Lock()

    def one(session: requests.Session, n: int, _thread: int) -> str | None:
        index = indices[n]
        submitted = time.time()
        try:
            response = session.post(url, json=body_for(index), timeout=120)
        except requests.RequestException as exc:
            submission = Submission(index, submitted, time.time(), 0, problem=repr(exc))
        else:
            answered = time.time()
            try:
                body = response.json()
            except ValueError:
                body = None
            ssl_id, status, problem = judge_answer(response.status_code, body, response.headers.get("Location"))
            submission = Submission(index, submitted, answered, response.status_code, ssl_id, status,
                                    f"{problem}: {response.text[:300]}" if problem else None,
                                    answered if problem is None and response.status_code == 201 else None)
        with lock:
            submissions.append(submission)
        return submission.problem

    _ordered, _failures, wall = run_clients(clients, len(indices), one, headers, max_failures)
    drain_started = time.perf_counter()
    stores.wait_for_outcomes(submissions, drain_timeout)
    row = point_summary(submissions)
    unsent = len(indices) - len(submissions)             # the threads stop taking work after max_failures
    row.update(submissions=submissions, wall=wall, drain=time.perf_counter() - drain_started,
               failed=row["failed"] + unsent)
    return row


def cfssl_check(response: requests.Response) -> str | None:
    if response.status_code != 200:
        return f"{response.status_code}: {response.text[:300]}"
    body = response.json()
    if not body.get("success") or "BEGIN CERTIFICATE" not in (body.get("result") or {}).get("certificate", ""):
        return f"200 but {response.text[:300]}"
    return None


# ---- CPU accounting --------------------------------------------------------------------------------------------

def proc_cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def cpu_of(comm: str) -> float:
    """utime+stime of every live process whose name is `comm`."""
    total = 0.0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                stat = Path(f"/proc/{entry.name}/stat").read_text()
            except OSError:
                continue
            if stat[stat.index("(") + 1:stat.rindex(")")] == comm:
                fields = stat.rpartition(")")[2].split()
                total += (int(fields[11]) + int(fields[12])) / CLK_TCK
    return total


def machine_busy() -> float:
    """CPU seconds the whole machine spent busy (all cores): /proc/stat minus idle and iowait."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = (values + [0] * 8)[:8]
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


def cpu_snapshot(processes: dict[str, Process]) -> dict[str, float]:
    snap = {name: proc_cpu(p.proc.pid) for name, p in processes.items()}
    snap["postgres"] = cpu_of("postgres")
    snap["rabbitmq"] = cpu_of("beam.smp")
    times = os.times()
    snap["bench client"] = times.user + times.system
    snap["machine"] = machine_busy()
    return snap


# ---- cfssl ----------------------------------------------------------------------------------------------------

def ensure_cfssl() -> tuple[str | None, str]:
    found = shutil.which("cfssl")
    if found:
        return found, "on PATH"
    print("  cfssl is not on PATH: running `apt-get install -y golang-cfssl`", flush=True)
    try:
        done = subprocess.run(["apt-get", "install", "-y", "golang-cfssl"], capture_output=True, text=True,
                              timeout=600, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"apt-get install golang-cfssl failed: {exc!r}"
    found = shutil.which("cfssl")
    if done.returncode != 0 or not found:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["?"]
        return None, f"apt-get install golang-cfssl exited {done.returncode}: {tail[0][:200]}"
    return found, "installed now with apt-get"


class PeerProcess:
    """A peer server the bench runs beside Certplane (cfssl here, pebble in bench/acme.py): `proc` (its Popen),
    `log` (its output file); `tail` for errors, `stop` with SIGTERM and then SIGKILL, saying which it took."""
    NAME = "peer"
    proc = None
    log: Path

    def tail(self, chars: int = 2000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    def stop(self) -> str:
        if self.proc is None or self.proc.poll() is not None:
            return f"{self.NAME}: already exited ({self.proc.returncode if self.proc else 'never started'})"
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(STOP_GRACE)
            return f"{self.NAME}: stopped on SIGTERM"
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return f"{self.NAME}: did not stop within {STOP_GRACE:.0f} s of SIGTERM; killed"


class Cfssl(PeerProcess):
    NAME = "cfssl"

    def __init__(self, binary: str, ca: dict, workdir: Path):
        self.dir = workdir / "cfssl"
        self.dir.mkdir()
        (self.dir / "ca.pem").write_bytes(ca["issuing_pem"])
        (self.dir / "ca-key.pem").write_bytes(ca["issuing_key_pem"])
        (self.dir / "config.json").write_text(json.dumps({"signing": {"default": {
            "usages": ["digital signature", "server auth"], "expiry": "2160h"}}}))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/api/v1/cfssl/sign"
        self.log = workdir / "cfssl.log"
        self.name = "cfssl"
        self.args = [binary, "serve", "-address", "127.0.0.1", "-port", str(self.port),
                     "-ca", str(self.dir / "ca.pem"), "-ca-key", str(self.dir / "ca-key.pem"),
                     "-config", str(self.dir / "config.json")]
        self.proc: subprocess.Popen | None = None

    def start(self, probe_csr: str, timeout: float = 30.0) -> None:
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(self.args, cwd=self.dir, stdout=out, stderr=subprocess.STDOUT)
        started, last = time.monotonic(), None
        while time.monotonic() - started < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"cfssl serve exited with {self.proc.returncode}: {self.tail()}")
            try:
                response = requests.post(self.url, json={"certificate_request": probe_csr}, timeout=5)
                problem = cfssl_check(response)
                if problem is None:
                    self._check_certificate(response.json()["result"]["certificate"], probe_csr)
                    return
                last = problem
            except requests.RequestException as exc:
                last = type(exc).__name__
            time.sleep(0.2)
        raise RuntimeError(f"cfssl serve not answering after {timeout:.0f} s (last: {last}): {self.tail()}")

    def _check_certificate(self, pem: str, csr_pem: str) -> None:
        """Once: cfssl's answer is a leaf of our issuing CA for the CSR's key and name, with serverAuth."""
        try:
            cert = x509.load_pem_x509_certificate(pem.encode())
            csr = x509.load_pem_x509_csr(csr_pem.encode())
            cert.verify_directly_issued_by(x509.load_pem_x509_certificate((self.dir / "ca.pem").read_bytes()))
            names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
            good = (cert.public_key() == csr.public_key() and name_of(0) in names.get_values_for_type(x509.DNSName)
                    and x509.ExtendedKeyUsageOID.SERVER_AUTH in eku)
        except Exception as exc:  # noqa: BLE001 — any defect of the answer skips the peer with its reason
            raise RuntimeError(f"cfssl's certificate does not check out: {exc!r}") from None
        if not good:
            raise RuntimeError("cfssl's certificate does not carry the CSR's key, its name and serverAuth")



# ---- Certplane, distributed --------------------------------------------------------------------------------

def call(session: requests.Session, method: str, url: str, expect: int, **kwargs) -> requests.Response:
    response = session.request(method, url, timeout=60, **kwargs)
    if response.status_code != expect:
        raise RuntimeError(f"{method} {url}: expected {expect}, got {response.status_code}: {response.text[:500]}")
    return response


class Stack:
    """The running Certplane: its processes, their common environment, and a way to add a second ca replica."""

    def __init__(self, workdir: Path, common: dict[str, str], started: dict[str, Process]):
        self.workdir, self.common, self.started = workdir, common, started
        self.base_url = self.token = self.amqp_uri = self.database_url = ""
        self.closers: list = []         # run before the processes stop and the database is dropped

    def add(self, name: str, service: str) -> float:
        """Start `certplane run <service>` as `name` on free ports; seconds until its /readyz answered 200."""
        http_port, health_port = free_port(), free_port()
        process = Process(name, ["run", service], {
            **self.common, "CERTPLANE_HTTP_PORT": str(http_port), "CERTPLANE_HEALTH_PORT": str(health_port)},
            self.workdir)
        self.started[name] = process
        process.start()
        return process.wait_ready(f"http://127.0.0.1:{http_port if service == 'gateway' else health_port}/readyz")


@contextlib.contextmanager
def certplane(workdir: Path, notes: list[str], started: dict[str, Process]):
    tag = secrets.token_hex(4)
    with postgres_database(f"issue_{tag}") as database_url, rabbit_vhost(f"issue-{tag}") as amqp_uri:
        common = {"AMQP_URI": amqp_uri, "CERTPLANE_DATABASE_URL": database_url,
                  "CERTPLANE_CA_KEK": base64.b64encode(secrets.token_bytes(32)).decode(),
                  "CERTPLANE_PUBLIC_BASE_URL": BASE_URL}
        stack = Stack(workdir, common, started)
        # the schemas first, as an operator (or the deployment's migration Job) does before starting services
        upgraded = subprocess.run([CERTPLANE, "db", "upgrade"], env={**os.environ, **common}, cwd=workdir,
                                  capture_output=True, text=True, timeout=300)
        if upgraded.returncode != 0:
            raise RuntimeError(f"certplane db upgrade failed:\n{upgraded.stdout}{upgraded.stderr}")
        ready_urls = {}
        for service in SERVICES:
            http_port, health_port = free_port(), free_port()
            started[service] = Process(service, ["run", service], {
                **common, "CERTPLANE_HTTP_PORT": str(http_port), "CERTPLANE_HEALTH_PORT": str(health_port)},
                workdir)
            ready_urls[service] = f"http://127.0.0.1:{http_port if service == 'gateway' else health_port}/readyz"
        try:
            for process in started.values():
                process.start()
            waited = {name: process.wait_ready(ready_urls[name]) for name, process in started.items()}
            base_url = ready_urls["gateway"].rsplit("/", 1)[0]
            created = subprocess.run([CERTPLANE, "admin", "create", "--username", "bench", "--email",
                                      "bench@example.com", "--forename", "Bench", "--surname", "Mark"],
                                     env=started["gateway"].env, capture_output=True, text=True, timeout=120,
                                     check=True)
            token = log_in(base_url, "bench", json.loads(created.stdout)["password"])
            notes.append(f"certplane: database {database_url.rsplit('/', 1)[1]}, vhost "
                         f"{amqp_uri.rsplit('/', 1)[1]}; ready after "
                         + ", ".join(f"{n} {t:.1f} s" for n, t in waited.items()))
            stack.base_url, stack.token, stack.amqp_uri, stack.database_url = base_url, token, amqp_uri, database_url
            yield stack
        finally:
            for close in stack.closers:
                close()
            for name in reversed(list(started)):
                notes.append("certplane: " + started[name].stop())


def set_up_world(base_url: str, token: str) -> dict:
    """The organization, the delegated domain, and the profile without approval."""
    with requests.Session() as s:
        s.headers["Authorization"] = f"Bearer {token}"
        org_id = call(s, "POST", f"{base_url}/api/v1/organizations", 201, json=ORG).json()["organization_id"]
        domain = call(s, "POST", f"{base_url}/api/v1/domains", 201, json={"name": DOMAIN, "delegations": [
            {"organization_id": org_id, "cert_types": ["ssl"]}]}).json()
        deadline = time.monotonic() + 60
        while True:         # enrollment makes the default profiles on its first timer tick
            items = call(s, "GET", f"{base_url}/api/v1/profiles", 200).json()["items"]
            default = next((p for p in items if p["name"] == "Private TLS Server"), None)
            if default is not None:
                break
            if time.monotonic() > deadline:
                raise RuntimeError("no default profile 'Private TLS Server' after 60 s")
            time.sleep(0.3)
        body = {k: v for k, v in default.items() if k not in ("profile_id", "created_at", "updated_at")}
        body.update(name="Bench TLS (no approval)", requires_approval=False)
        profile = call(s, "POST", f"{base_url}/api/v1/profiles", 201, json=body).json()
    if TERM_DAYS not in profile["terms"]:
        raise RuntimeError(f"the profile allows terms {profile['terms']}, not {TERM_DAYS}")
    return {"organization_id": org_id, "profile_id": profile["profile_id"], "domain": domain}


# ---- main -----------------------------------------------------------------------------------------------------

def median(rows: list[dict], key: str) -> float:
    values = [r[key] for r in rows if not math.isnan(r[key])]
    return statistics.median(values) if values else float("nan")


def pooled_steps(rows: list[dict]) -> dict[str, list[float]]:
    steps: dict[str, list[float]] = {name: [] for name in STEPS}
    for row in rows:
        for name, values in row.get("steps", {}).items():
            steps[name].extend(values)
    return steps


def pick(counts: list[int], wanted: int, fallback) -> int:
    return wanted if wanted in counts else fallback(counts)


class CpuWindow:
    """CPU seconds per process summed over the measured windows (before the first submit to after the drain)."""

    def __init__(self) -> None:
        self.total: dict[str, float] = {}
        self.certs = 0
        self.wall = 0.0

    def add(self, before: dict[str, float], after: dict[str, float], certs: int, wall: float) -> None:
        for key in after:
            self.total[key] = self.total.get(key, 0.0) + after[key] - before.get(key, 0.0)
        self.certs += certs
        self.wall += wall


def certplane_point(stores: EventStores, processes: dict[str, Process], cpu: CpuWindow | None,
                    **measure_args) -> dict:
    """One measured Certplane point: the load, the drain of its 202s, the CPU over both (when `cpu`), then the
    per-step durations from the event stores (after the CPU window: the bench's own reads stay out of it)."""
    ca_after = stores.ca_position()
    before, started = (cpu_snapshot(processes) if cpu else None), time.perf_counter()
    row = measure_certplane(stores=stores, **measure_args)
    if cpu is not None:
        cpu.add(before, cpu_snapshot(processes), row["ok"], time.perf_counter() - started)
    enrollment, ca = stores.recorded([s.ssl_id for s in row["submissions"] if s.ssl_id], ca_after)
    row["steps"] = step_durations(row["submissions"], enrollment, ca)
    del row["submissions"]
    return row


def print_cpu(cpu: CpuWindow, title: str, cores: int) -> float:
    """The CPU table; returns Certplane's ms per certificate (its processes + PostgreSQL + RabbitMQ)."""
    total = dict(cpu.total)
    machine = total.pop("machine")
    known = sum(total.values())
    print(f"\nCPU during {title} ({cpu.certs} certificates, {cpu.wall:.1f} s wall, drains included): ms per "
          "certificate, and share of one core")
    for name, seconds in sorted(total.items(), key=lambda kv: -kv[1]):
        print(f"  {name:<13} {seconds * 1000 / cpu.certs:8.1f} ms/cert  {seconds / cpu.wall:6.0%}")
    print(f"  {'other':<13} {(machine - known) * 1000 / cpu.certs:8.1f} ms/cert  "
          f"{(machine - known) / cpu.wall:6.0%}   (machine busy time minus the above: other jobs)")
    print(f"  {'machine':<13} {machine * 1000 / cpu.certs:8.1f} ms/cert  {machine / cpu.wall:6.0%} "
          f"of one core ({cores} cores)")
    return sum(v for k, v in total.items() if k != "bench client") * 1000 / cpu.certs


def print_steps(rows_by_label: list[tuple[str, list[dict]]]) -> bool | None:
    """p50 / p95 of each pipeline step per point; returns issue_pipeline.is_pipeline of the last point."""
    print("\nPipeline steps, ms p50 / p95 over every issued request of the point (event stores' recorded_at; "
          "submit and answer: the client's clock):")
    print(f"{'point':>12} " + " ".join(f"{name:>19}" for name in STEPS))
    path = None
    for label, rows in rows_by_label:
        steps = pooled_steps(rows)
        cells = []
        for name in STEPS:
            values = steps[name]
            cells.append(f"{rank(values, 0.5):>8.1f} / {rank(values, 0.95):>6.1f}" if values else f"{'—':>19}")
        print(f"{label:>12} " + " ".join(f"{c:>19}" for c in cells))
        path = is_pipeline(steps) if is_pipeline(steps) is not None else path
    if path is False:
        print("  The synchronous RPC path: ca recorded certificate_signing before enrollment's one append of "
              "requested + approved + applied + issued, so applied→signing is negative and submit→applied spans "
              "almost all of it.")
    elif path:
        print("  The event pipeline: ca picked up enrollment's applied events and enrollment ca's issued events.")
    return path



def finish_run(failures, notes, processes, started_at, workdir, keep: bool) -> None:
    """What every benchmark prints last: each failure (`failures`: (where, message) pairs), the notes, the error
    lines of each Certplane process's log by kind, the whole run's time; then its logs are kept (`keep`) or
    removed."""
    for where, failure in failures:
        print(f"failure ({where}): {failure}")
    for note in notes:
        print(note)
    for process in processes.values():
        problems = process.problems()
        if problems:
            print(f"\n{process.name}: {sum(n for n, _ in problems)} error line(s) in its log, by kind:")
            for count, problem in problems[:8]:
                print(f"  {count:>5} x {problem}")
    print(f"\nwhole run: {time.monotonic() - started_at:.0f} s")
    if keep:
        print(f"logs kept in {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", default="1,4,16", help="comma-separated concurrent client counts")
    parser.add_argument("--requests", default="200,400,400",
                        help="requests per point, one per client count (or one number for all)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=20, help="requests per server before the rounds")
    parser.add_argument("--limit-certs", type=int, default=600, help="certificates per (a) run")
    parser.add_argument("--skip-cfssl", action="store_true")
    parser.add_argument("--keep-logs", action="store_true", help="keep the processes' logs (path printed)")
    parser.add_argument("--skip-floor", action="store_true", help="do not measure the bare-RPC floor")
    parser.add_argument("--skip-replicas", action="store_true", help="no run with two ca replicas")
    parser.add_argument("--replica-requests", type=int, default=None,
                        help="requests per two-replica run (default: those of the highest client count)")
    parser.add_argument("--drain-timeout", type=float, default=60.0,
                        help="seconds after a point's last answer to wait for its 202s' certificates")
    args = parser.parse_args(argv)
    client_counts = [int(c) for c in args.clients.split(",") if c.strip()]
    per_point = [int(n) for n in args.requests.split(",") if n.strip()]
    if len(per_point) == 1:
        per_point *= len(client_counts)
    if len(per_point) != len(client_counts):
        parser.error("--requests needs one number, or one per client count")
    requests_for = dict(zip(client_counts, per_point))
    top_clients = max(client_counts)
    replica_requests = 0 if args.skip_replicas else (args.replica_requests or requests_for[top_clients])
    if not Path(CERTPLANE).exists():
        raise SystemExit(f"{CERTPLANE} not found: run `make bench-issue` (installs the venv) or set CERTPLANE_BIN")

    cores = os.cpu_count() or 1
    workdir = Path(tempfile.mkdtemp(prefix="certplane-bench-issue-"))
    print(f"bench/issue.py — {time.strftime('%Y-%m-%d %H:%M:%S %Z')} — {cores} CPUs, load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}; POST /api/v1/ssl (P-256 CSR, lint on, auto-approved "
          f"profile) vs (a) in-process lint+sign on {cores} processes vs (b) cfssl serve; clients "
          f"{client_counts}, requests {per_point}, {args.rounds} rounds, median shown"
          + ("" if args.skip_replicas else f"; then two ca replicas, {replica_requests} requests at {top_clients} "
             f"clients x {args.rounds}"), flush=True)

    certplane_total = args.warmup + args.rounds * sum(per_point)
    if replica_requests:
        certplane_total += args.warmup + args.rounds * replica_requests
    started_at = time.perf_counter()
    csrs = make_csrs(certplane_total)
    print(f"  {len(csrs)} P-256 CSRs made in {time.perf_counter() - started_at:.1f} s", flush=True)
    ca = bench_ca()

    results: dict[tuple[str, int], list[dict]] = {}
    replica_rows: list[dict] = []
    limit_rows: list[dict] = []
    notes: list[str] = []
    cpu = CpuWindow()
    replica_cpu = CpuWindow()
    signed: dict | None = None
    processes: dict[str, Process] = {}
    cfssl: Cfssl | None = None
    cfssl_note = "skipped (--skip-cfssl)" if args.skip_cfssl else ""
    failed = False
    floor: dict | None = None
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(cores + 1)
    pool = ctx.Pool(cores, initializer=_worker_init, initargs=(ca, csrs, barrier))
    try:
        barrier.wait(timeout=180)
        print(f"  (a): {cores} workers warmed up (pkilint validators built, one certificate each)", flush=True)
        if not args.skip_cfssl:
            binary, how = ensure_cfssl()
            if binary is None:
                cfssl_note = f"SKIPPED: {how}"
                print(f"  (b) cfssl {cfssl_note}", flush=True)
            else:
                version = subprocess.run([binary, "version"], capture_output=True, text=True).stdout.split("\n")[0]
                cfssl = Cfssl(binary, ca, workdir)
                try:
                    cfssl.start(csrs[0])
                    cfssl_note = f"{binary} ({how}; {version.strip()})"
                    print(f"  (b) cfssl serve answering on :{cfssl.port} — {cfssl_note}", flush=True)
                except RuntimeError as exc:
                    cfssl_note = f"SKIPPED: {exc}"
                    print(f"  (b) cfssl {cfssl_note}", flush=True)
                    cfssl.stop()
                    cfssl = None

        with certplane(workdir, notes, processes) as stack:
            world = set_up_world(stack.base_url, stack.token)
            delegation = world["domain"]["delegations"][0]["status"]
            print(f"  certplane: organization, domain {DOMAIN} (delegation {delegation}), profile "
                  f"{world['profile_id']} without approval", flush=True)
            with contextlib.chdir(workdir):      # the services' cwd: load_settings also reads ./certplane.yaml
                stores = EventStores.of(processes["enrollment"].env)
            stack.closers.append(stores.close)
            print(f"  event stores: {stores.enrollment_events} and {stores.ca_events} in database "
                  f"{stack.database_url.rsplit('/', 1)[1]} (database_url_for: one schema per service)", flush=True)
            auth = {"Authorization": f"Bearer {stack.token}"}
            url = f"{stack.base_url}/api/v1/ssl"

            def certplane_body(i: int) -> dict:
                return {"organization_id": world["organization_id"], "profile_id": world["profile_id"],
                        "term_days": TERM_DAYS, "csr": csrs[i]}

            def cfssl_body(i: int) -> dict:
                return {"certificate_request": csrs[i]}

            def point(indices: list[int], clients: int, window: CpuWindow | None) -> dict:
                return certplane_point(stores, processes, window, url=url, headers=auth, body_for=certplane_body,
                                       indices=indices, clients=clients, drain_timeout=args.drain_timeout)

            warm = point(list(range(args.warmup)), 1, None)
            next_index = args.warmup
            if warm["failed"]:
                raise RuntimeError(f"Certplane warm-up failed: {warm['failures']}")
            if cfssl:
                measure(cfssl.url, {}, cfssl_body, cfssl_check, list(range(args.warmup)), 1)
            limit_run(pool, min(args.limit_certs, 4 * cores), len(csrs))
            print(f"  warm-up done ({args.warmup} requests each; Certplane {warm['rps']:.1f} certs/s at 1 client, "
                  f"{warm['answered_201']} answered 201, {warm['answered_202']} 202)", flush=True)

            for round_no in range(args.rounds):
                line = []
                for n, clients in enumerate(client_counts):
                    indices = list(range(next_index, next_index + requests_for[clients]))
                    next_index += len(indices)
                    order = ["certplane", "cfssl"] if (round_no + n) % 2 == 0 else ["cfssl", "certplane"]
                    for server in order:
                        if server == "cfssl":
                            if cfssl is None:
                                continue
                            cfssl_before = proc_cpu(cfssl.proc.pid)
                            row = measure(cfssl.url, {}, cfssl_body, cfssl_check, indices, clients)
                            row["cpu_ms"] = (proc_cpu(cfssl.proc.pid) - cfssl_before) * 1000 / max(1, row["ok"])
                        else:
                            row = point(indices, clients, cpu if clients == top_clients else None)
                        results.setdefault((server, clients), []).append(row)
                        line.append(f"{server}@{clients} {row['rps']:.1f}"
                                    + (f" ({row['failed']} failed)" if row["failed"] else "")
                                    + (f" [{row['answered_202']} x 202, answers p50 {row['answer_p50']:.0f} ms, "
                                       f"drain {row['drain']:.1f} s]"
                                       if row.get("answered_202") else ""))
                limit = limit_run(pool, args.limit_certs, len(csrs))
                limit_rows.append(limit)
                line.append(f"(a) {limit['rps']:.1f}" + (f" ({limit['failed']} lint errors)" if limit["failed"] else "")
                            + f" [other jobs {limit['other']:.0%} of a core during (a)]")
                print(f"  round {round_no + 1}, certs/s: {', '.join(line)}; load average "
                      f"{os.getloadavg()[0]:.2f}", flush=True)
            if not args.skip_floor:
                floor = rpc_floor.measure(stack.amqp_uri, concurrency=top_clients)
                print(f"  floor: {floor['total_ms_per_call']:.2f} ms of CPU per bare nameko RPC at "
                      f"{floor['concurrency']} concurrent ({floor['calls_per_s']:.0f} calls/s), "
                      f"{floor['total_ms_per_event']:.2f} ms per published event", flush=True)
            if replica_requests:
                waited = stack.add("ca-2", "ca")
                print(f"  a second ca replica (ca-2) ready after {waited:.1f} s; load average "
                      f"{os.getloadavg()[0]:.2f}", flush=True)
                indices = list(range(next_index, next_index + args.warmup))
                next_index += len(indices)
                warm = point(indices, 1, None)
                if warm["failed"]:
                    raise RuntimeError(f"Certplane warm-up with two ca replicas failed: {warm['failures']}")
                for round_no in range(args.rounds):
                    indices = list(range(next_index, next_index + replica_requests))
                    next_index += len(indices)
                    row = point(indices, top_clients, replica_cpu)
                    replica_rows.append(row)
                    print(f"  two ca replicas, run {round_no + 1}: {row['rps']:.1f} certs/s at {top_clients} "
                          f"clients" + (f" ({row['failed']} failed)" if row["failed"] else ""), flush=True)
                signed = stores.signed_twice()
    except BaseException:
        failed = True
        raise
    finally:
        pool.terminate()
        pool.join()
        if cfssl is not None:
            notes.append(cfssl.stop())
        report(args, cores, client_counts, results, limit_rows, cpu, floor, replica_rows, replica_cpu, signed,
               cfssl_note, replica_requests)
        for (server, clients), rows in sorted(results.items()):
            for row in rows:
                for failure in row["failures"]:
                    print(f"failure ({server}, {clients} clients): {failure}")
        for row in replica_rows:
            for failure in row["failures"]:
                print(f"failure (two ca replicas): {failure}")
        for note in notes:
            print(note)
        for process in processes.values():
            problems = process.problems()
            if problems:
                print(f"\n{process.name}: {sum(n for n, _ in problems)} error line(s) in its log, by kind:")
                for count, problem in problems[:8]:
                    print(f"  {count:>5} x {problem}")
        if args.keep_logs or failed:
            print(f"\nlogs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    any_failed = any(r["failed"] for rows in [*results.values(), replica_rows] for r in rows)
    twice = signed is not None and (signed["by_request_id"] or signed["by_application_id"])
    return 1 if failed or any_failed or twice else 0


def report(args, cores: int, client_counts: list[int], results: dict, limit_rows: list[dict], cpu: CpuWindow,
           floor: dict | None, replica_rows: list[dict], replica_cpu: CpuWindow, signed: dict | None,
           cfssl_note: str, replica_requests: int) -> None:
    """Everything the run measured, printed after it (also after a failure: what was measured so far)."""
    print()
    a_rps = median(limit_rows, "rps")
    top_clients, low_clients = pick(client_counts, 16, max), pick(client_counts, 1, min)
    if not (results or limit_rows):
        return
    print(f"{'clients':>7} {'certplane/s':>11} {'201':>5} {'202':>5} {'p50 ms':>8} {'p95 ms':>8} {'fail':>5} "
          f"{'cfssl/s':>9} {'p50 ms':>8} {'p95 ms':>8} {'fail':>5} {'(a)/s':>7} {'cp/(a)':>7} {'cfssl/(a)':>9} "
          f"{'cp/cfssl':>8}")
    print("-" * 128)
    ratios = {}
    for clients in client_counts:
        cp = results.get(("certplane", clients), [])
        cf = results.get(("cfssl", clients), [])
        cp_rps, cf_rps = median(cp, "rps"), median(cf, "rps")
        cf_cols = (f"{cf_rps:>9.1f} {median(cf, 'p50'):>8.1f} {median(cf, 'p95'):>8.1f} "
                   f"{sum(r['failed'] for r in cf):>5}") if cf else f"{'—':>9} {'':>8} {'':>8} {'':>5}"
        print(f"{clients:>7} {cp_rps:>11.1f} {sum(r['answered_201'] for r in cp):>5} "
              f"{sum(r['answered_202'] for r in cp):>5} {median(cp, 'p50'):>8.1f} {median(cp, 'p95'):>8.1f} "
              f"{sum(r['failed'] for r in cp):>5} {cf_cols} {a_rps:>7.1f} {cp_rps / a_rps:>7.2f} "
              + (f"{cf_rps / a_rps:>9.2f} {cp_rps / cf_rps:>8.3f}" if cf else f"{'—':>9} {'—':>8}"))
        if cp:
            ratios[clients] = cp_rps / a_rps
    print("-" * 128)
    print("certplane/s: issued certificates / (first submit -> last certificate issued); p50/p95: time to issued "
          "(201: the response; 202: ssl_issued's recorded_at - the submit); 201/202: answers, summed over rounds")
    print(f"(a) in-process lint + sign on {cores} processes: median {a_rps:.1f} certs/s over "
          f"{len(limit_rows)} runs of {args.limit_certs} (runs: "
          f"{', '.join(format(r['rps'], '.1f') for r in limit_rows)}; lint errors "
          f"{sum(r['failed'] for r in limit_rows)})")
    print(f"(b) cfssl: {cfssl_note}")
    if top_clients in ratios:
        ratio = ratios[top_clients]
        print(f"target 1: Certplane >= {TARGET:.0%} of (a) at {top_clients} clients: "
              + (f"MET ({ratio:.1%})" if ratio >= TARGET else
                 f"NOT met — {ratio:.1%} of (a), {TARGET / ratio:.1f}x short ({TARGET * a_rps:.1f} certs/s "
                 f"needed, {ratio * a_rps:.1f} measured)"))
    low = results.get(("certplane", low_clients), [])
    if low:
        p95 = rank([v for r in low for v in r["to_issued_ms"]], 0.95)
        print(f"target 2: p95 time to issued < {P95_TARGET_MS:.0f} ms at {low_clients} client(s): "
              + ("MET" if p95 < P95_TARGET_MS else "NOT met")
              + f" — {p95:.1f} ms over all {sum(r['ok'] for r in low)} issued requests of {len(low)} round(s) "
              f"(median of the rounds' p95: {median(low, 'p95'):.1f} ms)")
    labelled = [(f"{c} clients", results[("certplane", c)]) for c in client_counts if ("certplane", c) in results]
    if replica_rows:
        labelled.append((f"2 ca, {top_clients}", replica_rows))
    path = print_steps(labelled) if labelled else None

    server_ms = a_ms = float("nan")
    if cpu.certs:
        server_ms = print_cpu(cpu, f"the {top_clients}-client Certplane runs", cores)
        a_ms = median(limit_rows, "cpu_ms")
        cf_ms = [r["cpu_ms"] for (srv, _), rows in results.items() if srv == "cfssl" for r in rows]
        print(f"CPU per certificate: Certplane {server_ms:.1f} ms (its processes + PostgreSQL + RabbitMQ), "
              f"(a) {a_ms:.1f} ms (median of the workers' CPU), cfssl "
              + (f"{statistics.median(cf_ms):.2f} ms (median over its points)" if cf_ms else "—")
              + f". With these costs, on {cores} idle cores: Certplane at most {cores * 1000 / server_ms:.1f} "
              f"certs/s, (a) {cores * 1000 / a_ms:.1f}/s; CPU ratio (a)/Certplane {a_ms / server_ms:.2f} "
              "(about the best cp/(a) could be without other jobs; less sensitive to them than the rates)")
    if floor is not None and cpu.certs:
        rpcs_per_cert = 1 if path else 4
        rpcs = floor["total_ms_per_call"] * rpcs_per_cert
        events = floor["total_ms_per_event"] * EVENTS_PER_CERT
        budget = a_ms / TARGET
        print(f"The architecture's floor: one bare nameko RPC over this RabbitMQ costs "
              f"{floor['total_ms_per_call']:.2f} ms of CPU (caller {floor['ms_per_call']['caller']:.2f}, "
              f"callee {floor['ms_per_call']['callee']:.2f}, broker {floor['ms_per_call']['broker']:.2f}), "
              f"one event published with its own confirm {floor['total_ms_per_event']:.2f} ms (publisher "
              f"{floor['ms_per_event']['publisher']:.2f}, broker {floor['ms_per_event']['broker']:.2f}); "
              f"the {'pipeline' if path else 'synchronous path'} makes {rpcs_per_cert} RPC(s) ({rpcs:.1f} ms) and "
              f"records {EVENTS_PER_CERT} events ({events:.1f} ms at one confirm each). The target allows "
              f"{budget:.1f} ms of CPU per certificate in all ((a)'s {a_ms:.1f} ms / {TARGET}), lint + sign "
              f"included: lint + sign, the RPCs and the events alone cap cp/(a) at "
              f"{a_ms / (a_ms + rpcs + events):.2f} (the RPCs alone at {a_ms / (a_ms + rpcs):.2f}), before any "
              "HTTP, SQL, follower or Certplane code.")
    if replica_rows or signed is not None:
        one = results.get(("certplane", top_clients), [])
        rps = median(replica_rows, "rps")
        print(f"\nTwo ca replicas at {top_clients} clients ({len(replica_rows)} run(s) of {replica_requests}): "
              f"{rps:.1f} certs/s (runs: {', '.join(format(r['rps'], '.1f') for r in replica_rows)}), time to "
              f"issued p50 {median(replica_rows, 'p50'):.1f} ms, p95 {median(replica_rows, 'p95'):.1f} ms, "
              f"{sum(r['failed'] for r in replica_rows)} failed, "
              f"{sum(r['answered_202'] for r in replica_rows)} answered 202; cp/(a) {rps / a_rps:.2f}"
              + (f"; one ca at the same count, earlier: {median(one, 'rps'):.1f} certs/s" if one else ""))
        if replica_cpu.certs:
            per = {k: v * 1000 / replica_cpu.certs for k, v in replica_cpu.total.items()}
            certplane_ms = sum(v for k, v in per.items() if k not in ("machine", "bench client"))
            other = replica_cpu.total["machine"] - sum(v for k, v in replica_cpu.total.items() if k != "machine")
            print(f"  CPU per certificate: ca {per.get('ca', 0):.1f} ms, ca-2 {per.get('ca-2', 0):.1f} ms, "
                  f"enrollment {per.get('enrollment', 0):.1f} ms, Certplane in all {certplane_ms:.1f} ms "
                  f"(one ca, above: {server_ms:.1f} ms); other jobs used {other / replica_cpu.wall:.0%} of a core")
        if signed is not None:
            twice = signed["by_request_id"] + signed["by_application_id"]
            print(f"  requests signed twice: {signed['by_request_id']} request_id value(s) with more than one "
                  f"certificate_issued.v1 among {signed['certificates']} certificates in ca's events; "
                  + (f"{signed['by_application_id']} application_id value(s) among the "
                     f"{signed['with_application_id']} carrying one"
                     if signed["with_application_id"] else "no certificate_issued.v1 carries an application_id yet")
                  + (" — 0 as required" if twice == 0 else " — MUST BE 0"))


if __name__ == "__main__":
    sys.exit(main())
