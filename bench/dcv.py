"""DNS-based DCV checks/s against a local DNS server, and "may organization O get a certificate for name N?"
answers/s from the domains read model, in-process — each with a baseline measured in the same run.

    .venv/bin/python bench/dcv.py [--dns-names 300] [--checks 1000] [--concurrency 1,16] [--dns-server thread]
                                  [--domains 2000] [--orgs 100] [--questions 5000] [--warm-names 200]
                                  [--may-clients 1,16] [--rounds 3] [--backends sqlite,postgres]
                                  [--dsn postgresql://postgres@127.0.0.1:5432/postgres]
                                  [--skip-dns | --skip-may-issue]

The process calls `eventlet.monkey_patch()` first, as `certplane run` does, so the DNS client's sockets and the
database drivers run green exactly as inside the domains service. The service's own code is called, not copied:
`nameko.testing.services.worker_factory(DomainsService, store=StoreHandle(...), tools=DcvTools())`, where the
DcvTools and the EventStore are built by the service's own `DcvTools.setup()` and
`EventStoreProvider.build_store()` from a Settings object (temporary var dir; CERTPLANE_DNS_RESOLVER = the
bench's DNS server).

Part 1 — DNS DCV checks/s. tests/dns_server.DnsServer (a real authoritative server on 127.0.0.1, UDP + TCP) runs on
an OS thread of this process (`--dns-server process` runs it as `python -m tests.dns_server` in a child process
instead: an ablation, so the server's Python does not share this process's GIL). `--dns-names` domains
d<i>.bench.test, each with an open TXT DCV attempt made by the real `domain.decide_start_dcv` (so the record name
is the service's `_pki-validation.<domain>` and the value its 160-bit random value); the zone holds that TXT
record (every 5th with an SPF record beside it) and, by i mod 3: CAA `0 issue "certplane.invalid"` at the domain
(permitted, 1 CAA query), CAA `0 issue "other-ca.example"` at the domain (refused: caa_forbids, 1 CAA query), or
no CAA anywhere (the climb asks d<i>.bench.test, bench.test and test: 3 CAA queries). So a check sends 2.67 DNS
queries on average.

- **certplane**: one check is what `DomainsService.check_dcv` does between loading the stream and recording the
  outcome: `service._check(attempt)` (DnsClient.txt + the value comparison) and, when proven, `service._caa(name)`
  (the DnsClient.caa climb + decide_caa with the configured CAA identities). Each outcome is compared with what
  the zone says it must be (not a timed assertion: a wrong answer stops the bench).
- **raw dnspython** (the baseline, the floor): the same queries, same names and types in the same order — taken
  from what the DNS server saw during the warm-up pass of the certplane check — each sent with
  `dns.query.udp(dns.message.make_query(name, type), server)`: no Resolver object, no retry loop, no rrset
  extraction, no decoding, no CAA evaluation. The answers' rcodes are checked.

Each case runs `--checks` checks (cycling over the names) with K green threads of an eventlet GreenPool for each
K in `--concurrency` (default 1 and 16). Cases interleave, their order alternating each round; the table shows
the median over `--rounds` of checks/s, per-check p50/p99 latency, DNS queries per check (as counted by the
server), and the ratio certplane / raw.

Part 2 — "may O get N" answers/s, in-process. For each backend — SQLite (a temporary file, as embedded mode
runs) and, when PostgreSQL answers at `--dsn` as a superuser, a fresh database certplane_bench_<random>_dcv
(dropped at the end) — a store with the DomainsView projection is filled through the real decide functions
(`store.execute(stream, decider(domain.fold, decode, domain.decide_..., cmd))`, 8 domains at a time, not
timed): `--domains` domains
(every 10th a wildcard entry, every 13th inactive) over `--orgs` organizations; each domain delegated to one
organization (ssl, or ssl+client), every 5th also to a department of another organization, every 7th's
delegations still pending; DCV evidence by DNS TXT on 1 in 4, by HTTP file on 1 in 4 (TXT for wildcards),
expired TXT evidence on 1 in 8 (recorded with a clock 300 days back). The commands carry fixed ids and times, so
both backends hold the same model and must give the same answers (checked).

One answer is `service.answer_may_issue(organization_id, department_id, cert_type, name)` — the RPC's body:
names.normalise, store.head_now(), the PositionCache lookup (on a miss: DomainsView.covering in store.read), and
domain.may_issue with store.clock().

- **warm**: `--warm-names` distinct questions about domains drawn with a fixed seed (the entry's own name by its
  organization; www.<name>; api.<name> by an organization without a delegation; a department with a delegation of
  its own; the organization asking for the client type), asked once before timing so every answer is kept, then
  `--questions` calls cycling over them: every call a cache hit (the issuance path asks about the same names
  several times). Before timing, the warm answers are compared with answers read with an empty cache.
- **cold**: `--questions` names never asked before (c<round>x<j>.<domain>), with the service's PositionCache
  replaced by an empty one at the start of the run: every call is a miss and reads the view.

Each case runs with K green threads for each K in `--may-clients` (default 1 and 16). Printed: answers/s, the
ratio to the target of 5,000 answers/s (issue: "it sits on the issuance path"), and the ratio warm / cold.
Then where the time goes: each step alone over the warm questions (normalise; head_now; a cache hit; the covering
query, i.e. what a miss adds; domain.may_issue over a covering list already read), µs per call, median over the
rounds — with the floor of the two database steps measured beside them: the same SQL on one held DB-API connection
(PostgreSQL: autocommit, one round trip), without SQLAlchemy, the pool or a transaction.

Everything is removed at the end: the DNS server is stopped, the temporary directory deleted, the engines
disposed and the PostgreSQL database dropped (also on failure or Ctrl-C).
"""
from __future__ import annotations

