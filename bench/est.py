"""EST (RFC 7030) simpleenroll per second against Certplane (distributed mode) over its EST TLS listener, at 1 and
4 clients, beside this machine's in-process lint + sign limit (a).

    .venv/bin/python bench/est.py [--clients 1,4] [--count 60,120] [--duration 60] [--warmup 5]
                                  [--limit-certs 400] [--skip-limit] [--keep-logs]

**Certplane** (bench/issue.py's `certplane()`: a fresh PostgreSQL database and RabbitMQ vhost — made with
rabbitmqctl when the management API does not answer, as bench/acme.py does —, `certplane db upgrade`, then orgs,
identity, domains, ca, enrollment and gateway as processes). The services' working directory holds a
certplane.yaml with `est_port` (a free port) and `est_host` 127.0.0.1: the gateway serves EST there over TLS with a
certificate from Certplane's own CA, named after the public host (pki.bench.example.com). Through the REST API as
the MRAO (bench/scep.py's `set_up_devices`): an organization, `bench-est.example.com` delegated to it, a device
profile without approval, and a device endpoint of type `est` (its create answer carries the username and password
once). The EST URL is `https://pki.bench.example.com:<est_port>/.well-known/est/<uri_extension>/`, connected to
127.0.0.1 with the TLS server name and the certificate check kept on pki.bench.example.com. The trust anchor is
bootstrapped as RFC 7030 §4.1.1 allows: one `cacerts` without verifying the server, whose root then verifies every
connection after it.

**The client** (`--clients` threads, bench/load.py's `run_clients`, each with its own requests.Session:
keep-alive, TLS resumed per connection): one measured request is `POST .../simpleenroll` with HTTP Basic (the
endpoint's credentials), `Content-Type: application/pkcs10`, the body the base64 of a DER CSR (P-256, CN and SAN
`e<i>-<run>.bench-est.example.com`, all made before the clock). It counts when it answers 200 with
`application/pkcs7-mime` and a base64 degenerate PKCS#7 holding a certificate for the CSR's key; a 202 (approval
pending), any other answer or a wrong certificate is a failure. Serials are read as in bench/scep.py and
duplicates counted.

**(a)** bench/issue.py's in-process limit, as bench/acme.py runs it (`limit_pool`): the CA's lint + sign of P-256
CSRs in a pool of os.cpu_count() spawned processes, no I/O; once before and once after the points, the mean shown.

Per client count it prints: certificates/s (certificates / the point's wall time), p50/p95/max of one
simpleenroll (nearest rank), failures, duplicate serials, the share of (a), and the CPU per certificate of each
Certplane process, PostgreSQL and RabbitMQ at the highest client count. No target is given for EST; the exit code
is non-zero only when the bench itself crashed. Afterwards the processes get SIGTERM (SIGKILL after 10 s), the
database and vhost are dropped and the temporary directory is removed (kept with --keep-logs or on a crash).
"""
from __future__ import annotations

import argparse
import base64
import collections
import contextlib
import json
import os
import secrets
import statistics
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

import requests
import urllib3
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID
from requests.adapters import HTTPAdapter

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
import issue  # noqa: E402
import scep  # noqa: E402  (its Certplane set-up and the rabbitmqctl fallback)
from http_latency import Process, free_port  # noqa: E402
from issue_pipeline import rank  # noqa: E402
from load import run_clients  # noqa: E402

DOMAIN = "bench-est.example.com"
ORG = {"name": "Bench EST Org", "address1": "1 Main St", "city": "Berlin", "state": "Berlin", "country": "DE"}
PUBLIC_HOST = issue.BASE_URL.split("://", 1)[1]      # the name the EST listener's certificate carries


class PinnedHost(HTTPAdapter):
    """Connect to 127.0.0.1 but send the TLS server name and check the certificate for `host`."""

    def __init__(self, host: str):
        self.host = host
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        kwargs.update(server_hostname=self.host, assert_hostname=self.host)
        return super().init_poolmanager(*args, **kwargs)


