"""OCSP responses/s from Certplane's `POST /ocsp` against `openssl ocsp` serving the same CA, the same index of
certificates and the same requests, with the same client and concurrency, in the same run.

    .venv/bin/python bench/ocsp.py [--certificates 50] [--revoke-every 3] [--unknown 12] [--requests 1000]
                                   [--warmup 100] [--clients 1,8] [--rounds 3] [--check-every 10]
                                   [--py-spy PATH | --no-profile] [--keep-logs]

**Certplane**: one `certplane run` (embedded mode, as tests/e2e/conftest.Embedded starts it: its own temporary
CERTPLANE_VAR_DIR, free HTTP and health ports, CERTPLANE_PUBLIC_BASE_URL=http://pki.bench.example.com so the
leaves' CRL/OCSP links lint). The script logs in as the initial MRAO (var/initial-admin.txt, first-login password
change done; the MRAO holds every privilege, so requests are issued at once), creates an organization and the
domain ocsp-bench.example.com delegated to it for ssl, and issues `--certificates` certificates through
`POST /api/v1/ssl` (profile "Private TLS Server", 90 days) from P-256 CSRs made here, then revokes every
`--revoke-every`-th through `POST /api/v1/ssl/<id>/revoke`, cycling over the reasons both responders can name
(unspecified, key_compromise, affiliation_changed, superseded, cessation_of_operation; `openssl ocsp` has no name
for privilege_withdrawn).

**openssl** (the baseline): `openssl ocsp -index index.txt -port P -rsigner issuing.pem -rkey issuing.key
-CA issuing.pem -ignore_err -nmin 720 -resp_no_certs -resp_key_id -rmd sha256` (-nrequest left at its default,
unlimited). The issuing CA's certificate and private key are Certplane's own: the key is read, for this benchmark
only, from Certplane's key store the way the ca service reads it — `KeyStore(make_database(<var>/ca.sqlite3),
load_kek(None, var, True)).get(key_ref)`, key_ref from the `cas` table of that database — and written to the
temporary directory with mode 0600. index.txt is built from the same database's `certificates` table (status V or
R, notAfter, revocation time and reason, serial in upper-case hex, `unknown`, the subject). The flags make its
answers the shape of Certplane's: nextUpdate 12 h after thisUpdate (OCSP_VALIDITY), no certificates in the
response (the issuing CA signs its own responses), responder ID by key hash, ECDSA with SHA-256.
`openssl ocsp` without -multi is ONE process that accepts and answers one connection at a time, and it answers
HTTP/1.0 and closes the connection after each response, so every request of either client pays a new TCP
connection to it; Certplane keeps connections alive.

**The requests**: one DER OCSPRequest per issued certificate (good or revoked) plus `--unknown` serials never
issued (159 random bits, the same issuer hashes), each a single CertID with SHA-1 hashes, as `openssl ocsp -issuer
-cert` sends, and no nonce, so neither server has per-request input the other lacks. Built once, before the load.

**What answers on Certplane's side**: the gateway keeps each signed answer to a request without a nonce and answers
it again, from memory, while the serial's status in its certificate-status read model (a follower of ca's events)
is the one signed and half its validity has not passed (gateway/ocsp.py); the check happens before nameko routes
the request. A request it cannot answer so goes to `ca.ocsp` by RPC, which signs. So after the first answer to
each of the requests below, the load measures the gateway's kept answers; the ca signs only the first time.

**Checked before the load, on every request and both servers, twice** (on Certplane the first time answered by
the ca, the second by the gateway's kept answer, whose bytes must equal the first's — the ca's ECDSA signatures
differ every time, so equal bytes mean kept; how many were is printed): HTTP 200, application/ocsp-response,
status SUCCESSFUL, the serial asked about, good / revoked (time to the second and reason) / unknown as the index
says, a signature that verifies with the issuing CA's key, responder key hash = the CA's, nextUpdate - thisUpdate
= 12 h.
During the load, each response must be HTTP 200 with that content type to count, and every `--check-every`-th one
is parsed and its status compared with the expected one (a wrong one counts as a failure and is reported).

**The load**: one Python process (this one) with K threads for each K in `--clients` (default 1 and 8); each
thread has its own requests.Session and POSTs the pre-built DER requests one after another, starting at its own
offset in the list. A third case, `certplane-healthz`, sends `GET /healthz` to the same Certplane with the same
client: a routed answer of the gateway (eventlet.wsgi, werkzeug routing, a nameko worker, a JSON body; no RPC,
database or signature). A kept OCSP answer skips the routing and the worker, so it may cost less. Not in the
target. Each (case, K, round) sends `--requests` requests; cases take turns and their order
rotates each round; `--warmup` requests per server first. Printed per server and K, median over `--rounds`:
responses/s, p50 and p99 latency (nearest rank), the server process's CPU per response (utime+stime from
/proc/<pid>/stat; `net`: less the server's idle CPU rate, measured over 5 s before the rounds, times the run's
wall time — embedded Certplane polls its in-memory broker every 10 ms even when idle) and the client's (this
process's CPU time), failures; then the ratio Certplane / openssl (target: ≥ 1.0×). No assertion on time: the
verdict is printed.

**Where Certplane's time goes**: the steps of the gateway's fast path (`OcspResponder.respond_early`) timed here
in this process with the same functions and the same data, median µs over 500 calls, against the server CPU per
response measured under load: cacheable_cert_id (parse); the status read (`Database.quick_scalar` with the serial
bound, on a `make_database` engine on the gateway's gateway.sqlite3, as OcspProvider does); the cache lookup (a
ResponseCache holding the answers the server gave); the headers; respond_early as a whole on a WSGI environ; and,
for comparison, what a miss adds in the ca: build_ocsp_response with the CA key. (The steps mirror gateway/ocsp.py
as of this commit: change them with it.) Then, unless --no-profile or py-spy is not found (`--py-spy PATH`, else
`py-spy` on PATH), one more run at the highest K with `py-spy record --nonblocking` attached to the Certplane
process: its samples grouped by role (the fast path, the ca's OCSP body and the gateway's handler for misses, the
HTTP server, RPC plumbing, relays, the hub) and by the package of the innermost frame.

At the end both servers get SIGTERM (SIGKILL after 10 s), error lines in Certplane's log are printed if any, and
the temporary directory is removed (kept with --keep-logs or on failure).
"""
from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import os
import platform
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))                  # services.*, when run as `python bench/ocsp.py`
sys.path.insert(0, str(ROOT / "bench"))        # bench/auth.py: the embedded-server helpers

