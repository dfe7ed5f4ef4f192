"""What publishing a CRL of 100,000 and 1,000,000 revoked certificates costs Certplane, against
`openssl ca -gencrl` over an index.txt with the same entries and the same CA key, in the same run.

    .venv/bin/python bench/crl.py [--entries 100000,1000000] [--algorithms ec-p256,rsa-3072] [--rounds 3]
                                  [--seed 2026] [--skip-view] [--keep]

**What is timed for Certplane** is what `CaService._publish_crl` (services/ca/service.py) does with the entries
once it has them, calling the same functions:

    lint     lint.errors(lint.lint_crl(x509build.crl_for_lint(cert, revoked, number, now, next_update)))
             (the sample of extremes per reason, signed with the throwaway key, checked by pkilint `crl-br`)
    build    x509build.build_crl(cert, issuing_key, revoked, number, now, next_update)
    der      crl.public_bytes(serialization.Encoding.DER)

The target (issue) is on lint + build + der: under 2 s for 100,000 entries and under 10 s for 1,000,000.
Not in the target, printed beside it as `view`: the read that comes first in `_publish_crl`,
`CaView.revoked(conn, ca_id)` (services/ca/projections.py) on a connection that has just answered
`CaView.last_revocation` (as `maintain()` asks it first), on a SQLite file that holds exactly the revoked rows
(embedded mode's database; the real table also holds every unrevoked certificate, which the query skips).
`--skip-view` leaves it out (the entries are then generated in the measuring process). Not measured at all: storing
the DER (`CrlFiles.put`), the `crl_published` event, the sha256 of the DER.

**The entries** are the same for both tools and every round (seeded): serials of 159 random bits (as
`x509build.new_serial`), revocation times spread over the last 90 days at one-second resolution, and the BR 7.2.2
leaf reasons that both tools can write: unspecified 30 % (no reasonCode, as `build_crl` and `openssl ca` both omit
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
(v2, CRLNumber, AKI, reasonCode per entry). Its time is the process's wall time from fork to exit: it includes
reading and parsing index.txt (Certplane's `view` is its counterpart) and writing PEM (it cannot write DER).

**Each run is its own process**: Certplane's in a child `python bench/crl.py --child ...` (imports, pkilint's
validators, the throwaway lint key and one small CRL signed with the real key are made before timing, as a running
service has them), openssl's a spawned `openssl ca`. Runs are interleaved — for each round, algorithm and size,
both tools, their order alternating each round — and the table shows the median over `--rounds`, with the range.
Both are started through a small `python -S` wrapper that forks and execs them and reads their wait4 rusage, so
their ru_maxrss does not start at the bench process's RSS (Linux counts the forking process's RSS in it).
Peak RSS: Certplane's is the child's VmHWM over the timed steps (reset through /proc/self/clear_refs just before;
the entries are already in memory then, shown as `held`), and the child's `ru_maxrss` (getrusage) over its whole
life, view read included; openssl's is its `ru_maxrss`.

**Checked, not timed**: the lint finds no ERROR; in the first round each CRL is parsed back (cryptography), has N
entries and a signature that verifies with the issuing CA's key; openssl's lists the same serials, and the entries
read from the view equal the generated ones. No assertion is made on any time: the verdict on each target is
printed.

The temporary directory is removed at the end (kept with --keep, or when a run fails).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))    # `python bench/crl.py` from anywhere

import cryptography  # noqa: E402
from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402

from services.ca import x509build  # noqa: E402

TARGETS = {100_000: 2.0, 1_000_000: 10.0}     # seconds, lint + build + der (issue)
CA_ID = "bench-issuing-ca"
VALIDITY = dt.timedelta(days=7)               # nextUpdate, as crl_validity_days' default
# (x509build reason, openssl index.txt reason or None for "no reasonCode", share)
REASONS = (("unspecified", None, 30), ("superseded", "superseded", 30),
           ("cessation_of_operation", "cessationOfOperation", 25), ("affiliation_changed", "affiliationChanged", 8),
           ("key_compromise", "keyCompromise", 7))
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


# ---- the entries ------------------------------------------------------------------------------------------

def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def generate(count: int, seed: int, now: dt.datetime) -> list[tuple[int, dt.datetime, str]]:
    """(serial, revoked_at, reason) as `CaView.revoked` returns them: distinct 159-bit serials."""
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


def write_view(path: Path, entries, now: dt.datetime) -> None:
    """A SQLite file with the ca service's `certificates` table (CaView's own definition), one revoked row per
    entry, written as SQLAlchemy writes it (timestamps as naive UTC text)."""
    import sqlalchemy as sa
    from services.ca.projections import CaView
    engine = sa.create_engine(f"sqlite:///{path}")
    metadata = sa.MetaData()
    CaView(metadata)
    metadata.create_all(engine)
    engine.dispose()

    def stamp(moment: dt.datetime) -> str:
        return moment.strftime("%Y-%m-%d %H:%M:%S.%f")
    not_after = stamp(now + dt.timedelta(days=200))
    rows = ((format(serial, "x"), CA_ID, f"bench-{n}", "revoked", stamp(revoked_at - dt.timedelta(days=1)),
             not_after, stamp(revoked_at), reason) for n, (serial, revoked_at, reason) in enumerate(entries))
    with sqlite3.connect(path) as conn:
        conn.executemany("INSERT INTO certificates (serial, ca_id, request_id, status, not_before, not_after, "
                         "revoked_at, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)


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


def child(args) -> int:
    from services.ca import lint
    cert, key = load_ca(Path(args.ca_dir))
    now = dt.datetime.fromisoformat(args.now)
    next_update = now + VALIDITY
    result: dict = {}
    lint.warm_up()                                       # as CaTools.setup does at service start
    small = generate(20, 1, now)
    lint.lint_crl(x509build.crl_for_lint(cert, small, 1, now, next_update))   # makes the throwaway key
    x509build.build_crl(cert, key, small, 1, now, next_update).public_bytes(serialization.Encoding.DER)

    if args.view:
        import sqlalchemy as sa
        from services.ca.projections import CaView
        from services.runtime.db import make_database
        db = make_database(f"sqlite:///{args.view}", None)
        view = CaView(sa.MetaData())
        with db.engine.connect() as conn:
            view.last_revocation(conn, CA_ID)            # what maintain() asks first: a warm connection
            started = time.perf_counter()
            revoked = view.revoked(conn, CA_ID)
            result["view"] = time.perf_counter() - started
        db.dispose()
    else:
        revoked = generate(args.entries, args.seed, now)
    if len(revoked) != args.entries:
        raise SystemExit(f"{len(revoked)} entries, expected {args.entries}")
    if args.check and args.view and revoked != generate(args.entries, args.seed, now):
        raise SystemExit("the entries read from the view differ from the generated ones")

    held = _status("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")        # VmHWM := VmRSS, so the peak below is the timed part's
    cpu = time.process_time()
    t0 = time.perf_counter()
    findings = lint.lint_crl(x509build.crl_for_lint(cert, revoked, 2, now, next_update))
    errors = lint.errors(findings)
    t1 = time.perf_counter()
    crl = x509build.build_crl(cert, key, revoked, 2, now, next_update)
    t2 = time.perf_counter()
    der = crl.public_bytes(serialization.Encoding.DER)
    t3 = time.perf_counter()
    result.update(lint=t1 - t0, build=t2 - t1, der=t3 - t2, total=t3 - t0, cpu=time.process_time() - cpu,
                  held_mib=held / 1024, peak_mib=_status("VmHWM") / 1024,
                  maxrss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, size=len(der),
                  lint_errors=[str(e) for e in errors], lint_findings=len(findings))
    if args.check:
        parsed = x509.load_der_x509_crl(der)
        if len(parsed) != args.entries or not parsed.is_signature_valid(cert.public_key()):
            raise SystemExit("our CRL does not parse back with every entry and a valid signature")
        Path(args.check).write_text("\n".join(sorted(format(r.serial_number, "x") for r in parsed)))
    print(json.dumps(result), flush=True)
    return 0


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


def run_ours(ca_dir: Path, entries: int, seed: int, now: dt.datetime, view: Path | None,
             check: Path | None, workdir: Path) -> dict:
    command = [sys.executable, __file__, "--child", "--ca-dir", str(ca_dir), "--entries", str(entries),
               "--seed", str(seed), "--now", now.isoformat()]
    if view:
        command += ["--view", str(view)]
    if check:
        command += ["--check", str(check)]
    usage, output = spawn(command, workdir)
    if usage["code"] != 0:
        raise RuntimeError(f"the Certplane run failed ({usage['code']}):\n{output[-3000:]}")
    return json.loads(output.strip().splitlines()[-1])


# ---- one openssl run --------------------------------------------------------------------------------------

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", default="100000,1000000", help="comma-separated CRL sizes")
    parser.add_argument("--algorithms", default="ec-p256,rsa-3072", help="issuing CA key algorithms")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--skip-view", action="store_true", help="do not read the entries from a CaView table")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (path printed)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--ca-dir", help=argparse.SUPPRESS)
    parser.add_argument("--now", help=argparse.SUPPRESS)
    parser.add_argument("--view", help=argparse.SUPPRESS)
    parser.add_argument("--check", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        args.entries = int(args.entries)
        return child(args)
    sizes = [int(n) for n in args.entries.split(",") if n.strip()]
    algorithms = [a.strip() for a in args.algorithms.split(",") if a.strip()]
    if shutil.which("openssl") is None:
        raise SystemExit("openssl not found on PATH (the baseline)")
    openssl_version = subprocess.run(["openssl", "version"], capture_output=True, text=True).stdout.strip()
    load = os.getloadavg()
    print(f"bench/crl.py — {time.strftime('%Y-%m-%d %H:%M:%S %Z')} — {os.cpu_count()} CPUs, load "
          f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; Python {platform.python_version()}, cryptography "
          f"{cryptography.__version__}, {openssl_version}; sizes {sizes}, CA keys {algorithms}, {args.rounds} "
          f"rounds, median shown", flush=True)

    workdir = Path(tempfile.mkdtemp(prefix="certplane-bench-crl-"))
    now = now_utc()
    results: dict[tuple[str, int, str], list[dict]] = {}
    sizes_der: dict[tuple[str, int], int] = {}
    failed = False
    try:
        started = time.monotonic()
        for algorithm in algorithms:
            make_ca(algorithm, workdir / algorithm, now)
        views: dict[int, Path] = {}
        for size in sizes:
            entries = generate(size, args.seed, now)
            write_index(workdir / f"index-{size}.txt", entries, now)
            if not args.skip_view:
                views[size] = workdir / f"view-{size}.sqlite3"
                write_view(views[size], entries, now)
            del entries
            for algorithm in algorithms:
                directory = workdir / f"{algorithm}-{size}"
                directory.mkdir()
                for name in ("index.txt", "index.txt.attr"):
                    (directory / name).symlink_to(workdir / f"index-{size}.txt{name[9:]}")
                (directory / "crlnumber").write_text("01\n")
                (directory / "openssl.cnf").write_text(OPENSSL_CNF.format(dir=directory,
                                                                          ca_dir=workdir / algorithm))
        print(f"  CAs, entries, index.txt and view tables ready in {time.monotonic() - started:.1f} s", flush=True)

        for round_no in range(args.rounds):
            for algorithm in algorithms:
                for size in sizes:
                    directory = workdir / f"{algorithm}-{size}"
                    check = directory / "ours-serials.txt" if round_no == 0 else None
                    order = ("certplane", "openssl") if round_no % 2 == 0 else ("openssl", "certplane")
                    line = []
                    for tool in order:
                        if tool == "certplane":
                            result = run_ours(workdir / algorithm, size, args.seed, now, views.get(size), check,
                                              workdir)
                            if result["lint_errors"]:
                                failed = True
                                print(f"  lint ERRORs on the CRL ({algorithm}, {size}): {result['lint_errors']}")
                            sizes_der[(algorithm, size)] = result["size"]
                            view = f", view {result['view']:.2f}" if "view" in result else ""
                            line.append(f"certplane {result['total']:.2f} s (lint {result['lint']:.2f}, build "
                                        f"{result['build']:.2f}, der {result['der']:.2f}{view})")
                        else:
                            result = run_openssl(directory, workdir)
                            line.append(f"openssl {result['total']:.2f} s")
                        results.setdefault((algorithm, size, tool), []).append(result)
                    if check:
                        cert, _key = load_ca(workdir / algorithm)
                        theirs = check_openssl(directory, cert, size, check)
                        line.append(f"checked: both list the same {size} serials; DER {sizes_der[(algorithm, size)]:,}"
                                    f" / {theirs:,} bytes")
                    print(f"  round {round_no + 1}, {algorithm}, {size:>9,}: " + "; ".join(line), flush=True)
    except BaseException:
        failed = True
        raise
    finally:
        print()
        if results:
            header = (f"{'CA key':<9} {'entries':>9} {'tool':<10} {'total s':>8} {'range':>11} {'lint':>6} "
                      f"{'build':>6} {'der':>6} {'view':>6} {'CPU s':>6} {'held MiB':>8} {'peak MiB':>8} "
                      f"{'maxrss MiB':>10}")
            print(header)
            print("-" * len(header))
            verdicts, ratios = [], []
            for algorithm in algorithms:
                for size in sizes:
                    for tool in ("certplane", "openssl"):
                        rows = results.get((algorithm, size, tool))
                        if not rows:
                            continue

                        def med(key, rows=rows):
                            values = [r[key] for r in rows if key in r]
                            return f"{statistics.median(values):.2f}" if values else "-"
                        total = [r["total"] for r in rows]
                        held = f"{statistics.median(r['held_mib'] for r in rows):.0f}" if tool == "certplane" \
                            else "-"
                        print(f"{algorithm:<9} {size:>9,} {tool:<10} {statistics.median(total):>8.2f} "
                              f"{fmt_range(total):>11} {med('lint'):>6} {med('build'):>6} {med('der'):>6} "
                              f"{med('view'):>6} {med('cpu'):>6} {held:>8} "
                              f"{statistics.median(r['peak_mib'] for r in rows):>8.0f} "
                              f"{statistics.median(r['maxrss_mib'] for r in rows):>10.0f}")
                    ours = results.get((algorithm, size, "certplane"))
                    theirs = results.get((algorithm, size, "openssl"))
                    if ours and theirs:
                        ratio = statistics.median(r["total"] for r in ours) / \
                            statistics.median(r["total"] for r in theirs)
                        ratios.append(f"{algorithm} {size:,}: {ratio:.2f}×")
                    if ours and size in TARGETS:
                        ours_s = statistics.median(r["total"] for r in ours)
                        verdicts.append(f"{algorithm} {size:,} entries: {ours_s:.2f} s against < {TARGETS[size]:.0f} s"
                                        f" — {'met' if ours_s < TARGETS[size] else 'NOT met'}")
                print("-" * len(header))
            print("time ratio Certplane / openssl (lower is faster; Certplane's lint+build+der against openssl's whole "
                  "process): " + ", ".join(ratios))
            print("targets (lint + build + der, median):")
            for verdict in verdicts:
                print("  " + verdict)
            print("`view` (CaView.revoked on SQLite, before the timed steps in _publish_crl) is not in the target; "
                  "`held` is the child's RSS with the entries loaded, `peak` its VmHWM during the timed steps, "
                  "`maxrss` its ru_maxrss over its life (openssl: ru_maxrss of `openssl ca`).")
            load = os.getloadavg()
            print(f"load average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
        if args.keep or failed:
            print(f"\ntemporary directory kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
