"""The SSL inventory at 100,000 certificates: GET /api/v1/ssl over HTTP, and the console's inventory screen in
Chromium (time from navigation to rendered rows), embedded mode, against the issue 12 target of < 1 s.

    .venv/bin/python bench/console.py [--certificates 100000] [--requests 40] [--browser-runs 5] [--skip-before]
                                      [--skip-postgres] [--dsn postgresql://postgres@127.0.0.1:5432/postgres] [--keep]

1. One embedded `certplane run` (its own temporary CERTPLANE_VAR_DIR and port) is started; the initial MRAO logs
   in (first-login password change done), creates 4 organizations with 2 departments each, and reads the ssl
   profiles. The server is stopped.
2. The certificates are seeded **through events**, into the stopped server's enrollment store: for each
   certificate the events real issuance appends (domain.decide_request with auto-approval: ssl_requested,
   ssl_approved, ssl_applied, then ssl_issued; some also ssl_downloaded or ssl_revoked), appended with
   EventStore.append_streams in batches of 1,000 certificates, so enrollment's projection builds the inventory
   in the append transaction, and the hash chain is intact. They are spread over the organizations,
   departments (half have none), profiles, key types and 800 days of issuance (terms 90-397 days, so many have
   expired). Not signed by the CA: one template certificate stands in for every PEM (the list never shows it);
   serials (159 random bits) and fingerprints are unique. The store clock runs with the batches, so created_at
   and notAfter are spread as in real use.
   The relay's published position and notify's tracking of enrollment are set to the new head: in real use
   both followed these events as they happened (notify's collection mails), so the steady state measured here
   is "everyone caught up", not a replay of 400,000 events during the measurement.
3. EnrollmentView.ssl_page itself is timed on the enrollment database for every case (no HTTP, no RPC), then
   again after the inventory's indexes are replaced by the previous version's single-column ones (unless
   `--skip-before`): the before/after of the indexes on the same rows. The same on PostgreSQL if it answers
   (`--dsn`, `--skip-postgres`): the inventory's rows copied into a fresh database, VACUUM ANALYZE, timed with
   and without the indexes, the database dropped.
4. The indexes are put back (restore_indexes), the server is started again and measured:
   (a) every case's GET /api/v1/ssl (page size 50) `--requests` times, one keep-alive client: p50/p95;
   (b) Chromium (Debian's /usr/bin/chromium, headless, Playwright without its browser download) logs in on the
   login page, then for the first page and a filtered page, `--browser-runs` times each: about:blank, then
   `/#/ssl?...`, timed until a row (`<tr>`, not the "no match" one) is in `[data-testid="ssl-rows"]` and the
   next animation frame has run (the rows are painted). Printed: median and max, the ratio of the browser
   median to the API p50 of the same query, and whether < 1 s holds.
   If the console has no such screen yet, it says "console screen not present yet" and measures only the API.
"""
from __future__ import annotations

import argparse
import hashlib
import random
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import requests
import sqlalchemy as sa

from auth import CERTPLANE, ROOT, Server, call, first_login
from load import rank_ms

sys.path.insert(0, str(ROOT))

from services.enrollment import domain  # noqa: E402
from services.enrollment.events import SslDownloaded, SslIssued, SslRequested, SslRevoked  # noqa: E402
from services.enrollment.projections import EnrollmentView  # noqa: E402
from services.runtime.db import make_database  # noqa: E402
from services.runtime.store import EventStore, StreamAppend  # noqa: E402
from tests import factories  # noqa: E402

PASSWORD = "bench first-login passphrase"           # what auth.first_login sets
TARGET_SECONDS = 1.0
BATCH = 1000
WORDS = ("api", "www", "mail", "vpn", "db", "cache", "auth", "shop", "intranet", "git", "build", "metrics")
ZONES = ("corp.example.com", "prod.example.net", "dev.example.org", "eu.example.com")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


# ---- world and seed -----------------------------------------------------------------------------------------