import warnings

warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")  # known; see RUNTIME-NOTES
import eventlet  # noqa: E402

eventlet.monkey_patch()          # before anything imports socket/threading: the services run this way

import argparse  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import random  # noqa: E402
import secrets  # noqa: E402
import shutil  # noqa: E402
import sqlite3  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from collections import Counter  # noqa: E402
from dataclasses import dataclass, replace  # noqa: E402
from datetime import datetime, timedelta, timezone  # noqa: E402
from pathlib import Path  # noqa: E402
from types import SimpleNamespace  # noqa: E402
from urllib.parse import urlsplit, urlunsplit  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))    # tests.dns_server, when run as `python bench/dcv.py`

import dns.message  # noqa: E402
import dns.version  # noqa: E402
import dns.query  # noqa: E402
import dns.rcode  # noqa: E402
from nameko.testing.services import worker_factory  # noqa: E402

from contracts import names  # noqa: E402
from services.domains import domain  # noqa: E402
from services.domains.commands import (Caa, CreateDomain, NewDelegation, RecordCheck,  # noqa: E402
                                       StartDcv, UpdateDomain)
from services.domains.events import DomainCreated, decode  # noqa: E402
from services.domains.projections import DomainsView  # noqa: E402
from services.domains.service import DcvTools, DomainsService, _stream  # noqa: E402
from services.runtime.config import Settings  # noqa: E402
from services.runtime.entrypoint_helpers import decider  # noqa: E402
from services.runtime.nameko_glue import EventStoreProvider, StoreHandle  # noqa: E402
from services.runtime.position_cache import PositionCache  # noqa: E402
from tests.dns_server import DnsServer  # noqa: E402

TARGET = 5000.0                   # may_issue answers/s (the issue)
POPULATE_WORKERS = 8              # green threads filling the read model (setup only, not measured)
DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
DNS_ZONE = "bench.test"
MAY_ZONE = "mayissue.test"
CA_IDENTITY = "certplane.invalid"
T0 = datetime.now(timezone.utc).replace(microsecond=0)          # every command's clock: same model on each backend
BENCH_NS = uuid.UUID("6f1e0c2a-35c1-4b7e-9a61-2b5a7d0c0d11")
METADATA = {"correlation_id": "00000000-0000-4000-8000-00000000dcb0", "actor": "bench", "causation_id": None}


def uid(*parts) -> str:
    return str(uuid.uuid5(BENCH_NS, "/".join(str(p) for p in parts)))


class WorkerInfo:
    """What StoreHandle asks of a worker outside a container: the metadata commands carry."""

    def metadata(self) -> dict:
        return dict(METADATA)


def make_service(settings: Settings, store=None):
    """A DomainsService instance as nameko would inject it: the tools from DcvTools.setup() (DNS client from
    settings.dns_resolver, the may_issue PositionCache, mail codes), the store from EventStoreProvider."""
    tools = DcvTools()
    tools.container = SimpleNamespace(config={"CERTPLANE": settings}, service_name="domains")
    tools.setup()
    if store is None:
        store = EventStoreProvider(projections=[DomainsView]).build_store(settings, "domains")
    return worker_factory(DomainsService, store=StoreHandle(store, WorkerInfo()), tools=tools), store, tools


def green_run(fn, items: list, workers: int) -> tuple[float, list[float], list]:
    """Call fn(item) for every item from `workers` green threads; (seconds, per-call seconds, results)."""
    pending = iter(items)
    latencies: list[float] = []
    results: list = []
    errors: list[BaseException] = []

    def worker():
        for item in pending:             # a shared iterator: next() never yields, so each item goes to one worker
            if errors:
                return
            started = time.perf_counter()
            try:
                result = fn(item)
            except BaseException as exc:  # noqa: BLE001 — re-raised below
                errors.append(exc)
                return
            latencies.append(time.perf_counter() - started)
            results.append(result)

    pool = eventlet.GreenPool(workers)
    started = time.perf_counter()
    for _ in range(workers):
        pool.spawn(worker)
    pool.waitall()
    seconds = time.perf_counter() - started
    if errors:
        raise errors[0]
    return seconds, latencies, results


