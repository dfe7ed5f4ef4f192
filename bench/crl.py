"""What publishing a CRL of 100,000 and 1,000,000 revoked certificates costs Certplane, from the ca's database to
the stored DER, against `openssl ca -gencrl` over an index.txt with the same entries and the same CA key.

    .venv/bin/python bench/crl.py [--entries 100000,1000000] [--algorithms ec-p256,rsa-3072]
                                  [--backends sqlite,postgres] [--dsn postgresql://postgres@127.0.0.1:5432/postgres]
                                  [--rounds 3] [--seed 2026] [--keep]

**What is timed for Certplane** is one call of the service's own `CaService._publish_crl(ca, now)`
(services/ca/service.py), run by nameko's `worker_factory` on a real event store over the ca's read model, in a
process monkey-patched by eventlet as the service's is. It does, in this order, and the bench reports each step
by wrapping the function that does it (the wrappers only read the clock):

    read    CaService._crl_entries: every stored entry's DER through the driver's cursor in batches
            (CaView.crl_entry_batches), gathered into x509build.CrlEntries (chunks, count, one entry per shape),
            then `check`
    check   CaView.revoked_count: the CA's revoked certificates counted, against the entries read (were some
            revoked before the crl_entries table existed, the anti-join CaView.revoked_without_crl_entry would
            follow, then the entries stored and read again: never here, every entry is stored)
    lint    x509build.crl_for_lint over that sample (signed with the throwaway key) + lint.lint_crl (pkilint crl-br)
    build   x509build.crl_tbs: the TBSCertList around the stored entries
    sign    x509build.sign_crl: signature with the CA key, CertificateList DER (on a tpool thread, as in the service)
    store   CrlFiles.put: the DER into the crl_files table
    event   EventStore.append of `crl_published` (with the DER's sha256, computed before it)

`total` is the wall time of the whole call; `other` is total minus the steps (loading the crl stream, the sha256,
tpool hand-offs). The targets (issue) are on `total`: under 2 s for 100,000 entries, under 10 s for 1,000,000.
Timed separately and not in `total`: `precheck`, the two reads `maintain()` makes before it decides to publish
(CaView.latest_crl, CaView.last_revocation), which also warm the connection and the database's cache as they do
in the service.

**The database** is the ca service's own schema (EventStore + CaView + CrlFiles create it), holding one
`certificates` row (status revoked) and one `crl_entries` row per entry, for one CA; nothing
else (the real table also holds every unrevoked certificate, which `check` skips by status, and `precheck`
reads). Each entry's DER is made by `x509build.crl_entry` — what `CaView.apply` does per revocation — in a
process pool before the timed runs. Backends (`--backends`): a SQLite file (embedded mode), and PostgreSQL (a
fresh database on `--dsn`, one schema per size, rows loaded with COPY, then VACUUM ANALYZE as autovacuum would
do; skipped with a note when PostgreSQL does not answer; dropped at the end).

**The entries** are the same for both tools and every round (seeded): serials of 159 random bits (as
`x509build.new_serial`), revocation times spread over the last 90 days at one-second resolution, and the BR 7.2.2
leaf reasons that both tools can write: unspecified 30 % (no reasonCode, as `crl_entry` and `openssl ca` both omit
it), superseded 30 %, cessationOfOperation 25 %, affiliationChanged 8 %, keyCompromise 7 %. privilegeWithdrawn is
left out because `openssl ca` has no name for it.

**The CA**: a root and an issuing CA made by `x509build.build_root` / `build_issuing` for each algorithm of
`--algorithms` (P-256 signs with ECDSA-SHA256, RSA-3072 with PKCS#1 v1.5 SHA-256, as `x509build.signature_hash`
pairs them). The issuing CA's certificate and key (PKCS#8, mode 0600) are written to a temporary directory, and
both tools sign with that key.

**openssl** (the baseline): `openssl ca -gencrl -batch -config <dir>/openssl.cnf -out crl.pem`, with
`database = index.txt` (one `R` line per entry: expiry, `YYMMDDHHMMSSZ[,reason]`, serial in upper-case hex,
`unknown`, a subject), `crlnumber`, `default_md = sha256`, `default_crl_days = 7` and
`crl_extensions = authorityKeyIdentifier=keyid:always`, so its CRL has the same fields and extensions as ours
(v2, CRLNumber, AKI, reasonCode per entry). Its time is the process's wall time from fork to exit: it reads and
parses index.txt (a text file; Certplane's counterpart is `read` from its database) and writes PEM (it cannot
write DER); it stores nothing else.

**Each run is its own process**: Certplane's in a child `python bench/crl.py --child ...` (imports, pkilint's
validators, the throwaway lint key and one small CRL signed with the real key are made before timing, as a running
service has them), openssl's a spawned `openssl ca`. Runs are interleaved — for each round, algorithm and size,
every backend and openssl, their order rotating each round — and the table shows the median over `--rounds`, with
the range. All are started through a small `python -S` wrapper that forks and execs them and reads their wait4
rusage, so their ru_maxrss does not start at the bench process's RSS (Linux counts the forking process's RSS in
it). Peak RSS: Certplane's `peak` is the child's VmHWM over the publish (reset through /proc/self/clear_refs just
before; `held` is its RSS then, with nothing read yet), and `maxrss` the child's ru_maxrss over its life;
openssl's is its `ru_maxrss`.

**Checked, not timed**: the lint finds no ERROR; in the first round each CRL is parsed back (cryptography), has N
entries and a signature that verifies with the issuing CA's key, and every entry's serial, revocation time and
reason equal the generated ones; openssl's lists the same serials. No assertion is made on any time: the verdict
on each target is printed.

The temporary directory is removed at the end (kept with --keep, or when a run fails).
"""
from __future__ import annotations

