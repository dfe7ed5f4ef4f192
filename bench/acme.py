"""ACME (RFC 8555) certificates per second with one client design, against Certplane (distributed mode, lint on)
and against Debian's pebble 2.4 in the same run, next to this machine's in-process lint + sign limit (a).

    .venv/bin/python bench/acme.py [--clients 1,4] [--count 100] [--duration 30] [--warmup 5] [--limit-certs 400]
                                   [--probe 20] [--skip-pebble] [--skip-certplane] [--skip-limit] [--keep-logs]

**The client** (the same for both servers): the Python `acme` library (acme 5.x, as certbot uses it). Each client
is its own OS process (multiprocessing, spawned), so that the client side is not the bottleneck: it makes a P-256
account key, registers once (newAccount; with External Account Binding for Certplane), orders one certificate
before the clock starts (its connection and the server's caches warm), then waits for the others. Once released,
each client loops until the point's `--count` certificates are taken (a shared ticket counter) or `--duration`
seconds passed: a fresh P-256 key and CSR (CN and SAN: one name never ordered before, made before the clock),
then the timed part — newOrder (the library also POST-as-GETs each authorization), for a pending authorization
its http-01 challenge answered and the authorization polled until it is not pending, finalize with the CSR, the
order polled until `valid`, the certificate downloaded (POST-as-GET). Polling starts at 20 ms and grows x1.5 to at
most 250 ms, and ignores Retry-After (the library's own loops sleep 1 s, which would measure the client's sleep,
not the server): the same for both servers.

**Certplane** (bench/issue.py's `certplane()`: a fresh PostgreSQL database and RabbitMQ vhost, `certplane db
upgrade`, then orgs, identity, domains, ca, enrollment and gateway as processes; notify joins here, for the DCV
mail). The services' working directory holds a certplane.yaml with `dns_resolver` (tests/dns_server.DnsServer,
answering CAA lookups: NXDOMAIN) and the ACME order rate limits raised out of the way. Through the REST API as the
MRAO: an organization, the domain `bench-acme.example.com` delegated to it for ssl, validated by email DCV (the code
read from notify's outbox, entered on the public page) — so every name under it is authorized at once (an ACME
authorization created `valid`, no challenge: the issue's "authorization reuse" condition) — and an ACME account
for the organization with the default "Private TLS Server" profile (POST /api/v1/acme-accounts: its EAB kid and
HMAC key); then new orders until one's authorization comes out valid (enrollment learns of the DCV through its
follower of domains' events). When RabbitMQ's management API does not answer, the vhost is made with rabbitmqctl
(`rabbit_vhost_ctl`, given to bench/issue.py's certplane()). The directory is http://pki.bench.example.com/acme/directory (CERTPLANE_PUBLIC_BASE_URL, which the
CRL/OCSP URLs in a leaf need for lint, and which the JWS `url` must match); the clients' requests.Session sends
that host's requests to the gateway's 127.0.0.1 port with the Host header kept. Plain http (the library works
over http; no TLS listener needed). Certplane's finalize waits up to CERTPLANE_ACME_FINALIZE_WAIT (2 s) for the
certificate, so most finalizes answer `valid` at once; the table shows how many did.

**pebble** (`/usr/bin/pebble`; `apt-get install -y pebble` when missing): PEBBLE_VA_ALWAYS_VALID=1 (every
challenge answered is valid), PEBBLE_VA_NOSLEEP=1, PEBBLE_WFE_NONCEREJECT=0, its own config (listenAddress on a
free 127.0.0.1 port; its HTTPS certificate from a throwaway CA made here with `cryptography`, which the clients
verify against). pebble neither lints nor stores anything: a reference, not a target.

**(a)** as bench/issue.py computes it (its pool and `limit_run`, imported): the CA's lint + sign for P-256 CSRs in
a pool of os.cpu_count() spawned processes, no I/O; run once before and once after the points, the mean shown.

Per server and client count it prints: certificates/s (certificates / first newOrder -> last certificate
downloaded), p50/p95 (nearest rank) of the time per certificate (newOrder -> certificate downloaded), the p50 of
each step, how finalize answered, failures; then Certplane/pebble, Certplane/(a), and the issue's targets: at
least 50 % of (a) at 4 clients, p95 under 300 ms at 1 client ("met" / "NOT met"). Also the CPU per certificate of
each Certplane process, PostgreSQL, RabbitMQ and pebble over their highest-client-count points, PostgreSQL's
counters per certificate over Certplane's (pg_stat_database: transactions, rows; pg_stat_user_tables: the tables
read most), and a probe (`--probe` requests, one at a time: GET directory, POST-as-GET of an order, newOrder, a
whole certificate; p50). Afterwards pebble
and the Certplane processes get SIGTERM (SIGKILL after 10 s), the database and vhost are dropped, the temporary
directory is removed (kept with --keep-logs or on failure) and error-level lines of the service logs are printed.
"""
from __future__ import annotations