def rank(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p * len(ordered)) - 1)]


def median(rows: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in rows)


# ---- part 1: DNS DCV checks ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class DcvCase:
    name: str
    attempt: domain.DcvAttempt
    caa_permitted: bool


def dcv_cases(count: int) -> tuple[list[DcvCase], list[tuple[str, str, list[str]]]]:
    """The domains with an open TXT attempt (made by the real decide_start_dcv), and the zone to publish."""
    cases, zone = [], []
    for i in range(count):
        name = f"d{i}.{DNS_ZONE}"
        domain_id = uid("dns", i)
        state = domain.fold([DomainCreated(domain_id, name, None, True)])
        [started] = domain.decide_start_dcv(state, StartDcv(
            domain_id, uid("dns-dcv", i), "txt", None, secrets.token_hex(20), secrets.token_hex(16), None,
            "bench", T0, 30, (80, 443), "dcv.certplane.invalid"))
        attempt = domain.evolve(state, started).attempt
        txt = [f'"{attempt.expected_value}"'] + (['"v=spf1 -all"'] if i % 5 == 0 else [])
        zone.append((attempt.dns_name, "TXT", txt))
        if i % 3 == 0:
            zone.append((name, "CAA", [f'0 issue "{CA_IDENTITY}"']))
        elif i % 3 == 1:
            zone.append((name, "CAA", ['0 issue "other-ca.example"']))
        cases.append(DcvCase(name, attempt, i % 3 != 1))
    return cases, zone


class ChildDnsServer:
    """tests/dns_server.py as `python -m tests.dns_server <records>` in a child process (--dns-server process)."""

    def __init__(self, zone):
        lines = [f"{name} {rdtype} {value}" for name, rdtype, values in zone for value in values]
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.dns_server", *lines], cwd=ROOT,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.address = self.proc.stdout.readline().strip()
        if not self.address:
            raise RuntimeError(f"the DNS server process did not start: {self.proc.stderr.read()[:2000]}")
        self.queries = None               # not visible from here

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def certplane_check(service, case: DcvCase) -> tuple[bool, bool | None]:
    """DomainsService.check_dcv's DNS part: _check (TXT + comparison), then _caa (climb + decide_caa) when
    proven, as _record does."""
    proven, _reason, _detail = service._check(case.attempt)
    caa = service._caa(case.name) if proven else None
    return proven, caa.permitted if caa is not None else None


def raw_lookups(host: str, port: int, queries: list[tuple[str, str]]) -> int:
    """The same queries, each through dns.query.udp alone; the number of answers with rcode NOERROR/NXDOMAIN."""
    good = 0
    for qname, rdtype in queries:
        response = dns.query.udp(dns.message.make_query(qname, rdtype), host, port=port, timeout=5.0)
        good += response.rcode() in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN)
    return good