import sys

import warnings

warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")  # known; see RUNTIME-NOTES
if __name__ == "__main__" and "--child" in sys.argv:    # the ca service runs monkey-patched (nameko), so does this
    import eventlet

    eventlet.monkey_patch()

import argparse  # noqa: E402
import datetime as dt  # noqa: E402
import json  # noqa: E402
import multiprocessing  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import random  # noqa: E402
import resource  # noqa: E402
import shutil  # noqa: E402
import sqlite3  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from collections import defaultdict  # noqa: E402
from pathlib import Path  # noqa: E402
from urllib.parse import urlsplit, urlunsplit  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))    # `python bench/crl.py` from anywhere

import cryptography  # noqa: E402
from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402

from services.ca import x509build  # noqa: E402

TARGETS = {100_000: 2.0, 1_000_000: 10.0}     # seconds, the whole _publish_crl (issue)
CA_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "certplane:bench:crl-issuing-ca"))
KEY_REF = "bench-key"
VALIDITY = dt.timedelta(days=7)               # nextUpdate, as crl_validity_days' default
DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
STEPS = ("check", "read", "lint", "build", "sign", "store", "event", "other")
# (x509build reason, openssl index.txt reason or None for "no reasonCode", share)
REASONS = (("unspecified", None, 30), ("superseded", "superseded", 30),
           ("cessation_of_operation", "cessationOfOperation", 25), ("affiliation_changed", "affiliationChanged", 8),
           ("key_compromise", "keyCompromise", 7))


# ---- the entries ------------------------------------------------------------------------------------------

def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def generate(count: int, seed: int, now: dt.datetime) -> list[tuple[int, dt.datetime, str]]:
    """(serial, revoked_at, reason) of `count` revocations: distinct 159-bit serials."""
    rng = random.Random(seed)
    names = [name for name, _, _ in REASONS]
    weights = [share for _, _, share in REASONS]
    reasons = rng.choices(names, weights, k=count)
    seen: set[int] = set()
    entries = []
    for reason in reasons:
        serial = 0
        while serial == 0 or serial in seen:
            serial = rng.getrandbits(x509build.SERIAL_BITS)
        seen.add(serial)
        entries.append((serial, now - dt.timedelta(seconds=rng.randrange(90 * 86400)), reason))
    return entries