def est_session(est: dict) -> requests.Session:
    """A client's session: EST's host pinned, Basic credentials. (Its requests pass verify= themselves: a
    session's `verify` loses to REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE from the environment.)"""
    session = requests.Session()
    session.mount(est["base"], PinnedHost(PUBLIC_HOST))
    session.auth = est["auth"]
    return session


def make_csrs(count: int, tag: str) -> list[tuple[str, bytes, ec.EllipticCurvePublicKey]]:
    """(name, DER CSR, its public key) per enrollment, P-256."""
    out = []
    for i in range(count):
        key = ec.generate_private_key(ec.SECP256R1())
        name = f"e{i}-{tag}.{DOMAIN}"
        csr = (x509.CertificateSigningRequestBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
               .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
               .sign(key, hashes.SHA256()))
        out.append((name, csr.public_bytes(serialization.Encoding.DER), key.public_key()))
    return out


def certificates_of(response: requests.Response) -> list[x509.Certificate]:
    """The certificates of an EST `application/pkcs7-mime` answer (base64 of a degenerate PKCS#7, RFC 8951)."""
    return pkcs7.load_der_pkcs7_certificates(base64.b64decode(b"".join(response.content.split())))


def bootstrap_trust(base: str, workdir: Path, timeout: float = 60.0) -> tuple[Path, int]:
    """RFC 7030 §4.1.1's bootstrap: `cacerts` once without verifying the server; its root(s) as a PEM file that
    verifies every later connection. (the file, how many certificates cacerts gave)"""
    session = requests.Session()
    session.mount(base, PinnedHost(PUBLIC_HOST))
    deadline, last = time.monotonic() + timeout, None
    while True:         # the gateway installs the listener's certificate on a timer: until then it hangs up
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
                answer = session.get(f"{base}cacerts", verify=False, timeout=30)
            if answer.status_code == 200:
                break
            last = f"{answer.status_code} {answer.text[:300]}"
        except requests.RequestException as exc:
            last = repr(exc)[:300]
        if time.monotonic() > deadline:
            raise RuntimeError(f"GET {base}cacerts: no 200 within {timeout:.0f} s (last: {last})")
        time.sleep(0.5)
    certs = certificates_of(answer)
    roots = [c for c in certs if c.issuer == c.subject] or certs
    path = workdir / "est-trust.pem"
    path.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in roots))
    return path, len(certs)


def run_point(est: dict, csrs: list, clients: int, duration: float) -> dict:
    """POST simpleenroll for every CSR over `clients` threads (or until `duration` seconds passed)."""
    url = f"{est['base']}simpleenroll"
    issued: list[x509.Certificate] = []
    lock = threading.Lock()
    deadline = time.monotonic() + duration + 5          # + the threads' start
    sessions: dict[int, requests.Session] = {}

    def one(_session: requests.Session, n: int, thread: int) -> str | None:
        if time.monotonic() > deadline:
            return "skipped"
        session = sessions.get(thread)
        if session is None:
            session = sessions[thread] = est_session(est)
        name, der, public_key = csrs[n]
        answer = session.post(url, data=base64.encodebytes(der), timeout=120, verify=est["trust"], headers={
            "Content-Type": "application/pkcs10", "Content-Transfer-Encoding": "base64"})
        if answer.status_code != 200:
            return f"{name}: {answer.status_code} {answer.headers.get('Retry-After', '')} {answer.text[:300]}"
        if not answer.headers.get("Content-Type", "").startswith("application/pkcs7-mime"):
            return f"{name}: 200 with Content-Type {answer.headers.get('Content-Type')!r}"
        try:
            leaf = next(c for c in certificates_of(answer) if c.public_key() == public_key)
        except Exception as exc:  # noqa: BLE001 — no certificate for this key: a failure
            return f"{name}: 200 but no certificate for the CSR's key ({exc!r})"
        with lock:
            issued.append(leaf)
        return None

    ordered, failures, wall = run_clients(clients, len(csrs), one, max_failures=20)
    failures = [f for f in failures if f != "skipped"]
    for session in sessions.values():
        session.close()
    serials = collections.Counter((c.issuer.rfc4514_string(), c.serial_number) for c in issued)
    return {"clients": clients, "ok": len(ordered), "failed": len(failures), "failures": failures[:3],
            "rps": len(ordered) / wall if wall > 0 else 0.0, "wall": wall,
            "p50": rank([s * 1000 for s in ordered], 0.50), "p95": rank([s * 1000 for s in ordered], 0.95),
            "max": max(ordered, default=float("nan")) * 1000,
            "duplicates": sum(n for n in serials.values() if n > 1), "serials": serials}