def bench_dns(args, settings: Settings) -> dict:
    cases, zone = dcv_cases(args.dns_names)
    recorder = DnsServer().start()       # the in-process server: timed in `thread` mode, recorder in `process` mode
    child = None
    try:
        for name, rdtype, values in zone:
            recorder.set(name, rdtype, values)
        if args.dns_server == "process":
            child = ChildDnsServer(zone)
        timed_address = child.address if child else recorder.address
        host, port = timed_address.rsplit(":", 1)
        port = int(port)

        # the warm-up pass: sequential, through the server the queries are recorded on
        recording, _, _ = make_service(replace(settings, dns_resolver=recorder.address), store=_NoStore())
        queries: dict[str, list[tuple[str, str]]] = {}
        for case in cases:
            before = len(recorder.queries)
            outcome = certplane_check(recording, case)
            if outcome != (True, case.caa_permitted):
                raise RuntimeError(f"DCV check of {case.name}: got (proven, caa permitted) = {outcome}, expected "
                                   f"(True, {case.caa_permitted})")
            queries[case.name] = list(recorder.queries[before:])
        per_check = sum(len(q) for q in queries.values()) / len(cases)
        service, _, _ = make_service(replace(settings, dns_resolver=timed_address), store=_NoStore())
        for case in cases[: min(50, len(cases))]:          # the timed server warmed too (its caches, the sockets)
            certplane_check(service, case)
            raw_lookups(host, port, queries[case.name])

        items = [cases[j % len(cases)] for j in range(args.checks)]
        expected_queries = sum(len(queries[c.name]) for c in items)
        expected = Counter((True, c.caa_permitted) for c in items)

        def run(kind: str, workers: int) -> dict:
            server = child or recorder
            if server.queries is not None:
                server.queries.clear()
            if kind == "certplane":
                seconds, latencies, results = green_run(lambda c: certplane_check(service, c), items, workers)
                if Counter(results) != expected:
                    raise RuntimeError(f"certplane checks: outcomes {dict(Counter(results))}, expected "
                                       f"{dict(expected)}")
            else:
                seconds, latencies, results = green_run(lambda c: raw_lookups(host, port, queries[c.name]),
                                                        items, workers)
                if sum(results) != expected_queries:
                    raise RuntimeError(f"raw lookups: {sum(results)} good answers of {expected_queries}")
            seen = len(server.queries) if server.queries is not None else None
            return {"per_second": len(items) / seconds, "p50": rank(latencies, 0.5) * 1000,
                    "p99": rank(latencies, 0.99) * 1000,
                    "queries": seen / len(items) if seen is not None else float("nan")}

        results: dict[tuple[str, int], list[dict]] = {}
        kinds = ("certplane", "raw")
        for rnd in range(args.rounds):
            for workers in args.concurrency:
                order = kinds if rnd % 2 == 0 else tuple(reversed(kinds))
                line = []
                for kind in order:
                    row = run(kind, workers)
                    results.setdefault((kind, workers), []).append(row)
                    line.append(f"{kind} {row['per_second']:.0f}")
                print(f"  round {rnd + 1} DNS DCV, {workers:>2} green thread(s), checks/s: {', '.join(line)}",
                      flush=True)
        return {"results": results, "per_check": per_check, "names": len(cases), "checks": len(items),
                "server": f"{args.dns_server} ({timed_address})"}
    finally:
        if child is not None:
            child.stop()
        recorder.stop()


class _NoStore:
    """The DNS part of a check touches no store (DomainsService._check/_caa read only tools)."""

    def __getattr__(self, name):
        raise AttributeError(f"the DNS bench has no store ({name})")


def print_dns(report: dict, concurrency: list[int]) -> None:
    results = report["results"]
    print(f"\nDNS DCV checks ({report['checks']} per run over {report['names']} names; server: {report['server']}; "
          f"{report['per_check']:.2f} DNS queries per check in the warm-up pass)")
    print(f"{'case':<11} {'green thr':>9} {'checks/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'queries/check':>13} "
          f"{'certplane/raw':>13}")
    print("-" * 76)
    for workers in concurrency:
        ours, raw = median(results[("certplane", workers)], "per_second"), median(results[("raw", workers)],
                                                                                 "per_second")
        for kind in ("certplane", "raw"):
            rows = results[(kind, workers)]
            ratio = f"{ours / raw:>12.2f}x" if kind == "certplane" else ""
            seen = median(rows, "queries")
            seen = "n/a" if math.isnan(seen) else f"{seen:.2f}"
            print(f"{kind:<11} {workers:>9} {median(rows, 'per_second'):>9.0f} {median(rows, 'p50'):>7.2f} "
                  f"{median(rows, 'p99'):>7.2f} {seen:>13} {ratio:>13}")
        print("-" * 76)


# ---- part 2: may_issue from the read model -------------------------------------------------------------------

@dataclass(frozen=True)
class DomainSpec:
    i: int
    domain_id: str
    name: str
    active: bool
    approved: bool
    delegations: tuple[NewDelegation, ...]
    dcv: str | None                  # "txt" | "http" | "expired" | None


def domain_specs(count: int, orgs: int) -> list[DomainSpec]:
    specs = []
    for i in range(count):
        wildcard = i % 10 == 9
        name = f"*.w{i}.{MAY_ZONE}" if wildcard else f"d{i}.{MAY_ZONE}"
        org = uid("org", i % orgs)
        delegations = [NewDelegation(uid("delegation", i, 0), org, None,
                                     ("client", "ssl") if i % 3 == 0 else ("ssl",))]
        if i % 5 == 0:
            other = (i + 1) % orgs
            delegations.append(NewDelegation(uid("delegation", i, 1), uid("org", other), uid("dept", other),
                                             ("ssl",)))
        dcv = {0: "txt", 1: "txt" if wildcard else "http"}.get(i % 4) or ("expired" if i % 8 == 2 else None)
        specs.append(DomainSpec(i, uid("domain", i), name, i % 13 != 12, i % 7 != 3, tuple(delegations), dcv))
    return specs