import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
# this file shares its name with the `acme` library: import the library with bench/ off sys.path, then put
# bench/ (issue.py and its helpers) and the project root (tests.dns_server) at the end
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCH]
import josepy as jose  # noqa: E402
from acme import challenges, client as acme_client, messages  # noqa: E402

for _path in (str(BENCH), str(ROOT)):
    if _path not in sys.path:
        sys.path.append(_path)

import argparse  # noqa: E402
import contextlib  # noqa: E402
import datetime as dt  # noqa: E402
import json  # noqa: E402
import multiprocessing  # noqa: E402
import os  # noqa: E402
import queue  # noqa: E402
import re  # noqa: E402
import secrets  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
from urllib.parse import quote, urlsplit, urlunsplit  # noqa: E402

import requests  # noqa: E402
from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID  # noqa: E402
from requests.adapters import HTTPAdapter  # noqa: E402

import http_latency  # noqa: E402
import issue  # noqa: E402
from http_latency import Process, free_port  # noqa: E402
from issue_pipeline import rank  # noqa: E402

DOMAIN = "bench-acme.example.com"
ORG = {"name": "Bench ACME Org", "address1": "1 Main St", "city": "Berlin", "state": "Berlin", "country": "DE"}
TARGET = 0.5            # of (a), at 4 clients
P95_TARGET_MS = 300.0   # per certificate, at 1 client
POLL_FIRST, POLL_GROWTH, POLL_MAX = 0.02, 1.5, 0.25
ORDER_TIMEOUT = 60.0    # seconds one certificate may take before it counts as failed
STEPS = ("order", "authz", "finalize", "poll", "download")


# ---- the client (one design for both servers) ---------------------------------------------------------------

class Route(HTTPAdapter):
    """Send requests for `public` (the base URL the server names itself by) to `actual`, keeping the Host header."""

    def __init__(self, public: str, actual: str):
        super().__init__()
        self.public, self.actual, self.host = public.rstrip("/"), actual.rstrip("/"), urlsplit(public).netloc

    def send(self, request, **kwargs):
        if request.url.startswith(self.public):
            request.url = self.actual + request.url[len(self.public):]
            request.headers["Host"] = self.host
        return super().send(request, **kwargs)


def make_csr(name: str) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    return (x509.CertificateSigningRequestBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))


class BenchClient:
    """One ACME client: an account key, its registration, and `obtain(name)`."""

    def __init__(self, spec: dict):
        self.spec = spec
        self.key = jose.JWKEC(key=ec.generate_private_key(ec.SECP256R1()))
        self.net = acme_client.ClientNetwork(self.key, alg=jose.ES256, verify_ssl=spec["verify"],
                                             user_agent="certplane-bench-acme", timeout=int(ORDER_TIMEOUT))
        if spec.get("route"):
            self.net.session.mount(spec["route"][0], Route(*spec["route"]))
        directory = acme_client.ClientV2.get_directory(spec["directory"], self.net)
        self.acme = acme_client.ClientV2(directory, self.net)
        eab = None
        if spec.get("eab"):
            eab = messages.ExternalAccountBinding.from_data(
                account_public_key=self.key.public_key(), kid=spec["eab"]["kid"],
                hmac_key=spec["eab"]["hmac_key"], directory=directory)
        self.acme.new_account(messages.NewRegistration.from_data(
            terms_of_service_agreed=True, external_account_binding=eab))

    def poll(self, url: str, until, deadline: float):
        """POST-as-GET `url` until until(body) is true; the body."""
        wait = POLL_FIRST
        while True:
            body = self.acme._post_as_get(url).json()
            if until(body):
                return body
            if time.monotonic() + wait > deadline:
                raise TimeoutError(f"{url}: still {body.get('status')} after {ORDER_TIMEOUT:.0f} s")
            time.sleep(wait)
            wait = min(POLL_MAX, wait * POLL_GROWTH)

    def obtain(self, csr_pem: bytes) -> dict:
        """One certificate: {"steps": {step: seconds}, "finalize": the status finalize answered, "polls": n}."""
        deadline = time.monotonic() + ORDER_TIMEOUT
        marks = [time.perf_counter()]
        orderr = self.acme.new_order(csr_pem)
        marks.append(time.perf_counter())
        for authzr in orderr.authorizations:
            if authzr.body.status == messages.STATUS_VALID:
                continue
            challb = next(c for c in authzr.body.challenges if isinstance(c.chall, challenges.HTTP01))
            self.acme.answer_challenge(challb, challb.chall.response(self.key))
            body = self.poll(authzr.uri, lambda b: b.get("status") not in ("pending", "processing"), deadline)
            if body.get("status") != "valid":
                raise RuntimeError(f"authorization {authzr.uri} is {body.get('status')}: {body}")
        marks.append(time.perf_counter())
        response = self.acme._post(orderr.body.finalize, messages.CertificateRequest(
            csr=x509.load_pem_x509_csr(csr_pem)))
        body = response.json()
        finalize_status = body.get("status")
        marks.append(time.perf_counter())
        polls = 0
        if not (finalize_status == "valid" and body.get("certificate")):
            def done(b):
                nonlocal polls
                polls += 1
                if b.get("status") == "invalid":
                    raise RuntimeError(f"order invalid: {b.get('error')}")
                return b.get("status") == "valid" and bool(b.get("certificate"))
            body = self.poll(orderr.uri, done, deadline)
        marks.append(time.perf_counter())
        chain = self.acme._post_as_get(body["certificate"]).text
        marks.append(time.perf_counter())
        if "BEGIN CERTIFICATE" not in chain:
            raise RuntimeError(f"the certificate download is not PEM: {chain[:200]}")
        return {"steps": dict(zip(STEPS, (b - a for a, b in zip(marks, marks[1:])))),
                "finalize": finalize_status, "polls": polls, "pem": chain}


