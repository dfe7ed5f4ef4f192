"""The client load loop every HTTP benchmark shares: items spread over K threads, each with its own
`requests.Session` (keep-alive), all released at once, each call timed."""
from __future__ import annotations

import math
import threading
import time
from typing import Callable

import requests

# one(session, n, thread_index) -> None (a success) or a failure text; requests' errors count as failures
Call = Callable[[requests.Session, int, int], "str | None"]


def run_clients(clients: int, count: int, one: Call, headers: dict | None = None, max_failures: int = 20,
                on_ready: Callable[[], None] | None = None) -> tuple[list[float], list[str], float]:
    """Call `one` for n in range(count) over `clients` threads; a thread stops taking work once `max_failures`
    calls failed. `on_ready` runs when every thread is ready, just before they are released (e.g. to read CPU
    counters). Returns (the successful calls' seconds, sorted; the failure texts; the wall seconds from the
    release to the last thread's end)."""
    counter = iter(range(count))
    lock = threading.Lock()
    latencies: list[float] = []
    failures: list[str] = []
    gate = threading.Barrier(clients + 1)

    def client(index: int) -> None:
        with requests.Session() as session:
            session.headers.update(headers or {})
            gate.wait()
            while True:
                with lock:
                    n = None if len(failures) >= max_failures else next(counter, None)
                if n is None:
                    return
                started = time.perf_counter()
                try:
                    problem = one(session, n, index)
                except requests.RequestException as exc:
                    problem = repr(exc)
                elapsed = time.perf_counter() - started
                with lock:
                    if problem is None:
                        latencies.append(elapsed)
                    else:
                        failures.append(problem)

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    if on_ready is not None:
        on_ready()
    gate.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    return sorted(latencies), failures, time.perf_counter() - started


def rank_ms(ordered: list[float], p: float) -> float:
    """The nearest-rank p-quantile of sorted seconds, in ms (nan when there is none)."""
    return ordered[max(0, math.ceil(p * len(ordered)) - 1)] * 1000 if ordered else float("nan")