def populate(store, specs: list[DomainSpec]) -> int:
    """Each domain through the real decide functions (8 domains at a time, each domain's commands in order);
    the number of commands executed."""
    commands = 0

    def execute(spec: DomainSpec, decide, cmd) -> None:
        nonlocal commands
        store.execute(_stream(spec.domain_id), decider(domain.fold, decode, decide, cmd), METADATA)
        commands += 1

    def validate(spec: DomainSpec) -> None:
        started = T0 - timedelta(days=300) if spec.dcv == "expired" else T0 - timedelta(hours=1)
        method = "txt" if spec.dcv == "expired" else spec.dcv
        dcv_id = uid("dcv", spec.i)
        execute(spec, domain.decide_start_dcv,
                StartDcv(spec.domain_id, dcv_id, method, None, f"{spec.i:040x}", f"{spec.i:032x}", None,
                         "bench-admin", started, 30, (80, 443), "dcv.certplane.invalid"))
        checked = started + timedelta(minutes=5)
        caa = Caa(True, "no_records", None, "bench: no CAA", spec.name, None, ())
        execute(spec, domain.decide_record_check,
                RecordCheck(spec.domain_id, dcv_id, True, None, "bench: the value was found", caa, checked, 200))


    def one(spec: DomainSpec) -> None:
        execute(spec, domain.decide_create_domain,
                CreateDomain(spec.domain_id, spec.name, f"bench domain {spec.i}", True, spec.delegations,
                             "bench-admin", spec.approved))
        if spec.dcv is not None:
            validate(spec)
        if not spec.active:                 # deactivated afterwards (an inactive domain cannot start a DCV)
            execute(spec, domain.decide_update_domain, UpdateDomain(spec.domain_id, {"active": False}))

    green_run(one, specs, POPULATE_WORKERS)   # domains side by side (their streams are distinct), each in order
    return commands


def base(spec: DomainSpec) -> str:
    return names.base_name(spec.name)


def warm_questions(specs: list[DomainSpec], count: int) -> list[tuple]:
    """(organization_id, department_id, cert_type, name) about `count` domains drawn from the model (a fixed
    seed, so no stride lines up with the model's i-mod-k patterns), in variants."""
    chosen = random.Random(1).sample(range(len(specs)), count)
    questions = []
    for j in range(count):
        spec = specs[chosen[j]]
        own = spec.delegations[0]
        variant = j % 5
        if variant == 0:
            questions.append((own.organization_id, None, "ssl", spec.name))
        elif variant == 1:
            questions.append((own.organization_id, None, "ssl", f"www.{base(spec)}"))
        elif variant == 2:
            questions.append((uid("org", "stranger", j), None, "ssl", f"api.{base(spec)}"))
        elif variant == 3 and len(spec.delegations) > 1:
            dept = spec.delegations[1]
            questions.append((dept.organization_id, dept.department_id, "ssl", f"Mail.{base(spec)}."))
        else:
            questions.append((own.organization_id, None, "client", f"host{j}.{base(spec)}"))
    return questions


def cold_questions(specs: list[DomainSpec], count: int, tag: str) -> list[tuple]:
    """`count` names never asked before: c<tag>x<j>.<domain>."""
    questions = []
    for j in range(count):
        spec = specs[j % len(specs)]
        own = spec.delegations[0]
        asker = own.organization_id if j % 2 == 0 else uid("org", "stranger", j)
        questions.append((asker, None, "ssl", f"c{tag}x{j}.{base(spec)}"))
    return questions


def summary(answers: list[dict]) -> str:
    counts = Counter(("allowed" if a["allowed"] else a["reason"], a["dcv_status"]) for a in answers)
    return ", ".join(f"{k[0]}/{k[1]} {v}" for k, v in sorted(counts.items()))


class Backend:
    def __init__(self, label: str, settings: Settings, specs: list[DomainSpec]):
        self.label = label
        started = time.monotonic()
        self.service, self.store, self.tools = make_service(settings)
        self.commands = populate(self.store, specs)
        self.populate_seconds = time.monotonic() - started
        self.head = self.store.head_now()
        self.warm_cache = PositionCache()      # the warm case's: kept across rounds (the cold case swaps in its own)

    def ask(self, question: tuple) -> dict:
        return self.service.answer_may_issue(*question)

    def fresh_answers(self, questions: list[tuple]) -> list[dict]:
        """Each question with an empty cache (a miss): the reference the kept answers must equal."""
        answers = []
        for question in questions:
            self.tools.may_issue_cache = PositionCache()
            answers.append(self.ask(question))
        self.tools.may_issue_cache = PositionCache()
        return answers

    def close(self) -> None:
        self.store.db.dispose()