def _check_leaf(chain: str, name: str) -> None:
    leaf = x509.load_pem_x509_certificate(chain.encode())
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.DNSName)
    if name not in names:
        raise RuntimeError(f"the certificate names {names}, not {name}")


def wait_authorized(spec: dict, timeout: float = 90.0) -> tuple[float, int]:
    """Until a new order's authorization is valid at once: enrollment learns of the domain's DCV from domains'
    events (its own read model, a follower), a moment after the DCV page answered. (seconds, orders made)"""
    bench = BenchClient(spec)
    started = time.monotonic()
    for attempt in range(1, 10_000):
        orderr = bench.acme.new_order(make_csr(f"ready{attempt}-{spec['tag']}.{spec['domain']}"))
        if all(a.body.status == messages.STATUS_VALID for a in orderr.authorizations):
            return time.monotonic() - started, attempt
        if time.monotonic() - started > timeout:
            break
        time.sleep(0.5)
    raise RuntimeError(f"new orders' authorizations still not valid at once {timeout:.0f} s after the DCV")


def probe(spec: dict, repeat: int) -> dict:
    """One client, one request at a time: p50 ms of GET directory, of POST-as-GET of an order (an authenticated
    read: JWS check, nonce, the order's state) and of a whole certificate, `repeat` times each. What one request
    costs the server when nothing else from this bench runs."""
    bench = BenchClient(spec)
    orderr = bench.acme.new_order(make_csr(f"probe-{spec['tag']}.{spec['domain']}"))
    out: dict[str, list[float]] = {"GET directory": [], "POST-as-GET order": [], "newOrder": [], "certificate": []}
    for n in range(repeat):
        started = time.perf_counter()
        bench.net.get(spec["directory"])
        out["GET directory"].append(time.perf_counter() - started)
        started = time.perf_counter()
        bench.acme._post_as_get(orderr.uri)
        out["POST-as-GET order"].append(time.perf_counter() - started)
        csr = make_csr(f"probe{n}-{spec['tag']}.{spec['domain']}")
        started = time.perf_counter()
        got = bench.obtain(csr)
        out["certificate"].append(time.perf_counter() - started)
        out["newOrder"].append(got["steps"]["order"])
    return {k: rank([v * 1000 for v in values], 0.5) for k, values in out.items()}


def client_process(spec: dict, number: int, barrier, ready, tickets, results) -> None:
    """One client OS process: register, one warm-up certificate, wait at the barrier, then take tickets."""
    try:
        bench = BenchClient(spec)
        warm = f"w{number}-{spec['tag']}.{spec['domain']}"
        _check_leaf(bench.obtain(make_csr(warm))["pem"], warm)
    except Exception as exc:  # noqa: BLE001 — the parent prints why this client could not start
        results.put({"client": number, "setup_error": f"{exc!r}\n{traceback.format_exc()[-1500:]}"})
        barrier.abort()
        return
    with ready.get_lock():
        ready.value += 1
    try:
        barrier.wait(timeout=300)
    except Exception:  # noqa: BLE001 — another client failed its set-up
        results.put({"client": number, "setup_error": "barrier broken"})
        return
    released = time.time()
    cpu_before = sum(os.times()[:2])
    deadline = time.monotonic() + spec["duration"]
    rows, failures = [], []
    while time.monotonic() < deadline and len(failures) < 10:
        with tickets.get_lock():
            ticket = tickets.value
            if ticket >= spec["count"]:
                break
            tickets.value += 1
        name = f"c{ticket}-{spec['tag']}.{spec['domain']}"
        csr = make_csr(name)
        started = time.time()
        try:
            got = bench.obtain(csr)
            if ticket == 0:
                _check_leaf(got["pem"], name)
        except Exception as exc:  # noqa: BLE001 — a failed certificate is counted and shown, the loop goes on
            failures.append(f"{name}: {exc!r}"[:600])
            continue
        del got["pem"]
        rows.append({"started": started, "ended": time.time(), **got})
    results.put({"client": number, "released": released, "rows": rows, "failures": failures,
                 "cpu": sum(os.times()[:2]) - cpu_before})