def _encode(entry: tuple[int, dt.datetime, str]) -> bytes:
    return x509build.crl_entry(*entry)


def encode(entries) -> list[bytes]:
    """Each entry's DER as CaView.apply stores it when the revocation is applied (~0.1 ms each: a pool)."""
    with multiprocessing.get_context("fork").Pool() as pool:
        return pool.map(_encode, entries, chunksize=5000)


def openssl_serial(serial: int) -> str:
    """As openssl writes and looks serials up in index.txt (BN_bn2hex): upper case, whole octets."""
    text = format(serial, "X")
    return "0" + text if len(text) % 2 else text


def write_index(path: Path, entries, now: dt.datetime) -> None:
    openssl_reason = {name: theirs for name, theirs, _ in REASONS}
    expiry = (now + dt.timedelta(days=200)).strftime("%y%m%d%H%M%SZ")
    with open(path, "w") as out:
        for n, (serial, revoked_at, reason) in enumerate(entries):
            revoked = revoked_at.strftime("%y%m%d%H%M%SZ")
            if openssl_reason[reason]:
                revoked += "," + openssl_reason[reason]
            out.write(f"R\t{expiry}\t{revoked}\t{openssl_serial(serial)}\tunknown\t/CN=host{n}.bench.example.com\n")
    path.with_name(path.name + ".attr").write_text("unique_subject = no\n")


# ---- the ca's database ------------------------------------------------------------------------------------

def _ca_store(url: str, schema: str | None):
    """The ca service's store over `url` with its read model, and its CRL files (both create their tables)."""
    from services.ca.projections import CaView
    from services.ca.service import CrlFiles
    from services.runtime.db import make_database
    from services.runtime.store import EventStore
    store = EventStore(make_database(url, schema), "ca", [CaView])
    store.create_schema()
    return store, CrlFiles(store.db)


def _rows(entries, ders, now: dt.datetime):
    not_after = now + dt.timedelta(days=200)
    certificates = ((format(serial, "x"), CA_ID, f"bench-{n}", "revoked", revoked_at - dt.timedelta(days=1),
                     not_after, revoked_at, reason) for n, (serial, revoked_at, reason) in enumerate(entries))
    crl_entries = ((CA_ID, format(serial, "x"), der) for (serial, _, _), der in zip(entries, ders))
    return certificates, crl_entries


CERTIFICATE_COLUMNS = "serial, ca_id, request_id, status, not_before, not_after, revoked_at, reason"


def write_sqlite(path: Path, entries, ders, now: dt.datetime) -> str:
    url = f"sqlite:///{path}"
    store, _files = _ca_store(url, None)
    store.db.dispose()

    def stamp(moment: dt.datetime) -> str:          # as SQLAlchemy writes a DateTime on SQLite: naive UTC text
        return moment.strftime("%Y-%m-%d %H:%M:%S.%f")
    certificates, crl_entries = _rows(entries, ders, now)
    with sqlite3.connect(path) as conn:
        conn.executemany(f"INSERT INTO certificates ({CERTIFICATE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                         ((s, c, r, st, stamp(nb), stamp(na), stamp(ra), why)
                          for s, c, r, st, nb, na, ra, why in certificates))
        conn.executemany("INSERT INTO crl_entries (ca_id, serial, der) VALUES (?, ?, ?)", crl_entries)
    return url


def postgres_database(dsn: str) -> tuple[str | None, str]:
    """(the SQLAlchemy URL of a fresh database or None, a note)."""
    import psycopg
    try:
        with psycopg.connect(dsn, autocommit=True, connect_timeout=3) as conn:
            version = conn.execute("SHOW server_version").fetchone()[0]
            name = f"certplane_bench_crl_{os.getpid()}"
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as exc:
        return None, f"PostgreSQL at {urlsplit(dsn).netloc} not usable ({type(exc).__name__}): skipped"
    url = urlunsplit(urlsplit(dsn)._replace(path=f"/{name}")).replace("postgresql://", "postgresql+psycopg://", 1)
    return url, f"PostgreSQL {version} at {urlsplit(dsn).netloc}, database {name}"


