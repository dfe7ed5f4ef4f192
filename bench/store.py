"""Event appends/s on PostgreSQL: Certplane's EventStore.append versus eventsourcing's PostgresApplicationRecorder.

    .venv/bin/python bench/store.py [--events 3000] [--warmup 300] [--writers 8] [--rounds 3]
                                    [--scenarios sequential,threads,processes] [--psycopg-wait green|default]
                                    [--dsn postgresql://postgres@127.0.0.1:5432/postgres] [--keep]

What one "append" is, for both contenders:
  * one event with a ~300-byte JSON payload, either the first event of a new stream or the next event of a stream
    the writer already owns, at the right expected version (every writer cycles: new stream, +1, +1, new stream, ...);
  * ours: `EventStore(db, "bench").append(stream_id, expected_version, [NewEvent(...)], metadata)` on a database made
    by `services.runtime.db.make_database` (exactly what services use: advisory lock, version check, hash chain,
    no projections);
  * theirs: `PostgresApplicationRecorder.insert_events([StoredEvent(uuid, version, topic, state)])` on a
    `PostgresDatastore` (table lock, pipelined insert, NOTIFY; the version check is the primary key); `state` is
    the same JSON, as bytes.

Fairness:
  * each contender has its own database (certplane_bench_<random>_ours / _es), each run a fresh schema in it;
  * both at the server's durability: the script reads `synchronous_commit` on a pooled connection of each
    contender and refuses to report if it is not "on" for both;
  * same events, same payload, same warm-up, same number of measured events; runs interleave (ours, theirs, ours,
    theirs, ...) over --rounds and the table shows the median;
  * every run is its own spawned process (or N processes), so neither library inherits the other's state;
  * the same psycopg wait function for both: by default `wait_select`, which services.runtime.db.green_psycopg()
    installs so psycopg cooperates with eventlet — what either library would run with inside Certplane
    (`--psycopg-wait default` runs both with psycopg's C wait instead: an ablation, ours cannot run that way);
  * scenarios: `sequential` = 1 process x 1 thread; `threads` = 1 process x N threads (our store's threading.Lock
    serialises in-process appends; eventsourcing serialises on the table lock in PostgreSQL); `processes` =
    N processes x 1 thread (ours then queues on the advisory lock, like service replicas do). Each writer thread has
    its own pooled connection in both libraries (pool sized >= writers).

The databases are dropped at the end (also on Ctrl-C / failure).
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import secrets
import statistics
import sys
import threading
import time
import uuid
from urllib.parse import urlsplit, urlunsplit

DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
TOPIC = "bench.domain:OrganizationCreated"
EVENT_TYPE = "organization_created.v1"


def payload(i: int) -> dict:
    """A ~300-byte JSON event payload, shaped like an organization_created event."""
    return {
        "organization_id": str(uuid.UUID(int=i)),
        "name": f"Bench Organization {i:08d}",
        "address1": "1 Main Street",
        "address2": None,
        "city": "Berlin",
        "state": "Berlin",
        "postal_code": "10115",
        "country": "DE",
        "key_escrow": {"enabled": False, "recovery_by_department_admins": False},
        "validation_status": "not_validated",
    }


PAYLOAD_BYTES = len(json.dumps(payload(0), separators=(",", ":")))
METADATA = {"correlation_id": "00000000-0000-0000-0000-000000000000", "actor": "bench", "causation_id": None}


# ---- the contenders (each used only inside its own spawned process) -------------------------------------------

class Ours:
    name = "ours"

    def __init__(self, url: str, schema: str, writers: int):
        from services.runtime.db import make_database
        from services.runtime.events import NewEvent
        from services.runtime.store import EventStore

        self._new_event = NewEvent
        self.db = make_database(sqlalchemy_url(url), schema)
        self.store = EventStore(self.db, "bench")

    @classmethod
    def setup(cls, url: str, schema: str) -> None:
        from services.runtime.db import make_database
        from services.runtime.store import EventStore

        db = make_database(sqlalchemy_url(url), schema)
        EventStore(db, "bench").create_schema()
        db.dispose()

    def synchronous_commit(self) -> str:
        import sqlalchemy as sa

        with self.db.engine.connect() as conn:
            return conn.execute(sa.text("SHOW synchronous_commit")).scalar_one()

    def append(self, stream_id: str, expected_version: int, i: int) -> None:
        self.store.append(stream_id, expected_version, [self._new_event(EVENT_TYPE, payload(i))], METADATA)

    def new_stream_id(self) -> str:
        return f"organization-{uuid.uuid4()}"

    def count(self) -> int:
        return self.store.head()

    def close(self) -> None:
        self.db.dispose()


class Theirs:
    name = "eventsourcing"

    def __init__(self, url: str, schema: str, writers: int):
        from eventsourcing.persistence import StoredEvent
        from eventsourcing.postgres import PostgresApplicationRecorder

        self._stored_event = StoredEvent
        self.datastore = datastore(url, schema, pool_size=max(1, writers))
        self.recorder = PostgresApplicationRecorder(self.datastore)

    @classmethod
    def setup(cls, url: str, schema: str) -> None:
        import psycopg
        from eventsourcing.postgres import PostgresApplicationRecorder

        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        store = datastore(url, schema, pool_size=1)
        PostgresApplicationRecorder(store).create_table()
        store.close()

    def synchronous_commit(self) -> str:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute("SHOW synchronous_commit")
            return curs.fetchone()["synchronous_commit"]

    def append(self, stream_id, expected_version: int, i: int) -> None:
        state = json.dumps(payload(i), separators=(",", ":")).encode()
        self.recorder.insert_events([self._stored_event(stream_id, expected_version + 1, TOPIC, state)])

    def new_stream_id(self):
        return uuid.uuid4()

    def count(self) -> int:
        return self.recorder.max_notification_id() or 0

    def close(self) -> None:
        self.datastore.close()


CONTENDERS = {"ours": Ours, "eventsourcing": Theirs}


def datastore(url: str, schema: str, pool_size: int):
    from eventsourcing.postgres import PostgresDatastore

    parts = urlsplit(url)
    return PostgresDatastore(dbname=parts.path.lstrip("/"), host=parts.hostname or "127.0.0.1",
                             port=parts.port or 5432, user=parts.username or "postgres",
                             password=parts.password or "", schema=schema, pool_size=pool_size)
    # (no pool_open_timeout: with it, every get_connection() calls pool.wait(), which asserts in psycopg_pool
    #  when several threads hold connections at once)


def sqlalchemy_url(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


# ---- one writer process -----------------------------------------------------------------------------------

def set_psycopg_wait(wait: str) -> None:
    """'green': psycopg waits with wait_select — what services.runtime.db.green_psycopg() installs for eventlet,
    so what either library would run with inside Certplane; 'default': psycopg's own (C) wait for both, i.e. ours
    with green_psycopg() turned off (an ablation: Certplane cannot run that way under eventlet)."""
    import services.runtime.db as runtime_db

    if wait == "green":
        runtime_db.green_psycopg()
    else:
        runtime_db.green_psycopg = lambda: None


def writer_process(contender: str, url: str, schema: str, threads: int, events: int, warmup: int, wait: str,
                   barrier, results) -> None:
    """Set up `threads` writers, warm up, wait for every process at the barrier, then append `events` in total."""
    errors: list[BaseException] = []
    try:
        set_psycopg_wait(wait)
        impl = CONTENDERS[contender](url, schema, threads)
        sync = impl.synchronous_commit()
        import psycopg.waiting
        wait_used = psycopg.waiting.wait.__name__
        shares = [events // threads + (1 if t < events % threads else 0) for t in range(threads)]
        warm = [warmup // threads + (1 if t < warmup % threads else 0) for t in range(threads)]
        base = os.getpid() * 10_000_000

        def write(n: int, offset: int) -> None:
            stream, version = None, 0
            for j in range(n):
                if j % 3 == 0:
                    stream, version = impl.new_stream_id(), 0
                impl.append(stream, version, base + offset + j)
                version += 1

        def worker(t: int, start_gate: threading.Barrier) -> None:
            try:
                write(warm[t], t * 1_000_000)
                start_gate.wait()
                start_gate.wait()          # the second wait releases every thread at the measured start
                write(shares[t], t * 1_000_000 + 500_000)
            except BaseException as exc:  # noqa: BLE001 — reported to the parent
                errors.append(exc)
                start_gate.abort()

        gate = threading.Barrier(threads + 1)
        pool = [threading.Thread(target=worker, args=(t, gate), daemon=True) for t in range(threads)]
        for thread in pool:
            thread.start()
        gate.wait()                         # warm-up done in this process
        barrier.wait(timeout=600)           # ... and in every process
        started = time.monotonic()
        gate.wait()
        for thread in pool:
            thread.join()
        ended = time.monotonic()
        if errors:
            raise errors[0]
        impl.close()
        results.put({"ok": True, "started": started, "ended": ended, "events": events, "sync": sync,
                     "wait": wait_used})
    except BaseException as exc:  # noqa: BLE001
        import traceback
        if isinstance(exc, threading.BrokenBarrierError) and errors:
            exc = errors[0]             # a writer thread failed: report its error, not the broken gate
        barrier.abort()
        results.put({"ok": False, "error": f"{type(exc).__name__}: {exc}",
                     "traceback": "".join(traceback.format_exception(exc))})


def run_once(contender: str, url: str, schema: str, processes: int, threads: int, events: int,
             warmup: int, wait: str) -> dict:
    ctx = mp.get_context("spawn")
    CONTENDERS[contender].setup(url, schema)
    barrier, results = ctx.Barrier(processes), ctx.Queue()
    per_process = [events // processes + (1 if p < events % processes else 0) for p in range(processes)]
    procs = [ctx.Process(target=writer_process,
                         args=(contender, url, schema, threads, per_process[p], warmup // processes, wait,
                               barrier, results))
             for p in range(processes)]
    for proc in procs:
        proc.start()
    reports = [results.get(timeout=900) for _ in procs]
    for proc in procs:
        proc.join(timeout=60)
    failed = [r for r in reports if not r["ok"]]
    if failed:
        raise RuntimeError(f"{contender} writer failed: {failed[0]['error']}\n{failed[0]['traceback']}")
    seconds = max(r["ended"] for r in reports) - min(r["started"] for r in reports)
    count = sum(r["events"] for r in reports)
    syncs = {r["sync"] for r in reports}
    return {"events": count, "seconds": seconds, "per_second": count / seconds, "synchronous_commit": syncs,
            "wait": {r["wait"] for r in reports}}


# ---- databases --------------------------------------------------------------------------------------------

def admin_execute(dsn: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql)


def with_database(dsn: str, name: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path=f"/{name}"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dsn", default=os.environ.get("CERTPLANE_BENCH_DSN", DEFAULT_DSN),
                        help="a PostgreSQL superuser connection (databases are created and dropped through it)")
    parser.add_argument("--events", type=int, default=3000, help="measured appends per run")
    parser.add_argument("--warmup", type=int, default=300, help="appends before measuring, per run")
    parser.add_argument("--writers", type=int, default=8, help="N for the concurrent scenarios")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved repetitions; the median is reported")
    parser.add_argument("--scenarios", default="sequential,threads,processes")
    parser.add_argument("--psycopg-wait", choices=["green", "default"], default="green",
                        help="green (default): both with psycopg's wait_select, as Certplane runs under eventlet; "
                             "default: both with psycopg's C wait (ours with green_psycopg() disabled)")
    parser.add_argument("--keep", action="store_true", help="keep the databases (for inspection)")
    args = parser.parse_args(argv)

    scenarios = {"sequential": (1, 1), "threads": (1, args.writers), "processes": (args.writers, 1)}
    chosen = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = set(chosen) - set(scenarios)
    if unknown:
        parser.error(f"unknown scenarios {sorted(unknown)}; known: {sorted(scenarios)}")

    tag = secrets.token_hex(4)
    databases = {name: f"certplane_bench_{tag}_{'ours' if name == 'ours' else 'es'}" for name in CONTENDERS}
    print(f"bench/store.py — {time.strftime('%Y-%m-%d %H:%M:%S %Z')} — PostgreSQL at {urlsplit(args.dsn).netloc}, "
          f"{os.cpu_count()} CPUs")
    print(f"  {args.events} measured appends per run after {args.warmup} warm-up, payload {PAYLOAD_BYTES} bytes "
          f"JSON, 1 event per append, streams of 3 events; {args.rounds} interleaved rounds, median shown")
    for name in databases.values():
        admin_execute(args.dsn, f'CREATE DATABASE "{name}"')
    results: dict[tuple[str, str], list[dict]] = {}
    waits: set[str] = set()
    try:
        for rnd in range(args.rounds):
            for scenario in chosen:
                processes, threads = scenarios[scenario]
                order = list(CONTENDERS) if rnd % 2 == 0 else list(reversed(CONTENDERS))
                for contender in order:
                    url = with_database(args.dsn, databases[contender])
                    run = run_once(contender, url, f"r{rnd}_{scenario}", processes, threads, args.events,
                                   args.warmup, args.psycopg_wait)
                    waits.update(run["wait"])
                    if run["synchronous_commit"] != {"on"}:
                        raise SystemExit(f"{contender} ran with synchronous_commit={run['synchronous_commit']}; "
                                         "the comparison needs 'on' for both")
                    results.setdefault((scenario, contender), []).append(run)
                    print(f"  round {rnd + 1} {scenario:<10} {contender:<13} {run['per_second']:8.0f} events/s "
                          f"({run['events']} in {run['seconds']:.2f} s)", flush=True)
    finally:
        if not args.keep:
            for name in databases.values():
                admin_execute(args.dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    print()
    print(f"{'scenario':<26} {'ours ev/s':>10} {'eventsourcing ev/s':>19} {'ours/theirs':>12}")
    print("-" * 70)
    labels = {"sequential": "sequential (1 writer)", "threads": f"{args.writers} threads, 1 process",
              "processes": f"{args.writers} processes x 1 thread"}
    ratios = []
    for scenario in chosen:
        ours = statistics.median(r["per_second"] for r in results[(scenario, "ours")])
        theirs = statistics.median(r["per_second"] for r in results[(scenario, "eventsourcing")])
        ratios.append(ours / theirs)
        print(f"{labels[scenario]:<26} {ours:>10.0f} {theirs:>19.0f} {ours / theirs:>11.2f}x")
    print("-" * 70)
    print("synchronous_commit = on for both (checked on each writer's pooled connection); "
          f"psycopg wait function: {', '.join(sorted(waits))} for both")
    return 0


if __name__ == "__main__":
    sys.exit(main())