def run_point(spec: dict, clients: int, count: int, duration: float, before_release=None) -> dict:
    """`clients` client processes against one server; the point's summary. before_release() runs once every
    client is registered and warm, just before they are released (its value: the row's "before")."""
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(clients + 1)
    tickets, ready = ctx.Value("i", 0), ctx.Value("i", 0)
    results = ctx.Queue()
    spec = {**spec, "count": count, "duration": duration}
    procs = [ctx.Process(target=client_process, args=(spec, n, barrier, ready, tickets, results), daemon=True)
             for n in range(clients)]
    for proc in procs:
        proc.start()
    outcome: list[dict] = []
    try:
        deadline = time.monotonic() + 300
        while ready.value < clients and not barrier.broken and time.monotonic() < deadline:
            time.sleep(0.05)
        before = before_release() if before_release and not barrier.broken else None
        try:
            barrier.wait(timeout=300)
        except Exception:  # noqa: BLE001 — a client failed: collect what it said
            pass
        released = time.perf_counter()
        while len(outcome) < clients:
            try:
                outcome.append(results.get(timeout=duration + ORDER_TIMEOUT + 330))
            except queue.Empty:
                break
    finally:
        for proc in procs:
            proc.join(10)
            if proc.is_alive():
                proc.kill()
                proc.join()
    setup = [r["setup_error"] for r in outcome if "setup_error" in r]
    if setup or len(outcome) < clients:
        raise RuntimeError(f"{spec['server']}: {len(setup)} client(s) failed to start, "
                           f"{clients - len(outcome)} never answered: " + "\n".join(setup[:2]))
    rows = [row for r in outcome for row in r["rows"]]
    failures = [f for r in outcome for f in r["failures"]]
    span = (max(r["ended"] for r in rows) - min(r["started"] for r in rows)) if rows else float("nan")
    per_cert = [(r["ended"] - r["started"]) * 1000 for r in rows]
    steps = {name: [r["steps"][name] * 1000 for r in rows] for name in STEPS}
    answers: dict[str, int] = {}
    for r in rows:
        answers[r["finalize"]] = answers.get(r["finalize"], 0) + 1
    return {"server": spec["server"], "clients": clients, "ok": len(rows), "failed": len(failures),
            "failures": failures[:3], "span": span, "rps": len(rows) / span if rows and span > 0 else float("nan"),
            "p50": rank(per_cert, 0.50), "p95": rank(per_cert, 0.95), "max": max(per_cert, default=float("nan")),
            "steps": {k: rank(v, 0.50) for k, v in steps.items()}, "finalize": answers,
            "polls": sum(r["polls"] for r in rows), "client_cpu": sum(r["cpu"] for r in outcome),
            "before": before, "window": time.perf_counter() - released}


# ---- pebble -------------------------------------------------------------------------------------------------

def ensure_pebble() -> tuple[str | None, str]:
    if Path("/usr/bin/pebble").exists():
        return "/usr/bin/pebble", "installed"
    print("  /usr/bin/pebble is missing: running `apt-get install -y pebble`", flush=True)
    try:
        done = subprocess.run(["apt-get", "install", "-y", "pebble"], capture_output=True, text=True, timeout=600,
                              env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"apt-get install pebble failed: {exc!r}"
    if done.returncode != 0 or not Path("/usr/bin/pebble").exists():
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["?"]
        return None, f"apt-get install pebble exited {done.returncode}: {tail[0][:200]}"
    return "/usr/bin/pebble", "installed now with apt-get"


def throwaway_tls(directory: Path) -> tuple[Path, Path, Path]:
    """A CA and a leaf for 127.0.0.1 / localhost signed by it: (ca.pem, cert.pem, key.pem)."""
    import ipaddress
    now = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench-acme throwaway CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now)
          .not_valid_after(now + dt.timedelta(days=2))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    leaf = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])).issuer_name(ca_name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                         x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = directory / "ca.pem", directory / "cert.pem", directory / "key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return paths


class Pebble(issue.PeerProcess):
    NAME = "pebble"
    ENV = {"PEBBLE_VA_ALWAYS_VALID": "1", "PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0"}

    def __init__(self, binary: str, workdir: Path):
        self.dir = workdir / "pebble"
        self.dir.mkdir()
        self.ca_file, cert, key = throwaway_tls(self.dir)
        self.port = free_port()
        (self.dir / "config.json").write_text(json.dumps({"pebble": {
            "listenAddress": f"127.0.0.1:{self.port}", "managementListenAddress": f"127.0.0.1:{free_port()}",
            "certificate": str(cert), "privateKey": str(key), "httpPort": free_port(), "tlsPort": free_port(),
            "ocspResponderURL": "", "externalAccountBindingRequired": False}}))
        self.directory = f"https://127.0.0.1:{self.port}/dir"
        self.log = workdir / "pebble.log"
        self.args = [binary, "-config", str(self.dir / "config.json")]
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 30.0) -> float:
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(self.args, cwd=self.dir, stdout=out, stderr=subprocess.STDOUT,
                                         env={**os.environ, **self.ENV})
        started, last = time.monotonic(), None
        while time.monotonic() - started < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"pebble exited with {self.proc.returncode}: {self.tail()}")
            try:
                if requests.get(self.directory, verify=str(self.ca_file), timeout=3).status_code == 200:
                    return time.monotonic() - started
            except requests.RequestException as exc:
                last = type(exc).__name__
            time.sleep(0.1)
        raise RuntimeError(f"pebble not answering after {timeout:.0f} s (last: {last}): {self.tail()}")