def make_world(server: Server) -> dict:
    token, admin_id = first_login(server)
    orgs = []
    with requests.Session() as s:
        s.headers["Authorization"] = f"Bearer {token}"
        for n in range(4):
            org = call(s, "POST", f"{server.base_url}/api/v1/organizations", 201, json={
                "name": f"Inventory Org {n}", "address1": f"{n} Main St", "city": "Berlin", "state": "Berlin",
                "country": "DE"}).json()
            departments = [call(s, "POST", f"{server.base_url}/api/v1/organizations/{org['organization_id']}"
                                           f"/departments", 201, json={"name": f"Dept {n}-{d}"}).json()
                           for d in range(2)]
            orgs.append({"organization_id": org["organization_id"], "name": org["name"],
                         "departments": [(d["department_id"], d["name"]) for d in departments]})
        deadline = time.monotonic() + 30
        profiles = []
        while not profiles and time.monotonic() < deadline:
            profiles = [p for p in call(s, "GET", f"{server.base_url}/api/v1/profiles", 200).json()["items"]
                        if p["cert_type"] == "ssl"]
            time.sleep(0.2)
    if not profiles:
        raise RuntimeError("no ssl profiles after 30 s")
    return {"admin_id": admin_id, "orgs": orgs, "profiles": profiles}


class StepClock:
    """The store's clock during the seed: `now` - 800 days, moved on after every batch."""

    def __init__(self, start: datetime, step: timedelta):
        self.now, self.step = start, step

    def __call__(self) -> datetime:
        return self.now


def seed(var_dir: Path, world: dict, count: int, rnd: random.Random) -> tuple[int, float]:
    """Append `count` certificates' events into the enrollment store: (events appended, seconds)."""
    now = datetime.now(timezone.utc)
    batches = max(1, -(-count // BATCH))
    clock = StepClock(now - timedelta(days=800), timedelta(days=800) / batches)
    db = make_database(f"sqlite:///{var_dir / 'enrollment.sqlite3'}", None)
    store = EventStore(db, "enrollment", [EnrollmentView], clock=clock)
    store.create_schema()
    key_types = {"ec-p256": factories.csr("ec-p256", cn="template.example.com", sans=("template.example.com",)),
                 "rsa-2048": factories.csr("rsa-2048", cn="template.example.com", sans=("template.example.com",))}
    template = _template_certificate()
    admin = world["admin_id"]
    appended, started, n = 0, time.perf_counter(), 0
    for _batch in range(batches):
        parts = []
        for _ in range(min(BATCH, count - n)):
            parts.append(_certificate(n, world, rnd, key_types, template, admin, clock.now))
            n += 1
        store.append_streams(parts, {"correlation_id": "bench-console-seed", "actor": admin, "causation_id": None})
        appended += sum(len(p.events) for p in parts)
        clock.now += clock.step
    head = store.head()
    store.set_published_position(head)              # see the module doc: the relay had published these
    db.dispose()
    notify = make_database(f"sqlite:///{var_dir / 'notify.sqlite3'}", None)
    with notify.writer() as conn, conn.begin():
        moved = conn.execute(sa.text("UPDATE tracking SET position = :head WHERE source = 'enrollment'"),
                             {"head": head}).rowcount
    notify.dispose()
    if moved != 1:
        raise RuntimeError("notify has no tracking row for enrollment: did the first start finish?")
    return appended, time.perf_counter() - started


def _certificate(n: int, world: dict, rnd: random.Random, csrs: dict, template: str, admin: str,
                 issued_at: datetime) -> StreamAppend:
    ssl_id = str(uuid.UUID(int=rnd.getrandbits(128), version=4))
    org = world["orgs"][n % len(world["orgs"])]
    department_id, department_name = rnd.choice([*org["departments"], (None, None), (None, None)])
    profile = world["profiles"][n % len(world["profiles"])]
    key_type = "ec-p256" if n % 3 else "rsa-2048"
    cn = f"{rnd.choice(WORDS)}{n}.{rnd.choice(ZONES)}"
    sans = [cn, *([f"alt{n}.{rnd.choice(ZONES)}"] if n % 2 else [])]
    term = rnd.choice((90, 200, 365, 397))
    subject = {"organization": org["name"], "organizational_unit": department_name, "country": "DE",
               "state": "Berlin", "locality": "Berlin"}
    requested = SslRequested(ssl_id, org["organization_id"], department_id, profile["profile_id"], term, cn, sans,
                             key_type, csrs[key_type].decode(), subject, None, None, False, admin, None, None, False,
                             profile.get("trust_class") or "private")
    serial = format(rnd.getrandbits(159) | (1 << 150), "x")
    events = domain.decide_request(domain.Ssl(), requested, admin) + [SslIssued(
        ssl_id, serial, "00000000-0000-4000-8000-0000000000ca", issued_at.isoformat(),
        (issued_at + timedelta(days=term)).isoformat(), hashlib.sha256(serial.encode()).hexdigest(), template,
        [template], hashlib.sha256(ssl_id.encode()).hexdigest())]
    fate = rnd.random()
    if fate < 0.30:
        events.append(SslDownloaded(ssl_id, "pem", admin))
    elif fate < 0.34:
        events.append(SslRevoked(ssl_id, serial, "key_compromise", admin))
    return StreamAppend(f"ssl-{ssl_id}", 0, tuple(e.encode() for e in events))


def _template_certificate() -> str:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "template.example.com")])
    now = datetime.now(timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now).not_valid_after(now + timedelta(days=90))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("template.example.com")]), critical=False)
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode()