def drop_database(dsn: str, url: str) -> None:
    import psycopg
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{urlsplit(url).path.lstrip("/")}" WITH (FORCE)')


def write_postgres(url: str, schema: str, entries, ders, now: dt.datetime) -> None:
    import psycopg
    store, _files = _ca_store(url, schema)
    store.db.dispose()
    certificates, crl_entries = _rows(entries, ders, now)
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://", 1), autocommit=True) as conn:
        with conn.cursor() as cursor:
            with cursor.copy(f'COPY "{schema}".certificates ({CERTIFICATE_COLUMNS}) FROM STDIN') as copy:
                for row in certificates:
                    copy.write_row(row)
            with cursor.copy(f'COPY "{schema}".crl_entries (ca_id, serial, der) FROM STDIN') as copy:
                for row in crl_entries:
                    copy.write_row(row)
        conn.execute(f'VACUUM ANALYZE "{schema}".certificates')
        conn.execute(f'VACUUM ANALYZE "{schema}".crl_entries')


# ---- the CA -----------------------------------------------------------------------------------------------

def make_ca(algorithm: str, directory: Path, now: dt.datetime) -> None:
    directory.mkdir()
    root_key, key = x509build.generate_key(algorithm), x509build.generate_key(algorithm)
    root = x509build.build_root(root_key, "Bench Root CA", now, 3650, country="US")
    issuing = x509build.build_issuing(key, root_key, root, "Bench Issuing CA", now, 1825,
                                      x509build.CaUrls.of("http://pki.bench.example.com", "bench-root"), country="US")
    (directory / "issuing.pem").write_bytes(issuing.public_bytes(serialization.Encoding.PEM))
    fd = os.open(directory / "issuing.key", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()))


def load_ca(directory: Path):
    cert = x509.load_pem_x509_certificate((directory / "issuing.pem").read_bytes())
    key = serialization.load_pem_private_key((directory / "issuing.key").read_bytes(), None)
    return cert, key


# ---- one Certplane run (child process) --------------------------------------------------------------------