# ---- Certplane ------------------------------------------------------------------------------------------------

def validate_by_email(s: requests.Session, base_url: str, domain: dict, timeout: float = 60.0) -> None:
    """Email DCV as an administrator does it (tests/e2e/conftest.py's validate_by_email over REST): start it,
    read the code from notify's outbox, enter it on the public page."""
    mailbox = f"hostmaster@{domain['name']}"
    issue.call(s, "POST", f"{base_url}/api/v1/domains/{domain['domain_id']}/dcv", 201,
               json={"method": "email", "email_address": mailbox})
    deadline, mail = time.monotonic() + timeout, None
    while mail is None:
        items = issue.call(s, "GET", f"{base_url}/api/v1/outbox", 200, params={"size": 200}).json()["items"]
        mail = next((m for m in items if m["to"] == mailbox), None)
        if mail is None:
            if time.monotonic() > deadline:
                raise RuntimeError(f"no DCV mail to {mailbox} in notify's outbox after {timeout:.0f} s")
            time.sleep(0.2)
    link = re.search(r"(https?://\S+/dcv/[0-9a-f-]{36})", mail["text"]).group(1)
    code = re.search(r"Code: (\S+)", mail["text"]).group(1)
    answer = requests.post(base_url + "/dcv/" + link.split("/dcv/", 1)[1], json={"code": code}, timeout=60)
    if answer.status_code != 200 or not answer.json().get("validated"):
        raise RuntimeError(f"email DCV not validated: {answer.status_code} {answer.text[:300]}")


def set_up_acme(base_url: str, token: str) -> dict:
    """The organization, the domain delegated and validated, the ACME account with its EAB credentials."""
    with requests.Session() as s:
        s.headers["Authorization"] = f"Bearer {token}"
        org_id = issue.call(s, "POST", f"{base_url}/api/v1/organizations", 201, json=ORG).json()["organization_id"]
        domain = issue.call(s, "POST", f"{base_url}/api/v1/domains", 201, json={"name": DOMAIN, "delegations": [
            {"organization_id": org_id, "cert_types": ["ssl"]}]}).json()
        validate_by_email(s, base_url, domain)
        deadline = time.monotonic() + 60
        while True:         # enrollment makes the default profiles on its first timer tick
            items = issue.call(s, "GET", f"{base_url}/api/v1/profiles", 200).json()["items"]
            profile = next((p for p in items if p["name"] == "Private TLS Server"), None)
            if profile is not None:
                break
            if time.monotonic() > deadline:
                raise RuntimeError("no default profile 'Private TLS Server' after 60 s")
            time.sleep(0.3)
        account = issue.call(s, "POST", f"{base_url}/api/v1/acme-accounts", 201, json={
            "name": "bench", "organization_id": org_id, "profile_ids": [profile["profile_id"]]}).json()
    return {"organization_id": org_id, "domain": domain, "profile": profile, "account": account}


def write_config(workdir: Path, dns_address: str) -> dict:
    """certplane.yaml in the services' working directory (bench/issue.py's environment stays as it is)."""
    config = {"dns_resolver": dns_address, "acme_orders_per_account_hour": 1_000_000,
              "acme_orders_per_org_hour": 1_000_000}
    (workdir / "certplane.yaml").write_text(json.dumps(config))     # JSON is YAML
    return config


@contextlib.contextmanager
def rabbit_vhost_ctl(tag: str):
    """http_latency.rabbit_vhost's vhost made with rabbitmqctl, for a broker whose management API is not enabled
    (the same vhost and permissions for guest; deleted afterwards). bench/issue.py's certplane() uses it then."""
    vhost = f"certplane-bench-{tag}"

    def ctl(*words: str) -> None:
        done = subprocess.run(["rabbitmqctl", *words], capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"rabbitmqctl {' '.join(words)}: {done.stderr.strip()[-300:]}")

    ctl("add_vhost", vhost)
    try:
        ctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        yield f"{http_latency.RABBIT_AMQP}/{quote(vhost, safe='')}"
    finally:
        ctl("delete_vhost", vhost)