def bench_may_issue(args, settings: Settings, pg_url: str | None) -> dict:
    specs = domain_specs(args.domains, args.orgs)
    backends: list[Backend] = []
    report = {"backends": [], "results": {}, "steps": {}, "notes": []}
    try:
        configs = []
        if "sqlite" in args.backends:
            configs.append(("sqlite", settings))
        if pg_url is not None:
            configs.append(("postgres", replace(settings, database_url=pg_url)))
        for label, config in configs:
            backend = Backend(label, config, specs)
            backends.append(backend)
            print(f"  {label}: {len(specs)} domains, {backend.commands} commands through the decide functions in "
                  f"{backend.populate_seconds:.1f} s (head position {backend.head})", flush=True)
            report["backends"].append(label)

        warm = warm_questions(specs, args.warm_names)
        warm_items = [warm[j % len(warm)] for j in range(args.questions)]
        warm_distinct = len({names.normalise(q[3]) for q in warm})
        reference = None
        for backend in backends:
            fresh = backend.fresh_answers(warm)
            if reference is None:
                reference = fresh
                report["notes"].append(f"warm questions' answers: {summary(fresh)}")
            elif fresh != reference:
                diff = next(j for j, (a, b) in enumerate(zip(fresh, reference)) if a != b)
                raise RuntimeError(f"{backend.label} answers {warm[diff]} with {fresh[diff]}, "
                                   f"{backends[0].label} with {reference[diff]}")
            backend.tools.may_issue_cache = backend.warm_cache
            for question in warm:                       # keep every warm answer, then check what is kept
                backend.ask(question)
            kept = [backend.ask(q) for q in warm]
            if kept != fresh:
                raise RuntimeError(f"{backend.label}: answers from the cache differ from fresh ones")

        results: dict[tuple[str, str, int], list[dict]] = {}
        steps: dict[tuple[str, str], list[float]] = {}
        for rnd in range(args.rounds):
            for workers in args.may_clients:
                line = []
                order = backends if rnd % 2 == 0 else list(reversed(backends))
                for backend in order:
                    for case in (("warm", "cold") if rnd % 2 == 0 else ("cold", "warm")):
                        if case == "warm":
                            cache = backend.tools.may_issue_cache = backend.warm_cache
                            items = warm_items
                        else:
                            cache = backend.tools.may_issue_cache = PositionCache()   # every call a miss
                            items = cold_questions(specs, args.questions, f"{rnd}k{workers}")
                        seconds, latencies, answers = green_run(backend.ask, items, workers)
                        if backend.store.head_now() != backend.head:
                            raise RuntimeError(f"{backend.label}: the store moved during the run")
                        if case == "warm" and len(cache) != warm_distinct:
                            raise RuntimeError(f"{backend.label}: {len(cache)} answers kept after the warm run, "
                                               "so not every call was a hit")
                        if case == "cold" and len(cache) != min(len(items), PositionCache.MAX_ENTRIES):
                            raise RuntimeError(f"{backend.label}: {len(cache)} answers kept after the cold run "
                                               f"of {len(items)} distinct names")
                        if len(answers) != len(items):
                            raise RuntimeError(f"{backend.label}: {len(answers)} answers for {len(items)} questions")
                        row = {"per_second": len(items) / seconds, "p50": rank(latencies, 0.5) * 1e6,
                               "p99": rank(latencies, 0.99) * 1e6}
                        results.setdefault((backend.label, case, workers), []).append(row)
                        line.append(f"{backend.label} {case} {row['per_second']:.0f}")
                print(f"  round {rnd + 1} may_issue, {workers:>2} green thread(s), answers/s: {', '.join(line)}",
                      flush=True)
            for backend in backends:
                for step, micros in step_costs(backend, warm).items():
                    steps.setdefault((backend.label, step), []).append(micros)
        report["results"], report["steps"] = results, steps
        if backends:
            cold_sample = cold_questions(specs, min(args.questions, 2000), "check")
            report["notes"].append(f"cold questions' answers (first {len(cold_sample)}): "
                                   f"{summary(backends[0].fresh_answers(cold_sample))}")
        return report
    finally:
        for backend in backends:
            backend.close()


STEPS = ("normalise", "head_now", "head raw", "cache hit", "covering", "covering raw", "may_issue()")