def _status(field: str) -> int:
    """VmRSS / VmHWM of this process, in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


class StepTimes:
    """Wall seconds spent in each wrapped function. A call made inside another wrapped call is recorded under both
    names joined by "/" (crl_for_lint calls crl_tbs and sign_crl as well: "lint/build", "lint/sign")."""

    def __init__(self):
        self.seconds: dict[str, float] = defaultdict(float)
        self._local = threading.local()

    def wrap(self, name: str, function):
        def timed(*args, **kwargs):
            stack = self._local.__dict__.setdefault("names", [])
            stack.append(name)
            key = "/".join(stack)
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds[key] += time.perf_counter() - started
                stack.pop()
        return timed


class _WorkerInfo:
    def metadata(self) -> dict:
        return {"correlation_id": "bench", "actor": "system:crl", "causation_id": None}


def child(args) -> int:
    from types import SimpleNamespace

    from nameko.testing.services import worker_factory

    from services.ca import lint
    from services.ca.projections import CaView
    from services.ca.service import CaService, CrlFiles
    from services.runtime.db import make_database
    from services.runtime.nameko_glue import StoreHandle
    from services.runtime.store import EventStore

    cert, key = load_ca(Path(args.ca_dir))
    now = dt.datetime.fromisoformat(args.now)
    store = EventStore(make_database(args.db_url, args.schema), "ca", [CaView], clock=lambda: now)
    view = store.projection(CaView)
    tools = SimpleNamespace(settings=SimpleNamespace(crl_validity_days=VALIDITY.days, crl_refresh_hours=24),
                            keys={KEY_REF: key}, crl_files=CrlFiles(store.db), certificate=lambda ca: cert)
    service = worker_factory(CaService, store=StoreHandle(store, _WorkerInfo()), tools=tools)
    ca = {"ca_id": CA_ID, "key_ref": KEY_REF, "kind": "issuing"}

    lint.warm_up()                                       # as CaTools.setup does at service start
    small = x509build.CrlEntries.of([_encode(entry) for entry in generate(20, 1, now)])
    lint.lint_crl(x509build.crl_for_lint(cert, small.lint_sample(), 1, now, now + VALIDITY))  # the throwaway key
    x509build.sign_crl(x509build.crl_tbs(cert, small.chunks, 1, now, now + VALIDITY), key)
    started = time.perf_counter()                        # what maintain() reads before it decides to publish
    store.read(lambda conn: view.latest_crl(conn, CA_ID))
    store.read(lambda conn: view.last_revocation(conn, CA_ID))
    result: dict = {"precheck": time.perf_counter() - started}

    steps = StepTimes()
    service._crl_entries = steps.wrap("read", service._crl_entries)
    view.revoked_count = steps.wrap("check", view.revoked_count)
    view.revoked_without_crl_entry = steps.wrap("check", view.revoked_without_crl_entry)
    findings, stored = [], []

    def lint_crl(der, *rest, lint_crl=lint.lint_crl):
        found = lint_crl(der, *rest)
        findings.extend(found)
        return found

    def put(ca_id, number, der, put=tools.crl_files.put):
        stored.append(der)
        put(ca_id, number, der)
    x509build.crl_for_lint = steps.wrap("lint", x509build.crl_for_lint)
    lint.lint_crl = steps.wrap("lint", lint_crl)
    x509build.crl_tbs = steps.wrap("build", x509build.crl_tbs)
    x509build.sign_crl = steps.wrap("sign", x509build.sign_crl)
    tools.crl_files.put = steps.wrap("store", put)
    store.append = steps.wrap("event", store.append)

    held = _status("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")        # VmHWM := VmRSS, so the peak below is the publish's
    cpu = time.process_time()
    t0 = time.perf_counter()
    service._publish_crl(ca, now)
    total = time.perf_counter() - t0
    cpu = time.process_time() - cpu
    peak = _status("VmHWM")
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    der = stored[0] if stored else None
    seconds = steps.seconds
    result.update({name: seconds.get(name, 0.0) for name in STEPS if name not in ("check", "other")})
    result["check"] = seconds.get("read/check", 0.0)
    result["other"] = total - sum(result[name] for name in STEPS if name not in ("check", "other"))
    result.update(total=total, cpu=cpu, held_mib=held / 1024, peak_mib=peak / 1024, maxrss_mib=maxrss / 1024,
                  size=len(der or b""), lint_findings=len(findings),
                  lint_errors=[str(f) for f in lint.errors(findings)])
    if der is None and not result["lint_errors"]:
        raise SystemExit("no CRL was published, and the lint found no ERROR")
    if args.check and der is not None:
        parsed = x509.load_der_x509_crl(der)
        if len(parsed) != args.entries or not parsed.is_signature_valid(cert.public_key()):
            raise SystemExit("our CRL does not parse back with every entry and a valid signature")
        expected = {serial: (revoked_at, reason) for serial, revoked_at, reason in generate(args.entries, args.seed,
                                                                                            now)}
        for entry in parsed:
            reasons = [e.value.reason.name for e in entry.extensions if isinstance(e.value, x509.CRLReason)]
            if expected.get(entry.serial_number) != (entry.revocation_date_utc, reasons[0] if reasons
                                                     else "unspecified"):
                raise SystemExit(f"entry {entry.serial_number:x} differs from the revocation generated")
        Path(args.check).write_text("\n".join(sorted(format(r.serial_number, "x") for r in parsed)))
    print(json.dumps(result), flush=True)
    return 0


# ---- spawning ---------------------------------------------------------------------------------------------

# Each measured process is started by this small wrapper (`python -S -c`), not by the bench process: Linux
# counts the RSS of the process that forks into the child's ru_maxrss, and the bench process holds hundreds of MiB.
SPAWN = """\
import json, os, sys, time
started = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.execvp(sys.argv[2], sys.argv[2:])
_pid, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as out:
    json.dump({"wall": time.perf_counter() - started, "code": os.waitstatus_to_exitcode(status),
               "cpu": usage.ru_utime + usage.ru_stime, "maxrss_kib": usage.ru_maxrss}, out)