def pg_counters(database: str) -> dict:
    """PostgreSQL's counters for one database (pg_stat_database, and pg_stat_user_tables per table; the backends
    flush them about once a second)."""
    import psycopg
    with psycopg.connect(http_latency.PG_ADMIN, autocommit=True, connect_timeout=5) as conn:
        row = conn.execute("SELECT xact_commit + xact_rollback, tup_inserted, tup_updated, tup_deleted, tup_returned "
                           "FROM pg_stat_database WHERE datname = %s", (database,)).fetchone()
    own = urlunsplit(urlsplit(http_latency.PG_ADMIN)._replace(path=f"/{database}"))
    with psycopg.connect(own, autocommit=True, connect_timeout=5) as conn:
        tables = {f"{schema}.{name}": (seq, seq_read or 0, idx or 0, idx_fetch or 0) for schema, name, seq, seq_read,
                  idx, idx_fetch in conn.execute("SELECT schemaname, relname, seq_scan, seq_tup_read, idx_scan, "
                                                 "idx_tup_fetch FROM pg_stat_user_tables")}
    return {**dict(zip(("transactions", "rows inserted", "rows updated", "rows deleted", "rows returned"), row)),
            "tables": tables}


def pg_delta(before: dict, after: dict) -> dict:
    out = {k: after[k] - before[k] for k in after if k != "tables"}
    out["tables"] = {name: tuple(a - b for a, b in zip(values, before["tables"].get(name, (0, 0, 0, 0))))
                     for name, values in after["tables"].items()}
    return out


def management_api_answers() -> bool:
    try:
        return requests.get(f"{http_latency.RABBIT_API}/overview", auth=http_latency.RABBIT_AUTH,
                            timeout=5).status_code == 200
    except requests.RequestException:
        return False


# ---- (a) -------------------------------------------------------------------------------------------------------

@contextlib.contextmanager
def limit_pool(cores: int, csr_count: int):
    """bench/issue.py's (a): its CA, CSRs and warmed pool (initializer issue._worker_init)."""
    csrs = issue.make_csrs(csr_count)
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(cores + 1)
    pool = ctx.Pool(cores, initializer=issue._worker_init, initargs=(issue.bench_ca(), csrs, barrier))
    try:
        barrier.wait(timeout=180)
        yield lambda count: issue.limit_run(pool, count, len(csrs))
    finally:
        pool.terminate()
        pool.join()


# ---- the report -------------------------------------------------------------------------------------------------

def print_table(rows: list[dict], a_rps: float) -> None:
    print(f"\n{'server':<10} {'clients':>7} {'certs/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'ok':>5} "
          f"{'fail':>5} {'(a) ratio':>9}   step p50 ms: " + " / ".join(STEPS) + "   finalize answered")
    print("-" * 150)
    for r in rows:
        steps = " / ".join(f"{r['steps'][k]:.1f}" for k in STEPS)
        answered = ", ".join(f"{k} {v}" for k, v in sorted(r["finalize"].items()))
        print(f"{r['server']:<10} {r['clients']:>7} {r['rps']:>8.2f} {r['p50']:>8.1f} {r['p95']:>8.1f} "
              f"{r['max']:>8.1f} {r['ok']:>5} {r['failed']:>5} {r['rps'] / a_rps:>9.3f}   {steps}   {answered}"
              + (f" (then {r['polls']} order polls)" if r["polls"] else ""))
    print("-" * 150)