# ---- measuring ----------------------------------------------------------------------------------------------

def api_cases(world: dict, rnd: random.Random) -> list[tuple[str, dict]]:
    soon = (datetime.now(timezone.utc) + timedelta(days=30)).replace(microsecond=0).isoformat()
    return [("first page", {}),
            ("status=issued", {"status": "issued"}),
            ("status=expired", {"status": "expired"}),
            ("q=vpn12 (CN/SAN/serial)", {"q": "vpn12"}),
            ("organization", {"organization_id": world["orgs"][1]["organization_id"]}),
            ("expires_before +30 d", {"expires_before": soon}),
            ("org + status=issued", {"organization_id": world["orgs"][2]["organization_id"], "status": "issued"}),
            ("sort=not_after", {"sort": "not_after"}),
            ("sort=common_name", {"sort": "common_name"}),
            ("sort=-status", {"sort": "-status"}),
            ("page 1000 (position 49950)", {"position": 49950})]


def measure_api(base_url: str, token: str, params: dict, count: int) -> tuple[list[float], int]:
    times = []
    with requests.Session() as s:
        s.headers["Authorization"] = f"Bearer {token}"
        for i in range(count + 3):
            started = time.perf_counter()
            response = s.get(f"{base_url}/api/v1/ssl", params={"size": 50, **params}, timeout=60)
            elapsed = time.perf_counter() - started
            if response.status_code != 200:
                raise RuntimeError(f"GET /api/v1/ssl {params}: {response.status_code} {response.text[:300]}")
            if i >= 3:                                   # 3 warm-up requests
                times.append(elapsed)
            total = int(response.headers["X-Total-Count"])
    return sorted(times), total


INVENTORY_INDEXES = ("ssl_certificates_created_names", "ssl_certificates_status_not_after",
                     "ssl_certificates_organization_created", "ssl_certificates_organization_status",
                     "ssl_certificates_not_after",
                     "ssl_certificates_common_name")
OLD_INDEXES = ("status", "organization_id", "not_after")      # what the version before them had (index=True)


def sqlite_enrollment(var_dir: Path):
    return make_database(f"sqlite:///{var_dir / 'enrollment.sqlite3'}", None)


def measure_read_model(db, cases: list[tuple[str, dict]], runs: int = 5) -> dict[str, float]:
    """EnrollmentView.ssl_page itself on an enrollment database (no HTTP, no RPC): median ms per case."""
    view = EnrollmentView(sa.MetaData(schema=db.schema))
    now = datetime.now(timezone.utc)
    found = {}
    for name, params in cases:
        params = dict(params)
        offset = params.pop("position", 0)
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            with db.engine.connect() as conn:
                view.ssl_page(conn, {"all": True}, params, offset, 50, now)
            times.append(time.perf_counter() - started)
        found[name] = rank_ms(sorted(times), 0.5)
    return found


def downgrade_indexes(db) -> None:
    """The inventory as the previous version left it: its single-column indexes, none of the composite ones
    (restore_indexes puts them back: migrations, not the start, make a schema since issue 13)."""
    prefix = f'"{db.schema}".' if db.schema else ""
    with db.writer() as conn, conn.begin():
        for name in INVENTORY_INDEXES:
            conn.exec_driver_sql(f"DROP INDEX {prefix}{name}")
        for column in OLD_INDEXES:
            conn.exec_driver_sql(f"CREATE INDEX ix_ssl_certificates_{column} ON {prefix}ssl_certificates ({column})")
        if db.is_postgres:
            conn.exec_driver_sql(f"ANALYZE {prefix}ssl_certificates")


def restore_indexes(db) -> None:
    """Undo downgrade_indexes: the composite indexes as the schema has them (EnrollmentView's own definitions)."""
    import sqlalchemy as sa

    from services.enrollment.projections import EnrollmentView

    prefix = f'"{db.schema}".' if db.schema else ""
    view = EnrollmentView(sa.MetaData(schema=db.schema))
    with db.writer() as conn, conn.begin():
        for column in OLD_INDEXES:
            conn.exec_driver_sql(f"DROP INDEX {prefix}ix_ssl_certificates_{column}")
        for index in view.ssl.indexes:
            if index.name in INVENTORY_INDEXES:
                index.create(conn)