import cryptography  # noqa: E402
from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec, padding  # noqa: E402
from cryptography.x509 import ocsp  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402

from auth import CERTPLANE, CLK_TCK, Server, call, first_login, free_port  # noqa: E402
from load import rank_ms, run_clients  # noqa: E402

TARGET = 1.0
DOMAIN = "ocsp-bench.example.com"
PUBLIC_BASE_URL = "http://pki.bench.example.com"
OCSP_VALIDITY_S = 12 * 3600
REASONS = ("key_compromise", "superseded", "cessation_of_operation", "affiliation_changed", "unspecified")
OPENSSL_REASON = {"key_compromise": "keyCompromise", "superseded": "superseded",
                  "cessation_of_operation": "cessationOfOperation", "affiliation_changed": "affiliationChanged",
                  "unspecified": None}
STATUS = {"good": ocsp.OCSPCertStatus.GOOD, "revoked": ocsp.OCSPCertStatus.REVOKED,
          "unknown": ocsp.OCSPCertStatus.UNKNOWN}
OCSP_MIME = "application/ocsp-response"
STOP_GRACE = 10.0
FLOOR = "certplane-healthz"
IDLE_WINDOW = 5.0


def cpu_of(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


# ---- the openssl responder --------------------------------------------------------------------------------

class OpensslResponder:
    """`openssl ocsp` as a server on a free port, its output in workdir/openssl-ocsp.log."""

    name = "openssl"

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log = workdir / "openssl-ocsp.log"
        self.command = ["openssl", "ocsp", "-index", str(workdir / "index.txt"), "-port", str(self.port),
                        "-rsigner", str(workdir / "issuing.pem"), "-rkey", str(workdir / "issuing.key"),
                        "-CA", str(workdir / "issuing.pem"), "-ignore_err", "-nmin", str(OCSP_VALIDITY_S // 60),
                        "-resp_no_certs", "-resp_key_id", "-rmd", "sha256"]
        self.proc: subprocess.Popen | None = None

    def start(self) -> "OpensslResponder":
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(self.command, cwd=self.workdir, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"openssl ocsp exited with {self.proc.returncode}: {self.log.read_text()[-2000:]}")
            # not a probe connection: the single-connection server would wait on it for a request
            if "waiting for OCSP client connections" in self.log.read_text(errors="replace"):
                return self
            time.sleep(0.1)
        raise RuntimeError("openssl ocsp did not say it is waiting for connections within 30 s")

    def cpu_seconds(self) -> float:
        return cpu_of(self.proc.pid)

    def stop(self) -> str:
        if self.proc is None or self.proc.poll() is not None:
            return f"openssl: already exited ({self.proc.returncode if self.proc else 'never started'})"
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(STOP_GRACE)
            return "openssl: stopped on SIGTERM"
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return "openssl: killed"


# ---- Certplane: data through the API ----------------------------------------------------------------------

def make_csr(name: str) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
           .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
           .sign(key, hashes.SHA256()))
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def populate(server: Server, token: str, certificates: int, revoke_every: int) -> dict:
    """Organization, domain, `certificates` issued certificates, every `revoke_every`-th revoked.
    {serial (int): reason or None} for the issued ones."""
    with requests.Session() as s:
        s.headers["Authorization"] = f"Bearer {token}"
        base = server.base_url
        org = call(s, "POST", f"{base}/api/v1/organizations", 201, json={
            "name": "OCSP Bench Org", "address1": "1 Main St", "city": "Berlin", "state": "Berlin",
            "country": "DE"}).json()["organization_id"]
        call(s, "POST", f"{base}/api/v1/domains", 201, json={
            "name": DOMAIN, "delegations": [{"organization_id": org, "cert_types": ["ssl"]}]})
        deadline = time.monotonic() + 30
        profiles = []
        while not profiles and time.monotonic() < deadline:
            profiles = [p for p in call(s, "GET", f"{base}/api/v1/profiles", 200).json()["items"]
                        if p["name"] == "Private TLS Server"]
            if not profiles:
                time.sleep(0.2)
        if not profiles:
            raise RuntimeError("no 'Private TLS Server' profile after 30 s")
        issued = {}
        for n in range(certificates):
            name = f"host{n}.{DOMAIN}"
            found = call(s, "POST", f"{base}/api/v1/ssl", 201, json={
                "organization_id": org, "profile_id": profiles[0]["profile_id"], "term_days": 90,
                "csr": make_csr(name)}).json()
            if found["status"] != "issued":
                raise RuntimeError(f"{name}: status {found['status']}, expected issued at once")
            issued[int(found["serial"], 16)] = None
            if n % revoke_every == revoke_every - 1:
                reason = REASONS[(n // revoke_every) % len(REASONS)]
                call(s, "POST", f"{base}/api/v1/ssl/{found['ssl_id']}/revoke", 200, json={"reason": reason})
                issued[int(found["serial"], 16)] = reason
    return issued


def read_ca(var_dir: Path, workdir: Path) -> dict:
    """The issuing CA (certificate, key) and its certificates, from the ca service's own database and key store
    (benchmark only). Writes issuing.pem, issuing.key (0600), index.txt and index.txt.attr into workdir."""
    import sqlalchemy as sa
    from services.ca.adapters.keystore import KeyStore, load_kek
    from services.ca.projections import CaView
    from services.runtime.db import make_database
    from services.runtime.events import utc

    db = make_database(f"sqlite:///{(var_dir / 'ca.sqlite3').resolve()}", None)
    view = CaView(sa.MetaData())
    try:
        with db.engine.connect() as conn:
            cas = [ca for ca in view.all_cas(conn) if ca["kind"] == "issuing"]
            if len(cas) != 1:
                raise RuntimeError(f"expected one issuing CA, found {len(cas)}")
            ca = cas[0]
            rows = [dict(r) for r in conn.execute(sa.select(view.certificates).where(
                view.certificates.c.ca_id == ca["ca_id"])).mappings()]
        key = KeyStore(db, load_kek(None, str(var_dir), True)).get(ca["key_ref"])
    finally:
        db.dispose()
    cert = x509.load_pem_x509_certificate(ca["certificate_pem"].encode())
    (workdir / "issuing.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    fd = os.open(workdir / "issuing.key", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()))
    index = {}
    lines = []
    for row in rows:
        serial = int(row["serial"], 16)
        hex_serial = format(serial, "X")
        hex_serial = "0" + hex_serial if len(hex_serial) % 2 else hex_serial
        expiry = utc(row["not_after"]).strftime("%y%m%d%H%M%SZ")
        subject = "/CN=" + x509.load_pem_x509_certificate(row["certificate_pem"].encode()).subject \
            .get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
        if row["status"] == "revoked":
            revoked_at = utc(row["revoked_at"])
            revoked = revoked_at.strftime("%y%m%d%H%M%SZ")
            if OPENSSL_REASON[row["reason"]]:
                revoked += "," + OPENSSL_REASON[row["reason"]]
            lines.append(f"R\t{expiry}\t{revoked}\t{hex_serial}\tunknown\t{subject}")
            index[serial] = ("revoked", revoked_at.replace(microsecond=0), row["reason"])
        elif row["status"] == "issued":
            lines.append(f"V\t{expiry}\t\t{hex_serial}\tunknown\t{subject}")
            index[serial] = ("good", None, None)
    (workdir / "index.txt").write_text("\n".join(lines) + "\n")
    (workdir / "index.txt.attr").write_text("unique_subject = no\n")
    return {"cert": cert, "key": key, "ca_id": ca["ca_id"], "index": index}


# ---- requests and answers ---------------------------------------------------------------------------------

def build_requests(cert: x509.Certificate, index: dict, unknown: int, seed: int) -> list[dict]:
    """[{"der", "serial", "status"}]: every certificate of the index, then `unknown` never-issued serials."""
    name_hash = hashlib.sha1(cert.subject.public_bytes()).digest()
    key_hash = x509.SubjectKeyIdentifier.from_public_key(cert.public_key()).digest   # sha1 of the key bits
    rng = random.Random(seed)
    serials = [(serial, status) for serial, (status, _, _) in index.items()]
    while len(serials) < len(index) + unknown:
        serial = rng.getrandbits(159)
        if serial and serial not in index:
            serials.append((serial, "unknown"))
    rng.shuffle(serials)
    return [{"der": ocsp.OCSPRequestBuilder().add_certificate_by_hash(name_hash, key_hash, serial, hashes.SHA1())
             .build().public_bytes(serialization.Encoding.DER), "serial": serial, "status": status}
            for serial, status in serials]


def post(session: requests.Session, url: str, der: bytes) -> requests.Response:
    return session.post(url, data=der, headers={"Content-Type": "application/ocsp-request"}, timeout=60)


def quick_check(response: requests.Response, request: dict) -> str | None:
    """What is wrong with a response under load (None: right)."""
    try:
        parsed = ocsp.load_der_ocsp_response(response.content)
        if parsed.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
            return f"response status {parsed.response_status.name}"
        if parsed.serial_number != request["serial"] or parsed.certificate_status != STATUS[request["status"]]:
            return f"serial {parsed.serial_number:x} {parsed.certificate_status.name}, expected {request['status']}"
    except ValueError as exc:
        return f"unparseable: {exc}"
    return None


def full_check(response: requests.Response, request: dict, ca: dict) -> str | None:
    if response.status_code != 200 or response.headers.get("Content-Type", "").split(";")[0] != OCSP_MIME:
        return f"HTTP {response.status_code} {response.headers.get('Content-Type')}"
    wrong = quick_check(response, request)
    if wrong:
        return wrong
    parsed = ocsp.load_der_ocsp_response(response.content)
    public = ca["cert"].public_key()
    try:
        if isinstance(public, ec.EllipticCurvePublicKey):
            public.verify(parsed.signature, parsed.tbs_response_bytes, ec.ECDSA(parsed.signature_hash_algorithm))
        else:
            public.verify(parsed.signature, parsed.tbs_response_bytes, padding.PKCS1v15(),
                          parsed.signature_hash_algorithm)
    except Exception as exc:  # noqa: BLE001 — InvalidSignature or a key/algorithm mismatch: either is wrong
        return f"signature does not verify: {type(exc).__name__}"
    if parsed.responder_key_hash != x509.SubjectKeyIdentifier.from_public_key(public).digest:
        return "responder ID is not the CA's key hash"
    if parsed.next_update_utc is None or \
            (parsed.next_update_utc - parsed.this_update_utc).total_seconds() != OCSP_VALIDITY_S:
        return f"thisUpdate {parsed.this_update_utc}, nextUpdate {parsed.next_update_utc}"
    if request["status"] == "revoked":
        _, revoked_at, reason = ca["index"][request["serial"]]
        got_reason = parsed.revocation_reason.name if parsed.revocation_reason else "unspecified"
        if parsed.revocation_time_utc != revoked_at or got_reason != reason:
            return f"revoked at {parsed.revocation_time_utc} ({got_reason}), expected {revoked_at} ({reason})"
    return None


# ---- load ---------------------------------------------------------------------------------------------------

def measure(server, url: str, pool: list[dict], clients: int, total: int, check_every: int,
            idle_rate: float = 0.0, floor: bool = False) -> dict:
    """`total` requests over `clients` threads. floor: GET `url` (must answer 200) instead of POSTing requests."""
    counters = {}

    def one(session: requests.Session, n: int, thread: int) -> str | None:
        request = pool[(thread * len(pool) // clients + n) % len(pool)]
        response = session.get(url, timeout=60) if floor else post(session, url, request["der"])
        if floor:
            return None if response.status_code == 200 else f"HTTP {response.status_code}"
        if response.status_code != 200 or response.headers.get("Content-Type", "").split(";")[0] != OCSP_MIME:
            return f"HTTP {response.status_code} {response.headers.get('Content-Type')}"
        return quick_check(response, request) if n % check_every == 0 else None

    def ready() -> None:
        counters.update(server=server.cpu_seconds(), client=time.process_time())

    ordered, failures, wall = run_clients(clients, total, one, max_failures=21, on_ready=ready)
    server_cpu = server.cpu_seconds() - counters["server"]
    client_cpu = time.process_time() - counters["client"]
    done = max(1, len(ordered))
    return {"rps": len(ordered) / wall, "p50": rank_ms(ordered, 0.50), "p99": rank_ms(ordered, 0.99),
            "srv_ms": server_cpu * 1000 / done, "net_ms": (server_cpu - idle_rate * wall) * 1000 / done, "cli_ms": client_cpu * 1000 / done,
            "ok": len(ordered), "failures": failures}


# ---- where the time goes ----------------------------------------------------------------------------------

def breakdown(var_dir: Path, ca: dict, pool: list[dict], answers: dict[int, bytes],
              calls: int = 500) -> dict[str, float]:
    """Median µs of each step of the gateway's OCSP fast path (gateway/ocsp.py OcspResponder.respond_early), with
    its functions, the gateway's own database (its certificate-status read model) and a cache holding the answers
    the server gave; then the whole of respond_early; then, for comparison, what a miss adds in the ca: signing."""
    import io

    import sqlalchemy as sa
    from gateway.certificate_status import OCSP_STATUS, CertificateStatus, OcspStatus
    from gateway.ocsp import OcspResponder, ResponseCache, cacheable_cert_id, signed_answer
    from services.ca import x509build
    from services.runtime.db import make_database

    db = make_database(f"sqlite:///{(var_dir / 'gateway.sqlite3').resolve()}", None)
    view = CertificateStatus(sa.MetaData())
    cache = ResponseCache()
    for request in pool:
        cert_id = cacheable_cert_id(request["der"])
        cache.keep(cert_id, signed_answer(cert_id, answers[request["serial"]]))

    def status_of(serial: int) -> OcspStatus:        # OcspProvider.setup's
        return OCSP_STATUS.get(db.quick_scalar(view.status_query, {"serial": format(serial, "x")}), OcspStatus.UNKNOWN)

    responder = OcspResponder(status_of, cache)
    cert, key = ca["cert"], ca["key"]
    times: dict[str, list[float]] = {}

    def timed(step, fn):
        started = time.perf_counter()
        value = fn()
        times.setdefault(step, []).append((time.perf_counter() - started) * 1e6)
        return value

    try:
        for n in range(calls + 20):
            request = pool[n % len(pool)]
            cert_id = timed("parse (cacheable_cert_id)", lambda: cacheable_cert_id(request["der"]))
            status = timed("status read (quick_scalar)", lambda: status_of(cert_id.serial))
            now = dt.datetime.now(dt.timezone.utc)
            entry = timed("cache lookup", lambda: cache.lookup(cert_id, status, now))
            timed("headers", lambda: responder.headers(entry.der, entry, http_caching=False))
            environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/ocsp", "CONTENT_TYPE": "application/ocsp-request",
                       "CONTENT_LENGTH": str(len(request["der"])), "wsgi.input": io.BytesIO(request["der"])}
            if timed("respond_early, all of it", lambda: responder.respond_early(environ)) is None:
                raise RuntimeError(f"serial {request['serial']:x}: the fast path did not answer from the cache")
            query = x509build.parse_ocsp_request(request["der"])
            _, revoked_at, reason = ca["index"].get(query.serial, (None, None, None))
            timed("a miss: the ca signs", lambda: x509build.build_ocsp_response(
                query, cert, cert, key, request["status"], revoked_at, reason, now, now + dt.timedelta(hours=12)))
            if n == 19:
                times.clear()                     # the first 20 warm the pool and the statement cache
    finally:
        db.dispose()
    return {step: statistics.median(values) for step, values in times.items()}


PROFILE_ROLES = (          # (label, markers); a sample counts in the first role with a marker anywhere on its stack
    ("gateway: the OCSP fast path (OcspResponder.respond_early)", ("OcspResponder.respond_early (",)),
    ("ca: CaService.ocsp, the RPC's body (misses)", ("CaService.ocsp (",)),
    ("gateway: CertificateRoutes.ocsp_post (misses, their RPC call included)", ("CertificateRoutes.ocsp_post (",)),
    ("gateway: HTTP server (eventlet.wsgi, werkzeug, nameko.web)", ("WebServer.process_request (",)),
    ("RPC plumbing: consumers, replies, worker set-up", ("ConsumerMixin.", "RpcConsumer.", "Rpc.handle_result (",
                                                         "ServiceContainer._worker_setup (", "Event.send (")),
    ("event relays (Relay.run)", ("Relay.run (",)),
    ("eventlet hub (epoll, timers)", ("BaseHub.run (",)),
)


def _package(frame: str) -> str:
    """The top-level package (or stdlib module) of a py-spy frame 'function (path/to/file.py:line)'."""
    path = frame.rpartition(" (")[2].rstrip(")").rpartition(":")[0]
    if not path:
        return "(no Python frame)"
    head = path.split("/")[0]
    return head[:-3] if head.endswith(".py") else head


def profile(py_spy: str, server: Server, url: str, pool: list[dict], clients: int, total: int, check_every: int,
            workdir: Path) -> tuple[Counter, Counter, int, dict]:
    out = workdir / "py-spy.txt"
    spy = subprocess.Popen([py_spy, "record", "--pid", str(server.proc.pid), "--rate", "250", "--nonblocking",
                            "--format", "raw", "--output", str(out)], stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE)
    time.sleep(1.0)                              # py-spy attaches
    result = measure(server, url, pool, clients, total, check_every)
    spy.send_signal(signal.SIGINT)
    try:
        spy.wait(30)
    except subprocess.TimeoutExpired:
        spy.kill()
        spy.wait()
    if not out.exists():
        raise RuntimeError(f"py-spy wrote nothing: {spy.stderr.read().decode(errors='replace')[-1000:]}")
    roles: Counter = Counter()
    packages: Counter = Counter()
    samples = 0
    for line in out.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        count = int(count)
        samples += count
        frames = stack.split(";") if stack.strip() else []
        roles[next((label for label, marks in PROFILE_ROLES
                    if any(mark in frame for frame in frames for mark in marks)),
                   "other (no Python frame, timers, ...)")] += count
        packages[_package(frames[-1]) if frames else "(no Python frame)"] += count
    return roles, packages, samples, result


# ---- main -------------------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--certificates", type=int, default=50, help="certificates issued through the API")
    parser.add_argument("--revoke-every", type=int, default=3, help="revoke every N-th certificate")
    parser.add_argument("--unknown", type=int, default=12, help="never-issued serials among the requests")
    parser.add_argument("--requests", type=int, default=1000, help="requests per server, client count and round")
    parser.add_argument("--warmup", type=int, default=100, help="requests per server before the rounds")
    parser.add_argument("--clients", default="1,8", help="comma-separated concurrent client counts")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--check-every", type=int, default=10, help="parse and check every N-th response")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--py-spy", default=shutil.which("py-spy"), help="py-spy binary for the profile run")
    parser.add_argument("--no-profile", action="store_true", help="skip the py-spy run")
    parser.add_argument("--keep-logs", action="store_true", help="keep the temporary directory (path printed)")
    args = parser.parse_args(argv)
    client_counts = [int(c) for c in args.clients.split(",") if c.strip()]
    for path in (CERTPLANE,):
        if not Path(path).exists():
            raise SystemExit(f"{path} not found: run `make bench-ocsp` (installs the venv)")
    if shutil.which("openssl") is None:
        raise SystemExit("openssl not found on PATH (the baseline)")
    openssl_version = subprocess.run(["openssl", "version"], capture_output=True, text=True).stdout.strip()
    load = os.getloadavg()
    print(f"bench/ocsp.py — {time.strftime('%Y-%m-%d %H:%M:%S %Z')} — {os.cpu_count()} CPUs, load {load[0]:.2f} "
          f"{load[1]:.2f} {load[2]:.2f}; Python {platform.python_version()}, cryptography "
          f"{cryptography.__version__}, {openssl_version}; {args.requests} requests per server, client count and "
          f"round; {args.rounds} rounds, median shown", flush=True)
    print("  note: `openssl ocsp` (no -multi) is a single process that handles one connection at a time and closes "
          "it after each response (HTTP/1.0); Certplane's gateway serves connections concurrently with keep-alive.",
          flush=True)

    workdir = Path(tempfile.mkdtemp(prefix="certplane-bench-ocsp-"))
    certplane = Server("certplane", [CERTPLANE, "run"], workdir)
    certplane.env["CERTPLANE_PUBLIC_BASE_URL"] = PUBLIC_BASE_URL
    responder = OpensslResponder(workdir)
    results: dict[tuple[str, int], list[dict]] = {}
    notes: list[str] = []
    failed = False
    steps = None
    spied = None
    try:
        certplane.start()
        notes.append(f"certplane: ready after {certplane.wait_ready():.1f} s")
        started = time.monotonic()
        token, _admin_id = first_login(certplane)
        issued = populate(certplane, token, args.certificates, args.revoke_every)
        ca = read_ca(certplane.var_dir, workdir)
        if set(ca["index"]) != set(issued):
            raise RuntimeError("the ca database does not list the certificates the API issued")
        for serial, reason in issued.items():
            if (ca["index"][serial][0] == "revoked") != (reason is not None):
                raise RuntimeError(f"serial {serial:x}: the ca database and the API disagree on revocation")
        responder.start()
        pool = build_requests(ca["cert"], ca["index"], args.unknown, args.seed)
        mix = Counter(r["status"] for r in pool)
        print(f"  {len(issued)} certificates issued through the API, {mix['revoked']} revoked; "
              f"{len(pool)} requests: {mix['good']} good, {mix['revoked']} revoked, {mix['unknown']} unknown "
              f"({time.monotonic() - started:.1f} s)", flush=True)
        servers = {"certplane": (certplane, f"{certplane.base_url}/ocsp"), "openssl": (responder, responder.url)}
        cases = {**servers, FLOOR: (certplane, f"{certplane.base_url}/healthz")}
        answers: dict[int, bytes] = {}
        for name, (server, url) in servers.items():
            with requests.Session() as session:
                for check in ("first", "again"):       # Certplane: the ca's answers, then the gateway's kept ones
                    reused = 0
                    for request in pool:
                        response = post(session, url, request["der"])
                        wrong = full_check(response, request, ca)
                        if wrong:
                            raise RuntimeError(f"{name} ({check} answer): {request['status']} serial "
                                               f"{request['serial']:x}: {wrong}")
                        if name == "certplane":
                            reused += answers.get(request["serial"]) == response.content
                            answers[request["serial"]] = response.content
                if name == "certplane":
                    notes.append(f"certplane: asked again, {reused} of {len(pool)} answers were the same bytes as "
                                 "the first (kept by the gateway; the ca's ECDSA signatures differ every time), and "
                                 "all right")
                for n in range(args.warmup):
                    post(session, url, pool[n % len(pool)]["der"])
            version = requests.post(url, data=pool[0]["der"], headers={"Content-Type": "application/ocsp-request"},
                                       timeout=60).raw.version
            notes.append(f"{name}: every request answered right before the load (status, time, reason, signature, "
                         f"responder ID, validity); answers HTTP/{version / 10:.1f}")
        print("  both servers answered every request right; warm-up done", flush=True)
        before = {name: server.cpu_seconds() for name, (server, _) in servers.items()}
        time.sleep(IDLE_WINDOW)
        idle = {name: (server.cpu_seconds() - before[name]) / IDLE_WINDOW for name, (server, _) in servers.items()}
        notes.append("idle CPU of the servers before the rounds (timers, the in-memory broker's polling; "
                     "subtracted in `net`): " + ", ".join(f"{name} {rate * 100:.1f} %" for name, rate in idle.items()))

        names = list(cases)
        for round_no in range(args.rounds):
            order = names[round_no % len(names):] + names[:round_no % len(names)]
            for clients in client_counts:
                line = []
                for name in order:
                    server, url = cases[name]
                    result = measure(server, url, pool, clients, args.requests, args.check_every,
                                     idle["certplane" if name == FLOOR else name], floor=name == FLOOR)
                    results.setdefault((name, clients), []).append(result)
                    line.append(f"{name} {result['rps']:.0f}/s (srv {result['srv_ms']:.2f} ms)"
                                + (f" {len(result['failures'])} FAILED" if result["failures"] else ""))
                print(f"  round {round_no + 1}, {clients} client(s): {', '.join(line)}", flush=True)

        steps = breakdown(certplane.var_dir, ca, pool, answers)
        if not args.no_profile and args.py_spy:
            clients = max(client_counts)
            spied = profile(args.py_spy, certplane, servers["certplane"][1], pool, clients, args.requests,
                            args.check_every, workdir) + (clients,)
        elif not args.no_profile:
            notes.append("py-spy not found (--py-spy PATH): no profile of the Certplane process")
    except BaseException:
        failed = True
        raise
    finally:
        notes.append(certplane.stop())
        notes.append(responder.stop())
        print()
        if results:
            header = (f"{'case':<16} {'clients':>7} {'resp/s':>8} {'range':>11} {'p50 ms':>8} {'p99 ms':>8} "
                      f"{'srv CPU ms/resp':>15} {'net':>6} {'client CPU ms/resp':>18} {'failed':>6}")
            print(header)
            print("-" * len(header))
            verdicts = []
            for clients in client_counts:
                for name in ("certplane", "openssl", FLOOR):
                    rows = results.get((name, clients))
                    if not rows:
                        continue
                    rps = [r["rps"] for r in rows]
                    bad = sum(len(r["failures"]) for r in rows)
                    print(f"{name:<16} {clients:>7} {statistics.median(rps):>8.1f} "
                          f"{min(rps):>5.0f}-{max(rps):<5.0f} {statistics.median(r['p50'] for r in rows):>8.2f} "
                          f"{statistics.median(r['p99'] for r in rows):>8.2f} "
                          f"{statistics.median(r['srv_ms'] for r in rows):>15.2f} "
                          f"{statistics.median(r['net_ms'] for r in rows):>6.2f} "
                          f"{statistics.median(r['cli_ms'] for r in rows):>18.2f} {bad:>6}")
                    if bad:
                        failed = True
                        print(f"           first failure: {next(f for r in rows for f in r['failures'])}")
                ours, theirs = results.get(("certplane", clients)), results.get(("openssl", clients))
                if ours and theirs:
                    ratio = statistics.median(r["rps"] for r in ours) / statistics.median(r["rps"] for r in theirs)
                    verdicts.append(f"{clients} client(s): {ratio:.2f}× — "
                                    + ("met" if ratio >= TARGET else f"NOT met ({(1 - ratio) * 100:.0f} % short)"))
                print("-" * len(header))
            print(f"{FLOOR}: GET /healthz on the same Certplane gateway (HTTP server, routing and a nameko worker: "
                  "no RPC, no database, no signing), not in the target — what a routed answer costs at least; "
                  "a kept OCSP answer leaves before the routing")
            print(f"target: Certplane responses/s ≥ {TARGET:.1f}× openssl ocsp's, same client and concurrency:")
            for verdict in verdicts:
                print("  " + verdict)
        if steps:
            print("\nwhere Certplane's time goes — the steps of the gateway's OCSP fast path in this process "
                  "(median µs per call):")
            for step, micros in steps.items():
                print(f"  {step:<32} {micros:>8.0f}")
            fast_path = steps["respond_early, all of it"]
            for clients in client_counts:
                rows = results.get(("certplane", clients))
                if rows:
                    srv = statistics.median(r["net_ms"] for r in rows) * 1000
                    print(f"  server CPU per response at {clients} client(s), net of idle: {srv:.0f} µs, so "
                          f"{srv - fast_path:.0f} µs ({(srv - fast_path) / srv * 100:.0f} %) is outside the fast "
                          "path (eventlet's HTTP server, the kernel's TCP, the rest of the process)")
        if spied:
            roles, packages, samples, result, clients = spied
            print(f"\npy-spy on the Certplane process, {clients} clients, {result['ok']} responses "
                  f"({result['rps']:.0f}/s while sampled), {samples} on-CPU samples at 250/s. By what the stack "
                  "is doing (the first role found on it):")
            for label, _ in PROFILE_ROLES + (("other (no Python frame, timers, ...)", ()),):
                if roles.get(label):
                    print(f"  {roles[label] / samples * 100:>5.1f} %  {label}")
            print("  by the package of the innermost frame (self time):")
            for package, count in packages.most_common(10):
                print(f"  {count / samples * 100:>5.1f} %  {package}")
        load = os.getloadavg()
        notes.append(f"load average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
        print()
        for note in notes:
            print(note)
        problems = certplane.problems()
        if problems:
            failed = True
            print(f"\ncertplane: {sum(n for n, _ in problems)} error line(s) in its log, by kind:")
            for count, problem in problems[:8]:
                print(f"  {count:>5} x {problem}")
        if args.keep_logs or failed:
            print(f"\nlogs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