def report(rows: list[dict], limits: list[dict], cores: int, args, cpu: dict, probes: dict, pg: dict) -> None:
    if not rows and not limits:
        return
    a_rps = statistics.mean(r["rps"] for r in limits) if limits else float("nan")
    print_table(rows, a_rps)
    print("certs/s: certificates / (first newOrder -> last certificate downloaded); p50/p95/max: newOrder -> "
          "certificate downloaded (nearest rank); steps: order = newOrder + its authorizations' POST-as-GET, "
          "authz = challenge answered + polled (0 when valid at once), finalize, poll = order polls until valid, "
          "download = the certificate's POST-as-GET")
    if limits:
        print(f"(a) in-process lint + sign on {cores} processes (bench/issue.py): {a_rps:.1f} certs/s, mean of "
              f"{len(limits)} runs of {args.limit_certs} ({', '.join(format(r['rps'], '.1f') for r in limits)}; "
              f"lint errors {sum(r['failed'] for r in limits)}; other jobs used "
              f"{', '.join(format(r['other'], '.0%') for r in limits)} of a core meanwhile)")
    by = {(r["server"], r["clients"]): r for r in rows}
    for clients in sorted({r["clients"] for r in rows}):
        cp, pb = by.get(("certplane", clients)), by.get(("pebble", clients))
        if cp and pb:
            print(f"Certplane / pebble at {clients} client(s): {cp['rps'] / pb['rps']:.3f} certs/s "
                  f"({cp['rps']:.2f} / {pb['rps']:.2f}); p50 {cp['p50']:.1f} / {pb['p50']:.1f} ms")
    top, low = by.get(("certplane", 4)), by.get(("certplane", 1))
    if top and limits:
        ratio = top["rps"] / a_rps
        print(f"target 1: Certplane >= {TARGET:.0%} of (a) at 4 clients: "
              + (f"met ({ratio:.1%})" if ratio >= TARGET else
                 f"NOT met — {ratio:.1%} of (a), {TARGET / ratio:.1f}x short ({TARGET * a_rps:.1f} certs/s needed, "
                 f"{top['rps']:.2f} measured)"))
    if low:
        print(f"target 2: p95 per certificate < {P95_TARGET_MS:.0f} ms at 1 client: "
              + ("met" if low["p95"] < P95_TARGET_MS else "NOT met") + f" — {low['p95']:.1f} ms over {low['ok']} "
              "certificates")
    for server, values in probes.items():
        print(f"probe, {server}, one request at a time, p50 of {args.probe}: "
              + ", ".join(f"{k} {v:.1f} ms" for k, v in values.items()))
    for server, (total, certs, wall) in cpu.items():
        machine = total.pop("machine", 0.0)
        print(f"\nCPU during {server}'s {args.top}-client point ({certs} certificates, {wall:.1f} s): ms per "
              "certificate, and share of one core")
        known = sum(total.values())
        for name, seconds in sorted(total.items(), key=lambda kv: -kv[1]):
            print(f"  {name:<13} {seconds * 1000 / certs:8.1f} ms/cert  {seconds / wall:6.0%}")
        print(f"  {'other':<13} {(machine - known) * 1000 / certs:8.1f} ms/cert  {(machine - known) / wall:6.0%}"
              "   (machine busy time minus the above: other jobs)")
        server_ms = sum(v for k, v in total.items() if k != "acme clients") * 1000 / certs
        server_share = sum(v for k, v in total.items() if k != "acme clients") / wall
        print(f"  {server} in all (without the clients): {server_ms:.1f} ms of CPU per certificate, "
              f"{server_share:.0%} of one core -> at most {cores * 1000 / server_ms:.1f} certs/s on {cores} idle "
              "cores")
        if server in pg:
            counts, certs = pg[server]
            tables = counts.pop("tables")
            print(f"  PostgreSQL per certificate (pg_stat_database of its database, every service's schema): "
                  + ", ".join(f"{v / certs:.1f} {k}" for k, v in counts.items()))
            busiest = sorted(tables.items(), key=lambda kv: -(kv[1][1] + kv[1][3]))[:6]
            print("  tables read most, per certificate (sequential scans / rows they read; index scans / rows "
                  "fetched): " + "; ".join(f"{name} {seq / certs:.1f} / {read / certs:.0f}; {idx / certs:.1f} / "
                                           f"{fetched / certs:.0f}" for name, (seq, read, idx, fetched) in busiest))