"""


def spawn(command: list[str], workdir: Path) -> tuple[dict, str]:
    """Run `command` under SPAWN: (its wall time, exit code, CPU, ru_maxrss; its output)."""
    measured = workdir / "spawn.json"
    done = subprocess.run([sys.executable, "-S", "-c", SPAWN, str(measured), *command], capture_output=True,
                          text=True)
    if done.returncode != 0 or not measured.exists():
        raise RuntimeError(f"the spawn wrapper failed ({done.returncode}):\n{done.stderr[-3000:]}")
    usage = json.loads(measured.read_text())
    measured.unlink()
    return usage, done.stdout + done.stderr


def run_ours(ca_dir: Path, entries: int, seed: int, now: dt.datetime, db_url: str, schema: str | None,
             check: Path | None, workdir: Path) -> dict:
    command = [sys.executable, __file__, "--child", "--ca-dir", str(ca_dir), "--entries", str(entries),
               "--seed", str(seed), "--now", now.isoformat(), "--db-url", db_url]
    if schema:
        command += ["--schema", schema]
    if check:
        command += ["--check", str(check)]
    usage, output = spawn(command, workdir)
    if usage["code"] != 0:
        raise RuntimeError(f"the Certplane run failed ({usage['code']}):\n{output[-3000:]}")
    return json.loads(output.strip().splitlines()[-1])


# ---- one openssl run --------------------------------------------------------------------------------------

OPENSSL_CNF = """\
[ ca ]
default_ca = bench

[ bench ]
database         = {dir}/index.txt
certificate      = {ca_dir}/issuing.pem
private_key      = {ca_dir}/issuing.key
crlnumber        = {dir}/crlnumber
default_md       = sha256
default_crl_days = 7
crl_extensions   = crl_ext
unique_subject   = no