def step_costs(backend: Backend, warm: list[tuple]) -> dict[str, float]:
    """µs per call of each step of answer_may_issue alone, over the warm questions (sequential), and two floors:
    the same head and covering SQL on one held DB-API connection (PostgreSQL: autocommit, so one round trip per
    statement), without SQLAlchemy, the pool, or a transaction."""
    store, view, cache = backend.store, backend.store.projection(DomainsView), backend.warm_cache
    normalised = [names.normalise(q[3]) for q in warm]
    position = store.head_now()
    covering = [store.read(lambda conn, n=n: view.covering(conn, n)) for n in normalised]
    now = store.clock()
    engine = store.db.engine
    table = engine.dialect.identifier_preparer.format_table
    marker = "?" if engine.dialect.name == "sqlite" else "%s"
    head_sql = f"SELECT max(position) FROM {table(store.events)}"
    covering_sql = (f"SELECT d.domain_id, d.name, d.active, d.evidence_method, d.evidence_expires_at, "
                    f"g.organization_id, g.department_id, g.cert_type, g.status FROM {table(view.domains)} d "
                    f"LEFT OUTER JOIN {table(view.grants)} g ON g.domain_id = d.domain_id WHERE d.name IN ({{}})")
    entries = [names.covering_entries(n) for n in normalised]
    raw = engine.raw_connection()
    driver = raw.driver_connection
    if store.db.is_postgres:
        driver.autocommit = True

    def raw_rows(sql: str, params=()) -> list:
        cursor = raw.cursor()
        cursor.execute(sql, params)
        rows = cursor.fetchall()
        cursor.close()
        return rows

    def per_call(fn) -> float:
        started = time.perf_counter()
        for j in range(len(warm)):
            fn(j)
        return (time.perf_counter() - started) / len(warm) * 1e6

    try:
        if raw_rows(head_sql)[0][0] != position:
            raise RuntimeError(f"{backend.label}: the raw head query does not answer the head")
        rows = [len(raw_rows(covering_sql.format(", ".join([marker] * len(e))), e)) for e in entries[:20]]
        if rows != [sum(max(1, len(c["grants"])) for c in cov) for cov in covering[:20]]:   # outer join: 1 per grant
            raise RuntimeError(f"{backend.label}: the raw covering query does not answer the same rows")
        return {
            "normalise": per_call(lambda j: names.normalise(warm[j][3])),
            "head_now": per_call(lambda j: store.head_now()),
            "head raw": per_call(lambda j: raw_rows(head_sql)),
            "cache hit": per_call(lambda j: cache.lookup(normalised[j], position, _unexpected_miss)),
            "covering": per_call(lambda j: store.read(lambda conn: view.covering(conn, normalised[j]))),
            "covering raw": per_call(lambda j: raw_rows(covering_sql.format(", ".join([marker] * len(entries[j]))),
                                                        entries[j])),
            "may_issue()": per_call(lambda j: domain.may_issue(normalised[j], covering[j] or [], warm[j][0],
                                                               warm[j][1], warm[j][2], now)),
        }
    finally:
        if store.db.is_postgres:
            driver.autocommit = False
        raw.close()


def _unexpected_miss():
    raise RuntimeError("the step measurement expected a kept answer")


def print_may_issue(report: dict, clients: list[int]) -> None:
    results = report["results"]
    if not results:
        return
    print(f"\nmay_issue answers/s in-process (service.answer_may_issue; target {TARGET:.0f}/s)")
    print(f"{'backend':<9} {'case':<5} {'green thr':>9} {'answers/s':>10} {'p50 µs':>8} {'p99 µs':>8} "
          f"{'x target':>9} {'warm/cold':>10}")
    print("-" * 76)
    verdicts = []
    for label in report["backends"]:
        for workers in clients:
            for case in ("warm", "cold"):
                rows = results[(label, case, workers)]
                rate = median(rows, "per_second")
                verdicts.append((label, case, workers, rate))
                ratio = ""
                if case == "warm":
                    ratio = f"{rate / median(results[(label, 'cold', workers)], 'per_second'):>9.2f}x"
                print(f"{label:<9} {case:<5} {workers:>9} {rate:>10.0f} {median(rows, 'p50'):>8.0f} "
                      f"{median(rows, 'p99'):>8.0f} {rate / TARGET:>8.2f}x {ratio:>10}")
        print("-" * 76)
    missed = [f"{label} {case} at {workers} green thread(s) ({rate:.0f}/s)" for label, case, workers, rate in verdicts
              if rate < TARGET]
    print(f"target {TARGET:.0f} answers/s: " + ("met in every case" if not missed else
                                                  "NOT met for " + "; ".join(missed)))
    print("\nwhere a warm answer's time goes: each step alone over the warm questions, µs per call, median of rounds")
    print("  normalise = names.normalise; head_now = store.head_now(); cache hit = PositionCache.lookup, kept answer;")
    print("  covering = store.read(DomainsView.covering), what a miss adds; may_issue() = domain.may_issue alone;")
    print("  head raw, covering raw = the same SQL on one held DB-API connection (PostgreSQL: autocommit), without")
    print("  SQLAlchemy, the pool or a transaction: the floor for head_now and covering")
    print(f"{'backend':<9} " + " ".join(f"{s:>13}" for s in STEPS))
    for label in report["backends"]:
        print(f"{label:<9} " + " ".join(f"{statistics.median(report['steps'][(label, s)]):>13.1f}" for s in STEPS))


# ---- PostgreSQL -----------------------------------------------------------------------------------------------