# ---- main -------------------------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", default="1,4", help="comma-separated client process counts")
    parser.add_argument("--count", type=int, default=100, help="certificates per point (or --duration first)")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds per point at most")
    parser.add_argument("--warmup", type=int, default=5, help="certificates per server at 1 client, not counted")
    parser.add_argument("--limit-certs", type=int, default=400, help="certificates per (a) run")
    parser.add_argument("--skip-pebble", action="store_true")
    parser.add_argument("--skip-certplane", action="store_true")
    parser.add_argument("--skip-limit", action="store_true", help="no (a)")
    parser.add_argument("--probe", type=int, default=20,
                        help="sequential requests per kind for the per-request probe after the points (0: none)")
    parser.add_argument("--keep-logs", action="store_true")
    args = parser.parse_args(argv)
    counts = [int(c) for c in args.clients.split(",") if c.strip()]
    args.top = max(counts)
    cores = os.cpu_count() or 1
    tag = secrets.token_hex(3)
    workdir = Path(tempfile.mkdtemp(prefix="certplane-bench-acme-"))
    print(f"bench/acme.py — {time.strftime('%Y-%m-%d %H:%M:%S %Z')} — {cores} CPUs, load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}; the Python acme library {acme_version()} in "
          f"1 process per client, clients {counts}, {args.count} certificates or {args.duration:.0f} s per point",
          flush=True)
    rows: list[dict] = []
    limits: list[dict] = []
    cpu: dict[str, tuple[dict, int, float]] = {}
    probes: dict[str, dict] = {}
    pg: dict[str, tuple[dict, int]] = {}
    notes: list[str] = []
    processes: dict[str, Process] = {}
    failed = False
    pebble: Pebble | None = None
    started_at = time.monotonic()
    try:
        with contextlib.ExitStack() as stack:
            limit = None
            if not args.skip_limit:
                limit = stack.enter_context(limit_pool(cores, 200))
                limits.append(limit(args.limit_certs))
                print(f"  (a) {limits[-1]['rps']:.1f} certs/s ({cores} workers, {args.limit_certs} certificates)",
                      flush=True)
            specs = {}
            if not args.skip_pebble:
                binary, how = ensure_pebble()
                if binary is None:
                    print(f"  pebble SKIPPED: {how}", flush=True)
                else:
                    pebble = Pebble(binary, workdir)
                    waited = pebble.start()
                    version = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "pebble"],
                                             capture_output=True, text=True).stdout.strip()
                    print(f"  pebble {version or '?'} ({how}) answering {pebble.directory} after {waited:.1f} s",
                          flush=True)
                    specs["pebble"] = {"server": "pebble", "directory": pebble.directory,
                                       "verify": str(pebble.ca_file), "domain": DOMAIN}
            if not args.skip_certplane:
                import warnings
                warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
                from tests.dns_server import DnsServer
                if not management_api_answers() and shutil.which("rabbitmqctl"):
                    print(f"  RabbitMQ's management API does not answer at {http_latency.RABBIT_API}: the vhost is "
                          "made with rabbitmqctl instead", flush=True)
                    issue.rabbit_vhost = rabbit_vhost_ctl     # the name bench/issue.py's certplane() calls
                dns = stack.enter_context(DnsServer())
                config = write_config(workdir, dns.address)
                cp = stack.enter_context(issue.certplane(workdir, notes, processes))
                waited = cp.add("notify", "notify")
                world = set_up_acme(cp.base_url, cp.token)
                directory = f"{issue.BASE_URL}/acme/directory"
                print(f"  certplane: {cp.base_url} (notify ready after {waited:.1f} s); certplane.yaml {config}; "
                      f"organization, {DOMAIN} validated by email DCV, ACME account "
                      f"{world['account']['acme_account_id']} (EAB kid "
                      f"{world['account']['eab']['kid']}), profile {world['profile']['name']}; {directory} "
                      f"routed to {cp.base_url}", flush=True)
                specs["certplane"] = {"server": "certplane", "directory": directory, "verify": True,
                                      "route": (issue.BASE_URL, cp.base_url), "eab": world["account"]["eab"],
                                      "domain": DOMAIN}
                waited, orders = wait_authorized({**specs["certplane"], "tag": tag})
                print(f"  certplane: authorizations valid at once {waited:.1f} s after the DCV ({orders} order(s) "
                      "tried)", flush=True)
            for server, spec in specs.items():
                warm = run_point({**spec, "tag": f"{tag}-warm"}, 1, args.warmup, args.duration)
                print(f"  warm-up {server}: {warm['ok']} certificates at 1 client, {warm['rps']:.2f}/s"
                      + (f", {warm['failed']} failed: {warm['failures']}" if warm["failed"] else ""), flush=True)
            for clients in counts:
                for server, spec in specs.items():
                    snapshot = None
                    if clients == args.top and server == "certplane":
                        database = cp.database_url.rsplit("/", 1)[1]

                        def snapshot():
                            time.sleep(1.5)      # PostgreSQL's backends flush their counters about once a second
                            return issue.cpu_snapshot(processes), pg_counters(database)
                    elif clients == args.top:
                        def snapshot():
                            return {"pebble": issue.proc_cpu(pebble.proc.pid), "machine": issue.machine_busy()}, None
                    row = run_point({**spec, "tag": f"{tag}-{clients}"}, clients, args.count, args.duration,
                                    snapshot)
                    if row.get("before") is not None:
                        before, pg_before = row.pop("before")
                        after = (issue.cpu_snapshot(processes) if server == "certplane" else
                                 {"pebble": issue.proc_cpu(pebble.proc.pid), "machine": issue.machine_busy()})
                        total = {k: after[k] - before[k] for k in after}
                        total.pop("bench client", None)
                        total["acme clients"] = row["client_cpu"]
                        cpu[server] = (total, row["ok"], row["window"])
                        if pg_before is not None:
                            time.sleep(1.5)
                            pg_after = pg_counters(database)
                            pg[server] = (pg_delta(pg_before, pg_after), row["ok"])
                    rows.append(row)
                    print(f"  {server} at {clients} client(s): {row['rps']:.2f} certs/s, p50 {row['p50']:.1f} ms, "
                          f"p95 {row['p95']:.1f} ms, {row['ok']} ok, {row['failed']} failed; load average "
                          f"{os.getloadavg()[0]:.2f}", flush=True)
            for server, spec in specs.items() if args.probe else ():
                probes[server] = probe({**spec, "tag": f"{tag}-probe"}, args.probe)
                print(f"  probe {server}: " + ", ".join(f"{k} {v:.1f} ms" for k, v in probes[server].items()),
                      flush=True)
            if limit is not None:
                limits.append(limit(args.limit_certs))
                print(f"  (a) again: {limits[-1]['rps']:.1f} certs/s", flush=True)
    except BaseException:
        failed = True
        raise
    finally:
        if pebble is not None:
            notes.append(pebble.stop())
        report(rows, limits, cores, args, cpu, probes, pg)
        for row in rows:
            for failure in row["failures"]:
                print(f"failure ({row['server']}, {row['clients']} clients): {failure}")
        for note in notes:
            print(note)
        for process in processes.values():
            problems = process.problems()
            if problems:
                print(f"\n{process.name}: {sum(n for n, _ in problems)} error line(s) in its log, by kind:")
                for count, problem in problems[:8]:
                    print(f"  {count:>5} x {problem}")
        print(f"\nwhole run: {time.monotonic() - started_at:.0f} s")
        if args.keep_logs or failed:
            print(f"logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failed or any(r["failed"] for r in rows) else 0


def acme_version() -> str:
    from importlib.metadata import version
    try:
        return version("acme")
    except Exception:  # noqa: BLE001
        return "?"


if __name__ == "__main__":
    sys.exit(main())