def read_model_on_postgres(var_dir: Path, cases: list[tuple[str, dict]], dsn: str, before: bool):
    """The same rows copied from the seeded SQLite inventory into a fresh PostgreSQL database (a plain copy of the
    read model, not a replay: the events are SQLite's), VACUUM ANALYZE as autovacuum would leave it, then timed
    like SQLite. (note, with indexes, without them or None); (note, None, None) when PostgreSQL is not usable."""
    import psycopg       # not bench/dcv.py's helpers: importing dcv monkey-patches select (eventlet)

    name = f"certplane_bench_{uuid.uuid4().hex[:8]}_console"
    try:
        with psycopg.connect(dsn, autocommit=True, connect_timeout=3) as admin:
            version = admin.execute("SHOW server_version").fetchone()[0]
            admin.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as exc:
        return f"not usable at {dsn} ({type(exc).__name__}): skipped", None, None
    note = f"PostgreSQL {version}, database {name}"
    try:
        pg = make_database(dsn.replace("postgresql://", "postgresql+psycopg://", 1).rsplit("/", 1)[0] + f"/{name}",
                           "enrollment")
        metadata = sa.MetaData(schema="enrollment")
        target = EnrollmentView(metadata).ssl
        pg.create_tables(metadata)
        source_db = sqlite_enrollment(var_dir)
        source = EnrollmentView(sa.MetaData()).ssl
        started = time.perf_counter()
        with source_db.engine.connect() as read, pg.writer() as write, write.begin():
            result = read.execute(sa.select(source)).mappings()
            while chunk := result.fetchmany(5000):
                write.execute(target.insert(), [dict(r) for r in chunk])
        source_db.dispose()
        with pg.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql('VACUUM ANALYZE "enrollment".ssl_certificates')
        note += f"; rows copied in {time.perf_counter() - started:.0f} s"
        with_indexes = measure_read_model(pg, cases)
        without = None
        if before:
            downgrade_indexes(pg)
            without = measure_read_model(pg, cases)
        pg.dispose()
        return note, with_indexes, without
    finally:
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def measure_browser(base_url: str, cases: list[tuple[str, str]], runs: int) -> dict | str:
    """{case: sorted seconds} or the reason there is nothing to measure."""
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError:
        return "playwright is not installed (pip install playwright into the venv; never `playwright install`)"
    if not Path("/usr/bin/chromium").exists():
        return "no /usr/bin/chromium (apt-get install -y chromium)"
    results: dict[str, list[float]] = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error).splitlines()[0]))

            def seen() -> str:
                return f"; the page's script errors: {'; '.join(dict.fromkeys(errors))}" if errors else ""

            page.goto(base_url + "/", wait_until="load")
            try:
                page.get_by_label("Username").fill("admin", timeout=10_000)
                page.get_by_label("Password").fill(PASSWORD, timeout=5_000)
                page.get_by_label("Password").press("Enter")
                page.wait_for_function("() => !document.querySelector('input[type=password]')", timeout=15_000)
            except PlaywrightError as exc:
                return f"console screen not present yet (no login page with Username/Password at /: " \
                       f"{str(exc).splitlines()[0]}{seen()})"
            rows = '[data-testid="ssl-rows"] tr:not(.empty)'       # ui.js's table() shows "no match" as tr.empty
            for name, fragment in cases:
                results[name] = []
                for _ in range(runs + 1):                # the first run warms the browser cache
                    page.goto("about:blank")
                    started = time.perf_counter()
                    page.goto(f"{base_url}/#/ssl{fragment}", wait_until="commit")
                    try:
                        page.wait_for_selector(rows, state="attached", timeout=15_000)
                        page.evaluate("() => new Promise((done) => requestAnimationFrame(() => done()))")  # painted
                    except PlaywrightError:
                        if page.locator('[data-testid="ssl-rows"] tr.empty').count():
                            return f"the inventory screen showed no rows at /#/ssl{fragment} (nothing matched)"
                        return (f"console screen not present yet (no <tr> in [data-testid=\"ssl-rows\"] at "
                                f"/#/ssl{fragment} within 15 s{seen()})")
                    results[name].append(time.perf_counter() - started)
                results[name] = sorted(results[name][1:])
        finally:
            browser.close()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--certificates", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=40, help="timed requests per API case")
    parser.add_argument("--browser-runs", type=int, default=5, help="timed page loads per browser case")
    parser.add_argument("--skip-before", action="store_true",
                        help="do not time the read model without the inventory's indexes")
    parser.add_argument("--skip-postgres", action="store_true", help="do not time the read model on PostgreSQL")
    parser.add_argument("--dsn", default="postgresql://postgres@127.0.0.1:5432/postgres",
                        help="PostgreSQL server for the read-model timing (skipped if it does not answer)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (var dir, logs)")
    args = parser.parse_args(argv)
    rnd = random.Random(12)
    tmp = Path(tempfile.mkdtemp(prefix="certplane-console-"))
    server = Server("console", [CERTPLANE, "run"], tmp).start()
    try:
        server.wait_ready()
        world = make_world(server)
        print(server.stop())
        events, seconds = seed(server.var_dir, world, args.certificates, rnd)
        print(f"seeded {args.certificates} certificates as {events} enrollment events in {seconds:.1f} s "
              f"({events / seconds:.0f} events/s, projection in the append transaction)")
        cases = api_cases(world, rnd)
        pg_note, pg_with, pg_without = ("PostgreSQL: skipped (--skip-postgres)", None, None) if args.skip_postgres \
            else read_model_on_postgres(server.var_dir, cases, args.dsn, not args.skip_before)
        sqlite = sqlite_enrollment(server.var_dir)
        with_indexes = measure_read_model(sqlite, cases)
        without = None
        if not args.skip_before:
            downgrade_indexes(sqlite)
            without = measure_read_model(sqlite, cases)
            restore_indexes(sqlite)
        sqlite.dispose()
        server.start()
        ready = server.wait_ready()
        print(f"restarted, ready in {ready:.1f} s")
        with requests.Session() as s:
            token = call(s, "POST", f"{server.base_url}/api/v1/auth/login", 200,
                         json={"username": "admin", "password": PASSWORD}).json()["token"]
        print(f"\n(a) GET /api/v1/ssl, size 50, one keep-alive client, {args.requests} requests per case")
        print("    read model: EnrollmentView.ssl_page alone on the SQLite file (median of 5), with the inventory's"
              " indexes" + ("" if without is None else ", and without them (the previous version's indexes)"))
        print(f"{'case':30} {'total':>7} {'p50':>9} {'p95':>9} {'read model':>11}"
              + ("" if without is None else f" {'without':>9}"))
        api: dict[str, float] = {}
        for name, params in cases:
            times, total = measure_api(server.base_url, token, params, args.requests)
            api[name] = rank_ms(times, 0.5)
            print(f"{name:30} {total:7d} {rank_ms(times, 0.5):7.1f}ms {rank_ms(times, 0.95):7.1f}ms "
                  f"{with_indexes[name]:9.1f}ms" + ("" if without is None else f" {without[name]:7.1f}ms"))
        print(f"\n    read model on PostgreSQL: {pg_note}")
        if pg_with is not None:
            print(f"{'case':30} {'with':>9}" + ("" if pg_without is None else f" {'without':>9}"))
            for name, _params in cases:
                print(f"{name:30} {pg_with[name]:7.1f}ms"
                      + ("" if pg_without is None else f" {pg_without[name]:7.1f}ms"))
        if api_total := measure_api(server.base_url, token, {}, 1)[1]:
            if api_total != args.certificates:
                print(f"MISMATCH: the inventory holds {api_total} certificates, {args.certificates} were seeded")
        browser_cases = [("first page", ""), ("status=issued", "?status=issued"),
                         ("q=vpn12 (CN/SAN/serial)", "?q=vpn12")]
        print(f"\n(b) console /#/ssl in Chromium: navigation -> first row rendered, {args.browser_runs} loads per "
              f"case after one warm-up")
        found = measure_browser(server.base_url, browser_cases, args.browser_runs)
        verdict = True
        if isinstance(found, str):
            print(found)
        else:
            print(f"{'case':30} {'median':>9} {'max':>9} {'/ API p50':>10}  target < 1 s")
            for name, times in found.items():
                median, worst = rank_ms(times, 0.5), rank_ms(times, 1.0)
                ok = worst < TARGET_SECONDS * 1000
                verdict = verdict and ok
                print(f"{name:30} {median:7.0f}ms {worst:7.0f}ms {median / api[name]:9.1f}x  "
                      f"{'holds' if ok else 'MISSED'}")
    finally:
        print(server.stop())
    for count, summary in server.problems()[:10]:
        print(f"  log: {count} x {summary}")
    if args.keep:
        print(f"kept {tmp}")
    else:
        import shutil
        shutil.rmtree(tmp, ignore_errors=True)
    return 0 if verdict else 1


if __name__ == "__main__":
    sys.exit(main())