def report(rows: list[dict], limits: list[dict], cores: int, args, cpu: tuple | None, totals: tuple) -> None:
    if not rows and not limits:
        return
    a_rps = statistics.mean(r["rps"] for r in limits) if limits else float("nan")
    print(f"\n{'clients':>7} {'certs/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'ok':>5} {'failed':>6} "
          f"{'dup serials':>11} {'(a)/s':>7} {'cp/(a)':>7}")
    print("-" * 86)
    for r in rows:
        print(f"{r['clients']:>7} {r['rps']:>8.2f} {r['p50']:>8.1f} {r['p95']:>8.1f} {r['max']:>8.1f} {r['ok']:>5} "
              f"{r['failed']:>6} {r['duplicates']:>11} {a_rps:>7.1f} {r['rps'] / a_rps:>7.3f}")
    print("-" * 86)
    print("certs/s: certificates / the point's wall time; p50/p95/max: one POST simpleenroll over a kept-alive TLS "
          "connection (nearest rank); dup serials: certificates of the point whose (issuer, serial) another has")
    if limits:
        print(f"(a) in-process lint + sign on {cores} processes (bench/issue.py): {a_rps:.1f} certs/s, mean of "
              f"{len(limits)} runs of {args.limit_certs} ({', '.join(format(r['rps'], '.1f') for r in limits)}; "
              f"lint errors {sum(r['failed'] for r in limits)}; other jobs used "
              f"{', '.join(format(r['other'], '.0%') for r in limits)} of a core meanwhile)")
    print(f"duplicate serials over the whole run (warm-up included): {totals[0]} of {totals[1]} certificates")
    if cpu:
        total, certs, wall = cpu
        machine = total.pop("machine", 0.0)
        client = total.pop("bench client", 0.0)
        print(f"\nCPU during the {max(r['clients'] for r in rows)}-client point ({certs} certificates, {wall:.1f} s): "
              "ms per certificate")
        for name, seconds in sorted(total.items(), key=lambda kv: -kv[1]):
            print(f"  {name:<13} {seconds * 1000 / certs:8.1f} ms")
        server = sum(total.values())
        print(f"  {'Certplane':<13} {server * 1000 / certs:8.1f} ms in all -> at most {cores * certs / server:.1f} "
              f"certs/s on {cores} idle cores")
        print(f"  {'this client':<13} {client * 1000 / certs:8.1f} ms; other jobs "
              f"{(machine - server - client) * 1000 / certs:.1f} ms")
        if limits:
            a_ms = statistics.mean(r["cpu_ms"] for r in limits)
            print(f"  (a) costs {a_ms:.1f} ms of CPU per certificate (its workers): Certplane's whole path is "
                  f"{server * 1000 / certs / a_ms:.1f}x that (a ratio other jobs move less than the rates)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", default="1,4", help="comma-separated client thread counts")
    parser.add_argument("--count", default="60,120", help="enrollments per point, one per client count")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds per point at most")
    parser.add_argument("--warmup", type=int, default=5, help="enrollments at 1 client, not counted")
    parser.add_argument("--limit-certs", type=int, default=400, help="certificates per (a) run")
    parser.add_argument("--skip-limit", action="store_true", help="no (a)")
    parser.add_argument("--keep-logs", action="store_true")
    args = parser.parse_args(argv)
    counts = [int(c) for c in args.clients.split(",") if c.strip()]
    sizes = [int(c) for c in args.count.split(",") if c.strip()]
    sizes = (sizes + sizes[-1:] * len(counts))[:len(counts)]
    cores = os.cpu_count() or 1
    tag = secrets.token_hex(3)
    workdir = Path(tempfile.mkdtemp(prefix="certplane-bench-est-"))
    print(f"bench/est.py — {time.strftime('%Y-%m-%d %H:%M:%S %Z')} — {cores} CPUs, load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}; clients {counts}, {sizes} enrollments or "
          f"{args.duration:.0f} s per point", flush=True)
    rows: list[dict] = []
    limits: list[dict] = []
    notes: list[str] = []
    processes: dict[str, Process] = {}
    cpu = None
    all_serials: collections.Counter = collections.Counter()
    failed = False
    started_at = time.monotonic()
    try:
        with contextlib.ExitStack() as stack:
            csrs = make_csrs(args.warmup + sum(sizes), tag)
            limit = None
            if not args.skip_limit:
                limit = stack.enter_context(scep._bench_acme().limit_pool(cores, 200))
                limits.append(limit(args.limit_certs))
                print(f"  (a) {limits[-1]['rps']:.1f} certs/s ({cores} workers, {args.limit_certs} certificates)",
                      flush=True)
            note = scep.use_rabbitmqctl_if_needed()
            if note:
                print(f"  {note}", flush=True)
            est_port = free_port()
            config = {"est_port": est_port, "est_host": "127.0.0.1"}
            (workdir / "certplane.yaml").write_text(json.dumps(config))     # JSON is YAML
            cp = stack.enter_context(issue.certplane(workdir, notes, processes))
            world = scep.set_up_devices(cp.base_url, cp.token, DOMAIN, ORG)
            made = scep.device_endpoint(cp.base_url, cp.token, "est", world)
            endpoint = made.get("device_endpoint", made)
            base = f"https://{PUBLIC_HOST}:{est_port}/.well-known/est/{endpoint['uri_extension']}/"
            est = {"base": base, "auth": (made["credentials"]["username"], made["credentials"]["password"])}
            est["trust"], n_ca = bootstrap_trust(base.replace(PUBLIC_HOST, "127.0.0.1"), workdir)
            est["base"] = base.replace(PUBLIC_HOST, "127.0.0.1")
            print(f"  certplane: {cp.base_url}; EST {base} (listening on 127.0.0.1:{est_port}); cacerts gave {n_ca} "
                  f"certificate(s), the root verifies the listener; profile {world['profile']['name']}", flush=True)
            next_csr = 0
            if args.warmup:
                warm = run_point(est, csrs[:args.warmup], 1, args.duration)
                next_csr = args.warmup
                all_serials.update(warm.pop("serials"))
                print(f"  warm-up: {warm['ok']} certificates at 1 client, {warm['rps']:.2f}/s"
                      + (f", {warm['failed']} failed: {warm['failures']}" if warm["failed"] else ""), flush=True)
            for clients, count in zip(counts, sizes):
                top = clients == max(counts)
                before = issue.cpu_snapshot(processes) if top else None
                row = run_point(est, csrs[next_csr:next_csr + count], clients, args.duration)
                next_csr += count
                if before is not None:
                    after = issue.cpu_snapshot(processes)
                    cpu = ({k: after[k] - before[k] for k in after}, row["ok"], row["wall"])
                all_serials.update(row.pop("serials"))
                rows.append(row)
                print(f"  {clients} client(s): {row['rps']:.2f} certs/s, p50 {row['p50']:.1f} ms, p95 "
                      f"{row['p95']:.1f} ms, {row['ok']} ok, {row['failed']} failed, {row['duplicates']} duplicate "
                      f"serials; load average {os.getloadavg()[0]:.2f}", flush=True)
            if limit is not None:
                limits.append(limit(args.limit_certs))
                print(f"  (a) again: {limits[-1]['rps']:.1f} certs/s", flush=True)
    except BaseException:
        failed = True
        raise
    finally:
        totals = (sum(n for n in all_serials.values() if n > 1), sum(all_serials.values()))
        report(rows, limits, cores, args, cpu if cpu and cpu[1] else None, totals)
        failures = [(f"{row['clients']} clients", f) for row in rows for f in row["failures"]]
        issue.finish_run(failures, notes, processes, started_at, workdir, args.keep_logs or failed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