[ crl_ext ]
authorityKeyIdentifier = keyid:always
"""


def run_openssl(directory: Path, workdir: Path) -> dict:
    usage, output = spawn(["openssl", "ca", "-gencrl", "-batch", "-config", str(directory / "openssl.cnf"),
                           "-out", str(directory / "crl.pem")], workdir)
    if usage["code"] != 0:
        raise RuntimeError(f"openssl ca -gencrl failed ({usage['code']}):\n{output[-3000:]}")
    return {"total": usage["wall"], "cpu": usage["cpu"], "maxrss_mib": usage["maxrss_kib"] / 1024,
            "peak_mib": usage["maxrss_kib"] / 1024}


def check_openssl(directory: Path, cert, entries: int, ours_serials: Path) -> int:
    crl = x509.load_pem_x509_crl((directory / "crl.pem").read_bytes())
    if len(crl) != entries or not crl.is_signature_valid(cert.public_key()):
        raise RuntimeError("openssl's CRL does not parse back with every entry and a valid signature")
    serials = "\n".join(sorted(format(r.serial_number, "x") for r in crl))
    if serials != ours_serials.read_text():
        raise RuntimeError("openssl's CRL does not list the same serials as ours")
    return len(crl.public_bytes(serialization.Encoding.DER))


# ---- main -------------------------------------------------------------------------------------------------

def fmt_range(values: list[float]) -> str:
    return f"{min(values):.2f}-{max(values):.2f}"


def report(results: dict, algorithms: list[str], sizes: list[int], tools: list[str]) -> None:
    header = (f"{'CA key':<9} {'entries':>9} {'tool':<18} {'total s':>7} {'range':>11} "
              + " ".join(f"{step:>6}" for step in STEPS)
              + f" {'prechk':>6} {'CPU s':>6} {'held':>5} {'peak':>5} {'maxrss':>6}")
    print(header)
    print("-" * len(header))
    verdicts, ratios = [], []
    for algorithm in algorithms:
        for size in sizes:
            theirs = results.get((algorithm, size, "openssl"))
            for tool in tools:
                rows = results.get((algorithm, size, tool))
                if not rows:
                    continue

                def med(key, rows=rows, digits=2):
                    values = [r[key] for r in rows if key in r]
                    return f"{statistics.median(values):.{digits}f}" if values else "-"
                total = [r["total"] for r in rows]
                print(f"{algorithm:<9} {size:>9,} {tool:<18} {statistics.median(total):>7.2f} "
                      f"{fmt_range(total):>11} " + " ".join(f"{med(step):>6}" for step in STEPS)
                      + f" {med('precheck'):>6} {med('cpu'):>6} {med('held_mib', digits=0):>5} "
                        f"{med('peak_mib', digits=0):>5} {med('maxrss_mib', digits=0):>6}")
                if tool == "openssl":
                    continue
                ours_s = statistics.median(total)
                if theirs:
                    ratios.append(f"{algorithm} {size:,} {tool}: "
                                  f"{ours_s / statistics.median(r['total'] for r in theirs):.2f}×")
                if size in TARGETS:
                    verdicts.append(f"{algorithm} {size:,} entries, {tool}: {ours_s:.2f} s against "
                                    f"< {TARGETS[size]:.0f} s — {'met' if ours_s < TARGETS[size] else 'NOT met'}")
        print("-" * len(header))
    print("time ratio Certplane / openssl (lower is faster; the whole _publish_crl, from the database to the stored "
          "DER and its event, against openssl's whole process): " + ", ".join(ratios))
    print("targets (the whole _publish_crl, median):")
    for verdict in verdicts:
        print("  " + verdict)
    print("steps in seconds (docstring): `check` is part of `read`; `prechk` is maintain()'s two reads before it "
          "publishes, not in total; MiB: `held` the child's RSS before publishing, `peak` its VmHWM while "
          "publishing, `maxrss` its ru_maxrss over its life (openssl: ru_maxrss of `openssl ca` for all three).")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", default="100000,1000000", help="comma-separated CRL sizes")
    parser.add_argument("--algorithms", default="ec-p256,rsa-3072", help="issuing CA key algorithms")
    parser.add_argument("--backends", default="sqlite,postgres", help="the ca's database: sqlite and/or postgres")
    parser.add_argument("--dsn", default=DEFAULT_DSN, help="PostgreSQL server to make the bench database on")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (path printed)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--ca-dir", help=argparse.SUPPRESS)
    parser.add_argument("--now", help=argparse.SUPPRESS)
    parser.add_argument("--db-url", help=argparse.SUPPRESS)
    parser.add_argument("--schema", help=argparse.SUPPRESS)
    parser.add_argument("--check", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        args.entries = int(args.entries)
        return child(args)
    sizes = [int(n) for n in args.entries.split(",") if n.strip()]
    algorithms = [a.strip() for a in args.algorithms.split(",") if a.strip()]
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if set(backends) - {"sqlite", "postgres"}:
        parser.error("--backends takes sqlite and/or postgres")
    if shutil.which("openssl") is None:
        raise SystemExit("openssl not found on PATH (the baseline)")
    openssl_version = subprocess.run(["openssl", "version"], capture_output=True, text=True).stdout.strip()
    load = os.getloadavg()
    print(f"bench/crl.py — {time.strftime('%Y-%m-%d %H:%M:%S %Z')} — {os.cpu_count()} CPUs, load "
          f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; Python {platform.python_version()}, cryptography "
          f"{cryptography.__version__}, {openssl_version}; sizes {sizes}, CA keys {algorithms}, {args.rounds} "
          f"rounds, median shown", flush=True)
    pg_url = None
    if "postgres" in backends:
        pg_url, note = postgres_database(args.dsn)
        print(f"  {note}", flush=True)
        if pg_url is None:
            backends.remove("postgres")
    tools = [f"certplane-{backend}" for backend in backends] + ["openssl"]

    workdir = Path(tempfile.mkdtemp(prefix="certplane-bench-crl-"))
    now = now_utc()
    results: dict[tuple[str, int, str], list[dict]] = {}
    databases: dict[tuple[str, int], tuple[str, str | None]] = {}
    sizes_der: dict[tuple[str, int, str], int] = {}
    failed = False
    try:
        started = time.monotonic()
        for algorithm in algorithms:
            make_ca(algorithm, workdir / algorithm, now)
        for size in sizes:
            entries = generate(size, args.seed, now)
            write_index(workdir / f"index-{size}.txt", entries, now)
            ders = encode(entries)
            if "sqlite" in backends:
                databases[("certplane-sqlite", size)] = (write_sqlite(workdir / f"ca-{size}.sqlite3", entries, ders,
                                                                      now), None)
            if "postgres" in backends:
                write_postgres(pg_url, f"ca_{size}", entries, ders, now)
                databases[("certplane-postgres", size)] = (pg_url, f"ca_{size}")
            del entries, ders
            for algorithm in algorithms:
                directory = workdir / f"{algorithm}-{size}"
                directory.mkdir()
                for name in ("index.txt", "index.txt.attr"):
                    (directory / name).symlink_to(workdir / f"index-{size}.txt{name[9:]}")
                (directory / "crlnumber").write_text("01\n")
                (directory / "openssl.cnf").write_text(OPENSSL_CNF.format(dir=directory,
                                                                          ca_dir=workdir / algorithm))
            print(f"  {size:,} entries: CRL entries encoded, index.txt and the ca's database(s) written "
                  f"({time.monotonic() - started:.0f} s so far)", flush=True)

        for round_no in range(args.rounds):
            for algorithm in algorithms:
                for size in sizes:
                    directory = workdir / f"{algorithm}-{size}"
                    shift = round_no % len(tools)
                    line = []
                    for tool in tools[shift:] + tools[:shift]:
                        if tool == "openssl":
                            result = run_openssl(directory, workdir)
                            line.append(f"openssl {result['total']:.2f} s")
                        else:
                            check = directory / f"{tool}-serials.txt" if round_no == 0 else None
                            db_url, schema = databases[(tool, size)]
                            result = run_ours(workdir / algorithm, size, args.seed, now, db_url, schema, check,
                                              workdir)
                            if result["lint_errors"]:
                                failed = True
                                print(f"  lint ERRORs on the CRL ({algorithm}, {size}): {result['lint_errors']}")
                            sizes_der[(algorithm, size, tool)] = result["size"]
                            line.append(f"{tool} {result['total']:.2f} s (read {result['read']:.2f}, lint "
                                        f"{result['lint']:.2f}, build {result['build']:.2f}, sign "
                                        f"{result['sign']:.2f}, store {result['store']:.2f})")
                        results.setdefault((algorithm, size, tool), []).append(result)
                    if round_no == 0:
                        cert, _key = load_ca(workdir / algorithm)
                        for tool in tools[:-1]:
                            theirs = check_openssl(directory, cert, size, directory / f"{tool}-serials.txt")
                            line.append(f"checked {tool}: every entry as generated, the same serials as openssl;"
                                        f" DER {sizes_der[(algorithm, size, tool)]:,} / {theirs:,} bytes")
                    print(f"  round {round_no + 1}, {algorithm}, {size:>9,}: " + "; ".join(line), flush=True)
    except BaseException:
        failed = True
        raise
    finally:
        print()
        if results:
            report(results, algorithms, sizes, tools)
            load = os.getloadavg()
            print(f"load average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
        if pg_url:
            drop_database(args.dsn, pg_url)
        if args.keep or failed:
            print(f"\ntemporary directory kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