def postgres_database(dsn: str) -> tuple[str | None, str, str | None]:
    """(name of a fresh database or None, a note, the server's version)."""
    import psycopg

    try:
        with psycopg.connect(dsn, autocommit=True, connect_timeout=3) as conn:
            version = conn.execute("SHOW server_version").fetchone()[0]
            name = f"certplane_bench_{secrets.token_hex(4)}_dcv"
            conn.execute(f'CREATE DATABASE "{name}"')
        return name, f"PostgreSQL {version} at {urlsplit(dsn).netloc}, database {name}", version
    except psycopg.Error as exc:
        return None, f"PostgreSQL at {urlsplit(dsn).netloc} not usable ({type(exc).__name__}): skipped", None


def drop_database(dsn: str, name: str) -> None:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def with_database(dsn: str, name: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path=f"/{name}")).replace("postgresql://", "postgresql+psycopg://", 1)


# ---- main -----------------------------------------------------------------------------------------------------

def counts(text: str) -> list[int]:
    return [int(c) for c in text.split(",") if c.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dns-names", type=int, default=300, help="domains with a TXT DCV record in the zone")
    parser.add_argument("--checks", type=int, default=1000, help="DCV checks per case, thread count and round")
    parser.add_argument("--concurrency", type=counts, default=[1, 16], help="green threads for the DCV checks")
    parser.add_argument("--dns-server", choices=["thread", "process"], default="thread",
                        help="thread (default): DnsServer on an OS thread of this process; process: a child")
    parser.add_argument("--domains", type=int, default=2000, help="domains in the read model")
    parser.add_argument("--orgs", type=int, default=100, help="organizations the domains are delegated to")
    parser.add_argument("--questions", type=int, default=5000, help="may_issue calls per case, thread count, round")
    parser.add_argument("--warm-names", type=int, default=200, help="distinct questions the warm case repeats")
    parser.add_argument("--may-clients", type=counts, default=[1, 16], help="green threads asking may_issue")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--backends", default="sqlite,postgres", help="sqlite and/or postgres (if it answers)")
    parser.add_argument("--dsn", default=os.environ.get("CERTPLANE_BENCH_DSN", DEFAULT_DSN),
                        help="a PostgreSQL superuser connection (the database is created and dropped through it)")
    parser.add_argument("--skip-dns", action="store_true", help="only the may_issue part")
    parser.add_argument("--skip-may-issue", action="store_true", help="only the DNS part")
    args = parser.parse_args(argv)
    args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if set(args.backends) - {"sqlite", "postgres"}:
        parser.error("--backends takes sqlite and/or postgres")
    if args.warm_names > args.domains or args.warm_names < 1 or args.questions < 1:
        parser.error("need 1 <= --warm-names <= --domains and --questions >= 1")

    workdir = Path(tempfile.mkdtemp(prefix="certplane-bench-dcv-"))
    settings = Settings(var_dir=str(workdir / "var"), dns_timeout=5.0, caa_identities=(CA_IDENTITY,))
    Path(settings.var_dir).mkdir()
    pg_name, pg_note = None, ("PostgreSQL: not used (--skip-may-issue)" if args.skip_may_issue else
                              "PostgreSQL: not asked for (--backends)")
    if "postgres" in args.backends and not args.skip_may_issue:
        pg_name, pg_note, _ = postgres_database(args.dsn)
    print(f"bench/dcv.py — {time.strftime('%Y-%m-%d %H:%M:%S %Z')} — {os.cpu_count()} CPUs, Python "
          f"{platform.python_version()}, dnspython {dns.version.version}, eventlet {eventlet.__version__}, "
          f"SQLite {sqlite3.sqlite_version}; {pg_note}")
    print(f"  DNS: {args.dns_names} names, {args.checks} checks per case, green threads {args.concurrency}, "
          f"server {args.dns_server}; may_issue: {args.domains} domains over {args.orgs} organizations, "
          f"{args.questions} questions per case ({args.warm_names} distinct when warm), green threads "
          f"{args.may_clients}; {args.rounds} interleaved rounds, median shown", flush=True)
    dns_report = may_report = None
    try:
        if not args.skip_dns:
            dns_report = bench_dns(args, settings)
        if not args.skip_may_issue:
            pg_url = with_database(args.dsn, pg_name) if pg_name else None
            may_report = bench_may_issue(args, settings, pg_url)
    finally:
        if pg_name:
            drop_database(args.dsn, pg_name)
        shutil.rmtree(workdir, ignore_errors=True)
    if dns_report:
        print_dns(dns_report, args.concurrency)
    if may_report:
        print_may_issue(may_report, args.may_clients)
        for note in may_report["notes"]:
            print(note)
    print(f"\ncleaned up: {workdir} removed" + (f", database {pg_name} dropped" if pg_name else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
