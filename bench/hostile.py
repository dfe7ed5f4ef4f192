"""A normal client's latency while slow clients attack the gateway (issue 11), embedded mode, loopback only.

    .venv/bin/python bench/hostile.py [--quiet-seconds 10] [--attack-seconds 35] [--slowloris 200] [--slow-bodies 20]

One embedded `certplane run` (default settings: 10 s header deadline, 30 s body deadline, 100 connections per
client address). A normal client (127.0.0.1, one keep-alive session) times `--requests` GET /healthz and as many
authenticated GET /api/v1/organizations, alternating, for `--quiet-seconds` with no attack, then for
`--attack-seconds` (longer than both deadlines, so the server cuts attackers off while measured) while the attack
is held:
- `--slowloris` connections that send a request line and then one header line per second, never ending the
  headers (reopened when the server cuts them off at the header deadline);
- `--slow-bodies` connections that send a POST /api/v1/auth/login with Content-Length: 1000 and one body byte
  every 0.5 s (reopened after their 408).
The attackers come from 127.0.0.10-17 (25 connections per address, under the per-address cap, so they are all
held: the listener's deadlines and cheap greenthreads are what is measured, not the cap). Printed: p50/p99 for
each route without and with the attack, the ratio, and how many attack connections were open when measuring.
Target (issue 11): p99 < 50 ms under attack, ratio <= 2x.
"""
from __future__ import annotations

import argparse
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

from auth import CERTPLANE, Server, first_login
from load import rank_ms

ATTACK_ADDRESSES = [f"127.0.0.{n}" for n in range(10, 18)]


class Attack:
    """Slow connections kept open by one thread: a byte (or header line) per tick, reopened when closed."""

    def __init__(self, port: int, slowloris: int, slow_bodies: int):
        self.port = port
        self.kinds = ["slowloris"] * slowloris + ["slow_body"] * slow_bodies
        self.socks: list[socket.socket | None] = [None] * len(self.kinds)
        self.stop = threading.Event()
        self.reopened = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _open(self, i: int) -> socket.socket | None:
        source = ATTACK_ADDRESSES[i % len(ATTACK_ADDRESSES)]
        try:
            sock = socket.create_connection(("127.0.0.1", self.port), timeout=2, source_address=(source, 0))
            if self.kinds[i] == "slowloris":
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            else:
                sock.sendall(b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                             b"Content-Length: 1000\r\n\r\n")
            sock.setblocking(False)
            return sock
        except OSError:
            return None

    def open_count(self) -> int:
        return sum(s is not None for s in self.socks)

    def _run(self):
        tick = 0
        while not self.stop.is_set():
            for i, kind in enumerate(self.kinds):
                if kind == "slowloris" and tick % 2:
                    continue            # a header line per second, a body byte per 0.5 s
                sock = self.socks[i]
                try:
                    if sock is None:
                        raise OSError
                    try:
                        if sock.recv(65536) == b"":
                            raise OSError   # the server closed it
                    except BlockingIOError:
                        pass
                    sock.send(b"X-Slow: 1\r\n" if kind == "slowloris" else b" ")
                except OSError:
                    if sock is not None:
                        sock.close()
                        self.reopened += 1
                    self.socks[i] = self._open(i)
            tick += 1
            self.stop.wait(0.5)

    def __enter__(self):
        for i in range(len(self.kinds)):
            self.socks[i] = self._open(i)
        self.thread.start()
        time.sleep(1.0)
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()
        for sock in self.socks:
            if sock is not None:
                sock.close()


def measure(base_url: str, token: str, seconds: float) -> dict[str, list[float]]:
    timings: dict[str, list[float]] = {"/healthz": [], "/api/v1/organizations": []}
    deadline = time.monotonic() + seconds
    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {token}"
        while time.monotonic() < deadline:
            for path, seconds in timings.items():
                started = time.perf_counter()
                response = session.get(base_url + path, timeout=10)
                elapsed = time.perf_counter() - started
                if response.status_code != 200:
                    raise RuntimeError(f"GET {path}: {response.status_code} {response.text[:300]}")
                seconds.append(elapsed)
    return {path: sorted(seconds) for path, seconds in timings.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quiet-seconds", type=float, default=10.0)
    parser.add_argument("--attack-seconds", type=float, default=35.0)
    parser.add_argument("--slowloris", type=int, default=200)
    parser.add_argument("--slow-bodies", type=int, default=20)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="certplane-hostile-") as tmp:
        server = Server("hostile", [CERTPLANE, "run"], Path(tmp)).start()
        try:
            server.wait_ready()
            token, _ = first_login(server)
            measure(server.base_url, token, 1.0)                    # warm-up
            quiet = measure(server.base_url, token, args.quiet_seconds)
            with Attack(server.port, args.slowloris, args.slow_bodies) as attack:
                held_before = attack.open_count()
                attacked = measure(server.base_url, token, args.attack_seconds)
                held_after, reopened = attack.open_count(), attack.reopened
        finally:
            stopped = server.stop()
        problems = server.problems()
    print(f"bench-hostile: embedded, one keep-alive client alternating the two routes; requests per route: "
          f"{len(quiet['/healthz'])} quiet ({args.quiet_seconds:g} s), {len(attacked['/healthz'])} under attack "
          f"({args.attack_seconds:g} s)")
    print(f"attack: {args.slowloris} slowloris + {args.slow_bodies} slow-body connections from "
          f"{len(ATTACK_ADDRESSES)} addresses; open at start/end of measuring: {held_before}/{held_after}, "
          f"reopened after a deadline: {reopened}")
    print("(the attack runs in this process: its thread shares the client's GIL, so the ratio includes that)")
    print(f"{'route':28} {'quiet p50':>10} {'quiet p99':>10} {'attack p50':>11} {'attack p99':>11} {'p99 ratio':>10}")
    verdict = True
    for path in quiet:
        q50, q99 = rank_ms(quiet[path], 0.5), rank_ms(quiet[path], 0.99)
        a50, a99 = rank_ms(attacked[path], 0.5), rank_ms(attacked[path], 0.99)
        ok = a99 < 50 and a99 <= 2 * q99
        verdict = verdict and ok
        print(f"{path:28} {q50:8.2f}ms {q99:8.2f}ms {a50:9.2f}ms {a99:9.2f}ms {a99 / q99:9.2f}x"
              f"  {'ok' if ok else 'MISSED (target p99 < 50 ms, ratio <= 2x)'}")
    print(stopped)
    for count, summary in problems[:10]:
        print(f"  log: {count} x {summary}")
    return 0 if verdict else 1


if __name__ == "__main__":
    sys.exit(main())
